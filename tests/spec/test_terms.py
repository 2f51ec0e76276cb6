"""Random-effect terms: building from formulas, stacked layout, validation."""

import numpy as np
import pandas as pd
import pytest

from statsmodels_glmm.spec.formula import split_formula
from statsmodels_glmm.spec.formula_engine import formula_manager
from statsmodels_glmm.spec.terms import (RandomEffectTerm, block_lambda, build_terms, param_names,
                                    sparse_Z, split_thetas, term_offsets)

from conftest import load_dataset


def _terms(formula, df, **kw):
    _, rts = split_formula(formula)
    return build_terms(rts, df, formula_manager(), **kw)


def test_nested_terms_levels_columns_names():
    df = load_dataset("sim_nested")
    terms = _terms("ybin ~ time + treat + (1 | clinic/patient)", df)
    assert [t.group for t in terms] == ["clinic", "clinic:patient"]
    assert [t.n_levels for t in terms] == [40, 800]
    assert [t.q for t in terms] == [1, 1]
    assert param_names(terms) == ["clinic Intercept Var", "clinic:patient Intercept Var"]
    # the interaction factor is the combination of the two columns' values
    lab = terms[1].labels[terms[1].codes]
    expect = df["clinic"].astype(str) + ":" + df["patient"].astype(str)
    assert (lab == expect.to_numpy()).all()
    assert term_offsets(terms).tolist() == [0, 40, 840]


def test_nested_with_correlated_slope_and_uncorrelated_terms():
    df = load_dataset("sim_nested")
    terms = _terms("ycount ~ time + (1 | clinic) + (1 + time | clinic:patient)", df)
    assert [t.n_params for t in terms] == [1, 3]
    assert param_names(terms)[1:] == ["clinic:patient Intercept Var",
                                      "clinic:patient Intercept x time Cov",
                                      "clinic:patient time Var"]
    unc = _terms("ycount ~ time + (1 + time || clinic:patient)", df)
    assert unc[0].q == 2 and unc[0].n_params == 2 and not unc[0].correlated
    assert unc[0].cov.blocks == [[0], [1]]
    assert param_names(unc) == ["clinic:patient Intercept Var", "clinic:patient time Var"]
    assert term_offsets(unc).tolist() == [0, 1600]


def test_crossed_terms_verbagg():
    df = load_dataset("VerbAgg")
    terms = _terms("r2num ~ Anger + (1 | id) + (1 | item) + (0 + Anger | item)", df)
    expect = [("id", 316, 1), ("item", 24, 1), ("item", 24, 1)]
    assert [(t.group, t.n_levels, t.q) for t in terms] == expect
    assert param_names(terms) == ["id Intercept Var", "item Intercept Var", "item Anger Var"]
    Z = sparse_Z(terms)
    assert Z.shape == (7584, 316 + 24 + 24) and Z.nnz == 3 * 7584
    # each row: one intercept for its person, one for its item, Anger for its item
    np.testing.assert_allclose(np.asarray(Z.sum(1)).ravel(), 2 + df["Anger"].to_numpy())


def test_observation_level_term_and_bernoulli_warning():
    df = load_dataset("cbpp")
    df["obs"] = np.arange(len(df))
    terms = _terms("incidence ~ period + (1 | herd) + (1 | obs)", df)
    assert [t.n_levels for t in terms] == [15, 56]
    df2 = load_dataset("VerbAgg").head(60).copy()
    df2["obs"] = np.arange(60)
    with pytest.warns(UserWarning, match="observation-level"):
        _terms("r2num ~ 1 + (1 | obs)", df2, bernoulli=True)


def test_sparse_z_and_lambda_layout_match_dense_construction():
    rng = np.random.default_rng(0)
    n = 20
    a, b, x = rng.integers(0, 4, n), rng.integers(0, 3, n), rng.normal(size=n)
    ta = RandomEffectTerm.from_arrays("a", a, np.c_[np.ones(n), x], names=["Intercept", "x"])
    tb = RandomEffectTerm.from_arrays("b", b, np.ones((n, 1)))
    Z = sparse_Z([ta, tb]).toarray()
    dense = np.zeros((n, 4 * 2 + 3))
    for t in range(n):
        dense[t, 2 * a[t]] = 1.0
        dense[t, 2 * a[t] + 1] = x[t]
        dense[t, 8 + b[t]] = 1.0
    np.testing.assert_array_equal(Z, dense)
    th = [np.array([1.0, 0.5, 2.0]), np.array([3.0])]
    Lam = block_lambda([ta, tb], th).toarray()
    La = np.array([[1.0, 0.0], [0.5, 2.0]])
    np.testing.assert_array_equal(Lam, np.block([[np.kron(np.eye(4), La), np.zeros((8, 3))],
                                                 [np.zeros((3, 8)), 3 * np.eye(3)]]))
    flat = split_thetas([ta, tb], np.r_[1.0, 0.5, 2.0, 3.0])
    assert [f.tolist() for f in flat] == [[1.0, 0.5, 2.0], [3.0]]


def test_term_validation_messages():
    n = 6
    with pytest.raises(ValueError, match="'g'.*1 level"):
        RandomEffectTerm.from_arrays("g", np.zeros(n), np.ones((n, 1)))
    with pytest.raises(ValueError, match="'x' is constant within every level of 'g'"):
        RandomEffectTerm.from_arrays("g", [0, 0, 1, 1, 2, 2],
                                     np.c_[np.ones(n), [1, 1, 2, 2, 3, 3.0]],
                                     names=["Intercept", "x"])
    df = pd.DataFrame({"g": [1, 1, 1, 1], "y": [0, 1, 0, 1.0]})
    with pytest.raises(ValueError, match=r"\(1 \| g\).*'g' has 1 level"):
        _terms("y ~ 1 + (1 | g)", df)
    df = pd.DataFrame({"g": [1, 2, 1, 2], "y": [0, 1, 0, 1.0]})
    with pytest.raises(ValueError, match="grouping column 'h' is not in data"):
        _terms("y ~ 1 + (1 | h)", df)
    with pytest.raises(ValueError, match="appears in more than one term"):
        _terms("y ~ 1 + (1 | g) + (1 | g)", df)
    ta = RandomEffectTerm.from_arrays("g", [0, 1, 0, 1], np.ones((4, 1)))
    with pytest.raises(ValueError, match="theta of term 'g' has 2 values"):
        split_thetas([ta], [np.ones(2)])
    with pytest.raises(ValueError, match="thetas has 3 values"):
        split_thetas([ta], np.ones(3))
