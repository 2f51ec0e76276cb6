"""
Columns of the Laplace Hessian along the covariance parameters, in closed form.

For one grouping factor the analytic gradient of the Laplace log-likelihood
(see :mod:`.laplace`) is ``X' r`` in ``beta`` and ``Z' V`` in the entries of
``L``, where every row quantity is a function of the modes ``u_i``, of
``m_t = L' z_t`` and of the family derivatives at ``eta_t``.  Its derivative
along a direction ``(dbeta, dL)`` follows the same computation one derivative
deeper (forward mode), with the modes moving as

.. math::

    du_i = H_i^{-1} \\sum_{t \\in i} \\big[ d_2(t) (x_t' d\\beta + z_t' dL \\, u_i) m_t
           + d_1(t) \\, dL' z_t \\big],

(the derivative of the mode equation ``sum_t d_1(t) m_t = u_i``), so that
``d eta_t = x_t' dbeta + z_t' dL u_i + m_t' du_i``, ``d d_k(t) = d_{k+1}(t)
d eta_t``, ``dm_t = dL' z_t``,

.. math::

    dH_i = -\\sum_t \\big[ d_3(t) \\, d\\eta_t \\, m_t m_t'
                         + d_2(t) (dm_t \\, m_t' + m_t \\, dm_t') \\big],
    \\qquad dH_i^{-1} = -H_i^{-1} dH_i H_i^{-1},

and the product rule through ``s_t``, ``c_t``, ``a_i``, ``r_t`` and
``V_t = r_t u_i + d_1(t) a_i + d_2(t) H_i^{-1} m_t``.  No mode is solved again:
a column costs about one pass of the gradient, where a difference of
gradients costs a likelihood evaluation.  It needs the fourth derivative of
the log-density (:meth:`Response.d4`), as the closed-form fixed-effects block
of :mod:`.laplace_hessian` does; the rows of family parameters are not given
(the Hessian takes them from the columns of those parameters).
"""

import numpy as np

from . import parallel
from .batched import matvec
from .chunks import _family_copy, _zl_columns, make_chunk
from .laplace_hessian import HESSIAN_CHUNK_ROWS

__all__ = ["laplace_gradient_directions"]


def _chunk_directions(c, family, beta, L, extra, u, P, directions):
    """One chunk's share of the derivative of ``[X' r, vec(Z' V)]`` along each direction."""
    X, gid, G = c.X, c.gid, c.n_groups
    q = L.shape[0]

    def gsum(v):
        return np.bincount(gid, weights=v, minlength=G)

    def rows(v):
        return np.take(v, gid)

    Mc = _zl_columns(c.Zc, L)
    eta = X @ beta + c.offset
    urow = [rows(u[:, a]) for a in range(q)]
    for a in range(q):
        eta += Mc[a] * urow[a]
    _, d1, d2, d3 = family.derivs(c.y, eta, extra)
    d4 = family.d4(c.y, eta, extra)
    # the gradient's own row quantities (as in laplace._chunk_working)
    Prow = {}
    for a in range(q):
        for b in range(a, q):
            Prow[a, b] = Prow[b, a] = rows(P[:, a, b])
    HM = [sum(Mc[b] * Prow[a, b] for b in range(q)) for a in range(q)]
    s = sum(Mc[a] * HM[a] for a in range(q))
    cc = 0.5 * d3 * s
    A = np.column_stack([gsum(Mc[a] * cc) for a in range(q)])
    ag = matvec(P, A)
    agrow = [rows(ag[:, a]) for a in range(q)]
    ma = sum(Mc[a] * agrow[a] for a in range(q))
    r = d1 + cc + d2 * ma
    # products of the cached mode quantities that every direction needs
    MM = {(a, b): Mc[a] * Mc[b] for a in range(q) for b in range(a, q)}
    out = []
    for dbeta, dL in directions:
        # dM: the columns of Z dL (None where dL has a zero column: most directions
        # move one entry of L, so one column)
        dM = _zl_columns_full(c.Zc, dL)
        # explicit change of eta at fixed modes, then the modes' own change
        de0 = _sum_products([(dM[a], urow[a]) for a in range(q)], c.nobs)
        if np.any(dbeta):
            de0 += X @ dbeta
        w = d2 * de0
        rhs = np.column_stack([gsum(_sum_products([(w, Mc[a]), (d1, dM[a])], c.nobs))
                               for a in range(q)])
        D = matvec(P, rhs)
        Drow = [rows(D[:, a]) for a in range(q)]
        deta = de0
        for a in range(q):
            deta += Mc[a] * Drow[a]
        dd1, dd2, dd3 = d2 * deta, d3 * deta, d4 * deta
        # dH = -sum_t [dd2 m m' + d2 (dm m' + m dm')], dP = -P dH P
        dH = np.empty((G, q, q))
        for a in range(q):
            for b in range(a, q):
                cross = _sum_products([(dM[a], Mc[b]), (Mc[a], dM[b])], None)
                row = dd2 * MM[a, b]
                if cross is not None:
                    row += d2 * cross
                dH[:, a, b] = dH[:, b, a] = -gsum(row)
        dP = -(P * dH * P) if q == 1 else -np.matmul(np.matmul(P, dH), P)
        dProw = {}
        for a in range(q):
            for b in range(a, q):
                dProw[a, b] = dProw[b, a] = rows(dP[:, a, b])
        dHM = [_sum_products([(dProw[a, b], Mc[b]) for b in range(q)]
                             + [(Prow[a, b], dM[b]) for b in range(q)], c.nobs)
               for a in range(q)]
        ds = _sum_products([(dM[a], HM[a]) for a in range(q)]
                           + [(Mc[a], dHM[a]) for a in range(q)], c.nobs)
        dcc = dd3 * s
        dcc += d3 * ds
        dcc *= 0.5
        dA = np.column_stack([gsum(_sum_products([(dM[a], cc), (Mc[a], dcc)], c.nobs))
                              for a in range(q)])
        dag = matvec(dP, A) + matvec(P, dA)
        dagrow = [rows(dag[:, a]) for a in range(q)]
        dma = _sum_products([(dM[a], agrow[a]) for a in range(q)]
                            + [(Mc[a], dagrow[a]) for a in range(q)], c.nobs)
        dr = dd1 + dcc
        dr += dd2 * ma
        dr += d2 * dma
        dV = [_sum_products([(dr, urow[b]), (r, Drow[b]), (dd1, agrow[b]), (d1, dagrow[b]),
                             (dd2, HM[b]), (d2, dHM[b])], c.nobs) for b in range(q)]
        dgL = np.array([[z @ v for v in dV] for z in c.Zc])
        out.append(np.concatenate([X.T @ dr, dgL.ravel()]))
    return np.array(out)


def _sum_products(pairs, n):
    """``sum_k a_k * b_k`` over the pairs with no None factor; zeros of length ``n``
    (None when ``n`` is None) when every pair has one."""
    out = None
    for a, b in pairs:
        if a is None or b is None:
            continue
        if out is None:
            out = a * b
        else:
            out += a * b
    if out is None and n is not None:
        out = np.zeros(n)
    return out


def _zl_columns_full(Zc, L):
    """Columns of ``Z L``, None for an all-zero column of ``L``."""
    out = []
    for a in range(L.shape[1]):
        col = None
        for b, z in enumerate(Zc):
            v = L[b, a]
            if v != 0.0:
                col = z * v if col is None else col + z * v
        out.append(col)
    return out


def laplace_gradient_directions(design, family, beta, L, extra, state, directions,
                                n_jobs=None):
    """
    Derivatives of the Laplace gradient in ``beta`` and in every entry of ``L``
    along given directions of ``(beta, L)``, at converged modes.

    Parameters
    ----------
    design : Design
        One grouping factor.
    family : Response
        With a fourth derivative (:func:`.laplace_hessian.has_closed_form`).
    beta, L, extra : ndarray
        Fixed effects, Cholesky factor of ``G``, internal family parameters.
    state : ModeState
        The converged modes at these parameters (``u`` and ``Hinv``).
    directions : list of (dbeta, dL)
        Directions: a (p,) array and a (q, q) array each.

    Returns
    -------
    ndarray (len(directions), p + q * q)
        Row ``k``: the derivative of ``[dl/dbeta, vec(dl/dL)]`` (``L`` entries in
        C order) along direction ``k``.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from statsmodels_glmm.model import MixedGLM
    >>> from statsmodels_glmm.likelihood.laplace import laplace_loglike
    >>> from statsmodels_glmm.simulate import simulate_longitudinal
    >>> df = simulate_longitudinal(n_persons=40, seed=1)
    >>> m = MixedGLM.from_formula("y ~ time + (1 | id)", df, family=sm.families.Binomial())
    >>> b, th = np.array([-1.0, 0.2]), np.array([0.8])
    >>> st = laplace_loglike(m.design, m.response, m.cov_struct, b, th, np.zeros(0))[2]
    >>> col = laplace_gradient_directions(m.design, m.response, b, th.reshape(1, 1),
    ...                                   np.zeros(0), st, [(np.zeros(2), np.eye(1))])[0]
    >>> g = lambda t: laplace_loglike(m.design, m.response, m.cov_struct, b, t,
    ...                               np.zeros(0))[1]
    >>> fd = (g(th + 1e-6) - g(th - 1e-6)) / 2e-6
    >>> bool(np.allclose(col, fd, rtol=1e-5, atol=1e-6))
    True
    """
    bounds = parallel.chunk_bounds(design.starts, design.nobs, HESSIAN_CHUNK_ROWS)
    beta = np.asarray(beta, dtype=float)
    L = np.asarray(L, dtype=float)
    dirs = [(np.asarray(db, dtype=float), np.asarray(dl, dtype=float)) for db, dl in directions]

    def one(k):
        c = make_chunk(design, bounds[k], bounds[k + 1])
        sl = slice(c.g0, c.g1)
        with np.errstate(over="ignore", invalid="ignore"):
            return _chunk_directions(c, _family_copy(family), beta, L, extra, state.u[sl],
                                     state.Hinv[sl], dirs)

    parts = parallel.map_chunks(one, len(bounds) - 1, n_jobs=n_jobs, work=design.nobs)
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total
