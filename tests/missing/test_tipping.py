"""Delta-adjusted multiple imputation (tipping point) of missing outcomes."""

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import integrate
from scipy.special import expit

import statsmodels_glmm.api as smg
from statsmodels_glmm.missing.imputation import draw_random_effects
from statsmodels_glmm.missing.tipping import TippingPointResults, _crossings

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def binary_fit():
    df = smg.simulate_longitudinal("binary", n_persons=300, seed=11, dropout=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm("y ~ time * group + (1 | id)", df,
                           family=sm.families.Binomial()).fit(check_laplace=False)
    return df, res


def test_delta_zero_estimate_equals_the_direct_fit_within_monte_carlo_error(binary_fit):
    df, res = binary_fit
    tp = res.tipping_point("time:group", deltas=[0.0], m=20, seed=5, time="time")
    row = tp.table.iloc[0]
    b, se = res.params["time:group"], res.bse["time:group"]
    # Monte Carlo error of the pooled estimate: sqrt(B / m)
    mc = np.sqrt(np.var(tp.estimates[0], ddof=1) / 20)
    assert abs(row["estimate"] - b) < max(4 * mc, 0.1 * se)
    assert abs(row["estimate"] - b) < 0.15 * se
    # imputing adds no information: the pooled SE is the direct one or a little larger
    assert 0.9 * se < row["se"] < 1.25 * se
    assert tp.info["n_imputed"] == 300 * 5 - res.nobs


def test_estimates_move_monotonically_with_delta_in_one_arm(binary_fit):
    df, res = binary_fit
    tp = res.tipping_point("time:group", deltas=[-2, -1, 0, 1, 2], arm="group", arm_level=1,
                           m=4, seed=2, time="time")
    est = tp.table["estimate"].to_numpy()
    assert np.all(np.diff(est) > 0)
    # shifting the other arm moves the interaction the other way
    tp0 = res.tipping_point("time:group", deltas=[-1, 1], arm=("group", 0), m=4, seed=2,
                            time="time")
    assert tp0.table["estimate"].iloc[0] > tp0.table["estimate"].iloc[1]
    assert tp.info["n_shifted"] < tp.info["n_imputed"]


def test_after_dropout_shifts_only_waves_after_the_last_observed_one(binary_fit):
    df, res = binary_fit
    tp = res.tipping_point("time:group", deltas=[0.0, 1.0], arm="group", arm_level=1, m=2,
                           seed=1, time="time", after_dropout=True)
    last = df.groupby("id")["time"].max()
    grp = df.groupby("id")["group"].first()
    expected = sum(int(4 - last[i]) for i in last.index if grp[i] == 1)
    assert tp.info["n_shifted"] == expected
    assert tp.info["n_imputed"] > expected  # intermittent waves stay MAR
    assert "after the person's last observed wave" in tp.summary()
    with pytest.raises(ValueError, match="after_dropout needs time"):
        res.tipping_point("time:group", data=df, after_dropout=True)
    with pytest.raises(ValueError, match="after_dropout must be True or False"):
        res.tipping_point("time:group", time="time", after_dropout="yes")


def test_tipping_delta_is_interpolated_where_significance_changes():
    table = pd.DataFrame({"delta": [0.0, 1.0, 2.0], "estimate": [0.5, 0.3, 0.1],
                          "se": [0.1, 0.1, 0.1], "df": [np.inf] * 3})
    table["t"] = table["estimate"] / table["se"]
    table["pvalue"] = 0.0
    crit = 1.959963984540054
    # |t| - crit: 5 - crit at 0, 3 - crit at 1, 1 - crit at 2: crossing in (1, 2)
    expected = 1 + (3 - crit) / ((3 - crit) - (1 - crit))
    assert _crossings(table, 0.05) == [pytest.approx(expected)]
    tp = TippingPointResults(table.assign(lower=0.0, upper=1.0, fmi=0.0),
                             {"alpha": 0.05, "term": "x", "direct": (0.5, 0.1), "arm": None,
                              "n_imputed": 1, "n_shifted": 1, "n_observed": 1, "m": 2,
                              "median_ess": 40.0, "min_ess": 30.0, "not_converged": 0,
                              "family": "Binomial"})
    assert tp.tipping_delta == pytest.approx(expected)
    assert f"{expected:.3f}" in tp.summary()
    assert len(tp.plot().axes[0].lines) >= 2


def test_random_effect_draws_match_the_conditional_distribution_by_quadrature():
    df = smg.simulate_longitudinal("binary", n_persons=40, seed=4, dropout=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm("y ~ time + (1 | id)", df,
                           family=sm.families.Binomial()).fit(check_laplace=False)
    m, d = res.model, res.model.design
    x = res.mle_retvals["internal_params"]
    beta = x[:2]
    sd = float(np.sqrt(res.cov_re.iloc[0, 0]))
    rng = np.random.default_rng(0)
    draws = np.array([draw_random_effects(m, x, rng, n_proposals=30)[0][:, 0]
                      for _ in range(1500)])
    for g in range(4):
        rows = d.gid == g
        eta0 = d.X[rows] @ beta
        y = d.y[rows, 0]

        def joint(b, k):
            p = expit(eta0 + b)
            return b ** k * np.prod(np.where(y == 1, p, 1 - p)) * np.exp(-0.5 * (b / sd) ** 2)

        norm = integrate.quad(joint, -12, 12, args=(0,))[0]
        mean = integrate.quad(joint, -12, 12, args=(1,))[0] / norm
        var = integrate.quad(joint, -12, 12, args=(2,))[0] / norm - mean ** 2
        assert draws[:, g].mean() == pytest.approx(mean, abs=4 * np.sqrt(var / 1500))
        assert draws[:, g].var() == pytest.approx(var, rel=0.15)


def test_rows_with_missing_outcome_in_data_are_imputed_and_data_is_unchanged():
    df = smg.simulate_longitudinal("poisson", n_persons=120, seed=8, dropout=0.0)
    df.loc[df.index % 7 == 3, "y"] = np.nan
    before = df.copy()
    res = smg.mixedglm("y ~ time * group + (1 | id)", df, family=sm.families.Poisson()).fit()
    tp = res.tipping_point("time", deltas=[0.0, 2.0], m=3, seed=1, data=df)
    pd.testing.assert_frame_equal(df, before)
    assert tp.info["n_imputed"] == int(df["y"].isna().sum())
    # higher imputed counts at later waves raise the time slope
    assert tp.table["estimate"].iloc[1] > tp.table["estimate"].iloc[0]
    with pytest.raises(ValueError, match="pass the data the model was fitted to"):
        res.tipping_point("time", deltas=[0.0], m=2, data=df.iloc[:100])


@pytest.mark.parametrize("kind,family", [
    ("ordinal", None), ("negbin", "nb"), ("zip", "zip")])
def test_other_families_impute_valid_outcomes(kind, family):
    df = smg.simulate_longitudinal(kind, n_persons=100, seed=3, dropout=0.15)
    kw = {}
    if kind == "ordinal":
        df["y"] = pd.Categorical(df["y"], categories=[1, 2, 3, 4], ordered=True)
        fam = smg.families.Ordinal()
    elif family == "nb":
        fam = smg.families.NegativeBinomial()
    else:
        fam = sm.families.Poisson()
        kw["zi_formula"] = "~1"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm("y ~ time * group + (1 | id)", df, family=fam, **kw).fit()
        tp = res.tipping_point("time", deltas=[-1.0, 1.0], m=2, seed=0, time="time")
    est = tp.table["estimate"].to_numpy()
    assert np.all(np.isfinite(tp.table[["estimate", "se", "df", "pvalue"]].to_numpy()))
    assert est[1] > est[0]


def test_tipping_point_refuses_bad_arguments_by_name(binary_fit):
    df, res = binary_fit
    tp = res.tipping_point
    with pytest.raises(ValueError, match="term must name a fixed effect"):
        tp("time:arm", time="time")
    for bad in ["big", [0, "a"], [np.nan], []]:
        with pytest.raises(ValueError, match="deltas must"):
            tp("time:group", deltas=bad, time="time")
    for bad in [1, 2.5, True]:
        with pytest.raises(ValueError, match="m .the number of imputations. must"):
            tp("time:group", m=bad, time="time")
    with pytest.raises(ValueError, match="arm must name a column"):
        tp("time:group", arm="treatment", arm_level=1, time="time")
    with pytest.raises(ValueError, match="arm_level is needed"):
        tp("time:group", arm="group", time="time")
    with pytest.raises(ValueError, match="arm_level 7 is not a value"):
        tp("time:group", arm="group", arm_level=7, time="time")
    with pytest.raises(ValueError, match="arm_level needs arm"):
        tp("time:group", arm_level=1, time="time")
    with pytest.raises(ValueError, match="time must name a column"):
        tp("time:group", time="wave")
    with pytest.raises(ValueError, match="waves needs time"):
        tp("time:group", waves=[0, 1])
    with pytest.raises(ValueError, match="no missing outcome to impute"):
        tp("time:group")
    with pytest.raises(ValueError, match="data must be a pandas DataFrame"):
        tp("time:group", data=df.to_numpy())
    with pytest.raises(ValueError, match="lacks the column 'group'"):
        tp("time:group", data=df.drop(columns="group"))
    with pytest.raises(ValueError, match="alpha"):
        tp("time:group", alpha=2, time="time")
    with pytest.raises(ValueError, match="n_proposals"):
        tp("time:group", n_proposals=0, time="time")
    with pytest.raises(ValueError, match="fit_kwargs"):
        tp("time:group", fit_kwargs=[1], time="time")
    with pytest.raises(ValueError, match="seed"):
        tp("time:group", seed="x", time="time")


def test_tipping_point_refuses_models_it_cannot_impute():
    df = smg.simulate_longitudinal("binary", n_persons=60, seed=2)
    df["site"] = df["id"] % 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm("y ~ time + (1 | id) + (1 | site)", df,
                           family=sm.families.Binomial()).fit()
    with pytest.raises(NotImplementedError, match="one grouping factor"):
        res.tipping_point("time", time="time")
    df["n"] = 3
    df["k"] = np.minimum(df["y"] * 2, 3)
    df["f"] = df["n"] - df["k"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm("k + f ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
    with pytest.raises(NotImplementedError, match="not a plain column"):
        res.tipping_point("time", time="time")


def test_fits_whose_rows_are_on_a_dask_cluster_are_refused():
    df = smg.simulate_longitudinal("poisson", n_persons=40, seed=2)
    res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    res.model._parts = ["partition"]  # what a Dask model holds instead of its rows
    with pytest.raises(NotImplementedError, match="does not run on a Dask fit"):
        res.tipping_point("time", time="time")
    with pytest.raises(NotImplementedError, match="does not run on a Dask fit"):
        res.pattern_mixture(time="time")
