"""
Several grouping factors: nested, crossed and observation-level random effects.

References are glmmTMB fits (tests/results/*__tmb_*.json, script
tests/results/r_scripts/fit_multifactor.R); the Gaussian case is checked
against statsmodels' MixedLM with variance components.
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

import statsmodels_glmm.api as smg

from conftest import load_dataset, load_ref, match_fixed

B, P = sm.families.Binomial(), sm.families.Poisson()


def _cbpp():
    cb = load_dataset("cbpp")
    cb["obs"] = np.arange(len(cb))  # the observation-level factor of the R script
    return cb


CASES = {
    "VerbAgg__tmb_crossed": (lambda: load_dataset("VerbAgg"),
                             "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", B),
    "cbpp__tmb_olre": (_cbpp, "incidence + I(size - incidence) ~ period + (1 | herd) + (1 | obs)",
                       B),
    "sim_nested__tmb_binary": (lambda: load_dataset("sim_nested"),
                               "ybin ~ time + treat + (1 | clinic) + (1 + time | clinic:patient)",
                               B),
    "sim_nested__tmb_binary_ri": (lambda: load_dataset("sim_nested"),
                                  "ybin ~ time + treat + (1 | clinic/patient)", B),
    "sim_nested__tmb_poisson": (lambda: load_dataset("sim_nested"),
                                "ycount ~ time + treat + (1 | clinic) + "
                                "(1 + time | clinic:patient)", P),
    "sim_crossed__tmb_poisson": (lambda: load_dataset("sim_crossed"),
                                 "y ~ x + cond + (1 | subj) + (1 | item)", P),
    "sim_crossed__tmb_nbinom2": (lambda: load_dataset("sim_crossed"),
                                 "ynb ~ x + cond + (1 | subj) + (1 | item)",
                                 smg.families.NegativeBinomial()),
}


@pytest.fixture(scope="module")
def fits():
    out = {}
    for key, (data, formula, fam) in CASES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[key] = smg.mixedglm(formula, data(), family=fam).fit()
    return out


@pytest.mark.parametrize("key", sorted(CASES))
def test_matches_glmmtmb(fits, key):
    res, ref = fits[key], load_ref(key)
    assert res.converged
    assert res.llf >= ref["logLik"] - 1e-3
    mf = match_fixed(res, ref)
    np.testing.assert_allclose(mf["est"], mf["estimate"], atol=2e-3)
    np.testing.assert_allclose(mf["se"], mf["se_r"], rtol=0.02)
    # random-effect SDs and correlations, matched by grouping factor and term name
    for block in ref["random_effects"]:
        g = block["group"]
        cov = res.cov_re_by_factor[g]
        names = ["Intercept" if t == "(Intercept)" else t for t in block["terms"]]
        sd = np.sqrt(np.diag(cov.loc[names, names].to_numpy()))
        # the binary random-slope fit has a correlation at +1 in both programs; its SDs
        # are still matched, its correlation is not compared
        np.testing.assert_allclose(sd, block["sd"], rtol=0.01, atol=1e-4)
        if block["corr"] is not None and "binary" not in key:
            c = cov.loc[names, names].to_numpy() / np.outer(sd, sd)
            np.testing.assert_allclose(c, block["corr"], atol=5e-3)
    if "nbinom2" in key:
        theta = ref["family_params"]["theta"] if "family_params" in ref else None
        if theta is not None:
            assert 1 / res.family_params.iloc[0] == pytest.approx(theta, rel=0.01)


def test_gaussian_matches_mixedlm_variance_components():
    d = load_dataset("sim_nested")
    d["yc"] = np.log1p(d["ycount"])
    ml = smf.mixedlm("yc ~ time + treat", d, groups="clinic", re_formula="1",
                     vc_formula={"patient": "0 + C(patient)"}).fit(reml=False)
    ours = smg.mixedglm("yc ~ time + treat", d, groups="clinic", re_formula="1",
                        vc_formula={"patient": "0 + C(patient)"},
                        family=sm.families.Gaussian()).fit()
    # without re_formula, as in MixedLM, the components alone
    vc_only = smg.mixedglm("yc ~ time + treat", d, groups="clinic",
                           vc_formula={"patient": "0 + C(patient)"},
                           family=sm.families.Gaussian())
    assert vc_only.param_names[3:] == ["clinic:patient Intercept Var", "scale"]
    bar = smg.mixedglm("yc ~ time + treat + (1 | clinic) + (1 | clinic:patient)", d,
                       family=sm.families.Gaussian()).fit()
    assert ours.llf == pytest.approx(ml.llf, abs=1e-5)
    assert bar.llf == pytest.approx(ours.llf, abs=1e-9)
    np.testing.assert_allclose(ours.fe_params, ml.fe_params, atol=1e-5)
    np.testing.assert_allclose(ours.params["clinic Intercept Var"], ml.cov_re.iloc[0, 0],
                               rtol=1e-3)
    np.testing.assert_allclose(ours.params["clinic:patient Intercept Var"], ml.vcomp[0],
                               rtol=1e-3)


def test_one_factor_written_twice_is_one_factor():
    """(1 | g) + (0 + x | g) is the uncorrelated (1 + x || g): the dense one-factor path."""
    df = smg.simulate_longitudinal("poisson", n_persons=120, seed=8)
    a = smg.mixedglm("y ~ time + (1 | id) + (0 + time | id)", df, family=P).fit()
    b = smg.mixedglm("y ~ time + (1 + time || id)", df, family=P).fit()
    assert not a.model.multi
    assert a.llf == pytest.approx(b.llf, abs=1e-8)
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), rtol=1e-6)


def test_results_per_factor(fits):
    res = fits["sim_nested__tmb_poisson"]
    d = load_dataset("sim_nested")
    assert list(res.random_effects) == ["clinic", "clinic:patient"]
    assert len(res.random_effects["clinic"]) == 40
    assert len(res.random_effects["clinic:patient"]) == 800
    assert list(res.cov_re_by_factor["clinic:patient"].index) == ["Intercept", "time"]
    frames = res.random_effects_frame()
    assert frames["clinic:patient"].shape == (800, 2)
    cc = res.random_effects_cov["clinic"]
    assert all(v.iloc[0, 0] > 0 for v in cc.values())
    text = str(res.summary())
    assert "clinic 40, clinic:patient 800" in text
    # in-sample predictions equal predictions on the same rows as new data
    np.testing.assert_allclose(res.predict(d.head(20)), res.fittedvalues.head(20), rtol=1e-10)
    # the conditional linear predictor is the sum of both factors' effects
    b_c = frames["clinic"].loc[d["clinic"].iloc[0], "Intercept"]
    b_p = frames["clinic:patient"].loc[f"{d['clinic'].iloc[0]}:{d['patient'].iloc[0]}"]
    row = d.iloc[[0]]
    eta0 = res.predict(row, which="linear", random_effects="zero").iloc[0]
    eta = res.predict(row, which="linear").iloc[0]
    assert eta == pytest.approx(eta0 + b_c + b_p["Intercept"] + b_p["time"] * row["time"].iloc[0])
    # a new patient in a known clinic keeps the clinic's effect only
    new = row.assign(patient=999)
    with pytest.warns(UserWarning, match="1 row.*'clinic:patient'"):
        eta_new = res.predict(new, which="linear").iloc[0]
    assert eta_new == pytest.approx(eta0 + b_c)
    # marginal predictions need no grouping columns and lie between the extremes
    pm = res.predict(d.head(5).drop(columns=["clinic", "patient"]), random_effects="marginal")
    p0 = res.predict(d.head(5), random_effects="zero")
    assert np.all(pm > p0)  # log link: averaging exp over a normal raises the mean
    sims = res.simulate(nsim=3, seed=2)
    assert sims.shape == (len(d), 3)
    assert res.simulate(nsim=3, seed=2).equals(sims)


@pytest.mark.parametrize("family", [smg.families.NegativeBinomial(p=1),
                                    smg.families.Ordinal(), "zip"])
def test_other_families_with_crossed_factors(family):
    d = load_dataset("sim_crossed")
    kw = {}
    if family == "zip":
        family, kw = P, {"zi_formula": "~1"}
    elif isinstance(family, smg.families.Ordinal):
        d = d.assign(y=np.minimum(d["y"], 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm("y ~ x + cond + (1 | subj) + (1 | item)", d, family=family,
                           **kw).fit()
    assert res.converged and np.isfinite(res.llf)
    # the optimum: the analytic gradient vanishes and agrees with finite differences
    m = res.model
    x = res.mle_retvals["internal_params"]
    g = m._gradient(x, 1)
    assert np.max(np.abs(m._scaling()[0].T @ g)) < 1e-3
    fd = m._fd_gradient(x, 1)
    np.testing.assert_allclose(g, fd, atol=2e-3)


def test_bad_input_names_the_term():
    d = load_dataset("sim_crossed")
    with pytest.raises(ValueError, match="one|1 level"):
        smg.mixedglm("y ~ x + (1 | subj) + (1 | k)", d.assign(k="same"), family=P)
    with pytest.raises(ValueError, match=r"nagq=5.*subj, item"):
        smg.mixedglm("y ~ x + (1 | subj) + (1 | item)", d, family=P).fit(nagq=5)
    yb = (d["y"] > 1).astype(int)
    with pytest.warns(UserWarning, match="observation-level"):
        smg.mixedglm("yb ~ x + (1 | subj) + (1 | obs)", d.assign(yb=yb, obs=np.arange(len(d))),
                     family=B)
    # crossed factors written with nesting syntax: every subj:item cell has one row
    with pytest.warns(UserWarning, match=r"crossed, write \(1 \| subj\) \+ \(1 \| item\)"):
        smg.mixedglm("y ~ x + (1 | subj/item)", d, family=P)
    with pytest.raises(ValueError, match="vc_formula"):
        smg.mixedglm("y ~ x", d, groups="subj", vc_formula={"item": "0 + item * x"}, family=P)
