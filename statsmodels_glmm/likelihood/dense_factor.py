"""
Dense Cholesky factorisation of the joint Laplace Hessian for problems with few
random effects.

With the notation of :mod:`statsmodels_glmm.likelihood.sparse_laplace`, the
Hessian is ``H = I + M' W M`` where row ``t`` of ``M`` has the values ``M[t]`` on
the effects ``J[t]``.  When the total number of effects ``N`` is small (a few
hundred) the whole ``N x N`` matrix is cheaper to assemble and factorise in one
piece than through the elimination of one factor and its Schur complement
(:mod:`statsmodels_glmm.likelihood.schur`), whose fixed cost is a few dozen
array operations per factorisation.  Here a factorisation is one
``np.bincount`` of the row-local products ``w_t M_ta M_tb`` (pairs ``a <= b``
only, into one triangle), one LAPACK ``potrf`` and, on first use of the
covariance blocks, one ``potri``.

:class:`DenseFactor` offers the interface of
:class:`~statsmodels_glmm.likelihood.schur.SchurFactor` that the Laplace code
reads: ``logdet``, ``solve``, ``row_blocks`` and ``diagonal_blocks``; a Hessian
that is not positive definite (or has non-finite entries) raises
``numpy.linalg.LinAlgError``.

Storage: the ``N x N`` matrix is a flat C-ordered buffer viewed by LAPACK in
Fortran order, so LAPACK's lower triangle holds entry ``(i, j)`` of the
symmetric matrix at flat position ``min(i, j) * N + max(i, j)``; ``H``, its
Cholesky factor and ``H^{-1}`` are all read there.
"""

import numpy as np
from scipy.linalg import lapack

__all__ = ["DensePattern", "DenseFactor", "pair_products"]


def pair_products(M, sa, sb):
    """
    Row products ``M[:, sa] * M[:, sb]`` as a C-ordered (len(sa), n) array.

    >>> pair_products(np.array([[1.0, 2.0], [3.0, 4.0]]), [0, 0, 1], [0, 1, 1])
    array([[ 1.,  9.],
           [ 2., 12.],
           [ 4., 16.]])
    """
    MT = np.ascontiguousarray(M.T)
    return MT[sa] * MT[sb]


def _tri_index(i, j, N):
    """Flat position of entry (i, j) of a symmetric N x N matrix in the stored triangle."""
    return np.minimum(i, j) * N + np.maximum(i, j)


class DensePattern:
    """
    Index arrays, computed once, for dense factorisations of ``H = I + M' W M``.

    Parameters
    ----------
    J : ndarray of int (n, Q)
        Stacked indices of every row's random effects (distinct within a row).
    N : int
        Number of random effects.

    Attributes
    ----------
    scatter : ndarray (n * Q * (Q + 1) / 2,)
        Position in the stored triangle of each row's pair ``a <= b`` of effects
        (pair-major: every row's first pair, then every row's second, ...).
    read_rows : ndarray (n, Q, Q)
        Position of ``(J[t, a], J[t, b])`` in the stored triangle.

    Examples
    --------
    >>> import numpy as np
    >>> subj, item = np.repeat(np.arange(3), 2), np.tile(np.arange(2), 3)
    >>> J = np.c_[subj, 3 + item]
    >>> f = DensePattern(J, 5).factor(np.ones((6, 2)), np.ones(6))
    >>> M = np.zeros((6, 5)); M[np.arange(6), subj] = 1; M[np.arange(6), 3 + item] = 1
    >>> H = np.eye(5) + M.T @ M
    >>> bool(np.isclose(f.logdet, np.linalg.slogdet(H)[1]))
    True
    >>> bool(np.allclose(f.solve(np.arange(5.0)), np.linalg.solve(H, np.arange(5.0))))
    True
    """

    def __init__(self, J, N):
        J = np.asarray(J, dtype=np.intp)
        if J.ndim != 2:
            raise ValueError("J must be a 2-d array of effect indices")
        self.J = J
        self.N = N = int(N)
        self.nobs, self.Q = J.shape
        ia, ib = np.triu_indices(self.Q)
        self.pair_a, self.pair_b = ia, ib
        # pair-major order (all rows' pair 0, then pair 1, ...): the products are then
        # whole rows of the transposed M
        self.scatter = _tri_index(J[:, ia], J[:, ib], N).T.ravel()
        self.read_rows = _tri_index(J[:, :, None], J[:, None, :], N)
        self.diag = np.arange(N) * (N + 1)

    def factor(self, M, w, products=None):
        """
        Numeric factorisation; raises ``numpy.linalg.LinAlgError`` if not p.d.
        ``products``: the row products ``M[:, pair_a] * M[:, pair_b]`` as (pairs, n),
        when the caller keeps them for several weights.
        """
        return DenseFactor(self, M, w, products)

    def slot_pairs(self):
        """The slot pairs whose row products a factorisation sums."""
        return self.pair_a, self.pair_b


class DenseFactor:
    """
    Dense Cholesky factorisation of ``H = I + M' W M`` for one ``M`` and ``w``.

    Parameters
    ----------
    pat : DensePattern
    M : ndarray (n, Q)
        Row-local values of ``M`` (columns as ``pat.J``).
    w : ndarray (n,)
        Weights.

    Attributes
    ----------
    logdet : float
        ``log det H``.

    Raises
    ------
    numpy.linalg.LinAlgError
        When ``H`` is not positive definite or has non-finite entries.

    Examples
    --------
    >>> import numpy as np
    >>> J = np.array([[0, 2], [0, 3], [1, 2], [1, 3]])
    >>> M = np.array([[1.0, 0.5], [0.3, 0.5], [1.0, 0.5], [0.2, 0.5]])
    >>> f = DensePattern(J, 4).factor(M, np.array([1.0, 2.0, 0.5, 1.5]))
    >>> Md = np.zeros((4, 4)); np.put_along_axis(Md, J, M, axis=1)
    >>> H = np.eye(4) + Md.T @ np.diag([1.0, 2.0, 0.5, 1.5]) @ Md
    >>> bool(np.allclose(f.row_blocks()[0], np.linalg.inv(H)[np.ix_([0, 2], [0, 2])]))
    True
    """

    __slots__ = ("pat", "logdet", "_chol", "_inv")

    def __init__(self, pat, M, w, products=None):
        self.pat = pat
        N = pat.N
        if products is None:
            products = pair_products(M, pat.pair_a, pat.pair_b)
        vals = products * w
        buf = np.bincount(pat.scatter, weights=vals.ravel(), minlength=N * N)
        buf[pat.diag] += 1.0
        # the C-ordered buffer seen in Fortran order: LAPACK factorises in place
        c, info = lapack.dpotrf(buf.reshape(N, N).T, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError("H is not positive definite")
        logdet = 2.0 * float(np.sum(np.log(np.diagonal(c))))
        if not np.isfinite(logdet):
            raise np.linalg.LinAlgError("H has non-finite entries")
        self._chol = c
        self._inv = None
        self.logdet = logdet

    def solve(self, g):
        """
        ``H^{-1} g`` for a stacked vector (or an (N, k) array) ``g``.

        Parameters
        ----------
        g : ndarray (N,) or (N, k)

        Returns
        -------
        ndarray
            Same shape as ``g``.
        """
        x, info = lapack.dpotrs(self._chol, g, lower=1)
        if info != 0:
            raise np.linalg.LinAlgError("invalid argument to the triangular solve")
        return x

    def _inverse(self):
        """``H^{-1}`` as a flat buffer holding the stored triangle (computed once)."""
        if self._inv is None:
            inv, info = lapack.dpotri(self._chol, lower=1, overwrite_c=0)
            if info != 0:
                raise np.linalg.LinAlgError("H is singular")
            self._inv = inv.T.ravel()  # F-ordered result seen as the C-ordered buffer
        return self._inv

    def inverse(self):
        """
        ``H^{-1}`` as a full symmetric (N, N) array.

        Returns
        -------
        ndarray (N, N)
        """
        N = self.pat.N
        U = self._inverse().reshape(N, N)  # entry (i, j), i <= j, at row i, column j
        return np.triu(U) + np.triu(U, 1).T

    def row_blocks(self):
        """
        ``Sigma[J_t, J_t]`` (``Sigma = H^{-1}``) for every row ``t``.

        Returns
        -------
        ndarray (n, Q, Q)
        """
        return self._inverse()[self.pat.read_rows]

    def row_products(self, M):
        """
        ``Sigma[J_t, J_t] m_t`` (``Sigma = H^{-1}``) for every row ``t``.

        Parameters
        ----------
        M : ndarray (n, Q)
            Row-local values of ``M``.

        Returns
        -------
        ndarray (n, Q)
        """
        S = self.row_blocks()
        Q = M.shape[1]
        out = S[:, :, 0] * M[:, 0, None]
        for j in range(1, Q):
            out += S[:, :, j] * M[:, j, None]
        return out

    def diagonal_blocks(self, starts, q):
        """
        Diagonal blocks of ``H^{-1}`` for effects ``starts[i] + (0..q-1)``.

        Parameters
        ----------
        starts : ndarray of int
            First effect of each block (e.g. each level of one term).
        q : int
            Block size.

        Returns
        -------
        ndarray (len(starts), q, q)
        """
        idx = np.asarray(starts, dtype=np.intp)[:, None] + np.arange(q)
        return self._inverse()[_tri_index(idx[:, :, None], idx[:, None, :], self.pat.N)]
