"""
Conditional modes and the Laplace approximation, for all groups at once.

With ``b_i = L u_i``, ``u_i ~ N(0, I_q)`` and linear predictor
``eta_t = x_t' beta + offset_t + m_t' u_i`` (``m_t = L' z_t``), group ``i``
contributes

.. math::

    \\ell_i = \\log \\int \\exp\\{\\tilde h_i(u)\\} (2\\pi)^{-q/2} du,
    \\qquad \\tilde h_i(u) = \\sum_{t \\in i} \\log f(y_t \\mid \\eta_t) - u'u/2 .

The Laplace approximation expands ``h~`` around its maximiser ``u^_i``:

.. math:: \\ell_i \\approx \\tilde h_i(\\hat u_i) - \\tfrac12 \\log\\det H_i,
          \\qquad H_i = I + \\sum_{t \\in i} w_t m_t m_t', \\quad w_t = -d_2(t).

Modes come from Newton's method with step-halving, every group's q x q
system solved in one batched call.  The gradient of the approximation is
analytic: with ``s_t = m_t' H^{-1} m_t``, ``c_t = d_3(t) s_t / 2``,
``a_i = H_i^{-1} sum_t c_t m_t`` and the working score
``r_t = d_1(t) + c_t + d_2(t) m_t' a_i`` (implicit differentiation through the
modes),

.. math::

    \\partial \\ell / \\partial \\beta = X' r, \\qquad
    \\partial \\ell / \\partial L_{ab} = \\sum_t r_t z_{ta} \\hat u_{ib}
        + \\sum_i a_{ib} (Z_i' d_1)_a - \\sum_i (H_i^{-1} L' Z_i' W_i Z_i)_{ba},

and for a family parameter ``phi``:
``sum_t d0_phi + s_t d2_phi / 2 + (m_t' a_i) d1_phi``.
"""

import numpy as np

__all__ = ["ModeState", "seg_sum", "solve_modes", "laplace_loglike", "batched_inv"]


def seg_sum(a, starts):
    """
    Sum rows of ``a`` within each group segment (rows sorted by group).

    >>> seg_sum(np.arange(5.0), np.array([0, 2]))
    array([1., 9.])
    """
    return np.add.reduceat(a, starts, axis=0)


def group_sum(v, design):
    """
    Sum a 1-d row array within each group (``np.bincount``: faster than reduceat).

    >>> from types import SimpleNamespace
    >>> d = SimpleNamespace(gid=np.array([0, 0, 1]), n_groups=2)
    >>> group_sum(np.array([1.0, 2.0, 5.0]), d)
    array([3., 5.])
    """
    return np.bincount(design.gid, weights=v, minlength=design.n_groups)


def group_sums(cols, design):
    """
    Per-group sums of several 1-d row arrays, as a (G, len(cols)) array.

    >>> from types import SimpleNamespace
    >>> d = SimpleNamespace(gid=np.array([0, 0, 1]), n_groups=2)
    >>> group_sums([np.ones(3), np.arange(3.0)], d)
    array([[2., 1.],
           [1., 2.]])
    """
    out = np.empty((design.n_groups, len(cols)))
    for j, v in enumerate(cols):
        out[:, j] = np.bincount(design.gid, weights=v, minlength=design.n_groups)
    return out


def _columns(A):
    """Contiguous copies of the columns of an (n, q) array."""
    return [np.ascontiguousarray(A[:, j]) for j in range(A.shape[1])]


def _expand_dot(cols, v, design):
    """Row-wise ``m_t' v_i`` for per-group vectors v (G, q), with m_t given by columns."""
    sizes = design.group_sizes
    out = cols[0] * np.repeat(v[:, 0], sizes)
    for j in range(1, len(cols)):
        out += cols[j] * np.repeat(v[:, j], sizes)
    return out


def expand(a, design):
    """
    Repeat per-group rows of ``a`` to the (sorted) observations: ``a[gid]``, faster.

    >>> from types import SimpleNamespace
    >>> expand(np.array([10.0, 20.0]), SimpleNamespace(group_sizes=np.array([2, 1])))
    array([10., 10., 20.])
    """
    return np.repeat(a, design.group_sizes, axis=0)


def batched_inv(H):
    """
    Inverse of every q x q matrix in a (G, q, q) stack.

    >>> batched_inv(np.array([[[2.0, 1.0], [1.0, 1.0]]]))
    array([[[ 1., -1.],
            [-1.,  2.]]])
    """
    if H.shape[-1] == 1:
        return 1.0 / H
    if H.shape[-1] == 2:
        a, b, d = H[:, 0, 0], H[:, 0, 1], H[:, 1, 1]
        det = a * d - b * b
        out = np.empty_like(H)
        out[:, 0, 0] = d / det
        out[:, 1, 1] = a / det
        out[:, 0, 1] = out[:, 1, 0] = -b / det
        return out
    return np.linalg.inv(H)


def matvec(A, v):
    """
    Batched matrix-vector products: (G, q, r) @ (G, r) -> (G, q).

    >>> matvec(np.array([[[1.0, 2.0], [3.0, 4.0]]]), np.array([[1.0, 1.0]]))
    array([[3., 7.]])
    """
    out = A[:, :, 0] * v[:, None, 0]
    for j in range(1, A.shape[2]):
        out += A[:, :, j] * v[:, None, j]
    return out


def _solve(H, g):
    """Solve H x = g for every group (H: (G,q,q), g: (G,q))."""
    if H.shape[-1] <= 3:
        return matvec(batched_inv(H), g)
    return np.linalg.solve(H, g[..., None])[..., 0]


def _logdet(H):
    """log det of every matrix in the stack; NaN where not positive definite."""
    q = H.shape[-1]
    if q == 1:
        d = H[:, 0, 0]
    elif q == 2:
        d = H[:, 0, 0] * H[:, 1, 1] - H[:, 0, 1] ** 2
        d = np.where(H[:, 0, 0] > 0, d, -1.0)
    else:
        sign, ld = np.linalg.slogdet(H)
        return np.where(sign > 0, ld, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d > 0, np.log(np.where(d > 0, d, 1.0)), np.nan)


class ModeState:
    """
    Everything computed at the conditional modes for one parameter value.

    ``u`` (G, q) modes, ``eta`` linear predictor, ``d`` the family derivatives,
    ``M = Z L``, ``H``/``Hinv`` curvatures and their inverses, ``logdet``,
    ``h`` the log-integrand at the modes, ``converged``, ``iterations``;
    returned by :func:`solve_modes` (see its example).
    """

    __slots__ = ("u", "eta", "d", "M", "Mc", "H", "Hinv", "logdet", "h", "converged",
                 "iterations")


def _weighted_cross(A, w, starts):
    """sum_t w_t a_t a_t' per group, computing only the upper triangle."""
    q = A.shape[1]
    iu, ju = np.triu_indices(q)
    Aw = A * w[:, None]
    prods = Aw[:, iu] * A[:, ju]
    sums = seg_sum(prods, starts)
    out = np.empty((len(starts), q, q))
    out[:, iu, ju] = sums
    out[:, ju, iu] = sums
    return out


def _curvature(M, w, starts, q):
    """I + sum_t w_t m_t m_t' per group."""
    H = _weighted_cross(M, w, starts)
    H[:, np.arange(q), np.arange(q)] += 1.0
    return H


def _is_pd(H):
    """Which matrices of a (G, q, q) stack are positive definite."""
    q = H.shape[-1]
    if q == 1:
        return H[:, 0, 0] > 0
    if q == 2:
        return (H[:, 0, 0] > 0) & (H[:, 0, 0] * H[:, 1, 1] - H[:, 0, 1] ** 2 > 0)
    return np.all(np.linalg.eigvalsh(H) > 0, axis=-1)


def _rowdot(A, B):
    """Row-wise dot products of two (n, q) arrays."""
    if A.shape[1] == 1:
        return A[:, 0] * B[:, 0]
    return (A * B).sum(1)


def solve_modes(design, family, beta, L, extra, u0=None, tol=1e-10, maxiter=100):
    """
    Conditional modes ``u^_i`` of all groups by batched Newton with step-halving.

    Parameters
    ----------
    design : Design
        Sorted data (``y``, ``X``, ``Z``, ``offset``, ``gid``, ``starts``).
    family : Response
    beta, L, extra : ndarray
        Fixed effects, Cholesky factor of G, internal family parameters.
    u0 : ndarray (G, q), optional
        Warm start.

    Returns
    -------
    ModeState

    Examples
    --------
    >>> from statsmodels_glmm.simulate import simulate_longitudinal
    >>> from statsmodels_glmm.model import MixedGLM
    >>> import statsmodels.api as sm, numpy as np
    >>> df = simulate_longitudinal(n_persons=30, seed=1)
    >>> m = MixedGLM.from_formula("y ~ time + (1 | id)", df, family=sm.families.Binomial())
    >>> st = solve_modes(m.design, m.response, np.array([-1.0, 0.2]), np.eye(1), np.zeros(0))
    >>> st.converged
    True
    """
    y, Z, starts = design.y, design.Z, design.starts
    G, q = design.n_groups, Z.shape[1]
    base = design.X @ beta + design.offset
    M = Z @ L
    u = np.zeros((G, q)) if u0 is None else np.array(u0, dtype=float, copy=True)

    iu, ju = np.triu_indices(q)
    diag = np.arange(q)
    Mc = _columns(M)
    MM = [Mc[i] * Mc[j] for i, j in zip(iu, ju)]  # m_ta m_tb, fixed during the solve

    def evaluate(u):
        """eta, derivatives, h, gradient and exact curvature at u."""
        eta = base + _expand_dot(Mc, u, design)
        d = family.derivs(y, eta, extra)
        w = -d[2]
        h = group_sum(d[0], design) - 0.5 * np.einsum("gq,gq->g", u, u)
        grad = group_sums([m * d[1] for m in Mc], design) - u
        sums = group_sums([w * mm for mm in MM], design)
        H = np.empty((G, q, q))
        H[:, iu, ju] = sums
        H[:, ju, iu] = sums
        H[:, diag, diag] += 1.0
        return eta, d, h, grad, H

    eta, d, h, grad, H = evaluate(u)
    if not np.all(np.isfinite(h)):
        u = np.zeros((G, q))
        eta, d, h, grad, H = evaluate(u)
    converged = False
    it = 0
    for it in range(1, maxiter + 1):
        w = -d[2]
        Hn = H
        if not np.all(w >= 0):
            # exact Newton where the group's Hessian is positive definite (fast near the
            # mode, e.g. zero-inflated data); clipped weights elsewhere (always p.d.)
            pd_ok = _is_pd(Hn)
            if not np.all(pd_ok):
                Hn = np.where(pd_ok[:, None, None], Hn,
                              _curvature(M, np.maximum(w, 0.0), starts, q))
        step = _solve(Hn, grad)
        dec = np.einsum("gq,gq->g", step, grad)  # Newton decrement
        if np.max(np.abs(grad)) < tol or np.max(dec) < tol * tol:
            converged = True
            break
        fac = np.ones(G)
        u_new = u + step
        new = evaluate(u_new)
        for _ in range(40):
            h_new = new[2]
            bad = ~(h_new >= h - 1e-12 * (1 + np.abs(h)))
            bad |= ~np.isfinite(h_new)
            if not np.any(bad):
                break
            fac = np.where(bad, fac * 0.5, fac)
            u_new = u + fac[:, None] * step
            new = evaluate(u_new)
        u = u_new
        eta, d, h, grad, H = new
    st = ModeState()
    st.u, st.eta, st.d, st.M, st.H = u, eta, d, M, H
    st.Mc = Mc
    st.logdet = _logdet(H)
    st.Hinv = batched_inv(H)
    st.h = h
    st.converged = converged
    st.iterations = it
    return st


def laplace_loglike(design, family, cov, beta, theta, extra, u0=None, gradient=True):
    """
    Laplace log-likelihood (every constant kept) and its analytic gradient.

    Returns
    -------
    llf : float
    grad : ndarray or None
        Gradient with respect to ``[beta, theta, extra]`` (internal scale).
    state : ModeState

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.model import MixedGLM
    >>> from statsmodels_glmm.simulate import simulate_longitudinal
    >>> df = simulate_longitudinal(n_persons=30, seed=1)
    >>> m = MixedGLM.from_formula("y ~ time + (1 | id)", df, family=sm.families.Binomial())
    >>> llf, grad, st = laplace_loglike(m.design, m.response, m.cov_struct,
    ...                                 np.array([-1.0, 0.2]), np.ones(1), np.zeros(0))
    >>> grad.shape
    (3,)
    """
    L = cov.chol(theta)
    st = solve_modes(design, family, beta, L, extra, u0=u0)
    if np.any(~np.isfinite(st.logdet)) or np.any(~np.isfinite(st.h)):
        return -np.inf, None, st
    llf = float(np.sum(st.h) - 0.5 * np.sum(st.logdet))
    if not gradient:
        return llf, None, st
    return llf, _laplace_gradient(design, family, cov, L, extra, st), st


def _laplace_gradient(design, family, cov, L, extra, st):
    X, Z, y = design.X, design.Z, design.y
    M, Hinv, u = st.M, st.Hinv, st.u
    d0, d1, d2, d3 = st.d
    q = M.shape[1]
    iu, ju = np.triu_indices(q)
    Mc, Zc = st.Mc, _columns(Z)
    Ht = Hinv[:, iu, ju] * np.where(iu == ju, 1.0, 2.0)
    sizes = design.group_sizes
    s = 0.0
    for k, (i, j) in enumerate(zip(iu, ju)):
        s = s + np.repeat(Ht[:, k], sizes) * (Mc[i] * Mc[j])  # m_t' H^-1 m_t
    c = 0.5 * d3 * s
    a = matvec(Hinv, group_sums([m * c for m in Mc], design))
    ma = _expand_dot(Mc, a, design)
    r = d1 + c + d2 * ma
    g_beta = X.T @ r
    A1 = group_sums([z * r for z in Zc], design).T @ u
    A2 = group_sums([z * d1 for z in Zc], design).T @ a
    w = -d2
    zwz = group_sums([w * Zc[i] * Zc[j] for i, j in zip(iu, ju)], design)
    ZWZ = np.empty((len(u), q, q))
    ZWZ[:, iu, ju] = zwz
    ZWZ[:, ju, iu] = zwz
    T = np.tensordot(Hinv, ZWZ, axes=(0, 0))  # T[b, c, d, a] = sum_i Hinv_bc ZWZ_da
    A3 = np.einsum("bcda,cd->ab", T, L.T)
    dL = A1 + A2 - A3
    g_theta = dL[cov.rows, cov.cols]
    if family.n_extra:
        e0, e1, e2 = family.extra_derivs(y, st.eta, extra)
        g_extra = e0.sum(0) + 0.5 * (s @ e2) + ma @ e1
    else:
        g_extra = np.zeros(0)
    return np.concatenate([g_beta, g_theta, g_extra])
