"""
The Newton polish's rule for keeping its Hessian: a step taken with an older Hessian
that shrinks the gradient little is followed by a Hessian at the new point, so that the
steps converge quadratically instead of linearly.
"""

import warnings

import numpy as np
import statsmodels.api as sm

import statsmodels_glmm.api as smg
import statsmodels_glmm.model.fitting as fitting
from statsmodels_glmm.model.glmm import MixedGLM


def _fit(model, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(**kw)


def _binary_slope():
    return (smg.simulate_longitudinal("binary", n_persons=300, seed=4),
            "y ~ time * group + (1 + time | id)", sm.families.Binomial())


def _far_start(model):
    """The fit's internal estimates and standard errors, and a start half a standard
    error from them in every parameter (alternating in sign)."""
    res = _fit(model)
    x_hat = np.asarray(res.mle_retvals["internal_params"])
    se = np.sqrt(np.diag(np.linalg.inv(-res.mle_retvals["hessian"])))
    return res, x_hat + 0.5 * se * np.where(np.arange(len(x_hat)) % 2, 1.0, -1.0)


def _moved(model, x, res):
    return np.max(np.abs(model.to_public(x) - np.asarray(res.params)) / np.asarray(res.bse))


def test_the_polish_takes_a_new_hessian_when_a_chord_step_shrinks_the_gradient_little(
        monkeypatch):
    # the polish from a point well short of the maximum: after every step taken with an
    # older Hessian that shrank the largest scaled gradient to more than CHORD_SHRINK of
    # what it was, the next step has a Hessian of its own
    df, formula, family = _binary_slope()
    model = smg.mixedglm(formula, df, family=family)
    res, start = _far_start(model)
    T = model._scaling()[0]
    events, inside = [], [False]
    real_h, real_l = MixedGLM._difference_hessian, MixedGLM.loglike_internal

    def hess(self, x, *a, **k):
        events.append(("H", np.array(x)))
        inside[0] = True
        try:
            return real_h(self, x, *a, **k)
        finally:
            inside[0] = False

    def llf(self, x, nagq=1, gradient=False, **k):
        out = real_l(self, x, nagq, gradient=gradient, **k)
        if gradient and not inside[0]:
            events.append(("g", np.array(x), float(out[0]),
                           float(np.max(np.abs(T.T @ out[1])))))
        return out

    monkeypatch.setattr(MixedGLM, "_difference_hessian", hess)
    monkeypatch.setattr(MixedGLM, "loglike_internal", llf)
    x, ok, _ = model._polish(start, 1, model._bounds(), steps=30)
    monkeypatch.undo()
    assert ok and _moved(model, x, res) < 1e-5
    # the points the polish moved to (a trial is kept when the log-likelihood does not
    # fall), and whether a Hessian was taken at each
    points, best = [], -np.inf
    for e in events:
        if e[0] == "g" and e[2] >= best - 1e-10 and \
                not any(np.array_equal(e[1], p[1]) for p in points):
            points.append(e)
            best = e[2]
    hessian_at = [e[1] for e in events if e[0] == "H"]
    fresh = [any(np.array_equal(p[1], h) for h in hessian_at) for p in points]
    due = 0
    for k in range(1, len(points) - 1):
        if not fresh[k - 1] and points[k][3] > fitting.CHORD_SHRINK * points[k - 1][3]:
            due += 1
            assert fresh[k], f"point {k}: a Hessian was due there"
    assert due >= 1  # the rule was exercised


def test_without_the_rule_the_polish_converges_linearly(monkeypatch):
    # the same polish with the rule switched off keeps its first Hessian while steps
    # improve: it reaches the same maximum, but only after many times the steps
    df, formula, family = _binary_slope()
    model = smg.mixedglm(formula, df, family=family)
    res, start = _far_start(model)
    counts = {}
    real_h, real_l = MixedGLM._difference_hessian, MixedGLM.loglike_internal
    for shrink in (fitting.CHORD_SHRINK, np.inf):
        n = {"hessians": 0, "steps": 0}
        inside = [False]

        def hess(self, *a, **k):
            n["hessians"] += 1
            inside[0] = True
            try:
                return real_h(self, *a, **k)
            finally:
                inside[0] = False

        def llf(self, x, nagq=1, gradient=False, **k):
            n["steps"] += bool(gradient and not inside[0])
            return real_l(self, x, nagq, gradient=gradient, **k)

        monkeypatch.setattr(MixedGLM, "_difference_hessian", hess)
        monkeypatch.setattr(MixedGLM, "loglike_internal", llf)
        monkeypatch.setattr(fitting, "CHORD_SHRINK", shrink)
        x, ok, _ = model._polish(start, 1, model._bounds(), steps=200)
        monkeypatch.undo()
        counts[shrink] = n
        assert ok and _moved(model, x, res) < 1e-4
    on, off = counts[fitting.CHORD_SHRINK], counts[np.inf]
    assert off["hessians"] == 1 < on["hessians"]
    assert off["steps"] > 3 * on["steps"]


def test_a_weakly_identified_fit_ends_with_the_newton_steps_after_the_hand_over():
    # 500 persons with 3 binary rows each and a random-intercept SD of 0.3 (a panel design
    # of the benchmarks): the Newton steps converge linearly here and reach the rounding
    # floor with the polish's last allowed step; that point is the answer, not the start
    # of a further search (which took some 40 more evaluations)
    df = smg.simulate_longitudinal("binary", n_persons=500, n_waves=3, sd=(0.3, 0.0),
                                   corr=0.0, seed=3503)
    res = _fit(smg.mixedglm("y ~ time * group + stress + (1 | id)", df,
                            family=sm.families.Binomial()))
    assert res.converged
    assert res.mle_retvals["message"].startswith("an iteration gained under")
    assert res.mle_retvals["function_evaluations"] <= 15
    assert res.mle_retvals["newton_decrement"] < 1e-10
