"""
Checks of count models: overdispersion and zero inflation.

Overdispersion (Pearson).  With conditional means ``mu_t`` (random effects
at their modes) and the family's variance ``V(mu_t)``,

.. math::

    X^2 = \\sum_t \\frac{(y_t - \\mu_t)^2}{V(\\mu_t)}, \\qquad
    \\text{ratio} = X^2 / (n - p),

with ``p`` the number of estimated parameters (fixed effects, covariance
parameters, family parameters).  Under the model ``X^2`` is roughly
chi-square with ``n - p`` degrees of freedom, so the p-value is
``P(chi2_{n-p} > X^2)``; a ratio well above 1 (and a small p-value) says the
variance exceeds what the family allows.  This is the usual rough check
(e.g. R's ``performance::check_overdispersion``): conditional residuals
shrink toward the data, so the test is approximate.

Zero inflation.  The observed number of zeros is compared with the number
the fitted model produces: data sets are simulated from the fitted model
(``res.simulate``, new random effects by default), their zero counts give
the expected number and a two-sided simulation p-value
``min(1, 2 min(P(Z >= z_obs), P(Z <= z_obs)))`` with the usual ``+1``
correction.  The expected number conditional on the fitted random effects,
``sum_t P(y_t = 0 | modes)``, is reported alongside.
"""

import numpy as np
import pandas as pd
from scipy import stats

from ..validation import check_seed, check_whole_number

__all__ = ["overdispersion", "zero_inflation_test"]

_COUNT = ("Poisson", "NegativeBinomial")


def _is_count(resp):
    name = resp.name
    return any(name.startswith(n) or name.startswith(f"ZeroInflated{n}") for n in _COUNT)


def overdispersion(res):
    """
    Pearson chi-square overdispersion check of a count-model fit.

    Parameters
    ----------
    res : MixedGLMResults
        A Poisson, negative binomial or zero-inflated fit.

    Returns
    -------
    pandas.Series
        ``chi2`` (Pearson statistic), ``df_resid`` (observations minus
        estimated parameters), ``ratio`` (``chi2 / df_resid``) and
        ``pvalue`` (upper tail of chi-square with ``df_resid`` df).

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=60, seed=1)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> od = res.overdispersion()
    >>> list(od.index)
    ['chi2', 'df_resid', 'ratio', 'pvalue']
    """
    resp = res.model.response
    if not _is_count(resp):
        raise ValueError(f"overdispersion() is for count models (Poisson, negative binomial), "
                         f"not {resp.name}")
    r = np.asarray(res.resid_pearson, dtype=float)
    chi2 = float(np.sum(r * r))
    dfr = int(res.nobs - len(np.asarray(res.params)))
    if dfr <= 0:
        raise ValueError("no residual degrees of freedom left for the overdispersion check")
    return pd.Series({"chi2": chi2, "df_resid": dfr, "ratio": chi2 / dfr,
                      "pvalue": float(stats.chi2.sf(chi2, dfr))}, name="overdispersion")


def zero_inflation_test(res, nsim=500, seed=None, random_effects="new"):
    """
    Observed versus model-expected zeros with a simulation p-value.

    Parameters
    ----------
    res : MixedGLMResults
        A count-model fit (Poisson, negative binomial, zero-inflated).
    nsim : int
        Number of data sets simulated from the fitted model.
    seed : int, numpy Generator or SeedSequence, optional
        Anything ``numpy.random.default_rng`` takes; the same seed gives the
        same simulations.
    random_effects : {"new", "conditional"}
        Simulate with new random effects drawn from ``N(0, G)`` (the
        default: the fitted model as a data-generating process) or with
        each group's conditional modes.

    Returns
    -------
    pandas.Series
        ``observed_zeros``, ``expected_zeros`` (mean over simulations),
        ``expected_zeros_conditional`` (``sum P(y = 0)`` at the modes),
        ``ratio`` (observed / expected), ``pvalue`` (two-sided, simulation)
        and ``nsim``.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=50, seed=2)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> zt = res.zero_inflation_test(nsim=50, seed=0)
    >>> int(zt["observed_zeros"]) == int((df["y"] == 0).sum())
    True
    """
    resp = res.model.response
    if not _is_count(resp):
        raise ValueError(f"zero_inflation_test() is for count models, not {resp.name}")
    nsim = check_whole_number(nsim, "nsim")
    if random_effects not in ("new", "conditional"):
        raise ValueError(f"random_effects must be 'new' or 'conditional', got {random_effects!r}")
    seed = check_seed(seed)
    d = res.model.design
    y = np.asarray(resp.response_value(d.y))
    obs = int(np.sum(y == 0))
    sims = np.asarray(res.simulate(nsim=nsim, random_effects=random_effects, seed=seed))
    zeros = (sims == 0).sum(0)
    expected = float(zeros.mean())
    p_hi = (1 + np.sum(zeros >= obs)) / (nsim + 1)
    p_lo = (1 + np.sum(zeros <= obs)) / (nsim + 1)
    cond = float(np.sum(_prob_zero(res)))
    return pd.Series({"observed_zeros": obs, "expected_zeros": expected,
                      "expected_zeros_conditional": cond,
                      "ratio": obs / expected if expected > 0 else np.inf,
                      "pvalue": float(min(1.0, 2 * min(p_hi, p_lo))), "nsim": nsim},
                     name="zero_inflation")


def _prob_zero(res):
    """``P(y_t = 0)`` at the conditional modes, sorted rows."""
    resp = res.model.response
    eta = res._eta_insample()
    extra = res._extra()
    extras = {k: v[0] for k, v in res.model.design.extra.items()
              if isinstance(v, tuple) and len(v) == 3}
    return resp.predict_which(eta, extra, "prob-zero", extras)
