"""
Warnings and errors this package raises, importable without the rest of it
(as statsmodels keeps its own in ``statsmodels.tools.sm_exceptions``).

>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     warnings.warn("check the fit", LaplaceAccuracyWarning)
>>> caught[0].category.__name__
'LaplaceAccuracyWarning'
"""

__all__ = ["LaplaceAccuracyWarning"]


class LaplaceAccuracyWarning(UserWarning):
    """The Laplace log-likelihood differs much from adaptive quadrature at the estimates."""
