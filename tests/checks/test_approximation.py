"""check_approximation: Laplace versus adaptive quadrature, with a plain verdict."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import special

from statsmodels_glmm.checks.approximation import ApproximationCheck, check_approximation
from statsmodels_glmm.model import MixedGLM
import statsmodels_glmm.api as smg

from conftest import load_dataset, load_ref

CBPP = "incidence + non_incidence ~ period + (1 | herd)"
TOENAIL_RI = "outcome_bin ~ treatment * time + (1 | patientID)"
TOENAIL_RS = "outcome_bin ~ treatment * time + (1 + time | patientID)"


def _fit(dataset, formula, nagq=1):
    m = MixedGLM.from_formula(formula, load_dataset(dataset), family=sm.families.Binomial())
    return m.fit(nagq=nagq)


def test_cbpp_laplace_is_adequate():
    res = _fit("cbpp", CBPP)
    chk = res.check_approximation(nagq=(1, 5, 10, 20), refit=True)
    assert isinstance(chk, ApproximationCheck)
    assert chk.verdict.startswith("Laplace is adequate")
    assert chk.settled and chk.recommended_nagq == 1
    # the rows are real fits: compare with lme4 Laplace and nAGQ=10
    assert abs(chk.table.loc[1, "llf"] - load_ref("cbpp__tmb_ri")["logLik"]) < 1e-3
    assert abs(chk.table.loc[10, "llf"] - load_ref("cbpp__glmer_agq10")["logLik_full"]) < 1e-3
    assert abs(chk.table.loc[1, "llf"] - res.llf) < 1e-8
    assert chk.table.loc[20, "d_llf"] == 0.0


def test_toenail_scalar_needs_many_nodes():
    res = _fit("toenail", TOENAIL_RI)
    chk = check_approximation(res, refit=True)
    assert chk.verdict.startswith("use nagq=25")
    assert chk.recommended_nagq == 25
    ref = load_ref("toenail__glmer_ri_agq25")
    assert abs(chk.table.loc[25, "llf"] - ref["logLik_full"]) < 1e-3
    assert abs(chk.table.loc[25, "Intercept"] - ref["fixed_effects"][0]["estimate"]) < 2e-3
    # Laplace is far off: glmmTMB's Laplace and lme4's 25-node values differ by 2.4
    lap = load_ref("toenail__tmb_ri")["logLik"]
    assert abs(chk.table.loc[1, "llf"] - lap) < 1e-3
    assert chk.table.loc[1, "d_llf"] < -2


def _grid_loglike(model, internal, half_width=8.0, npts=201):
    """Marginal log-likelihood of a binary random-slope model on a fixed grid (plain numpy)."""
    d = model.design
    beta, theta, _ = model._split(internal)
    L = model.cov_struct.chol(theta)
    eta0 = d.X @ beta + d.offset
    y = d.y[:, 0]
    g1 = np.linspace(-half_width, half_width, npts)
    h = g1[1] - g1[0]
    U = np.stack(np.meshgrid(g1, g1, indexing="ij"), -1).reshape(-1, 2)
    lp = -0.5 * (U ** 2).sum(1) - np.log(2 * np.pi) + 2 * np.log(h)
    B = U @ L.T
    ends = np.append(d.starts[1:], d.nobs)
    total = 0.0
    for a, b in zip(d.starts, ends):  # test helper, not a hot path
        eta = eta0[a:b, None] + d.Z[a:b] @ B.T
        total += special.logsumexp((y[a:b, None] * eta - np.logaddexp(0, eta)).sum(0) + lp)
    return total


def test_random_slopes_recommends_a_rule_that_matches_the_integral():
    res = _fit("sim_binary_small", "y ~ time * group + stress + (1 + time | id)")
    chk = res.check_approximation(nagq=(1, 3, 5, 7, 9, 11), refit=True)
    assert chk.settled
    K = chk.recommended_nagq
    assert K > 1 and chk.verdict.startswith(f"use nagq={K}")
    # independent: at the recommended rule's estimates its llf equals the dense-grid
    # integral within the check's tolerance, while Laplace's does not
    refit = res.model.fit(nagq=K)
    x = refit.mle_retvals["internal_params"]
    grid = _grid_loglike(refit.model, x)
    assert abs(chk.table.loc[K, "llf"] - grid) < 0.05
    xl = res.mle_retvals["internal_params"]
    assert abs(res.llf - _grid_loglike(res.model, xl)) > 1.0
    # parameter changes are reported in SE units relative to the largest rule
    assert chk.changes.shape == (6, len(res.params))
    np.testing.assert_allclose(chk.changes.loc[11], 0.0)


def test_toenail_random_slopes_is_not_settled():
    res = _fit("toenail", TOENAIL_RS)
    chk = res.check_approximation(nagq=(1, 3, 5, 7, 9, 11))
    assert not chk.settled and chk.recommended_nagq is None
    assert chk.verdict.startswith("not settled as K grows")
    assert "Verdict: not settled as K grows" in chk.summary()
    assert "not settled" in repr(chk)


@pytest.mark.slow
def test_toenail_random_slopes_dense_grid_value():
    res = _fit("toenail", TOENAIL_RS)
    x = res.mle_retvals["internal_params"]
    grid = _grid_loglike(res.model, x, half_width=12.0, npts=401)
    # Laplace reports about -491.3; the integral is about -616.6
    assert abs(res.llf - (-491.3153)) < 1e-2
    assert abs(grid - (-616.626)) < 5e-3


def test_bad_arguments():
    res = _fit("cbpp", CBPP)
    with pytest.raises(ValueError, match="at least two"):
        res.check_approximation(nagq=(5,))
    with pytest.raises(ValueError, match="positive"):
        res.check_approximation(nagq=(0, 5))
    with pytest.raises(ValueError, match="nagq"):
        res.check_approximation(nagq="many")
    with pytest.raises(ValueError, match="tol_llf"):
        res.check_approximation(tol_llf=0)
    rs = _fit("sim_binary_small", "y ~ time + (1 + time | id)")
    with pytest.raises(ValueError, match="fewer nodes"):
        rs.check_approximation(nagq=(1, 80))


def test_quick_check_judges_by_loglikelihood():
    """Without refitting, one Newton step can overshoot when Laplace is far off; the
    quick verdict must rest on the log-likelihoods, which do settle here."""
    df = smg.simulate_longitudinal("binary", n_persons=400, seed=2024)
    res = smg.mixedglm("y ~ time * group + stress + (1 + time | id)", df,
                       family=sm.families.Binomial()).fit()
    quick = res.check_approximation(refit=False)
    assert quick.settled
    assert quick.recommended_nagq in (5, 7, 9)
    d = quick.table["d_llf"]
    # the K-point rule at fixed estimates, against an independent larger rule
    assert abs(d.loc[quick.recommended_nagq]) <= 0.05
    assert d.loc[1] < -5  # Laplace is far off on these data
