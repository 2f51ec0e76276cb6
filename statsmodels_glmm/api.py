"""
Public names of statsmodels-glmm, in the style of ``statsmodels.api``.

>>> import statsmodels_glmm.api as smg
>>> {"MixedGLM", "mixedglm", "compare_gee"} <= set(dir(smg))
True
"""

from . import families
from .model import MixedGLM, mixedglm
from .results import MixedGLMResults
from .simulate import simulate_longitudinal
from .gee import compare_gee
from .compare import compare
from .plotting import plot_effects, plot_trajectories
from .importance import importance_loglike

__all__ = ["MixedGLM", "MixedGLMResults", "mixedglm", "simulate_longitudinal", "families",
           "compare_gee", "plot_trajectories", "plot_effects", "compare", "importance_loglike"]
