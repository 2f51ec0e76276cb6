"""Nakagawa R-squared and ICC: identities by hand, an independent Gaussian fit, R's performance."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import special
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

import statsmodels_glmm.api as smg
from conftest import load_dataset, load_ref

TOENAIL = "outcome_bin ~ treatment * time + (1 | patientID)"
EPIL = "y ~ lbase * trt + lage + V4 + (1 | subject)"


@pytest.fixture(scope="module")
def toenail_fit():
    df = load_dataset("toenail")
    return df, smg.mixedglm(TOENAIL, df, family=sm.families.Binomial()).fit()


@pytest.fixture(scope="module")
def epil_fit():
    df = load_dataset("epil")
    res = smg.mixedglm(EPIL, df, family=sm.families.Poisson()).fit()
    null = smg.mixedglm("y ~ 1 + (1 | subject)", df, family=sm.families.Poisson()).fit()
    return df, res, null


def _by_hand(var_f, var_r, var_e):
    tot = var_f + var_r + var_e
    return {"r2_marginal": var_f / tot, "r2_conditional": (var_f + var_r) / tot,
            "icc_adjusted": var_r / (var_r + var_e), "icc_unadjusted": var_r / tot}


def _check(res, expected, **kw):
    r2, ic = res.r2(**kw), res.icc(**kw)
    for k in ("r2_marginal", "r2_conditional"):
        assert r2[k] == pytest.approx(expected[k], rel=1e-10)
    for k in ("icc_adjusted", "icc_unadjusted"):
        assert ic[k] == pytest.approx(expected[k], rel=1e-10)


# ------------------------------------------------------------ identities
def test_logit_identity_by_hand(toenail_fit):
    df, res = toenail_fit
    # fixed-effects variance from the data columns, not from the design
    b = res.fe_params
    terb = (df["treatment"] == "terbinafine").to_numpy(float)
    xb = (b["Intercept"] + b["treatment[T.terbinafine]"] * terb + b["time"] * df["time"]
          + b["treatment[T.terbinafine]:time"] * terb * df["time"])
    var_f = float(np.var(xb, ddof=1))
    var_r = float(res.cov_re.iloc[0, 0])
    vc = res.variance_components()
    assert vc["var_fixed"] == pytest.approx(var_f, rel=1e-12)
    assert vc["var_random"] == pytest.approx(var_r, rel=1e-12)
    assert vc["var_intercept"] == pytest.approx(var_r, rel=1e-12)
    assert vc["var_distribution"] == pytest.approx(np.pi ** 2 / 3, rel=1e-14)
    assert vc["var_residual"] == vc["var_distribution"] and vc["var_dispersion"] == 0
    _check(res, _by_hand(var_f, var_r, np.pi ** 2 / 3))


def test_poisson_identity_by_hand(epil_fit):
    df, res, null = epil_fit
    b = res.fe_params
    prog = (df["trt"] == "progabide").to_numpy(float)
    xb = (b["Intercept"] + b["lbase"] * df["lbase"] + b["trt[T.progabide]"] * prog
          + b["lage"] * df["lage"] + b["V4"] * df["V4"]
          + b["lbase:trt[T.progabide]"] * df["lbase"] * prog)
    var_f = float(np.var(xb, ddof=1))
    var_r = float(res.cov_re.iloc[0, 0])
    # null model fitted independently through the formula interface
    b0, s0 = float(null.fe_params["Intercept"]), float(null.cov_re.iloc[0, 0])
    lam = np.exp(b0 + s0 / 2)
    vc = res.variance_components()
    assert vc["lambda"] == pytest.approx(lam, rel=1e-5)
    assert vc["var_distribution"] == pytest.approx(np.log1p(1 / lam), rel=1e-5)
    _check(res, _by_hand(var_f, var_r, np.log1p(1 / lam)), null_model=null)
    _check(res, _by_hand(var_f, var_r, 1 / lam), null_model=null, approximation="delta")
    _check(res, _by_hand(var_f, var_r, special.polygamma(1, lam)), null_model=null,
           approximation="trigamma")
    _check(res, _by_hand(var_f, var_r, np.log1p(np.exp(-b0))), null_model=null,
           null_lambda="intercept")


def test_random_slopes_johnson(epil_fit):
    df = epil_fit[0]
    res = smg.mixedglm("y ~ lbase * trt + lage + Visit + (Visit | subject)", df,
                       family=sm.families.Poisson()).fit()
    G = res.cov_re.to_numpy()
    v = df["Visit"].to_numpy(float)
    # mean of z'Gz with z = (1, Visit): G00 + 2 G01 mean(v) + G11 mean(v^2)
    var_r = G[0, 0] + 2 * G[0, 1] * v.mean() + G[1, 1] * np.mean(v ** 2)
    vc = res.variance_components()
    assert vc["var_random"] == pytest.approx(var_r, rel=1e-12)
    assert vc["var_intercept"] == pytest.approx(G[0, 0], rel=1e-12)
    null = res._results.__dict__["_null_model_fit"] if hasattr(res, "_results") else \
        res.__dict__["_null_model_fit"]
    G0 = null.cov_re.to_numpy()
    s0 = G0[0, 0] + 2 * G0[0, 1] * v.mean() + G0[1, 1] * np.mean(v ** 2)
    lam = np.exp(float(null.fe_params["Intercept"]) + s0 / 2)
    assert vc["lambda"] == pytest.approx(lam, rel=1e-12)


@pytest.mark.parametrize("link, var_e", [("probit", 1.0), ("cloglog", np.pi ** 2 / 6)])
def test_binary_links(link, var_e):
    df = smg.simulate_longitudinal("binary", n_persons=150, seed=21)
    lk = {"probit": sm.families.links.Probit(), "cloglog": sm.families.links.CLogLog()}[link]
    res = smg.mixedglm("y ~ time + group + (1 | id)", df,
                       family=sm.families.Binomial(link=lk)).fit()
    var_f = float(np.var(res.fe_params["Intercept"] + res.fe_params["time"] * df["time"]
                         + res.fe_params["group"] * df["group"], ddof=1))
    _check(res, _by_hand(var_f, float(res.cov_re.iloc[0, 0]), var_e))


def test_binomial_trials_divides_by_mean_trials():
    df = load_dataset("cbpp")
    res = smg.mixedglm("incidence + non_incidence ~ period + (1 | herd)", df,
                       family=sm.families.Binomial()).fit()
    vc = res.variance_components()
    assert vc["var_distribution"] == pytest.approx(np.pi ** 2 / 3 / df["size"].mean(),
                                                   rel=1e-12)


def test_gaussian_against_statsmodels_mixedlm():
    df = smg.simulate_longitudinal("poisson", n_persons=120, seed=5).drop(columns="y")
    rng = np.random.default_rng(5)
    u = rng.normal(0, 0.9, df["id"].max() + 1)
    df["y"] = 0.5 + 0.4 * df["time"] + u[df["id"]] + rng.normal(0, 1.1, len(df))
    res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Gaussian()).fit()
    lm = smf.mixedlm("y ~ time", df, groups="id").fit(reml=False)
    var_f = float(np.var(lm.fe_params["Intercept"] + lm.fe_params["time"] * df["time"],
                         ddof=1))
    expected = _by_hand(var_f, float(lm.cov_re.iloc[0, 0]), float(lm.scale))
    r2, ic = res.r2(), res.icc()
    for k in ("r2_marginal", "r2_conditional"):
        assert r2[k] == pytest.approx(expected[k], rel=2e-4)
    for k in ("icc_adjusted", "icc_unadjusted"):
        assert ic[k] == pytest.approx(expected[k], rel=2e-4)


def test_negative_binomial_nb2_and_nb1_by_hand():
    df = load_dataset("epil")
    for p in (2, 1):
        fam = smg.families.NegativeBinomial(p=p)
        res = smg.mixedglm(EPIL, df, family=fam).fit()
        null = smg.mixedglm("y ~ 1 + (1 | subject)", df,
                            family=smg.families.NegativeBinomial(p=p)).fit()
        a0 = float(null.params["alpha"])
        lam = np.exp(float(null.fe_params["Intercept"]) + float(null.cov_re.iloc[0, 0]) / 2)
        cv2 = 1 / lam + a0 if p == 2 else (1 + a0) / lam
        vc = res.variance_components(null_model=null)
        assert vc["var_distribution"] == pytest.approx(np.log1p(cv2), rel=1e-12)
        # the automatic null model is the same fit
        assert res.variance_components()["var_distribution"] == pytest.approx(
            np.log1p(cv2), rel=1e-4)


def test_zero_inflated_poisson_by_hand():
    df = load_dataset("sim_zip_small")
    res = smg.mixedglm("y ~ time * group + stress + (1 | id)", df,
                       family=sm.families.Poisson(), zi_formula="~1").fit()
    null = smg.mixedglm("y ~ 1 + (1 | id)", df, family=sm.families.Poisson(),
                        zi_formula="~1").fit()
    p = float(special.expit(null.params["inflate_Intercept"]))
    lam = np.exp(float(null.fe_params["Intercept"]) + float(null.cov_re.iloc[0, 0]) / 2)
    # Var/E^2 of the zero-inflated Poisson: E = (1-p) lam, Var = (1-p) lam (1 + p lam)
    cv2 = (1 - p) * lam * (1 + p * lam) / ((1 - p) * lam) ** 2
    vc = res.variance_components(null_model=null)
    assert vc["zi_prob"] == pytest.approx(p, rel=1e-12)
    assert vc["var_distribution"] == pytest.approx(np.log1p(cv2), rel=1e-12)


def test_ordinal_latent_variance():
    df = load_dataset("sim_ordinal_small")
    res = smg.mixedglm("y ~ time * group + stress + (1 | id)", df,
                       family=smg.families.Ordinal()).fit()
    b = res.fe_params
    xb = (b["time"] * df["time"] + b["group"] * df["group"] + b["stress"] * df["stress"]
          + b["time:group"] * df["time"] * df["group"])
    _check(res, _by_hand(float(np.var(xb, ddof=1)), float(res.cov_re.iloc[0, 0]),
                         np.pi ** 2 / 3))


def test_bad_arguments(toenail_fit):
    _, res = toenail_fit
    with pytest.raises(ValueError, match="approximation"):
        res.r2(approximation="exact")
    with pytest.raises(ValueError, match="null_lambda"):
        res.icc(null_lambda="median")


# ----------------------------------------------------------- R's performance
def _r_values(ref):
    """performance/insight numbers at the exact Laplace optimum (tight PIRLS tolerance)."""
    return ref["tight_tolerance"]


def test_toenail_against_performance(toenail_fit):
    _, res = toenail_fit
    ref = _r_values(load_ref("toenail__performance_icc_r2"))
    gv = ref["get_variance"]
    vc = res.variance_components()
    assert vc["var_fixed"] == pytest.approx(gv["var.fixed"], rel=1e-4)
    assert vc["var_random"] == pytest.approx(gv["var.random"], rel=1e-4)
    assert vc["var_distribution"] == pytest.approx(gv["var.distribution"], rel=1e-12)
    assert vc["var_residual"] == pytest.approx(gv["var.residual"], rel=1e-12)
    assert vc["var_dispersion"] == gv["var.dispersion"]
    r2, ic = res.r2(), res.icc()
    assert r2["r2_marginal"] == pytest.approx(ref["r2_marginal"], abs=1e-5)
    assert r2["r2_conditional"] == pytest.approx(ref["r2_conditional"], abs=1e-5)
    assert ic["icc_adjusted"] == pytest.approx(ref["icc_adjusted"], abs=1e-5)
    assert ic["icc_unadjusted"] == pytest.approx(ref["icc_unadjusted"], abs=1e-5)


def test_epil_against_performance(epil_fit):
    _, res, null = epil_fit
    ref = _r_values(load_ref("epil__performance_icc_r2"))
    gv = ref["get_variance"]
    # the null model insight refits: y ~ (1 | subject)
    assert float(null.fe_params["Intercept"]) == pytest.approx(
        ref["null_model"]["intercept"], abs=2e-4)
    assert float(null.re_sd.iloc[0]) == pytest.approx(ref["null_model"]["random_sd"], rel=1e-3)
    # performance 0.10.2 / insight 0.19.0 take lambda = exp(null intercept)
    vc = res.variance_components(null_lambda="intercept")
    assert vc["lambda"] == pytest.approx(ref["null_model"]["mu"], rel=2e-4)
    assert vc["var_fixed"] == pytest.approx(gv["var.fixed"], rel=1e-4)
    assert vc["var_random"] == pytest.approx(gv["var.random"], rel=1e-4)
    assert vc["var_distribution"] == pytest.approx(gv["var.distribution"], rel=1e-4)
    r2, ic = res.r2(null_lambda="intercept"), res.icc(null_lambda="intercept")
    assert r2["r2_marginal"] == pytest.approx(ref["r2_marginal"], abs=1e-5)
    assert r2["r2_conditional"] == pytest.approx(ref["r2_conditional"], abs=1e-5)
    assert ic["icc_adjusted"] == pytest.approx(ref["icc_adjusted"], abs=1e-5)
    assert ic["icc_unadjusted"] == pytest.approx(ref["icc_unadjusted"], abs=1e-5)


def test_null_model_must_be_a_fit_of_the_same_data(epil_fit):
    df, res, null = epil_fit
    for bad in ("null", "y ~ 1 + (1 | subject)", 3.0):
        with pytest.raises(ValueError, match="null_model must be a fitted MixedGLM result"):
            res.r2(null_model=bad)
    fewer = smg.mixedglm("y ~ 1 + (1 | subject)", df.iloc[8:],
                         family=sm.families.Poisson()).fit()
    with pytest.raises(ValueError, match=f"null_model was fitted to different data: "
                                         f"different responses: {len(df)} vs {len(df) - 8}"):
        res.icc(null_model=fewer)
    y = df["y"].to_numpy().copy()
    y[0] += 1
    other = smg.mixedglm("y ~ 1 + (1 | subject)", df.assign(y=y),
                         family=sm.families.Poisson()).fit()
    with pytest.raises(ValueError, match="different responses: 1 of"):
        res.variance_components(null_model=other)
    with pytest.raises(ValueError, match="intercept-only fixed part"):
        res.r2(null_model=res)
    # the same rows in another order are the same data and give the same numbers
    moved = smg.mixedglm("y ~ 1 + (1 | subject)", df.sample(frac=1.0, random_state=2),
                         family=sm.families.Poisson()).fit()
    assert res.r2(null_model=moved)["r2_marginal"] == pytest.approx(
        res.r2(null_model=null)["r2_marginal"], rel=1e-6)


# ------------------------------------------------ warnings of the internal null model
def _zinb_data(seed, n_g=30, per=6):
    """Zero-inflated overdispersed counts; the null model's NB absorbs the extra zeros."""
    rng = np.random.default_rng(seed)
    n = n_g * per
    g = np.repeat(np.arange(n_g), per)
    x = rng.normal(size=n)
    eta = 0.2 + 0.8 * x + rng.normal(0, 0.7, n_g)[g] + rng.normal(0, 0.5, n)
    y = np.where(rng.random(n) < 0.3, 0, rng.poisson(np.exp(eta)))
    return pd.DataFrame({"g": g, "x": x, "y": y})


def _fit_recording(formula, df):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = smg.mixedglm(formula, df, family=smg.families.NegativeBinomial(),
                           zi_formula="~1").fit()
    return res, caught


def test_null_model_separation_is_recorded_not_warned_as_the_users():
    df = _zinb_data(1)
    res, caught = _fit_recording("y ~ x + (1 | g)", df)
    assert caught == [] and res.params["inflate_Intercept"] > -1   # the user's fit is clean
    null, null_caught = _fit_recording("y ~ 1 + (1 | g)", df)
    # the null model on its own: inflation probability at 0, a separation warning
    if [w.category for w in null_caught] != [PerfectSeparationWarning]:
        pytest.skip("with these library versions the null fit of these data warns "
                    f"{[w.category.__name__ for w in null_caught]}, not the case tested")
    # (how far out on that flat ridge the fit stops depends on the optimiser's path)
    assert special.expit(null.params["inflate_Intercept"]) < 1e-5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ic = res.icc()
        r2 = res.r2()
        vc = res.variance_components()
    for out in (ic, r2, vc):
        notes = out.attrs["null_model_warnings"]
        assert len(notes) == 1
        assert notes[0].startswith("PerfectSeparationWarning: ") and "inflate_Intercept" in notes[0]
    # the same numbers as with the null model fitted by hand (which records nothing)
    ic_null = res.icc(null_model=null)
    assert ic_null.attrs["null_model_warnings"] == []
    np.testing.assert_allclose(ic.to_numpy(), ic_null.to_numpy(), rtol=1e-8)
    assert vc["zi_prob"] < 1e-5


def test_other_null_model_warnings_are_issued_naming_the_null_model():
    df = _zinb_data(5)
    res, caught = _fit_recording("y ~ x + (1 | g)", df)
    assert caught == []
    null, null_caught = _fit_recording("y ~ 1 + (1 | g)", df)
    if [w.category for w in null_caught] != [PerfectSeparationWarning, ConvergenceWarning]:
        pytest.skip("with these library versions the null fit of these data warns "
                    f"{[w.category.__name__ for w in null_caught]}, not the case tested")
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        ic = res.icc()
    assert [w.category for w in got] == [ConvergenceWarning]
    assert "intercept-only null model" in str(got[0].message)
    assert got[0].filename == __file__                  # points at the call of icc()
    cats = [n.split(":")[0] for n in ic.attrs["null_model_warnings"]]
    assert cats == ["PerfectSeparationWarning", "ConvergenceWarning"]
