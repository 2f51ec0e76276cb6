"""
A random-effect variance whose maximum is at zero: the Newton polish puts it there
(:func:`statsmodels_glmm.model.boundaries.snap_to_zero`) instead of approaching it
step by step, and only where zero is the maximum along it.
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
import statsmodels_glmm.model.fitting as fitting
from statsmodels_glmm.likelihood.warm_start import WarmStart
from statsmodels_glmm.model import boundaries
from statsmodels_glmm.model.boundaries import snap_to_zero
from statsmodels_glmm.model.glmm import MixedGLM

from conftest import assert_same_fit, fit_with_and_without


def _model(seed, n=300):
    # binary random intercept, 3 waves, SD 0.3: seed 6 estimates the variance at zero,
    # seed 19 at a small positive value (L = 0.080)
    df = smg.simulate_longitudinal("binary", n_persons=n, n_waves=3, sd=(0.3, 0.0),
                                   corr=0.0, seed=seed)
    return smg.mixedglm("y ~ time + group + (1 | id)", df, family=sm.families.Binomial())


def _fit(model, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(**kw)


def _counting(monkeypatch):
    """Count Hessians and snaps; the counters are a dict."""
    counts = {"hessian": 0, "snapped": 0}
    real_h, real_s = MixedGLM._difference_hessian, fitting.snap_to_zero

    def hess(self, *a, **k):
        counts["hessian"] += 1
        return real_h(self, *a, **k)

    def snap(*a, **k):
        out = real_s(*a, **k)
        counts["snapped"] += out is not None
        return out

    monkeypatch.setattr(MixedGLM, "_difference_hessian", hess)
    monkeypatch.setattr(fitting, "snap_to_zero", snap)
    return counts


def _crawling():
    # a variance maximised at zero that Newton steps approach slowly: from L = 0.076 to
    # 0.043, 0.034, 0.012, 0.0067, ... each few steps with a new Hessian
    df = smg.simulate_longitudinal("binary", n_persons=500, n_waves=3, sd=(0.3, 0.0),
                                   corr=0.0, seed=3503)
    return smg.mixedglm("y ~ time * group + stress + (1 | id)", df,
                        family=sm.families.Binomial())


@pytest.mark.parametrize("nagq", [1, 5])
def test_a_variance_at_zero_is_reached_at_once_with_the_same_answer(monkeypatch, nagq):
    model = _crawling()
    counts = _counting(monkeypatch)
    res, on, ref, off = fit_with_and_without(monkeypatch, model, counts, fitting,
                                             "snap_to_zero", lambda *a, **k: None, nagq=nagq)
    assert on["snapped"] == 1
    assert res.converged and ref.converged
    x = res.mle_retvals["internal_params"]
    assert x[model.k_fe] == 0.0 and ref.mle_retvals["internal_params"][model.k_fe] == 0.0
    # without the snap the polish approaches zero linearly, with a Hessian per few steps
    assert on["hessian"] < off["hessian"]
    assert abs(res.llf - ref.llf) < 1e-9
    se = np.asarray(ref.bse)[:model.k_fe]
    d = np.abs(np.asarray(res.params) - np.asarray(ref.params))[:model.k_fe] / se
    assert np.max(d) < 1e-6
    np.testing.assert_allclose(np.asarray(res.bse)[:model.k_fe], se, rtol=1e-6)


def _probe(model, x_new, llf_new, x_old=None, tried=None):
    x_new = np.asarray(x_new, dtype=float)
    x_old = x_new * 1.6 if x_old is None else x_old
    tried = np.zeros(len(x_new), bool) if tried is None else tried
    return snap_to_zero(model, x_old, x_new, llf_new, 1, WarmStart(), tried)


def test_the_slope_decides_where_the_maximum_is_not_at_zero():
    # a variance maximised at L = 0.080: the likelihood rises away from zero, so zero is
    # refused even when its value is not compared (llf_new = -inf)
    model = _model(19)
    x_hat = _fit(model).mle_retvals["internal_params"]
    assert 0.05 < x_hat[model.k_fe] < 0.1
    assert _probe(model, x_hat, -np.inf) is None
    # where it is maximised at zero the same call puts it there, with the likelihood and
    # gradient of the new point
    model0 = _model(6)
    x0_hat = _fit(model0).mle_retvals["internal_params"].copy()
    x = x0_hat.copy()
    x[model0.k_fe] = 0.05
    out = _probe(model0, x, -np.inf)
    assert out is not None
    x_s, l_s, g_s = out
    assert x_s[model0.k_fe] == 0.0
    np.testing.assert_array_equal(np.delete(x_s, model0.k_fe), np.delete(x, model0.k_fe))
    llf, grad, _ = model0.loglike_internal(x_s, 1, gradient=True)
    assert abs(l_s - llf) < 1e-9
    np.testing.assert_allclose(g_s, grad, rtol=1e-6, atol=1e-8)
    assert g_s[model0.k_fe] == 0.0  # the likelihood is even in L


def test_zero_is_refused_when_it_is_below_the_newton_step():
    # from above a small positive maximum the step's point is better than zero
    model = _model(19)
    x_hat = _fit(model).mle_retvals["internal_params"]
    llf_hat = model.loglike_internal(x_hat)[0]
    assert _probe(model, x_hat, llf_hat) is None


def test_only_slow_approaches_of_small_entries_alone_in_their_column_are_tried():
    model = _model(6)
    p = model.k_fe
    x = _fit(model).mle_retvals["internal_params"].copy()
    x[p] = 0.05
    calls = []
    real = model.loglike_internal
    model.loglike_internal = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        for before in (0.06, 0.04, 5.0):  # a shrink to 0.83, a rise, a fast approach
            x_old = x.copy()
            x_old[p] = before
            assert _probe(model, x, -np.inf, x_old=x_old) is None
        big = x.copy()
        big[p] = 0.5  # not small
        assert _probe(model, big, -np.inf, x_old=big * 1.2) is None
        tried = np.zeros(len(x), bool)
        tried[p] = True  # tried once already in this polish
        assert _probe(model, x, -np.inf, tried=tried) is None
        assert not calls  # none of these evaluated anything
    finally:
        del model.loglike_internal
    tried = np.zeros(len(x), bool)
    assert _probe(model, x, -np.inf, tried=tried) is not None
    assert tried[p]


def test_an_intercept_variance_with_a_covariance_is_not_tried():
    # the likelihood is even in L_11 only together with L_21: with L_21 nonzero the
    # intercept's entry is never tried, the slope's (alone in its column) is
    df = smg.simulate_longitudinal("binary", n_persons=300, seed=4)
    model = smg.mixedglm("y ~ time + (1 + time | id)", df, family=sm.families.Binomial())
    p = model.k_fe
    x = _fit(model).mle_retvals["internal_params"].copy()
    x[p:p + 3] = [0.05, 0.3, 0.02]  # L_11, L_21, L_22 (scaled: 0.048)
    tried = np.zeros(len(x), bool)
    snap_to_zero(model, x * 1.6, x, -np.inf, 1, WarmStart(), tried)
    assert not tried[p] and tried[p + 2]


def test_the_thresholds_are_ordered():
    assert 0 < boundaries._SNAP_FAST < boundaries._SNAP_SHRINK < 1
    assert 1e-6 < boundaries._SLOPE_PROBE < boundaries._SNAP_FROM


# designs of the panel benchmark's simulation (binary and Poisson, random intercepts and
# slopes) on which the zero is tried and kept
_SNAPPING = [("binary", 500, 3, 3.0, 0.75, 3537),
                ("binary", 1000, 3, 0.25, 0.0625, 4009),
                ("binary", 3000, 3, 0.1, 0.025, 6008),
                ("poisson", 1000, 3, 0.25, 0.0625, 4009)]


@pytest.mark.parametrize("kind, n, waves, sd, sd_slope, seed", _SNAPPING)
def test_the_zero_changes_no_answer(monkeypatch, kind, n, waves, sd, sd_slope, seed):
    df = smg.simulate_longitudinal(kind, n_persons=n, n_waves=waves, sd=(sd, sd_slope),
                                   corr=0.0, seed=seed)
    family = sm.families.Binomial() if kind == "binary" else sm.families.Poisson()
    model = smg.mixedglm("y ~ time * group + stress + (1 + time | id)", df, family=family)
    counts = _counting(monkeypatch)
    res = _fit(model)
    assert counts["snapped"] >= 1
    monkeypatch.setattr(fitting, "snap_to_zero", lambda *a, **k: None)
    ref = _fit(model)
    assert_same_fit(res, ref)


def test_a_step_that_overshoots_zero_is_tried_at_zero_however_far_it_went():
    # a Newton step from L = 0.05 to -0.0001 (a shrink to 0.2%, a fast approach, but across
    # zero) on a variance maximised at zero: zero is tried and kept
    model = _model(6)
    p = model.k_fe
    x = _fit(model).mle_retvals["internal_params"].copy()
    x_old, x_new = x.copy(), x.copy()
    x_old[p], x_new[p] = 0.05, -1e-4
    tried = np.zeros(len(x), bool)
    out = snap_to_zero(model, x_old, x_new, -np.inf, 1, WarmStart(), tried)
    assert tried[p] and out is not None and out[0][p] == 0.0
    # the same shrink without crossing zero is left to the Newton steps
    x_new[p] = 1e-4
    assert snap_to_zero(model, x_old, x_new, -np.inf, 1, WarmStart(),
                        np.zeros(len(x), bool)) is None


def test_after_a_snap_the_polish_goes_on_with_a_block_of_its_hessian(monkeypatch):
    # the variance put at zero leaves the other parameters' Hessian a block of the one
    # the polish has: no new Hessian for it, the same optimum and standard errors
    model = _crawling()
    counts = _counting(monkeypatch)
    monkeypatch.setattr(fitting, "REUSE_ON_BOUND", True)
    res, on, ref, off = fit_with_and_without(monkeypatch, model, counts, fitting,
                                             "REUSE_ON_BOUND", False)
    assert on["snapped"] == off["snapped"] == 1
    assert res.mle_retvals["internal_params"][model.k_fe] == 0.0
    # the polish's Hessians and the results' one: one Hessian fewer
    assert on["hessian"] == off["hessian"] - 1
    assert abs(res.llf - ref.llf) < 1e-9
    se = np.asarray(ref.bse)[:model.k_fe]
    d = np.abs(np.asarray(res.params) - np.asarray(ref.params))[:model.k_fe] / se
    assert np.max(d) < 1e-6
    np.testing.assert_allclose(np.asarray(res.bse)[:model.k_fe], se, rtol=1e-6)
