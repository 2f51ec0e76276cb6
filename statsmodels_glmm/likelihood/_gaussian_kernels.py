"""
numba kernels behind :func:`.compiled.gaussian_profile` (imported only when numba is
installed): the per-group sums of the Gaussian model's profiled log-likelihood
(:mod:`.gaussian_profile`) and of its gradient for one or two random effects per
group, in passes over the groups.

With ``w_i = Lam' R_i`` (``R_i = [Z_i' X_i, Z_i' y_i]``, q x (p + 1)) and
``A_i = I + Lam' Z_i' Z_i Lam``, the first passes form

.. math::

    \\sum_i \\log\\det A_i \\qquad\\text{and}\\qquad
    K = \\sum_i w_i' A_i^{-1} w_i ,

from which the caller solves for ``beta`` and the residual sum; the last pass, at
that ``beta``, sums the gradient in the entries of ``Lam`` (the formula of
:func:`.gaussian_profile.profiled_loglike`).  With ``diag = sigma^2`` in place of
one and the absolute ``L`` in place of ``Lam`` the same passes give the sums of
:func:`.gaussian_profile.gaussian_gradient` and
:func:`.gaussian_profile.gaussian_beta_hessian`.  The numpy path reaches the same sums
through the Cholesky factors of the ``A_i``, in another order of operations: the two
agree to rounding, not to the bit.
"""

import math

import numba

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")


@_jit
def curvatures(ZtZ, l11, l21, l22, diag, Ainv):
    """
    Every group's ``A_i = diag I + Lam' Z_i' Z_i Lam`` inverted, as ``(i11, i21, i22)``
    rows of ``Ainv`` (G, 3) (``ZtZ`` is (G, q, q)), and ``sum_i log det A_i``: NaN
    where an ``A_i`` is not positive definite.
    """
    G, q = ZtZ.shape[0], ZtZ.shape[1]
    logdet = 0.0
    for g in range(G):
        z11 = ZtZ[g, 0, 0]
        if q == 1:
            a = diag + (l11 * l11) * z11
            if not a > 0.0:
                return math.nan
            logdet += math.log(a)
            Ainv[g, 0] = 1.0 / a
            Ainv[g, 1] = 0.0
            Ainv[g, 2] = 0.0
            continue
        z21 = ZtZ[g, 1, 0]
        z22 = ZtZ[g, 1, 1]
        u = z21 * l11 + z22 * l21
        a = diag + l11 * (z11 * l11 + z21 * l21) + l21 * u
        b = l22 * u
        d = diag + l22 * (z22 * l22)
        det = a * d - b * b
        if not (a > 0.0 and det > 0.0):
            return math.nan
        logdet += math.log(det)
        Ainv[g, 0] = d / det
        Ainv[g, 1] = -b / det
        Ainv[g, 2] = a / det
    return logdet


@_jit
def cross_sums(R, l11, l21, l22, Ainv, K, W, T):
    """
    ``K = sum_i w_i' A_i^{-1} w_i`` (k x k) with ``w_i = Lam' R_i``; ``R`` is
    (q, G, k), ``Ainv`` from :func:`curvatures`, ``W`` and ``T`` (2, k) work arrays.
    """
    q, G, k = R.shape
    for i in range(k):
        for j in range(k):
            K[i, j] = 0.0
    for g in range(G):
        i11 = Ainv[g, 0]
        i21 = Ainv[g, 1]
        i22 = Ainv[g, 2]
        for j in range(k):
            r0 = R[0, g, j]
            if q == 2:
                r1 = R[1, g, j]
                w0 = l11 * r0 + l21 * r1
                w1 = l22 * r1
            else:
                w0 = l11 * r0
                w1 = 0.0
            W[0, j] = w0
            W[1, j] = w1
            T[0, j] = i11 * w0 + i21 * w1
            T[1, j] = i21 * w0 + i22 * w1
        for i in range(k):
            a0 = W[0, i]
            a1 = W[1, i]
            for j in range(i + 1):
                K[i, j] += a0 * T[0, j] + a1 * T[1, j]
    for i in range(k):
        for j in range(i):
            K[j, i] = K[i, j]


@_jit
def profile_gradient(R, ZtZ, l11, l21, l22, beta, c, Ainv, grad, XLs):
    """
    ``c sum_i (v_i - S_i Lam s_i) s_i' - sum_i S_i Lam A_i^{-1}`` (lower triangle,
    into ``grad`` (q, q)) with ``v_i = Z_i' (y_i - X_i beta)``,
    ``s_i = A_i^{-1} Lam' v_i`` and ``S_i = Z_i' Z_i`` (``Ainv`` from
    :func:`curvatures`); ``XLs = sum_i X_i' Z_i Lam s_i`` (p,); returns
    ``(sum_i v_i' Lam s_i, sum_i s_i' s_i, sum_i tr A_i^{-1})``.
    """
    q, G, k = R.shape
    p = k - 1
    for j in range(p):
        XLs[j] = 0.0
    g00 = 0.0
    g10 = 0.0
    g11 = 0.0
    vls = 0.0
    ss = 0.0
    tr = 0.0
    for g in range(G):
        v0 = R[0, g, p]
        v1 = R[1, g, p] if q == 2 else 0.0
        for j in range(p):
            v0 -= R[0, g, j] * beta[j]
            if q == 2:
                v1 -= R[1, g, j] * beta[j]
        i11 = Ainv[g, 0]
        i21 = Ainv[g, 1]
        i22 = Ainv[g, 2]
        z11 = ZtZ[g, 0, 0]
        if q == 1:
            s0 = i11 * (l11 * v0)
            g00 += c * ((v0 - z11 * l11 * s0) * s0) - l11 * (z11 * i11)
            ls0 = l11 * s0
            for j in range(p):
                XLs[j] += R[0, g, j] * ls0
            vls += v0 * ls0
            ss += s0 * s0
            tr += i11
            continue
        z21 = ZtZ[g, 1, 0]
        z22 = ZtZ[g, 1, 1]
        sl00 = z11 * l11 + z21 * l21  # S_i Lam
        sl01 = z21 * l22
        sl10 = z21 * l11 + z22 * l21
        sl11 = z22 * l22
        w0 = v0 * l11 + v1 * l21
        w1 = v1 * l22
        s0 = i11 * w0 + i21 * w1
        s1 = i21 * w0 + i22 * w1
        r0 = v0 - (sl00 * s0 + sl01 * s1)
        r1 = v1 - (sl10 * s0 + sl11 * s1)
        g00 += c * (r0 * s0) - (sl00 * i11 + sl01 * i21)
        g10 += c * (r1 * s0) - (sl10 * i11 + sl11 * i21)
        g11 += c * (r1 * s1) - (sl10 * i21 + sl11 * i22)
        ls0 = l11 * s0
        ls1 = l21 * s0 + l22 * s1
        for j in range(p):
            XLs[j] += R[0, g, j] * ls0 + R[1, g, j] * ls1
        vls += v0 * ls0 + v1 * ls1
        ss += s0 * s0 + s1 * s1
        tr += i11 + i22
    grad[0, 0] = g00
    if q == 2:
        grad[1, 0] = g10
        grad[1, 1] = g11
    return vls, ss, tr
