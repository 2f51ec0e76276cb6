"""fit_bayes: results layout, ArviZ data, predictions, diagnostics and argument checks."""

import sys
import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import ConvergenceWarning

pytest.importorskip("numpyro")

import statsmodels_glmm.api as smg  # noqa: E402

B = sm.families.Binomial()


DATA = smg.simulate_longitudinal("binary", n_persons=120, seed=11)


@pytest.fixture(scope="module")
def model():
    return smg.mixedglm("y ~ time + group + (1 | id)", DATA, family=B)


@pytest.fixture(scope="module")
def fits(model):
    ml = model.fit(nagq=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        res = model.fit_bayes(draws=600, tune=500, chains=4, seed=3, progress=False)
    return ml, res


def test_params_have_the_names_and_order_of_the_ml_fit(fits):
    ml, res = fits
    assert list(res.params.index) == list(ml.params.index)
    assert list(res.bse.index) == list(ml.params.index)
    assert res.draws.shape == (4, 600, len(ml.params))
    flat = res.draws.reshape(-1, res.draws.shape[-1])
    np.testing.assert_allclose(res.params, flat.mean(0), rtol=1e-12)
    np.testing.assert_allclose(res.bse, flat.std(0, ddof=1), rtol=1e-12)


def test_posterior_close_to_ml_for_a_random_intercept(fits):
    ml, res = fits
    cmp = res.compare_ml(ml)
    fe = cmp.iloc[:3]
    assert np.all(np.abs(fe["Difference / SD"]) < 0.25), fe
    assert np.all(np.abs(fe["SD / SE"] - 1) < 0.2), fe
    # the variance is on the ML scale (a variance, not an SD): same order of size
    assert 0.5 < res.params["id Intercept Var"] / ml.params["id Intercept Var"] < 2


def test_diagnostics_pass_and_are_consistent_with_arviz(fits):
    import arviz as az

    _, res = fits
    assert res.converged and res.divergences == 0
    assert np.all(res.rhat <= 1.01) and np.all(res.ess["bulk"] >= 400)
    ref = az.ess(res.draws[..., 1], method="bulk")
    assert res.ess["bulk"].iloc[1] == pytest.approx(float(ref), rel=1e-12)


def test_credible_intervals_eti_are_quantiles_and_hdi_is_narrower(fits):
    _, res = fits
    flat = res.draws.reshape(-1, res.draws.shape[-1])
    eti = res.conf_int(0.1)
    np.testing.assert_allclose(eti["lower"], np.quantile(flat, 0.05, axis=0))
    np.testing.assert_allclose(eti["upper"], np.quantile(flat, 0.95, axis=0))
    hdi = res.conf_int(0.1, method="hdi")
    assert np.all(hdi["upper"] - hdi["lower"] <= eti["upper"] - eti["lower"] + 1e-12)
    with pytest.raises(ValueError, match="method"):
        res.conf_int(method="hpd")
    with pytest.raises(ValueError, match="alpha"):
        res.conf_int(alpha=1.5)


def test_idata_has_pointwise_log_likelihood_for_loo(fits, model):
    import arviz as az

    _, res = fits
    idata = res.idata
    for g in ("posterior", "sample_stats", "observed_data", "log_likelihood"):
        assert g in idata.groups()
    ll = idata.log_likelihood["y"].values
    assert ll.shape == (4, 600, model.nobs)
    # the pointwise values are Bernoulli log-probabilities: their sum at the posterior
    # mean of the linear predictor is close to the ML log-likelihood's conditional part
    assert np.all(ll <= 0)
    loo = az.loo(idata)
    assert np.isfinite(loo.elpd_loo) and loo.elpd_loo < 0


def test_predict_averages_the_posterior_and_matches_ml_roughly(fits, model):
    ml, res = fits
    p = res.predict()
    assert p.shape == (model.nobs,) and np.all((p > 0) & (p < 1))
    assert np.corrcoef(p, ml.predict())[0, 1] > 0.95
    lin = res.predict(which="linear")
    # the posterior mean of the probability is not the inverse link of the mean eta
    assert not np.allclose(p, 1 / (1 + np.exp(-lin)))
    # new data: an unseen person gets no random effect; a fitted person gets theirs
    new = DATA.head(5).assign(id=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p0 = res.predict(new)
    np.testing.assert_allclose(p0, res.predict(new, random_effects="zero"))
    np.testing.assert_allclose(res.predict(DATA.head(5)), p.head(5), rtol=1e-10)


def test_random_effects_posterior_means_follow_the_ml_modes(fits):
    ml, res = fits
    re = res.random_effects
    assert list(re.columns) == ["Intercept"]
    modes = ml.random_effects_frame()["Intercept"]
    assert np.corrcoef(re["Intercept"].to_numpy(), modes.to_numpy())[0, 1] > 0.95
    assert np.all(res.random_effects_sd["Intercept"] > 0)


def test_posterior_and_prior_predictive_shapes(fits, model):
    _, res = fits
    yrep = res.posterior_predictive(50, seed=1)
    assert yrep.shape == (50, model.nobs) and set(np.unique(yrep)) <= {0, 1}
    # replicated data resemble the observed proportion of ones
    assert abs(yrep.mean() - model.endog.mean()) < 0.05
    prior = model.prior_predictive(20, seed=2)
    assert prior.shape == (20, model.nobs) and set(np.unique(prior)) <= {0, 1}


def test_summary_lists_rhat_ess_and_priors(fits):
    _, res = fits
    text = res.summary().as_text()
    for word in ("R-hat", "ESS bulk", "ESS tail", "exponential(1)", "normal(0, 2.5)",
                 "id Intercept Var", "Divergences"):
        assert word in text
    assert "Warning" not in text


def test_short_run_warns_and_notes_it_in_the_summary(model):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit_bayes(draws=25, tune=30, chains=2, seed=1, progress=False)
    msgs = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert any(m.startswith("bulk ESS below 400") and "increase draws" in m for m in msgs)
    assert not res.converged
    assert "Warning: bulk ESS below 400" in res.summary().as_text()


@pytest.mark.parametrize("kwargs, match", [
    (dict(draws=0), "draws"), (dict(draws=2.5), "draws"), (dict(chains=0), "chains"),
    (dict(tune=-1), "tune"), (dict(target_accept=1.0), "target_accept"),
    (dict(target_accept="high"), "target_accept"), (dict(seed=-3), "seed"),
    (dict(progress="yes"), "progress"),
    (dict(priors={"tme": ("normal", 0, 1)}), "unknown parameter name 'tme'"),
    (dict(priors={"time": ("exponential", 1)}), r"priors\['time'\]"),
    (dict(priors={"id Intercept SD": ("normal", 0, 1)}), r"priors\['id Intercept SD'\]"),
    (dict(priors={"time": ("normal", 0, -1)}), "positive"),
    (dict(priors={"time": ("normal", 0)}), "takes 2"),
    (dict(priors=[("normal", 0, 1)]), "priors must be a dict"),
])
def test_bad_arguments_are_refused_naming_them(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        model.fit_bayes(**{"draws": 10, "tune": 10, "chains": 1, "progress": False, **kwargs})


def test_default_priors_are_scaled_by_the_predictor_sd(model):
    pri = model.default_priors()
    sd_time = float(np.std(model.exog[:, 1]))
    assert pri["time"] == pytest.approx(("normal", 0.0, 2.5 / sd_time))
    assert pri["Intercept"] == ("normal", 0.0, 2.5)
    assert pri["id Intercept SD"] == ("exponential", 1.0)


def test_missing_optional_packages_give_the_install_command(monkeypatch, model):
    import builtins

    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == "numpyro":
            raise ImportError("no numpyro")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    monkeypatch.delitem(sys.modules, "numpyro", raising=False)
    with pytest.raises(ImportError, match=r'pip install "statsmodels-glmm\[bayes\]"'):
        model.fit_bayes(progress=False)
