"""
Memory budget of the factorisations of the joint Laplace Hessian.

Models with several large crossed grouping factors factorise a dense block the
size of the smaller factors (or a sparse factor with fill-in).  Before a fit
starts, the bytes that factorisation needs are estimated and compared with a
budget, so that a design that cannot fit in memory is refused at once with a
message, instead of running for minutes and exhausting the machine.

The budget is, in this order of precedence: the ``memory_budget`` argument of
:class:`~statsmodels_glmm.likelihood.sparse_laplace.SparseLaplaceProblem`, the
environment variable ``STATSMODELS_GLMM_MEMORY_BUDGET`` (bytes, or a number
with a ``K``, ``M``, ``G`` or ``T`` suffix such as ``"8G"``), and the default
:data:`DEFAULT_MEMORY_BUDGET` (4 GiB).
"""

import os

__all__ = ["DEFAULT_MEMORY_BUDGET", "MemoryBudgetError", "memory_budget", "format_bytes",
           "check_budget"]

#: budget used when neither the argument nor the environment variable gives one
DEFAULT_MEMORY_BUDGET = 4 * 2 ** 30

ENV_VAR = "STATSMODELS_GLMM_MEMORY_BUDGET"

_UNITS = {"": 1, "B": 1, "K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30, "T": 2 ** 40}


class MemoryBudgetError(MemoryError):
    """A factorisation would need more memory than the budget allows."""


def _parse(value, source):
    text = str(value).strip().upper().removesuffix("IB").removesuffix("B")
    unit = text[-1:] if text[-1:] in _UNITS else ""
    try:
        number = float(text[:len(text) - len(unit)])
    except ValueError:
        raise ValueError(f"{source} must be a number of bytes, optionally with a K, M, G or T "
                         f"suffix (e.g. '8G'); got {value!r}") from None
    if not number > 0:
        raise ValueError(f"{source} must be positive; got {value!r}")
    return int(number * _UNITS[unit])


def memory_budget(budget=None):
    """
    The memory budget in bytes.

    Parameters
    ----------
    budget : int, float, str or None
        Bytes (``"8G"`` style strings accepted); None reads the environment
        variable ``STATSMODELS_GLMM_MEMORY_BUDGET``, then the default.

    Examples
    --------
    >>> memory_budget("512M")
    536870912
    >>> memory_budget(2 ** 20)
    1048576
    """
    if budget is not None:
        return _parse(budget, "memory_budget")
    env = os.environ.get(ENV_VAR)
    if env:
        return _parse(env, f"the environment variable {ENV_VAR}")
    return DEFAULT_MEMORY_BUDGET


def format_bytes(n):
    """
    Bytes in a readable unit.

    >>> format_bytes(3 * 2 ** 30)
    '3.0 GiB'
    """
    for unit, size in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def check_budget(needed, budget, what):
    """
    Raise :class:`MemoryBudgetError` when ``needed`` bytes exceed ``budget``.

    The message names the estimate, the budget and the two ways to raise it.

    >>> check_budget(10, 100, "a dense block")
    >>> try:
    ...     check_budget(2 ** 31, 2 ** 30, "a dense block of 16,000 effects")
    ... except MemoryBudgetError as exc:
    ...     print(str(exc)[:60])
    a dense block of 16,000 effects needs about 2.0 GiB, more th
    """
    if needed > budget:
        raise MemoryBudgetError(
            f"{what} needs about {format_bytes(needed)}, more than the memory budget of "
            f"{format_bytes(budget)}; raise the budget with the environment variable "
            f"{ENV_VAR} (e.g. {ENV_VAR}=16G) or the memory_budget argument of "
            "SparseLaplaceProblem, or simplify the random effects (fewer levels of the "
            "smaller crossed factor)")
