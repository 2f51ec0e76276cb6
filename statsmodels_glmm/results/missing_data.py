"""
Results methods about missing data: sensitivity of the estimates to outcomes
missing not at random (see :mod:`statsmodels_glmm.missing`).
"""

from ..missing.pattern import pattern_mixture as _pattern_mixture
from ..missing.tipping import tipping_point as _tipping_point


class MissingDataMixin:
    """Methods of :class:`MixedGLMResults` about missing data."""

    def tipping_point(self, term, deltas=(-1.0, -0.5, 0.0, 0.5, 1.0), arm=None,
                      arm_level=None, m=20, seed=None, time=None, waves=None, data=None,
                      after_dropout=False, alpha=0.05, n_proposals=50, fit_kwargs=None):
        return _tipping_point(self, term, deltas=deltas, arm=arm, arm_level=arm_level, m=m,
                              seed=seed, time=time, waves=waves, data=data,
                              after_dropout=after_dropout, alpha=alpha,
                              n_proposals=n_proposals, fit_kwargs=fit_kwargs)

    tipping_point.__doc__ = _tipping_point.__doc__

    def pattern_mixture(self, time, term=None, min_persons=20, alpha=0.05, fit_kwargs=None):
        return _pattern_mixture(self, time, term=term, min_persons=min_persons, alpha=alpha,
                                fit_kwargs=fit_kwargs)

    pattern_mixture.__doc__ = _pattern_mixture.__doc__
