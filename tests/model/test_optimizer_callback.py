"""
The hand-over from L-BFGS-B to the Newton polish, and the polish's rule for
keeping its Hessian: the fit stops the quasi-Newton search once an iteration gains
little, and the answer is the one the search run to its own tolerance gives.
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
import statsmodels_glmm.model.optimizer_callback as callback
from statsmodels_glmm.model.optimizer_callback import HandOver, IterationWatch

from conftest import assert_same_fit, load_dataset

B, P = sm.families.Binomial(), sm.families.Poisson()


def _fit(model, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(**kw)


CASES = {
    # binary random slope, Poisson random intercept, Poisson with two crossed factors
    "binary slope": lambda: (smg.simulate_longitudinal("binary", n_persons=300, seed=4),
                             "y ~ time * group + (1 + time | id)", B),
    "poisson intercept": lambda: (smg.simulate_longitudinal("poisson", n_persons=300, seed=5),
                                  "y ~ time + group + (1 | id)", P),
    "crossed poisson": lambda: (load_dataset("grouseticks"),
                                "TICKS ~ C(YEAR) + HEIGHT + (1 | BROOD) + (1 | LOCATION)", P),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_hand_over_gives_the_answer_of_the_search_run_to_its_tolerance(case, monkeypatch):
    df, formula, family = CASES[case]()
    res = _fit(smg.mixedglm(formula, df, family=family))
    assert res.converged
    assert res.mle_retvals["message"].startswith("an iteration gained under 0.01")
    # a fresh model, the search run to its gradient tolerance as before the hand-over
    monkeypatch.setattr(callback, "HANDOVER_GAIN", -np.inf)
    ref = _fit(smg.mixedglm(formula, df, family=family))
    assert "finished by Newton steps" not in ref.mle_retvals["message"]
    assert ref.mle_retvals["iterations"] > res.mle_retvals["iterations"]
    assert res.llf == pytest.approx(ref.llf, abs=1e-9)
    se = np.asarray(ref.bse)
    assert np.max(np.abs(np.asarray(res.params) - np.asarray(ref.params)) / se) < 1e-5
    np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-5)


def test_the_hand_over_waits_for_an_iteration_that_gains_under_the_threshold(monkeypatch):
    # the log-likelihood at every L-BFGS-B iteration of a fit: the search stops at the
    # first iteration whose gain is under HANDOVER_GAIN, not before
    df, formula, family = CASES["binary slope"]()
    model = smg.mixedglm(formula, df, family=family)
    seen = []
    real = IterationWatch.__call__

    def spy(self, xk, *a, **k):
        val = self.last[1] if np.array_equal(self.last[0], xk) else self.f(xk)[0]
        seen.append(-val * self.scale)
        return real(self, xk, *a, **k)

    monkeypatch.setattr(IterationWatch, "__call__", spy)
    res = _fit(model)
    gains = np.diff(seen)
    assert len(seen) == res.mle_retvals["iterations"] >= 3
    assert gains[-1] < callback.HANDOVER_GAIN
    assert np.all(gains[:-1] >= callback.HANDOVER_GAIN)


def test_without_the_polish_the_search_runs_to_its_own_tolerance():
    df, formula, family = CASES["poisson intercept"]()
    res = _fit(smg.mixedglm(formula, df, family=family), polish=False)
    assert "finished by Newton steps" not in res.mle_retvals["message"]
    assert res.mle_retvals["max_abs_grad"] < 1e-2


def test_function_evaluations_count_the_searchs_evaluations(monkeypatch):
    df, formula, family = CASES["poisson intercept"]()
    model = smg.mixedglm(formula, df, family=family)
    calls = []
    real = IterationWatch.seen

    def spy(self, *a):
        calls.append(1)
        return real(self, *a)

    monkeypatch.setattr(IterationWatch, "seen", spy)
    res = _fit(model)
    assert res.mle_retvals["function_evaluations"] == len(calls)
    assert len(calls) >= res.mle_retvals["iterations"]


def test_iteration_watch_stops_at_the_first_small_gain():
    # objective x^2, log-likelihood -10 x^2: gains 7.5, then 0.00999 < 0.05
    f = lambda xs: (float(xs @ xs), 2 * xs)  # noqa: E731
    w = IterationWatch(f, scale=10.0, gain=0.05)
    w.start(handover=True)
    w(np.array([1.0]))
    w(np.array([0.5]))
    with pytest.raises(HandOver) as e:
        w(np.array([0.49995]))
    assert e.value.nit == 3 and e.value.val == pytest.approx(0.49995 ** 2)
    np.testing.assert_array_equal(e.value.xs, [0.49995])
    w.start(handover=False)  # not armed: never stops, and counts from one again
    for x in (1.0, 0.5, 0.49995, 0.49995):
        w(np.array([x]))
    assert w.k == 4


def test_iteration_watch_hands_over_when_a_standard_deviation_shrinks_towards_zero():
    # the objective falls by 2 (or 0.5) per iteration, above the gain threshold; the
    # watched size is the first coordinate
    seen = []

    def run(path, gains_small=False, watched=lambda xs: np.abs(xs[:1])):
        w = IterationWatch(lambda xs: (float(-(0.5 if gains_small else 2.0) * len(seen)),
                                       np.zeros(2)), scale=1.0, gain=1e-3, watched=watched)
        w.start(handover=True)
        seen.clear()
        for k, a in enumerate(path):
            seen.append(a)
            try:
                w(np.array([a, 1.0]))
            except HandOver as h:
                return k, w.reason, h
        return None, None, None

    # shrinking twice below 0.1, while an iteration gains 2 (above TOWARD_ZERO_GAIN = 1)
    assert run([0.3, 0.08, 0.05, 0.03])[0] is None
    # the same path gaining 0.5 per iteration: handed over once it shrank twice below 0.1
    k, reason, h = run([0.3, 0.08, 0.05, 0.03], gains_small=True)
    assert k == 2 and "shrinking towards zero" in reason
    np.testing.assert_array_equal(h.xs, [0.05, 1.0])
    # a size that grows again, or stays above 0.1, or is not watched: no hand-over
    assert run([0.09, 0.05, 0.06, 0.07], gains_small=True)[0] is None
    assert run([0.5, 0.3, 0.2, 0.15], gains_small=True)[0] is None
    assert run([0.3, 0.08, 0.05, 0.03], gains_small=True, watched=None)[0] is None


def _crawling_slope():
    # binary random slope whose variance is estimated at zero, approached slowly by the
    # quasi-Newton search (the panel benchmark's simulation, 1,000 persons x 3 waves)
    df = smg.simulate_longitudinal("binary", n_persons=1000, n_waves=3, sd=(0.1, 0.025),
                                   corr=0.0, seed=4008)
    return smg.mixedglm("y ~ time * group + stress + (1 + time | id)", df, family=B)


def test_the_hand_over_towards_zero_gives_the_same_answer_sooner(monkeypatch):
    model = _crawling_slope()
    res = _fit(model)
    assert "shrinking towards zero" in res.mle_retvals["message"]
    monkeypatch.setattr(callback, "TOWARD_ZERO_FROM", 0.0)
    ref = _fit(model)
    assert "shrinking towards zero" not in ref.mle_retvals["message"]
    assert res.mle_retvals["function_evaluations"] < ref.mle_retvals["function_evaluations"]
    assert_same_fit(res, ref)
