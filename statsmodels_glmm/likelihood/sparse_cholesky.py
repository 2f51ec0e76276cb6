"""
General sparse factorisation of the Laplace Hessian ``H = I + M' W M``.

Used by :mod:`statsmodels_glmm.likelihood.sparse_laplace` when the Schur complement has a
connected component too large to factorise densely (several large crossed
factors).  The sparsity pattern of ``H`` is fixed by the design: it is built
once, with the position in ``H``'s data array of every row's contribution
``w_t m_ti m_tj``, so a numeric refactorisation is one ``np.bincount``.

Two backends, the fill-reducing ordering computed once per model:

* ``"cholmod"`` (optional, ``scikit-sparse``): supernodal Cholesky; the symbolic
  analysis (AMD/METIS ordering and elimination tree) is done once by
  ``sksparse.cholmod.analyze`` and every numeric factorisation reuses it.
* ``"splu"`` (scipy only, the default install): SuperLU's minimum-degree ordering
  on ``H + H'`` is computed once; later factorisations of the permuted matrix use
  the natural order and no pivoting, so ``U``'s diagonal is the ``D`` of
  ``H = L D L'`` (all positive exactly when ``H`` is positive definite).
"""

import numpy as np
import scipy.sparse as sp

__all__ = ["SparseHessianPattern", "have_cholmod"]


def have_cholmod():
    """
    Whether scikit-sparse's CHOLMOD can be imported.

    >>> isinstance(have_cholmod(), bool)
    True
    """
    try:
        import sksparse.cholmod  # noqa: F401
    except ImportError:
        return False
    return True


class SparseHessianPattern:
    """
    Fixed sparsity pattern of ``H`` and its one-off symbolic analysis.

    Parameters
    ----------
    J : ndarray of int (n, Q)
        Stacked indices of the random effects of every row.
    N : int
        Number of random effects.
    method : {"auto", "cholmod", "splu"}
        ``"auto"`` takes CHOLMOD when scikit-sparse is installed.
    memory_budget : int, str or None
        Bytes the ``"splu"`` factors may hold (see
        :mod:`statsmodels_glmm.likelihood.memory_budget`); checked once, after the
        ordering, before any numeric factorisation.

    Examples
    --------
    >>> import numpy as np
    >>> J = np.array([[0, 2], [1, 2], [0, 3], [1, 3]])
    >>> pat = SparseHessianPattern(J, 4, method="splu")
    >>> M, w = np.ones((4, 2)), np.ones(4)
    >>> f = pat.factor(M, w)
    >>> H = np.eye(4) + np.array([[2, 0, 1, 1], [0, 2, 1, 1], [1, 1, 2, 0], [1, 1, 0, 2.0]])
    >>> bool(np.isclose(f.logdet, np.linalg.slogdet(H)[1]))
    True
    """

    def __init__(self, J, N, method="auto", memory_budget=None):
        if method not in ("auto", "cholmod", "splu"):
            raise ValueError("method must be 'auto', 'cholmod' or 'splu'")
        if method == "auto":
            method = "cholmod" if have_cholmod() else "splu"
        if method == "cholmod" and not have_cholmod():
            raise ValueError("method='cholmod' needs scikit-sparse (pip install scikit-sparse)")
        self.method = method
        n, Q = J.shape
        self.N = N
        ii = np.concatenate([np.repeat(J, Q, axis=1).ravel(), np.arange(N)])
        jj = np.concatenate([np.tile(J, (1, Q)).ravel(), np.arange(N)])
        key = jj.astype(np.int64) * N + ii  # column-major: CSC order
        ukeys, inv = np.unique(key, return_inverse=True)
        self.indices = (ukeys % N).astype(np.int32)
        cols = ukeys // N
        self.indptr = np.searchsorted(cols, np.arange(N + 1)).astype(np.int32)
        self.nnz = len(ukeys)
        self.pos_rows = inv[:n * Q * Q].reshape(n, Q, Q)
        self.pos_diag = inv[n * Q * Q:]
        self.J = J
        self.Q = Q
        H0 = self.assemble(np.ones((n, Q)), np.ones(n))
        if method == "cholmod":
            from sksparse.cholmod import analyze

            self.symbolic = analyze(H0)
        else:
            from scipy.sparse.linalg import splu

            from .memory_budget import check_budget, memory_budget as _budget

            lu = splu(H0, permc_spec="MMD_AT_PLUS_A")
            self.perm = lu.perm_c.copy()
            # the factors of later factorisations have (at least) this fill; SuperLU
            # holds L and U with their indices, and a factorisation is built while
            # the previous one is alive
            self.factor_bytes = int(2 * 12 * (lu.L.nnz + lu.U.nnz))
            del lu
            check_budget(self.factor_bytes, _budget(memory_budget),
                         f"the sparse LU factorisation of the Laplace Hessian ({N:,} effects)")

    def assemble(self, M, w):
        """``H = I + M' W M`` as a CSC matrix with the fixed pattern."""
        vals = np.bincount(self.pos_rows.ravel(),
                           weights=(w[:, None, None] * M[:, :, None] * M[:, None, :]).ravel(),
                           minlength=self.nnz)
        vals[self.pos_diag] += 1.0
        return sp.csc_matrix((vals, self.indices, self.indptr), shape=(self.N, self.N))

    def factor(self, M, w):
        """Numeric factorisation; raises ``numpy.linalg.LinAlgError`` if not p.d."""
        return _SparseFactor(self, self.assemble(M, w))


class _SparseFactor:
    """One numeric factorisation: ``logdet`` and ``solve``."""

    def __init__(self, pat, H):
        self.pat = pat
        if pat.method == "cholmod":
            from sksparse.cholmod import CholmodNotPositiveDefiniteError

            try:
                self.f = pat.symbolic.cholesky(H)
            except CholmodNotPositiveDefiniteError as exc:
                raise np.linalg.LinAlgError(str(exc)) from None
            self.logdet = float(self.f.logdet())
        else:
            from scipy.sparse.linalg import splu

            p = pat.perm
            Hp = H[p][:, p].tocsc()
            try:
                self.f = splu(Hp, permc_spec="NATURAL", diag_pivot_thresh=0.0,
                              options=dict(SymmetricMode=True))
            except RuntimeError as exc:  # exactly singular
                raise np.linalg.LinAlgError(str(exc)) from None
            dU = self.f.U.diagonal()
            if not (np.all(dU > 0) and np.all(self.f.perm_r == np.arange(pat.N))):
                raise np.linalg.LinAlgError("H is not positive definite")
            self.logdet = float(np.sum(np.log(dU)))

    def solve(self, g):
        """``H^{-1} g`` (g a vector or an (N, k) array)."""
        if self.pat.method == "cholmod":
            return self.f.solve_A(g)
        p = self.pat.perm
        x = np.empty_like(g)
        x[p] = self.f.solve(np.ascontiguousarray(g[p]))
        return x

    def diagonal_blocks(self, starts, q, chunk=256):
        """
        Diagonal blocks of ``H^{-1}`` for effects ``starts[i] + (0..q-1)``: (len(starts), q, q).

        By solves against unit vectors, ``chunk`` columns at a time (cost: one
        solve per effect).
        """
        out = np.empty((len(starts), q, q))
        N = self.pat.N
        for s in range(0, len(starts), chunk):
            st = starts[s:s + chunk]
            cols = (st[:, None] + np.arange(q)).ravel()
            E = np.zeros((N, len(cols)))
            E[cols, np.arange(len(cols))] = 1.0
            X = self.solve(E)
            blk = X[cols].reshape(len(st), q, len(st), q)
            out[s:s + len(st)] = blk[np.arange(len(st)), :, np.arange(len(st)), :]
        return out
