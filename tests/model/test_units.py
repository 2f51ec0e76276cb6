"""
Fits do not depend on the units of the covariates.

Multiplying a covariate by ``s`` divides its coefficient (and standard error)
by ``s`` and changes nothing else: the log-likelihood, the other estimates and
the random-effect variances of a random intercept are unchanged; a random
slope's variance scales by ``1 / s**2``.  Checked for every family under
Laplace and adaptive quadrature.
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg

FAMILIES = {
    "binomial": ("binary", sm.families.Binomial(), None),
    "poisson": ("poisson", sm.families.Poisson(), None),
    "negbin": ("negbin", smg.families.NegativeBinomial(), None),
    "zip": ("zip", sm.families.Poisson(), "~1"),
    "ordinal": ("ordinal", smg.families.Ordinal(), None),
}


def _fit(df, family, zi, formula, nagq):
    kw = {"zi_formula": zi} if zi else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smg.mixedglm(formula, df, family=family, **kw).fit(nagq=nagq)


def _mapped(res, var, s):
    """Parameters and SEs in the units of the unscaled covariate."""
    p, se = res.params.copy(), res.bse.copy()
    for name in p.index:
        if name == var:
            p[name] *= s
            se[name] *= s
        elif name.endswith(f"{var} Var"):
            p[name] *= s * s
            se[name] *= s * s
        elif f"x {var} Cov" in name:
            p[name] *= s
            se[name] *= s
    return p, se


@pytest.mark.parametrize("nagq", [1, 5])
@pytest.mark.parametrize("fam", sorted(FAMILIES))
@pytest.mark.parametrize("s", [1e-4, 1e4])
def test_covariate_units_do_not_change_the_fit(fam, nagq, s):
    kind, family, zi = FAMILIES[fam]
    df = smg.simulate_longitudinal(kind, n_persons=120, seed=21)
    formula = "y ~ time + stress + (1 | id)"
    ref = _fit(df, family, zi, formula, nagq)
    res = _fit(df.assign(stress=df["stress"] / s), family, zi, formula, nagq)
    assert res.converged and ref.converged
    assert res.llf == pytest.approx(ref.llf, abs=1e-6)
    p, se = _mapped(res, "stress", 1 / s)
    np.testing.assert_allclose(p, ref.params, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(se, ref.bse, rtol=1e-3)


@pytest.mark.parametrize("fam", ["binomial", "poisson", "negbin"])
@pytest.mark.parametrize("s", [1e-4, 1e4])
def test_random_slope_units_do_not_change_the_fit(fam, s):
    kind, family, zi = FAMILIES[fam]
    df = smg.simulate_longitudinal(kind, n_persons=150, seed=5)
    formula = "y ~ time + stress + (1 + time | id)"
    ref = _fit(df, family, zi, formula, 1)
    res = _fit(df.assign(time=df["time"] / s), family, zi, formula, 1)
    assert res.converged and ref.converged
    assert res.llf == pytest.approx(ref.llf, abs=1e-6)
    p, se = _mapped(res, "time", 1 / s)
    np.testing.assert_allclose(p, ref.params, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(se, ref.bse, rtol=2e-3)


def test_gaussian_units():
    df = smg.simulate_longitudinal("poisson", n_persons=100, seed=3)
    df["y"] = np.log1p(df["y"])
    g = sm.families.Gaussian()
    ref = _fit(df, g, None, "y ~ time + stress + (1 | id)", 1)
    res = _fit(df.assign(stress=df["stress"] * 1e4), g, None, "y ~ time + stress + (1 | id)", 1)
    assert res.llf == pytest.approx(ref.llf, abs=1e-6)
    p, _ = _mapped(res, "stress", 1e4)
    np.testing.assert_allclose(p, ref.params, rtol=1e-5)


def test_shifted_time_origin():
    """Calendar years instead of 0-based waves: a shift of the covariate, same model."""
    df = smg.simulate_longitudinal("binary", n_persons=150, seed=2)
    ref = _fit(df, sm.families.Binomial(), None, "y ~ time * group + (1 | id)", 1)
    res = _fit(df.assign(time=df["time"] + 2010), sm.families.Binomial(), None,
               "y ~ time * group + (1 | id)", 1)
    assert res.converged
    assert res.llf == pytest.approx(ref.llf, abs=1e-6)
    np.testing.assert_allclose(res.params["time"], ref.params["time"], rtol=1e-5)
    np.testing.assert_allclose(res.params["id Intercept Var"], ref.params["id Intercept Var"],
                               rtol=1e-5)
