"""
The fixed-effects block of the Hessian of the Laplace log-likelihood for several
random-effect terms (crossed, nested), in closed form.

Notation of :mod:`.sparse_laplace`: rows ``r = 1..n``, stacked spherical effects
``u`` (length ``N``), ``eta = X beta + M u + offset`` with ``M = Z Lambda``, per-row
log-density ``l(eta)`` with derivatives ``d_1 .. d_4`` in ``eta``,
``w = -d_2``, ``w' = dw / deta = -d_3``, ``w'' = -d_4``.  The mode ``u^`` maximises
``sum l - u'u/2``, ``H = I + M' W M`` and the Laplace log-likelihood is
``L(beta) = sum l(eta^) - u^'u^/2 - log det(H)/2``.  With ``P = M H^{-1} M'``
(``n x n``, never formed) the linear predictor at the modes moves as
``D = d eta^ / d beta = (I - P W) X`` (``n x p``), and

.. math::

    \\frac{\\partial^2 L}{\\partial \\beta_j \\partial \\beta_k} =
        -(X' W D)_{jk}
        + \\tfrac12 \\operatorname{tr}(H^{-1} K_j H^{-1} K_k)
        - \\tfrac12 \\sum_r P_{rr} w''_r D_{rj} D_{rk}
        + \\tfrac12 \\sum_s v_s w'_s D_{sj} D_{sk},

with ``K_j = M' diag(w' * D[:, j]) M = dH / dbeta_j`` and
``v = P (diag(P) * w')``.  The first term is the derivative of the envelope term
``X' d_1(eta^)``; the others differentiate ``-tr(H^{-1} K_j) / 2``: through
``H^{-1}`` (the trace term, ``= 1/2 sum_rs P_rs^2 w'_r D_rj w'_s D_sk``), through
``w'`` (the ``w''`` term) and through ``D`` itself, which moves as
``dD_j / dbeta_k = -P diag(w' * D[:, k]) D[:, j]`` (the ``v`` term).  For the
Gaussian family ``w' = 0`` and the block is ``-X' (W^{-1} + M M')^{-1} X``.

Only ``N x N`` objects are built: ``H^{-1}`` densely, from the factorisation at
the modes that the state holds (or from ``H``, scattered from the row-local values
of ``M`` and inverted by LAPACK); ``diag(P)`` and products with ``P`` by
gathering from ``H^{-1}`` on each row's ``Q`` effects; ``K_j`` as a sparse matrix
on the pattern of ``M'M``; ``tr(H^{-1} K_j H^{-1} K_k) = sum(Z_j * Z_k')`` with
``Z_j = K_j H^{-1}``.  The cost is one ``N x N`` inversion plus ``p`` sparse-dense
products; above :data:`MAX_EFFECTS` effects :func:`sparse_beta_hessian` declines
(returns None) and the caller differences the gradient instead.  The Newton steps
of a fit use the cheaper :func:`joint_mode_curvature` (the first term) at any size,
and this closed form only where the steps it gives fail.
"""

import weakref

import numpy as np
from scipy import sparse
from scipy.linalg import lapack

from .dense_factor import DenseFactor
from .schur import SchurFactor
from ..spec.terms import split_thetas

__all__ = ["sparse_beta_hessian", "joint_mode_curvature", "MAX_EFFECTS", "ENABLED"]

#: When False, fits difference the gradient in every fixed-effect column instead
#: (the model's ``_beta_hessian`` reads it; for comparisons of the two ways).
ENABLED = True

#: Largest number of stacked random effects ``N`` for which the closed form is
#: computed.  Its cost (one dense ``N x N`` inversion and ``p`` products of
#: ``N x N`` matrices) grows with ``N`` faster than that of the ``p`` gradient
#: evaluations it replaces, whose cost grows with the rows and the largest dense
#: block of the mode equations.  Measured on two-factor Poisson and binary designs
#: (single-threaded BLAS): with nested factors (blocks of one effect) it is about
#: even at ``N = 200`` and slower from 250 on; with crossed factors it stays ahead
#: to about 300 and is even from 340 (VerbAgg) to 600.
MAX_EFFECTS = 200

#: Bytes the matrices ``K_j H^{-1}`` of two blocks of ``j`` may hold at once;
#: beyond it they are made in blocks, some of them more than once.
PRODUCT_BYTES = 256 * 2 ** 20

# per problem: the pattern of M'M (kept while the problem lives)
_PATTERNS = weakref.WeakKeyDictionary()


def _pattern(pr):
    """
    The sparsity pattern of ``M'M`` (which is that of ``H`` and every ``K_j``):
    ``(pos, keys, cols, indptr)`` with ``pos`` the place of each row's slot pair
    ``(t, q, q')`` among the sorted flat keys ``a N + b`` of the pattern, and the
    CSR ``cols``/``indptr`` of the pattern.
    """
    got = _PATTERNS.get(pr)
    if got is None or got[0] is not pr.J:
        J, N = pr.J, pr.n_effects
        flat = (J[:, :, None] * N + J[:, None, :]).ravel()
        keys, pos = np.unique(flat, return_inverse=True)
        rows, cols = np.divmod(keys, N)
        indptr = np.searchsorted(rows, np.arange(N + 1))
        got = (pr.J, pos.ravel(), keys, cols, indptr)
        _PATTERNS[pr] = got
    return got[1:]


def _dense_inverse(N, keys, hdata):
    """``H^{-1}`` from the values ``hdata`` of ``M'WM`` on its pattern, or None when
    ``H = I + M'WM`` is not positive definite."""
    H = np.zeros(N * N)
    H[keys] = hdata
    H = H.reshape(N, N)
    H[np.diag_indices(N)] += 1.0
    if not np.all(np.isfinite(hdata)):
        return None
    c, info = lapack.dpotrf(H, lower=True, overwrite_a=True, clean=True)
    if info != 0:
        return None
    inv, info = lapack.dpotri(c, lower=True, overwrite_c=True)
    if info != 0:
        return None
    # dpotri fills the lower triangle only (the upper one of c is zero: clean=True)
    full = inv + inv.T
    full[np.diag_indices(N)] -= np.diag(inv)
    return np.ascontiguousarray(full)


def _schur_inverse(fac):
    """
    ``H^{-1}`` as a full symmetric (N, N) array from a
    :class:`~statsmodels_glmm.likelihood.schur.SchurFactor`, assembled from ``A^{-1}``,
    ``F`` and ``S^{-1}``; None when a component of ``S`` is split (only the selected
    inverse of its factor is available).
    """
    pat = fac.pat
    if pat.splits:
        return None
    N, qe, le, r = pat.N, pat.qe, pat.le, pat.r
    e0, e1 = pat.e_range
    out = np.zeros((N, N))
    if r:
        buf = fac.Sinv_buf
        Sfull = np.zeros((r, r))
        for b, (s, off, members) in enumerate(fac.pat.buckets):
            blk = buf[off:off + members.shape[0] * s * s].reshape(-1, s, s)
            if fac._tri[b]:  # only the upper triangle holds the inverse
                blk = np.triu(blk) + np.triu(blk, 1).transpose(0, 2, 1)
            Sfull[members[:, :, None], members[:, None, :]] = blk
        Fd = fac._dense_F()
        P = Fd @ Sfull
        rem = pat.rem_index
        out[e0:e1, e0:e1] = P @ Fd.T
        out[e0:e1, rem] = -P
        out[rem, e0:e1] = -P.T
        out[np.ix_(rem, rem)] = Sfull
    idx = e0 + np.arange(le)[:, None] * qe + np.arange(qe)
    out[idx[:, :, None], idx[:, None, :]] += fac.Ainv
    return out


def _trace_products(kdata, cols, indptr, Hinv):
    """
    ``T_jk = tr(H^{-1} K_j H^{-1} K_k) = sum(Z_j * Z_k')`` with ``Z_j = K_j H^{-1}``,
    for the symmetric ``K_j`` with values ``kdata[j]`` on the CSR pattern
    ``cols, indptr``; the ``Z_j`` of a block of ``j`` come from one sparse-dense
    product, and the sums with one ``Z_k'`` for all ``j`` of a block from one
    matrix-vector product.
    """
    p, nnz = kdata.shape
    N = Hinv.shape[0]

    def products(block):
        b = len(block)
        ptr = (indptr[None, :-1] + nnz * np.arange(b)[:, None]).ravel()
        K = sparse.csr_matrix((kdata[block].ravel(), np.tile(cols, b), np.append(ptr, b * nnz)),
                              shape=(b * N, N))
        return np.asarray(K @ Hinv).reshape(b, N * N)

    per = max(1, int(PRODUCT_BYTES // (16 * N * N)))
    blocks = [np.arange(i, min(p, i + per)) for i in range(0, p, per)]
    T = np.zeros((p, p))
    for i, bi in enumerate(blocks):
        Zi = products(bi)
        for bj in blocks[i:]:
            Zj = Zi if bj is bi else products(bj)
            for c, k in enumerate(bj.tolist()):
                # sum(Z_j * Z_k') for every j of the block: one matrix-vector product
                T[bi, k] = Zi @ Zj[c].reshape(N, N).T.ravel()
            del Zj
    return np.triu(T) + np.triu(T, 1).T


def _mt_times(M, J, N, V):
    """``M' V`` (N, k) for an (n, k) array ``V``: each row's values of ``M`` (on its
    effects ``J``) times its row of ``V``, added into those effects."""
    k = V.shape[1]
    idx = (J[:, :, None] * k + np.arange(k)).ravel()
    return np.bincount(idx, weights=(M[:, :, None] * V[:, None, :]).ravel(),
                       minlength=N * k).reshape(N, k)


def sparse_beta_hessian(problem, family, beta, thetas, extra, state, max_effects=None):
    """
    Second derivatives in the fixed effects of the Laplace log-likelihood of a
    model with several random-effect terms (formula in the module docstring).

    Parameters
    ----------
    problem : SparseLaplaceProblem
    family : Response
        Needs the fourth derivative :meth:`~statsmodels_glmm.families.base.Response.d4`.
    beta : ndarray (p,)
    thetas : list of ndarray or ndarray
        Per-term Cholesky parameters, or their concatenation in term order.
    extra : ndarray
        Internal family parameters (held fixed).
    state : SparseModeState
        The state :func:`~statsmodels_glmm.likelihood.sparse_laplace.sparse_laplace_loglike`
        returned at ``beta, thetas, extra`` (its modes ``u`` and ``eta``).
    max_effects : int, optional
        Largest number of stacked effects handled (default :data:`MAX_EFFECTS`).

    Returns
    -------
    ndarray (p, p) or None
        None when the closed form does not apply: more effects than
        ``max_effects``, a family without ``d4``, modes that did not converge, a
        Hessian ``H`` that is not positive definite or non-finite derivatives.

    Examples
    --------
    >>> from statsmodels_glmm.families import Poisson
    >>> from statsmodels_glmm.likelihood.sparse_laplace import sparse_laplace_loglike
    >>> pr, X = _example_problem()
    >>> fam, beta, th, ex = Poisson(), np.array([0.5, 0.2]), np.array([0.6, 0.4]), np.zeros(0)
    >>> st = sparse_laplace_loglike(pr, fam, beta, th, ex)[2]
    >>> H = sparse_beta_hessian(pr, fam, beta, th, ex, st)
    >>> g = lambda bb: sparse_laplace_loglike(pr, fam, bb, th, ex)[1][:2]
    >>> fd = np.column_stack([(g(beta + e) - g(beta - e)) / 2e-5 for e in np.eye(2) * 1e-5])
    >>> bool(np.allclose(H, fd, rtol=1e-6, atol=1e-8))
    True
    """
    pr = problem
    limit = MAX_EFFECTS if max_effects is None else max_effects
    N, n = pr.n_effects, pr.nobs
    if N > limit or not state.converged or not family.has_d4():
        return None
    extra = np.asarray(extra, dtype=float)  # beta enters through the modes in ``state``
    X = pr.X
    p = X.shape[1]
    ths = split_thetas(pr.terms, thetas)
    Ls = [t.cov.chol(th) for t, th in zip(pr.terms, ths)]
    M = pr.m_rows(Ls)
    J = pr.J
    Q = J.shape[1]
    eta = state.eta
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        d2, d3 = state.d[2], state.d[3]
        d4 = family.d4(pr.y, eta, extra)
    if d4 is None:
        return None
    w, w1, w2 = -np.asarray(d2, float), -np.asarray(d3, float), -np.asarray(d4, float)
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(w1)) and np.all(np.isfinite(w2))
            and np.all(np.isfinite(M))):
        return None
    pos, keys, cols, indptr = _pattern(pr)
    MM = (M[:, :, None] * M[:, None, :]).reshape(n, Q * Q)
    Hinv = None
    fac = getattr(state, "_fac", None)
    if (fac is not None and state._M is not None and state._M.shape == M.shape
            and np.array_equal(state._M, M)):
        # the factorisation at the modes is that of this H (same M, w = -d2)
        if isinstance(fac, DenseFactor):
            Hinv = fac.inverse()
        elif isinstance(fac, SchurFactor):
            Hinv = _schur_inverse(fac)
    if Hinv is None:
        Hinv = _dense_inverse(N, keys, np.bincount(pos, weights=(w[:, None] * MM).ravel(),
                                                   minlength=len(keys)))
    if Hinv is None:
        return None

    def pmul(V):
        """``P V = M H^{-1} M' V`` for an (n, k) array ``V``."""
        return np.einsum("tq,tqk->tk", M, (Hinv @ _mt_times(M, J, N, V))[J])

    # diag(P)_r = m_r' H^{-1}[J_r, J_r] m_r
    diagP = np.einsum("tq,tqr,tr->t", M, Hinv[J[:, :, None], J[:, None, :]], M)
    D = X - pmul(w[:, None] * X)
    A = w1[:, None] * D
    # values of K_j = M' diag(A[:, j]) M on the pattern, one row per j
    kdata = np.stack([np.bincount(pos, weights=(A[:, j, None] * MM).ravel(),
                                  minlength=len(keys)) for j in range(p)])
    T = _trace_products(kdata, cols, indptr, Hinv)
    v = pmul((diagP * w1)[:, None])[:, 0]
    out = (-(X.T @ (w[:, None] * D)) + 0.5 * T
           + 0.5 * (D.T @ ((v * w1 - diagP * w2)[:, None] * D)))
    return 0.5 * (out + out.T)


def joint_mode_curvature(problem, state):
    """
    An approximation of the fixed-effects block of the Laplace Hessian, from the
    factorisation at the modes: the curvature in ``beta`` of the joint-mode
    problem ``max_u sum l - u'u/2``,

    .. math:: -X' (W - W M H^{-1} M' W) X = -X' W D,

    the first term of :func:`sparse_beta_hessian` without those that differentiate
    ``log det H`` (which are of the order of one over the rows per level).  It
    costs ``p`` solves with the factor the state holds, where the closed form
    costs an ``N x N`` inversion; it serves as a Newton step's curvature, not for
    standard errors.

    Parameters
    ----------
    problem : SparseLaplaceProblem
    state : SparseModeState
        The state of an evaluation at the parameters (its modes, derivatives
        and factorisation).

    Returns
    -------
    ndarray (p, p) or None
        None where the state has no factorisation, the modes did not converge or
        a weight ``w = -d_2`` is negative or not finite (the form is then not a
        curvature of a concave problem).

    Examples
    --------
    >>> from statsmodels_glmm.likelihood.sparse_laplace import sparse_laplace_loglike as laplace
    >>> from statsmodels_glmm.families import Poisson
    >>> pr, X = _example_problem()
    >>> st = laplace(pr, Poisson(), np.array([0.5, 0.2]), np.array([0.6, 0.4]), np.zeros(0))[2]
    >>> M, w = st._M, -st.d[2]
    >>> Md = np.zeros((30, pr.n_effects))  # M as a dense matrix
    >>> for t in range(30):
    ...     Md[t, pr.J[t]] += M[t]
    >>> W = np.diag(w)
    >>> H = np.eye(pr.n_effects) + Md.T @ W @ Md
    >>> dense = -X.T @ (W - W @ Md @ np.linalg.solve(H, Md.T @ W)) @ X
    >>> bool(np.allclose(joint_mode_curvature(pr, st), dense, rtol=1e-12, atol=1e-12))
    True
    """
    fac = getattr(state, "_fac", None)
    M = getattr(state, "_M", None)
    if fac is None or M is None or not state.converged:
        return None
    w = -np.asarray(state.d[2], dtype=float)
    if not (np.all(np.isfinite(w)) and np.all(w >= 0)):
        return None
    X = problem.X
    WX = w[:, None] * X
    MtWX = _mt_times(M, problem.J, problem.n_effects, WX)
    S = np.column_stack([fac.solve(MtWX[:, j]) for j in range(X.shape[1])])
    out = -(X.T @ WX - MtWX.T @ S)
    return 0.5 * (out + out.T)


def _example_problem():
    """The examples' problem: 30 Poisson rows, two crossed intercept terms with 6 and 5
    levels, an intercept and one covariate; returns the problem and ``X``."""
    from ..spec.terms import RandomEffectTerm
    from .sparse_laplace import SparseLaplaceProblem

    rng = np.random.default_rng(0)
    a, b = np.repeat(np.arange(6), 5), np.tile(np.arange(5), 6)
    terms = [RandomEffectTerm.from_arrays(g, v, np.ones((30, 1)))
             for g, v in (("a", a), ("b", b))]
    X = np.c_[np.ones(30), rng.normal(size=30)]
    return SparseLaplaceProblem(rng.poisson(2.0, 30).astype(float), X, None, terms), X
