"""
The optional packages of the Bayesian fit (JAX, NumPyro, ArviZ), imported on demand.

The rest of the package works without them; :func:`require` imports them (with
64-bit floats switched on in JAX) or raises an ImportError saying how to install
them.
"""

__all__ = ["require", "INSTALL_HINT"]

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
