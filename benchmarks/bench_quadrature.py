"""
Adaptive Gauss-Hermite quadrature: time against Laplace and against the peers.

Run from the repository root::

    python benchmarks/bench_quadrature.py            # scalar cases + q = 2 on sim_binary_small
    python benchmarks/bench_quadrature.py --large    # also q = 2, K = 7 on sim_binary_large
    python benchmarks/bench_quadrature.py --out benchmarks/results/bench_quadrature.txt

Prints, for each case, the median wall time of ``fit`` (data already
loaded) for statsmodels-glmm, the PyPI package ``glmm`` when installed (it
caps nagq at 25, odd), and lme4's recorded time from the reference JSON,
with the log-likelihoods so that the answers can be compared too.
"""

import argparse
import json
import os
import platform
import sys
import time
import warnings

import numpy as np
import statsmodels.api as sm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from bench_scale import kernels_note, teed  # noqa: E402
from conftest import load_dataset  # noqa: E402
from statsmodels_glmm.model import MixedGLM  # noqa: E402


def _ref(fit_id):
    path = os.path.join(ROOT, "tests", "results", f"{fit_id}.json")
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def _median_time(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def ours(dataset, formula, family, nagq, repeats):
    df = load_dataset(dataset)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return MixedGLM.from_formula(formula, df, family=family).fit(nagq=nagq)

    return _median_time(run, repeats)


def peer_glmm(dataset, formula, family_name, nagq, repeats):
    try:
        import glmm
    except ImportError:
        return None, None
    if nagq > 25 or (nagq > 1 and nagq % 2 == 0):
        return None, None
    df = load_dataset(dataset)
    for col in df.columns:  # glmm wants numeric columns: code factors as R's dummies
        if str(df[col].dtype) == "category" and col not in formula.split("|")[-1]:
            cats = df[col].cat.categories
            if len(cats) == 2:
                df[col] = (df[col] == cats[1]).astype(float)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t, fit = _median_time(lambda: glmm.fit(df, formula, family=family_name, nagq=nagq),
                                  repeats)
        return t, float(fit.loglik)
    except Exception as exc:  # a peer that cannot fit the case is reported, not fatal
        print(f"    glmm failed: {exc}")
        return None, None


def row(label, dataset, formula, family, family_name, nagq, ref_id, repeats):
    t_lap, r_lap = ours(dataset, formula, family, 1, repeats)
    t_agq, r_agq = ours(dataset, formula, family, nagq, repeats)
    t_peer, ll_peer = peer_glmm(dataset, formula.replace("1 + time |", "time |"), family_name,
                                nagq, repeats)
    ref = _ref(ref_id) if ref_id else None
    t_r = ref["timing"]["median_elapsed_s"] if ref else None
    ll_r = ref.get("logLik_full") if ref else None
    print(f"\n{label}: {formula}, nagq={nagq}")
    print(f"  statsmodels-glmm Laplace  {t_lap:8.3f} s   llf {r_lap.llf:.4f}")
    print(f"  statsmodels-glmm nagq={nagq:<3d}{t_agq:8.3f} s   llf {r_agq.llf:.4f}   "
          f"ratio to our Laplace {t_agq / t_lap:.2f}x")
    if t_peer is not None:
        print(f"  glmm (PyPI)      nagq={nagq:<3d}{t_peer:8.3f} s   llf {ll_peer:.4f}   "
              f"ours/glmm {t_agq / t_peer:.2f}x")
    if t_r is not None:
        print(f"  lme4 (recorded)  nagq={nagq:<3d}{t_r:8.3f} s   llf {ll_r:.4f}   "
              f"ours/lme4 {t_agq / t_r:.2f}x")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--large", action="store_true", help="also q = 2, K = 7 on sim_binary_large")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None, help="also write what is printed to this file")
    a = ap.parse_args()
    with teed(a.out):
        print(f"bench_quadrature: fit time (data loaded, model built and fitted), median of "
              f"{a.repeats} runs per engine; machine: {platform.machine()}, {os.cpu_count()} "
              f"processors, load average {os.getloadavg()[0]:.1f} at start; {kernels_note()}")
        cases(a)


def cases(a):
    B = sm.families.Binomial()
    row("toenail", "toenail", "outcome_bin ~ treatment * time + (1 | patientID)", B,
        "binomial", 25, "toenail__glmer_ri_agq25", a.repeats)
    row("sim_binary_t3_n500", "sim_binary_t3_n500", "y ~ time * group + stress + (1 | id)", B,
        "binomial", 25, "sim_binary_t3_n500__glmer_ri_agq25", a.repeats)
    row("sim_binary_small (q = 2)", "sim_binary_small",
        "y ~ time * group + stress + (1 + time | id)", B, "binomial", 7, None, a.repeats)
    if a.large:
        row("sim_binary_large (q = 2)", "sim_binary_large",
            "y ~ time * group + stress + (1 + time | id)", B, "binomial", 7, None, 1)
        ref = _ref("sim_binary_large__glmer_rs_laplace")
        if ref:
            print(f"  (lme4 cannot use nagq > 1 here; its Laplace fit took "
                  f"{ref['timing']['median_elapsed_s']:.1f} s)")


if __name__ == "__main__":
    main()
