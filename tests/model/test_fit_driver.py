"""
The fit driver: which optimiser attempt is reported, invariance to covariate
units, quiet floating-point conditions, progress output, and the Newton polish
where the Hessian is singular.
"""

import types
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import ConvergenceWarning

import statsmodels_glmm.api as smg
from statsmodels_glmm.families.standard import Poisson
from statsmodels_glmm.model.fitting import _LLF_TOL, _ascent_step, _choose_attempt, _disagreement

B = sm.families.Binomial()

# 9 persons with 2-3 binary rows each, nearly separated by x (drawn with P(y = 1) =
# expit(3 x)): the likelihood is flat with several maxima; from NEAR_SEPARATED_START (the
# fixed effects of the model without random effects, a variance of 1) Nelder-Mead stops at
# -3.54, short of the -2.20 that the quasi-Newton methods reach
NEAR_SEPARATED = pd.DataFrame({
    "id": [0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8],
    "x": [0.3384312766461778, -1.2602418568524327, 0.018638290983285614,
          -0.22196950708389104, -2.2767828157758307, -2.026845605910026, 0.5905681115998624,
          1.342996537380774, 0.10722707944720507, 1.0614224543758295, -0.6124917784436158,
          -0.21001015163517062, 2.0261175349217764, -1.2761124197329383, 1.7960125066302708,
          -0.3910773505445041, -0.3668597432540227, 0.438257432619766, -2.4354174163439515,
          0.16291581767584848, -0.816089756439701],
    "y": [1, 0, 0, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 0],
})
NEAR_SEPARATED_START = [1.337, 6.932, 1.0]

# 6 persons, 15 rows of a 4-category ordinal outcome, covariates in raw units: a flat
# likelihood (a random-intercept variance near 1e5) on which a start that depends on the
# units led to maxima 0.33 apart
TINY_ORDINAL = pd.DataFrame({
    "id": [0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 5, 5],
    "x": [2.84294269192276, 5.134336728651896, 6.762576600000503, -0.455343345718739,
          5.535549335101834, 5.583805134881251, 4.86977131892966, 3.598958455142071,
          8.984142983643881, 6.418950531656469, 7.849851471051439, 5.637406276477967,
          3.67093751270631, 2.890782741292906, -1.2877356411051748],
    "z": [120.05458819138927, 153.61634617952603, 154.94209278685932, 116.20403320415323,
          122.7063632416101, 53.67453889337711, 122.47797970969373, 64.81227968925128,
          77.17112307561544, 42.01783874663934, 138.28579620665982, 69.11538904422036,
          101.93417938746629, 90.42597808453195, 68.0395992478705],
    "y": [1, 1, 2, 0, 1, 1, 1, 3, 3, 3, 2, 2, 0, 0, 0],
})


# ------------------------------------------------------------- the reported attempt
def test_fit_reports_at_least_the_loglikelihood_any_optimiser_reaches():
    m = smg.mixedglm("y ~ x + (1 | id)", NEAR_SEPARATED, family=B)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = m.fit(start_params=NEAR_SEPARATED_START)
        alone = {meth: m.fit(method=meth, retry=False, start_params=NEAR_SEPARATED_START).llf
                 for meth in ("lbfgs", "bfgs", "newton", "nm")}
    assert max(alone.values()) - min(alone.values()) > 1.0  # the optimisers do disagree
    assert res.llf >= max(alone.values()) - 1e-6


def test_retry_reports_the_highest_loglikelihood_and_warns_when_optimisers_disagree():
    m = smg.mixedglm("y ~ x + (1 | id)", NEAR_SEPARATED, family=B)
    # few iterations: the quasi-Newton attempts stop unconverged (with 10 the Newton steps
    # after L-BFGS-B already converge), Nelder-Mead (not bound by maxiter) claims
    # convergence far below them
    with pytest.warns(ConvergenceWarning, match="optimisers disagree: nm at -3.54"):
        res = m.fit(maxiter=3, start_params=NEAR_SEPARATED_START)
    attempts = res.mle_retvals["attempts"]
    llf = np.array([a["llf"] for a in attempts])
    assert attempts[-1]["method"] == "nm" and attempts[-1]["converged"]
    assert attempts[-1]["llf"] < llf.max() - 1.0
    assert res.llf == llf.max() and not res.converged
    reported = [a for a in attempts if a["reported"]]
    assert len(reported) == 1 and reported[0]["llf"] == res.llf
    # the reported estimates are the ones whose log-likelihood is reported
    assert res.model.loglike(np.asarray(res.params)) == pytest.approx(res.llf, abs=1e-8)


def _attempt(llf, converged):
    return types.SimpleNamespace(llf=llf, converged=converged)


def test_choose_attempt_prefers_a_converged_attempt_within_the_tolerance():
    assert _choose_attempt([_attempt(-4.0, False), _attempt(-5.0, True)]) == 0
    tie = -4.0 - 0.5 * _LLF_TOL
    assert _choose_attempt([_attempt(-4.0, False), _attempt(tie, True),
                            _attempt(-6.0, True)]) == 1
    assert _choose_attempt([_attempt(np.nan, True), _attempt(-3.0, False)]) == 1
    assert _choose_attempt([_attempt(np.nan, False), _attempt(-np.inf, False)]) == 0


def test_disagreement_message_names_the_converged_attempt_below_the_reported_one():
    attempts = [dict(method="lbfgs", converged=False, llf=-1.25),
                dict(method="nm", converged=True, llf=-2.92)]
    text = _disagreement(attempts, 0)
    assert "nm at -2.9200" in text and "lbfgs reached a log-likelihood of -1.2500" in text
    assert "(not converged)" in text
    attempts[1]["llf"] = -1.25 - 0.5 * _LLF_TOL
    assert _disagreement(attempts, 0) is None
    attempts[1].update(converged=False, llf=-2.92)  # a failed attempt below: a normal retry
    assert _disagreement(attempts, 0) is None


# ------------------------------------------------------------- units of covariates
def _scaled(df, cols):
    out = df.copy()
    sd = {c: float(df[c].std()) for c in cols}
    for c in cols:
        out[c] = df[c] / sd[c]
    return out, sd


@pytest.mark.parametrize("case", ["ordinal", "binary"])
def test_loglikelihood_and_estimates_do_not_depend_on_covariate_units(case):
    if case == "ordinal":
        df, family, formula = TINY_ORDINAL, smg.families.Ordinal(), "y ~ x + z + (1 | id)"
        cols, slope = ["x", "z"], None
    else:
        df = smg.simulate_longitudinal("binary", n_persons=10, seed=0)
        family, formula = B, "y ~ time * group + stress + (1 + time | id)"
        cols, slope = ["time", "stress"], "time"
    scaled, sd = _scaled(df, cols)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = smg.mixedglm(formula, df, family=family).fit()
        res = smg.mixedglm(formula, scaled, family=family).fit()
    assert raw.converged and res.converged
    assert res.llf == pytest.approx(raw.llf, abs=1e-4)
    # a coefficient of x / sd is sd times that of x; a random slope's variance sd^2 times
    expect = raw.params.copy()
    for name in expect.index:
        factor = 1.0
        for c in cols:
            if name == c or name.startswith(c + ":") or name.endswith(":" + c):
                factor *= sd[c]
        if slope is not None and name.endswith("Var") and f" {slope} " in f" {name} ":
            factor = sd[slope] ** 2
        if slope is not None and name.endswith("Cov") and f" {slope} " in f" {name} ":
            factor = sd[slope]
        expect[name] *= factor
    np.testing.assert_allclose(res.params, expect, rtol=1e-3, atol=1e-5)


# ------------------------------------------------------- floating-point conditions
class _LogOfZeroPoisson(Poisson):
    """Poisson whose every evaluation also takes ``log(0)`` (a divide-by-zero condition)."""

    def derivs(self, y, eta, extra):
        np.log(np.zeros(1))
        return super().derivs(y, eta, extra)


def test_fit_passes_no_numpy_floating_point_warnings_to_the_user():
    df = smg.simulate_longitudinal("poisson", n_persons=40, seed=3)
    plain = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = smg.mixedglm("y ~ time + (1 | id)", df, family=_LogOfZeroPoisson()).fit()
        res5 = smg.mixedglm("y ~ time + (1 | id)", df, family=_LogOfZeroPoisson()).fit(nagq=5)
    assert res.converged and res5.converged
    assert res.llf == pytest.approx(plain.llf, abs=1e-10)
    # outside a fit the condition still warns: nothing was switched off for good
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        np.log(np.zeros(1))


# ------------------------------------------------------------------ progress output
@pytest.mark.parametrize("method", ["lbfgs", "bfgs"])
def test_disp_prints_progress_without_scipy_deprecation_warnings(method, capsys):
    df = smg.simulate_longitudinal("poisson", n_persons=40, seed=3)
    m = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson())
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        res = m.fit(disp=True, method=method)
    out = capsys.readouterr().out
    assert res.converged
    if method == "lbfgs":
        lines = [ln for ln in out.splitlines() if ln.startswith("iteration")]
        assert len(lines) == res.mle_retvals["iterations"]
        last = float(lines[-1].split("log-likelihood")[1].split(",")[0])
        assert last == pytest.approx(res.llf, abs=1e-3)  # before the Newton polish
    else:
        assert "Optimization terminated successfully" in out


# ----------------------------------------------------------------- the Newton polish
def test_ascent_step_is_newtons_where_the_hessian_is_negative_definite():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 4))
    H = -(A @ A.T + 4 * np.eye(4))
    g = rng.normal(size=4)
    step, newton = _ascent_step(H, g, np.diag([1.0, 2.0, 0.5, 3.0]))
    assert newton
    np.testing.assert_allclose(H @ step, -g, rtol=1e-12, atol=1e-12)


def test_ascent_step_on_a_flat_direction_is_a_short_gradient_step():
    # curvature 2 and 1 in two directions, none in the third (a separated parameter)
    H = -np.diag([2.0, 1.0, 0.0])
    g = np.array([1.0, -1.0, 1e-3])
    step, newton = _ascent_step(H, g, np.eye(3))
    assert not newton
    mu = 1e-6 * 2.0  # the raise of the eigenvalues: none negative, 1e-6 of the largest
    np.testing.assert_allclose(step, g / (np.array([2.0, 1.0, 0.0]) + mu), rtol=1e-12)
    assert g @ step > 0
    assert _ascent_step(-np.diag([-1.0, 0.0]), np.ones(2), np.eye(2)) == (None, False)


# 2 groups of an ordinal outcome that the groups' random intercepts and slopes separate
# completely: the likelihood rises towards 0 as the variances grow without bound
SEPARATED_GROUPS = pd.DataFrame({"x0": [0.821618, 0.330437, -1.303157, 0.905356, 0.446375],
                                 "y": [3, 3, 3, 2, 2], "g": [0, 0, 1, 1, 1]})


def test_a_random_effect_sd_running_off_to_infinity_is_not_called_converged():
    m = smg.mixedglm("y ~ x0 + (1 + x0 | g)", SEPARATED_GROUPS, family=smg.families.Ordinal())
    with pytest.warns(ConvergenceWarning, match="no finite estimate"):
        res = m.fit()
    assert not res.converged
    assert res.mle_retvals["diverging_sds"] == ["g Intercept", "g x0"]
    sds = np.sqrt(res.params[["g Intercept Var", "g x0 Var"]].to_numpy())
    assert np.all(sds * m.cov_struct.row_scale > 1e3)
    assert -0.5 < res.llf < 0  # the supremum is 0: every row predicted with certainty
    assert "Converged:" in str(res.summary()) and "No" in str(res.summary())


def test_a_well_identified_fit_names_no_diverging_sd():
    df = smg.simulate_longitudinal("binary", n_persons=80, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm("y ~ time + (1 + time | id)", df, family=B).fit()
    assert res.mle_retvals["diverging_sds"] == []


@pytest.mark.parametrize("formula, kw", [
    ("y ~ time + (1 | id)", {}),
    ("y ~ time + (1 | id)", {"nagq": 7}),
    ("y ~ time + (1 | id)", {"method": "bfgs"}),
    ("y ~ time + (1 | id)", {"method": "newton"}),
    ("y ~ time + (1 + time | id)", {}),
    ("y ~ time + (1 | id) + (1 | wave)", {}),
])
def test_a_fitted_model_is_freed_with_its_last_reference(formula, kw, collector_off):
    # no reference cycle keeps a fitted model (and its design's arrays) alive: with the
    # garbage collector off, the model and its results go as soon as the user drops them
    import weakref

    df = smg.simulate_longitudinal("binary", n_persons=40, seed=3)
    df["wave"] = df["time"].round().astype(int)
    m = smg.mixedglm(formula, df, family=B)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", smg.LaplaceAccuracyWarning)
        r = m.fit(**kw)
    alive = [weakref.ref(m), weakref.ref(r), weakref.ref(m.design)]
    del m, r
    assert [ref() is None for ref in alive] == [True, True, True]


@pytest.mark.parametrize("size", ["small", "large"])
def test_a_fitted_model_with_several_factors_holds_one_factorisation(size):
    # the results keep the factorisation at the optimum, and the next mode search starts
    # from it: not also the one of the Hessian's last difference column (for a large
    # design, a Schur complement's buffer and inverse)
    import gc

    from statsmodels_glmm.likelihood.dense_factor import DenseFactor
    from statsmodels_glmm.likelihood.schur import SchurFactor

    def factors():
        gc.collect()
        return [o for o in gc.get_objects() if type(o) in (DenseFactor, SchurFactor)]

    n, ni = (40, 6) if size == "small" else (300, 60)
    df = smg.simulate_longitudinal("binary", n_persons=n, seed=3)
    df["item"] = np.arange(len(df)) % ni
    m = smg.mixedglm("y ~ time + (1 | id) + (1 | item)", df, family=B)
    before = {id(f): f for f in factors()}  # (kept alive: their ids stay theirs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = m.fit()
    held = [f for f in factors() if id(f) not in before]
    kind = DenseFactor if size == "small" else SchurFactor
    assert len(held) == 1 and isinstance(held[0], kind)
    assert m.sparse_problem().preconditioner is held[0]
    assert np.isfinite(r.llf)
