"""
Importance-sampling estimate of the exact marginal log-likelihood.

A check for cases where no fixed quadrature rule settles (binary data with
huge random-effect variances, where the integrand in the random effects is
close to a Gaussian cut by sharp edges).  For group ``i``

.. math::

    \\ell_i = \\log \\int \\exp\\{\\tilde h_i(u)\\} (2\\pi)^{-q/2} du
            = \\log E_p\\left[\\exp\\{\\tilde h_i(u)\\} (2\\pi)^{-q/2} / p(u)\\right],

with the proposal ``p`` a multivariate Student t with ``df`` degrees of
freedom centred at the conditional mode ``u^_i`` and scaled by
``inflate * chol(H_i^-1)``: heavy tails keep the weights bounded where the
integrand is skewed.  All groups share one set of scrambled Sobol
(quasi-random) draws.  The standard error is the delta-method one for
independent draws, summed over groups (a conservative guide for
quasi-random draws).
"""

import numpy as np
from scipy import special, stats

from .chunks import seg_sum
from .laplace import solve_modes
from .quadrature import _node_values, _row_wise, _tiled, stream_exp

__all__ = ["importance_loglike"]


def importance_loglike(res, params=None, ndraws=16384, df=3.0, inflate=1.5, seed=0,
                       block=1024):
    """
    Monte Carlo estimate of the exact marginal log-likelihood and its standard error.

    Parameters
    ----------
    res : MixedGLMResults or MixedGLM
        A fitted model (its estimates are used unless ``params`` is given) or
        a model (then ``params`` is required).
    params : array-like, optional
        Parameters on the reported scale.
    ndraws : int
        Draws per group (a power of two suits the Sobol sequence).
    df : float
        Degrees of freedom of the t proposal.
    inflate : float
        Scale factor of the proposal relative to ``chol(H^-1)``.
    seed : int
        Seed of the scrambled Sobol sequence.
    block : int
        Draws evaluated at a time (memory: rows x block).

    Returns
    -------
    llf : float
    se : float

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=3)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit(nagq=25)
    >>> llf, se = importance_loglike(res, ndraws=4096)
    >>> bool(abs(llf - res.llf) < max(4 * se, 1e-3))
    True
    """
    model = getattr(res, "model", res)
    if params is None:
        if model is res:
            raise ValueError("params is required when a model (not results) is given")
        internal = np.asarray(res.mle_retvals["internal_params"], dtype=float)
    else:
        internal = model.to_internal(np.asarray(params, dtype=float))
    if int(ndraws) < 16:
        raise ValueError("ndraws must be at least 16")
    if df <= 0 or inflate <= 0:
        raise ValueError("df and inflate must be positive")
    d, family = model.design, model.response
    beta, theta, extra = model._split(internal)
    L = model.cov_struct.chol(theta)
    st = solve_modes(d, family, beta, L, extra)
    q, G = d.Z.shape[1], d.n_groups
    S = np.linalg.cholesky(st.Hinv) * inflate  # (G, q, q)
    logdetS = np.log(np.abs(np.linalg.det(S)))
    sob = stats.qmc.Sobol(q + 1, scramble=True, seed=seed).random(int(ndraws))
    sob = np.clip(sob, 1e-12, 1 - 1e-12)
    z = stats.norm.ppf(sob[:, :q])
    tz = z * np.sqrt(df / stats.chi2.ppf(sob[:, q], df))[:, None]  # standard t draws
    log_t = (special.gammaln((df + q) / 2) - special.gammaln(df / 2)
             - 0.5 * q * np.log(df * np.pi) - 0.5 * (df + q) * np.log1p((tz * tz).sum(1) / df))
    sizes = d.group_sizes
    M = st.M
    base = st.eta - (M * np.repeat(st.u, sizes, axis=0)).sum(1)  # fixed part of eta
    ytile = (lambda c, _y=d.y: _tiled(_y, c)) if _row_wise(family) else None
    # streaming per-group sums of w and w^2 with a running maximum
    mx = np.full(G, -np.inf)
    s1 = np.zeros(G)
    s2 = np.zeros(G)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for k0 in range(0, len(tz), block):
            tk = tz[k0:k0 + block]
            U = st.u[:, None, :] + np.matmul(S, tk.T).transpose(0, 2, 1)  # (G, c, q)
            Urows = np.repeat(U, sizes, axis=0)
            eta = base[:, None] + np.einsum("nq,ncq->nc", M, Urows)
            d0 = _node_values(family, d.y, np.ascontiguousarray(eta.T), extra, ytile,
                              False)[0].T  # (rows, nodes)
            logw = (seg_sum(d0, d.starts) - 0.5 * (U * U).sum(2) - 0.5 * q * np.log(2 * np.pi)
                    - log_t[None, k0:k0 + block] + logdetS[:, None])
            mx, r, w = stream_exp(mx, logw)
            s1 = s1 * r + w.sum(1)
            s2 = s2 * r * r + (w * w).sum(1)
    N = len(tz)
    mean = s1 / N
    llf = float(np.sum(mx + np.log(mean)))
    var_rel = np.maximum(s2 / N - mean ** 2, 0.0) / (N * mean ** 2)
    return llf, float(np.sqrt(np.sum(var_rel)))
