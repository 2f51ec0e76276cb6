"""
Speed and mixing of the Bayesian fit (NumPyro NUTS), beside brms.

    python benchmarks/bench_bayes.py [--chain-method vectorized|sequential] [--quick]

1. toenail, ``outcome_bin ~ treatment * time + (1 | patientID)``, default priors,
   4 chains of 1000 draws after 1000 warm-up: wall-clock time (compilation
   included) and bulk effective draws of the intercept per second, beside brms
   on this machine class (54.7 s for 782 bulk ESS, 14.3 ESS/s; and the run of
   tests/results/brms_script.R stored in tests/results/brms_toenail_ri.json).
2. A simulated panel of 400 persons, 5 years, ``y ~ year * treat + craving +
   (1 + year | id)`` (binary): time, largest R-hat and smallest bulk ESS of the
   fixed effects (the goal: R-hat <= 1.01, bulk ESS >= 400).

bambi (PyMC) is not installed with the package. When the environment variable
BAMBI_PYTHON names a Python interpreter of an environment where bambi imports, model 1
is also fitted by benchmarks/bench_bayes_bambi.py under that interpreter (a separate
process, bambi's default priors and sampler; numpyro as a second row when that
environment has it) and its row is printed beside ours and brms's, e.g.

    python -m venv venv-bambi && venv-bambi/bin/pip install bambi "matplotlib<3.11"
    BAMBI_PYTHON=venv-bambi/bin/python python benchmarks/bench_bayes.py
"""

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

import statsmodels_glmm.api as smg

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(HERE, "..", "tests")
BRMS_ESS_PER_S = 782 / 54.7
BAMBI_SCRIPT = os.path.join(HERE, "bench_bayes_bambi.py")
BAMBI_JSON = "BAMBI_JSON "


def simulate_panel(n_persons=400, n_years=5, seed=2024):
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(n_persons), n_years)
    year = np.tile(np.arange(n_years, dtype=float), n_persons)
    treat = np.repeat(rng.integers(0, 2, n_persons), n_years).astype(float)
    craving = rng.normal(size=ids.size)
    sd, corr = np.array([1.0, 0.4]), -0.3
    G = np.outer(sd, sd) * np.array([[1, corr], [corr, 1]])
    b = rng.multivariate_normal(np.zeros(2), G, n_persons)
    eta = (-0.5 + 0.3 * year - 0.4 * treat - 0.25 * year * treat + 0.5 * craving
           + b[ids, 0] + b[ids, 1] * year)
    y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    return pd.DataFrame({"id": ids, "year": year, "treat": treat, "craving": craving, "y": y})


def run(model, draws, tune, chains):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit_bayes(draws=draws, tune=tune, chains=chains, seed=1, progress=False)
    return time.perf_counter() - t0, res


def run_bambi(python, draws, tune, chains=4):
    """Runs of bench_bayes_bambi.py under ``python`` (one dict per sampler), or an error text."""
    cmd = [python, BAMBI_SCRIPT, "--draws", str(draws), "--tune", str(tune),
           "--chains", str(chains)]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as exc:
        return f"could not start {python}: {exc}"
    rows = [json.loads(line[len(BAMBI_JSON):]) for line in proc.stdout.splitlines()
            if line.startswith(BAMBI_JSON)]
    if not rows:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return f"{python} {os.path.basename(BAMBI_SCRIPT)} gave no result: " + " | ".join(tail)
    return rows


def print_bambi(secs, ess, res, draws, tune):
    """bambi's row(s) for the toenail model beside ours, or how to get them."""
    python = os.environ.get("BAMBI_PYTHON")
    if not python:
        print("   bambi: not run; set BAMBI_PYTHON to the python of an environment with bambi "
              "(python -m venv venv-bambi && venv-bambi/bin/pip install bambi "
              "'matplotlib<3.11')")
        return
    rows = run_bambi(python, draws, tune)
    if isinstance(rows, str):
        print(f"   bambi: {rows}")
        return
    for r in rows:
        print(f"   bambi {r['versions']['bambi']} ({r['sampler']:7s}): {r['seconds']:6.1f} s, "
              f"bulk ESS (Intercept) {r['ess_bulk_intercept']:6.0f}, "
              f"{r['ess_per_second']:6.1f} ESS/s, divergences {r['divergences']}, "
              f"max R-hat {r['rhat_max']:.3f}; ours / bambi (ESS/s): "
              f"{ess / secs / r['ess_per_second']:.2f}x")
    names = [n for n in res.params.index if n in rows[0]["params"]]
    tab = pd.DataFrame({"ours": res.params[names], "sd": res.bse[names]})
    for r in rows:
        tab[f"bambi {r['sampler']}"] = [r["params"][n]["mean"] for n in names]
        tab[f"sd {r['sampler']}"] = [r["params"][n]["sd"] for n in names]
    print("   posterior means (bambi at its own default priors):")
    print("   " + tab.round(3).to_string().replace("\n", "\n   "))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--chain-method", default=None, choices=["vectorized", "sequential"])
    ap.add_argument("--quick", action="store_true", help="500 draws and 500 warm-up")
    args = ap.parse_args(argv)
    from statsmodels_glmm.bayes import sampler

    if args.chain_method:
        sampler.CHAIN_METHOD = args.chain_method
    draws = tune = 500 if args.quick else 1000
    sys.path.insert(0, TESTS)
    from conftest import load_dataset

    print(f"chain method: {sampler.CHAIN_METHOD}; {draws} draws, {tune} warm-up, 4 chains")
    toe = smg.mixedglm("outcome_bin ~ treatment * time + (1 | patientID)",
                       load_dataset("toenail"), family=sm.families.Binomial())
    secs, res = run(toe, draws, tune, 4)
    ess = res.ess.loc["Intercept", "bulk"]
    print("\n1. toenail random intercept")
    print(f"   statsmodels-glmm: {secs:6.1f} s, bulk ESS (Intercept) {ess:6.0f}, "
          f"{ess / secs:6.1f} ESS/s, divergences {res.divergences}, "
          f"max R-hat {res.rhat.max():.3f}")
    print("   brms (given)    :   54.7 s, bulk ESS (Intercept)    782,   14.3 ESS/s")
    ref_path = os.path.join(TESTS, "results", "brms_toenail_ri.json")
    if os.path.exists(ref_path):
        ref = json.load(open(ref_path))
        e = ref["params"]["Intercept"]["ess_bulk"]
        print(f"   brms (stored run, {ref['iter'] - ref['warmup']} draws x {ref['chains']}): "
              f"{ref['seconds_total']:6.1f} s, bulk ESS {e:6.0f}, "
              f"{e / ref['seconds_total']:6.1f} ESS/s")
    print(f"   ratio to brms (given): {ess / secs / BRMS_ESS_PER_S:.2f}x")
    print_bambi(secs, ess, res, draws, tune)

    panel = smg.mixedglm("y ~ year * treat + craving + (1 + year | id)", simulate_panel(),
                         family=sm.families.Binomial())
    secs, res = run(panel, draws, tune, 4)
    fe = panel.exog_names
    print("\n2. 400-person binary panel, random slope of year")
    print(f"   time {secs:.1f} s, divergences {res.divergences}")
    tab = pd.DataFrame({"mean": res.params, "sd": res.bse, "R-hat": res.rhat,
                        "ESS bulk": res.ess["bulk"], "ESS tail": res.ess["tail"]})
    print(tab.round(3).to_string())
    ok = res.rhat[fe].max() <= 1.01 and res.ess.loc[fe, "bulk"].min() >= 400
    print(f"   fixed effects mixed (R-hat <= 1.01, bulk ESS >= 400): {ok}; "
          f"min bulk ESS / s {res.ess.loc[fe, 'bulk'].min() / secs:.1f}")


if __name__ == "__main__":
    main()
