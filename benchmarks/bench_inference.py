"""
Benchmark: parametric bootstrap and profile likelihood intervals.

* toenail ``outcome_bin ~ treatment * time + (1 | patientID)`` (1,908 rows,
  294 patients, Laplace): a 200-replicate parametric bootstrap, refits warm
  started from the estimates, with ``n_jobs=1`` and ``n_jobs=2``;
* cbpp ``incidence + non_incidence ~ period + (1 | herd)``: the profile of
  every parameter (4 fixed effects and the herd SD), next to lme4's recorded
  ``confint(method="profile")`` time, and the largest difference between the
  two sets of limits.

Run: ``python benchmarks/bench_inference.py [--n 200] [--repeat 1]``.
Times are wall-clock and CPU seconds (data loaded and model fitted
beforehand), median of the repeats; the load average is printed because on a
shared machine wall time mostly measures the other jobs.
"""

import argparse
import os
import resource
import sys
import time
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))

import statsmodels_glmm.api as smg  # noqa: E402
from conftest import load_dataset, load_ref, r_name  # noqa: E402


def _cpu():
    """CPU seconds of this process and its finished children (worker processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _time(fn, repeat):
    """Result, median wall seconds and median CPU seconds (a shared machine's load
    shows up as wall time well above CPU time)."""
    out, times, cpus = None, [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), _cpu()
        out = fn()
        times.append(time.perf_counter() - t)
        cpus.append(_cpu() - c)
    return out, float(np.median(times)), float(np.median(cpus))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200, help="bootstrap replicates")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    B = sm.families.Binomial()
    warnings.simplefilter("ignore")

    toenail = load_dataset("toenail")
    res = smg.mixedglm("outcome_bin ~ treatment * time + (1 | patientID)", toenail,
                       family=B).fit()
    _, t_fit, _ = _time(lambda: smg.mixedglm("outcome_bin ~ treatment * time + (1 | patientID)",
                                          toenail, family=B).fit(), 3)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"toenail RI fit (cold start): {t_fit:.3f} s")
    for n_jobs in (1, 2):
        bt, t, cpu = _time(
            lambda: res.bootstrap(args.n, seed=1, progress=False, n_jobs=n_jobs), args.repeat)
        print(f"toenail RI bootstrap, {args.n} replicates, n_jobs={n_jobs}: {t:.2f} s wall, "
              f"{cpu:.2f} s CPU "
              f"({1000 * t / args.n:.0f} ms per replicate; {bt.n_failed} failed, "
              f"{bt.n_nonconverged} not converged)")
    ci = bt.conf_int()
    print("  percentile 95% intervals:")
    print(ci.round(4).to_string())

    cbpp = load_dataset("cbpp")
    rc = smg.mixedglm("incidence + non_incidence ~ period + (1 | herd)", cbpp, family=B).fit()
    prof, t, cpu = _time(lambda: rc.profile(), args.repeat)
    ref = load_ref("cbpp__glmer_profile_ci")
    theirs = pd.DataFrame(ref["confint"]).set_index("term")
    ours = prof.conf_int()
    ours.index = [".sig01" if n == "herd Intercept SD" else r_name(n) for n in ours.index]
    diff = np.max(np.abs(ours.loc[theirs.index].to_numpy() - theirs.to_numpy()))
    print(f"cbpp profile of all {len(ours)} parameters: {t:.2f} s wall, {cpu:.2f} s CPU "
          f"({prof.n_evaluations} likelihood evaluations); lme4 confint(method='profile') "
          f"recorded {ref.get('confint_elapsed_s', float('nan')):.2f} s; largest difference "
          f"in the limits {diff:.1e}")


if __name__ == "__main__":
    main()
