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
    assert "person means" in text and "Rubin" in text and "stress" in text


def test_pooled_estimate_is_close_to_the_fit_without_missing_values(pooled):
    full = smg.simulate_longitudinal("poisson", n_persons=150, seed=4)
    res = smg.mixedglm(FORMULA, full, family=sm.families.Poisson()).fit()
    z = (pooled.params - res.fe_params) / pooled.bse
    assert np.all(np.abs(z) < 1.0)


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
