"""
The same models on a Dask DataFrame: each partition builds the design of its own
rows and returns sums (log-likelihood, gradient, Hessian pieces) to the client.

Importing this package registers Dask DataFrames with
:meth:`~statsmodels_glmm.model.MixedGLM.from_formula`, so ``smg.mixedglm(...)``
on a Dask DataFrame builds a :class:`~statsmodels_glmm.distributed.model.DaskMixedGLM`.
Dask itself is imported only when such a model is built.
"""

from ..model import register_data_backend
from .detect import is_dask_frame

__all__ = ["is_dask_frame"]


def _dask_model(cls, formula, data, **kwargs):
    from .build import dask_model

    return dask_model(cls, formula, data, **kwargs)


register_data_backend(is_dask_frame, _dask_model)
