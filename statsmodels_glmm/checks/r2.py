"""
Variance decomposition of a fitted MixedGLM: R-squared and intra-class correlation.

Nakagawa and Schielzeth (2013) and Nakagawa, Johnson and Schielzeth (2017)
split the variance of the linear predictor's scale ("latent scale") into

* the fixed-effects variance ``s_f^2 = var(x_t' beta)`` over the fitted rows
  (sample variance, denominator ``n - 1``; the offset is left out),
* the random-effects variance, for random slopes in Johnson's (2014) form
  ``s_r^2 = (1/n) sum_t z_t' G z_t`` (the random-intercept variance when
  ``z_t = 1``), summed over the random-effect terms of every grouping
  factor except observation-level ones,
* the residual variance ``s_e^2``: the distribution-specific variance of
  the family on the latent scale plus the additive-dispersion variance,
  the variance of observation-level random effects (terms with one level
  per row, e.g. ``(1 | obs)``; 0 without one),

and define

.. math::

    R^2_m = \\frac{s_f^2}{s_f^2 + s_r^2 + s_e^2}, \\quad
    R^2_c = \\frac{s_f^2 + s_r^2}{s_f^2 + s_r^2 + s_e^2}, \\quad
    \\mathrm{ICC}_{adj} = \\frac{s_r^2}{s_r^2 + s_e^2}, \\quad
    \\mathrm{ICC}_{unadj} = \\frac{s_r^2}{s_f^2 + s_r^2 + s_e^2}.

Distribution-specific variance ``s_e^2``, as R's ``insight::get_variance``
(used by ``performance::r2_nakagawa`` and ``performance::icc``) defines it:

* binary and binomial (and cumulative-link ordinal) models: the variance of
  the latent error, ``pi^2 / 3`` (logit), ``1`` (probit), ``pi^2 / 6``
  (cloglog); for binomial data with several trials per row divided by the
  mean number of trials, as insight does for ``cbind()`` responses;
* Gaussian: the residual variance ``sigma^2``;
* log-link counts: with ``lambda = exp(beta_0 + s_0^2 / 2)`` the mean of
  the *null model* (intercept-only fixed part, the same random effects;
  ``beta_0`` its intercept and ``s_0^2`` its random-effects variance as
  above; ``null_lambda="mean"``, Nakagawa et al. 2017 and current insight)
  or ``lambda = exp(beta_0)`` (``null_lambda="intercept"``, what insight
  0.19.0 with performance 0.10.2 computes), and the squared coefficient of
  variation of the response at that mean, ``cv^2 = Var(Y) / E(Y)^2``,

  - Poisson ``cv^2 = 1 / lambda``,
  - NB2 (variance ``mu + alpha mu^2``) ``cv^2 = 1 / lambda + alpha``
    (insight: ``1/lambda + 1/theta``),
  - NB1 (variance ``mu (1 + alpha)``) ``cv^2 = (1 + alpha) / lambda``,

  the variance is ``log(1 + cv^2)`` (``approximation="lognormal"``, the
  default of the ``approximation`` argument of current insight and
  performance), ``cv^2``
  (``"delta"``) or ``trigamma(1 / cv^2)`` (``"trigamma"``);
* zero-inflated counts: the same approximations with ``cv^2`` of the whole
  zero-inflated distribution, ``E(Y) = (1 - p) lambda`` and
  ``Var(Y) = (1 - p) V(lambda) + p (1 - p) lambda^2``, so
  ``cv^2 = V(lambda) / ((1 - p) lambda^2) + p / (1 - p)`` with ``p`` the
  null model's mean structural-zero probability over the rows.

Differences from R: for random-slope count models the null-model variance
``s_0^2`` is Johnson's mean ``z' G_0 z`` (insight uses the null model's
intercept variance only); NB1 uses the NB1 variance (insight applies the
NB2 formula to glmmTMB's NB1 dispersion); for zero-inflated models insight
averages ``(1 - p) V + p(1 - p) mu^2`` over rows at the conditional modes,
here the coefficient of variation of the zero-inflated distribution at the
null-model mean is used.  The toenail (logit) and epil (Poisson,
``null_lambda="intercept"``) random-intercept models reproduce the numbers
of performance 0.10.2 / insight 0.19.0 (tests/checks/test_r2.py).
"""

import copy
import dataclasses
import warnings

import numpy as np
import pandas as pd
from scipy import special
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

from ..exceptions import warn

__all__ = ["variance_components", "r2_nakagawa", "icc", "null_model_fit"]

_APPROX = ("lognormal", "delta", "trigamma")
_LATENT = {"logit": np.pi ** 2 / 3, "probit": 1.0, "cloglog": np.pi ** 2 / 6}


def _check_approximation(approximation):
    if approximation not in _APPROX:
        raise ValueError(f"approximation must be one of {list(_APPROX)}, got {approximation!r}")


def _kind(resp):
    """'latent' (binomial, ordinal), 'gaussian' or 'count' (log-link counts, ZI too)."""
    name = resp.name
    if name in ("Binomial", "Ordinal"):
        return "latent"
    if name == "Gaussian":
        return "gaussian"
    if name == "Poisson" or name.startswith("NegativeBinomial") or \
            name.startswith("ZeroInflated"):
        return "count"
    raise ValueError(f"R-squared and ICC are not available for the {name} family")


def _random_variance(res, G, observation_level=None):
    """
    Johnson's ``mean_t z_t' G z_t`` over the fitted rows, summed over the
    random-effect terms; ``observation_level`` True / False keeps only the
    terms with (without) one level per row, None keeps every term.
    """
    Z = res.model.design.Z
    total = 0.0
    for _, cols, _, labels, _ in _blocks(res):
        if observation_level is not None and \
                (len(labels) == res.nobs) != observation_level:
            continue
        Zc = Z[:, cols]
        Gc = G[np.ix_(cols, cols)]
        total += float(np.mean(np.einsum("nq,qr,nr->n", Zc, Gc, Zc)))
    return total


def _blocks(res):
    """``(factor, columns of Z, modes, level labels, level codes)`` per random-effect term."""
    blocks = getattr(res, "_re_blocks", None)
    if blocks is not None:
        return blocks
    d = res.model.design
    return [(d.group_name, np.arange(d.Z.shape[1]), None, d.group_labels, d.gid)]


def null_model_fit(res):
    """
    The null model of a fit: intercept-only fixed part, same random effects.

    Same family (with its zero-inflation formula), offset, groups and
    integration rule (``nagq``); used for the mean count ``lambda`` of the
    distribution-specific variance.  The fit is cached on ``res``.

    The warnings of this refit are about the null model, not the user's
    model: they are recorded as ``"Category: message"`` strings in the
    ``attrs["null_model_warnings"]`` of :func:`variance_components`,
    :func:`r2_nakagawa` and :func:`icc`.
    Separation warnings (e.g. an inflation intercept estimated at a
    structural-zero probability of 0) and numpy's floating-point warnings
    are only recorded; the others (convergence, approximation accuracy) are
    issued again, with the message saying they concern the null model.

    Parameters
    ----------
    res : MixedGLMResults

    Returns
    -------
    MixedGLMResults

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=50, seed=5)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> null_model_fit(res).fe_params.index.tolist()
    ['Intercept']
    """
    cached = res.__dict__.get("_null_model_fit")
    if cached is not None:
        return cached
    m = res.model
    if not getattr(m.response, "has_intercept", True):
        raise ValueError(f"the {m.response.name} family has no intercept: no null model")
    d = m.design
    d0 = dataclasses.replace(d, X=np.ones((d.nobs, 1)), exog_names=["Intercept"],
                             extra=dict(d.extra), formula=None)
    m0 = type(m)(None, None, None, family=copy.deepcopy(m.response), design=d0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit0 = m0.fit(nagq=res.nagq)
    res.__dict__["_null_model_fit"] = fit0
    res.__dict__["_null_model_warnings"] = [f"{w.category.__name__}: {w.message}"
                                           for w in caught]
    for w in caught:
        if not issubclass(w.category, (PerfectSeparationWarning, RuntimeWarning)):
            warn(f"the intercept-only null model refitted for the distribution-specific "
                 f"variance (not the fitted model itself): {w.message}", w.category)
    return fit0


def _null_notes(res, null_model):
    """Warnings recorded in the internal null-model refit (none for a user's null model)."""
    if null_model is not None:
        return []
    return list(res.__dict__.get("_null_model_warnings", []))


def _check_null_model(res, null_model):
    """
    The results object of a user's ``null_model``: a fitted MixedGLM of the
    same data (responses, offsets, grouping; see ``res.data_differences``)
    with an intercept-only fixed part.
    """
    null = getattr(null_model, "_results", null_model)
    model = getattr(null, "model", None)
    if not hasattr(null, "fe_params") or getattr(model, "design", None) is None:
        raise ValueError(f"null_model must be a fitted MixedGLM result (the intercept-only "
                         f"model with the same random effects), got {type(null_model).__name__}"
                         + (f" {null_model!r}" if isinstance(null_model, str) else ""))
    X = np.asarray(model.design.X)
    if X.shape[1] > 1 or (X.shape[1] == 1 and len(X) and np.ptp(X[:, 0]) != 0):
        raise ValueError(f"null_model must have an intercept-only fixed part; its fixed "
                         f"effects are {list(model.design.exog_names)}")
    diffs = res.data_differences(null)
    if diffs:
        raise ValueError(f"null_model was fitted to different data: {'; '.join(diffs)}; fit "
                         "it to the rows of this model")
    return null


def _count_cv2(res, null, null_lambda="mean"):
    """Squared coefficient of variation at the null-model mean, and that mean."""
    resp = null.model.response
    b0 = float(null.fe_params.iloc[0])
    s0 = _random_variance(null, null.cov_re.to_numpy()) if null_lambda == "mean" else 0.0
    lam = float(np.exp(b0 + 0.5 * s0))
    extra = null._extra()
    p = 0.0
    base = resp
    if resp.name.startswith("ZeroInflated"):
        base = resp.base
        eb, _ = resp._split_extra(extra)
        p = float(np.mean(resp.prob_inflate(extra, resp.W)))
        extra = eb
    if base.name == "Poisson":
        v = lam
    else:  # negative binomial, alpha on its public scale
        alpha = float(base.extra_public(extra)[0])
        v = lam + alpha * lam ** 2 if base.p == 2 else lam * (1 + alpha)
    cv2 = v / ((1 - p) * lam ** 2) + p / (1 - p)
    return cv2, lam, p


def variance_components(res, approximation="lognormal", null_model=None,
                        null_lambda="mean"):
    """
    Latent-scale variance components of a fitted model (Nakagawa et al. 2017).

    Parameters
    ----------
    res : MixedGLMResults
    approximation : {"lognormal", "delta", "trigamma"}
        Distribution-specific variance of log-link count families (ignored
        for the others).
    null_model : MixedGLMResults, optional
        A fit of the null model (intercept-only fixed part, same random
        effects) for count families; refitted (and cached) if not given.
        It must be a fitted MixedGLM of the same data (responses, offsets,
        grouping of the rows), else ValueError.
    null_lambda : {"mean", "intercept"}
        Mean count of the null model used by count families:
        ``exp(beta_0 + s_0^2 / 2)`` ("mean", the default) or ``exp(beta_0)``
        ("intercept", to reproduce insight 0.19.0 / performance 0.10.2).

    Returns
    -------
    Series
        ``var_fixed``, ``var_random`` (every term except
        observation-level ones, Johnson's mean ``z' G z`` summed over the
        terms), ``var_residual`` (= ``var_distribution + var_dispersion``),
        ``var_distribution``, ``var_dispersion`` (observation-level terms;
        0 without one), ``var_intercept`` (random-intercept variance, NaN
        without one; with several grouping factors one entry
        ``"var_intercept <factor>"`` per factor), and for count families
        ``lambda`` (null-model mean) and ``zi_prob``.  For count families
        fitted without ``null_model``, ``attrs["null_model_warnings"]``
        lists the warnings of the internal null-model refit (see
        :func:`null_model_fit`).

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=6)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
    >>> vc = res.variance_components()
    >>> bool(np.isclose(vc["var_distribution"], np.pi ** 2 / 3))
    True
    """
    _check_approximation(approximation)
    if null_lambda not in ("mean", "intercept"):
        raise ValueError(f"null_lambda must be 'mean' or 'intercept', got {null_lambda!r}")
    if null_model is not None:
        null_model = _check_null_model(res, null_model)
    resp = res.model.response
    kind = _kind(resp)
    d = res.model.design
    beta = np.asarray(res.fe_params, dtype=float)
    G = res.cov_re.to_numpy()
    xb = d.X @ beta
    var_fixed = float(np.var(xb, ddof=1)) if len(xb) > 1 else 0.0
    var_random = _random_variance(res, G, observation_level=False)
    var_disp = _random_variance(res, G, observation_level=True)
    names = list(d.re_names)
    intercepts = {}
    for factor, cols, _, labels, _ in _blocks(res):
        for c in cols:
            if names[c] == "Intercept" and len(labels) != res.nobs:
                intercepts[factor] = float(G[c, c])
    if len(intercepts) <= 1:
        ints = {"var_intercept": next(iter(intercepts.values()), np.nan)}
    else:
        ints = {f"var_intercept {f}": v for f, v in intercepts.items()}
    out = {}
    if kind == "latent":
        link = resp.link_name
        trials = float(np.mean(resp.n_trials(d.y))) if resp.name == "Binomial" else 1.0
        var_dist = _LATENT[link] / trials
    elif kind == "gaussian":
        var_dist = float(res.family_params["scale"])
    else:
        null = null_model if null_model is not None else null_model_fit(res)
        cv2, lam, p = _count_cv2(res, null, null_lambda)
        if approximation == "lognormal":
            var_dist = float(np.log1p(cv2))
        elif approximation == "delta":
            var_dist = float(cv2)
        else:
            var_dist = float(special.polygamma(1, 1.0 / cv2))
        out = {"lambda": lam, "zi_prob": p}
    comp = {"var_fixed": var_fixed, "var_random": var_random,
            "var_residual": var_dist + var_disp, "var_distribution": var_dist,
            "var_dispersion": var_disp, **ints, **out}
    vc = pd.Series(comp, name="variance_components", dtype=float)
    if kind == "count":
        vc.attrs["null_model_warnings"] = _null_notes(res, null_model)
    return vc


def r2_nakagawa(res, approximation="lognormal", null_model=None, null_lambda="mean"):
    """
    Marginal and conditional R-squared of Nakagawa and Schielzeth.

    Parameters
    ----------
    res : MixedGLMResults
    approximation, null_model, null_lambda
        See :func:`variance_components`.

    Returns
    -------
    Series
        ``r2_marginal`` (fixed effects) and ``r2_conditional`` (fixed and
        random effects).

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=6)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
    >>> r = res.r2()
    >>> bool(0 <= r["r2_marginal"] <= r["r2_conditional"] <= 1)
    True
    """
    vc = variance_components(res, approximation, null_model, null_lambda)
    total = vc["var_fixed"] + vc["var_random"] + vc["var_residual"]
    out = pd.Series({"r2_marginal": vc["var_fixed"] / total,
                     "r2_conditional": (vc["var_fixed"] + vc["var_random"]) / total},
                    name="r2_nakagawa")
    out.attrs.update(vc.attrs)
    return out


def icc(res, approximation="lognormal", null_model=None, null_lambda="mean"):
    """
    Adjusted and unadjusted intra-class correlation (Nakagawa et al. 2017).

    Parameters
    ----------
    res : MixedGLMResults
    approximation, null_model, null_lambda
        See :func:`variance_components`.

    Returns
    -------
    Series
        ``icc_adjusted`` = ``var_random / (var_random + var_residual)`` and
        ``icc_unadjusted`` = ``var_random / (var_fixed + var_random +
        var_residual)``.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=6)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
    >>> s2 = float(res.cov_re.iloc[0, 0])
    >>> bool(np.isclose(res.icc()["icc_adjusted"], s2 / (s2 + np.pi ** 2 / 3)))
    True
    """
    vc = variance_components(res, approximation, null_model, null_lambda)
    total = vc["var_fixed"] + vc["var_random"] + vc["var_residual"]
    out = pd.Series({"icc_adjusted": vc["var_random"] / (vc["var_random"] + vc["var_residual"]),
                     "icc_unadjusted": vc["var_random"] / total}, name="icc")
    out.attrs.update(vc.attrs)
    return out
