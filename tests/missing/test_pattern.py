"""Pattern-mixture estimates averaged over dropout patterns."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg


def fit(df, formula="y ~ time * group + (1 | id)", family=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smg.mixedglm(formula, df, family=family or sm.families.Poisson()).fit()


def test_single_pattern_gives_the_plain_fit():
    df = smg.simulate_longitudinal("poisson", n_persons=80, seed=1, dropout=0.0)
    res = fit(df)
    pm = res.pattern_mixture(time="time", term="time:group")
    assert len(pm.term_table) == 1
    np.testing.assert_allclose(pm.params, res.fe_params, rtol=0, atol=0)
    np.testing.assert_allclose(pm.bse, res.bse_fe, rtol=1e-12)
    assert pm.refit is res._results


def test_averaged_estimate_equals_the_share_weighted_pattern_coefficients():
    df = smg.simulate_longitudinal("poisson", n_persons=300, seed=2, dropout=0.25)
    res = fit(df)
    pm = res.pattern_mixture(time="time", term="time:group", min_persons=20)
    last = df.groupby("id")["time"].max()
    tt = pm.term_table
    # merged patterns hold every person; shares from direct counts
    assert tt["persons"].sum() == df["id"].nunique()
    assert np.isclose(tt["share"].sum(), 1.0)
    refit = pm.refit
    b = refit.fe_params
    names = refit.model.exog_names
    k = names.index("time:group")
    # the interaction columns of time:group, in pattern order (the reference is last)
    extra = [n for n in names if n.endswith(f"_x{res.model.exog_names.index('time:group')}")]
    per = [b["time:group"] + b[n] for n in extra] + [b["time:group"]]
    np.testing.assert_allclose(tt["estimate"], per, rtol=1e-12)
    assert pm.params["time:group"] == pytest.approx(float(np.dot(tt["share"], per)), rel=1e-12)
    # the SE includes the covariance of the refit and the variance of the shares
    a = np.zeros(len(names))
    a[k] = 1.0
    for n, s in zip(extra, tt["share"]):
        a[names.index(n)] = s
    V = refit.cov_params_fe()
    pi = tt["share"].to_numpy()
    S = (np.diag(pi) - np.outer(pi, pi)) / len(last)
    se = np.sqrt(a @ V @ a + np.array(per) @ S @ np.array(per))
    assert pm.bse["time:group"] == pytest.approx(se, rel=1e-10)
    assert "Assumption" in pm.summary()


def test_small_and_single_wave_patterns_are_merged_into_later_ones():
    df = smg.simulate_longitudinal("poisson", n_persons=200, seed=5, dropout=0.3)
    res = fit(df)
    pm = res.pattern_mixture(time="time", min_persons=60)
    assert (pm.term_table["persons"] >= 60).all()
    assert 0.0 not in pm.term_table.index  # only-baseline persons show no trajectory
    assert pm.info["merged"]
    assert "Merged" in pm.summary()


def test_pattern_mixture_refuses_bad_arguments_by_name():
    df = smg.simulate_longitudinal("poisson", n_persons=60, seed=3)
    df["wave"] = df["time"].map({0: "a", 1: "b", 2: "c", 3: "d", 4: "e"})
    res = fit(df, "y ~ time * group + wave + (1 | id)")
    with pytest.raises(ValueError, match="time must name a column"):
        res.pattern_mixture(time="visit")
    with pytest.raises(ValueError, match="must be numeric"):
        res.pattern_mixture(time="wave")
    with pytest.raises(ValueError, match="term must name a fixed effect"):
        res.pattern_mixture(time="time", term="time:arm")
    with pytest.raises(ValueError, match="min_persons"):
        res.pattern_mixture(time="time", min_persons=0)
    with pytest.raises(ValueError, match="alpha"):
        res.pattern_mixture(time="time", alpha=0)
    res2 = fit(df, "y ~ group + (1 + time | id)")
    with pytest.raises(ValueError, match="no fixed effect of the model involves 'time'"):
        res2.pattern_mixture(time="time")


def test_pattern_mixture_leaves_the_data_unchanged():
    df = smg.simulate_longitudinal("poisson", n_persons=100, seed=6, dropout=0.2)
    before = df.copy()
    fit(df).pattern_mixture(time="time")
    pd.testing.assert_frame_equal(df, before)
