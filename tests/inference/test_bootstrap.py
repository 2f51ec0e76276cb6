"""Parametric bootstrap: new responses in the model's form, refits, replicates, intervals."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
import statsmodels.api as sm

import statsmodels_glmm.api as smg
import statsmodels_glmm.inference.bootstrap as bootmod
from statsmodels_glmm.inference.bootstrap import (design_response, refit, run_refits,
                                        simulate_responses, with_response)
from statsmodels_glmm.families import NegativeBinomial, Ordinal

from conftest import load_dataset

P = sm.families.Poisson()
B = sm.families.Binomial()

CASES = {
    "binomial trials": ("cbpp", "incidence + non_incidence ~ period + (1 | herd)", B, {},
                        "incidence"),
    "bernoulli": ("sim_binary_small", "y ~ time + group + (1 | id)", B, {}, "y"),
    "poisson slopes": ("sim_poisson_small", "y ~ time + (1 + time | id)", P, {}, "y"),
    "negative binomial": ("sim_negbin_small", "y ~ time + group + (1 | id)",
                          NegativeBinomial(), {}, "y"),
    "zero-inflated": ("sim_zip_small", "y ~ time + (1 | id)", P, {"zi_formula": "~ group"},
                      "y"),
    "ordinal": ("sim_ordinal_small", "y ~ time + group + (1 | id)", Ordinal(), {}, "y"),
    "gaussian": ("sim_poisson_small", "np.log1p(y) ~ time + (1 | id)",
                 sm.families.Gaussian(), {}, None),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    name, formula, fam, kw, ycol = CASES[request.param]
    df = load_dataset(name)
    if name == "sim_poisson_small" and ycol is None:
        df = df.query("id <= 80")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm(formula, df, family=fam, **kw).fit()
    return request.param, df, res, ycol


def test_design_response_round_trip(case):
    """The observed response in data order maps onto the model's own design.y."""
    key, df, res, ycol = case
    m = res.model
    values = np.log1p(df["y"]).to_numpy() if ycol is None else df[ycol].to_numpy()
    y = design_response(m, values)
    np.testing.assert_array_equal(y, m.design.y)
    assert y.dtype == m.design.y.dtype or key != "ordinal"


def test_refit_with_original_response_reproduces_estimates(case):
    key, df, res, _ = case
    again = refit(res.model, res.model.design.y.copy(), start_params=res.params)
    np.testing.assert_allclose(np.asarray(again.params), np.asarray(res.params), atol=1e-6)
    assert again.llf == pytest.approx(res.llf, abs=1e-8)
    # from the default start too: the copy is the same model, not only the same point
    cold = refit(res.model, res.model.design.y.copy())
    np.testing.assert_allclose(np.asarray(cold.params), np.asarray(res.params), atol=1e-6)


def test_simulated_responses_refit(case):
    """A simulated data set has the model's form and refits to finite estimates."""
    key, df, res, _ = case
    y = simulate_responses(res, 1, seed=3)[0]
    m = res.model
    assert y.shape == m.design.y.shape
    if m.design.y.ndim == 2:  # trials or zero-inflation covariates are kept
        np.testing.assert_array_equal(y[:, 1:], m.design.y[:, 1:])
    r = refit(m, y, start_params=res.params)
    assert np.all(np.isfinite(np.asarray(r.params)))
    # the copy does not touch the original model
    assert m.design.y is not y and res.model.loglike(res.params) == pytest.approx(res.llf)


@pytest.mark.parametrize("random", ["(1 | id)", "(1 + time | id)"])
def test_gaussian_refit_on_a_new_response_is_a_fresh_fit(random):
    """A Gaussian model keeps sums of its response for its start and Hessian: the copy
    with a simulated response must use the new one's, as a model built from it does
    (estimates, standard errors and log-likelihood)."""
    df = load_dataset("sim_poisson_small").query("id <= 80").copy()
    df["z"] = np.log1p(df["y"])
    G = sm.families.Gaussian()
    res = smg.mixedglm(f"z ~ time + {random}", df, family=G).fit()
    y = simulate_responses(res, 1, seed=5)[0]
    again = refit(res.model, y)
    d = res.model.design
    df.loc[d.row_index, "z_new"] = d.unsort(y)
    fresh = smg.mixedglm(f"z_new ~ time + {random}", df, family=G).fit()
    assert again.converged and fresh.converged
    np.testing.assert_allclose(np.asarray(again.params), np.asarray(fresh.params),
                               rtol=1e-7)
    np.testing.assert_allclose(np.asarray(again.bse), np.asarray(fresh.bse), rtol=1e-6)
    assert again.llf == pytest.approx(fresh.llf, abs=1e-8)
    # and the original model still fits its own response
    assert res.model.fit().llf == pytest.approx(res.llf, abs=1e-8)


def test_simulate_responses_are_res_simulate_with_spawned_seeds():
    df = load_dataset("cbpp")
    res = smg.mixedglm("incidence + non_incidence ~ period + (1 | herd)", df, family=B).fit()
    ys = simulate_responses(res, 3, seed=42)
    child = np.random.SeedSequence(42).spawn(3)[2]
    sim = res.simulate(random_effects="new", seed=np.random.default_rng(child)).iloc[:, 0]
    d = res.model.design
    np.testing.assert_array_equal(ys[2][:, 0], sim.to_numpy()[d.order])
    np.testing.assert_array_equal(ys[2][:, 1], d.y[:, 1])


@pytest.fixture(scope="module")
def toenail_ri():
    df = load_dataset("toenail")
    return smg.mixedglm("outcome_bin ~ treatment * time + (1 | patientID)", df,
                        family=B).fit()


def test_bootstrap_same_seed_same_replicates_any_n_jobs(toenail_ri):
    b1 = toenail_ri.bootstrap(6, seed=5, progress=False, n_jobs=1)
    b2 = toenail_ri.bootstrap(6, seed=5, progress=False, n_jobs=2)
    assert b1.n_failed == b2.n_failed == 0
    pd.testing.assert_frame_equal(b1.params, b2.params, check_exact=True)
    b3 = toenail_ri.bootstrap(6, seed=6, progress=False)
    assert not np.allclose(b3.params.to_numpy(), b1.params.to_numpy())
    # each replicate is the refit of its own simulated data set
    y = simulate_responses(toenail_ri, 6, seed=5)[4]
    r = refit(toenail_ri.model, y, start_params=toenail_ri.params)
    np.testing.assert_allclose(b1.params.loc[4], np.asarray(r.params), rtol=1e-10)
    assert b1.llf.loc[4] == pytest.approx(r.llf)


def test_bootstrap_intervals_and_summary(toenail_ri):
    bt = toenail_ri.bootstrap(8, seed=1, progress=False)
    P_ = bt.params
    ci = bt.conf_int(alpha=0.2)
    np.testing.assert_allclose(ci["lower"], np.quantile(P_, 0.1, axis=0))
    np.testing.assert_allclose(ci["upper"], np.quantile(P_, 0.9, axis=0))
    est = np.asarray(toenail_ri.params)
    basic = bt.conf_int(alpha=0.2, kind="basic")
    np.testing.assert_allclose(basic["lower"], 2 * est - np.quantile(P_, 0.9, axis=0))
    normal = bt.conf_int(kind="normal")
    np.testing.assert_allclose(normal["upper"],
                               est + stats.norm.ppf(0.975) * P_.std(ddof=1).to_numpy())
    # res.conf_int(method="boot") with an existing bootstrap: the percentile limits
    rc = toenail_ri.conf_int(alpha=0.2, method="boot", boot=bt)
    np.testing.assert_allclose(rc[0], ci["lower"])
    np.testing.assert_allclose(rc[1], ci["upper"])
    text = str(bt.summary())
    assert "Replicates:" in text and f"{P_['time'].std(ddof=1):.4f}" in text
    with pytest.raises(ValueError, match="kind"):
        bt.conf_int(kind="bca")


def test_failed_refits_are_counted(toenail_ri, monkeypatch):
    calls = {"n": 0}
    real = bootmod.refit

    def flaky(model, y, **kw):
        calls["n"] += 1
        if calls["n"] in (2, 5):
            raise np.linalg.LinAlgError("singular matrix")
        return real(model, y, **kw)

    monkeypatch.setattr(bootmod, "refit", flaky)
    bt = toenail_ri.bootstrap(6, seed=5, progress=False)
    assert bt.n_failed == 2 and len(bt.params) == 4
    assert [i for i, _ in bt.failures] == [1, 4]
    assert "LinAlgError" in bt.failures[0][1]
    assert list(bt.params.index) == [0, 2, 3, 5]


def test_bad_arguments(toenail_ri):
    with pytest.raises(ValueError, match="n must"):
        toenail_ri.bootstrap(0)
    with pytest.raises(ValueError, match="n_jobs"):
        toenail_ri.bootstrap(2, n_jobs=0, progress=False)
    with pytest.raises(ValueError, match="values"):
        design_response(toenail_ri.model, np.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        with_response(toenail_ri.model, np.zeros(3))
    out = run_refits([(toenail_ri.model, np.zeros(2), 1)], [toenail_ri.model.design.y])
    assert out[0][0][0] is None and "start_params" in out[0][0][3]


@pytest.mark.parametrize("seed, error", [("a", TypeError), (-1, ValueError), (2.5, TypeError),
                                         (True, TypeError), ([3, -1], ValueError),
                                         ([], TypeError)])
def test_bootstrap_names_a_bad_seed_before_any_refit(toenail_ri, seed, error, monkeypatch):
    monkeypatch.setattr(bootmod, "run_refits", lambda *a, **k: pytest.fail("refits ran"))
    with pytest.raises(error, match="seed"):
        toenail_ri.bootstrap(2, seed=seed, progress=False)
    with pytest.raises(error, match="seed"):
        simulate_responses(toenail_ri, 2, seed=seed)


@pytest.mark.parametrize("n", [0, -2, 2.5, float("nan"), "3", True, None])
def test_bootstrap_names_a_bad_n(toenail_ri, n):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        toenail_ri.bootstrap(n, progress=False)


def test_bootstrap_names_a_bad_progress(toenail_ri):
    with pytest.raises(ValueError, match="progress"):
        toenail_ri.bootstrap(2, seed=1, progress="no")


def test_numpy_seed_objects_spawn_the_replicates_of_their_integer():
    df = load_dataset("cbpp")
    res = smg.mixedglm("incidence + non_incidence ~ period + (1 | herd)", df, family=B).fit()
    ref = simulate_responses(res, 3, seed=42)
    for same in (np.random.SeedSequence(42), np.random.default_rng(42), np.random.PCG64(42),
                 np.int64(42)):
        ys = simulate_responses(res, 3, seed=same)
        for a, b in zip(ys, ref):
            np.testing.assert_array_equal(a, b)
    # a generator spawns new children on every call, as numpy's spawn does
    gen = np.random.default_rng(42)
    first, second = simulate_responses(res, 3, seed=gen), simulate_responses(res, 3, seed=gen)
    np.testing.assert_array_equal(first[0], ref[0])
    assert not np.array_equal(second[0], ref[0])
    bt = res.bootstrap(2, seed=np.random.SeedSequence(42), progress=False)
    pd.testing.assert_frame_equal(bt.params, res.bootstrap(2, seed=42, progress=False).params)


def test_crossed_factors_replicate_equals_fresh_fit_on_simulated_data():
    """Several grouping factors: a replicate is the fit of a new model to the simulated
    response, built from scratch from a data frame."""
    df = load_dataset("sim_crossed")
    f = "y ~ x + (1 | subj) + (1 | item)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smg.mixedglm(f, df, family=P).fit()
        bt = res.bootstrap(2, seed=8, progress=False)
        sim = res.simulate(random_effects="new",
                           seed=np.random.default_rng(np.random.SeedSequence(8).spawn(2)[1]))
        fresh = smg.mixedglm(f, df.assign(y=sim.iloc[:, 0].to_numpy()), family=P).fit()
    np.testing.assert_allclose(bt.params.loc[1], np.asarray(fresh.params), atol=2e-5)
    assert not np.allclose(bt.params.loc[1], np.asarray(res.params), atol=1e-3)


def test_conf_int_refuses_bootstrap_of_another_fit():
    df = load_dataset("sim_poisson_small").query("id <= 40")
    res = smg.mixedglm("y ~ time + (1 | id)", df, family=P).fit()
    other = smg.mixedglm("y ~ time + (1 | id)", df.query("id <= 30"), family=P).fit()
    bt = other.bootstrap(3, seed=1, progress=False)
    with pytest.raises(ValueError, match="boot was made from another fit: its estimates "
                                         "differ"):
        res.conf_int(method="boot", boot=bt)
    bigger = smg.mixedglm("y ~ time + group + (1 | id)", df, family=P).fit()
    with pytest.raises(ValueError, match="boot was made from a model with parameters"):
        bigger.conf_int(method="boot", boot=bt)
    with pytest.raises(ValueError, match="boot must be the BootstrapResults"):
        res.conf_int(method="boot", boot=bt.params)
    # the fit's own bootstrap, and a copy of the fit, are accepted
    ci = other.conf_int(alpha=0.5, method="boot", boot=bt)
    np.testing.assert_allclose(ci[0], np.quantile(bt.params, 0.25, axis=0))
    import pickle

    again = pickle.loads(pickle.dumps(other))
    np.testing.assert_allclose(again.conf_int(alpha=0.5, method="boot", boot=bt), ci)
