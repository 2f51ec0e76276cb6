"""
Speed and memory of the joint Laplace engine for crossed random effects.

    python benchmarks/bench_crossed.py [--quick] [--repeat 3]

Data sets: VerbAgg (7,584 rows, 316 persons x 24 items, binary) and a simulated
crossed Poisson design (100,000 rows, 2,000 subjects x 500 items; ``--quick``:
20,000 rows, 400 x 100).  For each:

* one log-likelihood + gradient evaluation, cold (modes from zero) and warm
  (modes from the previous call), best of ``--repeat``;
* a whole maximisation (L-BFGS-B on the analytic gradient from a GLM start);
* the factorisation backends side by side: the one-off symbolic analysis and
  one numeric factorisation of ``H`` for the component (Schur complement)
  path, CHOLMOD (if scikit-sparse is installed) and SuperLU;
* peak memory (tracemalloc) of building the problem and one evaluation,
  against the number of non-zeros of ``Z``;
* the ``glmm`` package's fit of the same model in the same run, if installed;
  glmmTMB's time from the stored reference fit (VerbAgg, reference machine).
"""

import argparse
import json
import os
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.optimize import minimize

from statsmodels_glmm.families import Binomial, Poisson
from statsmodels_glmm.spec.formula import split_formula
from statsmodels_glmm.spec.formula_engine import formula_manager
from statsmodels_glmm.likelihood.sparse_cholesky import have_cholmod
from statsmodels_glmm.likelihood.sparse_laplace import (SparseLaplaceProblem, _factor,
                                             sparse_laplace_loglike)
from statsmodels_glmm.spec.terms import build_terms, sparse_Z

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(HERE, "..", "tests")


def best_time(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def verbagg():
    df = pd.read_csv(os.path.join(TESTS, "data", "real", "VerbAgg.csv"))
    df["id"] = df["id"].astype(str)
    return df, "r2num ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "binomial"


def simulated(n, n_subj, n_item, seed=1):
    rng = np.random.default_rng(seed)
    subj = rng.integers(0, n_subj, n)
    item = rng.integers(0, n_item, n)
    x = rng.normal(size=n)
    cond = rng.integers(0, 2, n)
    eta = 0.5 + 0.3 * x - 0.4 * cond + rng.normal(0, 0.6, n_subj)[subj] + \
        rng.normal(0, 0.4, n_item)[item]
    df = pd.DataFrame({"subj": subj, "item": item, "x": x, "cond": cond,
                       "y": rng.poisson(np.exp(eta)).astype(float)})
    return df, "y ~ x + cond + (1 | subj) + (1 | item)", "poisson"


def simulated3(n, sizes, seed=2):
    """Three crossed factors: the Schur complement is one block of the two smaller ones."""
    rng = np.random.default_rng(seed)
    cols = {f"f{k}": rng.integers(0, s, n) for k, s in enumerate(sizes)}
    eta = 0.3 + sum(rng.normal(0, 0.4, s)[cols[f"f{k}"]] for k, s in enumerate(sizes))
    df = pd.DataFrame(dict(cols, x=rng.normal(size=n)))
    df["y"] = rng.poisson(np.exp(eta + 0.2 * df["x"])).astype(float)
    return df, "y ~ x + (1 | f0) + (1 | f1) + (1 | f2)", "poisson"


def build(df, formula, family, **kw):
    fixed, rts = split_formula(formula)
    mgr = formula_manager()
    ydf, Xdf = mgr.get_matrices(fixed, df, pandas=True)
    fam = {"binomial": Binomial(), "poisson": Poisson()}[family]
    y = fam.validate(ydf.to_numpy(dtype=float), "y")
    X = Xdf.to_numpy(dtype=float)
    terms = build_terms(rts, df, mgr)
    return SparseLaplaceProblem(y, X, None, terms, **kw), fam, ydf.to_numpy(dtype=float)[:, 0]


def start(pr, family, y):
    glm_fam = sm.families.Binomial() if family == "binomial" else sm.families.Poisson()
    glm = sm.GLM(y, pr.X, family=glm_fam).fit()
    return np.concatenate([glm.params] + [t.cov.start(0.5) for t in pr.terms])


def fit(pr, fam, x0):
    p = pr.X.shape[1]
    warm = {"u": None, "n": 0}

    def f(x):
        warm["n"] += 1
        llf, g, st = sparse_laplace_loglike(pr, fam, x[:p], x[p:], np.zeros(0), u0=warm["u"],
                                            cond_cov=False)
        if not np.isfinite(llf):
            return np.inf, np.zeros(len(x))
        warm["u"] = st.u
        return -llf, -g

    res = minimize(f, x0, jac=True, method="L-BFGS-B",
                   options=dict(maxiter=1000, ftol=1e-13, gtol=1e-7))
    return -res.fun, res.x, warm["n"]


def fit_glmm(df, formula, family):
    import glmm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return glmm.fit(df, formula, family=family)


def have_glmm():
    try:
        import glmm  # noqa: F401
    except ImportError:
        return False
    return True


def backends(df, formula, family, x, repeat, gradient=True, evaluate=True):
    """Symbolic analysis once, then one numeric factorisation, per backend."""
    rows = []
    kinds = [("components", dict(backend="components", max_dense=10 ** 6))]
    if have_cholmod():
        kinds.append(("sparse-cholmod", dict(backend="sparse", sparse_method="cholmod")))
    kinds.append(("sparse-splu", dict(backend="sparse", sparse_method="splu")))
    for name, kw in kinds:
        t0 = time.perf_counter()
        pr, fam, _ = build(df, formula, family, **kw)
        t_setup = time.perf_counter() - t0
        p = pr.X.shape[1]
        Ls = [t.cov.chol(th) for t, th in zip(pr.terms, np.split(x[p:], len(pr.terms)))]
        M = pr.m_rows(Ls)
        w = np.full(pr.nobs, 0.25)
        t_fac, fac = best_time(lambda: _factor(pr, M, w), repeat)
        t_eval = np.nan
        if evaluate:
            t_eval, _ = best_time(lambda: sparse_laplace_loglike(
                pr, fam, x[:p], x[p:], np.zeros(0), cond_cov=False, gradient=gradient),
                max(1, repeat // 2))
        rows.append((name, t_setup, t_fac, t_eval, fac.logdet))
    what = "llf+grad (cold)" if gradient else "llf only (cold)"
    what = what if evaluate else "(not timed)    "
    print(f"  backend            setup+analysis   one factorisation   {what}   logdet")
    for name, ts, tf, te, ld in rows:
        print(f"  {name:<18} {ts:>12.3f} s {tf * 1e3:>15.2f} ms {te:>14.3f} s   {ld:.10f}")
    print("  (sparse paths: gradient by finite differences, 2 x n_params extra llf solves)")


def peak_memory(df, formula, family, x):
    """Peak traced memory of building the problem and one llf+gradient evaluation."""
    tracemalloc.start()
    pr, fam, _ = build(df, formula, family)
    p = pr.X.shape[1]
    sparse_laplace_loglike(pr, fam, x[:p], x[p:], np.zeros(0))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def run(name, df, formula, family, repeat, tmb_time=None):
    print(f"\n{name}: {len(df)} rows, {formula}")
    t0 = time.perf_counter()
    pr, fam, y = build(df, formula, family)
    t_build = time.perf_counter() - t0
    x0 = start(pr, family, y)
    t_fit, (llf, x, n_eval) = best_time(lambda: fit(pr, fam, x0), 1)
    peak = peak_memory(df, formula, family, x)
    nnz = sparse_Z(pr.terms).nnz
    print(f"  levels {[t.n_levels for t in pr.terms]}, random effects {pr.n_effects}, "
          f"Schur components {len(pr.component_sizes)} (largest {pr.component_sizes.max()}), "
          f"backend {pr.backend}")
    p = pr.X.shape[1]
    t_cold, _ = best_time(lambda: sparse_laplace_loglike(pr, fam, x[:p], x[p:], np.zeros(0),
                                                         cond_cov=False), repeat)
    _, _, st = sparse_laplace_loglike(pr, fam, x[:p], x[p:], np.zeros(0))
    x1 = x * (1 + 1e-3)
    t_warm, _ = best_time(lambda: sparse_laplace_loglike(pr, fam, x1[:p], x1[p:], np.zeros(0),
                                                         u0=st.u, cond_cov=False), repeat)
    print(f"  problem setup (symbolic analysis) {t_build:.3f} s")
    print(f"  one llf+gradient: cold {t_cold * 1e3:.1f} ms, warm {t_warm * 1e3:.1f} ms")
    print(f"  peak memory (setup + one llf+gradient) {peak / 2 ** 20:.1f} MiB; nnz(Z) = {nnz} "
          f"({nnz * 12 / 2 ** 20:.1f} MiB as CSC values + indices); "
          f"ratio {peak / (nnz * 12):.1f}")
    rows = [("statsmodels-glmm sparse Laplace", t_fit, llf, f"{n_eval} evaluations")]
    if have_glmm():
        try:
            t_g, g = best_time(lambda: fit_glmm(df, formula, family), 1)
            rows.append(("glmm (PyPI)", t_g, float(g.loglik), ""))
        except Exception as exc:  # a peer failing is reported, not fatal
            rows.append(("glmm (PyPI)", np.nan, np.nan, f"failed: {exc}"))
    if tmb_time is not None:
        rows.append(("glmmTMB (stored reference)", tmb_time[0], tmb_time[1], "R, reference run"))
    print(f"  {'fit':<34}{'seconds':>9}{'ratio':>8}{'logLik':>18}")
    for label, t, l, note in rows:
        print(f"  {label:<34}{t:>9.2f}{t / t_fit:>8.2f}{l:>18.6f}  {note}")
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS threads (threadpoolctl; 0: leave as is).  One thread by default: "
                         "a threaded BLAS on a loaded machine can make a 100 x 100 inverse "
                         "1000 times slower")
    args = ap.parse_args()
    if args.blas_threads:
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=args.blas_threads, user_api="blas")
        except ImportError:
            print("threadpoolctl not installed: BLAS threads left as they are")
    ref = json.load(open(os.path.join(TESTS, "results", "VerbAgg__tmb_crossed.json")))
    df, formula, family = verbagg()
    x = run("VerbAgg", df, formula, family, args.repeat,
            tmb_time=(ref["timing"]["median_elapsed_s"], ref["logLik"]))
    backends(df, formula, family, x, args.repeat)
    n, ns, ni = (20_000, 400, 100) if args.quick else (100_000, 2000, 500)
    df, formula, family = simulated(n, ns, ni)
    x = run(f"simulated crossed Poisson {ns} x {ni}", df, formula, family, args.repeat)
    backends(df, formula, family, x, 1)
    n, sizes = (12_000, (2000, 600, 600)) if args.quick else (30_000, (4000, 1500, 1500))
    df, formula, family = simulated3(n, sizes)
    print(f"\nthree crossed factors {sizes}: {n} rows, {formula} (Schur block "
          f"{sizes[1] + sizes[2]})")
    backends(df, formula, family, np.array([0.3, 0.2, 0.4, 0.4, 0.4]), 1, evaluate=False)


if __name__ == "__main__":
    main()
