"""The accuracy guard that runs after every Laplace fit."""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.checks.approximation import guard_threshold
from statsmodels_glmm.exceptions import LaplaceAccuracyWarning

from conftest import load_dataset

B = sm.families.Binomial()


def test_badly_wrong_laplace_fit_is_flagged():
    """toenail with a random slope: Laplace overstates the likelihood by about 80."""
    toe = load_dataset("toenail")
    with pytest.warns(LaplaceAccuracyWarning, match="check_approximation"):
        res = smg.mixedglm("outcome ~ treatment * time + (1 + time | patientID)", toe,
                           family=B).fit()
    g = res.mle_retvals["laplace_check"]
    assert g["flagged"] and g["nagq"] == 3
    # the guard's value is the 3 x 3-node quadrature log-likelihood at the estimates
    assert g["llf"] == pytest.approx(res.model.loglike(res.params, nagq=3), abs=1e-8)
    assert g["difference"] == pytest.approx(g["llf"] - res.llf, abs=1e-10)
    assert g["difference"] < -50
    assert g["threshold"] == pytest.approx(1 + 0.05 * 294)
    text = str(res.summary()).replace("\n", " ")
    assert "Laplace check (AGQ-3)" in text and "large)" in text
    assert "Laplace may be inaccurate" in text


# sim_binary_small with random slopes is no longer quiet: with 4.5 observations per person
# it is binary data in the danger zone, and the guard's refit finds the variances 1.4 to
# 1.9 standard errors from the AGQ-7 ones (test_laplace_guard_refit.py)
@pytest.mark.parametrize("name, formula, family", [
    ("cbpp", "incidence + I(size - incidence) ~ period + (1 | herd)", B),
    ("sim_poisson_small", "y ~ time * group + stress + (1 + time | id)",
     sm.families.Poisson()),
])
def test_ordinary_fits_pass_quietly(name, formula, family):
    df = load_dataset(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LaplaceAccuracyWarning)
        res = smg.mixedglm(formula, df, family=family).fit()
    g = res.mle_retvals["laplace_check"]
    assert not g["flagged"]
    assert abs(g["difference"]) <= guard_threshold(res.n_groups)
    assert g["llf"] == pytest.approx(res.model.loglike(res.params, nagq=g["nagq"]), abs=1e-8)
    assert f"(tol. {g['threshold']:.1f})" in str(res.summary())


def test_guard_can_be_turned_off_and_skips_where_laplace_is_exact():
    df = smg.simulate_longitudinal("binary", n_persons=50, seed=1)
    res = smg.mixedglm("y ~ time + (1 | id)", df, family=B).fit(check_laplace=False)
    assert res.mle_retvals["laplace_check"] is None
    assert "Laplace check" not in str(res.summary())
    q = smg.mixedglm("y ~ time + (1 | id)", df, family=B).fit(nagq=5)
    assert q.mle_retvals["laplace_check"] is None
    df["z"] = np.log1p(df["stress"] ** 2)
    g = smg.mixedglm("z ~ time + (1 | id)", df, family=sm.families.Gaussian()).fit()
    assert g.mle_retvals["laplace_check"] is None


def test_three_random_effects_use_a_three_node_rule():
    df = smg.simulate_longitudinal("poisson", n_persons=80, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm("y ~ time + stress + (1 + time + stress | id)", df,
                           family=sm.families.Poisson()).fit()
    g = res.mle_retvals["laplace_check"]
    assert g["nagq"] == 3
    assert g["llf"] == pytest.approx(res.model.loglike(res.params, nagq=3), abs=1e-8)


def test_compare_flags_doubtful_laplace_fits():
    toe = load_dataset("toenail")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ri = smg.mixedglm("outcome ~ treatment * time + (1 | patientID)", toe, family=B).fit()
        rs = smg.mixedglm("outcome ~ treatment * time + (1 + time | patientID)", toe,
                          family=B).fit()
    with pytest.warns(LaplaceAccuracyWarning, match="model 2"):
        tab = smg.compare(ri, rs)
    assert tab["Laplace check"].iloc[1].endswith("large")
    # the random-intercept fit is doubtful too: refitted by 15-node quadrature its
    # intercept moves 1.1 standard errors (lme4's AGQ-25 fit agrees); its
    # log-likelihood difference alone stays within the tolerance
    assert tab["Laplace check"].iloc[0].endswith("large")
    g = ri.mle_retvals["laplace_check"]
    assert abs(g["difference"]) < g["threshold"] and "Intercept" in g["refit"]["moved"]
