"""
Log-probabilities of the binary links and their derivatives in eta.

For a link with inverse ``mu(eta)`` a Bernoulli log-density is
``y log mu + (1 - y) log(1 - mu)``.  This module returns
``log mu(eta)`` and ``log(1 - mu(eta))`` with their first three derivatives,
computed in forms that stay accurate far in the tails (no ``log`` of a
probability that has underflowed).
"""

import numpy as np
from scipy import special

__all__ = ["LINKS", "log_probs", "inverse"]

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


def inverse(link, eta):
    """
    Inverse link ``mu(eta)`` of a binary link.

    >>> float(inverse("probit", np.array([0.0]))[0])
    0.5
    """
    return LINKS[link][1](np.asarray(eta, dtype=float))
