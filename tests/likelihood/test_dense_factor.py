"""The dense factorisation of the joint Laplace Hessian against the factorisation by
elimination of one term (SchurFactor), a direct dense computation, and whole fits with
the dense path on and off."""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.families import Poisson
from statsmodels_glmm.likelihood.dense_factor import DenseFactor, DensePattern
from statsmodels_glmm.likelihood.schur import SchurFactor
from statsmodels_glmm.likelihood.sparse_laplace import (SparseLaplaceProblem, _factor,
                                                     sparse_laplace_loglike)
from statsmodels_glmm.spec.terms import RandomEffectTerm

from conftest import dense_hessian, load_dataset, nested_terms


def _crossed(n=300, na=40, nb=12, seed=0):
    """Random (a, b) pairs; a random slope on a, on b, or on both."""
    rng = np.random.default_rng(seed)
    a, b, x = rng.integers(0, na, n), rng.integers(0, nb, n), rng.normal(size=n)
    za = np.c_[np.ones(n), x]
    terms = [RandomEffectTerm.from_arrays("a", a, za, names=["Intercept", "x"]),
             RandomEffectTerm.from_arrays("b", b, za, names=["Intercept", "x"])]
    thetas = [np.array([0.7, 0.2, 0.3]), np.array([0.5, -0.1, 0.4])]
    return rng, np.c_[np.ones(n), x], terms, thetas


def _nested():
    """(1 | b) + (1 + x | a) with the levels of b inside those of a."""
    rng, x, terms = nested_terms(12, 4, 3, seed=1)
    thetas = [np.array([0.6]), np.array([0.8, 0.1, 0.3])]
    return rng, np.c_[np.ones(len(x)), x], terms, thetas


def _three_factors(n=200, seed=2):
    rng = np.random.default_rng(seed)
    codes = [rng.integers(0, k, n) for k in (25, 9, 4)]
    x = rng.normal(size=n)
    terms = [RandomEffectTerm.from_arrays("a", codes[0], np.ones((n, 1))),
             RandomEffectTerm.from_arrays("b", codes[1], np.c_[np.ones(n), x],
                                          names=["Intercept", "x"]),
             RandomEffectTerm.from_arrays("c", codes[2], np.ones((n, 1)))]
    thetas = [np.array([0.5]), np.array([0.6, 0.2, 0.3]), np.array([0.9])]
    return rng, np.c_[np.ones(n), x], terms, thetas


DESIGNS = {"crossed with slopes": _crossed, "nested with a slope": _nested,
           "three crossed factors": _three_factors}


def _close(a, b, rel=1e-12):
    np.testing.assert_allclose(a, b, rtol=rel, atol=rel * np.max(np.abs(b)))


@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_dense_factor_equals_schur_factor(design):
    rng, X, terms, thetas = DESIGNS[design]()
    pr = SparseLaplaceProblem(np.zeros(len(X)), X, None, terms)
    M = pr.m_rows([t.cov.chol(th) for t, th in zip(terms, thetas)])
    w = rng.uniform(0.1, 3.0, pr.nobs)
    schur = pr.pattern.factor(M, w)
    dense = DensePattern(pr.J, pr.n_effects).factor(M, w)
    assert isinstance(schur, SchurFactor) and isinstance(dense, DenseFactor)
    assert abs(dense.logdet - schur.logdet) < 1e-12 * abs(schur.logdet)
    H = dense_hessian(pr, M, w)
    assert abs(dense.logdet - np.linalg.slogdet(H)[1]) < 1e-11 * abs(dense.logdet)
    g = rng.normal(size=pr.n_effects)
    _close(dense.solve(g), schur.solve(g))
    _close(H @ dense.solve(g), g, rel=1e-11)
    G = rng.normal(size=(pr.n_effects, 3))  # several right-hand sides at once
    _close(dense.solve(G), np.column_stack([schur.solve(c) for c in G.T]))
    _close(dense.row_blocks(), schur.row_blocks())
    _close(dense.inverse(), np.linalg.inv(H), rel=1e-10)
    for t, o in zip(pr.terms, pr.term_offsets):
        starts = o + np.arange(t.n_levels) * t.q
        assert dense.diagonal_blocks(starts, t.q).shape == (t.n_levels, t.q, t.q)
        _close(dense.diagonal_blocks(starts, t.q), schur.diagonal_blocks(starts, t.q))


def test_hessian_not_positive_definite_raises_and_gives_no_factor(monkeypatch):
    rng, X, terms, thetas = _crossed(seed=3)
    pr = SparseLaplaceProblem(np.zeros(len(X)), X, None, terms)
    M = pr.m_rows([t.cov.chol(th) for t, th in zip(terms, thetas)])
    w = rng.uniform(0.1, 1.0, pr.nobs)
    w[::5] = -4.0
    assert np.linalg.eigvalsh(dense_hessian(pr, M, w))[0] < 0
    pat = DensePattern(pr.J, pr.n_effects)
    with pytest.raises(np.linalg.LinAlgError):
        pat.factor(M, w)
    with pytest.raises(np.linalg.LinAlgError):
        pr.pattern.factor(M, w)
    Mn = M.copy()
    Mn[4, 1] = np.nan
    with pytest.raises(np.linalg.LinAlgError):
        pat.factor(Mn, np.abs(w))
    monkeypatch.setattr(SparseLaplaceProblem, "dense_limit", pr.n_effects)
    assert _factor(pr, M, w) is None
    # the weights clipped at zero (the mode finder's fallback) give a factor
    f = _factor(pr, M, np.maximum(w, 0.0))
    assert isinstance(f, DenseFactor)
    assert abs(f.logdet - np.linalg.slogdet(dense_hessian(pr, M, np.maximum(w, 0.0)))[1]) < 1e-10


def test_problem_just_above_the_limit_takes_the_schur_path(monkeypatch):
    rng, X, terms, thetas = _nested()
    pr = SparseLaplaceProblem(np.zeros(len(X)), X, None, terms)
    M = pr.m_rows([t.cov.chol(th) for t, th in zip(terms, thetas)])
    w = rng.uniform(0.1, 3.0, pr.nobs)
    monkeypatch.setattr(SparseLaplaceProblem, "dense_limit", pr.n_effects)
    assert isinstance(_factor(pr, M, w), DenseFactor)
    monkeypatch.setattr(SparseLaplaceProblem, "dense_limit", pr.n_effects - 1)
    assert isinstance(_factor(pr, M, w), SchurFactor)


def test_sparse_backend_never_takes_the_dense_path(monkeypatch):
    rng, X, terms, thetas = _nested()
    monkeypatch.setattr(SparseLaplaceProblem, "dense_limit", 10 ** 9)
    pr = SparseLaplaceProblem(np.zeros(len(X)), X, None, terms, backend="sparse",
                              sparse_method="splu")
    M = pr.m_rows([t.cov.chol(th) for t, th in zip(terms, thetas)])
    f = _factor(pr, M, rng.uniform(0.1, 3.0, pr.nobs))
    assert not isinstance(f, DenseFactor)


@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_loglike_gradient_and_cond_cov_equal_on_both_paths(monkeypatch, design):
    rng, X, terms, thetas = DESIGNS[design]()
    fam = Poisson()
    eta = 0.3 + 0.4 * X[:, 1]
    y = fam.validate(rng.poisson(np.exp(eta)).astype(float), "y")
    beta = np.array([0.3, 0.4])
    out = {}
    for name, limit in (("schur", -1), ("dense", 10 ** 9)):
        monkeypatch.setattr(SparseLaplaceProblem, "dense_limit", limit)
        pr = SparseLaplaceProblem(y, X, None, terms)
        out[name] = sparse_laplace_loglike(pr, fam, beta, thetas, np.zeros(0))
        assert isinstance(out[name][2]._fac, DenseFactor if name == "dense" else SchurFactor)
    (l0, g0, s0), (l1, g1, s1) = out["schur"], out["dense"]
    assert s0.converged and s1.converged
    assert abs(l1 - l0) < 1e-10 * abs(l0)
    _close(g1, g0, rel=1e-9)
    for a, b in zip(s1.cond_cov, s0.cond_cov):
        _close(a, b, rel=1e-10)


def _fit_grouseticks():
    df = load_dataset("grouseticks")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smg.mixedglm("TICKS ~ C(YEAR) + HEIGHT + (1 | BROOD) + (1 | LOCATION)", df,
                            family=sm.families.Poisson()).fit()


def test_grouseticks_fit_is_the_same_with_the_dense_path_on_and_off(monkeypatch):
    monkeypatch.setattr(SparseLaplaceProblem, "dense_limit", -1)
    off = _fit_grouseticks()
    monkeypatch.setattr(SparseLaplaceProblem, "dense_limit", 10 ** 6)
    on = _fit_grouseticks()
    pr = on.model.sparse_problem()
    assert pr.n_effects == 118 + 63 and pr.dense_pattern is not None
    assert off.model.sparse_problem().dense_pattern is None
    assert abs(on.llf - off.llf) < 1e-8
    np.testing.assert_allclose(np.asarray(on.bse), np.asarray(off.bse), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(on.params), np.asarray(off.params), rtol=1e-6,
                               atol=1e-8)
