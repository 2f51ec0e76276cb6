"""
Starting modes for the joint Laplace mode search of several grouping factors
(:func:`~statsmodels_glmm.likelihood.sparse_laplace.solve_sparse_modes`), predicted
from the modes of nearby parameters.

Between the evaluations of a fit (optimiser steps, difference columns of the
Hessian) the parameters move little; a first-order prediction of the modes from
the last evaluation's state leaves about one Newton step to take.  The modes
found do not depend on it.
"""

import numpy as np

__all__ = ["predicted_modes", "usable_state", "MAX_PREDICTED_MOVE"]


#: Largest change of a mode (standard deviations of ``u``) taken from a prediction.
MAX_PREDICTED_MOVE = 0.5


def predicted_modes(pr, prev, base, rm):
    """
    First-order prediction of the joint modes at new parameters from the
    :class:`~statsmodels_glmm.likelihood.sparse_laplace.SparseModeState` ``prev`` of
    nearby ones (same problem).

    The modes solve ``F(u) = M' d_1(eta) - u = 0``.  Linearised at ``prev``'s
    modes ``u_0`` (linear predictor ``eta_0``, derivatives ``d_1``, ``d_2``,
    factorisation of ``H_0``), with the new ``M`` and
    ``delta = X beta + offset + M u_0 - eta_0`` (the change of the linear predictor
    at ``u_0``),

    .. math:: H_0 \\, du = M' \\{ d_1 + d_2 \\, \\delta \\} - u_0 ,

    one solve with the factorisation ``prev`` already holds.  Only a starting
    point for Newton's method: the modes found do not depend on it.  No effect
    moves by more than :data:`MAX_PREDICTED_MOVE`.  ``base`` is
    ``X beta + offset`` and ``rm`` the
    :class:`~statsmodels_glmm.likelihood.sparse_laplace.RowMatrix` of the new ``M``.

    Examples
    --------
    Two crossed factors of 4 and 3 levels, Poisson counts; the modes at
    ``beta = 0``, ``L = 1`` predict those after a small move of both:

    >>> import numpy as np
    >>> from statsmodels_glmm.families import Poisson
    >>> from statsmodels_glmm.likelihood import sparse_laplace as sl
    >>> from statsmodels_glmm.spec.terms import RandomEffectTerm as Term
    >>> rows = {"a": np.repeat(np.arange(4), 3), "b": np.tile(np.arange(3), 4)}
    >>> terms = [Term.from_arrays(k, v, np.ones((12, 1))) for k, v in rows.items()]
    >>> counts = np.array([0, 1, 2, 1, 0, 3, 2, 2, 1, 0, 0, 4.0])
    >>> pr = sl.SparseLaplaceProblem(counts, np.ones((12, 1)), None, terms)
    >>> st = sl.sparse_laplace_loglike(pr, Poisson(), [0.0], [np.ones(1)] * 2, [])[2]
    >>> beta, Ls = np.full(1, 1e-4), [np.eye(1) * 1.0001] * 2
    >>> rm = pr.row_matrix(pr.m_rows(Ls))
    >>> pred = predicted_modes(pr, st, pr.X @ beta, rm)
    >>> exact = sl.solve_sparse_modes(pr, Poisson(), beta, Ls, np.zeros(0))[0]
    >>> bool(np.abs(pred - exact).max() < 1e-3 * np.abs(st.u - exact).max())
    True
    """
    u0 = prev.u
    delta = base + rm.dot(u0) - prev.eta
    with np.errstate(over="ignore", invalid="ignore"):
        du = prev._fac.solve(rm.tdot(prev.d[1] + prev.d[2] * delta) - u0)
    if not np.all(np.isfinite(du)):
        return np.array(u0, dtype=float)
    # first order is trusted for small moves only (a trial point far away)
    np.clip(du, -MAX_PREDICTED_MOVE, MAX_PREDICTED_MOVE, out=du)
    return u0 + du


def usable_state(pr, prev):
    """
    Whether ``prev`` can predict the modes of problem ``pr`` (see
    :func:`predicted_modes`): a converged search with its factorisation, on data
    of this shape (a prediction is only a start, so any such state is safe).

    >>> from statsmodels_glmm.families import Poisson
    >>> from statsmodels_glmm.likelihood import sparse_laplace as sl
    >>> from statsmodels_glmm.spec.terms import RandomEffectTerm as Term
    >>> rows = {"a": np.repeat(np.arange(4), 3), "b": np.tile(np.arange(3), 4)}
    >>> terms = [Term.from_arrays(k, v, np.ones((12, 1))) for k, v in rows.items()]
    >>> pr = sl.SparseLaplaceProblem(np.arange(12.0) % 4, np.ones((12, 1)), None, terms)
    >>> st = sl.sparse_laplace_loglike(pr, Poisson(), [0.0], [np.ones(1)] * 2, [])[2]
    >>> usable_state(pr, st), usable_state(pr, sl.SparseModeState())
    (True, False)
    """
    return (prev.d1 is not None and bool(prev.converged) and prev.u is not None
            and prev.u.shape == (pr.n_effects,) and prev.eta.shape == (pr.nobs,))
