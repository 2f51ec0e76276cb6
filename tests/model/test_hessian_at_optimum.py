"""
The standard errors are a function of the optimum only: fits that reach the same
maximum by other optimisers or from other starting values report the same standard
errors (to about 1e-7 relative; reusing a Hessian from a point short of the optimum
left differences of about 1e-4).
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg

from conftest import load_dataset

CASES = {
    "binary random slope": ("sim_binary_small", "y ~ time * group + stress + (1 + time | id)",
                            sm.families.Binomial()),
    "binomial trials": ("cbpp", "incidence + I(size - incidence) ~ period + (1 | herd)",
                        sm.families.Binomial()),
}


@pytest.mark.parametrize("case", list(CASES))
def test_standard_errors_do_not_depend_on_optimiser_or_start(case):
    name, formula, family = CASES[case]
    model = smg.mixedglm(formula, load_dataset(name), family=family)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = model.fit(check_laplace=False)
        start = np.asarray(ref.params)
        others = [model.fit(method="bfgs", check_laplace=False),
                  model.fit(start_params=start * 0.8, check_laplace=False),
                  model.fit(start_params=start * 1.2, method="newton", check_laplace=False),
                  model.fit(method="nm", check_laplace=False)]
    for res in others:
        assert res.converged
        assert res.llf == pytest.approx(ref.llf, abs=1e-9)
        np.testing.assert_allclose(res.params, ref.params, rtol=0, atol=1e-8 * ref.bse.max())
        np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-6)


def test_reported_hessian_is_the_difference_hessian_at_the_reported_point():
    name, formula, family = CASES["binary random slope"]
    model = smg.mixedglm(formula, load_dataset(name), family=family)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(check_laplace=False)
    x = res.mle_retvals["internal_params"]
    again = model.hessian_internal(x)
    np.testing.assert_allclose(res.mle_retvals["hessian"], again, rtol=1e-7,
                               atol=1e-9 * np.abs(again).max())
