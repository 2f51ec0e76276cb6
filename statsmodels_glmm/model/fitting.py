"""
Maximum-likelihood fitting of :class:`~statsmodels_glmm.model.MixedGLM`.

:meth:`FittingMixin.fit` runs an optimiser (with retries by the others when
it does not converge, reporting the best attempt) on centred and scaled
columns, finishes with Newton steps on the analytic gradient (Levenberg-
Marquardt steps and a further quasi-Newton run where the likelihood is flat),
checks the Laplace approximation, and builds the results: standard errors from
the Hessian, convergence and separation checks.  Floating-point conditions
(overflow, invalid values) inside a fit are handled there and not passed on as
warnings.
"""

import warnings

import numpy as np
import scipy
from scipy import optimize
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

from ..exceptions import warn
from ..likelihood.parallel import blas_single_thread
from ..likelihood.warm_start import WarmStart
from ..validation import check_whole_number
from .boundaries import (DIVERGED_SD, diverging_sds, rises_away_from_zero, settle_on_bounds,
                         snap_to_zero)
from .columns import separation_terms
from .hessians import HessianMixin
from .optimizer_callback import HandOver, IterationWatch

__all__ = ["FittingMixin"]


#: the optimisers of ``fit(method=...)``, in the order retries try them
_METHODS = {"lbfgs": "L-BFGS-B", "bfgs": "BFGS", "newton": "Newton", "nm": "Nelder-Mead"}

#: the Newton polish keeps its Hessian (a chord method) while each step shrinks the largest
#: scaled gradient to at most this fraction of what it was
CHORD_SHRINK = 0.2
#: When False, the polish takes a new Hessian whenever a parameter comes to be held on a
#: bound, instead of the block of the last one (for comparisons of the two ways)
REUSE_ON_BOUND = True

# BFGS takes a starting inverse Hessian from scipy 1.11 on
_BFGS_HESS_INV0 = tuple(int(v) for v in scipy.__version__.split(".")[:2]) >= (1, 11)

#: attempts of a fit whose log-likelihoods differ by less than this reached the same maximum
_LLF_TOL = 1e-3

#: floating-point conditions the fit handles itself: an overflowing step gets a value worse
#: than any seen, a non-finite log-likelihood at the answer is reported as not converged
_QUIET_FP = dict(over="ignore", under="ignore", invalid="ignore", divide="ignore")


def _choose_attempt(results):
    """
    Index of the attempt to report: the highest finite log-likelihood, a converged
    attempt preferred among those within :data:`_LLF_TOL` of it (the first attempt when
    none is finite).
    """
    llf = np.array([float(r.llf) for r in results])
    ok = np.isfinite(llf)
    if not np.any(ok):
        return 0
    top = np.max(llf[ok])
    near = [i for i in np.flatnonzero(ok) if llf[i] >= top - _LLF_TOL]
    conv = [i for i in near if results[i].converged]
    return max(conv or near, key=lambda i: llf[i])


def _disagreement(attempts, chosen):
    """
    A message when an attempt that reported convergence stopped more than
    :data:`_LLF_TOL` below the reported one (its claim is contradicted), else None.
    """
    best = attempts[chosen]
    worse = [a for a in attempts if a["converged"] and np.isfinite(a["llf"])
             and a["llf"] < best["llf"] - _LLF_TOL]
    if not worse:
        return None
    said = ", ".join(f"{a['method']} at {a['llf']:.4f}" for a in worse)
    return (f"the optimisers disagree: {said} reported convergence, but {best['method']} "
            f"reached a log-likelihood of {best['llf']:.4f}, which is reported"
            + ("" if best["converged"] else " (not converged)")
            + "; the likelihood may be flat or still rising towards infinite estimates "
            "(separation, a variance going to zero or infinity): check the model and "
            "compare res.mle_retvals['attempts']")


def _ascent_step(H, g, Ts):
    """
    The Newton step ``(-H)^{-1} g``, or where ``-H`` is not positive definite (a
    flat or still rising direction: separation, a weakly identified parameter) a
    Levenberg-Marquardt step: on the scaled parameters (``x = Ts xs``) the
    eigenvalues of ``-H`` are raised by ``max(0, -smallest) + 1e-6 largest``, so
    that well-determined directions take their Newton step and flat ones a short
    gradient step.  Returns the step and whether it is the Newton step; None
    for the step when ``-H`` has no positive curvature at all.
    """
    try:
        np.linalg.cholesky(-H)
        return np.linalg.solve(-H, g), True
    except np.linalg.LinAlgError:
        pass
    A = -(Ts.T @ H @ Ts)
    try:
        e, V = np.linalg.eigh(0.5 * (A + A.T))
    except np.linalg.LinAlgError:
        return None, False
    if not (np.all(np.isfinite(e)) and e[-1] > 0):
        return None, False
    mu = max(0.0, -e[0]) + 1e-6 * e[-1]
    return Ts @ (V @ ((V.T @ (Ts.T @ g)) / (e + mu))), False


def _inverse_curvature(hess_at, T, scale, bounds):
    """
    A starting inverse Hessian for BFGS on the scaled parameters (``x = T xs``,
    objective ``-llf / scale``) from the last Hessian of the Newton polish, its
    eigenvalues raised as in :func:`_ascent_step`; None where BFGS cannot take
    one (SciPy before 1.11), a parameter is held on a bound or has one (BFGS
    keeps none), or the Hessian has no positive curvature.
    """
    if hess_at is None or not _BFGS_HESS_INV0 or not np.all(hess_at[2]):
        return None
    if any(b != (None, None) for b in bounds):
        return None
    A = -(T.T @ hess_at[1] @ T)
    try:
        e, V = np.linalg.eigh(0.5 * (A + A.T))
    except np.linalg.LinAlgError:
        return None
    if not (np.all(np.isfinite(e)) and e[-1] > 0):
        return None
    Hi = (V / (e + max(0.0, -e[0]) + 1e-6 * e[-1])) @ V.T * scale
    return 0.5 * (Hi + Hi.T)


def _whole_number(value, name, lowest, meaning=""):
    """``value`` as an int >= lowest, or a ValueError naming the argument."""
    return check_whole_number(value, name, lowest, meaning)


class FittingMixin(HessianMixin):
    """
    Fitting of a mixed model by maximum likelihood: the optimisers, the
    Newton polish and the results object (Hessians: :class:`.HessianMixin`).

    Uses the likelihood entry points of the model (``loglike_internal``,
    ``_gradient``, ``_fd_gradient``) and its parameter layout.
    """

    # --------------------------------------------------------------- start
    def _laplace_start(self, maxiter):
        """
        Internal parameters and Hessian of the Laplace fit; the GLM start and None
        if that fails, and no Hessian when a parameter sits on a bound.
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = self.fit(nagq=1, maxiter=maxiter, check_laplace=False)
                x = np.asarray(res.mle_retvals["internal_params"], dtype=float)
                if np.all(np.isfinite(x)):
                    free = self._free_mask(x, self._bounds())
                    return x, (res.mle_retvals["hessian"] if np.all(free) else None)
            except Exception:  # any failure: start from scratch
                pass
        return self._start_internal(), None

    # ----------------------------------------------------------------- fit
    def fit(self, nagq=1, start_params=None, maxiter=1000, gtol=1e-2, disp=False,
            polish=True, check_laplace=True, method="lbfgs", retry=True, cov_type="nonrobust",
            cov_kwds=None, **kwargs):
        """
        Fit by maximum likelihood.

        Parameters
        ----------
        nagq : int
            1 for the Laplace approximation (default); K > 1 for adaptive
            Gauss-Hermite quadrature with K nodes per random-effect dimension.
        start_params : array-like, optional
            Starting values on the reported scale.
        maxiter : int
            Maximum optimiser iterations.
        gtol : float
            Tolerance on the projected gradient of the log-likelihood for the
            quasi-Newton phase; Newton steps then take the gradient below 1e-8.
            With ``polish``, L-BFGS-B also stops once an iteration raises the
            log-likelihood by less than
            :data:`~statsmodels_glmm.model.optimizer_callback.HANDOVER_GAIN`
            (0.01), or once a random-effect standard deviation below 0.1 (on the
            scaled columns of Z) has shrunk in two iterations in a row while gaining
            under 1, and the Newton steps finish from there (where they stall on a
            flat direction, quasi-Newton steps go on from their point).  Not for
            zero-inflated families (see ``Response.newton_handover``).
        disp : bool
            Print optimiser progress (a line per iteration for L-BFGS-B, SciPy's
            own report for BFGS and Nelder-Mead).
        polish : bool
            Finish with Newton steps on the analytic gradient (default True).
        check_laplace : bool
            After a Laplace fit, evaluate the log-likelihood at the estimates
            by a small adaptive quadrature rule and warn (and note in the
            summary) when it differs from the Laplace value by more than
            :func:`~statsmodels_glmm.checks.approximation.guard_threshold`; the
            result is in ``mle_retvals["laplace_check"]``.  Costs about one
            likelihood evaluation with 5 (q = 1) or 3 (q = 2, 3) nodes per
            dimension.  Where that value suggests trouble, or the response is
            binary with fewer than 5 observations per group on average, the
            estimates are also refitted by adaptive quadrature (15, 7 x 7 or
            5 x 5 x 5 nodes) from the Laplace optimum, a few quasi-Newton steps
            (often one quadrature gradient settles it; in the binary case the
            guard's value is that gradient's evaluation), and a warning names the
            estimates that move by more than half a standard error and the
            ``fit(nagq=K)`` to use (see
            :func:`~statsmodels_glmm.checks.approximation.guard_refit`; skipped
            on large data, and where the quadrature value alone is already
            beyond the tolerance).  Default True.
        method : {"lbfgs", "bfgs", "newton", "nm"}
            The optimiser, as in statsmodels: L-BFGS-B (default, respects the
            bounds of family parameters), BFGS, Newton's method on the analytic
            gradient with a Hessian from its differences, or Nelder-Mead (no
            derivatives).  Every method works on centred and scaled columns and
            is finished by Newton steps when ``polish``.
        retry : bool
            When the fit does not converge, refit with the other optimisers in
            turn (default True) and report the attempt with the highest
            log-likelihood (a converged one where several are within 1e-3 of
            it); a ConvergenceWarning says when an attempt that claimed
            convergence stopped below another.  The summary and
            ``mle_retvals["attempts"]`` say what was tried.
        cov_type : {"nonrobust", "robust", "cluster"}
            Model-based covariance from the Hessian (default), or cluster-robust
            (sandwich) standard errors for the fixed effects, clustered by the
            grouping factor (the outermost of nested factors) or by
            ``cov_kwds["groups"]``; see
            :func:`~statsmodels_glmm.inference.sandwich.robust_cov`.  Variance and
            family parameters keep model-based standard errors.
        cov_kwds : dict, optional
            ``groups``: a column name, a Series indexed like the data, or one value
            per used row (each cluster a union of groups); ``use_correction``:
            multiply the middle of the sandwich by C/(C-1) for C clusters (default
            False, as glmmTMB).

        Returns
        -------
        MixedGLMResults

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> from statsmodels_glmm.model import MixedGLM
        >>> from statsmodels_glmm.simulate import simulate_longitudinal
        >>> df = simulate_longitudinal("poisson", n_persons=60, seed=4)
        >>> res = MixedGLM.from_formula("y ~ time + (1 | id)", df,
        ...                             family=sm.families.Poisson()).fit()
        >>> bool(res.llf < 0)
        True
        """
        if kwargs:
            raise TypeError(f"fit() got unexpected keyword argument(s): "
                            f"{', '.join(sorted(kwargs))}")
        cov_kwds = _check_cov_type(cov_type, cov_kwds)
        # the linear algebra of a fit is many small products and factorisations, for
        # which BLAS threads cost more than they give (parallel.py spreads large
        # data over groups instead)
        if method not in _METHODS:
            raise ValueError(f"method must be one of {', '.join(map(repr, _METHODS))}, "
                             f"got {method!r}")
        order = [method] + ([m for m in _METHODS if m != method] if retry else [])
        attempts, results, caught_all = [], [], []
        with blas_single_thread(), np.errstate(**_QUIET_FP):
            for meth in order:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    res = self._fit(nagq, start_params, maxiter, gtol, disp, polish,
                                    check_laplace, meth)
                attempts.append(dict(method=meth, converged=bool(res.converged),
                                     llf=float(res.llf), message=res.mle_retvals["message"]))
                results.append(res)
                caught_all.append(caught)
                if res.converged:
                    break
        # the best attempt, not the last one: an optimiser can claim convergence short of
        # a point another one reached (flat likelihoods, near separation)
        chosen = _choose_attempt(results)
        res, caught = results[chosen], caught_all[chosen]
        for i, a in enumerate(attempts):
            a["reported"] = bool(i == chosen)
        res.mle_retvals["attempts"] = attempts
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        message = _disagreement(attempts, chosen)
        if message is not None:
            warn(message, ConvergenceWarning)
        if cov_type != "nonrobust":
            _use_robust_cov(res, cov_type, cov_kwds)
        return res

    def _fit(self, nagq, start_params, maxiter, gtol, disp, polish, check_laplace,
             method="lbfgs"):
        nagq = _whole_number(nagq, "nagq", 1, "1 = Laplace, K > 1 = adaptive quadrature")
        maxiter = _whole_number(maxiter, "maxiter", 1)
        if not (np.isscalar(gtol) and np.isfinite(gtol) and gtol > 0):
            raise ValueError(f"gtol must be a positive number, got {gtol!r}")
        bounds = self._bounds()
        scale = max(self.nobs, 1)
        T, Tinv = self._scaling()
        hess_inv0 = None
        if start_params is not None:
            x0 = self.to_internal(self._check_start(start_params))
        elif nagq > 1:
            # the Laplace optimum is a cheap start close to the optimum, and its Hessian
            # a good first curvature for a quasi-Newton search
            x0, H0 = self._laplace_start(maxiter)
            if H0 is not None and all(b == (None, None) for b in bounds) and _BFGS_HESS_INV0:
                try:
                    Hs = T.T @ H0 @ T
                    np.linalg.cholesky(-Hs)
                    hess_inv0 = np.linalg.inv(-Hs) * scale
                    hess_inv0 = 0.5 * (hess_inv0 + hess_inv0.T)
                    np.linalg.cholesky(hess_inv0)
                except np.linalg.LinAlgError:
                    hess_inv0 = None
        else:
            x0 = self._start_internal()
        warm = WarmStart()  # the modes of the last evaluation start the next one
        worst = [np.inf]  # the largest finite objective seen, for points that overflow

        def f(xs):
            # the optimiser works on centred and scaled columns of X and Z (x = T xs),
            # so that the fit does not depend on the units of the covariates
            llf, grad, _ = self.loglike_internal(T @ xs, nagq, gradient=True, warm=warm)
            if not np.isfinite(llf):
                # an overflowing step: a value worse than any seen, pointing back, so that
                # the line search shortens the step instead of stopping
                val = worst[0] + 1.0 + abs(worst[0]) if np.isfinite(worst[0]) else 1e100
                return val, (xs - xs0[0]) * (abs(val) + 1.0)
            if grad is None:
                grad = self._fd_gradient(T @ xs, nagq, warm=warm)
            val = -llf / scale
            worst[0] = val if not np.isfinite(worst[0]) else max(worst[0], val)
            gs = -(T.T @ grad) / scale
            watch.seen(xs, val, gs)
            return val, gs

        xs0 = [Tinv @ x0]
        # L-BFGS-B reports through a callback: its ``disp`` option is deprecated in SciPy
        opts = {"disp": True} if disp else {}
        watch = IterationWatch(f, scale, disp=disp, watched=self._zero_watch(T))

        def run(start, tol=gtol, hess_inv=None, handover=True):
            xs0[0] = Tinv @ start
            if method == "nm":
                o = optimize.minimize(lambda z: f(z)[0], xs0[0], method="Nelder-Mead",
                                      options=dict(maxiter=max(maxiter, 200 * len(start)),
                                                   xatol=1e-8, fatol=1e-12, adaptive=True,
                                                   **opts))
                o.x = T @ o.x
                o.nit = int(getattr(o, "nit", 0))
                return o
            if method == "newton":
                x_n, ok, _ = self._polish(T @ xs0[0], nagq, bounds, steps=max(50, maxiter // 20),
                                          warm=warm)
                return optimize.OptimizeResult(
                    x=x_n, success=ok, nit=0, nfev=0, fun=f(Tinv @ x_n)[0],
                    message="Newton iterations converged" if ok else
                    "Newton iterations did not converge")
            if method == "bfgs":
                o = optimize.minimize(f, xs0[0], jac=True, method="BFGS",
                                      options=dict(maxiter=maxiter, gtol=tol / scale, **opts))
                o.x = np.maximum(T @ o.x, [b[0] if b[0] is not None else -np.inf
                                           for b in bounds])
                return o
            if hess_inv is not None:
                o = optimize.minimize(f, xs0[0], jac=True, method="BFGS",
                                      options=dict(maxiter=maxiter, gtol=tol / scale,
                                                   hess_inv0=hess_inv, **opts))
                o.x = self._canonical(T @ o.x)
                o.method_used = "L-BFGS-B, then BFGS from the Newton polish's curvature"
                return o
            if hess_inv0 is not None:
                o = optimize.minimize(f, xs0[0], jac=True, method="BFGS",
                                      options=dict(maxiter=maxiter, gtol=tol / scale,
                                                   hess_inv0=hess_inv0, **opts))
                o.method_used = "BFGS from the Laplace fit's Hessian"
            else:
                # with a polish to follow, the search stops once an iteration gains little
                # (see optimizer_callback): Newton steps finish faster from there
                watch.start(handover=polish and handover and self.response.newton_handover)
                used = watch.evaluations
                try:
                    o = optimize.minimize(f, xs0[0], jac=True, method="L-BFGS-B", bounds=bounds,
                                          callback=watch,
                                          options=dict(maxiter=maxiter, gtol=tol / scale,
                                                       ftol=1e-15, maxcor=20))
                except HandOver as h:
                    o = optimize.OptimizeResult(
                        x=h.xs, fun=h.val, nit=h.nit, nfev=watch.evaluations - used,
                        success=True, message=f"{watch.reason}: finished by Newton steps")
            o.x = T @ o.x
            return o

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            opt = run(x0)
            x = self._canonical(opt.x)
            # a zero diagonal of L is always a stationary point (the likelihood is even
            # in it): restart from a positive value to make sure it is a maximum
            small = np.flatnonzero(self._theta_mask() & (np.abs(Tinv @ x) < 1e-3))
            if len(small) and not rises_away_from_zero(f, Tinv @ x, opt.fun, small):
                x1 = Tinv @ x
                x1[small] = 0.3
                opt1 = run(T @ x1)
                if opt1.fun < opt.fun - 1e-9:
                    opt, x = opt1, self._canonical(opt1.x)
            if polish:
                flat = {}
                x, polish_ok, hess_at = self._polish(x, nagq, bounds, warm=warm, report=flat)
                if (flat or not polish_ok) and method in ("lbfgs", "bfgs"):
                    # a flat or still rising direction (a weakly identified parameter, near
                    # separation), where Newton steps stall: quasi-Newton steps, started with
                    # the polish's curvature made positive, go on along it to a far smaller
                    # gradient, then Newton steps finish
                    opt2 = run(x, tol=1e-6 * gtol,
                               hess_inv=_inverse_curvature(hess_at, T, scale, bounds),
                               handover=False)
                    if opt2.fun <= f(Tinv @ x)[0]:
                        opt2.nit, opt2.nfev = opt.nit + opt2.nit, opt.nfev + opt2.nfev
                        opt, x = opt2, self._canonical(opt2.x)
                        x, polish_ok, hess_at = self._polish(x, nagq, bounds, warm=warm)
            else:
                polish_ok, hess_at = False, None
            x = self._canonical(x)
            settled = settle_on_bounds(self, x, nagq, bounds, warm)
            if settled is not None:
                x = settled
                if polish:
                    x, polish_ok, hess_at = self._polish(x, nagq, bounds, warm=warm)
        # f's closure holds the watch and the watch holds f: without this break the
        # model (and its design's arrays) would outlive its last reference until the
        # garbage collector's next full pass
        watch.f = None
        llf, grad, state = self.loglike_internal(x, nagq, gradient=True, warm=warm)
        if grad is None:
            grad = self._fd_gradient(x, nagq, warm=warm)
        guard = None
        if nagq == 1 and check_laplace and np.isfinite(llf):
            from ..checks.approximation import laplace_guard

            guard = laplace_guard(self, x, llf, warm=WarmStart(warm.u), for_refit=True)
        if np.isfinite(llf) and state.converged:
            self.warm_start.u = warm.u
        res = self._results(x, llf, grad, state, nagq, bounds, hess_at, opt, polish_ok, guard,
                            warm, method)
        problem = self.__dict__.get("_sparse_problem")
        if problem is not None:
            # the last evaluations were the Hessian's difference columns: the next mode
            # search starts from the optimum's factorisation instead, which the results
            # hold anyway (one factorisation less kept alive with the model)
            problem.precondition_with(state)
        return res

    def _results(self, x, llf, grad, state, nagq, bounds, hess_at, opt, polish_ok, guard=None,
                 warm=None, method="lbfgs"):
        """Standard errors from the Hessian, convergence checks, and the results object."""
        from ..results import MixedGLMResults, MixedGLMResultsWrapper

        free = self._free_mask(x, bounds)
        # the reported Hessian is the one at the reported point, so that the standard
        # errors depend on the optimum only, not on the path that reached it
        if hess_at is not None and hess_at[3] and np.array_equal(hess_at[2], free) and \
                np.array_equal(hess_at[0], x):
            hess = hess_at[1]
        else:
            hess = self.hessian_internal(x, nagq, free, grad=grad, warm=warm)
        cov_int = np.full((len(x), len(x)), np.nan)
        hess_ok = True
        sub = -hess[np.ix_(free, free)]
        if not np.all(np.isfinite(sub)):
            hess_ok = False  # no Wald standard errors from a Hessian that is not finite
        else:
            try:
                np.linalg.cholesky(sub)
                cov_int[np.ix_(free, free)] = np.linalg.inv(sub)
            except np.linalg.LinAlgError:
                hess_ok = False
                cov_int[np.ix_(free, free)] = np.linalg.pinv(sub)
        J = self.public_jacobian(x)
        Jc = np.where(np.isnan(cov_int), 0.0, cov_int)
        cov_pub = J @ Jc @ J.T
        # parameters on a bound have no Wald standard error
        fixed_pub = np.abs(J[:, ~free]).sum(1) > 0 if np.any(~free) else np.zeros(len(x), bool)
        for j in np.flatnonzero(fixed_pub):
            if np.all(J[j, free] == 0):
                cov_pub[j, :] = np.nan
                cov_pub[:, j] = np.nan
        # a variance whose Cholesky diagonal sits at zero is on the boundary of the
        # parameter space: no Wald standard error for it or its covariances
        p, k = self.k_fe, self.k_re
        cs = self.cov_struct
        for r in cs.rows[cs.boundary_mask(x[p:p + k])]:
            for j in np.flatnonzero((cs.rows == r) | (cs.cols == r)):
                cov_pub[p + j, :] = np.nan
                cov_pub[:, p + j] = np.nan
        # the gradient with respect to the parameters of scaled columns (see _scaling)
        grad_s = self._scaling()[0].T @ grad
        max_grad = float(np.max(np.abs(grad_s[free]))) if np.any(free) else 0.0
        # scale-free measure: the log-likelihood a further Newton step would gain
        # (a coefficient of a covariate in large units has a large raw gradient)
        gf = grad[free]
        decrement = float(gf @ cov_int[np.ix_(free, free)] @ gf) / 2 if np.any(free) else 0.0
        small = max_grad < 1e-3 or (hess_ok and 0 <= decrement < 1e-8)
        converged = bool((opt.success or polish_ok) and small and state.converged)
        used = getattr(opt, "method_used", _METHODS[method])
        info = dict(optimizer=f"{used} + Newton polish", success=bool(opt.success),
                    message=str(opt.message), iterations=int(opt.nit),
                    function_evaluations=int(opt.nfev), max_abs_grad=max_grad,
                    newton_decrement=decrement,
                    hessian_positive_definite=hess_ok, inner_converged=bool(state.converged),
                    internal_params=x, gradient=grad, hessian=hess, laplace_check=guard)
        if guard is not None:
            from ..checks.approximation import guard_message, guard_refit, pop_first_evaluation
            from ..exceptions import LaplaceAccuracyWarning

            first = pop_first_evaluation(guard)
            # judge Laplace by what users read, the estimates: where it is doubtful,
            # refit by quadrature from its optimum and compare (not from a point short
            # of the optimum: the comparison would mix the two errors)
            if converged:
                guard = guard_refit(self, x, guard, hess, free, cov_pub,
                                    warm=WarmStart(warm.u) if warm is not None else None,
                                    first=first)
            else:
                guard["refit"] = None
            text = guard_message(guard)
            if text is not None:
                warn(text, LaplaceAccuracyWarning)
        separated = separation_terms(self, self.to_public(x))
        if separated:
            warn("the outcome may be (quasi-)completely separated by "
                 f"{', '.join(repr(t) for t in separated)}: these estimates and their "
                 "standard errors are not reliable", PerfectSeparationWarning)
        zi_hook = getattr(self.response, "separated_zi_columns", None)
        zi_separated = [] if zi_hook is None else zi_hook(
            self.design.y, x[p + k:], cov_pub[p + k:, p + k:])
        if zi_separated:
            warn("the zero-inflation part may be (quasi-)separated in the cells of "
                 f"{', '.join(repr(t) for t in zi_separated)}: every count there is zero, or "
                 "the structural-zero probability is estimated at 0 or 1 with a huge "
                 "standard error; these zero-inflation coefficients and their standard "
                 "errors are not reliable (a simpler zi_formula may fit as well)",
                 PerfectSeparationWarning)
        info["separation"] = separated + [t for t in zi_separated if t not in separated]
        diverged = diverging_sds(self, x)
        info["diverging_sds"] = diverged
        if diverged:
            converged = False
            warn(f"the random-effect standard deviation of {', '.join(map(repr, diverged))} is "
                 f"estimated above {DIVERGED_SD:g} on the link scale (its column of Z scaled "
                 "to root mean square one): the likelihood keeps rising as it grows (the "
                 "groups' outcomes are (quasi-)separated), so it has no finite estimate and "
                 "the fit is not converged; simplify the random effects",
                 ConvergenceWarning)
        elif not converged:
            warn(f"the fit did not converge (max |gradient| {max_grad:.2g}, optimiser: "
                 f"{opt.message}); check the model or try other start values",
                 ConvergenceWarning)
        elif not hess_ok:
            warn("the Hessian is not negative definite at the optimum; standard errors are "
                 "unreliable", ConvergenceWarning)
        res = MixedGLMResults(self, self.to_public(x), cov_pub, llf=llf, state=state,
                              nagq=nagq, converged=converged, mle_retvals=info)
        return MixedGLMResultsWrapper(res)

    # --------------------------------------------------------------- polish
    def _polish(self, x, nagq, bounds, steps=8, tol=1e-8, warm=None, report=None):
        """
        Newton steps on the free parameters from the optimiser's answer.

        The Hessian (differences of the analytic gradient) is computed once
        and reused while steps keep improving the likelihood and each shrinks
        the largest scaled gradient to at most :data:`CHORD_SHRINK` of what it
        was (a chord method), and recomputed when they stop doing so; when a
        parameter comes to be held on a bound (a variance put at zero), the others
        go on with their block of it, its steps checked in the same way.  Its
        fixed-effects block may be approximate (:meth:`_newton_hessian`); such a
        Hessian's steps are checked as those of an old one, and where they fail
        the exact Hessian replaces it.  Where the exact Hessian is not negative
        definite the steps are Levenberg-Marquardt steps (see
        :func:`_ascent_step`) and ``report["flat"]`` is set, when a dict is
        given.  Returns the point, whether it converged, and the last Hessian as
        ``(point, hessian, free_mask, exact)`` so that the fit can reuse an exact
        one for standard errors.
        """
        warm = warm if warm is not None else WarmStart()
        llf, grad, _ = self.loglike_internal(x, nagq, gradient=True, warm=warm)
        if not np.isfinite(llf):
            return x, False, None
        if grad is None:
            grad = self._fd_gradient(x, nagq, warm=warm)
        lo = np.array([b[0] if b[0] is not None else -np.inf for b in bounds])
        T = self._scaling()[0]
        last = None
        first = settling = False  # first: no step taken yet with the Hessian ``last``
        exact_next = False  # an approximate Hessian failed: the next one is exact
        tried = np.zeros(len(x), bool)  # variances tried at zero (see snap_to_zero)
        for k in range(steps + 1):
            if k == steps and not settling:  # one step more to finish a checked last step
                break
            free = self._free_mask(x, bounds)
            if not np.any(free):
                return x, True, last
            gmax = np.max(np.abs((T.T @ grad)[free]))  # the largest scaled gradient
            if gmax < tol:
                return x, True, last
            if (REUSE_ON_BOUND and last is not None and not np.array_equal(last[2], free)
                    and not np.any(free & ~last[2])):
                # parameters newly held on a bound (a variance put at zero): the
                # Hessian of the others is a block of the last one, whose steps are
                # checked as those of an older Hessian
                last, first = (last[0], last[1], free, last[3]), False
            if last is None or not np.array_equal(last[2], free):
                if exact_next:
                    Hn, exact = self.hessian_internal(x, nagq, free, grad=grad, warm=warm), True
                else:
                    Hn, exact = self._newton_hessian(x, nagq, free, grad, warm)
                last, first = (x.copy(), Hn, free, exact), True
            # an exact Hessian's first step is trusted as Newton's; the steps of an
            # approximate one are checked like those of an old one, and its first one in
            # full (no settling on it): how much it shrinks the gradient shows whether the
            # approximation is close enough to go on with
            fresh = first and last[3]
            H = last[1][np.ix_(free, free)]
            sub, newton = _ascent_step(H, grad[free], T[np.ix_(free, free)])
            if not last[3] and (sub is None or not newton):
                last, exact_next = None, True  # only the exact Hessian says it is flat
                continue
            if sub is None:
                return x, False, last
            if not newton and report is not None:
                report["flat"] = True
            step = np.zeros_like(x)
            step[free] = sub
            if grad[free] @ step[free] < 2e-10 and (last[3] or not first):
                # a full Newton step would gain less than 1e-10 in log-likelihood: the
                # point is as good as the gradient's rounding allows (that rounding grows
                # with the number of groups, so a fixed gradient tolerance can be out of
                # reach on large data); the step is still taken, unchecked (the fit
                # evaluates the point it reports), so that fits reaching this optimum
                # from different paths report the same point to far below a standard error.
                # A step with an older Hessian errs in proportion to the Hessian's change:
                # it is taken checked, and the next one unchecked
                if fresh or settling:
                    return np.maximum(x + step, lo), True, last
                settling = True
            improved = False
            x_before = x
            for _ in range(10):
                xn = np.maximum(x + step, lo)
                ln, gn, _ = self.loglike_internal(xn, nagq, gradient=True, warm=warm)
                if np.isfinite(ln) and ln >= llf - 1e-10:
                    x, llf = xn, ln
                    grad = gn if gn is not None else self._fd_gradient(xn, nagq, warm=warm)
                    if not (fresh or settling) and \
                            np.max(np.abs((T.T @ grad)[free])) > CHORD_SHRINK * gmax:
                        # a step with an older Hessian that shrinks the gradient this little
                        # is converging linearly: a Hessian at the new point next (the
                        # exact one, where this one was approximate)
                        exact_next |= not last[3]
                        last = None
                    improved = True
                    break
                step *= 0.5
            if not improved:
                if fresh:
                    return x, False, last
                exact_next |= not last[3]
                last = None  # stale Hessian: recompute at the current point
                continue
            first = False
            # a variance whose maximum is at zero: Newton steps only crawl towards it
            snapped = snap_to_zero(self, x_before, x, llf, nagq, warm, tried)
            if snapped is not None:
                x, llf, grad = snapped  # held at zero from here: a new Hessian next
        free = self._free_mask(x, bounds)
        return x, bool(np.max(np.abs((T.T @ grad)[free])) < tol) if np.any(free) else True, last


def _check_cov_type(cov_type, cov_kwds):
    """``cov_kwds`` as a dict, after checking ``cov_type`` and its keys by name."""
    from ..inference.sandwich import COV_TYPES

    if cov_type not in ("nonrobust",) + tuple(COV_TYPES):
        raise ValueError("cov_type must be one of 'nonrobust', 'robust', 'cluster', "
                         f"got {cov_type!r}")
    if cov_kwds is not None and not isinstance(cov_kwds, dict):
        raise TypeError(f"cov_kwds must be a dict, got {type(cov_kwds).__name__}")
    cov_kwds = dict(cov_kwds or {})
    unknown = sorted(set(cov_kwds) - {"groups", "use_correction"})
    if unknown:
        raise ValueError(f"cov_kwds: unknown key(s) {', '.join(map(repr, unknown))}; "
                         "accepted: 'groups', 'use_correction'")
    if cov_kwds and cov_type == "nonrobust":
        raise ValueError("cov_kwds applies to cov_type='robust' or 'cluster' only")
    return cov_kwds


def _use_robust_cov(res, cov_type, cov_kwds):
    """Replace the covariance of ``res`` by the sandwich (in place)."""
    from ..inference.sandwich import robust_cov

    V = robust_cov(res, cov_type, groups=cov_kwds.get("groups"),
                   use_correction=bool(cov_kwds.get("use_correction", False)))
    inner = getattr(res, "_results", res)
    inner.normalized_cov_params = V.to_numpy()
    for name in ("bse", "bse_fe", "tvalues", "pvalues"):  # cached from the Hessian
        inner.__dict__.pop(name, None)
    inner._cache = {}
    inner.cov_type = cov_type
    inner.cov_kwds = dict(V.attrs)
