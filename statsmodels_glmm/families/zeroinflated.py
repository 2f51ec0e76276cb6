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

    def __init__(self, base, zi_formula="~1"):
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
        y = design.y
        count = y[:, 0] if y.ndim == 2 else y
        bound.k_max = int(np.max(count)) if len(count) else 0
        return bound, dataclasses.replace(design, y=np.column_stack([count, W]))

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
        return y, self._W_for(len(y))

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
        return self._split_y(y)[0]

    def n_trials(self, y):
        return np.ones(len(y))

    def weights(self, y):
        return np.ones(len(y))

    # ------------------------------------------------------- parameters
    def extra_names(self):
        return list(self.base.extra_names()) + [f"inflate_{n}" for n in (self.zi_names or [])]

    def extra_public(self, extra):
        eb, g = self._split_extra(extra)
        return np.concatenate([self.base.extra_public(eb), g])

    def extra_internal(self, public):
        eb, g = self._split_extra(public)
        return np.concatenate([self.base.extra_internal(eb), g])

    def extra_jacobian(self, extra):
        eb, g = self._split_extra(extra)
        k = self.n_extra
        J = np.eye(k)
        kb = len(eb)
        if kb:
            J[:kb, :kb] = self.base.extra_jacobian(eb)
        return J

    def extra_bounds(self):
        return list(self.base.extra_bounds()) + [(None, None)] * self.k_zi

    def start_beta(self, design):
        """Count-model coefficients from a GLM of the count family (inflation ignored)."""
        count, _ = self._split_y(design.y)
        beta = np.zeros(design.X.shape[1])
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
        return beta

    def start_extra(self, y, eta):
        count, W = self._split_y(y)
        eb = np.asarray(self.base.start_extra(count, eta), dtype=float)
        mu = np.exp(eta)
        p0 = float(np.mean(np.exp(-mu)))
        obs = float(np.mean(count == 0))
        pi = float(np.clip((obs - p0) / max(1 - p0, 1e-6), 0.05, 0.9))
        g = np.zeros(W.shape[1])
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
        out = (count, W, iz, const)
        self._cache = (y, out)
        return out

    def _core(self, y, eta, extra):
        """Count-family derivatives, zero-row index, zeta and weights ``w`` on zero rows."""
        count, W, iz, const = self._data(y)
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
        return d0, d1, d2, d3

    def extra_derivs(self, y, eta, extra):
        count, W, iz, eb, zeta, (g0, g1, g2, g3), x, w = self._core(y, eta, extra)
        n = len(count)
        p = special.expit(zeta) * np.ones(n)
        v = w * (1 - w)
        a1, a2 = g1[iz], g2[iz]
        z0 = -p
        z0[iz] += 1 - w
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

    # ------------------------------------------------------- prediction
    def prob_inflate(self, extra, W):
        """Structural-zero probability ``expit(W gamma)``."""
        _, g = self._split_extra(extra)
        return special.expit(np.asarray(W, dtype=float) @ g)

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
        p = self.prob_inflate(extra, W)
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
        count, W = self._split_y(y)
        _, g = self._split_extra(extra)
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
