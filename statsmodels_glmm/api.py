"""
Public names of statsmodels-glmm, in the style of ``statsmodels.api``.

>>> import statsmodels_glmm.api as smg
>>> {"MixedGLM", "mixedglm", "compare_gee"} <= set(dir(smg))
True
"""

from . import datasets, families
from .output.explorer import explorer
from .model import MixedGLM, mixedglm
from .results import MixedGLMResults
from .simulate import simulate_longitudinal
from .marginal.gee import compare_gee
from .inference.compare import compare
from .output.plotting import plot_effects, plot_random_effects, plot_trajectories
from .checks.simulated_residuals import SimulatedResiduals
from .likelihood.importance import importance_loglike
from .exceptions import LaplaceAccuracyWarning
from .missing.report import missing_report
from .bayes import MixedGLMBayesResults
from .missing.mice import mice as _mice


def mice(formula, data, family=None, groups=None, n_imputations=20, seed=None, **kwargs):
    """
    Fit a GLMM with missing covariates by multiple imputation and Rubin's rules.

    The imputation model, the arguments and the results are described at
    :func:`statsmodels_glmm.missing.mice.mice`; this function builds every model
    with :meth:`MixedGLM.from_formula`.

    Examples
    --------
    >>> import numpy as np
    >>> import statsmodels.api as sm
    >>> df = simulate_longitudinal("poisson", n_persons=60, seed=1)
    >>> df.loc[df.index % 4 == 0, "stress"] = np.nan
    >>> r = mice("y ~ time + stress + (1 | id)", df, family=sm.families.Poisson(),
    ...          n_imputations=2, seed=0, n_burnin=2, n_skip=1)
    >>> r.m, r.params.index.tolist()
    (2, ['Intercept', 'time', 'stress'])
    """
    return _mice(formula, data, family=family, groups=groups, n_imputations=n_imputations,
                 seed=seed, builder=MixedGLM.from_formula, **kwargs)


__all__ = ["MixedGLM", "MixedGLMResults", "mixedglm", "simulate_longitudinal", "families",
           "datasets", "compare_gee", "plot_trajectories", "plot_effects", "plot_random_effects",
           "explorer", "compare", "importance_loglike", "SimulatedResiduals",
           "LaplaceAccuracyWarning", "missing_report", "mice", "MixedGLMBayesResults"]
