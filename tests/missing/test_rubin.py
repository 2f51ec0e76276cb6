"""Rubin's rules and Barnard-Rubin degrees of freedom against hand computations."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from statsmodels_glmm.missing.rubin import PooledResults, rubin_pool

Q = np.array([[1.10, -0.40], [0.95, -0.55], [1.30, -0.35], [1.05, -0.60]])
U = np.array([[0.040, 0.010], [0.050, 0.012], [0.045, 0.011], [0.055, 0.013]])


def hand(q, u, m, df_com):
    """One parameter by the textbook formulas, written out term by term."""
    qbar = sum(q) / m
    ubar = sum(u) / m
    b = sum((x - qbar) ** 2 for x in q) / (m - 1)
    t = ubar + (1 + 1 / m) * b
    lam = (1 + 1 / m) * b / t
    r = (1 + 1 / m) * b / ubar
    nu_old = (m - 1) / lam ** 2
    if np.isinf(df_com):
        nu = nu_old
    else:
        nu_obs = (df_com + 1) / (df_com + 3) * df_com * (1 - lam)
        nu = nu_old * nu_obs / (nu_old + nu_obs)
    fmi = (r + 2 / (nu + 3)) / (r + 1)
    return qbar, ubar, b, t, nu, fmi


@pytest.mark.parametrize("df_com", [np.inf, 50.0, 8.0])
def test_pooled_estimates_variances_df_and_fmi_equal_hand_computation(df_com):
    out = rubin_pool(Q, U, df_com)
    for j in range(2):
        qbar, ubar, b, t, nu, fmi = hand(Q[:, j].tolist(), U[:, j].tolist(), 4, df_com)
        row = out.iloc[j]
        assert row["estimate"] == pytest.approx(qbar, rel=1e-12)
        assert row["within"] == pytest.approx(ubar, rel=1e-12)
        assert row["between"] == pytest.approx(b, rel=1e-12)
        assert row["total"] == pytest.approx(t, rel=1e-12)
        assert row["se"] == pytest.approx(np.sqrt(t), rel=1e-12)
        assert row["df"] == pytest.approx(nu, rel=1e-10)
        assert row["fmi"] == pytest.approx(fmi, rel=1e-10)


def test_barnard_rubin_df_is_below_the_complete_data_df():
    out = rubin_pool(Q, U, 8.0)
    assert np.all(out["df"] < 8.0)
    assert np.all(out["df"] < rubin_pool(Q, U, np.inf)["df"])


def test_identical_imputations_have_no_between_variance_and_df_of_complete_data_rule():
    q = np.array([[2.0], [2.0], [2.0]])
    u = np.array([[0.3], [0.3], [0.3]])
    out = rubin_pool(q, u, 20.0).iloc[0]
    assert out["between"] == 0 and out["total"] == pytest.approx(0.3)
    # lambda = 0: nu_obs = (21 / 23) * 20
    assert out["df"] == pytest.approx(21 / 23 * 20)


def test_pooled_results_tests_and_intervals_use_t_with_pooled_df():
    est = pd.DataFrame(Q, columns=["a", "b"])
    var = pd.DataFrame(U, columns=["a", "b"])
    r = PooledResults(est, var, df_com=30.0)
    pool = rubin_pool(Q, U, 30.0)
    se, df = pool["se"].to_numpy(), pool["df"].to_numpy()
    assert np.allclose(r.tvalues, Q.mean(0) / se)
    assert np.allclose(r.pvalues, 2 * stats.t.sf(np.abs(Q.mean(0) / se), df))
    ci = r.conf_int(0.1)
    assert np.allclose(ci["upper"] - ci["lower"], 2 * stats.t.ppf(0.95, df) * se)
    assert "FMI" in str(r.summary()) and "Barnard-Rubin" in str(r)


def test_pooling_refuses_fewer_than_two_imputations_and_mismatched_shapes():
    with pytest.raises(ValueError, match="at least 2 imputations"):
        rubin_pool(Q[:1], U[:1])
    with pytest.raises(ValueError, match="differ in shape"):
        rubin_pool(Q, U[:, :1])
    r = PooledResults(pd.DataFrame(Q), pd.DataFrame(U))
    with pytest.raises(ValueError, match="alpha"):
        r.conf_int(1.5)
