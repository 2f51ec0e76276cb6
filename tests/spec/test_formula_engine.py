"""The formula-engine adapter: its row-dropping missing-value action agrees with patsy's."""

import numpy as np
import pandas as pd
import patsy
import pytest

from statsmodels_glmm.spec.formula_engine import design_frames, drop_na_action, formula_manager

SCALARS = [None, np.nan, float("nan"), "nan", " NaN ", "-nan", "+NAN", "a", "", "None", 1, 0,
           True, False, np.int64(3), np.float32("nan"), np.float64(2.5), pd.NA, pd.NaT,
           np.datetime64("NaT"), 1 + 2j, b"nan", np.bool_(True), (1, 2)]


@pytest.mark.parametrize("types", [["None", "NaN"], ["NaN"], ["None"], []])
def test_categorical_missing_values_are_those_patsy_finds(types):
    fast = drop_na_action(formula_manager())
    fast.NA_types = tuple(types)
    own = patsy.NAAction(on_NA="drop", NA_types=types)
    got = [fast.is_categorical_NA(v) for v in SCALARS]
    assert got == [own.is_categorical_NA(v) for v in SCALARS]
    # None; eight NaN spellings: np.nan, two float NaNs, four strings and the bytes b"nan"
    assert sum(got) == ("None" in types) + 8 * ("NaN" in types)


def test_numerical_missing_rows_are_those_patsy_finds_on_a_frame():
    arr = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "b": [0.0, 1.0, np.nan, 2.0]})
    fast = drop_na_action(formula_manager())
    own = patsy.NAAction(on_NA="drop", NA_types=["None", "NaN"])
    np.testing.assert_array_equal(fast.is_numerical_NA(arr), [False, True, True, False])
    np.testing.assert_array_equal(fast.is_numerical_NA(arr), own.is_numerical_NA(arr))


def test_design_matrices_and_dropped_rows_equal_patsy_with_its_own_action():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": rng.normal(size=40), "x": rng.normal(size=40),
                       "g": rng.choice(["a", "b", "nan", None], size=40),
                       "h": rng.choice([1.5, 2.5, np.nan], size=40)})
    f = "y ~ x * C(g) + np.log(x ** 2) + C(h)"
    ys, Xs = patsy.dmatrices(f, df, NA_action=drop_na_action(formula_manager()),
                             return_type="dataframe")
    yo, Xo = patsy.dmatrices(f, df, NA_action="drop", return_type="dataframe")
    assert len(Xo) < 40  # the frame really has rows to drop
    pd.testing.assert_frame_equal(Xs, Xo)
    pd.testing.assert_frame_equal(ys, yo)


def test_design_matrices_without_missing_values_equal_patsy_with_its_own_action():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"y": rng.normal(size=30), "x": rng.normal(size=30),
                       "g": rng.choice(["a", "b", "c"], size=30)})
    df.index = df.index * 3 + 7  # an index that is not 0..n-1
    f = "y ~ x * C(g) + np.exp(x)"
    ys, Xs = patsy.dmatrices(f, df, NA_action=drop_na_action(formula_manager()),
                             return_type="dataframe")
    yo, Xo = patsy.dmatrices(f, df, NA_action="drop", return_type="dataframe")
    pd.testing.assert_frame_equal(Xs, Xo)
    pd.testing.assert_frame_equal(ys, yo)


def _mixed_frame(n=60, seed=1):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "y": rng.normal(size=n),
        "x": rng.normal(size=n),
        "k": rng.integers(0, 4, size=n),
        "flag": rng.random(n) > 0.5,
        "g": rng.choice(["b", "a", "nan", None], size=n),
        "cat": pd.Categorical(rng.choice(["lo", "mid", "hi"], size=n),
                              categories=["mid", "lo", "hi"]),
        "two words": rng.normal(size=n),
        "when": pd.date_range("2020-01-01", periods=n, freq="D"),
    }, index=np.arange(100, 100 + n))


@pytest.mark.parametrize("formula", [
    "y ~ x * C(g) + np.log(x ** 2) + k + flag",
    "y ~ cat + C(k) + Q('two words') + center(x)",
    "y ~ x:cat + I(k > 1)",
    "~ cat * flag",
    "y ~ 1",
])
def test_design_frames_equal_patsy_on_the_dataframe(formula):
    df = _mixed_frame().reset_index(drop=True)
    df.loc[[3, 7], "x"] = np.nan
    mgr = formula_manager()
    act = drop_na_action(mgr)
    got = design_frames(mgr, formula, df, act)
    fn = patsy.dmatrices if formula.split("~")[0].strip() else patsy.dmatrix
    want = fn(formula, df, NA_action=act, return_type="dataframe",
              eval_env=patsy.EvalEnvironment([{"np": np}]))
    got, want = (got, want) if isinstance(got, tuple) else ((got,), (want,))
    for a, b in zip(got, want):
        pd.testing.assert_frame_equal(a, b, check_index_type=False)
        assert a.design_info.column_names == b.design_info.column_names
    # the rows with a missing value are dropped in both
    assert 3 not in got[-1].index or "x" not in formula


def test_design_frames_leave_the_frame_untouched_and_refuse_unknown_names():
    df = _mixed_frame().reset_index(drop=True)
    before = df.copy()
    mgr = formula_manager()
    design_frames(mgr, "y ~ cat + g", df, drop_na_action(mgr))
    pd.testing.assert_frame_equal(df, before)
    with pytest.raises(patsy.PatsyError, match="nosuch"):
        design_frames(mgr, "y ~ nosuch", df, drop_na_action(mgr))


def _string_frame(n=60, seed=4):
    rng = np.random.default_rng(seed)
    values = rng.choice(["b", "a", "nan", None, " NaN", "Zeta", "\u00e4", "10", "9", ""],
                        size=n).tolist()
    return pd.DataFrame({
        "y": rng.normal(size=n),
        "x": rng.normal(size=n),
        "s_str": pd.Series(values, dtype="str"),
        "s_obj": pd.Series(values, dtype=object),
        "s_string": pd.Series(values, dtype="string"),
        "s_string_full": pd.Series([v if v is not None else "q" for v in values],
                                   dtype="string"),
        "s_obj_pdna": pd.Series([v if v is not None else pd.NA for v in values], dtype=object),
        "s_mixed": pd.Series([1 if v == "a" else v for v in values], dtype=object),
    })


@pytest.mark.parametrize("column", ["s_str", "s_obj", "s_string", "s_string_full",
                                    "s_obj_pdna", "s_mixed"])
@pytest.mark.parametrize("template", [
    "y ~ {c}", "y ~ x * C({c})", "y ~ C({c}, Treatment('b'))", "~ {c}:x + {c}",
    "y ~ C({c}, levels=['b', 'a', 'Zeta', '9', '10', '\u00e4', ''])", "y ~ I({c} == 'a')",
])
def test_string_columns_give_what_patsy_gives_on_the_dataframe(column, template, monkeypatch):
    # strings are read as categorical codes with patsy's own levels and missing values
    # (here from the first row on); every formula gives the same matrices, names and
    # dropped rows (or the same error)
    from statsmodels_glmm.spec import formula_engine

    monkeypatch.setattr(formula_engine, "STRINGS_AS_CODES_MIN_ROWS", 0)
    formula = template.format(c=column)
    df = _string_frame()
    mgr = formula_manager()
    act = drop_na_action(mgr)
    want, exc = _on_the_dataframe(formula, df)
    if exc is not None and column == "s_string_full" and "I(" in formula:
        # patsy cannot compare a pyarrow string column on the frame; on its codes
        # the comparison works
        assert "bool[pyarrow]" in str(exc)
        got = design_frames(mgr, formula, df, act)
        np.testing.assert_array_equal(got[1].iloc[:, 1],
                                      (df[column] == "a").astype(float).to_numpy())
        return
    _assert_same_as_patsy(design_frames, (mgr, formula, df, act), want, exc)


def _on_the_dataframe(formula, df):
    """patsy's own matrices of ``formula`` on the DataFrame (with the package's
    missing-value action), or the exception it raises: ``(matrices, exception)``."""
    fn = patsy.dmatrices if formula.split("~")[0].strip() else patsy.dmatrix
    try:
        return fn(formula, df, NA_action=drop_na_action(formula_manager()),
                  return_type="dataframe", eval_env=patsy.EvalEnvironment([{"np": np}])), None
    except Exception as exc:
        return None, exc


def _assert_same_as_patsy(build, args, want, exc):
    """``build(*args)`` gives patsy's matrices and names, or raises patsy's exception."""
    if exc is not None:
        with pytest.raises(type(exc)):
            build(*args)
        return
    got = build(*args)
    got, want = (got, want) if isinstance(got, tuple) else ((got,), (want,))
    for a, b in zip(got, want):
        pd.testing.assert_frame_equal(a, b, check_index_type=False)
        assert a.design_info.column_names == b.design_info.column_names


def test_plain_string_columns_reach_patsy_as_categorical_codes():
    from statsmodels_glmm.spec.formula_engine import _ColumnArrays

    df = _string_frame()
    cols = _ColumnArrays(df, strings=True)
    for name in ("s_str", "s_obj", "s_string_full"):
        col = cols[name]
        assert isinstance(col.dtype, pd.CategoricalDtype)
        # patsy's levels: the sorted strings, without those float() reads as NaN
        assert list(col.cat.categories) == ["", "10", "9", "Zeta", "a", "b", "\u00e4"] or \
            name == "s_string_full" and list(col.cat.categories) == [
                "", "10", "9", "Zeta", "a", "b", "q", "\u00e4"]
    # missing values patsy does not count as missing, and mixed types: read as they are
    for name in ("s_string", "s_obj_pdna", "s_mixed"):
        assert not isinstance(cols[name].dtype, pd.CategoricalDtype)


def _number_frame(n=80, seed=5):
    rng = np.random.default_rng(seed)
    k = rng.integers(-2, 3, size=n)
    f = rng.integers(0, 4, size=n) * 0.5
    f[[2, 9, 30]] = np.nan
    z = np.where(rng.random(n) < 0.5, -0.0, 1.0)
    return pd.DataFrame({
        "y": rng.normal(size=n), "x": rng.normal(size=n),
        "k8": k.astype(np.int8), "k64": k + 10 ** 12, "u64": (k + 2).astype(np.uint64),
        "f32": (f / 10).astype(np.float32), "f64": f, "negzero": z,
        "flag": k > 0,
    })


@pytest.mark.parametrize("column", ["k8", "k64", "u64", "f32", "f64", "negzero", "flag"])
@pytest.mark.parametrize("template", [
    "y ~ C({c})", "y ~ x * C({c})", "~ C({c}):x + {c}", "y ~ C({c}, levels=[1, 0, -1, -2, 2])",
])
def test_numbers_in_C_give_what_patsy_gives_on_the_dataframe(column, template, monkeypatch):
    # C(x) of a column of numbers reaches patsy as codes with patsy's own levels and
    # missing values (here from the first row on): the same matrices, names and dropped
    # rows as patsy on the DataFrame (or the same error)
    from statsmodels_glmm.spec import formula_engine

    monkeypatch.setattr(formula_engine, "CATEGORIES_AS_CODES_MIN_ROWS", 0)
    formula = template.format(c=column)
    df = _number_frame()
    mgr = formula_manager()
    want, exc = _on_the_dataframe(formula, df)
    _assert_same_as_patsy(design_frames, (mgr, formula, df, drop_na_action(mgr)), want, exc)


def test_numbers_in_C_reach_patsy_as_categorical_codes(monkeypatch):
    from statsmodels_glmm.spec import formula_engine as fe

    monkeypatch.setattr(fe, "CATEGORIES_AS_CODES_MIN_ROWS", 0)
    cols = fe._ColumnArrays(_number_frame())
    got = fe._categorical(cols["f64"])
    assert isinstance(got, pd.Categorical)  # patsy reads its codes
    assert list(got.categories) == [0.0, 0.5, 1.0, 1.5] and got.codes[2] == -1
    for kept in (fe._categorical(cols["negzero"]), fe._categorical(cols["flag"]),
                 fe._categorical(cols["k8"], patsy.Sum), fe._categorical(cols["k8"], None, [0, 1]),
                 fe._categorical(np.asarray(cols["k8"]))):  # not one of the column arrays
        assert not isinstance(kept, pd.Categorical)
    monkeypatch.setattr(fe, "CATEGORIES_AS_CODES_MIN_ROWS", 10 ** 6)
    assert not isinstance(fe._categorical(cols["f64"]), pd.Categorical)


def test_a_model_with_numbers_in_C_fits_and_predicts_as_before(monkeypatch):
    # codes at the build; new data with some of the levels (a DataFrame) goes through
    # patsy's own C with the levels of the fit
    import statsmodels.api as sm

    import statsmodels_glmm.api as smg
    from statsmodels_glmm.spec import formula_engine as fe

    df = smg.simulate_longitudinal("binary", n_persons=200, n_waves=4, seed=2)
    df["wave"] = np.round(df["time"]).astype(int)
    new = df[df["wave"] <= 1].head(30)
    out = []
    for flag in (True, False):
        monkeypatch.setattr(fe, "CATEGORIES_AS_CODES", flag)
        res = smg.mixedglm("y ~ C(wave) + group + (1 | id)", df,
                           family=sm.families.Binomial()).fit()
        out.append((res, np.asarray(res.predict(new))))
    (a, pa), (b, pb) = out
    assert len(df) >= fe.CATEGORIES_AS_CODES_MIN_ROWS
    assert list(a.params.index) == list(b.params.index)
    assert np.array_equal(a.params, b.params) and a.llf == b.llf
    np.testing.assert_array_equal(pa, pb)
