"""Simulation-based calibration of a small binary random-intercept model.

Parameters are drawn from the priors, data from the model given them, and the
posterior is sampled; when the sampler and the model agree, the rank of the true
value among the posterior draws is uniform (Talts et al. 2018).  One model function
and NUTS kernel serve every replication (same design, new responses); NumPyro compiles
each run's programs anew, and JAX keeps them, so the replications drop them when the
process's memory maps crowd (as fit_bayes does before each run).
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

pytest.importorskip("numpyro")

import statsmodels.api as sm  # noqa: E402

import statsmodels_glmm.api as smg  # noqa: E402

N_REP = 100
N_GROUPS, N_PER = 30, 6
L_DRAWS = 99           # thinned posterior draws per replication: ranks 0..99
N_BINS = 10
PRIORS = {"Intercept": ("normal", 0, 1), "x": ("normal", 0, 1),
          "g Intercept SD": ("half_normal", 1)}


@pytest.mark.slow
def test_rank_statistics_are_uniform():
    import jax
    from numpyro.infer import MCMC, NUTS

    from statsmodels_glmm.bayes._deps import release_compiled_if_crowded
    from statsmodels_glmm.bayes.problem import Problem
    from statsmodels_glmm.bayes.sampler import build_model, unpack

    rng = np.random.default_rng(123)
    g = np.repeat(np.arange(N_GROUPS), N_PER)
    x = rng.normal(size=g.size)
    df = pd.DataFrame({"g": g, "x": x, "y": rng.integers(0, 2, g.size)})
    model = smg.mixedglm("y ~ x + (1 | g)", df, family=sm.families.Binomial())
    prob = Problem(model, PRIORS)
    mcmc = MCMC(NUTS(build_model(prob)), num_warmup=300, num_samples=396, num_chains=1,
                progress_bar=False)
    ranks = []
    for rep in range(N_REP):
        alpha, beta = rng.normal(0, 1, 2)       # centred intercept, slope of x
        sd = abs(rng.normal(0, 1))
        b = rng.normal(0, sd, N_GROUPS)
        eta = alpha + beta * (x - x.mean()) + b[g]
        y = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
        release_compiled_if_crowded()
        mcmc.run(jax.random.PRNGKey(rep), y_bernoulli=y)
        samples = {k: np.asarray(v)[None] for k, v in mcmc.get_samples().items()}
        params = unpack(prob, samples)[0][0]          # (draws, [Intercept, x, Var])
        thin = params[::4][:L_DRAWS]
        truth = np.array([alpha - beta * x.mean(), beta, sd ** 2])
        ranks.append(np.sum(thin < truth, axis=0))
    ranks = np.array(ranks)
    pvals = []
    for j in range(ranks.shape[1]):
        counts = np.bincount(ranks[:, j] * N_BINS // (L_DRAWS + 1), minlength=N_BINS)
        pvals.append(stats.chisquare(counts).pvalue)
    print("SBC chi-square p-values (Intercept, x, Var):", np.round(pvals, 3))
    assert min(pvals) > 0.01, pvals
