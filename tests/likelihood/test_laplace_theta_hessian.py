"""
The covariance-parameter columns of the Laplace Hessian in closed form (one grouping
factor), against central differences of the analytic gradient and against the
independent closed form of the fixed-effects block.
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.likelihood.laplace import laplace_loglike
from statsmodels_glmm.likelihood.laplace_hessian import laplace_beta_hessian
from statsmodels_glmm.likelihood.laplace_theta_hessian import laplace_gradient_directions
from statsmodels_glmm.likelihood.warm_start import WarmStart

CASES = {
    "logit slope": ("binary", sm.families.Binomial(), "y ~ time + group + (1 + time | id)"),
    "probit intercept": ("binary", sm.families.Binomial(sm.families.links.Probit()),
                         "y ~ time + group + (1 | id)"),
    "cloglog slope": ("binary", sm.families.Binomial(sm.families.links.CLogLog()),
                      "y ~ time + (1 + time | id)"),
    "poisson slope": ("poisson", sm.families.Poisson(), "y ~ time + group + (1 + time | id)"),
    "nb2 slope": ("poisson", sm.families.NegativeBinomial(alpha=1.0),
                  "y ~ time + (1 + time | id)"),
}


def _model(case):
    kind, fam, formula = CASES[case]
    df = smg.simulate_longitudinal(kind, n_persons=80, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = smg.mixedglm(formula, df, family=fam)
        res = model.fit(check_laplace=False)
    # away from the optimum, so that no term of the Hessian vanishes by stationarity
    x = np.asarray(res.mle_retvals["internal_params"]) + 0.03
    return model, x


def _gradient(model, x):
    b, th, ex = model._split(x)
    return laplace_loglike(model.design, model.response, model.cov_struct, b, th, ex)[1]


@pytest.mark.parametrize("case", sorted(CASES))
def test_covariance_columns_match_central_differences_of_the_gradient(case):
    model, x = _model(case)
    b, th, ex = model._split(x)
    L = np.asarray(model.cov_struct.chol(th))
    p, q = len(b), L.shape[0]
    rows, cols = model.cov_struct.rows, model.cov_struct.cols
    st = laplace_loglike(model.design, model.response, model.cov_struct, b, th, ex)[2]
    dirs = []
    for j in range(len(th)):
        dL = np.zeros((q, q))
        dL[rows[j], cols[j]] = 1.0
        dirs.append((np.zeros(p), dL))
    out = laplace_gradient_directions(model.design, model.response, b, L, ex, st, dirs)
    sel = np.concatenate([np.arange(p), p + rows * q + cols])
    for j in range(len(th)):
        h = 1e-5
        e = np.zeros(len(x))
        e[p + j] = h
        fd = (_gradient(model, x + e) - _gradient(model, x - e))[:p + len(th)] / (2 * h)
        np.testing.assert_allclose(out[j][sel], fd, rtol=1e-6,
                                   atol=1e-6 * np.abs(fd).max())


@pytest.mark.parametrize("case", ["logit slope", "poisson slope", "nb2 slope"])
def test_fixed_effect_directions_reproduce_the_closed_form_block(case):
    model, x = _model(case)
    b, th, ex = model._split(x)
    L = np.asarray(model.cov_struct.chol(th))
    p, q = len(b), L.shape[0]
    st = laplace_loglike(model.design, model.response, model.cov_struct, b, th, ex)[2]
    dirs = [(e, np.zeros((q, q))) for e in np.eye(p)]
    out = laplace_gradient_directions(model.design, model.response, b, L, ex, st, dirs)
    Hb = laplace_beta_hessian(model.design, model.response, b, L, ex, st)
    np.testing.assert_allclose(out[:, :p], Hb, rtol=1e-10, atol=1e-10 * np.abs(Hb).max())


@pytest.mark.parametrize("case", ["logit slope", "nb2 slope"])
def test_model_hessian_matches_central_differences_in_every_entry(case):
    """The whole Hessian (fixed effects and covariance in closed form, the NB2
    dispersion by differences) against central differences of the gradient."""
    model, x = _model(case)
    H = model.hessian_internal(x, 1, warm=WarmStart())
    n = len(x)
    fd = np.empty((n, n))
    for j in range(n):
        h = 1e-5 * max(1.0, abs(x[j]))
        e = np.zeros(n)
        e[j] = h
        fd[:, j] = (_gradient(model, x + e) - _gradient(model, x - e)) / (2 * h)
    fd = 0.5 * (fd + fd.T)
    np.testing.assert_allclose(H, fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())
    # the covariance columns came from the closed form, not from differences
    assert model._theta_columns(x, 1, WarmStart(), np.ones(n, bool))
