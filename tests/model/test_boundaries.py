"""
A family parameter that stops on the flat stretch before its lower bound is put on
the bound when the log-likelihood there is at least as high (the negative
binomial's dispersion of data without overdispersion), so the fit's answer does not
depend on where its optimiser happened to stop.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.families import NegativeBinomial
from statsmodels_glmm.families.negbin import ALPHA_MIN
from statsmodels_glmm.model.boundaries import settle_on_bounds
from statsmodels_glmm.model.fitting import WarmStart

from conftest import load_dataset


def _fit(formula, df, family):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smg.mixedglm(formula, df, family=family).fit()


def _underdispersed(n_groups=60, size=5, seed=5):
    rng = np.random.default_rng(seed)
    n = n_groups * size
    return pd.DataFrame({"y": rng.binomial(6, 0.4, size=n), "x": rng.normal(size=n),
                         "g": np.repeat(np.arange(n_groups), size),
                         "h": np.tile(np.arange(size), n_groups)})


@pytest.mark.parametrize("formula", ["y ~ x + (1 | g)", "y ~ x + (1 | g) + (1 | h)"])
def test_no_overdispersion_puts_alpha_on_its_bound(formula):
    df = _underdispersed()
    res = _fit(formula, df, NegativeBinomial())
    model = res.model
    x = np.asarray(res.mle_retvals["internal_params"], dtype=float)
    j = len(x) - 1
    assert res.converged
    assert x[j] == np.log(ALPHA_MIN)
    assert np.isnan(res.bse["alpha"])  # a parameter on its bound has no Wald SE
    # the log-likelihood is highest at the bound: every point short of it is lower
    for log_alpha in (np.log(1e-7), np.log(1e-6), np.log(1e-5)):
        inside = x.copy()
        inside[j] = log_alpha
        assert model.loglike_internal(inside)[0] < res.llf
    pois = _fit(formula, df, sm.families.Poisson())
    assert res.llf == pytest.approx(pois.llf, abs=1e-4)  # NB2 with alpha -> 0 is Poisson


def test_a_stop_short_of_the_bound_is_settled_on_it():
    df = _underdispersed()
    res = _fit("y ~ x + (1 | g)", df, NegativeBinomial())
    model = res.model
    x = np.asarray(res.mle_retvals["internal_params"], dtype=float).copy()
    x[-1] = np.log(1e-7)  # where an optimiser may stop: the likelihood is almost flat
    llf_inside = model.loglike_internal(x)[0]
    out = settle_on_bounds(model, x, 1, model._bounds(), WarmStart())
    assert out is not None and out[-1] == np.log(ALPHA_MIN)
    np.testing.assert_array_equal(out[:-1], x[:-1])
    assert model.loglike_internal(out)[0] >= llf_inside


def test_overdispersed_data_are_left_where_they_are():
    df = load_dataset("sim_negbin_small")
    res = _fit("y ~ time + (1 | id)", df, NegativeBinomial())
    model = res.model
    x = np.asarray(res.mle_retvals["internal_params"], dtype=float)
    assert res.params["alpha"] > 0.1 and np.isfinite(res.bse["alpha"])
    # far from the bound: nothing is tried
    assert settle_on_bounds(model, x, 1, model._bounds(), WarmStart()) is None
    # near the bound, where the likelihood falls towards it: left inside
    near = x.copy()
    near[-1] = np.log(1e-6)
    assert model._gradient(near, 1)[-1] > 0
    assert settle_on_bounds(model, near, 1, model._bounds(), WarmStart()) is None
