"""Recognising a Dask DataFrame without importing Dask."""

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
