"""
Benchmark: negative binomial and zero-inflated Poisson mixed models.

sim_negbin_large, NB2 ``y ~ time * group + stress + (1 + time | id)``: this
package vs the ``glmm`` package (PyPI, negative binomial supported) and
glmmTMB's recorded time; sim_zip_large, ZIP with ``zi ~ 1``: this package vs
glmmTMB's recorded time (glmm has no zero inflation).

Run: ``python benchmarks/bench_counts.py [--repeat 3] [--no-glmm]``.
Times are wall-clock seconds of the fit call (data already loaded), median
of the repeats; R's are read from the reference JSONs (median of 3 runs).
"""

import argparse
import json
import os
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

FORMULA = "y ~ time * group + stress + (1 + time | id)"


def _time(fn, repeat):
    out, times = None, []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, float(np.median(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-glmm", action="store_true")
    args = ap.parse_args()
    rows = []

    # ------------------------------------------------------------ NB2
    df = load_dataset("sim_negbin_large")
    ref = load_ref("sim_negbin_large__tmb_nbinom2_rs")
    res, t_ours = _time(lambda: smg.mixedglm(FORMULA, df,
                                             family=smg.families.NegativeBinomial()).fit(),
                        args.repeat)
    rows.append(("sim_negbin_large NB2 (1+time|id)", "statsmodels-glmm", t_ours, res.llf,
                 1 / res.params["alpha"]))
    rows.append(("", "glmmTMB (recorded)", ref["timing"]["median_elapsed_s"], ref["logLik"],
                 ref["dispersion"]["nb_theta"]))
    if not args.no_glmm:
        try:
            import glmm

            data = {c: df[c].to_numpy() for c in df.columns}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                g, t_glmm = _time(lambda: glmm.fit(data, FORMULA, family="negativebinomial"),
                                  args.repeat)
            llf = getattr(g, "loglik", getattr(g, "llf", np.nan))
            theta = getattr(g, "dispersion", np.nan)
            rows.append(("", "glmm (PyPI)", t_glmm, float(np.asarray(llf).ravel()[0])
                         if np.size(llf) else np.nan, float(np.asarray(theta).ravel()[0])
                         if np.size(theta) else np.nan))
        except Exception as exc:  # report, don't fail the benchmark
            rows.append(("", f"glmm failed: {type(exc).__name__}: {exc}"[:60], np.nan, np.nan,
                         np.nan))

    # ------------------------------------------------------------ ZIP
    dz = load_dataset("sim_zip_large")
    refz = load_ref("sim_zip_large__tmb_zip_rs")
    resz, t_zip = _time(lambda: smg.mixedglm(FORMULA, dz, family=sm.families.Poisson(),
                                             zi_formula="~1").fit(), args.repeat)
    rows.append(("sim_zip_large ZIP (1+time|id), zi~1", "statsmodels-glmm", t_zip, resz.llf,
                 np.nan))
    rows.append(("", "glmmTMB (recorded)", refz["timing"]["median_elapsed_s"], refz["logLik"],
                 np.nan))

    print(f"{'model':38s} {'engine':26s} {'seconds':>8s} {'vs ours':>8s} "
          f"{'logLik':>14s} {'NB theta':>9s}")
    base = None
    for model, eng, t, llf, theta in rows:
        if eng == "statsmodels-glmm":
            base = t
        ratio = t / base if base and np.isfinite(t) else np.nan
        print(f"{model:38s} {eng:26s} {t:8.2f} {ratio:7.1f}x {llf:14.4f} {theta:9.4f}")
    print(json.dumps({"nb2_speedup_vs_glmmTMB": rows[1][2] / t_ours,
                      "zip_speedup_vs_glmmTMB": refz["timing"]["median_elapsed_s"] / t_zip}))


if __name__ == "__main__":
    main()
