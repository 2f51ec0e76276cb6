"""
Fit time on a panel of one-factor designs, side by side with `glmm`.

    python benchmarks/bench_panel.py [--repeat 3] [--quick] [--only binary RI]
                                     [--max-persons 5000] [--min-persons 20000]
                                     [--save benchmarks/results/bench_panel.txt]

Every design is a longitudinal panel from ``simulate_longitudinal``: binary or
Poisson outcome, ``y ~ time * group + stress`` with a random intercept
(``(1 | id)``) or a random intercept and slope (``(1 + time | id)``); the
random-intercept SD runs from 0.3 to 3 (the slope SD such that over all the waves
the slope moves the linear predictor by half the intercept SD), the waves
from 1 to 10 (one wave: Poisson random intercepts only, without the terms in
``time``, constant then) and the persons from 500 to 50,000.  For each design the time of
statsmodels-glmm (Laplace; the model built from the formula plus ``fit()``,
its Laplace accuracy guard included) and of the `glmm` package (``glmm.fit``
on the same DataFrame and formula) are taken alternately, median of
``--repeat`` runs.  Printed: both times, their ratio, both log-likelihoods and
whether they agree to 1e-3, whether the guard refitted by quadrature, and the
share of our time spent in the guard (its quadrature value and refit), median
over the runs.
"""

import argparse
import os
import platform
import sys
import time

import numpy as np

import statsmodels_glmm.api as smg
import statsmodels_glmm.checks.approximation as approximation

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_scale import (  # noqa: E402
    FAMILIES, TimeSpent, fit_glmm, fit_ours, have_glmm, kernels_note, teed)

FIXED = "y ~ time * group + stress"
RANDOM = {"RI": "(1 | id)", "RS": "(1 + time | id)"}

#: (persons, waves, random-intercept SD); random slopes need two waves or more, and a
#: binary random intercept two (with one 0/1 row per person its variance is not identified)
DESIGNS = [(500, 1, 1.0), (500, 3, 0.3), (500, 3, 3.0), (500, 10, 1.0),
           (2000, 2, 1.0), (2000, 5, 3.0), (5000, 1, 0.3), (5000, 5, 1.0),
           (5000, 10, 0.3), (20000, 3, 1.0), (50000, 5, 1.0), (50000, 2, 3.0)]
QUICK = [(500, 3, 1.0), (500, 10, 3.0), (2000, 2, 1.0), (5000, 5, 0.3)]


def simulate(kind, re, n, waves, sd):
    slope = sd / (2 * (waves - 1)) if re == "RS" else 0.0
    seed = 1000 * waves + n + int(10 * sd) + (7 if re == "RS" else 0)
    return smg.simulate_longitudinal(kind, n_persons=n, n_waves=waves, sd=(sd, slope),
                                     corr=0.0, seed=seed)


def compare(kind, re, n, waves, sd, repeat, with_glmm):
    # with one wave ``time`` is zero in every row: its terms leave the formula
    formula = f"{FIXED if waves > 1 else 'y ~ group + stress'} + {RANDOM[re]}"
    df = simulate(kind, re, n, waves, sd)
    t_ours, t_peer, in_guard = [], [], []
    res = peer = None
    for _ in range(repeat):
        with TimeSpent(approximation, "laplace_guard", "guard_refit") as clock:
            t0 = time.perf_counter()
            res = fit_ours(df, kind, formula)
            t_ours.append(time.perf_counter() - t0)
        in_guard.append(clock.total / t_ours[-1])
        if with_glmm:
            t0 = time.perf_counter()
            peer = fit_glmm(df, kind, formula)
            t_peer.append(time.perf_counter() - t0)
    ours = float(np.median(t_ours))
    theirs = float(np.median(t_peer)) if t_peer else np.nan
    llf_peer = float(peer.loglik) if peer is not None else np.nan
    d = abs(res.llf - llf_peer)
    guard = res.mle_retvals.get("laplace_check") or {}
    refit = guard.get("refit") or {}
    how = ("-" if not refit else "skip" if "skipped" in refit else
           f"{refit.get('steps', 0)} st")
    share = float(np.median(in_guard))
    print(f"{kind:8s} {re:3s} {n:6d} {waves:3d} {sd:4.1f} {len(df):8d} {ours:8.3f} "
          f"{theirs:8.3f} {ours / theirs:6.2f} {res.llf:15.4f} {llf_peer:15.4f} "
          f"{d:8.1e} {'yes' if d <= 1e-3 else 'NO':>4s} {how:>5s} {100 * share:6.1f} "
          f"{'yes' if res.converged else 'NO':>4s}", flush=True)
    refitted = bool(refit) and "skipped" not in refit
    return dict(kind=kind, re=re, ratio=ours / theirs, same=d <= 1e-3, guard=share,
                refitted=refitted)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="four small designs only")
    ap.add_argument("--max-persons", type=int, default=None,
                    help="leave out the designs with more persons")
    ap.add_argument("--min-persons", type=int, default=None,
                    help="leave out the designs with fewer persons")
    ap.add_argument("--only", nargs="+", default=None,
                    help="outcome kinds and/or RI, RS to run (default: all)")
    ap.add_argument("--save", default=None, help="also write the output to this file")
    a = ap.parse_args()
    only = set(a.only or [])
    kinds = [k for k in FAMILIES if not only & set(FAMILIES) or k in only]
    res_kinds = [r for r in RANDOM if not only & set(RANDOM) or r in only]
    with teed(a.save):
        with_glmm = have_glmm()
        print(f"bench_panel: {FIXED} + (1 | id) or (1 + time | id); median of {a.repeat} "
              "runs, alternating; Laplace; build + fit")
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} "
              f"processors; load average {os.getloadavg()[0]:.1f} at start; {kernels_note()}")
        if not with_glmm:
            print("(glmm is not installed: pip install glmm)")
        print(f"\n{'model':8s} {'re':3s} {'pers':>6s} {'wav':>3s} {'sd':>4s} {'rows':>8s} "
              f"{'ours s':>8s} {'glmm s':>8s} {'ratio':>6s} {'llf ours':>15s} "
              f"{'llf glmm':>15s} {'|dllf|':>8s} {'same':>4s} {'refit':>5s} {'guard%':>6s} "
              f"{'conv':>4s}")
        rows = []
        for kind in kinds:
            for re in res_kinds:
                for n, waves, sd in (QUICK if a.quick else DESIGNS):
                    if a.max_persons is not None and n > a.max_persons:
                        continue
                    if a.min_persons is not None and n < a.min_persons:
                        continue
                    if waves < 2 and (re == "RS" or kind == "binary"):
                        continue
                    rows.append(compare(kind, re, n, waves, sd, a.repeat, with_glmm))
        ratios = np.array([r["ratio"] for r in rows])
        if np.all(np.isfinite(ratios)):
            print(f"\nratio ours / glmm: median {np.median(ratios):.2f}, largest "
                  f"{ratios.max():.2f}; {int(np.sum(ratios <= 1.0))} of {len(ratios)} "
                  f"designs at most 1.0; log-likelihoods agree to 1e-3 in "
                  f"{sum(r['same'] for r in rows)} of {len(rows)}")
        shares = {k: [100 * r["guard"] for r in rows if r["refitted"] == k] for k in (True, False)}
        said = [f"{label}: largest {max(v):.1f}%, median {np.median(v):.1f}% ({len(v)} designs)"
                for label, v in (("refitted by quadrature", shares[True]),
                                 ("not refitted", shares[False])) if v]
        if said:
            print("guard's share of our time: " + "; ".join(said))


if __name__ == "__main__":
    main()
