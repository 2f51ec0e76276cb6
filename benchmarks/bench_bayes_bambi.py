"""
bambi (PyMC) on the toenail model of bench_bayes.py, for the row printed beside it.

    python benchmarks/bench_bayes_bambi.py [--sampler all|pymc|numpyro] [--cold-cache]
                                           [--draws 1000] [--tune 1000] [--chains 4]

Fits ``outcome_bin ~ treatment * time + (1 | patientID)`` as a Bernoulli logit with
bambi's default priors, 4 chains of 1000 draws after 1000 tuning steps, and prints
the wall time (model building, compilation and sampling; imports excluded and given
apart), the CPU time of the process and its sampling worker processes, the bulk
effective sample size of the intercept (``arviz.ess(method="bulk")``), ESS per
second, divergences, the largest R-hat and the posterior means and SDs of the fixed
effects. Each fit also prints one line ``BAMBI_JSON {...}`` that bench_bayes.py reads.

``--sampler all`` (the default) runs each available sampler in a fresh process of the
same interpreter: PyMC's own NUTS always, and ``inference_method="numpyro"`` when
numpyro and jax import. ``--cold-cache`` gives each fit an empty PyTensor compile
directory, so the C compilation of the model is timed as on a first run.

This script needs only bambi (with PyMC, PyTensor, ArviZ), pandas and numpy; it does
not import statsmodels_glmm, so it runs in a separate environment, e.g.

    python -m venv venv-bambi && venv-bambi/bin/pip install bambi "matplotlib<3.11"
    venv-bambi/bin/python benchmarks/bench_bayes_bambi.py

(bambi 0.17.2 pulls arviz-plots 0.8.0, which fails on import with matplotlib 3.11:
``module 'matplotlib.style' has no attribute 'core'``; hence the pin.)
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data")
FORMULA = "outcome_bin ~ treatment * time + (1 | patientID)"
# bambi's names for the fixed effects -> the package's (patsy) names
NAMES = {
    "Intercept": "Intercept",
    "treatment[terbinafine]": "treatment[T.terbinafine]",
    "time": "time",
    "treatment:time[terbinafine]": "treatment[T.terbinafine]:time",
}
JSON_TAG = "BAMBI_JSON "
BRMS_REF = os.path.join(HERE, "..", "tests", "results", "brms_toenail_ri.json")


def load_toenail(path=None):
    """toenail as tests/conftest.py load_dataset reads it (same factor levels and order)."""
    import pandas as pd

    path = path or os.path.join(DATA, "real", "toenail.csv")
    levels = json.load(open(os.path.join(DATA, "factor_levels.json")))["toenail"]
    df = pd.read_csv(path, dtype={c: str for c in levels}, keep_default_na=False,
                     na_values=[""])
    for col, info in levels.items():
        df[col] = pd.Categorical(df[col], categories=info["levels"], ordered=info["ordered"])
    return df


def available_samplers():
    out = ["pymc"]
    try:
        import jax  # noqa: F401
        import numpyro  # noqa: F401
        out.append("numpyro")
    except ImportError:
        pass
    return out


def cpu_seconds():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime


def flat_draws(posterior, var):
    """{name: (chain, draw) array} for one posterior variable, one entry per coordinate."""
    da = posterior[var]
    extra = [d for d in da.dims if d not in ("chain", "draw")]
    if not extra:
        return {var: da.values}
    (dim,) = extra
    return {f"{var}[{c}]": da.sel({dim: c}).values for c in da[dim].values}


def fit_one(sampler, draws, tune, chains, seed, data_path=None, cores=None):
    t_import = time.perf_counter()
    import arviz as az
    import bambi as bmb
    import numpy as np
    import pymc as pm
    import pytensor
    from pymc.sampling.parallel import _cpu_count

    import_s = time.perf_counter() - t_import
    df = load_toenail(data_path)

    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = bmb.Model(FORMULA, df, family="bernoulli")
        idata = model.fit(draws=draws, tune=tune, chains=chains, random_seed=seed,
                          inference_method=sampler, cores=cores, progressbar=False)
    secs = time.perf_counter() - t0
    cpu1 = cpu_seconds()

    post = idata.posterior
    fixed = {}
    for var in ("Intercept", "treatment", "time", "treatment:time"):
        fixed.update(flat_draws(post, var))
    sigma = post["1|patientID_sigma"].values
    params = {NAMES.get(k, k): v for k, v in fixed.items()}
    params["patientID Intercept SD"] = sigma
    params["patientID Intercept Var"] = sigma ** 2
    table = {}
    for name, x in params.items():
        ds = az.convert_to_dataset({"x": x})
        table[name] = {
            "mean": float(x.mean()),
            "sd": float(x.std(ddof=1)),
            "ess_bulk": float(az.ess(ds, method="bulk")["x"]),
            "ess_tail": float(az.ess(ds, method="tail")["x"]),
            "rhat": float(az.rhat(ds)["x"]),
        }
    rhat_all = az.rhat(post)
    rhat_all_max = float(max(float(np.nanmax(rhat_all[v].values)) for v in rhat_all.data_vars))
    div = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else -1
    ess = table["Intercept"]["ess_bulk"]
    return {
        "sampler": sampler,
        "draws": draws, "tune": tune, "chains": chains, "seed": seed,
        "seconds": secs,
        "cores": cores if cores is not None else f"PyMC default ({min(4, _cpu_count())})",
        "import_seconds": import_s,
        "sampling_seconds": float(post.attrs.get("sampling_time", float("nan"))),
        "cpu_seconds_self": cpu1[0] - cpu0[0],
        "cpu_seconds_children": cpu1[1] - cpu0[1],
        "ess_bulk_intercept": ess,
        "ess_per_second": ess / secs,
        "divergences": div,
        "rhat_max": max(v["rhat"] for v in table.values()),
        "rhat_max_all": rhat_all_max,
        "params": table,
        "versions": {"bambi": bmb.__version__, "pymc": pm.__version__,
                     "pytensor": pytensor.__version__, "arviz": az.__version__,
                     "numpy": np.__version__, "python": sys.version.split()[0]},
        "pytensor_compiledir": str(pytensor.config.compiledir),
        "pytensor_blas": pytensor.config.blas__ldflags or "none",
        "load_average": list(os.getloadavg()),
    }


def print_result(r):
    print(f"bambi {r['versions']['bambi']} / PyMC {r['versions']['pymc']} / PyTensor "
          f"{r['versions']['pytensor']}, sampler {r['sampler']}: "
          f"{r['chains']} chains x {r['draws']} draws after {r['tune']} tuning")
    print(f"   {r['seconds']:6.1f} s (build + compile + sample, of which sampling "
          f"{r['sampling_seconds']:.1f} s; imports {r['import_seconds']:.1f} s), "
          f"CPU {r['cpu_seconds_self']:.1f} s in this process + "
          f"{r['cpu_seconds_children']:.1f} s in child processes; "
          f"worker processes: {r['cores']}")
    print(f"   bulk ESS (Intercept) {r['ess_bulk_intercept']:6.0f}, "
          f"{r['ess_per_second']:6.1f} ESS/s, divergences {r['divergences']}, "
          f"max R-hat {r['rhat_max']:.3f} (with the 294 patient effects {r['rhat_max_all']:.3f})")
    print(f"   {'parameter':32s} {'mean':>8s} {'sd':>7s} {'R-hat':>6s} {'ESS bulk':>9s}")
    for name, p in r["params"].items():
        print(f"   {name:32s} {p['mean']:8.3f} {p['sd']:7.3f} {p['rhat']:6.3f} "
              f"{p['ess_bulk']:9.0f}")
    print(JSON_TAG + json.dumps(r), flush=True)


def compare_brms(results, ref_path=BRMS_REF):
    """Lines setting the posterior means of each run beside the stored brms run."""
    if not os.path.exists(ref_path):
        return [f"(no brms reference at {ref_path})"]
    ref = json.load(open(ref_path))
    lines = [f"Fixed effects beside brms {ref['brms_version']} "
             f"({ref['chains']} chains x {ref['iter'] - ref['warmup']} draws, "
             f"tests/results/brms_toenail_ri.json).",
             "The priors differ (bambi: its default weakly informative priors; brms: "
             + "; ".join(ref["priors"]) + "),",
             "so the check is only that each mean lies within 3 posterior SDs of brms's."]
    for r in results:
        lines.append(f"   sampler {r['sampler']}:")
        lines.append(f"   {'parameter':32s} {'bambi':>8s} {'sd':>7s} {'brms':>8s} {'sd':>7s} "
                     f"{'|diff|/sd':>9s}")
        ok = True
        for name, p in r["params"].items():
            b = ref["params"].get(name)
            if b is None:
                continue
            z = abs(p["mean"] - b["mean"]) / b["sd"]
            ok &= z < 3 or name.endswith(("SD", "Var"))
            lines.append(f"   {name:32s} {p['mean']:8.3f} {p['sd']:7.3f} {b['mean']:8.3f} "
                         f"{b['sd']:7.3f} {z:9.2f}")
        lines.append(f"   fixed-effect means within 3 brms posterior SDs: {ok}")
    return lines


def read_results(text):
    """The runs in the output of this script (its ``BAMBI_JSON`` lines)."""
    return [json.loads(line[len(JSON_TAG):]) for line in text.splitlines()
            if line.startswith(JSON_TAG)]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sampler", default="all", choices=["all", "pymc", "numpyro"])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--cores", type=int, default=None,
                    help="PyMC worker processes (default: PyMC's own choice)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default=None, help="path of toenail.csv")
    ap.add_argument("--cold-cache", action="store_true",
                    help="compile into an empty PyTensor compile directory")
    ap.add_argument("--out", default=None,
                    help="also write the output, with date, load average and the brms "
                         "comparison, to this file")
    args = ap.parse_args(argv)

    if args.sampler != "all":
        print_result(fit_one(args.sampler, args.draws, args.tune, args.chains, args.seed,
                             args.data, args.cores))
        return 0

    started = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime())
    load0 = os.getloadavg()
    out = []

    def emit(text):
        print(text, flush=True)
        out.append(text)

    samplers = available_samplers()
    if "numpyro" not in samplers:
        emit("numpyro/jax not importable here: only PyMC's own NUTS is run")
    rc = 0
    for s in samplers:
        cmd = [sys.executable, os.path.abspath(__file__), "--sampler", s,
               "--draws", str(args.draws), "--tune", str(args.tune),
               "--chains", str(args.chains), "--seed", str(args.seed)]
        if args.cores is not None:
            cmd += ["--cores", str(args.cores)]
        if args.data:
            cmd += ["--data", args.data]
        env = dict(os.environ)
        tmp = None
        if args.cold_cache:
            tmp = tempfile.mkdtemp(prefix="pytensor_cold_")
            flags = env.get("PYTENSOR_FLAGS", "")
            env["PYTENSOR_FLAGS"] = ",".join(f for f in (flags, f"base_compiledir={tmp}") if f)
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
        rc = proc.returncode or rc
        for line in proc.stdout.splitlines():
            if not line.startswith(JSON_TAG):
                emit(line)
        out.extend(line for line in proc.stdout.splitlines() if line.startswith(JSON_TAG))
        print("\n".join(line for line in proc.stdout.splitlines()
                        if line.startswith(JSON_TAG)), flush=True)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    results = read_results("\n".join(out))
    lines = compare_brms(results)
    for line in lines:
        emit(line)
    if args.out:
        load1 = os.getloadavg()
        head = [f"# {started} load average at start: "
                + " ".join(f"{x:.2f}" for x in load0)
                + "; at end: " + " ".join(f"{x:.2f}" for x in load1)
                + f" ({os.cpu_count()}-core machine shared with other jobs)",
                "# " + " ".join([sys.executable] + sys.argv),
                f"# PyTensor compile cache: {'empty (cold)' if args.cold_cache else 'as found'}"]
        for r in results:
            v = r["versions"]
            head.append(f"# sampler {r['sampler']}: bambi {v['bambi']}, pymc {v['pymc']}, "
                        f"pytensor {v['pytensor']}, arviz {v['arviz']}, numpy {v['numpy']}, "
                        f"python {v['python']}; BLAS linked by PyTensor: {r['pytensor_blas']}; "
                        f"CPU time {r['cpu_seconds_self'] + r['cpu_seconds_children']:.1f} s "
                        f"for {r['seconds']:.1f} s wall")
        with open(args.out, "w") as fh:
            fh.write("\n".join(head + out) + "\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
