"""
Public names of statsmodels-glmm, in the style of ``statsmodels.api``.

>>> import statsmodels_glmm.api as smg
>>> {"MixedGLM", "mixedglm", "compare_gee"} <= set(dir(smg))
True
"""

from . import datasets, families
from .output.explorer import explorer
from .model import MixedGLM, mixedglm
from .results import MixedGLMResults
from .simulate import simulate_longitudinal
from .marginal.gee import compare_gee
from .inference.compare import compare
from .output.plotting import plot_effects, plot_random_effects, plot_trajectories
from .checks.simulated_residuals import SimulatedResiduals
from .likelihood.importance import importance_loglike
from .exceptions import LaplaceAccuracyWarning

__all__ = ["MixedGLM", "MixedGLMResults", "mixedglm", "simulate_longitudinal", "families",
           "datasets", "compare_gee", "plot_trajectories", "plot_effects", "plot_random_effects",
           "explorer", "compare", "importance_loglike", "SimulatedResiduals",
           "LaplaceAccuracyWarning"]
