"""
Checks of arguments at the package's boundary, each naming the argument it refuses.
"""

import numpy as np

__all__ = ["check_seed", "check_whole_number"]


def check_seed(seed, name="seed"):
    """
    ``seed`` if numpy accepts it as a seed, else an error naming the argument.

    None, a non-negative integer, a sequence of them, or a numpy
    ``SeedSequence``, ``BitGenerator`` or ``Generator``.

    Examples
    --------
    >>> check_seed(3)
    3
    >>> check_seed(-1)
    Traceback (most recent call last):
    ...
    ValueError: seed must be a non-negative integer, got -1
    """
    random = np.random
    if seed is None or isinstance(seed, (random.SeedSequence, random.BitGenerator,
                                         random.Generator)):
        return seed
    what = (f"{name} must be None, a non-negative integer (or a sequence of them), or a numpy "
            "SeedSequence, BitGenerator or Generator")
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"{what}, got {seed!r}")
    if isinstance(seed, (int, np.integer)):
        if seed < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {seed!r}")
        return seed
    if isinstance(seed, (str, bytes)) or not np.iterable(seed):
        raise TypeError(f"{what}, got {seed!r}")
    values = list(seed)
    if not values or not all(isinstance(v, (int, np.integer))
                             and not isinstance(v, (bool, np.bool_)) for v in values):
        raise TypeError(f"{what}, got {seed!r}")
    if any(v < 0 for v in values):
        raise ValueError(f"{name} must hold non-negative integers, got {seed!r}")
    return seed


def check_whole_number(value, name, lowest=1, meaning=""):
    """
    ``value`` as an ``int`` if it is a whole number of at least ``lowest``, else a
    ValueError naming the argument.

    Integers and floats with no fractional part (``1e3``) are accepted; booleans,
    fractions, strings and non-finite values are not.  ``meaning`` is added to
    the message in parentheses.

    Examples
    --------
    >>> check_whole_number(1e3, "nsim")
    1000
    >>> check_whole_number(2.5, "nsim")
    Traceback (most recent call last):
    ...
    ValueError: nsim must be a positive integer, got 2.5
    >>> check_whole_number(5, "nsim", lowest=10)
    Traceback (most recent call last):
    ...
    ValueError: nsim must be a whole number >= 10, got 5
    """
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if (not ok and isinstance(value, (float, np.floating)) and np.isfinite(value)
            and float(value).is_integer()):
        ok = True
    if not ok or int(value) < lowest:
        what = {1: "a positive integer", 0: "a non-negative integer"}.get(
            lowest, f"a whole number >= {lowest}")
        extra = f" ({meaning})" if meaning else ""
        raise ValueError(f"{name} must be {what}{extra}, got {value!r}")
    return int(value)
