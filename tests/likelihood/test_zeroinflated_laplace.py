"""
The Laplace log-likelihood of zero-inflated models with a rich zi formula: its
analytic gradient (count coefficients, variance, NB2 dispersion, every
zero-inflation cell) and the closed-form fixed-effects block of its Hessian
(the zero-inflated fourth derivative, ZIP and ZINB2) against finite differences.
"""

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.likelihood.laplace import laplace_loglike
from statsmodels_glmm.likelihood.laplace_hessian import has_closed_form, laplace_beta_hessian

from conftest import load_dataset

FORMULA = "count ~ spp * mined + (1 | site)"
ZI = "~ spp * mined"


@pytest.fixture(scope="module")
def salamanders():
    return load_dataset("Salamanders")


def _point(m, seed):
    """A point near the start, with a spread of zero-inflation cells."""
    rng = np.random.default_rng(seed)
    x = np.array(m._start_internal(), dtype=float)
    p, k = m.k_fe, m.k_re
    x[:p] += rng.normal(0, 0.1, p)
    x[p:p + k] = 0.6
    x[p + k:] += rng.normal(0, 0.3, len(x) - p - k)
    return x


@pytest.mark.parametrize("family", [sm.families.Poisson, smg.families.NegativeBinomial])
def test_laplace_gradient_matches_central_differences(salamanders, family):
    m = smg.mixedglm(FORMULA, salamanders, family=family(), zi_formula=ZI)
    x = _point(m, 7)
    llf, grad, _ = m.loglike_internal(x, 1, gradient=True)
    assert np.isfinite(llf) and grad.shape == x.shape
    fd = np.empty(len(x))
    for j in range(len(x)):
        h = 1e-5 * max(1.0, abs(x[j]))
        e = np.zeros(len(x))
        e[j] = h
        fd[j] = (m.loglike_internal(x + e, 1, gradient=False)[0]
                 - m.loglike_internal(x - e, 1, gradient=False)[0]) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", [sm.families.Poisson, smg.families.NegativeBinomial])
def test_closed_form_fixed_effects_hessian_matches_differences_of_the_gradient(
        salamanders, family):
    m = smg.mixedglm(FORMULA, salamanders, family=family(), zi_formula=ZI)
    assert has_closed_form(m.response)
    x = _point(m, 8)
    beta, theta, extra = m._split(x)
    cov = m.cov_struct
    _, _, st = laplace_loglike(m.design, m.response, cov, beta, theta, extra)
    assert st.converged
    H = laplace_beta_hessian(m.design, m.response, beta, cov.chol(theta), extra, st)
    p = len(beta)
    fd = np.empty((p, p))
    for j in range(p):
        e = np.zeros(p)
        e[j] = 1e-5
        gp = laplace_loglike(m.design, m.response, cov, beta + e, theta, extra)[1][:p]
        gm = laplace_loglike(m.design, m.response, cov, beta - e, theta, extra)[1][:p]
        fd[:, j] = (gp - gm) / 2e-5
    np.testing.assert_allclose(H, 0.5 * (fd + fd.T), rtol=1e-5, atol=1e-5)
