"""
The generalized linear mixed model, :class:`MixedGLM`, and its parts.

- :mod:`.glmm`: the :class:`MixedGLM` class (construction, formulas, the
  likelihood and its gradient), :func:`mixedglm` and
  :func:`register_data_backend`;
- :mod:`.layout`: the parameter layout (names, internal and reported scales,
  bounds, scaling, start values);
- :mod:`.fitting`: the maximum-likelihood fit (optimisers, Newton polish,
  Hessians, the results object);
- :mod:`.rows`: the rows of new data for prediction;
- :mod:`.columns`: statistics of the fixed-effects columns and the
  separation check.
"""

from .glmm import MixedGLM, mixedglm
# helpers of the submodules, also importable from ``statsmodels_glmm.model``
from .columns import _column_stats, separation_terms  # noqa: F401
from .fitting import _BFGS_HESS_INV0, _METHODS, _whole_number  # noqa: F401
from .glmm import _DATA_BACKENDS, register_data_backend  # noqa: F401

__all__ = ["MixedGLM", "mixedglm"]
