"""
Features combined: inputs that each work alone but conflict together get a
clear error naming the columns, or a warning, or are read as a user means.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

import statsmodels_glmm.api as smg
from statsmodels_glmm.families import as_response
from statsmodels_glmm.model import separation_terms
from statsmodels_glmm.spec.design import build_design, full_rank_columns
from statsmodels_glmm.spec.formula import split_offset_terms
from statsmodels_glmm.spec.terms import same_grouping, shares_columns


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

B = sm.families.Binomial()
P = sm.families.Poisson()


def _caught(fn):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = fn()
    return out, w


# ------------------------------------------------------------- fixed-effects columns
def test_more_fixed_columns_than_rows_is_refused_naming_the_counts():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": rng.normal(size=6), "id": [1, 1, 2, 2, 3, 3]})
    for k in range(8):
        df[f"x{k}"] = rng.normal(size=6)
    rhs = " + ".join(f"x{k}" for k in range(8))
    with pytest.raises(ValueError, match="9 columns of rank 6 for 6 rows"):
        smg.mixedglm(f"y ~ {rhs} + (1 | id)", df)


def test_more_columns_than_rows_of_low_rank_drops_the_dependent_ones():
    # 8 rows, 10 columns spanning only {1, x}: the copies go, with a warning
    rng = np.random.default_rng(1)
    x = rng.normal(size=8)
    X = np.column_stack([np.ones(8), x] + [k * x + k for k in range(2, 10)])
    names = [f"c{j}" for j in range(10)]
    keep, w = _caught(lambda: full_rank_columns(X, names, "fixed-effects"))
    assert keep == [0, 1]
    assert "dropping 'c2' (a linear combination of 'c0', 'c1')" in str(w[0].message)


def test_column_after_a_dropped_one_is_judged_against_the_kept_columns():
    # [1, x, x, z] on 4 rows: the copy of x goes, z (independent of 1 and x) stays
    x = np.array([0.0, 1.0, 2.0, 3.0])
    z = np.array([1.0, -1.0, -1.0, 1.0])
    X = np.c_[np.ones(4), x, x, z]
    keep, w = _caught(lambda: full_rank_columns(X, list("abcd"), "exog", nobs=10))
    assert keep == [0, 1, 3] and np.linalg.matrix_rank(X[:, keep]) == 3
    assert "'c' (a linear combination of 'b')" in str(w[0].message)
    # the QR factor of X has the same relations, given the design's row count
    R = np.linalg.qr(X, mode="r")
    keep_r, _ = _caught(lambda: full_rank_columns(R, list("abcd"), "exog", nobs=10))
    assert keep_r == keep
    with pytest.raises(ValueError, match="4 columns of rank 3 for 3 rows"):
        full_rank_columns(R, list("abcd"), "exog", nobs=3)


# ------------------------------------------------------------------ duplicated names
@pytest.fixture(scope="module")
def binary():
    return smg.simulate_longitudinal("binary", n_persons=40, seed=1)


def test_duplicated_column_used_by_the_model_is_refused_naming_it(binary):
    two = pd.concat([binary, binary[["time"]]], axis=1)
    with pytest.raises(ValueError, match="more than one column named 'time'"):
        smg.mixedglm("y ~ time + (1 | id)", two, family=B)
    two_ids = pd.concat([binary, binary[["id"]]], axis=1)
    with pytest.raises(ValueError, match="more than one column named 'id'"):
        smg.mixedglm("y ~ time + (1 | id)", two_ids, family=B)


def test_duplicated_column_the_model_does_not_use_changes_nothing(binary):
    two = pd.concat([binary, binary[["stress"]]], axis=1)
    a = smg.mixedglm("y ~ time + (1 | id)", two, family=B).fit()
    b = smg.mixedglm("y ~ time + (1 | id)", binary, family=B).fit()
    assert a.llf == b.llf
    np.testing.assert_array_equal(a.params, b.params)


def test_duplicated_exog_names_are_refused():
    rng = np.random.default_rng(2)
    X = pd.DataFrame(np.c_[np.ones(12), rng.normal(size=12), rng.normal(size=12)],
                     columns=["const", "x", "x"])
    with pytest.raises(ValueError, match="exog has more than one column named 'x'"):
        smg.MixedGLM(rng.normal(size=12), X, np.repeat([1, 2, 3], 4))


# ------------------------------------------------------------------ simulated frames
def test_simulated_frame_with_a_string_column_casts_concatenates_and_goes_to_dask():
    dd = pytest.importorskip("dask.dataframe")
    df = smg.simulate_longitudinal("poisson", n_persons=12, seed=4)
    df["site"] = np.where(df["id"] % 2 == 0, "north", "south")
    cast = df.astype({"time": "float32"})
    assert cast["time"].dtype == np.float32 and cast.attrs == df.attrs
    assert len(pd.concat([df, df])) == 2 * len(df)
    back = dd.from_pandas(df, npartitions=2).compute()
    pd.testing.assert_frame_equal(back.reset_index(drop=True)[["id", "time", "y"]],
                                  df[["id", "time", "y"]])
    # the true random effects: one row per person, kept as plain lists
    truth = pd.DataFrame(df.attrs["random_effects"])
    assert list(truth.columns) == ["id", "u0", "u1"] and truth["id"].tolist() == list(range(1, 13))
    again = smg.simulate_longitudinal("poisson", n_persons=12, seed=4)
    assert again.attrs["random_effects"]["u0"] == truth["u0"].tolist()


# ------------------------------------------------------- variance splits not identified
@pytest.fixture(scope="module")
def counts():
    df = smg.simulate_longitudinal("poisson", n_persons=40, seed=2)
    df["twin"] = "t" + df["id"].astype(str)
    df["obs"] = np.arange(len(df))
    df["obs2"] = np.arange(len(df))[::-1] * 3
    return df


@pytest.mark.parametrize("formula, first, second", [
    ("y ~ time + (1 | id/id)", "id", "id:id"),
    ("y ~ time + (1 | id) + (1 | twin)", "id", "twin"),
    ("y ~ time + (1 | obs) + (1 | obs2)", "obs", "obs2"),
    ("y ~ time + (1 + time | id) + (1 | twin)", "id", "twin"),
])
def test_two_factors_grouping_rows_alike_are_refused_naming_both(counts, formula, first,
                                                                second):
    with pytest.raises(ValueError, match=f"grouping factors '{first}' and '{second}' divide "
                                         "the rows into the same groups"):
        smg.mixedglm(formula, counts, family=P)


def test_same_grouping_with_different_columns_is_identified_and_fits(counts):
    # an intercept by id and a slope by its relabelling: the (1 + time || id) model
    a = smg.mixedglm("y ~ time + (1 | id) + (0 + time | twin)", counts, family=P).fit()
    b = smg.mixedglm("y ~ time + (1 + time || id)", counts, family=P).fit()
    assert a.llf == pytest.approx(b.llf, abs=1e-6)
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), rtol=1e-4, atol=1e-7)


def test_same_grouping_agrees_with_counting_distinct_pairs():
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(2, 12))
        a = pd.factorize(rng.integers(0, 4, n))[0]
        b = pd.factorize(rng.permutation(4)[a] if rng.random() < 0.5
                         else rng.integers(0, 4, n))[0]
        pairs = len(set(zip(a.tolist(), b.tolist())))
        brute = pairs == len(set(a.tolist())) == len(set(b.tolist()))
        assert same_grouping(a, b) == brute


def test_shares_columns_is_a_rank_deficit_of_the_joined_columns():
    x = np.array([0.0, 1.0, 2.0, 5.0, 3.0])
    one = np.ones(5)
    assert shares_columns(np.c_[one, x, 2 * one], 2)        # intercepts on both sides
    assert shares_columns(np.c_[one, x, 3 * one - x], 2)     # a combination of both
    assert not shares_columns(np.c_[one, x ** 2, x], 2)
    assert not shares_columns(np.c_[one, x, np.zeros(5)], 2)  # a zero column adds nothing


def test_binary_observation_level_intercept_alone_warns(binary):
    df = binary.assign(obs=np.arange(len(binary)))
    with pytest.warns(UserWarning, match=r"\(1 \| obs\) has one level per observation"):
        smg.mixedglm("y ~ time + (1 | obs)", df, family=B)
    with pytest.warns(UserWarning, match=r"\(1 \| obs\) has one level per observation"):
        smg.mixedglm("y ~ time", df, family=B, groups="obs")
    _, w = _caught(lambda: smg.mixedglm("y ~ time + (1 | id)", df, family=B))
    assert not [x for x in w if "one level per observation" in str(x.message)]


def test_gaussian_observation_level_intercept_is_refused(counts):
    df = counts.assign(yg=counts["y"] + np.random.default_rng(5).normal(size=len(counts)))
    with pytest.raises(ValueError, match=r"\(1 \| obs\) has one level per observation"):
        smg.mixedglm("yg ~ time + (1 | obs)", df)
    with pytest.raises(ValueError, match=r"\(1 \| obs\) has one level per observation"):
        smg.mixedglm("yg ~ time + (1 | id) + (1 | obs)", df)
    # a count model's observation-level intercept is overdispersion: allowed
    smg.mixedglm("y ~ time + (1 | id) + (1 | obs)", counts, family=P)


# ------------------------------------------------------------- mixed-type group labels
def test_grouping_column_mixing_a_number_and_its_text_is_refused_naming_it(binary):
    g = binary["id"].astype(object)
    g[g == 2] = "1"
    with pytest.raises(ValueError, match=r"grouping column 'g' mixes value types .*"
                                         r"1 \(int\) and '1' \(str\)"):
        smg.mixedglm("y ~ time + (1 | g)", binary.assign(g=g), family=B)
    h = binary["id"].astype(object)
    h[h == 3] = 2.0  # 2 and 2.0: one group by value, two by text
    with pytest.raises(ValueError, match="grouping column 'h' mixes value types"):
        smg.mixedglm("y ~ time + (1 | id) + (1 | h)", binary.assign(h=h), family=B)


def test_grouping_column_of_strings_with_missing_labels_is_accepted(binary):
    # str and numpy's str_ (one text each), with None and NaN: the rows group as their
    # texts do
    from statsmodels_glmm.spec.frame import check_label_types

    g = binary["id"].map(lambda i: f"p{i}").astype(object)
    g[g == "p2"] = np.str_("p2")
    g[:2], g[2:4] = None, np.nan
    check_label_types(g, "g")
    check_label_types(pd.Series([None, np.nan], dtype=object), "g")
    res = smg.mixedglm("y ~ time + (1 | g)", binary.assign(g=g), family=B).fit()
    ref = smg.mixedglm("y ~ time + (1 | g)", binary.assign(g=g.astype(str)).iloc[4:],
                       family=B).fit()
    assert res.n_groups == ref.n_groups and res.llf == pytest.approx(ref.llf, abs=1e-8)


def test_grouping_column_of_several_types_with_distinct_texts_is_accepted(binary):
    g = binary["id"].astype(object)
    g[g == 2] = "two"
    mixed = smg.mixedglm("y ~ time + (1 | g)", binary.assign(g=g), family=B).fit()
    text = smg.mixedglm("y ~ time + (1 | g)", binary.assign(g=g.astype(str)), family=B).fit()
    assert mixed.n_groups == 40 and mixed.llf == pytest.approx(text.llf, abs=1e-8)


# ----------------------------------------------------- separation of count outcomes
@pytest.fixture(scope="module")
def zero_arm():
    df = smg.simulate_longitudinal("poisson", n_persons=60, seed=3)
    df["arm"] = np.where(df["id"] % 4 == 0, "c", np.where(df["id"] % 2 == 0, "b", "a"))
    df.loc[df["arm"] == "c", "y"] = 0
    return df


def test_count_outcome_zero_at_every_row_of_a_level_warns_separation(zero_arm):
    with pytest.warns(PerfectSeparationWarning, match=r"'arm\[T.c\]'"):
        res = smg.mixedglm("y ~ time + arm + (1 | id)", zero_arm, family=P).fit()
    assert res.mle_retvals["separation"] == ["arm[T.c]"]
    assert res.params["arm[T.c]"] < -10  # running off towards minus infinity


def test_count_separation_is_found_from_the_data_before_any_fit(zero_arm):
    for fam in (P, sm.families.NegativeBinomial(alpha=1.0)):
        m = smg.mixedglm("y ~ time + arm + (1 | id)", zero_arm, family=fam)
        assert separation_terms(m, np.zeros(len(m.param_names))) == ["arm[T.c]"]
    m = smg.mixedglm("y ~ time + arm + (1 | id)", zero_arm, family=P, zi_formula="~1")
    assert separation_terms(m, np.zeros(len(m.param_names))) == ["arm[T.c]"]
    # without the empty level nothing is flagged
    full = smg.simulate_longitudinal("poisson", n_persons=60, seed=3)
    full["arm"] = zero_arm["arm"]
    m = smg.mixedglm("y ~ time + arm + (1 | id)", full, family=P)
    assert separation_terms(m, np.zeros(len(m.param_names))) == []


# ----------------------------------------------------------- binary data, no family
def test_binary_response_without_family_warns_naming_the_gaussian_default(binary):
    with pytest.warns(UserWarning, match=r"Gaussian default .*family=sm.families.Binomial\(\)"):
        smg.mixedglm("y ~ time + (1 | id)", binary)
    with pytest.warns(UserWarning, match="Gaussian default"):
        smg.MixedGLM(binary["y"], np.c_[np.ones(len(binary)), binary["time"]], binary["id"])
    for kw in ({"family": sm.families.Gaussian()}, {"family": B}):
        _, w = _caught(lambda: smg.mixedglm("y ~ time + (1 | id)", binary, **kw))
        assert not [x for x in w if "Gaussian default" in str(x.message)]
    _, w = _caught(lambda: smg.mixedglm("stress ~ time + (1 | id)", binary))
    assert not [x for x in w if "Gaussian default" in str(x.message)]


# ------------------------------------------------------------ offset() in the formula
def test_split_offset_terms_keeps_the_rest_of_the_formula():
    assert split_offset_terms("y ~ offset(np.log(t + 1)) + x") == ("y ~ x", ["np.log(t + 1)"])
    assert split_offset_terms("y ~ 0 + offset(t)") == ("y ~ 0", ["t"])
    with pytest.raises(ValueError, match="must be a term of its own"):
        split_offset_terms("y ~ x * offset(t)")


@pytest.fixture(scope="module")
def exposed():
    df = smg.simulate_longitudinal("poisson", n_persons=50, seed=6)
    rng = np.random.default_rng(6)
    df["t"] = rng.uniform(0.5, 3.0, len(df))
    df["w"] = rng.uniform(0.5, 2.0, len(df))
    df["y"] = rng.poisson(df["y"] * df["t"])
    return df


@pytest.mark.parametrize("engine", ENGINES)
def test_formula_offset_fits_as_the_offset_argument(exposed, engine):
    a = smg.mixedglm("y ~ time + group + offset(np.log(t)) + (1 | id)", exposed, family=P,
                     formula_engine=engine).fit()
    b = smg.mixedglm("y ~ time + group + (1 | id)", exposed, family=P,
                     offset=np.log(exposed["t"]), formula_engine=engine).fit()
    assert list(a.params.index) == list(b.params.index)
    assert a.llf == b.llf
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.bse, b.bse)


def test_formula_offset_adds_to_exposure_and_offset_arguments(exposed):
    a = smg.mixedglm("y ~ time + offset(np.log(t)) + (1 | id)", exposed, family=P,
                     exposure="w", offset=np.full(len(exposed), 0.25)).fit()
    b = smg.mixedglm("y ~ time + (1 | id)", exposed, family=P, exposure="w",
                     offset=np.log(exposed["t"]) + 0.25).fit()
    assert a.llf == pytest.approx(b.llf, abs=1e-9)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.model.design.offset, b.model.design.offset, rtol=1e-14)


def test_formula_offset_with_missing_values_drops_those_rows(exposed):
    df = exposed.copy()
    df.loc[[3, 17, 40], "t"] = np.nan
    a = smg.mixedglm("y ~ time + offset(np.log(t)) + (1 | id)", df, family=P).fit()
    kept = df.dropna(subset=["t"])
    b = smg.mixedglm("y ~ time + (1 | id)", kept, family=P, offset=np.log(kept["t"])).fit()
    assert a.model.design.n_dropped == 3 and a.nobs == len(df) - 3
    assert a.llf == b.llf
    np.testing.assert_array_equal(a.params, b.params)
    with pytest.raises(ValueError, match=r"offset\(np.log\(t\)\) has 1 infinite value"), \
            np.errstate(divide="ignore"):
        smg.mixedglm("y ~ time + offset(np.log(t)) + (1 | id)",
                     exposed.assign(t=exposed["t"].where(exposed.index != 5, 0.0)), family=P)


def test_predict_on_new_data_uses_the_formula_offset_of_that_data(exposed):
    res = smg.mixedglm("y ~ time + offset(np.log(t)) + (1 | id)", exposed, family=P).fit()
    ref = smg.mixedglm("y ~ time + (1 | id)", exposed, family=P,
                       offset=np.log(exposed["t"])).fit()
    new = exposed.head(8).assign(t=np.linspace(0.5, 4.0, 8))
    p = res.predict(new)
    np.testing.assert_allclose(p, ref.predict(new, offset=np.log(new["t"])), rtol=1e-12)
    # doubling the exposure time doubles the predicted mean
    np.testing.assert_allclose(res.predict(new.assign(t=2 * new["t"])), 2 * p, rtol=1e-12)
    # in-sample predictions keep the fitted offsets
    np.testing.assert_allclose(res.predict(exposed), res.predict(), rtol=1e-12)


def test_formula_offset_is_left_out_of_the_fixed_design(exposed):
    d = build_design("y ~ time + offset(np.log(t)) + (1 | id)", exposed, as_response(P))
    assert d.exog_names == ["Intercept", "time"]
    np.testing.assert_allclose(d.unsort(d.offset), np.log(exposed["t"]), rtol=1e-15)
    assert d.extra["formula_offsets"] == ["np.log(t)"]
