"""Laplace fits against glmmTMB / lme4 reference values (R numbers stored in tests/results)."""

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from conftest import load_dataset, load_ref, match_fixed

B, P = sm.families.Binomial(), sm.families.Poisson()

CASES = [
    ("toenail", "outcome_bin ~ treatment * time + (1 | patientID)", B, "toenail__tmb_ri"),
    ("cbpp", "incidence + non_incidence ~ period + (1 | herd)", B, "cbpp__tmb_ri"),
    ("epil", "y ~ lbase * trt + lage + V4 + (1 | subject)", P, "epil__tmb_pois_ri"),
    ("epil", "y ~ lbase * trt + lage + Visit + (Visit | subject)", P,
     "epil__glmer_pois_rs_laplace"),
    ("bacteria", "y_bin ~ trt + week_gt2 + (1 | ID)", B, "bacteria__glmer_ri_laplace"),
    ("sim_binary_small", "y ~ time * group + stress + (1 + time | id)", B,
     "sim_binary_small__tmb_rs"),
    ("sim_poisson_small", "y ~ time * group + stress + (1 + time | id)", P,
     "sim_poisson_small__tmb_rs"),
    ("sim_binary_large", "y ~ time * group + stress + (1 + time | id)", B,
     "sim_binary_large__tmb_rs"),
]


@pytest.fixture(scope="module", params=CASES, ids=[c[3] for c in CASES])
def fitted(request):
    ds, formula, fam, rid = request.param
    res = smg.mixedglm(formula, load_dataset(ds), family=fam).fit()
    return res, load_ref(rid)


def test_loglike(fitted):
    res, ref = fitted
    # reach the reference log-likelihood or a higher one
    assert res.llf > ref["logLik"] - 1e-3
    assert res.llf < ref["logLik"] + 2e-3
    assert res.converged


def test_fixed_effects_and_se(fitted):
    res, ref = fitted
    m = match_fixed(res, ref)
    np.testing.assert_allclose(m["est"], m["estimate"], atol=2e-3)
    np.testing.assert_allclose(m["se"], m["se_r"], rtol=0.02)


def test_random_effect_sd_and_corr(fitted):
    res, ref = fitted
    re = ref["random_effects"][0]
    np.testing.assert_allclose(res.re_sd.to_numpy(), re["sd"], rtol=0.01)
    if re["corr"] is not None:
        np.testing.assert_allclose(res.re_corr.to_numpy(), re["corr"], atol=5e-3)


def test_conditional_modes(fitted):
    res, ref = fitted
    rf = next(iter(ref["ranef_first10"].values()))
    frame = res.random_effects_frame()
    kind = type(frame.index[0])
    labels = [lab if isinstance(frame.index[0], str) else kind(lab) for lab in rf["levels"]]
    for term, values in rf["mode"].items():
        col = "Intercept" if term == "(Intercept)" else term
        np.testing.assert_allclose(frame.loc[labels, col].to_numpy(), values, atol=1e-3)
    if "cond_sd" in rf:
        for term, values in rf["cond_sd"].items():
            col = "Intercept" if term == "(Intercept)" else term
            sd = [np.sqrt(res.random_effects_cov[lab].loc[col, col]) for lab in labels]
            np.testing.assert_allclose(sd, values, rtol=0.01)


def test_predictions_first10(fitted):
    res, ref = fitted
    pr = ref.get("predictions_first10")
    if pr is None:
        pytest.skip("no stored predictions")
    np.testing.assert_allclose(res.predict(which="linear").to_numpy()[:10],
                               pr["link_conditional"], atol=2e-3)
    np.testing.assert_allclose(
        res.predict(which="linear", random_effects="zero").to_numpy()[:10],
        pr["link_population"], atol=2e-3)
    np.testing.assert_allclose(res.fittedvalues.to_numpy()[:10], pr["response_conditional"],
                               atol=1e-3)


def test_aic_bic_consistent(fitted):
    res, ref = fitted
    assert res.aic == pytest.approx(-2 * res.llf + 2 * ref["df"], abs=1e-8)
    assert res.bic == pytest.approx(ref["BIC"] - 2 * (res.llf - ref["logLik"]), abs=5e-3)


@pytest.mark.parametrize("formula,rid", [
    ("outcome_bin ~ treatment * time + (1 + time | patientID)", "toenail__glmer_rs_time_laplace"),
    ("outcome_bin ~ treatment * visit + (1 + visit | patientID)",
     "toenail__glmer_rs_visit_laplace"),
])
def test_ill_conditioned_random_slopes(formula, rid):
    """Quasi-separated toenail random slopes (intercept SD 23-48, correlation near -1):
    a stress test; reach lme4's log-likelihood and its variance estimates."""
    ref = load_ref(rid)
    res = smg.mixedglm(formula, load_dataset("toenail"), family=B).fit()
    assert res.converged
    assert res.llf > ref["logLik"] - 1e-3
    np.testing.assert_allclose(res.re_sd.to_numpy(), ref["random_effects"][0]["sd"], rtol=2e-3)
