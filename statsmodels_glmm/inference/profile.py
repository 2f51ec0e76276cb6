"""
Profile likelihood of a fitted MixedGLM and the intervals it gives.

For a scalar parameter ``psi`` (a fixed effect, a random-effect standard
deviation or correlation, a family parameter) with the other parameters
``lambda`` re-optimised at every value,

.. math::

    \\ell_p(\\psi) = \\max_\\lambda \\ell(\\psi, \\lambda), \\qquad
    \\zeta(\\psi) = \\operatorname{sign}(\\psi - \\hat\\psi)
                   \\sqrt{2\\,(\\ell(\\hat\\theta) - \\ell_p(\\psi))},

and the ``1 - alpha`` profile interval is ``{psi : |zeta(psi)| <= z_{1-alpha/2}}``
(the likelihood-ratio interval; lme4's ``confint(method="profile")``).

Parametrisation.  The random-effect covariance is held as the rows of its
Cholesky factor ``L``; for profiling, row ``i`` of a block is written

.. math::

    L_{i\\cdot} = s_i \\, v_i / \\lVert v_i \\rVert, \\qquad
    v_i = (w_{i1}, \\dots, w_{i,i-1}, 1),

so that ``|s_i| = sqrt(G_ii)`` (the SD of random effect ``i``; ``L`` uses
``|s_i|``, so the coordinate needs no bound) is one coordinate, and in a
two-dimensional block the correlation is
``rho = w / sqrt(1 + w^2)``, a monotone function of one coordinate.  Fixed
effects and family parameters keep the model's internal scale (``log alpha``
for the negative binomial, ``log sigma`` for the Gaussian residual); a
family parameter is profiled when its reported value depends on one
internal coordinate only (the ordinal thresholds after the first do not).

Algorithm.  From the maximum, each side is traced in steps chosen so that
``zeta`` moves by about ``cutoff / 8`` (from the local slope), each point a
bounded quasi-Newton maximisation over the other parameters started from
the previous point moved along the regression of the others on ``psi``
under the asymptotic normal law (from the Hessian at the maximum); the
maximisation is BFGS in coordinates whitened by the Cholesky factor of the
conditional asymptotic covariance of the others, so the curvature is close
to the identity from the first step.  The limits
for the requested ``alpha`` are then solved for exactly (Brent's method on
``zeta(psi) -+ z``); other levels are read off the trace by monotone
interpolation.
"""

import warnings

import numpy as np
import pandas as pd
from scipy import interpolate, optimize, stats

from ..exceptions import warn

__all__ = ["Profile", "profile", "ProfileParametrization"]


class ProfileParametrization:
    """
    Map between the model's internal parameters ``x`` and the profiling
    coordinates ``phi`` (SD and row-direction coordinates for ``L``).

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=30, seed=2)
    >>> m = smg.mixedglm("y ~ time + (1 + time | id)", df, family=sm.families.Poisson())
    >>> par = ProfileParametrization(m)
    >>> x = np.array([0.1, 0.2, 0.5, 0.3, 0.4])
    >>> bool(np.allclose(par.to_x(par.from_x(x)), x))
    True
    """

    def __init__(self, model):
        self.model = model
        cs = model.cov_struct
        p = model.k_fe
        self.n = model.k_fe + model.k_re + model.k_extra
        rows = {}
        for k, (a, b) in enumerate(cs.positions):
            rows.setdefault(a, []).append(k)
        # theta indices of each row of L, diagonal entry last
        self.rows = [np.array(rows[a]) + p for a in sorted(rows, key=lambda r: rows[r][0])]
        self.row_of = {int(idx[-1]): int(cs.rows[idx[-1] - p]) for idx in self.rows}

    def to_x(self, phi):
        x = np.array(phi, dtype=float)
        for idx in self.rows:
            s = abs(phi[idx[-1]])
            v = np.append(phi[idx[:-1]], 1.0)
            x[idx] = s * v / np.sqrt(v @ v)
        return x

    def from_x(self, x):
        phi = np.array(x, dtype=float)
        for idx in self.rows:
            row = np.array(x[idx], dtype=float)
            s = np.sqrt(row @ row)
            d = abs(row[-1])
            if len(idx) > 1:
                sign = 1.0 if row[-1] >= 0 else -1.0
                phi[idx[:-1]] = sign * row[:-1] / max(d, 1e-10 * max(s, 1e-300)) if s > 0 else 0.0
            phi[idx[-1]] = s
        return phi

    def jacobian(self, phi):
        """``d x / d phi`` (block diagonal)."""
        J = np.eye(self.n)
        for idx in self.rows:
            s = abs(phi[idx[-1]])
            v = np.append(phi[idx[:-1]], 1.0)
            nv = np.sqrt(v @ v)
            B = np.zeros((len(idx), len(idx)))
            B[:, -1] = (1.0 if phi[idx[-1]] >= 0 else -1.0) * v / nv
            for k in range(len(idx) - 1):
                e = np.zeros(len(idx))
                e[k] = 1.0
                B[:, k] = s * (e / nv - v * v[k] / nv ** 3)
            J[np.ix_(idx, idx)] = B
        return J

    def refit_bounds(self):
        """
        Bounds ``(lo, hi)`` of every coordinate of ``phi`` in the constrained
        maximisations: the model's bounds (:meth:`MixedGLM._bounds`) on the
        fixed-effect and family coordinates, none on the rows of ``L`` (the SD
        enters as ``|s|``).
        """
        lo = np.full(self.n, -np.inf)
        hi = np.full(self.n, np.inf)
        for b, (l, h) in enumerate(self.model._bounds()):
            if l is not None:
                lo[b] = l
            if h is not None:
                hi[b] = h
        for idx in self.rows:
            lo[idx], hi[idx] = -np.inf, np.inf
        return lo, hi

    def lower_bounds(self):
        lo = np.full(self.n, -np.inf)
        for b, (l, _) in enumerate(self.model._bounds()):
            if l is not None:
                lo[b] = l
        for idx in self.rows:
            lo[idx] = -np.inf
            lo[idx[-1]] = 0.0  # reported SDs are >= 0 (the coordinate enters as |s|)
        return lo


#: a correlation coordinate ``w`` is traced up to ``|w| = 1e3`` (``|rho| = 1 - 5e-7``)
_CORR_CAP = 1e3


def _rho(w):
    """Correlation ``w / sqrt(1 + w^2)`` of the second row of a block (+-1 at +-inf)."""
    if np.isinf(w):
        return float(np.sign(w))
    return w / np.sqrt(1.0 + w * w)


class _Target:
    """One profiled quantity: a coordinate of ``phi`` and its reported value."""

    def __init__(self, name, coord, value_fn, kind, var_name=None):
        self.name = name
        self.coord = coord
        self.value = value_fn
        self.kind = kind
        self.var_name = var_name


def _targets(model):
    """Every quantity that is one coordinate of ``phi``, by name."""
    par = ProfileParametrization(model)
    cs = model.cov_struct
    p, k = model.k_fe, model.k_re
    out = {}
    for j, name in enumerate(model.exog_names):
        out[name] = _Target(name, j, lambda c: c, "fixed")
    pub = cs.public_names()
    for idx in par.rows:
        r = par.row_of[int(idx[-1])]
        diag_pos = int(idx[-1])
        nm = f"{cs.groups[r]} {cs.names[r]} SD"
        out[nm] = _Target(nm, diag_pos, lambda c: c, "sd", var_name=pub[diag_pos - p])
        if len(idx) == 2:  # second row of a block: the correlation is one coordinate
            a = cs.names[cs.cols[idx[0] - p]]
            cn = f"{cs.groups[r]} {a} x {cs.names[r]} Corr"
            out[cn] = _Target(cn, int(idx[0]), _rho, "corr", var_name=pub[idx[0] - p])
    resp = model.response
    if model.k_extra:
        names = list(resp.extra_names())
        e0 = np.zeros(model.k_extra)
        J = resp.extra_jacobian(e0 + 0.1)
        for j, name in enumerate(names):
            others = np.delete(J[j], j)
            if np.all(np.abs(others) < 1e-12) and abs(J[j, j]) > 0:
                def value(c, j=j):
                    e = np.zeros(model.k_extra)
                    e[j] = c
                    return float(resp.extra_public(e)[j])
                out[name] = _Target(name, p + k + j, value, "family")
    return out


class _Profiler:
    """Constrained maximisations at fixed values of one coordinate of ``phi``."""

    def __init__(self, results, nagq=None):
        self.res = results
        self.model = model = results.model
        self.nagq = results.nagq if nagq is None else int(nagq)
        self.par = ProfileParametrization(model)
        x_hat = model._canonical(np.asarray(results.mle_retvals["internal_params"], float))
        self.phi_hat = self.par.from_x(x_hat)
        self.llf_hat = float(model.loglike_internal(x_hat, self.nagq)[0])
        self.lo = self.par.lower_bounds()
        self.box = self.par.refit_bounds()
        self.n = len(self.phi_hat)
        self.n_evals = 0
        self._factors = {}
        self.cov = self._asymptotic_cov(results, x_hat)

    def _asymptotic_cov(self, results, x_hat):
        """Covariance of ``phi`` from the Hessian at the maximum (diagonal fallback)."""
        H = results.mle_retvals.get("hessian")
        J = self.par.jacobian(self.phi_hat)
        fallback = np.diag((0.1 * np.maximum(1.0, np.abs(self.phi_hat))) ** 2)
        if H is None:
            return fallback
        Hp = J.T @ np.asarray(H, dtype=float) @ J
        free = np.abs(np.diag(Hp)) > 0
        free &= ~((self.phi_hat <= self.lo + 1e-8) & np.isfinite(self.lo))
        cov = fallback.copy()
        try:
            sub = -Hp[np.ix_(free, free)]
            np.linalg.cholesky(sub)
            cov[np.ix_(free, free)] = np.linalg.inv(sub)
            cov[np.ix_(free, ~free)] = 0.0
            cov[np.ix_(~free, free)] = 0.0
        except np.linalg.LinAlgError:
            return fallback
        if not np.all(np.isfinite(cov)):
            return fallback
        return cov

    def loglike(self, phi, gradient=True):
        x = self.par.to_x(phi)
        m = self.model
        self.n_evals += 1
        llf, grad, _ = m.loglike_internal(x, self.nagq, gradient=gradient)
        if not gradient:
            return llf, None
        if grad is None:
            grad = m._fd_gradient(x, self.nagq)
        return llf, self.par.jacobian(phi).T @ grad

    def slope(self, j):
        """Regression of the other coordinates on coordinate ``j`` (asymptotic law)."""
        c = self.cov
        if c[j, j] <= 0:
            return np.zeros(self.n)
        b = c[:, j] / c[j, j]
        b[j] = 1.0
        return b

    def _conditional_factor(self, j):
        """Cholesky factor of the asymptotic covariance of the others given coordinate j."""
        cached = self._factors.get(j)
        if cached is None:
            free = np.ones(self.n, bool)
            free[j] = False
            c = self.cov
            S = c[np.ix_(free, free)]
            if c[j, j] > 0:
                S = S - np.outer(c[free, j], c[j, free]) / c[j, j]
            try:
                C = np.linalg.cholesky(S)
            except np.linalg.LinAlgError:
                C = np.diag(np.sqrt(np.clip(np.diag(S), 1e-12, None)))
            cached = self._factors[j] = (free, C)
        return cached

    def fixed_max(self, j, value, start):
        """
        Maximise over every coordinate but ``j`` (held at ``value``).

        Quasi-Newton (BFGS) on ``z`` with ``phi_free = start + C z``, ``C`` the
        Cholesky factor of the conditional asymptotic covariance, so that the
        Hessian in ``z`` is close to the identity from the first step.  The SD
        coordinates enter ``L`` through their absolute value (see
        :meth:`ProfileParametrization.to_x`), so they need no bounds; the other
        coordinates stay within the model's bounds (``log alpha >= log 1e-8``
        for the negative binomial): a point outside them is rejected like a
        failed evaluation, and when the search leaves the bounds the maximum is
        found again by :meth:`_bounded_max`.
        """
        free, C = self._conditional_factor(j)
        lo, hi = self.box
        base = np.clip(np.array(start, dtype=float), lo, hi)
        base[j] = value
        if np.any(((base <= lo) | (base >= hi)) & free):  # starts on a bound
            return self._bounded_max(j, base)
        worst = [None]
        best = [None, np.inf]  # best point inside the bounds and its -llf
        outside = [False]

        def f(z):
            phi = base.copy()
            phi[free] = base[free] + C @ z
            if np.any(phi[free] < lo[free]) or np.any(phi[free] > hi[free]):
                outside[0] = True
                val = (abs(worst[0]) + 1e3) if worst[0] is not None else 1e100
                return val, -z * (val + 1.0)
            llf, g = self.loglike(phi)
            if not np.isfinite(llf):
                val = (abs(worst[0]) + 1e3) if worst[0] is not None else 1e100
                return val, -z * (val + 1.0)
            val = -llf
            worst[0] = val if worst[0] is None else max(worst[0], val)
            if val < best[1]:
                best[0], best[1] = phi, val
            return val, -(C.T @ g[free])

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            o = optimize.minimize(f, np.zeros(free.sum()), jac=True, method="BFGS",
                                  options=dict(maxiter=200, gtol=1e-5))
        if outside[0]:
            return self._bounded_max(j, base if best[0] is None else best[0])
        phi = base.copy()
        phi[free] = base[free] + C @ o.x
        if best[0] is None:  # no finite log-likelihood at this value of coordinate j
            return self._tidy(phi), -np.inf
        llf = -float(o.fun)
        return self._tidy(phi), llf

    def _bounded_max(self, j, start):
        """
        Maximise over every coordinate but ``j`` within the model's bounds (L-BFGS-B).

        The bounded coordinates are scaled by their conditional asymptotic SDs,
        the others whitened given them, so the bounds are a box in the
        optimiser's coordinates.
        """
        lo, hi = self.box
        free, C = self._conditional_factor(j)
        S = C @ C.T
        b = (np.isfinite(lo) | np.isfinite(hi))[free]
        u = ~b
        P = np.zeros_like(S)
        D = np.sqrt(np.clip(np.diag(S)[b], 1e-12, None))
        P[np.ix_(b, b)] = np.diag(D)
        if u.any():
            reg = S[np.ix_(u, b)] @ np.linalg.pinv(S[np.ix_(b, b)])
            Su = S[np.ix_(u, u)] - reg @ S[np.ix_(b, u)]
            try:
                Cu = np.linalg.cholesky(Su)
            except np.linalg.LinAlgError:
                Cu = np.diag(np.sqrt(np.clip(np.diag(Su), 1e-12, None)))
            P[np.ix_(u, b)] = reg * D[None, :]
            P[np.ix_(u, u)] = Cu
        base = np.clip(np.array(start, dtype=float), lo, hi)
        bounds = [(None, None)] * int(free.sum())
        for k, lo_, hi_, c, d in zip(np.flatnonzero(b), lo[free][b], hi[free][b],
                                     base[free][b], D):
            bounds[k] = ((lo_ - c) / d if np.isfinite(lo_) else None,
                         (hi_ - c) / d if np.isfinite(hi_) else None)
        worst = [None]

        def point(z):
            phi = base.copy()
            phi[free] = np.clip(base[free] + P @ z, lo[free], hi[free])
            return phi

        def f(z):
            llf, g = self.loglike(point(z))
            if not np.isfinite(llf):
                val = (abs(worst[0]) + 1e3) if worst[0] is not None else 1e100
                return val, -z * (val + 1.0)
            val = -llf
            worst[0] = val if worst[0] is None else max(worst[0], val)
            return val, -(P.T @ g[free])

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            o = optimize.minimize(f, np.zeros(free.sum()), jac=True, method="L-BFGS-B",
                                  bounds=bounds,
                                  options=dict(maxiter=400, gtol=1e-6, ftol=1e-13))
        return self._tidy(point(o.x)), (-float(o.fun) if worst[0] is not None else -np.inf)

    def _tidy(self, phi):
        """Non-negative SD coordinates (the sign of ``s`` does not change ``G``)."""
        phi = phi.copy()
        for idx in self.par.rows:
            phi[idx[-1]] = abs(phi[idx[-1]])
        return phi

    def zeta(self, j, value, llf):
        dev = max(2.0 * (self.llf_hat - llf), 0.0)
        return float(np.sign(value - self.phi_hat[j]) * np.sqrt(dev))


def _trace_side(prof, j, direction, cutoff, maxsteps=30, cap=np.inf):
    """
    Points ``(phi_j, zeta, llf, phi)`` from the maximum outwards on one side.

    Stops when ``|zeta|`` passes ``cutoff``, at a bound of the coordinate
    (the model's bounds, zero for an SD), or at ``|phi_j| = cap`` (a
    correlation within 5e-7 of +-1).  A value where the log-likelihood is not
    finite (``exp`` overflowing a family parameter, say) is not a profile
    point: the step is halved until it is.
    """
    c0 = prof.phi_hat[j]
    se = np.sqrt(prof.cov[j, j]) if prof.cov[j, j] > 0 else 0.1 * max(1.0, abs(c0))
    slope = prof.slope(j)
    lo, hi = prof.lo[j], prof.box[1][j]
    pts = [(c0, 0.0, prof.llf_hat, prof.phi_hat.copy())]
    step = se * cutoff / 8.0
    failures = 0
    for _ in range(maxsteps + 60):
        if len(pts) > maxsteps:
            break
        c_prev, z_prev, _, phi_prev = pts[-1]
        c = c_prev + direction * step
        at_bound = False
        if direction < 0 and np.isfinite(lo) and c <= lo:
            c, at_bound = lo, True
        if direction > 0 and np.isfinite(hi) and c >= hi:
            c, at_bound = hi, True
        if abs(c) >= cap:
            c, at_bound = direction * cap, True
        start = phi_prev + slope * (c - c_prev)
        phi, llf = prof.fixed_max(j, c, start)
        if llf < pts[-1][2] - 0.5 * cutoff ** 2:
            # a sudden drop: make sure it is not a failed maximisation
            phi2, llf2 = prof.fixed_max(j, c, phi_prev)
            if llf2 > llf:
                phi, llf = phi2, llf2
        if not np.isfinite(llf):
            failures += 1
            if failures > 60:
                break
            step = 0.5 * abs(c - c_prev)
            continue
        z = prof.zeta(j, c, llf)
        if abs(z - z_prev) > cutoff and abs(z_prev) < cutoff and not at_bound \
                and failures < 60:
            # zeta moved eight times the aim in one step (a flat start): a shorter step
            failures += 1
            step = 0.25 * abs(c - c_prev)
            continue
        if llf > prof.llf_hat + 1e-6:
            warn(f"profiling found a higher log-likelihood ({llf:.6f} > "
                 f"{prof.llf_hat:.6f}) at coordinate {j}: the fit was not at its "
                 "maximum; refit before trusting the intervals", RuntimeWarning)
        pts.append((c, z, llf, phi))
        if abs(z) >= cutoff or at_bound:
            break
        # next step from the local slope of zeta, so that zeta moves by about cutoff / 8
        dz = abs(z - z_prev)
        if dz > 1e-8:
            step = min(max(abs(c - c_prev) * (cutoff / 8.0) / dz, 0.2 * step), 4.0 * step)
        else:
            step *= 2.0
    return pts[1:]


def _solve_limit(prof, j, pts, target):
    """
    The value where zeta crosses ``target``, or None when the trace does not cross it.

    Solved by Brent's method on re-optimised points; if re-optimisation at the
    bracket ends does not reproduce the crossing, linear interpolation between
    the two trace points is returned.
    """
    c0 = prof.phi_hat[j]
    seq = [(c0, 0.0, prof.llf_hat, prof.phi_hat.copy())] + list(pts)
    for a, b in zip(seq[:-1], seq[1:]):
        if (a[1] - target) * (b[1] - target) <= 0 and a[1] != b[1]:
            if b[1] == target:
                return b[0]
            slope = prof.slope(j)
            # brentq wraps g in a function that refers to itself: g reaches the profiler
            # (and the model) through a list emptied afterwards, so that the cycle does
            # not keep the model alive until the garbage collector's next pass
            held = [prof]

            def g(c):
                p = held[0]
                near = a if abs(c - a[0]) <= abs(c - b[0]) else b
                phi, llf = p.fixed_max(j, c, near[3] + slope * (c - near[0]))
                return p.zeta(j, c, llf) - target

            try:
                return optimize.brentq(g, a[0], b[0], xtol=1e-7 * max(1.0, abs(c0)),
                                       rtol=1e-10)
            except ValueError:
                w = (target - a[1]) / (b[1] - a[1])
                return a[0] + w * (b[0] - a[0])
            finally:
                held.clear()
    return None


class Profile:
    """
    Profile traces of a fitted MixedGLM (see :meth:`MixedGLMResults.profile`).

    Attributes
    ----------
    frame : DataFrame
        Long format: columns ``parameter``, ``value`` (the profiled
        quantity on its reported scale: coefficient, SD, correlation or
        family parameter), ``zeta`` (signed root of the deviance
        difference) and ``llf``, sorted by parameter and value.
    paths : dict of str to DataFrame
        For each parameter, every model parameter (reported scale) at each
        profile point.
    alpha : float
        Level of the limits solved for exactly.
    limits : DataFrame
        Those exact limits (columns ``lower``, ``upper``).
    estimates : Series
        The profiled quantities at the maximum.
    """

    def __init__(self, frame, paths, limits, alpha, estimates, var_names, notes):
        self.frame = frame
        self.paths = paths
        self.limits = limits
        self.alpha = alpha
        self.estimates = estimates
        self.var_names = var_names
        self.notes = notes

    def __repr__(self):
        return f"<Profile of {len(self.estimates)} parameters>"

    @property
    def parameters(self):
        return list(self.estimates.index)

    def conf_int(self, alpha=None, scale="sd"):
        """
        Profile likelihood intervals.

        Parameters
        ----------
        alpha : float, optional
            ``1 - alpha`` coverage; default the level the profile was
            computed for (those limits are exact; other levels are
            interpolated on the traces, and NaN where a trace stops short).
        scale : {"sd", "var", "both"}
            Random-effect rows as standard deviations (``"... SD"``, as
            lme4's ``.sig01``), as variances (``"... Var"``, the squared
            limits), or both.

        Returns
        -------
        DataFrame
            Columns ``lower``, ``upper``.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=40, seed=4)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
        >>> pr = res.profile()
        >>> pr.conf_int().index.tolist()
        ['Intercept', 'time', 'id Intercept SD']
        >>> bool(np.allclose(pr.conf_int(scale="var").iloc[2], pr.conf_int().iloc[2] ** 2))
        True
        """
        if scale not in ("sd", "var", "both"):
            raise ValueError(f"scale must be 'sd', 'var' or 'both', got {scale!r}")
        if alpha is None or np.isclose(alpha, self.alpha):
            ci = self.limits.copy()
        else:
            if not (0 < alpha < 1):
                raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
            z = stats.norm.ppf(1 - alpha / 2)
            rows = {}
            for name in self.parameters:
                tr = self.frame[self.frame["parameter"] == name]
                zz = tr["zeta"].to_numpy()
                vv = tr["value"].to_numpy()
                order = np.argsort(zz)
                zz, vv = zz[order], vv[order]
                keep = np.r_[True, np.diff(zz) > 0]
                zz, vv = zz[keep], vv[keep]
                f = interpolate.PchipInterpolator(zz, vv, extrapolate=False)
                lo = float(f(-z)) if zz[0] <= -z else (vv[0] if self._stops_at_bound(name)
                                                       else np.nan)
                hi = float(f(z)) if zz[-1] >= z else np.nan
                rows[name] = (lo, hi)
            ci = pd.DataFrame(rows, index=["lower", "upper"]).T
        ci.columns = ["lower", "upper"]
        if scale == "sd":
            return ci
        var = {}
        for name in ci.index:
            vn = self.var_names.get(name)
            if vn is not None and name.endswith(" SD"):
                var[name] = (vn, ci.loc[name] ** 2)
        rows = []
        for name in ci.index:
            if name in var and scale == "var":
                rows.append(var[name][1].rename(var[name][0]))
            else:
                rows.append(ci.loc[name])
                if name in var:
                    rows.append(var[name][1].rename(var[name][0]))
        return pd.DataFrame(rows)

    def _stops_at_bound(self, name):
        return name.endswith(" SD") or name in getattr(self, "at_lower_bound", ())

    def plot(self, alpha=None, parameters=None):
        """
        Plot ``zeta`` against each parameter, with the interval limits.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=40, seed=4)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
        >>> fig = res.profile(["time"]).plot()
        >>> len(fig.axes)
        1
        """
        import matplotlib.pyplot as plt

        names = self.parameters if parameters is None else list(parameters)
        alpha = self.alpha if alpha is None else alpha
        z = stats.norm.ppf(1 - alpha / 2)
        k = len(names)
        ncol = min(k, 3)
        nrow = int(np.ceil(k / ncol))
        fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.0 * nrow), squeeze=False)
        ci = self.conf_int(alpha)
        for ax, name in zip(axes.ravel(), names):
            tr = self.frame[self.frame["parameter"] == name]
            ax.plot(tr["value"], tr["zeta"], "-o", ms=3)
            ax.axhline(z, color="grey", lw=0.8, ls="--")
            ax.axhline(-z, color="grey", lw=0.8, ls="--")
            for v in ci.loc[name]:
                if np.isfinite(v):
                    ax.axvline(v, color="grey", lw=0.8, ls=":")
            ax.set_xlabel(name)
            ax.set_ylabel("zeta")
        for ax in axes.ravel()[k:]:
            ax.set_visible(False)
        fig.tight_layout()
        return fig


def resolve_names(model, params):
    """Profile target names for user names (a ``... Var`` name means its SD)."""
    targets = _targets(model)
    if params is None:
        return list(targets), targets
    if isinstance(params, str):
        params = [params]
    var_to_sd = {t.var_name: n for n, t in targets.items() if t.kind == "sd"}
    cov_to_corr = {t.var_name: n for n, t in targets.items() if t.kind == "corr"}
    out = []
    for p in params:
        p = str(p)
        if p in targets:
            out.append(p)
        elif p in var_to_sd:
            out.append(var_to_sd[p])
        elif p in cov_to_corr:
            out.append(cov_to_corr[p])
        else:
            raise ValueError(f"params: {p!r} cannot be profiled; choose from "
                             f"{list(targets)} (variances map to their SD)")
    return list(dict.fromkeys(out)), targets


def profile(results, params=None, alpha=0.05, alphamax=0.01, maxsteps=30):
    """
    Profile the likelihood of a fit in each of ``params``.

    Parameters
    ----------
    results : MixedGLMResults
    params : list of str, optional
        Fixed-effect names, random-effect ``"... SD"`` (or ``"... Var"``)
        names, ``"... Corr"`` names of two-dimensional blocks, and family
        parameters that are one internal coordinate (``alpha``, ``scale``,
        zero-inflation coefficients, the first ordinal threshold).  Default:
        all of these.
    alpha : float
        Level whose limits are solved for exactly.
    alphamax : float
        The traces extend to ``|zeta| >= z_{1 - alphamax/2}`` (with a small
        margin), so intervals down to that level can be read off them.
    maxsteps : int
        Most profile points on each side of the maximum.

    Returns
    -------
    Profile

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=40, seed=4)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> pr = profile(res, ["time"])
    >>> lo, hi = pr.conf_int().loc["time"]
    >>> bool(lo < res.params["time"] < hi)
    True
    """
    if not (0 < alpha < 1):
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if not (0 < alphamax < 1):
        raise ValueError(f"alphamax must be between 0 and 1, got {alphamax!r}")
    model = results.model
    names, targets = resolve_names(model, params)
    from ..likelihood.parallel import blas_single_thread

    with blas_single_thread():
        return _profile(results, names, targets, alpha, alphamax, maxsteps)


def _profile(results, names, targets, alpha, alphamax, maxsteps):
    model = results.model
    prof = _Profiler(results)
    z = stats.norm.ppf(1 - alpha / 2)
    cutoff = max(stats.norm.ppf(1 - alphamax / 2), z) * 1.05
    frames, paths, limits, est, var_names, notes = [], {}, {}, {}, {}, []
    at_lower_bound = set()
    pnames = list(model.param_names)
    for name in names:
        t = targets[name]
        j = t.coord
        c0 = prof.phi_hat[j]
        est[name] = t.value(c0)
        if t.var_name is not None:
            var_names[name] = t.var_name
        cap = _CORR_CAP if t.kind == "corr" else np.inf
        sides = {}
        for direction in (-1, 1):
            if direction < 0 and np.isfinite(prof.lo[j]) and c0 <= prof.lo[j] + 1e-10:
                sides[direction] = []
                continue
            sides[direction] = _trace_side(prof, j, direction, cutoff, maxsteps, cap)
        lo_pts, hi_pts = sides[-1], sides[1]
        lo = _solve_limit(prof, j, lo_pts, -z)
        hi = _solve_limit(prof, j, hi_pts, z)
        if lo is None:
            if np.isfinite(prof.lo[j]) and (not lo_pts or lo_pts[-1][0] <= prof.lo[j]):
                lo = prof.lo[j]  # the likelihood stays within the limit down to the bound
                at_lower_bound.add(name)
            elif lo_pts and lo_pts[-1][0] <= -cap:
                lo = -np.inf  # a correlation: the limit is -1
            else:
                lo = np.nan
                notes.append(f"{name}: the lower limit was not reached")
        if hi is None:
            if np.isfinite(prof.box[1][j]) and hi_pts and hi_pts[-1][0] >= prof.box[1][j]:
                hi = prof.box[1][j]  # the likelihood stays within the limit up to the bound
            elif hi_pts and hi_pts[-1][0] >= cap:
                hi = np.inf  # a correlation: the limit is +1
            else:
                hi = np.nan
                notes.append(f"{name}: the upper limit was not reached")
        limits[name] = (t.value(lo) if not np.isnan(lo) else np.nan,
                        t.value(hi) if not np.isnan(hi) else np.nan)
        pts = list(reversed(lo_pts)) + [(c0, 0.0, prof.llf_hat, prof.phi_hat)] + hi_pts
        vals = np.array([t.value(p[0]) for p in pts])
        frames.append(pd.DataFrame({"parameter": name, "value": vals,
                                    "zeta": [p[1] for p in pts], "llf": [p[2] for p in pts]}))
        pub = np.array([model.to_public(prof.par.to_x(p[3])) for p in pts])
        paths[name] = pd.DataFrame(pub, columns=pnames).assign(zeta=[p[1] for p in pts])
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["parameter", "value", "zeta", "llf"])
    lim = pd.DataFrame(limits, index=["lower", "upper"]).T if limits else pd.DataFrame(
        columns=["lower", "upper"])
    out = Profile(frame, paths, lim, alpha, pd.Series(est, dtype=float), var_names, notes)
    out.n_evaluations = prof.n_evals
    out.at_lower_bound = at_lower_bound
    return out
