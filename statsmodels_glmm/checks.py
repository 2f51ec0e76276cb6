"""
Model checks of a fitted MixedGLM: simulation-based residuals, ICC and R-squared.

The methods of :class:`ChecksMixin` become methods of
:class:`statsmodels_glmm.results.MixedGLMResults`.
"""

__all__ = ["ChecksMixin"]


class ChecksMixin:
    """Simulation-based residual checks and variance decompositions of a fitted MixedGLM."""
