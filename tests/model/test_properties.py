"""
Property-based checks on random longitudinal designs, for every family.

For each generated design the fit either refuses the input with a
``ValueError`` or returns a finite log-likelihood, and the log-likelihood does
not change when the rows are shuffled, the groups relabelled, or a covariate
rescaled by 1000.  With several grouping factors (nested, crossed,
observation-level; Poisson and binomial with trials) the log-likelihood,
estimates, standard errors and conditional predictions do not change when the
rows are shuffled or every factor relabelled, and rescaling a covariate only
rescales its coefficient.  The default run uses a small budget; ``-m slow``
runs a larger one.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import HealthCheck, assume, given, settings, strategies as st

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

    The likelihood itself must be unchanged (checked at the mapped estimates; not
    after a change of units when the covariance is singular: the reported variances
    and covariances of a correlation of +-1 do not carry the zero of the Cholesky
    factor through a change of units, and the likelihood is steep in it there).  On
    weakly identified designs (one or two rows per group with a random slope) the
    optimiser can stop at different local maxima depending on the order of the
    arithmetic; then the fit with the lower value, restarted from the other's
    estimates, must reach at least the higher one (where the likelihood rises without
    bound it may go further).
    """
    tol = 1e-4 * max(1.0, abs(res.llf))
    other, _ = _fit(data, formula, family)
    model = other.model
    m = res.model
    theta = res.mle_retvals["internal_params"][m.k_fe:m.k_fe + m.k_re]
    if s == 1.0 or not m.cov_struct.is_singular(theta):
        assert model.loglike(np.asarray(_mapped(res.params, s))) == \
            pytest.approx(res.llf, abs=tol)
    if other.llf == pytest.approx(res.llf, abs=tol):
        return
    if other.llf < res.llf:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            again = model.fit(start_params=np.asarray(_mapped(res.params, s)))
        assert again.llf >= res.llf - tol
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            again = res.model.fit(start_params=np.asarray(_mapped(other.params, 1 / s)))
        assert again.llf >= other.llf - tol


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


# ------------------------------------------- invariances with several grouping factors
MULTILEVEL = {"nested": ("y ~ x + (1 | a/b)", "poisson"),
              "crossed": ("y ~ x + (1 | a) + (1 | c)", "poisson"),
              "observation-level": ("y ~ x + (1 | a) + (1 | obs)", "poisson"),
              "observation-level binomial trials": ("k + nk ~ x + (1 | a) + (1 | obs)",
                                                    "binomial")}
FACTORS = {"a": "s", "b": "u", "c": "r", "obs": "o"}


@st.composite
def multilevel_data(draw):
    """
    Counts and binomial successes with schools ``a``, classes ``b`` nested in them,
    raters ``c`` crossed with both, an observation-level effect and a covariate ``x``
    on a scale drawn from 0.001 to 1000.
    """
    n_a = draw(st.integers(8, 12))
    n_b = draw(st.integers(2, 3))
    n_c = draw(st.integers(3, 6))
    scale = 10.0 ** draw(st.integers(-3, 3))
    seed = draw(st.integers(0, 2 ** 31 - 1))
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 5, n_a * n_b)              # 2 to 4 rows per class
    cls = np.repeat(np.arange(n_a * n_b), sizes)
    a, b = cls // n_b, cls % n_b
    n = len(cls)
    c = rng.permutation(np.arange(n) % n_c)
    x = rng.normal(size=n)
    eta = (0.8 + 0.4 * x + rng.normal(0, 0.7, n_a)[a] + rng.normal(0, 0.6, n_a * n_b)[cls]
           + rng.normal(0, 0.6, n_c)[c] + rng.normal(0, 0.6, n))
    trials = rng.integers(2, 8, n)
    k = rng.binomial(trials, 1 / (1 + np.exp(-(eta - 0.8))))
    return pd.DataFrame({"a": a, "b": b, "c": c, "obs": np.arange(n), "x": x * scale,
                         "y": rng.poisson(np.exp(eta)), "k": k, "nk": trials - k})


def _fit_family(formula, df, family):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smg.mixedglm(formula, df, family=_family(family)).fit()


def _interior(res):
    """The fit converged with every variance away from zero and finite standard errors."""
    var = res.params[[name for name in res.params.index if name.endswith(" Var")]]
    return (res.converged and bool(np.all(var > 1e-3))
            and bool(np.all(np.isfinite(res.bse))) and bool(np.all(np.isfinite(res.params))))


def _assert_same_fit(res, other, x_factor=1.0, bse_rtol=1e-5):
    """``other`` has the same llf, params and bse, the ``x`` entries multiplied by ``x_factor``."""
    factor = pd.Series(1.0, index=res.params.index)
    factor["x"] = x_factor
    assert list(other.params.index) == list(res.params.index)
    assert other.llf == pytest.approx(res.llf, rel=1e-8, abs=1e-8)
    np.testing.assert_allclose(other.params, res.params * factor, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(other.bse, res.bse * factor, rtol=bse_rtol, atol=1e-8)


def _relabelled(df, seed):
    """Each grouping factor mapped one-to-one onto other labels (strings for half of them)."""
    rng = np.random.default_rng(seed)
    out = df.copy()
    for j, (col, prefix) in enumerate(FACTORS.items()):
        levels = np.unique(df[col])
        new = rng.permutation(len(levels)) * 7 + 3
        labels = [f"{prefix}{v}" for v in new] if (seed + j) % 2 == 0 else new
        out[col] = df[col].map(dict(zip(levels, labels)))
    return out


def _check_multilevel(df, formula, family):
    res = _fit_family(formula, df, family)
    assume(_interior(res))
    seed = int(df["y"].sum())
    rng = np.random.default_rng(seed)
    fitted = res.predict(random_effects="conditional")

    shuffled = df.iloc[rng.permutation(len(df))]
    other = _fit_family(formula, shuffled, family)
    _assert_same_fit(res, other)
    moved = other.predict(random_effects="conditional")
    assert list(moved.index) == list(shuffled.index)
    np.testing.assert_allclose(moved.loc[fitted.index], fitted, rtol=1e-7, atol=1e-10)

    other = _fit_family(formula, _relabelled(df, seed), family)
    _assert_same_fit(res, other)
    np.testing.assert_allclose(other.predict(random_effects="conditional"), fitted,
                               rtol=1e-7, atol=1e-10)

    # the standard errors come from the Hessian at the reported optimum, whatever path
    # the optimiser took there in other units
    scale = 1000.0 if seed % 2 else 1e-3
    _assert_same_fit(res, _fit_family(formula, df.assign(x=df["x"] * scale), family),
                     1.0 / scale, bse_rtol=1e-5)


@pytest.mark.parametrize("structure", list(MULTILEVEL))
def test_multilevel_fit_unchanged_by_row_order_labels_and_covariate_units(structure):
    formula, family = MULTILEVEL[structure]
    given(multilevel_data())(_settings(5)(lambda d: _check_multilevel(d, formula, family)))()


@pytest.mark.slow
@pytest.mark.parametrize("structure", list(MULTILEVEL))
def test_multilevel_fit_unchanged_large_budget(structure):
    formula, family = MULTILEVEL[structure]
    given(multilevel_data())(_settings(50)(lambda d: _check_multilevel(d, formula, family)))()
