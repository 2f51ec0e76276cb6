"""
The results class of a MixedGLM fit, :class:`MixedGLMResults`, and its wrapper.

The class joins the parts of this package: estimates, likelihood and degrees of
freedom here; Wald statistics (:mod:`.wald`), random effects
(:mod:`.random_effects`), predictions and residuals (:mod:`.prediction`),
summaries (:mod:`.summary`) and ``remove_data`` (:mod:`.removal`); likelihood-ratio
tests and intervals from :mod:`statsmodels_glmm.inference`, model checks from
:mod:`statsmodels_glmm.checks`.
"""

import functools
from functools import cached_property as cache_readonly

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.base import wrapper as wrap
from statsmodels.base.model import LikelihoodModelResults, LikelihoodResultsWrapper

from ..checks.approximation import check_approximation
from ..checks.diagnostics import overdispersion, zero_inflation_test
from ..checks.mixin import ChecksMixin
from ..inference.mixin import InferenceMixin
from ..marginal.predict import get_prediction, marginal_params, probability_effects
from .missing_data import MissingDataMixin
from .prediction import PredictionMixin
from .random_effects import RandomEffectsMixin
from .removal import RemoveDataMixin
from .summary import SummaryMixin
from .wald import WaldMixin

__all__ = ["MixedGLMResults", "MixedGLMResultsWrapper"]


def _as_method(func):
    """``func(res, ...)`` as a results method that keeps its signature and docstring."""
    @functools.wraps(func)
    def method(self, *args, **kwargs):
        return func(self, *args, **kwargs)
    return method


class MixedGLMResults(WaldMixin, InferenceMixin, ChecksMixin, RandomEffectsMixin,
                      PredictionMixin, SummaryMixin, RemoveDataMixin, MissingDataMixin,
                      LikelihoodModelResults):
    """
    Results of :meth:`MixedGLM.fit`.

    ``params`` holds the fixed effects, then the variances and covariances
    of the random effects, then family parameters, all named; ``bse``,
    ``tvalues``, ``pvalues``, ``conf_int()`` and ``cov_params()`` follow the
    same order (covariance parameters by the delta method).  Wald tests
    (``t_test``, ``wald_test``, ``t_test_pairwise``) work on the fixed effects by
    name.

    What statsmodels' tools read:

    - ``tvalues`` and ``pvalues`` are NaN for the random-effect variances and
      covariances and for positive family parameters (``alpha``, ``scale``):
      the parameters in :attr:`untested_params`.  A variance tested at zero is on
      the boundary of its parameter space, where the Wald z is not normal, and
      this package's summary prints no test for them either; ``t_test`` and
      ``wald_test`` give NaN statistics for restrictions involving them, so
      ``summary_col(..., stars=True)`` and stargazer put no stars on these rows.
      ``bse`` and ``conf_int()`` (log-SD and Fisher-z scales) are reported; test a
      variance with :meth:`compare_lr_test`.
    - ``df_model`` is the number of fixed-effect columns less the intercept (as
      statsmodels' GLM); ``df_resid`` is ``nobs`` less the number of all estimated
      parameters (fixed effects, variances and covariances, family parameters),
      R's ``df.residual`` for a GLMM, so that ``pearson_chi2 / df_resid`` is the
      overdispersion ratio of the GLMM FAQ.
    - ``deviance`` is the conditional deviance (lme4's ``deviance()``);
      ``-2 * llf`` is glmmTMB's.  ``resid`` is ``endog - fittedvalues``.
    - ``info_criteria("aic" | "bic" | "aicc" | "hqic" | "qaic")``, ``summary2()``,
      ``remove_data()`` (then ``save``/``sm.load`` and prediction on new data).

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=80, seed=7)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
    >>> res.fe_params.index.tolist()
    ['Intercept', 'time']
    >>> res.cov_re.shape
    (1, 1)
    >>> res.df_model, res.df_resid == res.nobs - 3
    (1, True)
    """

    def __init__(self, model, params, cov_params, llf, state, nagq, converged, mle_retvals):
        super().__init__(model, params, normalized_cov_params=cov_params, scale=1.0)
        self._llf = float(llf)
        self._state = state
        self.nagq = int(nagq)
        self.converged = bool(converged)
        self.mle_retvals = mle_retvals
        #: ``"nonrobust"`` (from the Hessian), or ``"robust"``/``"cluster"`` (sandwich)
        self.cov_type = "nonrobust"
        self.cov_kwds = {}
        self.use_t = False
        self.k_fe = model.k_fe
        self.k_re = model.k_re
        self.nobs = model.nobs
        self.n_groups = model.n_groups
        self.method = ("Laplace" if nagq == 1 else f"Adaptive Gauss-Hermite, {nagq} nodes")
        self.df_modelwc = len(params)
        self.df_resid = self.nobs - self.df_modelwc
        const = getattr(model, "k_constant", None)
        if const is None:
            const = int("Intercept" in model.exog_names)
        self.df_model = self.k_fe - int(const)

    # ------------------------------------------------------------ likelihood
    @cache_readonly
    def llf(self):
        """Maximised log-likelihood, every normalising constant kept."""
        return self._llf

    @cache_readonly
    def aic(self):
        """``-2 llf + 2 k``, ``k`` the number of all estimated parameters."""
        return -2 * self.llf + 2 * self.df_modelwc

    @cache_readonly
    def bic(self):
        """``-2 llf + log(nobs) k``, ``k`` the number of all estimated parameters."""
        return -2 * self.llf + np.log(self.nobs) * self.df_modelwc

    def info_criteria(self, crit, scale=None, dk_params=0):
        """
        An information criterion, as statsmodels' ``GLMResults.info_criteria``.

        Parameters
        ----------
        crit : {"aic", "bic", "aicc", "hqic", "qaic"}
            With ``k`` the number of all estimated parameters (plus
            ``dk_params``) and ``n = nobs``: ``-2 llf + 2k``, ``-2 llf + k log n``,
            AIC ``+ 2k(k + 1) / (n - k - 1)``, ``-2 llf + 2k log log n``, and
            ``-2 llf / scale + 2k``.
        scale : float, optional
            The overdispersion factor of QAIC (default ``1``, the results'
            ``scale``); the GLMM FAQ uses ``pearson_chi2 / df_resid`` of the
            fullest model and adds one to ``dk_params`` for it.
        dk_params : int
            Parameters to add to ``k``.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=40, seed=5)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
        >>> bool(np.isclose(res.info_criteria("aic"), res.aic))
        True
        """
        if not isinstance(crit, str):
            raise ValueError(f"crit must be a string such as 'aic', got {crit!r}")
        crit = crit.lower()
        k = self.df_modelwc + dk_params
        n = self.nobs
        dev = -2 * self.llf
        if crit == "aic":
            return dev + 2 * k
        if crit == "bic":
            return dev + k * np.log(n)
        if crit == "aicc":
            if n - k - 1 <= 0:
                raise ValueError(f"aicc needs more observations ({n}) than parameters + 1")
            return dev + 2 * k + 2 * k * (k + 1) / (n - k - 1)
        if crit == "hqic":
            return dev + 2 * k * np.log(np.log(n))
        if crit == "qaic":
            scale = self.scale if scale is None else float(scale)
            if not scale > 0:
                raise ValueError(f"scale must be positive, got {scale!r}")
            return dev / scale + 2 * k
        raise ValueError(f"crit must be 'aic', 'bic', 'aicc', 'hqic' or 'qaic', got {crit!r}")

    # ------------------------------------------------------------ estimates
    @property
    def _internal(self):
        return self.mle_retvals["internal_params"]

    @cache_readonly
    def fe_params(self):
        """Fixed effects as a Series."""
        return pd.Series(self.params[:self.k_fe], index=self.model.exog_names)

    @cache_readonly
    def bse_fe(self):
        """Standard errors of the fixed effects."""
        return pd.Series(np.sqrt(np.diag(self.cov_params_fe())), index=self.model.exog_names)

    def cov_params_fe(self):
        """Covariance matrix of the fixed effects (ndarray)."""
        c = np.asarray(self.normalized_cov_params)
        return c[:self.k_fe, :self.k_fe]

    @cache_readonly
    def family_params(self):
        """Family parameters (dispersion, thresholds, ...) on their reported scale."""
        names = self.model.response.extra_names()
        return pd.Series(self.params[self.k_fe + self.k_re:], index=names, dtype=float)

    # -------------------------------------------------------- interpretation
    def odds_ratios(self, alpha=0.05):
        """
        ``exp(beta)`` with Wald intervals: odds ratios for a logit link,
        rate ratios for a log link.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=60, seed=9)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
        >>> res.odds_ratios().columns.tolist()
        ['RR', 'Lower CI', 'Upper CI']
        """
        link = self.model.response.link_name
        label = {"logit": "OR", "log": "RR"}.get(link, "exp(coef)")
        z = stats.norm.ppf(1 - alpha / 2)
        b, se = self.fe_params, self.bse_fe
        return pd.DataFrame({label: np.exp(b), "Lower CI": np.exp(b - z * se),
                             "Upper CI": np.exp(b + z * se)})

    rate_ratios = odds_ratios

    # ------------------------------------------------ checks and margins
    # functions of a fitted result, also reachable as methods (same signature and
    # documentation, the result itself as the first argument)
    check_approximation = _as_method(check_approximation)
    overdispersion = _as_method(overdispersion)
    zero_inflation_test = _as_method(zero_inflation_test)
    get_prediction = _as_method(get_prediction)
    marginal_params = _as_method(marginal_params)
    probability_effects = _as_method(probability_effects)

    def __getstate__(self):
        return self.__dict__


class MixedGLMResultsWrapper(LikelihoodResultsWrapper):
    """Attaches parameter and row names to :class:`MixedGLMResults` (what ``fit`` returns)."""

    _attrs = {}
    _wrap_attrs = wrap.union_dicts(LikelihoodResultsWrapper._wrap_attrs, _attrs)
    _methods = {}
    _wrap_methods = wrap.union_dicts(LikelihoodResultsWrapper._wrap_methods, _methods)


wrap.populate_wrapper(MixedGLMResultsWrapper, MixedGLMResults)


@functools.wraps(MixedGLMResults.conf_int)
def _conf_int(self, *args, **kwargs):
    # conf_int labels its own rows (it can return SD rows or a subset of parameters),
    # so the generic wrapper, which relabels by parameter name, is bypassed
    return self._results.conf_int(*args, **kwargs)


MixedGLMResultsWrapper.conf_int = _conf_int
