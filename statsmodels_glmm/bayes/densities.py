"""
Conditional log-densities of the families in JAX.

Each function here is the JAX twin of a family's ``logpdf`` in
:mod:`statsmodels_glmm.families`: it takes the response array in the form the
family validated it (two columns, successes and trials, for binomial data;
counts and the zero-inflation design for zero-inflated data; category codes
for ordinal data), the linear predictor and the family's *internal*
parameters (``log alpha``, ``log sigma``, ``[theta_0, log increments]``,
zero-inflation coefficients), and returns the per-row log-density with every
normalising constant.  The tests compare them with the NumPy versions.
"""

import numpy as np

from ..families import Binomial, Gaussian, NegativeBinomial, Ordinal, Poisson
from ..families.zeroinflated import ZeroInflated
from ._deps import require

__all__ = ["family_logpdf", "family_kind"]


def family_kind(response):
    """
    A short name of the family the Bayesian fit knows, or a NotImplementedError.

    Examples
    --------
    >>> from statsmodels_glmm.families import Poisson
    >>> family_kind(Poisson())
    'poisson'
    """
    if isinstance(response, ZeroInflated):
        base = family_kind(response.base)
        if base not in ("poisson", "nb2", "nb1"):
            raise NotImplementedError(f"fit_bayes: zero inflation of a {base} response is "
                                      "not supported")
        return "zi-" + base
    if isinstance(response, Binomial):
        return "binomial-" + response.link_name
    if isinstance(response, Poisson):
        return "poisson"
    if isinstance(response, NegativeBinomial):
        return "nb2" if response.p == 2 else "nb1"
    if isinstance(response, Gaussian):
        return "gaussian"
    if isinstance(response, Ordinal):
        return "ordinal-" + response.link_name
    raise NotImplementedError(f"fit_bayes: family {type(response).__name__} is not supported")


def _constants(kind, y):
    """Data-only terms (log binomial coefficients, log y!) computed once in NumPy."""
    from scipy import special

    if kind.startswith("binomial"):
        s, n = y[:, 0], y[:, 1]
        return special.gammaln(n + 1) - special.gammaln(s + 1) - special.gammaln(n - s + 1)
    if kind in ("poisson", "nb2", "nb1"):
        return special.gammaln(y + 1)
    if kind.startswith("zi-"):
        return special.gammaln(y[:, 0] + 1)
    return np.zeros(len(y))


def family_logpdf(response, y):
    """
    ``f(eta, extra) -> log f(y | eta, extra)`` per row, in JAX, for the data ``y``.

    Parameters
    ----------
    response : Response
        The model's (bound) family.
    y : ndarray
        The response as the family validated it (``model.design.y``).

    Examples
    --------
    >>> import numpy as np
    >>> from statsmodels_glmm.families import Poisson
    >>> f = family_logpdf(Poisson(), np.array([0.0, 2.0]))  # doctest: +SKIP
    >>> np.asarray(f(np.zeros(2), np.zeros(0)))  # doctest: +SKIP
    array([-1.        , -1.69314718])
    """
    jax, jnp, _, _ = require()
    kind = family_kind(response)
    y = np.asarray(y, dtype=float)
    const = jnp.asarray(_constants(kind, y))
    if kind.startswith("binomial"):
        link = kind.split("-")[1]
        s, n = jnp.asarray(y[:, 0]), jnp.asarray(y[:, 1])
        if link == "logit":
            bern = bool(np.all(y[:, 1] == 1))
            return ((lambda eta, extra: s * eta - jax.nn.softplus(eta)) if bern else
                    (lambda eta, extra: s * eta - n * jax.nn.softplus(eta) + const))

        def f(eta, extra):
            lmu, l1mu = _link_log_probs(jnp, jax, link, eta)
            return (jnp.where(s > 0, s * lmu, 0.0) + jnp.where(n - s > 0, (n - s) * l1mu, 0.0)
                    + const)
        return f
    if kind in ("poisson", "nb2", "nb1"):
        yy = jnp.asarray(y)
        return lambda eta, extra: _count_logpdf(jnp, jax, kind, yy, eta, extra, const)
    if kind.startswith("zi-"):
        base = kind[3:]
        count = jnp.asarray(y[:, 0])
        W = jnp.asarray(y[:, 1:])
        kb = response.base.n_extra
        zero = count == 0

        def f(eta, extra):
            g0 = _count_logpdf(jnp, jax, base, count, eta, extra[:kb], const)
            zeta = W @ extra[kb:]
            lp, l1p = jax.nn.log_sigmoid(zeta), jax.nn.log_sigmoid(-zeta)
            return jnp.where(zero, jnp.logaddexp(lp, l1p + g0), l1p + g0)
        return f
    if kind == "gaussian":
        yy = jnp.asarray(y)

        def f(eta, extra):
            r = yy - eta
            return -0.5 * np.log(2 * np.pi) - extra[0] - 0.5 * r * r * jnp.exp(-2 * extra[0])
        return f
    # ordinal
    link = kind.split("-")[1]
    codes = np.asarray(y, dtype=int)
    K = response.n_levels
    return _ordinal_logpdf(jnp, jax, link, codes, K)


def _count_logpdf(jnp, jax, kind, y, eta, extra, lgy1):
    if kind == "poisson":
        return y * eta - jnp.exp(eta) - lgy1
    gammaln = jax.scipy.special.gammaln
    la = extra[0]
    mu = jnp.exp(eta)
    if kind == "nb2":
        theta = jnp.exp(-la)
        return (gammaln(y + theta) - gammaln(theta) - lgy1 - theta * jnp.log1p(mu / theta)
                + jnp.where(y > 0, y * (eta - jnp.log(theta + mu)), 0.0))
    r = mu / jnp.exp(la)
    l1a = jnp.log1p(jnp.exp(la))
    return (gammaln(y + r) - gammaln(r) - lgy1 - r * l1a
            + jnp.where(y > 0, y * (la - l1a), 0.0))


def _link_log_probs(jnp, jax, link, eta):
    """
    ``log F(eta)`` and ``log(1 - F(eta))`` of the link's distribution, accurate in the
    tails: a binary mean and its complement, or an ordinal cumulative probability.
    """
    if link == "logit":
        return jax.nn.log_sigmoid(eta), jax.nn.log_sigmoid(-eta)
    if link == "probit":
        ndtr = jax.scipy.special.log_ndtr
        return ndtr(eta), ndtr(-eta)
    t = jnp.exp(jnp.minimum(eta, 700.0))
    return _log1mexp_pos(jnp, t), -t


def _log1mexp_pos(jnp, t):
    """``log(1 - exp(-t))`` for ``t > 0``."""
    big = t > np.log(2.0)
    # each branch sees only inputs where it is used, so that neither gives a
    # non-finite gradient that the selection would turn into NaN
    tb = jnp.where(big, t, 1.0)
    ts = jnp.where(big, 0.5, jnp.maximum(t, 1e-300))
    return jnp.where(big, jnp.log1p(-jnp.exp(-tb)), jnp.log(-jnp.expm1(-ts)))


def _ordinal_logpdf(jnp, jax, link, codes, K):
    """``log(F(theta_y - eta) - F(theta_{y-1} - eta))`` with the end categories apart."""
    first = jnp.asarray(codes == 0)
    last = jnp.asarray(codes == K - 1)
    up = jnp.asarray(np.minimum(codes, K - 2))       # threshold above (clamped)
    lo = jnp.asarray(np.maximum(codes - 1, 0))       # threshold below (clamped)

    def f(eta, extra):
        theta = jnp.cumsum(jnp.concatenate([extra[:1], jnp.exp(extra[1:])]))
        # the end categories use one threshold; give the interval formula distinct
        # ends there (its value is not used) so that its gradient stays finite
        a = jnp.where(last, 1.0, theta[up] - eta)
        c = jnp.where(first, -1.0, theta[lo] - eta)
        lfa, lsa = _link_log_probs(jnp, jax, link, a)
        lfc, lsc = _link_log_probs(jnp, jax, link, c)
        # P = F(a) - F(c) from the lower tail, or S(c) - S(a) from the upper one
        lower = lfa + _log1mexp_neg(jnp, jnp.minimum(lfc - lfa, -1e-300))
        upper = lsc + _log1mexp_neg(jnp, jnp.minimum(lsa - lsc, -1e-300))
        mid = jnp.where(a + c < 0, lower, upper)
        lfa = jnp.where(first, _link_log_probs(jnp, jax, link, theta[up] - eta)[0], lfa)
        lsc = jnp.where(last, _link_log_probs(jnp, jax, link, theta[lo] - eta)[1], lsc)
        return jnp.where(first, lfa, jnp.where(last, lsc, mid))
    return f


def _log1mexp_neg(jnp, x):
    """``log(1 - exp(x))`` for ``x < 0``."""
    far = x < -np.log(2.0)
    xf = jnp.where(far, x, -1.0)
    xn = jnp.where(far, -0.5, x)
    return jnp.where(far, jnp.log1p(-jnp.exp(xf)), jnp.log(-jnp.expm1(xn)))
