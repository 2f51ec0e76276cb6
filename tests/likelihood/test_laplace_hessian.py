"""The closed-form fixed-effects Hessian of the Laplace log-likelihood against central
differences of the analytic gradient, the fourth derivatives it needs against
differences of the third, and the first-order prediction of the conditional modes."""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.families import Binomial, Gaussian, Poisson
from statsmodels_glmm.likelihood.chunks import chunk_plan
from statsmodels_glmm.likelihood.laplace import ModeState, laplace_loglike, predicted_modes
from statsmodels_glmm.likelihood.laplace_hessian import has_closed_form, laplace_beta_hessian
from statsmodels_glmm.likelihood.warm_start import WarmStart
from statsmodels_glmm.model import MixedGLM

from conftest import beta_hessian_and_differences

F_RS = "y ~ time * group + stress + (1 + time | id)"


def _model(kind, formula, n=150, seed=2, **kw):
    df = smg.simulate_longitudinal("poisson" if kind == "gaussian" else kind, n_persons=n,
                                   seed=seed)
    if kind == "gaussian":
        df["y"] = np.log1p(df["y"]) + np.random.default_rng(seed).normal(0, 0.5, len(df))
    fam = {"binary": sm.families.Binomial(), "poisson": sm.families.Poisson(),
           "gaussian": sm.families.Gaussian()}[kind]
    return smg.mixedglm(formula, df, family=fam, **kw)


CASES = [
    ("binary", "y ~ time + group + (1 | id)"),
    ("binary", F_RS),
    ("binary", "y ~ time + group + (1 + time + stress | id)"),
    ("poisson", F_RS),
    ("gaussian", "y ~ time + group + (1 + time | id)"),
]


@pytest.mark.parametrize("kind,formula", CASES)
def test_closed_form_equals_differences_of_the_gradient(kind, formula):
    m = _model(kind, formula)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = m.fit().mle_retvals["internal_params"]
    H, fd = beta_hessian_and_differences(m, x)
    np.testing.assert_allclose(H, 0.5 * (fd + fd.T), rtol=1e-6, atol=1e-6 * np.abs(fd).max())


def test_closed_form_with_trials_offset_and_several_chunks():
    # binomial trials (cbpp) and Poisson with an offset (epil), cut into many chunks
    d = smg.datasets.load("cbpp")
    m = smg.mixedglm("incidence + non_incidence ~ period + (1 | herd)", d,
                     family=sm.families.Binomial())
    e = smg.datasets.load("epil")
    e["logt"] = np.log(2.0 + (e["period"].astype(float) % 3))
    m2 = smg.mixedglm("y ~ trt * lbase + lage + (1 | subject)", e, family=sm.families.Poisson(),
                      offset="logt")
    for mod in (m, m2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = mod.fit().mle_retvals["internal_params"]
        beta, theta, extra = mod._split(x)
        st = laplace_loglike(mod.design, mod.response, mod.cov_struct, beta, theta, extra)[2]
        L = mod.cov_struct.chol(theta)
        whole = laplace_beta_hessian(mod.design, mod.response, beta, L, extra, st)
        from statsmodels_glmm.likelihood import laplace_hessian as lh

        old = lh.HESSIAN_CHUNK_ROWS
        try:
            lh.HESSIAN_CHUNK_ROWS = 7  # a few groups per chunk
            pieces = laplace_beta_hessian(mod.design, mod.response, beta, L, extra, st)
        finally:
            lh.HESSIAN_CHUNK_ROWS = old
        np.testing.assert_allclose(pieces, whole, rtol=1e-12, atol=1e-9)
        fd = mod.hessian_internal(x, central=True)  # differences only for the others
        full = _fd_only(mod, x)
        np.testing.assert_allclose(fd, full, rtol=2e-5, atol=2e-5 * np.abs(full).max())


def _fd_only(model, x):
    """The Hessian by central differences of the gradient alone."""
    orig = MixedGLM._beta_hessian
    try:
        MixedGLM._beta_hessian = lambda self, *a: None
        return model.hessian_internal(x, central=True)
    finally:
        MixedGLM._beta_hessian = orig


def test_fit_uses_the_closed_form_and_keeps_the_standard_errors():
    m = _model("binary", F_RS, n=300, seed=4)
    res = m.fit()
    x = res.mle_retvals["internal_params"]
    full = _fd_only(m, x)
    se_fd = np.sqrt(np.diag(np.linalg.inv(-full)))
    se = np.sqrt(np.diag(np.linalg.inv(-res.mle_retvals["hessian"])))
    np.testing.assert_allclose(se, se_fd, rtol=1e-4)


@pytest.mark.parametrize("fam,y", [
    (Binomial(), np.array([0.0, 1.0, 1.0, 0.0, 1.0])),
    (Binomial(), np.column_stack([[3, 0, 5, 2, 1], [4, 6, 5, 3, 2]]).astype(float)),
    (Poisson(), np.array([0.0, 1.0, 4.0, 9.0, 2.0])),
])
def test_fourth_derivative_is_the_derivative_of_the_third(fam, y):
    y = fam.validate(y, "y")
    eta = np.array([-3.0, -0.4, 0.0, 0.8, 2.5])
    h = 1e-5
    fd = (fam.derivs(y, eta + h, None)[3] - fam.derivs(y, eta - h, None)[3]) / (2 * h)
    np.testing.assert_allclose(fam.d4(y, eta, None), fd, rtol=1e-6, atol=1e-9)


def test_which_families_have_the_closed_form():
    assert has_closed_form(Binomial()) and has_closed_form(Poisson())
    assert has_closed_form(Gaussian())
    from statsmodels_glmm.families import Response

    assert not has_closed_form(Response())  # no fourth derivative: differences


def test_predicted_modes_are_first_order_accurate():
    m = _model("binary", F_RS, n=100, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = m.fit().mle_retvals["internal_params"]
    _, _, st0 = m.loglike_internal(x)
    c = chunk_plan(m.design).chunks[0]
    direction = np.random.default_rng(3).normal(size=len(x))
    errors = []
    for step in (1e-2, 1e-3):
        x1 = x + step * direction
        beta, theta, extra = m._split(x1)
        pred = predicted_modes(c, st0, beta, m.cov_struct.chol(theta))
        exact = m.loglike_internal(x1)[2].u
        errors.append(np.max(np.abs(pred - exact)))
        # a plain warm start is wrong to first order
        assert errors[-1] < 0.05 * np.max(np.abs(st0.u - exact))
    # second-order error: ten times smaller a step, about a hundred times smaller error
    assert errors[1] < errors[0] / 30


def test_predicted_start_gives_the_same_likelihood():
    m = _model("poisson", F_RS, n=120, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = m.fit().mle_retvals["internal_params"]
    cold = m.loglike_internal(x, gradient=True)
    warm = WarmStart()
    m.loglike_internal(x + 1e-3, gradient=True, warm=warm)
    assert isinstance(warm.start(), ModeState)
    hot = m.loglike_internal(x, gradient=True, warm=warm)
    assert hot[0] == pytest.approx(cold[0], abs=1e-9)
    np.testing.assert_allclose(hot[1], cold[1], rtol=1e-7, atol=1e-7)
