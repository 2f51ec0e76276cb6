"""Wald tests of fixed effects on a singular fit (random-effect covariances without SE)."""

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg


@pytest.fixture(scope="module")
def singular():
    # no slope variance in the data: the fitted slope is perfectly correlated with the
    # intercept, G is rank deficient and its covariance and slope variance have no SE
    df = smg.simulate_longitudinal("poisson", n_persons=40, seed=2, sd=(0.7, 0.0))
    res = smg.mixedglm("y ~ time + (time | id)", df, family=sm.families.Poisson()).fit()
    assert res.is_singular
    assert np.isnan(res.bse["id Intercept x time Cov"]) and np.isnan(res.bse["id time Var"])
    return res


def test_t_test_of_fixed_effect_is_z_of_params_over_bse(singular):
    res = singular
    z = res.params["time"] / res.bse["time"]
    tt = res.t_test("time = 0")
    assert float(np.squeeze(tt.tvalue)) == pytest.approx(z, rel=1e-14)
    assert float(np.squeeze(tt.sd)) == pytest.approx(res.bse["time"], rel=1e-14)
    assert float(np.squeeze(tt.pvalue)) == pytest.approx(res.pvalues["time"], rel=1e-12)
    assert np.isfinite(z)


def test_wald_test_of_fixed_effect_is_z_squared(singular):
    res = singular
    z = res.params["time"] / res.bse["time"]
    wt = res.wald_test("time = 0", scalar=True)
    assert float(wt.statistic) == pytest.approx(z ** 2, rel=1e-13)


def test_joint_wald_test_uses_the_fixed_effect_block(singular):
    res = singular
    names = ["Intercept", "time"]
    b = res.params[names].to_numpy()
    V = res.cov_params().loc[names, names].to_numpy()
    wt = res.wald_test("Intercept = 0, time = 0", scalar=True)
    assert float(wt.statistic) == pytest.approx(b @ np.linalg.solve(V, b), rel=1e-10)
    tt = res.t_test("Intercept - time = 0")
    d = np.array([1.0, -1.0])
    assert float(np.squeeze(tt.tvalue)) == pytest.approx((d @ b) / np.sqrt(d @ V @ d),
                                                         rel=1e-12)


def test_restriction_on_parameter_without_se_stays_nan(singular):
    res = singular
    R = np.zeros((2, len(res.params)))
    R[0, list(res.params.index).index("time")] = 1.0
    R[1, list(res.params.index).index("id time Var")] = 1.0
    with pytest.warns(UserWarning, match="no Wald test"):
        tt = res.t_test(R)
    t = np.asarray(tt.tvalue, dtype=float).ravel()
    assert t[0] == pytest.approx(res.params["time"] / res.bse["time"], rel=1e-14)
    assert np.isnan(t[1]) and np.isnan(np.asarray(tt.sd, dtype=float).ravel()[1])
    assert np.isnan(np.asarray(tt.pvalue, dtype=float).ravel()[1])
    with pytest.warns(UserWarning, match="no Wald test"):
        wt = res.wald_test(R, scalar=True)
    assert np.isnan(wt.statistic) and np.isnan(wt.pvalue)


def test_given_cov_p_is_used(singular):
    res = singular
    cov = 4.0 * res.cov_params().to_numpy()
    tt = res.t_test("time = 0", cov_p=cov)
    z = res.params["time"] / res.bse["time"]
    assert float(np.squeeze(tt.tvalue)) == pytest.approx(z / 2, rel=1e-13)
