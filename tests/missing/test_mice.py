"""Multiple imputation of missing covariates with person means, pooled by Rubin's rules."""


import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.missing.mice import mice, person_mean_imputer
from statsmodels_glmm.missing.rubin import rubin_pool

FORMULA = "y ~ time * group + stress + (1 | id)"


@pytest.fixture(scope="module")
def incomplete():
    df = smg.simulate_longitudinal("poisson", n_persons=150, seed=4)
    rng = np.random.default_rng(1)
    df.loc[rng.random(len(df)) < 0.3, "stress"] = np.nan
    return df


@pytest.fixture(scope="module")
def pooled(incomplete):
    return smg.mice(FORMULA, incomplete, family=sm.families.Poisson(), n_imputations=4,
                    seed=3, n_burnin=3, n_skip=2)


def test_pooled_results_are_rubins_rules_of_the_imputed_fits(pooled, incomplete):
    est, var = pooled.estimates.to_numpy(), pooled.variances.to_numpy()
    ref = rubin_pool(est, var, pooled.df_com)
    np.testing.assert_allclose(pooled.params, est.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(pooled.bse, ref["se"], rtol=1e-13)
    np.testing.assert_allclose(pooled.df, ref["df"], rtol=1e-13)
    assert pooled.params.index.tolist() == ["Intercept", "time", "group", "time:group", "stress"]
    # imputed stress values make the estimates vary between imputations
    assert pooled.fmi["stress"] > 0.05 and np.all((pooled.fmi > 0) & (pooled.fmi < 1))
    assert pooled.df_com == len(incomplete) - 6  # every row has an outcome; 6 parameters
    text = str(pooled.summary())
    assert "Rubin" in text and "SMC-FCS" in text  # the default imputation model
    assert "stress ~ time + group + loo(stress)" in " ".join(text.split())


def test_pooled_estimate_is_close_to_the_fit_without_missing_values(incomplete):
    # the simulated panel has random slopes on time: the imputations are drawn under
    # the analysis model, so it must include them
    slopes = "y ~ time * group + stress + (1 + time | id)"
    full = smg.simulate_longitudinal("poisson", n_persons=150, seed=4)
    res = smg.mixedglm(slopes, full, family=sm.families.Poisson()).fit()
    pooled = smg.mice(slopes, incomplete, family=sm.families.Poisson(), n_imputations=6,
                      seed=3, n_burnin=4, n_skip=2)
    z = (pooled.params - res.fe_params) / pooled.bse
    assert np.all(np.abs(z) < 0.5)


def test_same_seed_gives_the_same_imputations(incomplete):
    kw = dict(family=sm.families.Poisson(), n_imputations=2, n_burnin=1, n_skip=1)
    a = smg.mice(FORMULA, incomplete, seed=9, **kw)
    b = smg.mice(FORMULA, incomplete, seed=9, **kw)
    pd.testing.assert_frame_equal(a.estimates, b.estimates)


def test_imputation_models_use_person_means_of_the_other_variables():
    rng = np.random.default_rng(0)
    person = np.repeat(np.arange(6), 4)
    df = pd.DataFrame({"x": rng.normal(size=24) + person, "z": rng.normal(size=24),
                       "c": (person % 2).astype(float)})
    df.loc[[1, 6, 13], "x"] = np.nan
    df.loc[[2, 20], "z"] = np.nan
    imp, update = person_mean_imputer(df, person, ["x", "z"], seed=0)
    preds_x = imp.conditional_formula["x"].split("~")[1].replace(" ", "").split("+")
    assert set(preds_x) == {"z", "c", "pm__z", "loo__x"}
    update(1)
    # the person means are those of the current values
    d = imp.data
    assert np.allclose(d["pm__x"], d.groupby(person)["x"].transform("mean"))
    loo = (d.groupby(person)["x"].transform("sum") - d["x"]) / 3
    assert np.allclose(d["loo__x"], loo)
    assert not d[["x", "z"]].isna().any().any()
    assert df["x"].isna().sum() == 3  # the input is not modified


def test_mice_leaves_the_data_unchanged(incomplete):
    before = incomplete.copy()
    smg.mice(FORMULA, incomplete, family=sm.families.Poisson(), n_imputations=2, seed=1,
             n_burnin=1, n_skip=1)
    pd.testing.assert_frame_equal(incomplete, before)


def test_mice_refuses_bad_arguments_by_name(incomplete):
    kw = dict(family=sm.families.Poisson(), seed=1, n_burnin=1, n_skip=1)
    for bad in [1, 2.0, True]:
        with pytest.raises(ValueError, match="n_imputations must be an integer >= 2"):
            smg.mice(FORMULA, incomplete, n_imputations=bad, **kw)
    with pytest.raises(ValueError, match="n_burnin"):
        smg.mice(FORMULA, incomplete, family=sm.families.Poisson(), n_burnin=-1)
    with pytest.raises(ValueError, match="n_skip"):
        smg.mice(FORMULA, incomplete, family=sm.families.Poisson(), n_skip=0)
    with pytest.raises(ValueError, match="seed must be an integer"):
        smg.mice(FORMULA, incomplete, family=sm.families.Poisson(), seed="a")
    with pytest.raises(ValueError, match="data must be a pandas DataFrame"):
        smg.mice(FORMULA, incomplete.to_numpy(), **kw)
    with pytest.raises(ValueError, match="no covariate the formula reads has a missing"):
        smg.mice(FORMULA, incomplete.dropna(), **kw)
    cat = incomplete.assign(site=pd.Categorical(np.where(incomplete["id"] % 2, "a", "b")))
    cat.loc[cat.index[:5], "site"] = np.nan
    with pytest.raises(ValueError, match="column 'site' has missing values but is not numeric"):
        smg.mice("y ~ time + stress + site + (1 | id)", cat, **kw)
    with pytest.raises(ValueError, match="outcome 'np.log1p.y.' must be a column"):
        smg.mice("np.log1p(y) ~ time + stress + (1 | id)", incomplete, **kw)
    with pytest.raises(ValueError, match="builder must be a callable"):
        mice(FORMULA, incomplete, **kw)
    with pytest.raises(ValueError, match="model_kwargs must be a dict"):
        smg.mice(FORMULA, incomplete, model_kwargs=[1], **kw)


# ---------------------------------------------------------------- SMC-FCS imputation

def _panel_with_gaps(n, seed):
    """Poisson panel, x = person component + noise, ~30% of x missing given y and arm."""
    from scipy.special import expit

    rng = np.random.default_rng(seed)
    arm = np.repeat(rng.integers(0, 2, n).astype(float), 5)
    t = np.tile(np.arange(5.0), n)
    x = np.repeat(rng.normal(0, 0.7, n), 5) + rng.normal(0, 0.7, n * 5)
    u = np.repeat(rng.normal(0, 0.5, n), 5)
    y = rng.poisson(np.exp(0.3 + 0.1 * t + 0.3 * arm - 0.1 * t * arm + 0.4 * x + u))
    df = pd.DataFrame({"id": np.repeat(np.arange(n), 5), "time": t, "arm": arm, "x": x,
                       "y": y.astype(float)})
    gaps = df.copy()
    gaps.loc[rng.random(n * 5) < expit(-1.75 + 0.6 * np.log1p(y) + 0.4 * arm), "x"] = np.nan
    return df, gaps


PANEL = "y ~ time * arm + x + (1 | id)"


@pytest.mark.slow
def test_smc_imputation_recovers_the_covariate_coefficient_that_pmm_attenuates():
    # 3000 persons: the pooled coefficient of x minus the fit to the data before the
    # values were removed has a sampling SD of about 0.003 for either method
    df, gaps = _panel_with_gaps(3000, 0)
    full = smg.mixedglm(PANEL, df, family=sm.families.Poisson()).fit().fe_params
    kw = dict(family=sm.families.Poisson(), n_imputations=5, seed=0, n_burnin=5, n_skip=2)
    smc = smg.mice(PANEL, gaps, method="smc", **kw)
    pmm = smg.mice(PANEL, gaps, method="pmm", **kw)
    assert abs(smc.params["x"] - 0.4) < 0.025  # 2.5 SE of x
    assert abs(smc.params["x"] - full["x"]) < 0.008
    assert pmm.params["x"] - full["x"] < -0.008  # the linear regression on raw y
    # every coefficient within 2 pooled SE of the full-data fit
    assert np.all(np.abs(smc.params - full) < 2 * smc.bse)


def test_rejection_sampler_draws_from_the_poisson_full_conditional():
    # target: N(x; m, s^2) * Poisson(y; exp(a + b x)), checked against quadrature
    from scipy.stats import poisson

    from statsmodels_glmm.missing.smc import rejection_sample

    m, s, a, b = 0.2, 0.8, 0.5, 0.9
    ys = np.array([0.0, 3.0, 12.0])
    n = 20000
    y = np.repeat(ys, n)
    lb = poisson.logpmf(y, np.maximum(y, 1e-300))  # the likelihood at mu = y

    def log_ratio(idx, v):
        return poisson.logpmf(y[idx], np.exp(a + b * v)) - lb[idx]

    draws, n_res, _ = rejection_sample(np.full(len(y), m), s, log_ratio,
                                       np.random.default_rng(0))
    assert n_res == 0
    grid = np.linspace(m - 10 * s, m + 10 * s, 20001)
    for k, yk in enumerate(ys):
        w = np.exp(-0.5 * ((grid - m) / s) ** 2 + poisson.logpmf(yk, np.exp(a + b * grid)))
        mean = np.sum(w * grid) / w.sum()
        sd = np.sqrt(np.sum(w * (grid - mean) ** 2) / w.sum())
        d = draws[k * n:(k + 1) * n]
        assert abs(d.mean() - mean) < 4 * sd / np.sqrt(n)
        assert abs(d.std() / sd - 1) < 0.03


def test_likelihood_bounds_are_the_likelihood_at_the_mean_equal_to_the_observation():
    from scipy.stats import norm, poisson

    from statsmodels_glmm.families import as_response
    from statsmodels_glmm.missing.smc import log_bound

    y = np.array([0.0, 1.0, 4.0, 25.0])
    r = as_response(sm.families.Poisson())
    np.testing.assert_allclose(log_bound(r, y, np.zeros(0)), poisson.logpmf(y, y), atol=1e-12)
    eta = np.linspace(-3, 5, 401)
    for yk, bk in zip(y, log_bound(r, y, np.zeros(0))):  # no eta does better
        assert np.all(r.logpdf(np.full_like(eta, yk), eta, np.zeros(0)) <= bk + 1e-12)
    g = as_response(sm.families.Gaussian())
    extra = np.array([0.5 * np.log(2.0)])  # internal scale: log of the SD; variance 2
    got = log_bound(g, y, extra)
    ref = g.logpdf(y, y, extra)
    np.testing.assert_allclose(got, ref, rtol=1e-13)
    assert np.allclose(got, got[0]) and got[0] == pytest.approx(
        max(g.logpdf(np.zeros(1), np.array([e]), extra)[0] for e in np.linspace(-1, 1, 11)))
    b = as_response(sm.families.Binomial())
    np.testing.assert_array_equal(log_bound(b, np.column_stack([[0.0, 1.0], [1, 1]]),
                                            np.zeros(0)), [0.0, 0.0])
    np.testing.assert_allclose(got, norm.logpdf(0, scale=np.sqrt(2.0)), rtol=1e-13)


def test_smc_draws_the_same_values_with_and_without_the_affine_shortcut():
    # the linear predictor of a row is affine in x here; the shortcut computes it
    # from the designs at x = 0 and x = 1 instead of rebuilding the design per proposal
    from statsmodels_glmm.missing.smc import SMCImputer

    _, gaps = _panel_with_gaps(60, 3)
    work = gaps.reset_index(drop=True).copy()
    frame = work[["y", "time", "arm", "x"]].rename(
        columns={"y": "v0", "time": "v1", "arm": "v2", "x": "v3"})
    names = {"y": "v0", "time": "v1", "arm": "v2", "x": "v3"}
    codes = work["id"].to_numpy()

    def fit(d):
        return smg.mixedglm(PANEL, d, family=sm.families.Poisson()).fit(check_laplace=False)

    runs = []
    for affine in (True, False):
        imp = SMCImputer(work.copy(), frame.copy(), names, ["x"], {"v0"}, codes,
                         ["v0", "v1", "v3"], fit, np.random.default_rng(5))
        imp.update(1)
        assert imp.affine == {"x": True}
        imp.affine = {"x": affine}
        imp.update(2)
        runs.append(imp.work["x"].to_numpy())
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-10)
    assert not np.isnan(runs[0]).any()
    assert np.isnan(gaps["x"]).sum() > 50  # enough values drawn to tell the paths apart


def test_smc_detects_a_design_that_is_not_affine_in_the_covariate():
    _, gaps = _panel_with_gaps(80, 4)
    r = smg.mice("y ~ time + x + I(x ** 2) + (1 | id)", gaps, family=sm.families.Poisson(),
                 n_imputations=2, seed=0, n_burnin=2, n_skip=1, method="smc")
    assert r.params.index.tolist() == ["Intercept", "time", "x", "I(x ** 2)"]
    assert np.all(np.isfinite(r.bse))


def test_smc_summary_names_the_covariate_model_and_the_data_are_not_modified():
    _, gaps = _panel_with_gaps(80, 5)
    before = gaps.copy()
    r = smg.mice(PANEL, gaps, family=sm.families.Poisson(), n_imputations=2, seed=1,
                 n_burnin=1, n_skip=1, method="smc")
    pd.testing.assert_frame_equal(gaps, before)
    text = str(r.summary())
    assert "SMC-FCS" in text
    flat = " ".join(text.split())
    assert "x ~ time + arm + loo(x) + pm(time) (normal; rejection sampling)" in flat
    assert "b_i" in flat and "Imputed values: x" in flat
    # the outcome is not a predictor of the covariate model
    assert "~ y" not in flat and "+ y " not in flat and "pm(y)" not in flat
    a = smg.mice(PANEL, gaps, family=sm.families.Poisson(), n_imputations=2, seed=1,
                 n_burnin=1, n_skip=1, method="smc")
    pd.testing.assert_frame_equal(a.estimates, r.estimates)  # same seed, same draws


def test_smc_draws_a_binary_covariate_as_zero_or_one():
    from scipy.special import expit

    rng = np.random.default_rng(6)
    n = 150
    z = (rng.random(n * 4) < expit(np.repeat(rng.normal(0, 1, n), 4))).astype(float)
    y = rng.poisson(np.exp(0.2 + 0.5 * z + np.repeat(rng.normal(0, 0.4, n), 4)))
    df = pd.DataFrame({"id": np.repeat(np.arange(n), 4), "time": np.tile(np.arange(4.0), n),
                       "z": z, "y": y})
    df.loc[rng.random(len(df)) < 0.3, "z"] = np.nan
    seen = []

    def builder(formula, data, **kw):
        seen.append(data["z"].to_numpy())
        return smg.MixedGLM.from_formula(formula, data, **kw)

    r = mice("y ~ time + z + (1 | id)", df, family=sm.families.Poisson(), n_imputations=2,
             seed=0, n_burnin=1, n_skip=1, method="smc", builder=builder)
    for v in seen:
        assert set(np.unique(v)) == {0.0, 1.0}
    assert "logistic; the two values drawn exactly" in " ".join(str(r.summary()).split())


def test_smc_refuses_unsupported_families_and_bad_method_by_name(incomplete):
    kw = dict(n_imputations=2, seed=1, n_burnin=1, n_skip=1)
    with pytest.raises(ValueError, match="method must be 'pmm' or 'smc'"):
        smg.mice(FORMULA, incomplete, family=sm.families.Poisson(), method="mcmc", **kw)
    with pytest.raises(ValueError, match="max_proposals must be an integer >= 1"):
        smg.mice(FORMULA, incomplete, family=sm.families.Poisson(), method="smc",
                 max_proposals=0, **kw)
    with pytest.raises(NotImplementedError, match="NB1.*method='pmm'"):
        smg.mice(FORMULA, incomplete, family=smg.families.NegativeBinomial(p=1),
                 method="smc", **kw)
    with pytest.raises(ValueError, match="no covariate the formula reads has a missing"):
        smg.mice(FORMULA, incomplete.dropna(), family=sm.families.Poisson(), method="smc",
                 **kw)
