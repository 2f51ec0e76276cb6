"""
Batched linear algebra on stacks of small symmetric q x q matrices.

Every group has its own q x q curvature ``H_i`` (``q`` random effects per
group, most often 1 or 2); the integrators invert them, solve with them and
take their log-determinants for all groups at once, as (G, q, q) stacks.
For ``q = 1`` and ``q = 2`` these are written out in closed form, which is
much faster than numpy's batched LAPACK calls on matrices this small:

.. math::

    \\begin{pmatrix} a & b \\\\ b & d \\end{pmatrix}^{-1}
        = \\frac{1}{ad - b^2} \\begin{pmatrix} d & -b \\\\ -b & a \\end{pmatrix},

positive definite exactly when ``a > 0`` and ``ad - b^2 > 0``, with log
determinant ``log(ad - b^2)``.  Larger ``q`` use :mod:`numpy.linalg`.
Matrix-vector and row-wise dot products are sums over the short last axis,
one column at a time (faster than a reduction over a short axis in numpy).
"""

import numpy as np

__all__ = ["batched_inv", "matvec"]


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
    q = H.shape[-1]
    if q == 1:
        return g / H[:, 0, :]
    if q == 2:
        a, b, d = H[:, 0, 0], H[:, 0, 1], H[:, 1, 1]
        g0, g1 = g[:, 0], g[:, 1]
        det = a * d - b * b
        out = np.empty_like(g)
        out[:, 0] = (d * g0 - b * g1) / det
        out[:, 1] = (a * g1 - b * g0) / det
        return out
    if q <= 3:
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
    out = A[:, 0] * B[:, 0]
    for j in range(1, A.shape[1]):
        out += A[:, j] * B[:, j]
    return out


_TRIU = {}


def _triu(q, diag=False):
    """Cached ``np.triu_indices(q)`` (or ``np.arange(q)`` with ``diag``)."""
    key = (q, diag)
    hit = _TRIU.get(key)
    if hit is None:
        hit = np.arange(q) if diag else np.triu_indices(q)
        _TRIU[key] = hit
    return hit
