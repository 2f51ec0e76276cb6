"""The JAX log-densities of the Bayesian fit equal the families' NumPy ones."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("numpyro")

import statsmodels_glmm.api as smg  # noqa: E402
from statsmodels_glmm.bayes.densities import family_logpdf  # noqa: E402
from statsmodels_glmm.bayes.priors import (check_prior, prior_logpdf,  # noqa: E402
                                           scipy_logpdf)
from statsmodels_glmm.families import (Binomial, Gaussian, NegativeBinomial,  # noqa: E402
                                       Ordinal, Poisson)

RNG = np.random.default_rng(20240601)
N = 400
ETA = np.concatenate([RNG.normal(0, 2, N - 6), [-30.0, -8.0, 0.0, 8.0, 25.0, 3.0]])


def _compare(fam, y, extra, eta=ETA):
    f = family_logpdf(fam, y)
    ours = np.asarray(f(eta, np.asarray(extra, dtype=float)))
    ref = fam.derivs(y, eta, np.asarray(extra, dtype=float))[0]
    assert np.all(np.isfinite(ref))
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_binomial_log_density_matches_numpy_with_trials(link):
    fam = Binomial(link=link)
    n = RNG.integers(1, 8, N).astype(float)
    s = np.floor(RNG.uniform(0, 1, N) * (n + 1))
    _compare(fam, fam.validate(np.column_stack([s, n - s]), "y"), [])


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_bernoulli_log_density_matches_numpy(link):
    fam = Binomial(link=link)
    _compare(fam, fam.validate(RNG.integers(0, 2, N).astype(float), "y"), [],
             eta=np.clip(ETA, -8, 8))


def test_poisson_log_density_matches_numpy():
    y = RNG.poisson(3, N).astype(float)
    _compare(Poisson(), y, [], eta=np.clip(ETA, -20, 6))


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("log_alpha", [-3.0, 0.4])
def test_negative_binomial_log_density_matches_numpy(p, log_alpha):
    y = RNG.negative_binomial(2, 0.4, N).astype(float)
    _compare(NegativeBinomial(p=p), y, [log_alpha], eta=np.clip(ETA, -20, 6))


def test_gaussian_log_density_matches_numpy():
    y = RNG.normal(1, 2, N)
    _compare(Gaussian(), y, [0.7])


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_ordinal_log_density_matches_numpy(link):
    fam = Ordinal(link=link)
    y = fam.validate(pd.Series(RNG.integers(0, 5, N)), "y")
    extra = fam.extra_internal(np.array([-1.5, -0.2, 0.9, 2.4]))
    _compare(fam, y, extra, eta=np.clip(ETA, -12, 12))


@pytest.mark.parametrize("base", ["poisson", "negbin"])
def test_zero_inflated_log_density_matches_numpy(base):
    df = pd.DataFrame({"id": np.repeat(np.arange(40), 10), "x": RNG.normal(size=N),
                       "w": RNG.normal(size=N)})
    df["y"] = RNG.poisson(2, N) * (RNG.uniform(size=N) > 0.3)
    fam = smg.families.NegativeBinomial() if base == "negbin" else Poisson()
    m = smg.mixedglm("y ~ x + (1 | id)", df, family=fam, zi_formula="~ w")
    extra = np.r_[[-0.5] * (base == "negbin"), -0.8, 0.6]
    _compare(m.response, m.design.y, extra, eta=np.clip(ETA, -10, 5))


@pytest.mark.parametrize("spec", [("normal", 0.5, 2.0), ("student_t", 3, 0.2, 2.5),
                                  ("cauchy", 0, 1.5), ("logistic", 0.3, 0.8),
                                  ("exponential", 1.7), ("half_normal", 2.0),
                                  ("half_student_t", 3, 2.5), ("half_cauchy", 1.0),
                                  ("gamma", 2.0, 0.5)])
def test_prior_densities_match_scipy(spec):
    import jax
    import jax.numpy as jnp

    spec = check_prior("x", spec, "positive" if spec[0] in (
        "exponential", "half_normal", "half_student_t", "half_cauchy", "gamma") else "real")
    x = np.linspace(0.05, 6, 25)
    np.testing.assert_allclose(np.asarray(prior_logpdf(jnp, jax, spec, jnp.asarray(x))),
                               scipy_logpdf(spec, x), rtol=1e-10, atol=1e-12)
