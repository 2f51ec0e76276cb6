"""
Public fits with several grouping factors, side by side with the ``glmm`` package.

    python benchmarks/bench_multifactor.py [--repeat 3] [--out FILE]

Times ``smg.mixedglm(...).fit()`` (model building included) on lme4's VerbAgg
(crossed persons x items, binary, 7,584 rows) and on a simulated crossed Poisson
design (100,000 rows, 2,000 subjects x 500 items), and the PyPI package ``glmm``
on the same data in the same run (best of ``--repeat``).  Prints the
log-likelihoods of both (they must agree) and the ratio of the times; glmmTMB's
and glmer's times are those stored with the R reference fits.
"""

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

import statsmodels_glmm.api as smg

HERE = os.path.dirname(os.path.abspath(__file__))


def best_time(fn, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def crossed_poisson(n_subj=2000, n_item=500, n=100_000, seed=3):
    rng = np.random.default_rng(seed)
    subj = rng.integers(0, n_subj, n)
    item = rng.integers(0, n_item, n)
    x = rng.normal(size=n)
    eta = 0.2 + 0.3 * x + rng.normal(0, 0.5, n_subj)[subj] + rng.normal(0, 0.4, n_item)[item]
    return pd.DataFrame({"y": rng.poisson(np.exp(eta)), "x": x, "subj": subj, "item": item})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None, help="also write the table to this file")
    args = ap.parse_args(argv)
    try:
        import glmm
    except ImportError:
        glmm = None
    ref = json.load(open(os.path.join(HERE, "..", "tests", "results",
                                      "VerbAgg__tmb_crossed.json")))
    ref_glmer = json.load(open(os.path.join(HERE, "..", "tests", "results",
                                            "VerbAgg__glmer_crossed.json")))
    cases = [("VerbAgg, binary, (1|id) + (1|item)", smg.datasets.load("VerbAgg"),
              "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
              "r2num ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
              sm.families.Binomial(), "binomial"),
             ("crossed Poisson, 100k rows, 2000 x 500", crossed_poisson(),
              "y ~ x + (1 | subj) + (1 | item)", "y ~ x + (1 | subj) + (1 | item)",
              sm.families.Poisson(), "poisson")]
    import platform

    lines = [f"bench_multifactor: best of {args.repeat} runs; machine: {platform.machine()}, "
             f"{os.cpu_count()} processors, load average {os.getloadavg()[0]:.1f} at start",
             f"{'model':42s} {'ours (s)':>9s} {'glmm (s)':>9s} {'ratio':>6s} "
             f"{'llf ours':>14s} {'llf glmm':>14s}"]
    for label, df, f_ours, f_glmm, fam, gfam in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_o, r = best_time(lambda: smg.mixedglm(f_ours, df, family=fam).fit(), args.repeat)
        t_g, llf_g = np.nan, np.nan
        if glmm is not None:
            try:
                t_g, g = best_time(lambda: glmm.fit(df, f_glmm, family=gfam), args.repeat)
                llf_g = float(g.loglik)
            except Exception as exc:  # report, do not hide, a failure of the peer
                print(f"glmm failed on {label}: {exc}", file=sys.stderr)
        lines.append(f"{label:42s} {t_o:9.3f} {t_g:9.3f} {t_o / t_g:6.2f} "
                     f"{r.llf:14.4f} {llf_g:14.4f}")
    lines.append(f"VerbAgg in R (stored reference runs): glmer "
                 f"{ref_glmer['timing']['median_elapsed_s']:.2f} s, glmmTMB "
                 f"{ref['timing']['median_elapsed_s']:.2f} s")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
