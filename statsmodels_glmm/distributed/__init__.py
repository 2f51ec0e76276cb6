"""
The same models on a Dask DataFrame: each partition builds the design of its own
rows and returns sums (log-likelihood, gradient, Hessian pieces) to the client.

Importing this package registers Dask DataFrames with
:meth:`~statsmodels_glmm.model.MixedGLM.from_formula`, so ``smg.mixedglm(...)``
on a Dask DataFrame builds a :class:`~statsmodels_glmm.distributed.backend.DaskMixedGLM`.
Dask itself is imported only when such a model is built.
"""

from ..model import register_data_backend

__all__ = ["is_dask_frame"]


def is_dask_frame(data):
    """
    True for a ``dask.dataframe.DataFrame`` (checked without importing dask).

    >>> import pandas as pd
    >>> is_dask_frame(pd.DataFrame({"a": [1]}))
    False
    """
    return any(c.__module__.startswith("dask") and c.__name__ == "DataFrame"
               for c in type(data).__mro__)


def _dask_model(cls, formula, data, **kwargs):
    from .backend import dask_model

    return dask_model(cls, formula, data, **kwargs)


register_data_backend(is_dask_frame, _dask_model)
