"""
The optional compiled kernels (numba, the ``fast`` extra) against numpy alone.

    python benchmarks/bench_compiled.py [--repeat 5] [--out FILE]

Two measurements:

* per fit: the same model built and fitted with the kernels on and off, alternating, in
  one process after a warm-up fit of each (median of ``--repeat``); the estimates,
  standard errors and log-likelihoods of the two are compared bit for bit, and for the
  models with several grouping factors (whose kernels' modes agree with numpy's to the
  search's tolerance, and whose Schur kernels sum in another order than the dense
  products, so not to the bit) and the Gaussian model (whose start is searched on
  sums that agree with numpy's to rounding) the largest relative difference is printed;
* the first fit of a session: a fresh Python process imports the package, makes the
  data and fits a model (a small one-factor panel; grouseticks), with the kernels on
  and off (``STATSMODELS_GLMM_COMPILED``); the kernels are compiled and cached on disk
  beforehand, so this is the cost of loading numba and the cached kernels, paid once per
  process.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, HERE)

import statsmodels.api as sm  # noqa: E402

import statsmodels_glmm.api as smg  # noqa: E402
from statsmodels_glmm.families import Binomial, Poisson  # noqa: E402
from statsmodels_glmm.likelihood import compiled  # noqa: E402
from bench_multifactor import crossed_binary  # noqa: E402
from bench_scale import kernels_note, teed  # noqa: E402
from conftest import load_dataset  # noqa: E402

RS = "y ~ time * group + stress + (1 + time | id)"
RI = "y ~ time * group + stress + (1 | id)"


def _panel(kind, n, waves, sd, slope=0.0, seed=11):
    return smg.simulate_longitudinal(kind, n_persons=n, n_waves=waves, sd=(sd, slope),
                                     corr=0.0, seed=seed)


def _log1p_counts():
    df = load_dataset("sim_poisson_large")
    df["y"] = np.log1p(df["y"])  # a continuous response
    return df


#: label: (data, formula, family)
CASES = {
    "binary RI, 500 persons x 3": (lambda: _panel("binary", 500, 3, 1.0), RI,
                                   sm.families.Binomial),
    "binary RS, 500 persons x 3": (lambda: _panel("binary", 500, 3, 1.0, 0.3), RS,
                                   sm.families.Binomial),
    "poisson RI, 2000 persons x 5": (lambda: _panel("poisson", 2000, 5, 1.0), RI,
                                     sm.families.Poisson),
    "binary RS, sim_binary_large (logit)": (lambda: load_dataset("sim_binary_large"), RS,
                                            lambda: Binomial("logit")),
    "poisson RS, sim_poisson_large": (lambda: load_dataset("sim_poisson_large"), RS,
                                      Poisson),
    "binary RS, 50000 persons x 5": (lambda: _panel("binary", 50000, 5, 1.0, 0.2), RS,
                                     sm.families.Binomial),
    "gaussian RS, log1p(sim_poisson_large)": (_log1p_counts, RS, sm.families.Gaussian),
    "grouseticks (1|BROOD)+(1|LOCATION)": (
        lambda: load_dataset("grouseticks"),
        "TICKS ~ C(YEAR) + HEIGHT + (1 | BROOD) + (1 | LOCATION)", sm.families.Poisson),
    "Arabidopsis (1|popu)+(1|gen)": (
        lambda: load_dataset("Arabidopsis").rename(columns={"total.fruits": "total_fruits"}),
        "total_fruits ~ nutrient + amd + rack + status + (1 | popu) + (1 | gen)",
        sm.families.Poisson),
    "crossed binary 2000 x 300": (lambda: crossed_binary(2000, 300, 50_000),
                                  "y ~ x + (1 | subj) + (1 | item)", sm.families.Binomial),
    "sparse crossed binary 5000 x 1000": (lambda: crossed_binary(5000, 1000, 100_000),
                                          "y ~ x + (1 | subj) + (1 | item)",
                                          sm.families.Binomial),
}

_START = ("import time; t0 = time.perf_counter(); import warnings; "
          "warnings.simplefilter('ignore')\n"
          "import statsmodels.api as sm, statsmodels_glmm.api as smg\n")
_END = "t2 = time.perf_counter(); print(t1 - t0, t2 - t1)\n"
#: label: the script that times the first fit of a fresh process
FIRST_FIT = {
    "binary RS, 500 persons x 3": (
        _START + "df = smg.simulate_longitudinal('binary', n_persons=500, n_waves=3, seed=1)\n"
        "t1 = time.perf_counter()\n"
        "smg.mixedglm('y ~ time * group + (1 + time | id)', df, "
        "family=sm.families.Binomial()).fit()\n" + _END),
    "grouseticks": (
        _START + "from conftest import load_dataset\ndf = load_dataset('grouseticks')\n"
        "t1 = time.perf_counter()\n"
        "smg.mixedglm('TICKS ~ C(YEAR) + HEIGHT + (1 | BROOD) + (1 | LOCATION)', df, "
        "family=sm.families.Poisson()).fit()\n" + _END),
}


def _fit(data, formula, family):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smg.mixedglm(formula, data, family=family()).fit()


def per_fit(repeat):
    print(f"{'model':38s} {'rows':>8s} {'kernels s':>10s} {'numpy s':>9s} {'ratio':>6s}  "
          "same (or largest relative difference)")
    for label, (data, formula, family) in CASES.items():
        df = data()
        times = {True: [], False: []}
        res = {}
        for on in (True, False):  # warm-up (loads numba and the cached kernels)
            compiled.ENABLED = on
            res[on] = _fit(df, formula, family)
        for k in range(repeat):
            for on in ((True, False) if k % 2 == 0 else (False, True)):
                compiled.ENABLED = on
                t = time.perf_counter()
                _fit(df, formula, family)
                times[on].append(time.perf_counter() - t)
        compiled.ENABLED = True
        a, b = res[True], res[False]
        same = (np.array_equal(a.params, b.params) and a.llf == b.llf
                and np.array_equal(a.bse, b.bse, equal_nan=True))
        on, off = statistics.median(times[True]), statistics.median(times[False])
        if a.model.multi or a.model.response.name == "Gaussian":  # the same to rounding
            rel = max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)) /
                                   np.maximum(np.abs(np.asarray(y)), 1e-300)))
                      for x, y in ((a.params, b.params), (a.bse, b.bse), ([a.llf], [b.llf])))
            said = "yes" if same else f"{rel:.0e}"
        else:
            said = "yes" if same else "NO"
        print(f"{label:38s} {len(df):8d} {on:10.4f} {off:9.4f} {on / off:6.2f}  {said}")


def first_fit(repeat):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "tests")]),
               OMP_NUM_THREADS="1")
    for label, script in FIRST_FIT.items():
        out = {"1": [], "0": []}
        for k in range(repeat):
            for flag in (("1", "0") if k % 2 == 0 else ("0", "1")):
                env["STATSMODELS_GLMM_COMPILED"] = flag
                txt = subprocess.run([sys.executable, "-c", script], env=env, check=True,
                                     capture_output=True, text=True).stdout.split()
                out[flag].append([float(v) for v in txt])
        print(f"first fit in a fresh process ({label}; kernels cached on disk beforehand):")
        for flag, name in (("1", "kernels"), ("0", "numpy")):
            imp = statistics.median(r[0] for r in out[flag])
            fit = statistics.median(r[1] for r in out[flag])
            print(f"  {name:8s} import and data {imp:.2f} s, first fit {fit:.3f} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if not compiled.available():
        sys.exit("numba is not installed (pip install -e '.[fast]'): nothing to compare")
    with teed(a.out):
        print(f"bench_compiled: kernels on / off, median of {a.repeat} runs, alternating, "
              f"after a warm-up fit; {os.cpu_count()} processors; load average "
              f"{os.getloadavg()[0]:.1f} at start; {kernels_note()}")
        print("time: model building plus fit; same: estimates, standard errors and "
              "log-likelihood identical to the last bit (or their largest relative "
              "difference)")
        per_fit(a.repeat)
        first_fit(a.repeat)


if __name__ == "__main__":
    main()
