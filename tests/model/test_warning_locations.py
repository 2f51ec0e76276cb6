"""
User-facing warnings point at the user's line (this file), not into the package:
raised while a model is built, fitted, predicted from and compared.
"""

import os
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import ConvergenceWarning

import statsmodels_glmm.api as smg
from statsmodels_glmm.exceptions import LaplaceAccuracyWarning, warn

HERE = os.path.abspath(__file__)


def _located_here(record, category):
    hits = [w for w in record if issubclass(w.category, category)]
    assert hits, f"no {category.__name__} raised"
    for w in hits:
        assert os.path.abspath(w.filename) == HERE, (w.filename, str(w.message))
    return hits


def test_warn_called_from_outside_names_the_calling_line():
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        warn("a message", UserWarning)
        line = _line_of("warn(\"a message\"")
    (w,) = _located_here(rec, UserWarning)
    assert w.lineno == line


def _line_of(text):
    with open(HERE) as fh:
        return next(i for i, row in enumerate(fh, start=1) if text in row)


def test_binary_response_without_family_warns_at_the_users_line():
    df = smg.simulate_longitudinal("binary", n_persons=30, seed=2)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        smg.mixedglm("y ~ time + (1 | id)", df)
    (w,) = _located_here(rec, UserWarning)
    assert "Binomial" in str(w.message)


def test_collinear_columns_warn_at_the_users_line():
    df = smg.simulate_longitudinal("poisson", n_persons=30, seed=3)
    df = df.assign(time2=2 * df["time"])
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        smg.mixedglm("y ~ time + time2 + (1 | id)", df, family=sm.families.Poisson())
    hits = _located_here(rec, UserWarning)
    assert any("collinear" in str(w.message) for w in hits)


def test_laplace_guard_warns_at_the_fit_call():
    # binary data with few rows per person and a large random-intercept SD: Laplace
    # underestimates the variance, and the guard's quadrature refit says so
    rng = np.random.default_rng(5)
    n, t = 300, 3
    b = rng.normal(0, 3.0, n)
    time = np.tile(np.arange(t), n)
    eta = -0.5 + 0.3 * time + np.repeat(b, t)
    df = pd.DataFrame({"id": np.repeat(np.arange(n), t), "time": time,
                       "y": rng.binomial(1, 1 / (1 + np.exp(-eta)))})
    model = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial())
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        model.fit()
    _located_here(rec, LaplaceAccuracyWarning)


def test_unseen_groups_warn_at_the_predict_call():
    df = smg.simulate_longitudinal("poisson", n_persons=30, seed=4)
    res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    new = df.head(3).assign(id=-1)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res.predict(new)
    hits = _located_here(rec, UserWarning)
    assert any("not in the fit" in str(w.message) for w in hits)


def test_convergence_warning_at_the_fit_call():
    df = smg.simulate_longitudinal("poisson", n_persons=40, seed=6)
    model = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson())
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = model.fit(maxiter=1, polish=False, retry=False)
    if res.converged:
        pytest.skip("converged in one iteration")
    _located_here(rec, ConvergenceWarning)
