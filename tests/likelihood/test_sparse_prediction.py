"""
The first-order prediction of the joint modes of several grouping factors from the
state of nearby parameters: second-order accurate, only a starting point (the fit
is the same without it), and it saves Newton steps where the parameters move little.
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
import statsmodels_glmm.likelihood.sparse_laplace as sl
from statsmodels_glmm.model.fitting import WarmStart

from conftest import load_dataset

CASES = {
    "crossed binary (VerbAgg)": ("VerbAgg", "r2 ~ Anger + Gender + btype + (1 | id) + (1 | item)",
                                 sm.families.Binomial()),
    "nested Poisson (grouseticks)": ("grouseticks",
                                     "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | LOCATION)",
                                     sm.families.Poisson()),
}


def _model(case):
    name, formula, family = CASES[case]
    return smg.mixedglm(formula, load_dataset(name), family=family)


def _fit(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit()


@pytest.mark.parametrize("case", list(CASES))
def test_prediction_error_is_second_order(case):
    model = _model(case)
    res = _fit(model)
    x = np.asarray(res.mle_retvals["internal_params"], dtype=float)
    pr = model.sparse_problem()
    _, _, st = model.loglike_internal(x, warm=WarmStart())
    # a random direction in the optimiser's units (centred, scaled columns)
    direction = model._scaling()[0] @ np.random.default_rng(0).normal(size=len(x))
    errors = []
    for step in (1e-3, 1e-4):
        beta, theta, extra = model._split(x + step * direction)
        Ls = [t.cov.chol(th) for t, th in zip(pr.terms, sl.split_thetas(pr.terms, theta))]
        rm = pr.row_matrix(pr.m_rows(Ls))
        pred = sl.predicted_modes(pr, st, pr.X @ beta + pr.offset, rm)
        exact = sl.solve_sparse_modes(pr, model.response, beta, Ls, extra)[0]
        errors.append((np.abs(pred - exact).max(), np.abs(st.u - exact).max()))
    (e1, m1), (e2, m2) = errors
    # the modes move in proportion to the step; the prediction's error by its square
    assert m2 == pytest.approx(m1 / 10, rel=0.2)
    assert e1 < 0.1 * m1 and e2 < 0.01 * m2
    assert e2 == pytest.approx(e1 / 100, rel=0.5)


@pytest.mark.parametrize("case", list(CASES))
def test_fit_is_the_same_without_the_prediction(case, monkeypatch):
    model = _model(case)
    res = _fit(model)
    monkeypatch.setattr(sl, "usable_state", lambda pr, prev: False)
    other = _fit(_model(case))
    assert res.llf == pytest.approx(other.llf, abs=1e-9)
    np.testing.assert_allclose(res.params, other.params, rtol=0, atol=1e-7 * res.bse.max())
    np.testing.assert_allclose(res.bse, other.bse, rtol=1e-6)


def test_hessian_columns_start_at_the_prediction(monkeypatch):
    # each difference column moves one parameter by about 1e-5: from the predicted
    # modes one Newton step at most is left (two or more without the prediction)
    model = _model("crossed binary (VerbAgg)")
    x = np.asarray(_fit(model).mle_retvals["internal_params"], dtype=float)
    steps = []
    solve = sl.solve_sparse_modes

    def counted(*args, **kwargs):
        out = solve(*args, **kwargs)
        steps.append(out[7])
        return out

    def hessian_steps():
        warm = WarmStart()
        model.loglike_internal(x, gradient=True, warm=warm)
        steps.clear()
        model.hessian_internal(x, warm=warm)
        return list(steps)

    monkeypatch.setattr(sl, "solve_sparse_modes", counted)
    predicted = hessian_steps()
    monkeypatch.setattr(sl, "usable_state", lambda pr, prev: False)
    plain = hessian_steps()
    assert len(predicted) == len(plain) > 0
    # iterations count the final convergence check: 2 is one Newton step
    assert max(predicted) <= 2 and min(plain) >= 3
    assert sum(predicted) < sum(plain)
