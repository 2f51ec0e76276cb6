"""
Zero-inflated count responses (ZIP, ZINB) with a logistic model for the zeros.

A row is a structural zero with probability ``p = expit(zeta)``,
``zeta = w' gamma`` (``w`` from ``zi_formula``, coefficients named
``inflate_<column>`` as in statsmodels' count models), and otherwise a
draw from the count family ``g`` (Poisson or negative binomial) with linear
predictor ``eta``:

.. math::

    f(y) = p\\,1\\{y = 0\\} + (1 - p)\\, g(y \\mid \\eta).

For ``y > 0``, ``log f = log(1 - p) + g_0`` and the eta-derivatives are
those of the count family.  For ``y = 0`` let
``w = (1 - p) e^{g_0} / f(0)`` be the posterior weight of the count
component (``dw/deta = w (1 - w) g_1``); then

.. math::

    d_1 = w g_1, \\qquad d_2 = w g_2 + w(1 - w) g_1^2, \\qquad
    d_3 = w g_3 + 3 w (1 - w) g_1 g_2 + w (1 - w)(1 - 2w) g_1^3 .

Setting ``w = 1`` for ``y > 0`` makes the same formulas hold for every row.
Derivatives in the zero-inflation predictor (multiplied by ``w`` columns for
``gamma``, the chain rule):
``d0_zeta = 1 - w - p``, ``d1_zeta = -w(1 - w) g_1``,
``d2_zeta = -w(1 - w) g_2 - w(1 - w)(1 - 2w) g_1^2``; and in a count-family
parameter ``psi``: ``d0_psi = w g0_psi``,
``d1_psi = w(1 - w) g0_psi g_1 + w g1_psi``,
``d2_psi = w(1-w) g0_psi g_2 + w g2_psi + w(1-w)(1-2w) g0_psi g_1^2 + 2 w (1-w) g_1 g1_psi``.

The zero-inflation design travels with the response: once the model has
built its (group-sorted) design, :meth:`ZeroInflated.bind` stores
``design.y`` as ``[count, w_1, ..., w_k]`` so every likelihood evaluation
sees the right rows, whatever integration rule replicates them.

When the zero-inflation design is made of factors only and has as many
columns as distinct rows (a saturated design such as ``~ a * b``), the
internal parameters are the structural-zero logits of the cells,
``zeta_c = P gamma`` (``P`` the distinct rows; scaled, see :func:`_cell_basis`),
and ``design.y`` carries the matching cell indicators in place of ``W``:
``zeta = W gamma`` is unchanged,
but each cell has its own coordinate, so a cell whose probability runs off to
0 or 1 moves one internal parameter instead of a long valley of treatment
contrasts (intercept, main effects and interactions moving together), and the
quasi-Newton search needs far fewer steps.  The reported coefficients are
``gamma = P^{-1} zeta_c`` (:meth:`ZeroInflated.extra_public`).  A cell whose
probability has no finite estimate is held near ``|zeta_c| = log n_c + 12`` by
a tiny far-tail term (see :func:`_tail`).  The fit starts from Newton steps on
the zero-inflated model without random effects (:meth:`ZeroInflated.start_beta`).
"""

import copy
import dataclasses

import numpy as np
import pandas as pd
from scipy import special, stats
import statsmodels.api as sm

from .base import Response
from .negbin import NegativeBinomial
from .standard import Poisson

__all__ = ["ZeroInflated"]


def _cells(W, max_share=0.2):
    """
    The distinct rows of the zero-inflation design when they are few (at most
    ``max_share`` of the rows, as for factors): ``(patterns, cell of every row,
    rows per cell)``; None for continuous covariates.
    """
    n = len(W)
    if n == 0:
        return None
    patterns, inverse, size = np.unique(W, axis=0, return_inverse=True, return_counts=True)
    if len(patterns) > max(1, max_share * n):
        return None
    return patterns, np.asarray(inverse).ravel(), size


def _cell_basis(W):
    """
    ``((A, A^{-1}, n_c, s_c), W A^{-1})`` for the internal zero-inflation parameters
    ``t = A gamma``
    when the design ``W`` has as many distinct rows as columns and they are linearly
    independent (a saturated factor design, at least two cells); else ``(None, W)``.

    ``t_c = sqrt(n_c / n) zeta_c``: the logit of cell ``c`` (``n_c`` of the ``n``
    rows) scaled like a centred and scaled column of the count model, so that the
    curvature of every internal coordinate is of the order of the number of rows.
    ``W A^{-1}`` holds ``sqrt(n / n_c)`` in the cell column of each row.
    """
    cells = _cells(W)
    if cells is None or W.shape[1] < 2 or len(cells[0]) != W.shape[1]:
        return None, W
    P, inverse, size = cells
    try:
        Pinv = np.linalg.inv(P)
    except np.linalg.LinAlgError:
        return None, W
    if not (np.all(np.isfinite(Pinv)) and np.linalg.cond(P) < 1e8):
        return None, W
    scale = np.sqrt(size / len(W))
    A = scale[:, None] * P
    A_inv = Pinv / scale[None, :]
    return (A, A_inv, size, scale), (1.0 / scale)[inverse][:, None] * np.eye(len(P))[inverse]


#: Weight and margin of the far-tail term of the cell parametrisation (see :func:`_tail`).
TAIL_WEIGHT = 1e-6
TAIL_MARGIN = 12.0


def _tail(zeta, size):
    """
    The far-tail term of a cell's log-likelihood and its first two derivatives in
    the cell logit ``zeta``, per row of the cell (``size`` rows):

    .. math:: -\\epsilon \\{ s(\\zeta - K)^2 + s(-\\zeta - K)^2 \\} / n_c,
              \\qquad K = \\log n_c + 12,

    with ``s`` the softplus and ``epsilon`` = :data:`TAIL_WEIGHT`.  Where the
    structural-zero probability of a cell runs off to 0 or 1 (no finite
    estimate: every count of the cell zero, or the count model explaining all of
    its zeros), the likelihood flattens out exponentially and its rise beyond
    ``|zeta| = K`` is below ``n_c e^{-K} = 6e-6``; the term (about
    ``epsilon e^{2(|zeta| - K)} / n_c`` per row inside ``+-K``, below ``1e-15``
    for ``|zeta| < K - 10``) then stops the logit near ``+-K`` with a standard
    error near ``1 / sqrt(epsilon) = 1000`` (the log-likelihood reported is lower
    by about ``1e-6`` per such cell), instead of letting it drift to values where
    the probability rounds to 0 or 1 and the curvature, hence the standard error,
    is lost to rounding.
    """
    K = np.log(size) + TAIL_MARGIN
    a, b = zeta - K, -zeta - K
    sa, sb = np.logaddexp(0.0, a), np.logaddexp(0.0, b)
    pa, pb = special.expit(a), special.expit(b)
    c = TAIL_WEIGHT / size
    t0 = -c * (sa * sa + sb * sb)
    t1 = -2 * c * (sa * pa - sb * pb)
    t2 = -2 * c * (pa * pa + sa * pa * (1 - pa) + pb * pb + sb * pb * (1 - pb))
    return t0, t1, t2


def _newton_start(fam, X, y, offset, beta, extra, steps=15):
    """
    Count coefficients and internal zero-inflation parameters of the zero-inflated
    model without random effects: Newton steps (analytic curvature) with
    step-halving from ``beta`` and ``extra``, Levenberg-Marquardt steps where the
    curvature is not negative definite.  The count family's own parameter is held
    at its start: freeing it can lead to another local maximum (a large
    overdispersion in place of zero inflation).
    """
    kb = fam.base.n_extra
    p = X.shape[1]
    x = np.concatenate([beta, extra[kb:]])
    _, W = fam._split_y(y)

    def pieces(x):
        ex = np.concatenate([extra[:kb], x[p:]])
        eta = X @ x[:p] + offset
        d0, d1, d2, _ = fam.derivs(y, eta, ex)
        e0, e1, _ = fam.extra_derivs(y, eta, ex)
        grad = np.concatenate([X.T @ d1, e0[:, kb:].sum(0)])
        return float(np.sum(d0)), eta, ex, d2, e1[:, kb:], grad

    llf, eta, ex, d2, e1, grad = pieces(x)
    for _ in range(steps):
        H = np.empty((len(x), len(x)))
        H[:p, :p] = X.T @ (d2[:, None] * X)
        H[:p, p:] = X.T @ e1
        H[p:, :p] = H[:p, p:].T
        H[p:, p:] = W.T @ (fam._zeta_curvature(y, eta, ex)[:, None] * W)
        A = -0.5 * (H + H.T)
        lo = np.linalg.eigvalsh(A)[0]
        if lo <= 1e-8 * max(abs(np.trace(A)), 1.0):
            A = A + (max(0.0, -lo) + 1e-6 * np.trace(A) / len(x)) * np.eye(len(x))
        step = np.linalg.solve(A, grad)
        if not np.all(np.isfinite(step)) or grad @ step < 1e-10:
            break
        for _ in range(20):
            new = pieces(x + step)
            if np.isfinite(new[0]) and new[0] >= llf:
                break
            step *= 0.5
        else:
            break
        x = x + step
        llf, eta, ex, d2, e1, grad = new
    return x[:p], np.concatenate([extra[:kb], x[p:]])


class ZeroInflated(Response):
    """
    Zero-inflated Poisson or negative binomial response.

    Usually created by ``MixedGLM.from_formula(..., zi_formula="~1")``.

    Parameters
    ----------
    base : family
        Poisson (statsmodels' or ours) or :class:`NegativeBinomial`.
    zi_formula : str
        Right-hand side of the logistic model for structural zeros, e.g.
        ``"~1"`` or ``"~ z"``.
    cells : bool
        Fit a saturated factor design by its cell logits (see the module
        docstring; default True).  False keeps the reported coefficients as the
        internal ones, as a fit that evaluates the likelihood on separately bound
        parts of the data (partitions) needs: their cells could differ.

    Examples
    --------
    >>> import numpy as np
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> rng = np.random.default_rng(0)
    >>> df = smg.simulate_longitudinal("poisson", n_persons=60, seed=1)
    >>> df["y"] = np.where(rng.random(len(df)) < 0.3, 0, df["y"])
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson(),
    ...                    zi_formula="~1").fit()
    >>> res.params.index[-1]
    'inflate_Intercept'
    >>> res.predict(which="prob").shape[0] == len(df)
    True
    """

    raw_endog = False
    #: cells whose structural-zero probability has no finite estimate leave flat ridges
    #: (held only by the far-tail term): the quasi-Newton search runs to its tolerance
    newton_handover = False
    #: defaults for objects made before these attributes existed (unpickled results)
    cells = True
    _basis = None
    _start_zi = None

    def __init__(self, base, zi_formula="~1", cells=True):
        from . import as_response

        base = as_response(base)
        if isinstance(base, ZeroInflated):
            raise ValueError("family is already zero-inflated")
        if not isinstance(base, (Poisson, NegativeBinomial)):
            raise ValueError(f"zi_formula needs a count family (Poisson or NegativeBinomial), "
                             f"not {base.name}")
        if not isinstance(zi_formula, str) or not zi_formula.strip():
            raise ValueError("zi_formula must be a formula string such as '~1' or '~ x'")
        rhs = zi_formula.strip()
        rhs = rhs[1:].strip() if rhs.startswith("~") else rhs
        if "~" in rhs or "|" in rhs:
            raise ValueError(f"zi_formula {zi_formula!r} must be a right-hand side only "
                             "(no response, no random-effect bars)")
        self.base = base
        self.zi_formula = zi_formula
        self._rhs = rhs or "1"
        self.link_name = base.link_name
        self.sm_family = base.sm_family
        short = "ZIP" if isinstance(base, Poisson) else (
            "ZINB" if base.p == 2 else "ZINB1")
        self.name = f"ZeroInflated{base.name} ({short})"
        self.short_name = short
        self.zi_names = None
        self.W = None
        self.k_max = None
        self._cache = None
        self.cells = bool(cells)
        #: the cell parametrisation (see :func:`_cell_basis`) once bound, or None
        self._basis = None
        self._start_zi = None

    def __repr__(self):
        return f"ZeroInflated({self.base!r}, zi_formula={self.zi_formula!r})"

    # --------------------------------------------------------- model hooks
    def extra_formulas(self):
        """The zero-inflation design the model must build: ``{"zi": rhs}``."""
        return {"zi": self._rhs}

    rowwise = False  # the response array carries each row's zero-inflation design

    def bind(self, design):
        """
        A copy of the family that knows the zero-inflation design, and a new design
        whose response carries it (``[count, W]``); neither argument is modified.
        """
        if "zi" not in design.extra:
            raise ValueError("the design has no zero-inflation matrix; build the model "
                             "with from_formula(..., zi_formula=...)")
        W, names, _ = design.extra["zi"]
        W = np.asarray(W, dtype=float)
        if W.ndim != 2 or W.shape[1] == 0:
            raise ValueError(f"zi_formula {self.zi_formula!r} gives no columns")
        bound = copy.copy(self)
        bound.W = W
        bound.zi_names = [str(n) for n in names]
        bound._cache = None
        y = design.y
        count = y[:, 0] if y.ndim == 2 else y
        bound.k_max = int(np.max(count)) if len(count) else 0
        bound._basis, W_int = _cell_basis(W) if self.cells else (None, W)
        return bound, dataclasses.replace(design, y=np.column_stack([count, W_int]))

    @property
    def k_zi(self):
        return 0 if self.zi_names is None else len(self.zi_names)

    @property
    def n_extra(self):
        return self.base.n_extra + self.k_zi

    def _split_extra(self, extra):
        extra = np.asarray(extra, dtype=float)
        kb = self.base.n_extra
        return extra[:kb], extra[kb:]

    def _split_y(self, y):
        y = np.asarray(y, dtype=float)
        if y.ndim == 2:
            return y[:, 0], y[:, 1:]
        W = self._W_for(len(y))
        return y, (W if self._basis is None else W @ self._basis[1])  # as design.y holds it

    def _W_for(self, n, extras=None):
        """Zero-inflation design for ``n`` rows (given, bound, or constant)."""
        if extras is not None and "zi" in extras:
            return np.asarray(extras["zi"], dtype=float)
        if self.W is not None and len(self.W) == n:
            return self.W
        if self.W is not None and np.all(self.W == self.W[:1]):
            return np.repeat(self.W[:1], n, axis=0)
        raise ValueError("the zero-inflation covariates of these rows are unknown; "
                         "predict with res.predict(data, which=...)")

    # ------------------------------------------------------------- data
    def validate(self, endog, name):
        return self.base.validate(endog, name)

    def response_value(self, y):
        y = np.asarray(y, dtype=float)
        return y[:, 0] if y.ndim == 2 else y  # the counts (no design needed)

    def n_trials(self, y):
        return np.ones(len(y))

    def weights(self, y):
        return np.ones(len(y))

    # ------------------------------------------------------- parameters
    def extra_names(self):
        return list(self.base.extra_names()) + [f"inflate_{n}" for n in (self.zi_names or [])]

    def _gamma(self, g):
        """Reported zero-inflation coefficients from the internal ones."""
        return g if self._basis is None else self._basis[1] @ g

    def extra_public(self, extra):
        eb, g = self._split_extra(extra)
        return np.concatenate([self.base.extra_public(eb), self._gamma(g)])

    def extra_internal(self, public):
        eb, g = self._split_extra(public)
        g = g if self._basis is None else self._basis[0] @ g
        return np.concatenate([self.base.extra_internal(eb), g])

    def extra_jacobian(self, extra):
        eb, g = self._split_extra(extra)
        k = self.n_extra
        J = np.eye(k)
        kb = len(eb)
        if kb:
            J[:kb, :kb] = self.base.extra_jacobian(eb)
        if self._basis is not None:
            J[kb:, kb:] = self._basis[1]
        return J

    def extra_bounds(self):
        return list(self.base.extra_bounds()) + [(None, None)] * self.k_zi

    def start_beta(self, design):
        """
        Count-model coefficients from a GLM of the count family (inflation ignored),
        then Newton steps on the zero-inflated model without random effects for the
        count and zero-inflation coefficients (see :func:`_newton_start`; the family
        parameters are kept for :meth:`start_extra`).
        """
        count, _ = self._split_y(design.y)
        beta = np.zeros(design.X.shape[1])
        self._start_zi = None
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                glm = sm.GLM(count, design.X, family=self.base.sm_family,
                             offset=design.offset).fit()
            if np.all(np.isfinite(glm.params)):
                beta = np.asarray(glm.params)
        except Exception:  # a failed start only costs iterations
            pass
        try:
            with np.errstate(all="ignore"):
                extra = self.start_extra(design.y, design.X @ beta + design.offset)
                b, e = _newton_start(self, design.X, design.y, design.offset, beta, extra)
            if np.all(np.isfinite(b)) and np.all(np.isfinite(e)):
                beta, self._start_zi = b, e
        except (np.linalg.LinAlgError, ValueError):  # a failed start only costs iterations
            pass
        return beta

    def start_extra(self, y, eta):
        count, W = self._split_y(y)
        eb = np.asarray(self.base.start_extra(count, eta), dtype=float)
        kept = getattr(self, "_start_zi", None)
        if kept is not None and len(kept) == self.n_extra and W.shape[1] == self.k_zi:
            self._start_zi = None  # from start_beta, at these coefficients
            return kept
        mu = np.exp(eta)
        p0 = float(np.mean(np.exp(-mu)))
        obs = float(np.mean(count == 0))
        pi = float(np.clip((obs - p0) / max(1 - p0, 1e-6), 0.05, 0.9))
        g = np.zeros(W.shape[1])
        if self._basis is not None:
            # every cell at the same logit; W holds the cells' scaled indicators
            g[:] = np.log(pi / (1 - pi)) / W.max(axis=0)
            return np.concatenate([eb, g])
        const = np.flatnonzero(np.all(W == 1.0, axis=0))
        if len(const):
            g[const[0]] = np.log(pi / (1 - pi))
        return np.concatenate([eb, g])

    # ------------------------------------------------------- likelihood
    def _data(self, y):
        """Counts, zero-inflation design and index of zero rows (cached per array)."""
        if self._cache is not None and self._cache[0] is y:
            return self._cache[1]
        count, W = self._split_y(y)
        iz = np.flatnonzero(count == 0)
        const = bool(len(W) and np.all(W == W[:1]))
        rows = None
        if self._basis is not None and W.shape[1] == len(self._basis[2]) and len(W):
            rows = np.argmax(W, axis=1)  # the cell of each row
        out = (count, W, iz, const, rows)
        self._cache = (y, out, None)  # the last _core result joins at the third place
        return out

    def _core(self, y, eta, extra):
        """
        Count-family derivatives, zero-row index, zeta and weights ``w`` on zero rows;
        the last result is kept, as the gradient asks again at the point where the
        modes were found.
        """
        data = self._data(y)
        last = self._cache[2]
        extra = np.asarray(extra, dtype=float)
        # the same array, unchanged (its sum), at the same parameters
        if (last is not None and last[0] is eta and last[1] == float(np.sum(eta))
                and np.array_equal(last[2], extra)):
            return last[3]
        out = self._core_new(y, eta, extra)
        if isinstance(eta, np.ndarray):
            self._cache = (y, data, (eta, float(np.sum(eta)), extra.copy(), out))
        return out

    def _core_new(self, y, eta, extra):
        count, W, iz, const, _ = self._data(y)
        eb, g = self._split_extra(extra)
        # ``count`` is the same cached array on every call, so the base family's
        # own caches (log y! for Poisson) apply
        gd = self.base.derivs(count, eta, eb)
        if const:
            zeta = np.full(len(iz), float(W[0] @ g)) if len(W) else np.zeros(0)
            zeta_all = float(W[0] @ g) if len(W) else 0.0
        else:
            zeta_all = W @ g
            zeta = zeta_all[iz]
        x = gd[0][iz] - zeta
        w = special.expit(x)
        return count, W, iz, eb, zeta_all, gd, x, w

    def derivs(self, y, eta, extra):
        count, W, iz, eb, zeta, (g0, g1, g2, g3), x, w = self._core(y, eta, extra)
        # log(1 - p) + g0 for y > 0;  log(p + (1-p) e^g0) = log p + log(1 + e^(g0 - zeta))
        d0 = g0 + special.log_expit(-zeta)
        lp = special.log_expit(zeta if np.ndim(zeta) == 0 else zeta[iz])
        d0[iz] = lp - special.log_expit(-x)
        v = w * (1 - w)
        a1, a2, a3 = g1[iz], g2[iz], g3[iz]
        d1 = g1.copy()
        d2 = g2.copy()
        d3 = g3.copy()
        d1[iz] = w * a1
        d2[iz] = w * a2 + v * a1 * a1
        d3[iz] = w * a3 + v * a1 * (3 * a2 + (1 - 2 * w) * a1 * a1)
        tail = self._tail_rows(y, extra)
        if tail is not None:
            d0 += tail[0]
        return d0, d1, d2, d3

    def _tail_rows(self, y, extra):
        """
        The far-tail term (:func:`_tail`) of every row, or None without cell parameters
        or when every cell logit is more than 10 inside its margin (the term below
        ``5e-17`` per row, under the rounding of the log-density).
        """
        cell = self._data(y)[4]
        if cell is None:
            return None
        _, A_inv, size, scale = self._basis
        zeta = self._split_extra(extra)[1] / scale
        if np.max(np.abs(zeta) - np.log(size)) < TAIL_MARGIN - 10:
            return None
        return tuple(t[cell] for t in _tail(zeta, size))

    def has_d4(self):
        """
        True when :meth:`d4` gives numbers (the count family has a fourth derivative).

        >>> import statsmodels.api as sm
        >>> ZeroInflated(sm.families.Poisson()).has_d4()
        True
        """
        y = np.zeros(1)
        return self.base.d4(y, np.zeros(1), np.zeros(self.base.n_extra)) is not None

    def d4(self, y, eta, extra):
        """
        Fourth derivative in ``eta`` (None when the count family has none): ``g_4`` for
        ``y > 0``; for ``y = 0``, with ``v = w (1 - w)``,
        ``w g_4 + v (4 g_1 g_3 + 3 g_2^2) + 6 v (1 - 2w) g_1^2 g_2 + v (1 - 6v) g_1^4``.
        """
        count, W, iz, eb, zeta, (g0, g1, g2, g3), x, w = self._core(y, eta, extra)
        g4 = self.base.d4(count, eta, eb)
        if g4 is None:
            return None
        out = np.array(g4, dtype=float) * np.ones(len(count))
        v = w * (1 - w)
        a1, a2, a3, a4 = g1[iz], g2[iz], g3[iz], out[iz]
        out[iz] = (w * a4 + v * (4 * a1 * a3 + 3 * a2 * a2)
                   + 6 * v * (1 - 2 * w) * a1 * a1 * a2 + v * (1 - 6 * v) * a1 ** 4)
        return out

    def extra_derivs(self, y, eta, extra):
        count, W, iz, eb, zeta, (g0, g1, g2, g3), x, w = self._core(y, eta, extra)
        n = len(count)
        p = special.expit(zeta) * np.ones(n)
        v = w * (1 - w)
        a1, a2 = g1[iz], g2[iz]
        z0 = -p
        z0[iz] += 1 - w
        tail = self._tail_rows(y, extra)
        if tail is not None:
            z0 += tail[1]
        z1 = np.zeros(n)
        z1[iz] = -v * a1
        z2 = np.zeros(n)
        z2[iz] = -v * a2 - v * (1 - 2 * w) * a1 * a1
        outs = [z0[:, None] * W, z1[:, None] * W, z2[:, None] * W]
        if self.base.n_extra:
            b0, b1, b2 = (np.array(b, dtype=float) for b in
                          self.base.extra_derivs(count, eta, eb))
            wc, vc = w[:, None], v[:, None]
            c0, c1 = b0[iz], b1[iz]
            b2[iz] = (vc * c0 * a2[:, None] + wc * b2[iz]
                      + vc * (1 - 2 * wc) * c0 * (a1 ** 2)[:, None] + 2 * vc * a1[:, None] * c1)
            b1[iz] = vc * c0 * a1[:, None] + wc * c1
            b0[iz] = wc * c0
            outs = [np.hstack([e, o]) for e, o in zip((b0, b1, b2), outs)]
        return tuple(outs)

    def _zeta_curvature(self, y, eta, extra):
        """
        Second derivative of every row's log-density in its zero-inflation predictor:
        ``-p (1 - p)``, plus ``w (1 - w)`` on zero rows (and the far-tail term's).
        """
        count, W, iz, eb, zeta, gd, x, w = self._core(y, eta, extra)
        p = special.expit(zeta) * np.ones(len(count))
        out = -p * (1 - p)
        out[iz] += w * (1 - w)
        tail = self._tail_rows(y, extra)
        if tail is not None:
            out += tail[2]
        return out

    # ------------------------------------------------------- prediction
    def prob_inflate(self, extra, W):
        """Structural-zero probability ``expit(W gamma)`` (``W`` the reported design)."""
        _, g = self._split_extra(extra)
        return special.expit(np.asarray(W, dtype=float) @ self._gamma(g))

    def _base_prob(self, eta, eb, counts):
        counts = np.asarray(counts)
        if isinstance(self.base, Poisson):
            return stats.poisson.pmf(counts[None, :], np.exp(eta)[:, None])
        return self.base.prob(eta, eb, counts)

    def mean(self, eta, extra, extras=None):
        eta = np.asarray(eta, dtype=float)
        p = self.prob_inflate(extra, self._W_for(len(eta), extras))
        return (1 - p) * np.exp(eta)

    def variance(self, mu, extra, extras=None):
        """``(1 - p) V_count(lambda) + p (1 - p) lambda^2`` with ``lambda = mu / (1 - p)``."""
        mu = np.asarray(mu, dtype=float)
        eb, _ = self._split_extra(extra)
        p = self.prob_inflate(extra, self._W_for(len(mu), extras))
        lam = mu / (1 - p)
        vb = lam if isinstance(self.base, Poisson) else self.base.variance(lam, eb)
        return (1 - p) * vb + p * (1 - p) * lam ** 2

    def predict_which(self, eta, extra, which, extras=None):
        """
        ``"mean"`` ``(1 - p) mu``, ``"mean-main"`` ``mu``, ``"prob-main"``
        ``1 - p``, ``"prob-zero"`` ``P(y = 0)``, ``"var"``, or ``"prob"``:
        ``P(y = k)`` for ``k = 0..K`` with ``K`` the largest count in the
        fitted data.
        """
        eta = np.asarray(eta, dtype=float)
        eb, _ = self._split_extra(extra)
        p = self.prob_inflate(extra, self._W_for(len(eta), extras))
        mu = np.exp(eta)
        if which == "mean":
            return (1 - p) * mu
        if which == "mean-main":
            return mu
        if which == "prob-main":
            return 1 - p
        if which == "var":
            return self.variance((1 - p) * mu, extra, {"zi": self._W_for(len(eta), extras)})
        if which == "prob-zero":
            return p + (1 - p) * self._base_prob(eta, eb, [0])[:, 0]
        if which == "prob":
            k = self.k_max if self.k_max is not None else int(np.ceil(3 * np.max(mu)))
            pr = (1 - p)[:, None] * self._base_prob(eta, eb, np.arange(k + 1))
            pr[:, 0] += p
            return pr
        raise ValueError(f"which={which!r} is not available for a zero-inflated model; use "
                         "'mean', 'linear', 'mean-main', 'prob-main', 'prob-zero', 'var' "
                         "or 'prob'")

    def which_columns(self, which, k):
        """Column names of two-dimensional predictions."""
        return [f"prob_{j}" for j in range(k)] if which == "prob" else None

    def deviance_resid(self, y, eta, extra):
        """
        ``sign(y - mean) sqrt(2 (l_sat - l))`` with the saturated model putting
        every zero in the inflation part and every positive count at its own mean.
        """
        count, _ = self._split_y(y)
        eb, _ = self._split_extra(extra)
        ll = self.derivs(y, eta, extra)[0]
        sat = self.base.derivs(count, np.log(np.maximum(count, 1e-300)), eb)[0]
        sat = np.where(count > 0, sat, 0.0)
        m = self.mean(eta, extra) if len(eta) == (0 if self.W is None else len(self.W)) \
            else np.exp(eta)
        return np.sign(count - m) * np.sqrt(np.maximum(2 * (sat - ll), 0))

    def simulate(self, eta, extra, y, rng):
        count, W = self._split_y(y)
        eb, _ = self._split_extra(extra)
        draw = np.asarray(self.base.simulate(eta, eb, count, rng))
        p = special.expit(W @ self._split_extra(extra)[1])  # W and extra both internal
        return np.where(rng.random(len(eta)) < p, 0, draw)

    # -------------------------------------------------------- separation
    def separated_zi_columns(self, y, extra, cov):
        """
        Zero-inflation coefficients of (quasi-)separated cells, by name.

        With factors only in ``zi_formula`` (few distinct rows of its design)
        a cell of rows with the same covariates is named by the last column
        that is non-zero in it (for treatment contrasts the column of the cell's
        own deviation) when every count in it is zero (at least two rows; the
        likelihood then rises towards a structural-zero probability of 1), or
        when its estimated structural-zero logit exceeds 5 in size (a
        probability within 0.007 of 0 or 1) with a standard error above 10 or
        none: an estimate running off to a boundary.  With continuous
        covariates a coefficient is named when it exceeds 5 per standard
        deviation of its column with such a standard error.

        Parameters
        ----------
        y : ndarray
            The model's response array (counts and the zero-inflation design).
        extra : ndarray
            Internal family parameters at the estimates.
        cov : ndarray
            Covariance of the reported family parameters (zero-inflation
            coefficients last).

        Returns
        -------
        list of str

        Examples
        --------
        >>> import numpy as np
        >>> import statsmodels.api as sm
        >>> fam = ZeroInflated(sm.families.Poisson(), "~ g")
        >>> fam.zi_names = ["Intercept", "g"]
        >>> W = np.column_stack([np.ones(12), np.repeat([0, 1], 6)])
        >>> y = np.column_stack([[0, 2, 1, 0, 3, 0] + [0] * 6, W])  # no count when g = 1
        >>> fam.separated_zi_columns(y, np.array([0.0, 1.0]), np.eye(2))
        ['inflate_g']
        """
        if np.ndim(y) == 1 and not (self.W is not None and len(self.W) == len(y)):
            return []  # the rows' zero-inflation design is not here (a distributed fit)
        count, W = self._split_y(y)
        _, g = self._split_extra(extra)
        if self._basis is not None and self.W is not None and len(self.W) == len(count):
            W, g = self.W, self._gamma(g)  # the reported design and coefficients
        k = len(g)
        if k == 0 or len(count) == 0:
            return []
        C = np.asarray(cov, dtype=float)[-k:, -k:]
        names = [f"inflate_{n}" for n in (self.zi_names or range(k))]
        out = []
        cells = _cells(W)
        with np.errstate(invalid="ignore", over="ignore"):
            if cells is not None:
                pattern, inverse, size = cells
                all_zero = (np.bincount(inverse, weights=(count == 0).astype(float))
                            == size) & (size >= 2)
                zeta = pattern @ g
                se = np.sqrt(np.einsum("ij,jk,ik->i", pattern, C, pattern))
                edge = (np.abs(zeta) > 5) & ~(se <= 10)
                for c in np.flatnonzero(all_zero | edge):
                    cols = np.flatnonzero(pattern[c] != 0)
                    if len(cols) and names[cols[-1]] not in out:
                        out.append(names[cols[-1]])
            else:
                sd = W.std(axis=0)
                se = np.sqrt(np.diag(C))
                edge = (sd > 0) & (np.abs(g) * sd > 5) & ~(se <= 10)
                out = [names[j] for j in np.flatnonzero(edge)]
        return [n for n in names if n in out]

    # ---------------------------------------------------------- summary
    def summary_table(self, results, alpha=0.05):
        """Count-family parameters and the zero-inflation coefficients."""
        names = list(results.model.param_names)
        params = np.asarray(results.params)
        cov = np.asarray(results.normalized_cov_params)
        z = stats.norm.ppf(1 - alpha / 2)
        lo_c, hi_c = f"[{alpha / 2:.3f}", f"{1 - alpha / 2:.3f}]"
        rows = []
        for n in self.extra_names()[self.base.n_extra:]:
            i = names.index(n)
            b, se = params[i], np.sqrt(cov[i, i])
            rows.append({"": n, "Estimate": b, "Std.Err.": se, "z": b / se,
                         "P>|z|": 2 * stats.norm.sf(abs(b / se)),
                         lo_c: b - z * se, hi_c: b + z * se})
        tab = pd.DataFrame(rows).set_index("")
        base_tab = getattr(self.base, "summary_table", None)
        if base_tab is not None and self.base.n_extra:
            tab = pd.concat([base_tab(results, alpha), tab])[
                ["Estimate", "Std.Err.", "z", "P>|z|", lo_c, hi_c]]
        return tab.astype(object).where(tab.notna(), "")

    def summary_notes(self, results):
        """Notes of the count family plus one when the inflation probability vanishes."""
        notes = []
        hook = getattr(self.base, "summary_notes", None)
        if hook is not None and self.base.n_extra:
            notes.extend(hook(results))
        p = self.prob_inflate(results._extra(), self.W) if self.W is not None else None
        if p is not None and np.max(p) < 1e-4:
            notes.append("The zero-inflation probability is near 0 for every row: the model "
                         "without zero inflation fits as well and is simpler.")
        return notes
