"""
Model checks of a fitted MixedGLM: simulation-based residuals, ICC and R-squared.

The methods of :class:`ChecksMixin` become methods of
:class:`statsmodels_glmm.results.MixedGLMResults`; the mathematics is in
:mod:`statsmodels_glmm.checks.simulated_residuals` and :mod:`statsmodels_glmm.checks.r2`.
"""

__all__ = ["ChecksMixin"]


class ChecksMixin:
    """Simulation-based residual checks and variance decompositions of a fitted MixedGLM."""

    def simulated_residuals(self, nsim=250, seed=None, conditional=False):
        """
        Simulation-based quantile residuals (randomised PIT) and their tests.

        Each observation's position in its simulated predictive distribution
        (``nsim`` data sets drawn from the fitted model), randomised over
        ties; uniform on ``[0, 1]`` if the model is right.  See
        :mod:`statsmodels_glmm.checks.simulated_residuals` for the construction.

        Parameters
        ----------
        nsim : int
            Number of simulated data sets (at least 10).
        seed : int or numpy Generator, optional
            The same seed gives the same residuals.
        conditional : bool
            Simulate with new random effects from ``N(0, G)`` (False, the
            default) or with each group's conditional modes (True).

        Returns
        -------
        SimulatedResiduals
            ``residuals`` (Series in data order), ``test_uniformity()``,
            ``test_dispersion()``, ``test_zero_inflation()``,
            ``test_outliers()``, ``tests()`` and ``plot()``.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=60, seed=3)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
        >>> sr = res.simulated_residuals(nsim=100, seed=1)
        >>> sr.test_dispersion().pvalue > 0.01
        True
        """
        from .simulated_residuals import simulated_residuals

        return simulated_residuals(self, nsim=nsim, seed=seed, conditional=conditional)

    def variance_components(self, approximation="lognormal", null_model=None,
                            null_lambda="mean"):
        """
        Latent-scale variance components (fixed, random, residual).

        Parameters
        ----------
        approximation : {"lognormal", "delta", "trigamma"}
            Distribution-specific variance of count families.
        null_model : MixedGLMResults, optional
            Fit of the intercept-only model with the same random effects
            (count families; refitted and cached when not given).  It must
            be a fitted MixedGLM of the same data (responses, offsets,
            grouping of the rows; see :meth:`data_differences`), else
            ValueError.
        null_lambda : {"mean", "intercept"}
            Null-model mean count ``exp(beta_0 + s_0^2 / 2)`` (default) or
            ``exp(beta_0)`` (as insight 0.19.0 computes it).

        Returns
        -------
        Series
            See :func:`statsmodels_glmm.checks.r2.variance_components`.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=6)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
        >>> list(res.variance_components().index)[:3]
        ['var_fixed', 'var_random', 'var_residual']
        """
        from .r2 import variance_components

        return variance_components(self, approximation=approximation, null_model=null_model,
                                   null_lambda=null_lambda)

    def r2(self, approximation="lognormal", null_model=None,
           null_lambda="mean"):
        """
        Marginal and conditional R-squared (Nakagawa and Schielzeth; Johnson 2014).

        ``R2_m = s_f^2 / (s_f^2 + s_r^2 + s_e^2)`` and
        ``R2_c = (s_f^2 + s_r^2) / (s_f^2 + s_r^2 + s_e^2)`` with the
        fixed-effects, random-effects and distribution-specific variances
        of :meth:`variance_components`.

        Parameters
        ----------
        approximation, null_model, null_lambda
            See :meth:`variance_components`.

        Returns
        -------
        Series
            ``r2_marginal`` and ``r2_conditional``.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=6)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
        >>> list(res.r2().index)
        ['r2_marginal', 'r2_conditional']
        """
        from .r2 import r2_nakagawa

        return r2_nakagawa(self, approximation=approximation, null_model=null_model,
                                   null_lambda=null_lambda)

    def icc(self, approximation="lognormal", null_model=None,
            null_lambda="mean"):
        """
        Adjusted and unadjusted intra-class correlation (Nakagawa et al. 2017).

        ``ICC_adj = s_r^2 / (s_r^2 + s_e^2)`` and
        ``ICC_unadj = s_r^2 / (s_f^2 + s_r^2 + s_e^2)`` with the variances
        of :meth:`variance_components`.

        Parameters
        ----------
        approximation, null_model, null_lambda
            See :meth:`variance_components`.

        Returns
        -------
        Series
            ``icc_adjusted`` and ``icc_unadjusted``.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=6)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
        >>> ic = res.icc()
        >>> bool(ic["icc_unadjusted"] <= ic["icc_adjusted"])
        True
        """
        from .r2 import icc

        return icc(self, approximation=approximation, null_model=null_model,
                                   null_lambda=null_lambda)

    def convergence_report(self):
        """
        Gradient, Hessian eigenvalues, boundary parameters and advice.

        Returns
        -------
        statsmodels_glmm.checks.convergence.ConvergenceReport
            Printable; see its attributes for the numbers.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=40, seed=4)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
        >>> rep = res.convergence_report()
        >>> rep.converged, bool(rep.max_abs_gradient < 1e-3)
        (True, True)
        """
        from ..checks.convergence import convergence_report

        return convergence_report(self)
