"""
Negative binomial responses with an estimated dispersion (NB2 and NB1).

NB2 (``p=2``, the default; glmmTMB's ``nbinom2``, ``MASS::glm.nb``) has
variance ``mu + alpha mu^2``.  With ``theta = 1 / alpha`` (R's "size") and
``mu = exp(eta)``

.. math::

    \\log f(y \\mid \\eta) = \\log\\Gamma(y + \\theta) - \\log\\Gamma(\\theta) - \\log y!
        + \\theta \\log\\frac{\\theta}{\\theta + \\mu} + y \\log\\frac{\\mu}{\\theta + \\mu}.

Writing ``q = mu / (theta + mu)`` (so ``dq/deta = q (1 - q)``), the
derivatives in ``eta`` are

.. math::

    d_1 = y - (y + \\theta) q, \\quad d_2 = -(y + \\theta) q (1 - q), \\quad
    d_3 = -(y + \\theta) q (1 - q)(1 - 2q).

NB1 (``p=1``; glmmTMB's ``nbinom1``) has variance ``mu (1 + alpha)``: a
negative binomial with size ``r = mu / alpha`` and success probability
``1 / (1 + alpha)``,

.. math::

    \\log f = \\log\\Gamma(y + r) - \\log\\Gamma(r) - \\log y! - r \\log(1 + \\alpha)
        + y \\log\\frac{\\alpha}{1 + \\alpha},

so with ``T_0 = \\psi(y + r) - \\psi(r) - \\log(1 + \\alpha)``,
``T_k = \\psi^{(k)}(y + r) - \\psi^{(k)}(r)`` and ``V_k = r^{k+1} T_k`` (since
``dr/deta = r``, ``dV_k/deta = (k + 1) V_k + V_{k+1}``):
``d_1 = V_0``, ``d_2 = d_1 + V_1``, ``d_3 = d_2 + 2 V_1 + V_2`` and
``d_4 = d_3 + 4 V_1 + 5 V_2 + V_3``.  NB2 has ``d_4 = d_2 (1 - 6 q (1 - q))``.

The internal parameter is ``log alpha`` (unbounded above, bounded below at
``log(1e-8)`` so that data without overdispersion end on the boundary
instead of drifting to ``-inf``; the likelihood flattens as ``alpha -> 0``, and
a fit that stops on that flat stretch with ``alpha`` below 1e-4 and the
likelihood still rising is put on the bound when the log-likelihood there is
at least as high, see :func:`statsmodels_glmm.model.boundaries.settle_on_bounds`);
the reported one is ``alpha``, and the
summary also shows ``theta = 1 / alpha``.  The derivatives of ``d_0, d_1,
d_2`` with respect to ``log alpha`` are analytic (module functions below).
For very large ``theta`` (or ``r``) the differences ``log Gamma(y + theta) -
log Gamma(theta)`` and ``psi(y + theta) - psi(theta)`` are taken from their
asymptotic series, which avoids cancellation; the NB1 terms (for ``r > 20``) are
formed from ``rho = y / r`` so that no power of ``r`` overflows.
"""

import math

import numpy as np
import pandas as pd
from scipy import special, stats
import statsmodels.api as sm

from .base import Response
from .standard import _link_name, count_column

__all__ = ["NegativeBinomial"]

#: lower bound of alpha (internal log alpha >= log(ALPHA_MIN))
ALPHA_MIN = 1e-8
_BIG = 1e4  # theta above which the asymptotic series are used


def _lgamma_diff(y, theta):
    """``log Gamma(y + theta) - log Gamma(theta)``, stable for large theta."""
    if np.ndim(theta) == 0 and theta <= _BIG:
        return special.gammaln(y + theta) - special.gammaln(theta)
    yb, tb = np.broadcast_arrays(y, theta)
    big = tb > _BIG
    out = np.empty(yb.shape)
    if np.any(~big):
        out[~big] = special.gammaln(yb[~big] + tb[~big]) - special.gammaln(tb[~big])
    if np.any(big):
        yy, tt = yb[big], tb[big]
        # Stirling: (t + y - 1/2) log(t + y) - (t - 1/2) log t - y + 1/(12(t+y)) - 1/(12 t)
        out[big] = ((tt - 0.5) * np.log1p(yy / tt) + yy * np.log(tt + yy) - yy
                    - yy / (12.0 * tt * (tt + yy)))
    return out


def _inv_pow_diffs(y, t):
    """``A_k = t^-k - (t + y)^-k`` for k = 1..4, without cancellation."""
    s = t + y
    a1 = y / (t * s)
    a2 = y * (2 * t + y) / (t * s) ** 2
    a3 = y * (3 * t * t + 3 * t * y + y * y) / (t * s) ** 3
    a4 = y * (2 * t + y) * (2 * t * t + 2 * t * y + y * y) / (t * s) ** 4
    return a1, a2, a3, a4


def _polygamma(order, x):
    """``psi^(order)(x)`` (the digamma ufunc for order 0, which is faster)."""
    return special.digamma(x) if order == 0 else special.polygamma(order, x)


def _digamma_diff(y, theta, order=0):
    """``psi^(order)(y + theta) - psi^(order)(theta)`` (order 0..3), stable for large theta."""
    if np.ndim(theta) == 0 and theta <= _BIG:
        return _polygamma(order, y + theta) - _polygamma(order, theta)
    yb, tb = np.broadcast_arrays(np.asarray(y, dtype=float), theta)
    big = tb > _BIG
    if not np.any(big):
        return _polygamma(order, yb + tb) - _polygamma(order, tb)
    out = np.empty(yb.shape)
    if np.any(~big):
        out[~big] = (_polygamma(order, yb[~big] + tb[~big])
                     - _polygamma(order, tb[~big]))
    yy, tt = yb[big], tb[big]
    a1, a2, a3, a4 = _inv_pow_diffs(yy, tt)
    # asymptotic series of psi and its first three derivatives (the next terms are
    # O(x^-4) times smaller than the last kept)
    if order == 0:
        out[big] = np.log1p(yy / tt) + a1 / 2 + a2 / 12 - a4 / 120
    elif order == 1:
        out[big] = -(a1 + a2 / 2 + a3 / 6)
    elif order == 2:
        out[big] = a2 + a3 + a4 / 2
    else:
        a5 = _scaled_diffs(yy / tt, 5)[5] / tt ** 5
        out[big] = -(2 * a3 + 3 * a4 + 2 * a5)
    return out


#: r above which the NB1 terms come from the asymptotic series (see :func:`_nb1_terms`)
_SERIES_R = 20.0
#: ``B_2n / (2n)``: psi(x) = log x - 1/(2x) - sum_n c_n x^-2n
_PSI_C = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)
#: ``B_2n / (2n (2n - 1))``: log Gamma(x) = (x - 1/2) log x - x + log(2 pi)/2 + sum_n d_n x^(1-2n)
_LGAMMA_D = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)


def _scaled_diffs(rho, m_max):
    """
    ``b_m = 1 - (1 + rho)^-m`` for ``m = 0 .. m_max`` without cancellation, by
    ``b_{m+1} = b_m + b_1 (1 + rho)^-m`` (a sum of positive terms); with ``rho = y / t``,
    ``b_m = t^m (t^-m - (t + y)^-m)``.
    """
    w = 1.0 / (1.0 + rho)
    b1 = rho * w
    out = [np.zeros_like(rho), b1]
    wm = w
    for _ in range(2, m_max + 1):
        out.append(out[-1] + b1 * wm)
        wm = wm * w
    return out


def _rising(m, k):
    """``m (m + 1) ... (m + k - 1)``."""
    out = 1.0
    for j in range(k):
        out *= m + j
    return out


def _nb1_series(y, r, l1a, order):
    """
    ``log Gamma(y + r) - log Gamma(r)`` and ``V_k = r^{k+1} T_k`` (``k = 0 .. order``)
    from the asymptotic series of ``log Gamma`` and ``psi``, for ``r > _SERIES_R``.

    With ``rho = y / r`` and ``b_m`` of :func:`_scaled_diffs`, a difference
    ``r^-m - (r + y)^-m`` is ``b_m r^-m``, so every term is a ``b_m`` times a power
    of ``1 / r``: there is no cancellation, and no power of ``r`` is formed
    (``r`` may be as large as floating point allows).
    """
    rho = y / r
    n_terms = len(_PSI_C)
    b = _scaled_diffs(rho, 2 * n_terms + order)
    rinv = 1.0 / r
    rinv2 = rinv * rinv
    l1p = np.log1p(rho)
    lg = (r - 0.5) * l1p + y * np.log(r + y) - y
    rp = np.ones_like(r)
    for n, d in enumerate(_LGAMMA_D, 1):
        rp = rp * (rinv if n == 1 else rinv2)
        lg -= d * b[2 * n - 1] * rp
    out = []
    for k in range(order + 1):
        if k == 0:
            v = r * (l1p - l1a) + 0.5 * b[1]
        else:
            v = math.factorial(k - 1) * r * b[k] + 0.5 * math.factorial(k) * b[k + 1]
        rp = rinv
        for n, c in enumerate(_PSI_C, 1):
            v += (c * _rising(2 * n, k)) * b[2 * n + k] * rp
            rp = rp * rinv2
        out.append(v if k % 2 == 0 else -v)
    return lg, out


#: counts up to which the polygamma differences of :func:`_nb1_terms` are finite sums
_SUM_Y = 40


#: up to this many terms ``(row, j < y)`` in all, :func:`_nb1_sums` adds them up with
#: ``np.bincount`` (a few calls, which small data need); beyond, over slices of the rows
#: sorted by ``y`` (about ``4 max(y)`` calls, faster on more terms)
_SUM_TERMS = 1 << 14


def _nb1_plan(y):
    """
    The rows :func:`_nb1_sums` sums over, and how: ``(whole, rows, above, pos, j)``,
    with ``whole`` the rows of whole ``y <= _SUM_Y`` and ``rows`` their indices (the
    order of the sums).  With at most :data:`_SUM_TERMS` terms ``(row, j)``, ``j < y``,
    ``pos`` and ``j`` list them row by row (``pos`` the row's place in ``rows``) and
    ``above`` is None; otherwise ``rows`` are sorted by decreasing ``y`` and
    ``above[j]`` is the number with ``y > j``, so that those are ``rows[:above[j]]``.
    It depends on ``y`` only.

    >>> whole, rows, above, pos, j = _nb1_plan(np.array([1.0, 0.0, 3.0, 2.5, 1.0]))
    >>> whole.tolist(), rows.tolist(), pos.tolist(), j.tolist()
    ([True, True, True, False, True], [0, 1, 2, 4], [0, 2, 2, 2, 3], [0.0, 0.0, 1.0, 2.0, 0.0])
    """
    whole = (y <= _SUM_Y) & (y == np.floor(y))
    idx = np.flatnonzero(whole)
    yi = y[idx].astype(np.intp)
    total = int(yi.sum())
    if total <= _SUM_TERMS:
        pos = np.repeat(np.arange(len(idx)), yi)
        j = (np.arange(total) - np.repeat(np.cumsum(yi) - yi, yi)).astype(float)
        return whole, idx, None, pos, j
    rows = idx[np.argsort(-yi, kind="stable")]
    above = (len(yi) - np.cumsum(np.bincount(yi, minlength=1)))[:-1]
    return whole, rows, above, None, None


def _nb1_sums(r, plan, order):
    """
    ``log Gamma(y + r) - log Gamma(r)`` and ``r^{k+1} (psi^(k)(y + r) - psi^(k)(r))``
    for ``k = 0 .. order`` at the rows of whole ``y <= _SUM_Y`` (``plan`` of
    :func:`_nb1_plan`; in its order ``plan[1]``), as the finite sums
    ``sum_{j < y} log(r + j)`` and ``(-1)^k k! sum_{j < y} (r / (r + j))^{k+1}`` (from
    ``Gamma(x + 1) = x Gamma(x)`` and ``psi^(k)(x + 1) = psi^(k)(x) + (-1)^k k!
    x^-(k+1)``): the polygamma terms are positive and at most one, so there is no
    cancellation and no overflow for tiny ``r``; all are zero where ``y = 0``.  Either
    way of the plan adds every row's terms in the order of ``j``, so both give the
    same numbers.  Returns ``(lg, [V_0, ..., V_order])``.
    """
    _, rows, above, pos, jt = plan
    rs = r[rows]
    m = len(rows)
    if above is None:
        rt = rs[pos]
        t = rt + jt
        lg = np.bincount(pos, weights=np.log(t), minlength=m)
        q = rt / t
        p = q
        acc = []
        for _ in range(order + 1):
            acc.append(np.bincount(pos, weights=p, minlength=m))
            p = p * q
    else:
        lg = np.zeros(m)
        acc = [np.zeros(m) for _ in range(order + 1)]
        for j, n in enumerate(above.tolist()):
            rj = rs[:n]
            t = rj + j
            a = lg[:n]
            a += np.log(t)
            q = rj / t
            p = q
            for k in range(order + 1):
                a = acc[k][:n]
                a += p
                p = p * q
    return lg, [(-1) ** k * math.factorial(k) * a for k, a in enumerate(acc)]


def _nb1_terms(y, r, l1a, order, plan=None):
    """
    ``log Gamma(y + r) - log Gamma(r)`` and ``V_k = r^{k+1} T_k`` for
    ``k = 0 .. order`` (see the module docstring): from log-gamma and polygamma
    differences for ``r <= _SERIES_R`` (shifted by one below ``r = 1``; as finite sums,
    :func:`_nb1_sums`, for whole ``y <= _SUM_Y``), from the series of
    :func:`_nb1_series` above (the differences would lose about ``log10(r)`` digits
    there).  ``plan`` is :func:`_nb1_plan` of ``y`` when the caller keeps it.
    """
    ser = r > _SERIES_R
    if np.all(ser):
        return _nb1_series(y, r, l1a, order)
    small = ~ser
    anyser = bool(np.any(ser))
    rs = r[small] if anyser else r
    lg = np.empty(len(r))
    out = [np.empty(len(r)) for _ in range(order + 1)]
    plan = _nb1_plan(y) if plan is None else plan
    whole, rows = plan[0], plan[1]
    if len(rows):
        # every row of whole y: those of the series are overwritten below
        lg[rows], vs = _nb1_sums(r, plan, order)
        for k, v in enumerate(vs):
            out[k][rows] = v
    rest = small & ~whole
    if np.any(rest):
        lg[rest] = special.gammaln(y[rest] + r[rest]) - special.gammaln(r[rest])
        # below r = 1, psi^(k)(r) = psi^(k)(r + 1) - (-1)^k k! r^-(k+1) keeps the powers
        # of 1 / r (which overflow for tiny r) out of the products; y = 0 gives exact zeros
        yr, rr = y[rest], r[rest]
        tiny = rr < 1.0
        rlow = np.where(tiny, rr + 1.0, rr)
        rhigh = np.where(yr > 0, yr + rr, rlow)
        rp = rr.copy()
        for k in range(order + 1):
            v = rp * (_polygamma(k, rhigh) - _polygamma(k, rlow))
            v[tiny] += (-1) ** k * math.factorial(k)
            v[yr == 0] = 0.0
            out[k][rest] = v
            rp *= rr
    out[0][small] -= rs * l1a
    if anyser:
        lgs, vs = _nb1_series(y[ser], r[ser], l1a, order)
        lg[ser] = lgs
        for k in range(order + 1):
            out[k][ser] = vs[k]
    return lg, out


class NegativeBinomial(Response):
    """
    Negative binomial response (log link) with the dispersion estimated.

    Parameters
    ----------
    p : {2, 1}
        2 for NB2 (variance ``mu + alpha mu^2``), 1 for NB1 (variance
        ``mu (1 + alpha)``).
    link : str or statsmodels link, default "log"
        Only the log link is supported.
    alpha : float, optional
        Starting value of the dispersion (default: a moment estimate from a
        Poisson GLM fit).

    Notes
    -----
    ``sm_family`` holds ``sm.families.NegativeBinomial(alpha=...)``, the
    statsmodels family with the dispersion fixed, used for the GLM
    starting values.  Passing that statsmodels family as ``family=`` to a
    MixedGLM gives this class (NB2) with alpha *estimated*, started at the
    statsmodels family's alpha.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> fam = NegativeBinomial()
    >>> y, eta, extra = np.array([0.0, 3.0]), np.array([0.5, 1.0]), np.log([0.4])
    >>> d0 = fam.derivs(y, eta, extra)[0]
    >>> theta = 1 / 0.4
    >>> ref = stats.nbinom.logpmf(y, theta, theta / (theta + np.exp(eta)))
    >>> bool(np.allclose(d0, ref, rtol=1e-12))
    True
    """

    n_extra = 1
    link_name = "log"
    moment_start = True

    def __init__(self, p=2, link="log", alpha=None):
        if p not in (1, 2):
            raise ValueError(f"p must be 1 (NB1) or 2 (NB2), got {p!r}")
        link = _link_name(link)
        if link != "log":
            raise ValueError(f"link {link!r} is not supported for NegativeBinomial; use 'log'")
        if alpha is not None and not (np.isfinite(alpha) and alpha > 0):
            raise ValueError(f"alpha must be a positive number, got {alpha!r}")
        self.p = int(p)
        self.alpha_start = alpha
        self.name = "NegativeBinomial" if self.p == 2 else "NegativeBinomial (NB1)"
        self.sm_family = sm.families.NegativeBinomial(alpha=1.0 if alpha is None else alpha)
        self._y_cache = (None, None)
        self.k_max = None

    def __repr__(self):
        return f"NegativeBinomial(p={self.p}, link='log')"

    # ------------------------------------------------------------ data
    def validate(self, endog, name):
        y = count_column(endog, name)
        self.k_max = int(np.max(y)) if len(y) else 0  # default range of which="prob"
        return y

    def _nb1_plan(self, y):
        """:func:`_nb1_plan` of ``y`` (cached for the response array)."""
        cached = self.__dict__.get("_nb1_rows")
        if cached is not None and cached[0] is y:
            return cached[1]
        plan = _nb1_plan(y)
        self.__dict__["_nb1_rows"] = (y, plan)
        return plan

    def _lgy1(self, y):
        cy, val = self._y_cache
        if cy is y:
            return val
        val = special.gammaln(y + 1)
        self._y_cache = (y, val)
        return val

    # ------------------------------------------------------- parameters
    def extra_names(self):
        return ["alpha"]

    def extra_public(self, extra):
        return np.exp(np.asarray(extra, dtype=float))

    def extra_internal(self, public):
        public = np.asarray(public, dtype=float)
        if np.any(public <= 0):
            raise ValueError("alpha must be positive")
        return np.log(public)

    def extra_jacobian(self, extra):
        return np.diag(np.exp(np.asarray(extra, dtype=float)))

    def extra_bounds(self):
        """``log alpha >= log(1e-8)``: Poisson-like data stop at the boundary."""
        return [(np.log(ALPHA_MIN), None)]

    def start_extra(self, y, eta):
        if self.alpha_start is not None:
            return np.log([self.alpha_start])
        mu = np.exp(eta)
        if self.p == 2:
            a = np.sum((y - mu) ** 2 - y) / max(np.sum(mu ** 2), 1e-12)
        else:
            a = np.sum((y - mu) ** 2) / max(np.sum(mu), 1e-12) - 1.0
        # the GLM start ignores the random effects, so this overstates alpha
        return np.log([float(np.clip(0.5 * a, 0.05, 5.0))])

    # ------------------------------------------------------- likelihood
    def _nb2_constant(self, y, theta):
        """
        ``log Gamma(y + theta) - log Gamma(theta) - log y!``, the part of the NB2
        log-density free of ``eta``, cached for the last ``(y, theta)`` (the mode
        iterations of one likelihood evaluation call :meth:`derivs` at one ``theta``).
        """
        cached = self.__dict__.get("_nb2_const")
        if cached is not None and cached[0] is y and cached[1] == theta:
            return cached[2]
        val = _lgamma_diff(y, theta) - self._lgy1(y)
        self.__dict__["_nb2_const"] = (y, theta, val)
        return val

    def _nb2_digamma(self, y, theta):
        """``psi(y + theta) - psi(theta)``, cached for the last ``(y, theta)`` (the
        quadrature nodes of one evaluation share them)."""
        cached = self.__dict__.get("_nb2_psi")
        if cached is not None and cached[0] is y and cached[1] == theta:
            return cached[2]
        val = _digamma_diff(y, theta)
        self.__dict__["_nb2_psi"] = (y, theta, val)
        return val

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_nb2_const", None)
        state.pop("_nb2_psi", None)
        state.pop("_nb1_rows", None)
        return state

    def derivs(self, y, eta, extra):
        la = float(extra[0])
        mu = np.exp(eta)
        if self.p == 2:
            theta = np.exp(-la)
            # theta log(theta/(theta+mu)) = -theta log1p(mu/theta)
            # y log(mu/(theta+mu)) = y (eta - log(theta + mu))
            lt = np.log(theta + mu) if theta < _BIG else np.log(theta) + np.log1p(mu / theta)
            d0 = (self._nb2_constant(y, theta) - theta * np.log1p(mu / theta)
                  + np.where(y > 0, y * (eta - lt), 0.0))
            q = mu / (theta + mu)
            yt = y + theta
            d1 = y - yt * q
            d2 = -yt * q * (1 - q)
            d3 = d2 * (1 - 2 * q)
            return d0, d1, d2, d3
        alpha = np.exp(la)
        r = mu / alpha
        l1a = np.log1p(alpha)
        lg, (v0, v1, v2) = _nb1_terms(y, r, l1a, 2, self._nb1_plan(y))
        d0 = lg - self._lgy1(y) - r * l1a + np.where(y > 0, y * (la - l1a), 0.0)
        d2 = v0 + v1
        return d0, v0, d2, d2 + 2 * v1 + v2

    def d4(self, y, eta, extra):
        """
        Fourth derivative in ``eta``: ``d_2 (1 - 6 q (1 - q))`` (NB2),
        ``d_3 + 4 V_1 + 5 V_2 + V_3`` (NB1; see the module docstring).

        >>> fam = NegativeBinomial()
        >>> y, eta, ex = np.array([2.0]), np.array([0.3]), np.log([0.5])
        >>> h = 1e-5
        >>> fd = (fam.derivs(y, eta + h, ex)[3] - fam.derivs(y, eta - h, ex)[3]) / (2 * h)
        >>> bool(np.allclose(fam.d4(y, eta, ex), fd, rtol=1e-6))
        True
        """
        la = float(extra[0])
        mu = np.exp(eta)
        if self.p == 2:
            theta = np.exp(-la)
            q = mu / (theta + mu)
            v = q * (1 - q)
            return -(y + theta) * v * (1 - 6 * v)
        v0, v1, v2, v3 = _nb1_terms(y, mu / np.exp(la), np.log1p(np.exp(la)), 3,
                                    self._nb1_plan(y))[1]
        return v0 + 7 * v1 + 6 * v2 + v3

    def extra_derivs(self, y, eta, extra):
        la = float(extra[0])
        mu = np.exp(eta)
        if self.p == 2:
            theta = np.exp(-la)
            tm = theta + mu
            dd0 = self._nb2_digamma(y, theta) - np.log1p(mu / theta) + (mu - y) / tm
            e0 = -theta * dd0
            e1 = -theta * mu * (y - mu) / tm ** 2
            e2 = theta * mu * (y * mu - y * theta + 2 * theta * mu) / (tm * tm * tm)
            return e0[:, None], e1[:, None], e2[:, None]
        d0, d1, d2, d3 = self.derivs(y, eta, extra)
        c = mu / (1 + np.exp(la))
        e0 = -d1 + (y - mu) / (1 + np.exp(la))
        e1 = -d2 - c
        e2 = -d3 - c
        return e0[:, None], e1[:, None], e2[:, None]

    # ------------------------------------------------------- prediction
    def mean(self, eta, extra=None):
        return self.sm_family.link.inverse(np.asarray(eta, dtype=float))

    def variance(self, mu, extra):
        alpha = float(np.exp(extra[0]))
        return mu + alpha * mu ** 2 if self.p == 2 else mu * (1 + alpha)

    def _scipy_args(self, mu, extra):
        alpha = float(np.exp(extra[0]))
        if self.p == 2:
            n = 1.0 / alpha
            return n, n / (n + mu)
        return mu / alpha, np.full_like(mu, 1.0 / (1.0 + alpha))

    def prob(self, eta, extra, counts):
        """``P(y = k | eta)`` for every row and every ``k`` in ``counts``: (n, len(counts))."""
        mu = self.mean(eta)
        n, pr = self._scipy_args(mu, extra)
        n = np.broadcast_to(n, mu.shape)
        # older scipy warns on its way to an exact 0 or 1 for extreme means (NB1, tiny mu)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return stats.nbinom.pmf(np.asarray(counts)[None, :], n[:, None], pr[:, None])

    def predict_which(self, eta, extra, which, extras=None):
        """
        ``"mean"``, ``"var"``, ``"prob-zero"`` or ``"prob"`` (counts ``0..k``,
        ``k`` the largest count in the fitted data).
        """
        mu = self.mean(eta)
        if which == "mean":
            return mu
        if which == "var":
            return self.variance(mu, extra)
        if which == "prob-zero":
            return self.prob(eta, extra, [0])[:, 0]
        if which == "prob":
            k = self.k_max if self.k_max is not None else int(np.ceil(np.max(mu) * 3))
            return self.prob(eta, extra, np.arange(k + 1))
        raise ValueError(f"which={which!r} is not available for NegativeBinomial; use "
                         "'mean', 'linear', 'var', 'prob-zero' or 'prob'")

    def which_columns(self, which, k):
        """Column names of two-dimensional predictions."""
        return [f"prob_{j}" for j in range(k)] if which == "prob" else None

    def deviance_resid(self, y, eta, extra):
        mu = self.mean(eta)
        alpha = float(np.exp(extra[0]))
        if self.p == 2:
            th = 1.0 / alpha
            with np.errstate(divide="ignore", invalid="ignore"):
                t = (np.where(y > 0, y * np.log(y / mu), 0.0)
                     - (y + th) * np.log((y + th) / (mu + th)))
        else:
            # saturated log-likelihood log f(y | mu = y); at y = 0 its limit as mu -> 0 is 0
            y = np.asarray(y, dtype=float)
            pos = y > 0
            sat = np.zeros(y.shape)
            if np.any(pos):
                sat[pos] = self.derivs(y[pos], np.log(y[pos]), extra)[0]
            t = sat - self.derivs(y, eta, extra)[0]
        return np.sign(y - mu) * np.sqrt(np.maximum(2 * t, 0))

    def simulate(self, eta, extra, y, rng):
        mu = self.mean(eta)
        n, pr = self._scipy_args(mu, extra)
        return rng.negative_binomial(n, pr)

    # ---------------------------------------------------------- summary
    def summary_table(self, results, alpha=0.05):
        """Dispersion ``alpha`` and ``theta = 1 / alpha`` with delta-method SEs."""
        idx = list(results.model.param_names).index("alpha")
        a = float(np.asarray(results.params)[idx])
        se = float(np.sqrt(np.asarray(results.normalized_cov_params)[idx, idx]))
        z = stats.norm.ppf(1 - alpha / 2)
        # interval on the log scale (where the likelihood is closer to quadratic)
        se_log = se / a
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            lo, hi = a * np.exp(-z * se_log), a * np.exp(z * se_log)
            tab = pd.DataFrame(
                {"Estimate": [a, 1 / a], "Std.Err.": [se, se / a ** 2],
                 f"[{alpha / 2:.3f}": [lo, 1 / hi], f"{1 - alpha / 2:.3f}]": [hi, 1 / lo]},
                index=[f"alpha (NB{self.p} dispersion)", "theta = 1/alpha"])
        return tab

    def summary_notes(self, results):
        """A note recommending Poisson when alpha is at (or near) zero."""
        idx = list(results.model.param_names).index("alpha")
        a = float(np.asarray(results.params)[idx])
        if a < 1e-4:
            return [f"alpha = {a:.2g} is at (or near) its lower bound: no overdispersion "
                    "beyond the random effects; a Poisson model fits as well and is "
                    "simpler (compare with smg.compare)."]
        return []
