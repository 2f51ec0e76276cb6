"""Binomial, Poisson and Gaussian responses: log-densities against scipy, derivatives
against finite differences, and stability far in the tails."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import special, stats

from statsmodels_glmm.families import Binomial, Gaussian, Poisson, as_response

ETA = np.array([-40.0, -8.0, -2.5, -0.3, 0.0, 0.7, 3.0, 9.0, 35.0])


def _fd_check(fam, y, eta, extra, rtol=1e-6):
    d = fam.derivs(y, eta, extra)
    h = 1e-6
    for k in range(3):
        fd = (fam.derivs(y, eta + h, extra)[k] - fam.derivs(y, eta - h, extra)[k]) / (2 * h)
        err = np.abs(d[k + 1] - fd)
        assert np.all(err <= 1e-6 * (1 + np.abs(d[k + 1]))), (k, err.max())


@pytest.mark.parametrize("link,cdf", [
    ("logit", lambda e: 1 / (1 + np.exp(-e))),
    ("probit", stats.norm.cdf),
    ("cloglog", lambda e: 1 - np.exp(-np.exp(e))),
])
def test_binomial_links(link, cdf):
    fam = Binomial(link)
    eta = np.array([-6.0, -2.5, -0.3, 0.0, 0.7, 3.0, 5.0])
    for yv in (0.0, 1.0):
        y = fam.validate(np.full(len(eta), yv), "y")
        d0 = fam.derivs(y, eta, None)[0]
        ok = np.abs(eta) <= 3  # where scipy's probabilities do not underflow
        np.testing.assert_allclose(d0[ok], stats.bernoulli.logpmf(yv, cdf(eta[ok])), rtol=1e-7)
        _fd_check(fam, y, eta, None)
    # closed forms in the far tails
    y0 = fam.validate(np.zeros(len(ETA)), "y")
    y1 = fam.validate(np.ones(len(ETA)), "y")
    tail0 = {"logit": -np.logaddexp(0, ETA), "probit": special.log_ndtr(-ETA),
             "cloglog": -np.exp(ETA)}[link]
    tail1 = {"logit": -np.logaddexp(0, -ETA), "probit": special.log_ndtr(ETA),
             "cloglog": np.log(-np.expm1(-np.exp(ETA)))}[link]
    np.testing.assert_allclose(fam.derivs(y0, ETA, None)[0], tail0, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fam.derivs(y1, ETA, None)[0], tail1, rtol=1e-6, atol=1e-12)
    # binomial with trials keeps the binomial coefficient
    y = fam.validate(np.column_stack([[3, 0, 5, 2, 1, 7, 4], [4, 6, 0, 3, 2, 1, 4]]), "y")
    d0 = fam.derivs(y, eta, None)[0]
    np.testing.assert_allclose(d0[ok], stats.binom.logpmf(y[ok, 0], y[ok, 1], cdf(eta[ok])),
                               rtol=1e-7)
    _fd_check(fam, y, eta, None)
    np.testing.assert_allclose(fam.mean(eta), cdf(eta), rtol=1e-12)


@pytest.mark.parametrize("fam", [Binomial("logit"), Binomial("probit"), Poisson()])
def test_logpdf_alone_equals_the_log_density_of_derivs(fam):
    # the log-density-only path (quadrature without a gradient) against the full one,
    # for single trials, binomial trials and counts, far into the tails
    if fam.name == "Poisson":
        ys = [np.arange(len(ETA), dtype=float)]
    else:
        ys = [np.zeros(len(ETA)), np.ones(len(ETA)),
              np.column_stack([np.arange(len(ETA)) % 4, np.full(len(ETA), 3)])]
    eta = ETA / 4 if fam.name == "Poisson" else ETA
    for raw in ys:
        y = fam.validate(raw, "y")
        np.testing.assert_allclose(fam.logpdf(y, eta, None), fam.derivs(y, eta, None)[0],
                                   rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_binomial_tails_are_finite(link):
    fam = Binomial(link)
    for yv in (0.0, 1.0):
        y = fam.validate(np.full(len(ETA), yv), "y")
        d = fam.derivs(y, ETA, None)
        for arr in d:
            assert np.all(np.isfinite(arr))
        assert np.all(d[2] <= 0)  # log-concave in eta


def test_poisson_and_gaussian():
    fam = Poisson()
    y = fam.validate(np.array([0, 1, 3, 10, 0, 2, 7, 1, 0.0]), "y")
    eta = ETA / 10
    np.testing.assert_allclose(fam.derivs(y, eta, None)[0], stats.poisson.logpmf(y, np.exp(eta)))
    _fd_check(fam, y, eta, None)
    g = Gaussian()
    y = np.linspace(-2, 3, len(ETA))
    extra = np.array([np.log(0.7)])
    np.testing.assert_allclose(g.derivs(y, ETA / 10, extra)[0],
                               stats.norm.logpdf(y, ETA / 10, 0.7))
    _fd_check(g, y, ETA / 10, extra)
    # analytic family-parameter derivatives against the generic finite differences
    exact = g.extra_derivs(y, ETA / 10, extra)
    generic = super(Gaussian, g).extra_derivs(y, ETA / 10, extra)
    for a, b in zip(exact, generic):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)
    assert g.extra_public(extra)[0] == pytest.approx(0.49)


def test_as_response_maps_statsmodels_families():
    links = sm.families.links
    assert as_response(sm.families.Binomial()).link_name == "logit"
    assert as_response(sm.families.Binomial(link=links.CLogLog())).link_name == "cloglog"
    assert isinstance(as_response(sm.families.Poisson()), Poisson)
    with pytest.raises(ValueError, match="not supported"):
        as_response(sm.families.Gamma())
    with pytest.raises(ValueError, match="link"):
        as_response(sm.families.Binomial(link=links.Cauchy()))


def test_poisson_count_probabilities_conditional_and_marginal():
    import statsmodels_glmm.api as smg
    from scipy import integrate
    from conftest import load_dataset

    df = load_dataset("epil")
    res = smg.mixedglm("y ~ lbase * trt + lage + V4 + (1 | subject)", df,
                       family=sm.families.Poisson()).fit()
    mu = res.predict(df.head(3))
    prob = res.predict(df.head(3), which="prob")
    assert list(prob.columns[:2]) == ["prob_0", "prob_1"]
    assert prob.shape[1] == int(df["y"].max()) + 1
    np.testing.assert_allclose(prob.to_numpy(),
                               stats.poisson.pmf(np.arange(prob.shape[1])[None, :],
                                                 mu.to_numpy()[:, None]), rtol=1e-12)
    # population-averaged probability of a zero count, against direct integration
    eta0 = res.predict(df.head(1), which="linear", random_effects="zero").iloc[0]
    sd = float(np.sqrt(res.cov_re.iloc[0, 0]))
    exact = integrate.quad(lambda b: np.exp(-np.exp(eta0 + b)) * stats.norm.pdf(b, 0, sd),
                           -12 * sd, 12 * sd, epsabs=1e-12)[0]
    got = res.predict(df.head(1), which="prob-zero", random_effects="marginal").iloc[0]
    assert got == pytest.approx(exact, abs=1e-6)


@pytest.mark.parametrize("fam", [sm.families.Poisson(), sm.families.Binomial(),
                                 sm.families.Binomial(sm.families.links.Probit())])
def test_log_density_and_first_derivative_shortcut_equals_the_full_derivatives(fam):
    """The quadrature nodes' shortcut gives the same numbers as ``derivs``, bit for bit."""
    from statsmodels_glmm.families import as_response

    rng = np.random.default_rng(3)
    resp = as_response(fam)
    raw = rng.poisson(3.0, 50) if fam.__class__.__name__ == "Poisson" else rng.integers(0, 2, 50)
    y = resp.validate(raw.astype(float), "y")
    eta = rng.normal(scale=3.0, size=50)
    full = resp.derivs(y, eta, np.zeros(0))
    d0, d1 = resp.logpdf_d1(y, eta, np.zeros(0))
    np.testing.assert_array_equal(d0, full[0])
    np.testing.assert_array_equal(d1, full[1])


def test_probit_zero_one_rows_use_one_tail_and_give_the_two_tail_numbers():
    """For 0/1 outcomes log f = log Phi((2y - 1) eta); the derivatives and the fourth
    derivative equal those combined from both tails, bit for bit, far into the tails."""
    from statsmodels_glmm.families import binary_links

    rng = np.random.default_rng(5)
    resp = as_response(sm.families.Binomial(sm.families.links.Probit()))
    s = rng.integers(0, 2, 200).astype(float)
    y = resp.validate(s, "y")
    eta = np.concatenate([rng.normal(scale=4.0, size=190), [40, -40, 12, -12, 0, 0, 9, -9, 1e-9,
                                                             -1e-9]])
    a, b = binary_links.log_probs("probit", eta)
    f = 1.0 - s
    two = (np.where(s > 0, s * a[0], 0.0) + np.where(f > 0, f * b[0], 0.0),
           s * a[1] + f * b[1], s * a[2] + f * b[2], s * a[3] + f * b[3])
    for got, want in zip(resp.derivs(y, eta, np.zeros(0)), two):
        np.testing.assert_array_equal(got, want)
    a4, b4 = binary_links.log_probs_d4("probit", eta)
    np.testing.assert_array_equal(resp.d4(y, eta, np.zeros(0)), s * a4 + f * b4)


def test_logit_mean_and_softplus_are_exact_in_both_tails():
    """mu = expit(eta) and log(1 + e^eta) from e = exp(-|eta|): relative accuracy at
    any eta (mpmath-free check against the closed forms where they are exact)."""
    eta = np.array([-800.0, -40.0, -1e-300, -0.0, 0.0, 1e-300, 40.0, 800.0, np.nan])
    mu, sp = Binomial._logit_parts(eta)
    np.testing.assert_array_equal(mu[[3, 4]], [0.5, 0.5])
    assert mu[0] == 0.0 and mu[-2] == 1.0 and np.isnan(mu[-1]) and np.isnan(sp[-1])
    np.testing.assert_allclose(mu[1], np.exp(-40.0) / (1 + np.exp(-40.0)), rtol=1e-15)
    np.testing.assert_allclose(sp[[1, 6, 7]], [np.exp(-40.0), 40.0, 800.0], rtol=1e-15)
    assert sp[0] == 0.0
