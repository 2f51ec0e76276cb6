"""
Side-by-side comparison of fitted models: log-likelihood, AIC, BIC and
likelihood-ratio tests.

Every family in this package keeps all normalising constants in its
log-likelihood, so ``AIC = -2 llf + 2 k`` and ``BIC = -2 llf + k log n``
compare across Poisson, NB1, NB2, ZIP and ZINB fits of the same response.

For two models where one is a special case of the other (fixed effects,
random effects and zero-inflation columns a subset; Poisson inside a
negative binomial; a count family inside its zero-inflated version), the
likelihood-ratio statistic ``2 (llf_big - llf_small)`` is referred to a
chi-square with ``k_big - k_small`` degrees of freedom.  When the extra
parameters of the bigger model include a variance, a dispersion ``alpha`` or
a zero-inflation probability tested at its boundary (zero), that chi-square
p-value is conservative (the reference is a mixture of chi-squares; for one
such parameter the p-value could be halved).
"""

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["compare"]


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


def _nested(a, b):
    """True when model ``a`` is a special case of model ``b``."""
    ma, mb = a.model, b.model
    if ma.nobs != mb.nobs or a.nagq != b.nagq:
        return False
    ya, yb = np.asarray(ma.endog, dtype=float), np.asarray(mb.endog, dtype=float)
    if ya.shape != yb.shape or not np.allclose(ya, yb):
        return False
    da, db = ma.design, mb.design
    if da.group_name != db.group_name:
        return False
    if not set(da.exog_names) <= set(db.exog_names):
        return False
    if not set(da.re_names) <= set(db.re_names):
        return False
    if not _family_nested(_family_key(ma.response), _family_key(mb.response)):
        return False
    return len(np.asarray(a.params)) < len(np.asarray(b.params))


def compare(*results, names=None):
    """
    One table of fitted models: llf, df, AIC, BIC and likelihood-ratio tests.

    Each row after the first is tested against the row above it when one of
    the two models is nested in the other (same data, subsets of fixed
    effects, random effects and zero-inflation columns, Poisson inside
    negative binomial, same integration rule).

    Parameters
    ----------
    *results : MixedGLMResults
        Two or more fits of the same response.
    names : list of str, optional
        Row labels (default ``"model 1"``, ``"model 2"``, ...).

    Returns
    -------
    DataFrame
        Columns ``family``, ``nobs``, ``df`` (estimated parameters), ``llf``,
        ``AIC``, ``BIC``, ``Chisq``, ``Df``, ``Pr(>Chisq)``.

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
    rows = []
    for i, r in enumerate(results):
        k = len(np.asarray(r.params))
        n = int(r.nobs)
        llf = float(r.llf)
        row = {"family": _family_label(r.model.response), "nobs": n, "df": k, "llf": llf,
               "AIC": -2 * llf + 2 * k, "BIC": -2 * llf + np.log(n) * k,
               "Chisq": np.nan, "Df": np.nan, "Pr(>Chisq)": np.nan}
        if i > 0:
            prev = results[i - 1]
            small, big = (prev, r) if _nested(prev, r) else (
                (r, prev) if _nested(r, prev) else (None, None))
            if small is not None:
                stat = max(2.0 * (float(big.llf) - float(small.llf)), 0.0)
                ddf = len(np.asarray(big.params)) - len(np.asarray(small.params))
                row.update({"Chisq": stat, "Df": ddf,
                            "Pr(>Chisq)": float(stats.chi2.sf(stat, ddf))})
        rows.append(row)
    tab = pd.DataFrame(rows, index=pd.Index(names, name="model"))
    return tab
