"""
Public fits with several grouping factors, side by side with the ``glmm`` package.

    python benchmarks/bench_multifactor.py [--repeat 3] [--out FILE] [--only NAME ...]

Each fit runs in a fresh subprocess (``--one CASE ENGINE``), which fits the
model once to warm up (imports, caches; skipped for the 4,000 x 4,000 design)
and then reports the time of ``smg.mixedglm(...).fit()`` or ``glmm.fit(...)``
(model building included, data loading not), the log-likelihood and the peak
resident memory: the process's peak (``resource.getrusage``) and its growth
over the resident size before the fits.  Runs alternate between the two
engines; the table shows the median of ``--repeat`` runs (one run of ``glmm``
on the 4,000 x 4,000 design, which takes it close to a minute).

Designs: lme4's grouseticks (Poisson, ``(1|BROOD) + (1|LOCATION)``, 403 rows),
lme4's Arabidopsis (Poisson, ``(1|popu) + (1|gen)``, 625 rows), lme4's VerbAgg
(binary, crossed persons x items, 7,584 rows), a simulated crossed Poisson
design (100,000 rows, 2,000 subjects x 500 items), three simulated crossed binary
ones (5,000 rows of 500 subjects x 50 items; 50,000 rows of 2,000 x 300, each
subject meeting about 8% of the items; 100,000 rows of 5,000 x 1,000, each subject
meeting 2%) and a simulated one of 16,000 random pairs of 4,000 x 4,000 levels.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
REAL = os.path.join(HERE, "..", "tests", "data", "real")


def crossed_poisson(n_subj=2000, n_item=500, n=100_000, seed=3):
    rng = np.random.default_rng(seed)
    subj = rng.integers(0, n_subj, n)
    item = rng.integers(0, n_item, n)
    x = rng.normal(size=n)
    eta = 0.2 + 0.3 * x + rng.normal(0, 0.5, n_subj)[subj] + rng.normal(0, 0.4, n_item)[item]
    return pd.DataFrame({"y": rng.poisson(np.exp(eta)), "x": x, "subj": subj, "item": item})


def crossed_binary(n_subj, n_item, n, seed=5):
    """Subjects x items with a binary outcome, each row a random (subject, item) pair:
    every subject meets a small share of the items (SDs 0.8 and 0.5)."""
    rng = np.random.default_rng(seed)
    subj = rng.integers(0, n_subj, n)
    item = rng.integers(0, n_item, n)
    x = rng.normal(size=n)
    eta = -0.2 + 0.4 * x + rng.normal(0, 0.8, n_subj)[subj] + rng.normal(0, 0.5, n_item)[item]
    return pd.DataFrame({"y": rng.binomial(1, 1 / (1 + np.exp(-eta))), "x": x, "subj": subj,
                         "item": item})


def random_pairs(n_a=4000, n_b=4000, n=16_000, seed=1):
    """Each row a random (a, b) pair of levels; Poisson, SDs 0.8 and 0.6."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n_a, n)
    b = rng.integers(0, n_b, n)
    x = rng.normal(size=n)
    eta = 0.3 + 0.5 * x + rng.normal(0, 0.8, n_a)[a] + rng.normal(0, 0.6, n_b)[b]
    return pd.DataFrame({"y": rng.poisson(np.exp(eta)), "x": x, "a": a, "b": b})


def grouseticks():
    return pd.read_csv(os.path.join(REAL, "grouseticks.csv"),
                       dtype={"INDEX": str, "BROOD": str, "YEAR": str, "LOCATION": str})


def arabidopsis():
    df = pd.read_csv(os.path.join(REAL, "Arabidopsis.csv"), dtype={"popu": str, "gen": str})
    return df.rename(columns={"total.fruits": "total_fruits"})


def verbagg():
    import statsmodels_glmm.api as smg

    return smg.datasets.load("VerbAgg")


# name: (label, data, our formula, glmm's formula, family, glmm runs)
CASES = {
    "grouseticks": ("grouseticks Poisson (1|BROOD)+(1|LOCATION)", grouseticks,
                    "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | LOCATION)", None, "poisson", None),
    "arabidopsis": ("Arabidopsis Poisson (1|popu)+(1|gen)", arabidopsis,
                    "total_fruits ~ nutrient + amd + rack + status + (1 | popu) + (1 | gen)",
                    None, "poisson", None),
    "verbagg": ("VerbAgg binary (1|id)+(1|item)", verbagg,
                "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
                "r2num ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "binomial", None),
    "crossed100k": ("crossed Poisson 100k rows 2000 x 500", crossed_poisson,
                    "y ~ x + (1 | subj) + (1 | item)", None, "poisson", None),
    "crossedbin5k": ("crossed binary 5k rows 500 x 50", lambda: crossed_binary(500, 50, 5000),
                     "y ~ x + (1 | subj) + (1 | item)", None, "binomial", None),
    "crossedbin50k": ("crossed binary 50k rows 2000 x 300",
                      lambda: crossed_binary(2000, 300, 50_000),
                      "y ~ x + (1 | subj) + (1 | item)", None, "binomial", None),
    "crossedbin100k": ("crossed binary 100k rows 5000 x 1000",
                       lambda: crossed_binary(5000, 1000, 100_000),
                       "y ~ x + (1 | subj) + (1 | item)", None, "binomial", None),
    "pairs4000": ("crossed Poisson 16k rows 4000 x 4000 pairs", random_pairs,
                  "y ~ x + (1 | a) + (1 | b)", None, "poisson", 1),
}


def _rss_now():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_one(case, engine, warmup):
    """
    Fit one case with one engine in this process (after a warm-up fit of the
    same model when ``warmup``, so that one-off imports and caches are not
    timed); print a JSON line.
    """
    label, data, f_ours, f_glmm, fam, _ = CASES[case]
    df = data()
    if engine == "ours":
        import statsmodels.api as sm

        import statsmodels_glmm.api as smg

        family = {"poisson": sm.families.Poisson(), "binomial": sm.families.Binomial()}[fam]

        def fit():
            return smg.mixedglm(f_ours, df, family=family).fit()
    else:
        import glmm

        def fit():
            return glmm.fit(df, f_glmm or f_ours, family=fam)
    before = _rss_now()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if warmup:
            fit()
        t, c = time.perf_counter(), time.process_time()
        res = fit()
        elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    llf = float(res.llf if engine == "ours" else res.loglik)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"time": elapsed, "cpu": cpu, "llf": llf, "peak_mb": peak / 2 ** 20,
                      "growth_mb": max(peak - before, 0) / 2 ** 20,
                      "numba": "numba" in sys.modules}))


def run_imports():
    """
    Resident memory of a process once pandas and then each engine is imported (what
    each engine adds to pandas), and what numba and our compiled kernels add when a
    fit first loads them; print a JSON line.
    """
    import pandas  # noqa: F401  (both engines read DataFrames)

    start = _rss_now()
    try:
        import glmm  # noqa: F401

        glmm_mb = _rss_now() / 2 ** 20
    except ImportError:
        glmm_mb = np.nan
    before = _rss_now()
    import statsmodels_glmm.api  # noqa: F401
    from statsmodels_glmm.likelihood import compiled

    ours = _rss_now()
    loaded = compiled._kernels() is not None and compiled._sparse_kernels() is not None
    kernels = _rss_now()
    out = {"pandas_mb": start / 2 ** 20, "glmm_mb": glmm_mb,
           "ours_mb": (start + ours - before) / 2 ** 20,
           "kernels_mb": (kernels - ours) / 2 ** 20 if loaded else np.nan}
    print(json.dumps(out))


def measure(case, engine, timeout, warmup):
    cmd = [sys.executable, os.path.abspath(__file__), "--one", case, engine,
           "--warmup", str(int(warmup))]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {timeout} s"}
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1][:80]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(runs, key):
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else np.nan


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None, help="also write the table to this file")
    ap.add_argument("--only", nargs="*", default=None, choices=sorted(CASES))
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per fit")
    ap.add_argument("--one", nargs=2, metavar=("CASE", "ENGINE"), help=argparse.SUPPRESS)
    ap.add_argument("--warmup", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one == ["imports", "both"]:
        return run_imports()
    if args.one:
        return run_one(*args.one, warmup=bool(args.warmup))
    try:
        import glmm  # noqa: F401

        engines = ["ours", "glmm"]
    except ImportError:
        engines = ["ours"]
    lines = [f"bench_multifactor: median of {args.repeat} runs alternating between the engines, "
             f"each in a fresh process; machine: {platform.machine()}, {os.cpu_count()} "
             f"processors, load average {os.getloadavg()[0]:.1f} at start",
             "time: fit including model building, after one warm-up fit of the same model in "
             "the process (none for the 4000 x 4000 design); peak: the process's peak resident "
             "memory (its growth from before the fits in brackets, marked k where the fits "
             "loaded numba and our compiled kernels), MiB; cpu: processor seconds of the "
             "timed fit (all threads)",
             f"{'model':44s} {'ours (s)':>9s} {'peak':>12s} {'glmm (s)':>9s} {'peak':>12s} "
             f"{'ratio':>6s} {'llf ours':>14s} {'llf glmm':>14s} {'cpu ours':>8s} "
             f"{'cpu glmm':>8s}"]
    print("\n".join(lines), flush=True)
    for case in args.only or list(CASES):
        label, *_, glmm_runs = CASES[case]
        runs = {e: [] for e in engines}
        for rep in range(args.repeat):
            for e in engines:
                if e == "glmm" and glmm_runs is not None and rep >= glmm_runs:
                    continue
                # the largest design is timed without a warm-up fit (a fit takes long
                # enough that one-off costs do not matter)
                runs[e].append(measure(case, e, args.timeout, warmup=case != "pairs4000"))
        cols = []
        for e in ("ours", "glmm"):
            rs = runs.get(e, [])
            ok = [r for r in rs if "error" not in r]
            if not ok:
                err = rs[0]["error"] if rs else "not installed"
                print(f"{e} on {case}: {err}", file=sys.stderr)
                cols.append((np.nan, "", np.nan))
                continue
            mark = "k" if any(r.get("numba") for r in ok) else ""
            mem = f"{_median(ok, 'peak_mb'):.0f} ({_median(ok, 'growth_mb'):.0f}{mark})"
            cols.append((_median(ok, "time"), mem, _median(ok, "llf"), _median(ok, "cpu")))
        (t_o, m_o, l_o, c_o), (t_g, m_g, l_g, c_g) = cols
        line = (f"{label:44s} {t_o:9.3f} {m_o:>12s} {t_g:9.3f} {m_g:>12s} "
                f"{t_o / t_g:6.2f} {l_o:14.4f} {l_g:14.4f} {c_o:8.3f} {c_g:8.3f}")
        lines.append(line)
        print(line, flush=True)
    # twice: the first run compiles and caches any kernel no fit above has loaded
    imp = [measure("imports", "both", args.timeout, warmup=False) for _ in range(2)][-1]
    if "error" not in imp:
        lines.append(f"resident memory after importing pandas: {imp['pandas_mb']:.0f} MiB; "
                     f"then statsmodels_glmm.api: {imp['ours_mb']:.0f} MiB, glmm: "
                     f"{imp['glmm_mb']:.0f} MiB; numba and our compiled kernels, loaded by the "
                     f"first fit that uses them, add {imp['kernels_mb']:.0f} MiB (part of the "
                     "growths marked k)")
        print(lines[-1])
    refs = [os.path.join(HERE, "..", "tests", "results", f"VerbAgg__{k}_crossed.json")
            for k in ("glmer", "tmb")]
    if all(os.path.exists(r) for r in refs):
        t = [json.load(open(r))["timing"]["median_elapsed_s"] for r in refs]
        lines.append(f"VerbAgg in R (stored reference runs): glmer {t[0]:.2f} s, "
                     f"glmmTMB {t[1]:.2f} s")
        print(lines[-1])
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
