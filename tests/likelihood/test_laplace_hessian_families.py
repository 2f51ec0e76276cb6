"""The closed-form fixed-effects Hessian of the Laplace log-likelihood for the probit and
cloglog binomial links, NB1, NB2 and the cumulative-link ordinal families: the fourth
derivatives it needs against differences of the third (and NB1's series against
mpmath), the block against central differences of the analytic gradient, the analytic
gradient (fixed effects, covariance and family parameters) against differences of the
log-likelihood, and the standard errors of a fit against those of a Hessian of
differences only."""

import warnings

import numpy as np
import pytest

import statsmodels_glmm.api as smg
from statsmodels_glmm.families import Binomial, NegativeBinomial, Ordinal
from statsmodels_glmm.families.negbin import _nb1_terms
from statsmodels_glmm.likelihood.laplace_hessian import has_closed_form, laplace_beta_hessian
from statsmodels_glmm.model import MixedGLM

from conftest import beta_hessian_and_differences, load_dataset

F_RS = "y ~ time * group + stress + (1 + time | id)"
F_RI = "y ~ time + group + stress + (1 | id)"

FAMILIES = {
    "probit": ("sim_binary_small", lambda: Binomial("probit")),
    "cloglog": ("sim_binary_small", lambda: Binomial("cloglog")),
    "nb1": ("sim_negbin_small", lambda: NegativeBinomial(p=1)),
    "nb2": ("sim_negbin_small", lambda: NegativeBinomial(p=2)),
    "ordinal-logit": ("sim_ordinal_small", lambda: Ordinal("logit")),
    "ordinal-probit": ("sim_ordinal_small", lambda: Ordinal("probit")),
    "ordinal-cloglog": ("sim_ordinal_small", lambda: Ordinal("cloglog")),
}


def _fitted(name, formula):
    data, fam = FAMILIES[name]
    m = smg.mixedglm(formula, load_dataset(data), family=fam())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = m.fit(check_laplace=False)
    return m, res


def _y(fam, n, rng):
    if isinstance(fam, Binomial):  # successes and failures out of 1..5 trials
        trials = rng.integers(1, 6, n)
        s = rng.binomial(trials, 0.4)
        return fam.validate(np.column_stack([s, trials - s]).astype(float), "y")
    if isinstance(fam, Ordinal):
        return fam.validate(np.tile(np.arange(4), n // 4), "y")
    return fam.validate(rng.poisson(3.0, n).astype(float), "y")


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_fourth_derivative_is_the_derivative_of_the_third(name):
    rng = np.random.default_rng(1)
    fam = FAMILIES[name][1]()
    n = 40
    y = _y(fam, n, rng)
    extra = (fam.extra_internal([-1.0, 0.2, 1.4]) if isinstance(fam, Ordinal)
             else np.log([0.7]) if isinstance(fam, NegativeBinomial) else np.zeros(0))
    eta = rng.uniform(-3.0, 3.0, n)
    h = 1e-5
    fd = (fam.derivs(y, eta + h, extra)[3] - fam.derivs(y, eta - h, extra)[3]) / (2 * h)
    np.testing.assert_allclose(fam.d4(y, eta, extra), fd, rtol=1e-6,
                               atol=1e-7 * np.abs(fd).max())


def test_every_family_but_zero_inflation_has_the_closed_form():
    for fam in [Binomial("probit"), Binomial("cloglog"), NegativeBinomial(p=1),
                NegativeBinomial(p=2), Ordinal("logit"), Ordinal("probit"),
                Ordinal("cloglog")]:
        assert has_closed_form(fam), fam


def test_nb1_terms_match_mpmath_from_tiny_to_huge_r():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 60
    l1a = 0.3
    for r in (1e-120, 1e-6, 0.4, 3.0, 19.5, 20.5, 300.0, 2e4, 1e9):
        for y in (0.0, 1.0, 6.0, 180.0):
            lg, v = _nb1_terms(np.array([y]), np.array([r]), l1a, 3)
            R, Y = mpmath.mpf(r), mpmath.mpf(y)
            assert lg[0] == pytest.approx(float(mpmath.loggamma(Y + R) - mpmath.loggamma(R)),
                                          rel=1e-12, abs=1e-12)
            ref0 = R * (mpmath.digamma(Y + R) - mpmath.digamma(R)) - R * l1a
            assert v[0][0] == pytest.approx(float(ref0), rel=1e-12, abs=1e-12 * max(1, y))
            for k in (1, 2, 3):
                ref = float(R ** (k + 1) * (mpmath.polygamma(k, Y + R) - mpmath.polygamma(k, R)))
                assert v[k][0] == pytest.approx(ref, rel=1e-12, abs=1e-12 * max(1, y)), (r, y, k)


def test_nb1_derivatives_stay_finite_for_extreme_means():
    fam = NegativeBinomial(p=1)
    y = np.array([0.0, 1.0, 4.0, 30.0])
    for la in (np.log(2.0), np.log(1e-4), np.log(1e-8)):
        for eta in (-300.0, -40.0, 60.0, 300.0, 600.0):
            e = np.full(4, eta)
            with np.errstate(all="ignore"):
                d = fam.derivs(y, e, np.array([la])) + (fam.d4(y, e, np.array([la])),)
            assert all(np.all(np.isfinite(v)) for v in d), (la, eta)


CASES = [("probit", F_RS), ("cloglog", F_RI), ("nb1", F_RS), ("nb2", F_RS),
         ("ordinal-logit", F_RS), ("ordinal-probit", F_RI), ("ordinal-cloglog", F_RI)]


@pytest.mark.parametrize("name,formula", CASES)
def test_closed_form_block_equals_differences_of_the_gradient(name, formula):
    m, res = _fitted(name, formula)
    H, fd = beta_hessian_and_differences(m, res.mle_retvals["internal_params"])
    np.testing.assert_allclose(H, 0.5 * (fd + fd.T), rtol=1e-5, atol=1e-6 * np.abs(fd).max())


@pytest.mark.parametrize("name,formula", [("nb1", F_RS), ("nb2", F_RS),
                                          ("ordinal-logit", F_RS), ("ordinal-cloglog", F_RI),
                                          ("probit", F_RS)])
def test_analytic_gradient_equals_differences_of_the_loglikelihood(name, formula):
    m, res = _fitted(name, formula)
    x = res.mle_retvals["internal_params"] + np.random.default_rng(1).normal(
        size=len(res.params)) * 0.03
    _, g, _ = m.loglike_internal(x, gradient=True)
    assert g is not None
    fd = np.empty(len(x))
    for j in range(len(x)):
        h = 1e-5 * max(1.0, abs(x[j]))
        e = np.zeros(len(x))
        e[j] = h
        fd[j] = (m.loglike_internal(x + e)[0] - m.loglike_internal(x - e)[0]) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5 * np.abs(fd).max())


def _fd_only(model, x, free):
    """The Hessian with every column a difference of the gradient (forward, as a fit)."""
    orig = MixedGLM._beta_hessian
    try:
        MixedGLM._beta_hessian = lambda self, *a: None
        return model.hessian_internal(x, 1, free)
    finally:
        MixedGLM._beta_hessian = orig


@pytest.mark.parametrize("name", ["nb2", "ordinal-logit", "cloglog"])
def test_fit_standard_errors_agree_with_a_hessian_of_differences(name):
    m, res = _fitted(name, F_RS if name != "cloglog" else F_RI)
    x = res.mle_retvals["internal_params"]
    free = m._free_mask(x, m._bounds())
    H = res.mle_retvals["hessian"]
    full = _fd_only(m, x, free)
    se = np.sqrt(np.diag(np.linalg.inv(-H[np.ix_(free, free)])))
    se_fd = np.sqrt(np.diag(np.linalg.inv(-full[np.ix_(free, free)])))
    np.testing.assert_allclose(se, se_fd, rtol=1e-4)
    # the Hessian of a fit takes the closed form for its fixed-effects block
    beta, theta, extra = m._split(x)
    st = m.loglike_internal(x)[2]
    exact = laplace_beta_hessian(m.design, m.response, beta, m.cov_struct.chol(theta), extra, st)
    p = m.k_fe
    np.testing.assert_allclose(m.hessian_internal(x, 1, free)[:p, :p], exact, rtol=1e-12,
                               atol=1e-12 * np.abs(exact).max())
