"""Per-evaluation shortcuts of the joint Laplace factorisations against direct dense
computations: products with M through sparse rows, the one-pass sums over the rows, the
row-wise products Sigma[J_t, J_t] m_t, dense F in solves, H^{-1} assembled from the Schur
pieces for the fixed-effects Hessian, and the trace products of that Hessian."""

import numpy as np
import pytest
from scipy import sparse

from statsmodels_glmm.likelihood import sparse_laplace_hessian as slh
from statsmodels_glmm.likelihood.dense_factor import DensePattern
from statsmodels_glmm.likelihood.schur import SchurFactor, SchurPattern
from statsmodels_glmm.likelihood.sparse_laplace import SparseLaplaceProblem
from statsmodels_glmm.spec.terms import RandomEffectTerm

from conftest import dense_rows, nested_terms


def _problem(kind, seed=0):
    """Designs that take the different Schur paths."""
    rng = np.random.default_rng(seed)
    if kind == "full crossed":  # every (a, b) pair once: B dense and full
        a, b = np.repeat(np.arange(40), 6), np.tile(np.arange(6), 40)
        n = len(a)
        zs = [np.ones((n, 1)), np.ones((n, 1))]
    elif kind == "sparse crossed":  # random pairs: B sparse, one merged block of S
        n = 300
        a, b = rng.integers(0, 60, n), rng.integers(0, 25, n)
        zs = [np.ones((n, 1)), np.ones((n, 1))]
    elif kind == "slopes":  # two effects per level of both terms
        n = 400
        a, b = rng.integers(0, 40, n), rng.integers(0, 7, n)
        x = rng.normal(size=n)
        zs = [np.c_[np.ones(n), x], np.c_[np.ones(n), x]]
    elif kind == "sparse pairs":  # many levels, few pairs: B'F by pairs of entries
        n = 600
        a, b = rng.integers(0, 300, n), rng.integers(0, 100, n)
        zs = [np.ones((n, 1)), np.ones((n, 1))]
    elif kind == "nested":  # b within a: S diagonal, its entries by pairs of B
        b = np.repeat(np.arange(240), 2)
        a = b // 4
        n = len(a)
        zs = [np.ones((n, 1)), np.ones((n, 1))]
    else:  # nested with slopes: many small components of S
        _, x, terms = nested_terms(12, 4, 3, seed=seed)
        n = len(x)
        return terms, n, rng
    terms = [RandomEffectTerm.from_arrays(g, v, z, names=["Intercept", "x"][:z.shape[1]])
             for g, v, z in (("a", a, zs[0]), ("b", b, zs[1]))]
    return terms, n, rng


def _thetas(terms, rng):
    return [rng.uniform(0.3, 1.0, t.cov.n_params) * np.where(
        t.cov.rows == t.cov.cols, 1.0, 0.3) for t in terms]


KINDS = ["full crossed", "sparse crossed", "slopes", "sparse pairs", "nested", "nested slopes"]
#: (design, class attributes of SchurPattern / SchurFactor to set, the path it then takes)
PATHS = [("full crossed", {}, "dense B'F, B full"),
         ("sparse crossed", {}, "dense B'F"),
         ("slopes", {}, "dense B'F"),
         ("sparse pairs", {}, "pairs"),
         ("sparse pairs", {"pair_limit": 0}, "sparse B'F"),
         ("nested", {}, "pairs"),
         ("nested", {"merge_below": 0}, "pairs"),
         ("nested slopes", {"merge_below": 0}, "pairs"),
         ("sparse pairs", {"symmetric_up_to": 0}, "pairs")]


def _path(pat):
    if pat.dense_BtF:
        return "dense B'F, B full" if pat.B_full else "dense B'F"
    return "pairs" if pat.has_pairs else "sparse B'F"


def _setup(kind):
    terms, n, rng = _problem(kind)
    pr = SparseLaplaceProblem(np.zeros(n), np.ones((n, 1)), None, terms)
    M = pr.m_rows([t.cov.chol(th) for t, th in zip(terms, _thetas(terms, rng))])
    w = rng.uniform(0.2, 2.0, n)
    Md = dense_rows(pr, M)
    H = np.eye(pr.n_effects) + Md.T @ (w[:, None] * Md)
    return pr, M, w, H, rng


@pytest.mark.parametrize("kind", KINDS)
def test_products_with_M_by_sparse_rows_equal_the_dense_products(monkeypatch, kind):
    pr, M, w, H, rng = _setup(kind)
    Md = dense_rows(pr, M)
    u, x = rng.normal(size=pr.n_effects), rng.normal(size=pr.nobs)
    small = pr.row_matrix(M)
    monkeypatch.setattr(SparseLaplaceProblem, "csr_from", 0)
    big = pr.row_matrix(M)
    assert small.csr is None and big.csr is not None
    for rm in (small, big):
        np.testing.assert_allclose(rm.dot(u), Md @ u, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(rm.tdot(x), Md.T @ x, rtol=1e-13, atol=1e-13)
    # each effect's rows are summed in row order either way: the same numbers
    np.testing.assert_array_equal(big.tdot(x), small.tdot(x))


@pytest.mark.parametrize("kind", KINDS)
def test_one_pass_row_sums_by_a_matrix_of_ones_equal_bincount(monkeypatch, kind):
    pr, M, w, H, rng = _setup(kind)
    pat = pr.pattern
    sa, sb, index, off_B, off_S, total = pat.row_scatter()
    assert len(index) == len(sa) * pr.nobs
    vals = rng.normal(size=len(index))
    direct = np.bincount(index, weights=vals, minlength=total)
    monkeypatch.setattr(SchurPattern, "sum_matrix_from", 0)
    monkeypatch.setattr(SchurPattern, "sum_matrix_bins", 10 ** 9)
    np.testing.assert_array_equal(pat.row_sum(vals, index, total), direct)
    assert "_row_sum" in pat.__dict__  # (the matrix of ones was used)


@pytest.mark.parametrize("kind, attrs, path", PATHS)
@pytest.mark.parametrize("dense_F_up_to", [0, 65536])
def test_schur_factor_solves_row_products_and_inverse_equal_dense_ones(monkeypatch, kind, attrs,
                                                                        path, dense_F_up_to):
    monkeypatch.setattr(SchurPattern, "dense_F_up_to", dense_F_up_to)
    for name, value in attrs.items():
        monkeypatch.setattr(SchurFactor if name == "symmetric_up_to" else SchurPattern, name,
                            value)
    terms, n, rng = _problem(kind)
    pr = SparseLaplaceProblem(np.zeros(n), np.ones((n, 1)), None, terms)
    assert _path(pr.pattern) == path
    if "merge_below" in attrs:
        assert len(pr.pattern.buckets[0][2]) > 1  # several components of one size
    M = pr.m_rows([t.cov.chol(th) for t, th in zip(terms, _thetas(terms, rng))])
    w = rng.uniform(0.2, 2.0, n)
    Md = dense_rows(pr, M)
    H = np.eye(pr.n_effects) + Md.T @ (w[:, None] * Md)
    Sigma = np.linalg.inv(H)
    J = pr.J
    f = pr.pattern.factor(M, w)
    assert isinstance(f, SchurFactor)
    assert abs(f.logdet - np.linalg.slogdet(H)[1]) < 1e-10 * abs(f.logdet)
    g = rng.normal(size=pr.n_effects)
    np.testing.assert_allclose(f.solve(g), Sigma @ g, rtol=0, atol=1e-11)
    rows = Sigma[J[:, :, None], J[:, None, :]]
    np.testing.assert_allclose(f.row_products(M), np.einsum("tij,tj->ti", rows, M),
                               rtol=0, atol=1e-11)
    np.testing.assert_allclose(f.row_blocks(), rows, rtol=0, atol=1e-11)
    np.testing.assert_allclose(slh._schur_inverse(f), Sigma, rtol=0, atol=1e-11)
    # the solve after the inverse was formed (by the inverse, not the factor)
    np.testing.assert_allclose(f.solve(g), Sigma @ g, rtol=0, atol=1e-11)


@pytest.mark.parametrize("kind", KINDS)
def test_dense_factor_row_products_and_inverse_equal_dense_ones(kind):
    pr, M, w, H, rng = _setup(kind)
    f = DensePattern(pr.J, pr.n_effects).factor(M, w)
    Sigma = np.linalg.inv(H)
    J = pr.J
    np.testing.assert_allclose(f.inverse(), Sigma, rtol=0, atol=1e-11)
    np.testing.assert_allclose(f.row_products(M),
                               np.einsum("tij,tj->ti", Sigma[J[:, :, None], J[:, None, :]], M),
                               rtol=0, atol=1e-11)


def test_trace_products_equal_the_traces_of_dense_products():
    rng = np.random.default_rng(3)
    N, p = 9, 5
    pattern = rng.random((N, N)) < 0.4
    pattern = pattern | pattern.T | np.eye(N, dtype=bool)
    csr = sparse.csr_matrix(pattern.astype(float))
    csr.sort_indices()
    rows = np.repeat(np.arange(N), np.diff(csr.indptr))
    kdata = np.empty((p, csr.nnz))
    Ks = []
    for j in range(p):
        K = np.zeros((N, N))
        K[pattern] = rng.normal(size=pattern.sum())
        K = np.where(pattern, K + K.T, 0.0)
        Ks.append(K)
        kdata[j] = K[rows, csr.indices]
    A = rng.normal(size=(N, N))
    Hinv = np.linalg.inv(A @ A.T + N * np.eye(N))
    want = np.array([[np.trace(Hinv @ Ks[j] @ Hinv @ Ks[k]) for k in range(p)]
                     for j in range(p)])
    np.testing.assert_allclose(slh._trace_products(kdata, csr.indices, csr.indptr, Hinv), want,
                               rtol=1e-12, atol=1e-12)


def test_trace_products_in_blocks_equal_one_block(monkeypatch):
    rng = np.random.default_rng(4)
    N, p = 6, 7
    csr = sparse.csr_matrix(np.ones((N, N)))
    kdata = rng.normal(size=(p, N * N))
    kdata = (kdata.reshape(p, N, N) + kdata.reshape(p, N, N).transpose(0, 2, 1)).reshape(p, -1)
    A = rng.normal(size=(N, N))
    Hinv = np.linalg.inv(A @ A.T + N * np.eye(N))
    one = slh._trace_products(kdata, csr.indices, csr.indptr, Hinv)
    monkeypatch.setattr(slh, "PRODUCT_BYTES", 2 * 16 * N * N)  # blocks of two
    np.testing.assert_allclose(slh._trace_products(kdata, csr.indices, csr.indptr, Hinv), one,
                               rtol=1e-13, atol=1e-13)
