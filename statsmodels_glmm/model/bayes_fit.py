"""
Model methods that fit by MCMC.
"""


class BayesFitMixin:
    """Methods of :class:`MixedGLM` that fit by MCMC."""
