"""
Fits on Dask DataFrames against the in-memory fits of the same rows.

Every check compares with the ordinary pandas fit: log-likelihoods to 1e-6,
estimates and standard errors to 1e-4 (relative), modes and predictions to
1e-6.  One LocalCluster (two worker processes) serves the module.
"""

import os
import signal
import threading
import time
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from statsmodels_glmm.distributed.cluster import ClusterError  # noqa: E402
from statsmodels_glmm.distributed.model import DaskMixedGLM  # noqa: E402
from statsmodels_glmm.distributed import partition as dp  # noqa: E402
from statsmodels_glmm.results import MixedGLMResults  # noqa: E402


def test_no_client_is_a_clear_error():
    df = smg.simulate_longitudinal("binary", n_persons=20, seed=1)
    ddf = dd.from_pandas(df, npartitions=2)
    from statsmodels_glmm.distributed import cluster as dask_cluster

    try:
        current = distributed.default_client()
    except ValueError:
        current = None
    if current is not None:
        pytest.skip("a default client is active in this process")
    with pytest.raises(ValueError, match="no Dask client"):
        dask_cluster._client_for(None)
    with pytest.raises(ValueError, match="no Dask client"):
        smg.mixedglm("y ~ time + (1 | id)", ddf, family=sm.families.Binomial())


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=":0", silence_logs=50)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _shuffled(df, seed=0):
    """Rows in random order: every group is split across partitions."""
    return df.sample(frac=1.0, random_state=seed)


def _same_fit(res, ref, tol=1e-4):
    assert isinstance(res._results, MixedGLMResults)
    assert abs(res.llf - ref.llf) < 1e-6
    assert list(res.params.index) == list(ref.params.index)
    np.testing.assert_allclose(res.params, ref.params, rtol=tol, atol=1e-8)
    np.testing.assert_allclose(res.bse, ref.bse, rtol=tol, atol=1e-8)
    assert res.converged and ref.converged
    assert res.nobs == ref.nobs and res.n_groups == ref.n_groups


def test_binomial_matches_in_memory(client):
    df = smg.simulate_longitudinal("binary", n_persons=200, seed=11)
    f = "y ~ time * group + stress + (1 + time | id)"
    ddf = dd.from_pandas(_shuffled(df), npartitions=3)
    model = smg.mixedglm(f, ddf, family=sm.families.Binomial())
    assert isinstance(model, DaskMixedGLM)
    assert model.shuffled  # rows of every person were spread over partitions
    res = model.fit()
    ref = smg.mixedglm(f, df, family=sm.families.Binomial()).fit()
    _same_fit(res, ref)
    # the summary is the in-memory one: same numbers of rows, groups and group sizes
    text = str(res.summary())
    assert f"{ref.llf:.4f}" in text and "No. groups" in text
    np.testing.assert_array_equal(model.design.group_sizes, ref.model.design.group_sizes)
    # the scaling of the optimiser comes from moments over all partitions
    np.testing.assert_allclose(model._scaling()[0], ref.model._scaling()[0], atol=1e-12)
    np.testing.assert_allclose(model._typical_sizes(), ref.model._typical_sizes(),
                               rtol=1e-12)


def test_binomial_random_effects_and_predictions(client):
    df = smg.simulate_longitudinal("binary", n_persons=120, seed=3)
    f = "y ~ time + group + (1 + time | id)"
    res = smg.mixedglm(f, dd.from_pandas(_shuffled(df, 1), npartitions=2),
                       family=sm.families.Binomial()).fit()
    ref = smg.mixedglm(f, df, family=sm.families.Binomial()).fit()
    # modes gathered from the workers, in the in-memory group order
    re_d = res.collect_random_effects()
    re_m = ref.random_effects_frame()
    assert list(re_d.index) == list(re_m.index)
    np.testing.assert_allclose(re_d.to_numpy(), re_m.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(res.random_effects[5], ref.random_effects[5], atol=1e-6)
    # pandas rows -> pandas Series, identical to the in-memory prediction
    new = df.head(12)
    for which in ("mean", "linear"):
        for reff in ("conditional", "zero"):
            np.testing.assert_allclose(res.predict(new, which=which, random_effects=reff),
                                       ref.predict(new, which=which, random_effects=reff),
                                       atol=1e-6)
    # Dask rows -> Dask Series computed on the workers
    pdask = res.predict(dd.from_pandas(df, npartitions=3))
    assert type(pdask).__module__.startswith("dask")
    np.testing.assert_allclose(pdask.compute().sort_index(), ref.predict(df).sort_index(),
                               atol=1e-6)
    # fitted values: the fitted frame's rows, on the cluster
    fitted = res.fittedvalues.compute()
    np.testing.assert_allclose(fitted.sort_index(), ref.fittedvalues.sort_index(), atol=1e-6)


def test_poisson_with_exposure_column_matches(client):
    df = smg.simulate_longitudinal("poisson", n_persons=100, seed=5)
    df["hours"] = 1.0 + (df["id"] % 3)
    f = "y ~ time + group + stress + (1 | id)"
    res = smg.mixedglm(f, dd.from_pandas(_shuffled(df), npartitions=3),
                       family=sm.families.Poisson(), exposure="hours").fit()
    ref = smg.mixedglm(f, df, family=sm.families.Poisson(), exposure="hours").fit()
    _same_fit(res, ref)


def test_negative_binomial_matches(client):
    df = smg.simulate_longitudinal("negbin", n_persons=100, seed=8)
    f = "y ~ time + group + (1 | id)"
    fam = smg.families.NegativeBinomial()
    res = smg.mixedglm(f, dd.from_pandas(_shuffled(df), npartitions=3), family=fam).fit()
    ref = smg.mixedglm(f, df, family=fam).fit()
    _same_fit(res, ref)
    assert res.params.index[-1] == "alpha"


def test_adaptive_quadrature_matches(client):
    df = smg.simulate_longitudinal("binary", n_persons=120, seed=21, sd=(1.2, 0.0))
    f = "y ~ time + group + (1 | id)"
    res = smg.mixedglm(f, dd.from_pandas(_shuffled(df), npartitions=2),
                       family=sm.families.Binomial()).fit(nagq=7)
    ref = smg.mixedglm(f, df, family=sm.families.Binomial()).fit(nagq=7)
    _same_fit(res, ref)
    assert res.nagq == 7


def test_parquet_files_with_split_groups(client, tmp_path):
    df = smg.simulate_longitudinal("binary", n_persons=100, seed=2)
    df["site"] = np.where(df["id"] % 5 == 0, "north", np.where(df["id"] % 5 < 3, "east", "west"))
    # the rare level "north" appears in one file only: the levels must still agree
    rows = _shuffled(df, 4).reset_index(drop=True)
    rows.attrs = {}  # the simulator's true random effects are not for Parquet metadata
    rows.loc[rows["site"] == "north", "site"] = "east"
    rows.loc[rows.index[:40][rows["site"].iloc[:40] == "east"][:5], "site"] = "north"
    paths = []
    for k, chunk in enumerate(np.array_split(np.arange(len(rows)), 4)):
        path = tmp_path / f"part-{k}.parquet"
        rows.iloc[chunk].to_parquet(path)
        paths.append(str(path))
    ddf = dd.read_parquet(paths)
    assert ddf.npartitions == 4
    f = "y ~ time + site + (1 | id)"
    model = smg.mixedglm(f, ddf, family=sm.families.Binomial())
    assert model.shuffled
    res = model.fit()
    ref = smg.mixedglm(f, rows, family=sm.families.Binomial()).fit()
    assert list(res.params.index) == ["Intercept", "site[T.north]", "site[T.west]", "time",
                                      "id Intercept Var"]
    _same_fit(res, ref)


def test_groups_already_whole_are_not_shuffled(client):
    df = smg.simulate_longitudinal("poisson", n_persons=90, seed=6)
    ddf = dd.from_pandas(df.set_index("id", drop=False).sort_index(), npartitions=3,
                         sort=True)
    model = smg.mixedglm("y ~ time + (1 | id)", ddf, family=sm.families.Poisson())
    assert not model.shuffled
    assert model.n_partitions == 3
    res = model.fit()
    ref = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    _same_fit(res, ref)


def test_missing_values_dropped_and_counted(client):
    df = smg.simulate_longitudinal("binary", n_persons=100, seed=9)
    df.loc[df.index[::17], "stress"] = np.nan
    f = "y ~ time + stress + (1 | id)"
    res = smg.mixedglm(f, dd.from_pandas(_shuffled(df), npartitions=2),
                       family=sm.families.Binomial()).fit()
    ref = smg.mixedglm(f, df, family=sm.families.Binomial()).fit()
    assert res.model.design.n_dropped == ref.model.design.n_dropped > 0
    _same_fit(res, ref)


def test_collinear_column_dropped_as_in_memory(client):
    df = smg.simulate_longitudinal("binary", n_persons=60, seed=3)
    df["twice"] = 2 * df["group"]
    f = "y ~ time + group + twice + (1 | id)"
    with pytest.warns(UserWarning, match="dropping 'twice'"):
        model = smg.mixedglm(f, dd.from_pandas(_shuffled(df), npartitions=2),
                             family=sm.families.Binomial())
    with pytest.warns(UserWarning, match="dropping 'twice'"):
        ref = smg.mixedglm(f, df, family=sm.families.Binomial())
    assert model.param_names == ref.param_names == ["Intercept", "time", "group",
                                                    "id Intercept Var"]


def test_partition_models_add_up_to_the_whole(client):
    """The sums the workers return are those of the in-memory model, at any parameters."""
    df = smg.simulate_longitudinal("binary", n_persons=80, seed=12)
    f = "y ~ time + group + (1 + time | id)"
    model = smg.mixedglm(f, dd.from_pandas(_shuffled(df), npartitions=3),
                         family=sm.families.Binomial())
    ref = smg.mixedglm(f, df, family=sm.families.Binomial())
    x = np.array([-0.5, 0.2, 0.3, 0.9, -0.1, 0.3])
    l_d, g_d, _ = model.loglike_internal(x, 1, gradient=True)
    l_m, g_m, _ = ref.loglike_internal(x, 1, gradient=True)
    assert abs(l_d - l_m) < 1e-8
    np.testing.assert_allclose(g_d, g_m, rtol=1e-8, atol=1e-8)
    H_m = ref.hessian_internal(x, 1, grad=g_m)
    H_d = model.hessian_internal(x, 1)
    np.testing.assert_allclose(H_d, H_m, rtol=1e-5, atol=1e-5)


def test_levels_and_columns_agree_across_partitions():
    """Each partition builds the same columns when the levels are fixed in advance."""
    df = pd.DataFrame({"y": [0, 1, 1, 0, 1, 0], "arm": ["a", "a", "b", "b", "c", "c"],
                       "t": [0, 1, 0, 1, 0, 1], "id": [1, 1, 2, 2, 3, 3]})
    from statsmodels_glmm.families import as_response
    from statsmodels_glmm.spec.formula import split_formula

    fixed, terms = split_formula("y ~ arm + C(t) + (1 | id)")
    levels = {"arm": ["a", "b", "c"], "t": [0, 1]}
    assert dp.factor_columns(["y ~ arm + C(t) + (1 | id)"], df, ["id"]) == ["arm", "t"]
    spec = dict(fixed=fixed, terms=terms, gname="id", gcols=["id"], used=list(df.columns),
                levels=levels, offset=None, exposure=None, extra_formulas={},
                missing="drop", engine=None, response=as_response(sm.families.Binomial()))
    dtype = df["arm"].dtype
    names = [dp.partition_design(part, spec)[0].exog_names
             for part in (df.iloc[:2], df.iloc[2:4], df.iloc[4:])]
    assert names[0] == names[1] == names[2] == \
        ["Intercept", "arm[T.b]", "arm[T.c]", "C(t)[T.1]"]
    # the first partition has only level "a": its indicator columns are zero
    d0 = dp.partition_design(df.iloc[:2], spec)[0]
    assert np.all(d0.X[:, 1:3] == 0)
    assert df["arm"].dtype == dtype  # the user's frame is untouched


def test_bad_input_messages(client):
    df = smg.simulate_longitudinal("binary", n_persons=30, seed=1)
    df["clinic"] = df["id"] % 3
    ddf = dd.from_pandas(df, npartitions=2)
    with pytest.raises(NotImplementedError, match="grouping factors 'id' and 'clinic' are "
                       "crossed.*in one place.*in memory"):
        smg.mixedglm("y ~ time + (1 | id) + (1 | clinic)", ddf,
                     family=sm.families.Binomial())
    with pytest.raises(ValueError, match="offset must be the name of a column"):
        smg.mixedglm("y ~ time + (1 | id)", ddf, family=sm.families.Poisson(),
                     offset=np.zeros(len(df)))
    with pytest.raises(ValueError, match="'nosuch'"):
        smg.mixedglm("y ~ time + nosuch + (1 | id)", ddf, family=sm.families.Binomial())
    with pytest.raises(ValueError, match=r"center\(\) .* learns from the data"):
        smg.mixedglm("y ~ center(time) + (1 | id)", ddf, family=sm.families.Binomial())
    with pytest.raises(NotImplementedError, match="Ordinal"):
        smg.mixedglm("y ~ time + (1 | id)", ddf, family=smg.families.Ordinal())


def test_results_pickle_without_the_cluster(client):
    import pickle

    df = smg.simulate_longitudinal("binary", n_persons=60, seed=4)
    res = smg.mixedglm("y ~ time + (1 | id)", dd.from_pandas(_shuffled(df), npartitions=2),
                       family=sm.families.Binomial()).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back = pickle.loads(pickle.dumps(res))
    np.testing.assert_allclose(back.params, res.params)
    np.testing.assert_allclose(back.random_effects_frame(), res.random_effects_frame())
    np.testing.assert_allclose(back.predict(df.head(5)), res.predict(df.head(5)))
    assert not back.model.attached
    # checks that need every fitted row say so instead of answering from no rows
    with pytest.raises(NotImplementedError, match="every fitted row"):
        res.variance_components()
    with pytest.raises(NotImplementedError, match="stay on the cluster"):
        res.resid_pearson
    with pytest.raises(ClusterError, match="detached"):
        back.model.loglike(back.params)


def test_summary_notes_on_random_slopes_as_in_memory(client):
    """The rules of thumb on random slopes come from sums over partitions, not rows."""
    df = smg.simulate_longitudinal("poisson", n_persons=30, seed=1)
    rng = np.random.default_rng(0)
    df["dose"] = df["id"] % 4 + 0.02 * rng.normal(size=len(df))  # varies little within persons
    f = "y ~ time + dose + (1 + time | id) + (0 + dose | id)"
    res = smg.mixedglm(f, dd.from_pandas(_shuffled(df), npartitions=2),
                       family=sm.families.Poisson()).fit(check_laplace=False)
    ref = smg.mixedglm(f, df, family=sm.families.Poisson()).fit(check_laplace=False)
    notes = res._design_notes()
    assert notes == ref._design_notes()
    assert any("random slopes" in n for n in notes)
    assert any("Little variation of 'dose'" in n for n in notes)


# ------------------------------------------------------------ nested factors
@pytest.fixture(scope="module")
def nested():
    """The bundled clinics/patients data, rows in random order (renumbered, so that
    ``dd.from_pandas`` keeps that order and every clinic is spread over partitions)."""
    return _shuffled(smg.datasets.load("sim_nested"), 2).reset_index(drop=True)


def _same_random_effects(res, ref, tol=1e-4):
    got, want = res.collect_random_effects(), ref.random_effects_frame()
    assert set(got) == set(want) == {"clinic", "clinic:patient"}
    for factor in want:
        assert list(got[factor].index) == list(want[factor].index)
        assert list(got[factor].columns) == list(want[factor].columns)
        np.testing.assert_allclose(got[factor].to_numpy(), want[factor].to_numpy(), atol=tol)


def test_nested_binomial_intercepts_match_in_memory(client, nested):
    f = "ybin ~ time + treat + (1 | clinic) + (1 | clinic:patient)"
    fam = sm.families.Binomial()
    model = smg.mixedglm(f, dd.from_pandas(nested, npartitions=3), family=fam)
    assert model.shuffled and model.multi  # every clinic was spread over partitions
    res = model.fit()
    ref = smg.mixedglm(f, nested, family=fam).fit()
    _same_fit(res, ref)
    assert list(res.params.index)[-2:] == ["clinic Intercept Var",
                                           "clinic:patient Intercept Var"]
    assert str(res.summary()) == str(ref.summary())  # "No. groups: clinic 40, ... 800"
    for factor in ("clinic", "clinic:patient"):
        np.testing.assert_allclose(res.cov_re_by_factor[factor], ref.cov_re_by_factor[factor],
                                   rtol=1e-4)
    _same_random_effects(res, ref)
    # conditional covariances of the modes, per factor
    cov_d, cov_m = res.random_effects_cov, ref.random_effects_cov
    for factor, label in (("clinic", 7), ("clinic:patient", "7:3")):
        np.testing.assert_allclose(cov_d[factor][label], cov_m[factor][label], rtol=1e-4)
    # conditional predictions use the effects of both factors
    full = smg.datasets.load("sim_nested")
    pdask = res.predict(dd.from_pandas(full, npartitions=4))
    assert type(pdask).__module__.startswith("dask")
    np.testing.assert_allclose(pdask.compute().sort_index(), ref.predict(full).sort_index(),
                               atol=1e-6)
    eta_zero = ref.predict(full.head(6), which="linear", random_effects="zero")
    assert not np.allclose(ref.predict(full.head(6), which="linear"), eta_zero)
    for reff in ("conditional", "zero", "marginal"):
        np.testing.assert_allclose(res.predict(full.head(30), random_effects=reff),
                                   ref.predict(full.head(30), random_effects=reff), atol=1e-6)


def test_nested_binomial_start_is_the_in_memory_moment_start(client, nested):
    # 0/1 outcomes with several factors start at each factor's moments: their sums are
    # added over partitions (each clinic, and so each patient, lies whole in one)
    f = "ybin ~ time + treat + (1 | clinic) + (1 | clinic:patient)"
    fam = sm.families.Binomial()
    model = smg.mixedglm(f, dd.from_pandas(nested, npartitions=3), family=fam)
    ref = smg.mixedglm(f, nested, family=fam)
    x0, r0 = model._start_internal(), ref._start_internal()
    p, k = ref.k_fe, ref.k_re
    unit = ref.cov_struct.start(1.0) / ref.cov_struct.row_scale[ref.cov_struct.rows]
    assert not np.allclose(r0[p:p + k], unit)  # the moment start, not the identity
    np.testing.assert_allclose(x0, r0, rtol=1e-6, atol=1e-8)


def test_nested_poisson_random_slope_matches_in_memory(client, nested):
    f = "ycount ~ time + (1 | clinic) + (1 + time | clinic:patient)"
    fam = sm.families.Poisson()
    model = smg.mixedglm(f, dd.from_pandas(nested, npartitions=4), family=fam)
    assert model.shuffled
    res = model.fit()
    ref = smg.mixedglm(f, nested, family=fam).fit()
    _same_fit(res, ref)
    assert list(res.params.index)[2:] == [
        "clinic Intercept Var", "clinic:patient Intercept Var",
        "clinic:patient Intercept x time Cov", "clinic:patient time Var"]
    np.testing.assert_allclose(res.cov_re_by_factor["clinic:patient"],
                               ref.cov_re_by_factor["clinic:patient"], rtol=1e-4)
    _same_random_effects(res, ref)
    assert str(res.summary()) == str(ref.summary())
    pdask = res.predict(dd.from_pandas(nested, npartitions=2), which="linear")
    np.testing.assert_allclose(pdask.compute().sort_index(),
                               ref.predict(nested, which="linear").sort_index(), atol=1e-6)


def test_nested_partition_sums_add_up_without_a_shuffle(client):
    """
    Clinics already whole in their partitions (one clinic alone in some): no shuffle,
    and the sums of the partitions are the in-memory log-likelihood, gradient and
    Hessian at any parameters; ``(1 | clinic/patient)`` is the same model.
    """
    df = smg.datasets.load("sim_nested")
    df = df[df["clinic"] <= 8].reset_index(drop=True)
    ddf = dd.from_pandas(df.set_index("clinic", drop=False).sort_index(), npartitions=6,
                         sort=True)
    f = "ybin ~ time + treat + (1 | clinic/patient)"
    fam = sm.families.Binomial()
    model = smg.mixedglm(f, ddf, family=fam)
    assert not model.shuffled and model.n_partitions == 6
    sizes = client.gather(client.map(lambda p: len(p.model.design.terms[0].labels),
                                     model._parts, pure=False))
    assert min(sizes) == 1  # a partition with a single clinic is fitted as it is
    ref = smg.mixedglm(f, df, family=fam)
    assert model.param_names == ref.param_names == [
        "Intercept", "time", "treat", "clinic Intercept Var", "clinic:patient Intercept Var"]
    x = np.array([-0.2, 0.15, 0.4, 0.5, 0.8])
    l_d, g_d, _ = model.loglike_internal(x, 1, gradient=True)
    l_m, g_m, _ = ref.loglike_internal(x, 1, gradient=True)
    assert abs(l_d - l_m) < 1e-8
    np.testing.assert_allclose(g_d, g_m, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(model.hessian_internal(x, 1), ref.hessian_internal(x, 1),
                               rtol=1e-5, atol=1e-5)


def test_nested_refusals_as_in_memory(client, nested):
    ddf = dd.from_pandas(nested, npartitions=2)
    fam = sm.families.Binomial()
    # quadrature needs one grouping factor: the in-memory error, before any work
    f = "ybin ~ time + (1 | clinic/patient)"
    with pytest.raises(ValueError) as mem:
        smg.mixedglm(f, nested, family=fam).fit(nagq=3)
    with pytest.raises(ValueError) as dsk:
        smg.mixedglm(f, ddf, family=fam).fit(nagq=3)
    assert str(dsk.value) == str(mem.value)
    assert "nagq=3" in str(dsk.value) and "clinic, clinic:patient" in str(dsk.value)
    # a random slope constant within every level of its factor (checked over all
    # partitions on the client)
    f = "ybin ~ time + (1 | clinic) + (1 + treat | clinic:patient)"
    with pytest.raises(ValueError) as mem:
        smg.mixedglm(f, nested, family=fam)
    with pytest.raises(ValueError) as dsk:
        smg.mixedglm(f, ddf, family=fam)
    assert str(dsk.value) == str(mem.value)
    # crossed factors: the likelihood does not split over partitions
    for f in ("ybin ~ time + (1 | clinic) + (1 | patient)",
              "ybin ~ time + (1 | clinic:patient) + (1 | time:patient)"):
        with pytest.raises(NotImplementedError, match="crossed .*pandas DataFrame"):
            smg.mixedglm(f, ddf, family=fam)


def test_nested_results_pickle_with_their_modes(client, nested):
    import pickle

    f = "ybin ~ time + (1 | clinic/patient)"
    res = smg.mixedglm(f, dd.from_pandas(nested, npartitions=2),
                       family=sm.families.Binomial()).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back = pickle.loads(pickle.dumps(res))
    assert not back.model.attached
    for factor, frame in res.random_effects_frame().items():
        np.testing.assert_allclose(back.random_effects_frame()[factor], frame)
    new = nested.head(8)
    np.testing.assert_allclose(back.predict(new), res.predict(new))


def test_worker_killed_mid_fit_gives_same_answer_or_clear_error(client):
    # last in the module: the cluster is not needed whole afterwards
    df = smg.simulate_longitudinal("binary", n_persons=200, seed=14)
    f = "y ~ time + group + (1 + time | id)"
    model = smg.mixedglm(f, dd.from_pandas(_shuffled(df), npartitions=4),
                         family=sm.families.Binomial())
    ref = smg.mixedglm(f, df, family=sm.families.Binomial()).fit()
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]
    calls = []
    original = model._map

    def counting_map(fn, *args):
        calls.append(fn.__name__)
        if len(calls) == 10:  # a few evaluations into the quasi-Newton search
            threading.Thread(target=os.kill, args=(pids[victim], signal.SIGKILL)).start()
            time.sleep(0.05)
        return original(fn, *args)

    model._map = counting_map
    try:
        res = model.fit()
    except ClusterError as exc:  # Dask gave up: the error says so, no result at all
        assert "cluster" in str(exc)
        return
    finally:
        model._map = original
    assert len(calls) > 10 and calls[9] == "part_eval"  # the kill came mid-optimisation
    _same_fit(res, ref)


def test_cluster_robust_covariance_is_refused_before_a_dask_fit(client):
    df = smg.simulate_longitudinal("poisson", n_persons=30, seed=3)
    model = smg.mixedglm("y ~ time + (1 | id)", dd.from_pandas(df, npartitions=2),
                         family=sm.families.Poisson())
    with pytest.raises(NotImplementedError, match="cov_type='cluster'.*Dask DataFrame"):
        model.fit(cov_type="cluster")


def test_count_start_is_the_in_memory_moment_start(client):
    # the moment sums of the covariance's start are added over partitions (each holds
    # its groups whole): the start, and so the optimiser's path, is the in-memory one
    df = smg.simulate_longitudinal("poisson", n_persons=150, seed=4)
    f = "y ~ time + group + (1 + time | id)"
    model = smg.mixedglm(f, dd.from_pandas(_shuffled(df, 2), npartitions=3),
                         family=sm.families.Poisson())
    ref = smg.mixedglm(f, df, family=sm.families.Poisson())
    x0, r0 = model._start_internal(), ref._start_internal()
    p, k = ref.k_fe, ref.k_re
    unit = ref.cov_struct.start(1.0) / ref.cov_struct.row_scale[ref.cov_struct.rows]
    assert not np.allclose(r0[p:p + k], unit)  # the moment start, not the identity
    np.testing.assert_allclose(x0, r0, rtol=1e-6, atol=1e-8)
