"""
Adaptive Gauss-Hermite quadrature (AGQ) for scalar and vector random effects.

With ``b_i = L u_i``, ``u_i ~ N(0, I_q)`` and
``h_i(u) = sum_{t in i} log f(y_t | eta_t(u)) - u'u/2`` (as in
:mod:`statsmodels_glmm.likelihood.laplace`), group ``i`` contributes

.. math::

    \\ell_i = \\log \\int \\exp\\{h_i(u)\\} (2\\pi)^{-q/2} du .

Let ``u^_i`` be the conditional mode, ``H_i = -\\nabla^2 h_i(u^_i)``,
``H_i = C_i C_i'`` its Cholesky factorisation and ``R_i = C_i^{-T}`` (so
``R_i R_i' = H_i^{-1}``).  Substituting ``u = u^_i + R_i z`` gives
``\\ell_i = -\\tfrac12 \\log\\det H_i + \\log \\int \\exp\\{h_i(u^_i + R_i z)
+ z'z/2\\} \\phi_q(z) dz``, and the K-point Gauss-Hermite product rule for
the standard normal ``phi_q`` (nodes ``z_k = \\sqrt2 x_k``, weights
``W_k = \\prod_d w_{k_d} / \\sqrt\\pi`` built from the rule for
``\\int e^{-x^2} f(x) dx``, ``K^q`` nodes in all) gives

.. math::

    \\ell_i^{AGQ} = -\\tfrac12 \\log\\det H_i
        + \\log \\sum_{k=1}^{K^q} \\exp\\{\\log W_k + z_k'z_k/2
        + h_i(\\hat u_i + R_i z_k)\\} .

Every normalising constant of ``f`` is kept.  With ``K = 1`` (one node
``z = 0``, ``W = 1``) this is exactly the Laplace approximation; the rule is
exact when ``exp(h_i)`` is a Gaussian kernel times a polynomial of degree
``< 2K`` in each coordinate of ``z``.

**Gradient.**  Write ``u_ik = u^_i + R_i z_k``, ``p_ik`` the normalised
node weights (softmax of the terms above), ``g_ik = \\nabla_u h_i(u_ik)``,
``gbar_i = sum_k p_ik g_ik`` and ``T_i = sum_k p_ik g_ik z_k'``.  For any
parameter direction (``beta``, an entry of ``L``, a family parameter)

.. math::

    d\\ell_i = \\sum_k p_{ik} \\partial h_i(u_{ik}) \\big|_u
             + \\bar g_i' d\\hat u_i + \\mathrm{tr}(dR_i' T_i)
             - \\tfrac12 \\mathrm{tr}(H_i^{-1} dH_i),

where the first term holds ``u`` fixed; ``d u^_i = H_i^{-1} d(\\nabla_u h_i)``
(implicit differentiation of the mode condition), ``dH_i`` is the total
derivative of the curvature (it needs the third derivative ``d_3`` through
``d\\eta`` at the mode), ``dC = C \\Phi(C^{-1} dH C^{-T})`` (``Phi`` keeps
the lower triangle and halves the diagonal) and ``dR = -R dC' R``.  The
derivatives of ``u^`` and ``R`` are carried forward for all parameters at
once; the node sums are reduced over nodes first, so their cost is that of
one pass over the ``(n_rows, K^q)`` node values.
"""

from functools import lru_cache
from types import SimpleNamespace

import numpy as np

from .batched import _logdet
from .chunks import chunk_plan, seg_sum
from .laplace import _run_chunks

__all__ = ["gh_rule", "make_agq_loglike", "agq_loglike", "MAX_NODES", "MAX_SCALAR_NODES"]

#: Largest number of nodes per dimension for a scalar random effect.
MAX_SCALAR_NODES = 100
#: Largest number of nodes per group (``K ** q``) for vector random effects.
MAX_NODES = 4096
#: Node values are processed in blocks of at most this many entries.
_BLOCK = 2_000_000
#: Node blocks up to this many entries use whole-block array operations.
_SMALL_BLOCK = 131072


def gh_rule(nagq, q=1):
    """
    Gauss-Hermite product rule for a standard normal in ``q`` dimensions.

    Parameters
    ----------
    nagq : int
        Nodes per dimension ``K``.
    q : int
        Dimension.

    Returns
    -------
    z : ndarray (K**q, q)
        Nodes on the standard-normal scale (``sqrt(2) x``).
    logw : ndarray (K**q,)
        ``log W_k + z_k'z_k / 2``: the log weight for integrating
        ``exp(h(z))`` against Lebesgue measure times ``(2 pi)^{-q/2}``.

    Examples
    --------
    >>> import numpy as np
    >>> z, logw = gh_rule(5)
    >>> w = np.exp(logw - z[:, 0] ** 2 / 2)   # weights for N(0, 1)
    >>> round(float(w.sum()), 12), round(float(w @ z[:, 0] ** 2), 12)
    (1.0, 1.0)
    >>> gh_rule(1, 2)[1]
    array([0.])
    """
    z, logw = _gh_rule_cached(int(nagq), int(q))
    return z.copy(), logw.copy()


@lru_cache(maxsize=32)
def _gh_rule_cached(K, q):
    if K == 1:  # one node at the mode with weight one: exactly Laplace
        x, lw1 = np.zeros(1), np.zeros(1)
    else:
        x, w = np.polynomial.hermite.hermgauss(K)
        lw1 = np.log(w) - 0.5 * np.log(np.pi) + x * x  # log(w/sqrt(pi)) + z^2/2
    z1 = np.sqrt(2.0) * x
    grids = np.meshgrid(*([np.arange(K)] * q), indexing="ij")
    idx = np.stack([g.ravel() for g in grids], axis=1)
    return z1[idx], lw1[idx].sum(1)


def _check_nodes(nagq, q):
    K, q = int(nagq), int(q)
    if K < 1:
        raise ValueError("nagq must be a positive integer (1 = Laplace)")
    if q < 1:
        raise ValueError("adaptive quadrature needs at least one random effect")
    if q == 1 and K > MAX_SCALAR_NODES:
        raise ValueError(
            f"nagq={K} is more than {MAX_SCALAR_NODES} nodes for a scalar random effect; "
            f"use fewer nodes (nagq <= {MAX_SCALAR_NODES}; 10-25 is usually plenty) or the "
            "Laplace approximation (nagq=1)")
    if q > 1 and K ** q > MAX_NODES:
        kmax = int(np.floor(MAX_NODES ** (1.0 / q) + 1e-9))
        raise ValueError(
            f"nagq={K} with {q} random effects per group needs {K}**{q} = {K ** q} nodes per "
            f"group (at most {MAX_NODES} are allowed); use fewer nodes (nagq <= {kmax} for "
            f"q = {q}) or the Laplace approximation (nagq=1)")
    return K, q


def _chol_parts(H):
    """``C`` (lower, ``H = C C'``) and ``R = C^{-T}`` for a (G, q, q) stack."""
    q = H.shape[-1]
    if q == 1:
        C = np.sqrt(H)
        return C, 1.0 / C
    if q == 2:
        c11 = np.sqrt(H[:, 0, 0])
        c21 = H[:, 1, 0] / c11
        c22 = np.sqrt(H[:, 1, 1] - c21 * c21)
        C = np.zeros_like(H)
        C[:, 0, 0], C[:, 1, 0], C[:, 1, 1] = c11, c21, c22
        R = np.zeros_like(H)
        R[:, 0, 0], R[:, 0, 1], R[:, 1, 1] = 1.0 / c11, -c21 / (c11 * c22), 1.0 / c22
        return C, R
    C = np.linalg.cholesky(H)
    return C, np.swapaxes(np.linalg.inv(C), 1, 2)


def _node_derivs(family, y, eta, extra, ytile, want_extra):
    """``d0, d1`` (and family-parameter ``e0``) at a block of nodes, eta (n, c)."""
    n, c = eta.shape
    fast = family.logpdf_d1  # only d0 and d1 are needed at the nodes
    if ytile is not None:
        flat = np.ascontiguousarray(eta.T).ravel()
        d = fast(ytile(c), flat, extra)
        d0 = d[0].reshape(c, n).T
        d1 = d[1].reshape(c, n).T
        e0 = None
        if want_extra:
            e0 = family.extra_derivs(ytile(c), flat, extra)[0]
            e0 = e0.reshape(c, n, -1).transpose(1, 0, 2)
        return d0, d1, e0
    d0 = np.empty((n, c))
    d1 = np.empty((n, c))
    e0 = None
    for k in range(c):
        d = fast(y, eta[:, k], extra)
        d0[:, k] = d[0]
        d1[:, k] = d[1]
        if want_extra:
            ek = family.extra_derivs(y, eta[:, k], extra)[0]
            if e0 is None:
                e0 = np.empty((n, c, ek.shape[1]))
            e0[:, k] = ek
    return d0, d1, e0


_TILE_CACHE = {}


def _tiled(y, c):
    """``y`` stacked ``c`` times (node-major), cached for the last few arrays."""
    key = (id(y), y.shape, c)
    hit = _TILE_CACHE.get(key)
    if hit is not None and hit[0] is y:
        return hit[1]
    out = np.tile(y, (c, 1)) if y.ndim == 2 else np.tile(y, c)
    if len(_TILE_CACHE) > 8:
        _TILE_CACHE.clear()
    _TILE_CACHE[key] = (y, out)
    return out


def stream_exp(mx, a):
    """
    One block of a streaming per-group log-sum-exp.

    Given the running maxima ``mx`` (G,) and a block of log-terms ``a``
    (G, c), returns the new maxima, the factor ``exp(mx_old - mx_new)`` that
    rescales sums accumulated so far, and ``exp(a - mx_new)``.  NaN terms
    count as ``-inf``.

    >>> mx, scale, e = stream_exp(np.array([-np.inf]), np.array([[0.0, np.log(3.0)]]))
    >>> float(mx[0] + np.log(e.sum())) == float(np.log(4.0))
    True
    """
    a = np.where(np.isnan(a), -np.inf, a)
    new = np.maximum(mx, _row_max(a))
    safe = np.where(np.isfinite(new), new, 0.0)
    scale = np.where(np.isfinite(mx), np.exp(mx - safe), 0.0)
    return new, scale, np.exp(a - safe[:, None])


def _row_max(a):
    """Row maxima of a (G, c) array (column by column for few columns: numpy's
    reduction over a short last axis is several times slower)."""
    if a.shape[1] > 32:
        return a.max(1)
    out = a[:, 0].copy()
    for k in range(1, a.shape[1]):
        np.maximum(out, a[:, k], out=out)
    return out


def _row_wise(family):
    """True when ``derivs`` may be called on rows stacked node after node."""
    return family.rowwise


def agq_loglike(design, family, cov, beta, theta, extra, nagq, u0=None, gradient=True,
                rule=None, n_jobs=None, per_group=False):
    """
    Adaptive Gauss-Hermite log-likelihood (every constant kept) and its gradient.

    Groups are processed in chunks of about ``parallel.CHUNK_ROWS`` rows: a
    chunk's modes, its node values (in blocks of at most ``_BLOCK`` entries)
    and its share of the gradient are computed together, so memory stays
    bounded by the chunk size whatever the number of rows and nodes, and
    chunks may run on several threads (``n_jobs``; the numbers do not depend
    on it).

    Parameters
    ----------
    design : Design
    family : Response
    cov : CovStructure
    beta, theta, extra : ndarray
        Fixed effects, internal covariance parameters, internal family parameters.
    nagq : int
        Nodes per random-effect dimension (``K``); ``K ** q`` nodes per group.
    u0 : ndarray (G, q), optional
        Warm start for the conditional modes.
    gradient : bool
        Also return the analytic gradient with respect to ``[beta, theta, extra]``.
    rule : tuple, optional
        ``(z, logw)`` from :func:`gh_rule` (to reuse a rule across calls).
    n_jobs : int, optional
        Threads (default: see :func:`statsmodels_glmm.likelihood.parallel.num_threads`).
    per_group : bool
        Return the terms of the sums instead: ``llf`` as a (G,) array of the
        groups' log-integrals ``l_i`` and ``grad`` as a (G, k) array of their
        gradients (the score contributions of the groups).

    Returns
    -------
    llf : float (ndarray (G,) with ``per_group``)
    grad : ndarray or None
    state : ModeState
        The conditional modes and curvatures (shared with the Laplace code).

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from statsmodels_glmm.model import MixedGLM
    >>> from statsmodels_glmm.likelihood.laplace import laplace_loglike
    >>> from statsmodels_glmm.simulate import simulate_longitudinal
    >>> df = simulate_longitudinal(n_persons=30, seed=1)
    >>> m = MixedGLM.from_formula("y ~ time + (1 | id)", df, family=sm.families.Binomial())
    >>> args = (m.design, m.response, m.cov_struct, np.array([-1.0, 0.2]), np.ones(1),
    ...         np.zeros(0))
    >>> l1 = agq_loglike(*args, nagq=1)[0]
    >>> bool(abs(l1 - laplace_loglike(*args)[0]) < 1e-12)
    True
    >>> l15, l25 = agq_loglike(*args, nagq=15)[0], agq_loglike(*args, nagq=25)[0]
    >>> bool(abs(l15 - l25) < 1e-8)
    True
    >>> lg, scores, _ = agq_loglike(*args, nagq=15, per_group=True)
    >>> bool(np.allclose(scores.sum(0), agq_loglike(*args, nagq=15)[1], rtol=1e-12))
    True
    """
    K, q = _check_nodes(nagq, design.Z.shape[1])
    if rule is None:
        rule = _gh_rule_cached(K, q)
    zn, lw = rule
    nk = len(lw)
    L = np.asarray(cov.chol(theta), dtype=float)
    plan = chunk_plan(design)
    # small data: all nodes of a chunk in one call of the family on stacked rows; large
    # data: one call per node, so that what a family caches for each chunk's rows holds
    stacked = _row_wise(family) and len(plan.chunks) <= 2
    lg = np.empty(design.n_groups)
    want_e = gradient and family.n_extra > 0

    def task(c, fam, loc, Hinv):
        if not (np.all(np.isfinite(loc.h)) and np.all(np.isfinite(_logdet(loc.H)))):
            return False, None
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return _chunk_agq(c, fam, cov, L, extra, loc, Hinv, zn, lw, gradient, want_e,
                              stacked, lg, per_group)

    st, parts = _run_chunks(design, family, beta, L, extra, u0, 1e-10, 100, n_jobs, task,
                            work=design.nobs * nk)
    if per_group:
        if not all(p[0] for p in parts):
            return np.full(design.n_groups, -np.inf), None, st
        lg -= 0.5 * st.logdet
        if not gradient:
            return lg, None, st
        return lg, np.concatenate([p[1] for p in parts], axis=0), st
    if not all(p[0] for p in parts):
        return -np.inf, None, st
    llf = float(np.sum(lg) - 0.5 * np.sum(st.logdet))
    if not np.isfinite(llf):
        return -np.inf, None, st
    if not gradient:
        return llf, None, st
    grad = parts[0][1].copy()
    for p in parts[1:]:
        grad += p[1]
    return llf, grad, st


def _node_values(family, y, etaT, extra, ytile, want_extra, want_d1=True):
    """
    ``d0, d1`` (and family-parameter ``e0``) at a block of nodes, node-major.

    ``etaT`` is (nodes, rows); the results have the same layout (``e0``:
    (nodes, rows, n_extra)).  With ``ytile`` the family is called once on the
    rows stacked node after node, otherwise once per node.  Without
    ``want_d1`` (no gradient wanted) only the log-density is computed and
    ``d1`` is None.
    """
    c, n = etaT.shape
    if want_d1:
        fn = family.logpdf_d1  # only d0 and d1 are needed at the nodes
    else:
        def fn(y_, eta_, extra_):
            return family.logpdf(y_, eta_, extra_), None
    if ytile is not None:
        flat = etaT.ravel()
        d = fn(ytile(c), flat, extra)
        e0 = None
        if want_extra:
            e0 = family.extra_derivs(ytile(c), flat, extra)[0].reshape(c, n, -1)
        return d[0].reshape(c, n), (d[1].reshape(c, n) if want_d1 else None), e0
    d0 = np.empty((c, n))
    d1 = np.empty((c, n)) if want_d1 else None
    e0 = None
    for k in range(c):
        d = fn(y, etaT[k], extra)
        d0[k] = d[0]
        if want_d1:
            d1[k] = d[1]
        if want_extra:
            ek = family.extra_derivs(y, etaT[k], extra)[0]
            if e0 is None:
                e0 = np.empty((c, n, ek.shape[1]))
            e0[k] = ek
    return d0, d1, e0


def _node_group_sums(AT, gid, starts, G, small):
    """Per-group sums of node-major row values ``AT`` (nodes, rows) as (G, nodes)."""
    if small:
        return np.add.reduceat(AT.T, starts, axis=0)
    out = np.empty((G, AT.shape[0]))
    for k in range(AT.shape[0]):
        out[:, k] = np.bincount(gid, weights=AT[k], minlength=G)
    return out


def _chunk_agq(c, family, cov, L, extra, loc, Hinv, zn, lw, gradient, want_e, stacked, lg,
               per_group=False):
    """
    Node sums of one chunk: writes its groups' log-integrals, returns its gradient
    (one row per group with ``per_group``).
    """
    G, n, q = c.n_groups, c.nobs, L.shape[0]
    nk = len(lw)
    y, sizes, gid, starts = c.y, c.sizes, c.gid, c.starts
    u, Mc = loc.u, loc.Mc
    C, R = _chol_parts(loc.H)
    MRt = np.empty((q, n))  # eta at node k = eta^ + (MR z_k), MR = rows m_t' R_i
    for b in range(q):
        col = Mc[0] * np.repeat(R[:, 0, b], sizes)
        for a in range(1, q):
            col += Mc[a] * np.repeat(R[:, a, b], sizes)
        MRt[b] = col
    ytile = (lambda k, _y=y: _tiled(_y, k)) if stacked else None
    mx = np.full(G, -np.inf)
    s = np.zeros(G)
    gbar = np.zeros((G, q))
    T = np.zeros((G, q, q))
    rt = np.zeros(n)
    Wt = np.zeros((q, n))
    Et = np.zeros((n, family.n_extra)) if want_e else None
    block = max(1, min(nk, _BLOCK // max(n, 1)))
    for k0 in range(0, nk, block):
        zk = zn[k0:k0 + block]
        nb = len(zk)
        small = nb * n <= _SMALL_BLOCK
        if small:
            etaT = zk @ MRt
            etaT += loc.eta
        else:
            etaT = np.empty((nb, n))
            for k in range(nb):  # eta^ + MR z_k without a BLAS call on skinny matrices
                np.multiply(MRt[0], zk[k, 0], out=etaT[k])
                for j in range(1, q):
                    etaT[k] += MRt[j] * zk[k, j]
                etaT[k] += loc.eta
        d0, d1, e0 = _node_values(family, y, etaT, extra, ytile, want_e, gradient)
        uk = u[:, None, :] + np.matmul(R, zk.T).transpose(0, 2, 1)  # (G, nodes, q)
        uu = uk[:, :, 0] ** 2
        for j in range(1, q):
            uu += uk[:, :, j] ** 2
        a = _node_group_sums(d0, gid, starts, G, small)
        a += lw[k0:k0 + block]
        a -= 0.5 * uu
        mx, scale, e = stream_exp(mx, a)
        s = s * scale + e.sum(1)
        if not gradient:
            continue
        e_rows = np.repeat(e.T, sizes, axis=1)  # (nodes, rows)
        d1 = np.where(e_rows > 0, d1, 0.0)  # nodes of zero weight may be non-finite
        S = np.empty((G, nb, q))
        for j in range(q):
            S[:, :, j] = _node_group_sums(d1 * Mc[j], gid, starts, G, small)
        g = S - uk
        eg = e[:, :, None] * g
        gbar = gbar * scale[:, None] + eg.sum(1)
        T = T * scale[:, None, None] + np.matmul(eg.transpose(0, 2, 1), zk)
        ed1 = e_rows * d1
        sr = np.repeat(scale, sizes)
        rt = rt * sr + ed1.sum(0)
        for j in range(q):
            Wt[j] = Wt[j] * sr + zk[:, j] @ ed1
        if want_e:
            e0 = np.where(e_rows[:, :, None] > 0, e0, 0.0)
            Et = Et * sr[:, None] + np.einsum("kn,knj->nj", e_rows, e0)
    if np.any(~np.isfinite(mx)) or np.any(s <= 0):
        return False, None
    lg[c.g0:c.g1] = mx + np.log(s)
    if not gradient:
        return True, None
    gbar /= s[:, None]
    T /= s[:, None, None]
    s_rows = np.repeat(s, sizes)
    rt /= s_rows
    Wt = (Wt / s_rows).T
    if want_e:
        Et /= s_rows[:, None]
    st = SimpleNamespace(M=np.column_stack(Mc), u=u, Hinv=Hinv, d=loc.d, eta=loc.eta)
    return True, _agq_gradient(c, family, cov, L, extra, st, C, R, gbar, T, rt, Wt, Et,
                               per_group)


def _agq_gradient(design, family, cov, L, extra, st, C, R, gbar, T, rt, Wt, Et,
                  per_group=False):
    X, Z, starts, gid, y = design.X, design.Z, design.starts, design.gid, design.y
    n, p = X.shape
    q = Z.shape[1]
    nth = cov.n_params
    ne = family.n_extra
    P = p + nth + ne
    M, u, Hinv = st.M, st.u, st.Hinv
    d0, d1, d2, d3 = st.d
    U = u[gid]

    # direct part: derivative of the node sums with u held fixed
    V = rt[:, None] * U + np.einsum("nab,nb->na", R[gid], Wt)
    if per_group:
        rows = [X * rt[:, None], Z[:, cov.rows] * V[:, cov.cols]] + ([Et] if ne else [])
        direct = seg_sum(np.hstack(rows), starts)
    else:
        A = np.einsum("na,nb->ab", Z, V)
        direct = np.concatenate([X.T @ rt, A[cov.rows, cov.cols],
                                 Et.sum(0) if ne else np.zeros(0)])

    # forward derivatives of the mode, the curvature and the node scaling
    dbase = np.zeros((n, P))
    dbase[:, :p] = X
    dM = np.zeros((n, q, P))
    dM[:, cov.cols, p + np.arange(nth)] = Z[:, cov.rows]
    deta_fixed = dbase + np.einsum("naP,na->nP", dM, U)
    rhs_rows = dM * d1[:, None, None] + M[:, :, None] * (d2[:, None] * deta_fixed)[:, None, :]
    if ne:
        e0, e1, e2 = family.extra_derivs(y, st.eta, extra)
        rhs_rows[:, :, p + nth:] += M[:, :, None] * e1[:, None, :]
    du = np.einsum("gab,gbP->gaP", Hinv, seg_sum(rhs_rows, starts))
    deta = deta_fixed + np.einsum("na,naP->nP", M, du[gid])
    dw = -d3[:, None] * deta
    if ne:
        dw[:, p + nth:] -= e2
    w = -d2
    MM = M[:, :, None] * M[:, None, :]
    wMdM = (w[:, None, None] * M[:, :, None])[..., None] * dM[:, None, :, :]
    dH_rows = MM[..., None] * dw[:, None, None, :] + wMdM + np.swapaxes(wMdM, 1, 2)
    dH = seg_sum(dH_rows, starts)  # (G, q, q, P)

    Ci = np.swapaxes(R, 1, 2)  # C^{-1}
    Amat = np.einsum("gab,gbcP,gdc->gadP", Ci, dH, Ci)
    tril = np.tril(np.ones((q, q))) - 0.5 * np.eye(q)
    dC = np.einsum("gab,gbcP->gacP", C, Amat * tril[None, :, :, None])
    dR = -np.einsum("gab,gcbP,gcd->gadP", R, dC, R)

    if per_group:
        implicit = (np.einsum("ga,gaP->gP", gbar, du) + np.einsum("gabP,gab->gP", dR, T)
                    - 0.5 * np.einsum("gab,gbaP->gP", Hinv, dH))
        return direct + implicit
    implicit = (np.einsum("ga,gaP->P", gbar, du) + np.einsum("gabP,gab->P", dR, T)
                - 0.5 * np.einsum("gab,gbaP->P", Hinv, dH))
    return direct + implicit


def make_agq_loglike(nagq, q):
    """
    An AGQ log-likelihood function with the signature of ``laplace_loglike``.

    Parameters
    ----------
    nagq : int
        Nodes per random-effect dimension (1 gives the Laplace approximation).
    q : int
        Random effects per group.

    Returns
    -------
    callable
        ``fn(design, family, cov, beta, theta, extra, u0=None, gradient=True, n_jobs=None,
        per_group=False)`` returning ``(llf, grad, state)``.

    Raises
    ------
    ValueError
        When the node count is impractical (scalar ``nagq > 100``, or
        ``nagq ** q > 4096`` nodes per group); the message names the
        alternatives.

    Examples
    --------
    >>> fn = make_agq_loglike(7, 2)
    >>> fn.nagq, fn.q
    (7, 2)
    >>> make_agq_loglike(20, 3)
    Traceback (most recent call last):
    ...
    ValueError: nagq=20 with 3 random effects per group needs 20**3 = 8000 nodes per group ...
    """
    K, q = _check_nodes(nagq, q)
    rule = _gh_rule_cached(K, q)

    def fn(design, family, cov, beta, theta, extra, u0=None, gradient=True, n_jobs=None,
           per_group=False):
        return agq_loglike(design, family, cov, beta, theta, extra, K, u0=u0,
                           gradient=gradient, rule=rule, n_jobs=n_jobs, per_group=per_group)

    fn.nagq, fn.q = K, q
    fn.__doc__ = f"Adaptive Gauss-Hermite log-likelihood with {K} nodes per dimension (q={q})."
    return fn
