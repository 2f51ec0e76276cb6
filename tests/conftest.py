"""Shared loaders for the test datasets and the R reference fits, and shared fixtures."""

import json
import os
import warnings

import numpy as np
import pandas as pd
import pytest

HERE = os.path.dirname(__file__)
DATA = os.path.join(HERE, "data")
RESULTS = os.path.join(HERE, "results")


def load_dataset(name):
    """A dataset from tests/data with R's factor levels (reference level first)."""
    levels = json.load(open(os.path.join(DATA, "factor_levels.json")))
    real = os.path.join(DATA, "real", f"{name}.csv")
    if os.path.exists(real):
        lv = levels.get(name, {})
        df = pd.read_csv(real, dtype={c: str for c in lv}, keep_default_na=False,
                         na_values=[""])
        for col, info in lv.items():
            df[col] = pd.Categorical(df[col], categories=info["levels"],
                                     ordered=info["ordered"])
        return df
    return pd.read_csv(os.path.join(DATA, "sim", f"{name}.csv"))


def nested_terms(n_outer, per, rows, seed):
    """
    Random-effect terms ``(1 | b) + (1 + x | a)`` with ``per`` levels of ``b`` inside each
    of ``n_outer`` levels of ``a`` and ``rows`` rows per level of ``b``: ``(rng, x, terms)``.
    """
    from statsmodels_glmm.spec.terms import RandomEffectTerm

    rng = np.random.default_rng(seed)
    a = np.repeat(np.arange(n_outer), per * rows)
    b = np.repeat(np.arange(n_outer * per), rows)
    n = len(a)
    x = rng.normal(size=n)
    terms = [RandomEffectTerm.from_arrays("b", b, np.ones((n, 1))),
             RandomEffectTerm.from_arrays("a", a, np.c_[np.ones(n), x], names=["Intercept", "x"])]
    return rng, x, terms


def crossed_terms(n, na, nb, seed, slope=False):
    """
    Random-effect terms ``(1 | a) + (1 | b)`` (``(1 + x | a)`` with ``slope``) of ``n``
    rows, each a random pair of ``na`` x ``nb`` levels: ``(rng, a, b, x, terms)``.
    """
    from statsmodels_glmm.spec.terms import RandomEffectTerm

    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, na, n), rng.integers(0, nb, n)
    x = rng.normal(size=n)
    za = np.c_[np.ones(n), x] if slope else np.ones((n, 1))
    terms = [RandomEffectTerm.from_arrays("a", a, za, names=["Intercept", "x"][:za.shape[1]]),
             RandomEffectTerm.from_arrays("b", b, np.ones((n, 1)))]
    return rng, a, b, x, terms


def dense_rows(pr, M):
    """``M = Z Lambda`` of a several-factor problem ``pr`` as a dense (rows, effects)
    matrix, from its row-wise values ``M`` (rows, Q)."""
    Md = np.zeros((pr.nobs, pr.n_effects))
    np.add.at(Md, (np.repeat(np.arange(pr.nobs), pr.Q), pr.J.ravel()), M.ravel())
    return Md


def dense_hessian(pr, M, w):
    """``H = I + M' W M`` as a dense matrix (``w``: the row weights)."""
    Md = dense_rows(pr, M)
    return np.eye(pr.n_effects) + Md.T @ (w[:, None] * Md)


def dense_factor_pieces(pr, M, w, g):
    """What a factorisation of ``H = I + M' W M`` gives, from dense algebra: its
    log-determinant, ``H^{-1} g``, every row's ``H^{-1}[J_t, J_t] m_t`` and its block
    ``H^{-1}[J_t, J_t]`` (``row_products``, ``row_blocks``)."""
    H = dense_hessian(pr, M, w)
    Sigma = np.linalg.inv(H)
    blocks = Sigma[pr.J[:, :, None], pr.J[:, None, :]]
    return (np.linalg.slogdet(H)[1], np.linalg.solve(H, g),
            np.einsum("tab,tb->ta", blocks, M), blocks)


def beta_hessian_and_differences(m, internal, seed=0, shift=0.05, h=1e-5):
    """
    The closed-form fixed-effects Hessian block of the one-factor Laplace fit ``m`` and
    central differences of its analytic gradient, both at ``internal`` with the fixed
    effects moved off the optimum by normal noise of SD ``shift``: ``(H, fd)``.
    """
    from statsmodels_glmm.likelihood.laplace import laplace_loglike
    from statsmodels_glmm.likelihood.laplace_hessian import laplace_beta_hessian

    beta, theta, extra = m._split(internal)
    beta = beta + np.random.default_rng(seed).normal(size=len(beta)) * shift
    st = laplace_loglike(m.design, m.response, m.cov_struct, beta, theta, extra)[2]
    H = laplace_beta_hessian(m.design, m.response, beta, m.cov_struct.chol(theta), extra, st)

    def grad(b):
        return laplace_loglike(m.design, m.response, m.cov_struct, b, theta, extra)[1][:len(b)]

    fd = np.column_stack([(grad(beta + e) - grad(beta - e)) / (2 * h)
                          for e in np.eye(len(beta)) * h])
    return H, fd


def assert_same_fit(res, ref, llf_tol=1e-8, se_tol=1e-6):
    """Two fits of one model reach the same optimum: log-likelihoods within ``llf_tol``,
    estimates within ``se_tol`` of ``ref``'s standard errors, standard errors within
    ``se_tol`` relative (where ``ref`` has them); both converged."""
    assert res.converged and ref.converged
    assert abs(res.llf - ref.llf) < llf_tol
    se = np.asarray(ref.bse)
    ok = np.isfinite(se) & (se > 0)
    d = np.abs(np.asarray(res.params) - np.asarray(ref.params))[ok] / se[ok]
    assert np.max(d) < se_tol
    np.testing.assert_allclose(np.asarray(res.bse)[ok], se[ok], rtol=se_tol)


def fit_with_and_without(monkeypatch, model, counts, owner, name, replacement, **fit_kw):
    """Fit ``model`` as it is, then with ``owner.name`` replaced (for the rest of the
    test); the counters in ``counts`` are reset between the two fits.  Returns the two
    results and copies of the counters after each: ``(res, on, ref, off)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(**fit_kw)
        on = dict(counts)
        monkeypatch.setattr(owner, name, replacement)
        counts.update({k: 0 for k in counts})
        ref = model.fit(**fit_kw)
    return res, on, ref, dict(counts)


def _kernels_available():
    from statsmodels_glmm.likelihood import compiled

    return compiled.available()


#: skips a test of the compiled kernels where there are none (numba missing, or turned off)
numba_missing = pytest.mark.skipif(not _kernels_available(),
                                   reason="numba not installed (or kernels disabled)")


def unbuildable_kernels(monkeypatch, store, smoke):
    """With the kernels switched on, make the next load of the kernel module kept in
    ``compiled.<store>`` fail at its smoke test ``compiled.<smoke>``, as a numba that
    cannot build them does."""
    from statsmodels_glmm.likelihood import compiled

    def broken(mod):
        raise RuntimeError("no backend")

    monkeypatch.setattr(compiled, "ENABLED", True)
    monkeypatch.setattr(compiled, store, [])
    monkeypatch.setattr(compiled, smoke, broken)


def load_ref(fit_id):
    """An R reference fit (JSON from the shared reference scripts)."""
    with open(os.path.join(RESULTS, f"{fit_id}.json")) as fh:
        return json.load(fh)


def r_name(name):
    """Map a patsy coefficient name to R's (``treatment[T.b]:time`` -> ``treatmentb:time``)."""
    out = name.replace("Intercept", "(Intercept)")
    import re

    out = re.sub(r"([A-Za-z_.]+)\[T\.([^\]]+)\]", r"\1\2", out)
    return out


def ref_fixed(ref):
    """Fixed effects of a reference fit as a DataFrame indexed by R term name."""
    return pd.DataFrame(ref["fixed_effects"]).set_index("term")


def match_fixed(res, ref):
    """Our fixed effects and SEs side by side with R's, matched by name."""
    ours = pd.DataFrame({"est": np.asarray(res.fe_params), "se": np.asarray(res.bse_fe)},
                        index=[r_name(n) for n in res.model.exog_names])
    theirs = ref_fixed(ref)
    missing = set(theirs.index) - set(ours.index)
    assert not missing, f"terms not matched: {missing} (ours: {list(ours.index)})"
    return ours.join(theirs[["estimate", "se"]].rename(columns={"se": "se_r"}), how="inner")


@pytest.fixture
def toenail():
    return load_dataset("toenail")


@pytest.fixture
def collector_off():
    """The cyclic garbage collector off for the test (collected once first): an object
    that hangs off a reference cycle then stays, so a test can tell that a dropped
    object was freed by its reference count alone."""
    import gc

    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    yield
    if enabled:
        gc.enable()
