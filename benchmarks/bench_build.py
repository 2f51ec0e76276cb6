"""
Model building with categorical columns, side by side: read as categorical codes
(the default) and value by value (as patsy reads a DataFrame).

    python benchmarks/bench_build.py [--sizes 10000 100000 1000000] [--repeat 5]
                                     [--save benchmarks/results/bench_build.txt]

Data: five rows per person, a normal covariate ``x``, a binary outcome and a
treatment arm of three levels.  Five layouts of the same data: the arm as a
column of strings (pandas' default string dtype), as an object column of Python
strings, as a pandas categorical (the reference: patsy reads its codes), as
integer codes in ``C(arm)`` and as strings in ``C(arm)``.  Each row of the table
builds ``smg.mixedglm("y ~ x * arm + (1 | id)", ...)`` (``C(arm)`` for the last
two; no fit) with columns read as codes and read value by value
(:data:`~statsmodels_glmm.spec.formula_engine.STRINGS_AS_CODES` and
:data:`~statsmodels_glmm.spec.formula_engine.CATEGORIES_AS_CODES` off), alternating
the two, median of ``--repeat`` runs, and checks that both give the same design
matrix and column names.
"""

import argparse
import os
import platform
import sys
import time

import numpy as np
import pandas as pd
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.spec import formula_engine

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_scale import teed  # noqa: E402

FORMULA = "y ~ x * arm + (1 | id)"


#: layout: the formula it is built with
FORMULAS = {"str": FORMULA, "object": FORMULA, "category": FORMULA,
            "C(int)": "y ~ x * C(arm) + (1 | id)", "C(str)": "y ~ x * C(arm) + (1 | id)"}


def frame(n, layout, seed=0):
    rng = np.random.default_rng(seed)
    arm = rng.choice(["placebo", "low dose", "high dose"], n)
    df = pd.DataFrame({"id": np.repeat(np.arange(n // 5 + 1), 5)[:n], "x": rng.normal(size=n),
                       "y": rng.binomial(1, 0.4, n)})
    if layout == "C(int)":
        df["arm"] = pd.factorize(arm)[0]
    elif layout in ("str", "C(str)"):
        df["arm"] = pd.Series(arm, dtype="str")
    elif layout == "object":
        df["arm"] = pd.Series(arm.tolist(), dtype=object)
    else:
        df["arm"] = pd.Categorical(arm)
    return df


def build(df, codes, formula=FORMULA):
    formula_engine.STRINGS_AS_CODES = formula_engine.CATEGORIES_AS_CODES = codes
    try:
        t0 = time.perf_counter()
        m = smg.mixedglm(formula, df, family=sm.families.Binomial())
        return time.perf_counter() - t0, m
    finally:
        formula_engine.STRINGS_AS_CODES = formula_engine.CATEGORIES_AS_CODES = True


def compare(n, layout, repeat):
    df = frame(n, layout)
    formula = FORMULAS[layout]
    build(df, True, formula)  # warm-up
    times = {True: [], False: []}
    models = {}
    for _ in range(repeat):
        for codes in (True, False):
            t, models[codes] = build(df, codes, formula)
            times[codes].append(t)
    same = (models[True].exog_names == models[False].exog_names
            and np.array_equal(models[True].exog, models[False].exog))
    a, b = float(np.median(times[True])), float(np.median(times[False]))
    print(f"{n:9d} {layout:8s} {a:9.4f} {b:9.4f} {a / b:7.2f} {'yes' if same else 'NO':>5s}",
          flush=True)
    return a / b, same


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--save", default=None, help="also write the output to this file")
    a = ap.parse_args()
    with teed(a.save):
        print(f"bench_build: smg.mixedglm({FORMULA!r}, ...) without fit (arm in C(arm) for "
              f"the C layouts); median of {a.repeat} runs, alternating")
        print(f"machine: {platform.machine()}, {os.cpu_count()} processors; load average "
              f"{os.getloadavg()[0]:.1f} at start")
        print("codes s: strings and C() read as categorical codes (default); values s: read "
              "value by value; ratio: codes / values; same: equal design matrices and names")
        print()
        print(f"{'rows':>9s} {'arm':8s} {'codes s':>9s} {'values s':>9s} {'ratio':>7s} "
              f"{'same':>5s}")
        out = [compare(n, layout, a.repeat) for n in a.sizes
               for layout in FORMULAS]
        ratios = [r for r, _ in out]
        print()
        print(f"ratio codes / values: largest {max(ratios):.2f}; equal designs in "
              f"{sum(s for _, s in out)} of {len(out)}")


if __name__ == "__main__":
    main()
