"""Design building: missing data, spellings, and bad input with clear messages."""

import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from conftest import load_dataset

B = sm.families.Binomial()


@pytest.fixture
def df():
    return smg.simulate_longitudinal("binary", n_persons=80, seed=11)


def test_three_spellings_agree(df):
    r1 = smg.mixedglm("y ~ time * group + stress + (1 + time | id)", df, family=B).fit()
    r2 = smg.mixedglm("y ~ time * group + stress", df, groups="id", re_formula="~time",
                      family=B).fit()
    X = r1.model.exog
    d = r1.model.design
    r3 = smg.MixedGLM(df["y"], pd.DataFrame(X, columns=r1.model.exog_names), df["id"],
                      exog_re=df[["time"]].assign(Intercept=1.0)[["Intercept", "time"]],
                      family=B).fit()
    assert r2.llf == pytest.approx(r1.llf, abs=1e-8)
    assert r3.llf == pytest.approx(r1.llf, abs=1e-6)
    np.testing.assert_allclose(r3.params.to_numpy(), r1.params.to_numpy(), atol=1e-5)
    assert d.n_groups == df["id"].nunique()


def test_uncorrelated_terms_have_no_covariance(df):
    res = smg.mixedglm("y ~ time + (1 + time || id)", df, family=B).fit()
    assert list(res.params.index[-2:]) == ["id Intercept Var", "id time Var"]
    assert res.cov_re.loc["Intercept", "time"] == 0.0


def test_missing_rows_dropped_and_counted(df):
    dfm = df.copy()
    dfm.loc[[3, 10, 25], "stress"] = np.nan
    dfm.loc[40, "y"] = np.nan
    dfm.loc[50, "id"] = np.nan
    before = dfm.copy()
    res = smg.mixedglm("y ~ time + stress + (1 | id)", dfm, family=B).fit()
    pd.testing.assert_frame_equal(dfm, before)  # the user's data is untouched
    assert res.model.design.n_dropped == 5
    assert res.nobs == len(df) - 5
    assert re.search(r"Rows dropped \(missing\):\s+5\b", str(res.summary()))
    ref = smg.mixedglm("y ~ time + stress + (1 | id)", dfm.dropna(), family=B).fit()
    assert res.llf == pytest.approx(ref.llf, abs=1e-8)
    # fitted values align with the rows that were kept
    assert list(res.fittedvalues.index) == list(dfm.dropna().index)
    with pytest.raises(ValueError, match="missing"):
        smg.mixedglm("y ~ time + stress + (1 | id)", dfm, family=B, missing="raise")


def test_unsorted_rows_and_string_groups(df):
    shuffled = df.sample(frac=1.0, random_state=0)
    shuffled["pid"] = "p" + shuffled["id"].astype(str)
    r1 = smg.mixedglm("y ~ time + (1 | id)", df, family=B).fit()
    r2 = smg.mixedglm("y ~ time + (1 | pid)", shuffled, family=B).fit()
    assert r2.llf == pytest.approx(r1.llf, abs=1e-7)
    # fitted values follow the user's row order
    np.testing.assert_allclose(r2.fittedvalues.loc[df.index].to_numpy(),
                               r1.fittedvalues.to_numpy(), atol=1e-6)
    assert r2.random_effects["p1"]["Intercept"] == pytest.approx(
        r1.random_effects[1]["Intercept"], abs=1e-5)


def test_offset_and_exposure_match_glm_convention():
    df = load_dataset("epil")
    df["expo"] = 2.0 + (df["period"].astype(float) % 2)
    r_exp = smg.mixedglm("y ~ lbase + trt + (1 | subject)", df, family=sm.families.Poisson(),
                         exposure="expo").fit()
    r_off = smg.mixedglm("y ~ lbase + trt + (1 | subject)", df, family=sm.families.Poisson(),
                         offset=np.log(df["expo"])).fit()
    assert r_exp.llf == pytest.approx(r_off.llf, abs=1e-8)
    # doubling exposure shifts the intercept by log 2 and nothing else
    r2 = smg.mixedglm("y ~ lbase + trt + (1 | subject)", df, family=sm.families.Poisson(),
                      offset=np.log(df["expo"]) + np.log(2.0)).fit()
    assert r2.fe_params["Intercept"] == pytest.approx(r_off.fe_params["Intercept"] - np.log(2),
                                                      abs=1e-5)
    assert r2.llf == pytest.approx(r_off.llf, abs=1e-6)


@pytest.mark.parametrize("formula,kwargs,match", [
    ("y ~ time + (1 | nope)", {}, "grouping column 'nope'"),
    ("y ~ time + nope + (1 | id)", {}, "column 'nope'"),
    ("y ~ time + (1 + nope | id)", {}, "column 'nope'"),
    ("y ~ time", {}, "no random effects"),
    ("y ~ time", {"groups": "nope"}, "grouping column 'nope'"),
    ("y ~ time + (1 + group | id)", {}, "constant within every group"),
])
def test_bad_input_messages(df, formula, kwargs, match):
    with pytest.raises((ValueError, NotImplementedError), match=match):
        smg.mixedglm(formula, df, family=B, **kwargs)


def test_bad_responses(df):
    bad = df.assign(y=df["y"] * 2)
    with pytest.raises(ValueError, match="'y' must be 0/1"):
        smg.mixedglm("y ~ time + (1 | id)", bad, family=B)
    with pytest.raises(ValueError, match="negative"):
        smg.mixedglm("y ~ time + (1 | id)", df.assign(y=df["y"] - 1),
                     family=sm.families.Poisson())
    with pytest.raises(ValueError, match="non-integer"):
        smg.mixedglm("y ~ time + (1 | id)", df.assign(y=df["y"] + 0.5),
                     family=sm.families.Poisson())
    with pytest.raises(ValueError, match="zero in every row"):
        smg.mixedglm("y ~ time + (1 | id)", df.assign(y=0), family=sm.families.Poisson())
    with pytest.raises(ValueError, match="single group"):
        smg.mixedglm("y ~ time + (1 | g)", df.assign(g=1), family=B)
    with pytest.raises(ValueError, match="link"):
        smg.mixedglm("y ~ time + (1 | id)", df,
                     family=sm.families.Poisson(link=sm.families.links.Identity()))
    with pytest.raises(ValueError, match="DataFrame"):
        smg.mixedglm("y ~ time + (1 | id)", df.to_dict("list"), family=B)


def test_arrays_api_names_and_lengths(df):
    with pytest.raises(ValueError, match="groups has"):
        smg.MixedGLM(df["y"], np.ones((len(df), 1)), df["id"][:-1], family=B)
    res = smg.MixedGLM(df["y"].to_numpy(), np.column_stack([np.ones(len(df)), df["time"]]),
                       df["id"].to_numpy(), family=B).fit()
    assert list(res.params.index) == ["x1", "x2", "Group Intercept Var"]
