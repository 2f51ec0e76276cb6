"""
Zero inflation with a rich zi formula on real data: glmmTMB's Salamanders
(``count ~ spp * mined + (1 | site)``, ``ziformula = ~ spp * mined``), Poisson
and NB2, against the glmmTMB fits in tests/results.

Under NB2 the zero-inflation coefficients of the cells GP x no and EC-L x yes run
off to a structural-zero probability of 0 (glmmTMB: singular convergence, SEs in
the thousands).  Those coefficients, and the interactions that share their
direction, are weakly identified: only those with a glmmTMB SE below 10 are
compared, the fitted structural-zero probabilities of all 14 cells are, and the
fit must name the two cells in a warning.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import expit
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

import statsmodels_glmm.api as smg
from statsmodels_glmm.families import NegativeBinomial

from conftest import load_dataset, load_ref, r_name

FORMULA = "count ~ spp * mined + (1 | site)"
ZI = "~ spp * mined"
ZI_PREFIX = "inflate_"


def _fit(family):
    df = load_dataset("Salamanders")
    model = smg.mixedglm(FORMULA, df, family=family, zi_formula=ZI)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit()
    return res, caught


@pytest.fixture(scope="module")
def zip_fit():
    return _fit(sm.families.Poisson())


@pytest.fixture(scope="module")
def zinb_fit():
    return _fit(NegativeBinomial())


def _side_by_side(res, records, zi):
    """Our estimates and SEs next to glmmTMB's, matched by R term name."""
    names = [n for n in res.params.index if n.startswith(ZI_PREFIX) == zi]
    ours = pd.DataFrame({"est": res.params[names].to_numpy(), "se": res.bse[names].to_numpy()},
                        index=[r_name(n[len(ZI_PREFIX):] if zi else n) for n in names])
    theirs = pd.DataFrame(records).set_index("term")[["estimate", "se"]]
    assert set(theirs.index) <= set(ours.index), (list(theirs.index), list(ours.index))
    return theirs.rename(columns={"se": "se_r"}).join(ours)


def _identified(tab):
    return tab[np.isfinite(tab["se_r"]) & (tab["se_r"] < 10)]


def _cell_zero_prob(names, zi_params):
    """plogis of the zi linear predictor in each spp x mined cell (R term names)."""
    coef = dict(zip(names, zi_params))
    species = ["GP", "PR", "DM", "EC-A", "EC-L", "DES-L", "DF"]
    out = {}
    for sp in species:
        for mined in ["yes", "no"]:
            eta = coef["(Intercept)"]
            if sp != "GP":
                eta += coef[f"spp{sp}"]
            if mined == "no":
                eta += coef["minedno"]
                if sp != "GP":
                    eta += coef[f"spp{sp}:minedno"]
            out[(sp, mined)] = expit(eta)
    return pd.Series(out)


def _separation_warnings(caught):
    return [str(w.message) for w in caught if issubclass(w.category, PerfectSeparationWarning)]


def test_salamanders_zip_rich_zi_matches_glmmtmb(zip_fit):
    res, _ = zip_fit
    ref = load_ref("Salamanders__tmb_zip_rich")
    assert ref["convergence"]["code"] == 0 and ref["convergence"]["pdHess"]
    assert res.converged
    assert abs(res.llf - ref["logLik"]) < 1e-3
    cond = _side_by_side(res, ref["fixed_effects"], zi=False)
    assert len(cond) == 14
    np.testing.assert_allclose(cond["est"], cond["estimate"], atol=1e-2)
    np.testing.assert_allclose(cond["se"], cond["se_r"], rtol=1e-2)
    zi = _side_by_side(res, ref["zero_inflation"]["coefficients"], zi=True)
    ident = _identified(zi)
    assert len(ident) == 14  # every zi coefficient is identified under the Poisson
    np.testing.assert_allclose(ident["est"], ident["estimate"], atol=1e-2)
    np.testing.assert_allclose(ident["se"], ident["se_r"], rtol=1e-2)
    np.testing.assert_allclose(res.cov_re.iloc[0, 0], ref["random_effects"][0]["var"][0],
                               rtol=1e-2)


def test_salamanders_zip_rich_zi_raises_no_separation_warning(zip_fit):
    # every spp x mined cell has a non-zero count and a finite zero-inflation estimate
    _, caught = zip_fit
    assert _separation_warnings(caught) == []


def test_salamanders_zinb2_rich_zi_matches_glmmtmb_where_identified(zinb_fit):
    res, _ = zinb_fit
    ref = load_ref("Salamanders__tmb_zinb2_rich")
    assert res.converged
    assert abs(res.llf - ref["logLik"]) < 1e-3
    cond = _side_by_side(res, ref["fixed_effects"], zi=False)
    assert len(cond) == 14
    np.testing.assert_allclose(cond["est"], cond["estimate"], atol=1e-2)
    np.testing.assert_allclose(1 / res.params["alpha"], ref["dispersion"]["nb_theta"],
                               rtol=1e-3)
    np.testing.assert_allclose(res.cov_re.iloc[0, 0], ref["random_effects"][0]["var"][0],
                               rtol=1e-2)
    zi = _side_by_side(res, ref["zero_inflation"]["coefficients"], zi=True)
    ident = _identified(zi)
    assert sorted(ident.index) == sorted(
        ["(Intercept)", "sppPR", "sppDM", "sppEC-A", "sppDES-L", "sppDF"])
    np.testing.assert_allclose(ident["est"], ident["estimate"], atol=1e-2)
    # the cell probabilities are identified even where the coefficients are not
    ours = _cell_zero_prob(list(zi.index), zi["est"].to_numpy())
    theirs = _cell_zero_prob(list(zi.index), zi["estimate"].to_numpy())
    np.testing.assert_allclose(ours, theirs, atol=1e-3)
    assert ours[("GP", "no")] < 1e-5 and ours[("EC-L", "yes")] < 1e-5


def test_salamanders_zinb2_rich_zi_warns_naming_the_separated_cells(zinb_fit):
    _, caught = zinb_fit
    ref = load_ref("Salamanders__tmb_zinb2_rich")
    msgs = _separation_warnings(caught)
    assert len(msgs) == 1
    # GP x no (column mined[T.no]) and EC-L x yes (column spp[T.EC-L])
    assert "'inflate_mined[T.no]'" in msgs[0] and "'inflate_spp[T.EC-L]'" in msgs[0]
    se_r = {c["term"]: c["se"] for c in ref["zero_inflation"]["coefficients"]}
    assert se_r["minedno"] > 10 and se_r["sppEC-L"] > 10
