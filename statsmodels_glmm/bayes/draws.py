"""
Quantities computed draw by draw: linear predictors, family parameters on the
families' internal scale, pointwise log-likelihoods, predictions and simulated
responses (posterior and prior predictive).
"""

import numpy as np

from ._deps import release_compiled_if_crowded, require
from .densities import family_logpdf
from .priors import prior_sample

__all__ = ["extra_internal", "linear_predictor", "pointwise_loglik", "prior_draws"]


def extra_internal(prob, fam):
    """Family parameters (reported scale, last axis) to the families' internal scale."""
    kind = prob.kind
    fam = np.asarray(fam, dtype=float)
    if kind == "gaussian":
        return 0.5 * np.log(fam)
    if kind.startswith("ordinal"):
        return np.concatenate([fam[..., :1], np.log(np.diff(fam, axis=-1))], axis=-1)
    if kind in ("nb2", "nb1"):
        return np.log(fam)
    if kind in ("zi-nb2", "zi-nb1"):
        return np.concatenate([np.log(fam[..., :1]), fam[..., 1:]], axis=-1)
    return fam


def linear_predictor(prob, beta, re, X=None, Z=None, off=None, positions=None):
    """
    ``X beta + offset + sum_t Z_t b_t[group]`` for every draw (leading axes of ``beta``).

    ``positions`` gives, per term, each row's level (-1: a group not in the fit,
    whose random effects are zero); None uses the fitted rows.  ``re`` None
    leaves the random effects out.
    """
    d = prob.model.design
    X = d.X if X is None else X
    Z = d.Z if Z is None else Z
    off = d.offset if off is None else off
    eta = beta @ X.T + off
    if re is None:
        return eta
    for ti, t in enumerate(prob.terms):
        pos = t.codes if positions is None else positions[ti]
        known = pos >= 0
        b = re[ti][..., np.where(known, pos, 0), :]           # (..., n, q)
        part = np.sum(b * Z[:, t.cols], axis=-1)
        eta = eta + np.where(known, part, 0.0)
    return eta


def pointwise_loglik(prob, eta, extra):
    """Log-density of every row at every draw: ``eta`` (..., n), ``extra`` (..., k)."""
    jax, jnp, _, _ = require()
    release_compiled_if_crowded()  # (this compiles a program of its own at every call)
    f = family_logpdf(prob.response, prob.y)
    lead = eta.shape[:-1]
    e2 = jnp.asarray(eta.reshape(-1, eta.shape[-1]))
    x2 = jnp.asarray(extra.reshape(-1, extra.shape[-1]) if extra.shape[-1] else
                     np.zeros((e2.shape[0], 0)))
    out = jax.jit(jax.vmap(f))(e2, x2)
    return np.asarray(out).reshape(lead + (eta.shape[-1],))


def prior_draws(prob, n, rng):
    """
    ``n`` draws of the reported parameters and random effects from the prior.

    Returns ``(params (n, k), re list of (n, n_levels, q))`` as :func:`.sampler.unpack`.
    """
    pri = prob.priors
    beta_s = np.zeros((n, prob.p))
    for j, nm in enumerate(prob.exog_names):
        x = prior_sample(pri[nm], n, rng)
        beta_s[:, j] = x if j == prob.icpt else x * prob.scale[j]
    beta = prob.beta_from_scaled(beta_s)
    m = prob.model
    Q = m.design.Z.shape[1]
    G = np.zeros((n, Q, Q))
    re = []
    corr = iter(prob.corr_names())
    for t in prob.terms:
        sd = np.column_stack([prior_sample(pri[f"{t.group} {nm} SD"], n, rng)
                              for nm in t.names])
        L = np.zeros((n, t.q, t.q))
        for blk in t.blocks:
            if len(blk) == 1:
                L[:, blk[0], blk[0]] = sd[:, blk[0]]
                continue
            C = _lkj_cholesky(len(blk), pri[next(corr)][1], n, rng)
            ix = np.ix_(blk, blk)
            L[:, ix[0], ix[1]] = sd[:, blk][:, :, None] * C
        G[:, np.ix_(t.cols, t.cols)[0], np.ix_(t.cols, t.cols)[1]] = L @ L.transpose(0, 2, 1)
        re.append(rng.standard_normal((n, t.n_levels, t.q)) @ L.transpose(0, 2, 1))
    cs = m.cov_struct
    kind = prob.kind
    fam = np.zeros((n, 0))
    if kind == "gaussian":
        fam = prior_sample(pri["sigma"], n, rng)[:, None] ** 2
    elif kind.startswith("ordinal"):
        k = len(prob.extra_names)
        thr = np.sort(np.column_stack([prior_sample(pri["thresholds"], n, rng)
                                       for _ in range(k)]), axis=1)
        fam = thr + prob.threshold_shift(beta)[:, None]
    elif kind in ("nb2", "nb1", "zi-nb2", "zi-nb1"):
        fam = prior_sample(pri["alpha"], n, rng)[:, None]
    if kind.startswith("zi-"):
        zn = [x for x in prob.extra_names if x.startswith("inflate_")]
        g = np.column_stack([prior_sample(pri[x], n, rng) for x in zn])
        fam = np.concatenate([fam, g], axis=1)
    return np.concatenate([beta, G[:, cs.rows, cs.cols], fam], axis=1), re


def _lkj_cholesky(dim, eta, n, rng):
    """Cholesky factors of LKJ(eta) correlation matrices (onion method, as NumPyro)."""
    _, jnp, _, _ = require()
    import jax
    import numpyro.distributions as dist

    key = jax.random.PRNGKey(int(rng.integers(2 ** 31)))
    return np.asarray(dist.LKJCholesky(dim, eta).sample(key, (n,)))


def simulate_responses(prob, eta, extra, rng):
    """One simulated response per draw (rows: draws) in the fitted rows' order."""
    resp = prob.response
    y = prob.y
    out = []
    for e, x in zip(eta, extra):
        out.append(np.asarray(resp.simulate(e, x, y, rng), dtype=float))
    return np.asarray(out)
