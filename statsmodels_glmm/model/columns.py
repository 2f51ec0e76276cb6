"""
Statistics of the fixed-effects columns of a model's design.

:func:`_column_stats` gives the moments of the columns of ``X`` that the
parameter scaling and the difference steps use; :func:`separation_terms`
names the columns that (quasi-)completely separate a binomial outcome.
"""

import numpy as np

__all__ = ["separation_terms"]


def _column_stats(model):
    """
    Mean, standard deviation, minimum and maximum of every column of the
    model's ``X`` (a pass each, without temporaries the size of ``X``; kept on
    the model).
    """
    hit = model.__dict__.get("_colstats")
    if hit is not None:
        return hit
    X = model.design.X
    if len(X) == 0:  # a model whose rows live elsewhere (Dask): nothing to measure here
        z = np.zeros(X.shape[1])
        return z, z, z, z
    n = len(X)
    mean = np.ones(n) @ X / n
    lo, hi = X.min(0), X.max(0)
    var = np.maximum(np.einsum("ij,ij->j", X, X) / n - mean * mean, 0.0)
    # where the mean dwarfs the spread the short formula loses digits: two passes
    fix = (lo != hi) & (var <= 1e-8 * mean * mean)
    if np.any(fix):
        var[fix] = X[:, fix].var(0)
    sd = np.where(lo == hi, 0.0, np.sqrt(var))
    out = model.__dict__["_colstats"] = (mean, sd, lo, hi)
    return out


def separation_terms(model, params):
    """
    Fixed-effect columns that (quasi-)completely separate a binomial outcome.

    A column is named when, at the estimates, its coefficient times its
    standard deviation exceeds 10 (a change of 10 on the logit scale across
    one SD: the likelihood is still rising towards an infinite estimate), or
    when it takes two values and the outcome never varies among the rows
    with one of them (every trial a failure, or every trial a success).

    Examples
    --------
    >>> import numpy as np, pandas as pd, statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=1)
    >>> df["flag"] = (np.arange(len(df)) % 7 == 0).astype(float)
    >>> df.loc[df["flag"] == 1, "y"] = 1
    >>> m = smg.mixedglm("y ~ time + flag + (1 | id)", df, family=sm.families.Binomial())
    >>> separation_terms(m, np.zeros(len(m.param_names)))
    ['flag']
    """
    if model.response.name != "Binomial" or not model.k_fe:
        return []
    d = model.design
    X = d.X
    beta = np.asarray(params, dtype=float)[:model.k_fe]
    _, spread, lo, hi = _column_stats(model)
    out = [n for n, b, sd in zip(model.exog_names, beta, spread) if sd > 0 and abs(b) * sd > 10]
    s, n = d.y[:, 0], d.y[:, 1]
    for j, name in enumerate(model.exog_names):
        if name in out or lo[j] == hi[j]:
            continue
        col = X[:, j]
        if not np.all((col == lo[j]) | (col == hi[j])):
            continue  # more than two values
        for v in (lo[j], hi[j]):
            rows = col == v
            if np.all(s[rows] == 0) or np.all(s[rows] == n[rows]):
                out.append(name)
                break
    return out
