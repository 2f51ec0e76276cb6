"""
Property-based checks on random longitudinal designs, for every family.

For each generated design the fit either refuses the input with a
``ValueError`` or returns a finite log-likelihood, and the log-likelihood does
not change when the rows are shuffled, the groups relabelled, or a covariate
rescaled by 1000.  The default run uses a small budget; ``-m slow`` runs a
larger one.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import HealthCheck, given, settings, strategies as st

import statsmodels_glmm.api as smg

FAMILIES = ["binomial", "poisson", "negbin", "ordinal", "gaussian"]


def _family(name):
    return {"binomial": sm.families.Binomial(), "poisson": sm.families.Poisson(),
            "negbin": smg.families.NegativeBinomial(), "ordinal": smg.families.Ordinal(),
            "gaussian": sm.families.Gaussian()}[name]


@st.composite
def designs(draw, family):
    n_groups = draw(st.integers(2, 300))
    max_size = draw(st.integers(1, 30))
    n_cov = draw(st.integers(0, 4))
    scales = [10.0 ** draw(st.integers(-3, 3)) for _ in range(n_cov)]
    sd0 = draw(st.floats(0.0, 5.0))
    slope = n_cov > 0 and draw(st.booleans())
    seed = draw(st.integers(0, 2 ** 31 - 1))
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_size + 1, n_groups)
    g = np.repeat(np.arange(n_groups), sizes)
    n = len(g)
    X = rng.normal(size=(n, n_cov))
    beta = rng.normal(0, 0.5, n_cov)
    eta = 0.2 + X @ beta + rng.normal(0, sd0, n_groups)[g]
    if slope:
        eta += X[:, 0] * rng.normal(0, 0.5, n_groups)[g]
    eta = np.clip(eta, -8, 4)
    if family == "binomial":
        y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    elif family == "poisson":
        y = rng.poisson(np.exp(eta))
    elif family == "negbin":
        y = rng.negative_binomial(2.0, 2.0 / (2.0 + np.exp(eta)))
    elif family == "ordinal":
        y = np.searchsorted([-1.0, 0.5, 2.0], eta + rng.logistic(size=n))
    else:
        y = eta + rng.normal(size=n)
    df = pd.DataFrame(X * np.array(scales), columns=[f"x{j}" for j in range(n_cov)])
    df["y"] = y
    df["g"] = g
    rhs = " + ".join(df.columns[:n_cov]) or "1"
    re = "(1 + x0 | g)" if slope else "(1 | g)"
    return df, f"y ~ {rhs} + {re}", n_cov


def _fit(df, formula, family):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = smg.mixedglm(formula, df, family=_family(family)).fit()
    return res, [str(w.message) for w in caught]


def _check(design, family):
    df, formula, n_cov = design
    try:
        res, msgs = _fit(df, formula, family)
    except ValueError as exc:
        # refused input: the message must say what is wrong with it
        assert str(exc) and "Traceback" not in str(exc)
        return
    assert np.isfinite(res.llf)
    if np.any(np.isnan(res.params)):
        assert msgs, "NaN parameters without a warning"
    if not res.converged:
        assert msgs, "no convergence without a warning"
        return
    rng = np.random.default_rng(0)
    shuffled = df.iloc[rng.permutation(len(df))]
    _same_optimum(res, shuffled, formula, family, 1.0)
    relabelled = df.assign(g=df["g"].map(dict(zip(np.unique(df["g"]),
                                                  rng.permutation(df["g"].nunique()) + 7))))
    _same_optimum(res, relabelled, formula, family, 1.0)
    if n_cov:
        scaled = df.assign(x0=df["x0"] * 1000.0)
        _same_optimum(res, scaled, formula, family, 1000.0)


def _mapped(params, s):
    """Parameters for the data with ``x0`` multiplied by ``s``."""
    p = params.copy()
    for name in p.index:
        if name == "x0" or name.endswith("Intercept x x0 Cov"):
            p[name] /= s
        elif name.endswith("x0 Var"):
            p[name] /= s * s
    return p


def _same_optimum(res, data, formula, family, s):
    """
    The transformed data give the same maximum likelihood.

    The likelihood itself must be unchanged (checked at the mapped estimates).  On
    weakly identified designs (one or two rows per group with a random slope) the
    optimiser can stop at different local maxima depending on the order of the
    arithmetic; then the fit with the lower value, restarted from the other's
    estimates, must reach the higher one.
    """
    tol = 1e-4 * max(1.0, abs(res.llf))
    other, _ = _fit(data, formula, family)
    model = other.model
    assert model.loglike(np.asarray(_mapped(res.params, s))) == pytest.approx(res.llf, abs=tol)
    if other.llf == pytest.approx(res.llf, abs=tol):
        return
    if other.llf < res.llf:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            again = model.fit(start_params=np.asarray(_mapped(res.params, s)))
        assert again.llf == pytest.approx(res.llf, abs=tol)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            again = res.model.fit(start_params=np.asarray(_mapped(other.params, 1 / s)))
        assert again.llf == pytest.approx(other.llf, abs=tol)


def _settings(n):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("family", FAMILIES)
def test_random_designs(family):
    given(designs(family))(_settings(4)(lambda d: _check(d, family)))()


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_random_designs_large_budget(family):
    given(designs(family))(_settings(60)(lambda d: _check(d, family)))()


# ------------------------------------------------- likelihood-ratio tests and the data
STRUCTURES = {"one factor": "y ~ x + (1 | a)",
              "nested": "y ~ x + (1 | a/b)",
              "crossed": "y ~ x + (1 | a) + (1 | c)"}


@st.composite
def grouped_counts(draw):
    """Poisson counts with schools ``a``, classes ``b`` nested in them, raters ``c`` crossed."""
    n_a = draw(st.integers(4, 10))
    n_b = draw(st.integers(2, 3))
    per = draw(st.integers(2, 5))
    n_c = draw(st.integers(2, 6))
    seed = draw(st.integers(0, 2 ** 31 - 1))
    rng = np.random.default_rng(seed)
    a = np.repeat(np.arange(n_a), n_b * per)
    b = np.repeat(np.arange(n_a * n_b), per)
    c = rng.permutation(np.arange(len(a)) % n_c)
    x = rng.normal(size=len(a))
    eta = 1.0 + 0.3 * x + rng.normal(0, 0.5, n_a)[a] + rng.normal(0, 0.4, n_c)[c]
    df = pd.DataFrame({"a": a, "b": b % n_b, "c": c, "x": x, "y": rng.poisson(np.exp(eta))})
    return df, seed


def _fit_quietly(formula, df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smg.mixedglm(formula, df, family=sm.families.Poisson()).fit()


def _permuted(df, seed):
    """The same rows in another order, with other group labels."""
    rng = np.random.default_rng(seed)
    out = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    return out.assign(a=out["a"].map(lambda v: f"s{v}"), c=out["c"] * 3 + 1)


def _check_same_and_other_data(design, formula):
    df, seed = design
    res = _fit_quietly(formula, df)
    other = _fit_quietly(formula, _permuted(df, seed))
    for full, restricted in ((res, other), (other, res)):
        out = full.compare_lr_test(restricted)
        assert out.df_diff == 0 and 0.0 <= out.statistic < 1e-6
    y = df["y"].to_numpy().copy()
    k = seed % len(y)
    y[k] += 1
    changed = _fit_quietly(formula, _permuted(df.assign(y=y), seed + 1))
    with pytest.raises(ValueError, match=f"different responses: 1 of {len(df)} values differ"):
        res.compare_lr_test(changed)


@pytest.mark.parametrize("structure", list(STRUCTURES))
def test_lr_against_own_fit_to_permuted_rows_is_zero_and_other_data_refused(structure):
    formula = STRUCTURES[structure]
    given(grouped_counts())(_settings(3)(lambda d: _check_same_and_other_data(d, formula)))()
