"""
Cholesky parameters of a random-effect covariance from variances and covariances,
where the covariance matrix is singular (a variance estimated at zero).
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.spec.covariance import semidefinite_cholesky


@pytest.mark.parametrize("G", [
    np.zeros((1, 1)),
    np.array([[4.0, 2.0], [2.0, 1.0]]),                      # rank 1, second column zero
    np.array([[0.0, 0.0], [0.0, 2.5]]),                      # first variance at zero
    np.array([[1.0, 0.3, 0.0], [0.3, 0.09, 0.0], [0.0, 0.0, 0.5]]),
])
def test_semidefinite_factor_reproduces_the_matrix_with_exact_zeros(G):
    L = semidefinite_cholesky(G)
    np.testing.assert_array_equal(L, np.tril(L))
    np.testing.assert_allclose(L @ L.T, G, atol=1e-14)
    # a column with no variance left is exactly zero
    rank = np.linalg.matrix_rank(G)
    assert np.count_nonzero(np.diag(L)) == rank


def test_a_slightly_indefinite_matrix_is_projected_first():
    G = np.array([[1.0, 1.0], [1.0, 1.0 - 1e-9]])
    L = semidefinite_cholesky(G)
    w, v = np.linalg.eigh(G)
    np.testing.assert_allclose(L @ L.T, (v * np.maximum(w, 0)) @ v.T, atol=1e-12)
    assert L[1, 1] == 0.0


@pytest.mark.parametrize("formula, seed, sd_slope", [
    ("y ~ time * group + stress + (1 | id)", 3503, 0.0),        # the intercept variance at 0
    ("y ~ time * group + stress + (1 + time | id)", 3510, 0.075),  # the slope variance at 0
])
def test_reported_parameters_map_back_to_the_fitted_point(formula, seed, sd_slope):
    df = smg.simulate_longitudinal("binary", n_persons=500, n_waves=3, sd=(0.3, sd_slope),
                                   corr=0.0, seed=seed)
    model = smg.mixedglm(formula, df, family=sm.families.Binomial())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit()
    x = res.mle_retvals["internal_params"]
    p, k = model.k_fe, model.k_re
    diag = model.cov_struct.is_diag
    assert np.any(x[p:p + k][diag] == 0.0)  # a boundary fit
    back = model.to_internal(np.asarray(res.params))
    # the zero stays an exact zero (no tiny value standing in for it)
    np.testing.assert_array_equal(back[p:p + k] == 0.0, x[p:p + k] == 0.0)
    np.testing.assert_allclose(back, x, rtol=1e-12, atol=1e-15)
    assert model.loglike(np.asarray(res.params)) == pytest.approx(res.llf, abs=1e-9)
