"""The compiled mode search of several grouping factors (``compiled.sparse_modes``):
the same modes as the numpy search to its tolerance, the same fits, the designs it
serves and those it leaves to numpy, and a fall-back when it does not converge."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.inference.bootstrap import refit, simulate_responses
from statsmodels_glmm.likelihood import compiled
from statsmodels_glmm.likelihood.sparse_laplace import solve_sparse_modes
from statsmodels_glmm.spec.terms import split_thetas

from conftest import load_dataset, numba_missing, unbuildable_kernels

P, B = sm.families.Poisson(), sm.families.Binomial()


def _nested(kind, n=600, seed=1, trials=False):
    """Rows in inner groups of 4, the inner groups nested in outer ones."""
    rng = np.random.default_rng(seed)
    inner = np.repeat(np.arange(n // 4), 4)
    outer = inner % 12
    x = rng.normal(size=n)
    eta = -0.3 + 0.5 * x + rng.normal(0, 0.8, inner.max() + 1)[inner] + \
        rng.normal(0, 0.5, 12)[outer]
    df = pd.DataFrame({"x": x, "a": inner.astype(str), "b": outer.astype(str),
                       "c": (inner % 5).astype(str)})
    if kind == "poisson":
        df["y"] = rng.poisson(np.exp(eta))
    else:
        k = rng.integers(1, 6, n) if trials else np.ones(n, dtype=int)
        df["y"] = rng.binomial(k, 1 / (1 + np.exp(-eta)))
        df["no"] = k - df["y"]
    return df


def _model(df, formula, family):
    return smg.mixedglm(formula, df, family=family)


CASES = {
    "poisson, two nested factors": ("poisson", "y ~ x + (1 | a) + (1 | b)", P, {}),
    "bernoulli, two nested factors": ("binary", "y ~ x + (1 | a) + (1 | b)", B, {}),
    "binomial trials": ("binary", "y + no ~ x + (1 | a) + (1 | b)", B, {"trials": True}),
    "three factors": ("poisson", "y ~ x + (1 | a) + (1 | b) + (1 | c)", P, {}),
    "slopes of the outer factor": ("poisson", "y ~ x + (1 | a) + (1 + x | b)", P, {}),
}


def _point(m, scale=1.0):
    """Fixed effects near the estimates and the covariance factors times ``scale``."""
    pr = m.sparse_problem()
    x0 = m._start_internal()
    beta, theta, extra = m._split(x0)
    Ls = [scale * t.cov.chol(th) for t, th in zip(pr.terms, split_thetas(pr.terms, theta))]
    return pr, beta, Ls, extra


@numba_missing
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("scale", [0.5, 1.0, 2.5])
def test_compiled_modes_are_the_numpy_modes(case, scale, monkeypatch):
    kind, formula, fam, kw = CASES[case]
    m = _model(_nested(kind, **kw), formula, fam)
    pr, beta, Ls, extra = _point(m, scale)
    assert compiled._sparse_pattern(pr) is not None
    on = solve_sparse_modes(pr, m.response, beta, Ls, extra)
    got = compiled.sparse_modes(pr, m.response, pr.X @ beta + pr.offset, pr.m_rows(Ls),
                                np.zeros(pr.n_effects), 1e-10, 100)
    monkeypatch.setattr(compiled, "SPARSE_MAX_ROWS", 0)
    pr.__dict__.pop("_kernel_pattern")
    off = solve_sparse_modes(pr, m.response, beta, Ls, extra)
    assert compiled._sparse_pattern(pr) is None
    assert on[6] and off[6] and got[1]
    np.testing.assert_allclose(got[0], off[0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(on[0], off[0], rtol=0, atol=1e-9)
    # what follows from the modes is the numpy path's: h and the factor at them
    assert on[4] == pytest.approx(off[4], rel=1e-13, abs=1e-12)
    assert on[5].logdet == pytest.approx(off[5].logdet, rel=1e-12)


def test_the_kernel_takes_nested_small_designs_only(monkeypatch):
    nested = _model(_nested("poisson"), "y ~ x + (1 | a) + (1 | b)", P).sparse_problem()
    three = _model(_nested("poisson"), CASES["three factors"][1], P).sparse_problem()
    crossed = _model(load_dataset("sim_crossed"), "y ~ x + (1 | subj) + (1 | item)",
                     P).sparse_problem()
    slope_inner = _model(_nested("poisson"), "y ~ x + (1 + x | a) + (1 | b)",
                         P).sparse_problem()
    if compiled.available():
        # two factors, each inner level in one outer one: the Schur complement is diagonal
        assert compiled._sparse_pattern(nested)[-1] is True
        assert compiled._sparse_pattern(three)[-1] is False
    assert compiled._sparse_pattern(crossed) is None  # every subject meets many items
    assert compiled._sparse_pattern(slope_inner) is None  # two effects per eliminated level
    for family in (smg.families.NegativeBinomial(), sm.families.Binomial(
            sm.families.links.Probit())):
        assert compiled.sparse_modes(nested, family, np.zeros(nested.nobs),
                                     np.ones((nested.nobs, 2)), np.zeros(nested.n_effects),
                                     1e-10, 100) is None
    monkeypatch.setattr(compiled, "SPARSE_MAX_ROWS", 100)
    small = _model(_nested("poisson"), "y ~ x + (1 | a) + (1 | b)", P).sparse_problem()
    assert compiled._sparse_pattern(small) is None


@numba_missing
@pytest.mark.parametrize("dataset, formula, fam", [
    ("grouseticks", "TICKS ~ C(YEAR) + HEIGHT + (1 | BROOD) + (1 | LOCATION)", P),
    ("Arabidopsis", "total_fruits ~ nutrient + amd + status + (1 | popu) + (1 | gen)", P),
])
def test_fits_are_the_same_with_the_kernel_on_and_off(dataset, formula, fam, monkeypatch):
    df = load_dataset(dataset)
    if dataset == "Arabidopsis":
        df = df.rename(columns={"total.fruits": "total_fruits"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on = smg.mixedglm(formula, df, family=fam).fit()
        assert compiled._sparse_pattern(on.model.sparse_problem()) is not None
        monkeypatch.setattr(compiled, "SPARSE_MAX_ROWS", 0)
        off = smg.mixedglm(formula, df, family=fam).fit()
    assert compiled._sparse_pattern(off.model.sparse_problem()) is None
    assert on.converged and off.converged
    assert on.llf == pytest.approx(off.llf, rel=0, abs=1e-8)
    np.testing.assert_allclose(np.asarray(on.params), np.asarray(off.params), rtol=1e-7,
                               atol=1e-9)
    np.testing.assert_allclose(np.asarray(on.bse), np.asarray(off.bse), rtol=1e-6)


@numba_missing
def test_a_search_the_kernel_does_not_finish_is_the_numpy_search(monkeypatch):
    m = _model(_nested("binary"), "y ~ x + (1 | a) + (1 | b)", B)
    pr, beta, Ls, extra = _point(m)
    K = compiled._sparse_kernels()
    calls = []

    def unfinished(*args):
        calls.append(1)
        return False, 100

    monkeypatch.setattr(K, "sparse_newton", unfinished)
    got = solve_sparse_modes(pr, m.response, beta, Ls, extra)
    monkeypatch.setattr(compiled, "SPARSE_MAX_ROWS", 0)
    pr.__dict__.pop("_kernel_pattern")
    want = solve_sparse_modes(pr, m.response, beta, Ls, extra)
    assert calls and got[6]
    np.testing.assert_array_equal(got[0], want[0])
    assert got[4] == want[4]


@numba_missing
def test_a_refit_on_a_new_response_reads_the_new_response():
    """The kernel keeps the response's values for the response array it was given: a
    bootstrap copy of the model (another response array) gets its own."""
    df = _nested("poisson")
    res = _model(df, "y ~ x + (1 | a) + (1 | b)", P).fit()
    y = simulate_responses(res, 1, seed=4)[0]
    again = refit(res.model, y)
    d = res.model.design
    df.loc[d.row_index, "y_new"] = d.unsort(y)
    fresh = _model(df, "y_new ~ x + (1 | a) + (1 | b)", P).fit(check_laplace=False)
    assert again.llf == pytest.approx(fresh.llf, abs=1e-8)
    np.testing.assert_allclose(np.asarray(again.params), np.asarray(fresh.params),
                               rtol=1e-7, atol=1e-9)


def test_a_kernel_that_cannot_be_built_leaves_the_numpy_search(monkeypatch):
    pytest.importorskip("numba")
    unbuildable_kernels(monkeypatch, "_SPARSE", "_sparse_smoke")
    m = _model(_nested("poisson"), "y ~ x + (1 | a) + (1 | b)", P)
    pr, beta, Ls, extra = _point(m)
    with pytest.warns(UserWarning, match="several grouping factors could not be built"):
        got = solve_sparse_modes(pr, m.response, beta, Ls, extra)
    assert compiled._sparse_kernels() is None  # decided once
    monkeypatch.setattr(compiled, "SPARSE_MAX_ROWS", 0)
    pr.__dict__.pop("_kernel_pattern")
    want = solve_sparse_modes(pr, m.response, beta, Ls, extra)
    assert got[6]
    np.testing.assert_array_equal(got[0], want[0])
