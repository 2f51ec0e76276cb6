"""
Marginal (population-averaged) predictions, coefficients and effects.

Expected values come from independent computations: adaptive scipy
integration and dense grids over the random effects, closed forms, the
geepack reference fits, and exact identities.
"""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import integrate, special, stats

import statsmodels_glmm.api as smg
from statsmodels_glmm.marginal.predict import C_LOGIT, marginal_predict

from conftest import load_dataset, load_ref, r_name, ref_fixed

B, P = sm.families.Binomial(), sm.families.Poisson()


@pytest.fixture(scope="module")
def toenail_ri():
    df = load_dataset("toenail")
    res = smg.mixedglm("outcome_bin ~ treatment * time + (1 | patientID)", df, family=B).fit()
    return df, res


@pytest.fixture(scope="module")
def binary_rs():
    df = load_dataset("sim_binary_small")
    res = smg.mixedglm("y ~ time + group + (1 + time | id)", df, family=B).fit()
    return df, res


@pytest.fixture(scope="module")
def poisson_rs():
    df = load_dataset("sim_poisson_small")
    res = smg.mixedglm("y ~ time * group + (1 + time | id)", df, family=P).fit()
    return df, res


def _quad_1d(fun, eta, sd):
    """E[fun(eta + b)], b ~ N(0, sd^2), by adaptive scipy quadrature."""
    val, _ = integrate.quad(lambda b: fun(eta + b) * stats.norm.pdf(b, scale=sd),
                            -40 * sd, 40 * sd, epsabs=1e-13, epsrel=1e-12, limit=500,
                            points=[-eta] if abs(eta) < 40 * sd else None)
    return val


def _grid_2d(fun, eta, z, G, n=1201, half=9.0):
    """E[fun(eta + z'b)], b ~ N(0, G), by a dense 2-D trapezoid grid in u (b = L u)."""
    L = np.linalg.cholesky(G)
    u = np.linspace(-half, half, n)
    w = stats.norm.pdf(u)
    w = w / w.sum()
    U1, U2 = np.meshgrid(u, u, indexing="ij")
    b1 = L[0, 0] * U1
    b2 = L[1, 0] * U1 + L[1, 1] * U2
    vals = fun(eta + z[0] * b1 + z[1] * b2)
    return float(w @ vals @ w)


# ------------------------------------------------------------- predictions
def test_binary_q1_matches_scipy_integral(toenail_ri):
    """Large random-intercept variance (about 21): hard for plain Gauss-Hermite."""
    df, res = toenail_ri
    pred = res.predict(random_effects="marginal")
    sd = np.sqrt(res.cov_re.iloc[0, 0])
    eta = res.predict(random_effects="zero", which="linear")
    idx = np.r_[0:len(df):97, len(df) - 1]
    for i in idx:
        ref = _quad_1d(special.expit, eta.iloc[i], sd)
        assert abs(pred.iloc[i] - ref) < 1e-6
    assert sd > 4


def test_binary_q2_matches_dense_grid(binary_rs):
    df, res = binary_rs
    pred = res.predict(random_effects="marginal")
    eta = res.predict(random_effects="zero", which="linear")
    G = res.cov_re.to_numpy()
    assert G.shape == (2, 2)
    for i in [0, 5, 17, 250, len(df) - 1]:
        z = np.array([1.0, df["time"].iloc[i]])
        ref = _grid_2d(special.expit, eta.iloc[i], z, G)
        assert abs(pred.iloc[i] - ref) < 1e-6


def test_binary_q2_scipy_dblquad(binary_rs):
    df, res = binary_rs
    G = res.cov_re.to_numpy()
    d = res.model.design
    X, Z = d.X[:2], d.Z[:2]
    mu = marginal_predict(res, X, Z, d.offset[:2])
    mvn = stats.multivariate_normal(np.zeros(2), G)
    for i in range(2):
        eta = X[i] @ res.fe_params.to_numpy()
        sd = np.sqrt(np.diag(G))
        ref, _ = integrate.dblquad(
            lambda b2, b1: special.expit(eta + Z[i, 0] * b1 + Z[i, 1] * b2) * mvn.pdf([b1, b2]),
            -10 * sd[0], 10 * sd[0], -10 * sd[1], 10 * sd[1], epsabs=1e-11, epsrel=1e-10)
        assert abs(mu[i] - ref) < 1e-6


def test_product_rule_agrees_with_collapsed_integral(binary_rs):
    df, res = binary_rs
    d = res.model.design
    a = marginal_predict(res, d.X, d.Z, d.offset)
    b = marginal_predict(res, d.X, d.Z, d.offset, method="product", n_nodes=40)
    np.testing.assert_allclose(a, b, atol=1e-7)


def test_poisson_matches_integral(poisson_rs):
    df, res = poisson_rs
    pred = res.predict(random_effects="marginal")
    eta = res.predict(random_effects="zero", which="linear")
    G = res.cov_re.to_numpy()
    for i in [0, 3, 100, len(df) - 1]:
        z = np.array([1.0, df["time"].iloc[i]])
        ref_grid = _grid_2d(np.exp, eta.iloc[i], z, G)
        sd = np.sqrt(z @ G @ z)
        ref_quad = _quad_1d(np.exp, eta.iloc[i], sd)
        assert abs(pred.iloc[i] - ref_quad) < 1e-6 * max(1, ref_quad)
        assert abs(pred.iloc[i] - ref_grid) < 1e-6 * max(1, ref_grid)


def test_probit_and_quadrature_path():
    """Probit closed form versus quadrature of the same integral."""
    df = load_dataset("sim_binary_small")
    res = smg.mixedglm("y ~ time + (1 | id)", df,
                       family=sm.families.Binomial(link=sm.families.links.Probit())).fit()
    pred = res.predict(random_effects="marginal")
    eta = res.predict(random_effects="zero", which="linear")
    sd = np.sqrt(res.cov_re.iloc[0, 0])
    for i in [0, 10, 500]:
        ref = _quad_1d(special.ndtr, eta.iloc[i], sd)
        assert abs(pred.iloc[i] - ref) < 1e-8


def test_new_data_and_insample_rows_agree(toenail_ri):
    df, res = toenail_ri
    a = res.predict(random_effects="marginal")
    b = res.predict(df, random_effects="marginal")
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=0, atol=1e-12)
    assert a.index.equals(df.index)
    # the marginal mean does not depend on the group label
    c = res.predict(df.assign(patientID="nobody"), random_effects="marginal")
    np.testing.assert_allclose(c.to_numpy(), b.to_numpy(), atol=1e-14)


def test_marginal_linear_is_population_linear_predictor(toenail_ri):
    df, res = toenail_ri
    a = res.predict(random_effects="marginal", which="linear")
    b = res.predict(random_effects="zero", which="linear")
    np.testing.assert_allclose(a, b, atol=1e-14)


def test_zero_inflated_means():
    df = load_dataset("sim_zip_small")
    res = smg.mixedglm("y ~ time + (1 | id)", df, family=P, zi_formula="~1").fit()
    pred = res.predict(random_effects="marginal")
    eta = res.predict(random_effects="zero", which="linear").to_numpy()
    s2 = res.cov_re.iloc[0, 0]
    p_main = res.predict(random_effects="zero", which="prob-main").to_numpy()
    # (1 - p) E[exp(eta + b)] = (1 - p) exp(eta + s2 / 2)
    np.testing.assert_allclose(pred, p_main * np.exp(eta + s2 / 2), rtol=1e-9)
    pz = res.predict(random_effects="marginal", which="prob-zero")
    for i in [0, 7, 300]:
        # P(y = 0) = p + (1 - p) exp(-lambda), with 1 - p = prob-main
        ref = _quad_1d(lambda e: p_main[i] * np.exp(-np.exp(e)), eta[i], np.sqrt(s2))
        assert abs(pz.iloc[i] - (1 - p_main[i] + ref)) < 1e-6


def test_ordinal_category_probabilities():
    fams = pytest.importorskip("statsmodels_glmm.families.ordinal")
    df = load_dataset("sim_ordinal_small")
    try:
        res = smg.mixedglm("y ~ time + (1 | id)", df, family=fams.Ordinal()).fit()
    except Exception as exc:  # the family is still being built
        pytest.skip(f"ordinal family not usable yet: {exc}")
    pr = res.predict(random_effects="marginal", which="prob")
    assert pr.shape[1] >= 3
    np.testing.assert_allclose(pr.sum(axis=1), 1.0, atol=1e-10)
    eta = res.predict(random_effects="zero", which="linear").to_numpy()
    sd = np.sqrt(res.cov_re.iloc[0, 0])
    extra = res._results._extra()
    resp = res.model.response
    with pytest.raises(ValueError, match="not probabilities"):
        res.marginal_params()
    for i in [0, 40]:
        for k in range(pr.shape[1]):
            def f(e, k=k):
                return resp.predict_which(np.atleast_1d(e), extra, "prob", {})[0, k]

            ref = _quad_1d(np.vectorize(f), eta[i], sd)
            assert abs(pr.iloc[i, k] - ref) < 1e-6


def test_negative_binomial_means():
    nb = pytest.importorskip("statsmodels_glmm.families.negbin")
    df = load_dataset("sim_negbin_small")
    res = smg.mixedglm("y ~ time + (1 | id)", df, family=nb.NegativeBinomial()).fit()
    pred = res.predict(random_effects="marginal")
    eta = res.predict(random_effects="zero", which="linear")
    sd = np.sqrt(res.cov_re.iloc[0, 0])
    for i in [0, 99]:
        assert abs(pred.iloc[i] - _quad_1d(np.exp, eta.iloc[i], sd)) < 1e-6
    pz = res.predict(random_effects="marginal", which="prob")
    assert pz.shape[1] > 2


# ------------------------------------------------------------- delta method
def test_prediction_se_poisson_closed_form(poisson_rs):
    """mu = exp(x'b + z'Gz/2) has an analytic gradient in (beta, G)."""
    df, res = poisson_rs
    new = df.iloc[[0, 1, 50]]
    pr = res.get_prediction(new, random_effects="marginal")
    beta = res.fe_params.to_numpy()
    G = res.cov_re.to_numpy()
    C = res.cov_params().to_numpy()
    names = res.model.exog_names
    for k, (_, r) in enumerate(new.iterrows()):
        x = np.array([1.0, r.time, r.group, r.time * r.group])
        assert names == ["Intercept", "time", "group", "time:group"]
        z = np.array([1.0, r.time])
        mu = np.exp(x @ beta + z @ G @ z / 2)
        # public cov params: Var0, Cov01, Var1
        grad = np.concatenate([mu * x, mu * np.array([z[0] ** 2, 2 * z[0] * z[1], z[1] ** 2]) / 2])
        se = np.sqrt(grad @ C @ grad)
        assert abs(pr.predicted[k] - mu) < 1e-10 * mu
        assert abs(pr.se[k] - se) < 1e-5 * se
    sf = pr.summary_frame()
    assert list(sf.index) == list(new.index)
    assert np.all(sf["mean_ci_lower"] < sf["mean"]) and np.all(sf["mean"] < sf["mean_ci_upper"])
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(np.log(sf["mean_ci_upper"] / sf["mean"]), z * pr.se / pr.predicted)


def test_prediction_se_linear_zero(toenail_ri):
    df, res = toenail_ri
    pr = res.get_prediction(df.head(5), which="linear", random_effects="zero")
    X = np.column_stack([np.ones(5), df.treatment.head(5) == "terbinafine", df.time.head(5),
                         (df.treatment.head(5) == "terbinafine") * df.time.head(5)])
    C = res.cov_params_fe()
    np.testing.assert_allclose(pr.predicted, X @ res.fe_params.to_numpy(), atol=1e-12)
    np.testing.assert_allclose(pr.se, np.sqrt(np.einsum("ij,jk,ik->i", X, C, X)), rtol=1e-6)


def test_conditional_prediction_matches_predict(binary_rs):
    df, res = binary_rs
    pr = res.get_prediction(random_effects="conditional")
    np.testing.assert_allclose(pr.predicted, res.predict().to_numpy(), atol=1e-8)
    assert np.all(pr.se > 0)
    pz = res.get_prediction(df.head(3), random_effects="zero")
    np.testing.assert_allclose(pz.predicted, res.predict(df.head(3), random_effects="zero"),
                               atol=1e-12)


def test_get_prediction_bad_input(toenail_ri):
    df, res = toenail_ri
    with pytest.raises(ValueError, match="random_effects"):
        res.get_prediction(random_effects="average")
    with pytest.raises(ValueError, match="exog"):
        res.get_prediction(np.ones((2, 4)))


# ----------------------------------------------------------- marginal params
def test_marginal_params_poisson_random_intercept_identity():
    """Log link, random intercept: slopes unchanged, intercept + sigma^2 / 2 (exact)."""
    df = load_dataset("epil")
    res = smg.mixedglm("y ~ lbase * trt + lage + V4 + (1 | subject)", df, family=P).fit()
    mp = res.marginal_params()
    s2 = res.cov_re.iloc[0, 0]
    np.testing.assert_allclose(mp["marginal"].iloc[1:], res.fe_params.iloc[1:], atol=1e-9)
    assert abs(mp["marginal"].iloc[0] - (res.fe_params.iloc[0] + s2 / 2)) < 1e-9
    C = res.cov_params().to_numpy()
    k = res.k_fe
    var0 = C[0, 0] + C[k, k] / 4 + C[0, k]
    assert abs(mp["marginal_se"].iloc[0] - np.sqrt(var0)) < 1e-6 * np.sqrt(var0)
    np.testing.assert_allclose(mp["marginal_se"].iloc[1:], res.bse_fe.iloc[1:], rtol=1e-6)
    assert mp.attrs["link_rmse"] < 1e-10


def test_marginal_params_logit_attenuation(toenail_ri):
    df, res = toenail_ri
    mp = res.marginal_params()
    s2 = res.cov_re.iloc[0, 0]
    np.testing.assert_allclose(mp["approx_logit"],
                               res.fe_params / np.sqrt(1 + C_LOGIT ** 2 * s2), rtol=1e-12)
    assert abs(C_LOGIT - 0.5881) < 1e-4
    # attenuated toward zero, and close to the classical approximation
    assert np.all(np.abs(mp["marginal"]) < np.abs(mp["conditional"]))
    np.testing.assert_allclose(mp["marginal"], mp["approx_logit"], atol=0.15)


@pytest.mark.parametrize("name, fam", [("sim_binary_large", B), ("sim_poisson_large", P)])
def test_marginalised_coefficients_agree_with_geepack(name, fam):
    df = load_dataset(name)
    res = smg.mixedglm("y ~ time * group + stress + (1 + time | id)", df, family=fam).fit()
    mp = res.marginal_params().rename(index=r_name)
    ref = ref_fixed(load_ref(f"{name}__gee_exch"))
    joined = mp.join(ref[["estimate", "se"]], how="inner")
    assert len(joined) == 5
    dev = np.abs(joined["marginal"] - joined["estimate"]) / joined["se"]
    assert np.all(dev < 2), dev
    # the conditional coefficients of the binary model are NOT population-averaged
    if name == "sim_binary_large":
        devc = np.abs(joined["conditional"] - joined["estimate"]) / joined["se"]
        assert devc.max() > 2
    # delta-method SEs are of the size of GEE's robust SEs
    np.testing.assert_allclose(joined["marginal_se"], joined["se"], rtol=0.25)


# ------------------------------------------------------- probability effects
def test_probability_effects_identities(toenail_ri):
    df, res = toenail_ri
    at = {"treatment": "itraconazole", "time": 1.0}
    tab = res.probability_effects("time", at=at, data=df)
    b = res.fe_params.to_numpy()
    eta0 = b[0] + b[2] * 1.0
    eta1 = b[0] + b[2] * 2.0
    for v, lab in zip([-2, 0, 2], ["b = -2", "b = 0", "b = +2"]):
        row = tab.loc[f"individual, {lab}"]
        assert abs(row["before"] - special.expit(eta0 + v)) < 1e-12
        assert abs(row["after"] - special.expit(eta1 + v)) < 1e-12
    sd = np.sqrt(res.cov_re.iloc[0, 0])
    pop = tab.loc["population average at profile"]
    assert abs(pop["before"] - _quad_1d(special.expit, eta0, sd)) < 1e-6
    assert abs(pop["after"] - _quad_1d(special.expit, eta1, sd)) < 1e-6
    ame = tab.loc["average marginal effect (data)"]
    p0 = res.predict(df, random_effects="marginal")
    p1 = res.predict(df.assign(time=df.time + 1), random_effects="marginal")
    assert abs(ame["difference"] - np.mean(p1 - p0)) < 1e-12
    np.testing.assert_allclose(tab["difference"], tab["after"] - tab["before"], atol=1e-15)
    assert np.all(tab["se"] > 0)


def test_probability_effects_factor_change_and_errors(toenail_ri):
    df, res = toenail_ri
    tab = res.probability_effects("treatment", values=("itraconazole", "terbinafine"),
                                  at={"time": 0.0}, data=df)
    b = res.fe_params.to_numpy()
    row = tab.loc["individual, b = 0"]
    assert abs(row["after"] - row["before"]
               - (special.expit(b[0] + b[1]) - special.expit(b[0]))) < 1e-12
    with pytest.raises(ValueError, match="re_term"):
        res.probability_effects("time", at={"time": 0}, data=df, re_term="time")
    with pytest.raises(ValueError, match="variable"):
        res.probability_effects("nope", data=df)
    with pytest.raises(ValueError, match="not numeric"):
        res.probability_effects("treatment", data=df)


def test_profile_defaults_to_the_fitted_rows():
    import statsmodels.api as sm
    import statsmodels_glmm.api as smg

    df = smg.simulate_longitudinal("binary", n_persons=120, seed=4)
    res = smg.mixedglm("y ~ time * group + stress + (1 | id)", df,
                       family=sm.families.Binomial()).fit()
    a = res.probability_effects("time", at={"time": 0})
    b = res.probability_effects("time", at={"time": 0, "group": df["group"].mean(),
                                            "stress": df["stress"].mean()})
    np.testing.assert_allclose(a["before"].to_numpy(), b["before"].to_numpy(), rtol=1e-12)
