"""
Simulated longitudinal data in the shape of a typical panel study.

Each person ``i`` is seen at waves ``time = 0 .. n_waves - 1``; ``group`` is a
time-invariant 0/1 covariate and ``stress`` a time-varying one with a
person-level component.  The linear predictor is

.. math::

    \\eta_{it} = \\beta_0 + \\beta_1 t + \\beta_2 \\mathrm{group}_i
        + \\beta_3 \\mathrm{stress}_{it} + \\beta_4 t\\,\\mathrm{group}_i
        + u_{0i} + u_{1i} t,
    \\qquad (u_{0i}, u_{1i}) \\sim N_2(0, \\Sigma),

and the outcome is drawn from the requested family.  Later waves go missing
at random given the covariates, so the data are unbalanced.
"""

import numpy as np
import pandas as pd
from scipy.special import expit

__all__ = ["simulate_longitudinal", "DEFAULTS"]


class _ListColumns(dict):
    """
    Columns as plain lists of numbers, copied list by list when deep-copied.

    pandas deep-copies a frame's ``attrs`` on nearly every operation, selecting a
    column included.  ``copy.deepcopy`` walks a list item by item, which for the
    true random effects of a large panel costs far more than the operation
    itself; the items are immutable numbers, so copies of the lists are deep
    copies already.

    >>> import copy
    >>> a = _ListColumns(u0=[0.5, -1.0])
    >>> b = copy.deepcopy(a)
    >>> b == a, b["u0"] is a["u0"], type(b).__name__
    (True, False, '_ListColumns')
    """

    def __deepcopy__(self, memo):
        return type(self)((key, list(values)) for key, values in self.items())


#: default true parameters per outcome kind
DEFAULTS = {
    "binary": dict(beta=(-1.0, 0.25, 0.5, 0.4, -0.2), sd=(1.0, 0.5), corr=-0.3),
    "poisson": dict(beta=(0.5, 0.1, 0.3, 0.2, -0.1), sd=(0.6, 0.15), corr=-0.3),
    "negbin": dict(beta=(0.5, 0.1, 0.3, 0.2, -0.1), sd=(0.6, 0.15), corr=-0.3),
    "zip": dict(beta=(0.5, 0.1, 0.3, 0.2, -0.1), sd=(0.6, 0.15), corr=-0.3),
    "ordinal": dict(beta=(0.0, 0.3, 0.5, 0.4, -0.2), sd=(1.0, 0.5), corr=-0.3),
}


def simulate_longitudinal(kind="binary", n_persons=200, n_waves=5, beta=None, sd=None,
                          corr=None, nb_theta=2.0, zi_prob=0.27,
                          thresholds=(-1.0, 0.5, 2.0), dropout=0.1, seed=None):
    """
    Simulate a longitudinal data set with random intercepts and slopes.

    Parameters
    ----------
    kind : {"binary", "poisson", "negbin", "zip", "ordinal"}
    n_persons, n_waves : int
    beta : sequence of 5 floats, optional
        Intercept, time, group, stress, time:group (intercept unused for ordinal).
    sd : (float, float), optional
        SDs of the random intercept and slope (slope 0 gives intercept only).
    corr : float, optional
        Their correlation.
    nb_theta : float
        NB2 shape (variance ``mu + mu^2 / theta``) for ``kind="negbin"``.
    zi_prob : float
        Probability of a structural zero for ``kind="zip"``.
    thresholds : sequence of float
        Cut points of the cumulative-logit model for ``kind="ordinal"``.
    dropout : float
        Approximate share of rows after wave 0 that go missing.
    seed : int, optional

    Returns
    -------
    DataFrame
        Columns ``id, time, group, stress, y``.  ``df.attrs["random_effects"]``
        holds the true random effects as plain lists, ``{"id": [...], "u0":
        [...], "u1": [...]}`` (one entry per person; ``pd.DataFrame(...)`` of it
        gives a table), so that the frame's attributes compare equal to
        themselves, as pandas needs when it copies, casts or concatenates frames.

    Examples
    --------
    >>> df = simulate_longitudinal("binary", n_persons=50, seed=1)
    >>> list(df.columns)
    ['id', 'time', 'group', 'stress', 'y']
    >>> set(df["y"].unique()) <= {0, 1}
    True
    >>> pd.DataFrame(df.attrs["random_effects"]).shape
    (50, 3)
    """
    if kind not in DEFAULTS:
        raise ValueError(f"kind must be one of {sorted(DEFAULTS)}, got {kind!r}")
    if n_persons < 2 or n_waves < 1:
        raise ValueError("n_persons must be >= 2 and n_waves >= 1")
    rng = np.random.default_rng(seed)
    d = DEFAULTS[kind]
    b = np.asarray(d["beta"] if beta is None else beta, dtype=float)
    s0, s1 = d["sd"] if sd is None else sd
    r = d["corr"] if corr is None else corr
    n, T = int(n_persons), int(n_waves)
    pid = np.repeat(np.arange(1, n + 1), T)
    time = np.tile(np.arange(T, dtype=float), n)
    grp = np.repeat(rng.binomial(1, 0.5, n), T).astype(float)
    stress = np.repeat(rng.normal(0, 0.6, n), T) + rng.normal(0, 0.8, n * T)
    cov = np.array([[s0 * s0, r * s0 * s1], [r * s0 * s1, s1 * s1]])
    u = rng.multivariate_normal(np.zeros(2), cov, size=n, method="eigh")
    eta = (b[0] + b[1] * time + b[2] * grp + b[3] * stress + b[4] * time * grp
           + np.repeat(u[:, 0], T) + np.repeat(u[:, 1], T) * time)
    if kind == "binary":
        y = rng.binomial(1, expit(eta))
    elif kind == "poisson":
        y = rng.poisson(np.exp(eta))
    elif kind == "negbin":
        mu = np.exp(eta)
        y = rng.poisson(rng.gamma(nb_theta, mu / nb_theta))
    elif kind == "zip":
        y = np.where(rng.random(n * T) < zi_prob, 0, rng.poisson(np.exp(eta)))
    else:
        eta = eta - b[0]
        cuts = np.asarray(thresholds, dtype=float)
        latent = eta + rng.logistic(size=n * T)
        y = 1 + (latent[:, None] > cuts[None, :]).sum(axis=1)
    # missing at random given covariates: later waves drop out more often
    base = np.log(dropout / (1 - dropout)) if 0 < dropout < 1 else -np.inf
    pmiss = expit(base + 0.4 * (grp - 0.5) + 0.15 * (time - (T - 1) / 2))
    keep = (time == 0) | (rng.random(n * T) >= pmiss)
    df = pd.DataFrame({"id": pid, "time": time, "group": grp, "stress": stress,
                       "y": y})[keep].reset_index(drop=True)
    # plain lists: pandas compares attrs with ``==`` when it propagates them
    df.attrs["random_effects"] = _ListColumns(id=list(range(1, n + 1)), u0=u[:, 0].tolist(),
                                              u1=u[:, 1].tolist())
    return df
