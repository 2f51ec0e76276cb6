"""
Poisson models with two grouping factors on lme4's grouseticks and Arabidopsis
data against glmer's Laplace fits (tests/results/*__glmer_pois_*.json, made by
tests/results/r_scripts/fit_multifactor_speed.R; data in tests/data/real, see
SOURCES.md there).
"""

import os
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg

from conftest import DATA, load_ref, r_name

REAL = os.path.join(DATA, "real")


def _grouseticks():
    return pd.read_csv(os.path.join(REAL, "grouseticks.csv"),
                       dtype={"INDEX": str, "BROOD": str, "YEAR": str, "LOCATION": str})


def _arabidopsis():
    df = pd.read_csv(os.path.join(REAL, "Arabidopsis.csv"), dtype={"popu": str, "gen": str})
    return df.rename(columns={"total.fruits": "total_fruits"})


def _fit(formula, df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smg.mixedglm(formula, df, family=sm.families.Poisson()).fit()


def _fixed(res):
    return pd.DataFrame({"est": np.asarray(res.fe_params), "se": np.asarray(res.bse_fe)},
                        index=[r_name(n) for n in res.model.exog_names])


def _ref(key):
    ref = load_ref(key)
    fe = pd.DataFrame(ref["fixed_effects"]).set_index("term")
    vc = {v["group"]: v["var"] for v in ref["variance_components"]}
    return ref, fe, vc


def _variances(res):
    return {g: float(np.asarray(c)[0, 0]) for g, c in res.cov_re_by_factor.items()}


@pytest.mark.parametrize("height", ["HEIGHT", "cHEIGHT"])
def test_grouseticks_brood_location_matches_glmer(height):
    # glmer's own fit with uncentred height stops short (convergence warnings); the
    # centred model has the same likelihood and is the reference for both
    df = _grouseticks()
    res = _fit(f"TICKS ~ YEAR + {height} + (1 | BROOD) + (1 | LOCATION)", df)
    ref, fe, vc = _ref("grouseticks__glmer_pois_brood_location_centred")
    assert res.converged
    assert abs(res.llf - ref["logLik"]) < 1e-4
    ours = _fixed(res)
    for term in ("YEAR96", "YEAR97"):
        assert ours.loc[term, "est"] == pytest.approx(fe.loc[term, "estimate"], abs=2e-4)
        assert ours.loc[term, "se"] == pytest.approx(fe.loc[term, "se"], rel=5e-3)
    slope = fe.loc["cHEIGHT", "estimate"]
    assert ours.loc[height, "est"] == pytest.approx(slope, abs=1e-5)
    assert ours.loc[height, "se"] == pytest.approx(fe.loc["cHEIGHT", "se"], rel=5e-3)
    shift = df["HEIGHT"].mean() * slope if height == "HEIGHT" else 0.0
    assert ours.loc["(Intercept)", "est"] == pytest.approx(
        fe.loc["(Intercept)", "estimate"] - shift, abs=5e-3)
    got = _variances(res)
    for g in ("BROOD", "LOCATION"):
        assert got[g] == pytest.approx(vc[g], rel=2e-3)
    # the uncentred glmer fit reports a lower (not higher) log-likelihood
    assert res.llf >= load_ref("grouseticks__glmer_pois_brood_location")["logLik"] - 1e-6


def test_arabidopsis_popu_gen_matches_glmer():
    res = _fit("total_fruits ~ nutrient + amd + rack + status + (1 | popu) + (1 | gen)",
               _arabidopsis())
    ref, fe, vc = _ref("Arabidopsis__glmer_pois_popu_gen")
    assert res.converged
    assert abs(res.llf - ref["logLik"]) < 1e-4
    ours = _fixed(res).join(fe.rename(columns={"se": "se_r"}), how="inner")
    assert len(ours) == len(fe)
    np.testing.assert_allclose(ours["est"], ours["estimate"], atol=5e-4)
    np.testing.assert_allclose(ours["se"], ours["se_r"], rtol=5e-3)
    got = _variances(res)
    for g in ("popu", "gen"):
        assert got[g] == pytest.approx(vc[g], rel=5e-3)
