"""
Inference beyond Wald: likelihood-ratio tests, profile and bootstrap intervals.

The methods of :class:`InferenceMixin` become methods of
:class:`statsmodels_glmm.results.MixedGLMResults`.
"""

__all__ = ["InferenceMixin"]


class InferenceMixin:
    """Likelihood-ratio tests and interval methods of a fitted MixedGLM."""
