"""
MixedGLM: generalized linear mixed models fitted by maximum likelihood.

.. math::

    g(E[y_{it} \\mid b_i]) = x_{it}'\\beta + z_{it}'b_i, \\qquad b_i \\sim N(0, G).

The marginal likelihood integrates the random effects out, by the Laplace
approximation (``nagq=1``, the default) or adaptive Gauss-Hermite quadrature
(``nagq > 1``).  Parameters are laid out as ``[beta, covariance, family]``:
fixed effects first, then the variances and covariances of ``G``, then
family parameters (dispersion, zero-inflation coefficients, thresholds).

:class:`MixedGLM` builds the model and evaluates the likelihood; its parameter
layout, fit and prediction rows come from the mixins of :mod:`.layout`,
:mod:`.fitting` and :mod:`.rows`.
"""

import copy

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.base.model import LikelihoodModel

from ..exceptions import warn
from ..spec.covariance import CovStructure
from ..spec.design import build_design, design_from_arrays
from ..families import as_response
from ..likelihood.laplace import laplace_loglike
from ..likelihood.parallel import blas_single_thread
from ..likelihood.warm_start import WarmStart
from .bayes_fit import BayesFitMixin
from .fitting import FittingMixin
from .missing_data import MissingDataModelMixin
from .layout import LayoutMixin
from .rows import RowsMixin

__all__ = ["MixedGLM", "mixedglm"]


class MixedGLM(LayoutMixin, FittingMixin, RowsMixin, BayesFitMixin, MissingDataModelMixin,
               LikelihoodModel):
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
            if family is None:
                warn_binary_gaussian(design.y, design.endog_name)
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
        # an intercept-only ordinal model has no columns, where older statsmodels
        # cannot look for a constant
        kw = {"hasconst": False} if exog_df.shape[1] == 0 else {}
        super().__init__(endog_s, exog_df, missing="none", **kw)
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
            from ..families.zeroinflated import ZeroInflated

            response = ZeroInflated(response, zi_formula)
        extra = kwargs.pop("extra_formulas", None)
        extra = {**(extra or {}), **response.extra_formulas()} or None
        design = build_design(formula, data, response, groups=groups, re_formula=re_formula,
                              offset=offset, exposure=exposure, extra_formulas=extra,
                              missing=missing, formula_engine=formula_engine,
                              vc_formula=vc_formula)
        if family is None:
            warn_binary_gaussian(design.y, design.endog_name)
        model = cls(None, None, None, family=response, design=design, **kwargs)
        model.data.frame = data  # the user's frame, as statsmodels' formula models keep it
        return model

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
            from ..likelihood.quadrature import make_agq_loglike

            cache[nagq] = make_agq_loglike(nagq, self.design.Z.shape[1])
        return cache[nagq]

    def sparse_problem(self):
        """The joint-Laplace problem of a model with several grouping factors (built once)."""
        pr = self.__dict__.get("_sparse_problem")
        if pr is None:
            from ..likelihood.sparse_laplace import SparseLaplaceProblem

            d = self.design
            pr = SparseLaplaceProblem(d.y, d.X, d.offset, d.terms)
            self.__dict__["_sparse_problem"] = pr
        return pr

    def _sparse_loglike(self, design, family, cov, beta, theta, extra, u0=None, gradient=True):
        """Laplace log-likelihood over all grouping factors (see :mod:`sparse_laplace`)."""
        from ..likelihood.sparse_laplace import sparse_laplace_loglike

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
            u0 = store.start()
        # BLAS on one thread, as in a fit: the factorisations here are small, and BLAS
        # threads cost more than they give (large blocks ask for threads themselves)
        with blas_single_thread():
            llf, grad, state = fn(self.design, self.response, self.cov_struct, beta, theta,
                                  extra, u0=u0, gradient=gradient)
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


def warn_binary_gaussian(y, endog_name):
    """
    Warn that a response holding only the values 0 and 1 is fitted by a Gaussian
    linear mixed model because no family was given (as lme4 points out when
    ``lmer`` gets a binary response).

    >>> import numpy as np, warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_binary_gaussian(np.array([0.0, 1.0, 1.0]), "y")
    >>> caught[0].category.__name__
    'UserWarning'
    """
    y = np.asarray(y, dtype=float).ravel()
    if len(y) == 0 or not np.all((y == 0) | (y == 1)) or y.min() == y.max():
        return
    warn(binary_gaussian_message(endog_name), UserWarning)


def binary_gaussian_message(endog_name):
    """The warning of :func:`warn_binary_gaussian`."""
    return (f"response {endog_name!r} has only the values 0 and 1, but no family was given, "
            "so the Gaussian default fits a linear mixed model; for a binary outcome pass "
            "family=sm.families.Binomial() (pass family=sm.families.Gaussian() to fit the "
            "linear model without this warning)")


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
