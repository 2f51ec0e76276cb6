"""
Fits of a saturated factor zero-inflation design by its cell logits: the same
optimum as the reported coefficients give, and cells without a finite
structural-zero probability held near the margin of the far-tail term with
huge standard errors (glmmTMB's Salamanders, ``zi ~ spp * mined``).
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.families import NegativeBinomial
from statsmodels_glmm.families.zeroinflated import TAIL_MARGIN, ZeroInflated, _cells

from conftest import load_dataset, load_ref

FORMULA = "count ~ spp * mined + (1 | site)"
ZI = "~ spp * mined"


@pytest.fixture(scope="module")
def salamanders():
    return load_dataset("Salamanders")


def _fit(df, family):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smg.mixedglm(FORMULA, df, family=family).fit()


def test_cell_logits_and_reported_coefficients_reach_the_same_zip_optimum(salamanders):
    cells = _fit(salamanders, ZeroInflated(sm.families.Poisson(), ZI))
    plain = _fit(salamanders, ZeroInflated(sm.families.Poisson(), ZI, cells=False))
    assert cells.model.response._basis is not None and plain.model.response._basis is None
    assert cells.converged and plain.converged
    assert cells.llf == pytest.approx(plain.llf, abs=1e-6)
    np.testing.assert_allclose(cells.params, plain.params, atol=1e-4)
    np.testing.assert_allclose(cells.bse, plain.bse, rtol=1e-3)
    ref = load_ref("Salamanders__tmb_zip_rich")
    assert cells.llf == pytest.approx(ref["logLik"], abs=1e-4)


def test_zinb2_cells_without_finite_estimate_stop_near_the_tail_margin(salamanders):
    res = _fit(salamanders, ZeroInflated(NegativeBinomial(), ZI))
    ref = load_ref("Salamanders__tmb_zinb2_rich")
    assert res.converged
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-4)
    fam = res.model.response
    names = [n for n in res.params.index if n.startswith("inflate_")]
    g = res.params[names].to_numpy()
    C = res.cov_params().loc[names, names].to_numpy()
    patterns, _, size = _cells(fam.W)
    zeta = patterns @ g
    se = np.sqrt(np.einsum("ij,jk,ik->i", patterns, C, patterns))
    margin = np.log(size) + TAIL_MARGIN
    runaway = zeta < -10
    # GP x no and EC-L x yes (glmmTMB: -18.8 and -14.8 with standard errors in the
    # thousands); the others are finite and well determined
    assert runaway.sum() == 2
    assert np.all(np.abs(zeta[runaway] + margin[runaway]) < 3)
    assert np.all(se[runaway] > 100)
    assert np.all(se[~runaway] < 3)
