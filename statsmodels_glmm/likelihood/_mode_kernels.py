"""
numba kernels behind :mod:`.compiled` (imported only when numba is installed).

Each kernel repeats, row by row and in the same order, the numpy operations of
the mode search's evaluation (:func:`.laplace._chunk_modes`), so that both give
the same numbers to the last bit.  The transcendental functions (``exp``,
``log1p``) stay in numpy, whose vectorised versions are several times faster
than scalar calls in a loop; the kernels do the arithmetic around them and the
per-group sums in one pass each.  Rows are sorted by group: group ``g`` owns
the rows ``starts[g]`` to ``starts[g + 1]`` (the last group to ``n``).
"""

import math

import numba

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")  # x / 0 gives inf or nan


@numba.njit(inline="always")
def _end(starts, g, n):
    """The row after group ``g``'s last (rows sorted by group)."""
    return starts[g + 1] if g + 1 < starts.shape[0] else n


@numba.njit(inline="always")
def _modes(u, g):
    """Group ``g``'s one or two modes (the second 0 for one random effect)."""
    return u[g, 0], (u[g, 1] if u.shape[1] == 2 else 0.0)


@numba.njit(inline="always", error_model="numpy")
def _times(m0, m1, p00, p01, p10, p11):
    """``P m`` for a 2 x 2 ``P`` and one row's ``m``, each entry a sum in numpy's order."""
    r0 = m0 * p00
    r0 += m1 * p01
    r1 = m0 * p10
    r1 += m1 * p11
    return r0, r1


@_jit
def linear_predictor(base, m0, m1, u, starts, n, out):
    """``out_t = base_t + m_t0 u_g0`` (``+ m_t1 u_g1`` for two random effects)."""
    G = starts.shape[0]
    q = u.shape[1]
    for g in range(G):
        r1 = _end(starts, g, n)
        u0, u1 = _modes(u, g)
        for t in range(starts[g], r1):
            v = base[t] + m0[t] * u0
            if q == 2:
                v += m1[t] * u1
            out[t] = v


@_jit
def logit_rows(eta, e, lp1, s, d0, d1, d2, d3):
    """
    Bernoulli logit derivatives from ``e = exp(-|eta|)`` and ``lp1 = log1p(e)``:
    ``mu = max(e, eta >= 0) / (1 + e)``, ``v = mu (1 - mu)``,
    ``(s eta - softplus, s - mu, -v, v (2 mu - 1))``.
    """
    for t in range(eta.shape[0]):
        et = eta[t]
        ee = e[t]
        mu = (1.0 if et >= 0.0 else ee) / (1.0 + ee)
        sp = lp1[t] + (et if et > 0.0 else 0.0)
        v = mu * (1.0 - mu)
        d0[t] = s[t] * et - sp
        d1[t] = s[t] - mu
        d2[t] = -v
        d3[t] = v * (2.0 * mu - 1.0)


@_jit
def binomial_rows(eta, e, lp1, s, k, lc, d0, d1, d2, d3):
    """As :func:`logit_rows` with ``k`` trials and log binomial coefficients ``lc``."""
    for t in range(eta.shape[0]):
        et = eta[t]
        ee = e[t]
        mu = (1.0 if et >= 0.0 else ee) / (1.0 + ee)
        sp = lp1[t] + (et if et > 0.0 else 0.0)
        nv = k[t] * (mu * (1.0 - mu))
        d0[t] = (s[t] * et - k[t] * sp) + lc[t]
        d1[t] = s[t] - k[t] * mu
        d2[t] = -nv
        d3[t] = nv * (2.0 * mu - 1.0)


@_jit
def gaussian_rows(eta, y, c0, s2, d0, d1, d2, d3):
    """
    Gaussian identity-link derivatives, ``r = y - eta``: ``(c0 - r^2 / (2 s2), r / s2,
    -1 / s2, 0)`` with ``c0 = -log(2 pi) / 2 - log sigma`` (in numpy's order of
    operations).
    """
    w = -1 / s2
    for t in range(eta.shape[0]):
        r = y[t] - eta[t]
        d0[t] = c0 - 0.5 * r * r / s2
        d1[t] = r / s2
        d2[t] = w
        d3[t] = 0.0


@_jit
def poisson_rows(eta, mu, y, lgy, d0, d1, d2, d3):
    """Poisson log-link derivatives from ``mu = exp(eta)``."""
    for t in range(eta.shape[0]):
        m = mu[t]
        d0[t] = (y[t] * eta[t] - m) - lgy[t]
        d1[t] = y[t] - m
        d2[t] = -m
        d3[t] = -m


@_jit
def group_sums(m0, m1, d0, d1, d2, u, starts, n, h, grad, H):
    """
    Per group: ``h = sum d0 - u'u/2``, ``grad = sum m d1 - u``, ``H = I - sum d2 m m'``
    for one or two random effects (``m1`` ignored for one).
    """
    G = starts.shape[0]
    q = u.shape[1]
    for g in range(G):
        r1 = _end(starts, g, n)
        sh = 0.0
        g0 = 0.0
        g1 = 0.0
        h00 = 0.0
        h01 = 0.0
        h11 = 0.0
        for t in range(starts[g], r1):
            a = m0[t]
            r = d1[t]
            w = d2[t]
            sh += d0[t]
            g0 += a * r
            h00 += w * (a * a)
            if q == 2:
                b = m1[t]
                g1 += b * r
                h01 += w * (a * b)
                h11 += w * (b * b)
        u0 = u[g, 0]
        uu = u0 * u0
        if q == 2:
            u1 = u[g, 1]
            uu += u1 * u1
            grad[g, 1] = g1 - u1
            H[g, 0, 1] = -h01
            H[g, 1, 0] = -h01
            H[g, 1, 1] = 1.0 - h11
        h[g] = sh - 0.5 * uu
        grad[g, 0] = g0 - u0
        H[g, 0, 0] = 1.0 - h00


@_jit
def working_q1(m0, d1, d2, d3, u, P, starts, n, s, ma, r, V0):
    """
    The row-wise pieces of the Laplace gradient (see :func:`.laplace._chunk_working`)
    for one random effect: ``s_t = m_t P_i m_t``, ``c_t = d_3 s_t / 2``,
    ``a_i = P_i sum_t m_t c_t``, ``ma_t = m_t a_i``, ``r_t = d_1 + c_t + d_2 ma_t`` and
    ``V_t = r_t u_i + d_1 a_i + d_2 P_i m_t``.
    """
    G = starts.shape[0]
    for g in range(G):
        r0 = starts[g]
        r1 = _end(starts, g, n)
        p = P[g, 0, 0]
        acc = 0.0
        for t in range(r0, r1):
            hm = m0[t] * p
            st = m0[t] * hm
            s[t] = st
            c = d3[t] * st
            c *= 0.5
            r[t] = c  # kept until the second pass
            acc += m0[t] * c
        a = p * acc
        ug = u[g, 0]
        for t in range(r0, r1):
            mat = m0[t] * a
            ma[t] = mat
            rt = d1[t] + r[t]
            rt += d2[t] * mat
            r[t] = rt
            v = rt * ug
            v += d1[t] * a
            v += d2[t] * (m0[t] * p)
            V0[t] = v


@_jit
def working_q2(m0, m1, d1, d2, d3, u, P, starts, n, s, ma, r, V0, V1):
    """As :func:`working_q1` for two random effects per group."""
    G = starts.shape[0]
    for g in range(G):
        r0 = starts[g]
        r1 = _end(starts, g, n)
        p00 = P[g, 0, 0]
        p01 = P[g, 0, 1]
        p10 = P[g, 0, 1]  # numpy reads the upper entry for both
        p11 = P[g, 1, 1]
        acc0 = 0.0
        acc1 = 0.0
        for t in range(r0, r1):
            a_ = m0[t]
            b_ = m1[t]
            hm0, hm1 = _times(a_, b_, p00, p01, p10, p11)
            st = a_ * hm0
            st += b_ * hm1
            s[t] = st
            c = d3[t] * st
            c *= 0.5
            r[t] = c  # kept until the second pass
            acc0 += a_ * c
            acc1 += b_ * c
        # a_i = P_i acc (numpy's matvec: column 0 times acc_0, plus column 1 times acc_1)
        a0 = P[g, 0, 0] * acc0
        a0 += P[g, 0, 1] * acc1
        a1 = P[g, 1, 0] * acc0
        a1 += P[g, 1, 1] * acc1
        u0 = u[g, 0]
        u1 = u[g, 1]
        for t in range(r0, r1):
            a_ = m0[t]
            b_ = m1[t]
            mat = a_ * a0
            mat += b_ * a1
            ma[t] = mat
            rt = d1[t] + r[t]
            rt += d2[t] * mat
            r[t] = rt
            hm0, hm1 = _times(a_, b_, p00, p01, p10, p11)
            v = rt * u0
            v += d1[t] * a0
            v += d2[t] * hm0
            V0[t] = v
            v = rt * u1
            v += d1[t] * a1
            v += d2[t] * hm1
            V1[t] = v


@_jit
def prediction_rhs(deta, Z0, Z1, M0, M1, d1, d2, u, moved, starts, n, rhs):
    """
    Right-hand sides of the first-order mode prediction (see
    :func:`.laplace.predicted_modes`): per group
    ``sum_t M0_ta (deta_t + sum_b dZ_tb u_ib) d2_t + dZ_ta d1_t`` (the ``dZ`` terms
    only when ``L`` moved).  ``Z1``/``M1`` are ignored for one random effect.
    """
    G = starts.shape[0]
    q = u.shape[1]
    for g in range(G):
        r1 = _end(starts, g, n)
        u0, u1 = _modes(u, g)
        acc0 = 0.0
        acc1 = 0.0
        for t in range(starts[g], r1):
            dt = deta[t]
            if moved:
                dt += Z0[t] * u0
                if q == 2:
                    dt += Z1[t] * u1
            dt *= d2[t]
            col = M0[t] * dt
            if moved:
                col += Z0[t] * d1[t]
            acc0 += col
            if q == 2:
                col = M1[t] * dt
                if moved:
                    col += Z1[t] * d1[t]
                acc1 += col
        rhs[g, 0] = acc0
        if q == 2:
            rhs[g, 1] = acc1


@_jit
def logit_nodes(etaT, e, lp1, s, k, lc, trials, want_d1, d0, d1):
    """
    Binomial-logit log-density (and first derivative) at a block of quadrature
    nodes, node-major (``etaT``, ``e = exp(-|eta|)``, ``lp1 = log1p(e)``: (nodes,
    rows)); ``k`` and ``lc`` (trials, log binomial coefficients) only with ``trials``.
    """
    nb, n = etaT.shape
    for j in range(nb):
        for t in range(n):
            et = etaT[j, t]
            ee = e[j, t]
            sp = lp1[j, t] + (et if et > 0.0 else 0.0)
            if trials:
                d0[j, t] = (s[t] * et - k[t] * sp) + lc[t]
            else:
                d0[j, t] = s[t] * et - sp
            if want_d1:
                mu = (1.0 if et >= 0.0 else ee) / (1.0 + ee)
                if trials:
                    d1[j, t] = s[t] - k[t] * mu
                else:
                    d1[j, t] = s[t] - mu


@_jit
def poisson_nodes(etaT, mu, y, lgy, want_d1, d0, d1):
    """Poisson log-density (and first derivative) at a block of nodes from ``mu = exp(eta)``."""
    nb, n = etaT.shape
    for j in range(nb):
        for t in range(n):
            m = mu[j, t]
            d0[j, t] = (y[t] * etaT[j, t] - m) - lgy[t]
            if want_d1:
                d1[j, t] = y[t] - m


@_jit
def newton_step(H, grad, step, dec):
    """
    Every group's Newton step ``H_i^{-1} g_i`` (numpy's closed forms for one and two
    random effects, see :func:`.batched._solve`) and decrement ``step_i' g_i``.
    Returns whether every step is finite, ``max |g|`` and ``max dec`` (NaN when
    any entry is NaN, as numpy's ``max``).
    """
    G, q = grad.shape
    finite = True
    gmax = -math.inf
    dmax = -math.inf
    gnan = False
    dnan = False
    for i in range(G):
        if q == 1:
            s0 = grad[i, 0] / H[i, 0, 0]
            step[i, 0] = s0
            dv = s0 * grad[i, 0]
            finite = finite and math.isfinite(s0)
        else:
            a = H[i, 0, 0]
            b = H[i, 0, 1]
            d = H[i, 1, 1]
            g0 = grad[i, 0]
            g1 = grad[i, 1]
            det = a * d - b * b
            s0 = (d * g0 - b * g1) / det
            s1 = (a * g1 - b * g0) / det
            step[i, 0] = s0
            step[i, 1] = s1
            dv = s0 * g0
            dv += s1 * g1
            finite = finite and math.isfinite(s0) and math.isfinite(s1)
        dec[i] = dv
        if dv != dv:
            dnan = True
        elif dv > dmax:
            dmax = dv
        for a_ in range(q):
            g = abs(grad[i, a_])
            if g != g:
                gnan = True
            elif g > gmax:
                gmax = g
    return finite, (math.nan if gnan else gmax), (math.nan if dnan else dmax)


@_jit
def hessian_rows(m0, m1, d2, d3, d4, P, starts, n, W, dbrow, KS, RS1, RS2):
    """
    The row weights and group sums of the closed-form fixed-effects Hessian (see
    :func:`.laplace_hessian._chunk_part`) for one or two random effects (``m1``
    ignored for one): with ``PM = P m``, ``s = m'PM``, ``hd3 = d3 / 2``,
    ``ma = m' P sum(m hd3 s)`` and ``brow = d3 ma + d4 s / 2``, the columns of ``W``
    are ``(d2 + brow) m``, ``hd3 PM_a PM_b``, ``d2 m``, ``d3 m_a m_b`` and
    ``brow m`` (pairs ``a <= b``); ``dbrow = d2 + brow``; per group
    ``KS[j, c] = sum d3 m_a m_b m_c``, ``RS1[b, c] = sum brow m_b m_c`` and
    ``RS2[b, j] = sum hd3 m_b PM_a PM_b'`` (pair ``j``).
    """
    G = starts.shape[0]
    q = P.shape[1]
    npr = 1 if q == 1 else 3
    for g in range(G):
        r0 = starts[g]
        r1 = _end(starts, g, n)
        p00 = P[g, 0, 0]
        p01 = P[g, 0, 1] if q == 2 else 0.0
        p10 = P[g, 1, 0] if q == 2 else 0.0
        p11 = P[g, 1, 1] if q == 2 else 0.0
        cm0 = 0.0
        cm1 = 0.0
        for t in range(r0, r1):  # cm_b = sum m_b hd3 s
            a_ = m0[t]
            if q == 1:
                s = a_ * (a_ * p00)
            else:
                b_ = m1[t]
                pm0, pm1 = _times(a_, b_, p00, p01, p10, p11)
                s = a_ * pm0
                s += b_ * pm1
            hd3 = 0.5 * d3[t]
            cm0 += (a_ * hd3) * s
            if q == 2:
                cm1 += (m1[t] * hd3) * s
        if q == 1:
            t0 = p00 * cm0
            t1 = 0.0
        else:
            t0 = p00 * cm0
            t0 += p01 * cm1
            t1 = p10 * cm0
            t1 += p11 * cm1
        for j in range(npr):
            for c in range(q):
                KS[g, j, c] = 0.0
        for b in range(q):
            for c in range(q):
                RS1[g, b, c] = 0.0
            for j in range(npr):
                RS2[g, b, j] = 0.0
        for t in range(r0, r1):
            a_ = m0[t]
            w2 = d2[t]
            w3 = d3[t]
            hd3 = 0.5 * w3
            if q == 1:
                pm0 = a_ * p00
                s = a_ * pm0
                ma = a_ * t0
            else:
                b_ = m1[t]
                pm0, pm1 = _times(a_, b_, p00, p01, p10, p11)
                s = a_ * pm0
                s += b_ * pm1
                ma = a_ * t0
                ma += b_ * t1
            brow = w3 * ma + (0.5 * d4[t]) * s
            db = w2 + brow
            dbrow[t] = db
            if q == 1:
                W[t, 0] = db * a_
                W[t, 1] = (hd3 * pm0) * pm0
                W[t, 2] = w2 * a_
                W[t, 3] = (w3 * a_) * a_
                W[t, 4] = brow * a_
                KS[g, 0, 0] += ((w3 * a_) * a_) * a_
                RS1[g, 0, 0] += (brow * a_) * a_
                RS2[g, 0, 0] += ((hd3 * a_) * pm0) * pm0
            else:
                W[t, 0] = db * a_
                W[t, 1] = db * b_
                W[t, 2] = (hd3 * pm0) * pm0
                W[t, 3] = (hd3 * pm0) * pm1
                W[t, 4] = (hd3 * pm1) * pm1
                W[t, 5] = w2 * a_
                W[t, 6] = w2 * b_
                W[t, 7] = (w3 * a_) * a_
                W[t, 8] = (w3 * a_) * b_
                W[t, 9] = (w3 * b_) * b_
                W[t, 10] = brow * a_
                W[t, 11] = brow * b_
                # pairs (0, 0), (0, 1), (1, 1); c over the two effects
                KS[g, 0, 0] += ((w3 * a_) * a_) * a_
                KS[g, 0, 1] += ((w3 * a_) * a_) * b_
                KS[g, 1, 0] += ((w3 * a_) * b_) * a_
                KS[g, 1, 1] += ((w3 * a_) * b_) * b_
                KS[g, 2, 0] += ((w3 * b_) * b_) * a_
                KS[g, 2, 1] += ((w3 * b_) * b_) * b_
                RS1[g, 0, 0] += (brow * a_) * a_
                RS1[g, 0, 1] += (brow * a_) * b_
                RS1[g, 1, 0] += (brow * b_) * a_
                RS1[g, 1, 1] += (brow * b_) * b_
                RS2[g, 0, 0] += ((hd3 * a_) * pm0) * pm0
                RS2[g, 0, 1] += ((hd3 * a_) * pm0) * pm1
                RS2[g, 0, 2] += ((hd3 * a_) * pm1) * pm1
                RS2[g, 1, 0] += ((hd3 * b_) * pm0) * pm0
                RS2[g, 1, 1] += ((hd3 * b_) * pm0) * pm1
                RS2[g, 1, 2] += ((hd3 * b_) * pm1) * pm1
