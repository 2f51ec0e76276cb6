"""
:func:`fit_bayes`: check the arguments, build the sampler's problem, run NUTS and
return :class:`~statsmodels_glmm.bayes.results.MixedGLMBayesResults`.
"""

import numpy as np

from ..validation import check_whole_number as _count
from ._deps import require

__all__ = ["fit_bayes", "check_model"]


def check_model(model):
    """Refuse, with NotImplementedError, the models the sampler does not handle."""
    from .densities import family_kind

    if getattr(model, "n_partitions", None) is not None and hasattr(model, "client"):
        raise NotImplementedError("fit_bayes: a model whose rows are in a Dask DataFrame is "
                                  "not supported (the sampler needs every row in memory); "
                                  "fit a model of the same rows as a pandas DataFrame")
    family_kind(model.response)
    if model.design.nobs == 0:
        raise ValueError("the model has no rows")
    if getattr(model, "k_re", 0) == 0:
        raise NotImplementedError("fit_bayes: a model without random-effect variances is "
                                  "not supported")


def fit_bayes(model, draws=1000, tune=1000, chains=4, seed=None, priors=None,
              target_accept=0.8, progress=True):
    """
    Sample the posterior of ``model`` by NUTS; see ``MixedGLM.fit_bayes``.
    """
    draws = _count(draws, "draws")
    tune = _count(tune, "tune", lowest=0)
    chains = _count(chains, "chains")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise ValueError(f"seed must be None or a non-negative integer, got {seed!r}")
    if isinstance(target_accept, bool) or not isinstance(target_accept, (int, float)) \
            or not 0 < target_accept < 1:
        raise ValueError(f"target_accept must be a number in (0, 1), got {target_accept!r}")
    if not isinstance(progress, (bool, np.bool_)):
        raise ValueError(f"progress must be True or False, got {progress!r}")
    require()
    check_model(model)
    from .problem import Problem
    from .results import MixedGLMBayesResults
    from .sampler import run_nuts

    prob = Problem(model, priors)
    samples, fields, seconds = run_nuts(prob, draws, int(tune), chains, seed,
                                        float(target_accept), bool(progress))
    settings = dict(draws=draws, tune=int(tune), chains=chains, seed=seed,
                    target_accept=float(target_accept))
    return MixedGLMBayesResults(model, prob, samples, fields, seconds, settings)


def prior_predictive(model, n=100, priors=None, seed=None):
    """Responses simulated from the prior predictive distribution of ``model``."""
    require()
    check_model(model)
    from .problem import Problem
    from .results import prior_predictive as _pp

    return _pp(Problem(model, priors), n, seed)


def default_priors(model):
    """The default priors of ``model`` by name."""
    check_model(model)
    from .problem import Problem

    return dict(Problem(model).priors)
