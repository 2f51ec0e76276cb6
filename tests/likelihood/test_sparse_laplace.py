"""Joint Laplace engine for several random-effect terms: exact identities, brute force, R."""

import warnings

import numpy as np
import pytest
import scipy.stats as ss
import statsmodels.api as sm
from scipy.optimize import minimize

from statsmodels_glmm.families import Binomial, Gaussian, NegativeBinomial, Poisson
from statsmodels_glmm.spec.formula import split_formula
from statsmodels_glmm.spec.formula_engine import formula_manager
from statsmodels_glmm.likelihood.laplace import laplace_loglike
from statsmodels_glmm.model import MixedGLM
from statsmodels_glmm.simulate import simulate_longitudinal
from statsmodels_glmm.likelihood.sparse_cholesky import SparseHessianPattern, have_cholmod
from statsmodels_glmm.likelihood.sparse_laplace import (SparseLaplaceProblem, solve_sparse_modes,
                                                     sparse_laplace_loglike)
from statsmodels_glmm.spec.terms import RandomEffectTerm, block_lambda, build_terms, sparse_Z

from conftest import load_dataset, load_ref, r_name

SPARSE_METHODS = ["splu"] + (["cholmod"] if have_cholmod() else [])


def _fd(f, x, h=1e-6):
    out = np.empty(len(x))
    for j in range(len(x)):
        e = np.zeros(len(x))
        e[j] = h
        out[j] = (f(x + e) - f(x - e)) / (2 * h)
    return out


# ---------------------------------------------------------------- one term
@pytest.mark.parametrize("kind, family", [
    ("binary", sm.families.Binomial()),
    ("poisson", sm.families.Poisson()),
    ("negbin", NegativeBinomial()),
])
def test_one_term_equals_dense_engine(kind, family):
    df = simulate_longitudinal(kind, n_persons=40, seed=3)
    m = MixedGLM.from_formula("y ~ time + group + (1 + time | id)", df, family=family)
    d = m.design
    beta = np.array([0.1, 0.2, -0.3])
    theta = np.array([0.8, -0.2, 0.3])
    extra = np.full(m.k_extra, 0.3)
    l1, g1, st1 = laplace_loglike(d, m.response, m.cov_struct, beta, theta, extra)
    term = RandomEffectTerm("id", d.gid, d.group_labels, d.Z, d.re_names, m.cov_struct)
    pr = SparseLaplaceProblem(d.y, d.X, d.offset, [term])
    l2, g2, st2 = sparse_laplace_loglike(pr, m.response, beta, [theta], extra)
    assert st2.converged
    assert abs(l1 - l2) < 1e-8
    np.testing.assert_allclose(g2, g1, rtol=0, atol=1e-8)
    L = m.cov_struct.chol(theta)
    np.testing.assert_allclose(st2.modes[0], st1.u @ L.T, atol=1e-8)
    # conditional covariances: L H_i^{-1} L'
    np.testing.assert_allclose(st2.cond_cov[0], L[None] @ st1.Hinv @ L.T[None], atol=1e-10)


# ------------------------------------------------------- Gaussian: exact
def _crossed_nested(n=60, seed=1):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 5, n)
    b = rng.integers(0, 4, n)
    x = rng.normal(size=n)
    X = np.c_[np.ones(n), x]
    terms = [RandomEffectTerm.from_arrays("a", a, np.c_[np.ones(n), x], names=["Intercept", "x"]),
             RandomEffectTerm.from_arrays("b", b, np.ones((n, 1))),
             RandomEffectTerm.from_arrays("a:b", [f"{i}:{j}" for i, j in zip(a, b)],
                                          np.ones((n, 1)))]
    return rng, X, terms


THETAS = [np.array([0.7, 0.2, 0.4]), np.array([0.5]), np.array([0.6])]


@pytest.mark.parametrize("backend", ["components"] + [f"sparse-{m}" for m in SPARSE_METHODS])
def test_gaussian_crossed_nested_equals_multivariate_normal(backend):
    rng, X, terms = _crossed_nested()
    n = X.shape[0]
    y = X @ [0.3, 0.5] + rng.normal(size=n)
    kw = dict(backend="components") if backend == "components" else \
        dict(backend="sparse", sparse_method=backend.split("-")[1])
    pr = SparseLaplaceProblem(y, X, None, terms, **kw)
    assert pr.backend == backend
    beta, extra = np.array([0.2, 0.4]), np.array([0.1])
    llf, grad, st = sparse_laplace_loglike(pr, Gaussian(), beta, THETAS, extra, cond_cov=True)
    Z = sparse_Z(terms).toarray()
    Lam = block_lambda(terms, THETAS).toarray()
    V = Z @ Lam @ Lam.T @ Z.T + np.exp(2 * extra[0]) * np.eye(n)
    exact = ss.multivariate_normal(X @ beta, V).logpdf(y)
    assert abs(llf - exact) < 1e-8
    # the exact gradient of the Gaussian marginal likelihood by finite differences
    x0 = np.concatenate([beta] + THETAS + [extra])

    def exact_llf(x):
        Lm = block_lambda(terms, x[2:7]).toarray()
        Vx = Z @ Lm @ Lm.T @ Z.T + np.exp(2 * x[7]) * np.eye(n)
        return ss.multivariate_normal(X @ x[:2], Vx).logpdf(y)

    np.testing.assert_allclose(grad, _fd(exact_llf, x0), atol=1e-5)
    # conditional means and covariances of b given y (Gaussian: exact)
    G = Lam @ Lam.T
    Vinv = np.linalg.inv(V)
    mean_b = G @ Z.T @ Vinv @ (y - X @ beta)
    cov_b = G - G @ Z.T @ Vinv @ Z @ G
    off = 0
    for t, mode, cc in zip(terms, st.modes, st.cond_cov):
        sl = slice(off, off + t.n_effects)
        np.testing.assert_allclose(mode.ravel(), mean_b[sl], atol=1e-8)
        blocks = cov_b[sl, sl].reshape(t.n_levels, t.q, t.n_levels, t.q)
        np.testing.assert_allclose(
            cc, blocks[np.arange(t.n_levels), :, np.arange(t.n_levels), :], atol=1e-8)
        off += t.n_effects


# --------------------------------------------- tiny crossed binary design
def _dense_laplace(y, X, Z, Lam, beta):
    """Laplace by dense numpy: Newton on h(u), then h(u^) - logdet(H)/2."""
    M = Z @ Lam
    u = np.zeros(M.shape[1])
    for _ in range(200):
        eta = X @ beta + M @ u
        p = 1 / (1 + np.exp(-eta))
        g = M.T @ (y - p) - u
        H = np.eye(len(u)) + M.T @ ((p * (1 - p))[:, None] * M)
        step = np.linalg.solve(H, g)
        u = u + step
        if np.max(np.abs(step)) < 1e-13:
            break
    eta = X @ beta + M @ u
    p = 1 / (1 + np.exp(-eta))
    H = np.eye(len(u)) + M.T @ ((p * (1 - p))[:, None] * M)
    h = np.sum(y * eta - np.logaddexp(0, eta)) - u @ u / 2 - len(u) * 0.0
    return h - 0.5 * np.linalg.slogdet(H)[1], u, np.linalg.inv(H)


@pytest.mark.parametrize("backend", ["components"] + [f"sparse-{m}" for m in SPARSE_METHODS])
def test_tiny_crossed_binary_brute_force_and_gradient(backend):
    subj = np.repeat(np.arange(3), 4)
    item = np.tile(np.arange(2), 6)
    n = len(subj)
    X = np.c_[np.ones(n), np.linspace(-1, 1, n)]
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0.0])
    terms = [RandomEffectTerm.from_arrays("subj", subj, np.ones((n, 1))),
             RandomEffectTerm.from_arrays("item", item, np.ones((n, 1)))]
    kw = dict(backend="components") if backend == "components" else \
        dict(backend="sparse", sparse_method=backend.split("-")[1])
    fam = Binomial()
    pr = SparseLaplaceProblem(fam.validate(y, "y"), X, None, terms, **kw)
    assert pr.n_effects == 5
    beta, thetas = np.array([0.3, -0.7]), [np.array([1.2]), np.array([0.8])]
    llf, grad, st = sparse_laplace_loglike(pr, fam, beta, thetas, np.zeros(0), cond_cov=True)
    Z = sparse_Z(terms).toarray()
    Lam = block_lambda(terms, thetas).toarray()
    ref, u, Hinv = _dense_laplace(y, X, Z, Lam, beta)
    assert abs(llf - ref) < 1e-10
    np.testing.assert_allclose(st.u, u, atol=1e-9)
    C = Lam @ Hinv @ Lam.T
    np.testing.assert_allclose(st.cond_cov[0][:, 0, 0], np.diag(C)[:3], atol=1e-10)
    np.testing.assert_allclose(st.cond_cov[1][:, 0, 0], np.diag(C)[3:], atol=1e-10)

    def f(x):
        Lx = block_lambda(terms, x[2:]).toarray()
        return _dense_laplace(y, X, Z, Lx, x[:2])[0]

    x0 = np.r_[beta, 1.2, 0.8]
    np.testing.assert_allclose(grad, _fd(f, x0), atol=2e-7)


def test_crossed_binary_with_slopes_gradient_three_terms():
    rng, X, terms = _crossed_nested(n=80, seed=4)
    fam = Binomial()
    y = fam.validate((rng.random(X.shape[0]) < 0.45).astype(float), "y")
    pr = SparseLaplaceProblem(y, X, None, terms)
    assert pr.backend == "components" and pr.elim == 2
    beta = np.array([0.2, 0.4])
    llf, grad, st = sparse_laplace_loglike(pr, fam, beta, THETAS, np.zeros(0))
    x0 = np.concatenate([beta] + THETAS)

    def f(x):
        return sparse_laplace_loglike(pr, fam, x[:2], x[2:], np.zeros(0), gradient=False)[0]

    np.testing.assert_allclose(grad, _fd(f, x0), atol=1e-6)
    # an independent dense computation of the same Laplace value
    Z = sparse_Z(terms).toarray()
    Lam = block_lambda(terms, THETAS).toarray()
    ref = _dense_laplace(y[:, 0], X, Z, Lam, beta)[0]
    assert abs(llf - ref) < 1e-9


def test_nested_components_and_negbin_extra_gradient():
    # (1 | a/b): eliminating a:b leaves one small component per level of a
    rng = np.random.default_rng(7)
    a = np.repeat(np.arange(6), 12)
    b = np.tile(np.repeat(np.arange(3), 4), 6)
    n = len(a)
    X = np.c_[np.ones(n), rng.normal(size=n)]
    terms = [RandomEffectTerm.from_arrays("a", a, np.ones((n, 1))),
             RandomEffectTerm.from_arrays("a:b", [f"{i}:{j}" for i, j in zip(a, b)],
                                          np.ones((n, 1)))]
    y = rng.poisson(np.exp(0.5 + 0.3 * X[:, 1])).astype(float)
    fam = NegativeBinomial()
    yv = fam.validate(y, "y")
    pr = SparseLaplaceProblem(yv, X, None, terms)
    assert pr.elim == 1 and pr.component_sizes.tolist() == [1] * 6
    x0 = np.array([0.4, 0.2, 0.5, 0.3, 0.2])

    def f(x):
        return sparse_laplace_loglike(pr, fam, x[:2], x[2:4], x[4:], gradient=False)[0]

    llf, grad, st = sparse_laplace_loglike(pr, fam, x0[:2], x0[2:4], x0[4:])
    np.testing.assert_allclose(grad, _fd(f, x0), atol=1e-6)
    for meth in SPARSE_METHODS:
        prs = SparseLaplaceProblem(yv, X, None, terms, backend="sparse", sparse_method=meth)
        l2, g2, _ = sparse_laplace_loglike(prs, fam, x0[:2], x0[2:4], x0[4:])
        assert abs(l2 - llf) < 1e-9
        np.testing.assert_allclose(g2, grad, atol=1e-6)


def test_warm_start_is_pure_and_reaches_the_same_modes():
    rng, X, terms = _crossed_nested(n=50, seed=2)
    fam = Poisson()
    y = fam.validate(rng.poisson(1.5, X.shape[0]).astype(float), "y")
    pr = SparseLaplaceProblem(y, X, None, terms)
    beta = np.array([0.3, 0.1])
    l1, g1, st1 = sparse_laplace_loglike(pr, fam, beta, THETAS, np.zeros(0))
    u0 = st1.u.copy()
    l2, g2, st2 = sparse_laplace_loglike(pr, fam, beta, THETAS, np.zeros(0), u0=u0)
    np.testing.assert_array_equal(u0, st1.u)  # the warm start is not modified
    assert st2.iterations <= 2 and abs(l1 - l2) < 1e-10
    np.testing.assert_allclose(g1, g2, atol=1e-9)


def test_not_positive_definite_gives_minus_inf_and_bad_input():
    pat = SparseHessianPattern(np.array([[0, 1], [0, 1]]), 2, method="splu")
    with pytest.raises(np.linalg.LinAlgError):
        pat.factor(np.ones((2, 2)), np.array([-1.0, -1.0]))
    with pytest.raises(ValueError, match="method"):
        SparseHessianPattern(np.array([[0, 1]]), 2, method="magic")
    rng, X, terms = _crossed_nested(n=30)
    with pytest.raises(ValueError, match="backend"):
        SparseLaplaceProblem(np.zeros(30), X, None, terms, backend="dense")
    pr = SparseLaplaceProblem(np.zeros(30), X, None, terms)
    with pytest.raises(ValueError, match="u0"):
        sparse_laplace_loglike(pr, Gaussian(), np.zeros(2), THETAS, np.zeros(1), u0=np.zeros(3))
    with pytest.raises(ValueError, match="theta"):
        sparse_laplace_loglike(pr, Gaussian(), np.zeros(2), [np.ones(1)] * 3, np.zeros(1))


# ------------------------------------------------------------ R references
def _fit(ref_id, yname=None):
    ref = load_ref(ref_id)
    df = load_dataset(ref["dataset"])
    df["obs"] = np.arange(len(df)) + 1
    formula = ref["formula"]
    if yname is not None:
        formula = yname + " ~ " + formula.split("~", 1)[1]
    fixed, rts = split_formula(formula)
    mgr = formula_manager()
    ydf, Xdf = mgr.get_matrices(fixed, df, pandas=True)
    fam = {"binomial": Binomial(), "poisson": Poisson()}[ref["family"]]
    y = fam.validate(ydf.to_numpy(dtype=float), "y")
    X = Xdf.to_numpy(dtype=float)
    terms = build_terms(rts, df, mgr)
    pr = SparseLaplaceProblem(y, X, None, terms)
    endog = ydf.to_numpy(dtype=float)
    glm_fam = sm.families.Binomial() if ref["family"] == "binomial" else sm.families.Poisson()
    glm = sm.GLM(endog if endog.shape[1] > 1 else endog[:, 0], X, family=glm_fam).fit()
    p = X.shape[1]
    x0 = np.concatenate([glm.params] + [t.cov.start(0.5) for t in terms])
    warm = {"u": None}

    def f(x):
        llf, g, st = sparse_laplace_loglike(pr, fam, x[:p], x[p:], np.zeros(0), u0=warm["u"],
                                            cond_cov=False)
        if not np.isfinite(llf):
            return np.inf, np.zeros(len(x))
        warm["u"] = st.u
        return -llf, -g

    res = minimize(f, x0, jac=True, method="L-BFGS-B",
                   options=dict(maxiter=1000, ftol=1e-13, gtol=1e-7))
    names = [r_name(c) for c in Xdf.columns]
    return ref, res, names, terms, p


def _check_fit(ref, res, names, terms, p, ltol=1e-3, btol=2e-3):
    assert abs(-res.fun - ref["logLik"]) < ltol
    est = dict(zip(names, res.x[:p]))
    for r in ref["fixed_effects"]:
        assert abs(est[r["term"]] - r["estimate"]) < btol, r["term"]
    sds = {re["group"]: re["sd"] for re in ref["random_effects"]}
    k = p
    for t in terms:
        th = res.x[k:k + t.n_params]
        k += t.n_params
        sd, _ = t.cov.sd_corr(th)
        np.testing.assert_allclose(sd, sds[t.group], atol=5e-3)


def test_verbagg_crossed_matches_glmmtmb():
    _check_fit(*_fit("VerbAgg__tmb_crossed", yname="r2num"))


def test_sim_crossed_poisson_matches_glmmtmb():
    _check_fit(*_fit("sim_crossed__tmb_poisson"))


def test_cbpp_observation_level_matches_glmmtmb():
    _check_fit(*_fit("cbpp__tmb_olre", yname="incidence + non_incidence"))


@pytest.mark.parametrize("ref_id", ["sim_nested__tmb_binary", "sim_nested__tmb_poisson"])
def test_sim_nested_matches_glmmtmb(ref_id):
    _check_fit(*_fit(ref_id))


def test_two_terms_on_one_factor_equal_an_uncorrelated_term():
    # (1 | id) + (0 + time | id) is (1 + time || id): one factor, diagonal covariance
    df = simulate_longitudinal("poisson", n_persons=30, seed=5)
    m = MixedGLM.from_formula("y ~ time + (1 + time || id)", df, family=sm.families.Poisson())
    d = m.design
    beta, theta = np.array([0.4, 0.1]), np.array([0.6, 0.2])
    l1, g1, _ = laplace_loglike(d, m.response, m.cov_struct, beta, theta, np.zeros(0))
    terms = [RandomEffectTerm.from_arrays("id", d.gid, d.Z[:, :1]),
             RandomEffectTerm.from_arrays("id", d.gid, d.Z[:, 1:], names=["time"])]
    pr = SparseLaplaceProblem(d.y, d.X, d.offset, terms)
    l2, g2, st = sparse_laplace_loglike(pr, m.response, beta, theta, np.zeros(0))
    assert pr.component_sizes.tolist() == [1] * 30
    assert abs(l1 - l2) < 1e-8
    np.testing.assert_allclose(g2, g1, atol=1e-8)


def test_large_components_switch_to_the_sparse_path():
    rng, X, terms = _crossed_nested(n=60, seed=3)
    fam = Poisson()
    y = fam.validate(rng.poisson(1.0, 60).astype(float), "y")
    dense = SparseLaplaceProblem(y, X, None, terms)
    small = SparseLaplaceProblem(y, X, None, terms, max_dense=3)
    assert dense.backend == "components" and small.backend.startswith("sparse-")
    beta = np.array([0.1, 0.2])
    l1, g1, s1 = sparse_laplace_loglike(dense, fam, beta, THETAS, np.zeros(0))
    l2, g2, s2 = sparse_laplace_loglike(small, fam, beta, THETAS, np.zeros(0))
    assert abs(l1 - l2) < 1e-9
    np.testing.assert_allclose(g2, g1, atol=1e-6)  # finite differences on the sparse path
    assert s2.cond_cov is None  # costly there: only when asked for


def test_one_term_zero_inflated_equals_dense_engine():
    # a family with negative weights -d2 at some rows: Newton falls back to clipped weights
    df = simulate_longitudinal("zip", n_persons=40, seed=2)
    m = MixedGLM.from_formula("y ~ time + (1 + time | id)", df, family=sm.families.Poisson(),
                              zi_formula="~1")
    d = m.design
    beta, theta, extra = np.array([0.5, 0.1]), np.array([0.7, -0.1, 0.2]), np.array([-0.8])
    l1, g1, _ = laplace_loglike(d, m.response, m.cov_struct, beta, theta, extra)
    term = RandomEffectTerm("id", d.gid, d.group_labels, d.Z, d.re_names, m.cov_struct)
    pr = SparseLaplaceProblem(d.y, d.X, d.offset, [term])
    l2, g2, st = sparse_laplace_loglike(pr, m.response, beta, [theta], extra)
    w = -st.d[2]
    assert np.any(w < 0) and st.converged
    assert abs(l1 - l2) < 1e-8
    np.testing.assert_allclose(g2, g1, atol=1e-7)


def test_row_chunks_of_the_selected_inverse_change_nothing(monkeypatch):
    from statsmodels_glmm.likelihood.schur import SchurFactor

    # the component factorisation even for this small problem
    monkeypatch.setattr(SparseLaplaceProblem, "dense_limit", 0)
    rng = np.random.default_rng(0)
    n = 400
    a, b, x = rng.integers(0, 40, n), rng.integers(0, 7, n), rng.normal(size=n)
    terms = [RandomEffectTerm.from_arrays(g, v, np.c_[np.ones(n), x], names=["Intercept", "x"])
             for g, v in (("a", a), ("b", b))]
    fam = Poisson()
    y = fam.validate(rng.poisson(1.0, n).astype(float), "y")
    pr = SparseLaplaceProblem(y, np.ones((n, 1)), None, terms)
    th = [np.array([0.5, 0.1, 0.3]), np.array([0.4, -0.1, 0.2])]
    l1, g1, s1 = sparse_laplace_loglike(pr, fam, np.zeros(1), th, np.zeros(0))
    monkeypatch.setattr(SchurFactor, "chunk", 30)  # one level of the eliminated term at a time
    l2, g2, s2 = sparse_laplace_loglike(pr, fam, np.zeros(1), th, np.zeros(0))
    assert pr.component_sizes.tolist() == [14] and l1 == l2
    np.testing.assert_allclose(g2, g1, rtol=1e-12, atol=1e-12)
    for c1, c2 in zip(s1.cond_cov, s2.cond_cov):
        np.testing.assert_allclose(c2, c1, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", ["components"] + [f"sparse-{m}" for m in SPARSE_METHODS])
@pytest.mark.parametrize("case", ["alpha underflows", "nan theta", "infinite beta"])
def test_non_finite_input_gives_minus_inf_without_raising(backend, case):
    n = 40
    a, b = np.repeat(np.arange(8), 5), np.tile(np.arange(5), 8)
    terms = [RandomEffectTerm.from_arrays("a", a, np.ones((n, 1))),
             RandomEffectTerm.from_arrays("b", b, np.ones((n, 1)))]
    y = np.random.default_rng(0).poisson(2.0, n).astype(float)
    kw = dict(backend="components") if backend == "components" else \
        dict(backend="sparse", sparse_method=backend.split("-")[1])
    pr = SparseLaplaceProblem(y, np.ones((n, 1)), None, terms, **kw)
    fam, beta, thetas, extra = NegativeBinomial(), np.zeros(1), [np.ones(1)] * 2, np.zeros(1)
    # the same problem with finite values has a finite log-likelihood
    assert np.isfinite(sparse_laplace_loglike(pr, fam, beta, thetas, extra)[0])
    if case == "alpha underflows":  # log alpha = -3070: alpha is 0, the derivatives NaN
        extra = np.array([-3070.0])
    elif case == "nan theta":
        thetas = [np.array([np.nan]), np.ones(1)]
    else:
        beta = np.array([np.inf])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        llf, grad, st = sparse_laplace_loglike(pr, fam, beta, thetas, extra)
        out = solve_sparse_modes(pr, fam, beta, [t.cov.chol(th) for t, th in zip(terms, thetas)],
                                 extra)
    assert llf == -np.inf and grad is None and not st.converged and np.isnan(st.logdet)
    assert out[5] is None and out[6] is False
