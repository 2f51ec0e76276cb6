"""
The conditional-mode solver where the Newton curvature of some groups is singular: those
groups take a scaled gradient step instead of a non-finite Newton step, and the solver
still reaches the same modes.
"""

import numpy as np
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.likelihood import compiled, laplace


def _problem():
    df = smg.simulate_longitudinal("poisson", n_persons=60, seed=8)
    m = smg.mixedglm("y ~ time + (1 + time | id)", df, family=sm.families.Poisson())
    beta = np.array([0.3, 0.1])
    L = np.array([[0.8, 0.0], [0.1, 0.3]])
    return m, beta, L


def test_modes_are_reached_when_some_newton_steps_are_not_finite(monkeypatch):
    m, beta, L = _problem()
    plain = laplace.solve_modes(m.design, m.response, beta, L, np.zeros(0))
    assert plain.converged
    solve = laplace._solve
    calls = {"n": 0}

    def singular_for_some_groups(H, g):
        step = solve(H, g)
        calls["n"] += 1
        if calls["n"] <= 3:  # the first Newton systems of every third group are singular
            step = step.copy()
            step[::3] = np.nan
        return step

    monkeypatch.setattr(laplace, "_solve", singular_for_some_groups)
    monkeypatch.setattr(compiled, "ENABLED", False)  # numpy's steps, where _solve is called
    st = laplace.solve_modes(m.design, m.response, beta, L, np.zeros(0))
    assert calls["n"] > 3
    assert st.converged
    np.testing.assert_allclose(st.u, plain.u, rtol=0, atol=1e-8)
