"""
Speed of cumulative-link ordinal mixed models, beside the peers.

    python benchmarks/bench_ordinal.py [--quick] [--repeat N]

For each fit the time of statsmodels-glmm (best of ``--repeat`` runs) is
printed beside R's ``ordinal::clmm`` (median elapsed seconds recorded in the
reference fits, same machine class) and statsmodels' ``OrderedModel`` (no
random effects; a floor, timed here), with the log-likelihoods so that the
fits can be seen to agree.  The PyPI package ``glmm`` has no ordinal family,
so it has no column here.  The headline case is ``sim_ordinal_large`` with
correlated random intercepts and slopes under the Laplace approximation.
"""

import argparse
import json
import os
import time
import warnings

import pandas as pd
from statsmodels.miscmodels.ordinal_model import OrderedModel

import statsmodels_glmm.api as smg
from statsmodels_glmm.families import Ordinal

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(HERE, "..", "tests")

CASES = [
    # data set, formula, nagq, reference fit id
    ("wine", "rating ~ temp + contact + (1 | judge)", 1, "wine__clmm_laplace"),
    ("wine", "rating ~ temp + contact + (1 | judge)", 10, "wine__clmm_agq10"),
    ("sim_ordinal_small", "y ~ time * group + stress + (1 | id)", 1,
     "sim_ordinal_small__clmm_ri_laplace"),
    ("sim_ordinal_small", "y ~ time * group + stress + (1 | id)", 10,
     "sim_ordinal_small__clmm_ri_agq10"),
    ("sim_ordinal_small", "y ~ time * group + stress + (1 + time | id)", 1,
     "sim_ordinal_small__clmm_rs_laplace"),
    ("sim_ordinal_large", "y ~ time * group + stress + (1 | id)", 1,
     "sim_ordinal_large__clmm_ri_laplace"),
    ("sim_ordinal_large", "y ~ time * group + stress + (1 | id)", 10,
     "sim_ordinal_large__clmm_ri_agq10"),
    ("sim_ordinal_large", "y ~ time * group + stress + (1 + time | id)", 1,
     "sim_ordinal_large__clmm_rs_laplace"),
]


def load(name):
    """Data set from tests/data (the wine rating as an ordered Categorical)."""
    real = os.path.join(TESTS, "data", "real", f"{name}.csv")
    if os.path.exists(real):
        levels = json.load(open(os.path.join(TESTS, "data", "factor_levels.json")))[name]
        df = pd.read_csv(real, dtype={c: str for c in levels})
        for col, info in levels.items():
            df[col] = pd.Categorical(df[col], categories=info["levels"],
                                     ordered=info["ordered"])
        return df
    return pd.read_csv(os.path.join(TESTS, "data", "sim", f"{name}.csv"))


def ref(fit_id):
    with open(os.path.join(TESTS, "results", f"{fit_id}.json")) as fh:
        return json.load(fh)


def best_time(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def run(case, repeat):
    name, formula, nagq, fit_id = case
    df = load(name)
    r = ref(fit_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_ours, res = best_time(
            lambda: smg.mixedglm(formula, df, family=Ordinal()).fit(nagq=nagq), repeat)
        fixed = formula.split("+ (")[0]
        t_om, om = best_time(
            lambda: OrderedModel.from_formula(fixed, df, distr="logit").fit(
                method="bfgs", disp=False, maxiter=1000), repeat)
    method = "Laplace" if nagq == 1 else f"AGQ {nagq}"
    print(f"\n{name} ({len(df)} rows): {formula}  [{method}]")
    print(f"  {'statsmodels-glmm':34s} {t_ours:8.3f} s   {'':14s} llf {res.llf:12.4f}")
    if r.get("status") == "ok":
        t_r = r["timing"]["median_elapsed_s"]
        print(f"  {'ordinal::clmm (recorded)':34s} {t_r:8.3f} s   {t_r / t_ours:7.1f} x ours"
              f"   llf {r['logLik']:12.4f}   |diff| {abs(res.llf - r['logLik']):.1e}")
    else:
        print(f"  {'ordinal::clmm (recorded)':34s} {'-':>8s}     not run in the reference "
              "set (too slow)")
    print(f"  {'OrderedModel (no random effects)':34s} {t_om:8.3f} s   "
          f"{t_om / t_ours:7.2f} x ours   llf {om.llf:12.4f}")
    return t_ours


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--quick", action="store_true", help="only the headline case")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cases = CASES[-1:] if args.quick else CASES
    print("glmm (PyPI) has no ordinal family; clmm times are the recorded medians.")
    for case in cases:
        run(case, args.repeat)


if __name__ == "__main__":
    main()
