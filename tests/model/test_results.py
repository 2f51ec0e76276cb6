"""The results API: statsmodels-style attributes, predictions, residuals, pickling."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning
import statsmodels.api as sm
from scipy import stats
from statsmodels.tools.sm_exceptions import ConvergenceWarning

import statsmodels_glmm.api as smg
from conftest import load_dataset


@pytest.fixture(scope="module")
def res():
    df = load_dataset("sim_binary_small")
    return smg.mixedglm("y ~ time * group + stress + (1 + time | id)", df,
                        family=sm.families.Binomial()).fit()


def test_param_layout_and_names(res):
    names = ["Intercept", "time", "group", "time:group", "stress", "id Intercept Var",
             "id Intercept x time Cov", "id time Var"]
    assert list(res.params.index) == names
    assert list(res.bse.index) == names
    G = res.cov_re.to_numpy()
    np.testing.assert_allclose(res.params.to_numpy()[5:], [G[0, 0], G[1, 0], G[1, 1]])
    np.testing.assert_allclose(res.fe_params.to_numpy(), res.params.to_numpy()[:5])
    np.testing.assert_allclose(res.bse_fe.to_numpy(), res.bse.to_numpy()[:5])
    assert res.nobs == 901 and res.n_groups == 200


def test_wald_quantities_are_consistent(res):
    z = res.params / res.bse
    untested = res.params.index.isin(res.untested_params)
    np.testing.assert_allclose(res.tvalues[~untested], z[~untested])
    np.testing.assert_allclose(res.pvalues[~untested], 2 * stats.norm.sf(np.abs(z[~untested])))
    # variances get no Wald test at the boundary
    assert untested.sum() == 3
    assert res.tvalues[untested].isna().all() and res.pvalues[untested].isna().all()
    ci = res.conf_int()
    fe = res.model.exog_names
    np.testing.assert_allclose(ci[1][fe] - res.params[fe], 1.959963984540054 * res.bse[fe],
                               rtol=1e-9)
    # variance intervals are built on the log-SD scale: positive and around the estimate
    var = [n for n in res.params.index if n.endswith("Var")]
    assert np.all(ci[0][var] > 0) and np.all(ci[0][var] < res.params[var])
    assert np.all(ci[1][var] > res.params[var])
    cov = res.cov_params()
    assert isinstance(cov, pd.DataFrame) and cov.shape == (8, 8)
    tt = res.t_test("time = 0")
    assert float(tt.effect[0]) == pytest.approx(res.params["time"])
    assert float(tt.sd[0, 0]) == pytest.approx(res.bse["time"])
    wt = res.wald_test("time = 0, stress = 0", scalar=True)
    b = res.params[["time", "stress"]].to_numpy()
    V = cov.loc[["time", "stress"], ["time", "stress"]].to_numpy()
    assert wt.statistic == pytest.approx(b @ np.linalg.solve(V, b))


def test_delta_method_for_variances(res):
    # the variance's SE from the SD parametrisation: var = sd^2, se(var) = 2 sd se(sd)
    m = res.model
    x = res.mle_retvals["internal_params"]
    J = m.public_jacobian(x)
    assert J[5, 5] == pytest.approx(2 * x[5])


def test_information_criteria(res):
    k = 8
    assert res.aic == pytest.approx(-2 * res.llf + 2 * k)
    assert res.bic == pytest.approx(-2 * res.llf + np.log(901) * k)


def test_random_effects_structures(res):
    re = res.random_effects
    assert len(re) == 200 and list(re[1].index) == ["Intercept", "time"]
    cov1 = res.random_effects_cov[1]
    assert cov1.shape == (2, 2) and np.all(np.linalg.eigvalsh(cov1.to_numpy()) > 0)
    frame = res.random_effects_frame()
    np.testing.assert_allclose(frame.loc[1].to_numpy(), re[1].to_numpy())


def test_predictions_in_and_out_of_sample(res):
    df = load_dataset("sim_binary_small")
    eta = res.predict(which="linear")
    np.testing.assert_allclose(res.fittedvalues, 1 / (1 + np.exp(-eta)))
    # new data: known groups reproduce in-sample predictions, unseen groups use zero
    new = df.iloc[:6].copy()
    np.testing.assert_allclose(res.predict(new), res.fittedvalues.iloc[:6])
    new["id"] = -5
    np.testing.assert_allclose(res.predict(new), res.predict(df.iloc[:6], random_effects="zero"))
    x = df.iloc[:6]
    b = res.fe_params
    lin0 = (b["Intercept"] + b["time"] * x["time"] + b["group"] * x["group"]
            + b["time:group"] * x["time"] * x["group"] + b["stress"] * x["stress"])
    np.testing.assert_allclose(res.predict(x, which="linear", random_effects="zero"), lin0)
    with pytest.raises(ValueError, match="random_effects"):
        res.predict(new, random_effects="bogus")
    with pytest.raises(ValueError, match="which"):
        res.predict(new, which="bogus")


def test_residual_identities(res):
    mu = res.fittedvalues
    y = res.model.endog
    np.testing.assert_allclose(res.resid_response, y - mu)
    np.testing.assert_allclose(res.resid_pearson, (y - mu) / np.sqrt(mu * (1 - mu)))
    dev = -2 * (y * np.log(mu) + (1 - y) * np.log(1 - mu))
    np.testing.assert_allclose(res.resid_deviance ** 2, dev)


def test_singular_fit_matches_glm_and_is_flagged():
    # every group has the same responses: the between-group variance is exactly zero
    base = pd.DataFrame({"x": [0.0, 1, 2, 3], "y": [1, 2, 2, 4]})
    df = pd.concat([base.assign(g=i) for i in range(12)], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        r = smg.mixedglm("y ~ x + (1 | g)", df, family=sm.families.Poisson()).fit()
    glm = sm.GLM.from_formula("y ~ x", df, family=sm.families.Poisson()).fit()
    assert r.is_singular
    assert r.params["g Intercept Var"] == 0.0
    assert "Singular fit" in str(r.summary())
    assert r.llf == pytest.approx(glm.llf, abs=1e-7)
    np.testing.assert_allclose(r.fe_params, glm.params, atol=1e-5)
    np.testing.assert_allclose(r.bse_fe, glm.bse, rtol=1e-3)
    np.testing.assert_allclose(r.resid_pearson, glm.resid_pearson, atol=1e-5)
    np.testing.assert_allclose(r.resid_deviance, glm.resid_deviance, atol=1e-5)


def test_summary_contents(res):
    text = str(res.summary())
    for piece in ["Binomial", "logit", "Laplace", "No. observations:", "901", "200 (id)",
                  "Log-likelihood:", f"{res.llf:.4f}", "AIC:", "BIC:", "Converged:",
                  "Std.Dev.", "Corr(Intercept)", "2 / 4.5 / 5"]:
        assert piece in text, piece


def test_odds_ratios(res):
    orr = res.odds_ratios()
    np.testing.assert_allclose(orr["OR"], np.exp(res.fe_params))
    np.testing.assert_allclose(np.log(orr["Upper CI"]), res.conf_int().iloc[:5, 1])


def test_pickle_round_trip(res):
    df = load_dataset("sim_binary_small")
    r2 = pickle.loads(pickle.dumps(res))
    pd.testing.assert_series_equal(r2.params, res.params)
    assert r2.llf == res.llf
    np.testing.assert_allclose(r2.predict(df.head()), res.predict(df.head()))
    assert str(r2.summary()) == str(res.summary())


def test_simulate_shapes_and_mean(res):
    sims = res.simulate(nsim=200, random_effects="conditional", seed=1)
    assert sims.shape == (901, 200)
    # averaged over simulations, conditional draws recover the fitted means
    np.testing.assert_allclose(sims.mean(axis=1), res.fittedvalues, atol=0.15)
    assert set(np.unique(sims.to_numpy())) <= {0, 1}


def test_nonconvergence_warns():
    df = load_dataset("sim_binary_small")
    m = smg.mixedglm("y ~ time * group + stress + (1 + time | id)", df,
                     family=sm.families.Binomial())
    with pytest.warns(ConvergenceWarning):
        r = m.fit(maxiter=1, polish=False, retry=False)
    assert not r.converged
    assert "did not converge" in str(r.summary())


def test_separation_is_noted():
    df = smg.simulate_longitudinal("binary", n_persons=150, seed=5)
    df.loc[df["group"] == 1, "y"] = 1
    with pytest.warns(PerfectSeparationWarning, match="'group'"):
        r = smg.mixedglm("y ~ time + group + (1 | id)", df, family=sm.families.Binomial()).fit()
    assert "completely separated by group" in str(r.summary()).replace("\n", " ")
    assert r.mle_retvals["separation"] == ["group"]


def test_family_object_can_be_reused_across_models():
    fam = smg.families.Ordinal()
    m1 = smg.mixedglm("rating ~ temp + contact + (1 | judge)", load_dataset("wine"), family=fam)
    m2 = smg.mixedglm("y ~ time + (1 | id)", load_dataset("sim_ordinal_small"), family=fam)
    assert m1.param_names[-4:] == ["1|2", "2|3", "3|4", "4|5"]
    assert m2.param_names[-3:] == ["1|2", "2|3", "3|4"]


def test_pickle_after_quadrature_fit():
    df = smg.simulate_longitudinal("binary", n_persons=50, seed=1)
    r = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit(nagq=5)
    r2 = pickle.loads(pickle.dumps(r))
    assert r2.method == "Adaptive Gauss-Hermite, 5 nodes"
    assert r2.model.loglike(r2.params, nagq=5) == pytest.approx(r.llf, abs=1e-9)


def test_prediction_rows_with_missing_values_give_nan(res):
    df = load_dataset("sim_binary_small").head(5).copy()
    df.loc[[1, 3], "stress"] = np.nan
    pred = res.predict(df)
    assert pred.index.equals(df.index)
    assert np.isnan(pred.iloc[[1, 3]]).all()
    complete = res.predict(df.iloc[[0, 2, 4]])
    np.testing.assert_allclose(pred.iloc[[0, 2, 4]], complete)


def test_unsupported_keywords_are_refused():
    df = load_dataset("sim_binary_small")
    with pytest.raises(ValueError, match="weights are not supported"):
        smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial(),
                     weights=np.ones(len(df)))
    with pytest.raises(TypeError, match="bogus"):
        smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial(), bogus=1)
    with pytest.raises(TypeError, match="reml"):
        smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit(reml=True)


def test_covariate_in_large_units_converges_to_the_rescaled_fit():
    df = smg.simulate_longitudinal("binary", n_persons=300, seed=4)
    df["income"] = df["stress"] * 10000 + 50000
    df["income_s"] = (df["income"] - 50000) / 10000
    r1 = smg.mixedglm("y ~ income + (1 | id)", df, family=sm.families.Binomial()).fit()
    r2 = smg.mixedglm("y ~ income_s + (1 | id)", df, family=sm.families.Binomial()).fit()
    assert r1.converged and r2.converged
    assert r1.llf == pytest.approx(r2.llf, abs=1e-6)
    assert r1.params["income"] * 10000 == pytest.approx(r2.params["income_s"], rel=1e-4)
    assert r1.bse["income"] * 10000 == pytest.approx(r2.bse["income_s"], rel=1e-3)
