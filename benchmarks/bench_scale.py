"""
Fit time and memory against the number of persons, side by side with `glmm`.

    python benchmarks/bench_scale.py [--sizes 5000 50000 200000] [--repeat 3] [--huge]
                                     [--save benchmarks/results/bench_scale.txt]

For binary and Poisson outcomes and ``y ~ time * group + stress + (1 + time | id)``
(data from ``simulate_longitudinal``, five waves with dropout), every size is
timed in this one run for statsmodels-glmm (Laplace; model building from the
formula plus ``fit``) and for the `glmm` package (a compiled GLMM fitter;
``glmm.fit`` on the same DataFrame and formula), alternating the two, median
of ``--repeat`` runs.  Printed: both times, their ratio, our time per person,
both log-likelihoods (they should agree to 1e-2), and the peak memory of our
build and fit (``tracemalloc``, a separate untimed run) relative to the size
of the design matrices X and Z.

``--huge`` adds one random-intercept binary model on 2 million persons x 5
waves (10 million rows): time, peak memory against the design size, and
glmm's time when it can fit it.

The number of threads is the package default (``STATSMODELS_GLMM_NUM_THREADS``
or all processors above the size threshold); ``--threads`` sets it.
"""

import argparse
import contextlib
import io
import os
import platform
import sys
import time
import tracemalloc
import warnings

import numpy as np
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.likelihood import parallel

HERE = os.path.dirname(os.path.abspath(__file__))
FORMULA = "y ~ time * group + stress + (1 + time | id)"
HUGE_FORMULA = "y ~ time * group + stress + (1 | id)"
FAMILIES = {"binary": (sm.families.Binomial, "binomial"),
            "poisson": (sm.families.Poisson, "poisson")}


class Tee(io.TextIOBase):
    """Write to the terminal and keep a copy."""

    def __init__(self):
        self.buf = io.StringIO()

    def write(self, s):
        sys.__stdout__.write(s)
        sys.__stdout__.flush()
        self.buf.write(s)
        return len(s)

    def save(self, path):
        """Write the copy to ``path`` (folders created), when a path is given."""
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "w") as fh:
                fh.write(self.buf.getvalue())


class TimeSpent:
    """Total time spent in the named functions of ``owner`` (a class or a module) while
    installed."""

    def __init__(self, owner, *names):
        self.owner, self.names = owner, names
        self.total = 0.0

    def __enter__(self):
        self.orig = {n: getattr(self.owner, n) for n in self.names}
        for name, fn in self.orig.items():
            setattr(self.owner, name, self._timed(fn))
        return self

    def _timed(self, fn):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - t0
        return timed

    def __exit__(self, *exc):
        for name, fn in self.orig.items():
            setattr(self.owner, name, fn)


@contextlib.contextmanager
def teed(path=None):
    """Everything printed inside also kept, and written to ``path`` at the end (with the
    load average then) when a path is given."""
    tee = Tee()
    sys.stdout = tee
    try:
        yield tee
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        sys.stdout = sys.__stdout__
        tee.save(path)


def kernels_note():
    """Whether fits use the optional compiled kernels (numba, the ``fast`` extra)."""
    from statsmodels_glmm.likelihood import compiled

    if not compiled.available():
        return "compiled kernels: none (numpy only)"
    import numba

    return f"compiled kernels: numba {numba.__version__}"


def fit_ours(df, kind, formula):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smg.mixedglm(formula, df, family=FAMILIES[kind][0]()).fit()


def fit_glmm(df, kind, formula):
    import glmm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return glmm.fit(df, formula, family=FAMILIES[kind][1])


def peak_memory(df, kind, formula):
    """Peak traced memory of building and fitting the model, and the size of X and Z."""
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = smg.mixedglm(formula, df, family=FAMILIES[kind][0]())
        design_bytes = model.design.X.nbytes + model.design.Z.nbytes
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        model.fit()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak, design_bytes


def have_glmm():
    import importlib.util

    return importlib.util.find_spec("glmm") is not None


def compare(kind, n, repeat, with_glmm):
    df = smg.simulate_longitudinal(kind, n_persons=n, seed=n)
    t_ours, t_peer = [], []
    res = peer = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = fit_ours(df, kind, FORMULA)
        t_ours.append(time.perf_counter() - t0)
        if with_glmm:
            t0 = time.perf_counter()
            peer = fit_glmm(df, kind, FORMULA)
            t_peer.append(time.perf_counter() - t0)
    peak, design_bytes = peak_memory(df, kind, FORMULA)
    ours = float(np.median(t_ours))
    theirs = float(np.median(t_peer)) if t_peer else np.nan
    llf_peer = float(peer.loglik) if peer is not None else np.nan
    print(f"{kind:8s} {n:8d} {len(df):9d} {ours:9.3f} {theirs:9.3f} {ours / theirs:7.2f} "
          f"{1e6 * ours / n:9.1f} {res.llf:16.4f} {llf_peer:16.4f} "
          f"{abs(res.llf - llf_peer):9.1e} {peak / design_bytes:6.1f}  "
          f"{'yes' if res.converged else 'NO'}", flush=True)
    return dict(kind=kind, n=n, ours=ours, glmm=theirs)


def huge(with_glmm, n=2_000_000):
    print(f"\nRandom-intercept binary model, {n:,} persons x 5 waves: {HUGE_FORMULA}")
    t0 = time.perf_counter()
    df = smg.simulate_longitudinal("binary", n_persons=n, seed=11, sd=(1.0, 0.0), corr=0.0)
    print(f"  simulated {len(df):,} rows in {time.perf_counter() - t0:.1f} s", flush=True)
    tracemalloc.start()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = smg.mixedglm(HUGE_FORMULA, df, family=sm.families.Binomial())
        t_build = time.perf_counter() - t0
        design_bytes = model.design.X.nbytes + model.design.Z.nbytes
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        t1 = time.perf_counter()
        res = model.fit()
        t_fit = time.perf_counter() - t1
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    print(f"  statsmodels-glmm: build {t_build:.1f} s + fit {t_fit:.1f} s = "
          f"{t_build + t_fit:.1f} s; {1e6 * (t_build + t_fit) / n:.1f} us per person; "
          f"llf {res.llf:.3f}; converged {res.converged}")
    print(f"  peak memory of the fit {peak / 2**20:,.0f} MiB; X and Z {design_bytes / 2**20:,.0f}"
          f" MiB; ratio {peak / design_bytes:.1f}", flush=True)
    del model, res
    if with_glmm:
        try:
            t0 = time.perf_counter()
            g = fit_glmm(df, "binary", HUGE_FORMULA)
            print(f"  glmm: {time.perf_counter() - t0:.1f} s; llf {float(g.loglik):.3f}")
        except Exception as exc:  # a peer that cannot fit it is reported, not fatal
            print(f"  glmm could not fit it: {type(exc).__name__}: {exc}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000, 200000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--kinds", nargs="+", default=["binary", "poisson"], choices=FAMILIES)
    ap.add_argument("--huge", action="store_true", help="also 2 million persons x 5 waves")
    ap.add_argument("--threads", type=int, default=None, help="threads for our fits")
    ap.add_argument("--save", default=None, help="also write the output to this file")
    a = ap.parse_args()
    if a.threads is not None:
        os.environ[parallel.ENV_VAR] = str(a.threads)
    tee = Tee()
    sys.stdout = tee
    try:
        with_glmm = have_glmm()
        env = os.environ.get(parallel.ENV_VAR)
        print(f"bench_scale: {FORMULA}; median of {a.repeat} runs; Laplace")
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} "
              f"processors; threads: {env or 'default (all processors above the threshold)'}; "
              f"load average {os.getloadavg()[0]:.1f} at start; {kernels_note()}")
        if not with_glmm:
            print("(glmm is not installed: pip install glmm)")
        print(f"\n{'model':8s} {'persons':>8s} {'rows':>9s} {'ours s':>9s} {'glmm s':>9s} "
              f"{'ratio':>7s} {'us/pers':>9s} {'llf ours':>16s} {'llf glmm':>16s} "
              f"{'|dllf|':>9s} {'mem/XZ':>6s}  conv")
        rows = []
        for kind in a.kinds:
            for n in a.sizes:
                rows.append(compare(kind, n, a.repeat, with_glmm))
        for kind in a.kinds:
            per = [r["ours"] / r["n"] for r in rows if r["kind"] == kind]
            if len(per) > 1:
                print(f"{kind}: time per person, largest / smallest size: "
                      f"{per[-1] / per[0]:.2f}")
        if a.huge:
            huge(with_glmm)
        print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    finally:
        sys.stdout = sys.__stdout__
    tee.save(a.save)


if __name__ == "__main__":
    main()
