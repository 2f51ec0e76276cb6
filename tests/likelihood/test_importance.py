"""Importance-sampling estimate of the exact marginal log-likelihood."""

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.likelihood.importance import importance_loglike
from conftest import load_dataset

B = sm.families.Binomial()


def test_matches_dense_grid_where_quadrature_fails():
    # toenail random slopes at the Laplace estimates: the fixed rules scatter by tens of
    # units; a dense tensor grid (tests/checks/test_approximation.py) gives -616.626
    res = smg.mixedglm("outcome_bin ~ treatment * time + (1 + time | patientID)",
                       load_dataset("toenail"), family=B).fit()
    llf, se = importance_loglike(res)
    assert 0 < se < 0.5
    assert abs(llf - (-616.626)) < 4 * se
    chk = res.check_approximation(refit=False)
    assert not chk.settled
    assert chk.importance["llf"] == llf
    assert "importance-sampling estimate" in chk.verdict


@pytest.mark.parametrize("dataset,formula,family,nagq", [
    ("sim_binary_small", "y ~ time * group + stress + (1 + time | id)", B, 11),
    ("toenail", "outcome_bin ~ treatment * time + (1 | patientID)", B, 25),
    ("sim_ordinal_small", "y ~ time + (1 + time | id)", smg.families.Ordinal(), 9),
])
def test_agrees_with_settled_quadrature(dataset, formula, family, nagq):
    res = smg.mixedglm(formula, load_dataset(dataset), family=family).fit(nagq=nagq)
    llf, se = importance_loglike(res, ndraws=8192)
    assert abs(llf - res.llf) < max(4 * se, 1e-3)


def test_gaussian_case_is_exact_in_expectation():
    # for a normal response the integrand is Gaussian: the estimate must match the
    # exact value closely
    df = smg.simulate_longitudinal("poisson", n_persons=60, seed=3)
    df["yc"] = np.log1p(df["y"])
    res = smg.mixedglm("yc ~ time + (1 + time | id)", df, family=sm.families.Gaussian()).fit()
    llf, se = importance_loglike(res, ndraws=4096)
    assert abs(llf - res.llf) < max(4 * se, 1e-6)


def test_bad_arguments():
    df = smg.simulate_longitudinal("binary", n_persons=30, seed=1)
    res = smg.mixedglm("y ~ time + (1 | id)", df, family=B).fit()
    with pytest.raises(ValueError, match="ndraws"):
        importance_loglike(res, ndraws=4)
    with pytest.raises(ValueError, match="params"):
        importance_loglike(res.model)
    with pytest.raises(ValueError, match="positive"):
        importance_loglike(res, df=0)
