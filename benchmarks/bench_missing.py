"""
Simulation: missing outcomes after dropout and missing covariates.

Three scenarios, each repeated on fresh simulated panels (persons seen at waves
0..4, a 0/1 ``arm`` fixed per person):

1. MAR dropout, binary outcome, ``y ~ time * arm + (1 | id)``: a person still in
   the study at wave t >= 1 leaves with probability ``expit(-2 + 1.5 y_{t-1})``
   (depends on the observed previous outcome only).  The direct fit of the
   observed waves should be unbiased for ``time:arm``.
2. MNAR dropout: the same dropout, but the outcomes a person in arm 1 would have
   had after leaving are shifted by ``delta_true`` on the logit scale.  The target
   is the estimate from the complete data (every wave observed); the direct fit
   misses it, and the tipping-point analysis at ``delta = delta_true`` (shift in
   arm 1 only, the planned waves imputed) should recover it.
3. MICE: Poisson outcome, ``y ~ time * arm + x + (1 | id)`` with a time-varying
   covariate ``x`` (person component plus noise), about 30% of ``x`` missing at
   random given the outcome and the arm.  Bias and coverage of the 95% intervals
   for the full data, the complete cases and the pooled MICE estimates with both
   imputation models (``method="pmm"`` and ``method="smc"``, the same data sets and
   seeds), and the paired mean difference of each from the full-data fit.

``--only NAME`` replaces that scenario's block of an existing results file and
keeps the other blocks.

Run: ``python benchmarks/bench_missing.py [--reps-mar 200] [--reps-mnar 100]
[--reps-mice 100] [--m 10] [--out FILE]``.  Fits use 9-node adaptive quadrature
for the binary outcome (no Laplace bias in the comparison).
"""

import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import expit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import statsmodels_glmm.api as smg  # noqa: E402

N, T = 300, 5
BETA = np.array([-0.5, 0.2, 0.3, -0.3])  # Intercept, time, arm, time:arm
DELTA_TRUE = -1.0
FIT = {"nagq": 9, "check_laplace": False}


def panel(rng, delta=0.0):
    """Complete binary panel, dropout times and the observed part."""
    arm = rng.integers(0, 2, N).astype(float)
    u = rng.normal(0, 1.0, N)
    t = np.arange(T, dtype=float)
    eta = (BETA[0] + BETA[1] * t[None] + BETA[2] * arm[:, None]
           + BETA[3] * t[None] * arm[:, None] + u[:, None])
    y = np.zeros((N, T))
    last = np.full(N, T - 1)
    active = np.ones(N, bool)
    for w in range(T):
        if w > 0:
            leave = active & (rng.random(N) < expit(-2.0 + 1.5 * y[:, w - 1]))
            last[leave] = w - 1
            active &= ~leave
        shift = np.where(~active & (arm == 1), delta, 0.0)
        y[:, w] = rng.random(N) < expit(eta[:, w] + shift)
    df = pd.DataFrame({"id": np.repeat(np.arange(N), T), "time": np.tile(t, N),
                       "arm": np.repeat(arm, T), "y": y.ravel()})
    obs = df[df["time"].to_numpy() <= np.repeat(last, T)].reset_index(drop=True)
    return df, obs


def fit(df, formula="y ~ time * arm + (1 | id)", family=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smg.mixedglm(formula, df, family=family or sm.families.Binomial()).fit(
            **{**FIT, **kw})


def scenario_mar(reps, seed):
    rng = np.random.default_rng(seed)
    b, se, full = [], [], []
    drop = []
    for _ in range(reps):
        df, obs = panel(rng)
        r = fit(obs)
        b.append(r.params["time:arm"])
        se.append(r.bse["time:arm"])
        full.append(fit(df).params["time:arm"])
        drop.append(1 - len(obs) / len(df))
    b, se, full = map(np.asarray, (b, se, full))
    bias = b.mean() - BETA[3]
    return [f"1. MAR dropout ({reps} replications, {100 * np.mean(drop):.0f}% of person-waves "
            "missing)",
            f"   true time:arm {BETA[3]:+.3f}; direct fit mean {b.mean():+.4f}, bias "
            f"{bias:+.4f} = {bias / se.mean():+.3f} SE (Monte Carlo SE of the bias "
            f"{b.std(ddof=1) / np.sqrt(reps) / se.mean():.3f} SE)",
            f"   complete-data fit mean {full.mean():+.4f}; mean SE {se.mean():.4f}, SD of "
            f"estimates {b.std(ddof=1):.4f}"]


def scenario_mnar(reps, seed, m):
    rng = np.random.default_rng(seed)
    rows = []
    for j in range(reps):
        df, obs = panel(rng, delta=DELTA_TRUE)
        r = fit(obs)
        full = fit(df).params["time:arm"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tp = r.tipping_point("time:arm", deltas=[0.0, DELTA_TRUE], arm="arm", arm_level=1.0,
                                 m=m, seed=j, time="time", waves=list(range(T)))
        tab = tp.table.set_index("delta")
        t0, t1 = tab.loc[0.0], tab.loc[DELTA_TRUE]
        rows.append((r.params["time:arm"], r.bse["time:arm"], full, t0["estimate"],
                     t1["estimate"], t1["se"], t1["lower"], t1["upper"]))
    a = np.array(rows)
    truth = a[:, 2].mean()
    d_direct = a[:, 0] - a[:, 2]
    d_tp = a[:, 4] - a[:, 2]
    cover = np.mean((a[:, 6] <= truth) & (truth <= a[:, 7]))
    return [f"2. MNAR dropout, delta_true = {DELTA_TRUE} in arm 1 ({reps} replications, m = {m})",
            f"   target (complete-data estimate, mean over replications) {truth:+.4f}",
            f"   direct fit: mean {a[:, 0].mean():+.4f}, mean difference from the complete-data "
            f"estimate {d_direct.mean():+.4f} = {d_direct.mean() / a[:, 1].mean():+.2f} SE",
            f"   tipping point at delta = 0 (MAR): mean {a[:, 3].mean():+.4f}",
            f"   tipping point at delta_true: mean {a[:, 4].mean():+.4f}, mean difference "
            f"{d_tp.mean():+.4f} = {d_tp.mean() / a[:, 5].mean():+.2f} of its SE "
            f"(mean SE {a[:, 5].mean():.4f}; Monte Carlo SE of the difference "
            f"{d_tp.std(ddof=1) / np.sqrt(reps):.4f}); its 95% interval covers the target in "
            f"{100 * cover:.0f}% of replications"]


BETA_P = np.array([0.3, 0.1, 0.3, -0.1, 0.4])  # Intercept, time, arm, time:arm, x
NAMES_P = ["Intercept", "time", "arm", "time:arm", "x"]


def panel_mice(rng):
    n = 200
    arm = np.repeat(rng.integers(0, 2, n).astype(float), T)
    t = np.tile(np.arange(T, dtype=float), n)
    x = np.repeat(rng.normal(0, 0.7, n), T) + rng.normal(0, 0.7, n * T)
    u = np.repeat(rng.normal(0, 0.5, n), T)
    eta = BETA_P[0] + BETA_P[1] * t + BETA_P[2] * arm + BETA_P[3] * t * arm + BETA_P[4] * x + u
    y = rng.poisson(np.exp(eta))
    df = pd.DataFrame({"id": np.repeat(np.arange(n), T), "time": t, "arm": arm, "x": x,
                       "y": y})
    miss = rng.random(n * T) < expit(-1.75 + 0.6 * np.log1p(y) + 0.4 * arm)
    inc = df.copy()
    inc.loc[miss, "x"] = np.nan
    return df, inc


METHODS = {"MICE pmm": "pmm", "MICE smc": "smc"}


def scenario_mice(reps, seed, m):
    """
    Bias and coverage for the full data, the complete cases and both imputation
    models (the same simulated data sets and seeds for each), plus the mean
    difference of every estimate from the full-data fit of the same data set
    (paired, so with a much smaller Monte Carlo error than the bias).
    """
    rng = np.random.default_rng(seed)
    formula = "y ~ time * arm + x + (1 | id)"
    pois = sm.families.Poisson()
    est = {"full": [], "complete cases": [], **{k: [] for k in METHODS}}
    cov = {k: [] for k in est if k != "full"}
    cpu = {k: 0.0 for k in METHODS}
    share = []
    for j in range(reps):
        df, inc = panel_mice(rng)
        share.append(inc["x"].isna().mean())
        est["full"].append(fit(df, formula, pois).fe_params.to_numpy())
        cc = fit(inc, formula, pois)
        b, s = cc.fe_params.to_numpy(), cc.bse_fe.to_numpy()
        est["complete cases"].append(b)
        cov["complete cases"].append((b - 1.96 * s <= BETA_P) & (BETA_P <= b + 1.96 * s))
        for key, method in METHODS.items():
            c0 = time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mi = smg.mice(formula, inc, family=pois, n_imputations=m, seed=j, n_burnin=5,
                              n_skip=3, check_laplace=False, method=method)
            cpu[key] += time.process_time() - c0
            ci = mi.conf_int()
            est[key].append(mi.params.to_numpy())
            cov[key].append(((ci["lower"] <= BETA_P) & (BETA_P <= ci["upper"])).to_numpy())
    est = {k: np.asarray(v) for k, v in est.items()}
    lines = [f"3. MICE for a covariate {100 * np.mean(share):.0f}% missing at random "
             f"({reps} replications, m = {m}; Poisson, 200 persons x 5 waves)",
             "   " + " " * 28 + "".join(f"{n:>10}" for n in NAMES_P),
             "   true" + " " * 24 + "".join(f"{v:10.4f}" for v in BETA_P)]

    def row(label, values, fmt="{:10.4f}"):
        lines.append(f"   {label:<28}" + "".join(fmt.format(x) for x in values))

    bias, mc = {}, {}
    for k, v in est.items():
        bias[k] = v.mean(0) - BETA_P
        mc[k] = v.std(0, ddof=1) / np.sqrt(reps)
        row(f"bias {k}", bias[k])
    for k in est:
        row(f"MC SE {k}", mc[k])
    diff = {k: est[k] - est["full"] for k in cov}
    for k, v in diff.items():
        row(f"{k} - full", v.mean(0))
    for k, v in diff.items():
        row(f"MC SE {k} - full", v.std(0, ddof=1) / np.sqrt(reps))
    for k, v in cov.items():
        row(f"cover {k}", 100 * np.mean(v, 0), "{:9.0f}%")
    lines.append("   CPU time of the imputations: " + ", ".join(
        f"{k} {v / reps:.1f} s" for k, v in cpu.items()) + " per data set")
    best = min(METHODS, key=lambda k: np.abs(bias[k]).max())
    for k in METHODS:
        worst = np.abs(bias[k]).argmax()
        lines.append(f"   {k}: largest |bias| {np.abs(bias[k]).max():.4f} ({NAMES_P[worst]}); "
                     f"coverage {100 * np.mean(cov[k], 0).min():.0f}-"
                     f"{100 * np.mean(cov[k], 0).max():.0f}%")
        for what, mine, ref in (("|bias|", bias[k], bias["complete cases"]),
                                ("|mean difference from the full-data fit|",
                                 diff[k].mean(0), diff["complete cases"].mean(0))):
            smaller = np.abs(mine) < np.abs(ref)
            lines.append(f"      {what} smaller than for the complete cases for "
                         f"{int(smaller.sum())} of {len(NAMES_P)} coefficients"
                         + ("" if smaller.all() else " (not for " + ", ".join(
                             n for n, t in zip(NAMES_P, smaller) if not t) + ")"))
    lines.append(f"   smallest largest |bias|: {best}")
    return lines


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reps-mar", type=int, default=200)
    p.add_argument("--reps-mnar", type=int, default=100)
    p.add_argument("--reps-mice", type=int, default=100)
    p.add_argument("--m", type=int, default=10)
    p.add_argument("--only", choices=["mar", "mnar", "mice"], default=None)
    p.add_argument("--out", default=os.path.join(HERE, "results", "bench_missing.txt"))
    a = p.parse_args()
    start = time.time()
    lines = [f"bench_missing: machine {platform.machine()}, {os.cpu_count()} processors"]
    parts = [("mar", lambda: scenario_mar(a.reps_mar, 1)),
             ("mnar", lambda: scenario_mnar(a.reps_mnar, 2, a.m)),
             ("mice", lambda: scenario_mice(a.reps_mice, 3, a.m))]
    blocks = {}
    for name, run in parts:
        if a.only in (None, name):
            t0, c0 = time.time(), time.process_time()
            block = run() + [f"   ({time.time() - t0:.0f} s wall, {time.process_time() - c0:.0f} s "
                             f"CPU; load average {os.getloadavg()[0]:.1f} at the end)"]
            blocks[name] = block
            print("\n".join(block), flush=True)
    if a.out and a.only and os.path.exists(a.out):
        text = merge(open(a.out).read(), blocks)
    else:
        text = "\n".join(lines + [ln for b in blocks.values() for ln in b + [""]]
                         + [f"total {time.time() - start:.0f} s"])
    print(text)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(text.rstrip("\n") + "\n")


def merge(old, blocks):
    """
    The results file ``old`` with the blocks of the scenarios just run replaced
    (a block runs from its numbered first line to the next blank line); the
    other blocks and the text after the last block are kept.
    """
    number = {"mar": "1. ", "mnar": "2. ", "mice": "3. "}
    out, skip = [], False
    for ln in old.splitlines():
        key = next((k for k, v in number.items() if ln.startswith(v)), None)
        if key in blocks:
            out += blocks.pop(key)
            skip = True
            continue
        if skip and ln.strip() == "":
            skip = False
        if not skip:
            out.append(ln)
    for b in blocks.values():  # scenarios not in the old file
        out += [""] + b
    return "\n".join(out)

if __name__ == "__main__":
    main()
