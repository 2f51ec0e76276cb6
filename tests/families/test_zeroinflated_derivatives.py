"""
Analytic derivatives of the zero-inflated families against finite differences,
and the cell parametrisation of a saturated factor zero-inflation design.

The data are glmmTMB's Salamanders with ``zi_formula = "~ spp * mined"`` (14
cells, 14 columns: the internal parameters are the scaled cell logits), at
random linear predictors and parameters, so that zero and positive rows, and
cells in the far tail, are all exercised.
"""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import special

import statsmodels_glmm.api as smg
from statsmodels_glmm.families.zeroinflated import TAIL_MARGIN, _cells, _tail

from conftest import load_dataset

FORMULA = "count ~ spp * mined + (1 | site)"
ZI = "~ spp * mined"


@pytest.fixture(scope="module")
def salamanders():
    return load_dataset("Salamanders")


def _model(df, family, zi=ZI):
    return smg.mixedglm(FORMULA, df, family=family, zi_formula=zi)


def _point(fam, n, seed, tail_cell=None):
    """Random eta and internal family parameters (one cell at zeta = -25 if asked)."""
    rng = np.random.default_rng(seed)
    eta = rng.normal(0.3, 1.0, n)
    extra = np.concatenate([rng.normal(-0.5, 0.3, fam.base.n_extra),
                            rng.normal(0.0, 0.8, fam.k_zi)])
    if tail_cell is not None:
        kb = fam.base.n_extra
        extra[kb + tail_cell] = -25.0 * fam._basis[0][tail_cell, 0]  # A[c, 0] = sqrt(n_c / n)
    return eta, extra


FAMILIES = [("zip", sm.families.Poisson), ("zinb2", smg.families.NegativeBinomial)]


@pytest.mark.parametrize("name, family", FAMILIES)
def test_eta_derivatives_match_central_differences(salamanders, name, family):
    m = _model(salamanders, family())
    fam, y = m.response, m.design.y
    eta, extra = _point(fam, len(y), 1)
    d = fam.derivs(y, eta, extra)
    h = 1e-5
    up, down = fam.derivs(y, eta + h, extra), fam.derivs(y, eta - h, extra)
    for k in range(3):
        fd = (up[k] - down[k]) / (2 * h)
        np.testing.assert_allclose(d[k + 1], fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, family", FAMILIES)
def test_fourth_derivative_matches_differences_of_the_third(salamanders, name, family):
    m = _model(salamanders, family())
    fam, y = m.response, m.design.y
    eta, extra = _point(fam, len(y), 2)
    d4 = fam.d4(y, eta, extra)
    base_d4 = fam.base.d4(y[:, 0], eta, extra[:fam.base.n_extra])
    assert (d4 is None) == (base_d4 is None)
    assert fam.has_d4() == (base_d4 is not None)
    if name == "zip":
        assert d4 is not None  # Poisson has a fourth derivative
    if d4 is None:
        return
    h = 1e-5
    fd = (fam.derivs(y, eta + h, extra)[3] - fam.derivs(y, eta - h, extra)[3]) / (2 * h)
    np.testing.assert_allclose(d4, fd, rtol=1e-6, atol=1e-7)
    # positive counts: exactly the count family's
    pos = y[:, 0] > 0
    np.testing.assert_array_equal(d4[pos], base_d4[pos])


@pytest.mark.parametrize("name, family", FAMILIES)
@pytest.mark.parametrize("tail", [None, 3])
def test_family_parameter_derivatives_match_central_differences(salamanders, name, family,
                                                                 tail):
    # every zero-inflation cell and the NB2 dispersion; with ``tail`` one cell sits at
    # zeta = -25, where the far-tail term is active
    m = _model(salamanders, family())
    fam, y = m.response, m.design.y
    assert fam._basis is not None
    eta, extra = _point(fam, len(y), 3, tail)
    e = fam.extra_derivs(y, eta, extra)
    h = 1e-6
    for j in range(len(extra)):
        step = np.zeros(len(extra))
        step[j] = h
        up, down = fam.derivs(y, eta, extra + step), fam.derivs(y, eta, extra - step)
        for k in range(3):
            fd = (up[k] - down[k]) / (2 * h)
            np.testing.assert_allclose(e[k][:, j], fd, rtol=1e-5, atol=1e-8,
                                       err_msg=f"d{k} / d extra[{j}]")


@pytest.mark.parametrize("tail", [None, 5])
def test_zero_inflation_curvature_matches_differences_of_its_score(salamanders, tail):
    m = _model(salamanders, sm.families.Poisson())
    fam, y = m.response, m.design.y
    eta, extra = _point(fam, len(y), 4, tail)
    _, W = fam._split_y(y)
    curv = fam._zeta_curvature(y, eta, extra)
    # the score in the cell logits is z0 * W; move every cell logit by h / W
    h = 1e-6
    cell = np.argmax(W, axis=1)
    scale = W[np.arange(len(W)), cell]
    up = fam.extra_derivs(y, eta, extra + h * np.r_[np.zeros(fam.base.n_extra), 1.0 / W.max(0)])
    down = fam.extra_derivs(y, eta, extra - h * np.r_[np.zeros(fam.base.n_extra),
                                                      1.0 / W.max(0)])
    kb = fam.base.n_extra
    z_up = up[0][np.arange(len(W)), kb + cell] / scale
    z_down = down[0][np.arange(len(W)), kb + cell] / scale
    np.testing.assert_allclose(curv, (z_up - z_down) / (2 * h), rtol=1e-5, atol=1e-9)


def test_far_tail_term_derivatives_and_size():
    size = np.full(7, 44.0)
    z = np.array([-40.0, -20.0, -16.0, 0.0, 5.0, 16.0, 30.0])
    t0, t1, t2 = _tail(z, size)
    h = 1e-5
    np.testing.assert_allclose(t1, (_tail(z + h, size)[0] - _tail(z - h, size)[0]) / (2 * h),
                               rtol=1e-6, atol=1e-16)
    np.testing.assert_allclose(t2, (_tail(z + h, size)[1] - _tail(z - h, size)[1]) / (2 * h),
                               rtol=1e-6, atol=1e-16)
    assert np.all(t0 <= 0) and np.all(t2 <= 0)  # concave, never a gain
    K = np.log(44.0) + TAIL_MARGIN
    assert abs(t0[3]) < 1e-20 and abs(t0[4]) < 1e-15  # nothing in the usual range
    # within K of the centre the term costs a cell (44 rows) less than 1e-6 in total
    assert np.all(44 * np.abs(_tail(np.linspace(-K, K, 101), np.full(101, 44.0))[0]) < 1e-6)
    # it stops the logit where the likelihood (rising by n_c e^zeta) is flat to 6e-6
    assert 44 * np.exp(-K) < 6.2e-6
    assert t1[0] > 0 and t1[-1] < 0  # pulls back from both ends


def test_cell_parametrisation_reproduces_the_reported_coefficients(salamanders):
    m = _model(salamanders, smg.families.NegativeBinomial())
    fam, y = m.response, m.design.y
    assert fam._basis is not None
    rng = np.random.default_rng(5)
    public = np.concatenate([[0.7], rng.normal(0, 1, fam.k_zi)])
    internal = fam.extra_internal(public)
    np.testing.assert_allclose(fam.extra_public(internal), public, rtol=1e-12, atol=1e-12)
    # the response carries the internal design: W_int t == W gamma for every row
    _, W_int = fam._split_y(y)
    np.testing.assert_allclose(W_int @ internal[1:], fam.W @ public[1:], rtol=1e-12,
                               atol=1e-12)
    # one non-zero per row: each internal coordinate is one cell's (scaled) logit
    assert np.all((W_int != 0).sum(1) == 1)
    patterns, inverse, size = _cells(fam.W)
    np.testing.assert_allclose(internal[1:], np.sqrt(size / len(W_int)) * (patterns @ public[1:]),
                               rtol=1e-12, atol=1e-12)
    # Jacobian d public / d internal against central differences
    J = fam.extra_jacobian(internal)
    h = 1e-6
    fd = np.column_stack([(fam.extra_public(internal + h * e) - fam.extra_public(internal - h * e))
                          / (2 * h) for e in np.eye(len(internal))])
    np.testing.assert_allclose(J, fd, rtol=1e-6, atol=1e-9)
    # prediction takes the reported design and internal parameters
    np.testing.assert_allclose(fam.prob_inflate(internal, fam.W),
                               special.expit(fam.W @ public[1:]), rtol=1e-12)


def test_designs_without_saturated_cells_keep_the_reported_coefficients(salamanders):
    # additive factors (8 columns, 14 cells) and an intercept only: internal == public
    for zi in ("~ spp + mined", "~ 1"):
        fam = _model(salamanders, sm.families.Poisson(), zi=zi).response
        assert fam._basis is None
        g = np.linspace(-1, 1, fam.k_zi)
        np.testing.assert_array_equal(fam.extra_internal(g), g)
        np.testing.assert_array_equal(fam.extra_jacobian(g), np.eye(fam.k_zi))


def test_fixed_effects_start_is_a_stationary_point_of_the_model_without_random_effects(
        salamanders):
    # ZIP on Salamanders has no separated cell: the Newton start converges
    m = _model(salamanders, sm.families.Poisson())
    fam, d = m.response, m.design
    beta = fam.start_beta(d)
    extra = fam.start_extra(d.y, d.X @ beta + d.offset)
    eta = d.X @ beta + d.offset
    d0, d1, _, _ = fam.derivs(d.y, eta, extra)
    score = np.concatenate([d.X.T @ d1, fam.extra_derivs(d.y, eta, extra)[0].sum(0)])
    assert np.max(np.abs(score)) < 1e-4
    # and it beats the GLM start with the common inflation logit
    fam2 = _model(salamanders, sm.families.Poisson()).response
    glm = sm.GLM(d.y[:, 0], d.X, family=sm.families.Poisson(), offset=d.offset).fit()
    eta0 = d.X @ glm.params + d.offset
    fam2._start_zi = None
    ex0 = fam2.start_extra(d.y, eta0)
    assert np.sum(d0) > np.sum(fam2.derivs(d.y, eta0, ex0)[0]) + 10
