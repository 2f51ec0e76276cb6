"""
Benchmark: zero inflation with a rich zi formula on glmmTMB's Salamanders data.

``count ~ spp * mined + (1 | site)`` with ``zi_formula = "~ spp * mined"``
(14 + 14 coefficients, 23 sites, 644 rows), Poisson and NB2: this package vs
glmmTMB's recorded time (tests/results/Salamanders__tmb_*_rich.json, median of
5 runs of the fit call in R).

Run: ``python benchmarks/bench_zero_inflation.py [--repeat 3] [--out FILE]``.
Our times are seconds of the model building and fit calls (data already
loaded), the median of the repeats in one process after one warm-up fit:
wall-clock, as glmmTMB's, and the processor time of this process (the same on
an idle machine; on a loaded one the wall-clock time also counts the waits for
a processor, and the processor time is the fairer comparison).
"""

import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np
import statsmodels.api as sm

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))

import statsmodels_glmm.api as smg  # noqa: E402
from conftest import load_dataset, load_ref  # noqa: E402

sys.path.insert(0, HERE)
from bench_scale import kernels_note  # noqa: E402

FORMULA = "count ~ spp * mined + (1 | site)"
ZI = "~ spp * mined"
CASES = [("ZIP", "Salamanders__tmb_zip_rich", sm.families.Poisson),
         ("ZINB2", "Salamanders__tmb_zinb2_rich", smg.families.NegativeBinomial)]


def _fit(df, family):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NB2: the separated zi cells are warned about
        return smg.mixedglm(FORMULA, df, family=family(), zi_formula=ZI).fit()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None, help="also write the table to this file")
    args = ap.parse_args()
    df = load_dataset("Salamanders")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [f"bench_zero_inflation: median of {args.repeat} runs after one warm-up; machine: "
             f"{platform.machine()}, {os.cpu_count()} processors, load average {load:.1f} at "
             f"start; {kernels_note()}",
             f"Salamanders: {FORMULA}, zi {ZI} (644 rows, 23 sites)",
             f"{'family':8s} {'ours (s)':>9s} {'ours CPU (s)':>12s} {'glmmTMB (s)':>12s} "
             f"{'ratio':>6s} {'ratio CPU':>9s} {'llf ours':>12s} {'llf glmmTMB':>12s} "
             f"{'converged':>9s}"]
    for label, ref_id, family in CASES:
        ref = load_ref(ref_id)
        _fit(df, family)  # warm-up
        times, cpu = [], []
        for _ in range(args.repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            res = _fit(df, family)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        ours, ours_cpu = float(np.median(times)), float(np.median(cpu))
        theirs = ref["timing"]["median_elapsed_s"]
        lines.append(f"{label:8s} {ours:9.3f} {ours_cpu:12.3f} {theirs:12.3f} "
                     f"{ours / theirs:6.2f} {ours_cpu / theirs:9.2f} {res.llf:12.6f} "
                     f"{ref['logLik']:12.6f} {str(res.converged):>9s}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines.append(f"ratio = ours / glmmTMB (above 1: slower than glmmTMB); load average "
                 f"{load:.1f} at the end")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
