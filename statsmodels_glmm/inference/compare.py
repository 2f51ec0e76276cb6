"""
Side-by-side comparison of fitted models: log-likelihood, AIC, BIC and
likelihood-ratio tests.

Every family in this package keeps all normalising constants in its
log-likelihood, so ``AIC = -2 llf + 2 k`` and ``BIC = -2 llf + k log n``
compare across Poisson, NB1, NB2, ZIP and ZINB fits of the same response.

For two models where one is a special case of the other (fixed effects,
random effects and zero-inflation columns a subset; Poisson inside a
negative binomial; a count family inside its zero-inflated version), the
likelihood-ratio statistic ``LR = 2 (llf_big - llf_small)`` is referred to
the reference distribution chosen by :func:`lr_reference`:

* no parameter on the boundary of its space: ``chi2(df)``, ``df = k_big - k_small``;
* exactly one variance removed (a random slope, or a random-effect term),
  with its ``m`` covariances, or the negative binomial dispersion ``alpha``
  tested at zero (Poisson inside NB): the chi-bar-square mixture of Self and
  Liang (1987) and Stram and Lee (1994),

  .. math::

      P(LR \\ge x) = \\tfrac12 P(\\chi^2_{df-1} \\ge x) + \\tfrac12 P(\\chi^2_{df} \\ge x),

  where ``df`` counts the removed covariances, the variance and any other
  removed (regular) parameter, and ``chi2(0)`` is a point mass at 0;
* several variances removed at once: the 50:50 rule no longer holds (the
  mixture weights depend on the information matrix) and the plain
  ``chi2(df)`` p-value is reported; it is conservative.

Zero-inflation probabilities tested at zero sit at ``logit = -inf`` rather
than on a finite boundary; the ``chi2(df)`` p-value is reported and is
approximate (conservative in simulations).

Log-likelihoods are compared only for fits of the same data (responses,
binomial trials, offsets and grouping of the rows, matched by content; see
:mod:`statsmodels_glmm.inference.same_data`), and a likelihood-ratio test
needs the restricted model's columns inside the full model's on those rows.
A statsmodels ``GLM`` fit (Binomial, Poisson or Gaussian) can stand for the
model without random effects: its log-likelihood keeps every normalising
constant, as ours does.
"""


import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["compare", "lr_reference", "LRReference"]


def _family_key(resp):
    """(count family, zero-inflation columns) or (name, ()) for other families."""
    base = getattr(resp, "base", None)
    zi = tuple(getattr(resp, "zi_names", None) or ())
    fam = base if base is not None else resp
    name = type(fam).__name__
    if name == "NegativeBinomial":
        name = f"NB{fam.p}"
    return name, zi


def _family_label(resp):
    name, zi = _family_key(resp)
    if zi:
        return {"Poisson": "ZIP", "NB2": "ZINB", "NB1": "ZINB1"}.get(name, name)
    return name


def _family_nested(small, big):
    (fs, zs), (fb, zb) = small, big
    same = fs == fb or (fs == "Poisson" and fb in ("NB1", "NB2"))
    return same and set(zs) <= set(zb)


def _is_glm(r):
    from .same_data import is_glm

    return is_glm(r)


def _glm_family(r):
    """``(family key, link name)`` of a statsmodels GLM fit; ValueError without a counterpart."""
    fam = r.model.family
    name = type(fam).__name__
    if name == "NegativeBinomial":
        raise ValueError("statsmodels' GLM NegativeBinomial family holds alpha fixed, so its "
                         "fit is no special case of a mixed model that estimates alpha; "
                         "compare with a fit of this package without the random effect in "
                         "question, or with a Poisson GLM")
    if name not in ("Binomial", "Poisson", "Gaussian"):
        raise ValueError(f"a GLM of the {name} family has no mixed-model counterpart here "
                         "(Binomial, Poisson and Gaussian GLMs are accepted)")
    return (name, ()), type(fam.link).__name__.lower()


def _is_gaussian_glm(r):
    return _is_glm(r) and type(r.model.family).__name__ == "Gaussian"


def _param_names(r):
    """Parameter names; a GLM's are its columns plus ``scale`` for a Gaussian family."""
    if _is_glm(r):
        return [str(n) for n in r.model.exog_names] + (["scale"] if _is_gaussian_glm(r) else [])
    return list(r.model.param_names)


def _response(r):
    return r.model.family if _is_glm(r) else r.model.response


def _link(r):
    return _glm_family(r)[1] if _is_glm(r) else r.model.response.link_name


def _llf(r):
    """
    The maximised log-likelihood.  For a Gaussian GLM with a non-identity link
    statsmodels evaluates ``llf`` at the Pearson scale; here the scale is its
    maximum-likelihood value ``sum (y - mu)^2 / n`` (as statsmodels uses for
    the identity link), so that the value is the maximum.
    """
    if _is_gaussian_glm(r) and type(r.model.family.link).__name__ != "Identity":
        m = r.model
        resid = np.asarray(m.endog, float) - np.asarray(r.mu, float)
        scale = float(np.sum(np.asarray(m.iweights) * resid ** 2) / m.wnobs)
        return float(m.family.loglike(m.endog, r.mu, var_weights=m.var_weights,
                                      freq_weights=m.freq_weights, scale=scale))
    return float(r.llf)


def _n_params(r):
    """Estimated parameters (a Gaussian GLM's scale counts, as in R's ``logLik``)."""
    return len(np.asarray(r.params)) + (1 if _is_gaussian_glm(r) else 0)


def _nested(a, b, same):
    """
    True when model ``a`` is a special case of the mixed model ``b``; ``same``
    says whether the two fits used the same data.
    """
    from .same_data import nesting_differences, rows_compared

    if not same or _is_glm(b):
        return False
    if _is_glm(a):
        try:
            key_a, link_a = _glm_family(a)
        except ValueError:
            return False
    else:
        if a.nagq != b.nagq:
            return False
        key_a, link_a = _family_key(a.model.response), a.model.response.link_name
        if not set(a.model.cov_struct.public_names()) <= set(b.model.cov_struct.public_names()):
            return False
        if not rows_compared(a, b) and \
                not set(a.model.design.exog_names) <= set(b.model.design.exog_names):
            return False
    key_b = _family_key(b.model.response)
    if not _family_nested(key_a, key_b) or (key_a == key_b and link_a != _link(b)):
        return False
    if _n_params(a) >= _n_params(b):
        return False
    return not nesting_differences(b, a)


class LRReference:
    """
    Reference distribution of a likelihood-ratio statistic.

    Attributes
    ----------
    df : int
        Difference in the number of parameters.
    rule : str
        ``"chi2"``, ``"chibar"`` (50:50 mixture of ``chi2(df-1)`` and
        ``chi2(df)``) or ``"chi2-conservative"``.
    label : str
        Readable name of the reference, e.g. ``"0.5 chi2(0) + 0.5 chi2(1)"``.
    boundary : list of str
        Removed parameters that sit on the boundary under the restriction.
    note : str
        One sentence saying which rule was used and why.

    Examples
    --------
    >>> ref = LRReference(2, "chibar", ["id time Var"], "one variance removed")
    >>> ref.label
    '0.5 chi2(1) + 0.5 chi2(2)'
    >>> round(ref.pvalue(3.0), 6)
    0.153197
    """

    def __init__(self, df, rule, boundary, note):
        self.df = int(df)
        self.rule = rule
        self.boundary = list(boundary)
        self.note = note
        if rule == "chibar":
            self.label = f"0.5 chi2({self.df - 1}) + 0.5 chi2({self.df})"
        else:
            self.label = f"chi2({self.df})"

    def __repr__(self):
        return f"LRReference({self.label!r}, rule={self.rule!r})"

    def pvalue(self, stat):
        """``P(LR >= stat)`` under the reference distribution."""
        stat = max(float(stat), 0.0)
        if self.rule == "chibar":
            return 0.5 * _chi2_sf(stat, self.df - 1) + 0.5 * _chi2_sf(stat, self.df)
        return _chi2_sf(stat, self.df)


def _chi2_sf(x, df):
    """Chi-square survival function, ``chi2(0)`` being a point mass at zero."""
    if df <= 0:
        return 1.0 if x <= 0 else 0.0
    return float(stats.chi2.sf(x, df))


def lr_reference(full, restricted):
    """
    The reference distribution for ``2 (llf_full - llf_restricted)``.

    Parameters present in the full model and absent from the restricted one
    are classified by name: a random-effect variance (``"... Var"``), a
    random-effect covariance (``"... Cov"``), the negative binomial
    dispersion ``alpha`` when the restricted model is Poisson (both on the
    boundary of the parameter space under the restriction), or regular.

    Parameters
    ----------
    full : MixedGLMResults
    restricted : MixedGLMResults or statsmodels GLMResults
        Nested fits (the caller checks the nesting).  A GLM has no random
        effects: every variance and covariance of ``full`` is removed.

    Returns
    -------
    LRReference

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=60, seed=3)
    >>> big = smg.mixedglm("y ~ time + (1 + time | id)", df,
    ...                    family=sm.families.Poisson()).fit()
    >>> small = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> lr_reference(big, small).label
    '0.5 chi2(1) + 0.5 chi2(2)'
    """
    mf = full.model
    kept = set(_param_names(restricted))
    removed = [n for n in mf.param_names if n not in kept]
    df = len(mf.param_names) - len(_param_names(restricted))
    cov_names = set(mf.cov_struct.public_names())
    variances = [n for n in removed if n in cov_names and n.endswith(" Var")]
    covariances = [n for n in removed if n in cov_names and n.endswith(" Cov")]
    fam_r, _ = _family_key(_response(restricted))
    fam_f, _ = _family_key(mf.response)
    alpha = [n for n in removed if n == "alpha" and fam_r == "Poisson" and fam_f in ("NB1", "NB2")]
    boundary = variances + alpha
    inflate = [n for n in removed if n.startswith("inflate_")]
    if len(boundary) == 0:
        if inflate:
            return LRReference(
                df, "chi2", [],
                f"zero-inflation coefficients removed ({', '.join(inflate)}): no structural "
                f"zeros is the edge logit = -inf, not a finite boundary; the chi2({df}) "
                "p-value is approximate (conservative); method='bootstrap' gives a "
                "simulation-based reference")
        return LRReference(df, "chi2", [], f"no parameter on a boundary: chi2({df})")
    if len(boundary) == 1:
        what = (f"variance {boundary[0]!r}" if variances else
                "dispersion 'alpha' (Poisson inside negative binomial)")
        extra = f" with {len(covariances)} covariance(s)" if covariances else ""
        return LRReference(
            df, "chibar", boundary,
            f"one {what} removed{extra}, on the boundary under the restriction: "
            f"chi-bar-square 0.5 chi2({df - 1}) + 0.5 chi2({df}) (Self and Liang 1987)")
    return LRReference(
        df, "chi2-conservative", boundary,
        f"{len(boundary)} boundary parameters removed ({', '.join(boundary)}): the 50:50 "
        f"chi-bar-square rule does not apply; conservative chi2({df}) p-value")


def compare(*results, names=None):
    """
    One table of fitted models: llf, df, AIC, BIC and likelihood-ratio tests.

    Each row after the first is tested against the row above it when one of
    the two models is nested in the other (same data, subsets of fixed
    effects, random effects and zero-inflation columns, fixed-effects column
    spaces nested on the matched rows, Poisson inside negative binomial,
    same link and integration rule).  The p-value uses the reference of
    :func:`lr_reference` (a chi-bar-square mixture when one variance, or the
    NB dispersion, is tested at its boundary), named in the ``Reference``
    column; this is the rule of ``res.compare_lr_test``.

    A statsmodels ``GLM`` result may be given as one of the models (lme4's
    ``anova(glmer_fit, glm_fit)``): its parameters are its coefficients plus
    ``scale`` for the Gaussian family, and a GLM directly above or below a
    mixed model of the same family and link on the same data is tested
    against it with the boundary reference (e.g. ``0.5 chi2(0) + 0.5
    chi2(1)`` for one random intercept).

    The data of every model are compared with the first model's (see
    :func:`statsmodels_glmm.inference.same_data.data_differences`): models
    fitted to other rows or responses are refused, since their AIC and BIC
    are not comparable; models of the same responses with other offsets or
    another grouping of the rows (same factor name) are shown with a
    warning, without a likelihood-ratio test.

    Parameters
    ----------
    *results : MixedGLMResults or statsmodels GLMResults
        Two or more fits of the same response.
    names : list of str, optional
        Row labels (default ``"model 1"``, ``"model 2"``, ...).

    Returns
    -------
    DataFrame
        Columns ``family``, ``nobs``, ``df`` (estimated parameters), ``llf``,
        ``AIC``, ``BIC``, ``Chisq``, ``Df``, ``Pr(>Chisq)`` and
        ``Reference`` (the distribution the p-value comes from).

    Raises
    ------
    ValueError
        When a model was fitted to other rows or another response than the
        first model.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=60, seed=3)
    >>> r1 = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> r2 = smg.mixedglm("y ~ time + group + (1 | id)", df,
    ...                   family=sm.families.Poisson()).fit()
    >>> tab = smg.compare(r1, r2, names=["time", "time + group"])
    >>> int(tab.loc["time + group", "Df"])
    1
    """
    from ..exceptions import warn
    from .same_data import _data, _differences

    if len(results) == 1 and isinstance(results[0], (list, tuple)):
        results = tuple(results[0])
    if len(results) < 1:
        raise ValueError("compare needs at least one fitted model")
    for i, r in enumerate(results):
        if not hasattr(r, "llf") or not hasattr(r, "model"):
            raise ValueError(f"argument {i + 1} is not a fitted model result")
    if names is None:
        names = [f"model {i + 1}" for i in range(len(results))]
    names = [str(n) for n in names]
    if len(names) != len(results):
        raise ValueError(f"names has {len(names)} entries for {len(results)} models")
    if len(set(names)) != len(names):
        raise ValueError("names must be unique")
    for i, r in enumerate(results):
        if _is_glm(r):
            try:
                _glm_family(r)
            except ValueError as exc:
                raise ValueError(f"argument {i + 1}: {exc}") from None
    try:
        data = [_data(r) for r in results]
    except ValueError as exc:
        raise ValueError(f"compare: {exc}") from None
    for i in range(1, len(results)):
        diffs = _differences(data[0], data[i], (repr(names[0]), repr(names[i])))
        fatal = [t for kind, t in diffs if kind in ("rows", "response", "trials")]
        if fatal:
            raise ValueError(
                f"compare: {names[i]!r} was fitted to different data than {names[0]!r}: "
                f"{'; '.join(fatal)}; AIC, BIC and likelihood-ratio tests compare fits of "
                "the same responses only")
        if diffs:
            warn(f"compare: {names[i]!r} and {names[0]!r} model the same responses but "
                 f"{'; '.join(t for _, t in diffs)}; their AIC and BIC are shown, no "
                 "likelihood-ratio test is made between models that differ so", UserWarning)
    rows = []
    for i, r in enumerate(results):
        k = _n_params(r)
        n = data[i].nobs
        llf = _llf(r)
        label = _family_label(_response(r)) + (" (GLM)" if _is_glm(r) else "")
        row = {"family": label, "nobs": n, "df": k, "llf": llf,
               "AIC": -2 * llf + 2 * k, "BIC": -2 * llf + np.log(n) * k,
               "Chisq": np.nan, "Df": np.nan, "Pr(>Chisq)": np.nan, "Reference": ""}
        if i > 0:
            prev = results[i - 1]
            same = not _differences(data[i - 1], data[i])
            small, big = (prev, r) if _nested(prev, r, same) else (
                (r, prev) if _nested(r, prev, same) else (None, None))
            if small is not None:
                stat = max(2.0 * (_llf(big) - _llf(small)), 0.0)
                ref = lr_reference(big, small)
                row.update({"Chisq": stat, "Df": ref.df, "Pr(>Chisq)": ref.pvalue(stat),
                            "Reference": ref.label})
        guard = (getattr(r, "mle_retvals", None) or {}).get("laplace_check") \
            if not _is_glm(r) else None
        row["Laplace check"] = ("" if guard is None else
                                f"{guard['difference']:+.2f}" + (" large" if guard["flagged"]
                                                                 else ""))
        rows.append(row)
    tab = pd.DataFrame(rows, index=pd.Index(names, name="model"))
    doubtful = [nm for nm, row in zip(names, rows) if row["Laplace check"].endswith("large")]
    if doubtful:
        from ..exceptions import LaplaceAccuracyWarning

        warn(
            f"the Laplace approximation looks inaccurate for {', '.join(map(str, doubtful))} "
            "(column 'Laplace check'): their log-likelihoods, AIC, BIC and likelihood-ratio "
            "tests are doubtful; refit with fit(nagq=...) where possible",
            LaplaceAccuracyWarning)
    return tab
