"""
Statistics of the fixed-effects columns of a model's design.

:func:`_column_stats` gives the moments of the columns of ``X`` that the
parameter scaling and the difference steps use; :func:`separation_terms`
names the columns that (quasi-)completely separate a binomial outcome, or
along which a count outcome is zero in every row of one value (both send
an estimate towards infinity).
"""

import numpy as np

from ..families.negbin import NegativeBinomial
from ..families.standard import Poisson

__all__ = ["separation_terms", "separation_kind", "outcome_at_bounds"]


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


def separation_kind(response):
    """
    ``"binomial"`` or ``"count"`` for the families whose estimates run off to
    infinity when the outcome sits at a bound for one value of a column (all
    failures or all successes; all zero counts), None for the others.

    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> families = (sm.families.Poisson(), sm.families.Gaussian())
    >>> [separation_kind(as_response(f)) for f in families]
    ['count', None]
    """
    if response.name == "Binomial":
        return "binomial"
    if isinstance(getattr(response, "base", response), (Poisson, NegativeBinomial)):
        return "count"  # zero-inflated counts included
    return None


def outcome_at_bounds(response, y):
    """
    Per row: is the outcome at its lower bound (no successes; a zero count), and
    at its upper bound (every trial a success; never, for counts)?

    >>> import numpy as np, statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> low, high = outcome_at_bounds(as_response(sm.families.Poisson()), np.array([0.0, 3.0]))
    >>> low.tolist(), high.tolist()
    ([True, False], [False, False])
    """
    if separation_kind(response) == "binomial":
        s, n = y[:, 0], y[:, 1]
        return s == 0, s == n
    counts = np.asarray(response.response_value(y), dtype=float)
    return counts == 0, np.zeros(len(counts), dtype=bool)


def separation_terms(model, params):
    """
    Fixed-effect columns that (quasi-)completely separate the outcome.

    For a binomial or count outcome (Poisson, negative binomial, also
    zero-inflated) a column is named when, at the estimates, its coefficient
    times its standard deviation exceeds 10 (a change of 10 on the link scale
    across one SD: the likelihood is still rising towards an infinite
    estimate), or when it takes two values and the outcome sits at a bound in
    every row with one of them: every trial a failure or every trial a
    success, or every count zero (the log-rate of those rows then runs off to
    minus infinity).

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
    if separation_kind(model.response) is None or not model.k_fe:
        return []
    d = model.design
    X = d.X
    beta = np.asarray(params, dtype=float)[:model.k_fe]
    _, spread, lo, hi = _column_stats(model)
    out = [n for n, b, sd in zip(model.exog_names, beta, spread) if sd > 0 and abs(b) * sd > 10]
    low, high = outcome_at_bounds(model.response, d.y)
    for j, name in enumerate(model.exog_names):
        if name in out or lo[j] == hi[j]:
            continue
        col = X[:, j]
        if not np.all((col == lo[j]) | (col == hi[j])):
            continue  # more than two values
        for v in (lo[j], hi[j]):
            rows = col == v
            if np.all(low[rows]) or np.all(high[rows]):
                out.append(name)
                break
    return out
