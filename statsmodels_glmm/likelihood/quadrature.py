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
the lower triangle and halves the diagonal) and ``dR = -R dC' R``.

**Computation.**  The node sums need only ``r_t = sum_k p_ik d1_tk`` and
``W_t = sum_k p_ik d1_tk z_k`` on the rows and the moments
``sum_k p_ik z_k``, ``sum_k p_ik z_k z_k'`` on the groups, since
``g_ik = sum_t m_t d1_tk - u^_i - R_i z_k``; they are computed in one pass
over the ``(K^q, n_rows)`` node values.  Since ``C' R = I``, the last two
terms equal ``<F_i, dH_i>`` with
``F_i = -R_i [(T_i' R_i) o Phi] R_i' - H_i^{-1}/2``; as ``dH_i`` and
``d u^_i`` are sums over the group's rows of terms linear in the parameter
direction, the whole gradient becomes a few weighted sums over the rows
(see :func:`_agq_gradient`), with no per-parameter array of curvatures.
"""

import threading
import weakref
from functools import lru_cache

import numpy as np
from scipy import sparse

from . import compiled
from .batched import _logdet, _rowdot, _triu
from .chunks import chunk_plan
from .laplace import _run_chunks

__all__ = ["gh_rule", "make_agq_loglike", "agq_loglike", "MAX_NODES", "MAX_SCALAR_NODES"]

#: Largest number of nodes per dimension for a scalar random effect.
MAX_SCALAR_NODES = 100
#: Largest number of nodes per group (``K ** q``) for vector random effects.
MAX_NODES = 4096
#: Node values are processed in blocks of at most this many entries (2 MB arrays, which
#: stay in cache and are reused from one block and evaluation to the next).
_BLOCK = 262_144
#: Node blocks of at most this many values call the family once on their rows stacked
#: node after node; larger blocks call it once per node (arrays that stay in cache).
_STACK_ENTRIES = 16_384


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
    return _stream_exp_inplace(mx, np.array(a, dtype=float))


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
    # tiny node blocks of few chunks: all nodes in one call of the family on stacked rows
    # (see _STACK_ENTRIES); otherwise one call per node, so that the arrays stay in cache
    # and what a family caches for each chunk's rows holds
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
    d0 = _scratch("d0", (c, n))
    d1 = _scratch("d1", (c, n)) if want_d1 else None
    # the compiled kernel where there is one (the same numbers)
    if not want_extra and compiled.node_values(family, y, etaT, want_d1, d0, d1):
        return d0, d1, None
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


_SCRATCH = threading.local()


def _scratch(key, shape):
    """
    A work array of ``shape`` kept for this thread (contents undefined): the node
    blocks of every evaluation reuse the same memory instead of fresh pages.
    """
    size = int(np.prod(shape))
    pool = getattr(_SCRATCH, "pool", None)
    if pool is None:
        pool = _SCRATCH.pool = {}
    buf = pool.get(key)
    if buf is None or buf.size < size:
        buf = np.empty(size)
        if size <= _BLOCK:
            pool[key] = buf
    return buf[:size].reshape(shape)


_GROUP_MATRICES = {}


def _group_matrix(c):
    """
    The sparse (G, n) 0/1 matrix ``S`` of a chunk's groups, so that ``S @ A`` sums the
    rows of ``A`` within every group (in row order, as ``np.bincount`` does); kept as
    long as the chunk's group codes live.
    """
    key = id(c.gid)
    hit = _GROUP_MATRICES.get(key)
    if hit is not None and hit[0]() is c.gid:
        return hit[1]
    n, G = c.nobs, c.n_groups
    indptr = np.concatenate([[0], np.cumsum(c.sizes)])
    S = sparse.csr_matrix((np.ones(n), np.arange(n), indptr), shape=(G, n))
    _GROUP_MATRICES[key] = (weakref.ref(c.gid, lambda _, k=key: _GROUP_MATRICES.pop(k, None)),
                            S)
    return S


def _stream_exp_inplace(mx, a):
    """:func:`stream_exp` that overwrites ``a`` (G, c) with the exponentials."""
    nan = np.isnan(a)
    if nan.any():
        a[nan] = -np.inf
    new = np.maximum(mx, _row_max(a))
    safe = np.where(np.isfinite(new), new, 0.0)
    scale = np.where(np.isfinite(mx), np.exp(mx - safe), 0.0)
    a -= safe[:, None]
    return new, scale, np.exp(a, out=a)


_RULE_PARTS = {}


def _rule_parts(zn):
    """
    ``[1, z_k]`` as a (1 + q, nk) array and the moment columns ``1, z_a, z_a z_b``
    (``a <= b``) as (nk, 1 + q + q(q+1)/2), cached for the last few rules.
    """
    hit = _RULE_PARTS.get(id(zn))
    if hit is not None and hit[0] is zn:
        return hit[1]
    q = zn.shape[1]
    iu, ju = np.triu_indices(q)
    parts = (np.vstack([np.ones(len(zn)), zn.T]),
             np.column_stack([np.ones(len(zn)), zn, zn[:, iu] * zn[:, ju]]))
    if len(_RULE_PARTS) > 16:
        _RULE_PARTS.clear()
    _RULE_PARTS[id(zn)] = (zn, parts)
    return parts


@lru_cache(maxsize=8)
def _phi(q):
    """The lower triangle with halved diagonal as a (q, q, 1) mask (cached, read-only)."""
    out = (np.tril(np.ones((q, q))) - 0.5 * np.eye(q))[:, :, None]
    out.flags.writeable = False
    return out


def _entries(A):
    """A (G, q, q) stack as a (q, q, G) array, every entry one contiguous vector."""
    return np.ascontiguousarray(np.moveaxis(A, 0, -1))


def _mm(A, B):
    """Matrix products of (q, q, G) stacks (entry-major), one entry at a time."""
    q = A.shape[0]
    if q > 3:
        return np.moveaxis(np.matmul(np.moveaxis(A, -1, 0), np.moveaxis(B, -1, 0)), 0, -1)
    out = np.empty((q, q, A.shape[2]))
    for i in range(q):
        for j in range(q):
            acc = np.multiply(A[i, 0], B[0, j], out=out[i, j])
            for k in range(1, q):
                acc += A[i, k] * B[k, j]
    return out


def _mv(A, v):
    """Matrix-vector products of a (q, q, G) stack and a (q, G) array."""
    out = A[:, 0] * v[0]
    for k in range(1, A.shape[0]):
        out += A[:, k] * v[k]
    return out


def _chunk_agq(c, family, cov, L, extra, loc, Hinv, zn, lw, gradient, want_e, stacked, lg,
               per_group=False):
    """
    Node sums of one chunk: writes its groups' log-integrals, returns its gradient
    (one row per group with ``per_group``).

    Values at the nodes are (nodes, rows) arrays: ``eta`` at all nodes is one
    matrix product ``[1, z_k] [eta^, m_t' R_i]'``, the group sums of the
    log-densities one sparse product, and the node sums the gradient needs
    are reduced over the nodes at once: ``r_t = sum_k p_ik d1_tk`` and
    ``W_t = sum_k p_ik d1_tk z_k`` on the rows (one matrix product), the
    weighted moments ``sum_k p_ik z_k`` and ``sum_k p_ik z_k z_k'`` on the
    groups.
    """
    G, n, q = c.n_groups, c.nobs, L.shape[0]
    nk = len(lw)
    y, sizes, gid = c.y, c.sizes, c.gid
    u, Mc = loc.u, loc.Mc
    R = _chol_parts(loc.H)[1]
    S = _group_matrix(c)
    augT = np.empty((q + 1, n))  # eta at node k = [1, z_k] @ augT, rows MR = m_t' R_i
    augT[0] = loc.eta
    for b in range(q):
        col = augT[b + 1]
        np.multiply(Mc[0], np.repeat(R[:, 0, b], sizes), out=col)
        for a in range(1, q):
            col += Mc[a] * np.repeat(R[:, a, b], sizes)
    zaug, basis = _rule_parts(zn)  # [1, z_k] (1 + q, nk) and moment columns
    # |u_ik|^2 = |u_i + R_i z_k|^2 = u'u + 2 u'R z_k + z_k'R'R z_k: coefficients of the
    # moment columns, so that all nodes' squared norms are one matrix product
    unorm = np.empty((G, basis.shape[1]))
    unorm[:, 0] = _rowdot(u, u)
    for b in range(q):
        unorm[:, 1 + b] = 2.0 * _rowdot(u, R[:, :, b])
    for k, (a, b) in enumerate(zip(*_triu(q))):
        unorm[:, q + 1 + k] = (1.0 if a == b else 2.0) * _rowdot(R[:, :, a], R[:, :, b])
    ytile = (lambda k, _y=y: _tiled(_y, k)) if stacked else None
    mx = np.full(G, -np.inf)
    mom = np.zeros((G, basis.shape[1]))
    rwT = np.zeros((q + 1, n))  # rows r_t, W_t
    Et = np.zeros((n, family.n_extra)) if want_e else None
    block = max(1, min(nk, _BLOCK // max(n, 1)))
    for k0 in range(0, nk, block):
        za = zaug[:, k0:k0 + block]
        nb = za.shape[1]
        etaT = np.matmul(za.T, augT, out=_scratch("eta", (nb, n)))
        d0, d1, e0 = _node_values(family, y, etaT, extra,
                                  ytile if nb * n <= _STACK_ENTRIES else None, want_e, gradient)
        d0_rows = _scratch("d0_rows", (n, nb))
        np.copyto(d0_rows, d0.T)
        a = S @ d0_rows  # (G, nodes)
        a += lw[k0:k0 + block]
        uu = np.matmul(unorm, basis[k0:k0 + block].T, out=_scratch("uu", (G, nb)))
        uu *= 0.5
        a -= uu
        mx, scale, e = _stream_exp_inplace(mx, a)
        mom *= scale[:, None]
        mom += e @ basis[k0:k0 + block]
        if not gradient:
            continue
        eT = _scratch("eT", (nb, G))
        np.copyto(eT, e.T)
        e_rows = np.take(eT, gid, axis=1, out=_scratch("e", (nb, n)),
                         mode="clip")  # (nodes, rows); "clip" writes out unbuffered
        sr = np.repeat(scale, sizes)
        if want_e:
            e0 = np.where(e_rows[:, :, None] > 0, e0, 0.0)
            Et = Et * sr[:, None] + np.einsum("kn,knj->nj", e_rows, e0)
        part = za @ np.multiply(e_rows, d1, out=e_rows)
        if not np.all(np.isfinite(part)):  # nodes of zero weight may be non-finite
            e_rows = np.take(eT, gid, axis=1)
            part = za @ (e_rows * np.where(e_rows > 0, d1, 0.0))
        rwT *= sr
        rwT += part
    s = mom[:, 0].copy()
    if np.any(~np.isfinite(mx)) or np.any(s <= 0):
        return False, None
    lg[c.g0:c.g1] = mx + np.log(s)
    if not gradient:
        return True, None
    mom /= s[:, None]
    s_rows = np.repeat(s, sizes)
    rwT /= s_rows
    if want_e:
        Et /= s_rows[:, None]
    momT = np.ascontiguousarray(mom.T)
    Z2 = np.empty((q, q, G))
    for k, (a, b) in enumerate(zip(*_triu(q))):
        Z2[a, b] = Z2[b, a] = momT[q + 1 + k]
    return True, _agq_gradient(c, family, cov, extra, loc, Hinv, R, S, rwT, Et, momT[1:q + 1],
                               Z2, per_group)


def _agq_gradient(c, family, cov, extra, loc, Hinv, R, S, rwT, Et, zbar, Z2, per_group=False):
    """
    Gradient of one chunk from its node sums, contracted to sums over the rows.

    With ``gbar_i`` and ``T_i`` as in the module docstring, and ``C' R = I``,
    the terms ``tr(dR' T) - tr(H^{-1} dH) / 2`` equal ``<F_i, dH_i>`` with
    ``F = -R [(T' R) o Phi] R' - H^{-1} / 2`` (``Phi`` the lower triangle
    with halved diagonal), and ``dH_i`` and ``d u^_i`` are sums over the
    group's rows of terms linear in the parameter direction.  So every
    parameter's derivative is one sum over the rows:

    * beta: ``sum_t x_t rho_t``,
      ``rho_t = r_t + (lambda_i'm_t) d2_t - f_t d3_t``;
    * an entry ``(r, c)`` of ``L``: ``sum_t z_tr Omega_tc``,
      ``Omega_t = rho_t u_i + R_i W_t + d1_t lambda_i - d2_t v_t``;
    * family parameters: ``sum_t [E_t + (lambda_i'm_t) e1_t - f_t e2_t]``,

    where ``f_t = m_t' F_i m_t``, ``v_t = (F_i + F_i') m_t`` and
    ``lambda_i = H_i^{-1} (gbar_i - sum_t f_t d3_t m_t)``; ``r_t``, ``W_t``
    and ``E_t`` are the node averages of ``d1``, ``d1 z`` and ``e0``.
    Per-group quantities are (q, q, G) stacks here (:func:`_entries`).
    """
    X, Z, y, sizes = c.X, c.Z, c.y, c.sizes
    G, q = len(loc.u), len(loc.Mc)
    ne = family.n_extra
    Mc = loc.Mc
    d0, d1, d2, d3 = loc.d
    rt = rwT[0]
    Re, He = _entries(R), _entries(Hinv)
    uT = np.ascontiguousarray(loc.u.T)

    def rep(v):
        return np.repeat(v, sizes)

    # gbar = sum_t m_t r_t - u - R zbar,  T = sum_t m_t W_t' - u zbar' - R Z2
    sums = S @ np.column_stack([Mc[a] * rwT[b] for a in range(q) for b in range(q + 1)])
    sums = np.ascontiguousarray(sums.T).reshape(q, q + 1, G)
    gbar = sums[:, 0] - uT - _mv(Re, zbar)
    T = sums[:, 1:] - uT[:, None] * zbar[None] - _mm(Re, Z2)
    D = _mm(T.transpose(1, 0, 2), Re)
    D *= _phi(q)
    F = _mm(_mm(Re, D), Re.transpose(1, 0, 2))
    F += 0.5 * He
    F2 = F + F.transpose(1, 0, 2)  # -(F + F') of the docstring, F here being -F
    # v_t = (F + F') m_t and f_t = m_t' F m_t = m_t' v_t / 2, F expanded to the rows
    v = []
    for a in range(q):
        va = Mc[0] * rep(F2[a, 0])
        for b in range(1, q):
            va += Mc[b] * rep(F2[a, b])
        va *= -1.0
        v.append(va)
    f = Mc[0] * v[0]
    for a in range(1, q):
        f += Mc[a] * v[a]
    f *= 0.5
    fd3 = f * d3
    kappa = (S @ np.column_stack([fd3 * Mc[a] for a in range(q)])).T
    lam = _mv(He, gbar - kappa)
    lam_rows = [rep(lam[a]) for a in range(q)]
    lm = Mc[0] * lam_rows[0]
    for a in range(1, q):
        lm += Mc[a] * lam_rows[a]
    rho = rt + lm * d2 - fd3
    OmegaT = np.empty((q, len(rt)))
    for a in range(q):
        col = np.multiply(rho, rep(uT[a]), out=OmegaT[a])
        for b in range(q):
            col += rep(Re[a, b]) * rwT[b + 1]
        col += d1 * lam_rows[a]
        col -= d2 * v[a]
    extra_rows = None
    if ne:
        e0, e1, e2 = family.extra_derivs(y, loc.eta, extra)
        extra_rows = Et + lm[:, None] * e1 - f[:, None] * e2
    if per_group:
        parts = [X * rho[:, None], Z[:, cov.rows] * OmegaT[cov.cols].T]
        return S @ np.hstack(parts + ([extra_rows] if ne else []))
    A = OmegaT @ Z  # A[c, r] = sum_t Omega_tc z_tr
    return np.concatenate([rho @ X, A[cov.cols, cov.rows]]
                          + ([extra_rows.sum(0)] if ne else []))


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
