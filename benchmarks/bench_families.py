"""
One fit per family, statsmodels-glmm beside the `glmm` package, and the share of each
fit spent in the Hessian.

    python benchmarks/bench_families.py [--repeat 3] [--only nb2 ordinal ...]
                                        [--save benchmarks/results/bench_families.txt]

Families: binary logit, probit and cloglog (``sim_binary_large``), Poisson
(``sim_poisson_large``), NB1 and NB2 (``sim_negbin_large``) with
``y ~ time * group + stress + (1 + time | id)``, and the cumulative-logit ordinal
model of ``sim_ordinal_large`` with the same right-hand side, and a Gaussian model of
``log(1 + y)`` of ``sim_poisson_large`` (glmm by maximum likelihood, ``reml=False``, as
ours; its default is REML).  Each fit is timed
for statsmodels-glmm (model building from the formula plus ``fit``) and for
``glmm.fit`` on the same data and formula, alternating the two, median of
``--repeat`` runs.  glmm has no NB1 and no ordinal family: those rows have no glmm
time (glmmTMB's and clmm's recorded times are printed where a reference fit exists).

Hessian share: the time of every ``hessian_internal`` call (the Newton polish and
the standard errors) over the fit's time, with the fixed-effects block in closed
form (as fits run) and, in one further fit, with every column a difference of
the analytic gradient (as fits ran before the closed form covered the family);
``bse rel`` is the largest relative difference of the standard errors of the two.
"""

import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np
import statsmodels.api as sm

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))

import statsmodels_glmm.api as smg  # noqa: E402
from statsmodels_glmm.families import Binomial, NegativeBinomial, Ordinal, Poisson  # noqa: E402
from statsmodels_glmm.model import MixedGLM  # noqa: E402
from conftest import load_dataset, load_ref  # noqa: E402

sys.path.insert(0, HERE)
from bench_scale import Tee, TimeSpent, kernels_note  # noqa: E402

FORMULA = "y ~ time * group + stress + (1 + time | id)"

#: name: (data set, our family, glmm family and link or None, reference fit id or None)
CASES = {
    "logit": ("sim_binary_large", lambda: Binomial("logit"), ("binomial", "logit"),
              "sim_binary_large__tmb_rs"),
    "probit": ("sim_binary_large", lambda: Binomial("probit"), ("binomial", "probit"), None),
    "cloglog": ("sim_binary_large", lambda: Binomial("cloglog"), ("binomial", "cloglog"),
                None),
    "poisson": ("sim_poisson_large", lambda: Poisson(), ("poisson", "log"),
                "sim_poisson_large__tmb_rs"),
    "nb1": ("sim_negbin_large", lambda: NegativeBinomial(p=1), None, None),
    "nb2": ("sim_negbin_large", lambda: NegativeBinomial(p=2), ("negativebinomial", "log"),
            "sim_negbin_large__tmb_nbinom2_rs"),
    "ordinal": ("sim_ordinal_large", lambda: Ordinal("logit"), None,
                "sim_ordinal_large__clmm_rs_laplace"),
    # a continuous response: log(1 + counts) of the Poisson set; glmm by maximum likelihood
    "gaussian": ("sim_poisson_large:log1p", lambda: sm.families.Gaussian(),
                 ("gaussian", "identity"), None),
}


class HessianClock(TimeSpent):
    """Time spent in ``MixedGLM.hessian_internal`` while installed; with
    ``differences_only`` every Hessian column is a difference of the gradient."""

    def __init__(self, differences_only=False):
        super().__init__(MixedGLM, "hessian_internal")
        self.differences_only = differences_only

    def __enter__(self):
        super().__enter__()
        self.orig_b = MixedGLM._beta_hessian
        if self.differences_only:
            MixedGLM._beta_hessian = lambda model, *a: None
        return self

    def __exit__(self, *exc):
        super().__exit__(*exc)
        MixedGLM._beta_hessian = self.orig_b


def fit_ours(df, fam):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smg.mixedglm(FORMULA, df, family=fam()).fit()


def fit_glmm(data, family, link):
    import glmm

    kw = {"reml": False} if family == "gaussian" else {}  # ML, as ours (glmm's default: REML)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return glmm.fit(data, FORMULA, family=family, link=link, **kw)


def have_glmm():
    import importlib.util

    return importlib.util.find_spec("glmm") is not None


def run_case(name, repeat, with_glmm):
    data_name, fam, peer, ref_id = CASES[name]
    data_name, _, transform = data_name.partition(":")
    df = load_dataset(data_name)
    if transform == "log1p":
        df["y"] = np.log1p(df["y"])
    data = {c: df[c].to_numpy() for c in df.columns}
    t_ours, t_peer, shares = [], [], []
    res = g = None
    for _ in range(repeat):
        with HessianClock() as clock:
            t0 = time.perf_counter()
            res = fit_ours(df, fam)
            el = time.perf_counter() - t0
        t_ours.append(el)
        shares.append(clock.total / el)
        if with_glmm and peer is not None:
            t0 = time.perf_counter()
            g = fit_glmm(data, *peer)
            t_peer.append(time.perf_counter() - t0)
    with HessianClock(differences_only=True) as clock:
        t0 = time.perf_counter()
        res_fd = fit_ours(df, fam)
        el_fd = time.perf_counter() - t0
    ours = float(np.median(t_ours))
    theirs = float(np.median(t_peer)) if t_peer else np.nan
    ref_t = np.nan
    if ref_id is not None:
        ref_t = float(load_ref(ref_id).get("timing", {}).get("median_elapsed_s", np.nan))
    bse_rel = float(np.nanmax(np.abs(res.bse.to_numpy() / res_fd.bse.to_numpy() - 1)))
    llf_g = float(g.loglik) if g is not None else np.nan
    print(f"{name:8s} {len(df):7d} {ours:8.3f} {theirs:8.3f} {ours / theirs:6.2f} "
          f"{ref_t:8.2f} {res.llf:14.4f} {llf_g:14.4f} "
          f"{100 * np.median(shares):6.1f}% {100 * clock.total / el_fd:6.1f}% "
          f"{el_fd:8.3f} {bse_rel:9.1e}  {'yes' if res.converged else 'NO'}", flush=True)
    return dict(name=name, ours=ours, glmm=theirs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=None, choices=sorted(CASES))
    ap.add_argument("--no-glmm", action="store_true")
    ap.add_argument("--save", default=None)
    args = ap.parse_args()
    tee = Tee()
    sys.stdout = tee
    with_glmm = not args.no_glmm and have_glmm()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = np.nan
    print(f"bench_families: {FORMULA}; Laplace; median of {args.repeat} runs (ours and glmm "
          "alternating)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} processors; load average "
          f"{load:.1f} at start; {kernels_note()}")
    print("ref s: glmmTMB's (clmm's for ordinal) recorded median time; H share: time in "
          "hessian_internal / fit time, closed-form block (now) and differences only "
          "(before), fit time with differences only; bse rel: largest relative bse "
          "difference of the two\n")
    print(f"{'family':8s} {'rows':>7s} {'ours s':>8s} {'glmm s':>8s} {'ratio':>6s} "
          f"{'ref s':>8s} {'llf ours':>14s} {'llf glmm':>14s} {'H now':>7s} {'H diff':>7s} "
          f"{'fit diff':>8s} {'bse rel':>9s}  conv")
    for name in (args.only or list(CASES)):
        run_case(name, args.repeat, with_glmm)
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = np.nan
    print(f"\nload average {load:.1f} at the end")
    sys.stdout = sys.__stdout__
    tee.save(args.save)


if __name__ == "__main__":
    main()
