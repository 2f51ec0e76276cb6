"""
Zero inflation with a rich zi formula: cells of a factor design where the counts
are (almost) all zero make zero-inflation coefficients weakly identified or
run off to a boundary.  The fit must still reach the optimum, quickly, and name
the near-separated cells.

The design mirrors glmmTMB's Salamanders example (``count ~ spp * mined +
(1 | site)``, ``ziformula = ~ spp * mined``; 23 sites, 7 species, 4 surveys,
644 rows), which is not among the shared data sets: counts are simulated with
species-by-mining effects in both parts, few counts in mined sites.
"""

import time
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

import statsmodels_glmm.api as smg

SPECIES = ["GP", "PR", "DM", "EC-A", "EC-L", "DES-L", "DF"]
FORMULA = "count ~ spp * mined + (1 | site)"
ZI = "~ spp * mined"


def salamander_like(seed):
    """23 sites (11 mined), 7 species, 4 surveys: 644 rows."""
    rng = np.random.default_rng(seed)
    mined = np.array(["yes"] * 11 + ["no"] * 12)
    u = rng.normal(0, 0.5, 23)
    log_mean = {"no": [1.2, 0.9, 1.8, 1.0, 1.6, 1.7, 0.8],
                "yes": [-0.5, -1.2, 0.5, -0.6, 0.2, 0.3, -0.3]}
    zi_logit = {"no": [-1.5, -0.8, -2.0, -1.2, -0.9, -2.5, -1.0],
                "yes": [2.0, 3.0, 0.5, 2.2, 1.0, 0.8, 1.5]}
    rows = []
    for s in range(23):
        for j, sp in enumerate(SPECIES):
            for k in range(4):
                m = mined[s]
                zero = rng.random() < 1 / (1 + np.exp(-zi_logit[m][j]))
                y = 0 if zero else rng.poisson(np.exp(log_mean[m][j] + u[s]))
                rows.append((f"S{s + 1}", m, sp, k + 1, y))
    df = pd.DataFrame(rows, columns=["site", "mined", "spp", "sample", "count"])
    df["spp"] = pd.Categorical(df["spp"], categories=SPECIES)
    df["mined"] = pd.Categorical(df["mined"], categories=["yes", "no"])
    return df


def _model(df):
    return smg.mixedglm(FORMULA, df, family=sm.families.Poisson(), zi_formula=ZI)


@pytest.fixture(scope="module")
def sparse_cells():
    """Seed 3: no count at all for EC-A in mined sites, one for PR."""
    df = salamander_like(3)
    nonzero = df[df["mined"] == "yes"].groupby("spp", observed=True)["count"].apply(
        lambda c: int((c > 0).sum()))
    assert nonzero["EC-A"] == 0 and nonzero["PR"] == 1  # the design has what it is for
    return df


def test_rich_zero_inflation_reaches_the_optimum_of_a_long_run(sparse_cells):
    m = _model(sparse_cells)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        res = m.fit()
        seconds = time.perf_counter() - start
        # the reference: L-BFGS-B to a gradient of 1e-9 (some 1200 iterations), then
        # Nelder-Mead from there
        long = m.fit(gtol=1e-9, maxiter=50000, retry=False)
        long = m.fit(method="nm", start_params=long.params, maxiter=200000, retry=False)
    assert res.converged
    assert len(res.mle_retvals["attempts"]) == 1  # no retry needed
    assert seconds < 10  # the reported slow case took 5 to 17 s with retries
    assert res.llf == pytest.approx(long.llf, abs=1e-3)
    # parameters that the data identify (finite, moderate standard errors at the long
    # run's optimum) agree; the others run off towards infinity in both fits
    se = long.bse
    identified = np.isfinite(se) & (se < 10)
    assert identified.sum() >= 22
    np.testing.assert_allclose(res.params[identified], long.params[identified], atol=1e-2)
    # the count coefficient of PR in mined sites is identified only once its
    # zero-inflation probability has gone to zero: a fit stopping early misses it
    assert identified["spp[T.PR]"]


def test_near_separated_zero_inflation_cells_are_named(sparse_cells):
    with pytest.warns(PerfectSeparationWarning, match="zero-inflation part") as rec:
        res = _model(sparse_cells).fit()
    text = " ".join(str(w.message) for w in rec if "zero-inflation" in str(w.message))
    assert "'inflate_spp[T.EC-A]'" in text  # every count of the cell is zero
    assert "'inflate_spp[T.PR]'" in text  # probability at 0 with a huge standard error
    assert {"inflate_spp[T.EC-A]", "inflate_spp[T.PR]"} <= set(res.mle_retvals["separation"])
    p = res.params
    zeta_pr = p["inflate_Intercept"] + p["inflate_spp[T.PR]"]
    assert zeta_pr < -5 and not res.bse["inflate_spp[T.PR]"] < 10
    # a cell with counts and a well-determined probability is not named
    assert "inflate_spp[T.DM]" not in res.mle_retvals["separation"]
    assert res.bse["inflate_spp[T.DM]"] < 2


def test_zero_inflation_cells_with_counts_everywhere_are_not_flagged():
    df = salamander_like(0)
    df = df[df["spp"] != "PR"].copy()  # its mined cell holds one count in 44 rows
    df["spp"] = df["spp"].cat.remove_unused_categories()
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        res = _model(df).fit()
    assert res.converged and res.mle_retvals["separation"] == []
    assert np.all(res.bse[[n for n in res.params.index if n.startswith("inflate_")]] < 5)
