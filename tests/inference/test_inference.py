"""Likelihood-ratio tests, Wald intervals with positive variances, convergence report."""

import copy
import pickle
import warnings

import numpy as np
import pytest
from scipy import stats
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.inference.bootstrap import refit, simulate_responses
from statsmodels_glmm.families import NegativeBinomial
from statsmodels_glmm.inference.mixin import _log_scale_interval

from conftest import load_dataset

P = sm.families.Poisson()


@pytest.fixture(scope="module")
def pois():
    df = load_dataset("sim_poisson_small")
    fits = {}
    for key, f in (("rs", "y ~ time + group + (1 + time | id)"),
                   ("diag", "y ~ time + group + (1 + time || id)"),
                   ("ri", "y ~ time + group + (1 | id)"),
                   ("ri_small", "y ~ time + (1 | id)")):
        fits[key] = smg.mixedglm(f, df, family=P).fit()
    return df, fits


def _chibar(x, df):
    """Direct 50:50 chi-bar-square tail, chi2(0) a point mass at zero."""
    low = (1.0 if x <= 0 else 0.0) if df - 1 == 0 else stats.chi2.sf(x, df - 1)
    return 0.5 * low + 0.5 * stats.chi2.sf(x, df)


def test_lr_fixed_effect_is_plain_chi2(pois):
    _, f = pois
    stat, p, ddf = f["ri"].compare_lr_test(f["ri_small"])
    assert stat == pytest.approx(2 * (f["ri"].llf - f["ri_small"].llf), abs=1e-12)
    assert ddf == 1
    assert p == pytest.approx(stats.chi2.sf(stat, 1), rel=1e-12)
    assert f["ri"].compare_lr_test(f["ri_small"]).rule == "chi2"


def test_lr_correlated_random_slope_chibar_1_2(pois):
    _, f = pois
    out = f["rs"].compare_lr_test(f["ri"])
    stat, p, ddf = out
    assert stat == pytest.approx(2 * (f["rs"].llf - f["ri"].llf), abs=1e-12)
    assert ddf == 2
    assert p == pytest.approx(0.5 * stats.chi2.sf(stat, 1) + 0.5 * stats.chi2.sf(stat, 2),
                              rel=1e-12)
    assert out.reference == "0.5 chi2(1) + 0.5 chi2(2)"
    assert out.rule == "chibar"
    assert sorted(out.boundary) == ["id time Var"]
    assert out.chi2_pvalue == pytest.approx(stats.chi2.sf(stat, 2))
    assert out.pvalue < out.chi2_pvalue


def test_lr_uncorrelated_slope_chibar_0_1(pois):
    _, f = pois
    stat, p, ddf = f["diag"].compare_lr_test(f["ri"])
    assert ddf == 1
    assert stat > 0
    assert p == pytest.approx(_chibar(stat, 1), rel=1e-12)
    assert p == pytest.approx(0.5 * stats.chi2.sf(stat, 1), rel=1e-12)
    # dropping only the covariance: a regular parameter
    stat2, p2, ddf2 = f["rs"].compare_lr_test(f["diag"])
    assert ddf2 == 1 and p2 == pytest.approx(stats.chi2.sf(stat2, 1))


def test_lr_several_variances_conservative(pois):
    df, f = pois
    big = smg.mixedglm("y ~ time + group + (1 + time + stress || id)", df, family=P).fit()
    with pytest.warns(UserWarning, match="conservative"):
        out = big.compare_lr_test(f["ri"])
    assert out.rule == "chi2-conservative" and out.df_diff == 2
    assert out.pvalue == pytest.approx(stats.chi2.sf(out.statistic, 2))


def test_lr_tuple_interface_and_pickle(pois):
    _, f = pois
    out = f["rs"].compare_lr_test(f["ri"])
    assert isinstance(out, tuple) and len(out) == 3
    back = pickle.loads(pickle.dumps(out))
    assert tuple(back) == tuple(out) and back.note == out.note


def test_lr_refuses_non_nested(pois):
    df, f = pois
    with pytest.raises(ValueError, match="fewer"):
        f["ri"].compare_lr_test(f["rs"])
    sub = smg.mixedglm("y ~ time + (1 | id)", df.iloc[:-20], family=P).fit()
    with pytest.raises(ValueError, match="different data"):
        f["ri"].compare_lr_test(sub)
    other = df.assign(y2=df["y"][::-1].to_numpy())
    r_other = smg.mixedglm("y2 ~ time + (1 | id)", other, family=P).fit()
    with pytest.raises(ValueError, match="response"):
        f["ri"].compare_lr_test(r_other)
    binary = df.assign(y=(df["y"] > 0).astype(float))
    rb = smg.mixedglm("y ~ time + (1 | id)", binary, family=sm.families.Binomial()).fit()
    rp = smg.mixedglm("y ~ time + group + (1 | id)", binary, family=P).fit()
    with pytest.raises(ValueError, match="famil"):
        rp.compare_lr_test(rb)
    with pytest.raises(ValueError, match="nagq"):
        f["ri"].compare_lr_test(smg.mixedglm("y ~ time + (1 | id)", df, family=P).fit(nagq=3))
    with pytest.raises(ValueError, match="method"):
        f["ri"].compare_lr_test(f["ri_small"], method="score")


def test_lr_poisson_inside_negative_binomial():
    df = load_dataset("epil")
    f = "y ~ lbase * trt + lage + V4 + (1 | subject)"
    pois = smg.mixedglm(f, df, family=P).fit()
    nb = smg.mixedglm(f, df, family=NegativeBinomial()).fit()
    out = nb.compare_lr_test(pois)
    assert out.statistic == pytest.approx(2 * (nb.llf - pois.llf))
    assert out.reference == "0.5 chi2(0) + 0.5 chi2(1)"
    assert out.pvalue == pytest.approx(_chibar(out.statistic, 1), rel=1e-12)


def test_lr_bootstrap_pvalue_definition():
    df = load_dataset("sim_poisson_small").query("id <= 60")
    full = smg.mixedglm("y ~ time + group + (1 + time || id)", df, family=P).fit()
    small = smg.mixedglm("y ~ time + group + (1 | id)", df, family=P).fit()
    out = full.compare_lr_test(small, method="bootstrap", n=9, seed=11)
    lr = out.bootstrap["lr"]
    ok = lr[np.isfinite(lr)]
    assert out.bootstrap["n_failed"] == 9 - len(ok)
    assert out.pvalue == pytest.approx((1 + np.sum(ok >= out.statistic - 1e-8))
                                       / (len(ok) + 1))
    assert out.statistic == pytest.approx(2 * (full.llf - small.llf))
    # replicate 3 by hand: simulate from the restricted fit, refit both models
    y = simulate_responses(small, 9, seed=11)[3]
    rf = refit(full.model, y, start_params=full.params)
    rs = refit(small.model, y, start_params=small.params)
    assert lr[3] == pytest.approx(max(2 * (rf.llf - rs.llf), 0.0), abs=1e-8)
    again = full.compare_lr_test(small, method="bootstrap", n=9, seed=11)
    np.testing.assert_array_equal(again.bootstrap["lr"], lr)


# ------------------------------------------------------------------ Wald
def test_wald_fixed_effects_are_parent_intervals(pois):
    _, f = pois
    res = f["rs"]
    ci = res.conf_int()
    z = stats.norm.ppf(0.975)
    b, se = res.fe_params, res.bse_fe
    np.testing.assert_allclose(ci.loc[b.index, 0], b - z * se, rtol=1e-12)
    np.testing.assert_allclose(ci.loc[b.index, 1], b + z * se, rtol=1e-12)
    assert list(ci.columns) == [0, 1]


def test_wald_variance_on_log_sd_scale(pois):
    _, f = pois
    res = f["rs"]
    ci = res.conf_int(alpha=0.1)
    z = stats.norm.ppf(0.95)
    for name in ("id Intercept Var", "id time Var"):
        v, se = res.params[name], res.bse[name]
        sd, se_sd = np.sqrt(v), se / (2 * np.sqrt(v))           # delta method for the SD
        lo = np.exp(np.log(sd) - z * se_sd / sd) ** 2
        hi = np.exp(np.log(sd) + z * se_sd / sd) ** 2
        np.testing.assert_allclose(ci.loc[name], [lo, hi], rtol=1e-10)
        assert ci.loc[name, 0] > 0
    # the covariance: Fisher z of the correlation by the delta method, times the SDs
    V = res.cov_params().loc[["id Intercept Var", "id Intercept x time Cov", "id time Var"],
                             ["id Intercept Var", "id Intercept x time Cov", "id time Var"]]
    va, c, vb = res.params[["id Intercept Var", "id Intercept x time Cov", "id time Var"]]
    r = c / np.sqrt(va * vb)
    eps = 1e-6
    grad = []
    for k in range(3):
        pt = np.array([va, c, vb], dtype=float)
        pt[k] += eps
        rp = pt[1] / np.sqrt(pt[0] * pt[2])
        pt[k] -= 2 * eps
        rm = pt[1] / np.sqrt(pt[0] * pt[2])
        grad.append((rp - rm) / (2 * eps))
    grad = np.array(grad)
    se_r = np.sqrt(grad @ V.to_numpy() @ grad)
    lim = np.tanh(np.arctanh(r) + np.array([-1, 1]) * z * se_r / (1 - r * r)) * np.sqrt(va * vb)
    np.testing.assert_allclose(ci.loc["id Intercept x time Cov"], lim, rtol=1e-6)


def test_wald_variance_positive_where_naive_is_negative():
    df = smg.simulate_longitudinal("poisson", n_persons=40, sd=(0.15, 0.0), seed=2)
    res = smg.mixedglm("y ~ time + (1 | id)", df, family=P).fit()
    v, se = res.params["id Intercept Var"], res.bse["id Intercept Var"]
    assert v - 1.96 * se < 0                     # the symmetric interval would cross zero
    lo, hi = res.conf_int().loc["id Intercept Var"]
    assert 0 < lo < v < hi


def test_wald_negative_binomial_alpha_log_scale():
    df = load_dataset("epil")
    res = smg.mixedglm("y ~ lbase + trt + (1 | subject)", df, family=NegativeBinomial()).fit()
    a, se = res.params["alpha"], res.bse["alpha"]
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(res.conf_int().loc["alpha"],
                               [a * np.exp(-z * se / a), a * np.exp(z * se / a)], rtol=1e-10)


def test_conf_int_cols_and_bad_arguments(pois):
    _, f = pois
    res = f["ri"]
    sub = res._results.conf_int(cols=["time", 0])
    assert list(sub.index) == ["time", "Intercept"]
    with pytest.raises(ValueError, match="cols"):
        res.conf_int(cols=["nope"])
    with pytest.raises(ValueError, match="method"):
        res.conf_int(method="exact")
    with pytest.raises(ValueError, match="alpha"):
        res.conf_int(alpha=1.5)


# ------------------------------------------------------------ convergence
def test_convergence_report_numbers(pois):
    _, f = pois
    res = f["rs"]
    rep = res.convergence_report()
    assert rep.converged
    np.testing.assert_allclose(rep.gradient["internal"], res.mle_retvals["gradient"])
    # the public gradient is the model's score at the estimates
    np.testing.assert_allclose(rep.gradient["public"], res.model.score(res.params),
                               atol=1e-8)
    assert np.all(rep.hessian_eigenvalues < 0)
    H = res.mle_retvals["hessian"]
    np.testing.assert_allclose(np.sort(rep.hessian_eigenvalues), np.linalg.eigvalsh(H),
                               rtol=1e-10)
    assert rep.advice == [] and rep.boundary == []
    assert "Hessian eigenvalues" in str(rep)


def test_convergence_report_names_badly_scaled_predictor():
    df = smg.simulate_longitudinal("poisson", n_persons=80, sd=(0.5, 0.0), seed=4)
    df["stress_mg"] = df["stress"] * 1e4 + 5e5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm("y ~ time + stress_mg + (1 | id)", df, family=P).fit()
    rep = res.convergence_report()
    scale = [a for a in rep.advice if a.startswith("centre")]
    assert len(scale) == 1 and "'stress_mg'" in scale[0]
    assert rep.condition_number == pytest.approx(
        np.max(np.abs(rep.hessian_eigenvalues)) / np.min(np.abs(rep.hessian_eigenvalues)))


def test_convergence_report_names_degenerate_random_slope():
    df = smg.simulate_longitudinal("poisson", n_persons=60, sd=(0.5, 0.0), seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm("y ~ time + (1 + time | id)", df, family=P).fit()
    assert res.is_singular and abs(res.re_corr.iloc[0, 1]) > 0.999
    rep = res.convergence_report()
    assert rep.boundary == ["id Intercept x time Corr = -1.000"]
    assert any("'Intercept' and 'time'" in a and "(1 + time || id)" in a for a in rep.advice)
    # the variance itself is not zero: no advice to drop it as a zero variance
    assert not any("is zero" in a for a in rep.advice)


def test_lr_dropping_a_whole_crossed_factor():
    df = load_dataset("sim_crossed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = smg.mixedglm("y ~ x + (1 | subj) + (1 | item)", df, family=P).fit()
        item = smg.mixedglm("y ~ x + (1 | item)", df, family=P).fit()
    out = full.compare_lr_test(item)
    assert out.boundary == ["subj Intercept Var"] and out.df_diff == 1
    assert out.statistic == pytest.approx(2 * (full.llf - item.llf))
    assert out.pvalue == pytest.approx(_chibar(out.statistic, 1))
    tab = smg.compare(item, full)
    assert tab.iloc[1]["Reference"] == "0.5 chi2(0) + 0.5 chi2(1)"


def test_convergence_report_names_zero_variance():
    df = smg.simulate_longitudinal("poisson", n_persons=60, sd=(0.5, 0.0), seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm("y ~ time + (1 + time || id)", df, family=P).fit()
    assert res.params["id time Var"] == 0.0
    rep = res.convergence_report()
    assert rep.boundary == ["id time Var"]
    assert len(rep.advice) == 1 and "'time' of 'id' is zero" in rep.advice[0]
    assert "(1 | id)" in rep.advice[0]
    # no Wald interval on the boundary; the profile's lower SD limit is 0
    assert res.conf_int().loc["id time Var"].isna().all()
    lo, hi = res.profile(["id time SD"]).conf_int().loc["id time SD"]
    assert lo == 0.0 and hi > 0


def test_wald_interval_of_variance_within_rounding_of_zero_is_nan(pois):
    _, f = pois
    res = copy.copy(f["ri_small"]._results)
    j = list(res.model.param_names).index("id Intercept Var")
    res.params = res.params.copy()
    res.params[j] = 2.3e-11
    res.normalized_cov_params = res.normalized_cov_params.copy()
    res.normalized_cov_params[j, j] = 6e-6 ** 2        # z * se / v about 5e5: exp overflows
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        ci = res.conf_int()
    assert ci.loc["id Intercept Var"].isna().all()
    np.testing.assert_array_equal(ci.loc[["Intercept", "time"]],
                                  f["ri_small"].conf_int().loc[["Intercept", "time"]])


def test_log_scale_interval_limits_and_boundary():
    z = stats.norm.ppf(0.975)
    lo, hi = _log_scale_interval(0.5, 0.04, z)
    np.testing.assert_allclose([lo, hi], [0.5 * np.exp(-z * 0.2 / 0.5),
                                          0.5 * np.exp(z * 0.2 / 0.5)], rtol=1e-15)
    assert np.sqrt(lo * hi) == pytest.approx(0.5, rel=1e-15)   # symmetric on the log scale
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for value, var in ((7.3e-8, 2.4e-4 ** 2), (2.3e-11, 6e-6 ** 2), (1e-320, 1.0),
                           (0.0, 1.0), (0.5, np.nan), (0.5, -1.0)):
            assert np.isnan(_log_scale_interval(value, var, z)).all(), value
