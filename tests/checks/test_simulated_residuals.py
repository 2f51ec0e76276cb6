"""Simulation-based quantile residuals: the PIT construction, the tests, every family."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

import statsmodels_glmm.api as smg
from statsmodels_glmm.checks.simulated_residuals import SimulatedResiduals, pit_residuals
from conftest import load_dataset

F_RS = "y ~ time * group + stress + (1 + time | id)"


# ------------------------------------------------------------ the construction
def test_pit_hand_example():
    sims = np.array([[0.0, 1.0, 1.0, 2.0],     # y = 1: 1/4 below, 3/4 at or below
                     [1.0, 2.0, 3.0, 4.0],     # y = 2.5: exactly 2/4, no tie
                     [3.0, 4.0, 5.0, 6.0],     # y = 7: above all
                     [3.0, 4.0, 5.0, 6.0],     # y = 2: below all
                     [5.0, 5.0, 5.0, 5.0]])    # y = 5: all tied -> U(0, 1)
    y = np.array([1.0, 2.5, 7.0, 2.0, 5.0])
    u = np.random.default_rng(42).random(5)
    r = pit_residuals(y, sims, rng=42)
    expected = np.array([0.25 + 0.5 * u[0], 0.5, 1.0, 0.0, u[4]])
    np.testing.assert_allclose(r, expected, rtol=0, atol=1e-15)


def test_pit_randomisation_makes_discrete_data_uniform():
    # observed and simulated from the same Poisson(1.5): many ties
    rng = np.random.default_rng(7)
    y = rng.poisson(1.5, 4000)
    sims = rng.poisson(1.5, (4000, 200))
    r = pit_residuals(y, sims, rng=1)
    assert stats.kstest(r, "uniform").pvalue > 0.01
    # without the uniform draw (upper end of the mass) the values pile up: not uniform
    upper = np.count_nonzero(sims <= y[:, None], axis=1) / 200
    assert stats.kstest(upper, "uniform").pvalue < 1e-10


def test_pit_shape_error():
    with pytest.raises(ValueError, match="simulated"):
        pit_residuals(np.zeros(3), np.zeros((4, 10)))


def _toy(observed, sims, predicted=None, family="Poisson"):
    n = len(observed)
    return SimulatedResiduals(pit_residuals(observed, sims, 0), observed, sims,
                              np.zeros(n) if predicted is None else predicted,
                              pd.RangeIndex(n), family=family)


def _pearson_stat_by_hand(pool, col):
    """Mean squared standardised residual of data set ``col`` (loops, no vectorisation)."""
    rows = [i for i in range(pool.shape[0]) if np.std(pool[i]) > 0]
    r = {i: (pool[i, col] - pool[i].mean()) / np.std(pool[i], ddof=1) for i in rows}
    return np.mean([r[i] ** 2 for i in rows])


def _within_stat_by_hand(pool, groups, z):
    """
    Statistic and level of every data set: each group's standardised residuals
    regressed on (1, z) by least squares, one group and one data set at a time.
    """
    rows = [i for i in range(pool.shape[0]) if np.std(pool[i]) > 0]
    sd = {i: np.std(pool[i], ddof=1) for i in rows}
    T, L = np.zeros(pool.shape[1]), np.zeros(pool.shape[1])
    df = 0
    for g in sorted(set(groups[rows])):
        members = [i for i in rows if groups[i] == g]
        B = np.column_stack([np.ones(len(members)), z[members]])
        rank = np.linalg.matrix_rank(B)
        df += len(members) - rank
        hat = B @ np.linalg.pinv(B)
        for col in range(pool.shape[1]):
            r = np.array([(pool[i, col] - pool[i].mean()) / sd[i] for i in members])
            coef = np.linalg.lstsq(B, r, rcond=None)[0]
            T[col] += np.sum((r - B @ coef) ** 2)
            L[col] += sum((1 - hat[k, k]) * pool[i, col] / sd[i] ** 2
                          for k, i in enumerate(members))
    return T / df, L / df


def _two_sided_by_hand(obs, sims):
    S = len(sims)
    return min(1, 2 * min((1 + np.sum(sims >= obs)) / (S + 1), (1 + np.sum(sims <= obs)) / (S + 1)))


def test_dispersion_statistic_by_hand():
    rng = np.random.default_rng(3)
    sims = rng.poisson(2.0, (40, 20)).astype(float)
    y = rng.poisson(2.0, 40).astype(float)
    sims[0] = y[0]                      # a row without spread is left out
    groups = np.repeat(np.arange(10), 4)
    groups[-1] = 10                     # a group of one row: nothing left after its fit
    z = np.tile([0.0, 1.0, 2.0, 3.0], 10)
    z[4:8] = 1.0                        # a group where z is constant: rank 1
    sr = SimulatedResiduals(pit_residuals(y, sims, 0), y, sims, np.zeros(40),
                            pd.RangeIndex(40), groups=groups, group_design=z[:, None])
    pool = np.column_stack([y, sims])   # the observed data set first, then the simulations
    # overall: mean squared standardised residual against the simulations' mean
    t = sr.test_dispersion(within_groups=False)
    obs = _pearson_stat_by_hand(pool, 0)
    sim = np.array([_pearson_stat_by_hand(pool, j) for j in range(1, 21)])
    assert t.observed == pytest.approx(obs, rel=1e-12)
    assert t.expected == pytest.approx(sim.mean(), rel=1e-12)
    assert t.statistic == pytest.approx(obs / sim.mean(), rel=1e-12)
    assert t.pvalue == pytest.approx(_two_sided_by_hand(obs, sim), rel=1e-12)
    # within groups (the default): the residuals of a straight-line fit of T on the level
    T, L = _within_stat_by_hand(pool, groups, z)
    slope, intercept = np.polyfit(L, T, 1)
    e = T - (intercept + slope * L)
    for t in (sr.test_dispersion(), sr.test_dispersion(within_groups=True)):
        assert "within groups" in t.method
        assert t.observed == pytest.approx(T[0], rel=1e-10)
        assert t.expected == pytest.approx(intercept + slope * L[0], rel=1e-10)
        assert t.statistic == pytest.approx(T[0] / (intercept + slope * L[0]), rel=1e-10)
        assert t.pvalue == pytest.approx(_two_sided_by_hand(e[0], e[1:]), rel=1e-12)
    # without the random-effect columns the groups are only centred
    sr.group_design = None
    T1, L1 = _within_stat_by_hand(pool, groups, np.zeros((40, 0)))
    slope, intercept = np.polyfit(L1, T1, 1)
    assert sr.test_dispersion().observed == pytest.approx(T1[0], rel=1e-10)
    assert sr.test_dispersion().expected == pytest.approx(intercept + slope * L1[0], rel=1e-10)
    with pytest.raises(ValueError, match="group"):
        _toy(y, sims).test_dispersion(within_groups=True)
    with pytest.raises(ValueError, match="within_groups"):
        sr.test_dispersion(within_groups="yes")


def test_dispersion_without_rows_left_in_groups_is_the_overall_test():
    rng = np.random.default_rng(4)
    y, sims = rng.poisson(2.0, 30).astype(float), rng.poisson(2.0, (30, 20)).astype(float)
    pairs = np.repeat(np.arange(15), 2)           # two rows per group, two columns fitted
    sr = SimulatedResiduals(pit_residuals(y, sims, 0), y, sims, np.zeros(30),
                            pd.RangeIndex(30), groups=pairs,
                            group_design=np.tile([0.0, 1.0], 15)[:, None])
    assert sr.test_dispersion() == sr.test_dispersion(within_groups=False)
    with pytest.raises(ValueError, match="more rows than random effects"):
        sr.test_dispersion(within_groups=True)
    assert list(sr.tests().index)[:3] == ["uniformity", "dispersion", "zero_inflation"]
    # no groups at all: the overall test too
    assert _toy(y, sims).test_dispersion() == _toy(y, sims).test_dispersion(within_groups=False)


def test_dispersion_ratio_is_unbiased_when_data_and_simulations_match():
    # observed and simulated values exchangeable: Bernoulli(p_t), 40 simulations
    rng = np.random.default_rng(11)
    p = rng.uniform(0.1, 0.9, 100_000)
    y = (rng.random(p.size) < p).astype(float)
    sims = (rng.random((p.size, 40)) < p[:, None]).astype(float)
    t = _toy(y, sims).test_dispersion(within_groups=False)
    assert abs(t.statistic - 1) < 0.015 and t.pvalue > 0.01
    # centring and scaling by the simulations alone would give about 1 + 2/40:
    # each simulated data set would sit inside its own reference
    m, s = sims.mean(1), sims.std(1, ddof=1)
    ok = s > 0
    naive = np.mean(((y - m)[ok] / s[ok]) ** 2) / np.mean(
        ((sims - m[:, None])[ok] / s[ok, None]) ** 2)
    assert naive > 1.03


def test_zero_and_outlier_counts_by_hand():
    sims = np.array([[0, 1, 2, 3], [1, 2, 3, 4], [0, 0, 1, 1], [2, 2, 2, 5]] * 5, float)
    # row 1: y = 0 is the smallest simulation (inside); rows 2 (0 < 1), 3 (3 > 1) and
    # 4 (6 > 5) lie outside the envelope
    y = np.array([0, 0, 3, 6] * 5, float)
    sr = _toy(y, sims)
    z = sr.test_zero_inflation()
    assert z.observed == 10
    assert z.expected == pytest.approx(np.mean((sims == 0).sum(0)))
    o = sr.test_outliers()
    assert o.statistic == 15
    assert o.expected == pytest.approx(20 * 2 / 5)
    # P(X >= 15) for X ~ Binomial(20, 0.4), by direct summation
    tail = sum(stats.binom.pmf(k, 20, 0.4) for k in range(15, 21))
    assert o.pvalue == pytest.approx(tail, rel=1e-10)
    two = sr.test_outliers("two-sided")
    assert two.pvalue == pytest.approx(stats.binomtest(15, 20, 0.4).pvalue)
    with pytest.raises(ValueError, match="alternative"):
        sr.test_outliers("more")


# -------------------------------------------------------------- fitted models
@pytest.fixture(scope="module")
def poisson_fit():
    df = smg.simulate_longitudinal("poisson", n_persons=200, seed=0)
    return df, smg.mixedglm(F_RS, df, family=sm.families.Poisson()).fit()


def test_correct_poisson_model_gives_uniform_residuals(poisson_fit):
    df, res = poisson_fit
    sr = res.simulated_residuals(seed=0)
    assert sr.residuals.shape == (len(df),)
    assert sr.residuals.between(0, 1).all()
    assert sr.residuals.index.equals(df.index)
    np.testing.assert_array_equal(sr.observed, df["y"].to_numpy())
    t = sr.tests()
    assert t.loc["uniformity", "pvalue"] > 0.01
    assert "within groups" in sr.test_dispersion().method
    for row in ("dispersion", "dispersion_overall"):
        assert t.loc[row, "pvalue"] > 0.01
        assert 0.85 < t.loc[row, "statistic"] < 1.15
    # the groups are the persons, and the columns fitted in them intercept and time
    np.testing.assert_array_equal(pd.factorize(sr.groups)[0], pd.factorize(df["id"])[0])
    np.testing.assert_array_equal(sr.group_design, df[["time"]].assign(
        one=1.0)[["one", "time"]].to_numpy(float))
    assert t.loc["zero_inflation", "pvalue"] > 0.01
    assert t.loc["outliers", "pvalue"] > 0.01


def test_same_seed_same_residuals(poisson_fit):
    _, res = poisson_fit
    a = res.simulated_residuals(nsim=50, seed=11)
    b = res.simulated_residuals(nsim=50, seed=11)
    c = res.simulated_residuals(nsim=50, seed=12)
    pd.testing.assert_series_equal(a.residuals, b.residuals)
    np.testing.assert_array_equal(a.simulated, b.simulated)
    assert not np.allclose(a.residuals, c.residuals)
    d = res.simulated_residuals(nsim=50, seed=np.random.default_rng(11))
    pd.testing.assert_series_equal(a.residuals, d.residuals)


def test_conditional_simulations_use_the_modes(poisson_fit):
    df, res = poisson_fit
    sr = res.simulated_residuals(nsim=400, seed=5, conditional=True)
    # the mean of conditional simulations is the conditional mean, row by row
    mu = res.fittedvalues.to_numpy()
    se = np.sqrt(mu / 400)
    assert np.max(np.abs(sr.simulated.mean(1) - mu) / se) < 5.5
    assert sr.conditional and "conditional" in repr(sr)


def test_poisson_fit_to_negative_binomial_data_is_flagged():
    df = smg.simulate_longitudinal("negbin", n_persons=300, seed=2)
    pois = smg.mixedglm(F_RS, df, family=sm.families.Poisson()).fit()
    nb = smg.mixedglm(F_RS, df, family=smg.families.NegativeBinomial()).fit()
    sp = pois.simulated_residuals(seed=0)
    sn = nb.simulated_residuals(seed=0)
    # measured: Poisson KS p 7e-7, dispersion ratio 2.73 (p 0.008: no simulated data set
    # as dispersed), overall 1.36 (p 0.04); NB2 KS p 0.87, both ratios near 1
    assert sp.test_uniformity().pvalue < 0.01
    t = sp.test_dispersion()
    assert t.statistic > 2.5 and t.pvalue < 0.01
    assert sp.test_dispersion(within_groups=False).statistic > 1.25
    assert sn.test_uniformity().pvalue > 0.01
    for w in (None, False):
        t = sn.test_dispersion(within_groups=w)
        assert t.pvalue > 0.01 and abs(t.statistic - 1) < 0.1


def test_default_dispersion_test_detects_overdispersion_within_persons():
    # 60 persons of negative binomial (theta 2) counts fitted by a Poisson random-slope
    # model; measured: default ratio 2.37, p 0.008; overall ratio 1.17, p 0.45
    f = "y ~ time * group + stress + (1 + time | id)"
    nb = smg.simulate_longitudinal("negbin", n_persons=60, seed=2)
    sr = smg.mixedglm(f, nb, family=sm.families.Poisson()).fit().simulated_residuals(seed=0)
    t = sr.test_dispersion()
    assert t.pvalue < 0.05 and t.statistic > 2
    assert sr.test_dispersion(within_groups=False).pvalue > 0.05   # the overall test misses it
    # Poisson counts, the same design and model: measured ratio 0.97, p 0.88
    pois = smg.simulate_longitudinal("poisson", n_persons=60, seed=2)
    t = smg.mixedglm(f, pois, family=sm.families.Poisson()).fit().simulated_residuals(
        seed=0).test_dispersion()
    assert t.pvalue > 0.05 and abs(t.statistic - 1) < 0.1


@pytest.mark.slow
def test_default_dispersion_test_rejects_a_correct_poisson_model_at_its_level():
    # 200 data sets simulated and fitted with the same Poisson random-slope model; with
    # nsim = 39 the two-sided p-value is at most 0.05 for exactly 2 of the 40 ranks
    f = "y ~ time * group + stress + (1 + time | id)"
    rejected = overall = 0
    for r in range(200):
        df = smg.simulate_longitudinal("poisson", n_persons=40, seed=1000 + r)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = smg.mixedglm(f, df, family=sm.families.Poisson()).fit()
        sr = res.simulated_residuals(nsim=39, seed=r)
        rejected += sr.test_dispersion().pvalue <= 0.05
        overall += sr.test_dispersion(within_groups=False).pvalue <= 0.05
    # measured: 13 of 200 (6.5%); the overall test rejects none (conservative)
    assert 0.03 <= rejected / 200 <= 0.07
    assert overall / 200 < 0.03


def test_cbpp_extra_binomial_variation_is_flagged():
    # lme4's cbpp: within herds the incidence varies more than binomially; an
    # observation-level term (variance 0.79, as lme4 estimates) takes it up
    df = load_dataset("cbpp").reset_index(drop=True)
    df["obs"] = np.arange(len(df))
    f = "incidence + non_incidence ~ period + (1 | herd)"
    herd = smg.mixedglm(f, df, family=sm.families.Binomial()).fit()
    olre = smg.mixedglm(f + " + (1 | obs)", df, family=sm.families.Binomial()).fit()
    assert olre.cov_re.iloc[1, 1] == pytest.approx(0.794, abs=0.005)
    t = herd.simulated_residuals(nsim=200, seed=1).test_dispersion()
    # measured: ratio 1.80, p 2/201 (no simulated data set as dispersed)
    assert t.statistic > 1.5 and t.pvalue < 0.02
    t = olre.simulated_residuals(nsim=200, seed=1).test_dispersion()
    assert t.pvalue > 0.5 and abs(t.statistic - 1) < 0.1


def test_poisson_fit_to_zero_inflated_data_is_flagged():
    df = load_dataset("sim_zip_small")
    pois = smg.mixedglm(F_RS, df, family=sm.families.Poisson()).fit()
    zip_ = smg.mixedglm(F_RS, df, family=sm.families.Poisson(), zi_formula="~1").fit()
    zp = pois.simulated_residuals(seed=3).test_zero_inflation()
    zz = zip_.simulated_residuals(seed=3).test_zero_inflation()
    # measured: 336 zeros observed; Poisson fit expects 240 (p 0.008), ZIP 336 (p 0.97)
    assert zp.observed == int((df["y"] == 0).sum()) == 336
    assert zp.pvalue < 0.01 and zp.statistic > 1.3
    assert zz.pvalue > 0.01 and abs(zz.statistic - 1) < 0.05


# --------------------------------------------------------------- every family
def _gaussian_data(seed=4):
    df = smg.simulate_longitudinal("poisson", n_persons=150, seed=seed).drop(columns="y")
    rng = np.random.default_rng(seed)
    u = rng.normal(0, 0.8, df["id"].max() + 1)
    df["y"] = 1.0 + 0.3 * df["time"] + u[df["id"]] + rng.normal(0, 1.2, len(df))
    return df


def _nb1_data(seed=8, alpha=1.5):
    """NB1 counts: Poisson with a gamma mean of shape mu / alpha, so Var = mu (1 + alpha)."""
    df = smg.simulate_longitudinal("poisson", n_persons=200, seed=seed).drop(columns="y")
    rng = np.random.default_rng(seed)
    u = rng.normal(0, 0.5, df["id"].max() + 1)
    mu = np.exp(0.8 + 0.1 * df["time"] + u[df["id"]]).to_numpy()
    df["y"] = rng.poisson(rng.gamma(mu / alpha, alpha))
    return df


def _binomial_trials_data(seed=5):
    df = smg.simulate_longitudinal("binary", n_persons=150, seed=seed).drop(columns="y")
    rng = np.random.default_rng(seed)
    u = rng.normal(0, 0.7, df["id"].max() + 1)
    df["n"] = rng.integers(1, 9, len(df))
    p = 1 / (1 + np.exp(-(-0.5 + 0.2 * df["time"] + u[df["id"]])))
    df["s"] = rng.binomial(df["n"], p)
    df["f"] = df["n"] - df["s"]
    return df


FAMILY_CASES = {
    "binary_logit": (lambda: smg.simulate_longitudinal("binary", n_persons=200, seed=6),
                     F_RS, sm.families.Binomial(), {}),
    "binary_probit": (lambda: smg.simulate_longitudinal("binary", n_persons=200, seed=7),
                      "y ~ time + group + (1 | id)",
                      sm.families.Binomial(link=sm.families.links.Probit()), {}),
    "binomial_trials": (_binomial_trials_data, "s + f ~ time + (1 | id)",
                        sm.families.Binomial(), {}),
    "cbpp": (lambda: load_dataset("cbpp").reset_index(drop=True).assign(obs=np.arange(56)),
             "incidence + non_incidence ~ period + (1 | herd) + (1 | obs)",
             sm.families.Binomial(), {}),
    "negbin_nb1": (_nb1_data, "y ~ time + (1 | id)", smg.families.NegativeBinomial(p=1), {}),
    "zip": (lambda: load_dataset("sim_zip_small"), "y ~ time * group + stress + (1 | id)",
            sm.families.Poisson(), {"zi_formula": "~1"}),
    "ordinal_numeric": (lambda: load_dataset("sim_ordinal_small"),
                        "y ~ time * group + stress + (1 | id)", smg.families.Ordinal(), {}),
    "ordinal_text": (lambda: load_dataset("wine"), "rating ~ temp + contact + (1 | judge)",
                     smg.families.Ordinal(), {}),
    "gaussian": (_gaussian_data, "y ~ time + (1 | id)", sm.families.Gaussian(), {}),
}


@pytest.mark.parametrize("case", list(FAMILY_CASES))
def test_every_family_gives_uniform_residuals(case):
    make, formula, fam, kw = FAMILY_CASES[case]
    df = make()
    res = smg.mixedglm(formula, df, family=fam, **kw).fit()
    sr = res.simulated_residuals(nsim=200, seed=1)
    r = sr.residuals
    assert r.shape == (res.nobs,) and r.between(0, 1).all()
    assert sr.simulated.shape == (res.nobs, 200)
    assert sr.test_uniformity().pvalue > 0.01
    assert sr.test_dispersion().pvalue > 0.01
    assert sr.test_dispersion(within_groups=False).pvalue > 0.01
    assert sr.test_outliers().pvalue > 0.01
    if case != "gaussian" and not case.startswith("ordinal"):
        assert sr.test_zero_inflation().pvalue > 0.01
    # observed values on the simulation scale: successes, codes, counts, values
    if case == "binomial_trials":
        np.testing.assert_array_equal(sr.observed, df["s"].to_numpy())
        assert sr.simulated.max() <= df["n"].max()
    if case == "ordinal_text":
        np.testing.assert_array_equal(sr.observed, df["rating"].cat.codes.to_numpy())
        assert set(np.unique(sr.simulated)) <= set(range(5))


def test_gaussian_has_no_zero_inflation_test():
    df = _gaussian_data()
    res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Gaussian()).fit()
    sr = res.simulated_residuals(nsim=20, seed=0)
    with pytest.raises(ValueError, match="discrete"):
        sr.test_zero_inflation()
    assert "zero_inflation" not in sr.tests().index


def test_ordinal_has_no_zero_inflation_test():
    df = load_dataset("wine")
    res = smg.mixedglm("rating ~ temp + contact + (1 | judge)", df,
                       family=smg.families.Ordinal()).fit()
    sr = res.simulated_residuals(nsim=20, seed=0)
    # the lowest category has code 0 and is observed: it would be counted as zeros
    assert np.count_nonzero(sr.observed == 0) > 0
    with pytest.raises(ValueError, match="ordinal"):
        sr.test_zero_inflation()
    tab = sr.tests()
    assert "zero_inflation" not in tab.index
    assert list(tab.index) == ["uniformity", "dispersion", "dispersion_overall", "outliers"]


def test_bad_arguments(poisson_fit):
    _, res = poisson_fit
    with pytest.raises(ValueError, match="nsim"):
        res.simulated_residuals(nsim=5)
    with pytest.raises(ValueError, match="nsim"):
        res.simulated_residuals(nsim=20.5)
    with pytest.raises(ValueError, match="conditional"):
        res.simulated_residuals(nsim=20, conditional="yes")


def test_plot(poisson_fit):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    _, res = poisson_fit
    sr = res.simulated_residuals(nsim=50, seed=0)
    fig = sr.plot()
    try:
        assert len(fig.axes) == 2
        x, y = fig.axes[0].lines[0].get_data()
        np.testing.assert_allclose(y, np.sort(sr.residuals))
        x2, y2 = fig.axes[1].lines[0].get_data()
        assert x2.min() == 0 and x2.max() == 1
        np.testing.assert_allclose(y2, sr.residuals.to_numpy())
    finally:
        plt.close(fig)
