"""Factorisation paths of the joint Laplace Hessian: merged blocks, pair-indexed Schur
complements, large in-place dense blocks, preconditioned Newton steps and the memory
budget, each against a dense computation or finite differences."""

import functools

import numpy as np
import pytest

from statsmodels_glmm.families import Binomial, Poisson
from statsmodels_glmm.likelihood.memory_budget import (ENV_VAR, MemoryBudgetError,
                                                      memory_budget)
from statsmodels_glmm.likelihood.schur import SchurPattern
from statsmodels_glmm.likelihood import sparse_laplace
from statsmodels_glmm.likelihood.sparse_laplace import (SparseLaplaceProblem,
                                                     solve_sparse_modes,
                                                     sparse_laplace_loglike)
from statsmodels_glmm.spec.terms import RandomEffectTerm, block_lambda, sparse_Z

from conftest import crossed_terms, dense_hessian, nested_terms


def _crossed(n, na, nb, seed, slope=False):
    """Random (a, b) pairs: one large connected Schur complement."""
    rng, a, b, x, terms = crossed_terms(n, na, nb, seed, slope)
    X = np.c_[np.ones(n), x]
    eta = 0.2 + 0.4 * x + rng.normal(0, 0.7, na)[a] + rng.normal(0, 0.5, nb)[b]
    y = rng.poisson(np.exp(eta)).astype(float)
    return y, X, terms


def _nested(n_outer=30):
    """(1 | a/b)-like: many small components of the Schur complement."""
    rng, x, terms = nested_terms(n_outer, 4, 3, seed=2)
    a = terms[1].codes
    y = rng.poisson(np.exp(0.3 + rng.normal(0, 0.5, n_outer)[a])).astype(float)
    return y, np.c_[np.ones(len(x)), x], terms


def _check_factor_against_dense(pr, thetas, seed=0):
    rng = np.random.default_rng(seed)
    Ls = [t.cov.chol(th) for t, th in zip(pr.terms, thetas)]
    M = pr.m_rows(Ls)
    w = rng.uniform(0.2, 2.0, pr.nobs)
    H = dense_hessian(pr, M, w)
    f = pr.pattern.factor(M, w)
    assert abs(f.logdet - np.linalg.slogdet(H)[1]) < 1e-8 * max(1.0, abs(f.logdet))
    g = rng.normal(size=pr.n_effects)
    np.testing.assert_allclose(f.solve(g), np.linalg.solve(H, g), rtol=0, atol=1e-10)
    Sigma = np.linalg.inv(H)
    rb = f.row_blocks()
    J = pr.J
    np.testing.assert_allclose(rb, Sigma[J[:, :, None], J[:, None, :]], rtol=0, atol=1e-10)
    for t, o in zip(pr.terms, pr.term_offsets):
        starts = o + np.arange(t.n_levels) * t.q
        idx = starts[:, None] + np.arange(t.q)
        np.testing.assert_allclose(f.diagonal_blocks(starts, t.q),
                                   Sigma[idx[:, :, None], idx[:, None, :]], rtol=0, atol=1e-10)


@pytest.mark.parametrize("merge_below", [0, 192])
def test_nested_components_factor_equals_dense_inverse(monkeypatch, merge_below):
    # many small components: batched blocks (merge_below=0) or one merged dense block
    monkeypatch.setattr(SchurPattern, "merge_below", merge_below)
    y, X, terms = _nested()
    pr = SparseLaplaceProblem(y, X, None, terms)
    assert len(pr.component_sizes) == 30
    assert len(pr.pattern.buckets) == (1 if merge_below else len(set(pr.component_sizes)))
    _check_factor_against_dense(pr, [np.array([0.6]), np.array([0.8, 0.1, 0.3])])


@pytest.mark.parametrize("pair_limit", [0, 4_000_000])
def test_crossed_schur_by_pairs_or_sparse_product_equals_dense(monkeypatch, pair_limit):
    # one connected component beyond the merged size: an in-place Cholesky factor,
    # its Schur complement from the pair index or from a sparse product
    monkeypatch.setattr(SchurPattern, "pair_limit", pair_limit)
    y, X, terms = _crossed(1500, 230, 220, seed=4, slope=True)
    pr = SparseLaplaceProblem(y, X, None, terms)
    big = pr.component_sizes.max()
    assert pr.pattern.single and big > SchurPattern.merge_below and not pr.pattern.dense_BtF
    assert pr.pattern.has_pairs == (pair_limit > 0)
    _check_factor_against_dense(pr, [np.array([0.7, 0.2, 0.3]), np.array([0.5])])


def _laplace_brute(pr, family, beta, thetas):
    """Laplace log-likelihood by a dense Newton on the joint modes."""
    Z = sparse_Z(pr.terms).toarray()
    Lam = block_lambda(pr.terms, thetas).toarray()
    Md = Z @ Lam
    u = np.zeros(Md.shape[1])
    base = pr.X @ beta
    for _ in range(100):
        d = family.derivs(pr.y, base + Md @ u, np.zeros(0))
        g = Md.T @ d[1] - u
        H = np.eye(len(u)) + Md.T @ (-d[2][:, None] * Md)
        step = np.linalg.solve(H, g)
        u += step
        if np.max(np.abs(step)) < 1e-13:
            break
    d = family.derivs(pr.y, base + Md @ u, np.zeros(0))
    H = np.eye(len(u)) + Md.T @ (-d[2][:, None] * Md)
    return float(np.sum(d[0]) - 0.5 * u @ u - 0.5 * np.linalg.slogdet(H)[1])


def test_preconditioned_newton_steps_give_the_exact_newton_answer(monkeypatch):
    y, X, terms = _crossed(900, 320, 260, seed=5)
    thetas = [np.array([0.7]), np.array([0.5])]
    beta = np.array([0.2, 0.4])
    exact = SparseLaplaceProblem(y, X, None, terms)
    assert not exact.iterative_steps
    l0, g0, st0 = sparse_laplace_loglike(exact, Poisson(), beta, thetas, np.zeros(0))
    monkeypatch.setattr(SparseLaplaceProblem, "iterative_from", 1)
    pr = SparseLaplaceProblem(y, X, None, terms)
    assert pr.iterative_steps and pr.preconditioner is None
    l1, g1, st1 = sparse_laplace_loglike(pr, Poisson(), beta, thetas, np.zeros(0))
    assert pr.preconditioner is not None
    # the next evaluation (another theta) takes its Newton steps by conjugate gradients
    th2 = [np.array([0.75]), np.array([0.45])]
    l2, g2, st2 = sparse_laplace_loglike(pr, Poisson(), beta, th2, np.zeros(0), u0=st1.u)
    l2e, g2e, _ = sparse_laplace_loglike(exact, Poisson(), beta, th2, np.zeros(0))
    assert st1.converged and st2.converged
    assert abs(l1 - l0) < 1e-8 and abs(l2 - l2e) < 1e-8
    np.testing.assert_allclose(g1, g0, rtol=0, atol=1e-7)
    np.testing.assert_allclose(g2, g2e, rtol=0, atol=1e-7)
    assert abs(l0 - _laplace_brute(exact, Poisson(), beta, thetas)) < 1e-8


def test_large_block_analytic_gradient_matches_finite_differences():
    y, X, terms = _crossed(700, 250, 230, seed=6)
    pr = SparseLaplaceProblem(y, X, None, terms)
    assert pr.component_sizes.max() > SchurPattern.merge_below
    x0 = np.array([0.2, 0.4, 0.7, 0.5])
    fam = Poisson()

    def f(x):
        return sparse_laplace_loglike(pr, fam, x[:2], [x[2:3], x[3:4]], np.zeros(0),
                                      gradient=False)[0]

    llf, grad, st = sparse_laplace_loglike(pr, fam, x0[:2], [x0[2:3], x0[3:4]], np.zeros(0))
    h = 1e-5
    fd = np.array([(f(x0 + h * e) - f(x0 - h * e)) / (2 * h) for e in np.eye(4)])
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-5)


def test_binary_crossed_large_block_equals_dense_brute_force():
    rng = np.random.default_rng(8)
    n = 800
    a, b = rng.integers(0, 260, n), rng.integers(0, 240, n)
    terms = [RandomEffectTerm.from_arrays("a", a, np.ones((n, 1))),
             RandomEffectTerm.from_arrays("b", b, np.ones((n, 1)))]
    X = np.ones((n, 1))
    fam = Binomial()
    y = fam.validate(rng.integers(0, 2, n).astype(float), "y")
    pr = SparseLaplaceProblem(y, X, None, terms)
    thetas = [np.array([0.9]), np.array([0.6])]
    llf = sparse_laplace_loglike(pr, fam, np.array([0.1]), thetas, np.zeros(0))[0]
    assert abs(llf - _laplace_brute(pr, fam, np.array([0.1]), thetas)) < 1e-8


def test_memory_budget_refuses_a_design_before_any_work(monkeypatch):
    y, X, terms = _crossed(900, 320, 260, seed=4)
    pr = SparseLaplaceProblem(y, X, None, terms)
    need = pr.dense_bytes
    big = int(pr.component_sizes.max())
    assert need >= 16 * big * big  # at least the block and its inverse
    with pytest.raises(MemoryBudgetError, match=ENV_VAR) as info:
        SparseLaplaceProblem(y, X, None, terms, memory_budget=need // 2)
    msg = str(info.value)
    assert f"dense block of {big:,} effects" in msg and "memory_budget" in msg
    monkeypatch.setenv(ENV_VAR, f"{need // 2 ** 10 // 2}K")
    with pytest.raises(MemoryBudgetError, match="more than the memory budget"):
        SparseLaplaceProblem(y, X, None, terms)
    monkeypatch.setenv(ENV_VAR, "1G")
    assert SparseLaplaceProblem(y, X, None, terms).memory_budget == 2 ** 30


@pytest.mark.parametrize("value, expected", [("8G", 8 * 2 ** 30), ("512MiB", 2 ** 29),
                                             (1e6, 10 ** 6), ("2048", 2048)])
def test_memory_budget_parses_units(value, expected):
    assert memory_budget(value) == expected


@pytest.mark.parametrize("value", ["lots", "-1G", "0"])
def test_memory_budget_rejects_bad_values_naming_the_argument(value):
    with pytest.raises(ValueError, match="memory_budget"):
        memory_budget(value)


def test_fit_beyond_the_memory_budget_stops_before_any_evaluation(monkeypatch):
    import pandas as pd
    import statsmodels.api as sm

    import statsmodels_glmm.api as smg
    from statsmodels_glmm.likelihood import sparse_laplace

    y, X, terms = _crossed(900, 320, 260, seed=4)
    df = pd.DataFrame({"y": y, "x": X[:, 1], "a": terms[0].codes, "b": terms[1].codes})
    calls = []
    monkeypatch.setattr(sparse_laplace, "solve_sparse_modes",
                        lambda *a, **k: calls.append(1) or (_ for _ in ()).throw(AssertionError))
    monkeypatch.setenv(ENV_VAR, "1M")
    model = smg.mixedglm("y ~ x + (1 | a) + (1 | b)", df, family=sm.families.Poisson())
    with pytest.raises(MemoryBudgetError, match=r"memory budget of 1\.0 MiB"):
        model.fit()
    assert calls == []


@pytest.mark.parametrize("slope", [False, True])
def test_dense_crossed_schur_by_rank_k_update_equals_dense(slope):
    # persons x items style: B dense enough for the dense product (q_e = 1: G'G)
    y, X, terms = _crossed(1200, 60, 25, seed=9, slope=slope)
    pr = SparseLaplaceProblem(y, X, None, terms)
    assert pr.pattern.dense_BtF and pr.pattern.qe == (2 if slope else 1)
    th_a = np.array([0.7, 0.2, 0.3]) if slope else np.array([0.7])
    _check_factor_against_dense(pr, [th_a, np.array([0.5])])


def _crossed_remainder_slope(n, na, nb, seed):
    """Random (a, b) pairs with a random slope on b, the term that is not eliminated."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, na, n), rng.integers(0, nb, n)
    x = rng.normal(size=n)
    terms = [RandomEffectTerm.from_arrays("a", a, np.ones((n, 1))),
             RandomEffectTerm.from_arrays("b", b, np.c_[np.ones(n), x], names=["Intercept", "x"])]
    y = rng.poisson(np.exp(0.2 + rng.normal(0, 0.6, na)[a] + rng.normal(0, 0.4, nb)[b]))
    return y.astype(float), np.c_[np.ones(n), x], terms


_SPLIT_DESIGNS = {
    "intercepts": (lambda: _crossed(700, 400, 300, seed=3),
                   [np.array([0.7]), np.array([0.5])]),
    "slope on the eliminated term": (lambda: _crossed(700, 400, 300, seed=13, slope=True),
                                     [np.array([0.7, 0.2, 0.3]), np.array([0.5])]),
    "slope on the remainder": (lambda: _crossed_remainder_slope(900, 700, 250, seed=5),
                               [np.array([0.6]), np.array([0.5, -0.2, 0.4])]),
}


@pytest.mark.parametrize("design", sorted(_SPLIT_DESIGNS))
def test_sparse_split_of_a_large_component_equals_dense(monkeypatch, design):
    # the giant component's low-degree effects are eliminated sparsely, the rest densely
    monkeypatch.setattr(SchurPattern, "fill_from", 50)
    make, thetas = _SPLIT_DESIGNS[design]
    y, X, terms = make()
    pr = SparseLaplaceProblem(y, X, None, terms)
    (fill, _, mem, c), = pr.pattern.splits
    assert len(mem) == pr.component_sizes.max() == pr.pattern.comp_size[c]
    assert fill.n_sparse > 0 and 0 < fill.n_dense <= SchurPattern.fill_keep * len(mem)
    assert fill.levels >= 2
    _check_factor_against_dense(pr, thetas)


def test_sparse_split_loglike_gradient_and_cond_cov_equal_the_dense_blocks(monkeypatch):
    y, X, terms = _crossed(700, 400, 300, seed=3, slope=True)
    thetas = [np.array([0.7, 0.2, 0.3]), np.array([0.5])]
    beta = np.array([0.2, 0.4])
    dense = SparseLaplaceProblem(y, X, None, terms)
    assert not dense.pattern.splits
    monkeypatch.setattr(SchurPattern, "fill_from", 50)
    # Newton steps by conjugate gradients preconditioned with the split factorisation
    monkeypatch.setattr(SparseLaplaceProblem, "iterative_from", 1)
    split = SparseLaplaceProblem(y, X, None, terms)
    assert split.pattern.splits and split.iterative_steps
    l0, g0, st0 = sparse_laplace_loglike(dense, Poisson(), beta, thetas, np.zeros(0))
    l1, g1, st1 = sparse_laplace_loglike(split, Poisson(), beta, thetas, np.zeros(0))
    th2 = [np.array([0.75, 0.1, 0.35]), np.array([0.45])]
    l2, g2, st2 = sparse_laplace_loglike(split, Poisson(), beta, th2, np.zeros(0), u0=st1.u)
    l2d, g2d, st2d = sparse_laplace_loglike(dense, Poisson(), beta, th2, np.zeros(0))
    assert split.preconditioner is not None and st2.converged
    assert abs(l1 - l0) < 1e-10 and abs(l2 - l2d) < 1e-8
    np.testing.assert_allclose(g1, g0, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(g2, g2d, rtol=1e-8, atol=1e-7)
    for a, b in zip(st1.cond_cov, st0.cond_cov):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("fraction", [0.05, 1.0])
def test_sparse_split_selected_inverse_equals_the_inverse_on_the_fill_pattern(fraction):
    # fraction 1.0: every effect is eliminated sparsely (no dense block)
    from scipy.sparse import csr_matrix

    from statsmodels_glmm.likelihood.schur_fill import FillSplit

    rng = np.random.default_rng(21)
    na, nb, n = 500, 300, 1300
    a, b = rng.integers(0, na, n), rng.integers(0, nb, n)
    B = np.zeros((na, nb))
    np.add.at(B, (a, b), rng.uniform(0.2, 1.0, n))
    S = np.diag(rng.uniform(1.0, 2.0, nb)) + B.T @ B
    fs = FillSplit(csr_matrix(S != 0), degree_fraction=fraction, min_degree=8)
    assert fs.n_sparse > 50 and (fs.n_dense > 50 if fraction < 1 else fs.n_dense == 0)
    i, j = np.nonzero(S)
    buf = np.bincount(fs.dest(i, j), weights=S[i, j], minlength=fs.buf_size)
    logdet = fs.factor(buf)
    assert abs(logdet - np.linalg.slogdet(S)[1]) < 1e-10 * abs(logdet)
    v = rng.normal(size=nb)
    Sinv = np.linalg.inv(S)
    np.testing.assert_allclose(fs.solve(buf, v), Sinv @ v, rtol=0, atol=1e-12)
    Z = fs.selected_inverse(buf)
    # every entry of the factor's pattern (fill included), read in both orders
    rows, cols = fs.perm[fs.rows], fs.perm[fs.colof]
    for r_, c_ in ((rows, cols), (cols, rows)):
        np.testing.assert_allclose(Z[fs.read_dest(r_, c_)], Sinv[r_, c_], rtol=0, atol=1e-13)
    assert len(rows) > np.count_nonzero(np.tril(S[np.ix_(fs.perm, fs.perm)])
                                        [:, :fs.n_sparse])  # there is fill
    # entries outside that pattern have no position
    inpat = np.zeros((nb, nb), dtype=bool)
    inpat[rows, cols] = inpat[cols, rows] = True
    ii, jj = np.meshgrid(fs.perm[:60], fs.perm[:60], indexing="ij")
    assert not inpat[ii, jj].all()
    np.testing.assert_array_equal(fs.read_dest(ii, jj) >= 0, inpat[ii, jj])


def test_sparse_split_reports_a_hessian_that_is_not_positive_definite(monkeypatch):
    monkeypatch.setattr(SchurPattern, "fill_from", 50)
    y, X, terms = _crossed(700, 400, 300, seed=3)
    pr = SparseLaplaceProblem(y, X, None, terms)
    assert pr.pattern.splits
    M = pr.m_rows([np.eye(1), np.eye(1)])
    w = np.full(pr.nobs, 0.5)
    w[::7] = -3.0
    assert np.linalg.eigvalsh(dense_hessian(pr, M, w))[0] < 0
    with pytest.raises(np.linalg.LinAlgError):
        pr.pattern.factor(M, w)


def test_dense_crossed_component_is_not_split(monkeypatch):
    # every b level shares an a level with most others: the graph of S is dense
    monkeypatch.setattr(SchurPattern, "fill_from", 50)
    y, X, terms = _crossed(3000, 400, 150, seed=2)
    pr = SparseLaplaceProblem(y, X, None, terms)
    assert pr.component_sizes.max() >= 50 and not pr.pattern.splits


def test_random_pairs_4000_by_4000_design_is_split_into_a_small_dense_block():
    # the benchmark's crossed design (16,000 random pairs of 4000 x 4000 levels)
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 4000, 16_000), rng.integers(0, 4000, 16_000)
    a, b = np.unique(a, return_inverse=True)[1], np.unique(b, return_inverse=True)[1]
    la, lb = a.max() + 1, b.max() + 1
    J = np.c_[a, la + b]
    pat = SchurPattern(J, la + lb, (0, la), 1)
    big = int(pat.component_sizes.max())
    (fill, _, mem, _), = pat.splits
    assert len(mem) == big > 3800
    # at most 55% of the effects stay in the dense block: a sixth of the flops
    assert fill.n_dense <= 0.55 * big
    assert fill.levels <= 20
    assert fill.buf_size < 0.3 * big * big
    assert [s for s, _, _ in pat.buckets] == [1]  # the isolated effects stay batched


def test_dense_crossed_rank_k_update_in_place_in_a_large_block_equals_dense():
    # q_e = 1 and a remainder beyond the merged size: S -= G'G in the triangle that
    # the in-place Cholesky factorisation reads
    y, X, terms = _crossed(8000, 400, 250, seed=21)
    pr = SparseLaplaceProblem(y, X, None, terms)
    pat = pr.pattern
    assert pat.dense_BtF and pat.qe == 1 and pat.r > SchurPattern.merge_below
    _check_factor_against_dense(pr, [np.array([0.7]), np.array([0.5])])


def _count_factorisations(monkeypatch):
    calls = []
    orig = sparse_laplace._factor

    def counted(*args):
        calls.append(1)
        return orig(*args)

    monkeypatch.setattr(sparse_laplace, "_factor", counted)
    return calls


# a chain of warm-started evaluations as an optimiser makes them: far jumps of theta
# (a warm start worse than zero, a previous factorisation far from the new H) and
# nearby points (the previous factorisation nearly that of the new H)
_CHAIN = [(0.8, 0.6), (0.05, 1.9), (-2.5, 0.3), (0.7, 0.5), (0.70001, 0.5), (0.7, 0.50001)]


@pytest.mark.parametrize("design", ["dense product", "component blocks"])
def test_chord_newton_steps_give_the_modes_and_loglike_of_newton_at_every_step(
        monkeypatch, design):
    if design == "dense product":
        y, X, terms = _crossed(6000, 300, 80, seed=22)
    else:
        y, X, terms = _crossed(900, 320, 260, seed=5)
    beta = np.array([0.2, 0.4])
    fam = Poisson()
    calls = _count_factorisations(monkeypatch)

    def chain(chord):
        monkeypatch.setattr(sparse_laplace, "solve_sparse_modes",
                            functools.partial(solve_sparse_modes, chord=chord))
        pr = SparseLaplaceProblem(y, X, None, terms)
        assert not pr.iterative_steps and pr.n_effects > pr.dense_limit
        assert pr.pattern.dense_work >= 30 * pr.nobs * pr.Q  # chord steps are taken
        out, u = [], None
        calls.clear()
        for ta, tb in _CHAIN:
            llf, g, st = sparse_laplace_loglike(pr, fam, beta, [np.array([ta]), np.array([tb])],
                                                np.zeros(0), u0=u)
            assert st.converged
            u = st.u
            # the factorisation returned is that of H at the modes with their weights
            H = dense_hessian(pr, st._M, -st.d[2])
            assert abs(st.logdet - np.linalg.slogdet(H)[1]) < 1e-9 * max(1.0, abs(st.logdet))
            out.append((llf, g, st.u))
        return out, len(calls)

    newton, n_newton = chain(0.0)
    chord, n_chord = chain(0.03)
    assert n_chord < n_newton
    for (l0, g0, u0), (l1, g1, u1) in zip(newton, chord):
        assert abs(l1 - l0) < 1e-10 * max(1.0, abs(l0))
        np.testing.assert_allclose(u1, u0, rtol=0, atol=1e-9)
        np.testing.assert_allclose(g1, g0, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("design", ["dense factorisation", "cheap component blocks"])
def test_newton_at_every_step_where_a_factorisation_is_cheap(monkeypatch, design):
    # few effects, or a factorisation costing a few passes over the rows: no chord
    # steps, the same factorisations and the same numbers as chord=0
    y, X, terms = (_crossed(3000, 40, 20, seed=23) if design == "dense factorisation"
                   else _crossed(8000, 300, 12, seed=24))
    fam, beta = Poisson(), np.array([0.2, 0.4])
    calls = _count_factorisations(monkeypatch)
    runs = []
    for chord in (0.0, 0.03):
        monkeypatch.setattr(sparse_laplace, "solve_sparse_modes",
                            functools.partial(solve_sparse_modes, chord=chord))
        pr = SparseLaplaceProblem(y, X, None, terms)
        cheap = pr.n_effects <= pr.dense_limit or pr.pattern.dense_work < 30 * pr.nobs * pr.Q
        assert cheap and (pr.n_effects <= pr.dense_limit) == (design == "dense factorisation")
        calls.clear()
        u, out = None, []
        for ta, tb in _CHAIN:
            llf, g, st = sparse_laplace_loglike(pr, fam, beta, [np.array([ta]), np.array([tb])],
                                                np.zeros(0), u0=u)
            u = st.u
            out.append(np.r_[llf, g, u])
        runs.append((len(calls), np.array(out)))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
