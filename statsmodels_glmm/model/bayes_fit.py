"""
Model methods that fit by MCMC.
"""


class BayesFitMixin:
    """Methods of :class:`MixedGLM` that fit by MCMC."""

    def fit_bayes(self, draws=1000, tune=1000, chains=4, seed=None, priors=None,
                  target_accept=0.8, progress=True):
        """
        Sample the posterior distribution by the No-U-Turn sampler (NumPyro).

        Needs the optional packages: ``pip install "statsmodels-glmm[bayes]"``.

        Parameters
        ----------
        draws : int
            Draws kept per chain after warm-up.
        tune : int
            Warm-up (adaptation) iterations per chain.
        chains : int
            Number of chains (run together, vectorised).
        seed : int, optional
            Seed of the sampler; None draws one.
        priors : dict, optional
            Priors replacing the defaults by name, ``{name: (distribution,
            *parameters)}``.  The names are the fixed-effect names
            (``"Intercept"``, ``"time"``), ``"<group> <column> SD"`` for the SD of
            each random effect (``"id Intercept SD"``), ``"<group> correlation"``
            for the LKJ prior of a correlated block, ``"sigma"`` (Gaussian
            residual SD), ``"alpha"`` (negative binomial), ``"thresholds"``
            (ordinal) and ``"inflate_<column>"`` (zero-inflation
            coefficients); :meth:`default_priors` lists them with their
            defaults.  Distributions: ``normal(mean, sd)``, ``student_t(df,
            loc, scale)``, ``cauchy(loc, scale)``, ``logistic(loc, scale)`` for
            real parameters; ``exponential(rate)``, ``half_normal(sd)``,
            ``half_student_t(df, scale)``, ``half_cauchy(scale)``,
            ``gamma(shape, rate)`` for SDs, ``sigma`` and ``alpha``;
            ``lkj(concentration)`` for correlations.  The ``Intercept`` and
            ``thresholds`` priors act at the means of the predictors.
        target_accept : float
            Target acceptance probability of NUTS's step-size adaptation, in
            (0, 1); raise it (0.95) when there are divergent transitions.
        progress : bool
            Show a progress bar.

        Returns
        -------
        MixedGLMBayesResults
            Posterior means (``params``, same names and scale as ``fit()``),
            SDs (``bse``), credible intervals, R-hat, ESS, the ArviZ
            ``idata``.  A ConvergenceWarning is issued when an R-hat exceeds
            1.01, a bulk ESS is below 400 or a transition diverged.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("binary", n_persons=40, seed=1)
        >>> m = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial())
        >>> res = m.fit_bayes(draws=300, tune=300, chains=2, seed=1,
        ...                   progress=False)  # doctest: +SKIP
        >>> list(res.params.index)  # doctest: +SKIP
        ['Intercept', 'time', 'id Intercept Var']
        """
        from ..bayes.fit import fit_bayes

        return fit_bayes(self, draws=draws, tune=tune, chains=chains, seed=seed,
                         priors=priors, target_accept=target_accept, progress=progress)

    def prior_predictive(self, n=100, priors=None, seed=None):
        """
        Responses simulated from the prior predictive distribution of the
        Bayesian fit (parameters drawn from the priors of :meth:`fit_bayes`).

        Returns
        -------
        ndarray (n, nobs)
            One simulated data set per row, in the data's row order.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("binary", n_persons=40, seed=1)
        >>> m = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial())
        >>> sims = m.prior_predictive(n=50, seed=1)  # doctest: +SKIP
        >>> sims.shape == (50, m.nobs)  # doctest: +SKIP
        True
        """
        from ..bayes.fit import prior_predictive

        return prior_predictive(self, n=n, priors=priors, seed=seed)

    def default_priors(self):
        """
        The priors :meth:`fit_bayes` uses by default, by name.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("binary", n_persons=40, seed=1)
        >>> m = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial())
        >>> m.default_priors()["id Intercept SD"]
        ('exponential', 1.0)
        """
        from ..bayes.fit import default_priors

        return default_priors(self)
