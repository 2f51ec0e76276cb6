"""
The capability matrix: every model kind x random-effects structure x fit x results method.

The matrix (kinds, structures, methods and the expected outcome of every cell) is defined
in ``docs/capabilities_matrix.py``, which also generates the "What works with what" table of
the documentation.  A cell that works is checked by an identity or an independent
computation (inverse links and Gauss-Hermite quadrature written here, statsmodels' GEE, the
stationarity of the conditional modes, simulation moments); a refused cell must raise the
named exception with a message that names the combination.  Profile and bootstrap cells run
by default on a few representative rows; the rest of them are marked slow.  The ``dask`` fit
is the Laplace fit of the same rows as a Dask DataFrame (an in-process cluster); its cells
run the same checks, and its estimates and random effects must equal the in-memory fit's.
"""

import builtins
import contextlib
import copy
import os
import pickle
import re
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import special, stats

import statsmodels_glmm.api as smg

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "docs"))
import capabilities_matrix as M  # noqa: E402

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

Z95 = stats.norm.ppf(0.975)
SCORES = np.arange(1.0, 5.0)  # the ordinal response's levels 1..4
NSIM = 200


# ------------------------------------------------------------------------ data and fits
def make_data(seed=20240611, n_g=30, per=6, n_h=6):
    """Every response of the matrix, from one linear predictor with all the structures."""
    rng = np.random.default_rng(seed)
    n = n_g * per
    g = np.repeat(np.arange(n_g), per)
    p = np.tile(np.arange(per) // 2, n_g)           # three levels of p within each g
    h = rng.integers(0, n_h, n)                      # crossed with g
    x = rng.normal(size=n)
    eta = (0.2 + 0.5 * x + rng.normal(0, 0.7, n_g)[g] + rng.normal(0, 0.3, n_g)[g] * x
           + rng.normal(0, 0.4, n_h)[h] + rng.normal(0, 0.3, (n_g, 3))[g, p])
    t = rng.uniform(0.5, 2.0, n)
    m = rng.integers(3, 8, n)
    df = pd.DataFrame({"g": g, "p": p, "h": h, "obs": np.arange(n), "x": x, "logt": np.log(t)})
    df["yb"] = rng.binomial(1, special.expit(eta))
    df["s"] = rng.binomial(m, special.expit(eta))
    df["f"] = m - df["s"]
    df["yp"] = rng.poisson(np.exp(eta - 0.3) * t)
    df["ynb"] = rng.negative_binomial(2.0, 2.0 / (2.0 + np.exp(eta)))
    df["yzi"] = np.where(rng.random(n) < 0.3, 0, rng.poisson(np.exp(eta)))
    df["yo"] = np.digitize(eta + rng.logistic(size=n), [-0.8, 0.5, 1.8]) + 1
    df["yg"] = eta + rng.normal(0, 0.5, n)
    return df


DATA = make_data()
#: the rows with an outcome missing after dropout: the last wave (p = 2) of the first groups
DROPOUT = (DATA["g"] < 8) & (DATA["p"] == 2)
#: new rows: known levels in the first two rows, unseen levels of every factor after them
NEW = DATA.iloc[[0, 7, 20, 33]].copy()
NEW.loc[NEW.index[2:], ["g", "h", "obs"]] = [[900, 90, 9000], [901, 91, 9001]]
NEW.index = ["a", "b", "c", "d"]

_FITS = {}
_DASK = {}


def dask_data():
    """DATA as a Dask DataFrame of three partitions, with an in-process client running."""
    if not _DASK:
        dd = pytest.importorskip("dask.dataframe")
        distributed = pytest.importorskip("distributed")
        _DASK["client"] = distributed.Client(processes=False, n_workers=1,
                                             threads_per_worker=1, dashboard_address=":0")
        _DASK["ddf"] = dd.from_pandas(DATA, npartitions=3)
    return _DASK["ddf"]


@pytest.fixture(scope="module", autouse=True)
def _close_dask_client():
    yield
    if "client" in _DASK:
        _DASK.pop("client").close()
        _DASK.clear()


def fit(kind, structure, nagq=1, restricted=False, dask=False, dropout=False):
    """
    A fit of the cell's model (cached), or of the model without ``x``; warnings kept.
    ``dropout``: the model with the wave ``p`` as a covariate, fitted to rows whose outcome
    is missing where :data:`DROPOUT` says (the user's frame with those values missing).
    """
    key = (kind, structure, nagq, restricted, dask, dropout)
    if key not in _FITS:
        spec = M.KINDS[kind]
        family = eval(spec["family"], {"sm": sm, "smg": smg})
        rhs = "1" if restricted else "x"
        formula = f"{spec['response']} ~ {rhs} + {M.STRUCTURES[structure]['terms']}"
        data = dask_data() if dask else DATA
        if dropout:
            formula = formula.replace(" ~ x + ", " ~ x + p + ")
            data = DATA.copy()
            for col in spec["response"].split(" + "):
                data[col] = data[col].astype(float).mask(DROPOUT)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = smg.mixedglm(formula, data, family=family, **spec["options"]).fit(nagq=nagq)
        _FITS[key] = (res, [(w.category, str(w.message)) for w in caught
                            if not issubclass(w.category, (DeprecationWarning,
                                                           ResourceWarning))])
    return _FITS[key][0]


class Cell:
    """One row of the matrix (kind, structure, fit) and its fits."""

    def __init__(self, kind, structure, fit_name):
        self.kind, self.structure, self.fit_name = kind, structure, fit_name
        self.nagq = M.FITS[fit_name]
        self.dask = fit_name == "dask"
        self.link = M.KINDS[kind]["link"]
        self.factors = M.STRUCTURES[structure]["factors"]

    @property
    def res(self):
        return fit(self.kind, self.structure, self.nagq, dask=self.dask)

    @property
    def in_memory(self):
        """The same model fitted to the rows in memory."""
        return fit(self.kind, self.structure, self.nagq)

    @property
    def restricted(self):
        return fit(self.kind, self.structure, self.nagq, restricted=True, dask=self.dask)

    @property
    def fit_warnings(self):
        self.res
        return _FITS[(self.kind, self.structure, self.nagq, False, self.dask, False)][1]

    @property
    def with_dropout(self):
        """The model with the wave as a covariate, fitted to the rows left after dropout."""
        return fit(self.kind, self.structure, self.nagq, dask=self.dask,
                   dropout=not self.dask)


# --------------------------------------------------------- independent computations
def inv_link(link, eta):
    return {"logit": special.expit, "probit": special.ndtr,
            "cloglog": lambda e: -np.expm1(-np.exp(e)), "log": np.exp,
            "identity": lambda e: e}[link](eta)


def inv_link_deriv(link, eta):
    return {"logit": lambda e: special.expit(e) * special.expit(-e),
            "probit": stats.norm.pdf, "cloglog": lambda e: np.exp(e - np.exp(e)),
            "log": np.exp, "identity": np.ones_like}[link](eta)


def factor_labels(df, factor):
    if factor == "g:p":
        return (df["g"].astype(str) + ":" + df["p"].astype(str)).to_numpy()
    return df[factor].to_numpy()


def z_columns(df, names):
    return np.column_stack([np.ones(len(df)) if n == "Intercept" else df[n].to_numpy(float)
                            for n in names])


def fixed_design(c, df):
    """Fixed-effects rows from the data columns (the ordinal model has no intercept)."""
    return z_columns(df, list(c.res.fe_params.index))


def fixed_part(c, df):
    """``x'beta + offset`` from the data columns and the named estimates."""
    eta = fixed_design(c, df) @ c.res.fe_params.to_numpy()
    if "offset" in M.KINDS[c.kind]["options"]:
        eta = eta + df["logt"].to_numpy(float)
    return eta


def frames_by_factor(res):
    fr = res.random_effects_frame()
    return fr if isinstance(fr, dict) else {res.model.design.group_name: fr}


def random_part(c, df):
    """``z'b`` from ``random_effects_frame()``; levels not in the fit add zero."""
    out = np.zeros(len(df))
    for factor, fr in frames_by_factor(c.res).items():
        pos = pd.Index(fr.index).get_indexer(factor_labels(df, factor))
        b = np.where(pos[:, None] >= 0, fr.to_numpy()[np.maximum(pos, 0)], 0.0)
        out += np.einsum("nq,nq->n", z_columns(df, fr.columns), b)
    return out


def z_var(c, df, skip_observation_level=False):
    """``z' G z`` per row, summed over the grouping factors (``cov_re_by_factor``)."""
    out = np.zeros(len(df))
    for factor, G in c.res.cov_re_by_factor.items():
        if skip_observation_level and factor == "obs":
            continue
        Z = z_columns(df, G.index)
        out += np.einsum("nq,qr,nr->n", Z, G.to_numpy(), Z)
    return out


def ordinal_probs(c, eta):
    th = c.res.family_params.to_numpy()
    cum = special.expit(th[None, :] - np.asarray(eta)[:, None])
    cum = np.column_stack([np.zeros(len(cum)), cum, np.ones(len(cum))])
    return np.diff(cum, axis=1)


def keep_prob(c):
    """``1 - P(structural zero)`` of a zero-inflated model (1 otherwise)."""
    return 1 - special.expit(c.res.params["inflate_Intercept"]) if c.kind in ("zip", "zinb") \
        else 1.0


def cond_mean(c, eta):
    """The conditional mean of a row with linear predictor ``eta`` (success proportion)."""
    if c.kind == "ordinal":
        return ordinal_probs(c, eta) @ SCORES
    return keep_prob(c) * inv_link(c.link, eta)


def cond_var(c, eta, n_trials=1.0):
    """The conditional variance of the response (success counts for binomial rows)."""
    mu = np.exp(eta)
    alpha = c.res.params.get("alpha", 0.0)
    if c.kind in ("logit", "probit", "cloglog", "binomial"):
        q = inv_link(c.link, eta)
        return n_trials * q * (1 - q)
    if c.kind == "ordinal":
        pr = ordinal_probs(c, eta)
        return pr @ SCORES ** 2 - (pr @ SCORES) ** 2
    if c.kind == "gaussian":
        return np.full(len(eta), c.res.params["scale"])
    vb = {"poisson": mu, "zip": mu, "nb1": mu * (1 + alpha)}.get(c.kind, mu + alpha * mu ** 2)
    keep = keep_prob(c)
    return keep * (vb + mu ** 2) - (keep * mu) ** 2


def gauss_hermite_mean(c, df, fun):
    """``E[fun(eta0 + s v)]``, ``v ~ N(0, 1)``, ``s^2 = z'Gz``: 80-node Gauss-Hermite."""
    v, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()
    s = np.sqrt(z_var(c, df))
    eta0 = fixed_part(c, df)
    return np.tensordot(w, np.asarray([fun(eta0 + s * vk) for vk in v]), axes=1)


def n_trials(c, df):
    return (df["s"] + df["f"]).to_numpy(float) if c.kind == "binomial" else np.ones(len(df))


def observed(c, df):
    """Observed response on the scale of ``simulate`` (success counts for binomial)."""
    return df["s" if c.kind == "binomial" else M.KINDS[c.kind]["response"]].to_numpy(float)


def without_groups(df):
    return df.drop(columns=["g", "p", "h", "obs"])


@contextlib.contextmanager
def unseen_levels_expected():
    """Hide the warning about levels not in the fit (new data with unseen levels)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not in the fit", category=UserWarning)
        yield


def frame(x):
    """A pandas object from a prediction (a Dask one is computed)."""
    return x.compute() if hasattr(x, "compute") else x


def close(a, b, rtol=1e-9, atol=1e-12, what=""):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=atol,
                               err_msg=what)


# ------------------------------------------------------------------------ the checks
def check_fit(c):
    res = c.res
    assert res.converged
    close(res.llf, res.model.loglike(np.asarray(res.params), nagq=c.nagq), rtol=1e-8,
          what="llf is the log-likelihood at the estimates")
    expected = [M.FIT_WARNINGS[c.kind, c.structure][0]] \
        if (c.kind, c.structure) in M.FIT_WARNINGS else []
    got = [msg for _, msg in c.fit_warnings]
    for pattern in expected:
        assert any(re.search(pattern, msg) for msg in got), got
    unexpected = [msg for msg in got if not any(re.search(p, msg) for p in expected)]
    assert unexpected == [], f"warnings while fitting well-posed data: {unexpected}"
    if c.dask:
        mem = c.in_memory
        assert list(res.params.index) == list(mem.params.index)
        # the same optimum to a thousandth of a standard error
        tol = np.where(np.isfinite(mem.bse), 1e-3 * mem.bse, 1e-6)  # NaN on a bound
        assert np.all(np.abs(res.params - mem.params).to_numpy() <= tol + 1e-9), \
            "Dask and in-memory estimates"
        both = np.isfinite(res.bse) & np.isfinite(mem.bse)  # NaN: a variance on its bound
        close(res.bse[both], mem.bse[both], rtol=1e-3, what="Dask and in-memory standard errors")
        close(res.llf, mem.llf, rtol=1e-9, what="Dask and in-memory log-likelihood")


def check_summary(c):
    res = c.res
    text = str(res.summary())
    assert ("Laplace" if c.nagq == 1 else f"Adaptive Gauss-Hermite, {c.nagq} nodes") in text
    assert f"{res.llf:.4f}" in text
    for name, value in res.fe_params.items():
        assert name in text and f"{value:.4f}" in text, name
    for factor in c.factors:
        assert factor in text
    text2 = str(res.summary2())
    for name, value in res.params.items():
        assert name in text2, name


def check_wald_tests(c):
    res = c.res
    z = res.params["x"] / res.bse["x"]
    close(res.t_test("x = 0").tvalue, z, rtol=1e-10)
    close(res.wald_test("x = 0", scalar=True).statistic, z ** 2, rtol=1e-10)


def check_predict_conditional(c):
    res = c.res
    eta = fixed_part(c, DATA) + random_part(c, DATA)
    close(res.predict(which="linear"), eta, rtol=1e-9, atol=1e-9, what="linear predictor")
    close(res.predict(), cond_mean(c, eta), rtol=1e-9, atol=1e-12, what="conditional mean")
    known = NEW.iloc[:2]
    close(res.predict(known), cond_mean(c, fixed_part(c, known) + random_part(c, known)),
          rtol=1e-9, atol=1e-12, what="new rows of known levels")


def check_predict_zero(c):
    res = c.res
    close(res.predict(random_effects="zero"), cond_mean(c, fixed_part(c, DATA)),
          what="random effects at zero")
    close(res.predict(without_groups(NEW), random_effects="zero"),
          cond_mean(c, fixed_part(c, NEW)), what="new data without the grouping columns")


def check_predict_marginal(c):
    res = c.res
    close(res.predict(random_effects="marginal"),
          gauss_hermite_mean(c, DATA, lambda e: cond_mean(c, e)), rtol=1e-7, atol=1e-10,
          what="population-averaged mean")
    close(res.predict(without_groups(NEW), random_effects="marginal"),
          gauss_hermite_mean(c, NEW, lambda e: cond_mean(c, e)), rtol=1e-7, atol=1e-10)


def check_predict_which(c):
    res = c.res
    eta = fixed_part(c, DATA) + random_part(c, DATA)
    with pytest.raises(ValueError, match="which='nonsense' is not available"):
        res.predict(which="nonsense")
    if c.kind in ("logit", "probit", "cloglog", "binomial", "gaussian"):
        with pytest.raises(ValueError, match="use 'mean' or 'linear'"):
            res.predict(which="prob")
        return
    if c.kind == "ordinal":
        averaged = gauss_hermite_mean(c, DATA, lambda e: ordinal_probs(c, e))
        for mode, want in (("conditional", ordinal_probs(c, eta)), ("marginal", averaged)):
            prob = frame(res.predict(which="prob", random_effects=mode)).to_numpy()
            close(prob, want, rtol=1e-7, atol=1e-10, what=f"category probabilities, {mode}")
            close(prob.sum(axis=1), 1.0, atol=1e-12)
            close(res.predict(which="cum", random_effects=mode),
                  np.cumsum(prob, axis=1)[:, :-1], atol=1e-12)
            close(res.predict(random_effects=mode), prob @ SCORES, atol=1e-12)
        return
    keep = keep_prob(c)
    mu = np.exp(eta)
    for mode in ("conditional", "zero", "marginal"):
        prob = frame(res.predict(which="prob", random_effects=mode)).to_numpy()
        pz = frame(res.predict(which="prob-zero", random_effects=mode)).to_numpy()
        close(prob[:, 0], pz, atol=1e-12, what=f"P(y = 0), {mode}")
        assert np.all(prob.sum(axis=1) <= 1 + 1e-12)
        assert prob.shape[1] == DATA[M.KINDS[c.kind]["response"]].max() + 1
    close(res.predict(which="var"), cond_var(c, eta), rtol=1e-9, what="conditional variance")
    # law of total variance over the random effects
    total = (gauss_hermite_mean(c, DATA, lambda e: cond_var(c, e))
             + gauss_hermite_mean(c, DATA, lambda e: cond_mean(c, e) ** 2)
             - gauss_hermite_mean(c, DATA, lambda e: cond_mean(c, e)) ** 2)
    close(res.predict(which="var", random_effects="marginal"), total, rtol=1e-6,
          what="population variance")
    if c.kind == "poisson":
        close(res.predict(which="prob-zero"), np.exp(-mu), rtol=1e-12)
    if c.kind in ("zip", "zinb"):
        close(res.predict(which="prob-main"), keep, rtol=1e-12)
        close(res.predict(which="mean-main"), mu, rtol=1e-9)
        for mode in ("conditional", "marginal"):
            close(res.predict(random_effects=mode),
                  res.predict(which="mean-main", random_effects=mode) * keep, rtol=1e-9)


def check_predict_unseen(c):
    res = c.res
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = res.predict(NEW).to_numpy()
    messages = [str(w.message) for w in caught]
    for factor in c.factors:
        assert any(f"of {factor!r} that were not in the fit" in m for m in messages), messages
    close(pred[:2], cond_mean(c, fixed_part(c, NEW.iloc[:2]) + random_part(c, NEW.iloc[:2])),
          what="known levels keep their effects")
    close(pred[2:], cond_mean(c, fixed_part(c, NEW.iloc[2:])),
          what="unseen levels get zero random effects")


def _check_get_prediction(c, mode):
    res = c.res
    new = NEW if mode == "conditional" else without_groups(NEW)
    if c.dask and mode != "conditional":  # the fitted rows stay on the cluster
        with pytest.raises(NotImplementedError, match="fitted rows.*Dask model"):
            res.get_prediction(random_effects=mode)
    with unseen_levels_expected():
        for data in ((new,) if c.dask else (None, new)):
            gp = res.get_prediction(data, random_effects=mode)
            close(gp.predicted_mean, res.predict(data, random_effects=mode), rtol=1e-10,
                  atol=1e-12, what=f"get_prediction and predict, {mode}")
            ci = gp.conf_int()
            mean = gp.predicted_mean
            assert np.all(np.isfinite(gp.se)) and np.all(gp.se > 0)
            assert np.all((ci[:, 0] <= mean) & (mean <= ci[:, 1]))
            sf = gp.summary_frame()
            assert list(sf.index) == list(DATA.index if data is None else data.index)
        zero = res.get_prediction(without_groups(NEW), which="linear", random_effects="zero")
        lin = res.get_prediction(new, which="linear", random_effects=mode)
    X = fixed_design(c, NEW)
    names = list(res.fe_params.index)
    V = res.cov_params().loc[names, names].to_numpy()
    se_lin = np.sqrt(np.einsum("ni,ij,nj->n", X, V, X))
    close(zero.se, se_lin, rtol=1e-6, what="delta method of x'beta")
    if mode == "zero" and c.kind not in ("zip", "zinb", "ordinal"):
        gp = res.get_prediction(without_groups(NEW), random_effects="zero")
        close(gp.se, inv_link_deriv(c.link, fixed_part(c, NEW)) * se_lin, rtol=1e-5,
              what="delta method of h(x'beta)")
    if mode == "conditional":
        # rows whose every level is unseen have no random effect: x'beta alone
        close(lin.se[2:], se_lin[2:], rtol=1e-6)
    if mode == "marginal" and c.kind in ("poisson", "nb2", "nb1"):
        gp = res.get_prediction(without_groups(NEW.iloc[:1]), random_effects="marginal")
        close(gp.se, _marginal_log_se(c, NEW.iloc[:1]), rtol=1e-4,
              what="delta method of exp(x'beta + z'Gz / 2)")


def _marginal_log_se(c, row):
    """Delta-method SE of ``exp(x'beta + offset + z'G z / 2)`` by differences of the params."""
    res = c.res
    names = list(res.params.index)
    p0 = res.params.to_numpy()

    def mean(p):
        par = dict(zip(names, p))
        eta = fixed_design(c, row) @ np.array([par[n] for n in res.fe_params.index])
        eta = eta + row["logt"].to_numpy() if c.kind == "poisson" else eta
        s2 = 0.0
        for factor, G in res.cov_re_by_factor.items():
            z = z_columns(row, G.index)[0]
            for i, a in enumerate(G.index):
                for j, b in enumerate(G.index):
                    key = (f"{factor} {a} Var" if i == j else
                           f"{factor} {min(a, b, key=list(G.index).index)} x "
                           f"{max(a, b, key=list(G.index).index)} Cov")
                    s2 += z[i] * z[j] * par.get(key, 0.0)
        return np.exp(eta + s2 / 2.0)

    J = np.zeros(len(p0))
    for k in range(len(p0)):
        h = 1e-6 * max(1.0, abs(p0[k]))
        e = np.zeros(len(p0))
        e[k] = h
        J[k] = (mean(p0 + e) - mean(p0 - e))[0] / (2 * h)
    V = np.nan_to_num(res.cov_params().to_numpy())
    return np.sqrt([J @ V @ J])


def check_get_prediction_conditional(c):
    _check_get_prediction(c, "conditional")


def check_get_prediction_zero(c):
    _check_get_prediction(c, "zero")


def check_get_prediction_marginal(c):
    _check_get_prediction(c, "marginal")


def check_conf_int_wald(c):
    res = c.res
    ci = res.conf_int()
    names = list(res.fe_params.index)
    bse = res.bse[names]
    close(ci.loc[names, 0], res.params[names] - Z95 * bse, rtol=1e-10)
    close(ci.loc[names, 1], res.params[names] + Z95 * bse, rtol=1e-10)
    for name in res.params.index:
        if name.endswith(" Var") and res.params[name] > 1e-4:
            v, se = res.params[name], res.bse[name]
            close(ci.loc[name], [v * np.exp(-Z95 * se / v), v * np.exp(Z95 * se / v)],
                  rtol=1e-10, what=f"{name}: interval on the log-SD scale")


def check_cov_cluster(c):
    res = c.res
    robust = res.model.fit(nagq=c.nagq, cov_type="cluster")
    k = res.k_fe
    close(robust.params, res.params, rtol=0, atol=0, what="the same estimates")
    assert robust.cov_type == "cluster"
    close(robust.bse.iloc[k:], res.bse.iloc[k:], rtol=1e-12,
          what="variances and family parameters keep their model-based errors")
    close(robust.tvalues.iloc[:k], robust.params.iloc[:k] / robust.bse.iloc[:k], rtol=1e-12)
    # A^-1 B A^-1 on the reported scale: A^-1 the model-based covariance, B the cross-product
    # of the clusters' scores (the levels of the outermost factor)
    from statsmodels_glmm.inference.sandwich import cluster_scores

    S = cluster_scores(res)
    assert len(S) == DATA["g"].nunique()
    C = res.cov_params().to_numpy()
    if not np.all(np.isfinite(C)):
        return  # a variance on its bound: no model-based covariance to build it from
    V = C @ (S.to_numpy().T @ S.to_numpy()) @ C
    close(robust.bse.iloc[:k], np.sqrt(np.diag(V)[:k]), rtol=1e-4,
          what="the sandwich from the model-based covariance and the cluster scores")


def check_conf_int_profile(c):
    res = c.res
    ci = res.conf_int(method="profile")
    est, se = res.params["x"], res.bse["x"]
    lo, hi = ci.loc["x"]
    assert est - 4 * se < lo < est < hi < est + 4 * se
    for name in res.params.index:
        if name.endswith(" Var"):
            assert 0 <= ci.loc[name, 0] <= res.params[name] <= ci.loc[name, 1], name


def check_profile(c):
    res = c.res
    pr = res.profile(["x"])
    fr = pr.frame
    assert np.all(fr["llf"] <= res.llf + 1e-6), "the profile passes above the maximum"
    est = res.params["x"]
    zeta = np.sign(fr["value"] - est) * np.sqrt(np.maximum(2 * (res.llf - fr["llf"]), 0))
    close(fr["zeta"], zeta, rtol=1e-6, atol=1e-6, what="zeta = sign sqrt(2 (llf - llf_p))")
    lo, hi = pr.conf_int().loc["x"]
    assert lo < est < hi


def check_conf_int_boot(c):
    res = c.res
    ci = res.conf_int(method="boot", n=8, seed=5)
    bt = res.bootstrap(8, seed=5, progress=False)
    close(ci[0], bt.params.quantile(0.025), rtol=1e-12)
    close(ci[1], bt.params.quantile(0.975), rtol=1e-12)


def check_bootstrap(c):
    res = c.res
    bt = res.bootstrap(4, seed=2, progress=False)
    assert list(bt.params.columns) == list(res.params.index)
    assert len(bt.params) == 4 and bt.n_failed == 0
    assert np.all(np.isfinite(bt.params.to_numpy()))
    assert not np.allclose(bt.params.to_numpy(), res.params.to_numpy()[None, :])


def _check_simulate_rows(c, sims, eta):
    """Row means of ``NSIM`` draws against the conditional mean and variance (chi-square)."""
    assert sims.shape == (len(DATA), NSIM) and list(sims.index) == list(DATA.index)
    nt = n_trials(c, DATA)
    mu = cond_mean(c, eta) * nt
    var = cond_var(c, eta, nt)
    stat = np.sum((sims.to_numpy().mean(axis=1) - mu) ** 2 / (var / NSIM))
    n = len(DATA)
    assert abs(stat - n) < 6 * np.sqrt(2 * n), stat


def check_simulate_conditional(c):
    sims = c.res.simulate(NSIM, random_effects="conditional", seed=1)
    _check_simulate_rows(c, sims, fixed_part(c, DATA) + random_part(c, DATA))


def check_simulate_zero(c):
    sims = c.res.simulate(NSIM, random_effects="zero", seed=1)
    _check_simulate_rows(c, sims, fixed_part(c, DATA))


def check_simulate_new(c):
    sims = c.res.simulate(NSIM, random_effects="new", seed=1).to_numpy()
    means = sims.mean(axis=0)
    target = np.mean(gauss_hermite_mean(c, DATA, lambda e: cond_mean(c, e)) * n_trials(c, DATA))
    assert abs(means.mean() - target) < 5 * means.std(ddof=1) / np.sqrt(NSIM)


def check_compare_lr_test(c):
    res, small = c.res, c.restricted
    t = res.compare_lr_test(small)
    stat = max(2 * (res.llf - small.llf), 0.0)
    close(t.statistic, stat, rtol=1e-12)
    assert t.df_diff == 1 and t.rule == "chi2"
    close(t.pvalue, stats.chi2.sf(stat, 1), rtol=1e-10)


def check_compare(c):
    res, small = c.res, c.restricted
    tab = smg.compare(res, small, names=["full", "restricted"])
    close(tab.loc[["full", "restricted"], "AIC"], [res.aic, small.aic], rtol=1e-12)
    close(tab["Chisq"].dropna().iloc[0], 2 * abs(res.llf - small.llf), rtol=1e-9)
    close(tab["Pr(>Chisq)"].dropna().iloc[0], stats.chi2.sf(2 * abs(res.llf - small.llf), 1),
          rtol=1e-8)
    k = len(res.params)
    close([res.info_criteria("aic"), res.info_criteria("bic")],
          [-2 * res.llf + 2 * k, -2 * res.llf + np.log(len(DATA)) * k], rtol=1e-12)


def check_simulated_residuals(c):
    res = c.res
    sr = res.simulated_residuals(nsim=40, seed=3)
    r = sr.residuals
    assert list(r.index) == list(DATA.index)
    assert np.all((r >= 0) & (r <= 1))
    close(res.simulated_residuals(nsim=40, seed=3).residuals, r, rtol=0, atol=0,
          what="the same seed gives the same residuals")
    tab = sr.tests()
    assert np.all((tab["pvalue"] >= 0) & (tab["pvalue"] <= 1))
    if c.kind in ("gaussian", "ordinal"):  # no zero count to inflate
        assert "zero_inflation" not in tab.index
        with pytest.raises(ValueError, match="not Gaussian" if c.kind == "gaussian" else
                           "ordinal"):
            sr.test_zero_inflation()
    else:
        assert sr.test_zero_inflation().observed == np.count_nonzero(observed(c, DATA) == 0)


_LATENT = {"logit": np.pi ** 2 / 3, "probit": 1.0, "cloglog": np.pi ** 2 / 6}


def _variances(c):
    """Independent ``(var_fixed, var_random, var_residual or None)``; None for counts."""
    res = c.res
    vf = np.var(fixed_design(c, DATA) @ res.fe_params.to_numpy(), ddof=1)
    vr = np.mean(z_var(c, DATA, skip_observation_level=True))
    vobs = res.cov_re_by_factor["obs"].iloc[0, 0] if c.structure == "olre" else 0.0
    if c.kind in ("logit", "probit", "cloglog", "ordinal"):
        return vf, vr, _LATENT[c.link] + vobs
    if c.kind == "gaussian":
        return vf, vr, res.params["scale"] + vobs
    return vf, vr, None


def check_icc(c):
    res = c.res
    ic = res.icc()
    vf, vr, ve = _variances(c)
    if ve is None:  # count and binomial families: the residual variance of the package
        ve = res.variance_components()["var_residual"]
    close(ic["icc_adjusted"], vr / (vr + ve), rtol=1e-9)
    close(ic["icc_unadjusted"], vr / (vf + vr + ve), rtol=1e-9)
    assert 0 < ic["icc_unadjusted"] <= ic["icc_adjusted"] < 1


def check_r2(c):
    res = c.res
    r = res.r2()
    vf, vr, ve = _variances(c)
    if ve is None:
        ve = res.variance_components()["var_residual"]
    close(r["r2_marginal"], vf / (vf + vr + ve), rtol=1e-9)
    close(r["r2_conditional"], (vf + vr) / (vf + vr + ve), rtol=1e-9)
    assert 0 <= r["r2_marginal"] <= r["r2_conditional"] <= 1


def check_random_effects(c):
    res = c.res
    frames = frames_by_factor(res)
    assert set(frames) == set(c.factors)
    single = len(c.factors) == 1
    re_dict = {c.factors[0]: res.random_effects} if single else res.random_effects
    cov_dict = {c.factors[0]: res.random_effects_cov} if single else res.random_effects_cov
    eta = fixed_part(c, DATA) + random_part(c, DATA)
    d = res.model.design
    d1 = None if c.dask else res.model.response.derivs(d.unsort(d.y), eta, res._extra())[1]
    for factor, fr in frames.items():
        assert len(re_dict[factor]) == len(fr) == len(cov_dict[factor])
        for level in fr.index[:3]:
            close(re_dict[factor][level], fr.loc[level], rtol=0, atol=0)
            C = cov_dict[factor][level].to_numpy()
            assert list(cov_dict[factor][level].index) == list(fr.columns)
            # positive semi-definite (singular where G is)
            assert np.linalg.eigvalsh(C).min() >= -1e-10 * (1 + np.abs(C).max())
        if c.dask:  # the modes gathered from the workers are the in-memory fit's
            mem = c.in_memory
            close(fr, frames_by_factor(mem)[factor].loc[fr.index], rtol=1e-5, atol=1e-6)
            mem_cov = mem.random_effects_cov if single else mem.random_effects_cov[factor]
            for level in fr.index[:3]:
                close(cov_dict[factor][level], mem_cov[level], rtol=1e-4, atol=1e-8)
            continue
        G = res.cov_re_by_factor[factor].loc[fr.columns, fr.columns].to_numpy()
        if np.min(np.linalg.eigvalsh(G)) < 1e-6:
            continue  # a variance at zero: no stationarity condition to check
        # the modes maximise log f(y | b) - b'G^-1 b / 2: its gradient is zero at every level
        codes = pd.Index(fr.index).get_indexer(factor_labels(DATA, factor))
        Zf = z_columns(DATA, fr.columns)
        score = np.zeros(fr.shape)
        np.add.at(score, codes, Zf * d1[:, None])
        grad = score - fr.to_numpy() @ np.linalg.inv(G)
        assert np.max(np.abs(grad)) < 1e-5 * (1 + np.max(np.abs(score))), factor


def check_plot_random_effects(c):
    fig = smg.plot_random_effects(c.res)
    try:
        panels = sum(fr.shape[1] for fr in frames_by_factor(c.res).values())
        assert len(fig.axes) == panels
    finally:
        plt.close(fig)


def check_marginal_params(c):
    res = c.res
    mp = res.marginal_params()
    close(mp["conditional"], res.fe_params, rtol=0, atol=0)
    assert np.all(np.isfinite(mp["marginal_se"])) and np.all(mp["marginal_se"] > 0)
    intercepts_only = c.structure in ("ri", "nested", "crossed", "olre")
    s2 = z_var(c, DATA.iloc[:1])[0]
    b, m = res.fe_params, mp["marginal"]
    if c.kind == "gaussian":
        close(m, b, rtol=1e-7, atol=1e-9, what="identity link: marginal = conditional")
    elif c.link == "log" and intercepts_only:
        close(m["x"], b["x"], rtol=1e-7, what="log link, random intercepts: slope unchanged")
        close(m["Intercept"], b["Intercept"] + s2 / 2 + np.log(keep_prob(c)), rtol=1e-7)
    elif c.link == "probit" and intercepts_only:
        close(m, b / np.sqrt(1 + s2), rtol=1e-6, what="probit: beta / sqrt(1 + s^2)")
    elif c.link in ("logit", "cloglog"):
        assert abs(m["x"]) < abs(b["x"]), "attenuation of a binary-response slope"


_EFFECTS = {}


def _effects(c):
    key = (c.kind, c.structure, c.nagq, c.dask)
    if key not in _EFFECTS:
        _EFFECTS[key] = c.res.probability_effects("x", at={"x": 0.0})
    return _EFFECTS[key]


def check_probability_effects(c):
    tab = _effects(c)
    prof = tab.attrs["profile"].assign(x=0.0)
    one = prof.assign(x=1.0)
    row = tab.loc["individual, b = 0"]
    close([row["before"], row["after"]],
          [cond_mean(c, fixed_part(c, prof))[0], cond_mean(c, fixed_part(c, one))[0]],
          rtol=1e-9, what="an individual with b = 0")
    pop = tab.loc["population average at profile"]
    close([pop["before"], pop["after"]],
          [gauss_hermite_mean(c, prof, lambda e: cond_mean(c, e))[0],
           gauss_hermite_mean(c, one, lambda e: cond_mean(c, e))[0]], rtol=1e-7)
    close(tab["difference"], tab["after"] - tab["before"], rtol=1e-12, atol=1e-15)


def check_plot_effects(c):
    tab = _effects(c)
    fig = smg.plot_effects(tab, c.res)
    try:
        bars = [ln for ln in fig.axes[0].lines if str(ln.get_gid()).startswith("interval")]
        assert len(bars) == 2 * len(tab)
    finally:
        plt.close(fig)


def check_compare_gee(c):
    res = c.res
    cmp = smg.compare_gee(res)
    close(cmp.table["conditional"], res.fe_params, rtol=0, atol=0)
    fam = {"logit": sm.families.Binomial(), "binomial": sm.families.Binomial(),
           "probit": sm.families.Binomial(sm.families.links.Probit()),
           "cloglog": sm.families.Binomial(sm.families.links.CLogLog()),
           "poisson": sm.families.Poisson(), "gaussian": sm.families.Gaussian()}.get(c.kind)
    if fam is None:  # negative binomial working variance with the family's starting alpha
        fam = copy.deepcopy(res.model.response.sm_family)
    df = DATA
    if c.kind == "binomial":  # one 0/1 row per trial
        rows = np.repeat(np.arange(len(df)), df["s"] + df["f"])
        first = np.r_[0, np.cumsum(df["s"] + df["f"])[:-1]]
        within = np.arange(len(rows)) - np.repeat(first, df["s"] + df["f"])
        y = (within < np.repeat(df["s"], df["s"] + df["f"])).astype(float)
        df = df.iloc[rows].assign(yy=y)
    y = df["yy"] if c.kind == "binomial" else df[M.KINDS[c.kind]["response"]]
    kw = {"offset": df["logt"]} if c.kind == "poisson" else {}
    # the clusters are the levels of the outermost grouping factor
    gee = sm.GEE(y.to_numpy(float), fixed_design(c, df), groups=df["g"].to_numpy(),
                 family=fam, cov_struct=sm.cov_struct.Exchangeable(), **kw).fit()
    close(cmp.table["gee"], gee.params, rtol=1e-6, what="statsmodels GEE on the same clusters")


def check_odds_ratios(c):
    res = c.res
    orr = res.odds_ratios()
    label = {"logit": "OR", "log": "RR"}.get(c.link, "exp(coef)")
    b, se = res.fe_params, res.bse_fe
    close(orr[label], np.exp(b), rtol=1e-12)
    close(orr["Lower CI"], np.exp(b - Z95 * se), rtol=1e-12)
    close(orr["Upper CI"], np.exp(b + Z95 * se), rtol=1e-12)


def check_fit_bayes(c):
    res = c.res
    pytest.importorskip("numpyro")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short run: R-hat and ESS rules may warn
        post = res.model.fit_bayes(draws=300, tune=300, chains=2, seed=1, progress=False)
    assert list(post.params.index) == list(res.params.index)
    assert post.idata.posterior.sizes["draw"] == 300
    # the fixed effects: the posterior where the likelihood is (weak priors, 180 rows)
    k = res.k_fe
    b, se = res.params.iloc[:k], res.bse.iloc[:k]
    pm, psd = post.params.iloc[:k], post.bse.iloc[:k]
    assert np.all(np.abs(pm - b) < 0.5 * psd + 0.1 * se), (pm, b)
    assert np.all((psd / se > 0.6) & (psd / se < 1.6)), (psd, se)
    lo, hi = post.conf_int().iloc[:k].T.to_numpy()
    assert np.all((lo < pm) & (pm < hi))


def check_tipping_point(c):
    res = c.with_dropout
    tp = res.tipping_point("x", deltas=(0.0, 1.5), m=3, seed=5)
    assert tp.info["n_imputed"] == DROPOUT.sum()
    t = tp.table
    close(t["delta"], [0.0, 1.5])
    # Rubin's rules: the mean of the imputations' estimates, and the within- plus (1 + 1/m)
    # times the between-imputation variance
    est, var = np.asarray(tp.estimates), np.asarray(tp.variances)
    assert est.shape == var.shape == (2, 3)
    close(t["estimate"], est.mean(axis=1), rtol=1e-12)
    close(t["se"] ** 2, var.mean(axis=1) + (1 + 1 / 3) * est.var(axis=1, ddof=1), rtol=1e-10)
    # delta = 0 imputes under the fitted model: close to the direct estimate
    b, se = res.params["x"], res.bse["x"]
    assert abs(t["estimate"].iloc[0] - b) < se


def check_pattern_mixture(c):
    res = c.with_dropout
    pm = res.pattern_mixture(time="p", term="x", min_persons=5)
    tab = pm.term_table
    # persons who left after wave 1 and those seen at every wave
    n_g = DATA["g"].nunique()
    close(tab["persons"].loc[[1, 2]], [8, n_g - 8], rtol=0, what="persons per pattern")
    close(tab["share"].loc[[1, 2]], [8 / n_g, (n_g - 8) / n_g], rtol=1e-12)
    close(pm.params["x"], np.sum(tab["share"] * tab["estimate"]), rtol=1e-10,
          what="the pattern-averaged estimate is the share-weighted mean")


def check_pickle(c):
    res = c.res
    back = pickle.loads(pickle.dumps(res))
    close(back.params, res.params, rtol=0, atol=0)
    assert back.llf == res.llf
    with unseen_levels_expected():
        close(back.predict(NEW), res.predict(NEW), rtol=0, atol=0)
        # without the fitted rows: estimates and predictions on new data remain
        small = pickle.loads(pickle.dumps(res))
        small.remove_data()
        small = pickle.loads(pickle.dumps(small))
        close(small.predict(NEW), res.predict(NEW), rtol=0, atol=0)
    close(small.bse, res.bse, rtol=0, atol=0)


CHECKS = {name[len("check_"):]: fn for name, fn in globals().items()
          if name.startswith("check_")}


# ------------------------------------------------------------------------ the tests
def _cells():
    for kind, structure, fit_name, method, outcome, expensive in M.cells():
        slow = expensive and (kind, structure) not in M.REPRESENTATIVE
        if method == "fit_bayes":
            slow = fit_name != "dask"  # a compiled sampler per model
        elif fit_name == "dask":
            slow = method != "fit" and ((kind, structure) not in M.DASK_REPRESENTATIVE
                                        or expensive and (kind, structure) != ("logit", "ri"))
        marks = [pytest.mark.slow] if slow else []
        why = M.PENDING.get((kind, structure, fit_name, method))
        if why is not None:
            # a known gap: the cell must keep failing until it is fixed and taken off the list
            marks.append(pytest.mark.xfail(strict=True, reason=why))
        yield pytest.param(kind, structure, fit_name, method, outcome,
                           id=f"{kind}-{structure}-{fit_name}-{method}", marks=marks)


@pytest.mark.parametrize("kind, structure, fit_name, method, outcome", list(_cells()))
def test_cell_behaves_as_the_matrix_says(kind, structure, fit_name, method, outcome):
    c = Cell(kind, structure, fit_name)
    with warnings.catch_warnings():
        # numpy's overflow and invalid-value warnings are not messages for users
        warnings.simplefilter("error", RuntimeWarning)
        if isinstance(outcome, M.Refuses):
            with pytest.raises(getattr(builtins, outcome.error), match=outcome.match):
                CHECKS[method](c)
        else:
            CHECKS[method](c)


def test_every_method_of_the_matrix_has_a_check():
    assert set(M.METHODS) == set(CHECKS)


def test_pending_cells_are_cells_of_the_matrix():
    keys = {cell[:4] for cell in M.cells()}
    assert set(M.PENDING) <= keys


#: public methods of the results that the matrix does not exercise, and why
NOT_IN_MATRIX = {
    "check_approximation": "checks/test_approximation.py (refits with quadrature)",
    "convergence_report": "checks/test_checks.py",
    "overdispersion": "checks/test_diagnostics.py",
    "zero_inflation_test": "checks/test_diagnostics.py",
    "variance_components": "the icc and r2 cells (their variances)",
    "cov_params_fe": "the get_prediction cells (delta method of x'beta)",
    "rate_ratios": "the same method as odds_ratios",
    "t_test_pairwise": "needs a categorical fixed-effects term: tests/model",
    "data_differences": "what compare and compare_lr_test use to refuse fits to other data",
}


def test_every_public_results_method_is_in_the_matrix_or_listed():
    from statsmodels_glmm.results import MixedGLMResults

    own = set()
    for cls in MixedGLMResults.__mro__:
        if cls.__module__.startswith("statsmodels_glmm"):
            own |= {n for n, v in vars(cls).items() if callable(v) and not n.startswith("_")}
    calls = " ".join(m.call for m in M.METHODS.values())
    missing = sorted(n for n in own if n not in calls and n not in NOT_IN_MATRIX)
    assert missing == []


def test_docs_table_has_a_row_per_kind_and_structure():
    text = M.table_markdown()
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and "Laplace:" in ln]
    assert len(rows) == len(M.KINDS) * len(M.STRUCTURES)
    for refusal in (M.expected("gaussian", "olre", "laplace", "fit"),
                    M.expected("logit", "crossed", "agq", "fit")):
        assert refusal.advice in text
    page = os.path.join(os.path.dirname(M.__file__), "capabilities.md")
    with open(page) as fh:
        source = fh.read()
    assert "<!-- capabilities-table -->" in source
    assert "generated from the test matrix" in source
