"""
The NumPyro model of a mixed GLM and its NUTS run.

The random effects are non-centred: for every term ``b = z L'`` with
``z ~ N(0, I)`` and ``L = diag(sd) C`` (``C`` the Cholesky factor of the
block's correlation matrix, LKJ prior).  Fixed effects are sampled as the
coefficients of the centred and scaled columns of :class:`.Problem`.  The
log-likelihood is the family's JAX log-density of :mod:`.densities`.
"""

import time

import numpy as np

from ._deps import release_compiled_if_crowded, require
from .densities import family_logpdf
from .priors import group_priors, grouped_logpdf, prior_logpdf

__all__ = ["build_model", "run_nuts", "unpack"]

#: how the chains run: together in one vectorised program, the least processor time per
#: effective draw of the three NumPyro methods (benchmarks/bench_bayes_chains.py)
CHAIN_METHOD = "vectorized"


def build_model(prob):
    """
    A NumPyro model function for the problem (no arguments; data are constants).

    The function reaches the problem and its data through one dictionary, which
    its ``release()`` empties: NumPyro and JAX keep the functions of finished runs
    in their caches, and would otherwise keep the model and its data with them.
    """
    jax, jnp, numpyro, _ = require()
    import numpyro.distributions as dist
    from numpyro.distributions import constraints

    Xs = jnp.asarray(prob.Xs)
    off = jnp.asarray(prob.offset)
    Zm = prob.model.design.Z
    terms = [(t, jnp.asarray(t.codes), jnp.asarray(Zm[:, t.cols])) for t in prob.terms]
    logpdf = family_logpdf(prob.response, prob.y)
    pri = prob.priors
    kind = prob.kind
    names = prob.exog_names
    icpt = prob.icpt
    inv_scale = 1.0 / prob.scale
    corr_names = iter(prob.corr_names())
    corr_of = []
    for t in prob.terms:
        corr_of.append([next(corr_names) if len(b) > 1 else None for b in t.blocks])
    extra_names = prob.extra_names

    def lp_sum(spec, x):
        return jnp.sum(prior_logpdf(jnp, jax, spec, x))

    beta_groups = group_priors([pri[nm] for nm in names])
    mult = np.where(np.arange(prob.p) == (-1 if icpt is None else icpt), 1.0, inv_scale)
    sd_groups = [group_priors([pri[f"{t.group} {nm} SD"] for nm in t.names])
                 for t in prob.terms]
    zi_names = [n for n in extra_names if n.startswith("inflate_")]
    zi_groups = group_priors([pri[n] for n in zi_names])

    held = {"Xs": Xs, "off": off, "terms": terms, "logpdf": logpdf}
    n_beta = prob.p
    del Xs, off, terms, logpdf

    def model(y_bernoulli=None):
        # y_bernoulli: 0/1 responses replacing the model's own (Bernoulli logit models
        # only), so that one model function serves many data sets of the same design
        if not held:
            raise RuntimeError("this model function was released after its run")
        Xs, terms, logpdf = held["Xs"], held["terms"], held["logpdf"]
        lp = 0.0
        eta = held["off"]
        if n_beta:
            b = numpyro.sample("b", dist.ImproperUniform(constraints.real, (), (n_beta,)))
            lp = lp + grouped_logpdf(jnp, jax, beta_groups, b * mult)
            eta = eta + Xs @ b
        for ti, (t, codes, Zt) in enumerate(terms):
            sd = numpyro.sample(f"sd_{ti}", dist.ImproperUniform(constraints.positive, (),
                                                                  (t.q,)))
            lp = lp + grouped_logpdf(jnp, jax, sd_groups[ti], sd)
            z = numpyro.sample(f"z_{ti}", dist.Normal(0.0, 1.0).expand([t.n_levels, t.q])
                               .to_event(2))
            L = jnp.zeros((t.q, t.q))
            for bi, blk in enumerate(t.blocks):
                idx = jnp.asarray(blk)
                if len(blk) == 1:
                    L = L.at[blk[0], blk[0]].set(sd[blk[0]])
                else:
                    conc = pri[corr_of[ti][bi]][1]
                    C = numpyro.sample(f"corr_{ti}_{bi}", dist.LKJCholesky(len(blk), conc))
                    L = L.at[jnp.ix_(idx, idx)].set(sd[idx][:, None] * C)
            bmat = z @ L.T
            eta = eta + jnp.sum(Zt * bmat[codes], axis=1)
        extra = jnp.zeros(0)
        if kind == "gaussian":
            sigma = numpyro.sample("sigma", dist.ImproperUniform(constraints.positive, (), ()))
            lp = lp + lp_sum(pri["sigma"], sigma)
            extra = jnp.log(sigma)[None]
        elif kind.startswith("ordinal"):
            thr = numpyro.sample("thresholds", dist.ImproperUniform(
                constraints.ordered_vector, (), (len(extra_names),)))
            lp = lp + lp_sum(pri["thresholds"], thr)
            extra = jnp.concatenate([thr[:1], jnp.log(jnp.diff(thr))])
        elif kind in ("nb2", "nb1") or kind in ("zi-nb2", "zi-nb1"):
            alpha = numpyro.sample("alpha", dist.ImproperUniform(constraints.positive, (), ()))
            lp = lp + lp_sum(pri["alpha"], alpha)
            extra = jnp.log(alpha)[None]
        if kind.startswith("zi-"):
            g = numpyro.sample("g", dist.ImproperUniform(constraints.real, (), (len(zi_names),)))
            lp = lp + grouped_logpdf(jnp, jax, zi_groups, g)
            extra = jnp.concatenate([extra, g])
        numpyro.factor("log_prior", lp)
        if y_bernoulli is None:
            numpyro.factor("log_lik", jnp.sum(logpdf(eta, extra)))
        else:
            numpyro.factor("log_lik", jnp.sum(y_bernoulli * eta - jax.nn.softplus(eta)))

    model.release = held.clear
    return model


def run_nuts(prob, draws, tune, chains, seed, target_accept, progress):
    """Run NUTS; returns ``(samples by chain, extra fields by chain, seconds)``."""
    jax, jnp, numpyro, _ = require()
    from numpyro.infer import MCMC, NUTS, init_to_uniform

    release_compiled_if_crowded()  # room for the programs this run compiles
    model = build_model(prob)
    kernel = NUTS(model, target_accept_prob=target_accept, init_strategy=init_to_uniform(
        radius=1.0))
    mcmc = MCMC(kernel, num_warmup=tune, num_samples=draws, num_chains=chains,
                chain_method=CHAIN_METHOD if chains > 1 else "sequential",
                progress_bar=progress)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    t0 = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(seed), extra_fields=("diverging", "num_steps",
                                                     "accept_prob", "potential_energy",
                                                     "energy"))
    samples = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    extra = {k: np.asarray(v)
             for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
    # NumPyro's and JAX's caches keep the run's loop functions, which bind the kernel (so
    # the model function) and this MCMC object: emptied, they no longer hold the model,
    # its data or the draws once the results are dropped
    model.release()
    for name in ("_states", "_states_flat"):
        if getattr(mcmc, name, None) is not None:
            setattr(mcmc, name, None)
    return samples, extra, time.perf_counter() - t0


def unpack(prob, samples):
    """
    Reported parameters and random effects from the sampled values.

    Returns
    -------
    params : ndarray (chains, draws, k)
        ``[beta, var/cov of G, family]`` in the model's order.
    re : list of ndarray (chains, draws, n_levels, q)
        Random effects of every term.
    sds : list of ndarray (chains, draws, q)
    """
    m = prob.model
    lead = next(iter(samples.values())).shape[:2]
    beta = (prob.beta_from_scaled(samples["b"]) if prob.p else np.zeros(lead + (0,)))
    Q = m.design.Z.shape[1]
    G = np.zeros(lead + (Q, Q))
    re, sds = [], []
    for ti, t in enumerate(prob.terms):
        sd = samples[f"sd_{ti}"]
        L = np.zeros(lead + (t.q, t.q))
        for bi, blk in enumerate(t.blocks):
            if len(blk) == 1:
                L[..., blk[0], blk[0]] = sd[..., blk[0]]
            else:
                C = samples[f"corr_{ti}_{bi}"]
                L[..., np.ix_(blk, blk)[0], np.ix_(blk, blk)[1]] = sd[..., blk][..., :, None] * C
        Gt = L @ np.swapaxes(L, -1, -2)
        G[..., np.ix_(t.cols, t.cols)[0], np.ix_(t.cols, t.cols)[1]] = Gt
        re.append(samples[f"z_{ti}"] @ np.swapaxes(L, -1, -2))
        sds.append(sd)
    cs = m.cov_struct
    cov_pub = G[..., cs.rows, cs.cols]
    kind = prob.kind
    if kind == "gaussian":
        fam = samples["sigma"][..., None] ** 2
    elif kind.startswith("ordinal"):
        fam = samples["thresholds"] + prob.threshold_shift(beta)[..., None]
    elif kind in ("nb2", "nb1", "zi-nb2", "zi-nb1"):
        fam = samples["alpha"][..., None]
    else:
        fam = np.zeros(lead + (0,))
    if kind.startswith("zi-"):
        fam = np.concatenate([fam, samples["g"]], axis=-1)
    return np.concatenate([beta, cov_pub, fam], axis=-1), re, sds
