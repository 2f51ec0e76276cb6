"""
A fit on a Dask cluster beside the in-memory fit of the same rows.

    python benchmarks/bench_dask.py [--rows N] [--huge] [--workers K] [--split]

A random-intercept logistic model ``y ~ time + group + stress + (1 | id)`` on
simulated panel data (5 rows per person) is written as Parquet files (8 by
default); the in-memory fit reads them with pandas and fits with
``smg.mixedglm``, the Dask fit reads them with ``dd.read_parquet`` and fits
the same call on a ``LocalCluster`` with ``--workers`` single-threaded worker
processes.  Both run in this one process run, one after the other; the table
shows the time to read and build the model, the time to fit, the number of
log-likelihood evaluations (one network round trip each for Dask), the bytes
that travel per evaluation, and how far apart the two answers are.

``--rows`` sets the number of rows (default 1,000,000); ``--huge`` uses
10,000,000.  ``--split`` writes the rows in random order, so that every
person's rows are spread over files and the Dask path has to shuffle.
"""

import argparse
import os
import pickle
import shutil
import tempfile
import time
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

import statsmodels_glmm.api as smg

FORMULA = "y ~ time + group + stress + (1 | id)"


def simulate(n_rows, seed=0, waves=5):
    """Random-intercept logistic panel data: ``n_rows / waves`` persons."""
    rng = np.random.default_rng(seed)
    n_persons = n_rows // waves
    pid = np.repeat(np.arange(n_persons), waves)
    time_ = np.tile(np.arange(waves, dtype=float), n_persons)
    group = np.repeat(rng.integers(0, 2, n_persons), waves).astype(float)
    stress = rng.normal(size=len(pid))
    b = np.repeat(rng.normal(scale=1.0, size=n_persons), waves)
    eta = -0.8 + 0.25 * time_ + 0.5 * group + 0.3 * stress + b
    y = (rng.random(len(pid)) < 1 / (1 + np.exp(-eta))).astype(np.int64)
    return pd.DataFrame({"id": pid, "time": time_, "group": group, "stress": stress, "y": y})


def write_parquet(df, folder, n_files, split, seed=1):
    rows = df.sample(frac=1.0, random_state=seed) if split else df
    paths = []
    for k, idx in enumerate(np.array_split(np.arange(len(rows)), n_files)):
        path = os.path.join(folder, f"part-{k:03d}.parquet")
        rows.iloc[idx].to_parquet(path, index=False)
        paths.append(path)
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--huge", action="store_true", help="10,000,000 rows")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--split", action="store_true",
                    help="spread every person's rows over files (forces a shuffle)")
    args = ap.parse_args()
    n_rows = 10_000_000 if args.huge else args.rows

    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import os
    import platform

    print(f"bench_dask: machine {platform.machine()}, {os.cpu_count()} processors, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    folder = tempfile.mkdtemp(prefix="bench_dask_")
    try:
        t0 = time.perf_counter()
        df = simulate(n_rows)
        paths = write_parquet(df, folder, args.files, args.split)
        del df
        print(f"{n_rows:,} rows, {n_rows // 5:,} persons, {len(paths)} Parquet files "
              f"({'groups split over files' if args.split else 'groups whole in files'}); "
              f"written in {time.perf_counter() - t0:.1f} s")
        fam = sm.families.Binomial()

        # ---- in memory
        t0 = time.perf_counter()
        pdf = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
        model = smg.mixedglm(FORMULA, pdf, family=fam)
        t_build_mem = time.perf_counter() - t0
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res_mem = model.fit()
        t_fit_mem = time.perf_counter() - t0
        nfev_mem = res_mem.mle_retvals["function_evaluations"]
        del model, pdf

        # ---- on a LocalCluster
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=50)
        client = Client(cluster)
        try:
            client.run(lambda: __import__("statsmodels_glmm.distributed.partition"))  # warm imports
            t0 = time.perf_counter()
            ddf = dd.read_parquet(paths)
            dmodel = smg.mixedglm(FORMULA, ddf, family=fam)
            t_build_dask = time.perf_counter() - t0
            calls = []
            original = dmodel._map

            def counting(fn, *a):
                calls.append(fn.__name__)
                return original(fn, *a)

            dmodel._map = counting
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res_dask = dmodel.fit()
            t_fit_dask = time.perf_counter() - t0
            t0 = time.perf_counter()  # a fresh gather of every group's modes
            n_re = len(dmodel.gather_modes(res_dask.mle_retvals["internal_params"])[0])
            t_re = time.perf_counter() - t0
            x = res_dask.mle_retvals["internal_params"]
            sent = len(pickle.dumps(x)) + len(pickle.dumps(dmodel._typical_sizes()))
            back = len(pickle.dumps((0.0, np.zeros_like(x), True)))
            n_parts, shuffled = dmodel.n_partitions, dmodel.shuffled
        finally:
            client.close()
            cluster.close()

        print()
        print(f"{'':28s}{'in memory':>14s}{'Dask':>14s}")
        print(f"{'read + build model (s)':28s}{t_build_mem:14.2f}{t_build_dask:14.2f}")
        print(f"{'fit (s)':28s}{t_fit_mem:14.2f}{t_fit_dask:14.2f}")
        print(f"{'total (s)':28s}{t_build_mem + t_fit_mem:14.2f}"
              f"{t_build_dask + t_fit_dask:14.2f}")
        print(f"{'optimiser evaluations':28s}{nfev_mem:14d}"
              f"{res_dask.mle_retvals['function_evaluations']:14d}")
        print(f"{'round trips to the workers':28s}{'':>14s}{len(calls):14d}")
        print(f"Dask: {n_parts} partitions on {args.workers} workers"
              f"{', shuffled on id' if shuffled else ''}; per evaluation and partition "
              f"~{sent} bytes out, ~{back} bytes back (pickled); gathering {n_re:,} "
              f"random effects took {t_re:.2f} s")
        print(f"|llf difference| {abs(res_dask.llf - res_mem.llf):.2e}; max relative "
              f"difference: params {np.max(np.abs(res_dask.params / res_mem.params - 1)):.1e}, "
              f"bse {np.max(np.abs(res_dask.bse / res_mem.bse - 1)):.1e}")
        print(res_dask.params.round(4).to_string())
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
