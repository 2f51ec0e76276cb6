"""
What statsmodels' own tools and econometrics-style users expect of the results:
statsmodels' generic checks, ``resid``, ``deviance``, ``pearson_chi2``, degrees of
freedom, information criteria, no Wald test (nor stars) for variance parameters,
``summary2()``, one width per summary, ``t_test_pairwise``, ``model.predict`` and
``remove_data()`` with ``save``/``load``.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import special, stats
from statsmodels.iolib.summary2 import summary_col
from statsmodels.stats.multitest import multipletests
from statsmodels.tools._testing import check_fitted, check_ftest_pvalues

import statsmodels_glmm.api as smg
from conftest import load_dataset, load_ref


def _formulaic_available():
    """True where this statsmodels can use the formulaic engine (statsmodels >= 0.15)."""
    from statsmodels_glmm.spec.formula_engine import formula_manager

    try:
        formula_manager("formulaic")
    except (ValueError, ImportError):
        return False
    return True


ENGINES = ["patsy", pytest.param("formulaic", marks=pytest.mark.skipif(
    not _formulaic_available(), reason="the formulaic engine needs statsmodels >= 0.15"))]

TOENAIL = "outcome_bin ~ treatment * time + (1 | patientID)"
SPECS = {
    "binomial": ("toenail", TOENAIL, lambda: sm.families.Binomial(), {}),
    "poisson": ("sim_poisson_small", "y ~ time * group + stress + (1 | id)",
                lambda: sm.families.Poisson(), {}),
    "negbin": ("sim_negbin_small", "y ~ time + group + (1 + time | id)",
               lambda: smg.families.NegativeBinomial(), {}),
    "zip": ("sim_zip_small", "y ~ time * group + stress + (1 + time | id)",
            lambda: sm.families.Poisson(), {"zi_formula": "~1"}),
    "ordinal": ("sim_ordinal_small", "y ~ time + group + (1 | id)",
                lambda: smg.families.Ordinal(), {}),
    "crossed": ("sim_crossed", "y ~ x + cond + (1 | subj) + (1 | item)",
                lambda: sm.families.Poisson(), {}),
    "nested": ("sim_nested", "ybin ~ time + treat + (1 + time | clinic) + (1 | clinic:patient)",
               lambda: sm.families.Binomial(), {}),
    "gaussian": ("sim_poisson_small", "np.log1p(y) ~ time + (1 + time | id)",
                 lambda: sm.families.Gaussian(), {}),
}
FIVE = ["binomial", "poisson", "negbin", "zip", "ordinal"]
_FITS = {}


def _data(name):
    return load_dataset(SPECS[name][0])


def _fit(name):
    if name not in _FITS:
        dataset, formula, family, kw = SPECS[name]
        _FITS[name] = smg.mixedglm(formula, load_dataset(dataset), family=family(),
                                   **kw).fit()
    return _FITS[name]


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return func(*args, **kwargs)


# ------------------------------------------------------ statsmodels' generic checks
@pytest.mark.parametrize("name", FIVE)
def test_statsmodels_generic_checks_pass(name):
    res = _fit(name)
    _quiet(check_ftest_pvalues, res)
    check_fitted(res)
    np.testing.assert_allclose(res.resid, res.model.endog - res.fittedvalues, rtol=1e-12)


@pytest.mark.parametrize("name", FIVE)
def test_t_test_agrees_with_tvalues_except_on_untested_rows(name):
    res = _fit(name)
    k = len(res.params)
    untested = np.isin(res.params.index, res.untested_params)
    tested = ~untested
    with pytest.warns(UserWarning, match="no Wald test"):
        tt = res.t_test(np.eye(k))
    # the checks of statsmodels' check_ttest_tvalues, on the tested rows
    np.testing.assert_allclose(tt.effect, res.params, rtol=1e-12)
    np.testing.assert_allclose(np.squeeze(tt.sd), res.bse, rtol=1e-10)
    np.testing.assert_allclose(np.squeeze(tt.tvalue)[tested], res.tvalues[tested], rtol=1e-12)
    np.testing.assert_allclose(tt.pvalue[tested], res.pvalues[tested], rtol=5e-10)
    np.testing.assert_allclose(tt.conf_int()[tested], res.conf_int().to_numpy()[tested],
                               rtol=1e-10)
    table = np.column_stack((res.params, res.bse, res.tvalues, res.pvalues, res.conf_int()))
    np.testing.assert_allclose(tt.summary_frame().values[tested], table[tested], rtol=1e-12)
    # the untested rows: effect and standard error, no statistic
    assert np.all(np.isnan(np.squeeze(tt.tvalue)[untested]))
    assert np.all(np.isnan(tt.pvalue[untested]))
    assert np.all(np.isnan(res.tvalues[untested])) and np.all(np.isnan(res.pvalues[untested]))
    assert np.all(np.isfinite(res.pvalues[tested]))
    np.testing.assert_allclose(res.pvalues[tested],
                               2 * stats.norm.sf(np.abs(res.params / res.bse)[tested]))
    first = res.t_test(np.eye(k)[0])
    assert float(first.pvalue) == pytest.approx(float(res.pvalues.iloc[0]), rel=5e-10)


def test_untested_params_are_variances_covariances_and_positive_family_parameters():
    assert _fit("negbin").untested_params == ["id Intercept Var", "id Intercept x time Cov",
                                              "id time Var", "alpha"]
    zip_res = _fit("zip")
    assert zip_res.untested_params == ["id Intercept Var", "id Intercept x time Cov",
                                       "id time Var"]
    assert np.isfinite(zip_res.pvalues["inflate_Intercept"])
    ordinal = _fit("ordinal")
    assert ordinal.untested_params == ["id Intercept Var"]
    assert np.all(np.isfinite(ordinal.pvalues[["1|2", "2|3", "3|4"]]))
    assert _fit("crossed").untested_params == ["subj Intercept Var", "item Intercept Var"]


def test_wald_test_involving_a_variance_is_nan_with_a_warning():
    res = _fit("poisson")
    with pytest.warns(UserWarning, match="no Wald test"):
        wt = res.wald_test("id Intercept Var = 0")
    assert np.isnan(wt.statistic) and np.isnan(wt.pvalue)
    with pytest.warns(UserWarning, match="no Wald test"):
        wt = res.wald_test("time = 0, id Intercept Var = 0")
    assert np.isnan(wt.pvalue)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wt = res.wald_test("time = 0, stress = 0")
    b = res.params[["time", "stress"]].to_numpy()
    V = res.cov_params().loc[["time", "stress"], ["time", "stress"]].to_numpy()
    assert wt.statistic == pytest.approx(b @ np.linalg.solve(V, b), rel=1e-10)
    assert wt.pvalue == pytest.approx(stats.chi2.sf(b @ np.linalg.solve(V, b), 2), rel=1e-8)


# --------------------------------------------------------- tables of other packages
def _summary_col_rows(table):
    text = str(table)
    return {line.split("  ")[0].strip(): line for line in text.splitlines()}


def test_summary_col_puts_no_stars_on_variance_rows():
    df = load_dataset("toenail")
    res = _fit("binomial")
    gee = smf.gee("outcome_bin ~ treatment * time", "patientID", df,
                  family=sm.families.Binomial(), cov_struct=sm.cov_struct.Exchangeable()).fit()
    glm = smf.glm("outcome_bin ~ treatment * time", df, family=sm.families.Binomial()).fit()
    rows = _summary_col_rows(summary_col([res, gee, glm], stars=True,
                                         model_names=["GLMM", "GEE", "GLM"]))
    var = rows["patientID Intercept Var"]
    assert f"{res.params['patientID Intercept Var']:.4f}" in var and "*" not in var
    # the fixed effects keep theirs: time has p < 0.01 in all three models
    assert rows["time"].count("***") == 3
    assert res.pvalues["time"] < 0.01


def test_stargazer_renders_without_stars_on_variance_rows():
    pytest.importorskip("stargazer")
    from stargazer.stargazer import Stargazer

    df = load_dataset("toenail")
    res = _fit("binomial")
    glm = smf.glm("outcome_bin ~ treatment * time", df, family=sm.families.Binomial()).fit()
    html = Stargazer([res, glm]).render_html()
    rows = {m.group(1): r for r in html.split("</tr>")
            for m in [re.search(r'<td style="text-align:left">([^<]+)</td>', r)] if m}
    assert "*" not in rows["patientID Intercept Var"]
    assert "20.893" in rows["patientID Intercept Var"]
    assert rows["time"].count("<sup>***</sup>") == 2
    assert "N. of groups" in html and ">294." in html
    latex = Stargazer([res]).render_latex()
    var_line = next(line for line in latex.splitlines() if "patientID Intercept Var" in line)
    assert "^{*" not in var_line


# ----------------------------------------------------------------- fit statistics
def test_deviance_is_lme4s_conditional_deviance():
    # lme4's deviance() of a GLMM: sum of unit deviances at the conditional modes
    # (glmer with tolPwrss = 1e-12, as these fits converge more tightly than the default)
    res = _fit("binomial")
    assert res.deviance == pytest.approx(load_ref("toenail__glmer_ri_profile_ci")["deviance_R"],
                                         rel=2e-5)
    mu = res.fittedvalues.to_numpy()
    y = res.model.endog
    unit = -2 * (y * np.log(mu) + (1 - y) * np.log1p(-mu))
    assert res.deviance == pytest.approx(unit.sum(), rel=1e-10)
    assert abs(res.deviance - (-2 * res.llf)) > 600  # not glmmTMB's -2 llf
    cbpp = smg.mixedglm("incidence + non_incidence ~ period + (1 | herd)",
                        load_dataset("cbpp"), family=sm.families.Binomial()).fit()
    assert cbpp.deviance == pytest.approx(load_ref("cbpp__glmer_profile_ci")["deviance_R"],
                                          rel=2e-5)


def test_pearson_chi2_and_the_overdispersion_ratio():
    res = _fit("poisson")
    y, mu = res.model.endog, res.fittedvalues.to_numpy()
    assert res.pearson_chi2 == pytest.approx(np.sum((y - mu) ** 2 / mu), rel=1e-10)
    assert res.df_resid == res.nobs - len(res.params)
    assert res.pearson_chi2 / res.df_resid == pytest.approx(res.overdispersion()["ratio"],
                                                            rel=1e-12)
    poisson_dev = 2 * np.sum(special.xlogy(y, y / mu) - (y - mu))
    assert res.deviance == pytest.approx(poisson_dev, rel=1e-10)


def test_degrees_of_freedom():
    res = _fit("binomial")
    assert (res.df_model, res.df_resid) == (3, 1908 - 5)
    ordinal = _fit("ordinal")  # no intercept: the thresholds take its place
    assert ordinal.df_model == 2 and ordinal.df_resid == ordinal.nobs - 6
    zip_res = _fit("zip")
    assert zip_res.df_model == 4 and zip_res.df_resid == zip_res.nobs - 9


def test_info_criteria():
    res = _fit("poisson")
    k, n, llf = len(res.params), res.nobs, res.llf
    assert res.info_criteria("aic") == pytest.approx(res.aic) == pytest.approx(-2 * llf + 2 * k)
    assert res.info_criteria("BIC") == pytest.approx(res.bic)
    assert res.info_criteria("aicc") == pytest.approx(res.aic + 2 * k * (k + 1) / (n - k - 1))
    assert res.info_criteria("hqic") == pytest.approx(-2 * llf + 2 * k * np.log(np.log(n)))
    assert res.info_criteria("qaic", scale=2.0, dk_params=1) == pytest.approx(
        -llf + 2 * (k + 1))
    with pytest.raises(ValueError, match="crit"):
        res.info_criteria("dic")


# ------------------------------------------------------------------ summaries
@pytest.mark.parametrize("name", list(SPECS))
def test_summary_has_one_width(name):
    res = _fit(name)
    lines = str(res.summary()).splitlines()
    width = len(lines[1])
    assert set(lines[1]) == {"="} and width <= 100
    assert max(len(line) for line in lines) == width
    # every table line (from the first rule to the last) has exactly that width
    last = max(i for i, line in enumerate(lines) if line == "=" * width)
    assert {len(line) for line in lines[1:last + 1]} == {width}


def test_summary_fixed_effects_rows_keep_their_numbers():
    res = _fit("zip")
    text = str(res.summary())
    z = stats.norm.ppf(0.975)
    for name in res.model.exog_names:
        b, se = res.params[name], res.bse[name]
        row = next(line for line in text.splitlines() if line.startswith(name + " "))
        expected = [name] + [f"{v:.4f}" for v in (b, se, b / se, 2 * stats.norm.sf(abs(b / se)),
                                                   b - z * se, b + z * se)]
        assert row.split() == expected


def test_summary2_layout():
    res = _fit("negbin")
    smry = res.summary2()
    text = str(smry)
    assert "Results: MixedGLM" in text and "P>|z|" in text
    assert "Df Model:" in text and "Deviance:" in text and "Pearson chi2:" in text
    params = smry.tables[1]
    assert list(params.index) == list(res.params.index)
    for name in res.untested_params:  # no z test on variance rows
        assert params.loc[name, "z"] == "" and params.loc[name, "P>|z|"] == ""
    assert params.loc["time", "P>|z|"] == pytest.approx(res.pvalues["time"])
    lines = text.splitlines()
    assert max(len(line) for line in lines) == len(lines[1])


# ------------------------------------------------------------ pairwise comparisons
@pytest.mark.parametrize("engine", ENGINES)
def test_t_test_pairwise_on_a_categorical_term(engine):
    df = load_dataset("bacteria")
    res = smg.mixedglm("y_bin ~ trt + week_gt2 + (1 | ID)", df, family=sm.families.Binomial(),
                       formula_engine=engine).fit()
    pw = res.t_test_pairwise("trt")
    frame = pw.result_frame
    glm = smf.glm("y_bin ~ trt + week_gt2", df, family=sm.families.Binomial()).fit()
    assert list(frame.index) == list(glm.t_test_pairwise("trt").result_frame.index)
    names = list(res.params.index)
    drug = next(n for n in names if "drug" in n and "+" not in n)
    plus = next(n for n in names if "drug+" in n)
    b, V = res.params, res.cov_params()
    effects = {"drug-placebo": b[drug], "drug+-placebo": b[plus], "drug+-drug": b[plus] - b[drug]}
    ses = {"drug-placebo": np.sqrt(V.loc[drug, drug]), "drug+-placebo": np.sqrt(V.loc[plus, plus]),
           "drug+-drug": np.sqrt(V.loc[plus, plus] + V.loc[drug, drug] - 2 * V.loc[plus, drug])}
    for label in effects:
        assert frame.loc[label, "coef"] == pytest.approx(effects[label], rel=1e-10)
        assert frame.loc[label, "std err"] == pytest.approx(ses[label], rel=1e-10)
    raw = 2 * stats.norm.sf(np.abs(frame["coef"] / frame["std err"]))
    np.testing.assert_allclose(frame["P>|z|"], raw, rtol=1e-10)
    np.testing.assert_allclose(frame["pvalue-hs"], multipletests(raw, method="hs")[1],
                               rtol=1e-10)
    with pytest.raises(ValueError, match="not categorical"):
        res.t_test_pairwise("week_gt2")
    with pytest.raises(ValueError, match="not a fixed-effects term"):
        res.t_test_pairwise("treatment")


def test_t_test_pairwise_finds_columns_by_name_in_an_ordinal_model():
    # the ordinal fit drops the formula's intercept column: positions in the formula
    # spec are one off from the parameters, so the columns are matched by name
    df = _data("ordinal").assign(site=lambda d: (d["id"] % 3).map({0: "a", 1: "b", 2: "c"}))
    res = smg.mixedglm("y ~ time + C(site) + (1 | id)", df,
                       family=smg.families.Ordinal()).fit()
    frame = res.t_test_pairwise("C(site)").result_frame
    b = res.params
    np.testing.assert_allclose(frame["coef"], [b["C(site)[T.b]"], b["C(site)[T.c]"],
                                               b["C(site)[T.c]"] - b["C(site)[T.b]"]],
                               rtol=1e-10)
    assert list(frame.index) == ["b-a", "c-a", "c-b"]


# ------------------------------------------------------------------- model.predict
def test_model_predict_is_the_mean_at_zero_random_effects():
    res = _fit("binomial")
    new = _data("binomial").iloc[[0, 5, 50, 400]]
    expected = res.predict(new, random_effects="zero").to_numpy()
    np.testing.assert_allclose(res.model.predict(res.params, new), expected, rtol=1e-12)
    X = res.model.exog[[0, 5, 50, 400]]
    np.testing.assert_allclose(res.model.predict(res.params, X),
                               special.expit(X @ res.fe_params.to_numpy()), rtol=1e-12)
    np.testing.assert_allclose(res.model.predict(res.params, X, which="linear"),
                               X @ res.fe_params.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(res.model.predict(res.params),
                               res.predict(random_effects="zero"), rtol=1e-12)
    # a row with a missing value gets NaN
    gappy = new.assign(time=[np.nan, 1.0, 2.0, 3.0])
    out = res.model.predict(res.params, gappy)
    assert np.isnan(out[0])
    np.testing.assert_allclose(out[1:], res.predict(gappy, random_effects="zero")[1:],
                               rtol=1e-12)


@pytest.mark.parametrize("name", ["negbin", "zip", "ordinal"])
def test_model_predict_with_family_parameters(name):
    res = _fit(name)
    new = _data(name).head(6)
    np.testing.assert_allclose(res.model.predict(res.params, new),
                               res.predict(new, random_effects="zero"), rtol=1e-10)
    # a constant zero-inflation design goes with a design array too
    np.testing.assert_allclose(res.model.predict(res.params, res.model.exog[:6]),
                               res.predict(random_effects="zero")[:6], rtol=1e-10)


def test_model_predict_refuses_bad_input_by_name():
    res = _fit("binomial")
    m = res.model
    with pytest.raises(ValueError, match="params"):
        m.predict(res.params[:3], m.exog[:2])
    with pytest.raises(ValueError, match="exog"):
        m.predict(res.params, np.ones((2, 3)))
    with pytest.raises(ValueError, match="exog"):
        m.predict(res.params, [["a", "b", "c", "d"]])
    with pytest.raises(ValueError, match="offset"):
        m.predict(res.params, m.exog[:2], offset=[0.0, 1.0, 2.0])
    # the fixed effects alone are enough when the family has no parameters of its own
    np.testing.assert_allclose(m.predict(res.fe_params, m.exog[:2]),
                               m.predict(res.params, m.exog[:2]))
    nb = _fit("negbin")
    with pytest.raises(ValueError, match="params has shape"):
        nb.model.predict(nb.fe_params, nb.model.exog[:2])


def test_model_predict_asks_for_the_offset_of_a_model_fitted_with_one():
    df = _data("poisson").assign(hours=lambda d: 1.0 + (d["time"] % 3))
    res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson(),
                       exposure=df["hours"].to_numpy()).fit()
    X = res.model.exog[:3]
    with pytest.raises(ValueError, match="offset"):
        res.model.predict(res.params, X)
    with pytest.raises(ValueError, match="offset"):
        res.model.predict(res.params, df.head(3))
    out = res.model.predict(res.params, X, exposure=df["hours"].to_numpy()[:3])
    np.testing.assert_allclose(out, res.predict(random_effects="zero")[:3], rtol=1e-12)


# -------------------------------------------------------- remove_data, save and load
def _row_arrays(obj, nobs, seen=None, path="res"):
    """Paths of the arrays with ``nobs`` rows reachable from ``obj`` (package objects)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, (np.ndarray, pd.Series, pd.DataFrame, pd.Index)):
        return [path] if obj.ndim and obj.shape[0] == nobs else []
    out = []
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out += _row_arrays(v, nobs, seen, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out += _row_arrays(v, nobs, seen, f"{path}[{k!r}]")
    elif type(obj).__module__.split(".")[0] in ("statsmodels_glmm", "statsmodels"):
        items = dict(getattr(obj, "__dict__", {}))
        items.update({s: getattr(obj, s) for s in getattr(type(obj), "__slots__", ())
                      if hasattr(obj, s)})
        for k, v in items.items():
            out += _row_arrays(v, nobs, seen, f"{path}.{k}")
    return out


@pytest.mark.parametrize("name", ["binomial", "zip", "nested", "gaussian"])
def test_remove_data_keeps_estimates_summaries_and_prediction(name, tmp_path):
    dataset, formula, family, kw = SPECS[name]
    df = load_dataset(dataset)
    res = smg.mixedglm(formula, df, family=family(), **kw).fit()
    new = df.head(8)
    before = {"params": res.params.copy(), "bse": res.bse.copy(), "ci": res.conf_int(),
              "summary": str(res.summary()), "cond": res.predict(new),
              "zero": res.predict(new, random_effects="zero"),
              "modes": res.random_effects_frame(), "dev": res.deviance}
    assert _row_arrays(res, res.nobs)
    res.remove_data()
    # the used columns of the fitted rows stay, to rebuild the formula specs when loaded
    assert _row_arrays(res, res.nobs) == ["res._results.model.design.extra['spec_data']"]
    pd.testing.assert_series_equal(res.params, before["params"])
    pd.testing.assert_series_equal(res.bse, before["bse"])
    pd.testing.assert_frame_equal(res.conf_int(), before["ci"])
    assert str(res.summary()) == before["summary"]
    assert "Deviance:" in str(res.summary2()) and res.deviance == before["dev"]
    pd.testing.assert_series_equal(res.predict(new), before["cond"])
    np.testing.assert_allclose(res.model.predict(res.params, new), before["zero"], rtol=1e-12)
    with pytest.raises(ValueError, match="remove_data"):
        res.fittedvalues
    with pytest.raises(ValueError, match="remove_data"):
        res.resid_pearson
    with pytest.raises(ValueError, match="remove_data"):
        res.model.loglike(res.params)
    with pytest.raises(ValueError, match="remove_data"):
        res.model.predict(res.params)
    path = tmp_path / "res.pickle"
    res.save(str(path))
    loaded = sm.load(str(path))
    pd.testing.assert_series_equal(loaded.params, before["params"])
    pd.testing.assert_series_equal(loaded.predict(new), before["cond"])
    pd.testing.assert_frame_equal(
        loaded.random_effects_frame() if name != "nested" else loaded.random_effects_frame()[
            "clinic"], before["modes"] if name != "nested" else before["modes"]["clinic"])
    assert str(loaded.summary()) == before["summary"]


def test_save_and_load_round_trip(tmp_path):
    res = _fit("ordinal")
    path = tmp_path / "ordinal.pickle"
    res.save(str(path))
    loaded = sm.load(str(path))
    pd.testing.assert_series_equal(loaded.params, res.params)
    pd.testing.assert_series_equal(loaded.pvalues, res.pvalues)
    pd.testing.assert_series_equal(loaded.fittedvalues, res.fittedvalues)
    new = _data("ordinal").tail(5)
    pd.testing.assert_frame_equal(loaded.predict(new, which="prob"),
                                  res.predict(new, which="prob"))
    assert str(loaded.summary()) == str(res.summary())
    path2 = tmp_path / "ordinal-small.pickle"
    res2 = smg.mixedglm(SPECS["ordinal"][1], _data("ordinal"),
                        family=smg.families.Ordinal()).fit()
    res2.save(str(path2), remove_data=True)
    assert path2.stat().st_size < 0.6 * path.stat().st_size
    small = sm.load(str(path2))
    pd.testing.assert_frame_equal(small.predict(new, which="prob"),
                                  res.predict(new, which="prob"))
