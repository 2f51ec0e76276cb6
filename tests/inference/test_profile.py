"""Profile likelihood intervals: lme4 references and independent constrained maximisations."""


import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm import MixedGLM
from statsmodels_glmm.families import NegativeBinomial
from statsmodels_glmm.inference.profile import ProfileParametrization, resolve_names

from conftest import load_dataset, load_ref, r_name

B = sm.families.Binomial()
Z975 = stats.norm.ppf(0.975)


@pytest.fixture(scope="module")
def cbpp():
    df = load_dataset("cbpp")
    res = smg.mixedglm("incidence + non_incidence ~ period + (1 | herd)", df, family=B).fit()
    return df, res, res.profile()


@pytest.fixture(scope="module")
def toenail():
    df = load_dataset("toenail")
    res = smg.mixedglm("outcome_bin ~ treatment * time + (1 | patientID)", df, family=B).fit()
    return df, res, res.profile()


def _ours_by_r_name(prof, group):
    ci = prof.conf_int()
    ci.index = [".sig01" if n == f"{group} Intercept SD" else r_name(n) for n in ci.index]
    return ci


def _max_with_fixed(res, fixed_index, fixed_value, start=None):
    """Independent profile point: maximise model.loglike over the other public params."""
    m = res.model
    p0 = np.asarray(res.params, dtype=float)
    free = np.ones(len(p0), bool)
    free[fixed_index] = False

    def negll(v):
        full = p0.copy()
        full[free] = v
        full[fixed_index] = fixed_value
        val = m.loglike(full)
        return -val if np.isfinite(val) else 1e10

    x0 = p0[free] if start is None else start
    o = optimize.minimize(negll, x0, method="Nelder-Mead",
                          options=dict(xatol=1e-9, fatol=1e-11, maxiter=40000, maxfev=40000))
    o = optimize.minimize(negll, o.x, method="BFGS", options=dict(gtol=1e-8))
    return -o.fun


def test_cbpp_profile_matches_lme4(cbpp):
    _, res, prof = cbpp
    ref = load_ref("cbpp__glmer_profile_ci")
    theirs = pd.DataFrame(ref["confint"]).set_index("term")
    ours = _ours_by_r_name(prof, "herd")
    assert set(theirs.index) == set(ours.index)
    np.testing.assert_allclose(ours.loc[theirs.index, "lower"], theirs["lower"], atol=5e-3)
    np.testing.assert_allclose(ours.loc[theirs.index, "upper"], theirs["upper"], atol=5e-3)
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-3)


def test_cbpp_fixed_effect_limits_by_offset_refits(cbpp):
    """At a profile limit for beta_j, refitting with x_j * limit as an offset (column j
    dropped) must lose exactly z^2 / 2 of log-likelihood."""
    df, res, prof = cbpp
    X = pd.DataFrame(res.model.exog, columns=res.model.exog_names)
    y = df[["incidence", "non_incidence"]].to_numpy(dtype=float)
    for name in ("period[T.2]", "Intercept"):
        for lim in prof.conf_int().loc[name]:
            sub = MixedGLM(y, X.drop(columns=name), df["herd"], family=B,
                           offset=lim * X[name].to_numpy()).fit()
            assert 2 * (res.llf - sub.llf) == pytest.approx(Z975 ** 2, abs=2e-4)


def test_cbpp_sd_limits_by_brute_force(cbpp):
    _, res, prof = cbpp
    j = list(res.params.index).index("herd Intercept Var")
    for lim in prof.conf_int().loc["herd Intercept SD"]:
        llf = _max_with_fixed(res, j, lim ** 2)
        assert 2 * (res.llf - llf) == pytest.approx(Z975 ** 2, abs=2e-4)


def test_toenail_profile_fixed_effects_match_lme4(toenail):
    _, res, prof = toenail
    ref = load_ref("toenail__glmer_ri_profile_ci")
    theirs = pd.DataFrame(ref["confint"]).set_index("term").drop(index=".sig01")
    ours = _ours_by_r_name(prof, "patientID").loc[theirs.index]
    np.testing.assert_allclose(ours["lower"], theirs["lower"], atol=5e-3)
    np.testing.assert_allclose(ours["upper"], theirs["upper"], atol=5e-3)


def test_toenail_sd_limits_by_brute_force(toenail):
    """The random-intercept SD limits: checked by independent constrained maximisation.

    lme4's own profile limits for .sig01 (3.477, 7.420) are not at zeta = +-1.96 of
    this (identical, logLik agrees to 1e-6) likelihood: its lower limit has zeta =
    2.135 (a 96.7% limit), so the reference cannot serve for this row."""
    _, res, prof = toenail
    ref = load_ref("toenail__glmer_ri_profile_ci")
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-4)
    j = list(res.params.index).index("patientID Intercept Var")
    lo, hi = prof.conf_int().loc["patientID Intercept SD"]
    for lim in (lo, hi):
        llf = _max_with_fixed(res, j, lim ** 2)
        assert 2 * (res.llf - llf) == pytest.approx(Z975 ** 2, abs=2e-4)
    r_lo = pd.DataFrame(ref["confint"]).set_index("term").loc[".sig01", "lower"]
    zeta = np.sqrt(2 * (res.llf - _max_with_fixed(res, j, r_lo ** 2)))
    assert zeta == pytest.approx(2.135, abs=2e-3)
    assert abs(hi - pd.DataFrame(ref["confint"]).set_index("term").loc[".sig01", "upper"]) \
        < 1e-2


def test_profile_trace_is_signed_root_deviance(cbpp):
    _, res, prof = cbpp
    tr = prof.frame[prof.frame["parameter"] == "period[T.3]"]
    np.testing.assert_allclose(tr["zeta"] ** 2, 2 * (res.llf - tr["llf"]), atol=1e-8)
    assert np.all(np.sign(tr["zeta"]) == np.sign(tr["value"] - res.params["period[T.3]"]))
    assert tr["zeta"].is_monotonic_increasing
    assert tr["zeta"].min() < -2.576 and tr["zeta"].max() > 2.576
    # other levels are read off the trace: close to exact root-finding
    ci90 = prof.conf_int(alpha=0.1)
    exact90 = res.profile(["period[T.3]"], alpha=0.1).conf_int()
    np.testing.assert_allclose(ci90.loc["period[T.3]"], exact90.loc["period[T.3]"], atol=2e-3)


def test_profile_scales_names_and_conf_int_method(cbpp):
    _, res, prof = cbpp
    both = prof.conf_int(scale="both")
    assert list(both.index[-2:]) == ["herd Intercept SD", "herd Intercept Var"]
    np.testing.assert_allclose(both.loc["herd Intercept Var"],
                               both.loc["herd Intercept SD"] ** 2)
    assert res.profile(["herd Intercept Var"]).parameters == ["herd Intercept SD"]
    ci = res.conf_int(method="profile")
    assert list(ci.index) == list(res.params.index)
    np.testing.assert_allclose(ci.loc["herd Intercept Var"],
                               prof.conf_int().loc["herd Intercept SD"] ** 2, rtol=1e-8)
    np.testing.assert_allclose(ci.loc["period[T.4]"], prof.conf_int().loc["period[T.4]"],
                               rtol=1e-8)
    with pytest.raises(ValueError, match="params"):
        res.profile(["nope"])
    with pytest.raises(ValueError, match="scale"):
        prof.conf_int(scale="log")


def test_profile_plot(cbpp):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, _, prof = cbpp
    fig = prof.plot()
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len([a for a in fig.axes if a.get_visible()]) == 5
    plt.close(fig)


def test_negative_binomial_alpha_profile():
    df = load_dataset("epil")
    res = smg.mixedglm("y ~ lbase + trt + (1 | subject)", df, family=NegativeBinomial()).fit()
    prof = res.profile(["alpha", "subject Intercept SD"])
    j = list(res.params.index).index("alpha")
    for lim in prof.conf_int().loc["alpha"]:
        llf = _max_with_fixed(res, j, lim)
        assert 2 * (res.llf - llf) == pytest.approx(Z975 ** 2, abs=5e-4)
    lo, hi = prof.conf_int().loc["alpha"]
    assert 0 < lo < res.params["alpha"] < hi


def test_correlation_profile_by_brute_force():
    df = load_dataset("sim_poisson_small").query("id <= 80")
    res = smg.mixedglm("y ~ time + (1 + time | id)", df, family=sm.families.Poisson()).fit()
    name = "id Intercept x time Corr"
    prof = res.profile([name])
    lo, hi = prof.conf_int().loc[name]
    r_hat = res.re_corr.iloc[0, 1]
    assert -1 <= lo < r_hat < hi <= 1
    m = res.model
    p0 = np.asarray(res.params, dtype=float)

    def llf_at(rho):
        def negll(v):
            b0, b1, l0, l1 = v
            va, vb = np.exp(l0), np.exp(l1)
            val = m.loglike(np.array([b0, b1, va, rho * np.sqrt(va * vb), vb]))
            return -val if np.isfinite(val) else 1e10
        x0 = [p0[0], p0[1], np.log(p0[2]), np.log(p0[4])]
        o = optimize.minimize(negll, x0, method="Nelder-Mead",
                              options=dict(xatol=1e-9, fatol=1e-11, maxiter=20000))
        o = optimize.minimize(negll, o.x, method="BFGS", options=dict(gtol=1e-8))
        return -o.fun

    for lim in (lo, hi):
        if abs(lim) < 1:
            assert 2 * (res.llf - llf_at(lim)) == pytest.approx(Z975 ** 2, abs=5e-4)


def test_parametrization_round_trip_and_jacobian():
    df = load_dataset("sim_poisson_small").query("id <= 30")
    m = smg.mixedglm("y ~ time + (1 + time + stress | id)", df, family=sm.families.Poisson())
    par = ProfileParametrization(m)
    rng = np.random.default_rng(0)
    x = rng.normal(size=m.k_fe + m.k_re)
    x = m._canonical(x)
    phi = par.from_x(x)
    np.testing.assert_allclose(par.to_x(phi), x, atol=1e-12)
    # SD coordinates are the SDs of G
    sd = np.sqrt(np.diag(m.cov_struct.cov(x[m.k_fe:])))
    np.testing.assert_allclose(phi[[idx[-1] for idx in par.rows]], sd)
    # analytic Jacobian against central differences
    J = par.jacobian(phi)
    h = 1e-6
    for k in range(len(phi)):
        e = np.zeros(len(phi))
        e[k] = h
        np.testing.assert_allclose(J[:, k], (par.to_x(phi + e) - par.to_x(phi - e)) / (2 * h),
                                   atol=1e-7)


def test_ordinal_thresholds_after_the_first_are_not_profiled():
    df = load_dataset("sim_ordinal_small")
    m = smg.mixedglm("y ~ time + (1 | id)", df, family=smg.families.Ordinal())
    names, _ = resolve_names(m, None)
    thresholds = m.response.extra_names()
    assert thresholds[0] in names
    assert not set(thresholds[1:]) & set(names)


def test_flat_correlation_profile_reports_minus_one_to_one():
    df = load_dataset("sim_negbin_small").query("id <= 100")
    res = smg.mixedglm("y ~ time + (1 + time | id)", df, family=NegativeBinomial()).fit()
    name = "id Intercept x time Corr"
    prof = res.profile([name])
    assert list(prof.conf_int().loc[name]) == [-1.0, 1.0]
    tr = prof.frame
    # the trace reaches |rho| = 1 - 5e-7 on both sides without |zeta| reaching 1.96
    assert tr["value"].min() < -0.999999 and tr["value"].max() > 0.999999
    assert tr["zeta"].abs().max() < Z975


def test_conf_int_sd_scale_rows(cbpp):
    """re_scale="sd": SD rows named as lme4's .sig01, the square roots of the variance
    limits, for every method (called on the results class itself)."""
    _, res, prof = cbpp
    r = res._results
    prof_sd = r.conf_int(method="profile", re_scale="sd")
    assert list(prof_sd.index)[-1] == "herd Intercept SD"
    np.testing.assert_allclose(prof_sd.loc["herd Intercept SD"],
                               prof.conf_int().loc["herd Intercept SD"], rtol=1e-8)
    wald = r.conf_int(re_scale="sd")
    np.testing.assert_allclose(wald.loc["herd Intercept SD"] ** 2,
                               res.conf_int().loc["herd Intercept Var"], rtol=1e-12)
    bt = res.bootstrap(5, seed=3, progress=False)
    boot = r.conf_int(method="boot", boot=bt, re_scale="sd")
    np.testing.assert_allclose(
        boot.loc["herd Intercept SD"],
        np.quantile(np.sqrt(bt.params["herd Intercept Var"]), [0.025, 0.975]), rtol=1e-12)
    with pytest.raises(ValueError, match="re_scale"):
        r.conf_int(re_scale="log")


@pytest.fixture(scope="module")
def nb_alpha_at_bound():
    """NB2 with an observation-level effect on Poisson data: alpha sits on its bound."""
    df = smg.simulate_longitudinal("poisson", n_persons=30, seed=1)
    df["obs"] = np.arange(len(df))
    res = smg.mixedglm("y ~ time + (1 | id) + (1 | obs)", df,
                       family=NegativeBinomial()).fit()
    return df, res, res.profile(["time", "alpha"])


def test_profile_refits_stay_within_the_family_bounds(nb_alpha_at_bound):
    df, res, prof = nb_alpha_at_bound
    amin = np.exp(res.model._bounds()[-1][0])
    assert res.params["alpha"] == pytest.approx(amin, rel=1e-9)
    for name in ("time", "alpha"):
        assert prof.paths[name]["alpha"].min() >= amin * (1 - 1e-12)
    fr = prof.frame
    assert np.all(fr["llf"] <= res.llf + 1e-6)
    # each limit of the slope loses z^2 / 2 against a refit with time * limit as an offset
    # (started at the full fit: from the default start the refit stops at a lower maximum
    # with no observation-level variance)
    for lim in prof.conf_int().loc["time"]:
        sub = smg.mixedglm("y ~ 1 + (1 | id) + (1 | obs)", df.assign(off=lim * df["time"]),
                           family=NegativeBinomial(), offset="off").fit(
                               start_params=res.params.drop("time").to_numpy())
        assert 2 * (res.llf - sub.llf) == pytest.approx(Z975 ** 2, abs=2e-4)


def test_flat_profile_toward_a_bound_stops_at_the_bound(nb_alpha_at_bound):
    _, res, prof = nb_alpha_at_bound
    amin = np.exp(res.model._bounds()[-1][0])
    tr = prof.frame[prof.frame["parameter"] == "alpha"]
    assert tr["value"].min() == pytest.approx(amin, rel=1e-12)
    assert np.all(np.isfinite(tr[["value", "zeta", "llf"]].to_numpy()))
    assert prof.notes == []
    for alpha in (0.05, 0.1, 0.01):
        lo, hi = prof.conf_int(alpha).loc["alpha"]
        assert lo == pytest.approx(amin, rel=1e-12)
        assert hi > res.params["alpha"]
    # the exact upper limit against an independent constrained maximisation
    j = list(res.params.index).index("alpha")
    hi = prof.conf_int().loc["alpha", "upper"]
    assert 2 * (res.llf - _max_with_fixed(res, j, hi)) == pytest.approx(Z975 ** 2, abs=5e-4)


def test_a_profiled_model_is_freed_with_its_last_reference(collector_off):
    # scipy's root finder wraps the function it solves in a closure that refers to
    # itself; the model must not hang off that cycle (with the collector off, it would
    # stay for good)
    import weakref

    df = smg.simulate_longitudinal("binary", n_persons=40, seed=3)
    m = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial())
    r = m.fit()
    prof = r.profile(params=["time"])
    assert np.all(np.isfinite(prof.limits.loc["time"]))
    alive = weakref.ref(m)
    del m, r, prof
    assert alive() is None
