"""
Log-probabilities of the binary links and their derivatives in eta.

For a link with inverse ``mu(eta)`` a Bernoulli log-density is
``y log mu + (1 - y) log(1 - mu)``.  This module returns
``log mu(eta)`` and ``log(1 - mu(eta))`` with their first three derivatives
(and, by :func:`log_probs_d4`, the fourth), computed in forms that stay
accurate far in the tails (no ``log`` of a probability that has underflowed).
"""

import numpy as np
from scipy import special

__all__ = ["LINKS", "log_probs", "log_probs_d4", "inverse", "probit_bernoulli",
           "probit_bernoulli_d4"]

_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def _logit(eta):
    mu = special.expit(eta)
    one_m = special.expit(-eta)
    v = mu * one_m
    v3 = v * (one_m - mu)
    # log mu = -log(1 + e^-eta);  log(1 - mu) = -log(1 + e^eta)
    a = (-np.logaddexp(0.0, -eta), one_m, -v, -v3)
    b = (-np.logaddexp(0.0, eta), -mu, -v, -v3)
    return a, b


def _log_ndtr_derivs(x):
    """log Phi(x) and its first three derivatives."""
    l0 = special.log_ndtr(x)
    lam = np.exp(-0.5 * x * x - _LOG_SQRT_2PI - l0)  # phi / Phi
    l2 = -lam * (x + lam)
    lam1 = l2  # d lam / dx = -lam (x + lam)
    l3 = -(lam1 * (x + lam) + lam * (1.0 + lam1))
    return l0, lam, l2, l3


def probit_bernoulli(s, eta):
    """
    ``log f`` and its first three derivatives in ``eta`` for 0/1 outcomes ``s`` under
    the probit link: ``log Phi(x)`` with ``x = (2 s - 1) eta`` (``1 - Phi(eta) =
    Phi(-eta)``), one tail function per row instead of both.

    >>> import numpy as np
    >>> s, eta = np.array([1.0, 0.0]), np.array([0.3, 0.3])
    >>> a, b = log_probs("probit", eta)
    >>> d = probit_bernoulli(s, eta)
    >>> bool(np.allclose([d[1][0], d[1][1]], [a[1][0], b[1][1]]))
    True
    """
    sign = 2.0 * s - 1.0
    l0, l1, l2, l3 = _log_ndtr_derivs(sign * eta)
    return l0, sign * l1, l2, sign * l3


def probit_bernoulli_d4(s, eta):
    """
    The fourth derivative in ``eta`` of :func:`probit_bernoulli`'s ``log f``.

    >>> import numpy as np
    >>> s, eta, h = np.array([1.0, 0.0]), np.array([0.3, -1.2]), 1e-4
    >>> fd = (probit_bernoulli(s, eta + h)[3] - probit_bernoulli(s, eta - h)[3]) / (2 * h)
    >>> bool(np.allclose(probit_bernoulli_d4(s, eta), fd, rtol=1e-6))
    True
    """
    return _log_ndtr_d4((2.0 * s - 1.0) * eta)


def _probit(eta):
    a = _log_ndtr_derivs(eta)
    c0, c1, c2, c3 = _log_ndtr_derivs(-eta)
    b = (c0, -c1, c2, -c3)
    return a, b


def _cloglog(eta):
    # mu = 1 - exp(-t), t = exp(eta)
    t = np.exp(np.minimum(eta, 700.0))
    b = (-t, -t, -t, -t)
    q = np.exp(-t)
    omq = -np.expm1(-t)  # 1 - q
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a0 = np.log(omq)
        omq2 = omq * omq
        r = t * q / omq
        r1 = q / omq - t * q / omq2
        r2 = -2 * q / omq2 - t * q / omq2 + 2 * t * q / (omq2 * omq)
    small = t < 1e-3
    if np.any(small):
        ts = t[small]
        a0[small] = np.log(ts) - ts / 2 + ts**2 / 24
        r[small] = 1 - ts / 2 + ts**2 / 12
        r1[small] = -0.5 + ts / 6 - ts**3 / 180
        r2[small] = 1.0 / 6 - ts**2 / 60
    big = t > 700
    if np.any(big):
        r[big] = 0.0
        r1[big] = 0.0
        r2[big] = 0.0
        a0[big] = 0.0
    a = (a0, r, t * r1, t * r1 + t * t * r2)
    return a, b


def _d4_logit(eta):
    mu = special.expit(eta)
    v = mu * special.expit(-eta)
    d4 = v * (6.0 * v - 1.0)
    return d4, d4


def _log_ndtr_d4(x):
    """Fourth derivative of log Phi(x): ``-(l3 (x + 2 lam) + 2 l2 (1 + l2))``."""
    _, lam, l2, l3 = _log_ndtr_derivs(x)
    return -(l3 * (x + 2.0 * lam) + 2.0 * l2 * (1.0 + l2))


def _d4_probit(eta):
    return _log_ndtr_d4(eta), _log_ndtr_d4(-eta)


def _d4_cloglog(eta):
    # log mu = log(1 - e^-t), t = e^eta: its eta-derivatives are t r1, t r1 + t^2 r2 and
    # t r1 + 3 t^2 r2 + t^3 r3 with r(t) = t / (e^t - 1) and r_k its t-derivatives
    t = np.exp(np.minimum(eta, 700.0))
    q = np.exp(-t)
    omq = -np.expm1(-t)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        qo = q / omq
        qo2 = qo / omq
        qo3 = qo2 / omq
        r1 = qo - t * qo2
        r2 = -(2.0 + t) * qo2 + 2.0 * t * qo3
        r3 = -(3.0 + t) * qo2 + 6.0 * (1.0 + t) * qo3 - 6.0 * t * qo3 / omq
    small = t < 1e-2
    if np.any(small):
        ts = t[small]
        r1[small] = -0.5 + ts / 6 - ts**3 / 180
        r2[small] = 1.0 / 6 - ts**2 / 60
        r3[small] = -ts / 30 + ts**3 / 252 - ts**5 / 3600
    big = t > 700
    if np.any(big):
        r1[big] = r2[big] = r3[big] = 0.0
    a4 = t * (r1 + t * (3.0 * r2 + t * r3))
    return a4, -t


_D4 = {"logit": _d4_logit, "probit": _d4_probit, "cloglog": _d4_cloglog}


def _mean_logit(eta):
    return special.expit(eta)


def _mean_probit(eta):
    return special.ndtr(eta)


def _mean_cloglog(eta):
    return -np.expm1(-np.exp(np.minimum(eta, 700.0)))


LINKS = {
    "logit": (_logit, _mean_logit),
    "probit": (_probit, _mean_probit),
    "cloglog": (_cloglog, _mean_cloglog),
}


def log_probs(link, eta):
    """
    ``(log mu, d1, d2, d3), (log(1 - mu), d1, d2, d3)`` for a binary link.

    Examples
    --------
    >>> import numpy as np
    >>> a, b = log_probs("logit", np.array([0.0]))
    >>> float(np.exp(a[0][0])), float(a[1][0])
    (0.5, 0.5)
    """
    return LINKS[link][0](np.asarray(eta, dtype=float))


def log_probs_d4(link, eta):
    """
    Fourth derivatives in ``eta`` of ``log mu`` and ``log(1 - mu)`` for a binary link.

    Examples
    --------
    >>> import numpy as np
    >>> eta, h = np.array([-1.2, 0.4]), 1e-4
    >>> fd = (log_probs("probit", eta + h)[0][3] - log_probs("probit", eta - h)[0][3]) / (2 * h)
    >>> bool(np.allclose(log_probs_d4("probit", eta)[0], fd, rtol=1e-6))
    True
    """
    return _D4[link](np.asarray(eta, dtype=float))


def inverse(link, eta):
    """
    Inverse link ``mu(eta)`` of a binary link.

    >>> float(inverse("probit", np.array([0.0]))[0])
    0.5
    """
    return LINKS[link][1](np.asarray(eta, dtype=float))
