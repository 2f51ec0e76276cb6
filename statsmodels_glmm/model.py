"""
MixedGLM: generalized linear mixed models fitted by maximum likelihood.

.. math::

    g(E[y_{it} \\mid b_i]) = x_{it}'\\beta + z_{it}'b_i, \\qquad b_i \\sim N(0, G).

The marginal likelihood integrates the random effects out, by the Laplace
approximation (``nagq=1``, the default) or adaptive Gauss-Hermite quadrature
(``nagq > 1``).  Parameters are laid out as ``[beta, covariance, family]``:
fixed effects first, then the variances and covariances of ``G``, then
family parameters (dispersion, zero-inflation coefficients, thresholds).
"""

import copy
import warnings

import numpy as np
import pandas as pd
import scipy
from scipy import optimize
import statsmodels.api as sm
from statsmodels.base.model import LikelihoodModel
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

from .spec.covariance import CovStructure
from .spec.design import build_design, design_from_arrays
from .families import as_response
from .likelihood.laplace import laplace_loglike
from .likelihood.parallel import blas_single_thread
from .likelihood.warm_start import WarmStart
from .likelihood.start import START_TOL, glm_start

__all__ = ["MixedGLM", "mixedglm"]


#: the optimisers of ``fit(method=...)``, in the order retries try them
_METHODS = {"lbfgs": "L-BFGS-B", "bfgs": "BFGS", "newton": "Newton", "nm": "Nelder-Mead"}

# BFGS takes a starting inverse Hessian from scipy 1.11 on
_BFGS_HESS_INV0 = tuple(int(v) for v in scipy.__version__.split(".")[:2]) >= (1, 11)


def _whole_number(value, name, lowest, meaning=""):
    """``value`` as an int >= lowest, or a ValueError naming the argument."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok and isinstance(value, (float, np.floating)) and float(value).is_integer():
        ok = True
    if not ok or int(value) < lowest:
        extra = f" ({meaning})" if meaning else ""
        raise ValueError(f"{name} must be a whole number >= {lowest}{extra}, got {value!r}")
    return int(value)


class MixedGLM(LikelihoodModel):
    """
    Generalized linear mixed model with one grouping factor.

    Parameters
    ----------
    endog : array-like
        Response: 0/1, counts, two columns (successes, failures) for binomial
        data, or what the family accepts.
    exog : array-like
        Fixed-effects design (include a constant column for an intercept).
    groups : array-like
        Group label of every row.
    exog_re : array-like, optional
        Random-effects design; default a random intercept.
    family : statsmodels family or statsmodels_glmm family
        ``sm.families.Binomial()`` (logit, probit, cloglog),
        ``sm.families.Poisson()``, ``sm.families.Gaussian()``, ...
    offset, exposure : array-like, optional
        As in statsmodels' GLM (``exposure`` enters as ``log(exposure)``).
    missing : {"drop", "raise"}
        Rows with missing values are dropped (and counted) or refused.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=100, seed=3)
    >>> res = smg.mixedglm("y ~ time + group + (1 | id)", df,
    ...                    family=sm.families.Binomial()).fit()
    >>> res.converged
    True
    >>> list(res.params.index)
    ['Intercept', 'time', 'group', 'id Intercept Var']
    """

    def __init__(self, endog, exog, groups, exog_re=None, family=None, offset=None,
                 exposure=None, missing="drop", **kwargs):
        design = kwargs.pop("design", None)
        if "weights" in kwargs or "freq_weights" in kwargs or "var_weights" in kwargs:
            raise ValueError("observation weights are not supported; for binomial data with "
                             "several trials per row give successes and failures as two "
                             "response columns")
        if kwargs:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        response = as_response(family if family is not None else sm.families.Gaussian())
        # a model owns its family object: families keep data-dependent state (levels)
        self.response = response if design is not None else copy.deepcopy(response)
        self.family = self.response.sm_family or self.response
        if design is None:
            design = design_from_arrays(endog, exog, groups, exog_re, self.response,
                                        offset=offset, exposure=exposure, missing=missing)
        self.design = design
        self.multi = design.multi
        self.cov_struct = CovStructure(design.blocks, design.re_names,
                                       design.re_groups or design.group_name)
        rms_z = np.sqrt(np.mean(design.Z ** 2, axis=0))
        self.cov_struct.row_scale = np.where(rms_z > 0, rms_z, 1.0)
        self.k_fe = design.X.shape[1]
        self.k_re = self.cov_struct.n_params
        # the family and design the model fits with (new objects; the arguments are
        # not modified): a family may need more than the response, e.g. a second design
        self.response, design = self.response.bind(design)
        self.design = design
        self.k_extra = self.response.n_extra  # after bind: it may size the family
        exog_df = pd.DataFrame(design.unsort(design.X), columns=design.exog_names,
                               index=design.row_index)
        endog_val = design.unsort(self.response.response_value(design.y))
        endog_s = pd.Series(endog_val, index=design.row_index, name=design.endog_name)
        super().__init__(endog_s, exog_df, missing="none")
        self.data.param_names = self.param_names
        self.nobs = design.nobs
        self.n_groups = design.n_groups
        self.formula = design.formula
        #: the modes of the last fit, for callers that ask for them with ``warm=True``
        self.warm_start = WarmStart()

    # --------------------------------------------------------------- build
    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_integrators", None)  # closures; rebuilt on demand
        state.pop("_sparse_problem", None)  # symbolic analysis; rebuilt on demand
        return state

    @classmethod
    def from_formula(cls, formula, data, family=None, groups=None, re_formula=None,
                     offset=None, exposure=None, missing="drop", formula_engine=None,
                     zi_formula=None, vc_formula=None, *args, **kwargs):
        """
        Create a model from an lme4-style or statsmodels-style formula.

        Parameters
        ----------
        formula : str
            ``"y ~ x + (1 + time | id)"``; or ``"y ~ x"`` with ``groups=`` and
            ``re_formula=`` as in ``smf.mixedlm``.
        data : DataFrame
        family : family instance
        groups : str, optional
            Grouping column when the formula has no bar term.
        re_formula : str, optional
            Random-effects formula for ``groups`` (default ``"~1"``).
        offset, exposure : str or array-like, optional
            Column names or arrays aligned with ``data``.
        missing : {"drop", "raise"}
        formula_engine : {"patsy", "formulaic"}, optional
        zi_formula : str, optional
            Right-hand side of a logistic model for structural zeros
            (``"~1"`` for a constant probability); count families only.
        vc_formula : dict of str, optional
            Variance components nested in ``groups``, as in ``smf.mixedlm``:
            ``{"clinic": "0 + C(clinic)"}`` is the term ``(1 | groups:clinic)``.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> from statsmodels_glmm.simulate import simulate_longitudinal
        >>> df = simulate_longitudinal("poisson", n_persons=40, seed=2)
        >>> m = MixedGLM.from_formula("y ~ time", df, groups="id", re_formula="~time",
        ...                           family=sm.families.Poisson())
        >>> m.param_names
        ['Intercept', 'time', 'id Intercept Var', 'id Intercept x time Cov', 'id time Var']
        """
        for accepts, build in _DATA_BACKENDS:
            if accepts(data):
                return build(cls, formula, data, family=family, groups=groups,
                             re_formula=re_formula, offset=offset, exposure=exposure,
                             missing=missing, formula_engine=formula_engine,
                             zi_formula=zi_formula, vc_formula=vc_formula, **kwargs)
        response = copy.deepcopy(
            as_response(family if family is not None else sm.families.Gaussian()))
        if zi_formula is not None:
            from .families.zeroinflated import ZeroInflated

            response = ZeroInflated(response, zi_formula)
        extra = kwargs.pop("extra_formulas", None)
        extra = {**(extra or {}), **response.extra_formulas()} or None
        design = build_design(formula, data, response, groups=groups, re_formula=re_formula,
                              offset=offset, exposure=exposure, extra_formulas=extra,
                              missing=missing, formula_engine=formula_engine,
                              vc_formula=vc_formula)
        return cls(None, None, None, family=response, design=design, **kwargs)

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

    # ---------------------------------------------------------- likelihood
    def _integrator(self, nagq):
        """The marginal log-likelihood function for ``nagq`` nodes (1: Laplace)."""
        if self.multi:
            if nagq != 1:
                raise ValueError(
                    f"adaptive quadrature (nagq={nagq}) needs a single grouping factor; this "
                    f"model has several ({', '.join(self.design.factors)}): use the Laplace "
                    "approximation (nagq=1)")
            return self._sparse_loglike
        if nagq == 1:
            return laplace_loglike
        cache = self.__dict__.setdefault("_integrators", {})
        if nagq not in cache:
            from .likelihood.quadrature import make_agq_loglike

            cache[nagq] = make_agq_loglike(nagq, self.design.Z.shape[1])
        return cache[nagq]

    def sparse_problem(self):
        """The joint-Laplace problem of a model with several grouping factors (built once)."""
        pr = self.__dict__.get("_sparse_problem")
        if pr is None:
            from .likelihood.sparse_laplace import SparseLaplaceProblem

            d = self.design
            pr = SparseLaplaceProblem(d.y, d.X, d.offset, d.terms)
            self.__dict__["_sparse_problem"] = pr
        return pr

    def _sparse_loglike(self, design, family, cov, beta, theta, extra, u0=None, gradient=True):
        """Laplace log-likelihood over all grouping factors (see :mod:`sparse_laplace`)."""
        from .likelihood.sparse_laplace import sparse_laplace_loglike

        return sparse_laplace_loglike(self.sparse_problem(), family, beta, theta, extra,
                                      u0=u0, gradient=gradient)

    def loglike_internal(self, internal, nagq=1, gradient=False, warm=None):
        """
        Marginal log-likelihood (and gradient) at internal parameters.

        The evaluation is pure: the conditional modes start from zero unless a
        :class:`WarmStart` is passed as ``warm``; its modes are the starting
        values and it then holds the modes found (explicit state in and out).
        ``warm=True`` uses the model's own :attr:`warm_start`.

        Returns ``(llf, gradient or None, state)``.
        """
        internal = np.asarray(internal, dtype=float)
        store = self.warm_start if warm is True else (warm or None)
        last = store.last if store is not None else None
        if (last is not None and last[0] == nagq and last[1].shape == internal.shape
                and np.array_equal(last[1], internal) and (last[3] is not None or not gradient)):
            # the optimiser, the Newton polish and the results ask for the same point
            # more than once: the evaluation is pure, so its answer is reused
            return last[2], (last[3].copy() if gradient else None), last[4]
        beta, theta, extra = self._split(internal)
        fn = self._integrator(nagq)
        u0 = None
        if store is not None:
            u0 = store.u if self.multi else store.start()
        llf, grad, state = fn(self.design, self.response, self.cov_struct, beta, theta, extra,
                              u0=u0, gradient=gradient)
        if store is not None:
            store.update(llf, state)
            store.last = (nagq, internal.copy(), llf, None if grad is None else grad.copy(),
                          state)
        return llf, grad, state

    def loglike(self, params, nagq=1):
        """
        Marginal log-likelihood at the reported parameters.

        Every normalising constant is kept, so values compare across
        families and with glmmTMB.
        """
        return self.loglike_internal(self.to_internal(params), nagq=nagq)[0]

    def score(self, params, nagq=1):
        """Gradient of :meth:`loglike` with respect to the reported parameters."""
        internal = self.to_internal(params)
        g = self._gradient(internal, nagq)
        J = self.public_jacobian(internal)
        return np.linalg.lstsq(J.T, g, rcond=None)[0]

    def _gradient(self, internal, nagq, warm=None):
        llf, grad, _ = self.loglike_internal(internal, nagq, gradient=True, warm=warm)
        if grad is None:
            grad = self._fd_gradient(internal, nagq, warm=warm)
        return grad

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

    def _fd_gradient(self, internal, nagq, free=None, warm=None):
        warm = warm if warm is not None else WarmStart()
        typical = self._typical_sizes()
        n = len(internal)
        g = np.zeros(n)
        for j in range(n):
            if free is not None and not free[j]:
                continue
            h = 1e-5 * max(typical[j], abs(internal[j]))
            e = np.zeros(n)
            e[j] = h
            fp = self.loglike_internal(internal + e, nagq, warm=warm)[0]
            fm = self.loglike_internal(internal - e, nagq, warm=warm)[0]
            g[j] = (fp - fm) / (2 * h)
        return g

    def hessian_internal(self, internal, nagq=1, free=None, central=False, grad=None,
                         warm=None):
        """
        Hessian of the log-likelihood by differences of the gradient.

        Forward differences (one gradient per free parameter) by default;
        ``central=True`` doubles the cost for O(h^2) accuracy.  ``grad`` is the
        gradient at ``internal`` when the caller already has it.
        """
        warm = warm if warm is not None else WarmStart()
        n = len(internal)
        typical = self._typical_sizes()
        free = np.ones(n, bool) if free is None else free
        Hs = np.zeros((n, n))
        p = self.k_fe
        closed = self._beta_hessian(internal, nagq, warm) if p and np.all(free[:p]) else None
        g0 = None if central else (grad if grad is not None
                                   else self._gradient(internal, nagq, warm=warm))
        columns = np.flatnonzero(free)
        if closed is not None:
            columns = columns[columns >= p]
        for j in columns:
            h = (1e-4 if central else 1e-5) * max(typical[j], abs(internal[j]))
            e = np.zeros(n)
            e[j] = h
            gp = self._gradient(internal + e, nagq, warm=warm)
            gm = self._gradient(internal - e, nagq, warm=warm) if central else g0
            Hs[:, j] = (gp - gm) / ((2 if central else 1) * h)
        if closed is not None:
            # the fixed-effects rows of the difference columns give the cross block
            Hs[p:, :p] = Hs[:p, p:].T
            Hs[:p, :p] = closed
        Hs = 0.5 * (Hs + Hs.T)
        return Hs

    def _beta_hessian(self, internal, nagq, warm):
        """
        The fixed-effects block of the Laplace Hessian in closed form (see
        :mod:`.laplace_hessian`), or None where it does not apply (quadrature,
        several grouping factors, families without a fourth derivative).
        """
        from .likelihood.laplace import ModeState
        from .likelihood.laplace_hessian import has_closed_form, laplace_beta_hessian

        if nagq != 1 or self.multi or not has_closed_form(self.response):
            return None
        llf, _, state = self.loglike_internal(internal, nagq, warm=warm)
        if not (np.isfinite(llf) and isinstance(state, ModeState) and state.converged):
            return None
        beta, theta, extra = self._split(internal)
        return laplace_beta_hessian(self.design, self.response, beta,
                                    self.cov_struct.chol(theta), extra, state)

    # --------------------------------------------------------------- start
    def _start_internal(self):
        d, resp = self.design, self.response
        beta = np.zeros(self.k_fe)
        given = resp.start_beta(d)
        if given is not None:
            beta = given
        elif self.k_fe:
            beta = glm_start(resp, d.X, d.y, d.offset, tol=START_TOL)
            if not np.all(np.isfinite(beta)):
                beta = np.zeros(self.k_fe)
        eta = d.X @ beta + d.offset
        extra = resp.start_extra(d.y, eta)
        # L = I on the scale of the scaled Z columns (see _scaling)
        theta = self.cov_struct.start(1.0) * np.diag(self._scaling()[0])[
            self.k_fe:self.k_fe + self.k_re]
        return np.concatenate([beta, theta, np.asarray(extra, dtype=float)])

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

    def _bounds(self):
        eb = self.response.extra_bounds()
        return [(None, None)] * self.k_fe + self.cov_struct.lower_bounds() + list(eb)

    # ----------------------------------------------------------------- fit
    def fit(self, nagq=1, start_params=None, maxiter=1000, gtol=1e-2, disp=False,
            polish=True, check_laplace=True, method="lbfgs", retry=True, **kwargs):
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
        disp : bool
            Print optimiser progress.
        polish : bool
            Finish with Newton steps on the analytic gradient (default True).
        check_laplace : bool
            After a Laplace fit, evaluate the log-likelihood at the estimates
            by a small adaptive quadrature rule and warn (and note in the
            summary) when it differs from the Laplace value by more than
            :func:`~statsmodels_glmm.checks.approximation.guard_threshold`; the
            result is in ``mle_retvals["laplace_check"]``.  Costs about one
            likelihood evaluation with 5 (q = 1, 2) or 3 (q = 3) nodes per
            dimension.  Default True.
        method : {"lbfgs", "bfgs", "newton", "nm"}
            The optimiser, as in statsmodels: L-BFGS-B (default, respects the
            bounds of family parameters), BFGS, Newton's method on the analytic
            gradient with a Hessian from its differences, or Nelder-Mead (no
            derivatives).  Every method works on centred and scaled columns and
            is finished by Newton steps when ``polish``.
        retry : bool
            When the fit does not converge, refit with the other optimisers in
            turn and keep the best converged answer (default True); the summary
            and ``mle_retvals["attempts"]`` say what was tried.

        Returns
        -------
        MixedGLMResults

        Examples
        --------
        >>> import statsmodels.api as sm
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
        # the linear algebra of a fit is many small products and factorisations, for
        # which BLAS threads cost more than they give (parallel.py spreads large
        # data over groups instead)
        if method not in _METHODS:
            raise ValueError(f"method must be one of {', '.join(map(repr, _METHODS))}, "
                             f"got {method!r}")
        order = [method] + ([m for m in _METHODS if m != method] if retry else [])
        attempts = []
        best = None
        with blas_single_thread():
            for k, meth in enumerate(order):
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    res = self._fit(nagq, start_params, maxiter, gtol, disp, polish,
                                    check_laplace, meth)
                attempts.append(dict(method=meth, converged=res.converged, llf=res.llf,
                                     message=res.mle_retvals["message"]))
                if best is None or (res.converged and not best[0].converged) or (
                        res.converged == best[0].converged and res.llf > best[0].llf + 1e-8):
                    best = (res, caught)
                if best[0].converged:
                    break
        res, caught = best
        res.mle_retvals["attempts"] = attempts
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
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
            return val, -(T.T @ grad) / scale

        xs0 = [Tinv @ x0]
        opts = {"disp": True} if disp else {}

        def run(start):
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
                                      options=dict(maxiter=maxiter, gtol=gtol / scale, **opts))
                o.x = np.maximum(T @ o.x, [b[0] if b[0] is not None else -np.inf
                                           for b in bounds])
                return o
            if hess_inv0 is not None:
                o = optimize.minimize(f, xs0[0], jac=True, method="BFGS",
                                      options=dict(maxiter=maxiter, gtol=gtol / scale,
                                                   hess_inv0=hess_inv0, **opts))
                o.method_used = "BFGS from the Laplace fit's Hessian"
            else:
                o = optimize.minimize(f, xs0[0], jac=True, method="L-BFGS-B", bounds=bounds,
                                      options=dict(maxiter=maxiter, gtol=gtol / scale,
                                                   ftol=1e-15, maxcor=20, **opts))
            o.x = T @ o.x
            return o

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            opt = run(x0)
            x = self._canonical(opt.x)
            # a zero diagonal of L is always a stationary point (the likelihood is even
            # in it): restart from a positive value to make sure it is a maximum
            small = np.flatnonzero(self._theta_mask() & (np.abs(Tinv @ x) < 1e-3))
            if len(small):
                x1 = Tinv @ x
                x1[small] = 0.3
                opt1 = run(T @ x1)
                if opt1.fun < opt.fun - 1e-9:
                    opt, x = opt1, self._canonical(opt1.x)
            if polish:
                x, polish_ok, hess_at = self._polish(x, nagq, bounds, warm=warm)
            else:
                polish_ok, hess_at = False, None
            x = self._canonical(x)
        llf, grad, state = self.loglike_internal(x, nagq, gradient=True, warm=warm)
        if grad is None:
            grad = self._fd_gradient(x, nagq, warm=warm)
        guard = None
        if nagq == 1 and check_laplace and np.isfinite(llf):
            from .checks.approximation import laplace_guard

            guard = laplace_guard(self, x, llf, warm=WarmStart(warm.u))
        if np.isfinite(llf) and state.converged:
            self.warm_start.u = warm.u
        return self._results(x, llf, grad, state, nagq, bounds, hess_at, opt, polish_ok, guard,
                             warm, method)

    def _results(self, x, llf, grad, state, nagq, bounds, hess_at, opt, polish_ok, guard=None,
                 warm=None, method="lbfgs"):
        """Standard errors from the Hessian, convergence checks, and the results object."""
        from .results import MixedGLMResults, MixedGLMResultsWrapper

        free = self._free_mask(x, bounds)
        if hess_at is not None and np.array_equal(hess_at[2], free) and \
                np.max(np.abs(hess_at[0] - x)) < 1e-3:
            hess = hess_at[1]  # the last Newton step was negligible: reuse its Hessian
        else:
            hess = self.hessian_internal(x, nagq, free, grad=grad, warm=warm)
        cov_int = np.full((len(x), len(x)), np.nan)
        hess_ok = True
        sub = -hess[np.ix_(free, free)]
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
        if guard is not None and guard["flagged"]:
            from .exceptions import LaplaceAccuracyWarning

            warnings.warn(
                f"the Laplace approximation looks inaccurate here: at the estimates, "
                f"{guard['nagq']}-node adaptive quadrature gives a log-likelihood "
                f"{guard['difference']:+.2f} from Laplace's (tolerance "
                f"{guard['threshold']:.2f}); run res.check_approximation() or refit with "
                "fit(nagq=...)", LaplaceAccuracyWarning, stacklevel=3)
        separated = separation_terms(self, self.to_public(x))
        if separated:
            warnings.warn(
                "the outcome may be (quasi-)completely separated by "
                f"{', '.join(repr(t) for t in separated)}: these estimates and their "
                "standard errors are not reliable", PerfectSeparationWarning, stacklevel=3)
        info["separation"] = separated
        if not converged:
            warnings.warn(
                f"the fit did not converge (max |gradient| {max_grad:.2g}, optimiser: "
                f"{opt.message}); check the model or try other start values", ConvergenceWarning)
        elif not hess_ok:
            warnings.warn("the Hessian is not negative definite at the optimum; standard "
                          "errors are unreliable", ConvergenceWarning)
        res = MixedGLMResults(self, self.to_public(x), cov_pub, llf=llf, state=state,
                              nagq=nagq, converged=converged, mle_retvals=info)
        return MixedGLMResultsWrapper(res)

    def _theta_mask(self):
        """True at the diagonal entries of L within the internal vector."""
        mask = np.zeros(self.k_fe + self.k_re + self.k_extra, bool)
        mask[self.k_fe:self.k_fe + self.k_re] = self.cov_struct.is_diag
        return mask

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

    def _polish(self, x, nagq, bounds, steps=8, tol=1e-8, warm=None):
        """
        Newton steps on the free parameters from the optimiser's answer.

        The Hessian (differences of the analytic gradient) is computed once
        and reused while steps keep improving the likelihood (a chord
        method), and recomputed when they stop doing so.  Returns the point,
        whether it converged, and the last Hessian as ``(point, hessian,
        free_mask)`` so that the fit can reuse it for standard errors.
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
        fresh = False
        for _ in range(steps):
            free = self._free_mask(x, bounds)
            if not np.any(free) or np.max(np.abs((T.T @ grad)[free])) < tol:
                return x, True, last
            if last is None or not np.array_equal(last[2], free):
                last = (x.copy(), self.hessian_internal(x, nagq, free, grad=grad, warm=warm),
                        free)
                fresh = True
            H = last[1][np.ix_(free, free)]
            try:
                np.linalg.cholesky(-H)
            except np.linalg.LinAlgError:
                return x, False, last
            step = np.zeros_like(x)
            step[free] = np.linalg.solve(-H, grad[free])
            if grad[free] @ step[free] < 2e-10:
                # a full Newton step would gain less than 1e-10 in log-likelihood: the
                # point is as good as the gradient's rounding allows (that rounding grows
                # with the number of groups, so a fixed gradient tolerance can be out of
                # reach on large data)
                return x, True, last
            improved = False
            for _ in range(10):
                xn = np.maximum(x + step, lo)
                ln, gn, _ = self.loglike_internal(xn, nagq, gradient=True, warm=warm)
                if np.isfinite(ln) and ln >= llf - 1e-10:
                    x, llf = xn, ln
                    grad = gn if gn is not None else self._fd_gradient(xn, nagq, warm=warm)
                    improved = True
                    break
                step *= 0.5
            if not improved:
                if fresh:
                    return x, False, last
                last = None  # stale Hessian: recompute at the current point
                continue
            fresh = False
        free = self._free_mask(x, bounds)
        return x, bool(np.max(np.abs((T.T @ grad)[free])) < tol) if np.any(free) else True, last

    # ----------------------------------------------------------- prediction
    def _rows_for(self, data, need_groups=True):
        """
        X, Z, offset, group labels and extra designs for new data (formula models).

        The grouping column is needed only when ``need_groups`` (conditional
        predictions); without it the labels are None.
        """
        from .spec.design import _prepare_frame, group_columns, group_values, materialize

        d = self.design
        mgr = d.extra.get("formula_manager")
        if mgr is None:
            raise ValueError("predicting from new data needs a model built with from_formula; "
                             "pass exog/exog_re/groups arrays instead")
        if not isinstance(data, pd.DataFrame):
            raise ValueError("data must be a pandas DataFrame")
        spec_data = d.extra.get("spec_data")
        used = [c for c in (spec_data.columns if spec_data is not None else [])
                if c in data.columns]
        data = _prepare_frame(data, used)
        Xdf = materialize(d.fixed_spec, data, mgr)
        Xdf.columns = [str(c) for c in Xdf.columns]
        # the columns the fit kept (an ordinal model drops the intercept, collinear
        # columns are dropped)
        X = Xdf[d.extra.get("fixed_columns", d.exog_names)].to_numpy(dtype=float)
        Z = np.column_stack([materialize(s, data, mgr).to_numpy(dtype=float) for s in d.re_spec])
        gcols = d.extra.get("group_columns") or d.group_name.split(":")
        absent = [g for g in gcols if g not in data.columns]
        if absent and need_groups:
            raise ValueError(f"grouping column {absent[0]!r} is not in data; conditional "
                             "predictions need it (random_effects='zero' or 'marginal' "
                             "do not)")
        if absent:
            labels = None
        elif self.multi:
            labels = {f: group_values(data, group_columns(f, data)).to_numpy()
                      for f in d.factors}
        else:
            labels = group_values(data, group_columns(d.group_name, data)).to_numpy()
        offset = np.zeros(len(data))
        for key, fn in (("offset", lambda v: v), ("exposure", np.log)):
            spec = d.extra.get(key)
            if isinstance(spec, str):
                if spec not in data.columns:
                    raise ValueError(f"{key} column {spec!r} is not in data")
                offset = offset + fn(data[spec].to_numpy(dtype=float))
        extras = {}
        for key, val in d.extra.items():
            if isinstance(val, tuple) and len(val) == 3:
                extras[key] = materialize(val[2], data, mgr).to_numpy(dtype=float)
        return X, Z, offset, labels, extras

    def group_positions(self, labels, warn=True, factor=None):
        """
        Index of each label among the fitted groups (-1 for a group not in the fit).

        Labels are matched by value; where that finds nothing, by their text, so
        that ids read as strings find the groups fitted with integer ids (and the
        reverse) when the text form is unambiguous.  A warning counts the rows
        whose group was not in the fit (their random effects are zero).

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("binary", n_persons=30, seed=2)
        >>> m = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial())
        >>> m.group_positions(np.array(["1", "2", "30"])).tolist()
        [0, 1, 29]
        """
        d = self.design
        fitted_labels = d.group_labels
        factor = d.group_name if factor is None else factor
        if d.multi:
            fitted_labels = next(t.labels for t in d.terms if t.group == factor)
        fitted = pd.Index(fitted_labels)
        labels = np.asarray(labels)
        pos = fitted.get_indexer(labels)
        if np.any(pos < 0):
            text = pd.Index([str(v) for v in fitted_labels])
            if text.is_unique:
                alt = text.get_indexer([str(v) for v in labels])
                pos = np.where(pos < 0, alt, pos)
        unseen = pos < 0
        if warn and np.any(unseen):
            n_groups = len(pd.unique(labels[unseen]))
            warnings.warn(
                f"{int(unseen.sum())} row(s) of new data belong to {n_groups} group(s) of "
                f"{factor!r} that were not in the fit: their random effects "
                "are set to zero", UserWarning, stacklevel=3)
        return pos


def _column_stats(model):
    """
    Mean, standard deviation, minimum and maximum of every column of the
    model's ``X`` (a pass each, without temporaries the size of ``X``; kept on
    the model).
    """
    hit = model.__dict__.get("_colstats")
    if hit is not None:
        return hit
    X = model.design.X
    if len(X) == 0:  # a model whose rows live elsewhere (Dask): nothing to measure here
        z = np.zeros(X.shape[1])
        return z, z, z, z
    n = len(X)
    mean = np.ones(n) @ X / n
    lo, hi = X.min(0), X.max(0)
    var = np.maximum(np.einsum("ij,ij->j", X, X) / n - mean * mean, 0.0)
    # where the mean dwarfs the spread the short formula loses digits: two passes
    fix = (lo != hi) & (var <= 1e-8 * mean * mean)
    if np.any(fix):
        var[fix] = X[:, fix].var(0)
    sd = np.where(lo == hi, 0.0, np.sqrt(var))
    out = model.__dict__["_colstats"] = (mean, sd, lo, hi)
    return out


def separation_terms(model, params):
    """
    Fixed-effect columns that (quasi-)completely separate a binomial outcome.

    A column is named when, at the estimates, its coefficient times its
    standard deviation exceeds 10 (a change of 10 on the logit scale across
    one SD: the likelihood is still rising towards an infinite estimate), or
    when it takes two values and the outcome never varies among the rows
    with one of them (every trial a failure, or every trial a success).

    Examples
    --------
    >>> import numpy as np, pandas as pd, statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=1)
    >>> df["flag"] = (np.arange(len(df)) % 7 == 0).astype(float)
    >>> df.loc[df["flag"] == 1, "y"] = 1
    >>> m = smg.mixedglm("y ~ time + flag + (1 | id)", df, family=sm.families.Binomial())
    >>> separation_terms(m, np.zeros(len(m.param_names)))
    ['flag']
    """
    if model.response.name != "Binomial" or not model.k_fe:
        return []
    d = model.design
    X = d.X
    beta = np.asarray(params, dtype=float)[:model.k_fe]
    _, spread, lo, hi = _column_stats(model)
    out = [n for n, b, sd in zip(model.exog_names, beta, spread) if sd > 0 and abs(b) * sd > 10]
    s, n = d.y[:, 0], d.y[:, 1]
    for j, name in enumerate(model.exog_names):
        if name in out or lo[j] == hi[j]:
            continue
        col = X[:, j]
        if not np.all((col == lo[j]) | (col == hi[j])):
            continue  # more than two values
        for v in (lo[j], hi[j]):
            rows = col == v
            if np.all(s[rows] == 0) or np.all(s[rows] == n[rows]):
                out.append(name)
                break
    return out


#: Builders for data that are not a pandas DataFrame, as ``(accepts, build)`` pairs.
#: The layers above register theirs (``statsmodels_glmm.distributed`` registers Dask
#: DataFrames when the package is imported), so this module imports none of them.
_DATA_BACKENDS = []


def register_data_backend(accepts, build):
    """
    Let :meth:`MixedGLM.from_formula` hand data that ``accepts(data)`` to ``build``.

    ``build(cls, formula, data, **kwargs)`` receives the arguments of
    ``from_formula`` and returns a model.  Registering the same pair twice has
    no effect.

    >>> register_data_backend(lambda d: False, lambda cls, f, d, **kw: None)
    >>> _DATA_BACKENDS.pop()[0](None)
    False
    """
    if (accepts, build) not in _DATA_BACKENDS:
        _DATA_BACKENDS.append((accepts, build))


def mixedglm(formula, data, family=None, groups=None, re_formula=None, **kwargs):
    """
    Create a :class:`MixedGLM` from a formula (like ``smf.mixedlm``).

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=5)
    >>> model = smg.mixedglm("y ~ time * group + (1 + time | id)", df,
    ...                      family=sm.families.Binomial())
    >>> model.k_fe, model.k_re
    (4, 3)
    """
    return MixedGLM.from_formula(formula, data, family=family, groups=groups,
                                 re_formula=re_formula, **kwargs)
