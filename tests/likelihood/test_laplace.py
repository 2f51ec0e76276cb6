"""Independent checks of the Laplace engine: derivatives, exact Gaussian case, modes."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import optimize, stats

import statsmodels_glmm.api as smg
from statsmodels_glmm.likelihood.laplace import laplace_loglike, solve_modes
from conftest import load_dataset

links = sm.families.links


def _model(kind, formula, family, n=60, seed=0):
    df = smg.simulate_longitudinal(kind, n_persons=n, seed=seed)
    return smg.mixedglm(formula, df, family=family)


MODELS = [
    ("binary", "y ~ time * group + stress + (1 + time | id)", sm.families.Binomial()),
    ("binary", "y ~ time + stress + (1 | id)", sm.families.Binomial(link=links.Probit())),
    ("binary", "y ~ time + stress + (1 + time | id)", sm.families.Binomial(link=links.CLogLog())),
    ("poisson", "y ~ time + stress + (1 + time || id)", sm.families.Poisson()),
    ("poisson", "y ~ time + stress + (1 + time | id)", sm.families.Gaussian()),
]


@pytest.mark.parametrize("kind,formula,family", MODELS)
def test_gradient_matches_finite_differences(kind, formula, family):
    m = _model(kind, formula, family)
    rng = np.random.default_rng(1)
    x = m._start_internal()
    x[m.k_fe:m.k_fe + m.k_re] = np.where(m.cov_struct.is_diag, 0.7, 0.15)
    x = x + 0.05 * rng.standard_normal(len(x))
    llf, grad, _ = m.loglike_internal(x, gradient=True, warm=False)
    fd = np.zeros_like(x)
    for j in range(len(x)):
        e = np.zeros_like(x)
        e[j] = 1e-5
        fd[j] = (m.loglike_internal(x + e, warm=False)[0]
                 - m.loglike_internal(x - e, warm=False)[0]) / 2e-5
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-5)


def test_gradient_binomial_trials():
    df = load_dataset("cbpp")
    m = smg.mixedglm("incidence + non_incidence ~ period + (1 | herd)", df,
                     family=sm.families.Binomial())
    x = np.array([-1.3, -1.0, -1.1, -1.6, 0.7])
    _, grad, _ = m.loglike_internal(x, gradient=True, warm=False)
    fd = [(m.loglike_internal(x + e, warm=False)[0] - m.loglike_internal(x - e, warm=False)[0])
          / 2e-6 for e in np.eye(len(x)) * 1e-6]
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)


def test_gaussian_laplace_equals_exact_marginal_likelihood():
    """For a normal response the Laplace approximation is exact."""
    df = smg.simulate_longitudinal("poisson", n_persons=40, seed=3)
    df["yc"] = np.log1p(df["y"])
    m = smg.mixedglm("yc ~ time + (1 + time | id)", df, family=sm.families.Gaussian())
    beta = np.array([0.6, 0.05])
    G = np.array([[0.3, -0.02], [-0.02, 0.01]])
    sigma2 = 0.25
    params = np.r_[beta, G[0, 0], G[1, 0], G[1, 1], sigma2]
    exact = 0.0
    for _, g in df.groupby("id"):
        Z = np.column_stack([np.ones(len(g)), g["time"]])
        V = Z @ G @ Z.T + sigma2 * np.eye(len(g))
        exact += stats.multivariate_normal(Z @ beta, V).logpdf(g["yc"].to_numpy())
    assert m.loglike(params) == pytest.approx(exact, rel=1e-12, abs=1e-9)


def test_gaussian_fit_matches_mixedlm():
    import statsmodels.formula.api as smf

    df = smg.simulate_longitudinal("poisson", n_persons=100, seed=1)
    df["yc"] = np.log1p(df["y"]) + 0.3 * df["stress"]
    r1 = smf.mixedlm("yc ~ time + stress", df, groups="id", re_formula="~time").fit(reml=False)
    r2 = smg.mixedglm("yc ~ time + stress", df, groups="id", re_formula="~time",
                      family=sm.families.Gaussian()).fit()
    assert r2.llf >= r1.llf - 1e-6
    np.testing.assert_allclose(r2.fe_params, r1.fe_params, atol=1e-5)
    np.testing.assert_allclose(r2.bse_fe, r1.bse_fe, rtol=1e-3)
    np.testing.assert_allclose(r2.cov_re.to_numpy(), r1.cov_re.to_numpy(), rtol=1e-3, atol=1e-5)
    assert r2.family_params["scale"] == pytest.approx(r1.scale, rel=1e-4)


def test_modes_match_single_group_optimisation():
    m = _model("binary", "y ~ time + stress + (1 + time | id)", sm.families.Binomial(), n=30)
    beta = np.array([-0.8, 0.2, 0.4])
    L = np.array([[0.9, 0.0], [-0.1, 0.4]])
    st = solve_modes(m.design, m.response, beta, L, np.zeros(0))
    d = m.design
    for gi in (0, 7, 29):
        rows = d.gid == gi
        X, Z, y = d.X[rows], d.Z[rows], d.y[rows, 0]

        def neg_h(u):
            eta = X @ beta + Z @ L @ u
            return -(np.sum(y * eta - np.logaddexp(0, eta)) - 0.5 * u @ u)

        opt = optimize.minimize(neg_h, np.zeros(2), method="BFGS", options={"gtol": 1e-10})
        np.testing.assert_allclose(st.u[gi], opt.x, atol=1e-6)
        # Laplace term for this group from a numerical Hessian
        Hn = optimize.approx_fprime(opt.x, lambda u: optimize.approx_fprime(
            u, neg_h, 1e-6), 1e-5)
        np.testing.assert_allclose(st.H[gi], 0.5 * (Hn + Hn.T), rtol=1e-3)


def test_laplace_value_by_hand_for_one_random_intercept():
    """Laplace on a tiny data set, against a direct computation with scipy."""
    df = pd.DataFrame({"y": [1, 0, 1, 1, 0, 0, 1, 0], "x": [0, 1, 2, 3, 0, 1, 2, 3.0],
                       "g": [1, 1, 1, 1, 2, 2, 2, 2]})
    m = smg.mixedglm("y ~ x + (1 | g)", df, family=sm.families.Binomial())
    beta, sd = np.array([0.3, -0.4]), 1.7
    total = 0.0
    for _, gdf in df.groupby("g"):
        eta0 = beta[0] + beta[1] * gdf["x"].to_numpy()
        y = gdf["y"].to_numpy()

        def h(u):
            eta = eta0 + sd * u
            return np.sum(y * eta - np.logaddexp(0, eta)) - 0.5 * u * u

        u_hat = optimize.minimize_scalar(lambda u: -h(u)).x
        p = 1 / (1 + np.exp(-(eta0 + sd * u_hat)))
        H = 1 + sd ** 2 * np.sum(p * (1 - p))
        total += h(u_hat) - 0.5 * np.log(H)
    assert m.loglike(np.r_[beta, sd ** 2]) == pytest.approx(total, abs=1e-8)


def test_zero_variance_reduces_to_glm():
    """With G = 0 the marginal likelihood is the GLM likelihood exactly."""
    df = load_dataset("bacteria")
    m = smg.mixedglm("y_bin ~ trt + week_gt2 + (1 | ID)", df, family=sm.families.Binomial())
    glm = sm.GLM.from_formula("y_bin ~ trt + week_gt2", df, family=sm.families.Binomial()).fit()
    llf, _, _ = laplace_loglike(m.design, m.response, m.cov_struct,
                                glm.params.to_numpy(), np.zeros(1), np.zeros(0))
    assert llf == pytest.approx(glm.llf, abs=1e-9)


def test_modes_converge_for_very_large_counts():
    # counts up to about 8e5: the terms of the log-density are ~1e7, so the gradient
    # of a group's log-integrand cannot be computed to 1e-10; the modes must still be
    # declared converged once the gradient is within its rounding
    rng = np.random.default_rng(3)
    G, T = 300, 5
    b = rng.normal(size=(G, 2)) * [2.0, 0.5]
    t = np.tile(np.arange(T, dtype=float), G)
    g = np.repeat(np.arange(G), T)
    df = pd.DataFrame(dict(id=g, time=t,
                           y=rng.poisson(np.exp(6 + 0.3 * t + b[g, 0] + b[g, 1] * t))))
    assert df["y"].max() > 5e5
    m = smg.mixedglm("y ~ time + (1 + time | id)", df, family=sm.families.Poisson())
    res = m.fit(retry=False)
    assert res.converged and res.mle_retvals["inner_converged"]
    x = res.mle_retvals["internal_params"]
    beta, theta, extra = m._split(x)
    st = solve_modes(m.design, m.response, beta, m.cov_struct.chol(theta), extra)
    assert st.converged and st.iterations < 30
    # the modes solve their equations to the precision the counts allow
    Z, y = m.design.Z, m.design.y
    M = Z @ m.cov_struct.chol(theta)
    eta = m.design.X @ beta + np.sum(M * st.u[m.design.gid], axis=1)
    grad = np.column_stack([np.bincount(m.design.gid, weights=M[:, a] * (y - np.exp(eta)))
                            for a in range(2)]) - st.u
    scale = np.bincount(m.design.gid, weights=np.exp(eta) * (1 + np.abs(eta)))
    assert np.all(np.abs(grad).max(1) <= 1e-12 * scale + 1e-10)
