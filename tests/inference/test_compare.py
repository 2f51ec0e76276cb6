"""compare(): llf, AIC, BIC and likelihood-ratio tests across count families."""

import numpy as np
import pytest
from scipy import stats
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.families import NegativeBinomial

from conftest import load_dataset, load_ref

EPIL = "y ~ lbase * trt + lage + V4 + (1 | subject)"


@pytest.fixture(scope="module")
def epil_fits():
    df = load_dataset("epil")
    pois = smg.mixedglm(EPIL, df, family=sm.families.Poisson()).fit()
    nb2 = smg.mixedglm(EPIL, df, family=NegativeBinomial()).fit()
    nb1 = smg.mixedglm(EPIL, df, family=NegativeBinomial(p=1)).fit()
    small = smg.mixedglm("y ~ lbase + trt + lage + V4 + (1 | subject)", df,
                         family=NegativeBinomial()).fit()
    return pois, nb2, nb1, small


def test_information_criteria_match_glmmtmb(epil_fits):
    pois, nb2, _, _ = epil_fits
    tab = smg.compare(pois, nb2, names=["Poisson", "NB2"])
    for name, fit_id in (("Poisson", "epil__tmb_pois_ri"), ("NB2", "epil__tmb_nbinom2_ri")):
        ref = load_ref(fit_id)
        assert tab.loc[name, "df"] == ref["df"]
        np.testing.assert_allclose(tab.loc[name, "llf"], ref["logLik"], atol=1e-3)
        np.testing.assert_allclose(tab.loc[name, "AIC"], ref["AIC"], atol=2e-3)
        np.testing.assert_allclose(tab.loc[name, "BIC"], ref["BIC"], atol=2e-3)


def test_likelihood_ratio_tests(epil_fits):
    pois, nb2, nb1, small = epil_fits
    tab = smg.compare(pois, nb2, nb1, small)
    # Poisson inside NB2: one extra parameter, alpha tested at its boundary 0:
    # 0.5 chi2(0) + 0.5 chi2(1)
    stat = 2 * (nb2.llf - pois.llf)
    np.testing.assert_allclose(tab.iloc[1]["Chisq"], stat)
    assert tab.iloc[1]["Df"] == 1
    assert stat > 0
    np.testing.assert_allclose(tab.iloc[1]["Pr(>Chisq)"], 0.5 * stats.chi2.sf(stat, 1))
    assert tab.iloc[1]["Reference"] == "0.5 chi2(0) + 0.5 chi2(1)"
    # the same rule as the results method
    assert tuple(nb2.compare_lr_test(pois)) == pytest.approx(
        (stat, tab.iloc[1]["Pr(>Chisq)"], 1))
    # NB2 and NB1 are not nested
    assert np.isnan(tab.iloc[2]["Chisq"])
    # NB1 and the NB2 model without the interaction are not nested either
    assert np.isnan(tab.iloc[3]["Chisq"])
    # the NB2 model without the interaction inside the full NB2, in either order
    tab2 = smg.compare(nb2, small)
    np.testing.assert_allclose(tab2.iloc[1]["Chisq"], 2 * (nb2.llf - small.llf))
    assert tab2.iloc[1]["Df"] == 1
    assert np.isnan(tab2.iloc[0]["Chisq"])


def test_aic_bic_definition(epil_fits):
    tab = smg.compare(*epil_fits)
    k = tab["df"].to_numpy()
    llf = tab["llf"].to_numpy()
    np.testing.assert_allclose(tab["AIC"], -2 * llf + 2 * k)
    np.testing.assert_allclose(tab["BIC"], -2 * llf + np.log(236) * k)
    assert list(tab["family"]) == ["Poisson", "NB2", "NB1", "NB2"]


def test_zero_inflated_nested_in_family():
    df = load_dataset("sim_zip_small")
    f = "y ~ time + stress + (1 | id)"
    pois = smg.mixedglm(f, df, family=sm.families.Poisson()).fit()
    zip_ = smg.mixedglm(f, df, family=sm.families.Poisson(), zi_formula="~1").fit()
    tab = smg.compare(pois, zip_, names=["Poisson", "ZIP"])
    assert tab.loc["ZIP", "family"] == "ZIP"
    np.testing.assert_allclose(tab.loc["ZIP", "Chisq"], 2 * (zip_.llf - pois.llf))


def test_bad_arguments(epil_fits):
    with pytest.raises(ValueError, match="names"):
        smg.compare(*epil_fits[:2], names=["a"])
    with pytest.raises(ValueError, match="unique"):
        smg.compare(*epil_fits[:2], names=["a", "a"])
    with pytest.raises(ValueError, match="not a fitted model"):
        smg.compare(epil_fits[0], 3.0)


def test_random_slope_uses_chibar_reference():
    df = load_dataset("sim_poisson_small")
    P = sm.families.Poisson()
    ri = smg.mixedglm("y ~ time + (1 | id)", df, family=P).fit()
    rs = smg.mixedglm("y ~ time + (1 + time | id)", df, family=P).fit()
    fx = smg.mixedglm("y ~ time + group + (1 | id)", df, family=P).fit()
    tab = smg.compare(ri, rs, names=["ri", "rs"])
    stat = 2 * (rs.llf - ri.llf)
    assert tab.loc["rs", "Df"] == 2
    assert tab.loc["rs", "Reference"] == "0.5 chi2(1) + 0.5 chi2(2)"
    np.testing.assert_allclose(tab.loc["rs", "Pr(>Chisq)"],
                               0.5 * stats.chi2.sf(stat, 1) + 0.5 * stats.chi2.sf(stat, 2))
    np.testing.assert_allclose(tab.loc["rs", "Pr(>Chisq)"], rs.compare_lr_test(ri).pvalue)
    tab2 = smg.compare(ri, fx)
    assert tab2.iloc[1]["Reference"] == "chi2(1)"
    np.testing.assert_allclose(tab2.iloc[1]["Pr(>Chisq)"],
                               stats.chi2.sf(2 * (fx.llf - ri.llf), 1))
