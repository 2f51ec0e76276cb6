"""
Random-effect covariance: Cholesky parametrisation, names, SDs and correlations.

The random effects of one group are ``b = L u`` with ``u ~ N(0, I)``, so
``G = cov(b) = L L'``.  ``L`` is block diagonal, one lower-triangular block
per random term (a correlated ``(1 + time | id)`` term is one 2 x 2 block;
``(1 + time || id)`` gives two 1 x 1 blocks).  The internal parameters
``theta`` are the entries of the lower triangles of the blocks; diagonal
entries are bounded below by zero, so a variance can reach the boundary
exactly (a singular fit), as with lme4.

The reported parameters are the variances and covariances of ``G`` (as
statsmodels' MixedLM reports them).
"""

import numpy as np

__all__ = ["CovStructure"]


class CovStructure:
    """
    Block-diagonal Cholesky parametrisation of the random-effect covariance.

    Parameters
    ----------
    blocks : list of list of int
        Columns of the random-effects design belonging to each correlated block.
    names : list of str
        Column names of the random-effects design.
    group : str or list of str
        Name of the grouping factor (used in parameter names), or one name per
        column when the columns belong to several factors.

    Examples
    --------
    >>> cs = CovStructure([[0, 1]], ["Intercept", "time"], "id")
    >>> cs.public_names()
    ['id Intercept Var', 'id Intercept x time Cov', 'id time Var']
    >>> import numpy as np
    >>> cs.public(np.array([2.0, 0.5, 1.0]))
    array([4.  , 1.  , 1.25])
    """

    def __init__(self, blocks, names, group):
        self.blocks = [list(b) for b in blocks]
        self.names = list(names)
        self.q = len(self.names)
        if isinstance(group, str):
            self.groups = [group] * self.q
        else:
            self.groups = [str(g) for g in group]
            if len(self.groups) != self.q:
                raise ValueError(f"group has {len(self.groups)} names for {self.q} columns")
        self.group = self.groups[0] if self.q else str(group)
        pos = []
        for blk in self.blocks:
            for i in range(len(blk)):
                for j in range(i + 1):
                    pos.append((blk[i], blk[j]))
        #: (row, col) of L for each theta entry
        self.positions = pos
        self.n_params = len(pos)
        self.rows = np.array([p[0] for p in pos], dtype=int)
        self.cols = np.array([p[1] for p in pos], dtype=int)
        self.is_diag = self.rows == self.cols
        #: typical size of each column of Z (set by the model): boundary and singularity
        #: tests compare ``L[j, j] * row_scale[j]``, so they do not depend on units
        self.row_scale = np.ones(self.q)

    # ----------------------------------------------------------- mapping
    def chol(self, theta):
        """The q x q lower-triangular factor ``L``."""
        L = np.zeros((self.q, self.q))
        L[self.rows, self.cols] = theta
        return L

    def cov(self, theta):
        """``G = L L'``."""
        L = self.chol(theta)
        return L @ L.T

    def public(self, theta):
        """Variances and covariances of ``G`` in the order of :meth:`public_names`."""
        G = self.cov(theta)
        return G[self.rows, self.cols]

    def internal(self, public):
        """Cholesky entries ``theta`` from variances and covariances."""
        G = np.zeros((self.q, self.q))
        G[self.rows, self.cols] = public
        G = G + np.tril(G, -1).T
        L = np.zeros_like(G)
        for blk in self.blocks:
            sub = G[np.ix_(blk, blk)]
            try:
                Lb = np.linalg.cholesky(sub)
            except np.linalg.LinAlgError:
                Lb = semidefinite_cholesky(sub)
            L[np.ix_(blk, blk)] = Lb
        return L[self.rows, self.cols]

    def jacobian(self, theta):
        """``d public / d theta`` as an (n_params x n_params) matrix."""
        L = self.chol(theta)
        J = np.zeros((self.n_params, self.n_params))
        for k, (a, b) in enumerate(self.positions):
            E = np.zeros_like(L)
            E[a, b] = 1.0
            dG = E @ L.T + L @ E.T
            J[:, k] = dG[self.rows, self.cols]
        return J

    def public_names(self):
        """Names such as ``'id Intercept Var'`` and ``'id Intercept x time Cov'``."""
        out = []
        for a, b in self.positions:
            if a == b:
                out.append(f"{self.groups[a]} {self.names[a]} Var")
            else:
                out.append(f"{self.groups[a]} {self.names[b]} x {self.names[a]} Cov")
        return out

    def lower_bounds(self):
        """Bounds for an optimiser: none (a negative diagonal flips a column's sign)."""
        return [(None, None)] * self.n_params

    def canonical(self, theta, zero_tol=1e-6):
        """
        Flip column signs so that every diagonal entry of ``L`` is >= 0 and set
        diagonals below ``zero_tol`` (boundary fits) to exactly zero.

        ``G = L L'`` is unchanged by flipping the sign of a whole column of ``L``.
        """
        L = self.chol(theta)
        for j in range(self.q):
            if L[j, j] < 0:
                L[:, j] = -L[:, j]
            if L[j, j] * self.row_scale[j] < zero_tol:
                L[j, j] = 0.0
        return L[self.rows, self.cols]

    def start(self, scale=1.0):
        """Starting ``theta``: ``L = scale * I``."""
        return np.where(self.is_diag, float(scale), 0.0)

    # --------------------------------------------------------- reporting
    def sd_corr(self, theta):
        """Standard deviations (q,) and correlation matrix (q x q)."""
        G = self.cov(theta)
        sd = np.sqrt(np.maximum(np.diag(G), 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = G / np.outer(sd, sd)
        corr[~np.isfinite(corr)] = 0.0
        np.fill_diagonal(corr, 1.0)
        return sd, corr

    def scaled_theta(self, theta):
        """
        ``theta`` on the scaled columns of Z (each row of ``L`` times its column's
        root mean square), where the tests on sizes do not depend on units.

        >>> cs = CovStructure([[0, 1]], ["Intercept", "time"], "id")
        >>> cs.row_scale = np.array([1.0, 2.0])  # time's root mean square 2
        >>> cs.scaled_theta([0.5, 0.2, 0.1]).tolist()  # L_11, L_21, L_22
        [0.5, 0.4, 0.2]
        """
        return np.asarray(theta) * self.row_scale[self.rows]

    def is_singular(self, theta, tol=1e-4):
        """True when the covariance is at the boundary (lme4's rule on ``theta``)."""
        return bool(np.any(self.scaled_theta(theta)[self.is_diag] < tol))

    def boundary_mask(self, theta, tol=1e-6):
        """Diagonal entries of ``L`` at zero (variance on the boundary)."""
        return self.is_diag & (np.abs(self.scaled_theta(theta)) <= tol)

    def even_diagonals(self, theta):
        """
        Diagonal entries of ``L`` with no other nonzero entry in their column.

        Flipping the sign of a column of ``L`` leaves ``G`` unchanged, so the
        likelihood is an even function of such an entry: its maximum along it can
        be at zero.

        >>> cs = CovStructure([[0, 1]], ["Intercept", "time"], "id")
        >>> cs.even_diagonals([0.5, 0.2, 0.1]).tolist()  # L_11, L_21, L_22
        [False, False, True]
        >>> cs.even_diagonals([0.5, 0.0, 0.1]).tolist()
        [True, False, True]
        """
        theta = np.asarray(theta)
        other = np.bincount(self.cols[~self.is_diag & (theta != 0)], minlength=self.q) > 0
        return self.is_diag & ~other[self.cols]


def semidefinite_cholesky(G, rtol=1e-12):
    """
    Lower-triangular ``L`` with ``L L' = G`` for a positive semi-definite ``G``.

    A variance at zero (a boundary fit) makes ``G`` singular.  The columns are
    factorised in turn; one whose remaining pivot is at zero (at most ``rtol``
    times the largest variance) is zero, so the zero variance is an exact zero
    of ``L`` (the fit's own representation of it), not a small number.  A
    matrix with a negative eigenvalue is first projected onto the
    semi-definite ones (its negative eigenvalues set to zero).

    Examples
    --------
    >>> import numpy as np
    >>> L = semidefinite_cholesky(np.array([[4.0, 2.0], [2.0, 1.0]]))
    >>> L.tolist()
    [[2.0, 0.0], [1.0, 0.0]]
    >>> semidefinite_cholesky(np.zeros((1, 1))).tolist()
    [[0.0]]
    """
    G = np.array(G, dtype=float)
    w, v = np.linalg.eigh(G)
    tol = rtol * float(np.max(np.abs(np.diag(G))))
    if w[0] < -tol:
        G = (v * np.maximum(w, 0.0)) @ v.T
    q = len(G)
    L = np.zeros_like(G)
    for j in range(q):
        d = G[j, j] - L[j, :j] @ L[j, :j]
        if d <= tol:
            continue  # no variance left for this column
        L[j, j] = np.sqrt(d)
        L[j + 1:, j] = (G[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L
