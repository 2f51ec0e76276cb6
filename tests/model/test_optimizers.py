"""fit(method=...): every optimiser reaches the same maximum; failed fits retry."""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import ConvergenceWarning

import statsmodels_glmm.api as smg

B = sm.families.Binomial()


@pytest.fixture(scope="module")
def df():
    return smg.simulate_longitudinal("binary", n_persons=200, seed=1)


@pytest.mark.parametrize("method", ["bfgs", "newton", "nm"])
def test_every_optimiser_reaches_the_same_maximum(df, method):
    f = "y ~ time + group + (1 + time | id)"
    ref = smg.mixedglm(f, df, family=B).fit()
    res = smg.mixedglm(f, df, family=B).fit(method=method)
    assert res.converged
    assert res.llf == pytest.approx(ref.llf, abs=1e-6)
    np.testing.assert_allclose(res.params, ref.params, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", ["lbfgs", "bfgs", "newton", "nm"])
def test_bounded_family_parameter(method):
    d = smg.simulate_longitudinal("negbin", n_persons=100, seed=1)
    ref = smg.mixedglm("y ~ time + (1 | id)", d, family=smg.families.NegativeBinomial()).fit()
    res = smg.mixedglm("y ~ time + (1 | id)", d, family=smg.families.NegativeBinomial()).fit(
        method=method)
    assert res.converged and res.llf == pytest.approx(ref.llf, abs=1e-6)


def test_failed_fit_retries_with_other_optimisers(df):
    m = smg.mixedglm("y ~ time + group + (1 + time | id)", df, family=B)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        res = m.fit(maxiter=1, polish=False)
    tried = [a["method"] for a in res.mle_retvals["attempts"]]
    assert tried[0] == "lbfgs" and len(tried) > 1
    assert not res.mle_retvals["attempts"][0]["converged"]
    assert res.converged
    assert res.llf == pytest.approx(m.fit().llf, abs=1e-6)
    assert "tried in turn" in str(res.summary()).replace("\n", " ")


def test_no_retry_keeps_the_failed_fit(df):
    m = smg.mixedglm("y ~ time + group + (1 + time | id)", df, family=B)
    with pytest.warns(ConvergenceWarning):
        res = m.fit(maxiter=1, polish=False, retry=False)
    assert not res.converged and len(res.mle_retvals["attempts"]) == 1


def test_unknown_method(df):
    with pytest.raises(ValueError, match="method"):
        smg.mixedglm("y ~ time + (1 | id)", df, family=B).fit(method="cg")


def test_rules_of_thumb_in_the_summary():
    d = smg.simulate_longitudinal("binary", n_persons=60, seed=1)
    res = smg.mixedglm("y ~ time + (1 + time | id)", d, family=B).fit()
    text = str(res.summary()).replace("\n", " ")
    assert "Only 60 groups of 'id'" in text and "about 100 groups" in text
    d["t2"] = d["id"] * 1.0 + 0.01 * d["time"]  # nearly constant within persons
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm("y ~ time + (1 + t2 | id)", d, family=B).fit()
    assert any("Little variation of 't2'" in n for n in res._design_notes())
    big = smg.simulate_longitudinal("binary", n_persons=120, seed=2)
    r2 = smg.mixedglm("y ~ time + (1 | id)", big, family=B).fit()
    assert not r2._design_notes()
