"""
Cumulative-link ordinal mixed models.

Checked against ordinal::clmm (tests/results), against statsmodels'
OrderedModel in the zero-variance limit, against direct probability
computations (scipy, mpmath in the tails) and by finite differences.
"""

import importlib.util

import mpmath
import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats
from statsmodels.miscmodels.ordinal_model import OrderedModel

import statsmodels_glmm.api as smg
from statsmodels_glmm.families import Ordinal
from conftest import load_dataset, load_ref, match_fixed

HAS_AGQ = importlib.util.find_spec("statsmodels_glmm.likelihood.quadrature") is not None
needs_agq = pytest.mark.skipif(not HAS_AGQ,
                               reason="statsmodels_glmm.likelihood.quadrature not available")

WINE = "rating ~ temp + contact + (1 | judge)"
SIM_RI = "y ~ time * group + stress + (1 | id)"
SIM_RS = "y ~ time * group + stress + (1 + time | id)"

CDF = {"logit": stats.logistic, "probit": stats.norm, "cloglog": stats.gumbel_l}


def _fit(data, formula, nagq=1, link="logit"):
    return smg.mixedglm(formula, data, family=Ordinal(link=link)).fit(nagq=nagq)


@pytest.fixture(scope="module")
def wine():
    return load_dataset("wine")


@pytest.fixture(scope="module")
def sim_small():
    return load_dataset("sim_ordinal_small")


@pytest.fixture(scope="module")
def wine_fit(wine):
    return _fit(wine, WINE)


# ---------------------------------------------------------------- clmm
def _compare_clmm(res, ref, llf_tol=1e-3, est_tol=2e-3, se_rtol=0.02):
    assert res.converged
    assert abs(res.llf - ref["logLik"]) < llf_tol
    fx = match_fixed(res, ref)
    np.testing.assert_allclose(fx["est"], fx["estimate"], atol=est_tol)
    np.testing.assert_allclose(fx["se"], fx["se_r"], rtol=se_rtol)
    th = pd.DataFrame(ref["thresholds"]).set_index("term")
    ours = res.family_params
    assert list(ours.index) == list(th.index)
    np.testing.assert_allclose(ours, th["estimate"], atol=est_tol)
    se = res.bse[list(th.index)]
    np.testing.assert_allclose(se, th["se"], rtol=se_rtol)
    # the clmm vcov_all block of thresholds and fixed effects (same order)
    v = ref["vcov_all"]
    names = [n for n in v["rownames"] if not n.startswith("ST")]
    idx = [v["rownames"].index(n) for n in names]
    R = np.asarray(v["values"])[np.ix_(idx, idx)]
    ours_names = [n if n in th.index else _patsy_name(res, n) for n in names]
    C = res.cov_params().loc[ours_names, ours_names].to_numpy()
    np.testing.assert_allclose(C, R, atol=0.02 * np.max(np.abs(R)))
    G = np.asarray(ref["random_effects"][0]["cov"])
    np.testing.assert_allclose(res.cov_re.to_numpy(), G, atol=5e-3 * max(1.0, G.max()))


def _patsy_name(res, r):
    from conftest import r_name

    for n in res.model.exog_names:
        if r_name(n) == r:
            return n
    raise KeyError(r)


def test_wine_laplace_matches_clmm(wine_fit):
    _compare_clmm(wine_fit, load_ref("wine__clmm_laplace"))


@needs_agq
def test_wine_agq10_matches_clmm(wine):
    _compare_clmm(_fit(wine, WINE, nagq=10), load_ref("wine__clmm_agq10"))


def test_sim_small_ri_laplace_matches_clmm(sim_small):
    _compare_clmm(_fit(sim_small, SIM_RI), load_ref("sim_ordinal_small__clmm_ri_laplace"))


@needs_agq
def test_sim_small_ri_agq10_matches_clmm(sim_small):
    _compare_clmm(_fit(sim_small, SIM_RI, nagq=10),
                  load_ref("sim_ordinal_small__clmm_ri_agq10"))


def test_sim_small_random_slopes_laplace_matches_clmm(sim_small):
    _compare_clmm(_fit(sim_small, SIM_RS), load_ref("sim_ordinal_small__clmm_rs_laplace"))


def test_wine_conditional_and_population_probabilities_match_clmm(wine, wine_fit):
    pred = load_ref("wine__clmm_laplace")["predictions_first10"]
    rows = np.asarray(pred["rows"]) - 1
    for re_, key in (("conditional", "conditional"), ("zero", "population")):
        prob = wine_fit.predict(which="prob", random_effects=re_).iloc[rows]
        cum = wine_fit.predict(which="cum", random_effects=re_).iloc[rows]
        lin = wine_fit.predict(which="linear", random_effects=re_).iloc[rows]
        np.testing.assert_allclose(prob, pred[f"catprob_{key}"], atol=2e-3)
        np.testing.assert_allclose(cum, pred[f"cumprob_{key}"], atol=2e-3)
        np.testing.assert_allclose(lin, pred[f"link_{key}"], atol=5e-3)
    # new-data path gives the same as the in-sample path
    new = wine_fit.predict(wine.iloc[rows], which="prob")
    np.testing.assert_allclose(new, pred["catprob_conditional"], atol=2e-3)


# ----------------------------------------------- OrderedModel (no variance)
@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_loglike_at_zero_variance_equals_ordered_model(wine, link):
    om = OrderedModel.from_formula("rating ~ temp + contact", wine, distr=CDF[link]
                                   if link == "cloglog" else link)
    omr = om.fit(method="bfgs", disp=False, maxiter=500)
    model = smg.mixedglm(WINE, wine, family=Ordinal(link=link))
    k = model.k_fe
    # OrderedModel's internal thresholds are [theta_0, log increments] as ours
    x = np.concatenate([omr.params[:k], [0.0], omr.params[k:]])
    llf = model.loglike_internal(x)[0]
    assert llf == pytest.approx(omr.llf, abs=1e-9)


def test_pinned_variance_fit_matches_ordered_model(sim_small):
    om = OrderedModel.from_formula("y ~ time * group + stress", sim_small, distr="logit")
    omr = om.fit(method="bfgs", disp=False, maxiter=1000, gtol=1e-8)
    model = smg.mixedglm(SIM_RI, sim_small, family=Ordinal())
    k = model.k_fe
    names = model.exog_names
    tiny = 1e-4  # SD of the random intercept, pinned

    def f(z):
        x = np.concatenate([z[:k], [tiny], z[k:]])
        llf, g, _ = model.loglike_internal(x, gradient=True)
        return -llf, -np.delete(g, k)

    z0 = np.concatenate([np.zeros(k), model.response.extra_internal([-1, 0, 1])])
    opt = optimize.minimize(f, z0, jac=True, method="BFGS", options=dict(gtol=1e-8))
    beta = pd.Series(opt.x[:k], index=names)
    om_beta = omr.params[[n for n in omr.params.index if "/" not in n]]
    np.testing.assert_allclose(beta[om_beta.index], om_beta, atol=1e-4)
    th = model.response.extra_public(opt.x[k:])
    np.testing.assert_allclose(th, om.transform_threshold_params(omr.params)[1:-1], atol=1e-4)
    assert -opt.fun == pytest.approx(omr.llf, abs=1e-5)


# ------------------------------------------------- log-density and derivatives
def _family(K=4, link="logit"):
    fam = Ordinal(link=link)
    fam.validate(np.arange(K), "y")
    return fam


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_log_density_matches_direct_probabilities(link):
    fam = _family(4, link)
    theta = np.array([-1.0, 0.3, 2.0])
    extra = fam.extra_internal(theta)
    eta = np.linspace(-3, 3, 13)
    F, S = CDF[link].cdf, CDF[link].sf
    edges = np.concatenate([[-np.inf], theta, [np.inf]])
    for k in range(4):
        y = np.full(eta.shape, k)
        a, c = edges[k + 1] - eta, edges[k] - eta
        # difference of survival functions where both are in the upper tail
        direct = np.log(np.where(F(c) > 0.5, S(c) - S(a), F(a) - F(c)))
        np.testing.assert_allclose(fam.derivs(y, eta, extra)[0], direct, rtol=1e-10)


def _mp_cdf(link, x, upper=False):
    """F(x), or S(x) = 1 - F(x) with ``upper``, in arbitrary precision."""
    x = mpmath.mpf(x)
    if link == "logit":
        return 1 / (1 + mpmath.exp(x if upper else -x))
    if link == "probit":
        return mpmath.ncdf(-x if upper else x)
    s = mpmath.exp(-mpmath.exp(x))
    return s if upper else 1 - s


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_log_density_accurate_in_the_tails(link):
    mpmath.mp.dps = 60
    fam = _family(4, link)
    theta = np.array([-1.0, 0.3, 2.0])
    extra = fam.extra_internal(theta)
    edges = [-mpmath.inf, *theta, mpmath.inf]
    etas = [-35.0, -12.0, 12.0, 35.0] if link != "probit" else [-25.0, -9.0, 9.0, 25.0]
    for e in etas:
        for k in range(4):
            up = k > 0 and edges[k] - e > 0   # both ends in the upper tail
            lo = (1 if up else 0) if k == 0 else _mp_cdf(link, edges[k] - e, up)
            hi = (0 if up else 1) if k == 3 else _mp_cdf(link, edges[k + 1] - e, up)
            exact = float(mpmath.log(lo - hi if up else hi - lo))
            got = fam.derivs(np.array([k]), np.array([e]), extra)[0][0]
            assert np.isfinite(got)
            assert got == pytest.approx(exact, rel=1e-8, abs=1e-12), (e, k)


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_eta_derivatives_match_finite_differences(link):
    fam = _family(4, link)
    extra = fam.extra_internal([-1.0, 0.3, 2.0])
    rng = np.random.default_rng(1)
    eta = np.concatenate([rng.normal(0, 2, 40), [-15.0, 15.0, -8.0, 8.0]])
    y = np.concatenate([rng.integers(0, 4, 40), [0, 3, 3, 0]])
    d = fam.derivs(y, eta, extra)
    h = 1e-5
    for m in range(3):
        fd = (fam.derivs(y, eta + h, extra)[m] - fam.derivs(y, eta - h, extra)[m]) / (2 * h)
        np.testing.assert_allclose(d[m + 1], fd, rtol=1e-5, atol=1e-7)
    # log-concavity: the mode solver relies on d2 <= 0
    assert np.all(d[2] <= 1e-12)


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_threshold_derivatives_match_finite_differences(link):
    fam = _family(5, link)
    extra = fam.extra_internal([-1.5, -0.2, 0.9, 2.4])
    rng = np.random.default_rng(2)
    eta = rng.normal(0, 2, 60)
    y = rng.integers(0, 5, 60)
    an = fam.extra_derivs(y, eta, extra)
    h = 1e-6
    for j in range(len(extra)):
        e = np.zeros(len(extra))
        e[j] = h
        plus, minus = fam.derivs(y, eta, extra + e), fam.derivs(y, eta, extra - e)
        for m in range(3):
            fd = (plus[m] - minus[m]) / (2 * h)
            np.testing.assert_allclose(an[m][:, j], fd, rtol=1e-5, atol=1e-7)


def test_threshold_jacobian_matches_finite_differences():
    fam = _family(5)
    extra = fam.extra_internal([-1.5, -0.2, 0.9, 2.4])
    J = fam.extra_jacobian(extra)
    fd = np.column_stack([(fam.extra_public(extra + e) - fam.extra_public(extra - e)) / 2e-6
                          for e in 1e-6 * np.eye(4)])
    np.testing.assert_allclose(J, fd, rtol=1e-7)
    np.testing.assert_allclose(fam.extra_public(extra), [-1.5, -0.2, 0.9, 2.4])


def test_laplace_gradient_matches_finite_differences(sim_small):
    model = smg.mixedglm(SIM_RS, sim_small, family=Ordinal())
    x = np.array([0.4, 0.4, 0.45, -0.1, 0.8, 0.05, 0.3, -1.0, np.log(1.4), np.log(1.5)])
    _, g, _ = model.loglike_internal(x, gradient=True, warm=False)
    fd = np.zeros_like(x)
    for j in range(len(x)):
        e = np.zeros_like(x)
        e[j] = 1e-5
        fd[j] = (model.loglike_internal(x + e, warm=False)[0]
                 - model.loglike_internal(x - e, warm=False)[0]) / 2e-5
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5)


@needs_agq
def test_vector_agq_matches_brute_force_integral(sim_small):
    """Random intercept and slope: product-rule AGQ against a dense fixed grid."""
    model = smg.mixedglm(SIM_RS, sim_small, family=Ordinal())
    x = np.array([0.45, 0.44, 0.47, -0.11, 0.84, 0.01, 0.35, -1.0, np.log(1.5), np.log(1.57)])
    d, fam = model.design, model.response
    beta, theta, extra = model._split(x)
    # non-adaptive product Gauss-Hermite rule (probabilists'), 60 x 60 nodes
    z, w = np.polynomial.hermite_e.hermegauss(60)
    w = w / np.sqrt(2 * np.pi)
    U = np.array(np.meshgrid(z, z, indexing="ij")).reshape(2, -1).T
    W = np.outer(w, w).ravel()
    eta = (d.X @ beta + d.offset)[:, None] + d.Z @ model.cov_struct.chol(theta) @ U.T
    y = np.repeat(d.y[:, None], eta.shape[1], axis=1)
    logf = fam.derivs(y.ravel(), eta.ravel(), extra)[0].reshape(eta.shape)
    per = np.add.reduceat(logf, d.starts, axis=0)
    top = per.max(axis=1, keepdims=True)
    brute = float(np.sum(top[:, 0] + np.log(np.exp(per - top) @ W)))
    agq = model.loglike_internal(x, nagq=9, warm=False)[0]
    assert agq == pytest.approx(brute, abs=1e-4)
    laplace = model.loglike_internal(x, nagq=1, warm=False)[0]
    assert abs(laplace - brute) > 10 * abs(agq - brute)


# ------------------------------------------------------------- predictions
def test_probabilities_sum_to_one_and_agree_with_cumulative(wine, wine_fit):
    for re_ in ("conditional", "zero"):
        prob = wine_fit.predict(wine, which="prob", random_effects=re_)
        cum = wine_fit.predict(wine, which="cum", random_effects=re_)
        assert list(prob.columns) == ["1", "2", "3", "4", "5"]
        assert list(cum.columns) == ["<=1", "<=2", "<=3", "<=4"]
        np.testing.assert_allclose(prob.sum(axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(prob.cumsum(axis=1).iloc[:, :-1], cum, atol=1e-12)
        mean = wine_fit.predict(wine, which="mean", random_effects=re_)
        np.testing.assert_allclose(mean, prob.to_numpy() @ np.arange(1, 6), atol=1e-12)
        assert prob.index.equals(wine.index)


def test_extreme_linear_predictor_probabilities():
    fam = _family(4, "logit")
    extra = fam.extra_internal([-1.0, 0.3, 2.0])
    p = fam.predict_which(np.array([-60.0, 0.0, 60.0]), extra, "prob")
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-14)
    assert p[0, 0] == pytest.approx(1.0) and p[2, 3] == pytest.approx(1.0)
    assert np.all(p >= 0)


def test_marginal_probabilities_integrate_over_random_intercept(wine, wine_fit):
    pytest.importorskip("statsmodels_glmm.marginal.predict")
    rows = wine.iloc[[0, 2, 4, 6]]
    got = wine_fit.predict(rows, which="prob", random_effects="marginal")
    eta0 = wine_fit.predict(rows, which="linear", random_effects="zero").to_numpy()
    sd = float(np.sqrt(wine_fit.cov_re.iloc[0, 0]))
    # brute force: dense trapezoid grid over the random intercept
    z = np.linspace(-9, 9, 4001)
    w = stats.norm.pdf(z) * (z[1] - z[0])
    fam = wine_fit.model.response
    extra = wine_fit._extra()
    expect = np.stack([w @ fam.prob(e + sd * z, extra) for e in eta0])
    np.testing.assert_allclose(got.to_numpy(), expect, atol=1e-6)


def test_odds_ratios_and_summary(wine_fit):
    orat = wine_fit.odds_ratios()
    assert "OR" in orat.columns
    np.testing.assert_allclose(orat["OR"], np.exp(wine_fit.fe_params))
    text = str(wine_fit.summary())
    for name in ("threshold 1|2", "threshold 4|5", "Ordinal"):
        assert name in text
    assert "Intercept" not in list(wine_fit.fe_params.index)


# -------------------------------------------------------------- simulation
def test_simulated_category_frequencies_match_probabilities(wine_fit):
    sims = wine_fit.simulate(nsim=400, random_effects="conditional", seed=3)
    assert set(np.unique(sims.to_numpy())) <= {"1", "2", "3", "4", "5"}
    prob = wine_fit.predict(which="prob").to_numpy()
    for j, lev in enumerate(["1", "2", "3", "4", "5"]):
        freq = (sims.to_numpy() == lev).mean(1)
        se = np.sqrt(prob[:, j] * (1 - prob[:, j]) / 400)
        # row-wise frequencies: a z-statistic over all 72 rows
        zstat = np.sum(freq - prob[:, j]) / np.sqrt(np.sum(se ** 2))
        assert abs(zstat) < 4


def test_simulate_numeric_levels_returns_values(sim_small):
    res = _fit(sim_small, SIM_RI)
    sims = res.simulate(nsim=2, seed=0)
    assert set(np.unique(sims.to_numpy())) <= {1.0, 2.0, 3.0, 4.0}
    assert sims.shape == (len(sim_small), 2)


# ------------------------------------------------------------ input forms
def test_response_forms_give_the_same_fit(wine, wine_fit):
    labels = {"1": "awful", "2": "poor", "3": "fair", "4": "good", "5": "great"}
    order = list(labels.values())
    text = wine.assign(rating=wine["rating"].astype(str).map(labels))
    res_text = smg.mixedglm(WINE, text, family=Ordinal(levels=order)).fit()
    assert res_text.llf == pytest.approx(wine_fit.llf, abs=1e-8)
    assert list(res_text.family_params.index) == ["awful|poor", "poor|fair", "fair|good",
                                                  "good|great"]
    ints = wine.assign(rating=wine["rating_int"])
    res_int = smg.mixedglm(WINE, ints, family=Ordinal()).fit()
    np.testing.assert_allclose(res_int.params, wine_fit.params, atol=1e-8)
    assert text["rating"].iloc[0] == "poor"  # the user's frame is untouched


def test_probit_and_cloglog_fit_and_differ(wine, wine_fit):
    for link in ("probit", "cloglog"):
        res = _fit(wine, WINE, link=link)
        assert res.converged
        assert np.all(np.diff(res.family_params) > 0)
        assert res.fe_params["temp[T.warm]"] > 0
        assert res.model.response.link_name == link


def test_validation_messages():
    with pytest.raises(ValueError, match="levels="):
        Ordinal().validate(np.array(["lo", "hi", "lo"]), "sev")
    cat = pd.Categorical(["lo", "hi"], categories=["lo", "hi"], ordered=False)
    with pytest.raises(ValueError, match="unordered"):
        Ordinal().validate(cat, "sev")
    with pytest.raises(ValueError, match="single observed category"):
        Ordinal().validate(np.array([2, 2, 2]), "sev")
    with pytest.raises(ValueError, match=r"never observed.*'mid'|'mid'.*never observed"):
        Ordinal(levels=["lo", "mid", "hi"]).validate(np.array(["lo", "hi"]), "sev")
    with pytest.raises(ValueError, match="not in levels"):
        Ordinal(levels=["lo", "hi"]).validate(np.array(["lo", "hi", "max"]), "sev")
    with pytest.raises(ValueError, match="link"):
        Ordinal(link="log")
    with pytest.raises(ValueError, match="increasing"):
        _family(3).extra_internal([1.0, 0.5])
    with pytest.raises(ValueError, match="which"):
        _family(3).predict_which(np.zeros(2), np.zeros(2), "variance")


def test_unordered_text_in_a_formula_names_the_column(wine):
    df = wine.assign(rating=wine["rating"].astype(str))
    with pytest.raises(ValueError, match="'rating'"):
        smg.mixedglm(WINE, df, family=Ordinal())


def test_array_spelling_matches_formula(wine, wine_fit):
    from statsmodels_glmm.model import MixedGLM

    X = pd.DataFrame({"temp[T.warm]": (wine["temp"] == "warm").astype(float),
                      "contact[T.yes]": (wine["contact"] == "yes").astype(float)})
    res = MixedGLM(wine["rating"], X, wine["judge"], family=Ordinal()).fit()
    assert res.llf == pytest.approx(wine_fit.llf, abs=1e-8)
    np.testing.assert_allclose(res.params, wine_fit.params, atol=1e-6)
    with pytest.raises(ValueError, match="'const'"):
        MixedGLM(wine["rating"], X.assign(const=1.0), wine["judge"], family=Ordinal())


def test_full_dummy_coding_is_refused(wine):
    with pytest.raises(ValueError, match="no intercept"):
        smg.mixedglm("rating ~ 0 + temp + (1 | judge)", wine, family=Ordinal())


def test_threshold_rows_are_kept_for_one_response_and_thresholds():
    import pickle

    fam = Ordinal()
    y = fam.validate(np.array([0, 1, 2, 3, 1]), "y")
    eta, ex = np.array([0.3, -0.2, 1.1, 0.0, 0.5]), np.array([-0.5, 0.2, -0.1])
    first = fam.extra_derivs(y, eta, ex)
    kept = fam.__dict__["_jrows"]
    # the derivative of every threshold: 1 for the first, exp(phi_j) from the j-th on
    J = np.tril(np.ones((3, 3))) * np.array([1.0, np.exp(0.2), np.exp(-0.1)])
    pad = np.vstack([np.zeros(3), J, np.zeros(3)])
    np.testing.assert_array_equal(kept[2][0], pad[y + 1])
    np.testing.assert_array_equal(kept[2][1], pad[y])
    fam.extra_derivs(y, eta + 0.4, ex)  # another node of the same evaluation
    assert fam.__dict__["_jrows"] is kept
    moved = fam.extra_derivs(y, eta, ex + 0.1)
    fresh = Ordinal().extra_derivs(y, eta, ex + 0.1)
    for a, b, c in zip(moved, fresh, first):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    assert "_jrows" not in pickle.loads(pickle.dumps(fam)).__dict__
