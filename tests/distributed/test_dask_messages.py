"""
What a Dask fit tells the user: warnings raised on the workers reach the client,
once per message, and a shuffle of the rows leaves no WARNING lines of the
``distributed.shuffle`` loggers.  One small LocalCluster serves the module.
"""

import logging
import threading
import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.distributed.cluster import (call_recording_warnings, quiet_shuffle_logs,
                                                  reemit_warnings)

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


# ------------------------------------------------------------ without a cluster
def test_tasks_in_threads_record_their_own_warnings_and_restore_the_state():
    filters, show = list(warnings.filters), warnings.showwarning
    entered = threading.Barrier(2)
    first_done = threading.Event()
    out = {}

    def task(name, wait_for_other):
        entered.wait()                   # both tasks are recording
        warnings.warn(f"from {name}", stacklevel=2)
        warnings.warn(f"from {name}", stacklevel=2)    # a repeat: recorded once
        if wait_for_other:
            first_done.wait(10)          # leaves after the other task: crossing exits
            warnings.warn(f"late from {name}", RuntimeWarning, stacklevel=2)
        return name

    def run(name, wait_for_other):
        out[name] = call_recording_warnings(task, name, wait_for_other)
        if not wait_for_other:
            first_done.set()

    threads = [threading.Thread(target=run, args=("a", True)),
               threading.Thread(target=run, args=("b", False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert out["a"] == ("a", [(UserWarning, "from a"), (RuntimeWarning, "late from a")])
    assert out["b"] == ("b", [(UserWarning, "from b")])
    assert warnings.filters == filters and warnings.showwarning is show


def test_a_warning_silenced_at_one_step_is_raised_at_a_later_one():
    seen = set()
    records = [(UserWarning, "check the partition"), (UserWarning, "check the partition")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reemit_warnings(records, seen)       # silenced: not counted as raised
        assert caught == [] and seen == set()
        reemit_warnings(records, seen)
        reemit_warnings(records, seen)           # already raised in this piece of work
        reemit_warnings(records)                 # no record kept: raised again
    assert [str(w.message) for w in caught] == ["check the partition"] * 2
    assert caught[0].filename == __file__       # points at the caller, not the package


def test_shuffle_logs_are_quiet_only_inside_the_block():
    log = logging.getLogger("distributed.shuffle")
    other = logging.getLogger("distributed.scheduler")
    level = log.level
    with quiet_shuffle_logs():
        with quiet_shuffle_logs():
            assert not log.isEnabledFor(logging.WARNING) and log.isEnabledFor(logging.ERROR)
        assert not log.isEnabledFor(logging.WARNING)      # the outer block still runs
        assert other.level == logging.getLogger("distributed.scheduler").level
    assert log.level == level


# ------------------------------------------------------------------ on a cluster
@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=":0", silence_logs=50)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _noisy_workers(client, message):
    """Make ``part_eval`` on every worker raise a UserWarning before each evaluation."""

    def install():
        import warnings as w

        from statsmodels_glmm.distributed import partition

        real = partition.__dict__.setdefault("_plain_part_eval", partition.part_eval)

        def part_eval(part, *args, **kwargs):
            w.warn(message, UserWarning, stacklevel=2)
            return real(part, *args, **kwargs)

        partition.part_eval = part_eval

    def remove():
        from statsmodels_glmm.distributed import partition

        partition.part_eval = partition.__dict__.pop("_plain_part_eval", partition.part_eval)

    client.run(install)
    return remove


def test_a_warning_raised_on_the_workers_reaches_the_client_once(client):
    df = smg.simulate_longitudinal("poisson", n_persons=60, seed=4)
    f = "y ~ time + (1 | id)"
    model = smg.mixedglm(f, dd.from_pandas(df, npartitions=2), family=sm.families.Poisson())
    message = "partition check: counts look unusual"
    remove = _noisy_workers(client, message)
    try:
        with pytest.warns(UserWarning, match=message) as caught:
            res = model.fit()
    finally:
        client.run(remove)
    # raised on both partitions at every evaluation, shown once
    ours = [w for w in caught if str(w.message) == message]
    assert len(ours) == 1
    ref = smg.mixedglm(f, df, family=sm.families.Poisson()).fit()
    assert abs(res.llf - ref.llf) < 1e-6
    # the workers are quiet again
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        model.fit()
    assert not [w for w in again if str(w.message) == message]


def test_a_warning_class_the_client_cannot_import_arrives_as_a_user_warning(client):
    df = smg.simulate_longitudinal("poisson", n_persons=20, seed=1)
    model = smg.mixedglm("y ~ time + (1 | id)", dd.from_pandas(df, npartitions=2),
                         family=sm.families.Poisson())

    def rows(part):
        class LocalWarning(UserWarning):
            pass

        warnings.warn("rows counted", LocalWarning, stacklevel=2)
        warnings.warn("scale check", RuntimeWarning, stacklevel=2)
        return 0 if part.model is None else part.model.nobs

    with pytest.warns(Warning) as caught:
        counts = model._map(rows)
    assert sum(counts) == len(df)
    got = sorted((w.category.__name__, str(w.message)) for w in caught)
    assert got == [("RuntimeWarning", "scale check"), ("UserWarning", "rows counted")]


def _noisy_build(client, messages):
    """Make ``build_partition`` and ``part_info`` on every worker raise a UserWarning each."""

    def install():
        import warnings as w

        from statsmodels_glmm.distributed import partition

        real_build = partition.__dict__.setdefault("_plain_build", partition.build_partition)
        real_info = partition.__dict__.setdefault("_plain_info", partition.part_info)

        def build_partition(data, *args, **kwargs):
            w.warn(messages[0], UserWarning, stacklevel=2)
            return real_build(data, *args, **kwargs)

        def part_info(part):
            w.warn(messages[1], UserWarning, stacklevel=2)
            return real_info(part)

        partition.build_partition, partition.part_info = build_partition, part_info

    def remove():
        from statsmodels_glmm.distributed import partition

        partition.build_partition = partition.__dict__.pop("_plain_build",
                                                           partition.build_partition)
        partition.part_info = partition.__dict__.pop("_plain_info", partition.part_info)

    client.run(install)
    return remove


def test_warnings_raised_while_the_partitions_are_built_reach_the_client_once(client):
    df = smg.simulate_longitudinal("poisson", n_persons=60, seed=4)
    f = "y ~ time + (1 | id)"
    ddf = dd.from_pandas(df, npartitions=3)
    messages = ("partition design: a column looks unusual", "partition summary: check sizes")
    remove = _noisy_build(client, messages)
    try:
        with pytest.warns(UserWarning, match="partition (design|summary)") as caught:
            model = smg.mixedglm(f, ddf, family=sm.families.Poisson())
    finally:
        client.run(remove)
    # raised by each of the three partitions, shown once each, pointing at this file
    ours = [w for w in caught if str(w.message) in messages]
    assert sorted(str(w.message) for w in ours) == sorted(messages)
    assert all(w.filename == __file__ for w in ours)
    # the partitions are the same: same rows, same fit as the in-memory model
    assert model.nobs == len(df)
    res = model.fit()
    ref = smg.mixedglm(f, df, family=sm.families.Poisson()).fit()
    assert np.allclose(res.params, ref.params, rtol=1e-6, atol=1e-8)
    assert abs(res.llf - ref.llf) < 1e-6
    # the workers are quiet again
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        smg.mixedglm(f, ddf, family=sm.families.Poisson())
    assert not [w for w in again if str(w.message) in messages]


def _shuffle_records(caplog):
    return [r for r in caplog.records
            if r.name.startswith("distributed.shuffle") and r.levelno >= logging.WARNING]


@pytest.fixture
def shuffle_log(caplog):
    log = logging.getLogger("distributed.shuffle")  # the distributed loggers do not propagate
    log.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="distributed.shuffle")
    yield caplog
    log.removeHandler(caplog.handler)


def test_a_fit_that_shuffles_logs_no_shuffle_warnings(client, shuffle_log):
    nested = smg.datasets.load("sim_nested")
    nested = nested.sample(frac=1.0, random_state=2).reset_index(drop=True)
    ddf = dd.from_pandas(nested, npartitions=3)
    # a shuffle of our own: the scheduler logs its start and end at WARNING level
    ddf.shuffle(on="clinic").compute()
    assert len(_shuffle_records(shuffle_log)) >= 1
    shuffle_log.clear()
    f = "ybin ~ time + treat + (1 | clinic) + (1 | clinic:patient)"
    model = smg.mixedglm(f, ddf, family=sm.families.Binomial())
    res = model.fit()
    assert model.shuffled and np.isfinite(res.llf)
    assert _shuffle_records(shuffle_log) == []
    # the level is back: the next shuffle outside a fit is logged as usual
    ddf.shuffle(on="clinic", npartitions=2).compute()
    assert len(_shuffle_records(shuffle_log)) >= 1
