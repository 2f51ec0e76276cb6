"""The formula-engine adapter: its row-dropping missing-value action agrees with patsy's."""

import numpy as np
import pandas as pd
import patsy
import pytest

from statsmodels_glmm.spec.formula_engine import drop_na_action, formula_manager

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
