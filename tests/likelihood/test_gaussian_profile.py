"""The Gaussian mixed model's profiled log-likelihood and the fit that starts at its maximum."""

import numpy as np
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

import statsmodels_glmm.api as smg
from statsmodels_glmm.likelihood import compiled
from statsmodels_glmm.likelihood import gaussian_profile as gp
from statsmodels_glmm.model import layout

from conftest import numba_missing, unbuildable_kernels


#: random-effect terms and a relative factor Lambda for each (one, two and three effects)
FACTORS = [
    ("1", np.array([[0.7]])),
    ("1 + time", np.array([[0.9, 0.0], [-0.2, 0.4]])),
    ("1 + time + stress", np.array([[0.9, 0.0, 0.0], [-0.2, 0.4, 0.0], [0.1, 0.3, 0.5]])),
]


def _data(n=120, seed=1, sd_id=1.0):
    rng = np.random.default_rng(seed)
    df = smg.simulate_longitudinal("poisson", n_persons=n, seed=seed)
    b = rng.normal(0, sd_id, df["id"].max() + 1)
    s = rng.normal(0, 0.3, df["id"].max() + 1)
    df["yc"] = (0.5 + 0.2 * df["time"] + 0.4 * df["stress"] + b[df["id"]]
                + s[df["id"]] * df["time"] + rng.normal(0, 0.8, len(df)))
    return df


def _model(df, re="1", formula="yc ~ time + stress"):
    return smg.mixedglm(f"{formula} + ({re} | id)", df, family=sm.families.Gaussian())


def _dense_loglike(m, Lam):
    """The marginal log-likelihood maximised over beta and sigma by brute force: the
    full covariance of every group, generalised least squares and sigma^2 = r^2 / n."""
    d = m.design
    y = d.y - d.offset
    n = len(y)
    blocks = []
    for s, e in zip(d.starts, list(d.starts[1:]) + [n]):
        Z = d.Z[s:e]
        blocks.append(np.eye(e - s) + Z @ Lam @ Lam.T @ Z.T)
    XtWX = sum(d.X[s:e].T @ np.linalg.solve(B, d.X[s:e])
               for (s, e), B in zip(zip(d.starts, list(d.starts[1:]) + [n]), blocks))
    XtWy = sum(d.X[s:e].T @ np.linalg.solve(B, y[s:e])
               for (s, e), B in zip(zip(d.starts, list(d.starts[1:]) + [n]), blocks))
    beta = np.linalg.solve(XtWX, XtWy)
    e = y - d.X @ beta
    r2 = sum(e[s:t] @ np.linalg.solve(B, e[s:t])
             for (s, t), B in zip(zip(d.starts, list(d.starts[1:]) + [n]), blocks))
    logdet = sum(np.linalg.slogdet(B)[1] for B in blocks)
    return -0.5 * (n * np.log(2 * np.pi * r2 / n) + n + logdet), beta


@pytest.mark.parametrize("re, Lam", FACTORS)
def test_profiled_loglike_equals_a_dense_computation(re, Lam):
    m = _model(_data(n=40), re)
    llf, beta, s2 = gp.profiled_loglike(Lam, gp.cross_products(m.design))
    ref, ref_beta = _dense_loglike(m, Lam)
    assert llf == pytest.approx(ref, rel=1e-12)
    np.testing.assert_allclose(beta, ref_beta, rtol=1e-10)


@pytest.mark.parametrize("re, Lam", FACTORS)
def test_profiled_gradient_equals_central_differences(re, Lam):
    m = _model(_data(n=60), re)
    cp = gp.cross_products(m.design)
    grad = gp.profiled_loglike(Lam, cp, gradient=True)[3]
    q, h = Lam.shape[0], 1e-6
    fd = np.zeros((q, q))
    for r in range(q):
        for c in range(r + 1):
            E = np.zeros((q, q))
            E[r, c] = h
            fd[r, c] = (gp.profiled_loglike(Lam + E, cp)[0]
                        - gp.profiled_loglike(Lam - E, cp)[0]) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-6)
    assert np.all(np.triu(grad, 1) == 0.0)


@pytest.mark.parametrize("re", ["1", "1 + time"])
def test_profiled_loglike_equals_the_models_loglike_at_sigma_hat(re):
    # the model's own Laplace log-likelihood (exact for Gaussian data) at beta^, L =
    # sigma Lam and log sigma^ is the profiled value
    m = _model(_data(), re)
    cs = m.cov_struct
    Lam = np.array([[0.8]]) if re == "1" else np.array([[0.8, 0.0], [-0.1, 0.3]])
    llf, beta, s2 = gp.profiled_loglike(Lam, gp.cross_products(m.design))
    sigma = np.sqrt(s2)
    x = np.concatenate([beta, (sigma * Lam)[cs.rows, cs.cols], [np.log(sigma)]])
    assert m.loglike_internal(x)[0] == pytest.approx(llf, rel=1e-12)


@pytest.mark.parametrize("re", ["1", "1 + time"])
def test_profiled_optimum_is_the_maximum_likelihood_fit(re, monkeypatch):
    df = _data()
    monkeypatch.setattr(layout, "MAX_GAUSSIAN_START_Q", 0)  # the fit from the usual start
    r = _model(df, re).fit()
    m = _model(df, re)
    beta, theta, log_sigma, llf = gp.profiled_optimum(m.design, m.cov_struct,
                                                      m.cov_struct.start(1.0))
    # the search stops at a gradient of 1e-3 (the fit finishes from there)
    assert llf == pytest.approx(r.llf, abs=1e-7)
    x = m.to_internal(r.params)
    np.testing.assert_allclose(beta, x[:m.k_fe], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(theta, x[m.k_fe:m.k_fe + m.k_re], rtol=1e-3, atol=1e-5)
    assert log_sigma == pytest.approx(x[-1], abs=1e-5)
    # and statsmodels' MixedLM (ML) agrees where it converges
    if re == "1":
        ref = smf.mixedlm("yc ~ time + stress", df, groups="id").fit(reml=False)
        assert llf >= ref.llf - 1e-7
        np.testing.assert_allclose(beta, ref.fe_params, atol=1e-4)


@pytest.mark.parametrize("re", ["1", "1 + time"])
def test_gaussian_fit_starts_at_the_profiled_maximum(re, monkeypatch):
    df = _data()
    fast = _model(df, re).fit()
    assert fast.mle_retvals["function_evaluations"] <= 2
    monkeypatch.setattr(layout, "MAX_GAUSSIAN_START_Q", 0)  # the usual start
    slow = _model(df, re).fit()
    assert slow.mle_retvals["function_evaluations"] > fast.mle_retvals["function_evaluations"]
    assert fast.llf == pytest.approx(slow.llf, abs=1e-8)
    np.testing.assert_allclose(fast.params, slow.params, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(fast.bse, slow.bse, rtol=1e-6)


def test_profiled_optimum_leaves_a_zero_diagonal_it_starts_near():
    # the profiled likelihood is even in Lambda: from a start close to zero the search
    # still finds the interior maximum (a bound at zero would have held it there)
    rng = np.random.default_rng(3)
    df = _data()
    df["yc"] = 1.0 + 0.3 * df["time"] + rng.normal(0, 1.0, len(df))  # a small group effect
    m = _model(df)
    cp = gp.cross_products(m.design)
    grid = np.linspace(0.0, 0.5, 501)
    vals = [gp.profiled_loglike(np.array([[g]]), cp)[0] for g in grid]
    found = gp.profiled_optimum(m.design, m.cov_struct, np.full(1, 1e-3))
    assert found[3] >= max(vals) - 1e-9


def test_gaussian_start_is_left_to_the_fit_at_a_zero_variance():
    rng = np.random.default_rng(4)
    df = _data()
    e = rng.normal(0, 1.0, len(df))
    e -= df.assign(e=e).groupby("id")["e"].transform("mean").to_numpy()  # no group means
    df["yc"] = 1.0 + 0.3 * df["time"] + e
    m = _model(df)
    beta, theta, log_sigma, llf = gp.profiled_optimum(m.design, m.cov_struct, np.ones(1))
    assert abs(theta[0]) < 1e-3 * np.exp(log_sigma)  # the maximum is on the boundary
    assert m._gaussian_start(np.ones(1), 0.0) is None  # ... so the fit starts as usual
    r = m.fit()
    assert r.llf == pytest.approx(llf, abs=1e-6)
    assert r.cov_re.iloc[0, 0] < 1e-6


@pytest.mark.parametrize("re, Lam", FACTORS)
def test_gaussian_gradient_from_cross_products_equals_the_models(re, Lam):
    m = _model(_data(n=60), re)
    cs = m.cov_struct
    x = np.concatenate([[0.4, 0.15, 0.3], Lam[cs.rows, cs.cols], [np.log(0.7)]])
    d_beta, d_L, d_tau = gp.gaussian_gradient(x[:3], cs.chol(x[3:-1]), x[-1],
                                              gp.cross_products(m.design))
    got = np.concatenate([d_beta, d_L[cs.rows, cs.cols], [d_tau]])
    want = m.loglike_internal(x, gradient=True)[1]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * np.abs(want).max())


@pytest.mark.parametrize("re, Lam", FACTORS[:2])
def test_gaussian_beta_hessian_equals_the_laplace_closed_form(re, Lam):
    from statsmodels_glmm.likelihood.laplace_hessian import laplace_beta_hessian

    m = _model(_data(n=60), re)
    beta, log_sigma = np.array([0.4, 0.15, 0.3]), np.log(0.7)
    L = 0.7 * Lam
    H = gp.gaussian_beta_hessian(L, log_sigma, gp.cross_products(m.design))
    cs = m.cov_struct
    x = np.concatenate([beta, L[cs.rows, cs.cols], [log_sigma]])
    st = m.loglike_internal(x, gradient=True)[2]
    ref = laplace_beta_hessian(m.design, m.response, beta, L, x[-1:], st)
    np.testing.assert_allclose(H, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())


@pytest.mark.parametrize("re", ["1", "1 + time"])
def test_gaussian_hessian_from_cross_products_equals_the_usual_one(re, monkeypatch):
    df = _data()
    m = _model(df, re)
    x = m.to_internal(m.fit().params)
    fast = m.hessian_internal(x)
    monkeypatch.setattr(layout, "MAX_GAUSSIAN_START_Q", 0)  # differences of the Laplace path
    slow = _model(df, re).hessian_internal(x)
    np.testing.assert_allclose(fast, slow, rtol=1e-7, atol=1e-7 * np.abs(slow).max())


@numba_missing
@pytest.mark.parametrize("re, Lam", FACTORS[:2])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 30.0])
def test_compiled_profile_agrees_with_numpy(re, Lam, scale, monkeypatch):
    cp = gp.cross_products(_model(_data(n=80), re).design)
    beta, log_sigma = np.array([0.4, 0.15, 0.3]), np.log(0.7)

    def run():
        return (gp.profiled_loglike(scale * Lam, cp, gradient=True),
                gp.gaussian_gradient(beta, scale * Lam, log_sigma, cp),
                gp.gaussian_beta_hessian(scale * Lam, log_sigma, cp))

    assert compiled.gaussian_profile(scale * Lam, cp["R"], cp["ZtZ"]) is not None
    on, grad_on, hess_on = run()
    monkeypatch.setattr(compiled, "ENABLED", False)
    off, grad_off, hess_off = run()
    assert on[0] == pytest.approx(off[0], rel=1e-13)
    np.testing.assert_allclose(on[1], off[1], rtol=1e-10, atol=1e-12)
    assert on[2] == pytest.approx(off[2], rel=1e-12)
    np.testing.assert_allclose(on[3], off[3], rtol=1e-9, atol=1e-10 * np.abs(off[3]).max())
    for a, b in zip(grad_on, grad_off):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10 * np.abs(b).max())
    np.testing.assert_allclose(hess_on, hess_off, rtol=1e-10, atol=1e-12)


def test_profile_without_a_kernel_where_none_applies(monkeypatch):
    cp = gp.cross_products(_model(_data(n=40), FACTORS[2][0]).design)
    assert compiled.gaussian_profile(FACTORS[2][1], cp["R"], cp["ZtZ"]) is None  # q = 3
    monkeypatch.setattr(compiled, "ENABLED", False)
    cp2 = gp.cross_products(_model(_data(n=40), "1").design)
    assert compiled.gaussian_profile(np.eye(1), cp2["R"], cp2["ZtZ"]) is None


@pytest.mark.parametrize("re, Lam", FACTORS[:2])
def test_profile_of_a_non_finite_factor_fails(re, Lam):
    cp = gp.cross_products(_model(_data(n=40), re).design)
    bad = Lam.copy()
    bad[0, 0] = np.nan
    assert gp.profiled_loglike(bad, cp, gradient=True) == (-np.inf, None, None, None)


@numba_missing
@pytest.mark.parametrize("re", ["1", "1 + time"])
def test_gaussian_fit_same_with_and_without_the_profile_kernel(re, monkeypatch):
    df = _data()
    on = _model(df, re).fit()
    monkeypatch.setattr(compiled, "ENABLED", False)
    off = _model(df, re).fit()
    assert on.llf == pytest.approx(off.llf, abs=1e-8)
    np.testing.assert_allclose(on.params, off.params, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(on.bse, off.bse, rtol=1e-6)


def test_a_profile_kernel_that_cannot_be_built_leaves_numpy(monkeypatch):
    pytest.importorskip("numba")
    cp = gp.cross_products(_model(_data(n=40), "1 + time").design)
    Lam = FACTORS[1][1]
    monkeypatch.setattr(compiled, "ENABLED", False)
    want = gp.profiled_loglike(Lam, cp, gradient=True)
    unbuildable_kernels(monkeypatch, "_GAUSSIAN", "_gaussian_smoke")
    with pytest.warns(UserWarning, match="Gaussian profiled likelihood could not be built"):
        got = gp.profiled_loglike(Lam, cp, gradient=True)
    assert compiled._gaussian_kernels() is None  # decided once
    assert got[0] == want[0]
    np.testing.assert_array_equal(got[3], want[3])


@pytest.mark.parametrize("re, Lam", FACTORS[:2])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_gaussian_gradient_of_a_non_finite_factor_is_not_finite(re, Lam, value, monkeypatch):
    # with the kernels and without: no finite gradient from a factor with no curvature
    cp = gp.cross_products(_model(_data(n=40), re).design)
    bad = Lam.copy()
    bad[-1, -1] = value
    beta = np.array([0.4, 0.15, 0.3])
    for on in (True, False):
        monkeypatch.setattr(compiled, "ENABLED", on)
        with np.errstate(all="ignore"):
            d_beta, d_L, d_tau = gp.gaussian_gradient(beta, bad, np.log(0.7), cp)
        assert not (np.all(np.isfinite(d_beta)) and np.all(np.isfinite(d_L))
                    and np.isfinite(d_tau))
