"""
Hessians of the log-likelihood of :class:`~statsmodels_glmm.model.MixedGLM` on the
internal scale: differences of the analytic gradient, with the fixed-effects block
in closed form where one exists (for the standard errors), or approximated (for
the Newton steps of a fit only).  A Gaussian model with one grouping factor and one
or two random effects per group differences the gradient formed from its per-group
cross products, whose cost does not grow with the rows.
"""

import numpy as np

from ..likelihood.warm_start import WarmStart

__all__ = ["HessianMixin"]


class HessianMixin:
    """
    Hessians of a mixed model's log-likelihood.

    Uses the likelihood entry points of the model (``loglike_internal``,
    ``_gradient``) and its parameter layout.
    """

    def hessian_internal(self, internal, nagq=1, free=None, central=False, grad=None,
                         warm=None):
        """
        Hessian of the log-likelihood by differences of the gradient.

        Forward differences (one gradient per free parameter) by default;
        ``central=True`` doubles the cost for O(h^2) accuracy.  ``grad`` is the
        gradient at ``internal`` when the caller already has it.  The
        fixed-effects block is in closed form where one exists (see
        :meth:`_beta_hessian`).
        """
        return self._difference_hessian(internal, nagq, free, central, grad, warm)[0]

    def _newton_hessian(self, internal, nagq, free, grad, warm):
        """
        The Hessian a Newton step of the polish uses, and whether it is exact.

        As :meth:`hessian_internal`, except that the fixed-effects block may be
        approximated (:meth:`_approximate_beta_hessian`): where it has no closed
        form, instead of differenced (one gradient fewer per fixed effect), and with
        several grouping factors always (the joint-mode curvature costs ``p`` solves
        with the factor at hand, the closed form a dense inverse of ``H``).  Never
        for standard errors.
        """
        return self._difference_hessian(internal, nagq, free, False, grad, warm,
                                        approximate=True)

    def _difference_hessian(self, internal, nagq, free, central, grad, warm, approximate=False):
        """The Hessian of :meth:`hessian_internal` (``approximate``: of
        :meth:`_newton_hessian`) and whether it is exact."""
        warm = warm if warm is not None else WarmStart()
        n = len(internal)
        typical = self._typical_sizes()
        free = np.ones(n, bool) if free is None else free
        Hs = np.zeros((n, n))
        p = self.k_fe
        closed, exact = None, True
        if p and np.all(free[:p]):
            # the sources of the block in the order they are tried, and whether exact
            sources = [(self._beta_hessian, True)]
            if approximate:
                # a Newton step: the approximation where there is no closed form, and
                # for several grouping factors first (the joint-mode curvature costs p
                # solves with the factor at hand, the closed form inverts H densely; the
                # polish checks its steps and turns to the exact block where they fail)
                first = self.multi and nagq == 1
                sources.insert(0 if first else 1, (self._approximate_beta_hessian, False))
            for source, is_exact in sources:
                closed = source(internal, nagq, warm)
                if closed is not None:
                    exact = is_exact
                    break
        sums = self._gaussian_sums()
        if sums is not None:  # every column and its base from the same (cheap) formula
            def gradient(x):
                return self._gaussian_gradient(x, sums)

            g0 = None if central else gradient(internal)
        else:
            def gradient(x):
                return self._gradient(x, nagq, warm=warm)

            g0 = None if central else (grad if grad is not None else gradient(internal))
        columns = np.flatnonzero(free)
        if closed is not None:
            columns = columns[columns >= p]
        for j in columns:
            h = (1e-4 if central else 1e-5) * max(typical[j], abs(internal[j]))
            e = np.zeros(n)
            e[j] = h
            gp = gradient(internal + e)
            gm = gradient(internal - e) if central else g0
            Hs[:, j] = (gp - gm) / ((2 if central else 1) * h)
        if closed is not None:
            # the fixed-effects rows of the difference columns give the cross block
            Hs[p:, :p] = Hs[:p, p:].T
            Hs[:p, :p] = closed
        Hs = 0.5 * (Hs + Hs.T)
        return Hs, exact

    def _gaussian_gradient(self, internal, sums):
        """The log-likelihood's gradient of a Gaussian model from its per-group cross
        products (:func:`~statsmodels_glmm.likelihood.gaussian_profile.gaussian_gradient`;
        the same as the Laplace one, exact for Gaussian data, to rounding)."""
        from ..likelihood.gaussian_profile import gaussian_gradient

        beta, theta, extra = self._split(internal)
        cs = self.cov_struct
        d_beta, d_L, d_tau = gaussian_gradient(beta, cs.chol(theta), float(extra[0]), sums)
        return np.concatenate([d_beta, d_L[cs.rows, cs.cols], [d_tau]])

    def _beta_hessian(self, internal, nagq, warm):
        """
        The fixed-effects block of the Laplace Hessian in closed form (see
        :mod:`.laplace_hessian` for one grouping factor and
        :mod:`.sparse_laplace_hessian` for several; a Gaussian model of
        :meth:`_gaussian_sums` from its cross products, at any ``nagq``), or None where it
        does not apply (quadrature, families without a fourth derivative, modes that did
        not converge, more random effects than the dense closed form handles).
        """
        from ..likelihood import sparse_laplace_hessian as slh
        from ..likelihood.laplace import ModeState
        from ..likelihood.laplace_hessian import has_closed_form, laplace_beta_hessian
        from ..likelihood.sparse_laplace import SparseModeState

        sums = self._gaussian_sums()
        if sums is not None:  # from the cross products: exact, at any nagq
            from ..likelihood.gaussian_profile import gaussian_beta_hessian

            _, theta, extra = self._split(internal)
            return gaussian_beta_hessian(self.cov_struct.chol(theta), float(extra[0]), sums)
        if nagq != 1 or not has_closed_form(self.response):
            return None
        if self.multi and (not slh.ENABLED
                           or self.sparse_problem().n_effects > slh.MAX_EFFECTS):
            return None
        llf, _, state = self.loglike_internal(internal, nagq, warm=warm)
        kind = SparseModeState if self.multi else ModeState
        if not (np.isfinite(llf) and isinstance(state, kind) and state.converged):
            return None
        beta, theta, extra = self._split(internal)
        if self.multi:
            return slh.sparse_beta_hessian(self.sparse_problem(), self.response, beta, theta,
                                           extra, state)
        return laplace_beta_hessian(self.design, self.response, beta,
                                    self.cov_struct.chol(theta), extra, state)

    def _approximate_beta_hessian(self, internal, nagq, warm):
        """
        An approximate fixed-effects block where :meth:`_beta_hessian` has none, or
        None: for adaptive quadrature with one grouping factor, the Laplace block in
        closed form at the same point (the two likelihoods differ by terms of the
        order of one over the group size); for several grouping factors beyond the
        closed form's size, the joint-mode curvature
        (:func:`~statsmodels_glmm.likelihood.sparse_laplace_hessian.joint_mode_curvature`).
        """
        from ..likelihood import sparse_laplace_hessian as slh

        if nagq > 1 and not self.multi:
            return self._beta_hessian(internal, 1, WarmStart(getattr(warm, "u", None)))
        if nagq == 1 and self.multi:
            llf, _, state = self.loglike_internal(internal, nagq, warm=warm)
            if np.isfinite(llf):
                return slh.joint_mode_curvature(self.sparse_problem(), state)
        return None
