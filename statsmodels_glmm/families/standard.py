"""
Binomial, Poisson and Gaussian responses, wrapping statsmodels' families.

Each class keeps the statsmodels family it was made from in ``sm_family`` so
that GLM and GEE fits of the same model (starting values, the GEE
comparison) use exactly the family and link the user gave.
"""

import numpy as np
from scipy import special, stats
import statsmodels.api as sm

from . import binary_links
from .base import Response

__all__ = ["Binomial", "Poisson", "Gaussian"]

_LOG_2PI = np.log(2 * np.pi)


def _link_name(link):
    """Lower-case name of a statsmodels link instance or class."""
    if isinstance(link, str):
        return link.lower()
    name = type(link).__name__ if not isinstance(link, type) else link.__name__
    return name.lower()


def _as_float(endog, name):
    try:
        y = np.asarray(endog, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"response {name!r} must be numeric") from None
    return y


def _check_counts(y, name):
    if not np.all(np.isfinite(y)):
        raise ValueError(f"response {name!r} has non-finite values")
    if np.any(y < 0):
        raise ValueError(f"response {name!r} has negative values; counts must be >= 0")
    if np.any(y != np.round(y)):
        raise ValueError(f"response {name!r} has non-integer values; counts must be whole numbers")


def count_column(endog, name):
    """
    Validate a single column of counts (non-negative whole numbers, not all zero).

    >>> count_column([0, 2, 5], "y")
    array([0., 2., 5.])
    """
    y = _as_float(endog, name)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"response {name!r} must be a single column of counts")
    _check_counts(y, name)
    if len(y) and np.all(y == 0):
        raise ValueError(f"response {name!r} is zero in every row; a count model "
                         "cannot be fitted")
    return y


def _not_constant(y, name):
    """Refuse binomial data whose every trial is a failure, or every trial a success."""
    s, n = y[:, 0], y[:, 1]
    if len(s) and (np.all(s == 0) or np.all(s == n)):
        outcome = "0 (no event)" if np.all(s == 0) else "1 (an event)"
        raise ValueError(f"response {name!r} is {outcome} in every row; a binomial model "
                         "cannot be fitted to an outcome that never varies")
    return y


class Binomial(Response):
    """
    Bernoulli or binomial response with a logit, probit or cloglog link.

    The response is either a 0/1 vector or two columns, successes and
    failures, as statsmodels' GLM takes them.  With ``n`` trials and success
    probability ``mu = F(eta)``

    .. math:: \\log f(y \\mid \\eta) = \\log\\binom{n}{y} + y \\log \\mu + (n - y) \\log(1 - \\mu).

    Parameters
    ----------
    link : str or statsmodels link, default "logit"

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> as_response(sm.families.Binomial(link=sm.families.links.Probit()))
    Binomial(link='probit')
    """

    name = "Binomial"
    moment_start_several_factors = True

    def __init__(self, link="logit"):
        link = _link_name(link)
        if link not in binary_links.LINKS:
            raise ValueError(
                f"link {link!r} is not supported for Binomial; use one of "
                f"{sorted(binary_links.LINKS)}")
        self.link_name = link
        links = sm.families.links
        sm_link = {"logit": links.Logit, "probit": links.Probit,
                   "cloglog": links.CLogLog}[link]()
        self.sm_family = sm.families.Binomial(link=sm_link)

    def validate(self, endog, name):
        y = _as_float(endog, name)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim == 1:
            if not np.all(np.isin(y, (0.0, 1.0))):
                bad = y[~np.isin(y, (0.0, 1.0))][:3]
                raise ValueError(
                    f"response {name!r} must be 0/1 for a Bernoulli model (found values "
                    f"such as {bad.tolist()}); give successes and failures as two "
                    "columns for binomial data")
            return np.column_stack([y, np.ones_like(y)])
        if y.ndim == 2 and y.shape[1] == 2:
            _check_counts(y, name)
            trials = y.sum(1)
            if np.any(trials == 0):
                raise ValueError(f"response {name!r} has rows with zero trials")
            return np.column_stack([y[:, 0], trials])
        raise ValueError(f"response {name!r} must be one column (0/1) or two "
                         "(successes, failures)")

    def n_trials(self, y):
        return y[:, 1]

    def check_fit_data(self, y, name):
        """Refuse an outcome that never varies: no likelihood maximum exists."""
        _not_constant(y, name)

    def _y_parts(self, y):
        """
        Successes ``s`` and trials ``n`` (views of ``y``), and ``log C(n, s)`` per row
        or None for 0/1 data (cached for the response array).
        """
        s, n = y[:, 0], y[:, 1]
        cached = self.__dict__.get("_lchoose")
        if cached is not None and cached[0] is y:
            return s, n, cached[1]
        lc = None
        if np.any(n != 1):
            lc = special.gammaln(n + 1) - special.gammaln(s + 1) - special.gammaln(n - s + 1)
        self.__dict__["_lchoose"] = (y, lc)
        return s, n, lc

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_lchoose", None)
        return state

    def derivs(self, y, eta, extra):
        s, n, lc = self._y_parts(y)
        if self.link_name == "logit":
            return self._derivs_logit(s, n, eta, lc)
        if lc is None and self.link_name == "probit":  # 0/1 rows: one tail per row
            return binary_links.probit_bernoulli(s, eta)
        f = n - s
        a, b = binary_links.log_probs(self.link_name, eta)
        # avoid 0 * (-inf) where a probability has underflowed
        d0 = np.where(s > 0, s * a[0], 0.0) + np.where(f > 0, f * b[0], 0.0)
        if lc is not None:
            d0 = d0 + lc
        return (d0, s * a[1] + f * b[1], s * a[2] + f * b[2], s * a[3] + f * b[3])

    def logpdf_d1(self, y, eta, extra):
        """Log-density and its first derivative only (cheaper at quadrature nodes)."""
        if self.link_name != "logit":
            return self.derivs(y, eta, extra)[:2]
        mu, softplus = self._logit_parts(eta)
        s, n, lc = parts = self._y_parts(y)
        if lc is None:  # Bernoulli rows: n = 1
            return self._logit_logpdf(parts, eta, softplus), s - mu
        return self._logit_logpdf(parts, eta, softplus), s - n * mu

    def d4(self, y, eta, extra):
        """
        Fourth derivative in ``eta``: ``n v (6 v - 1)``, ``v = mu (1 - mu)`` (logit);
        ``s a_4 + (n - s) b_4`` from the fourth derivatives of ``log mu`` and
        ``log(1 - mu)`` (probit, cloglog; see :func:`.binary_links.log_probs_d4`).
        """
        s, n, lc = self._y_parts(y)
        if self.link_name != "logit":
            if self.link_name == "probit" and lc is None:
                return binary_links.probit_bernoulli_d4(s, eta)
            a4, b4 = binary_links.log_probs_d4(self.link_name, eta)
            return s * a4 + (n - s) * b4
        mu = self._logit_parts(eta)[0]
        v = mu * (1.0 - mu)
        return n * v * (6.0 * v - 1.0)

    def logpdf(self, y, eta, extra):
        """Log-density only: for the logit link ``s eta - n log(1 + e^eta)`` (+ log C)."""
        if self.link_name != "logit":
            return self.logpdf_d1(y, eta, extra)[0]
        return self._logit_logpdf(self._y_parts(y), eta,
                                  self._softplus(eta, np.exp(-np.abs(eta))))

    @staticmethod
    def _logit_logpdf(parts, eta, softplus):
        """``s eta - n softplus`` (+ the log binomial coefficient for several trials),
        from ``parts = (s, n, log C(n, s) or None)`` of :meth:`_y_parts`."""
        s, n, lc = parts
        if lc is None:
            return s * eta - softplus
        return s * eta - n * softplus + lc

    @staticmethod
    def _softplus(eta, e):
        """``log(1 + e^eta)`` from ``e = exp(-|eta|)``, stable for any eta."""
        out = np.log1p(e)
        out += np.maximum(eta, 0.0)
        return out

    @classmethod
    def _logit_parts(cls, eta):
        """``mu = expit(eta)`` and ``log(1 + e^eta)``, stable for any eta."""
        e = np.exp(-np.abs(eta))
        # numerator 1 (eta >= 0) or e: as max(e, eta >= 0), since 0 < e <= 1 (the same
        # numbers as a select, without its unpredictable branch)
        mu = np.maximum(e, eta >= 0)
        mu /= 1.0 + e
        return mu, cls._softplus(eta, e)

    @classmethod
    def _derivs_logit(cls, s, n, eta, lc):
        # canonical link: log f = s eta - n log(1 + e^eta) (+ log binomial coefficient)
        mu, softplus = cls._logit_parts(eta)
        v = mu * (1.0 - mu)
        if lc is None:  # Bernoulli rows: n = 1
            d0 = s * eta - softplus
            return d0, s - mu, -v, v * (2.0 * mu - 1.0)
        d0 = s * eta - n * softplus + lc
        nv = n * v
        return d0, s - n * mu, -nv, nv * (2.0 * mu - 1.0)

    def mean(self, eta, extra=None):
        return binary_links.inverse(self.link_name, eta)

    def variance(self, mu, extra=None):
        return mu * (1 - mu)

    def response_value(self, y):
        return y[:, 0] / y[:, 1]

    def weights(self, y):
        return y[:, 1]

    def deviance_resid(self, y, eta, extra=None):
        s, n = y[:, 0], y[:, 1]
        mu = self.mean(eta)
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = np.where(s > 0, s * np.log(s / (n * mu)), 0.0)
            t2 = np.where(n - s > 0, (n - s) * np.log((n - s) / (n * (1 - mu))), 0.0)
        return np.sign(s / n - mu) * np.sqrt(np.maximum(2 * (t1 + t2), 0))

    def simulate(self, eta, extra, y, rng):
        n = y[:, 1].astype(int)
        return rng.binomial(n, self.mean(eta))


class Poisson(Response):
    """
    Poisson response with a log link.

    .. math:: \\log f(y \\mid \\eta) = y \\eta - e^{\\eta} - \\log y!

    Examples
    --------
    >>> import numpy as np
    >>> fam = Poisson()
    >>> d0, d1, d2, d3 = fam.derivs(np.array([2.0]), np.array([0.0]), None)
    >>> round(float(d0[0]), 4), float(d1[0])
    (-1.6931, 1.0)
    """

    name = "Poisson"
    moment_start = True

    def __init__(self, link="log"):
        link = _link_name(link)
        if link != "log":
            raise ValueError(f"link {link!r} is not supported for Poisson; use 'log'")
        self.link_name = "log"
        self.sm_family = sm.families.Poisson()

    def validate(self, endog, name):
        y = count_column(endog, name)
        self.k_max = int(np.max(y)) if len(y) else 0  # default range of which="prob"
        return y

    def predict_which(self, eta, extra, which, extras=None):
        """
        ``"mean"``, ``"var"``, ``"prob-zero"`` or ``"prob"`` (probabilities of the
        counts ``0..k``, ``k`` the largest count in the fitted data), as in
        statsmodels' count models.

        >>> import numpy as np
        >>> fam = Poisson()
        >>> _ = fam.validate(np.array([0, 1, 2]), "y")
        >>> np.round(fam.predict_which(np.zeros(1), None, "prob"), 4)
        array([[0.3679, 0.3679, 0.1839]])
        """
        mu = np.exp(np.asarray(eta, dtype=float))
        if which in ("mean", "var"):
            return mu
        if which == "prob-zero":
            return np.exp(-mu)
        if which == "prob":
            k = getattr(self, "k_max", None)
            k = int(np.ceil(3 * np.max(mu))) if k is None else k
            return stats.poisson.pmf(np.arange(k + 1)[None, :], mu[:, None])
        raise ValueError(f"which={which!r} is not available for Poisson; use 'mean', "
                         "'linear', 'var', 'prob-zero' or 'prob'")

    def which_columns(self, which, k):
        """Column names of two-dimensional predictions."""
        return [f"prob_{j}" for j in range(k)] if which == "prob" else None

    def _log_factorial(self, y):
        # the response array is the same object on every call of a fit: cache log y!
        cached = self.__dict__.get("_lgy")
        if cached is not None and cached[0] is y:
            return cached[1]
        lg = special.gammaln(y + 1)
        self.__dict__["_lgy"] = (y, lg)
        return lg

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_lgy", None)
        return state

    def derivs(self, y, eta, extra):
        mu = np.exp(eta)
        return (y * eta - mu - self._log_factorial(y), y - mu, -mu, -mu)

    def logpdf_d1(self, y, eta, extra):
        """Log-density and its first derivative only (quadrature nodes need no more)."""
        mu = np.exp(eta)
        d0 = y * eta
        d0 -= mu
        d0 -= self._log_factorial(y)
        return d0, np.subtract(y, mu, out=mu)

    def d4(self, y, eta, extra):
        """Fourth derivative in ``eta``: ``-mu``."""
        return -np.exp(eta)

    def mean(self, eta, extra=None):
        return np.exp(eta)

    def variance(self, mu, extra=None):
        return mu

    def deviance_resid(self, y, eta, extra=None):
        mu = self.mean(eta)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu)
        return np.sign(y - mu) * np.sqrt(np.maximum(2 * t, 0))

    def simulate(self, eta, extra, y, rng):
        return rng.poisson(self.mean(eta))


class Gaussian(Response):
    """
    Normal response with identity link and residual variance ``scale``.

    .. math::

        \\log f(y \\mid \\eta) = -\\tfrac12 \\log(2\\pi\\sigma^2)
                                 - (y - \\eta)^2 / (2\\sigma^2)

    The internal parameter is ``log sigma``; the reported one is
    ``scale = sigma^2``, as in statsmodels' MixedLM.

    Examples
    --------
    >>> fam = Gaussian()
    >>> fam.extra_names()
    ['scale']
    """

    name = "Gaussian"
    n_extra = 1

    def __init__(self, link="identity"):
        link = _link_name(link)
        if link != "identity":
            raise ValueError(f"link {link!r} is not supported for Gaussian; use 'identity'")
        self.link_name = "identity"
        self.sm_family = sm.families.Gaussian()

    def validate(self, endog, name):
        y = _as_float(endog, name)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or not np.all(np.isfinite(y)):
            raise ValueError(f"response {name!r} must be a single finite numeric column")
        return y

    def extra_names(self):
        return ["scale"]

    def start_extra(self, y, eta):
        return np.array([0.5 * np.log(max(np.var(y - eta), 1e-8))])

    def extra_public(self, extra):
        return np.exp(2 * np.asarray(extra, dtype=float))

    def extra_internal(self, public):
        return 0.5 * np.log(np.asarray(public, dtype=float))

    def extra_jacobian(self, extra):
        return np.diag(2 * np.exp(2 * np.asarray(extra, dtype=float)))

    def derivs(self, y, eta, extra):
        s2 = np.exp(2 * extra[0])
        r = y - eta
        d0 = -0.5 * _LOG_2PI - extra[0] - 0.5 * r * r / s2
        return d0, r / s2, np.full_like(r, -1 / s2), np.zeros_like(r)

    def d4(self, y, eta, extra):
        """Fourth derivative in ``eta``: zero."""
        return np.zeros(len(eta))

    def extra_derivs(self, y, eta, extra):
        s2 = np.exp(2 * extra[0])
        r = y - eta
        return ((-1 + r * r / s2)[:, None], (-2 * r / s2)[:, None],
                np.full((len(r), 1), 2 / s2))

    def mean(self, eta, extra=None):
        return np.asarray(eta, dtype=float)

    def variance(self, mu, extra=None):
        return np.full_like(mu, self.extra_public(extra)[0])

    def deviance_resid(self, y, eta, extra=None):
        return y - eta

    def simulate(self, eta, extra, y, rng):
        return rng.normal(eta, np.sqrt(self.extra_public(extra)[0]))

