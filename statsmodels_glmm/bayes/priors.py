"""
Prior distributions of the Bayesian fit: their names, defaults and densities.

A prior is a tuple ``(distribution, *parameters)``:

=====================  ==========================  =========================
distribution           parameters                  for
=====================  ==========================  =========================
``"normal"``           mean, sd                    coefficients, thresholds
``"student_t"``        df, location, scale         coefficients, thresholds
``"cauchy"``           location, scale             coefficients, thresholds
``"logistic"``         location, scale             coefficients, thresholds
``"exponential"``      rate                        SDs, ``alpha``, ``sigma``
``"half_normal"``      sd                          SDs, ``alpha``, ``sigma``
``"half_student_t"``   df, scale                   SDs, ``alpha``, ``sigma``
``"half_cauchy"``      scale                       SDs, ``alpha``, ``sigma``
``"gamma"``            shape, rate                 SDs, ``alpha``, ``sigma``
``"lkj"``              concentration               correlations
=====================  ==========================  =========================

Defaults (as rstanarm and brms choose them, on the data's scale): a fixed
effect gets ``normal(0, 2.5 s_y / sd(x))`` where ``s_y`` is ``sd(y)`` for a
Gaussian response and 1 otherwise; the intercept, which is the intercept at
the means of the predictors, gets ``normal(0, 2.5)`` (``normal(mean(y), 2.5
sd(y))`` for a Gaussian response); the SD of a random effect with column
``z`` gets ``exponential(rms(z) / s_y)`` (``exponential(1)`` for a random
intercept of a non-Gaussian model); each correlation block ``lkj(2)``; the
Gaussian residual SD ``exponential(1 / sd(y))``; the negative binomial
``alpha`` ``exponential(1)``; the ordinal thresholds (at the means of the
predictors) ``student_t(3, 0, 2.5)`` each; zero-inflation coefficients
``logistic(0, 1)`` for the constant and ``normal(0, 2.5 / sd(w))`` otherwise.
"""

import numpy as np
from scipy import stats

__all__ = ["REAL", "POSITIVE", "check_prior", "prior_logpdf", "prior_sample", "prior_text",
           "group_priors", "grouped_logpdf"]

#: distributions of real-valued parameters and their number of parameters
REAL = {"normal": 2, "student_t": 3, "cauchy": 2, "logistic": 2}
#: distributions of positive parameters
POSITIVE = {"exponential": 1, "half_normal": 1, "half_student_t": 2, "half_cauchy": 1,
            "gamma": 2}


def check_prior(name, spec, support):
    """
    A validated prior tuple ``(distribution, *floats)`` for the parameter ``name``.

    Examples
    --------
    >>> check_prior("time", ("normal", 0, 1), "real")
    ('normal', 0.0, 1.0)
    """
    if not isinstance(spec, (tuple, list)) or not spec or not isinstance(spec[0], str):
        raise ValueError(f"priors[{name!r}] must be a tuple such as ('normal', 0, 1), "
                         f"got {spec!r}")
    dist = spec[0].lower()
    table = {"real": REAL, "positive": POSITIVE, "corr": {"lkj": 1}}[support]
    if dist not in table:
        raise ValueError(f"priors[{name!r}]: {spec[0]!r} is not a prior for this parameter; "
                         f"use one of {sorted(table)}")
    try:
        args = tuple(float(a) for a in spec[1:])
    except (TypeError, ValueError):
        raise ValueError(f"priors[{name!r}]: the parameters must be numbers, got {spec[1:]!r}"
                         ) from None
    if len(args) != table[dist]:
        raise ValueError(f"priors[{name!r}]: {dist} takes {table[dist]} parameter(s), "
                         f"got {len(args)}")
    if not all(np.isfinite(args)):
        raise ValueError(f"priors[{name!r}]: the parameters must be finite")
    scales = {"normal": args[1:], "student_t": args, "cauchy": args[1:], "logistic": args[1:],
              "exponential": args, "half_normal": args, "half_student_t": args,
              "half_cauchy": args, "gamma": args, "lkj": args}[dist]
    if any(s <= 0 for s in scales):
        raise ValueError(f"priors[{name!r}]: the scale, rate, shape and df parameters must be "
                         "positive")
    return (dist,) + args


def prior_text(spec):
    """``"normal(0, 2.5)"`` from ``("normal", 0.0, 2.5)``.

    >>> prior_text(("normal", 0.0, 2.5))
    'normal(0, 2.5)'
    """
    return f"{spec[0]}({', '.join(f'{a:.4g}' for a in spec[1:])})"


def prior_logpdf(jnp, jax, spec, x):
    """Log-density of the prior ``spec`` at ``x`` (JAX), constants included."""
    dist, *a = spec
    lg = jax.scipy.special.gammaln
    if dist == "normal":
        return -0.5 * ((x - a[0]) / a[1]) ** 2 - np.log(a[1]) - 0.5 * np.log(2 * np.pi)
    if dist in ("student_t", "half_student_t"):
        df, loc, s = (a[0], a[1], a[2]) if dist == "student_t" else (a[0], 0.0, a[1])
        z = (x - loc) / s
        c = lg((df + 1) / 2) - lg(df / 2) - 0.5 * np.log(df * np.pi) - np.log(s)
        return c - (df + 1) / 2 * jnp.log1p(z * z / df) + (np.log(2) if dist[0] == "h" else 0)
    if dist in ("cauchy", "half_cauchy"):
        loc, s = (a[0], a[1]) if dist == "cauchy" else (0.0, a[0])
        z = (x - loc) / s
        return -np.log(np.pi * s) - jnp.log1p(z * z) + (np.log(2) if dist[0] == "h" else 0)
    if dist == "logistic":
        z = (x - a[0]) / a[1]
        return -z - 2 * jax.nn.softplus(-z) - np.log(a[1])
    if dist == "exponential":
        return np.log(a[0]) - a[0] * x
    if dist == "half_normal":
        return -0.5 * (x / a[0]) ** 2 - np.log(a[0]) + 0.5 * np.log(2 / np.pi)
    if dist == "gamma":
        return a[0] * np.log(a[1]) - lg(a[0]) + (a[0] - 1) * jnp.log(x) - a[1] * x
    raise ValueError(f"no density for prior {dist!r}")


def group_priors(specs):
    """
    Priors of a vector of parameters grouped by distribution, for vectorised
    densities: a list of ``(indices, (distribution, *parameter arrays))``.

    >>> [(i.tolist(), s[0]) for i, s in group_priors([("normal", 0, 1), ("exponential", 1),
    ...                                               ("normal", 1, 2)])]
    [([0, 2], 'normal'), ([1], 'exponential')]
    """
    out = {}
    for i, spec in enumerate(specs):
        out.setdefault(spec[0], []).append((i, spec[1:]))
    return [(np.array([i for i, _ in v]),
             (dist,) + tuple(np.array(col, dtype=float) for col in zip(*[a for _, a in v])))
            for dist, v in out.items()]


def grouped_logpdf(jnp, jax, groups, x):
    """Sum of the log prior densities of the vector ``x`` (groups of :func:`group_priors`)."""
    total = 0.0
    for idx, spec in groups:
        total = total + jnp.sum(prior_logpdf(jnp, jax, spec, x[idx]))
    return total


def prior_sample(spec, size, rng):
    """Draws from the prior ``spec`` (NumPy), for prior predictive checks."""
    dist, *a = spec
    if dist == "normal":
        return rng.normal(a[0], a[1], size)
    if dist == "student_t":
        return a[1] + a[2] * rng.standard_t(a[0], size)
    if dist == "cauchy":
        return a[0] + a[1] * rng.standard_cauchy(size)
    if dist == "logistic":
        return rng.logistic(a[0], a[1], size)
    if dist == "exponential":
        return rng.exponential(1.0 / a[0], size)
    if dist == "half_normal":
        return np.abs(rng.normal(0, a[0], size))
    if dist == "half_student_t":
        return np.abs(a[1] * rng.standard_t(a[0], size))
    if dist == "half_cauchy":
        return np.abs(a[0] * rng.standard_cauchy(size))
    if dist == "gamma":
        return rng.gamma(a[0], 1.0 / a[1], size)
    raise ValueError(f"cannot draw from prior {dist!r}")


def scipy_logpdf(spec, x):
    """The same densities from SciPy (used by the tests as an independent check)."""
    dist, *a = spec
    x = np.asarray(x, dtype=float)
    return {
        "normal": lambda: stats.norm.logpdf(x, a[0], a[1]),
        "student_t": lambda: stats.t.logpdf(x, a[0], a[1], a[2]),
        "cauchy": lambda: stats.cauchy.logpdf(x, a[0], a[1]),
        "logistic": lambda: stats.logistic.logpdf(x, a[0], a[1]),
        "exponential": lambda: stats.expon.logpdf(x, scale=1 / a[0]),
        "half_normal": lambda: stats.halfnorm.logpdf(x, scale=a[0]),
        "half_student_t": lambda: stats.t.logpdf(x, a[0], 0, a[1]) + np.log(2),
        "half_cauchy": lambda: stats.halfcauchy.logpdf(x, scale=a[0]),
        "gamma": lambda: stats.gamma.logpdf(x, a[0], scale=1 / a[1]),
    }[dist]()
