"""Cluster-robust (sandwich) covariance: per-group scores, brute force, glmmTMB references."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.inference.sandwich import cluster_scores, robust_cov
from statsmodels_glmm.likelihood import parallel
from statsmodels_glmm.likelihood.laplace import laplace_loglike
from statsmodels_glmm.likelihood.quadrature import agq_loglike
from conftest import load_dataset, load_ref, r_name

TOENAIL = "outcome_bin ~ treatment * time + (1 | patientID)"
EPIL = "y ~ lbase * trt + lage + V4 + (1 | subject)"
EPIL_RS = "y ~ lbase * trt + lage + Visit + (Visit | subject)"


def _fit(dataset, formula, family, nagq=1):
    df = load_dataset(dataset)
    return df, smg.mixedglm(formula, df, family=family).fit(nagq=nagq)


def _group_terms(model, x, nagq, gradient=True):
    """Per-group log-likelihoods and scores of the model at internal parameters x."""
    beta, theta, extra = model._split(np.asarray(x, dtype=float))
    args = (model.design, model.response, model.cov_struct, beta, theta, extra)
    if nagq == 1:
        return laplace_loglike(*args, gradient=gradient, per_group=True)[:2]
    return agq_loglike(*args, nagq=nagq, gradient=gradient, per_group=True)[:2]


def _brute_force_scores(model, x, nagq):
    """(G, k) central differences of every group's own log-likelihood (internal scale)."""
    typical = model._typical_sizes()
    cols = []
    for j in range(len(x)):
        h = 1e-5 * max(typical[j], abs(x[j]))
        e = np.zeros(len(x))
        e[j] = h
        up = _group_terms(model, x + e, nagq, gradient=False)[0]
        down = _group_terms(model, x - e, nagq, gradient=False)[0]
        cols.append((up - down) / (2 * h))
    return np.column_stack(cols)


# ------------------------------------------------------------ per-group terms
SCORE_CASES = [
    ("binary", "y ~ time * group + stress + (1 + time | id)", sm.families.Binomial(), 1, {}),
    ("binary", "y ~ time * group + stress + (1 + time | id)", sm.families.Binomial(), 5, {}),
    ("poisson", "y ~ time + stress + (1 | id)", sm.families.Poisson(), 9, {}),
    ("negbin", "y ~ time + group + (1 + time | id)", smg.families.NegativeBinomial(), 1, {}),
    ("negbin", "y ~ time + group + (1 | id)", smg.families.NegativeBinomial(), 7, {}),
    ("zip", "y ~ time + group + (1 | id)", sm.families.Poisson(), 1, {"zi_formula": "~group"}),
    ("ordinal", "y ~ time + group + (1 | id)", smg.families.Ordinal(), 5, {}),
]


@pytest.mark.parametrize("kind,formula,family,nagq,kwargs", SCORE_CASES)
def test_group_terms_sum_to_loglike_and_analytic_gradient(kind, formula, family, nagq, kwargs,
                                                          monkeypatch):
    # small chunks: the per-group rows of several chunks are put together in group order
    monkeypatch.setattr(parallel, "CHUNK_ROWS", 97)
    df = smg.simulate_longitudinal(kind, n_persons=70, seed=11)
    m = smg.mixedglm(formula, df, family=family, **kwargs)
    x = m._start_internal() + 0.03
    llf, grad, _ = m.loglike_internal(x, nagq, gradient=True)
    lg, S = _group_terms(m, x, nagq)
    assert lg.shape == (m.n_groups,) and S.shape == (m.n_groups, len(x))
    assert abs(lg.sum() - llf) < 1e-10 * abs(llf)
    np.testing.assert_allclose(S.sum(0), grad, rtol=1e-11, atol=1e-10)
    # each row is the derivative of that group's own log-likelihood
    fd = _brute_force_scores(m, x, nagq)
    np.testing.assert_allclose(S, fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("nagq", [1, 5])
def test_group_score_is_the_derivative_of_the_loglike_without_the_other_groups(nagq):
    """l_i = l(all data) - l(data without group i), and its derivative is row i of the scores."""
    df, res = _fit("toenail", TOENAIL, sm.families.Binomial(), nagq)
    m = res.model
    params = np.asarray(res.params)
    S = cluster_scores(res)
    lg, _ = _group_terms(m, res.mle_retvals["internal_params"], nagq)
    labels = list(m.design.group_labels)
    for label in ["1", "37", "383"]:
        rest = smg.mixedglm(TOENAIL, df[df["patientID"] != label],
                            family=sm.families.Binomial())
        assert rest.param_names == m.param_names

        def own(p):
            return m.loglike(p, nagq) - rest.loglike(p, nagq)

        assert abs(own(params) - lg[labels.index(label)]) < 1e-8
        fd = np.empty(len(params))
        for j in range(len(params)):
            h = 1e-5 * max(1.0, abs(params[j]))
            e = np.zeros(len(params))
            e[j] = h
            fd[j] = (own(params + e) - own(params - e)) / (2 * h)
        np.testing.assert_allclose(S.loc[label].to_numpy(), fd, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------ the sandwich
def _brute_force_sandwich(res):
    m = res.model
    x = np.asarray(res.mle_retvals["internal_params"])
    S = _brute_force_scores(m, x, res.nagq)
    Ainv = np.linalg.inv(-np.asarray(res.mle_retvals["hessian"]))
    J = m.public_jacobian(x)
    return J @ Ainv @ (S.T @ S) @ Ainv @ J.T


@pytest.mark.parametrize("dataset,formula,family,nagq", [
    ("toenail", TOENAIL, sm.families.Binomial(), 1),
    ("toenail", TOENAIL, sm.families.Binomial(), 7),
    ("epil", EPIL, sm.families.Poisson(), 1),
    ("epil", EPIL_RS, sm.families.Poisson(), 1),
    ("epil", EPIL, smg.families.NegativeBinomial(), 1),
])
def test_sandwich_equals_brute_force_from_numerical_group_scores(dataset, formula, family,
                                                                 nagq):
    _, res = _fit(dataset, formula, family, nagq)
    V = robust_cov(res, full=True).to_numpy()
    bf = _brute_force_sandwich(res)
    p = res.k_fe
    np.testing.assert_allclose(V[:p, :p], bf[:p, :p], rtol=1e-5,
                               atol=1e-5 * np.abs(bf[:p, :p]).max())
    np.testing.assert_allclose(V, bf, rtol=1e-5, atol=1e-5 * np.abs(bf).max())


GLMMTMB_REFS = [
    ("toenail__tmb_ri_sandwich", "toenail", TOENAIL, sm.families.Binomial(), None),
    ("toenail__tmb_ri_sandwich_blocks", "toenail", TOENAIL, sm.families.Binomial(), "blocks"),
    ("epil__tmb_pois_ri_sandwich", "epil", EPIL, sm.families.Poisson(), None),
    ("epil__tmb_pois_rs_sandwich", "epil", EPIL_RS, sm.families.Poisson(), None),
    ("epil__tmb_nbinom2_ri_sandwich", "epil", EPIL, smg.families.NegativeBinomial(), None),
    ("sim_nested__tmb_poisson_ri_sandwich", "sim_nested",
     "ycount ~ time + treat + (1 | clinic/patient)", sm.families.Poisson(), None),
]


@pytest.mark.parametrize("fit_id,dataset,formula,family,clusters", GLMMTMB_REFS)
def test_sandwich_fixed_effects_match_glmmtmb(fit_id, dataset, formula, family, clusters):
    """glmmTMB: bread = vcov(full = TRUE), meat = crossprod of cluster scores, no factor."""
    ref = load_ref(fit_id)
    df, res = _fit(dataset, formula, family)
    groups = None if clusters is None else df["patientID"].astype(int) // 10
    V = robust_cov(res, groups=groups)
    assert len(cluster_scores(res, groups)) == ref["n_clusters"]
    terms = [r["term"] for r in ref["fixed_effects"]]
    idx = [terms.index(r_name(n)) for n in res.model.exog_names]
    se_r = np.array([ref["fixed_effects"][i]["se_sandwich"] for i in idx])
    Vr = np.array(ref["vcov_sandwich_fixed"]["values"])[np.ix_(idx, idx)]
    p = res.k_fe
    np.testing.assert_allclose(np.sqrt(np.diag(V.to_numpy()))[:p], se_r, rtol=5e-4)
    np.testing.assert_allclose(V.to_numpy()[:p, :p], Vr, rtol=2e-3,
                               atol=5e-4 * np.abs(Vr).max())


@pytest.mark.parametrize("kind,family", [("binary", sm.families.Binomial()),
                                         ("poisson", sm.families.Poisson())])
def test_robust_close_to_model_based_under_a_correct_model(kind, family):
    df = smg.simulate_longitudinal(kind, n_persons=600, sd=(0.8, 0.0), seed=21)
    res = smg.mixedglm("y ~ time * group + stress + (1 | id)", df, family=family).fit()
    se_rob = np.sqrt(np.diag(robust_cov(res).to_numpy()))[:res.k_fe]
    ratio = se_rob / np.asarray(res.bse_fe)
    assert np.all(np.abs(ratio - 1) < 0.15), ratio


def test_robust_larger_than_model_based_under_a_missing_random_slope():
    """Counts with a random slope fitted with a random intercept only: the slope's
    model-based SE is too small, the sandwich sees it."""
    df = smg.simulate_longitudinal("poisson", n_persons=300, sd=(0.5, 0.5), corr=0.0, seed=5)
    res = smg.mixedglm("y ~ time + group + (1 | id)", df, family=sm.families.Poisson()).fit()
    se_rob = np.sqrt(robust_cov(res).loc["time", "time"])
    assert se_rob > 1.5 * res.bse_fe["time"]


# ------------------------------------------------------------ clusters
def test_coarser_clusters_sum_the_group_scores():
    df, res = _fit("toenail", TOENAIL, sm.families.Binomial())
    blocks = df["patientID"].astype(int) // 10
    S = cluster_scores(res)
    Sb = cluster_scores(res, blocks)
    by_block = S.groupby(S.index.astype(int) // 10).sum()
    np.testing.assert_allclose(Sb.to_numpy(), by_block.to_numpy(), rtol=1e-12, atol=1e-12)
    # a Series, its values, and a shuffled Series give the same clusters
    V1 = robust_cov(res, groups=blocks)
    V2 = robust_cov(res, groups=blocks.to_numpy())
    V3 = robust_cov(res, groups=blocks.sample(frac=1.0, random_state=0))
    np.testing.assert_array_equal(V1.to_numpy(), V2.to_numpy())
    np.testing.assert_array_equal(V1.to_numpy(), V3.to_numpy())
    # the model's grouping factor given explicitly is the default
    np.testing.assert_array_equal(robust_cov(res, groups="patientID").to_numpy(),
                                  robust_cov(res, "robust").to_numpy())


def test_clusters_follow_the_rows_kept_after_missing_values():
    df = load_dataset("epil")
    df.loc[[3, 10], "lage"] = np.nan
    res = smg.mixedglm(EPIL, df, family=sm.families.Poisson()).fit()
    pairs = df["subject"].astype(int) // 2
    S = cluster_scores(res, pairs)
    by_pair = cluster_scores(res).groupby(lambda s: int(s) // 2).sum()
    np.testing.assert_allclose(S.to_numpy(), by_pair.to_numpy(), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="2 rows with missing values were dropped"):
        robust_cov(res, groups=pairs.to_numpy())


def test_use_correction_multiplies_the_meat_by_c_over_c_minus_one():
    _, res = _fit("epil", EPIL, sm.families.Poisson())
    p = res.k_fe
    V0 = robust_cov(res).to_numpy()[:p, :p]
    V1 = robust_cov(res, use_correction=True).to_numpy()[:p, :p]
    np.testing.assert_allclose(V1, V0 * 59 / 58, rtol=1e-12)
    V = robust_cov(res, "robust", use_correction=True)
    assert V.attrs == dict(cov_type="robust", clusters="subject", n_clusters=59,
                           use_correction=True, robust="fixed")


def test_only_the_fixed_effects_are_robust_by_default():
    _, res = _fit("epil", EPIL_RS, sm.families.Poisson())
    p = res.k_fe
    V = robust_cov(res).to_numpy()
    Vf = robust_cov(res, full=True).to_numpy()
    model = np.asarray(res.cov_params())
    np.testing.assert_array_equal(V[p:, p:], model[p:, p:])
    np.testing.assert_array_equal(V[:p, :], Vf[:p, :])
    assert not np.allclose(Vf[p:, p:], model[p:, p:], rtol=0.01)
    assert list(robust_cov(res).index) == res.model.param_names


def test_clusters_that_split_a_group_are_refused():
    df, res = _fit("toenail", TOENAIL, sm.families.Binomial())
    with pytest.raises(ValueError, match="does not nest the grouping factor 'patientID'"):
        robust_cov(res, groups=df["visit"])
    with pytest.raises(ValueError, match="not a column the model reads"):
        robust_cov(res, groups="visit")
    with pytest.raises(ValueError, match="cov_type must be one of"):
        robust_cov(res, cov_type="HC0")


def test_few_clusters_warn():
    df, res = _fit("toenail", TOENAIL, sm.families.Binomial())
    with pytest.warns(UserWarning, match="only 2 clusters"):
        V = robust_cov(res, groups="treatment")
    assert np.all(np.isfinite(V.to_numpy()[:res.k_fe, :res.k_fe]))


def test_nested_factors_cluster_by_the_outermost_one():
    df = load_dataset("sim_nested")
    formula = "ycount ~ time + treat + (1 | clinic/patient)"
    res = smg.mixedglm(formula, df, family=sm.families.Poisson()).fit()
    m = res.model
    S = cluster_scores(res)
    assert S.index.name == "clinic" and len(S) == df["clinic"].nunique()
    np.testing.assert_allclose(S.sum(axis=0).to_numpy(), m.score(np.asarray(res.params)),
                               rtol=1e-8, atol=1e-8)
    params = np.asarray(res.params)
    for clinic in [1, 17]:
        rest = smg.mixedglm(formula, df[df["clinic"] != clinic], family=sm.families.Poisson())
        fd = np.empty(len(params))
        for j in range(len(params)):
            h = 1e-5 * max(1.0, abs(params[j]))
            e = np.zeros(len(params))
            e[j] = h
            fd[j] = ((m.loglike(params + e) - rest.loglike(params + e))
                     - (m.loglike(params - e) - rest.loglike(params - e))) / (2 * h)
        np.testing.assert_allclose(S.loc[clinic].to_numpy(), fd, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="does not nest the grouping factor 'clinic'"):
        robust_cov(res, groups=df["time"])


def test_crossed_factors_are_refused():
    df = load_dataset("sim_crossed")
    res = smg.mixedglm("y ~ x + (1 | subj) + (1 | item)", df,
                       family=sm.families.Poisson()).fit()
    with pytest.raises(NotImplementedError, match="'subj' and 'item' are crossed"):
        robust_cov(res)


def test_user_data_is_not_modified():
    df, res = _fit("toenail", TOENAIL, sm.families.Binomial())
    before = df.copy()
    blocks = df["patientID"].astype(int) // 10
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        robust_cov(res, groups=blocks)
    pd.testing.assert_frame_equal(df, before)


def test_fit_with_cluster_covariance_reports_the_sandwich():
    df = load_dataset("epil")
    formula = "y ~ trt + lbase + lage + V4 + (1 | subject)"
    model = smg.mixedglm(formula, df, family=sm.families.Poisson())
    plain = model.fit()
    robust = smg.mixedglm(formula, df, family=sm.families.Poisson()).fit(cov_type="cluster")
    V = robust_cov(plain, "cluster")
    # same estimates; the fixed effects' standard errors, tests and intervals from the sandwich
    np.testing.assert_array_equal(robust.params, plain.params)
    k = plain.k_fe
    se = np.sqrt(np.diag(V.to_numpy()))
    np.testing.assert_allclose(robust.bse_fe, se[:k], rtol=1e-12)
    np.testing.assert_allclose(robust.bse.iloc[:k], se[:k], rtol=1e-12)
    np.testing.assert_allclose(robust.tvalues.iloc[:k], robust.params.iloc[:k] / se[:k],
                               rtol=1e-12)
    ci = robust.conf_int()
    np.testing.assert_allclose(ci.iloc[:k, 1] - robust.params.iloc[:k], 1.959963984540054 * se[:k],
                               rtol=1e-9)
    # the variance keeps its model-based standard error
    assert robust.bse.iloc[k] == pytest.approx(plain.bse.iloc[k], rel=1e-12)
    assert robust.cov_type == "cluster" and robust.cov_kwds["n_clusters"] == 59
    assert "cluster-robust" in str(robust.summary())


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(cov_type="HC0"), ValueError, "cov_type must be one of"),
    (dict(cov_type="cluster", cov_kwds={"group": "subject"}), ValueError, "unknown key"),
    (dict(cov_kwds={"groups": "subject"}), ValueError, "cov_kwds applies to"),
    (dict(cov_type="cluster", cov_kwds=["subject"]), TypeError, "cov_kwds must be a dict"),
])
def test_fit_refuses_bad_covariance_arguments_by_name(kwargs, error, match):
    model = smg.mixedglm("y ~ trt + (1 | subject)", load_dataset("epil"),
                         family=sm.families.Poisson())
    with pytest.raises(error, match=match):
        model.fit(**kwargs)
