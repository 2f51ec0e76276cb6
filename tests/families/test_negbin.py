"""Negative binomial responses: exact log-densities, derivatives, glmmTMB fits, edge cases."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.families import NegativeBinomial, as_response
from statsmodels_glmm.families.negbin import _digamma_diff, _lgamma_diff

from conftest import load_dataset, load_ref, match_fixed

SIM_FORMULA = "y ~ time * group + stress + (1 + time | id)"


def _data(n=80, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.negative_binomial(2, 0.4, size=n).astype(float)
    eta = rng.normal(0.5, 1.0, size=n)
    return y, eta


def _scipy_logpmf(p, y, eta, alpha):
    mu = np.exp(eta)
    if p == 2:
        return stats.nbinom.logpmf(y, 1 / alpha, 1 / (1 + alpha * mu))
    return stats.nbinom.logpmf(y, mu / alpha, 1 / (1 + alpha))


# ---------------------------------------------------------------- densities
@pytest.mark.parametrize("p", [2, 1])
@pytest.mark.parametrize("alpha", [0.05, 0.4, 3.0])
def test_logpmf_matches_scipy(p, alpha):
    y, eta = _data()
    d0 = NegativeBinomial(p=p).derivs(y, eta, np.log([alpha]))[0]
    np.testing.assert_allclose(d0, _scipy_logpmf(p, y, eta, alpha), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("p", [2, 1])
@pytest.mark.parametrize("alpha", [0.05, 0.4, 3.0])
def test_deviance_residuals_match_scipy_logpmf(p, alpha):
    y, eta = _data()
    y = np.r_[y, 0.0, 0.0, 0.0, 25.0]           # zero counts at very small and large means
    eta = np.r_[eta, -30.0, 4.0, 0.0, 1.0]
    assert np.count_nonzero(y == 0) >= 10
    mu = np.exp(eta)
    # saturated term log f(y | mu = y); for y = 0 its limit as mu -> 0 is log 1 = 0
    pos = y > 0
    sat = np.zeros_like(y)
    sat[pos] = _scipy_logpmf(p, y[pos], np.log(y[pos]), alpha)
    t = sat - _scipy_logpmf(p, y, eta, alpha)
    # NB2's likelihood is largest at mu = y, NB1's need not be: there a negative t gives 0
    if p == 2:
        assert np.all(t > -1e-12)
    expected = np.sign(y - mu) * np.sqrt(2 * np.maximum(t, 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        r = NegativeBinomial(p=p).deviance_resid(y, eta, np.log([alpha]))
    np.testing.assert_allclose(r, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("p", [2, 1])
@pytest.mark.parametrize("alpha", [0.05, 0.4, 3.0])
def test_eta_derivatives_match_finite_differences(p, alpha):
    y, eta = _data(seed=1)
    fam, ex, h = NegativeBinomial(p=p), np.log([alpha]), 1e-5
    d = fam.derivs(y, eta, ex)
    up, dn = fam.derivs(y, eta + h, ex), fam.derivs(y, eta - h, ex)
    for k in range(3):
        np.testing.assert_allclose(d[k + 1], (up[k] - dn[k]) / (2 * h), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("p", [2, 1])
@pytest.mark.parametrize("alpha", [0.05, 0.4, 3.0])
def test_log_alpha_derivatives_match_finite_differences(p, alpha):
    y, eta = _data(seed=2)
    fam, ex, h = NegativeBinomial(p=p), np.log([alpha]), 1e-5
    e = fam.extra_derivs(y, eta, ex)
    up, dn = fam.derivs(y, eta, ex + h), fam.derivs(y, eta, ex - h)
    for k in range(3):
        np.testing.assert_allclose(e[k][:, 0], (up[k] - dn[k]) / (2 * h), rtol=1e-6, atol=1e-7)


def test_large_theta_series_against_mpmath():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    y = np.array([0.0, 1.0, 7.0, 60.0, 400.0])
    for t in (2e4, 1e6, 1e9):
        ref = [float(mpmath.loggamma(mpmath.mpf(v) + t) - mpmath.loggamma(t)) for v in y]
        np.testing.assert_allclose(_lgamma_diff(y, np.full(5, t)), ref, rtol=1e-14, atol=1e-9)
        for order in range(3):
            ref = [float(mpmath.polygamma(order, mpmath.mpf(v) + t) - mpmath.polygamma(order, t))
                   for v in y]
            np.testing.assert_allclose(_digamma_diff(y, np.full(5, t), order), ref,
                                       rtol=1e-10, atol=0)


def test_tiny_alpha_approaches_poisson():
    y, eta = _data(seed=3)
    pois = stats.poisson.logpmf(y, np.exp(eta))
    for p in (2, 1):
        d0 = NegativeBinomial(p=p).derivs(y, eta, np.log([1e-8]))[0]
        np.testing.assert_allclose(d0, pois, atol=1e-5)


# ------------------------------------------------------------ glmmTMB fits
def _check_against_tmb(res, ref, fe_tol=2e-3, se_rtol=0.02):
    assert res.converged
    assert res.llf > ref["logLik"] - 1e-3
    m = match_fixed(res, ref)
    np.testing.assert_allclose(m["est"], m["estimate"], atol=fe_tol)
    np.testing.assert_allclose(m["se"], m["se_r"], rtol=se_rtol)
    alpha_ref = 1 / ref["dispersion"]["nb_theta"]
    np.testing.assert_allclose(res.params["alpha"], alpha_ref, rtol=0.01)


@pytest.fixture(scope="module")
def epil_ri():
    df = load_dataset("epil")
    return smg.mixedglm("y ~ lbase * trt + lage + V4 + (1 | subject)", df,
                        family=NegativeBinomial()).fit()


def test_epil_nb2_random_intercept_matches_glmmtmb(epil_ri):
    ref = load_ref("epil__tmb_nbinom2_ri")
    _check_against_tmb(epil_ri, ref)
    assert abs(epil_ri.llf - ref["logLik"]) < 1e-3
    np.testing.assert_allclose(epil_ri.cov_re.iloc[0, 0], ref["random_effects"][0]["var"][0],
                               rtol=0.01)
    # SE of log(alpha) = SE of log(theta) (glmmTMB reports log sigma = log theta)
    i = list(epil_ri.model.param_names).index("alpha")
    cov = np.asarray(epil_ri.normalized_cov_params)
    se_log_alpha = np.sqrt(cov[i, i]) / epil_ri.params["alpha"]
    np.testing.assert_allclose(se_log_alpha, ref["dispersion"]["log_sigma_se"], rtol=0.02)


def test_epil_nb2_theta_in_summary(epil_ri):
    ref = load_ref("epil__tmb_nbinom2_ri")
    tab = epil_ri.model.response.summary_table(epil_ri)
    np.testing.assert_allclose(tab.loc["theta = 1/alpha", "Estimate"],
                               ref["dispersion"]["nb_theta"], rtol=0.01)
    assert "theta = 1/alpha" in str(epil_ri.summary())


def test_epil_nb2_random_slope_boundary_fit_matches_glmmtmb():
    # glmmTMB: singular convergence, slope SD ~ 0.007 with corr -1: compare llf first
    ref = load_ref("epil__tmb_nbinom2_rs")
    df = load_dataset("epil")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm("y ~ lbase * trt + lage + Visit + (Visit | subject)", df,
                           family=NegativeBinomial()).fit()
    assert res.llf > ref["logLik"] - 1e-3
    m = match_fixed(res, ref)
    np.testing.assert_allclose(m["est"], m["estimate"], atol=2e-3)
    np.testing.assert_allclose(m["se"], m["se_r"], rtol=0.02)
    np.testing.assert_allclose(res.params["alpha"], 1 / ref["dispersion"]["nb_theta"], rtol=0.01)
    np.testing.assert_allclose(res.cov_re.iloc[0, 0], ref["random_effects"][0]["var"][0],
                               rtol=0.02)


def test_sim_negbin_small_matches_glmmtmb():
    ref = load_ref("sim_negbin_small__tmb_nbinom2_rs")
    res = smg.mixedglm(SIM_FORMULA, load_dataset("sim_negbin_small"),
                       family=NegativeBinomial()).fit()
    _check_against_tmb(res, ref)
    np.testing.assert_allclose(res.cov_re.to_numpy(), ref["random_effects"][0]["cov"],
                               rtol=0.01, atol=1e-3)


def test_sim_negbin_large_matches_glmmtmb():
    ref = load_ref("sim_negbin_large__tmb_nbinom2_rs")
    res = smg.mixedglm(SIM_FORMULA, load_dataset("sim_negbin_large"),
                       family=NegativeBinomial()).fit()
    _check_against_tmb(res, ref)


def test_glmer_nb_optimum_is_lower_under_exact_laplace(epil_ri):
    # glmer.nb's estimates (expected-information weights) give a lower exact-Laplace llf
    ref = load_ref("epil__glmernb_ri")
    m = epil_ri.model
    fe = {r["term"]: r["estimate"] for r in ref["fixed_effects"]}
    from conftest import r_name

    beta = [fe[r_name(n)] for n in m.exog_names]
    params = np.r_[beta, ref["random_effects"][0]["var"][0], 1 / ref["dispersion"]["nb_theta"]]
    assert m.loglike(params) < epil_ri.llf - 1e-3


# ---------------------------------------------------- families and edge cases
def test_statsmodels_negative_binomial_maps_to_estimated_alpha():
    fam = as_response(sm.families.NegativeBinomial(alpha=0.7))
    assert isinstance(fam, NegativeBinomial) and fam.p == 2 and fam.alpha_start == 0.7
    df = load_dataset("epil")
    res = smg.mixedglm("y ~ lbase * trt + lage + V4 + (1 | subject)", df,
                       family=sm.families.NegativeBinomial(alpha=1.0)).fit()
    ref = load_ref("epil__tmb_nbinom2_ri")
    np.testing.assert_allclose(res.params["alpha"], 1 / ref["dispersion"]["nb_theta"], rtol=0.01)


def test_nb1_fit_runs_and_variance_is_linear():
    df = load_dataset("sim_negbin_small")
    res = smg.mixedglm("y ~ time + (1 | id)", df, family=NegativeBinomial(p=1)).fit()
    assert res.converged and res.params["alpha"] > 0
    mu = np.array([1.0, 2.0, 4.0])
    a = res.params["alpha"]
    np.testing.assert_allclose(res.model.response.variance(mu, np.log([a])), mu * (1 + a))


def test_no_overdispersion_ends_at_alpha_bound_with_note():
    rng = np.random.default_rng(5)
    n = 300
    df = pd.DataFrame({"y": rng.binomial(6, 0.4, size=n), "x": rng.normal(size=n),
                       "g": np.repeat(np.arange(60), 5)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm("y ~ x + (1 | g)", df, family=NegativeBinomial()).fit()
        pois = smg.mixedglm("y ~ x + (1 | g)", df, family=sm.families.Poisson()).fit()
    assert res.params["alpha"] < 1e-6
    # NB2 with alpha -> 0 is the Poisson model
    assert abs(res.llf - pois.llf) < 1e-4
    assert any("Poisson" in n for n in res._notes())
    assert "Poisson" in str(res.summary())


def test_prob_predictions_match_scipy(epil_ri):
    pr = epil_ri.predict(which="prob")
    mu = epil_ri.predict(which="mean").to_numpy()
    a = epil_ri.params["alpha"]
    k = pr.shape[1]
    assert k == int(load_dataset("epil")["y"].max()) + 1
    ref = stats.nbinom.pmf(np.arange(k)[None, :], 1 / a, 1 / (1 + a * mu[:, None]))
    np.testing.assert_allclose(pr.to_numpy(), ref, rtol=1e-10)
    np.testing.assert_allclose(epil_ri.predict(which="prob-zero"), ref[:, 0], rtol=1e-10)


@pytest.mark.parametrize("values, word", [([1, -1, 2, 3], "negative"),
                                          ([1, 0.5, 2, 3], "non-integer"),
                                          ([0, 0, 0, 0], "zero in every row")])
def test_bad_counts(values, word):
    df = pd.DataFrame({"y": values * 5, "x": np.arange(20.0), "g": np.repeat([1, 2, 3, 4], 5)})
    with pytest.raises(ValueError, match=word):
        smg.mixedglm("y ~ x + (1 | g)", df, family=NegativeBinomial())


def test_bad_family_arguments():
    with pytest.raises(ValueError, match="p must be"):
        NegativeBinomial(p=3)
    with pytest.raises(ValueError, match="link"):
        NegativeBinomial(link="identity")
    with pytest.raises(ValueError, match="alpha"):
        NegativeBinomial(alpha=-1.0)


def test_nb1_polygamma_differences_as_finite_sums_match_mpmath():
    mp = pytest.importorskip("mpmath")

    from statsmodels_glmm.families.negbin import _nb1_plan, _nb1_sums

    y = np.array([0.0, 1, 2, 5, 17, 40, 3, 39])
    r = np.array([1e-8, 0.3, 2.0, 7.5, 0.01, 19.0, 1e-3, 1e-300])
    plan = _nb1_plan(y)
    got = [np.empty(len(y)) for _ in range(4)]
    lg_rows, vs = _nb1_sums(r, plan, 3)
    for k, v in enumerate(vs):
        got[k][plan[1]] = v
    lg = np.empty(len(y))
    lg[plan[1]] = lg_rows
    with mp.workdps(60):
        for i in range(len(y)):
            ri = mp.mpf(r[i])
            ref = float(mp.loggamma(mp.mpf(y[i]) + ri) - mp.loggamma(ri))
            assert lg[i] == pytest.approx(ref, rel=1e-14, abs=1e-300 if ref else 0)
            for k in range(4):
                ri = mp.mpf(r[i])
                ref = float(ri ** (k + 1) * (mp.polygamma(k, mp.mpf(y[i]) + ri)
                                             - mp.polygamma(k, ri)))
                assert got[k][i] == pytest.approx(ref, rel=1e-13, abs=0 if ref else 1e-300)


@pytest.mark.parametrize("terms", ["bincount", "slices"])
def test_nb1_sums_equal_a_row_by_row_loop_exactly(terms, monkeypatch):
    from statsmodels_glmm.families import negbin

    if terms == "slices":
        monkeypatch.setattr(negbin, "_SUM_TERMS", 0)
    rng = np.random.default_rng(7)
    y = np.concatenate([rng.integers(0, 45, 300).astype(float), [2.5, 0.0, 40.0, 41.0]])
    r = np.exp(rng.uniform(-8, 4, len(y)))
    plan = negbin._nb1_plan(y)
    whole, rows, above = plan[:3]
    assert (above is None) == (terms == "bincount")
    assert whole.tolist() == [v <= 40 and v == int(v) for v in y]
    assert sorted(rows.tolist()) == np.flatnonzero(whole).tolist()
    lg, got = negbin._nb1_sums(r, plan, 3)
    for pos, i in enumerate(rows.tolist()):
        acc = [0.0] * 4
        logs = np.log(r[i] + np.arange(int(y[i])))
        for j in range(int(y[i])):
            q = r[i] / (r[i] + j)
            p = q
            for k in range(4):
                acc[k] += p
                p = p * q
        # the same operations in the same order: equal to the last bit
        assert [got[k][pos] for k in range(4)] == [
            (-1) ** k * math.factorial(k) * acc[k] for k in range(4)]
        # rounding of the sum only: a few units in the last place of its terms
        assert abs(lg[pos] - math.fsum(logs)) <= 1e-15 * np.abs(logs).sum()
        if y[i] == 0:
            assert lg[pos] == 0.0 and all(got[k][pos] == 0.0 for k in range(4))


def test_nb1_sums_by_bincount_and_by_slices_are_the_same(monkeypatch):
    from statsmodels_glmm.families import negbin

    rng = np.random.default_rng(11)
    y = rng.negative_binomial(2, 0.2, 2000).astype(float)
    r = np.exp(rng.uniform(-5, 3, len(y)))
    a = negbin._nb1_terms(y, r, np.log1p(0.4), 3)
    monkeypatch.setattr(negbin, "_SUM_TERMS", 0)
    b = negbin._nb1_terms(y, r, np.log1p(0.4), 3)
    assert np.array_equal(a[0], b[0])
    for u, v in zip(a[1], b[1]):
        assert np.array_equal(u, v)


def test_nb1_family_keeps_the_rows_plan_of_its_response():
    fam = NegativeBinomial(p=1)
    y = np.array([0.0, 3.0, 1.0, 7.0])
    eta, ex = np.array([0.1, 0.5, -0.2, 1.0]), np.log([0.6])
    first = fam.derivs(y, eta, ex)
    assert fam._nb1_plan(y) is fam._nb1_plan(y)
    y2 = y.copy()
    y2[3] = 2.0
    again = fam.derivs(y2, eta, ex)  # another response: another plan
    assert fam._nb1_plan(y2)[1].tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(again[1][:3], first[1][:3])
    assert again[1][3] != first[1][3]
    assert "_nb1_rows" not in fam.__getstate__()


def test_nb1_terms_agree_across_the_finite_sum_and_polygamma_rows():
    from statsmodels_glmm.families import negbin

    rng = np.random.default_rng(4)
    y = rng.integers(0, 80, 500).astype(float)
    r = np.exp(rng.uniform(-6, np.log(19.0), 500))
    summed = negbin._nb1_terms(y, r, np.log1p(0.7), 3)
    old = negbin._SUM_Y
    try:
        negbin._SUM_Y = -1  # every row through the polygamma differences
        direct = negbin._nb1_terms(y, r, np.log1p(0.7), 3)
    finally:
        negbin._SUM_Y = old
    np.testing.assert_allclose(summed[0], direct[0], rtol=1e-12)
    for a, b in zip(summed[1], direct[1]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_nb2_digamma_differences_are_kept_for_one_response_and_dispersion():
    fam = NegativeBinomial()
    y = np.array([0.0, 2.0, 5.0, 1.0])
    eta, ex = np.array([0.2, -0.1, 0.7, 0.0]), np.log([0.5])
    first = fam.extra_derivs(y, eta, ex)
    kept = fam.__dict__["_nb2_psi"]
    assert kept[0] is y and kept[1] == 2.0
    np.testing.assert_array_equal(kept[2], _digamma_diff(y, 2.0))
    again = fam.extra_derivs(y, eta + 0.3, ex)  # the nodes of one evaluation: same psi
    assert fam.__dict__["_nb2_psi"] is kept
    other = fam.extra_derivs(y, eta + 0.3, np.log([0.25]))  # a new dispersion: computed anew
    assert fam.__dict__["_nb2_psi"][1] == 4.0
    fresh = NegativeBinomial().extra_derivs(y, eta + 0.3, np.log([0.25]))
    for a, b in zip(other, fresh):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], again[0])
    assert "_nb2_psi" not in fam.__getstate__()
