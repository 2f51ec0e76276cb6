"""
How the four NUTS chains of ``fit_bayes`` should run on this machine.

    python benchmarks/bench_bayes_chains.py [--repeat 2] [--out FILE]

NumPyro can advance the chains one after the other (``sequential``), together
in one vectorised program (``vectorized``), or on several host devices
(``parallel``; one device per processor, set before JAX starts).  Each run fits
the toenail random-intercept model (4 chains x 1000 draws after 1000 warm-up)
in a fresh process, compilation included, and reports wall and processor
seconds and the bulk effective sample size of the intercept.  Runs alternate
between the methods so that a change of load on the shared machine touches
all of them; processor seconds compare better than wall seconds under load.
The package's default (``statsmodels_glmm.bayes.sampler.CHAIN_METHOD``) is
the method with the least processor time per effective draw.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
METHODS = ("vectorized", "sequential", "parallel")


def one(method):
    if method == "parallel":
        import numpyro

        numpyro.set_host_device_count(os.cpu_count() or 1)
    import statsmodels.api as sm

    import statsmodels_glmm.api as smg
    from statsmodels_glmm.bayes import sampler

    sys.path.insert(0, os.path.join(HERE, "..", "tests"))
    from conftest import load_dataset

    sampler.CHAIN_METHOD = method
    t0, c0 = time.perf_counter(), time.process_time()
    model = smg.mixedglm("outcome_bin ~ treatment * time + (1 | patientID)",
                         load_dataset("toenail"), family=sm.families.Binomial())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit_bayes(draws=1000, tune=1000, chains=4, seed=1, progress=False)
    print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                      "ess": float(res.ess.loc["Intercept", "bulk"]),
                      "load": os.getloadavg()[0]}))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", default=None)
    ap.add_argument("--one", default=None, choices=METHODS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        return one(args.one)
    runs = {m: [] for m in METHODS}
    for _ in range(args.repeat):
        for m in METHODS:
            out = subprocess.run([sys.executable, __file__, "--one", m], capture_output=True,
                                 text=True, check=True).stdout.strip().splitlines()[-1]
            runs[m].append(json.loads(out))
    lines = [f"# {time.strftime('%a %b %d %H:%M:%S UTC %Y', time.gmtime())}; "
             f"{platform.machine()}, {os.cpu_count()} processors; load average at the runs: "
             + ", ".join(f"{r['load']:.1f}" for m in METHODS for r in runs[m]),
             "toenail random intercept, 4 chains x 1000 draws after 1000 warm-up, "
             f"compilation included; median of {args.repeat} fresh processes per method",
             f"{'method':12s} {'wall (s)':>9s} {'cpu (s)':>8s} {'bulk ESS':>9s} "
             f"{'ESS / cpu s':>12s} {'ESS / wall s':>13s}"]
    rates = {}
    for m in METHODS:
        med = {k: statistics.median(r[k] for r in runs[m]) for k in ("wall", "cpu", "ess")}
        rate = rates[m] = med["ess"] / med["cpu"]
        lines.append(f"{m:12s} {med['wall']:9.1f} {med['cpu']:8.1f} {med['ess']:9.0f} "
                     f"{rate:12.1f} {med['ess'] / med['wall']:13.1f}")
    lines.append(f"most effective draws per processor second: {max(rates, key=rates.get)}")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
