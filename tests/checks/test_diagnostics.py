"""Overdispersion and zero-inflation checks of count-model fits."""

import numpy as np
import pytest
from scipy import stats
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.checks.diagnostics import overdispersion, zero_inflation_test
from statsmodels_glmm.families import NegativeBinomial

from conftest import load_dataset

FORMULA = "y ~ time * group + stress + (1 + time | id)"


@pytest.fixture(scope="module")
def negbin_data():
    return load_dataset("sim_negbin_small")


@pytest.fixture(scope="module")
def pois_on_nb(negbin_data):
    return smg.mixedglm(FORMULA, negbin_data, family=sm.families.Poisson()).fit()


@pytest.fixture(scope="module")
def nb_on_nb(negbin_data):
    return smg.mixedglm(FORMULA, negbin_data, family=NegativeBinomial()).fit()


def test_pearson_statistic_by_hand(pois_on_nb, negbin_data):
    res = pois_on_nb
    od = res.overdispersion()
    # independent computation: conditional means from the fitted linear predictor
    mu = np.exp(res.predict(which="linear").to_numpy())
    y = negbin_data["y"].to_numpy()
    chi2 = np.sum((y - mu) ** 2 / mu)
    dfr = len(y) - len(res.params)
    np.testing.assert_allclose(od["chi2"], chi2, rtol=1e-10)
    assert od["df_resid"] == dfr
    np.testing.assert_allclose(od["ratio"], chi2 / dfr, rtol=1e-10)
    np.testing.assert_allclose(od["pvalue"], stats.chi2.sf(chi2, dfr), rtol=1e-8)


def test_negbin_variance_in_pearson_statistic(nb_on_nb, negbin_data):
    res = nb_on_nb
    mu = np.exp(res.predict(which="linear").to_numpy())
    y = negbin_data["y"].to_numpy()
    a = res.params["alpha"]
    chi2 = np.sum((y - mu) ** 2 / (mu + a * mu ** 2))
    np.testing.assert_allclose(overdispersion(res)["chi2"], chi2, rtol=1e-10)


def test_overdispersion_detected_and_removed(negbin_data):
    # NB data (theta about 2), random intercept: Poisson leaves a large ratio, NB2 does not
    f = "y ~ time * group + stress + (1 | id)"
    pois = smg.mixedglm(f, negbin_data, family=sm.families.Poisson()).fit()
    nb = smg.mixedglm(f, negbin_data, family=NegativeBinomial()).fit()
    assert pois.overdispersion()["ratio"] > 1.4
    assert pois.overdispersion()["pvalue"] < 1e-6
    assert nb.overdispersion()["ratio"] < 1.0


def test_random_slopes_absorb_part_of_the_overdispersion(pois_on_nb, negbin_data):
    # conditional Pearson residuals shrink toward the data as random effects are added
    f = "y ~ time * group + stress + (1 | id)"
    pois_ri = smg.mixedglm(f, negbin_data, family=sm.families.Poisson()).fit()
    assert pois_on_nb.overdispersion()["ratio"] < pois_ri.overdispersion()["ratio"]


def test_zero_inflation_counts(pois_on_nb, negbin_data):
    zt = zero_inflation_test(pois_on_nb, nsim=100, seed=1)
    assert zt["observed_zeros"] == int((negbin_data["y"] == 0).sum())
    # conditional expectation: sum of Poisson P(0) = exp(-mu) at the modes
    mu = np.exp(pois_on_nb.predict(which="linear").to_numpy())
    np.testing.assert_allclose(zt["expected_zeros_conditional"], np.exp(-mu).sum(), rtol=1e-10)
    # the simulated expectation is the mean zero count of res.simulate with the same seed
    sims = pois_on_nb.simulate(nsim=100, seed=1)
    np.testing.assert_allclose(zt["expected_zeros"], (sims == 0).sum(axis=0).mean())
    again = zero_inflation_test(pois_on_nb, nsim=100, seed=1)
    assert again.equals(zt)


def test_zero_inflation_detected_in_zip_data():
    df = load_dataset("sim_zip_small")
    pois = smg.mixedglm(FORMULA, df, family=sm.families.Poisson()).fit()
    zt = pois.zero_inflation_test(nsim=200, seed=2)
    assert zt["ratio"] > 1.2 and zt["pvalue"] < 0.05
    zip_ = smg.mixedglm(FORMULA, df, family=sm.families.Poisson(), zi_formula="~1").fit()
    zt2 = zip_.zero_inflation_test(nsim=200, seed=2)
    assert zt2["pvalue"] > 0.05
    # ZIP conditional expected zeros are the sum of predicted P(y = 0)
    np.testing.assert_allclose(zt2["expected_zeros_conditional"],
                               zip_.predict(which="prob-zero").sum(), rtol=1e-10)


def test_bad_input(pois_on_nb):
    df = smg.simulate_longitudinal("binary", n_persons=30, seed=1)
    rb = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
    with pytest.raises(ValueError, match="count"):
        rb.overdispersion()
    with pytest.raises(ValueError, match="count"):
        rb.zero_inflation_test()
    with pytest.raises(ValueError, match="nsim"):
        pois_on_nb.zero_inflation_test(nsim=0)
    with pytest.raises(ValueError, match="random_effects"):
        pois_on_nb.zero_inflation_test(random_effects="zero")
