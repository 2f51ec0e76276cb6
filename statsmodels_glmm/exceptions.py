"""
Warnings and errors this package raises, importable without the rest of it
(as statsmodels keeps its own in ``statsmodels.tools.sm_exceptions``), and
:func:`warn`, which every user-facing warning goes through so that it points
at the user's line rather than into the package.

>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     warn("check the fit", LaplaceAccuracyWarning)
>>> caught[0].category.__name__
'LaplaceAccuracyWarning'
"""

import os
import sys
import warnings

__all__ = ["LaplaceAccuracyWarning", "warn"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class LaplaceAccuracyWarning(UserWarning):
    """The Laplace log-likelihood differs much from adaptive quadrature at the estimates."""


def _outside_package_level():
    """``stacklevel`` for ``warnings.warn`` called in :func:`warn` that names the
    caller of the outermost frame in this package (1 counts ``warn`` itself).

    The outermost, not the first frame outside: a warning raised in a function
    that scipy's optimiser calls back has scipy's frames between it and the
    user's call."""
    level, frame, outermost = 1, sys._getframe(2), 1  # frame of warn's caller
    while frame is not None:
        level += 1
        path = os.path.abspath(frame.f_code.co_filename)
        if path.startswith(_PACKAGE_DIR + os.sep):
            outermost = level
        frame = frame.f_back
    return outermost + 1


def warn(message, category=UserWarning):
    """
    ``warnings.warn`` attributed to the line that called into this package.

    A warning raised deep inside a fit then shows the user's own call
    (``res = model.fit()``) as its location, wherever in the package it was
    raised and whatever frames (the package's, an optimiser's) lie between.

    Parameters
    ----------
    message : str
    category : type of Warning, default ``UserWarning``

    Examples
    --------
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn("a note", UserWarning)
    >>> str(caught[0].message), caught[0].filename.endswith("exceptions.py")
    ('a note', False)
    """
    warnings.warn(message, category, stacklevel=_outside_package_level())
