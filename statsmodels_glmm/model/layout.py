"""
The parameter layout of :class:`~statsmodels_glmm.model.MixedGLM`.

Parameters are laid out as ``[beta, covariance, family]``: fixed effects
first, then the covariance parameters of ``G``, then family parameters.  The
optimiser works on an internal scale (the Cholesky factor of ``G`` and the
family's unconstrained parameters); this module maps between that scale and
the reported one, gives the bounds, the scaling of the columns of ``X`` and
``Z``, typical parameter sizes for difference steps, and the start values.
"""

import dataclasses

import numpy as np

from ..families.base import Response
from ..likelihood.start import (START_TOL, conditional_start_beta, cross_moment_sums,
                                glm_start, moment_covariance, moment_sums)
from .columns import _column_stats

__all__ = ["LayoutMixin"]


#: most random effects per group for which a Gaussian fit starts at its profiled maximum
#: and takes its Hessian from the per-group cross products (beyond two their steps run
#: through batched LAPACK calls per group, which cost more than the evaluations they save)
MAX_GAUSSIAN_START_Q = 2


class LayoutMixin:
    """
    Parameter layout of a mixed model: names, internal and reported scales,
    bounds, scaling and start values.

    Reads the model's ``design``, ``response``, ``cov_struct`` and its sizes
    ``k_fe``, ``k_re`` and ``k_extra``.
    """

    # ---------------------------------------------------------- parameters
    @property
    def param_names(self):
        """Names of the public parameters ``[fixed, covariance, family]``."""
        return (list(self.design.exog_names) + self.cov_struct.public_names()
                + list(self.response.extra_names()))

    @property
    def exog_names(self):
        return list(self.design.exog_names)

    def _split(self, internal):
        p, k = self.k_fe, self.k_re
        return internal[:p], internal[p:p + k], internal[p + k:]

    def to_public(self, internal):
        """Internal ``[beta, theta, phi]`` to reported ``[beta, var/cov, family]``."""
        beta, theta, extra = self._split(np.asarray(internal, dtype=float))
        return np.concatenate([beta, self.cov_struct.public(theta),
                               self.response.extra_public(extra)])

    def to_internal(self, params):
        """Reported parameters to the internal optimisation scale."""
        params = np.asarray(params, dtype=float)
        if params.shape != (len(self.param_names),):
            raise ValueError(f"params has shape {params.shape}; the model has "
                             f"{len(self.param_names)} parameters ({', '.join(self.param_names)})")
        p, k = self.k_fe, self.k_re
        return np.concatenate([params[:p], self.cov_struct.internal(params[p:p + k]),
                               self.response.extra_internal(params[p + k:])])

    def public_jacobian(self, internal):
        """``d public / d internal``, block diagonal."""
        beta, theta, extra = self._split(np.asarray(internal, dtype=float))
        n = len(internal)
        J = np.zeros((n, n))
        p, k = self.k_fe, self.k_re
        J[:p, :p] = np.eye(p)
        J[p:p + k, p:p + k] = self.cov_struct.jacobian(theta)
        if self.k_extra:
            J[p + k:, p + k:] = self.response.extra_jacobian(extra)
        return J

    def _typical_sizes(self):
        """
        Typical magnitude of each internal parameter, for difference steps: the
        reciprocal root-mean-square of its column of X (or Z), so that a step moves
        the linear predictor by about the same amount whatever the units.
        """
        cached = self.__dict__.get("_typical")
        if cached is None:
            if self.k_fe:
                mean, sd = _column_stats(self)[:2]
                rms_x = np.sqrt(sd * sd + mean * mean)
            else:
                rms_x = np.zeros(0)
            with np.errstate(divide="ignore"):
                tx = np.where(rms_x > 0, 1.0 / rms_x, 1.0)
            # the root mean square of every column of Z (1 where a column is zero)
            tz = 1.0 / self.cov_struct.row_scale[self.cov_struct.rows]
            cached = np.minimum(np.concatenate([tx, tz, np.ones(self.k_extra)]), 1.0)
            self.__dict__["_typical"] = cached
        return cached

    # --------------------------------------------------------------- start
    def _start_internal(self):
        d, resp = self.design, self.response
        beta = np.zeros(self.k_fe)
        given = self._family_start_beta()
        if given is not None:
            beta = given
        elif self.k_fe:
            beta = self._least_squares_start()
            if beta is None:
                beta = glm_start(resp, d.X, d.y, d.offset, tol=START_TOL)
            if not np.all(np.isfinite(beta)):
                beta = np.zeros(self.k_fe)
        eta = d.X @ beta + d.offset
        extra = resp.start_extra(d.y, eta)
        # L = I on the scale of the scaled Z columns (see _scaling) ...
        theta = self.cov_struct.start(1.0) * np.diag(self._scaling()[0])[
            self.k_fe:self.k_fe + self.k_re]
        # ... or, for counts, the moment estimate from the scores of the model without
        # random effects, with the fixed effects moved to match it
        moments = self._moment_start(beta, eta, extra, from_glm=given is None)
        if moments is not None:
            beta, theta = moments
        x = np.concatenate([beta, theta, np.asarray(extra, dtype=float)])
        exact = self._gaussian_start(theta, float(np.asarray(extra)[0])) \
            if self._uses_gaussian_start() else None
        return x if exact is None else exact

    def _uses_gaussian_start(self):
        """True when the fit starts at the profiled maximum of
        :mod:`~statsmodels_glmm.likelihood.gaussian_profile`: a Gaussian response with
        the identity link, one grouping factor and at most
        :data:`MAX_GAUSSIAN_START_Q` random effects per group."""
        resp = self.response
        return bool(resp.name == "Gaussian" and getattr(resp, "link_name", None) == "identity"
                    and not self.multi and self.design.n_groups and self.k_extra == 1
                    and 1 <= self.cov_struct.q <= MAX_GAUSSIAN_START_Q)

    def _least_squares_start(self):
        """
        The least-squares fixed effects ``(X'X)^{-1} X'(y - offset)`` from the cross
        products of a Gaussian model that starts at its profiled maximum (the
        Gaussian GLM's estimate, which Newton's method would reach in one step); None
        for other models or a singular ``X'X``.
        """
        sums = self._gaussian_sums()
        if sums is None:
            return None
        try:
            beta = np.linalg.solve(sums["XtX"], sums["Xty"])
        except np.linalg.LinAlgError:
            return None
        return beta if np.all(np.isfinite(beta)) else None

    def _gaussian_sums(self):
        """The per-group cross products of a Gaussian model that starts at its profiled
        maximum (:meth:`_uses_gaussian_start`), made once for the design's arrays (a
        copy of the model with another response, as a bootstrap refit makes, gets its
        own); None for other models."""
        if not self._uses_gaussian_start():
            return None
        d = self.design
        arrays = (d.y, d.X, d.Z, d.offset)
        hit = self.__dict__.get("_gaussian_cross_products")
        if hit is None or any(a is not b for a, b in zip(hit[0], arrays)):
            from ..likelihood.gaussian_profile import cross_products

            hit = self.__dict__["_gaussian_cross_products"] = (arrays, cross_products(d))
        return hit[1]

    def _gaussian_start(self, theta, log_sigma):
        """
        The maximum-likelihood estimates of a Gaussian model from its profiled
        log-likelihood (see :mod:`~statsmodels_glmm.likelihood.gaussian_profile`),
        searched from the usual start (``theta`` relative to ``exp(log_sigma)``), as
        internal parameters; None when the search fails or ends with a variance at
        zero (the fit's own steps handle a boundary).
        """
        from ..likelihood.gaussian_profile import profiled_optimum

        cs = self.cov_struct
        found = profiled_optimum(self.design, cs, np.asarray(theta) / np.exp(log_sigma),
                                 sums=self._gaussian_sums())
        if found is None:
            return None
        beta, th, ls, _ = found
        L = cs.chol(th)
        if not (np.all(np.isfinite(th)) and np.isfinite(ls)
                and np.all(np.diag(L) * cs.row_scale > 1e-4 * np.exp(ls))):
            return None
        return np.concatenate([beta, th, [ls]])

    def _moment_start(self, beta, eta, extra, from_glm=True):
        """
        ``(beta, theta)`` of the moment start, or None (see
        :meth:`_moment_sums` and :meth:`_start_from_moments`).
        """
        sums = self._moment_sums(eta, extra)
        if sums is None:
            return None
        return self._start_from_moments(beta, *sums, from_glm=from_glm)

    def _uses_moment_start(self):
        """True when the random-effect covariance starts at the moment estimate: random
        effects and a family with ``moment_start`` (counts), or several grouping factors
        and a family with ``moment_start_several_factors`` (0/1 and ordinal outcomes)."""
        resp = self.response
        return bool(self.k_re and (getattr(resp, "moment_start", False)
                                   or (self.multi and getattr(
                                       resp, "moment_start_several_factors", False))))

    def _moment_sums(self, eta, extra):
        """
        ``(R, K, Z'Z, n)``: the sums of
        :func:`~statsmodels_glmm.likelihood.start.moment_sums` over this
        design's groups at the linear predictor ``eta`` of the model without
        random effects, with ``Z'Z`` and the number of rows (all of them sums
        over rows or groups, so that parts of the data add up); None without
        random effects, for a family without ``moment_start`` or when they are
        not finite.  With several grouping factors each term's moments are
        those of its own factor's groups, with the share that the other factors'
        effects add to them (:func:`~statsmodels_glmm.likelihood.start.cross_moment_sums`:
        in nested factors the inner factor's groups would otherwise take the outer
        factor's variance for their own); terms share no entry of ``G``.
        """
        d, resp, q = self.design, self.response, self.cov_struct.q
        if not self._uses_moment_start() or d.n_groups == 0 or d.Z is None:
            return None
        parts = [(t.Z, t.codes, t.n_levels) for t in d.terms] if self.multi else \
            [(d.Z, d.gid, d.n_groups)]
        if sum(z.shape[1] for z, _, _ in parts) != q:
            return None
        R, K = np.zeros((q, q)), np.zeros((q, q, q, q))
        offs = np.cumsum([0] + [z.shape[1] for z, _, _ in parts])
        sl = [slice(offs[k], offs[k + 1]) for k in range(len(parts))]
        with np.errstate(all="ignore"):
            for k, (Z, gid, n_groups) in enumerate(parts):
                R[sl[k], sl[k]], K[sl[k], sl[k], sl[k], sl[k]] = moment_sums(
                    resp, d.y, eta, extra, Z, gid, n_groups)
            for k in range(len(parts)):
                for j in range(k + 1, len(parts)):
                    C = cross_moment_sums(resp, d.y, eta, extra, parts[k][0], parts[k][1],
                                          parts[j][0], parts[j][1])
                    K[sl[k], sl[j], sl[j], sl[k]] = C
                    K[sl[j], sl[k], sl[k], sl[j]] = C.transpose(1, 0, 3, 2)
        if not (np.all(np.isfinite(R)) and np.all(np.isfinite(K))):
            return None
        return R, K, d.Z.T @ d.Z, len(d.Z)

    def _start_from_moments(self, beta, R, K, ztz, n, from_glm=True):
        """
        ``(beta, theta)`` from the sums of :meth:`_moment_sums`: the covariance of
        :func:`~statsmodels_glmm.likelihood.start.moment_covariance` and, when
        ``beta`` is the fit without random effects (``from_glm``), the fixed
        effects of :func:`~statsmodels_glmm.likelihood.start.conditional_start_beta`;
        None when the covariance cannot be factored.
        """
        resp, cs = self.response, self.cov_struct
        with np.errstate(all="ignore"):
            try:
                G = moment_covariance(R, K, cs, log_link=resp.link_name == "log")
                theta = cs.internal(G[cs.rows, cs.cols])
            except (ValueError, FloatingPointError, np.linalg.LinAlgError):
                return None
        if not np.all(np.isfinite(theta)):
            return None
        if from_glm and n:
            v = float(np.sum(G * ztz)) / n  # the mean over rows of z' G z
            beta = conditional_start_beta(resp, beta, self._intercept_column(), v)
        return beta, theta

    def _intercept_column(self):
        """Index of the column of ones in X (from the kept column statistics), or None."""
        _, _, lo, hi = _column_stats(self)
        ones = np.flatnonzero((lo == 1.0) & (hi == 1.0))
        return int(ones[0]) if len(ones) else None

    def _family_start_beta(self):
        """
        The family's own starting fixed effects (None when it has none), computed
        on the scaled columns ``X T`` of :meth:`_scaling` and mapped back, so that
        the start, like the optimiser's path, does not depend on the units of the
        covariates (a family's start may stop on a tolerance that does).
        """
        resp, d = self.response, self.design
        if type(resp).start_beta is Response.start_beta or not self.k_fe or len(d.X) == 0:
            return resp.start_beta(d)
        Tb = self._scaling()[0][:self.k_fe, :self.k_fe]
        given = resp.start_beta(dataclasses.replace(d, X=d.X @ Tb))
        if given is None:
            return None
        return Tb @ np.asarray(given, dtype=float)

    def _scaling(self):
        """
        ``x = T xs``: internal parameters from those of centred, scaled columns.

        Each non-constant column of X is centred (when the model has an
        intercept) and divided by its standard deviation; each column of Z is
        divided by its root mean square (centring Z would change the model),
        which scales the rows of the Cholesky factor ``L``.  The optimiser works
        on ``xs``, so a covariate's units do not change its path.
        """
        cached = self.__dict__.get("_T")
        if cached is not None:
            return cached
        d = self.design
        p, k, n = self.k_fe, self.k_re, self.k_fe + self.k_re + self.k_extra
        T = np.eye(n)
        if p:
            X = d.X
            mean, sd, lo, hi = _column_stats(self)
            const = np.flatnonzero((lo == hi) & (X[0] != 0))
            icpt = const[0] if len(const) else None
            for j in range(p):
                if j in const:
                    T[j, j] = 1.0 / X[0, j]
                    continue
                if icpt is not None and sd[j] > 0:
                    T[j, j] = 1.0 / sd[j]
                    T[icpt, j] = -mean[j] / sd[j] / X[0, icpt]
                else:
                    rms = np.sqrt(np.mean(X[:, j] ** 2))
                    T[j, j] = 1.0 / rms if rms > 0 else 1.0
        rms_z = self.cov_struct.row_scale
        T[p + np.arange(k), p + np.arange(k)] = 1.0 / rms_z[self.cov_struct.rows]
        cached = (T, np.linalg.inv(T))
        self.__dict__["_T"] = cached
        return cached

    def _check_start(self, start_params):
        """Start values on the reported scale: one finite number per parameter."""
        names = self.param_names
        try:
            sp = np.asarray(start_params, dtype=float).ravel()
        except (TypeError, ValueError):
            raise ValueError("start_params must be numbers") from None
        if len(sp) != len(names):
            raise ValueError(f"start_params has {len(sp)} values; the model has "
                             f"{len(names)} parameters ({', '.join(names)})")
        if not np.all(np.isfinite(sp)):
            raise ValueError("start_params must be finite")
        return sp

    # -------------------------------------------------------------- bounds
    def _bounds(self):
        eb = self.response.extra_bounds()
        return [(None, None)] * self.k_fe + self.cov_struct.lower_bounds() + list(eb)

    def _theta_mask(self):
        """True at the diagonal entries of L within the internal vector."""
        mask = np.zeros(self.k_fe + self.k_re + self.k_extra, bool)
        mask[self.k_fe:self.k_fe + self.k_re] = self.cov_struct.is_diag
        return mask

    def _zero_watch(self, T):
        """
        ``sizes(xs)``: at the optimiser's point ``xs`` (``x = T xs``), the size on the
        scaled columns of Z of every entry of ``theta`` whose maximum can be at zero
        (:meth:`CovStructure.even_diagonals`), inf for the others; None when the
        covariance has no diagonal entry.
        """
        cs = self.cov_struct
        p, k = self.k_fe, self.k_re
        if not np.any(cs.is_diag):
            return None

        def sizes(xs):
            theta = (T @ np.asarray(xs, dtype=float))[p:p + k]
            return np.where(cs.even_diagonals(theta), np.abs(cs.scaled_theta(theta)), np.inf)

        return sizes

    def _canonical(self, x):
        x = np.array(x, dtype=float)
        p, k = self.k_fe, self.k_re
        x[p:p + k] = self.cov_struct.canonical(x[p:p + k])
        return x

    def _free_mask(self, x, bounds):
        """Parameters not held on a bound: variances at zero, family bounds."""
        lo = np.array([b[0] if b[0] is not None else -np.inf for b in bounds])
        free = ~(x <= lo + 1e-8)
        free &= ~(self._theta_mask() & (x == 0.0))
        return free
