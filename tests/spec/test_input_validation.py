"""
Bad or unusual input: every case gets a clear error naming the column or
argument, or is read the way a user means it.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg

B = sm.families.Binomial()
P = sm.families.Poisson()


@pytest.fixture(scope="module")
def df():
    return smg.simulate_longitudinal("binary", n_persons=80, seed=11)


@pytest.fixture(scope="module")
def base_fit(df):
    return smg.mixedglm("y ~ time + stress + (1 | id)", df, family=B).fit()


def _with(df, **cols):
    out = df.copy()
    for k, v in cols.items():
        out[k] = v(out) if callable(v) else v
    return out


BAD = [
    ("empty data", lambda d: smg.mixedglm("y ~ time + (1 | id)", d.iloc[:0], family=B),
     ValueError, "empty"),
    ("unparenthesised bar", lambda d: smg.mixedglm("y ~ time + 1 | id", d, family=B),
     ValueError, "parentheses"),
    ("inf covariate",
     lambda d: smg.mixedglm("y ~ time + stress + (1 | id)",
                            _with(d, stress=lambda f: f["stress"].where(f.index != 3, np.inf)),
                            family=B),
     ValueError, "'stress'"),
    ("inf offset column",
     lambda d: smg.mixedglm("y ~ time + (1 | id)",
                            _with(d, off=lambda f: np.where(f.index == 5, -np.inf, 0.0)),
                            family=B, offset="off"),
     ValueError, "'off'"),
    ("inf offset array",
     lambda d: smg.mixedglm("y ~ time + (1 | id)", d, family=B,
                            offset=np.where(np.arange(len(d)) == 5, np.inf, 0.0)),
     ValueError, "offset"),
    ("unknown offset column", lambda d: smg.mixedglm("y ~ time + (1 | id)", d, family=B,
                                                     offset="no_such"),
     ValueError, "'no_such'"),
    ("unknown exposure column", lambda d: smg.mixedglm("y ~ time + (1 | id)", d, family=P,
                                                       exposure="no_such"),
     ValueError, "'no_such'"),
    ("all-zero binary", lambda d: smg.mixedglm("y ~ time + (1 | id)", _with(d, y=0), family=B),
     ValueError, "'y'"),
    ("all-one binary", lambda d: smg.mixedglm("y ~ time + (1 | id)", _with(d, y=1), family=B),
     ValueError, "'y'"),
    ("all-true boolean", lambda d: smg.mixedglm("y ~ time + (1 | id)", _with(d, y=True),
                                                family=B),
     ValueError, "y"),
    ("three-level string response",
     lambda d: smg.mixedglm("s ~ time + (1 | id)",
                            _with(d, s=lambda f: np.array(["a", "b", "c"])[f.index % 3]),
                            family=B),
     ValueError, "three|3 levels"),
    ("string response for Poisson",
     lambda d: smg.mixedglm("s ~ time + (1 | id)",
                            _with(d, s=lambda f: np.where(f["y"] == 1, "yes", "no")), family=P),
     ValueError, "'s'"),
    ("unknown column", lambda d: smg.mixedglm("y ~ tme + (1 | id)", d, family=B),
     ValueError, "'tme'"),
    ("unknown group column", lambda d: smg.mixedglm("y ~ time + (1 | idx)", d, family=B),
     ValueError, "'idx'"),
]


@pytest.mark.parametrize("case, build, exc, match", BAD, ids=[c[0] for c in BAD])
def test_bad_input_names_the_argument(df, case, build, exc, match):
    with pytest.raises(exc, match=match):
        build(df)


FIT_ARGS = [
    ("fractional nagq", dict(nagq=2.5), "nagq"),
    ("zero nagq", dict(nagq=0), "nagq"),
    ("boolean nagq", dict(nagq=True), "nagq"),
    ("negative maxiter", dict(maxiter=-5), "maxiter"),
    ("non-positive gtol", dict(gtol=0.0), "gtol"),
    ("short start_params", dict(start_params=[0.0, 0.1]), "start_params"),
    ("long start_params", dict(start_params=np.zeros(9)), "start_params"),
    ("non-finite start_params", dict(start_params=[0.0, np.nan, 0.0, 1.0]), "start_params"),
]


@pytest.mark.parametrize("case, kwargs, name", FIT_ARGS, ids=[c[0] for c in FIT_ARGS])
def test_bad_fit_arguments(df, case, kwargs, name):
    m = smg.mixedglm("y ~ time + stress + (1 | id)", df, family=B)
    with pytest.raises(ValueError, match=name):
        m.fit(**kwargs)


@pytest.mark.parametrize("scale, shift", [(3.0, 0.0), (1e6, 2e6), (1e-6, 0.0)])
def test_collinear_columns_are_dropped_with_a_warning(df, scale, shift):
    d = df.assign(t2=scale * df["time"] + shift)
    with pytest.warns(UserWarning, match="collinear: dropping 't2' .*'time'"):
        m = smg.mixedglm("y ~ time + t2 + stress + (1 | id)", d, family=B)
    assert m.exog_names == ["Intercept", "time", "stress"]
    r = m.fit()
    ref = smg.mixedglm("y ~ time + stress + (1 | id)", df, family=B).fit()
    np.testing.assert_allclose(r.params.to_numpy(), ref.params.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(r.predict(d.head(3)), ref.predict(df.head(3)), rtol=1e-6)


def test_fit_refuses_unknown_keywords(df):
    m = smg.mixedglm("y ~ time + (1 | id)", df, family=B)
    with pytest.raises(TypeError, match="bogus"):
        m.fit(bogus=1)


# ------------------------------------------------------------ read as meant
def test_boolean_and_string_responses_model_the_event(df, base_fit):
    """True, and the second level of a two-level factor, are the modelled event."""
    d = df.assign(yb=df["y"].astype(bool), ys=np.where(df["y"] == 1, "yes", "no"),
                  yc=pd.Categorical(np.where(df["y"] == 1, "used", "abstained"),
                                    categories=["abstained", "used"]))
    for col, event in (("yb", "yb[True]"), ("ys", "ys[yes]"), ("yc", "yc[used]")):
        r = smg.mixedglm(f"{col} ~ time + stress + (1 | id)", d, family=B).fit()
        np.testing.assert_allclose(r.params.to_numpy(), base_fit.params.to_numpy(), rtol=1e-6)
        assert r.model.endog_names == event
        assert event in str(r.summary())


def test_categorical_order_decides_the_event(df, base_fit):
    """A categorical whose second category is the failure models that level, as R does."""
    d = df.assign(yc=pd.Categorical(np.where(df["y"] == 1, "used", "abstained"),
                                    categories=["used", "abstained"]))
    r = smg.mixedglm("yc ~ time + stress + (1 | id)", d, family=B).fit()
    assert r.model.endog_names == "yc[abstained]"
    np.testing.assert_allclose(r.fe_params.to_numpy(), -base_fit.fe_params.to_numpy(),
                               rtol=1e-5)


def test_nullable_dtypes_are_missing_values(df):
    d = df.copy()
    d["y"] = d["y"].astype("Int64")
    d["time"] = d["time"].astype("Float64")
    d["yb"] = d["y"].astype("boolean")
    d.loc[3, "y"] = pd.NA
    d.loc[3, "yb"] = pd.NA
    d.loc[8, "time"] = pd.NA
    before = d.copy()
    r1 = smg.mixedglm("y ~ time + (1 | id)", d, family=B).fit()
    r2 = smg.mixedglm("yb ~ time + (1 | id)", d, family=B).fit()
    pd.testing.assert_frame_equal(d, before)  # the user's data is untouched
    ref = smg.mixedglm("y ~ time + (1 | id)", df.drop(index=[3, 8]), family=B).fit()
    assert r1.model.design.n_dropped == 2 and r2.model.design.n_dropped == 2
    np.testing.assert_allclose(r1.params, ref.params, rtol=1e-8)
    np.testing.assert_allclose(r2.params, ref.params, rtol=1e-8)


def test_formula_functions_with_keywords(df):
    r = smg.mixedglm("y ~ bs(time, df=3) + (1 | id)", df, family=B).fit()
    assert r.k_fe == 4 and np.isfinite(r.llf)
    # patsy's unconstrained cubic regression spline spans the intercept: one column goes
    with pytest.warns(UserWarning, match=r"dropping 'cr\(time, df=3\)\[2\]'"):
        r2 = smg.mixedglm("y ~ cr(time, df=3) + (1 | id)", df, family=B).fit()
    assert r2.k_fe == 3 and np.isfinite(r2.llf)
    d = df.assign(arm=np.array(["a", "b", "c"])[df["id"] % 3])
    r = smg.mixedglm('y ~ C(arm, Treatment(reference="b")) + (1 | id)', d, family=B).fit()
    assert [n for n in r.fe_params.index if "T." in n] == [
        'C(arm, Treatment(reference="b"))[T.a]', 'C(arm, Treatment(reference="b"))[T.c]']
    r1 = smg.mixedglm("y ~ time + (1 | C(id))", df, family=B).fit()
    r2 = smg.mixedglm("y ~ time + (1 | id)", df, family=B).fit()
    np.testing.assert_allclose(r1.params.to_numpy(), r2.params.to_numpy(), rtol=1e-10)


def test_group_labels_match_across_int_and_str(df, base_fit):
    new = df.head(10).assign(id=df["id"].head(10).astype(str))
    np.testing.assert_allclose(base_fit.predict(new), base_fit.predict(df.head(10)), rtol=1e-12)
    unseen = df.head(4).assign(id=[9999, 9999, 9998, 1])
    with pytest.warns(UserWarning, match="3 row.*2 group"):
        p = base_fit.predict(unseen)
    np.testing.assert_allclose(p.iloc[:3], base_fit.predict(unseen.iloc[:3],
                                                            random_effects="zero"))


def test_predictions_without_the_group_column(df, base_fit):
    new = df.head(6).drop(columns="id")
    p0 = base_fit.predict(new, random_effects="zero")
    np.testing.assert_allclose(p0, base_fit.predict(df.head(6), random_effects="zero"))
    pm = base_fit.predict(new, random_effects="marginal")
    assert np.all((pm > 0) & (pm < 1))
    gp = base_fit.get_prediction(new, random_effects="zero")
    np.testing.assert_allclose(gp.predicted, p0)
    with pytest.raises(ValueError, match="'id'"):
        base_fit.predict(new)


def test_predict_and_get_prediction_share_the_default(df, base_fit):
    new = df.head(5)
    np.testing.assert_allclose(base_fit.get_prediction(new).predicted, base_fit.predict(new),
                               rtol=1e-10)


def test_boundary_variance_has_no_standard_error():
    rng = np.random.default_rng(4)
    d = pd.DataFrame({"id": np.repeat(np.arange(60), 5), "x": rng.normal(size=300)})
    d["y"] = rng.poisson(np.exp(0.5 + 0.3 * d["x"]))  # no group effect at all
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = smg.mixedglm("y ~ x + (1 | id)", d, family=P).fit()
    assert r.params["id Intercept Var"] == 0.0
    assert np.isnan(r.bse["id Intercept Var"])
    assert np.all(np.isfinite(r.bse[["Intercept", "x"]]))


def test_method_signatures_are_visible(base_fit):
    import inspect

    assert "random_effects='conditional'" in str(inspect.signature(base_fit.get_prediction))
    assert "nagq=None" in str(inspect.signature(base_fit.check_approximation))
    for name in ("marginal_params", "probability_effects", "overdispersion",
                 "zero_inflation_test"):
        sig = str(inspect.signature(getattr(base_fit, name)))
        assert "*args" not in sig, name
        assert getattr(base_fit, name).__doc__.strip()
