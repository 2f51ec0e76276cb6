"""
statsmodels-glmm: maximum-likelihood generalized linear mixed models for statsmodels.

>>> import statsmodels_glmm.api as smg
"""

from .model import MixedGLM, mixedglm
from .results import MixedGLMResults
from .simulate import simulate_longitudinal
from .marginal.gee import compare_gee
from .inference.compare import compare
from .output.plotting import plot_effects, plot_trajectories
from . import families
from . import distributed  # noqa: F401  (registers Dask DataFrames with from_formula)

__version__ = "0.1.0"

__all__ = ["MixedGLM", "MixedGLMResults", "mixedglm", "simulate_longitudinal", "families",
           "compare_gee", "plot_trajectories", "plot_effects", "compare", "__version__"]
