"""The checks mixin on fitted results: wiring, caching, no side effects, pickling."""

import pickle

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.checks.mixin import ChecksMixin
from statsmodels_glmm.checks.r2 import null_model_fit
from statsmodels_glmm.checks.simulated_residuals import SimulatedResiduals


@pytest.fixture(scope="module")
def zip_fit():
    df = smg.simulate_longitudinal("zip", n_persons=120, seed=31)
    res = smg.mixedglm("y ~ time + group + (1 | id)", df, family=sm.families.Poisson(),
                       zi_formula="~1").fit()
    return df, res


def test_results_have_the_check_methods(zip_fit):
    _, res = zip_fit
    assert isinstance(res._results, ChecksMixin)
    for name in ("simulated_residuals", "variance_components", "r2", "icc"):
        assert callable(getattr(res, name))
    assert isinstance(res.simulated_residuals(nsim=20, seed=0), SimulatedResiduals)


def test_null_model_is_cached_and_leaves_the_fit_alone(zip_fit):
    df, res = zip_fit
    d = res.model.design
    X, y, W = d.X.copy(), d.y.copy(), res.model.response.W.copy()
    params = res.params.copy()
    df_before = df.copy()
    v1 = res.variance_components()
    null = null_model_fit(res._results)
    assert null is null_model_fit(res._results)          # cached: no second fit
    assert list(null.params.index) == ["Intercept", "id Intercept Var", "inflate_Intercept"]
    assert null.nobs == res.nobs and null.n_groups == res.n_groups
    # the fitted model, its family and the user's data are untouched
    np.testing.assert_array_equal(d.X, X)
    np.testing.assert_array_equal(d.y, y)
    np.testing.assert_array_equal(res.model.response.W, W)
    pd.testing.assert_series_equal(res.params, params)
    pd.testing.assert_frame_equal(df, df_before)
    assert res.model.response is not null.model.response
    # the null model's own log-likelihood is below the full model's
    assert null.llf < res.llf
    pd.testing.assert_series_equal(res.variance_components(), v1)


def test_null_model_needs_an_intercept():
    df = smg.simulate_longitudinal("ordinal", n_persons=60, seed=2)
    res = smg.mixedglm("y ~ time + (1 | id)", df, family=smg.families.Ordinal()).fit()
    with pytest.raises(ValueError, match="intercept"):
        null_model_fit(res._results)
    # R-squared of an ordinal fit needs no null model
    assert 0 < res.r2()["r2_marginal"] < res.r2()["r2_conditional"] < 1


def test_results_pickle_after_checks(zip_fit):
    _, res = zip_fit
    ic = res.icc()
    sr = res.simulated_residuals(nsim=20, seed=4)
    back = pickle.loads(pickle.dumps(res))
    pd.testing.assert_series_equal(back.icc(), ic)
    pd.testing.assert_series_equal(back.simulated_residuals(nsim=20, seed=4).residuals,
                                   sr.residuals)


def test_missing_rows_are_dropped_consistently():
    df = smg.simulate_longitudinal("poisson", n_persons=80, seed=9)
    df.loc[[3, 10, 50], "stress"] = np.nan
    res = smg.mixedglm("y ~ time + stress + (1 | id)", df, family=sm.families.Poisson()).fit()
    sr = res.simulated_residuals(nsim=30, seed=1)
    kept = df.index[df["stress"].notna()]
    assert sr.residuals.index.equals(kept)
    np.testing.assert_array_equal(sr.observed, df.loc[kept, "y"].to_numpy())


def test_several_grouping_factors_and_an_observation_level_term():
    rng = np.random.default_rng(0)
    df = smg.simulate_longitudinal("poisson", n_persons=200, seed=3)
    df["site"] = df["id"] % 10
    df["obs"] = np.arange(len(df))
    eta = (0.3 + 0.1 * df["time"] + rng.normal(0, 0.5, 10)[df["site"]]
           + rng.normal(0, 0.6, 201)[df["id"]] + rng.normal(0, 0.4, len(df)))
    df["y"] = rng.poisson(np.exp(eta))
    res = smg.mixedglm("y ~ time + (1 | site) + (1 | id) + (1 | obs)", df,
                       family=sm.families.Poisson()).fit()
    G = res.cov_re.to_numpy()
    vc = res.variance_components()
    # intercept-only terms: z'Gz is the sum of the variances; obs is the dispersion part
    assert vc["var_random"] == pytest.approx(G[0, 0] + G[1, 1], rel=1e-12)
    assert vc["var_dispersion"] == pytest.approx(G[2, 2], rel=1e-12)
    assert vc["var_residual"] == pytest.approx(vc["var_distribution"] + G[2, 2], rel=1e-12)
    assert vc["var_intercept site"] == pytest.approx(G[0, 0], rel=1e-12)
    assert vc["var_intercept id"] == pytest.approx(G[1, 1], rel=1e-12)
    sr = res.simulated_residuals(nsim=100, seed=0)
    # within-group centring uses the person, the finest factor that is not per row
    np.testing.assert_array_equal(pd.factorize(sr.groups)[0], pd.factorize(df["id"])[0])
    t = sr.tests()
    assert t.loc["uniformity", "pvalue"] > 0.01
    assert t.loc["dispersion", "pvalue"] > 0.01
