"""
The Laplace guard judges the approximation by the estimates: where its cheap
quadrature value suggests trouble, or the data are binary with fewer than 5
observations per group on average, it refits by adaptive quadrature from the
Laplace optimum and warns when an estimate moves by more than half a standard
error.
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.checks.approximation import (
    REFIT_MAX_ROW_NODES, REFIT_TOL_SE, guard_threshold, in_danger_zone)
from statsmodels_glmm.exceptions import LaplaceAccuracyWarning

from conftest import load_dataset, load_ref

B = sm.families.Binomial()
RANDOM_SLOPE = "y ~ time * group + stress + (1 + time | id)"


@pytest.fixture(scope="module")
def worked_example():
    """The worked example's panel: 500 persons, fewer than 5 waves each."""
    df = smg.simulate_longitudinal("binary", n_persons=500, seed=0)
    model = smg.mixedglm(RANDOM_SLOPE, df, family=B)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agq = model.fit(nagq=7)
    return res, agq, caught


def test_worked_example_random_slope_laplace_fit_is_refitted_and_flagged(worked_example):
    res, agq, caught = worked_example
    g = res.mle_retvals["laplace_check"]
    # the log-likelihood alone passes the guard: its tolerance grows with the groups
    assert abs(g["difference"]) < g["threshold"] == guard_threshold(500)
    assert in_danger_zone(res.model)
    refit = g["refit"]
    assert refit["nagq"] == 7 and "observations per group" in refit["reason"]
    assert g["flagged"] and g["recommended_nagq"] == 7
    # the Laplace variance is half the quadrature one, two standard errors away
    assert res.params["id Intercept Var"] < 0.5 * agq.params["id Intercept Var"]
    assert {"id Intercept Var", "id Intercept x time Cov", "id time Var"} <= set(refit["moved"])
    msgs = [str(w.message) for w in caught if w.category is LaplaceAccuracyWarning]
    assert len(msgs) == 1 and "fit(nagq=7)" in msgs[0] and "'id time Var' +2.0" in msgs[0]


def test_refit_matches_a_full_quadrature_fit(worked_example):
    res, agq, _ = worked_example
    refit = res.mle_retvals["laplace_check"]["refit"]
    # two quasi-Newton steps with the Laplace curvature decide the warning and stop
    # there, short of the full AGQ-7 optimum but within hundredths of an SE of it
    assert refit["steps"] == 2 and not refit["complete"]
    assert refit["llf"] == pytest.approx(agq.llf, abs=5e-3)
    move = (np.asarray(agq.params) - np.asarray(res.params)) / np.asarray(res.bse)
    np.testing.assert_allclose(refit["change_se"], move, atol=0.02)
    # here the estimates it names are those the full fit moves by more than REFIT_TOL_SE
    assert refit["moved"] == list(res.params.index[np.abs(move) > REFIT_TOL_SE])


def test_toenail_random_intercept_refit_agrees_with_r_quadrature():
    """
    toenail, random intercept: the guard's 5-node value is 7.8 from Laplace, within its
    tolerance of 15.7 but above 1 + 0.02 x 294 groups, so it refits with 15 nodes;
    lme4's AGQ-25 fit puts the intercept 1.2 Laplace SE from Laplace's.
    """
    toe = load_dataset("toenail")
    with pytest.warns(LaplaceAccuracyWarning, match=r"fit\(nagq=15\)"):
        res = smg.mixedglm("outcome ~ treatment * time + (1 | patientID)", toe,
                           family=B).fit()
    g = res.mle_retvals["laplace_check"]
    assert abs(g["difference"]) < g["threshold"]
    refit = g["refit"]
    assert "differs from Laplace" in refit["reason"] and refit["nagq"] == 15
    assert "Intercept" in refit["moved"]
    ref = load_ref("toenail__glmer_ri_agq25")
    icpt = {r["term"]: r["estimate"] for r in ref["fixed_effects"]}["(Intercept)"]
    assert refit["params"]["Intercept"] == pytest.approx(icpt, abs=0.05)
    assert refit["params"]["patientID Intercept Var"] == pytest.approx(
        ref["random_effects"][0]["var"][0], rel=0.05)
    # and a full 15-node fit agrees with the refit to a few hundredths of an SE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = res.model.fit(nagq=15)
    np.testing.assert_allclose((refit["params"] - full.params) / res.bse, 0, atol=0.05)


def test_simulated_small_binary_panel_with_random_slopes_is_flagged():
    df = load_dataset("sim_binary_small")
    model = smg.mixedglm(RANDOM_SLOPE, df, family=B)
    with pytest.warns(LaplaceAccuracyWarning, match=r"fit\(nagq=7\)"):
        res = model.fit()
    g = res.mle_retvals["laplace_check"]
    assert abs(g["difference"]) <= g["threshold"]  # passed the log-likelihood guard
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agq = model.fit(nagq=7)
    move = (agq.params - res.params) / res.bse
    assert move.abs().max() > 1.4
    assert set(g["refit"]["moved"]) == set(move.index[move.abs() > REFIT_TOL_SE])
    np.testing.assert_allclose(g["refit"]["change_se"], move, atol=0.02)


def test_refit_that_finds_laplace_adequate_stays_quiet():
    df = smg.simulate_longitudinal("binary", n_persons=150, sd=(0.5, 0.0), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LaplaceAccuracyWarning)
        res = smg.mixedglm("y ~ time + (1 | id)", df, family=B).fit()
    g = res.mle_retvals["laplace_check"]
    refit = g["refit"]
    assert refit["nagq"] == 15 and refit["converged"]
    assert refit["moved"] == [] and refit["max_change_se"] < REFIT_TOL_SE
    assert not g["flagged"] and "recommended_nagq" not in g


def test_no_refit_outside_the_danger_zone_when_quadrature_agrees():
    df = smg.simulate_longitudinal("binary", n_persons=200, n_waves=10, seed=1)
    res = smg.mixedglm(RANDOM_SLOPE, df, family=B).fit()
    g = res.mle_retvals["laplace_check"]
    assert not in_danger_zone(res.model)
    assert abs(g["difference"]) <= 1 + 0.02 * res.n_groups
    assert g["refit"] is None and not g["flagged"]


def test_large_data_skip_the_refit_and_cost_one_quadrature_evaluation(monkeypatch):
    df = load_dataset("sim_binary_large")
    model = smg.mixedglm(RANDOM_SLOPE, df, family=B)
    assert model.nobs * 7 ** 2 > REFIT_MAX_ROW_NODES
    calls = []
    inner = model.loglike_internal

    def counted(internal, nagq=1, gradient=False, warm=None):
        calls.append((nagq, gradient))
        return inner(internal, nagq, gradient=gradient, warm=warm)

    monkeypatch.setattr(model, "loglike_internal", counted)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LaplaceAccuracyWarning)
        res = model.fit()
    refit = res.mle_retvals["laplace_check"]["refit"]
    assert "not refitted" in refit["skipped"] and "fit(nagq=7)" in refit["skipped"]
    assert "params" not in refit
    # the guard's whole cost is one 3 x 3-node evaluation without gradient
    assert [c for c in calls if c[0] > 1] == [(3, False)]


def test_refit_stops_once_the_warning_is_certain(worked_example):
    """
    The worked example's refit stops after two quadrature gradients, once one estimate
    has moved past REFIT_TOL_SE by more than twice the next step; waiting until every
    estimate is decided takes more gradients for the same warning.
    """
    from statsmodels_glmm.checks.approximation import _chord_refit

    res, _, _ = worked_example
    model = res.model
    refit = res.mle_retvals["laplace_check"]["refit"]
    x0 = np.asarray(res.mle_retvals["internal_params"], dtype=float)
    before, se = res.params.to_numpy(), res.bse.to_numpy()
    free = model._free_mask(x0, model._bounds())
    lo = np.array([b[0] if b[0] is not None else -np.inf for b in model._bounds()])

    def every_estimate_decided(x, step):
        now = np.abs(model.to_public(x) - before) / se
        ahead = np.abs(model.to_public(x + step) - before) / se
        slack = 2 * np.abs(ahead - now)
        return bool(np.all((now + slack < REFIT_TOL_SE) | (now - slack > REFIT_TOL_SE)))

    with np.errstate(all="ignore"):
        _, _, _, steps, done = _chord_refit(model, x0.copy(), 7, res.mle_retvals["hessian"],
                                            free, lo, 30, None, every_estimate_decided)
    assert done and steps > refit["steps"] == 2
    assert not refit["complete"] and refit["moved"]
    # the warning and the summary say that the refit stopped early
    assert "others may move too" in " ".join(str(res.summary()).split())

