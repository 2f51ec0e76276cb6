"""
Results of a MixedGLM fit: estimates, random effects, predictions, summaries.

- :mod:`.core`: :class:`MixedGLMResults` and its wrapper (estimates, likelihood,
  degrees of freedom, information criteria);
- :mod:`.wald`: ``tvalues``, ``pvalues``, ``t_test``, ``wald_test`` and
  ``t_test_pairwise``, with no Wald test for variance parameters;
- :mod:`.random_effects`: covariance of the random effects and their
  conditional modes;
- :mod:`.prediction`: predictions, fitted values, residuals, deviance, Pearson
  statistic, simulation;
- :mod:`.summary`: ``summary()`` and ``summary2()`` with one width per summary;
- :mod:`.removal`: ``remove_data()``;
- :mod:`.tables`: the results as stargazer reads them.
"""

from .core import MixedGLMResults, MixedGLMResultsWrapper
from .tables import register_stargazer

register_stargazer()

__all__ = ["MixedGLMResults", "MixedGLMResultsWrapper"]
