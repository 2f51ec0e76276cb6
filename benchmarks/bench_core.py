"""
Speed and memory of Laplace fits, side by side with the peers installed here.

    python benchmarks/bench_core.py [--quick]

For each data set the fit is timed for statsmodels-glmm, the `glmm` package
(a compiled GLMM fitter, if installed) and statsmodels' plain GLM (no random
effects, a floor), all in this one run, best of ``--repeat`` runs; ratios
are printed against ours.  glmmTMB's time on the reference machine class is
read from the stored reference fit.  Then fit time is shown for a growing
number of persons (it should grow linearly) and the peak memory of a fit is
compared with the size of the design matrices.
"""

import argparse
import json
import os
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

import statsmodels_glmm.api as smg

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(HERE, "..", "tests")
FORMULA = "y ~ time * group + stress + (1 + time | id)"


def best_time(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def fit_ours(df, family):
    return smg.mixedglm(FORMULA, df, family=family).fit()


def fit_glmm(df, family_name):
    import glmm

    return glmm.fit(df, FORMULA.replace("1 + time", "1 + time"), family=family_name)


def fit_glm(df, family):
    return sm.GLM.from_formula("y ~ time * group + stress", df, family=family).fit()


def compare(name, df, family, family_name, repeat, tmb_time=None):
    print(f"\n{name}: {len(df)} rows, {df['id'].nunique()} persons, {FORMULA}")
    t_ours, res = best_time(lambda: fit_ours(df, family), repeat)
    rows = [("statsmodels-glmm (Laplace)", t_ours, res.llf)]
    try:
        t_g, g = best_time(lambda: fit_glmm(df, family_name), repeat)
        rows.append(("glmm (PyPI, compiled)", t_g, float(g.loglik)))
    except ImportError:
        rows.append(("glmm (PyPI, compiled)", np.nan, np.nan))
    t_glm, glm = best_time(lambda: fit_glm(df, family), repeat)
    rows.append(("statsmodels GLM (no random effects)", t_glm, glm.llf))
    if tmb_time is not None:
        rows.append(("glmmTMB (recorded, reference machine)", tmb_time, np.nan))
    for label, t, llf in rows:
        ratio = t / t_ours
        print(f"  {label:40s} {t:8.3f} s   {ratio:6.2f} x ours   llf {llf:.3f}")
    return t_ours


def scaling(sizes, repeat):
    print("\nFit time against the number of persons (binary, random intercept and slope)")
    out = []
    for n in sizes:
        df = smg.simulate_longitudinal("binary", n_persons=n, seed=n)
        t, res = best_time(lambda: fit_ours(df, sm.families.Binomial()), repeat)
        out.append((n, len(df), t))
        print(f"  {n:8d} persons {len(df):9d} rows  {t:8.3f} s  "
              f"{1e6 * t / n:8.2f} us per person  converged={res.converged}")
    return out


def memory(df):
    model = smg.mixedglm(FORMULA, df, family=sm.families.Binomial())
    d = model.design
    design_bytes = d.X.nbytes + d.Z.nbytes
    tracemalloc.start()
    model.fit()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"\nPeak memory during fit: {peak / 2**20:.1f} MiB; design matrices X and Z: "
          f"{design_bytes / 2**20:.1f} MiB; ratio {peak / design_bytes:.1f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    repeat = 1 if args.quick else args.repeat
    ref = json.load(open(os.path.join(TESTS, "results", "sim_binary_large__tmb_rs.json")))
    big = pd.read_csv(os.path.join(TESTS, "data", "sim", "sim_binary_large.csv"))
    compare("sim_binary_large", big, sm.families.Binomial(), "binomial", repeat,
            ref["timing"]["median_elapsed_s"])
    refp = json.load(open(os.path.join(TESTS, "results", "sim_poisson_large__tmb_rs.json")))
    bigp = pd.read_csv(os.path.join(TESTS, "data", "sim", "sim_poisson_large.csv"))
    compare("sim_poisson_large", bigp, sm.families.Poisson(), "poisson", repeat,
            refp["timing"]["median_elapsed_s"])
    n200 = 10000 if args.quick else 44500
    df200 = smg.simulate_longitudinal("binary", n_persons=n200, seed=7)
    compare("simulated ~200k rows", df200, sm.families.Binomial(), "binomial",
            1 if args.quick else 2)
    sizes = (5000, 20000) if args.quick else (5000, 50000, 200000)
    scaling(sizes, 1)
    memory(df200)


if __name__ == "__main__":
    main()
