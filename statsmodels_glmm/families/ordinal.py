"""
Cumulative-link ordinal response (proportional odds and its probit/cloglog kin).

An ordinal response takes ``K`` ordered categories, coded ``0 .. K-1``
internally.  Given the linear predictor ``eta = x'beta + z'b`` (no intercept
in ``x``: the thresholds play its part) and ordered thresholds
``theta_0 < ... < theta_{K-2}``,

.. math::

    P(Y \\le k \\mid b) = F(\\theta_k - \\eta), \\qquad
    P(Y = y \\mid b) = F(\\theta_y - \\eta) - F(\\theta_{y-1} - \\eta),

with ``theta_{-1} = -inf``, ``theta_{K-1} = +inf`` and ``F`` the logistic,
standard normal or Gumbel-minimum (cloglog) distribution function.  This is
the sign convention of R's ``ordinal::clmm`` and statsmodels'
``OrderedModel``: a positive coefficient moves mass to higher categories,
and for the logit link ``exp(beta)`` is the cumulative odds ratio of
``Y > k`` versus ``Y <= k`` (the same for every ``k``).

Internal parameters keep the thresholds ordered without bounds:
``phi_0 = theta_0`` and ``phi_j = log(theta_j - theta_{j-1})``; the reported
values are the thresholds themselves, named ``"1|2", "2|3", ...`` after the
levels as clmm names them.

Log-density and derivatives
---------------------------
Write ``a = theta_y - eta`` and ``c = theta_{y-1} - eta`` and
``P = F(a) - F(c)``.  To avoid cancellation in the tails the difference is
formed from the lower tail, ``log P = log F(a) + log(1 - exp(log F(c) - log F(a)))``,
when the interval lies in the lower half, and from the survival function
``S = 1 - F``, ``log P = log S(c) + log(1 - exp(log S(a) - log S(c)))``,
otherwise (for the logit link ``P = s(a) s(-c) (1 - e^{c - a})`` needs no
branch).  With the ratios ``q^a_k = F^{(k)}(a) / P`` and
``q^c_k = F^{(k)}(c) / P`` (``q_1 = exp(log f - log P)``; ``q_2, q_3`` follow
from ``f'/f`` and ``f''/f``, which are polynomials in ``x`` for the probit
and in ``e^x`` for the cloglog link) and ``r_k = q^a_k - q^c_k``, the
threshold derivatives are

.. math::

    \\partial_a d_0 = q^a_1,\\quad \\partial_a d_1 = -q^a_2 + r_1 q^a_1,\\quad
    \\partial_a d_2 = (q^a_3 - r_2 q^a_1) - 2 r_1 (q^a_2 - r_1 q^a_1),

with the mirror-image expressions (signs flipped, ``q^c`` in place of
``q^a``) for ``c``, and since ``eta`` shifts both ends,

.. math::

    d_0 = \\log P,\\qquad d_{k+1} = -(\\partial_a + \\partial_c)\\, d_k
    \\quad (d_1 = -r_1,\\ d_2 = r_2 - r_1^2,\\ d_3 = -(r_3 - 3 r_1 r_2 + 2 r_1^3)),

and ``d_4 = r_4 - 4 r_1 r_3 - 3 r_2^2 + 12 r_1^2 r_2 - 6 r_1^4`` (the cumulants of
the moments ``(-1)^k r_k``), with ``q_4 = f^{(3)}(x) / P`` (logit:
``f (1 - 2s)(1 - 12 s + 12 s^2)``; probit: ``-(x^3 - 3x) f``; cloglog:
``((1 - t)^3 - 3 t (1 - t) - t) f``).

Every observation touches at most two thresholds; the chain rule through
``theta_k = phi_0 + sum_{j<=k} exp(phi_j)`` gives the derivatives in the
internal parameters.
"""

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from . import binary_links
from .base import Response

__all__ = ["Ordinal"]

_QUANTILE = {
    "logit": special.logit,
    "probit": special.ndtri,
    "cloglog": lambda p: np.log(-np.log1p(-p)),
}


def _label(v):
    """Text label of a level (integer-valued floats print without '.0')."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _softplus(x):
    """``log(1 + exp(x))`` without overflow (faster than ``np.logaddexp``)."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _interval_terms_logit(a, c):
    """
    Logit case in closed form.  With ``u = s(a)``, ``v = s(c)`` (``s`` the
    logistic function), ``P = u (1 - v) (1 - exp(c - a))`` has no cancellation
    in either tail, ``d_1 = v - (1 - u)`` and the density derivatives are
    ``f = s (1 - s)``, ``f' = f (1 - 2 s)``.

    Returns ``log P`` and the partial derivatives of ``d0, d1, d2`` in the
    upper end ``a`` and the lower end ``c``.
    """
    # written with in-place operations: this runs at every Newton step of
    # the random-effect modes, and fresh temporaries dominate its cost
    fin_a, fin_c = np.isfinite(a), np.isfinite(c)
    w = np.empty_like(a)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        # log s(a) = min(a, 0) - log1p(exp(-|a|)); log s(-a) = log s(a) - a
        np.abs(a, out=w)
        np.negative(w, out=w)
        np.exp(w, out=w)
        np.log1p(w, out=w)
        lsa = np.minimum(a, 0.0)
        lsa -= w
        lsa_ = np.subtract(lsa, a)
        lsa_[~fin_a] = -np.inf
        # log s(-c) = -max(c, 0) - log1p(exp(-|c|)); log s(c) = log s(-c) + c
        np.abs(c, out=w)
        np.negative(w, out=w)
        np.exp(w, out=w)
        np.log1p(w, out=w)
        lsc_ = np.maximum(c, 0.0)
        np.negative(lsc_, out=lsc_)
        lsc_ -= w
        lsc = np.add(lsc_, c)
        lsc[~fin_c] = -np.inf
        # log P = log s(a) + log s(-c) + log(1 - exp(c - a))
        logp = np.subtract(c, a)
        np.expm1(logp, out=logp)
        np.negative(logp, out=logp)
        np.log(logp, out=logp)
        logp += lsa
        logp += lsc_
        da0 = np.add(lsa, lsa_)                    # f(a) / P
        da0 -= logp
        np.exp(da0, out=da0)
        dc0 = np.add(lsc, lsc_)                    # -f(c) / P
        dc0 -= logp
        np.exp(dc0, out=dc0)
        np.negative(dc0, out=dc0)
    u = np.exp(lsa, out=lsa)
    ua = np.exp(lsa_, out=lsa_)
    v = np.exp(lsc, out=lsc)
    vc = np.exp(lsc_, out=lsc_)
    da1 = u * ua                                   # f(a)
    dc1 = v * vc                                   # f(c)
    u -= ua
    da2 = np.multiply(u, da1, out=u)               # -f'(a) = f(a) (s(a) - s(-a))
    v -= vc
    dc2 = np.multiply(v, dc1, out=v)               # -f'(c)
    return logp, (da0, da1, da2), (dc0, dc1, dc2)


_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def _log1mexp(x):
    """``log(1 - exp(x))`` for ``x <= 0``, accurate at both ends."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > -np.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def _interval_terms_density(link, a, c, y, K):
    """
    Probit and cloglog: ``log P`` from the better tail, then the density
    ratios ``q_1 = f(x) / P = exp(log f(x) - log P)``,
    ``q_2 = f'(x) / P`` and ``q_3 = f''(x) / P`` at both ends
    (probit: ``f' = -x f``, ``f'' = (x^2 - 1) f``; cloglog with
    ``t = e^x``: ``f = t e^{-t}``, ``f' = (1 - t) f``, ``f'' = ((1 - t)^2 - t) f``).
    """
    fin_a, fin_c = np.isfinite(a), np.isfinite(c)
    # lower tail unless the interval sits in the upper half; the end
    # categories need no difference at all (0 from below, K-1 from above)
    with np.errstate(invalid="ignore"):
        upper = np.where(y == 0, False, np.where(y == K - 1, True, a + c > 0))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if link == "probit":
            # S(x) = Phi(-x): P = Phi(x1) - Phi(x2) with x1 > x2 in both branches
            x1 = np.where(upper, -c, a)
            x2 = np.where(upper, -a, c)
            l1 = special.log_ndtr(x1)
            logp = l1 + _log1mexp(special.log_ndtr(x2) - l1)
            lfa = -0.5 * a * a - _LOG_SQRT_2PI
            lfc = -0.5 * c * c - _LOG_SQRT_2PI
        else:
            ta, tc = np.exp(a), np.exp(c)
            # lower: P = F(a) - F(c), log F = log(1 - e^{-t});
            # upper: P = S(c) - S(a), log S = -t, and log f - log P is formed
            # with the large -t_c cancelled by hand
            lfa0 = _log1mexp(-ta)
            lower_p = lfa0 + _log1mexp(_log1mexp(-tc) - lfa0)
            lup = _log1mexp(tc - ta)
            logp = np.where(upper, -tc + lup, lower_p)
            ea = np.where(upper, a - (ta - tc) - lup, a - ta - lower_p)
            ea = np.where(fin_a, ea, -np.inf)
            ec = np.where(upper, c - lup, c - tc - lower_p)
            qa1 = np.exp(ea)
            qc1 = np.exp(ec)
    if link == "probit":
        with np.errstate(invalid="ignore", over="ignore"):
            qa1 = np.exp(lfa - logp)
            qc1 = np.exp(lfc - logp)
    af = np.where(fin_a, a, 0.0)
    cf = np.where(fin_c, c, 0.0)
    if link == "probit":
        qa = (qa1, -af * qa1, (af * af - 1) * qa1)
        qc = (qc1, -cf * qc1, (cf * cf - 1) * qc1)
    else:
        ta, tc = np.exp(af), np.exp(cf)
        qa = (qa1, (1 - ta) * qa1, ((1 - ta) ** 2 - ta) * qa1)
        qc = (qc1, (1 - tc) * qc1, ((1 - tc) ** 2 - tc) * qc1)
    return logp, qa, qc


def _interval_terms(link, a, c, y, K):
    """
    ``log P`` for the interval ``(c, a]`` of each observation and the partial
    derivatives of ``d0, d1, d2`` in ``a`` and in ``c``.
    """
    if link == "logit":
        return _interval_terms_logit(a, c)
    logp, qa, qc = _interval_terms_density(link, a, c, y, K)
    r1 = qa[0] - qc[0]
    r2 = qa[1] - qc[1]
    da = (qa[0], -qa[1] + r1 * qa[0], (qa[2] - r2 * qa[0]) - 2 * r1 * (qa[1] - r1 * qa[0]))
    dc = (-qc[0], qc[1] - r1 * qc[0],
          (-qc[2] + r2 * qc[0]) - 2 * r1 * (-qc[1] + r1 * qc[0]))
    return logp, da, dc


def _density_ratio_polys(link, x, s=None):
    """
    ``g_k`` with ``f^{(k-1)}(x) = g_k f(x)``, k = 2, 3, 4 (``s`` is ``F(x)`` for the logit).
    """
    if link == "logit":
        a = 1 - 2 * s
        b = s * (1 - s)
        return a, 1 - 6 * b, a * (1 - 12 * b)
    if link == "probit":
        x2 = x * x
        return -x, x2 - 1, -(x2 - 3) * x
    t = np.exp(x)
    omt = 1 - t
    return omt, omt * omt - t, omt ** 3 - 3 * t * omt - t


def _interval_d4(link, a, c, y, K):
    """
    Fourth derivative of ``log P`` in ``eta`` for the interval ``(c, a]``:
    ``r_4 - 4 r_1 r_3 - 3 r_2^2 + 12 r_1^2 r_2 - 6 r_1^4`` with ``r_k = q^a_k - q^c_k``.
    """
    fin_a, fin_c = np.isfinite(a), np.isfinite(c)
    af = np.where(fin_a, a, 0.0)
    cf = np.where(fin_c, c, 0.0)
    if link == "logit":
        _, (da0, _, _), (dc0, _, _) = _interval_terms_logit(a, c)
        qa1, qc1 = da0, -dc0
        ga = _density_ratio_polys(link, af, special.expit(af))
        gc = _density_ratio_polys(link, cf, special.expit(cf))
    else:
        _, qa, qc = _interval_terms_density(link, a, c, y, K)
        qa1, qc1 = qa[0], qc[0]
        ga = _density_ratio_polys(link, af)
        gc = _density_ratio_polys(link, cf)
    with np.errstate(invalid="ignore"):
        qa1 = np.where(fin_a, qa1, 0.0)
        qc1 = np.where(fin_c, qc1, 0.0)
    r1 = qa1 - qc1
    r2, r3, r4 = (g * qa1 - h * qc1 for g, h in zip(ga, gc))
    r1s = r1 * r1
    out = r4 - 4 * r1 * r3 - 3 * r2 * r2 + 12 * r1s * r2 - 6 * r1s * r1s
    # the end categories have one-sided intervals, log F(a) or log(1 - F(c)), whose
    # derivatives come without the cancellation of the cumulant formula in the tails
    lo, hi = y == 0, y == K - 1
    if np.any(lo):
        out[lo] = binary_links.log_probs_d4(link, a[lo])[0]
    if np.any(hi):
        out[hi] = binary_links.log_probs_d4(link, c[hi])[1]
    return out


class Ordinal(Response):
    """
    Ordinal response with a cumulative logit, probit or cloglog link.

    ``P(Y <= k | b) = F(theta_k - x'beta - z'b)``; the fixed-effects design
    has no intercept, and the ``K - 1`` ordered thresholds are family
    parameters reported as ``"1|2", "2|3", ...``.

    Parameters
    ----------
    link : {"logit", "probit", "cloglog"}
        Cumulative link (``"logit"`` is the proportional-odds model).
    levels : sequence, optional
        The categories in increasing order.  Needed for a text response
        that is not an ordered pandas Categorical; otherwise the levels are
        taken from the Categorical or, for numbers, their sorted values.

    Notes
    -----
    The response column is read as it is in the data (an ordered
    Categorical, integers or labelled text).  Every declared level must
    occur in the data and at least two must occur: a threshold next to an
    empty category has no finite estimate.

    Examples
    --------
    >>> import numpy as np
    >>> fam = Ordinal(link="logit")
    >>> y = fam.validate(np.array([1, 3, 2, 2]), "y")
    >>> y, fam.extra_names()
    (array([0, 2, 1, 1]), ['1|2', '2|3'])
    >>> p = fam.predict_which(np.zeros(1), fam.extra_internal([-1.0, 1.0]), "prob", {})
    >>> np.round(p, 4)
    array([[0.2689, 0.4621, 0.2689]])
    """

    name = "Ordinal"
    raw_endog = True
    moment_start_several_factors = True
    has_intercept = False

    def __init__(self, link="logit", levels=None):
        if isinstance(link, str):
            link = link.lower()
        else:
            link = (type(link).__name__ if not isinstance(link, type) else link.__name__).lower()
        if link not in binary_links.LINKS:
            raise ValueError(f"link {link!r} is not supported for Ordinal; use one of "
                             f"{sorted(binary_links.LINKS)}")
        self.link_name = link
        if levels is not None:
            levels = list(levels)
            if len(levels) < 2:
                raise ValueError("levels must list at least two categories")
            if len(set(levels)) != len(levels):
                raise ValueError("levels has repeated entries")
        self.user_levels = levels
        self.levels = levels
        self.n_levels = len(levels) if levels is not None else 0
        self.n_extra = max(self.n_levels - 1, 0)
        self._scores = None
        self._start_phi = None
        self._cache = None

    # ------------------------------------------------------------------ data
    def validate(self, endog, name):
        """
        Turn the response into category codes ``0 .. K-1``.

        Parameters
        ----------
        endog : Series, Categorical or array-like
            The raw response column.
        name : str
            Column name used in error messages.

        Returns
        -------
        ndarray of int

        Examples
        --------
        >>> import pandas as pd
        >>> fam = Ordinal()
        >>> s = pd.Categorical(["low", "high", "mid"], categories=["low", "mid", "high"],
        ...                    ordered=True)
        >>> fam.validate(s, "severity"), fam.levels
        (array([0, 2, 1]), ['low', 'mid', 'high'])
        """
        if isinstance(endog, pd.DataFrame):
            if endog.shape[1] != 1:
                raise ValueError(f"response {name!r} must be a single column")
            endog = endog.iloc[:, 0]
        if isinstance(endog, pd.Series):
            ser = endog
        else:
            arr = endog if isinstance(endog, pd.Categorical) else np.asarray(endog)
            if getattr(arr, "ndim", 1) == 2 and arr.shape[1] == 1:
                arr = arr[:, 0]
            if getattr(arr, "ndim", 1) != 1:
                raise ValueError(f"response {name!r} must be a single column")
            ser = pd.Series(arr)
        if ser.isna().any():
            raise ValueError(f"response {name!r} has missing values")
        if len(ser) == 0:
            raise ValueError(f"response {name!r} is empty")
        levels = self.user_levels
        if levels is not None:
            vals = np.asarray(ser.astype(object), dtype=object)
            try:
                codes = pd.Index(levels, dtype=object).get_indexer(vals)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"response {name!r} does not match levels: {exc}") from None
            if np.any(codes < 0):
                bad = pd.unique(np.asarray(vals, dtype=object)[codes < 0])[:3]
                raise ValueError(f"response {name!r} has values {list(bad)} that are not in "
                                 f"levels={levels}")
        elif isinstance(ser.dtype, pd.CategoricalDtype):
            cats = list(ser.cat.categories)
            if ser.cat.ordered or pd.api.types.is_numeric_dtype(ser.cat.categories):
                levels = cats if ser.cat.ordered else sorted(cats)
                codes = pd.Categorical(ser.astype(object), categories=levels,
                                       ordered=True).codes
            else:
                raise ValueError(
                    f"response {name!r} is an unordered Categorical of text; make it ordered "
                    "(pd.Categorical(..., ordered=True)) or pass Ordinal(levels=[...]) "
                    "with the categories from lowest to highest")
        elif pd.api.types.is_bool_dtype(ser.dtype) or pd.api.types.is_numeric_dtype(ser.dtype):
            vals = ser.to_numpy()
            if pd.api.types.is_float_dtype(ser.dtype) and not np.all(np.isfinite(vals)):
                raise ValueError(f"response {name!r} has non-finite values")
            uniq, codes = np.unique(vals, return_inverse=True)
            levels = uniq.tolist()
        else:
            raise ValueError(
                f"response {name!r} holds text, whose order is unknown; pass "
                "Ordinal(levels=[...]) with the categories from lowest to highest, or use "
                "an ordered pandas Categorical")
        codes = np.asarray(codes, dtype=int).ravel()
        counts = np.bincount(codes, minlength=len(levels))
        if np.count_nonzero(counts) < 2:
            raise ValueError(f"response {name!r} has a single observed category "
                             f"({_label(levels[int(np.argmax(counts))])!r}); an ordinal model "
                             "needs at least two")
        if np.any(counts == 0):
            empty = [_label(levels[k]) for k in np.flatnonzero(counts == 0)]
            raise ValueError(f"response {name!r}: declared categories {empty} are never "
                             "observed; their thresholds cannot be estimated (drop them, "
                             "e.g. with .cat.remove_unused_categories(), or merge them)")
        self.levels = list(levels)
        self.n_levels = len(levels)
        self.n_extra = self.n_levels - 1
        try:
            sc = np.asarray(levels, dtype=float)
            numeric = (not isinstance(levels[0], str)) and np.all(np.isfinite(sc))
        except (TypeError, ValueError):
            numeric = False
        self._scores = sc if numeric else np.arange(1.0, self.n_levels + 1)
        return codes

    @property
    def level_labels(self):
        """Text labels of the levels, lowest first."""
        if self.levels is None:
            return []
        return [_label(v) for v in self.levels]

    def scores(self):
        """Score of every category used by ``which="mean"``: numeric levels or 1..K."""
        if self._scores is None:
            return np.arange(1.0, self.n_levels + 1)
        return self._scores

    def _need_levels(self):
        if not self.n_levels:
            raise ValueError("the ordinal response has no levels yet; pass levels= or "
                             "build a model with it first")

    rowwise = False

    def bind(self, design):
        """
        Refuse a fixed-effects design that spans a constant: the thresholds
        play the intercept's part, so an intercept column (or a full set of
        dummies, as ``0 + C(x)`` gives) would not be identified.  Returns the
        family and design unchanged.
        """
        X = design.X
        if X.shape[1] == 0:
            return self, design
        const = [n for n, col in zip(design.exog_names, X.T) if np.ptp(col) == 0]
        if const:
            raise ValueError(
                f"exog column(s) {const} are constant; an ordinal model has no intercept "
                "(the thresholds take its place), so remove them")
        rank = np.linalg.matrix_rank(np.column_stack([np.ones(len(X)), X]))
        if rank < X.shape[1] + 1:
            raise ValueError(
                f"the fixed effects {design.exog_names} add up to a constant (a full set of "
                "dummies?); an ordinal model has no intercept, so use reduced coding "
                "(e.g. 'y ~ C(x)' rather than 'y ~ 0 + C(x)')")
        return self, design

    # ------------------------------------------------------------ parameters
    def extra_names(self):
        lab = self.level_labels
        return [f"{lab[k]}|{lab[k + 1]}" for k in range(len(lab) - 1)]

    def extra_public(self, extra):
        """Thresholds ``theta`` from ``[theta_0, log increments]``."""
        e = np.asarray(extra, dtype=float)
        if e.size == 0:
            return e.copy()
        return np.cumsum(np.concatenate([e[:1], np.exp(e[1:])]))

    def extra_internal(self, public):
        """``[theta_0, log(theta_j - theta_{j-1})]`` from increasing thresholds."""
        t = np.asarray(public, dtype=float)
        if t.size == 0:
            return t.copy()
        inc = np.diff(t)
        if np.any(inc <= 0):
            raise ValueError("thresholds must be strictly increasing")
        return np.concatenate([t[:1], np.log(inc)])

    def extra_jacobian(self, extra):
        """``d theta_k / d phi_j``: 1 for ``j = 0``, ``exp(phi_j)`` for ``1 <= j <= k``."""
        e = np.asarray(extra, dtype=float)
        k = e.size
        J = np.tril(np.ones((k, k))) * np.concatenate([[1.0], np.exp(e[1:])])[None, :]
        return J

    def start_extra(self, y, eta):
        """
        Thresholds from the cumulative proportions, shifted by the mean of
        ``eta`` (or those of the fixed-effects fit of :meth:`start_beta`).
        """
        if self._start_phi is not None and len(self._start_phi) == self.n_extra:
            phi, self._start_phi = self._start_phi, None
            return phi
        y = np.asarray(y, dtype=int)
        cum = np.cumsum(np.bincount(y, minlength=self.n_levels))[:-1] / len(y)
        cum = np.clip(cum, 1e-4, 1 - 1e-4)
        theta = _QUANTILE[self.link_name](cum) + float(np.mean(eta))
        theta = np.maximum.accumulate(theta + 1e-3 * np.arange(len(theta)))
        return self.extra_internal(theta)

    def start_beta(self, design):
        """
        Fixed effects (and thresholds, kept for :meth:`start_extra`) of the
        ordinal model without random effects, by quasi-Newton with the
        analytic gradient.
        """
        X, y, off = design.X, design.y, design.offset
        p = X.shape[1]
        phi0 = self.start_extra(y, off)

        def f(x):
            beta, phi = x[:p], x[p:]
            eta = X @ beta + off
            d0, d1, _, _ = self.derivs(y, eta, phi)
            e0 = self.extra_derivs(y, eta, phi, order=0)[0]
            val = -np.sum(d0)
            if not np.isfinite(val):
                return 1e100, np.zeros_like(x)
            return val / len(y), -np.concatenate([X.T @ d1, e0.sum(0)]) / len(y)

        x0 = np.concatenate([np.zeros(p), phi0])
        try:
            with np.errstate(all="ignore"):
                opt = optimize.minimize(f, x0, jac=True, method="L-BFGS-B",
                                        options=dict(maxiter=200))
            x = opt.x if np.all(np.isfinite(opt.x)) else x0
        except Exception:  # a failed start only costs iterations
            x = x0
        self._start_phi = x[p:]
        return x[:p]

    # ---------------------------------------------------------- likelihood
    def _ends(self, y, eta, extra):
        theta = self.extra_public(extra)
        tpad = np.concatenate([[-np.inf], theta, [np.inf]])
        y = np.asarray(y, dtype=int)
        with np.errstate(invalid="ignore"):
            a = tpad[y + 1] - eta
            c = tpad[y] - eta
        return a, c

    def _terms(self, y, eta, extra):
        """Interval terms, reused when called again with the same arguments."""
        y = np.asarray(y, dtype=int)
        eta = np.asarray(eta, dtype=float)
        extra = np.asarray(extra, dtype=float)
        cache = self._cache
        if (cache is not None and cache[0] is y and np.array_equal(cache[1], eta)
                and np.array_equal(cache[2], extra)):
            return cache[3]
        a, c = self._ends(y, eta, extra)
        out = _interval_terms(self.link_name, a, c, y, self.n_levels)
        self._cache = (y, eta.copy(), extra.copy(), out)
        return out

    def derivs(self, y, eta, extra):
        # d_{k+1} = d/d eta d_k = -(d/da + d/dc) d_k
        logp, da, dc = self._terms(y, eta, extra)
        return logp, -(da[0] + dc[0]), -(da[1] + dc[1]), -(da[2] + dc[2])

    def d4(self, y, eta, extra):
        """
        Fourth derivative of the log-density in ``eta`` (see the module docstring).

        Examples
        --------
        >>> import numpy as np
        >>> fam = Ordinal(link="probit")
        >>> y = fam.validate(np.array([0, 1, 2, 1]), "y")
        >>> eta, ex, h = np.array([0.3, -0.2, 1.1, 0.0]), np.array([-0.5, 0.2]), 1e-5
        >>> fd = (fam.derivs(y, eta + h, ex)[3] - fam.derivs(y, eta - h, ex)[3]) / (2 * h)
        >>> bool(np.allclose(fam.d4(y, eta, ex), fd, rtol=1e-6))
        True
        """
        y = np.asarray(y, dtype=int)
        a, c = self._ends(y, np.asarray(eta, dtype=float), np.asarray(extra, dtype=float))
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            return _interval_d4(self.link_name, a, c, y, self.n_levels)

    def extra_derivs(self, y, eta, extra, order=2):
        """
        Derivatives of ``d0, d1, d2`` in the internal thresholds, closed form.

        Examples
        --------
        >>> import numpy as np
        >>> fam = Ordinal()
        >>> y = fam.validate(np.array([0, 1, 2, 1]), "y")
        >>> e0, e1, e2 = fam.extra_derivs(y, np.zeros(4), np.array([-1.0, 0.5]))
        >>> e0.shape
        (4, 2)
        """
        y = np.asarray(y, dtype=int)
        extra = np.asarray(extra, dtype=float)
        _, da, dc = self._terms(y, eta, extra)
        Ja, Jc = self._threshold_rows(y, extra)
        out = []
        for m in range(order + 1):
            e = da[m][:, None] * Ja
            e += dc[m][:, None] * Jc
            out.append(e)
        return tuple(out)

    def _threshold_rows(self, y, extra):
        """
        ``d theta / d phi`` at the upper and at the lower end of every row's interval
        (zero rows at the open ends), kept for the last ``(y, extra)``: the quadrature
        nodes of one evaluation share them.
        """
        cached = self.__dict__.get("_jrows")
        if cached is not None and cached[0] is y and np.array_equal(cached[1], extra):
            return cached[2]
        J = self.extra_jacobian(extra)
        Jpad = np.vstack([np.zeros((1, len(extra))), J, np.zeros((1, len(extra)))])
        rows = (Jpad[y + 1], Jpad[y])
        self.__dict__["_jrows"] = (y, extra.copy(), rows)
        return rows

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_jrows", None)
        return state

    # ----------------------------------------------------------- prediction
    def cumprob(self, eta, extra):
        """``P(Y <= k)`` for ``k = 0 .. K-2``, shape ``(n, K-1)``."""
        theta = self.extra_public(extra)
        eta = np.asarray(eta, dtype=float).reshape(-1)
        return binary_links.inverse(self.link_name, theta[None, :] - eta[:, None])

    def prob(self, eta, extra):
        """Category probabilities ``P(Y = k)``, shape ``(n, K)``; rows sum to one."""
        cum = self.cumprob(eta, extra)
        n = cum.shape[0]
        full = np.hstack([np.zeros((n, 1)), cum, np.ones((n, 1))])
        p = np.diff(full, axis=1)
        # the upper tail is more accurate from the survival function
        theta = self.extra_public(extra)
        eta = np.asarray(eta, dtype=float).reshape(-1)
        sf = binary_links.inverse(self.link_name, -(theta[None, :] - eta[:, None])) \
            if self.link_name != "cloglog" else np.exp(-np.exp(np.minimum(
                theta[None, :] - eta[:, None], 700.0)))
        sfull = np.hstack([np.ones((n, 1)), sf, np.zeros((n, 1))])
        p_up = -np.diff(sfull, axis=1)
        mid = full[:, :-1] + full[:, 1:]
        return np.maximum(np.where(mid > 1.0, p_up, p), 0.0)

    def mean(self, eta, extra):
        """Expected category score (numeric levels, otherwise 1..K)."""
        return self.prob(eta, extra) @ self.scores()

    def variance(self, mu, extra):
        raise NotImplementedError("the variance of an ordinal response depends on more than "
                                  "its mean; use predict(which='prob')")

    def response_value(self, y):
        """Observed category scores (numeric levels, otherwise 1..K)."""
        return self.scores()[np.asarray(y, dtype=int)]

    def deviance_resid(self, y, eta, extra):
        """``sign(score - mean) sqrt(-2 log P(Y = y))`` (the saturated log-likelihood is 0)."""
        d0 = self.derivs(y, eta, extra)[0]
        return np.sign(self.response_value(y) - self.mean(eta, extra)) * np.sqrt(-2 * d0)

    def predict_which(self, eta, extra, which, extras=None):
        """
        Predictions on the ordinal scales.

        ``"prob"``: ``(n, K)`` category probabilities; ``"cum"``: ``(n, K-1)``
        cumulative probabilities ``P(Y <= k)``; ``"mean"``: expected score.
        """
        self._need_levels()
        if which == "prob":
            return self.prob(eta, extra)
        if which == "cum":
            return self.cumprob(eta, extra)
        if which == "mean":
            return self.mean(eta, extra)
        raise ValueError(f"which={which!r} is not available for Ordinal; use 'prob', 'cum', "
                         "'mean' or 'linear'")

    def which_columns(self, which, k):
        """Column names: the levels for ``"prob"``, ``"<=level"`` for ``"cum"``."""
        lab = self.level_labels
        if which == "prob" and k == len(lab):
            return lab
        if which == "cum" and k == len(lab) - 1:
            return [f"<={v}" for v in lab[:-1]]
        return None

    def simulate(self, eta, extra, y, rng):
        """
        Draw categories; returns the level values (as in the data).

        Examples
        --------
        >>> import numpy as np
        >>> fam = Ordinal(levels=["lo", "mid", "hi"])
        >>> y = fam.validate(np.array(["lo", "hi", "mid"]), "y")
        >>> out = fam.simulate(np.zeros(5), fam.extra_internal([-1.0, 1.0]), y,
        ...                    np.random.default_rng(0))
        >>> set(out) <= {"lo", "mid", "hi"}
        True
        """
        codes = self.simulate_codes(eta, extra, rng)
        return np.asarray(self.levels, dtype=object)[codes] if not self._is_numeric() \
            else self.scores()[codes]

    def simulate_codes(self, eta, extra, rng):
        """Draw category codes ``0 .. K-1``."""
        cum = self.cumprob(eta, extra)
        u = rng.random(cum.shape[0])
        return (u[:, None] > cum).sum(1)

    def _is_numeric(self):
        return self._scores is not None and not isinstance(self.levels[0], str) and \
            np.array_equal(self._scores, np.asarray(self.levels, dtype=float))

    # --------------------------------------------------------------- summary
    def summary_table(self, results, alpha=0.05):
        """Thresholds with standard errors (delta method) and Wald intervals."""
        k0 = results.k_fe + results.k_re
        names = self.extra_names()
        est = np.asarray(results.params)[k0:k0 + len(names)]
        cov = np.asarray(results.normalized_cov_params)
        se = np.sqrt(np.diag(cov))[k0:k0 + len(names)]
        z = stats.norm.ppf(1 - alpha / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            zval = est / se
        return pd.DataFrame({"Coef.": est, "Std.Err.": se, "z": zval,
                             "P>|z|": 2 * stats.norm.sf(np.abs(zval)),
                             f"[{alpha / 2:.3f}": est - z * se,
                             f"{1 - alpha / 2:.3f}]": est + z * se},
                            index=pd.Index([f"threshold {n}" for n in names]))

    def summary_notes(self, results):
        if self.link_name == "logit":
            return ["Ordinal (cumulative logit): P(Y <= k) = F(threshold_k - x'b); "
                    "exp(coef) is the cumulative odds ratio for a higher category."]
        return [f"Ordinal (cumulative {self.link_name}): P(Y <= k) = F(threshold_k - x'b)."]

    def __repr__(self):
        lv = "" if self.user_levels is None else f", levels={self.user_levels!r}"
        return f"Ordinal(link={self.link_name!r}{lv})"
