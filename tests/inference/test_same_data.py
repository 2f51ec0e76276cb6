"""
Same data: likelihood-ratio tests and comparisons refuse fits of other data
(saying what differs) and accept fits of the same rows in another order,
with another index or other group labels, with one or several grouping
factors, in memory or on Dask.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.inference.same_data import data_differences, nesting_differences

from conftest import load_dataset

P = sm.families.Poisson()
B = sm.families.Binomial()
FULL = "y ~ time + group + (1 | id)"
SMALL = "y ~ time + (1 | id)"


@pytest.fixture(scope="module")
def pois():
    df = smg.simulate_longitudinal("poisson", n_persons=50, seed=3)
    df["hours"] = 1.0 + (np.arange(len(df)) % 3)
    return df, smg.mixedglm(FULL, df, family=P).fit(), smg.mixedglm(SMALL, df, family=P).fit()


def _fit(formula, df, family=P, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smg.mixedglm(formula, df, family=family, **kw).fit()


def _shuffle(df, seed):
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


# ------------------------------------------------------------ refusals
def test_lr_refuses_restricted_fit_whose_covariate_values_differ(pois):
    df, full, _ = pois
    other = df.assign(time=df["time"].to_numpy()[::-1])
    small = _fit(SMALL, other)
    assert data_differences(full, small) == []      # same responses and groups ...
    with pytest.raises(ValueError, match=r"not nested: fixed-effects column\(s\) \['time'\]"):
        full.compare_lr_test(small)                 # ... but 'time' is another column


def test_lr_refuses_permuted_grouping_column(pois):
    df, full, _ = pois
    ids = df["id"].to_numpy()[np.random.default_rng(0).permutation(len(df))]
    small = _fit(SMALL, df.assign(id=ids))
    with pytest.raises(ValueError, match="rows grouped differently by 'id'"):
        full.compare_lr_test(small)


def test_lr_refuses_exposure_in_one_model_only(pois):
    df, full, small = pois
    with_exposure = _fit(SMALL, df, exposure="hours")
    with pytest.raises(ValueError, match="only the restricted model has an offset or exposure"):
        full.compare_lr_test(with_exposure)
    full_exposure = _fit(FULL, df, exposure="hours")
    with pytest.raises(ValueError, match="only this model has an offset or exposure"):
        full_exposure.compare_lr_test(small)
    # the same exposure in both models is the same data
    out = full_exposure.compare_lr_test(with_exposure)
    assert out.statistic == pytest.approx(2 * (full_exposure.llf - with_exposure.llf))


def test_lr_refuses_offset_in_full_model_only(pois):
    df, _, small = pois
    full_off = _fit(FULL, df, offset=np.log(df["hours"].to_numpy()))
    assert full_off.llf < small.llf - 10   # a statistic that would be clipped to 0
    with pytest.raises(ValueError, match="different offsets: only this model has"):
        full_off.compare_lr_test(small)


def test_lr_refuses_other_binomial_trials():
    df = load_dataset("cbpp")
    f = "incidence + non_incidence ~ period + (1 | herd)"
    full = _fit(f, df, B)
    small = _fit("incidence + non_incidence ~ 1 + (1 | herd)",
                 df.assign(non_incidence=df["non_incidence"] + (np.arange(len(df)) == 4)), B)
    with pytest.raises(ValueError, match="different numbers of binomial trials: 1 of 56 rows"):
        full.compare_lr_test(small)


def test_lr_refuses_one_changed_response_value(pois):
    df, full, _ = pois
    y = df["y"].to_numpy().copy()
    y[7] += 1
    small = _fit(SMALL, df.assign(y=y))
    with pytest.raises(ValueError, match=f"different responses: 1 of {len(df)} values differ"):
        full.compare_lr_test(small)


def test_lr_refuses_fit_of_fewer_rows_naming_both_counts(pois):
    df, full, _ = pois
    small = _fit(SMALL, df.iloc[:-10])
    n = len(df)
    with pytest.raises(ValueError, match=f"different data: different responses: {n} vs "
                                         f"{n - 10} rows"):
        full.compare_lr_test(small)


# ------------------------------------------------------------ same rows accepted
def test_lr_accepts_same_rows_after_dropna_and_reset_index(pois):
    df = pois[0].copy()
    df.loc[df.index[:12], "group"] = np.nan
    full = _fit(FULL, df)                     # drops the 12 rows itself
    small = _fit(SMALL, df.dropna().reset_index())
    assert data_differences(full, small) == []
    out = full.compare_lr_test(small)
    assert out.statistic == 2 * (full.llf - small.llf) and out.df_diff == 1
    tab = smg.compare(small, full)
    assert tab["nobs"].tolist() == [len(df) - 12] * 2 and tab["Df"].iloc[1] == 1


def test_lr_accepts_permuted_rows_with_relabelled_groups(pois):
    df, full, small = pois
    moved = _shuffle(df.assign(id=df["id"] * 7 + 100), 4)
    small_moved = _fit(SMALL, moved)
    assert data_differences(full, small_moved) == []
    assert small_moved.llf == pytest.approx(small.llf, abs=1e-7)
    out = full.compare_lr_test(small_moved)
    assert out.statistic == pytest.approx(full.compare_lr_test(small).statistic, abs=2e-7)
    # the same model on the permuted rows: no parameter removed, statistic 0
    same = full.compare_lr_test(_fit(FULL, moved))
    assert same.df_diff == 0 and same.pvalue == 1.0 and same.statistic < 1e-6


def test_lr_accepts_rescaled_covariate_as_nested_column_space(pois):
    df, full, small = pois
    scaled = _fit(SMALL.replace("time", "I(time * 1000)", 1), df)
    assert scaled.llf == pytest.approx(small.llf, abs=1e-6)
    assert nesting_differences(full, scaled) == []
    # the fixed-effects names differ, the column spaces are nested: chi2(1)
    out = full.compare_lr_test(scaled)
    assert out.df_diff == 1 and out.reference == "chi2(1)"
    assert out.statistic == pytest.approx(full.compare_lr_test(small).statistic, abs=2e-6)
    # a covariate outside the full model's columns is refused
    with pytest.raises(ValueError, match=r"\['I\(time \*\* 2\)'\]"):
        full.compare_lr_test(_fit(SMALL.replace("time", "I(time ** 2)", 1), df))


def _three_factor_data(seed=1):
    """Schools (a), classes nested in schools (b), raters crossed with both (c)."""
    rng = np.random.default_rng(seed)
    rows = []
    for a in range(8):
        for b in range(3):
            for k in range(4):
                rows.append((a, f"{a}-{b}", int(rng.integers(5)), rng.normal()))
    df = pd.DataFrame(rows, columns=["a", "b", "c", "x"])
    eta = 0.3 + 0.4 * df["x"] + rng.normal(0, 0.5, 8)[df["a"]] + rng.normal(0, 0.3, 5)[df["c"]]
    df["y"] = rng.poisson(np.exp(eta))
    return df


def test_several_grouping_factors_permuted_rows_agree_changed_grouping_refused():
    df = _three_factor_data()
    f = "y ~ x + (1 | a/b) + (1 | c)"
    res = _fit(f, df)
    moved = _shuffle(df.assign(c=df["c"] + 10, a=df["a"].map(lambda v: f"s{v}")), 3)
    assert data_differences(res, _fit(f, moved)) == []
    out = res.compare_lr_test(_fit("y ~ x + (1 | a) + (1 | c)", moved))
    direct = res.compare_lr_test(_fit("y ~ x + (1 | a) + (1 | c)", df))
    assert out.statistic == pytest.approx(direct.statistic, abs=1e-6)
    # two rows of different schools with the same response swap raters: only the
    # crossed factor's grouping changes
    y, a, c = df["y"].to_numpy(), df["a"].to_numpy(), df["c"].to_numpy().copy()
    i, j = next((i, j) for i in range(len(df)) for j in range(i + 1, len(df))
                if y[i] == y[j] and c[i] != c[j] and a[i] != a[j])
    c[[i, j]] = c[[j, i]]
    swapped = _fit(f, df.assign(c=c))
    assert data_differences(res, swapped) == [
        "rows grouped differently by 'c': the same responses in other groups"]
    with pytest.raises(ValueError, match="grouped differently by 'c'"):
        res.compare_lr_test(_fit("y ~ x + (1 | a) + (1 | c)", df.assign(c=c)))
    # moving a row to another class of its school changes the nested factor only
    b = df["b"].to_numpy().copy()
    b[0] = b[4]
    assert data_differences(res, _fit(f, df.assign(b=b))) == [
        "rows grouped differently by 'a:b': the same responses in other groups"]


def test_data_differences_of_identical_partitions_with_other_labels():
    df = _three_factor_data(2)
    res = _fit("y ~ x + (1 | a)", df)
    other = _fit("y ~ x + (1 | a)", df.assign(a=9 - df["a"]))
    assert data_differences(res, other) == []


# ------------------------------------------------------------ compare()
def test_compare_refuses_fits_of_different_rows(pois):
    df, full, _ = pois
    fewer = _fit(SMALL, df.iloc[10:])
    n = len(df)
    with pytest.raises(ValueError, match="'model 2' was fitted to different data than "
                                         f"'model 1': different responses: {n} vs {n - 10} rows"):
        smg.compare(full, fewer)


def test_compare_warns_on_other_offsets_and_makes_no_lr_test(pois):
    df, full, small = pois
    with_exposure = _fit(FULL, df, exposure="hours")
    with pytest.warns(UserWarning, match="only 'model 2' has an offset or exposure"):
        tab = smg.compare(small, with_exposure)
    assert np.isnan(tab["Chisq"].iloc[1])
    assert tab["AIC"].iloc[1] == pytest.approx(-2 * with_exposure.llf + 2 * 4)


def test_compare_accepts_same_rows_in_other_order(pois):
    df, full, small = pois
    tab = smg.compare(small, _fit(FULL, _shuffle(df, 8)))
    assert tab["Chisq"].iloc[1] == pytest.approx(2 * (full.llf - small.llf), abs=1e-6)


# ------------------------------------------------------------ Dask
def test_pandas_and_dask_fits_of_the_same_rows_are_not_refused(pois):
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    df, full, small = pois
    cluster = distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=1,
                                       dashboard_address=":0", silence_logs=50)
    client = distributed.Client(cluster)
    try:
        ddf = dd.from_pandas(_shuffle(df, 2), npartitions=2)
        full_d = _fit(FULL, ddf)
        assert data_differences(full_d, small) == []
        out = full_d.compare_lr_test(small)
        assert out.statistic == pytest.approx(2 * (full.llf - small.llf), abs=1e-5)
        tab = smg.compare(small, full_d)
        assert tab["Df"].iloc[1] == 1
        y = df["y"].to_numpy().copy()
        y[3] += 2
        with pytest.raises(ValueError, match="response values sum to"):
            full_d.compare_lr_test(_fit(SMALL, df.assign(y=y)))
        with pytest.raises(ValueError, match=f"{len(df)} vs {len(df) - 7} rows"):
            full_d.compare_lr_test(_fit(SMALL, df.iloc[7:]))
        ids = df["id"].where(df["id"] != 2, 1)    # two groups merged
        with pytest.raises(ValueError, match="different numbers of groups of 'id': 50 vs 49"):
            full_d.compare_lr_test(_fit(SMALL, df.assign(id=ids)))
    finally:
        client.close()
        cluster.close()


def test_lr_warns_when_full_fit_is_below_restricted_maximum(pois):
    import copy

    _, full, small = pois
    stuck = copy.copy(full._results)
    stuck.__dict__["llf"] = small.llf - 3.0    # a full fit stopped short of its maximum
    assert stuck.llf == small.llf - 3.0
    with pytest.warns(UserWarning, match="3 below that of the restricted model"):
        out = stuck.compare_lr_test(small)
    assert out.statistic == 0.0 and out.pvalue == 1.0
