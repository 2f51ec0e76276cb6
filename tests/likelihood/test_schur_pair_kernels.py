"""Several grouping factors whose Schur complement is formed from the index of pairs of
the cross block's entries within a level (``SchurPattern.has_pairs``): the compiled
kernels that sum over that index give ``np.bincount``'s numbers, in factorisations,
their inverses' pieces, solves and whole fits, and agree with dense algebra."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.likelihood import compiled, compiled_schur, schur
from statsmodels_glmm.likelihood.sparse_laplace import SparseLaplaceProblem
from statsmodels_glmm.spec.terms import RandomEffectTerm

from conftest import crossed_terms, dense_factor_pieces, numba_missing


def _problem(kind, seed=4):
    """(problem, L_a): crossed levels that meet few of each other's, with one or two
    effects per eliminated level, a remainder block above ``symmetric_up_to`` (its
    inverse kept in one triangle), nested factors (many components of ``S``), or 4000 x
    4000 random pairs ("split": a component split by fill; no L_a)."""
    if kind == "split":
        _, _, _, _, terms = crossed_terms(16000, 4000, 4000, seed=1)
        return SparseLaplaceProblem(np.zeros(16000), np.ones((16000, 1)), None, terms), None
    if kind == "nested":
        rng = np.random.default_rng(seed)
        n = 6000
        cls = rng.integers(0, 2000, n)  # 200 schools: beyond one merged block
        terms = [RandomEffectTerm.from_arrays("class", cls, np.ones((n, 1))),
                 RandomEffectTerm.from_arrays("school", cls // 10, np.ones((n, 1)))]
    else:
        n, na, nb = {"crossed": (5000, 1000, 150), "slope": (5000, 1000, 150),
                     "wide": (6000, 1500, 600)}[kind]
        _, _, _, _, terms = crossed_terms(n, na, nb, seed, slope=kind == "slope")
    L_a = np.array([[0.7, 0.0], [0.1, 0.3]]) if kind == "slope" else np.array([[0.7]])
    return SparseLaplaceProblem(np.zeros(n), np.ones((n, 1)), None, terms), L_a


@numba_missing
@pytest.mark.parametrize("kind", ["crossed", "slope", "wide", "nested"])
def test_factor_by_the_pair_kernels_gives_numpys_numbers(monkeypatch, kind):
    monkeypatch.setattr(schur.SchurPattern, "pair_kernels_from", 0)
    pr, L_a = _problem(kind)
    pat = pr.pattern
    assert pat.has_pairs and pat.pair_kernels and not pat.dense_F
    assert pat.qe == (2 if kind == "slope" else 1)
    if kind == "wide":  # the remainder's inverse is read from one triangle
        assert pat.r > schur.SchurFactor.symmetric_up_to
        assert not np.array_equal(pat.read_positions(pat.r_pairs), pat.r_pairs)
    if kind == "nested":
        assert not pat.single
    rng = np.random.default_rng(7)
    M = pr.m_rows([L_a, np.array([[0.5]])])
    w = rng.uniform(0.2, 2.0, pr.nobs)
    g = rng.normal(size=pr.n_effects)
    calls = []
    for name in ("pair_update", "pair_sigma"):
        kernel = getattr(compiled_schur, name)
        monkeypatch.setattr(compiled_schur, name,
                            lambda *a, _k=kernel, _n=name, **kw: calls.append(_n) or _k(*a, **kw))

    def pieces():
        f = pat.factor(M, w)
        return f.logdet, f.solve(g), f.row_products(M), f.row_blocks()

    on = pieces()
    assert calls.count("pair_update") == 1 and calls.count("pair_sigma") >= 1
    monkeypatch.setattr(compiled, "ENABLED", False)
    off = pieces()
    for a, b, c in zip(on, off, dense_factor_pieces(pr, M, w, g)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=1e-9, atol=1e-11)


def _arrays_per_pair(pat):
    """How many arrays with one entry per pair the pattern holds (directly, or in a
    tuple or dict it keeps)."""
    total = len(pat.d_pairs)
    found = {}
    stack = list(pat.__dict__.values())
    while stack:
        a = stack.pop()
        if isinstance(a, dict):
            stack.extend(a.values())
        elif isinstance(a, (tuple, list)):
            stack.extend(a)
        elif isinstance(a, np.ndarray) and a.ndim == 1 and len(a) == total:
            found[id(a)] = a
    return len(found)


@numba_missing
def test_a_factorisation_by_the_pair_kernels_makes_no_index_of_the_pairs_entries(monkeypatch):
    # the kernels walk each level's entries themselves: the pattern keeps one array per
    # pair (its place in S) and makes the two of the pairs' entries, which numpy's sums
    # gather by, only when those sums run
    monkeypatch.setattr(schur.SchurPattern, "pair_kernels_from", 0)
    pr, L_a = _problem("crossed")
    pat = pr.pattern
    assert pat.has_pairs and pat.pair_kernels and pat.r <= schur.SchurFactor.symmetric_up_to
    rng = np.random.default_rng(3)
    M = pr.m_rows([L_a, np.array([[0.5]])])
    w = rng.uniform(0.2, 2.0, pr.nobs)
    on = pat.factor(M, w)
    on.row_products(M)
    assert _arrays_per_pair(pat) == 1
    monkeypatch.setattr(compiled, "ENABLED", False)
    off = pat.factor(M, w)
    off.row_products(M)
    assert _arrays_per_pair(pat) == 3
    assert on.logdet == off.logdet


@numba_missing
@pytest.mark.parametrize("qe", [1, 2, 3])
def test_pair_kernels_equal_bincount_over_the_pairs(qe):
    rng = np.random.default_rng(qe)
    n, a, b = 4000, rng.integers(0, 800, 4000), rng.integers(0, 120, 4000)
    za = np.c_[np.ones(n), rng.normal(size=(n, qe - 1))]
    terms = [RandomEffectTerm.from_arrays("a", a, za, names=[f"z{j}" for j in range(qe)]),
             RandomEffectTerm.from_arrays("b", b, np.ones((n, 1)))]
    pat = SparseLaplaceProblem(np.zeros(n), np.ones((n, 1)), None, terms).pattern
    assert pat.has_pairs and pat.qe == qe
    rng = np.random.default_rng(qe)
    Bv, Fv = rng.normal(size=(pat.nB, qe)), rng.normal(size=(pat.nB, qe))
    prod = np.einsum("pa,pa->p", Bv[pat.pair_p], Fv[pat.pair_pp])
    want = np.bincount(pat.d_pairs, weights=prod, minlength=pat.buf_size)
    got = compiled_schur.pair_update(Bv, Fv, pat.level_first, pat.level_count, pat.d_pairs,
                                     pat.buf_size)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    if qe <= 2:  # each pair's products added as np.einsum adds them: the very same sums
        np.testing.assert_array_equal(got, want)
    Sinv = rng.normal(size=pat.buf_size)
    for where in (pat.d_pairs, pat.d_pairs.astype(np.int64)):  # both index sizes
        Pv = compiled_schur.pair_sigma(Sinv, where, Fv, pat.level_first, pat.level_count)
        for a in range(qe):
            np.testing.assert_array_equal(Pv[:, a], np.bincount(
                pat.pair_p, weights=Sinv[where] * Fv[pat.pair_pp, a], minlength=pat.nB))


def test_the_pair_kernels_are_used_from_a_million_pair_products(monkeypatch):
    # the rule counts pairs times q_e ** 2 (with a slope, a quarter of the pairs suffice),
    # and a twentieth of them once numba is imported (loading the kernels is then cheap)
    for imported in (False, True):
        monkeypatch.setattr(compiled_schur, "numba_imported", lambda: imported)
        for slope in (False, True):
            _, _, _, _, terms = crossed_terms(4000, 800, 120, seed=2, slope=slope)
            pat = SparseLaplaceProblem(np.zeros(4000), np.ones((4000, 1)), None,
                                       terms).pattern
            work = len(pat.pair_p) * pat.qe ** 2
            assert pat.has_pairs and work < pat.pair_kernels_from
            assert (pat.pair_kernels_imported <= work) == slope  # 20k pairs, 80k with q_e 2
            assert pat.pair_kernels == (imported and slope)
    # subjects meeting 20 of 1000 items each: 2M pairs
    monkeypatch.setattr(compiled_schur, "numba_imported", lambda: False)
    _, _, _, _, terms = crossed_terms(100_000, 5000, 1000, seed=3)
    pat = SparseLaplaceProblem(np.zeros(100_000), np.ones((100_000, 1)), None, terms).pattern
    assert pat.has_pairs and len(pat.pair_p) >= pat.pair_kernels_from and pat.pair_kernels


@numba_missing
@pytest.mark.parametrize("family", ["binomial", "poisson"])
def test_fit_by_the_pair_kernels_equals_the_numpy_fit(monkeypatch, family):
    monkeypatch.setattr(schur.SchurPattern, "pair_kernels_from", 0)
    rng = np.random.default_rng(5)
    n, ns, ni = 6000, 1500, 200
    s, i = rng.integers(0, ns, n), rng.integers(0, ni, n)
    x, t = rng.normal(size=n), rng.integers(0, 3, n).astype(float)
    eta = -0.2 + 0.4 * x + rng.normal(0, 0.8, ns)[s] + rng.normal(0, 0.2, ns)[s] * t \
        + rng.normal(0, 0.5, ni)[i]
    y = rng.binomial(1, 1 / (1 + np.exp(-eta))) if family == "binomial" \
        else rng.poisson(np.exp(eta))
    df = pd.DataFrame({"y": y, "x": x, "t": t, "subject": s, "item": i})
    fam = sm.families.Binomial() if family == "binomial" else sm.families.Poisson()
    formula = "y ~ x + t + (1 + t | subject) + (1 | item)"
    model = smg.mixedglm(formula, df, family=fam)
    assert model.sparse_problem().pattern.pair_kernels
    on = model.fit()
    monkeypatch.setattr(compiled, "ENABLED", False)
    off = smg.mixedglm(formula, df, family=fam).fit()
    assert on.converged and off.converged
    assert on.llf == off.llf
    np.testing.assert_array_equal(on.params, off.params)
    np.testing.assert_array_equal(on.bse, off.bse)


@pytest.mark.parametrize("kind", ["wide", "nested", "split"])
def test_the_pair_index_made_in_chunks_is_the_one_made_at_once(monkeypatch, kind):
    # the index of pairs and the read positions of one-triangle blocks are computed in
    # chunks of SchurPattern.index_chunk entries: any chunk size gives the same arrays
    def made(chunk):
        monkeypatch.setattr(schur.SchurPattern, "index_chunk", chunk)
        pat = _problem(kind)[0].pattern
        if kind == "split":
            assert pat.splits and pat.r_pairs is not pat.d_pairs
        assert pat.has_pairs and len(pat.pair_p) > 10 * 97
        arrays = [pat.pair_p, pat.pair_pp, pat.d_pairs, pat.r_pairs,
                  pat.read_positions(pat.r_pairs), pat.read_index(pat.r_C)]
        return arrays

    whole, parts = made(2 ** 40), made(97)
    for a, b in zip(whole, parts):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["wide", "split"])
def test_read_positions_are_32_bit_and_point_into_one_triangle(kind):
    # every position of a block kept in one triangle is moved to its upper triangle,
    # the others stay; 32-bit integers hold them all (the buffer is far below 2**31)
    pat = _problem(kind)[0].pattern
    d = np.asarray(pat.r_pairs, dtype=np.int64)
    expected = d.copy()
    for s, off, count in [(s, off, m.shape[0]) for s, off, m in pat.buckets]:
        if s <= schur.SchurFactor.small:
            continue
        inside = (d >= off) & (d < off + count * s * s)
        block, rest = (d[inside] - off) // (s * s), (d[inside] - off) % (s * s)
        i, j = rest // s, rest % s
        expected[inside] = off + block * s * s + np.minimum(i, j) * s + np.maximum(i, j)
    got = pat.read_index(pat.r_pairs)
    assert got.dtype == np.int32 and pat.r_pairs.dtype == np.int32
    assert np.any(got != d) == (kind == "wide")
    np.testing.assert_array_equal(got, expected)
