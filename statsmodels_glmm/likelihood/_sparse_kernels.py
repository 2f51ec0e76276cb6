"""
numba kernels for several grouping factors (imported only when numba is installed):
the joint mode search (:func:`.compiled.sparse_modes`) and, at the end, the Schur
complement's update and the rows' pieces of its inverse summed over the pattern of
the cross block, and its products in solves (see :mod:`.compiled_schur`).

The search is :func:`.sparse_laplace.solve_sparse_modes`'s Newton method with
step-halving, run whole in one compiled call: the log-integrand

.. math:: h(u) = \\sum_t d_0(t) - u'u/2, \\qquad
          \\nabla h = M' d_1 - u, \\qquad
          -\\nabla^2 h = H = I + M' W M, \\quad W = \\operatorname{diag}(-d_2),

with ``eta_t = base_t + sum_c M[t, c] u[J[t, c]]``.  ``H`` is factorised by
eliminating the effects of the first column of ``J`` (one per row: a diagonal
block ``A``), which leaves the Schur complement ``S = C - B' A^{-1} B`` of the
other effects, a dense block factorised by Cholesky (diagonal when every
eliminated level meets one other effect and the rows have two effects: nested
factors).  Unlike the one-factor kernels (:mod:`._mode_kernels`), this one
computes ``exp`` and ``log1p`` itself, one row at a time, and sums in its own
order: the modes it returns agree with the numpy search's to the convergence
tolerance, not to the last bit.  The caller evaluates the family and factorises
``H`` at those modes with numpy, so everything computed from them (the
log-likelihood, its gradient) is the numpy path's function of the modes.

``kind`` is 0 for the Poisson family with the log link (``s`` the counts) and 1
for the binomial family with the logit link (``s`` successes, ``k`` trials); the
log-densities leave out the terms that do not depend on ``eta``.
"""

import math

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")  # x / 0 gives inf or nan


@_jit
def _evaluate(kind, base, M, J, s, k, u, d2, grad):
    """``d2`` and the gradient at ``u``; returns ``h`` (up to a constant)."""
    n, Q = M.shape
    h = 0.0
    for j in range(grad.shape[0]):
        grad[j] = -u[j]
        h -= 0.5 * u[j] * u[j]
    for t in range(n):
        e = base[t]
        for c in range(Q):
            e += M[t, c] * u[J[t, c]]
        if kind == 0:
            mu = math.exp(e)
            h += s[t] * e - mu
            g1 = s[t] - mu
            d2[t] = -mu
        else:
            ee = math.exp(-abs(e))
            p = (1.0 if e >= 0.0 else ee) / (1.0 + ee)
            h += s[t] * e - k[t] * (math.log1p(ee) + (e if e > 0.0 else 0.0))
            g1 = s[t] - k[t] * p
            d2[t] = -k[t] * (p * (1.0 - p))
        for c in range(Q):
            grad[J[t, c]] += M[t, c] * g1
    return h


@_jit
def _factor(M, J, remap, e0, d2, nzptr, nzcol, diag, a, B, S):
    """
    ``a`` (the diagonal ``A``), ``B`` (eliminated x remainder, on its pattern) and the
    lower Cholesky factor of ``S`` (in place) of ``H`` with the weights ``-d2``;
    False when ``H`` is not positive definite.
    """
    n, Q = M.shape
    ne = a.shape[0]
    r = S.shape[0]
    for i in range(ne):
        a[i] = 1.0
        for p in range(nzptr[i], nzptr[i + 1]):
            B[i, nzcol[p]] = 0.0
    for i in range(r):
        for j in range(r):
            S[i, j] = 0.0
        S[i, i] = 1.0
    for t in range(n):
        w = -d2[t]
        i = J[t, 0] - e0
        m0 = M[t, 0]
        a[i] += (w * m0) * m0
        for c in range(1, Q):
            jc = remap[J[t, c]]
            wc = w * M[t, c]
            B[i, jc] += wc * m0
            for l in range(1, Q):
                S[jc, remap[J[t, l]]] += wc * M[t, l]
    for i in range(ne):
        if not a[i] > 0.0:
            return False
        for p in range(nzptr[i], nzptr[i + 1]):
            b1 = B[i, nzcol[p]] / a[i]
            for p2 in range(nzptr[i], nzptr[i + 1]):
                S[nzcol[p], nzcol[p2]] -= b1 * B[i, nzcol[p2]]
    for j in range(r):
        v = S[j, j]
        if not diag:
            for l in range(j):
                v -= S[j, l] * S[j, l]
        if not v > 0.0:
            return False
        v = math.sqrt(v)
        S[j, j] = v
        if not diag:
            for i in range(j + 1, r):
                x = S[i, j]
                for l in range(j):
                    x -= S[i, l] * S[j, l]
                S[i, j] = x / v
    return True


@_jit
def _solve(g, e0, rem, nzptr, nzcol, diag, a, B, S, x, xr):
    """``x = H^{-1} g`` from the factors of :func:`_factor`; ``xr`` is scratch (r,)."""
    ne = a.shape[0]
    r = xr.shape[0]
    for j in range(r):
        xr[j] = g[rem[j]]
    for i in range(ne):
        gi = g[e0 + i] / a[i]
        for p in range(nzptr[i], nzptr[i + 1]):
            xr[nzcol[p]] -= B[i, nzcol[p]] * gi
    for j in range(r):  # L z = rhs
        v = xr[j]
        if not diag:
            for l in range(j):
                v -= S[j, l] * xr[l]
        xr[j] = v / S[j, j]
    for j in range(r - 1, -1, -1):  # L' x_r = z
        v = xr[j]
        if not diag:
            for l in range(j + 1, r):
                v -= S[l, j] * xr[l]
        xr[j] = v / S[j, j]
    for j in range(r):
        x[rem[j]] = xr[j]
    for i in range(ne):
        v = g[e0 + i]
        for p in range(nzptr[i], nzptr[i + 1]):
            v -= B[i, nzcol[p]] * xr[nzcol[p]]
        x[e0 + i] = v / a[i]


@_jit
def sparse_newton(kind, base, M, J, remap, rem, e0, nzptr, nzcol, diag, s, k, u, tol,
                  maxiter):
    """
    Newton with step-halving from ``u`` (updated in place) to the joint modes.

    A step is halved until ``h`` does not fall by more than ``1e-12 (1 + |h|)``;
    the search stops, converged, once the largest gradient entry is below ``tol``
    or the Newton decrement below ``tol**2`` (as the numpy search's Newton steps
    do).  Returns ``(converged, iterations)``; ``(False, ...)`` also when ``H`` is
    not positive definite or a step is not finite (the caller then runs the numpy
    search).
    """
    n = M.shape[0]
    N = u.shape[0]
    ne = nzptr.shape[0] - 1
    r = rem.shape[0]
    d2, grad = np.empty(n), np.empty(N)
    d2_t, grad_t = np.empty(n), np.empty(N)
    a, B, S = np.empty(ne), np.zeros((ne, r)), np.empty((r, r))
    step, xr, trial = np.empty(N), np.empty(r), np.empty(N)
    h = _evaluate(kind, base, M, J, s, k, u, d2, grad)
    if not np.isfinite(h):
        u[:] = 0.0
        h = _evaluate(kind, base, M, J, s, k, u, d2, grad)
    for it in range(1, maxiter + 1):
        if not _factor(M, J, remap, e0, d2, nzptr, nzcol, diag, a, B, S):
            return False, it
        _solve(grad, e0, rem, nzptr, nzcol, diag, a, B, S, step, xr)
        gmax = 0.0
        dec = 0.0
        for j in range(N):
            gmax = max(gmax, abs(grad[j]))
            dec += step[j] * grad[j]
        if not np.isfinite(dec):
            return False, it
        if gmax < tol or dec < tol * tol:
            return True, it
        f = 1.0
        h_t = -np.inf
        ascent = False
        for _ in range(41):
            for j in range(N):
                trial[j] = u[j] + f * step[j]
            h_t = _evaluate(kind, base, M, J, s, k, trial, d2_t, grad_t)
            if np.isfinite(h_t) and h_t >= h - 1e-12 * (1.0 + abs(h)):
                ascent = True
                break
            f *= 0.5
        if not ascent:  # no ascent along the Newton direction: at the mode up to rounding?
            return dec < 1e-12 * (1.0 + abs(h)), it
        u[:] = trial
        h = h_t
        d2, d2_t = d2_t, d2
        grad, grad_t = grad_t, grad
    return False, maxiter


@_jit
def schur_sigma(Fv, col, first, count, Sinv, Pv, See):
    """
    The pieces of ``H^{-1}`` that the rows need, on the pattern of ``B`` alone (see
    :meth:`.schur.SchurFactor._sigma_parts`): for the entries ``i`` of ``B`` in level
    ``l`` of the eliminated factor (``first[l]`` to ``first[l] + count[l]``, their
    remainder effects ``col``), ``Pv[i, a] = sum_j S^{-1}[col_i, col_j] Fv[j, a]`` over
    the entries ``j`` of the same level, and ``See[l, a, b] = sum_i Fv[i, a] Pv[i, b]``.
    ``F = A^{-1} B`` has no other entries in those rows, so these are the entries of
    ``F S^{-1}`` on ``B``'s pattern and the level's block of ``F S^{-1} F'``.
    """
    qe = Fv.shape[1]
    for lev in range(first.shape[0]):
        f0 = first[lev]
        f1 = f0 + count[lev]
        for i in range(f0, f1):
            ci = col[i]
            for a in range(qe):
                acc = 0.0
                for j in range(f0, f1):
                    acc += Sinv[ci, col[j]] * Fv[j, a]
                Pv[i, a] = acc
        for a in range(qe):
            for b in range(qe):
                acc = 0.0
                for i in range(f0, f1):
                    acc += Fv[i, a] * Pv[i, b]
                See[lev, a, b] = acc


@_jit
def schur_update(g, col, first, count, S):
    """
    ``S -= G'G`` in the upper triangle of ``S`` (r, r), with ``G`` the rows of
    ``A^{-1/2} B``: level ``l`` of the eliminated factor holds the entries ``first[l]``
    to ``first[l] + count[l]`` of ``g``, in the columns ``col`` (increasing within the
    level), and adds ``g_i g_j`` at ``(col_i, col_j)`` for every pair ``i <= j`` of them.
    """
    for lev in range(first.shape[0]):
        f0 = first[lev]
        f1 = f0 + count[lev]
        for i in range(f0, f1):
            gi = g[i]
            ci = col[i]
            for j in range(i, f1):
                S[ci, col[j]] -= gi * g[j]


@_jit
def cross_t(Fv, first, count, col, ge, out):
    """``out[c] = sum_i sum_a Fv[i, a] ge[l_i, a]`` over the entries ``i`` of ``B`` in
    column ``c`` (``F' g_e``), added entry by entry in their order, as ``np.bincount``
    adds them; ``out`` starts at zero."""
    qe = Fv.shape[1]
    out[:] = 0.0
    for lev in range(first.shape[0]):
        f0 = first[lev]
        for i in range(f0, f0 + count[lev]):
            acc = Fv[i, 0] * ge[lev, 0]
            for a in range(1, qe):
                acc += Fv[i, a] * ge[lev, a]
            out[col[i]] += acc


@_jit
def cross(Fv, first, count, col, x, out):
    """``out[l, a] = sum_i Fv[i, a] x[col_i]`` over the entries ``i`` of ``B`` in level
    ``l`` (``F x``), each sum in the entries' order."""
    qe = Fv.shape[1]
    for lev in range(first.shape[0]):
        f0 = first[lev]
        for a in range(qe):
            acc = 0.0
            for i in range(f0, f0 + count[lev]):
                acc += Fv[i, a] * x[col[i]]
            out[lev, a] = acc


@_jit
def schur_pairs(Bv, Fv, first, count, col, out):
    """``out[col_i, col_j] += sum_a Bv[i, a] Fv[j, a]`` for every pair of entries ``i``,
    ``j`` of ``B`` in one level (``B'F = B'A^{-1}B`` on its pattern, both triangles)."""
    qe = Bv.shape[1]
    for lev in range(first.shape[0]):
        f0 = first[lev]
        f1 = f0 + count[lev]
        for i in range(f0, f1):
            ci = col[i]
            for j in range(f0, f1):
                acc = Bv[i, 0] * Fv[j, 0]
                for a in range(1, qe):
                    acc += Bv[i, a] * Fv[j, a]
                out[ci, col[j]] += acc


@_jit
def pair_update(Bv, Fv, first, count, dest, out):
    """``out[dest[k]] += sum_a Bv[i, a] Fv[j, a]`` for the ``k``-th pair ``(i, j)`` of
    entries of ``B`` in one level, the pairs level by level and within a level by ``i``
    then ``j`` (``SchurPattern.pair_p``, ``pair_pp``): ``np.bincount``'s order of the
    same sums (each pair's products over ``a`` in order: ``np.einsum``'s for q_e <= 2)."""
    qe = Bv.shape[1]
    k = 0
    for lev in range(first.shape[0]):
        f0 = first[lev]
        f1 = f0 + count[lev]
        for i in range(f0, f1):
            for j in range(f0, f1):
                acc = Bv[i, 0] * Fv[j, 0]
                for a in range(1, qe):
                    acc += Bv[i, a] * Fv[j, a]
                out[dest[k]] += acc
                k += 1


@_jit
def pair_sigma(Sinv, where, Fv, first, count, Pv):
    """``Pv[i, a] = sum_j Sinv[where[k]] Fv[j, a]`` over the pairs ``k = (i, j)`` of
    entries of ``B`` in one level (ordered as in :func:`pair_update`), ``where[k]`` the
    position of ``S^{-1}[col_i, col_j]`` in its buffer: each sum from zero in ``j``'s
    order, as ``np.bincount`` adds them."""
    qe = Fv.shape[1]
    k = 0
    for lev in range(first.shape[0]):
        f0 = first[lev]
        f1 = f0 + count[lev]
        for i in range(f0, f1):
            for a in range(qe):
                acc = 0.0
                for j in range(f0, f1):
                    acc += Sinv[where[k + j - f0]] * Fv[j, a]
                Pv[i, a] = acc
            k += f1 - f0
