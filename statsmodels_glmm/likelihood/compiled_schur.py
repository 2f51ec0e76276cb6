"""
Compiled kernels of the Schur factorisation of several grouping factors
(:mod:`.schur`), for crossed factors whose levels meet a small share of each other's
levels.

Eliminating the larger factor's effects leaves ``S = C - B'A^{-1}B`` for the others,
with ``B`` the cross block.  Where ``B`` is dense, its products are dense matrix
products; where each level of the eliminated factor meets few of the other effects,
the sums over the pairs of ``B``'s entries within one level are far fewer than those
products' multiply-adds (``SchurPattern.by_pattern``), and these kernels run over those
pairs alone: the update of ``S`` (:func:`schur_update`, :func:`schur_pairs`), the
pieces of ``H^{-1}`` that the rows read (:func:`schur_sigma`) and the products with
``F = A^{-1} B`` in solves (:func:`schur_cross`).  The first three sum in another
order than the dense products (the same to rounding); the last in ``np.bincount``'s
(the same numbers).  Where ``B`` is sparser still, the factorisation keeps an index of
those pairs and sums over it with ``np.bincount`` (``SchurPattern.has_pairs``);
:func:`pair_update` and :func:`pair_sigma` make the same sums in the same order, in one
pass without the gathered arrays (``SchurPattern.pair_kernels``; the same numbers for one
or two effects per level of the eliminated factor, to rounding for more).  The kernels are in
:mod:`._sparse_kernels` (loaded on first use, without the one-factor kernels); every
function returns None (False) without them (numba missing or disabled, see
:mod:`.compiled`), and the caller keeps numpy.  The patterns use them only where the
work is large (``SchurPattern.by_pattern_from``, ``pair_kernels_from``), so that small
fits do not pay the one-time cost of loading numba for them; the pair kernels, which give
the same numbers, also at smaller sizes once numba is imported
(:func:`numba_imported`), when loading them costs little.
"""

import sys

import numpy as np

from .compiled import _enabled, _sparse_kernels

__all__ = ["schur_sigma", "schur_update", "schur_pairs", "schur_cross", "pair_update",
           "pair_sigma", "numba_imported"]


def _kernels():
    """The kernel module, or None (numba missing or disabled; loaded alone, without the
    one-factor kernels)."""
    return _sparse_kernels() if _enabled() else None


def numba_imported():
    """
    True when the kernels are enabled and numba is already imported (by the one-factor
    kernels, say): loading these kernels then costs a few hundredths of a second instead
    of numba's import.

    >>> isinstance(numba_imported(), bool)
    True
    """
    return bool(_enabled() and "numba" in sys.modules)


def _floats(*arrays):
    return tuple(np.ascontiguousarray(a, dtype=float) for a in arrays)


def _indices(*arrays):
    return tuple(np.ascontiguousarray(a, dtype=np.intp) for a in arrays)


def _positions(a):
    """Buffer positions as they are (32- or 64-bit integers: the kernels are compiled for
    both), so that a large index is not copied at every call."""
    a = np.ascontiguousarray(a)
    return a if a.dtype in (np.int32, np.int64) else a.astype(np.intp)


def schur_sigma(Fv, col, first, count, Sinv):
    """
    ``(Pv, See)``: the entries of ``F S^{-1}`` on the pattern of ``B`` and every level's
    block of ``F S^{-1} F'`` for the Schur factorisation of several grouping factors
    (:meth:`.schur.SchurFactor._sigma_parts`), computed level by level on that pattern
    alone by the compiled kernel; None without it (numba missing or disabled).  The
    sums run in another order than the dense product's, so the two agree to rounding.

    ``Fv`` (nB, q_e) are the entries of ``F = A^{-1} B`` sorted by level, ``col`` their
    remainder effects, ``first`` and ``count`` each level's first entry and number of
    entries, ``Sinv`` the whole ``S^{-1}`` (r, r).

    Examples
    --------
    >>> Fv, col = np.array([[0.5], [0.25], [1.0]]), np.array([0, 1, 1])
    >>> first, count = np.array([0, 2]), np.array([2, 1])
    >>> Sinv = np.array([[2.0, 0.5], [0.5, 1.0]])
    >>> out = schur_sigma(Fv, col, first, count, Sinv)
    >>> Fd = np.array([[0.5, 0.25], [0.0, 1.0]])  # F densely, one row per level
    >>> P = Fd @ Sinv
    >>> out is None or (np.allclose(out[0][:, 0], [P[0, 0], P[0, 1], P[1, 1]])
    ...                 and np.allclose(out[1][:, 0, 0], np.einsum("lc,lc->l", Fd, P)))
    True
    """
    K = _kernels()
    if K is None:
        return None
    Fv, Sinv = _floats(Fv, Sinv)
    qe = Fv.shape[1]
    Pv, See = np.empty(Fv.shape), np.empty((len(first), qe, qe))
    K.schur_sigma(Fv, *_indices(col, first, count), Sinv, Pv, See)
    return Pv, See


def schur_update(g, col, first, count, S):
    """
    ``S -= G'G`` in the upper triangle of the Schur complement ``S`` (r, r, C order)
    by the compiled kernel, level by level on the pattern of ``B`` (``G = A^{-1/2} B``:
    ``g`` its entries sorted by level and column, ``col``, ``first`` and ``count`` as
    for :func:`schur_sigma`); False without it (numba missing or disabled), ``S``
    then untouched.  The sums run in another order than ``dsyrk``'s, so the two agree
    to rounding.

    Examples
    --------
    >>> g, col = np.array([1.0, 2.0, 3.0]), np.array([0, 1, 1])
    >>> first, count = np.array([0, 2]), np.array([2, 1])
    >>> S = np.eye(2) * 20
    >>> G = np.array([[1.0, 2.0], [0.0, 3.0]])  # one row per level
    >>> not schur_update(g, col, first, count, S) or bool(
    ...     np.allclose(np.triu(S), np.triu(np.eye(2) * 20 - G.T @ G)))
    True
    """
    K = _kernels()
    if K is None:
        return False
    K.schur_update(*_floats(g), *_indices(col, first, count), S)
    return True


def schur_pairs(Bv, Fv, first, count, col, r):
    """
    ``B'F = B'A^{-1}B`` (r, r), both triangles, as sums over the pairs of ``B``'s
    entries within a level by the compiled kernel (``Bv``, ``Fv`` (nB, q_e) sorted by
    level as for :func:`schur_sigma`); None without it.  Another order of the sums
    than the dense product's: the same to rounding.

    Examples
    --------
    >>> Bv, col = np.array([[1.0, 0.5], [2.0, 0.0], [3.0, 1.0]]), np.array([0, 1, 1])
    >>> Fv = 0.5 * Bv
    >>> first, count = np.array([0, 2]), np.array([2, 1])
    >>> Bd = np.zeros((2, 2, 2)); Bd[[0, 0, 1], :, col] = Bv  # (levels, q_e, r)
    >>> T = schur_pairs(Bv, Fv, first, count, col, 2)
    >>> T is None or bool(np.allclose(T, np.einsum("lar,las->rs", Bd, 0.5 * Bd)))
    True
    """
    K = _kernels()
    if K is None:
        return None
    out = np.zeros((r, r))
    K.schur_pairs(*_floats(Bv, Fv), *_indices(first, count, col), out)
    return out


def schur_cross(Fv, first, count, col, v, size=None):
    """
    Products with ``F = A^{-1} B`` of the Schur factorisation of several grouping
    factors, from ``B``'s entries (sorted by level, as for :func:`schur_sigma`): ``F'
    v`` for ``v`` (levels, q_e) when ``size`` (the number of remainder effects) is
    given, else ``F v`` for ``v`` (r,), as (levels, q_e); None without the compiled
    kernels (numba missing or disabled).  The sums are ``np.bincount``'s, in the same
    order: the numbers are the same.

    Examples
    --------
    >>> Fv, col = np.array([[0.5], [0.25], [1.0]]), np.array([0, 1, 1])
    >>> first, count = np.array([0, 2]), np.array([2, 1])
    >>> Fd = np.array([[0.5, 0.25], [0.0, 1.0]])  # F densely, one row per level
    >>> ge, x = np.array([[2.0], [3.0]]), np.array([1.0, -1.0])
    >>> Ftg, Fx = schur_cross(Fv, first, count, col, ge, size=2), schur_cross(
    ...     Fv, first, count, col, x)
    >>> Ftg is None or (np.allclose(Ftg, Fd.T @ ge[:, 0]) and np.allclose(Fx[:, 0], Fd @ x))
    True
    """
    K = _kernels()
    if K is None:
        return None
    Fv, v = _floats(Fv, v)
    first, count, col = _indices(first, count, col)
    if size is not None:
        out = np.empty(size)
        K.cross_t(Fv, first, count, col, v, out)
    else:
        out = np.empty((len(first), Fv.shape[1]))
        K.cross(Fv, first, count, col, v, out)
    return out


def pair_update(Bv, Fv, first, count, dest, size):
    """
    ``B'F = B'A^{-1}B`` of the Schur factorisation on the index of pairs of ``B``'s
    entries within a level (``SchurPattern.has_pairs``): ``sum_a Bv[i, a] Fv[j, a]`` of
    every such pair ``(i, j)`` added at its buffer position ``dest`` (``d_pairs``), in a
    new array of ``size``; None without the compiled kernels.  The sums are those of
    ``np.bincount`` over the pairs, in the same order: the same numbers for one or two
    effects per level (with more, each pair's products are added in another order than
    ``np.einsum``'s: the same to rounding).

    Examples
    --------
    >>> Bv, Fv = np.array([[1.0], [2.0], [3.0]]), np.array([[0.5], [0.25], [1.0]])
    >>> first, count = np.array([0, 2]), np.array([2, 1])
    >>> dest = np.array([0, 1, 2, 3, 3])  # pairs (0,0) (0,1) (1,0) (1,1) (2,2)
    >>> out = pair_update(Bv, Fv, first, count, dest, 4)
    >>> out is None or out.tolist() == [0.5, 0.25, 1.0, 3.5]
    True
    """
    K = _kernels()
    if K is None:
        return None
    out = np.zeros(size)
    K.pair_update(*_floats(Bv, Fv), *_indices(first, count), _positions(dest), out)
    return out


def pair_sigma(Sinv, where, Fv, first, count):
    """
    The entries of ``P = F S^{-1}`` on the pattern of ``B`` from the index of pairs of
    its entries within a level: ``Pv[i, a] = sum_j S^{-1}[col_i, col_j] Fv[j, a]`` over
    the pairs ``(i, j)``, ``where`` the positions of those entries of ``S^{-1}`` in its
    buffer ``Sinv``, the pairs ordered as for :func:`pair_update`; None without the
    compiled kernels.  The sums are ``np.bincount``'s, in the same order.

    Examples
    --------
    >>> Sinv = np.array([2.0, 0.5, 0.5, 1.0])  # S^{-1} (2, 2), C order
    >>> Fv = np.array([[0.5], [0.25], [1.0]])  # columns 0, 1 | 1
    >>> first, count = np.array([0, 2]), np.array([2, 1])
    >>> where = np.array([0, 1, 2, 3, 3])
    >>> Pv = pair_sigma(Sinv, where, Fv, first, count)
    >>> Pv is None or Pv[:, 0].tolist() == [1.125, 0.5, 1.0]
    True
    """
    K = _kernels()
    if K is None:
        return None
    Sinv, Fv = _floats(Sinv, Fv)
    Pv = np.empty(Fv.shape)
    K.pair_sigma(Sinv, _positions(where), Fv, *_indices(first, count), Pv)
    return Pv
