"""
A statsmodels GLM as the restricted model: "is the random effect needed?"

The GLM's log-likelihood keeps every normalising constant as ours does
(checked against scipy's densities), so the mixed model's log-likelihood at
zero random-effect variance is the GLM's; the statistic is
``2 (llf_glmm - llf_glm)`` and one random intercept is referred to
``0.5 chi2(0) + 0.5 chi2(1)``.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
import statsmodels.api as sm
import statsmodels.formula.api as smf

import statsmodels_glmm.api as smg

from conftest import load_dataset

P = sm.families.Poisson()
B = sm.families.Binomial()
G = sm.families.Gaussian()
CBPP = "incidence + non_incidence ~ period"


@pytest.fixture(scope="module")
def cbpp():
    df = load_dataset("cbpp")
    res = smg.mixedglm(CBPP + " + (1 | herd)", df, family=B).fit()
    return df, res, smf.glm(CBPP, df, family=sm.families.Binomial()).fit()


@pytest.fixture(scope="module")
def counts():
    df = smg.simulate_longitudinal("poisson", n_persons=50, seed=3)
    df["hours"] = 1.0 + (np.arange(len(df)) % 3)
    res = smg.mixedglm("y ~ time + group + (1 | id)", df, family=P, exposure="hours").fit()
    glm = smf.glm("y ~ time + group", df, family=P, exposure=df["hours"]).fit()
    return df, res, glm


def test_glm_llf_keeps_every_normalising_constant(cbpp, counts):
    df, _, glm = cbpp
    p = glm.predict()
    assert glm.llf == pytest.approx(
        np.sum(stats.binom.logpmf(df["incidence"], df["size"], p)), rel=1e-12)
    df, _, glm = counts
    assert glm.llf == pytest.approx(np.sum(stats.poisson.logpmf(df["y"], glm.predict())),
                                    rel=1e-12)


def test_glmm_loglike_at_zero_variance_is_the_glm_llf(cbpp, counts):
    _, res, glm = cbpp
    for nagq in (1, 5):
        assert res.model.loglike(np.r_[glm.params, 0.0], nagq=nagq) == pytest.approx(
            glm.llf, rel=1e-12)
    _, res, glm = counts
    assert res.model.loglike(np.r_[glm.params, 0.0]) == pytest.approx(glm.llf, rel=1e-12)
    df = counts[0]
    gres = smg.mixedglm("np.log1p(y) ~ time + (1 | id)", df, family=G).fit()
    gglm = smf.glm("np.log1p(y) ~ time", df, family=G).fit()
    scale = np.mean(gglm.resid_response ** 2)       # the maximum-likelihood scale
    assert gres.model.loglike(np.r_[gglm.params, 0.0, scale]) == pytest.approx(gglm.llf,
                                                                            rel=1e-12)
    probit = sm.families.Binomial(link=sm.families.links.Probit())
    df = df.assign(pos=(df["y"] > 0).astype(float))
    bres = smg.mixedglm("pos ~ time + (1 | id)", df, family=probit).fit()
    bglm = smf.glm("pos ~ time", df, family=probit).fit()
    assert bres.model.loglike(np.r_[bglm.params, 0.0]) == pytest.approx(bglm.llf, rel=1e-12)


def test_glmm_fit_without_group_effect_reaches_the_glm_llf():
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"id": np.repeat(np.arange(80), 5), "x": rng.normal(size=400)})
    df["y"] = rng.poisson(np.exp(0.5 + 0.3 * df["x"]))     # no group effect
    res = smg.mixedglm("y ~ x + (1 | id)", df, family=P).fit()
    glm = smf.glm("y ~ x", df, family=P).fit()
    assert float(res.params["id Intercept Var"]) < 1e-6
    assert res.llf == pytest.approx(glm.llf, abs=1e-6)
    np.testing.assert_allclose(res.fe_params, glm.params, atol=1e-4)
    out = res.compare_lr_test(glm)
    assert out.statistic == max(2 * (res.llf - glm.llf), 0.0) and out.statistic < 2e-6
    assert out.pvalue > 0.49


def test_lr_against_glm_is_twice_the_llf_difference_with_chibar_reference(cbpp, counts):
    for _, res, glm in (cbpp, counts):
        out = res.compare_lr_test(glm)
        assert out.statistic == 2 * (res.llf - glm.llf) and out.statistic > 5
        assert out.df_diff == 1 and out.reference == "0.5 chi2(0) + 0.5 chi2(1)"
        assert out.boundary == [res.model.param_names[-1]]
        assert out.pvalue == pytest.approx(0.5 * stats.chi2.sf(out.statistic, 1), rel=1e-12)


def test_lr_against_array_glm_and_glm_of_shuffled_rows(cbpp):
    df, res, glm = cbpp
    X = pd.get_dummies(df["period"], prefix="p", drop_first=True, dtype=float)
    arr = sm.GLM(np.column_stack([df["incidence"], df["non_incidence"]]), sm.add_constant(X),
                 family=sm.families.Binomial()).fit()
    assert arr.llf == pytest.approx(glm.llf, rel=1e-12)
    assert res.compare_lr_test(arr).statistic == 2 * (res.llf - arr.llf)
    sh = df.sample(frac=1.0, random_state=3).reset_index(drop=True)
    glm_sh = smf.glm(CBPP, sh, family=sm.families.Binomial()).fit()
    out = res.compare_lr_test(glm_sh)
    assert out.statistic == pytest.approx(2 * (res.llf - glm.llf), rel=1e-10)


def test_lr_against_glm_with_integer_freq_weights():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"id": np.repeat(np.arange(40), 6), "x": rng.integers(0, 3, 240)})
    df["y"] = rng.binomial(1, 1 / (1 + np.exp(-(-0.5 + 0.6 * df["x"]
                                                + rng.normal(0, 1, 40)[df["id"]]))))
    res = smg.mixedglm("y ~ x + (1 | id)", df, family=B).fit()
    agg = df.groupby(["x", "y"]).size().rename("w").reset_index()
    glm_w = smf.glm("y ~ x", agg, family=sm.families.Binomial(), freq_weights=agg["w"]).fit()
    glm = smf.glm("y ~ x", df, family=sm.families.Binomial()).fit()
    assert glm_w.llf == pytest.approx(glm.llf, rel=1e-10)
    out = res.compare_lr_test(glm_w)
    assert out.statistic == 2 * (res.llf - glm_w.llf)
    assert smg.compare(glm_w, res)["nobs"].tolist() == [240, 240]
    glm_v = smf.glm("y ~ x", agg, family=sm.families.Binomial(), var_weights=agg["w"]).fit()
    with pytest.raises(ValueError, match="var_weights"):
        res.compare_lr_test(glm_v)


def test_lr_against_glm_refuses_other_family_link_data_or_columns(counts, cbpp):
    df, res, glm = counts
    with pytest.raises(ValueError, match="only the restricted model has an offset"):
        smg.mixedglm("y ~ time + (1 | id)", df, family=P).fit().compare_lr_test(glm)
    with pytest.raises(ValueError, match=f"{len(df)} vs {len(df) - 5} rows"):
        res.compare_lr_test(smf.glm("y ~ time", df.iloc[5:], family=P,
                                    exposure=df["hours"].iloc[5:]).fit())
    with pytest.raises(ValueError, match=r"not nested: fixed-effects column\(s\) \['stress'\]"):
        res.compare_lr_test(smf.glm("y ~ time + stress", df, family=P,
                                    exposure=df["hours"]).fit())
    with pytest.raises(ValueError, match="alpha fixed"):
        res.compare_lr_test(smf.glm("y ~ time", df, family=sm.families.NegativeBinomial(alpha=1.0),
                                    exposure=df["hours"]).fit())
    with pytest.raises(ValueError, match="method='bootstrap'"):
        res.compare_lr_test(glm, method="bootstrap")
    cdf, cres, _ = cbpp
    probit = smf.glm(CBPP, cdf, family=sm.families.Binomial(sm.families.links.Probit())).fit()
    with pytest.raises(ValueError, match="links differ"):
        cres.compare_lr_test(probit)
    plain = smg.mixedglm("y ~ time + (1 | id)", df, family=P).fit()
    with pytest.raises(ValueError, match="the families differ"):
        plain.compare_lr_test(smf.glm("y ~ time", df, family=G).fit())


def test_lr_against_glm_with_correlated_slopes_is_conservative(counts):
    df, _, glm = counts
    rs = smg.mixedglm("y ~ time + group + (1 + time | id)", df, family=P,
                      exposure="hours").fit()
    with pytest.warns(UserWarning, match="conservative"):
        out = rs.compare_lr_test(glm)
    assert out.df_diff == 3 and out.rule == "chi2-conservative"
    assert out.pvalue == pytest.approx(stats.chi2.sf(2 * (rs.llf - glm.llf), 3), rel=1e-12)


def test_compare_table_with_glm_counts_its_parameters(counts):
    df, res, glm = counts
    tab = smg.compare(glm, res, names=["glm", "glmm"])
    assert tab.loc["glm", "family"] == "Poisson (GLM)"
    assert tab.loc["glm", "df"] == 3 and tab.loc["glmm", "df"] == 4
    assert tab.loc["glm", "AIC"] == pytest.approx(glm.aic, rel=1e-12)
    assert tab.loc["glm", "BIC"] == pytest.approx(-2 * glm.llf + 3 * np.log(len(df)), rel=1e-12)
    assert tab.loc["glmm", "Chisq"] == pytest.approx(2 * (res.llf - glm.llf), rel=1e-12)
    assert tab.loc["glmm", "Reference"] == "0.5 chi2(0) + 0.5 chi2(1)"
    # Gaussian: the scale is a parameter (statsmodels' GLM aic leaves it out)
    gres = smg.mixedglm("np.log1p(y) ~ time + (1 | id)", df, family=G).fit()
    gglm = smf.glm("np.log1p(y) ~ time", df, family=G).fit()
    tab = smg.compare(gglm, gres, names=["glm", "glmm"])
    assert tab.loc["glm", "df"] == 3 and tab.loc["glmm", "df"] == 4
    assert tab.loc["glm", "AIC"] == pytest.approx(gglm.aic + 2, rel=1e-12)
    assert tab.loc["glmm", "Df"] == 1
    # a Gaussian GLM with another link: the llf at the maximum-likelihood scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lg = smf.glm("I(np.log1p(y) + 1) ~ time", df,
                     family=sm.families.Gaussian(sm.families.links.Log())).fit()
    mu, y = lg.mu, lg.model.endog
    s2 = np.mean((y - mu) ** 2)
    tab = smg.compare(lg, names=["log link"])
    assert tab.iloc[0]["llf"] == pytest.approx(np.sum(stats.norm.logpdf(y, mu, np.sqrt(s2))),
                                               rel=1e-12)
