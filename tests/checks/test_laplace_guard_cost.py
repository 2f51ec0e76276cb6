"""
What the Laplace guard spends: one quadrature gradient where that settles the
comparison, no refit where the quadrature value alone already condemns the fit, and
quasi-Newton (BFGS) steps where a refit is needed.
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.checks.approximation import REFIT_TOL_SE, _secant_update
from statsmodels_glmm.exceptions import LaplaceAccuracyWarning

from conftest import load_dataset

B = sm.families.Binomial()


def _counting(model):
    """Record ``(nagq, gradient)`` of every likelihood evaluation of ``model``."""
    calls = []
    inner = model.loglike_internal

    def counted(internal, nagq=1, gradient=False, warm=None):
        calls.append((nagq, gradient))
        return inner(internal, nagq, gradient=gradient, warm=warm)

    model.loglike_internal = counted
    return calls


def test_small_adequate_binary_fit_is_settled_by_one_quadrature_gradient():
    df = smg.simulate_longitudinal("binary", n_persons=150, sd=(0.5, 0.0), seed=0)
    model = smg.mixedglm("y ~ time + (1 | id)", df, family=B)
    calls = _counting(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LaplaceAccuracyWarning)
        res = model.fit()
    refit = res.mle_retvals["laplace_check"]["refit"]
    # one 15-node gradient, the guard's value and the refit's first step at once: its
    # step moves no estimate by a quarter of a standard error, so the verdict cannot
    # change
    assert [c for c in calls if c[0] > 1] == [(15, True)]
    g = res.mle_retvals["laplace_check"]
    assert g["nagq"] == 15 and g["llf"] == refit["llf_at_laplace"]
    assert not [k for k in g if k.startswith("_")]  # the handed-over gradient is not kept
    assert g["llf"] == pytest.approx(model.loglike(res.params, nagq=15), abs=1e-8)
    assert refit["steps"] == 1 and refit["converged"] and refit["moved"] == []
    assert refit["max_change_se"] < REFIT_TOL_SE / 2
    # the one-step estimates are within a few hundredths of an SE of a full 15-node fit
    del model.loglike_internal
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = model.fit(nagq=15)
    move = (full.params - res.params) / res.bse
    np.testing.assert_allclose(refit["change_se"], move, atol=0.05)
    assert refit["llf"] == pytest.approx(full.llf, abs=0.01)


def test_fit_condemned_by_the_quadrature_value_is_not_refitted():
    """toenail with a random slope: the 3 x 3-node value is 78 below Laplace's."""
    toe = load_dataset("toenail")
    model = smg.mixedglm("outcome ~ treatment * time + (1 + time | patientID)", toe, family=B)
    calls = _counting(model)
    with pytest.warns(LaplaceAccuracyWarning, match="check_approximation"):
        res = model.fit()
    g = res.mle_retvals["laplace_check"]
    assert g["flagged"] and g["difference"] < -g["threshold"]
    assert "already differs" in g["refit"]["skipped"] and "fit(nagq=7)" in g["refit"]["skipped"]
    assert [c for c in calls if c[0] > 1] == [(3, False)]


def test_refit_far_from_laplace_converges_in_few_quadrature_gradients():
    """toenail with a random intercept: the 15-node optimum is 1.1 SE from Laplace's."""
    toe = load_dataset("toenail")
    model = smg.mixedglm("outcome ~ treatment * time + (1 | patientID)", toe, family=B)
    calls = _counting(model)
    with pytest.warns(LaplaceAccuracyWarning, match=r"fit\(nagq=15\)"):
        res = model.fit()
    refit = res.mle_retvals["laplace_check"]["refit"]
    assert refit["converged"] and "Intercept" in refit["moved"]
    # a chord method with the Laplace Hessian alone took 21 gradients without converging
    assert len([c for c in calls if c[0] == 15]) <= 10


def test_secant_update_meets_the_secant_condition_and_stays_positive_definite():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 4))
    B0 = A @ A.T + 4 * np.eye(4)
    s, y = rng.normal(size=4), rng.normal(size=4)
    y = y if s @ y > 0 else -y
    B1 = _secant_update(B0, s, y)
    np.testing.assert_allclose(B1 @ s, y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(B1, B1.T, rtol=0, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(B1) > 0)
    # a pair without positive curvature leaves the curvature as it was
    assert _secant_update(B0, s, -y) is B0


def test_refit_stops_once_the_moved_estimates_are_decided_and_names_those_a_full_refit_names():
    """500 persons x 3 waves, random-intercept SD 3: Laplace is off by more than 1 SE."""
    from statsmodels_glmm.checks.approximation import _chord_refit

    df = smg.simulate_longitudinal("binary", n_persons=500, n_waves=3, sd=(3.0, 0.75),
                                   corr=0.0, seed=3537)
    model = smg.mixedglm("y ~ time * group + stress + (1 + time | id)", df, family=B)
    with pytest.warns(LaplaceAccuracyWarning, match=r"fit\(nagq=7\)"):
        res = model.fit()
    refit = res.mle_retvals["laplace_check"]["refit"]
    assert refit["converged"] and refit["steps"] < 8
    # the same quasi-Newton refit run until its steps gain under 5e-5 takes more steps
    x0 = np.asarray(res.mle_retvals["internal_params"], dtype=float)
    free = model._free_mask(x0, model._bounds())
    lo = np.array([b[0] if b[0] is not None else -np.inf for b in model._bounds()])
    with np.errstate(all="ignore"):
        x, llf, _, steps, done = _chord_refit(model, x0.copy(), 7, res.mle_retvals["hessian"],
                                              free, lo, 30, None)
    assert done and steps > refit["steps"]
    full = (model.to_public(x) - res.params.to_numpy()) / res.bse.to_numpy()
    names = res.params.index
    assert refit["moved"] == [n for n, c in zip(names, full) if abs(c) > REFIT_TOL_SE]
    assert len(refit["moved"]) >= 2
    # the early stop leaves every move within a tenth of an SE of the full refit's
    np.testing.assert_allclose(refit["change_se"].to_numpy(), full, atol=0.1)


def test_guard_called_alone_in_the_danger_zone_gives_the_refit_rule_value_only():
    """Called directly, the guard reports the same value a fit reports, without the
    gradient it hands over to the refit inside a fit."""
    from statsmodels_glmm.checks.approximation import laplace_guard, pop_first_evaluation

    df = smg.simulate_longitudinal("binary", n_persons=150, sd=(0.5, 0.0), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm("y ~ time + (1 | id)", df, family=B).fit()
    model = res.model
    x = np.asarray(res.mle_retvals["internal_params"], dtype=float)
    calls = _counting(model)
    g = laplace_guard(model, x, res.llf)
    assert calls == [(15, False)]
    assert g["nagq"] == 15 and pop_first_evaluation(g) is None
    assert g["llf"] == pytest.approx(res.mle_retvals["laplace_check"]["llf"], abs=1e-9)
    assert g["difference"] == pytest.approx(g["llf"] - res.llf, abs=1e-12)
    h = laplace_guard(model, x, res.llf, for_refit=True)
    first = pop_first_evaluation(h)
    assert calls[-1] == (15, True) and np.array_equal(first[0], x)
    assert first[1] == pytest.approx(g["llf"], abs=1e-9) and len(first[2]) == len(x)


def test_a_fit_with_every_variance_at_zero_needs_no_quadrature():
    # binary, 2.8 rows per person (the danger zone), the random-intercept variance
    # estimated at zero: the linear predictor does not depend on the random effects and
    # Laplace is exact, so the guard evaluates no quadrature and does not refit
    df = smg.simulate_longitudinal("binary", n_persons=500, n_waves=3, sd=(0.3, 0.0),
                                   corr=0.0, seed=3503)
    model = smg.mixedglm("y ~ time * group + stress + (1 | id)", df, family=B)
    calls = _counting(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LaplaceAccuracyWarning)
        res = model.fit()
    x = res.mle_retvals["internal_params"]
    assert x[model.k_fe] == 0.0
    assert all(nagq == 1 for nagq, _ in calls)
    g = res.mle_retvals["laplace_check"]
    assert g["exact"] and not g["flagged"] and g["difference"] == 0.0 and g["llf"] == res.llf
    assert "variance is estimated at zero" in g["refit"]["skipped"]
    assert "Laplace likelihood is exact" in str(res.summary()).replace("\n", " ")
    # what the quadrature would have said: the same log-likelihood, and a gradient that
    # moves no estimate (that of Laplace, zero at the optimum)
    llf15, grad15, _ = model.loglike_internal(x, 15, gradient=True)
    llf1, grad1, _ = model.loglike_internal(x, 1, gradient=True)
    assert llf15 == pytest.approx(llf1, abs=1e-9)
    np.testing.assert_allclose(grad15, grad1, atol=1e-8)
    assert np.max(np.abs(grad15)) < 1e-6
