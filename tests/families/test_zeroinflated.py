"""Zero-inflated responses: exact mixtures, derivatives, glmmTMB ZIP fits, predictions, errors."""

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.families import NegativeBinomial, Poisson
from statsmodels_glmm.families.zeroinflated import ZeroInflated

from conftest import load_dataset, load_ref, match_fixed

SIM_FORMULA = "y ~ time * group + stress + (1 + time | id)"
BASES = [("poisson", Poisson, []), ("nb2", lambda: NegativeBinomial(), [np.log(0.5)]),
         ("nb1", lambda: NegativeBinomial(p=1), [np.log(0.8)])]


def _setup(seed=1, n=70):
    rng = np.random.default_rng(seed)
    count = rng.poisson(2, size=n).astype(float)
    count[: n // 3] = 0
    W = np.column_stack([np.ones(n), rng.normal(size=n)])
    eta = rng.normal(0.5, 1, size=n)
    return count, W, eta


def _family(make):
    fam = ZeroInflated(make(), "~ x")
    fam.zi_names = ["Intercept", "x"]
    return fam


def _mixture_logpmf(name, count, W, eta, ex):
    p = special.expit(W @ ex[-2:])
    mu = np.exp(eta)
    if name == "poisson":
        g = stats.poisson.pmf(count, mu)
    elif name == "nb2":
        a = np.exp(ex[0])
        g = stats.nbinom.pmf(count, 1 / a, 1 / (1 + a * mu))
    else:
        a = np.exp(ex[0])
        g = stats.nbinom.pmf(count, mu / a, 1 / (1 + a))
    return np.log(np.where(count == 0, p, 0.0) + (1 - p) * g)


@pytest.mark.parametrize("name, make, eb", BASES)
def test_logpmf_is_the_scipy_mixture(name, make, eb):
    count, W, eta = _setup()
    ex = np.array(eb + [-0.7, 0.4])
    d0 = _family(make).derivs(np.column_stack([count, W]), eta, ex)[0]
    np.testing.assert_allclose(d0, _mixture_logpmf(name, count, W, eta, ex), rtol=1e-12)


@pytest.mark.parametrize("name, make, eb", BASES)
def test_derivatives_match_finite_differences(name, make, eb):
    count, W, eta = _setup(seed=2)
    y = np.column_stack([count, W])
    fam, ex, h = _family(make), np.array(eb + [-0.7, 0.4]), 1e-5
    d = fam.derivs(y, eta, ex)
    up, dn = fam.derivs(y, eta + h, ex), fam.derivs(y, eta - h, ex)
    for k in range(3):
        np.testing.assert_allclose(d[k + 1], (up[k] - dn[k]) / (2 * h), rtol=1e-6, atol=1e-7)
    e = fam.extra_derivs(y, eta, ex)
    for j in range(len(ex)):
        step = np.zeros(len(ex))
        step[j] = h
        up, dn = fam.derivs(y, eta, ex + step), fam.derivs(y, eta, ex - step)
        for k in range(3):
            np.testing.assert_allclose(e[k][:, j], (up[k] - dn[k]) / (2 * h),
                                       rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------ glmmTMB fits
def _fit_zip(name):
    return smg.mixedglm(SIM_FORMULA, load_dataset(name), family=sm.families.Poisson(),
                        zi_formula="~1").fit()


def _check_zip(res, ref):
    assert res.converged
    assert res.llf > ref["logLik"] - 1e-3
    m = match_fixed(res, ref)
    np.testing.assert_allclose(m["est"], m["estimate"], atol=2e-3)
    np.testing.assert_allclose(m["se"], m["se_r"], rtol=0.02)
    zi = ref["zero_inflation"]["coefficients"][0]
    np.testing.assert_allclose(res.params["inflate_Intercept"], zi["estimate"], atol=2e-3)
    np.testing.assert_allclose(res.bse["inflate_Intercept"], zi["se"], rtol=0.02)
    np.testing.assert_allclose(res.cov_re.to_numpy(), ref["random_effects"][0]["cov"],
                               rtol=0.01, atol=1e-3)


@pytest.fixture(scope="module")
def zip_small():
    return _fit_zip("sim_zip_small")


def test_sim_zip_small_matches_glmmtmb(zip_small):
    _check_zip(zip_small, load_ref("sim_zip_small__tmb_zip_rs"))


def test_sim_zip_large_matches_glmmtmb():
    _check_zip(_fit_zip("sim_zip_large"), load_ref("sim_zip_large__tmb_zip_rs"))


def test_zip_predictions_agree_with_glmmtmb(zip_small):
    # glmmTMB predictions for the first CSV rows (response = (1 - zprob) * cond_mean)
    ref = load_ref("sim_zip_small__tmb_zip_rs")["predictions_first10"]
    rows = np.asarray(ref["rows"]) - 1
    pairs = [("mean", "conditional", "response_conditional"),
             ("mean", "zero", "response_population"),
             ("mean-main", "conditional", "cond_mean_conditional"),
             ("linear", "conditional", "link_conditional")]
    for which, re_, key in pairs:
        ours = zip_small.predict(which=which, random_effects=re_).to_numpy()[rows]
        np.testing.assert_allclose(ours, ref[key], rtol=2e-3, err_msg=key)
    p = 1 - zip_small.predict(which="prob-main").to_numpy()[rows]
    np.testing.assert_allclose(p, ref["zprob"], rtol=2e-3)


def test_predict_which_identities(zip_small):
    res = zip_small
    p = 1 - res.predict(which="prob-main").to_numpy()
    np.testing.assert_allclose(p, special.expit(res.params["inflate_Intercept"]))
    mu = res.predict(which="mean-main").to_numpy()
    np.testing.assert_allclose(res.predict(which="mean"), (1 - p) * mu, rtol=1e-12)
    pr = res.predict(which="prob")
    k = int(load_dataset("sim_zip_small")["y"].max())
    assert list(pr.columns) == [f"prob_{j}" for j in range(k + 1)]
    ref = (1 - p)[:, None] * stats.poisson.pmf(np.arange(k + 1)[None, :], mu[:, None])
    ref[:, 0] += p
    np.testing.assert_allclose(pr.to_numpy(), ref, rtol=1e-10)
    np.testing.assert_allclose(res.predict(which="prob-zero"), ref[:, 0], rtol=1e-10)
    # variance of the mixture: E[y^2] - E[y]^2 from the probabilities (long support)
    j = np.arange(200)
    full = (1 - p)[:, None] * stats.poisson.pmf(j[None, :], mu[:, None])
    full[:, 0] += p
    var = (full * j ** 2).sum(1) - ((full * j).sum(1)) ** 2
    np.testing.assert_allclose(res.predict(which="var"), var, rtol=1e-8)


def test_predict_new_data_matches_in_sample(zip_small):
    df = load_dataset("sim_zip_small")
    new = df.iloc[:7]
    for which in ("mean", "prob-zero", "mean-main"):
        np.testing.assert_allclose(zip_small.predict(new, which=which),
                                   zip_small.predict(which=which).iloc[:7], rtol=1e-12)


def test_zi_covariate_and_zinb_fit():
    df = load_dataset("sim_zip_small")
    res = smg.mixedglm("y ~ time + stress + (1 | id)", df, family=NegativeBinomial(),
                       zi_formula="~ group").fit()
    names = list(res.params.index)
    assert names[-3:] == ["alpha", "inflate_Intercept", "inflate_group"]
    # the analytic gradient of the Laplace likelihood vanishes at the optimum
    g = res.mle_retvals["gradient"]
    assert np.max(np.abs(g)) < 1e-3
    # the structural-zero probability per row follows the zi design
    p = 1 - res.predict(which="prob-main").to_numpy()
    lin = res.params["inflate_Intercept"] + res.params["inflate_group"] * df["group"].to_numpy()
    np.testing.assert_allclose(p, special.expit(lin), rtol=1e-12)


def test_simulated_structural_zeros():
    fam = ZeroInflated(Poisson(), "~1")
    fam.zi_names = ["Intercept"]
    n = 40000
    y = np.column_stack([np.ones(n), np.ones(n)])
    rng = np.random.default_rng(0)
    sim = fam.simulate(np.full(n, np.log(3.0)), np.array([0.0]), y, rng)
    # P(0) = 0.5 + 0.5 exp(-3)
    assert abs(np.mean(sim == 0) - (0.5 + 0.5 * np.exp(-3))) < 0.01


# -------------------------------------------------------------- bad input
def test_unknown_zi_column():
    df = load_dataset("sim_zip_small")
    with pytest.raises(ValueError, match="nosuchcolumn"):
        smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson(),
                     zi_formula="~ nosuchcolumn")


def test_zi_needs_count_family():
    df = load_dataset("sim_zip_small").assign(b=lambda d: (d["y"] > 0).astype(int))
    with pytest.raises(ValueError, match="count family"):
        smg.mixedglm("b ~ time + (1 | id)", df, family=sm.families.Binomial(), zi_formula="~1")


def test_zi_bad_counts():
    df = pd.DataFrame({"y": [0, 1, 2.5, 3] * 5, "x": np.arange(20.0),
                       "g": np.repeat([1, 2, 3, 4], 5)})
    with pytest.raises(ValueError, match="non-integer"):
        smg.mixedglm("y ~ x + (1 | g)", df, family=sm.families.Poisson(), zi_formula="~1")


def test_zi_formula_must_be_right_hand_side():
    with pytest.raises(ValueError, match="right-hand side"):
        ZeroInflated(Poisson(), "y ~ x")
