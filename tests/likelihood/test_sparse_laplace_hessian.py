"""The closed-form fixed-effects Hessian of the Laplace log-likelihood with several
grouping factors against central differences of the analytic gradient, the Gaussian
identity it reduces to, the cases where it declines, and the standard errors of a
crossed fit against glmer's."""

import os
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.families import Poisson
from statsmodels_glmm.likelihood import sparse_laplace_hessian as slh
from statsmodels_glmm.likelihood.sparse_laplace import sparse_laplace_loglike
from statsmodels_glmm.likelihood.sparse_laplace_hessian import sparse_beta_hessian
from statsmodels_glmm.likelihood.warm_start import WarmStart

from conftest import DATA, dense_rows, load_dataset, load_ref, match_fixed, r_name

DESIGNS = {
    "crossed": "x + z + (1 | a) + (1 | b)",
    "crossed-slope": "x + z + (1 + x | a) + (1 | b)",
    "nested": "x + z + (1 | g/h)",
}


def _frame(kind, seed=3, n=240):
    """Simulated rows of 18 x 7 crossed levels and 8 groups of 4 nested levels."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 18, n), rng.integers(0, 7, n)
    g = rng.integers(0, 8, n)
    h = rng.integers(0, 4, n)
    x, z = rng.normal(size=n), rng.normal(size=n)
    eta = (0.1 + 0.4 * x - 0.3 * z + rng.normal(0, 0.6, 18)[a] + rng.normal(0, 0.4, 7)[b]
           + rng.normal(0, 0.5, 8)[g] + rng.normal(0, 0.3, 32)[4 * g + h])
    if kind in ("logit", "probit"):
        y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    elif kind == "poisson":
        y = rng.poisson(np.exp(eta))
    elif kind == "nb2":
        y = rng.poisson(np.exp(eta) * rng.gamma(2.0, 0.5, n))
    elif kind == "ordinal":
        y = np.digitize(eta + rng.logistic(size=n), [-0.8, 0.4, 1.5])
    else:
        y = eta + rng.normal(0, 0.7, n)
    return pd.DataFrame({"y": y, "x": x, "z": z, "a": a, "b": b, "g": g, "h": h})


FAMILIES = {
    "logit": lambda: sm.families.Binomial(),
    "probit": lambda: sm.families.Binomial(link=sm.families.links.Probit()),
    "poisson": lambda: sm.families.Poisson(),
    "nb2": lambda: smg.families.NegativeBinomial(p=2),
    "ordinal": lambda: smg.families.Ordinal(),
    "gaussian": lambda: sm.families.Gaussian(),
}


def _model(kind, design):
    rhs = DESIGNS[design]
    if kind == "ordinal":  # the thresholds take the place of the intercept
        rhs = "0 + " + rhs
    return smg.mixedglm("y ~ " + rhs, _frame(kind), family=FAMILIES[kind]())


def _point(m, seed=0):
    """Internal parameters near the start, with moderate random-effect scales."""
    x = np.asarray(m._start_internal(), dtype=float).copy()
    beta, theta, extra = m._split(x)
    beta += np.random.default_rng(seed).normal(0, 0.1, len(beta))
    theta[:] = np.where(theta == 0.0, 0.1, 0.0) + 0.5 * (theta != 0) + 0.05
    return np.concatenate([beta, theta, extra])


def _state_at_point(m):
    """The problem, the parameters at :func:`_point` and the mode state there."""
    beta, theta, extra = m._split(_point(m))
    pr = m.sparse_problem()
    return pr, beta, theta, extra, sparse_laplace_loglike(pr, m.response, beta, theta, extra)[2]


def _difference_block(m, x, h=1e-5):
    """Central differences of the analytic gradient in the fixed effects."""
    p = m.k_fe
    cols = []
    for j in range(p):
        e = np.zeros(len(x))
        e[j] = h
        gp = m.loglike_internal(x + e, 1, gradient=True)[1][:p]
        gm = m.loglike_internal(x - e, 1, gradient=True)[1][:p]
        cols.append((gp - gm) / (2 * h))
    fd = np.column_stack(cols)
    return 0.5 * (fd + fd.T)


@pytest.mark.parametrize("design", sorted(DESIGNS))
@pytest.mark.parametrize("kind", sorted(FAMILIES))
def test_closed_form_equals_differences_of_the_gradient(kind, design):
    m = _model(kind, design)
    assert m.multi
    x = _point(m)
    H = m._beta_hessian(x, 1, WarmStart())
    assert H is not None
    fd = _difference_block(m, x)
    np.testing.assert_allclose(H, fd, rtol=1e-5, atol=1e-6 * np.abs(fd).max())


def test_zero_inflated_family_uses_its_own_fourth_derivative():
    d = _frame("poisson")
    d.loc[np.random.default_rng(1).random(len(d)) < 0.2, "y"] = 0
    m = smg.mixedglm("y ~ " + DESIGNS["crossed"], d, family=sm.families.Poisson(),
                     zi_formula="~1")
    assert m.response.has_d4()
    x = _point(m)
    H = m._beta_hessian(x, 1, WarmStart())
    fd = _difference_block(m, x)
    np.testing.assert_allclose(H, fd, rtol=1e-5, atol=1e-6 * np.abs(fd).max())


def test_gaussian_block_is_minus_x_prime_v_inverse_x():
    m = _model("gaussian", "crossed-slope")
    pr, beta, theta, extra, st = _state_at_point(m)
    H = sparse_beta_hessian(pr, m.response, beta, theta, extra, st)
    # dense M = Z Lambda from the row-local values, and W = -d2 (constant 1 / sigma^2)
    Ls = [t.cov.chol(th) for t, th in
          zip(pr.terms, np.split(theta, np.cumsum([t.n_params for t in pr.terms])[:-1]))]
    Md = dense_rows(pr, pr.m_rows(Ls))
    w = -st.d[2]
    assert np.ptp(w) < 1e-12 * w[0]
    V = np.diag(1.0 / w) + Md @ Md.T
    X = pr.X
    np.testing.assert_allclose(H, -X.T @ np.linalg.solve(V, X), rtol=1e-10)


def test_blocked_trace_products_equal_the_whole():
    m = _model("poisson", "crossed-slope")
    pr, beta, theta, extra, st = _state_at_point(m)
    whole = sparse_beta_hessian(pr, m.response, beta, theta, extra, st)
    old = slh.PRODUCT_BYTES
    try:
        slh.PRODUCT_BYTES = 1  # one matrix K_j H^{-1} at a time
        blocked = sparse_beta_hessian(pr, m.response, beta, theta, extra, st)
    finally:
        slh.PRODUCT_BYTES = old
    np.testing.assert_allclose(blocked, whole, rtol=1e-12, atol=1e-12 * np.abs(whole).max())


class _PoissonWithoutD4(Poisson):
    def has_d4(self):
        return False

    def d4(self, y, eta, extra):
        return None


def test_declines_above_the_size_limit_without_d4_or_modes():
    m = _model("poisson", "crossed")
    pr, beta, theta, extra, st = _state_at_point(m)
    assert sparse_beta_hessian(pr, m.response, beta, theta, extra, st) is not None
    assert sparse_beta_hessian(pr, m.response, beta, theta, extra, st,
                               max_effects=pr.n_effects - 1) is None
    assert sparse_beta_hessian(pr, _PoissonWithoutD4(), beta, theta, extra, st) is None
    st.converged = False
    assert sparse_beta_hessian(pr, m.response, beta, theta, extra, st) is None
    # the model falls back to differences of the gradient in every column
    x = _point(m)
    old = slh.MAX_EFFECTS
    try:
        slh.MAX_EFFECTS = pr.n_effects - 1
        assert m._beta_hessian(x, 1, WarmStart()) is None
        differenced = m.hessian_internal(x, 1, central=True)
    finally:
        slh.MAX_EFFECTS = old
    closed = m.hessian_internal(x, 1, central=True)
    p = m.k_fe
    np.testing.assert_allclose(closed[:p, :p], differenced[:p, :p], rtol=1e-5,
                               atol=1e-6 * np.abs(closed[:p, :p]).max())
    # the other columns are differences either way (from modes warm-started differently)
    np.testing.assert_allclose(closed[p:, :], differenced[p:, :], rtol=1e-6,
                               atol=1e-9 * np.abs(closed).max())


def _grouseticks():
    return pd.read_csv(os.path.join(DATA, "real", "grouseticks.csv"),
                       dtype={"INDEX": str, "BROOD": str, "YEAR": str, "LOCATION": str})


def test_grouseticks_closed_form_and_glmer_standard_errors():
    df = _grouseticks()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)",
                           df.assign(cHEIGHT=df["HEIGHT"] - df["HEIGHT"].mean()),
                           family=sm.families.Poisson()).fit()
    m = res.model
    assert res.converged and m.sparse_problem().n_effects <= slh.MAX_EFFECTS
    x = res.mle_retvals["internal_params"]
    H = m._beta_hessian(x, 1, WarmStart())
    fd = _difference_block(m, x)
    np.testing.assert_allclose(H, fd, rtol=1e-5, atol=1e-6 * np.abs(fd).max())
    ref = load_ref("grouseticks__glmer_pois_brood_location_centred")
    both = match_fixed(res, ref)
    assert len(both) == 4
    np.testing.assert_allclose(both["se"], both["se_r"], rtol=5e-3)
    # the same fit with the fixed-effects block differenced gives the same errors
    old = slh.ENABLED
    try:
        slh.ENABLED = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res0 = type(m).from_formula(m.formula, m.data.frame, family=m.family).fit()
    finally:
        slh.ENABLED = old
    assert [r_name(n) for n in res0.model.exog_names] == list(both.index)
    np.testing.assert_allclose(np.asarray(res.bse), np.asarray(res0.bse), rtol=1e-4)


def _cbpp():
    cb = load_dataset("cbpp")
    cb["obs"] = np.arange(len(cb))
    return cb


STORED = {
    "cbpp-trials-olre": (_cbpp, "incidence + I(size - incidence) ~ period + (1 | herd) + (1 | obs)",
                         sm.families.Binomial()),
    "sim_nested-slopes": (lambda: load_dataset("sim_nested"),
                          "ycount ~ time + treat + (1 | clinic) + (1 + time | clinic:patient)",
                          sm.families.Poisson()),
}


@pytest.mark.parametrize("key", sorted(STORED))
def test_closed_form_on_stored_datasets_at_the_optimum(key):
    data, formula, fam = STORED[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm(formula, data(), family=fam).fit()
    m = res.model
    pr = m.sparse_problem()
    x = res.mle_retvals["internal_params"]
    beta, theta, extra = m._split(x)
    st = sparse_laplace_loglike(pr, m.response, beta, theta, extra)[2]
    # sim_nested has 1,640 effects, beyond the default limit: asked for explicitly
    H = sparse_beta_hessian(pr, m.response, beta, theta, extra, st, max_effects=pr.n_effects)
    fd = _difference_block(m, x)
    np.testing.assert_allclose(H, fd, rtol=1e-5, atol=1e-6 * np.abs(fd).max())
