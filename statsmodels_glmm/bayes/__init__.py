"""
Bayesian estimation of mixed GLMs by MCMC (NUTS, NumPyro): ``model.fit_bayes()``.

- :mod:`.densities`: the families' log-densities in JAX;
- :mod:`.priors`: prior distributions, their defaults and densities;
- :mod:`.problem`: the model's arrays and priors as the sampler sees them;
- :mod:`.sampler`: the NumPyro model (non-centred random effects) and the NUTS run;
- :mod:`.draws`: linear predictors, log-likelihoods and simulations draw by draw;
- :mod:`.results`: :class:`MixedGLMBayesResults`;
- :mod:`.fit`: argument checks and the fit itself.

JAX, NumPyro and ArviZ are imported only when a Bayesian fit runs
(``pip install "statsmodels-glmm[bayes]"``).
"""

from .results import MixedGLMBayesResults

__all__ = ["MixedGLMBayesResults"]
