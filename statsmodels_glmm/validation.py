"""
Checks of arguments at the package's boundary, each naming the argument it refuses.
"""

import numpy as np

__all__ = ["check_seed"]


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
