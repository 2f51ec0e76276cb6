"""
The input checks of the in-memory model on Dask DataFrames: the same data are
refused, warned about or fitted the same way on both paths.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.families import as_response
from statsmodels_glmm.spec.formula import split_formula

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from statsmodels_glmm.distributed import partition as dp  # noqa: E402

B = sm.families.Binomial()
P = sm.families.Poisson()


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=":0", silence_logs=50)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def binary():
    return smg.simulate_longitudinal("binary", n_persons=20, seed=1)


def _mixed(df, person):
    """The grouping column ``g``: ids as integers, but person ``person`` written ``'1'``."""
    g = df["id"].astype(object)
    g[g == person] = "1"
    return df.assign(g=g)


@pytest.mark.parametrize("person", [2, 20])  # '1' in the partition of id 1, or in another
def test_mixed_type_grouping_column_is_refused_on_both_paths(client, binary, person):
    df = _mixed(binary, person)
    with pytest.raises(ValueError, match="grouping column 'g' mixes value types"):
        smg.mixedglm("y ~ time + (1 | g)", df, family=B)
    with dask.config.set({"dataframe.convert-string": False}):
        ddf = dd.from_pandas(df, npartitions=2)
    assert ddf["g"].dtype == object
    with pytest.raises(ValueError, match="grouping column 'g' mixes value types"):
        smg.mixedglm("y ~ time + (1 | g)", ddf, family=B, client=client)


def test_grouping_column_dask_holds_as_text_fits_as_the_text_column(client, binary):
    # Dask's from_pandas turns an object column into strings (1 and '1' become '1'):
    # the Dask frame holds text, and the in-memory fit of that text agrees
    df = _mixed(binary, 2)
    ddf = dd.from_pandas(df, npartitions=2)
    if ddf["g"].dtype == object:
        pytest.skip("this Dask keeps object columns as they are")
    res = smg.mixedglm("y ~ time + (1 | g)", ddf, family=B, client=client).fit()
    ref = smg.mixedglm("y ~ time + (1 | g)", df.assign(g=df["g"].astype(str)),
                       family=B).fit()
    assert res.n_groups == ref.n_groups == 19
    assert abs(res.llf - ref.llf) < 1e-6


def test_dask_checks_of_observation_level_and_alike_factors(client, binary):
    df = binary.assign(obs=np.arange(len(binary)),
                       yg=binary["stress"] + binary["time"])
    ddf = dd.from_pandas(df, npartitions=2)
    with pytest.warns(UserWarning, match=r"\(1 \| obs\) has one level per observation"):
        smg.mixedglm("y ~ time + (1 | obs)", ddf, family=B, client=client)
    with pytest.raises(ValueError, match=r"\(1 \| obs\) has one level per observation"):
        smg.mixedglm("yg ~ time + (1 | obs)", ddf, client=client)
    with pytest.raises(ValueError, match="grouping factors 'id' and 'id:id' divide the rows"):
        smg.mixedglm("y ~ time + (1 | id/id)", ddf, family=B, client=client)


def test_dask_binary_response_without_family_warns(client, binary):
    ddf = dd.from_pandas(binary, npartitions=2)
    with pytest.warns(UserWarning, match="Gaussian default"):
        smg.mixedglm("y ~ time + (1 | id)", ddf, client=client)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        smg.mixedglm("y ~ time + (1 | id)", ddf, family=B, client=client)
    assert not [x for x in w if "Gaussian default" in str(x.message)]


def test_dask_more_fixed_columns_than_rows_is_refused(client):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": rng.normal(size=6), "id": [1, 1, 2, 2, 3, 3]})
    for k in range(8):
        df[f"x{k}"] = rng.normal(size=6)
    rhs = " + ".join(f"x{k}" for k in range(8))
    with pytest.raises(ValueError, match="9 columns of rank 6 for 6 rows"):
        smg.mixedglm(f"y ~ {rhs} + (1 | id)", dd.from_pandas(df, npartitions=2),
                     client=client)


def test_dask_formula_offset_matches_the_in_memory_fit(client):
    df = smg.simulate_longitudinal("poisson", n_persons=40, seed=6)
    df["t"] = np.random.default_rng(6).uniform(0.5, 3.0, len(df))
    f = "y ~ time + offset(np.log(t)) + (1 | id)"
    res = smg.mixedglm(f, dd.from_pandas(df, npartitions=2), family=P, client=client).fit()
    ref = smg.mixedglm(f, df, family=P).fit()
    assert abs(res.llf - ref.llf) < 1e-6
    np.testing.assert_allclose(res.params, ref.params, rtol=1e-4, atol=1e-8)


def test_partition_reports_count_separation_flags():
    df = smg.simulate_longitudinal("poisson", n_persons=12, seed=3)
    df["flag"] = (df["id"] <= 3).astype(float)
    df.loc[df["flag"] == 1, "y"] = 0
    fixed, terms = split_formula("y ~ time + flag + (1 | id)")
    spec = dict(fixed=fixed, terms=terms, gname="id", gcols=["id"],
                used=["y", "time", "flag", "id"], levels={}, offset=None, exposure=None,
                extra_formulas={}, missing="drop", engine=None, response=as_response(P))
    flags = dp.part_separation(dp.build_partition(df, spec))
    assert flags[0] == {1.0: (False, False)}   # the intercept
    assert flags[1] is None                    # time: five values
    assert flags[2] == {0.0: (False, False), 1.0: (True, False)}  # every count zero at 1
