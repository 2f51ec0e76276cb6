"""
Public names of statsmodels-glmm, in the style of ``statsmodels.api``.

>>> import statsmodels_glmm.api as smg
>>> sorted(n for n in dir(smg) if not n.startswith("_"))[:3]
['MixedGLM', 'MixedGLMResults', 'families']
"""

from . import families
from .model import MixedGLM, mixedglm
from .results import MixedGLMResults
from .simulate import simulate_longitudinal

__all__ = ["MixedGLM", "MixedGLMResults", "mixedglm", "simulate_longitudinal", "families"]
