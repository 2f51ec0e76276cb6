"""
The Newton steps of a fit may use an approximate fixed-effects block of the Hessian:
where its closed form is not available (several grouping factors with more effects
than the closed form handles: the joint-mode curvature; adaptive quadrature: the
Laplace block at the same point), and with several grouping factors always (the
joint-mode curvature, where the closed form would invert H densely).  The fit then
reaches the same optimum with fewer gradients or fewer closed forms, and the
standard errors still come from the exact Hessian.
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
import statsmodels_glmm.likelihood.sparse_laplace_hessian as slh
from statsmodels_glmm.model.glmm import MixedGLM

from conftest import assert_same_fit, fit_with_and_without, load_dataset


def _fit(model, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(**kw)


def _verbagg():
    # 316 persons x 24 items, crossed: 340 random effects, above the closed form's limit
    df = load_dataset("VerbAgg")
    return smg.mixedglm("r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", df,
                        family=sm.families.Binomial())


def _panel(kind, re):
    df = smg.simulate_longitudinal(kind, n_persons=400, n_waves=5, sd=(1.0, 0.3), seed=11)
    family = sm.families.Binomial() if kind == "binary" else sm.families.Poisson()
    random = "(1 | id)" if re == "RI" else "(1 + time | id)"
    return smg.mixedglm(f"y ~ time * group + {random}", df, family=family)


CASES = {
    "crossed binary, 340 effects": (_verbagg, 1),
    "binary random intercept, 9 nodes": (lambda: _panel("binary", "RI"), 9),
    "Poisson random slope, 5 x 5 nodes": (lambda: _panel("poisson", "RS"), 5),
}


def _counting(monkeypatch):
    """Count the gradients the fit evaluates (repeated points answered from the cache
    are not counted) and the exact Hessians the polish takes."""
    counts = {"gradients": 0, "exact": 0}
    real_l, real_h = MixedGLM.loglike_internal, MixedGLM.hessian_internal

    def llf(self, x, nagq=1, gradient=False, warm=None):
        last = getattr(warm, "last", None)
        cached = (last is not None and last[0] == nagq and np.array_equal(last[1], x)
                  and (last[3] is not None or not gradient))
        counts["gradients"] += bool(gradient and not cached)
        return real_l(self, x, nagq, gradient, warm)

    def hess(self, *a, **k):
        counts["exact"] += 1
        return real_h(self, *a, **k)

    monkeypatch.setattr(MixedGLM, "loglike_internal", llf)
    monkeypatch.setattr(MixedGLM, "hessian_internal", hess)
    return counts


def test_the_joint_mode_curvature_is_close_to_the_exact_block():
    # VerbAgg has 24 rows per person and 316 per item: the terms the approximation
    # leaves out (derivatives of log det H) are a few per cent of the block
    model = _verbagg()
    res = _fit(model)
    x = res.mle_retvals["internal_params"]
    _, _, state = model.loglike_internal(x, 1)
    beta, theta, extra = model._split(x)
    pr = model.sparse_problem()
    exact = slh.sparse_beta_hessian(pr, model.response, beta, theta, extra, state,
                                    max_effects=10 ** 6)
    approx = slh.joint_mode_curvature(pr, state)
    rel = np.linalg.norm(approx - exact) / np.linalg.norm(exact)
    assert 1e-4 < rel < 0.05
    # a curvature: negative definite
    assert np.all(np.linalg.eigvalsh(approx) < 0)


@pytest.mark.parametrize("case", list(CASES))
def test_the_approximate_block_reaches_the_same_optimum_with_fewer_gradients(monkeypatch,
                                                                            case):
    make, nagq = CASES[case]
    model = make()
    counts = _counting(monkeypatch)
    res, on, ref, off = fit_with_and_without(monkeypatch, model, counts, MixedGLM,
                                             "_approximate_beta_hessian",
                                             lambda *a, **k: None, nagq=nagq)
    assert_same_fit(res, ref, llf_tol=1e-8, se_tol=1e-6)
    # each Hessian of the polish saves one gradient per fixed effect
    assert on["gradients"] <= off["gradients"] - model.k_fe + 1
    # the standard errors come from the exact Hessian at the reported point
    x = res.mle_retvals["internal_params"]
    monkeypatch.undo()
    again = model.hessian_internal(x, nagq)
    np.testing.assert_allclose(res.mle_retvals["hessian"], again, rtol=1e-6,
                               atol=1e-8 * np.abs(again).max())


def test_a_poor_approximation_gives_way_to_the_exact_hessian(monkeypatch):
    # an approximate block four times too large: its steps are a quarter of Newton's, the
    # gradient shrinks too little, and the polish goes on with exact Hessians
    model = _panel("binary", "RI")
    ref = _fit(model, nagq=9)
    real = MixedGLM._beta_hessian

    def poor(self, internal, nagq, warm):
        return 4.0 * real(self, internal, 1, warm)

    counts = _counting(monkeypatch)
    monkeypatch.setattr(MixedGLM, "_approximate_beta_hessian", poor)
    res = _fit(model, nagq=9)
    assert_same_fit(res, ref, llf_tol=1e-8, se_tol=1e-6)
    # the results' Hessian is one exact Hessian; the polish took at least one more
    assert counts["exact"] >= 2


def test_several_factors_take_the_closed_form_once_for_the_standard_errors(monkeypatch):
    # grouseticks: 118 broods and 63 locations, 181 effects, within the closed form's
    # limit; the polish's Newton steps use the joint-mode curvature, and the closed
    # form is computed once, at the reported point, for the standard errors
    df = load_dataset("grouseticks")
    model = smg.mixedglm("TICKS ~ C(YEAR) + HEIGHT + (1 | BROOD) + (1 | LOCATION)", df,
                         family=sm.families.Poisson())
    assert model.sparse_problem().n_effects == 181 <= slh.MAX_EFFECTS
    calls = {"closed": 0}
    real = slh.sparse_beta_hessian

    def counted(*a, **k):
        calls["closed"] += 1
        return real(*a, **k)

    monkeypatch.setattr(slh, "sparse_beta_hessian", counted)
    res, on, ref, off = fit_with_and_without(monkeypatch, model, calls, MixedGLM,
                                             "_approximate_beta_hessian",
                                             lambda *a, **k: None)
    assert_same_fit(res, ref, llf_tol=1e-8, se_tol=1e-6)
    assert on["closed"] == 1 and off["closed"] >= 2
    # the polish's curvature is the joint-mode one (not exact) ...
    x = res.mle_retvals["internal_params"]
    monkeypatch.undo()
    free = model._free_mask(x, model._bounds())
    assert free.all()  # no variance on its bound: every column is a Newton direction
    H, exact = model._newton_hessian(x, 1, free, None, None)
    _, _, state = model.loglike_internal(x, 1)
    p = model.k_fe
    assert not exact
    np.testing.assert_array_equal(H[:p, :p], slh.joint_mode_curvature(model.sparse_problem(),
                                                                      state))
    # ... and the standard errors come from the exact one at the reported point
    np.testing.assert_allclose(res.mle_retvals["hessian"], model.hessian_internal(x, 1),
                               rtol=1e-6, atol=1e-8 * np.abs(res.mle_retvals["hessian"]).max())
