"""Crossed factors whose levels meet few of the other factor's levels: the Schur
complement's update and the rows' pieces of H^{-1} summed over B's pattern by the
compiled kernels, and solves that gather B's entries; each against dense algebra and
against the numpy path."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.likelihood import compiled, compiled_schur
from statsmodels_glmm.likelihood.sparse_laplace import SparseLaplaceProblem

from conftest import crossed_terms, dense_factor_pieces, dense_hessian, numba_missing


def _crossed(n, na, nb, seed, slope=False):
    _, _, _, x, terms = crossed_terms(n, na, nb, seed, slope)
    return SparseLaplaceProblem(np.zeros(n), np.c_[np.ones(n), x], None, terms)


def test_sparse_crossed_levels_take_the_pattern_paths_and_dense_ones_do_not():
    # 400 x 250 levels, 8000 rows: each level of a meets about 8% of b's levels
    pat = _crossed(8000, 400, 250, seed=21).pattern
    assert pat.dense_BtF and pat.by_pattern and not pat.dense_F
    pairs = int((pat.level_count.astype(float) ** 2).sum())
    assert pat.by_pattern_work * pairs < pat.le * pat.r ** 2
    # persons x items, nearly every pair present: dense products throughout
    dense = _crossed(6000, 60, 25, seed=9).pattern
    assert dense.dense_BtF and not dense.by_pattern and dense.dense_F
    # few pairs, but dense products too small to repay loading the kernels
    small = _crossed(5000, 500, 50, seed=9).pattern
    pairs = int((small.level_count.astype(float) ** 2).sum())
    assert small.by_pattern_work * pairs < small.le * small.r ** 2 < small.by_pattern_from
    assert small.dense_BtF and not small.by_pattern


@numba_missing
@pytest.mark.parametrize("qe", [1, 2])
def test_kernels_equal_the_dense_products(qe):
    rng = np.random.default_rng(qe)
    le, r = 40, 30
    cols = [np.sort(rng.choice(r, size=rng.integers(0, 9), replace=False)) for _ in range(le)]
    count = np.array([len(c) for c in cols])
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    col = np.concatenate(cols).astype(np.intp)
    level = np.repeat(np.arange(le), count)
    Fv = rng.normal(size=(len(col), qe))
    X = rng.normal(size=(r, r))
    Sinv = X @ X.T + r * np.eye(r)
    Fd = np.zeros((le, qe, r))
    Fd[level, :, col] = Fv
    P = Fd @ Sinv  # (le, qe, r)
    Pv, See = compiled_schur.schur_sigma(Fv, col, first, count, Sinv)
    np.testing.assert_allclose(Pv, P[level, :, col], rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(See, Fd @ P.transpose(0, 2, 1), rtol=1e-13, atol=1e-12)
    Bv = rng.normal(size=Fv.shape)
    Bd = np.zeros((le, qe, r))
    Bd[level, :, col] = Bv
    BtF = compiled_schur.schur_pairs(Bv, Fv, first, count, col, r)
    np.testing.assert_allclose(BtF, np.einsum("lar,las->rs", Bd, Fd), rtol=1e-13, atol=1e-12)
    if qe == 1:
        S0 = rng.normal(size=(r, r))
        S = S0.copy()
        assert compiled_schur.schur_update(Fv[:, 0], col, first, count, S)
        G = Fd[:, 0, :]
        iu = np.triu_indices(r)
        np.testing.assert_allclose(S[iu], (S0 - G.T @ G)[iu], rtol=1e-13, atol=1e-12)
        lower = np.tril_indices(r, -1)
        assert np.array_equal(S[lower], S0[lower])  # the triangle Cholesky reads alone


@numba_missing
@pytest.mark.parametrize("slope", [False, True])
def test_factor_on_the_pattern_equals_dense_algebra_and_the_numpy_path(monkeypatch, slope):
    # one effect per eliminated level (S -= G'G) or two (B'F over the pairs)
    pr = _crossed(8000, 400, 250, seed=21, slope=slope)
    assert pr.pattern.by_pattern and pr.pattern.qe == (2 if slope else 1)
    rng = np.random.default_rng(3)
    L_a = np.array([[0.7, 0.0], [0.1, 0.3]]) if slope else np.array([[0.7]])
    M = pr.m_rows([L_a, np.array([[0.5]])])
    w = rng.uniform(0.2, 2.0, pr.nobs)
    g = rng.normal(size=pr.n_effects)

    def pieces():
        f = pr.pattern.factor(M, w)
        return f.logdet, f.solve(g), f.row_products(M), f.row_blocks()

    on = pieces()
    monkeypatch.setattr(compiled, "ENABLED", False)
    off = pieces()
    for a, b, c in zip(on, off, dense_factor_pieces(pr, M, w, g)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(a, c, rtol=1e-9, atol=1e-11)


@numba_missing
def test_fit_with_the_pattern_kernels_equals_the_numpy_fit(monkeypatch):
    # subjects x items binary accuracy: 20 of 120 items per subject
    rng = np.random.default_rng(11)
    n, ns, ni = 6000, 300, 150
    s, i = rng.integers(0, ns, n), rng.integers(0, ni, n)
    x = rng.normal(size=n)
    eta = -0.2 + 0.4 * x + rng.normal(0, 0.8, ns)[s] + rng.normal(0, 0.5, ni)[i]
    df = pd.DataFrame({"y": rng.binomial(1, 1 / (1 + np.exp(-eta))), "x": x,
                       "subject": s, "item": i})
    model = smg.mixedglm("y ~ x + (1 | subject) + (1 | item)", df,
                         family=sm.families.Binomial())
    assert model.sparse_problem().pattern.by_pattern
    on = model.fit()
    monkeypatch.setattr(compiled, "ENABLED", False)
    off = smg.mixedglm("y ~ x + (1 | subject) + (1 | item)", df,
                       family=sm.families.Binomial()).fit()
    assert on.converged and off.converged
    assert abs(on.llf - off.llf) < 1e-9
    np.testing.assert_allclose(on.params, off.params, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(on.bse, off.bse, rtol=1e-6)


@numba_missing
@pytest.mark.parametrize("slope", [False, True])
def test_solves_by_the_gather_kernels_give_numpys_numbers(monkeypatch, slope):
    # the cross block under 12% full: solves gather its entries, the kernels in
    # np.bincount's order (two effects per eliminated level with the slope)
    rng, _, _, _, terms = crossed_terms(8000, 400, 250, seed=8, slope=slope)
    n = 8000
    pr = SparseLaplaceProblem(np.zeros(n), np.ones((n, 1)), None, terms)
    assert not pr.pattern.dense_F and pr.pattern.qe == (2 if slope else 1)
    L_a = np.array([[0.7, 0.0], [0.1, 0.3]]) if slope else np.array([[0.7]])
    M = pr.m_rows([L_a, np.array([[0.5]])])
    w = rng.uniform(0.2, 2.0, n)
    g = rng.normal(size=pr.n_effects)
    f = pr.pattern.factor(M, w)
    calls = []
    kernel = compiled_schur.schur_cross
    monkeypatch.setattr(compiled_schur, "schur_cross",
                        lambda *a, **k: calls.append(1) or kernel(*a, **k))
    on = f.solve(g)
    assert len(calls) == 2  # F'g and F x, both by the kernels
    monkeypatch.setattr(compiled, "ENABLED", False)
    off = f.solve(g)
    np.testing.assert_array_equal(on, off)
    np.testing.assert_allclose(on, np.linalg.solve(dense_hessian(pr, M, w), g), rtol=1e-9,
                               atol=1e-11)
