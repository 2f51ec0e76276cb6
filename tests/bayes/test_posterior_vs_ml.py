"""With a few hundred persons the posterior of the fixed effects matches maximum likelihood.

Weakly informative priors hardly move the posterior when the data are plentiful:
posterior means lie within 0.25 posterior SD of the ML estimates (adaptive
quadrature where the model has one grouping factor) and posterior SDs within
20% of the ML standard errors.
"""

import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

pytest.importorskip("numpyro")

import statsmodels_glmm.api as smg  # noqa: E402
from conftest import load_dataset  # noqa: E402


def _binary_slope():
    df = smg.simulate_longitudinal("binary", n_persons=300, seed=21)
    return smg.mixedglm("y ~ time + group + (1 + time | id)", df,
                        family=sm.families.Binomial()), 5


def _poisson():
    df = smg.simulate_longitudinal("poisson", n_persons=300, seed=22)
    return smg.mixedglm("y ~ time + group + (1 | id)", df, family=sm.families.Poisson()), 10


def _negbin():
    df = smg.simulate_longitudinal("negbin", n_persons=300, seed=23)
    return smg.mixedglm("y ~ time + group + (1 | id)", df,
                        family=smg.families.NegativeBinomial()), 10


def _zip():
    df = smg.simulate_longitudinal("zip", n_persons=300, seed=24)
    return smg.mixedglm("y ~ time + group + (1 | id)", df, family=sm.families.Poisson(),
                        zi_formula="~ 1"), 10


def _ordinal():
    df = smg.simulate_longitudinal("ordinal", n_persons=300, seed=25)
    return smg.mixedglm("y ~ time + group + (1 | id)", df, family=smg.families.Ordinal()), 10


def _crossed_binary():
    df = load_dataset("sim_crossed")
    df = df.assign(yb=(df["y"] > df["y"].median()).astype(float))
    return smg.mixedglm("yb ~ x + cond + (1 | subj) + (1 | item)", df,
                        family=sm.families.Binomial()), 1


def _gaussian_uncorrelated():
    rng = np.random.default_rng(26)
    n, t = 300, 5
    ids = np.repeat(np.arange(n), t)
    time = np.tile(np.arange(t, dtype=float), n)
    b0, b1 = rng.normal(0, 1.0, n), rng.normal(0, 0.3, n)
    y = 1 + 0.5 * time + b0[ids] + b1[ids] * time + rng.normal(0, 0.8, ids.size)
    df = pd.DataFrame({"id": ids, "time": time, "y": y})
    return smg.mixedglm("y ~ time + (1 + time || id)", df, family=sm.families.Gaussian()), 1


def _probit_trials():
    rng = np.random.default_rng(27)
    n, t = 300, 4
    ids = np.repeat(np.arange(n), t)
    x = rng.normal(size=ids.size)
    trials = rng.integers(2, 8, ids.size)
    eta = -0.3 + 0.6 * x + rng.normal(0, 0.7, n)[ids]
    s = rng.binomial(trials, stats.norm.cdf(eta))
    df = pd.DataFrame({"id": ids, "x": x, "s": s, "f": trials - s})
    fam = sm.families.Binomial(link=sm.families.links.Probit())
    return smg.mixedglm("s + f ~ x + (1 | id)", df, family=fam), 10


def _nested_poisson():
    return smg.mixedglm("ycount ~ time + treat + (1 | clinic/patient)",
                        load_dataset("sim_nested"), family=sm.families.Poisson()), 1


def _nb1():
    df = smg.simulate_longitudinal("negbin", n_persons=300, seed=28)
    return smg.mixedglm("y ~ time + group + (1 | id)", df,
                        family=smg.families.NegativeBinomial(p=1)), 10


CASES = {"binary random slope": _binary_slope, "poisson": _poisson, "nb2": _negbin,
         "zip": _zip, "ordinal": _ordinal, "crossed binary": _crossed_binary,
         "gaussian uncorrelated slopes": _gaussian_uncorrelated,
         "binomial trials probit": _probit_trials, "nested poisson": _nested_poisson,
         "nb1": _nb1}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_fixed_effects_posterior_matches_ml(case):
    model, nagq = CASES[case]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ml = model.fit(nagq=nagq)
        res = model.fit_bayes(draws=1000, tune=700, chains=4, seed=5, progress=False)
    cmp = res.compare_ml(ml).loc[model.exog_names]
    print(case, cmp.round(3).to_string(), file=sys.stderr)
    assert res.rhat[model.exog_names].max() <= 1.01
    assert np.all(np.abs(cmp["Difference / SD"]) < 0.25), cmp
    assert np.all(np.abs(cmp["SD / SE"] - 1) < 0.2), cmp
