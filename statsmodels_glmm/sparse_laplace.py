"""
Laplace approximation for any number of random-effect terms (nested, crossed,
observation-level) by one joint penalised Newton over the stacked effects.

With ``b = Lambda u``, ``u ~ N(0, I_N)`` (layout in :mod:`statsmodels_glmm.terms`),
``M = Z Lambda`` and ``eta = X beta + offset + M u``, the marginal likelihood is

.. math::

    \\ell = \\log \\int \\exp\\{h(u)\\} (2\\pi)^{-N/2} du, \\qquad
    h(u) = \\sum_t \\log f(y_t \\mid \\eta_t) - u'u/2,

and its Laplace approximation at the maximiser ``u^`` of ``h`` is

.. math::

    \\ell \\approx h(\\hat u) - \\tfrac12 \\log\\det H, \\qquad
    H = I + M' W M, \\quad W = \\mathrm{diag}(-d_2),

every normalising constant kept (the family's ``d_0`` holds them).

Factorisation (the symbolic work is done once, in :class:`SparseLaplaceProblem`).
Order the effects as ``[e, R]`` where ``e`` are the effects of the term with the
most effects.  Every row belongs to one level of that term, so
``A = H_ee`` is block diagonal with ``q_e x q_e`` blocks, and

.. math::

    H = \\begin{pmatrix} A & B \\\\ B' & C \\end{pmatrix}, \\quad
    S = C - B' A^{-1} B, \\quad \\log\\det H = \\log\\det A + \\log\\det S .

``S`` (the Schur complement onto the other terms) is split once into the
connected components of its sparsity graph; each component is factorised
densely, components of equal size in one batched call.  For crossed factors
this is one dense block the size of the smaller factors (exact and fast when
they are small); for nested factors ``(1 | a/b)`` it is one small block per
level of ``a``.  All of this is exact: no ordering heuristics, no fill-in
beyond the components.  When a component exceeds ``max_dense`` effects the
problem is factorised as a whole by a general sparse Cholesky instead (see
:mod:`statsmodels_glmm.sparse_cholesky`).

Modes: Newton with step-halving on the whole vector ``u`` (plain Newton
oscillates on some binary data); weights ``w = -d_2`` are clipped at zero for
the Newton direction when the exact ``H`` is not positive definite.

Gradient (analytic on the component path).  With ``Sigma = H^{-1}``,
``s_t = m_t' Sigma m_t``, ``c_t = d_3(t) s_t / 2``, ``a = Sigma M' c`` and
``r_t = d_1(t) + c_t + d_2(t) (M a)_t`` (implicit differentiation through
``u^``),

.. math::

    \\partial \\ell / \\partial \\beta = X' r, \\qquad
    \\partial \\ell / \\partial (L_k)_{ab} = \\sum_t z_{tka} \\{ r_t \\hat u_{k g_k(t) b}
        + d_1(t) a_{k g_k(t) b} - w_t (\\Sigma m_t)_{k g_k(t) b} \\},

and ``sum_t d0_phi + s_t d2_phi / 2 + (M a)_t d1_phi`` for a family parameter
``phi``.  Only the entries of ``Sigma`` among the effects of each row are
needed; they come from the blocks ``Sigma_RR = S^{-1}``,
``Sigma_eR = -A^{-1} B S^{-1}`` and
``Sigma_ee = A^{-1} + A^{-1} B S^{-1} B' A^{-1}`` on the pattern of ``B``.
On the general sparse path the gradient is by central finite differences of
the log-likelihood with the modes warm-started at ``u^``.
"""

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from .laplace import _is_pd, _logdet, batched_inv, matvec
from .terms import split_thetas, term_offsets

__all__ = ["SparseLaplaceProblem", "SparseModeState", "sparse_laplace_loglike"]


def _index_dtype(size):
    return np.int32 if size < 2 ** 31 - 1 else np.int64


class SparseLaplaceProblem:
    """
    The data of a model with several random-effect terms and the symbolic analysis
    of its Laplace Hessian, done once.

    Parameters
    ----------
    y : ndarray
        Response as the family validated it (rows in any fixed order).
    X : ndarray (n, p)
    offset : ndarray (n,) or None
    terms : list of RandomEffectTerm
        Rows aligned with ``y``.
    max_dense : int
        Largest connected component of the Schur complement factorised densely;
        larger problems use the general sparse Cholesky backend.
    backend : {"auto", "components", "sparse"}
        ``"auto"``: components when they fit ``max_dense``, else sparse.
    sparse_method : {"auto", "cholmod", "splu"}
        Factorisation of the sparse path (see
        :class:`statsmodels_glmm.sparse_cholesky.SparseHessianPattern`).

    Attributes
    ----------
    n_effects : int
        Length of the stacked ``u``.
    elim : int
        Index of the term eliminated first (the one with most effects).
    component_sizes : ndarray
        Sizes of the connected components of the Schur complement.
    backend : str
        The factorisation actually used: ``"components"``, ``"sparse-cholmod"``
        or ``"sparse-splu"``.

    Examples
    --------
    >>> import numpy as np
    >>> from statsmodels_glmm.terms import RandomEffectTerm
    >>> rng = np.random.default_rng(0)
    >>> subj, item = np.repeat(np.arange(6), 4), np.tile(np.arange(4), 6)
    >>> terms = [RandomEffectTerm.from_arrays("subj", subj, np.ones((24, 1))),
    ...          RandomEffectTerm.from_arrays("item", item, np.ones((24, 1)))]
    >>> pr = SparseLaplaceProblem(rng.integers(0, 2, 24).astype(float), np.ones((24, 1)),
    ...                           None, terms)
    >>> pr.n_effects, pr.elim, pr.component_sizes.tolist(), pr.backend
    (10, 0, [4], 'components')
    """

    def __init__(self, y, X, offset, terms, max_dense=3000, backend="auto",
                 sparse_method="auto"):
        if not terms:
            raise ValueError("terms is empty: give at least one RandomEffectTerm")
        if backend not in ("auto", "components", "sparse"):
            raise ValueError("backend must be 'auto', 'components' or 'sparse'")
        X = np.asarray(X, dtype=float)
        if X.ndim != 2:
            raise ValueError("X must be a 2-d array")
        n = X.shape[0]
        self.y = y
        self.X = X
        self.offset = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
        if len(self.offset) != n or len(y) != n:
            raise ValueError("y, X and offset must have the same number of rows")
        for t in terms:
            if len(t.codes) != n:
                raise ValueError(f"term {t.group!r} has {len(t.codes)} rows, X has {n}")
        self.terms = list(terms)
        self.nobs = n
        offs = term_offsets(terms)
        self.term_offsets = offs
        N = int(offs[-1])
        self.n_effects = N
        K = len(terms)
        e = int(np.argmax([t.n_effects for t in terms]))
        self.elim = e
        order = [e] + [k for k in range(K) if k != e]
        Q = sum(t.q for t in terms)
        self.Q = Q
        J = np.empty((n, Q), dtype=np.intp)
        Zr = np.empty((n, Q))
        self.slots = [None] * K
        pos = 0
        for k in order:
            t = terms[k]
            sl = slice(pos, pos + t.q)
            self.slots[k] = sl
            J[:, sl] = offs[k] + t.codes[:, None] * t.q + np.arange(t.q)[None, :]
            Zr[:, sl] = t.Z
            pos += t.q
        self.J, self.Zrows = J, Zr
        te = terms[e]
        self.qe, self.le = te.q, te.n_levels
        self.codes_e = te.codes
        self.e_range = (int(offs[e]), int(offs[e + 1]))
        rmask = np.ones(N, dtype=bool)
        rmask[offs[e]:offs[e + 1]] = False
        self.rem_index = np.flatnonzero(rmask)  # remainder position -> global index
        r = len(self.rem_index)
        self.r = r
        rmap = np.full(N, -1, dtype=np.intp)
        rmap[self.rem_index] = np.arange(r)
        self._analyse_schur(rmap, n)
        sizes = self.component_sizes
        big = sizes.max() if len(sizes) else 0
        if backend == "auto":
            backend = "components" if big <= max_dense else "sparse"
        self.backend = backend
        self._sparse = None
        if backend == "sparse":
            from .sparse_cholesky import SparseHessianPattern

            self._sparse = SparseHessianPattern(J, N, method=sparse_method)
            self.backend = f"sparse-{self._sparse.method}"

    def _analyse_schur(self, rmap, n):
        """Patterns of B, of the pairs in B'A^{-1}B and the components of S (once)."""
        qe, r = self.qe, self.r
        JR = rmap[self.J[:, qe:]]  # (n, QR) remainder indices of each row
        self.JR = JR
        QR = JR.shape[1]
        if r == 0:
            self.component_sizes = np.zeros(0, dtype=np.intp)
            self.nB = 0
            self.pB_level = self.pB_col = np.zeros(0, dtype=np.intp)
            self.pB_of_row = np.zeros((n, 0), dtype=np.intp)
            self.pair_p = self.pair_pp = self.d_pairs = np.zeros(0, dtype=np.intp)
            self.single = False
            self.d_C = np.zeros((n, 0, 0), dtype=np.intp)
            self.d_I = np.zeros(0, dtype=np.intp)
            self.buckets = []
            self.buf_size = 0
            self.comp = np.zeros(0, dtype=np.intp)
            self.local = np.zeros(0, dtype=np.intp)
            self.bufoff = np.zeros(0, dtype=np.intp)
            self.comp_size = np.zeros(0, dtype=np.intp)
            return
        key = self.codes_e[:, None].astype(np.int64) * r + JR
        ukeys, inv = np.unique(key.ravel(), return_inverse=True)
        self.pB_level = (ukeys // r).astype(np.intp)
        self.pB_col = (ukeys % r).astype(np.intp)
        self.pB_of_row = inv.reshape(n, QR).astype(np.intp)
        nB = len(ukeys)
        self.nB = nB
        cnt = np.bincount(self.pB_level, minlength=self.le)
        first = np.concatenate([[0], np.cumsum(cnt)[:-1]])
        # B (and F = A^{-1} B) as CSR matrices with rows (level, column of the term):
        # the value of entry p, column a sits at position first*qe + a*count + rank
        qe = self.qe
        rank = np.arange(nB) - first[self.pB_level]
        self.B_pos = (first[self.pB_level] * qe)[:, None] + np.arange(qe)[None, :] * \
            cnt[self.pB_level][:, None] + rank[:, None]
        self.B_indices = np.empty(nB * qe, dtype=np.int32)
        self.B_indices[self.B_pos] = self.pB_col[:, None]
        rows = np.repeat(np.arange(self.le * qe), np.repeat(cnt, qe))
        self.B_indptr = np.searchsorted(rows, np.arange(self.le * qe + 1)).astype(np.int32)
        # connected components of the pattern of S = C - B'A^{-1}B
        Bs = self._csr(np.ones((nB, qe)))
        BtB = (Bs.T @ Bs).tocoo()
        ci = np.concatenate([np.repeat(JR, QR, axis=1).ravel(), BtB.row])
        cj = np.concatenate([np.tile(JR, (1, QR)).ravel(), BtB.col])
        graph = coo_matrix((np.ones(len(ci), dtype=np.int8), (ci, cj)), shape=(r, r)).tocsr()
        ncomp, comp = connected_components(graph, directed=False)
        comp_size = np.bincount(comp, minlength=ncomp)
        order = np.argsort(comp, kind="stable")
        cstart = np.concatenate([[0], np.cumsum(comp_size)[:-1]])
        local = np.empty(r, dtype=np.intp)
        local[order] = np.arange(r) - cstart[comp[order]]
        # buckets of equal-size components, each stored as (n_s, s, s) in one buffer
        bufoff = np.empty(ncomp, dtype=np.int64)
        buckets = []
        off = 0
        for s in np.unique(comp_size):
            cs = np.flatnonzero(comp_size == s)
            bufoff[cs] = off + np.arange(len(cs)) * s * s
            members = np.empty((len(cs), s), dtype=np.intp)
            rank = np.empty(ncomp, dtype=np.intp)
            rank[cs] = np.arange(len(cs))
            idx = np.flatnonzero(comp_size[comp] == s)
            members[rank[comp[idx]], local[idx]] = idx
            buckets.append((int(s), int(off), members))
            off += len(cs) * s * s
        self.buckets = buckets
        self.buf_size = int(off)
        self.comp, self.local, self.bufoff, self.comp_size = comp, local, bufoff, comp_size
        self.component_sizes = comp_size
        self.d_C = self._dest(np.repeat(JR[:, :, None], QR, 2), np.repeat(JR[:, None, :], QR, 1))
        self.d_I = self._dest(np.arange(r), np.arange(r))
        self.single = ncomp == 1
        if not self.single:
            # pairs (p, p') of B entries in the same level of the eliminated factor
            per = cnt[self.pB_level]
            total = int(per.sum())
            it = _index_dtype(max(total, nB))
            pair_p = np.repeat(np.arange(nB, dtype=it), per)
            within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(per) - per, per)
            self.pair_p = pair_p
            self.pair_pp = (first[self.pB_level][pair_p] + within).astype(it)
            self.d_pairs = self._dest(self.pB_col[pair_p], self.pB_col[self.pair_pp])
        # pattern of B'F (fixed): its entries' positions in the buffer, found once
        BtF = (Bs.T @ Bs).tocsr()
        BtF.sort_indices()
        self.BtF_nnz = BtF.nnz
        coo = BtF.tocoo()
        self.d_BtF = self._dest(coo.row, coo.col)

    def _csr(self, V):
        """The (levels * q_e) x r CSR matrix with values V (nB, q_e) on the pattern of B."""
        data = np.empty(self.nB * self.qe)
        data[self.B_pos] = V
        return csr_matrix((data, self.B_indices, self.B_indptr),
                          shape=(self.le * self.qe, self.r))

    def _dest(self, i, j):
        """Position of entry (i, j) of S (same component) in the bucket buffer."""
        c = self.comp[i]
        return (self.bufoff[c] + self.local[i] * self.comp_size[c] + self.local[j]).astype(
            _index_dtype(self.buf_size))

    # ------------------------------------------------------------ per theta
    def m_rows(self, Ls):
        """Row-local values of ``M = Z Lambda``: (n, Q), slots as ``J``."""
        M = np.empty_like(self.Zrows)
        for k, L in enumerate(Ls):
            sl = self.slots[k]
            M[:, sl] = self.Zrows[:, sl] @ L
        return M


class SparseModeState:
    """
    Everything computed at the joint conditional modes for one parameter value.

    Attributes
    ----------
    u : ndarray (N,)
        Stacked spherical modes (layout of :func:`statsmodels_glmm.terms.term_offsets`).
    eta : ndarray (n,)
        Linear predictor at the modes.
    d : tuple of ndarray
        Family derivatives ``d0 .. d3`` at ``eta``.
    h : float
        ``h(u^)``.
    logdet : float
        ``log det H``.
    converged : bool
    iterations : int
    modes : list of ndarray
        Per term, conditional modes of ``b`` as (n_levels, q) arrays (``L_k u``).
    cond_cov : list of ndarray or None
        Per term, conditional covariances of ``b`` per level, (n_levels, q, q):
        diagonal blocks of ``Lambda H^{-1} Lambda'`` (None on the sparse path
        unless asked for).
    s : ndarray (n,) or None
        ``m_t' H^{-1} m_t`` per row.
    backend : str
    """

    __slots__ = ("u", "eta", "d", "h", "logdet", "converged", "iterations", "modes",
                 "cond_cov", "s", "backend", "_fac", "_M", "_Ls")

    def __repr__(self):
        return (f"SparseModeState(converged={self.converged}, iterations={self.iterations}, "
                f"h={self.h:.6g}, logdet={self.logdet:.6g})")


class _Factor:
    """Numeric factorisation of H = [[A, B], [B', C]] by components (one parameter value)."""

    __slots__ = ("Ainv", "logdet", "Fv", "pr", "_See", "_S", "_chol", "_Sinv")

    #: components up to this size are inverted in batched calls; larger ones are
    #: solved through their Cholesky factors and inverted only when asked
    small = 16

    def __init__(self, pr, M, w):
        self.pr = pr
        qe, le = pr.qe, pr.le
        Me = M[:, :qe]
        MR = M[:, qe:]
        A = np.zeros((le, qe, qe))
        for a in range(qe):
            for b in range(a, qe):
                v = np.bincount(pr.codes_e, weights=w * Me[:, a] * Me[:, b], minlength=le)
                A[:, a, b] = v
                A[:, b, a] = v
        A[:, np.arange(qe), np.arange(qe)] += 1.0
        if not np.all(_is_pd(A)):
            raise np.linalg.LinAlgError("H is not positive definite")
        self.Ainv = batched_inv(A)
        logdet = float(np.sum(_logdet(A)))
        if pr.r:
            Bv = np.empty((pr.nB, qe))
            wM = w[:, None] * MR
            for a in range(qe):
                Bv[:, a] = np.bincount(pr.pB_of_row.ravel(), weights=(wM * Me[:, a:a + 1]).ravel(),
                                       minlength=pr.nB)
            Fv = matvec(self.Ainv[pr.pB_level], Bv)
            S = np.bincount(pr.d_C.ravel(), weights=(wM[:, :, None] * MR[:, None, :]).ravel(),
                            minlength=pr.buf_size)
            BtF = (pr._csr(Bv).T @ pr._csr(Fv)).tocsr()
            BtF.sort_indices()
            if BtF.nnz == pr.BtF_nnz:
                S[pr.d_BtF] -= BtF.tocoo().data
            else:  # an entry cancelled to an explicit zero was dropped: map it afresh
                coo = BtF.tocoo()
                np.subtract.at(S, pr._dest(coo.row, coo.col), coo.data)
            S[pr.d_I] += 1.0
            self._chol = []
            self._Sinv = np.empty_like(S)
            for s, off, members in pr.buckets:
                blk = S[off:off + members.shape[0] * s * s].reshape(-1, s, s)
                if s <= self.small:
                    if not np.all(_is_pd(blk)):
                        raise np.linalg.LinAlgError("H is not positive definite")
                    logdet += float(np.sum(_logdet(blk)))
                    self._Sinv[off:off + blk.size] = batched_inv(blk).ravel()
                    self._chol.append(None)
                else:
                    chol = [cho_factor(b, lower=True) for b in blk]  # LinAlgError if not p.d.
                    logdet += 2.0 * sum(float(np.sum(np.log(np.diag(c[0])))) for c in chol)
                    self._chol.append(chol)
            self._S = S
            self.Fv = Fv
        else:
            self.Fv = np.zeros((0, qe))
            self._Sinv = np.zeros(0)
            self._chol = []
        self.logdet = logdet

    @property
    def Sinv_buf(self):
        """S^{-1} in the bucket buffer (large components inverted on first use)."""
        for (s, off, members), chol in zip(self.pr.buckets, self._chol):
            if chol is not None:
                inv = np.stack([cho_solve(c, np.eye(s)) for c in chol])
                self._Sinv[off:off + inv.size] = inv.ravel()
        self._chol = [None] * len(self._chol)
        return self._Sinv

    def _sinv_apply(self, v):
        """S^{-1} v for a remainder vector v."""
        out = np.empty_like(v)
        for (s, off, members), chol in zip(self.pr.buckets, self._chol):
            if chol is None:
                blk = self._Sinv[off:off + members.size * s].reshape(-1, s, s)
                out[members] = matvec(blk, v[members])
            else:
                for mem, c in zip(members, chol):
                    out[mem] = cho_solve(c, v[mem])
        return out

    def solve(self, g):
        """H^{-1} g for a stacked vector g (global layout)."""
        pr = self.pr
        e0, e1 = pr.e_range
        ge = g[e0:e1].reshape(pr.le, pr.qe)
        ye = matvec(self.Ainv, ge)
        x = np.empty_like(g)
        if pr.r:
            Fv = self.Fv
            rhs = g[pr.rem_index] - np.bincount(pr.pB_col, weights=np.einsum(
                "pa,pa->p", Fv, ge[pr.pB_level]), minlength=pr.r)
            xR = self._sinv_apply(rhs)
            xc = xR[pr.pB_col]
            for a in range(pr.qe):
                ye[:, a] -= np.bincount(pr.pB_level, weights=Fv[:, a] * xc, minlength=pr.le)
            x[pr.rem_index] = xR
        x[e0:e1] = ye.ravel()
        return x

    def row_blocks(self):
        """Sigma[J_t, J_t] for every row t, as (n, Q, Q)."""
        pr = self.pr
        qe, n = pr.qe, pr.nobs
        Q = pr.Q
        out = np.empty((n, Q, Q))
        See = self.Ainv.copy()
        if pr.r:
            Fv = self.Fv
            if pr.single:  # P = F S^{-1} densely, read on the pattern of F
                P = pr._csr(Fv) @ self.Sinv_buf.reshape(pr.r, pr.r)
                Pv = P[pr.pB_level[:, None] * qe + np.arange(qe)[None, :], pr.pB_col[:, None]]
            else:
                sp = self.Sinv_buf[pr.d_pairs]
                Pv = np.empty_like(Fv)
                for a in range(qe):
                    Pv[:, a] = np.bincount(pr.pair_p, weights=sp * Fv[pr.pair_pp, a],
                                           minlength=pr.nB)
            for a in range(qe):
                for b in range(qe):
                    See[:, a, b] += np.bincount(pr.pB_level, weights=Fv[:, a] * Pv[:, b],
                                                minlength=pr.le)
            SeR = -Pv[pr.pB_of_row]  # (n, QR, qe)
            out[:, :qe, qe:] = np.swapaxes(SeR, 1, 2)
            out[:, qe:, :qe] = SeR
            out[:, qe:, qe:] = self.Sinv_buf[pr.d_C]
        out[:, :qe, :qe] = See[pr.codes_e]
        self._See = See
        return out

    def term_blocks(self, k):
        """Diagonal blocks of H^{-1} for the levels of term k: (n_levels, q, q)."""
        pr = self.pr
        t = pr.terms[k]
        if k == pr.elim:
            return self._See
        e0, e1 = pr.e_range
        g = pr.term_offsets[k] + np.arange(t.n_levels)[:, None] * t.q + np.arange(t.q)
        # remainder indices of the term's effects (global index minus the eliminated block)
        ri = np.where(g >= e1, g - (e1 - e0), g)
        d = pr._dest(np.repeat(ri[:, :, None], t.q, 2), np.repeat(ri[:, None, :], t.q, 1))
        return self.Sinv_buf[d]


def _factor(pr, M, w):
    """Numeric factorisation with the backend of the problem; None if H is not p.d."""
    try:
        if pr.backend.startswith("sparse"):
            return pr._sparse.factor(M, w)
        return _Factor(pr, M, w)
    except np.linalg.LinAlgError:
        return None


def solve_sparse_modes(pr, family, beta, Ls, extra, u0=None, tol=1e-10, maxiter=100):
    """
    Joint conditional modes of all terms by Newton with step-halving.

    Returns ``(u, M, eta, d, h, factor, converged, iterations)`` where ``factor``
    is the factorisation of ``H`` at the modes with the exact weights (None when
    that ``H`` is not positive definite).

    Examples
    --------
    >>> import numpy as np
    >>> from statsmodels_glmm.terms import RandomEffectTerm
    >>> from statsmodels_glmm.families import Poisson
    >>> g1, g2 = np.repeat(np.arange(4), 3), np.tile(np.arange(3), 4)
    >>> terms = [RandomEffectTerm.from_arrays(g, v, np.ones((12, 1)))
    ...          for g, v in (("a", g1), ("b", g2))]
    >>> y = np.array([0, 1, 2, 1, 0, 3, 2, 2, 1, 0, 0, 4.0])
    >>> pr = SparseLaplaceProblem(y, np.ones((12, 1)), None, terms)
    >>> out = solve_sparse_modes(pr, Poisson(), np.zeros(1), [np.eye(1)] * 2, np.zeros(0))
    >>> out[6]
    True
    """
    y = pr.y
    N = pr.n_effects
    base = pr.X @ beta + pr.offset
    M = pr.m_rows(Ls)
    J = pr.J
    Jf = J.ravel()

    def evaluate(u):
        eta = base + np.einsum("tq,tq->t", M, u[J])
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            d = family.derivs(y, eta, extra)  # a trial step may overflow: it is halved
        h = float(np.sum(d[0]) - 0.5 * u @ u)
        grad = np.bincount(Jf, weights=(M * d[1][:, None]).ravel(), minlength=N) - u
        return eta, d, h, grad

    u = np.zeros(N) if u0 is None else np.array(u0, dtype=float, copy=True).ravel()
    if len(u) != N:
        raise ValueError(f"u0 has {len(u)} values; the terms have {N} random effects")
    eta, d, h, grad = evaluate(u)
    if not np.isfinite(h):
        u = np.zeros(N)
        eta, d, h, grad = evaluate(u)
    converged = False
    it = 0
    fac = None
    for it in range(1, maxiter + 1):
        w = -d[2]
        fac = _factor(pr, M, w)
        if fac is None:
            fac = _factor(pr, M, np.maximum(w, 0.0))
        step = fac.solve(grad)
        dec = float(step @ grad)
        if np.max(np.abs(grad)) < tol or dec < tol * tol:
            converged = True
            break
        f = 1.0
        new = evaluate(u + step)
        for _ in range(40):
            if np.isfinite(new[2]) and new[2] >= h - 1e-12 * (1 + abs(h)):
                break
            f *= 0.5
            new = evaluate(u + f * step)
        else:
            break  # no ascent possible: at the mode to rounding
        u = u + f * step
        eta, d, h, grad = new
    w = -d[2]
    if not converged or not np.all(w >= 0) or fac is None:
        fac = _factor(pr, M, w)
    return u, M, eta, d, h, fac, converged, it


def sparse_laplace_loglike(problem, family, beta, thetas, extra, u0=None, gradient=True,
                           cond_cov=None):
    """
    Laplace log-likelihood (every constant kept) of a model with several
    random-effect terms, and its gradient.

    Parameters
    ----------
    problem : SparseLaplaceProblem
    family : Response
    beta : ndarray (p,)
    thetas : list of ndarray or ndarray
        Per-term Cholesky parameters (``CovStructure`` internal scale), or
        their concatenation in term order.
    extra : ndarray
        Internal family parameters.
    u0 : ndarray (N,), optional
        Warm start for the stacked modes (e.g. ``state.u`` of a previous call).
    gradient : bool
    cond_cov : bool or None
        Compute the conditional covariance blocks.  None (default): on the
        component path, where they cost little; on the sparse path they cost
        one solve per random effect and are computed only when True.

    Returns
    -------
    llf : float
        ``-inf`` when ``H`` is not positive definite at the modes.
    grad : ndarray or None
        Gradient with respect to ``[beta, theta_1, ..., theta_K, extra]``; analytic
        on the component path, central finite differences on the sparse path.
    state : SparseModeState

    Examples
    --------
    >>> import numpy as np
    >>> from statsmodels_glmm.terms import RandomEffectTerm
    >>> from statsmodels_glmm.families import Binomial
    >>> g1, g2 = np.repeat(np.arange(4), 3), np.tile(np.arange(3), 4)
    >>> terms = [RandomEffectTerm.from_arrays(g, v, np.ones((12, 1)))
    ...          for g, v in (("a", g1), ("b", g2))]
    >>> y = Binomial().validate(np.array([0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1.0]), "y")
    >>> pr = SparseLaplaceProblem(y, np.ones((12, 1)), None, terms)
    >>> llf, grad, st = sparse_laplace_loglike(pr, Binomial(), np.zeros(1),
    ...                                        [np.ones(1), np.ones(1)], np.zeros(0))
    >>> grad.shape, [m.shape for m in st.modes]
    ((3,), [(4, 1), (3, 1)])
    """
    pr = problem
    beta = np.asarray(beta, dtype=float)
    extra = np.asarray(extra, dtype=float)
    ths = split_thetas(pr.terms, thetas)
    Ls = [t.cov.chol(th) for t, th in zip(pr.terms, ths)]
    u, M, eta, d, h, fac, converged, it = solve_sparse_modes(pr, family, beta, Ls, extra, u0=u0)
    st = SparseModeState()
    st.u, st.eta, st.d, st.h = u, eta, d, h
    st.converged, st.iterations, st.backend = converged, it, pr.backend
    st.modes = [u[o:o + t.n_effects].reshape(t.n_levels, t.q) @ L.T
                for t, o, L in zip(pr.terms, pr.term_offsets, Ls)]
    st._M, st._Ls, st._fac = M, Ls, fac
    st.cond_cov = None
    st.s = None
    if fac is None or not np.isfinite(h):
        st.logdet = np.nan
        return -np.inf, None, st
    st.logdet = fac.logdet
    llf = float(h - 0.5 * fac.logdet)
    if pr.backend.startswith("sparse"):
        grad = _fd_gradient(pr, family, beta, ths, extra, u) if gradient else None
        if cond_cov:
            st.cond_cov = [L[None] @ fac.diagonal_blocks(o + np.arange(t.n_levels) * t.q, t.q)
                           @ L.T[None] for t, o, L in zip(pr.terms, pr.term_offsets, Ls)]
        return llf, grad, st
    cond_cov = True if cond_cov is None else cond_cov
    Sig = fac.row_blocks() if (gradient or cond_cov) else None
    if Sig is not None:
        v = np.einsum("tij,tj->ti", Sig, M)
        st.s = np.einsum("ti,ti->t", M, v)
    if cond_cov:
        st.cond_cov = [L[None] @ fac.term_blocks(k) @ L.T[None] for k, L in enumerate(Ls)]
    if not gradient:
        return llf, None, st
    return llf, _gradient(pr, family, extra, u, M, eta, d, fac, v, st.s), st


def _gradient(pr, family, extra, u, M, eta, d, fac, v, s):
    """Analytic gradient (see the module docstring)."""
    d0, d1, d2, d3 = d
    J = pr.J
    c = 0.5 * d3 * s
    a = fac.solve(np.bincount(J.ravel(), weights=(M * c[:, None]).ravel(),
                              minlength=pr.n_effects))
    arows = a[J]
    ma = np.einsum("tq,tq->t", M, arows)
    r = d1 + c + d2 * ma
    g_beta = pr.X.T @ r
    urows = u[J]
    w = -d2
    parts = [g_beta]
    for k, t in enumerate(pr.terms):
        sl = pr.slots[k]
        Zk = pr.Zrows[:, sl]
        dL = (Zk * r[:, None]).T @ urows[:, sl] + (Zk * d1[:, None]).T @ arows[:, sl] \
            - (Zk * w[:, None]).T @ v[:, sl]
        parts.append(dL[t.cov.rows, t.cov.cols])
    if family.n_extra:
        e0, e1, e2 = family.extra_derivs(pr.y, eta, extra)
        parts.append(e0.sum(0) + 0.5 * (s @ e2) + ma @ e1)
    return np.concatenate(parts)


def _fd_gradient(pr, family, beta, ths, extra, u, rel=1e-5):
    """
    Central finite-difference gradient of the Laplace log-likelihood, every
    evaluation warm-started at the modes ``u`` (used on the sparse path).
    """
    p = len(beta)
    kt = np.cumsum([0] + [len(t) for t in ths])
    x0 = np.concatenate([beta] + list(ths) + [extra])
    g = np.empty(len(x0))

    def f(x):
        th = [x[p + kt[i]:p + kt[i + 1]] for i in range(len(ths))]
        return sparse_laplace_loglike(pr, family, x[:p], th, x[p + kt[-1]:], u0=u,
                                      gradient=False, cond_cov=False)[0]

    for j in range(len(x0)):
        h = rel * max(1.0, abs(x0[j]))
        e = np.zeros(len(x0))
        e[j] = h
        g[j] = (f(x0 + e) - f(x0 - e)) / (2 * h)
    return g
