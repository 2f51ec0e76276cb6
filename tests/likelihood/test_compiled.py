"""The optional compiled kernels of the one-factor mode search give numpy's numbers to
the last bit: evaluations, gradients, modes and whole fits compared with the kernels
switched on and off, and the kernels' sums against an independent computation."""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.stats import norm

import statsmodels_glmm.api as smg
from statsmodels_glmm.families import Binomial, NegativeBinomial, Poisson
from statsmodels_glmm.likelihood import compiled
from statsmodels_glmm.likelihood.chunks import _zl_columns, chunk_plan
from statsmodels_glmm.likelihood.laplace import laplace_loglike, predicted_modes

from conftest import load_dataset, numba_missing, unbuildable_kernels

RI, RS = "(1 | id)", "(1 + time | id)"


def _model(kind, re, family=None, n=120, seed=3):
    df = smg.simulate_longitudinal(kind, n_persons=n, n_waves=4, sd=(1.0, 0.3), seed=seed)
    if family is None:
        family = sm.families.Binomial() if kind == "binary" else sm.families.Poisson()
    return smg.mixedglm(f"y ~ time * group + stress + {re}", df, family=family)


def _cbpp(re="(1 | herd)"):
    return smg.mixedglm(f"incidence + non_incidence ~ period + {re}", load_dataset("cbpp"),
                        family=sm.families.Binomial())


def _gaussian(re):
    df = smg.simulate_longitudinal("poisson", n_persons=120, n_waves=4, sd=(1.0, 0.3), seed=3)
    df["y"] = np.log1p(df["y"])
    return smg.mixedglm(f"y ~ time * group + stress + {re}", df,
                        family=sm.families.Gaussian())


def _both(monkeypatch, fn):
    """``fn()`` with the kernels on, then off."""
    on = fn()
    monkeypatch.setattr(compiled, "ENABLED", False)
    off = fn()
    monkeypatch.setattr(compiled, "ENABLED", True)
    return on, off


MODELS = {
    "bernoulli RI": lambda: _model("binary", RI),
    "bernoulli RS": lambda: _model("binary", RS),
    "poisson RI": lambda: _model("poisson", RI),
    "poisson RS": lambda: _model("poisson", RS),
    "binomial trials": _cbpp,
    "gaussian RI": lambda: _gaussian(RI),
    "gaussian RS": lambda: _gaussian(RS),
    # no row kernel for these: the compiled gradient pieces only
    "probit RS": lambda: _model("binary", RS, Binomial("probit")),
    "nb2 RI": lambda: _model("poisson", RI, NegativeBinomial(p=2)),
}


@numba_missing
@pytest.mark.parametrize("name", sorted(MODELS))
def test_evaluation_identical_with_and_without_kernels(monkeypatch, name):
    m = MODELS[name]()
    rng = np.random.default_rng(7)
    x0 = m._start_internal()
    for scale in (0.0, 0.3, 3.0):  # the start, nearby, and far (large curvatures)
        x = x0 + scale * rng.normal(size=len(x0))
        beta, theta, extra = m._split(x)

        def run():
            return laplace_loglike(m.design, m.response, m.cov_struct, beta, theta, extra)

        (l1, g1, s1), (l0, g0, s0) = _both(monkeypatch, run)
        assert l1 == l0 or (np.isnan(l1) and np.isnan(l0))
        if g0 is not None:
            assert np.array_equal(g1, g0)
        assert np.array_equal(s1.u, s0.u)
        assert np.array_equal(s1.logdet, s0.logdet, equal_nan=True)
        assert s1.iterations == s0.iterations


@numba_missing
@pytest.mark.parametrize("name", sorted(MODELS))
def test_per_group_scores_identical(monkeypatch, name):
    m = MODELS[name]()
    beta, theta, extra = m._split(m._start_internal())

    def run():
        return laplace_loglike(m.design, m.response, m.cov_struct, beta, theta, extra,
                               per_group=True)

    (l1, g1, _), (l0, g0, _) = _both(monkeypatch, run)
    assert np.array_equal(l1, l0)
    assert np.array_equal(g1, g0)


@numba_missing
@pytest.mark.parametrize("name", ["bernoulli RS", "poisson RI", "binomial trials",
                                  "gaussian RS"])
def test_fits_identical_with_and_without_kernels(monkeypatch, name):
    # (the kernel of the Gaussian start's search agrees with numpy to rounding only:
    # test_gaussian_profile compares those fits)
    monkeypatch.setattr(compiled, "gaussian_profile", lambda *a, **k: None)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return MODELS[name]().fit()

    r1, r0 = _both(monkeypatch, run)
    assert np.array_equal(r1.params, r0.params)
    assert np.array_equal(r1.bse, r0.bse, equal_nan=True)
    assert r1.llf == r0.llf
    assert r1.mle_retvals["function_evaluations"] == r0.mle_retvals["function_evaluations"]


@numba_missing
@pytest.mark.parametrize("name", ["bernoulli RS", "poisson RI", "binomial trials",
                                  "gaussian RI", "gaussian RS"])
def test_evaluator_sums_against_direct_computation(name):
    """h, gradient and curvature of every group from the family's own derivatives and
    ``np.add.at`` (no code shared with the mode search)."""
    m = MODELS[name]()
    beta, theta, extra = m._split(m._start_internal())
    L = m.cov_struct.chol(theta)
    plan = chunk_plan(m.design)
    c, fam = plan.chunks[0], plan.families(m.response)[0]
    Mc = _zl_columns(c.Zc, L)
    base = c.X @ beta + c.offset
    ev = compiled.mode_evaluator(c, fam, base, Mc, extra)
    assert ev is not None
    q = len(Mc)
    u = np.random.default_rng(1).normal(size=(c.n_groups, q))
    eta, d, h, grad, H = ev(u)
    M = np.column_stack(Mc)
    eta_ref = base + np.sum(M * u[c.gid], axis=1)
    np.testing.assert_allclose(eta, eta_ref, rtol=1e-14, atol=1e-14)
    d_ref = fam.derivs(c.y, eta_ref, extra)
    if fam.name == "Gaussian":  # the log-density itself from scipy
        np.testing.assert_allclose(d[0], norm.logpdf(c.y, eta_ref, np.exp(extra[0])),
                                   rtol=1e-13)
    for a, b in zip(d, d_ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    h_ref = np.zeros(c.n_groups)
    np.add.at(h_ref, c.gid, d_ref[0])
    h_ref -= 0.5 * np.sum(u * u, axis=1)
    g_ref = np.zeros((c.n_groups, q))
    np.add.at(g_ref, c.gid, M * d_ref[1][:, None])
    g_ref -= u
    H_ref = np.zeros((c.n_groups, q, q))
    np.add.at(H_ref, c.gid, -d_ref[2][:, None, None] * M[:, :, None] * M[:, None, :])
    H_ref += np.eye(q)
    np.testing.assert_allclose(h, h_ref, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(grad, g_ref, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(H, H_ref, rtol=1e-12, atol=1e-10)


def test_no_kernel_where_none_applies(monkeypatch):
    m = _model("binary", RS, Binomial("probit"))
    beta, theta, _ = m._split(m._start_internal())
    plan = chunk_plan(m.design)
    c, fam = plan.chunks[0], plan.families(m.response)[0]
    Mc = _zl_columns(c.Zc, m.cov_struct.chol(theta))
    base = c.X @ beta
    assert compiled.mode_evaluator(c, fam, base, Mc) is None  # probit

    class MyPoisson(Poisson):  # a family that changes the derivatives keeps numpy
        def derivs(self, y, eta, extra):
            return super().derivs(y, eta, extra)

    class LogpdfPoisson(Poisson):  # one that changes only the log-density keeps numpy
        def logpdf(self, y, eta, extra):
            return super().logpdf(y, eta, extra)

    mp = _model("poisson", RI)
    eta = np.zeros((2, mp.nobs))
    out = np.empty((2, mp.nobs))
    assert not compiled.node_values(LogpdfPoisson(), mp.design.y, eta, False, out, None)
    assert compiled.node_values(Poisson(), mp.design.y, eta, False, out, None) \
        == compiled.available()
    cp = chunk_plan(mp.design).chunks[0]
    Mp = _zl_columns(cp.Zc, np.eye(1))
    assert compiled.mode_evaluator(cp, MyPoisson(), cp.X[:, 0] * 0, Mp) is None
    three = _model("binary", "(1 + time + stress | id)")
    c3 = chunk_plan(three.design).chunks[0]
    M3 = _zl_columns(c3.Zc, np.eye(3))
    assert compiled.mode_evaluator(c3, Binomial(), c3.X[:, 0] * 0, M3) is None
    monkeypatch.setattr(compiled, "ENABLED", False)
    assert not compiled.available()
    assert compiled.mode_evaluator(cp, Poisson(), cp.X[:, 0] * 0, Mp) is None


@numba_missing
@pytest.mark.parametrize("name", ["bernoulli RI", "bernoulli RS", "poisson RS", "probit RS"])
@pytest.mark.parametrize("move_theta", [False, True])
def test_mode_prediction_identical(monkeypatch, name, move_theta):
    m = MODELS[name]()
    x = m._start_internal()
    beta, theta, extra = m._split(x)
    st = laplace_loglike(m.design, m.response, m.cov_struct, beta, theta, extra)[2]
    x2 = x + 0.01
    if not move_theta:
        x2[m.k_fe:] = x[m.k_fe:]
    b2, t2, _ = m._split(x2)
    c = chunk_plan(m.design).chunks[0]
    L2 = m.cov_struct.chol(t2)
    on, off = _both(monkeypatch, lambda: predicted_modes(c, st, b2, L2))
    assert np.array_equal(on, off)
    assert not np.array_equal(on, st.u)  # the prediction moved the modes


@numba_missing
@pytest.mark.parametrize("name", ["bernoulli RI", "bernoulli RS", "poisson RI", "binomial trials",
                                  "probit RS"])
@pytest.mark.parametrize("gradient", [True, False])
def test_quadrature_identical_with_and_without_kernels(monkeypatch, name, gradient):
    m = MODELS[name]()
    nagq = 5 if m.k_re > 1 else 9
    x = m._start_internal() + 0.05

    def run():
        return m.loglike_internal(x, nagq, gradient=gradient)

    (l1, g1, _), (l0, g0, _) = _both(monkeypatch, run)
    assert np.isfinite(l1) and l1 == l0
    if gradient:
        assert np.array_equal(g1, g0)


def test_kernels_that_cannot_be_built_fall_back_to_numpy(monkeypatch):
    pytest.importorskip("numba")
    unbuildable_kernels(monkeypatch, "_KERNELS", "_smoke")
    with pytest.warns(UserWarning, match="could not be built.*numpy alone"):
        assert not compiled.available()
    assert not compiled.available()  # decided once
    m = MODELS["bernoulli RI"]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = m.fit()
    assert res.converged


@numba_missing
@pytest.mark.parametrize("q", [1, 2])
def test_newton_step_matches_numpy(q):
    from statsmodels_glmm.likelihood.batched import _rowdot, _solve

    rng = np.random.default_rng(q)
    A = rng.normal(size=(50, q, q))
    H = A @ A.transpose(0, 2, 1) + np.eye(q)
    g = rng.normal(size=(50, q))
    step, dec, finite, gmax, dmax = compiled.newton_step(H, g)
    ref = _solve(H, g)
    assert finite and np.array_equal(step, ref)
    assert np.array_equal(dec, _rowdot(ref, g))
    assert gmax == np.abs(g).max() and dmax == dec.max()
    g[3, 0] = np.nan  # NaN propagates into the maxima, as numpy's max does
    H[7] = 0.0  # a singular curvature: a non-finite step is reported
    step, dec, finite, gmax, dmax = compiled.newton_step(H, g)
    assert not finite and np.isnan(gmax) and np.isnan(dmax)


@numba_missing
@pytest.mark.parametrize("name", sorted(MODELS))
def test_beta_hessian_identical_with_and_without_kernels(monkeypatch, name):
    from statsmodels_glmm.likelihood.laplace_hessian import has_closed_form, laplace_beta_hessian

    m = MODELS[name]()
    assert has_closed_form(m.response)
    x = m._start_internal() + 0.05
    beta, theta, extra = m._split(x)
    L = m.cov_struct.chol(theta)
    st = laplace_loglike(m.design, m.response, m.cov_struct, beta, theta, extra)[2]

    def run():
        return laplace_beta_hessian(m.design, m.response, beta, L, extra, st)

    on, off = _both(monkeypatch, run)
    assert np.all(np.isfinite(on)) and np.array_equal(on, off)


def test_setting_that_is_not_on_or_off_is_refused(monkeypatch):
    monkeypatch.setattr(compiled, "_SETTING", "fast")
    monkeypatch.setenv(compiled.ENV_VAR, "fast")
    with pytest.raises(ValueError, match="STATSMODELS_GLMM_COMPILED must be 0 or 1.*'fast'"):
        compiled.available()
    m = MODELS["bernoulli RI"]()
    with pytest.raises(ValueError, match="STATSMODELS_GLMM_COMPILED"):
        m.fit()
    monkeypatch.setattr(compiled, "_SETTING", "off")  # understood: no error
    assert isinstance(compiled.available(), bool)


@numba_missing
@pytest.mark.parametrize("name", ["bernoulli", "binomial trials", "poisson", "gaussian"])
def test_row_derivatives_are_the_family_derivatives_to_the_bit(name):
    # the several-factor mode search takes them from here: the same numbers, also where
    # a trial step overflows
    m = {"bernoulli": lambda: _model("binary", RI), "binomial trials": _cbpp,
         "poisson": lambda: _model("poisson", RI), "gaussian": lambda: _gaussian(RI)}[name]()
    y, fam = m.design.y, m.response
    extra = np.array([-0.4]) if name == "gaussian" else None
    compiled._kernels()  # (a one-factor fit loads them; the several-factor search does not)
    derivs = compiled.row_derivatives(fam, y, extra)
    assert derivs is not None
    eta = np.random.default_rng(5).normal(0, 3, len(y))
    eta[:3] = [800.0, -800.0, 0.0]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        got, ref = derivs(eta), fam.derivs(y, eta, extra)
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
    assert compiled.row_derivatives(Binomial("probit"), y) is None


@numba_missing
def test_row_derivatives_do_not_load_the_kernels(monkeypatch):
    # a several-factor fit alone does not pay for loading the one-factor kernels
    monkeypatch.setattr(compiled, "_KERNELS", [])
    m = _model("poisson", RI)
    assert compiled.row_derivatives(m.response, m.design.y) is None
    assert compiled._KERNELS == []
