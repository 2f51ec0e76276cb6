"""
Fit time on one thread and on every processor, side by side, against the number of rows.

    python benchmarks/bench_threads.py [--sizes 10000 20000 50000 100000 200000]
                                       [--repeat 3] [--save benchmarks/results/bench_threads.txt]

For binary and Poisson outcomes and ``y ~ time * group + stress + (1 | id)`` and
``(1 + time | id)`` (data from ``simulate_longitudinal``, five waves with dropout),
every size is fitted (Laplace, model building plus ``fit``, guard included) with
the chunks of groups on one thread and on ``os.cpu_count()`` threads (the
``n_jobs`` of :func:`statsmodels_glmm.likelihood.parallel.using_threads`),
alternating the two, median of ``--repeat`` runs.  Printed: both times, their
ratio (threads over one thread: below 1 where threads pay), and the number of
threads the package's default would choose
(:func:`~statsmodels_glmm.likelihood.parallel.num_threads`).
"""

import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.likelihood import parallel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_scale import teed  # noqa: E402

FIXED = "y ~ time * group + stress"
RANDOM = {"RI": "(1 | id)", "RS": "(1 + time | id)"}
FAMILIES = {"binary": sm.families.Binomial, "poisson": sm.families.Poisson}


def fit(df, kind, formula, n_jobs):
    with warnings.catch_warnings(), parallel.using_threads(n_jobs):
        warnings.simplefilter("ignore")
        return smg.mixedglm(formula, df, family=FAMILIES[kind]()).fit()


def compare(kind, re, n, repeat, cores):
    df = smg.simulate_longitudinal(kind, n_persons=n, seed=n)
    formula = f"{FIXED} + {RANDOM[re]}"
    fit(df, kind, formula, 1)  # warm-up
    times = {1: [], cores: []}
    llf = {}
    for _ in range(repeat):
        for k in (1, cores):
            t0 = time.perf_counter()
            res = fit(df, kind, formula, k)
            times[k].append(time.perf_counter() - t0)
            llf[k] = res.llf
    one, many = float(np.median(times[1])), float(np.median(times[cores]))
    default = parallel.num_threads(work=len(df))
    print(f"{kind:8s} {re:3s} {n:8d} {len(df):9d} {one:9.3f} {many:9.3f} {many / one:7.2f} "
          f"{default:8d} {abs(llf[1] - llf[cores]):9.1e}", flush=True)
    return dict(rows=len(df), ratio=many / one)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+",
                    default=[10_000, 20_000, 50_000, 100_000, 200_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--save", default=None, help="also write the output to this file")
    a = ap.parse_args()
    cores = os.cpu_count() or 1
    with teed(a.save):
        print(f"bench_threads: {FIXED} + (1 | id) or (1 + time | id); median of {a.repeat} "
              f"runs, alternating; Laplace; build + fit; one thread against {cores}")
        print(f"machine: {platform.processor() or platform.machine()}, {cores} processors; "
              f"load average {os.getloadavg()[0]:.1f} at start; threads by default from "
              f"{parallel.MIN_PARALLEL_ROWS:,} rows")
        print(f"\n{'model':8s} {'re':3s} {'persons':>8s} {'rows':>9s} {'1 thr s':>9s} "
              f"{f'{cores} thr s':>9s} {'ratio':>7s} {'default':>8s} {'|dllf|':>9s}")
        rows = [compare(kind, re, n, a.repeat, cores)
                for kind in FAMILIES for re in RANDOM for n in a.sizes]
        ratios = np.array([r["ratio"] for r in rows])
        print(f"\nthreads over one thread: median {np.median(ratios):.2f}, "
              f"best {ratios.min():.2f}, worst {ratios.max():.2f}")


if __name__ == "__main__":
    main()
