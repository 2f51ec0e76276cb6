"""
``get_prediction`` on models with several grouping factors (nested, crossed,
observation-level), and the population variance of ``predict(which="var")``.

The conditional delta method is checked against an independent computation:
the conditional modes re-solved by a dense Newton iteration written here, at
parameters moved by central differences, give the Jacobian of one row's
prediction, and ``sqrt(J V J')`` its standard error.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg

TERMS = {"nested": ["a", "a:c"], "crossed": ["a", "b"], "observation-level": ["a", "obs"]}
FORMULA = {"nested": "y ~ x + (1 | a) + (1 | a:c)", "crossed": "y ~ x + (1 | a) + (1 | b)",
           "observation-level": "y ~ x + (1 | a) + (1 | obs)"}


def _data(seed=5):
    rng = np.random.default_rng(seed)
    n_a, per = 25, 6
    n = n_a * per
    a = np.repeat(np.arange(n_a), per)
    c = np.tile(np.arange(per) // 2, n_a)
    b = rng.integers(0, 5, n)
    x = rng.normal(size=n)
    eta = (0.3 + 0.4 * x + rng.normal(0, 0.6, n_a)[a] + rng.normal(0, 0.4, 5)[b]
           + rng.normal(0, 0.3, (n_a, 3))[a, c] + rng.normal(0, 0.3, n))
    return pd.DataFrame({"a": a, "c": c, "b": b, "obs": np.arange(n), "x": x,
                         "y": rng.poisson(np.exp(eta))})


DATA = _data()


@pytest.fixture(scope="module", params=list(FORMULA))
def fitted(request):
    res = smg.mixedglm(FORMULA[request.param], DATA, family=sm.families.Poisson()).fit()
    return request.param, res


def _new_rows():
    """Two rows of known levels, two whose levels of every factor are unseen."""
    new = DATA.iloc[[0, 9, 30, 41]].copy()
    new.loc[new.index[2:], ["a", "b", "obs"]] = [[500, 50, 5000], [501, 51, 5001]]
    return new


def _labels(df, factor):
    if factor == "a:c":
        return (df["a"].astype(str) + ":" + df["c"].astype(str)).to_numpy()
    return df[factor].to_numpy()


def _indicators(df, factor, levels):
    pos = pd.Index(levels).get_indexer(_labels(df, factor))
    Z = np.zeros((len(df), len(levels)))
    Z[np.arange(len(df))[pos >= 0], pos[pos >= 0]] = 1.0
    return Z


def _newton_prediction(structure, res, params, row):
    """``log E[y | b_hat]`` of ``row`` with the modes at ``params`` (dense Newton)."""
    factors = TERMS[structure]
    levels = {f: list(res.random_effects[f]) for f in factors}
    Z = np.hstack([_indicators(DATA, f, levels[f]) for f in factors])
    ginv = np.concatenate([np.full(len(levels[f]), 1.0 / params[f"{f} Intercept Var"])
                           for f in factors])
    X = np.column_stack([np.ones(len(DATA)), DATA["x"]])
    beta = np.array([params["Intercept"], params["x"]])
    y = DATA["y"].to_numpy(float)
    b = np.zeros(Z.shape[1])
    for _ in range(100):
        mu = np.exp(X @ beta + Z @ b)
        grad = Z.T @ (y - mu) - ginv * b
        H = Z.T @ (Z * mu[:, None]) + np.diag(ginv)
        step = np.linalg.solve(H, grad)
        b = b + step
        if np.max(np.abs(step)) < 1e-13:
            break
    z_row = np.hstack([_indicators(row, f, levels[f]) for f in factors])
    return float((np.array([1.0, row["x"].iloc[0]]) @ beta + z_row @ b)[0])


@pytest.mark.parametrize("random_effects", ["conditional", "zero", "marginal"])
def test_get_prediction_equals_predict_on_several_factors(fitted, random_effects):
    structure, res = fitted
    new = _new_rows()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for data in (None, new.iloc[:2], new):
            gp = res.get_prediction(data, random_effects=random_effects)
            want = res.predict(data, random_effects=random_effects).to_numpy()
            np.testing.assert_allclose(gp.predicted_mean, want, rtol=1e-12, atol=0)
            ci = gp.conf_int()
            assert np.all((ci[:, 0] < gp.predicted_mean) & (gp.predicted_mean < ci[:, 1]))
            assert list(gp.summary_frame().index) == list(
                res.model.design.row_index if data is None else data.index)
    unseen = [str(w.message) for w in caught if "not in the fit" in str(w.message)]
    if random_effects == "conditional":  # one warning per factor and call with unseen rows
        for factor in TERMS[structure]:
            assert any(repr(factor) in m for m in unseen), unseen
    else:
        assert unseen == []


def test_conditional_standard_error_matches_newton_delta_method(fitted):
    structure, res = fitted
    row = DATA.iloc[[7]]
    gp = res.get_prediction(row, which="linear")
    names = list(res.params.index)
    p0 = res.params.to_numpy()
    assert np.isclose(_newton_prediction(structure, res, dict(zip(names, p0)), row),
                      gp.predicted_mean[0], rtol=0, atol=1e-8)
    J = np.zeros(len(p0))
    for k in range(len(p0)):
        h = 1e-5 * max(1.0, abs(p0[k]))
        e = np.zeros(len(p0))
        e[k] = h
        J[k] = (_newton_prediction(structure, res, dict(zip(names, p0 + e)), row)
                - _newton_prediction(structure, res, dict(zip(names, p0 - e)), row)) / (2 * h)
    se = np.sqrt(J @ res.cov_params().to_numpy() @ J)
    np.testing.assert_allclose(gp.se[0], se, rtol=1e-4)
    # on the mean scale the interval is exp of the linear one
    gm = res.get_prediction(row)
    np.testing.assert_allclose(gm.se[0], np.exp(gp.predicted_mean[0]) * se, rtol=1e-4)
    np.testing.assert_allclose(np.log(gm.conf_int()[0]), gp.conf_int()[0], rtol=1e-6)


def test_unseen_levels_have_the_standard_error_of_the_fixed_part(fitted):
    _, res = fitted
    new = _new_rows().iloc[2:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cond = res.get_prediction(new, which="linear")
    X = np.column_stack([np.ones(len(new)), new["x"]])
    V = res.cov_params().iloc[:2, :2].to_numpy()
    np.testing.assert_allclose(cond.se, np.sqrt(np.einsum("ni,ij,nj->n", X, V, X)), rtol=1e-6)


def test_marginal_variance_is_the_population_variance():
    res = smg.mixedglm("y ~ x + (1 | a)", DATA, family=sm.families.Poisson()).fit()
    s2 = res.cov_re.iloc[0, 0]
    eta = res.fe_params["Intercept"] + res.fe_params["x"] * DATA["x"].to_numpy()
    mean = np.exp(eta + s2 / 2)
    # Var(y) = E[mu_b] + Var(mu_b) for a Poisson response with a lognormal mean
    want = mean + np.expm1(s2) * mean ** 2
    np.testing.assert_allclose(res.predict(which="var", random_effects="marginal"), want,
                               rtol=1e-8)
