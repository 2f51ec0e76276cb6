"""
The optional packages of the Bayesian fit (JAX, NumPyro, ArviZ), imported on demand.

The rest of the package works without them; :func:`require` imports them (with
64-bit floats switched on in JAX) or raises an ImportError saying how to install
them.  :func:`release_compiled_if_crowded` keeps the programs JAX compiles from
filling the process's memory maps over many fits.
"""

import sys

__all__ = ["require", "INSTALL_HINT", "release_compiled_if_crowded", "MAP_SHARE"]

INSTALL_HINT = 'pip install "statsmodels-glmm[bayes]"'


def require():
    """
    ``(jax, jax.numpy, numpyro, arviz)`` with JAX in 64-bit mode.

    Raises
    ------
    ImportError
        When one of them is not installed, naming it and the install command.

    Examples
    --------
    >>> jax, jnp, numpyro, az = require()  # doctest: +SKIP
    """
    missing = []
    mods = {}
    for name in ("jax", "numpyro", "arviz"):
        try:
            mods[name] = __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(f"the Bayesian fit needs {', '.join(missing)}: {INSTALL_HINT}")
    jax = mods["jax"]
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return jax, jnp, mods["numpyro"], mods["arviz"]


#: share of the memory maps the kernel allows a process (Linux's ``vm.max_map_count``)
#: above which :func:`release_compiled_if_crowded` drops JAX's compiled programs
MAP_SHARE = 0.5

_MAPS = "/proc/self/maps"
_MAP_LIMIT = "/proc/sys/vm/max_map_count"


def _count_lines(path):
    """The number of lines of a text file, or None where it cannot be read."""
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return None


def _map_limit():
    """Linux's limit on a process's memory maps, or None elsewhere."""
    try:
        with open(_MAP_LIMIT) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def release_compiled_if_crowded(share=None):
    """
    Drop JAX's compiled programs (``jax.clear_caches()``) when this process holds
    more than ``share`` (default :data:`MAP_SHARE`) of the memory maps the kernel
    allows it.

    JAX keeps every program it compiles for the life of the process, each in
    memory maps of its own, and a NUTS run compiles its own programs (the model's
    data are constants in them): some 160 programs and 480 maps a fit.  Linux
    allows a process 65,530 maps by default (``vm.max_map_count``), so that after
    some hundred Bayesian fits in one process the next compilation fails inside
    XLA and the process dies (a segmentation fault or an abort).  Dropping the
    programs frees their maps and memory; the next fit compiles again what it
    would have reused (a few seconds), so they are dropped only when the maps
    are crowded.  A no-op where the counts cannot be read (other systems) or
    JAX has not been imported.  Returns True when the programs were dropped.

    Examples
    --------
    A process never holds more maps than its limit, so that at ``share=1`` nothing is
    dropped:

    >>> release_compiled_if_crowded(share=1.0)
    False
    """
    if "jax" not in sys.modules:
        return False
    limit = _map_limit()
    if not limit:
        return False
    used = _count_lines(_MAPS)
    if used is None or used <= (MAP_SHARE if share is None else share) * limit:
        return False
    sys.modules["jax"].clear_caches()
    return True
