"""The missing-data report against direct pandas counts on a hand-made panel."""

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg

matplotlib.use("Agg")


@pytest.fixture
def panel():
    # 6 persons, waves 0..3; arm constant per person
    rows = []
    rng = np.random.default_rng(1)
    plan = {1: [0, 1, 2, 3],        # complete
            2: [0, 1, 2, 3],        # outcome missing at wave 3 -> monotone
            3: [0, 1],              # rows absent from wave 2 -> monotone
            4: [0, 1, 2, 3],        # outcome missing at wave 1 -> intermittent
            5: [0, 2, 3],           # row absent at wave 1 -> intermittent
            6: [0, 1, 2, 3]}        # covariate missing at waves 2, 3 -> monotone
    for pid, waves in plan.items():
        for t in waves:
            rows.append({"id": pid, "time": t, "arm": "b" if pid % 2 else "a",
                         "x": float(rng.normal()), "y": float(rng.integers(0, 2)),
                         "unused": np.nan})
    df = pd.DataFrame(rows)
    df.loc[(df["id"] == 2) & (df["time"] == 3), "y"] = np.nan
    df.loc[(df["id"] == 4) & (df["time"] == 1), "y"] = np.nan
    df.loc[(df["id"] == 6) & (df["time"] >= 2), "x"] = np.nan
    df.loc[(df["id"] == 1) & (df["time"] == 0), ["x", "y"]] = np.nan  # two columns at once
    return df


FORMULA = "y ~ x + time + (1 | id)"


def test_dropped_rows_and_column_counts_equal_pandas_counts(panel):
    rep = smg.missing_report(panel, FORMULA, time="time")
    used = ["y", "x", "time", "id"]
    miss = panel[used].isna()
    assert rep.n_rows == len(panel)
    assert rep.n_dropped == int(miss.any(axis=1).sum()) == 5
    assert rep.columns["missing"].to_dict() == miss.sum().to_dict()
    only = miss[miss.sum(axis=1) == 1].sum()
    assert rep.columns["only_reason"].to_dict() == only.to_dict()
    assert "unused" not in rep.columns.index
    assert rep.n_persons == panel["id"].nunique()


def test_patterns_and_kinds_equal_a_direct_classification(panel):
    rep = smg.missing_report(panel, FORMULA, time="time", arm="arm")
    kept = panel.dropna(subset=["y", "x", "time", "id"])
    grid = pd.crosstab(kept["id"], kept["time"]).reindex(index=range(1, 7), columns=range(4),
                                                          fill_value=0)
    text = {i: "".join("X" if v else "." for v in grid.loc[i]) for i in grid.index}
    assert rep.person_patterns["pattern"].to_dict() == text
    assert text == {1: ".XXX", 2: "XXX.", 3: "XX..", 4: "X.XX", 5: "X.XX", 6: "XX.."}
    kinds = rep.person_patterns["kind"].to_dict()
    assert kinds == {1: "intermittent", 2: "monotone", 3: "monotone", 4: "intermittent",
                     5: "intermittent", 6: "monotone"}
    assert rep.kinds.loc["monotone", "all"] == 3 and rep.kinds.loc["complete", "all"] == 0
    assert rep.kinds.loc["intermittent", "b"] == 2  # persons 1 and 5
    assert rep.patterns.loc["X.XX", "persons"] == 2


def test_dropout_by_wave_and_arm_equals_direct_counts(panel):
    rep = smg.missing_report(panel, FORMULA, time="time", arm="arm")
    kept = panel.dropna(subset=["y", "x", "time", "id"])
    last = kept.groupby("id")["time"].max().reindex(range(1, 7))
    arm = panel.groupby("id")["arm"].first()
    for a in ["a", "b", "all"]:
        ids = arm.index if a == "all" else arm.index[arm == a]
        for t in range(4):
            row = rep.dropout.loc[(a, t)]
            observed = kept[(kept["time"] == t) & kept["id"].isin(ids)]["id"].nunique()
            assert row["observed"] == observed
            assert row["missing"] == len(ids) - observed
            assert row["dropped_out"] == int((last[ids] < t).sum())


def test_model_report_matches_the_function_and_refuses_other_data(panel):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = smg.mixedglm(FORMULA, panel, family=sm.families.Binomial())
    rep = model.missing_report(panel, time="time")
    assert rep.n_dropped == model.design.n_dropped == 5
    assert rep.columns.equals(smg.missing_report(panel, FORMULA, time="time").columns)
    with pytest.raises(ValueError, match="pass the data the model was built from"):
        model.missing_report(panel.iloc[:10], time="time")
    with pytest.raises(ValueError, match="data must be a pandas DataFrame"):
        model.missing_report([1, 2], time="time")
    if getattr(model.data, "frame", None) is None:
        with pytest.raises(ValueError, match="data is needed"):
            model.missing_report(time="time")


def test_report_summary_and_plot(panel):
    rep = smg.missing_report(panel, FORMULA, time="time", arm="arm")
    text = rep.summary()
    assert "dropped by the model" in text and "X.XX" in text and "intermittent" in text
    assert str(rep) == text
    fig = rep.plot()
    assert len(fig.axes[0].lines) == 4  # observed and dropped out, two arms
    with pytest.raises(ValueError, match="time="):
        smg.missing_report(panel, FORMULA).plot()


def test_report_refuses_bad_arguments_by_name(panel):
    with pytest.raises(ValueError, match="time must name a column"):
        smg.missing_report(panel, FORMULA, time="wave")
    with pytest.raises(ValueError, match="arm must name a column"):
        smg.missing_report(panel, FORMULA, time="time", arm="treatment")
    with pytest.raises(ValueError, match="formula must be a formula string"):
        smg.missing_report(panel, "y")
    with pytest.raises(ValueError, match="data must be a pandas DataFrame"):
        smg.missing_report(panel.to_numpy(), FORMULA)
    with pytest.raises(ValueError, match="groups is needed"):
        smg.missing_report(panel, "y ~ x")
    with pytest.raises(ValueError, match="not in data"):
        smg.missing_report(panel, "y ~ z + (1 | id)")
    varying = panel.assign(arm=np.where(panel["time"] == 0, "a", "b"))
    with pytest.raises(ValueError, match="changes within persons"):
        smg.missing_report(varying, FORMULA, time="time", arm="arm")


def test_report_leaves_the_data_unchanged(panel):
    before = panel.copy()
    smg.missing_report(panel, FORMULA, time="time", arm="arm")
    pd.testing.assert_frame_equal(panel, before)


def test_summary_of_a_fit_with_dropped_rows_points_to_the_report():
    df = smg.simulate_longitudinal("poisson", n_persons=40, seed=3)
    res = smg.mixedglm("y ~ time + stress + (1 | id)", df, family=sm.families.Poisson()).fit()
    assert "missing_report" not in str(res.summary())
    df.loc[[1, 5, 9], "stress"] = np.nan
    res = smg.mixedglm("y ~ time + stress + (1 | id)", df, family=sm.families.Poisson()).fit()
    assert "3 rows with a missing value were left out" in str(res.summary())
