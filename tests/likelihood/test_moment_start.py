"""
The moment start of the random-effect covariance: its sums against a loop over
groups, its solution against an exactly known covariance, its estimate on
simulated data, and fits from it reaching the optimum the old start reached.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.families import as_response
from statsmodels_glmm.likelihood.start import (START_CORR_SHRINK, START_SD_RANGE,
                                               conditional_start_beta, cross_moment_sums,
                                               moment_covariance, moment_sums)
from statsmodels_glmm.spec.covariance import CovStructure


def _loop_sums(fam, y, eta, Z, gid):
    _, d1, d2, _ = fam.derivs(y, eta, np.zeros(0))
    q = Z.shape[1]
    R = np.zeros((q, q))
    K = np.zeros((q, q, q, q))
    for g in np.unique(gid):
        rows = gid == g
        s = Z[rows].T @ d1[rows]
        A = (Z[rows] * np.maximum(-d2[rows], 0)[:, None]).T @ Z[rows]
        R += np.outer(s, s) - A
        K += np.einsum("ij,kl->ijkl", A, A)
    return R, K


@pytest.mark.parametrize("family", [sm.families.Poisson(), sm.families.Binomial(),
                                    sm.families.Binomial(link=sm.families.links.Probit())])
def test_moment_sums_equal_a_loop_over_groups(family):
    rng = np.random.default_rng(4)
    n, G = 300, 40
    gid = rng.integers(0, G, n)
    Z = np.c_[np.ones(n), rng.normal(size=n)]
    eta = rng.normal(scale=0.5, size=n)
    fam = as_response(family)
    raw = rng.poisson(2.0, n) if family.__class__.__name__ == "Poisson" else rng.integers(0, 2, n)
    y = fam.validate(raw, "y")
    R, K = moment_sums(fam, y, eta, np.zeros(0), Z, gid, G)
    R0, K0 = _loop_sums(fam, y, eta, Z, gid)
    np.testing.assert_allclose(R, R0, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(K, K0, rtol=1e-12, atol=1e-10)


def test_moment_covariance_solves_exact_moments():
    # R built from a known G: the least-squares solution is G itself (inside the range),
    # its correlation shrunk
    rng = np.random.default_rng(0)
    A = np.array([(lambda m: m @ m.T + np.eye(2))(rng.normal(size=(2, 2)))
                  for _ in range(30)])
    G = np.array([[0.36, -0.09], [-0.09, 0.25]])
    R = np.einsum("gij,jk,gkl->il", A, G, A)
    K = np.einsum("gij,gkl->ijkl", A, A)
    cs = CovStructure([[0, 1]], ["Intercept", "time"], "id")
    want = G * np.array([[1.0, START_CORR_SHRINK], [START_CORR_SHRINK, 1.0]])
    np.testing.assert_allclose(moment_covariance(R, K, cs), want, rtol=1e-10)
    # two uncorrelated terms: the off-diagonal is not estimated
    cs2 = CovStructure([[0], [1]], ["Intercept", "time"], "id")
    got = moment_covariance(R, K, cs2)
    assert got[0, 1] == 0.0 and got[1, 0] == 0.0
    assert np.all(np.sqrt(np.diag(got)) >= START_SD_RANGE[0])


def test_moment_covariance_holds_the_sds_in_range_on_the_columns_scale():
    cs = CovStructure([[0]], ["time"], "id")
    cs.row_scale = np.array([10.0])  # a column of Z in units ten times its spread
    K = np.full((1, 1, 1, 1), 1.0)
    for r, sd in [(1e-6, 0.1), (4e-4, 0.2), (1.0, 1.0)]:
        G = moment_covariance(np.array([[r]]), K, cs)
        assert np.sqrt(G[0, 0]) * 10.0 == pytest.approx(sd, rel=1e-9)


def test_moment_estimate_is_close_to_a_small_true_sd():
    # Poisson random intercepts of SD 0.4, 3000 persons x 6 rows: the first-order
    # moments (log-normal corrected) recover the SD to within 10%
    rng = np.random.default_rng(2)
    n_p, w = 3000, 6
    gid = np.repeat(np.arange(n_p), w)
    eta = 0.5 + rng.normal(0, 0.4, n_p)[gid]
    fam = as_response(sm.families.Poisson())
    y = fam.validate(rng.poisson(np.exp(eta)), "y")
    mu = np.log(np.mean(y))  # the model without random effects: the intercept only
    R, K = moment_sums(fam, y, np.full(len(y), mu), np.zeros(0), np.ones((len(y), 1)), gid,
                       n_p)
    cs = CovStructure([[0]], ["Intercept"], "id")
    G = moment_covariance(R, K, cs, log_link=True)
    assert np.sqrt(G[0, 0]) == pytest.approx(0.4, rel=0.1)


def test_conditional_start_beta_lowers_a_log_link_intercept_only():
    beta = np.array([0.5, -1.0])
    poisson = as_response(sm.families.Poisson())
    negbin = as_response(smg.families.NegativeBinomial())
    logit = as_response(sm.families.Binomial())
    np.testing.assert_allclose(conditional_start_beta(poisson, beta, 0, 2.0), [-0.5, -1.0])
    np.testing.assert_allclose(conditional_start_beta(negbin, beta, 1, 2.0), [0.5, -2.0])
    np.testing.assert_array_equal(conditional_start_beta(negbin, beta, None, 2.0), beta)
    np.testing.assert_array_equal(conditional_start_beta(logit, beta, 0, 2.0), beta)


def test_one_factor_binary_keeps_the_unit_start_and_counts_start_at_the_moments():
    df = smg.simulate_longitudinal("binary", n_persons=60, seed=1)
    m = smg.mixedglm("y ~ time + (1 + time | id)", df, family=sm.families.Binomial())
    p, k = m.k_fe, m.k_re
    unit = m.cov_struct.start(1.0) / m.cov_struct.row_scale[m.cov_struct.rows]
    np.testing.assert_allclose(m._start_internal()[p:p + k], unit)
    counts = smg.simulate_longitudinal("poisson", n_persons=60, seed=1)
    m = smg.mixedglm("y ~ time + (1 + time | id)", counts, family=sm.families.Poisson())
    unit = m.cov_struct.start(1.0) / m.cov_struct.row_scale[m.cov_struct.rows]
    assert not np.allclose(m._start_internal()[p:p + k], unit)


@pytest.mark.parametrize("kind,formula", [
    ("negbin", "y ~ time * group + (1 + time | id)"),
    ("poisson", "y ~ time + group + (1 | id)"),
])
def test_fit_from_the_moment_start_reaches_the_optimum_of_the_unit_start(kind, formula):
    df = smg.simulate_longitudinal(kind, n_persons=150, seed=5)
    fam = smg.families.NegativeBinomial() if kind == "negbin" else sm.families.Poisson()
    _same_optimum_from_the_moment_and_unit_starts(smg.mixedglm(formula, df, family=fam))


def _same_optimum_from_the_moment_and_unit_starts(m):
    """Fit ``m`` from its (moment) start and from the unit start: the same optimum."""
    x0 = m._start_internal()
    p, k = m.k_fe, m.k_re
    unit = x0.copy()
    unit[p:p + k] = m.cov_struct.start(1.0) / m.cov_struct.row_scale[m.cov_struct.rows]
    # the moment start is not the unit start
    assert not np.allclose(x0[p:p + k], unit[p:p + k])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = m.fit(check_laplace=False)
        b = m.fit(check_laplace=False, start_params=m.to_public(unit))
    assert a.converged and b.converged
    assert a.llf == pytest.approx(b.llf, abs=1e-8)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.bse, b.bse, rtol=1e-4)


def test_a_perfect_moment_correlation_starts_off_the_boundary():
    # rank-one moments (correlation -1): the start keeps a positive diagonal of L
    A = np.array([np.eye(2) * (1 + i % 3) for i in range(20)])
    G = np.array([[0.25, -0.25], [-0.25, 0.25]])
    R = np.einsum("gij,jk,gkl->il", A, G, A)
    K = np.einsum("gij,gkl->ijkl", A, A)
    cs = CovStructure([[0, 1]], ["Intercept", "time"], "id")
    got = moment_covariance(R, K, cs)
    L = np.linalg.cholesky(got)
    assert got[0, 1] / np.sqrt(got[0, 0] * got[1, 1]) == pytest.approx(-START_CORR_SHRINK)
    assert L[1, 1] > 0.4


def _crossed_binary(seed, link=None, n_a=150, n_b=25, n=2400):
    # 0/1 outcomes of crossed factors a (SD 0.8) and b (SD 0.4)
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n_a, n), rng.integers(0, n_b, n)
    x = rng.normal(size=n)
    eta = -0.2 + 0.5 * x + rng.normal(0, 0.8, n_a)[a] + rng.normal(0, 0.4, n_b)[b]
    p = 1 / (1 + np.exp(-eta)) if link is None else link.inverse(eta)
    return pd.DataFrame({"y": rng.binomial(1, p), "x": x, "a": a, "b": b})


def test_several_factor_binary_starts_at_each_factors_moments():
    # the start's covariance is the least-squares moment estimate of the group sums
    # taken factor by factor (a loop over each factor's levels) at the GLM fit, with
    # the other factor's share in them (a loop over the cells of both)
    df = _crossed_binary(3)
    fam = sm.families.Binomial()
    m = smg.mixedglm("y ~ x + (1 | a) + (1 | b)", df, family=fam)
    p, k = m.k_fe, m.k_re
    d = m.design
    beta = sm.GLM(d.y[:, 0], d.X, family=fam).fit(tol=1e-12).params
    eta = d.X @ beta
    resp = as_response(fam)
    blocks = [_loop_sums(resp, d.y, eta, t.Z, t.codes) for t in d.terms]
    R, K = np.zeros((2, 2)), np.zeros((2, 2, 2, 2))
    for j, (Rj, Kj) in enumerate(blocks):
        R[j, j], K[j, j, j, j] = Rj[0, 0], Kj[0, 0, 0, 0]
    w = -resp.derivs(d.y, eta, np.zeros(0))[2]
    a, b = (t.codes for t in d.terms)
    cells = sum(w[(a == i) & (b == j)].sum() ** 2 for i in np.unique(a) for j in np.unique(b))
    K[0, 1, 1, 0] = K[1, 0, 0, 1] = cells
    cs = m.cov_struct
    G = moment_covariance(R, K, cs)
    x0 = m._start_internal()
    np.testing.assert_allclose(x0[p:p + k], cs.internal(G[cs.rows, cs.cols]), rtol=1e-6)
    np.testing.assert_allclose(x0[:p], beta, rtol=1e-6, atol=1e-8)  # logit: beta unmoved
    # both factors vary less than one on their columns' scale: below the unit start
    unit = cs.start(1.0) / cs.row_scale[cs.rows]
    assert np.all(x0[p:p + k] < unit - 0.1)


@pytest.mark.parametrize("link,formula", [
    (None, "y ~ x + (1 | a) + (1 | b)"),
    (sm.families.links.Probit(), "y ~ x + (1 | a) + (1 | b)"),
    (None, "y ~ x + (1 + x | a) + (1 | b)"),
    ("ordinal", "y ~ x + (1 | a) + (1 | b)"),
])
def test_several_factor_bounded_fit_from_the_moments_reaches_the_unit_starts_optimum(
        link, formula):
    if link == "ordinal":
        # four ordered categories that rise with the 0/1 outcome (so with both factors)
        df = _crossed_binary(8)
        rng = np.random.default_rng(9)
        df["y"] = pd.Categorical(df["y"] + rng.integers(0, 2, len(df)) + df["y"] * (
            df["x"] > 0), ordered=True)
        fam = smg.families.Ordinal()
    else:
        df = _crossed_binary(8, link)
        fam = sm.families.Binomial() if link is None else sm.families.Binomial(link=link)
    _same_optimum_from_the_moment_and_unit_starts(smg.mixedglm(formula, df, family=fam))


def test_cross_moment_sums_equal_a_loop_over_cells():
    # two random effects on factor a (intercept, slope) and one on factor b
    rng = np.random.default_rng(6)
    n = 400
    ga, gb = rng.integers(0, 30, n), rng.integers(0, 7, n)
    Za, Zb = np.c_[np.ones(n), rng.normal(size=n)], rng.uniform(0.5, 1.5, (n, 1))
    fam = as_response(sm.families.Poisson())
    y = fam.validate(rng.poisson(2.0, n), "y")
    eta = rng.normal(0.5, 0.3, n)
    w = -fam.derivs(y, eta, np.zeros(0))[2]
    want = np.zeros((2, 1, 1, 2))
    for g in range(30):
        for h in range(7):
            rows = (ga == g) & (gb == h)
            A = (Za[rows] * w[rows, None]).T @ Zb[rows]  # (2, 1)
            want += np.einsum("ia,jb->iabj", A, A)
    got = cross_moment_sums(fam, y, eta, np.zeros(0), Za, ga, Zb, gb)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # the reverse block: b's moments, a's effects
    back = cross_moment_sums(fam, y, eta, np.zeros(0), Zb, gb, Za, ga)
    np.testing.assert_allclose(back, want.transpose(1, 0, 3, 2), rtol=1e-12)


def _nested_counts(seed, outer_sd, inner_sd, n_outer=150, per_outer=6, rows=5):
    rng = np.random.default_rng(seed)
    outer = np.repeat(np.arange(n_outer), per_outer * rows)
    inner = np.repeat(np.arange(n_outer * per_outer), rows)
    x = rng.normal(size=len(outer))
    eta = (0.4 + 0.3 * x + rng.normal(0, outer_sd, n_outer)[outer]
           + rng.normal(0, inner_sd, n_outer * per_outer)[inner])
    return pd.DataFrame({"y": rng.poisson(np.exp(eta)), "x": x, "a": outer, "b": inner})


def test_nested_moments_leave_the_outer_variance_to_the_outer_factor():
    # an inner factor's groups share their outer group's effect: counted as the outer
    # factor's, the inner SD starts near its own value (0.3; 0.37 here, where taking
    # each factor alone gives 0.76, the two together)
    df = _nested_counts(1, 0.6, 0.3)
    m = smg.mixedglm("y ~ x + (1 | a) + (1 | a:b)", df, family=sm.families.Poisson())
    p, k = m.k_fe, m.k_re
    sd = m.cov_struct.sd_corr(m._start_internal()[p:p + k])[0] * m.cov_struct.row_scale
    assert sd[0] == pytest.approx(0.6, abs=0.15)
    assert sd[1] == pytest.approx(0.3, abs=0.1)


@pytest.mark.parametrize("kind", ["poisson", "binary"])
def test_nested_fit_from_the_moments_reaches_the_unit_starts_optimum(kind):
    df = _nested_counts(2, 0.5, 0.4)
    fam = sm.families.Poisson()
    if kind == "binary":
        df["y"] = (df["y"] > 1).astype(float)
        fam = sm.families.Binomial()
    _same_optimum_from_the_moment_and_unit_starts(
        smg.mixedglm("y ~ x + (1 | a) + (1 | a:b)", df, family=fam))
