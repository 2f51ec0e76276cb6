"""Adaptive quadrature against a plain group-by-group computation of the same formulas.

The reference finds every group's mode by its own Newton iteration, evaluates the
integrand at every node of the rule, and differentiates with the formula of the
module docstring written out for one group and one parameter direction at a time
(explicit ``du``, ``dH``, ``dC`` and ``dR``).  The vectorised code must agree with it
to rounding, on every path through it: all nodes in one family call or one call per
node, one node block or several, totals or per-group terms.
"""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.special import logsumexp

import statsmodels_glmm.api as smg
from statsmodels_glmm.families import NegativeBinomial, Ordinal
from statsmodels_glmm.likelihood import quadrature
from statsmodels_glmm.likelihood.quadrature import agq_loglike, gh_rule

from conftest import load_dataset

RTOL = 1e-10


def _group_mode(fam, y, base, M, extra):
    """Newton with step-halving on ``h(u) = sum log f - u'u/2`` for one group."""
    q = M.shape[1]

    def h(u):
        return fam.derivs(y, base + M @ u, extra)[0].sum() - 0.5 * u @ u

    u = np.zeros(q)
    for _ in range(200):
        _, d1, d2, _ = fam.derivs(y, base + M @ u, extra)
        g = M.T @ d1 - u
        step = np.linalg.solve(np.eye(q) - M.T @ (d2[:, None] * M), g)
        t = 1.0
        while h(u + t * step) < h(u) - 1e-13 * abs(h(u)) and t > 1e-8:
            t *= 0.5
        u = u + t * step
        if np.max(np.abs(t * step)) < 1e-15 * (1.0 + np.max(np.abs(u))):
            break
    return u


def reference_agq(model, x, K):
    """Per-group log-integrals and gradients (G, k) by the docstring formulas."""
    beta, theta, extra = model._split(np.asarray(x, dtype=float))
    d, fam, cov = model.design, model.response, model.cov_struct
    L = np.asarray(cov.chol(theta), dtype=float)
    q, p, nth, ne = L.shape[0], len(beta), cov.n_params, fam.n_extra
    z, logw = gh_rule(K, q)
    ends = list(d.starts[1:]) + [d.nobs]
    lg = np.zeros(d.n_groups)
    scores = np.zeros((d.n_groups, p + nth + ne))
    for i in range(d.n_groups):
        r = slice(d.starts[i], ends[i])
        X, Zi, y = d.X[r], d.Z[r], d.y[r]
        M, base = Zi @ L, X @ beta + d.offset[r]
        u = _group_mode(fam, y, base, M, extra)
        eta = base + M @ u
        d0, d1, d2, d3 = fam.derivs(y, eta, extra)
        H = np.eye(q) - M.T @ (d2[:, None] * M)
        Hinv = np.linalg.inv(H)
        C = np.linalg.cholesky(H)
        R = np.linalg.inv(C).T
        U = u + z @ R.T  # node k: u_k = u + R z_k
        dk = [fam.derivs(y, base + M @ uk, extra) for uk in U]
        a = logw + np.array([v[0].sum() for v in dk]) - 0.5 * (U ** 2).sum(1)
        lg[i] = -0.5 * np.linalg.slogdet(H)[1] + logsumexp(a)
        pk = np.exp(a - logsumexp(a))
        live = np.flatnonzero(pk > 0)  # nodes of zero weight add nothing
        g = np.array([M.T @ dk[k][1] - U[k] for k in live])
        gbar, T = pk[live] @ g, (pk[live, None] * g).T @ z[live]
        if ne:
            e1, e2 = fam.extra_derivs(y, eta, extra)[1:]
            e0k = [fam.extra_derivs(y, base + M @ uk, extra)[0] for uk in U]
        for j in range(p + nth + ne):
            dX, dM = np.zeros(len(y)), np.zeros_like(M)
            e1j = e2j = np.zeros(len(y))
            if j < p:
                dX = X[:, j]
            elif j < p + nth:
                dL = np.zeros((q, q))
                dL[cov.rows[j - p], cov.cols[j - p]] = 1.0
                dM = Zi @ dL
            else:
                e1j, e2j = e1[:, j - p - nth], e2[:, j - p - nth]
            deta_fixed = dX + dM @ u
            du = Hinv @ (dM.T @ d1 + M.T @ (d2 * deta_fixed) + M.T @ e1j)
            dw = -d3 * (deta_fixed + M @ du) - e2j
            dH = M.T @ (dw[:, None] * M) - M.T @ (d2[:, None] * dM) - dM.T @ (d2[:, None] * M)
            A = np.linalg.inv(C) @ dH @ np.linalg.inv(C).T
            dC = C @ (np.tril(A) - 0.5 * np.diag(np.diag(A)))
            dR = -R @ dC.T @ R
            direct = sum(pk[k] * (dk[k][1] @ (dX + dM @ U[k])
                                  + (e0k[k][:, j - p - nth].sum() if j >= p + nth else 0.0))
                         for k in live)
            scores[i, j] = (direct + gbar @ du + np.sum(dR * T)
                            - 0.5 * np.trace(Hinv @ dH))
    return lg, scores


def _model(kind, formula, n_persons=40):
    if kind == "binary":
        df = load_dataset("sim_binary_small")
        df = df[df["id"].isin(df["id"].unique()[:n_persons])]
        return smg.mixedglm(formula, df, family=sm.families.Binomial())
    if kind == "negbin":
        df = load_dataset("sim_negbin_small")
        df = df[df["id"].isin(df["id"].unique()[:n_persons])]
        return smg.mixedglm(formula, df, family=NegativeBinomial(p=2))
    if kind == "ordinal":
        df = load_dataset("sim_ordinal_small")
        df = df[df["id"].isin(df["id"].unique()[:n_persons])]
        return smg.mixedglm(formula, df, family=Ordinal("logit"))
    df = smg.simulate_longitudinal("poisson", n_persons=n_persons, n_waves=4,
                                   sd=(0.6, 0.3), corr=0.2, seed=11)
    return smg.mixedglm(formula, df, family=sm.families.Poisson())


RS = "y ~ time * group + stress + (1 + time | id)"
RI = "y ~ time + group + stress + (1 | id)"

CASES = {
    "logit-q1": ("binary", RI, [1.2], 15),
    "logit-q2": ("binary", RS, [1.1, -0.4, 0.5], 7),
    "poisson-q1": ("poisson", RI, [0.7], 15),
    "poisson-q2": ("poisson", RS, [0.6, 0.15, 0.3], 6),
    "poisson-q3": ("poisson", "y ~ time + group + (1 + time + stress | id)", None, 4),
    "negbin-q1": ("negbin", RI, [0.8], 9),
    "ordinal-q1": ("ordinal", RI, [0.9], 9),
}


def _case(name):
    kind, formula, theta, K = CASES[name]
    m = _model(kind, formula)
    x = m._start_internal()
    beta, _, extra = m._split(x)
    if theta is None:  # a Cholesky factor with 0.5 on the diagonal, 0.1 below it
        theta = np.where(m.cov_struct.is_diag, 0.5, 0.1)
    x = np.concatenate([beta, theta, extra])
    return m, x, K


def _args(m, x):
    beta, theta, extra = m._split(x)
    return (m.design, m.response, m.cov_struct, beta, theta, extra)


def _assert_close(a, b):
    scale = max(1.0, float(np.max(np.abs(b))))
    assert np.max(np.abs(np.asarray(a) - b)) <= RTOL * scale, np.max(np.abs(a - b)) / scale


@pytest.mark.parametrize("name", sorted(CASES))
def test_agq_value_and_gradient_equal_groupwise_reference(name):
    m, x, K = _case(name)
    lg_ref, sc_ref = reference_agq(m, x, K)
    llf, grad, _ = agq_loglike(*_args(m, x), nagq=K)
    assert abs(llf - lg_ref.sum()) <= RTOL * abs(lg_ref.sum())
    _assert_close(grad, sc_ref.sum(0))


@pytest.mark.parametrize("name", ["logit-q2", "poisson-q1", "negbin-q1"])
def test_per_group_terms_equal_groupwise_reference(name):
    m, x, K = _case(name)
    lg_ref, sc_ref = reference_agq(m, x, K)
    lg, scores, _ = agq_loglike(*_args(m, x), nagq=K, per_group=True)
    _assert_close(lg, lg_ref)
    _assert_close(scores, sc_ref)


@pytest.mark.parametrize("name", ["logit-q2", "poisson-q2", "negbin-q1"])
@pytest.mark.parametrize("block, stack", [(100, 10 ** 9), (10 ** 9, 0), (150, 0)])
def test_node_blocks_and_per_node_family_calls_give_the_reference(monkeypatch, name, block,
                                                                  stack):
    # several node blocks per chunk (streamed log-sum-exp), and one family call per node
    monkeypatch.setattr(quadrature, "_BLOCK", block)
    monkeypatch.setattr(quadrature, "_STACK_ENTRIES", stack)
    m, x, K = _case(name)
    lg_ref, sc_ref = reference_agq(m, x, K)
    llf, grad, _ = agq_loglike(*_args(m, x), nagq=K)
    assert abs(llf - lg_ref.sum()) <= RTOL * abs(lg_ref.sum())
    _assert_close(grad, sc_ref.sum(0))


def test_llf_without_gradient_is_the_llf_with_it():
    m, x, K = _case("poisson-q2")
    llf, grad, _ = agq_loglike(*_args(m, x), nagq=K, gradient=False)
    assert grad is None
    full = agq_loglike(*_args(m, x), nagq=K)[0]
    assert abs(llf - full) <= 1e-14 * abs(full)


def test_nodes_of_zero_weight_with_non_finite_derivatives_are_ignored():
    # a family whose density vanishes (log-density -inf, score NaN) above a cutoff
    # that only far nodes reach: those nodes have zero weight and must not
    # contaminate the gradient
    m, x, K = _case("poisson-q1")
    fam = m.response
    beta, theta, extra = m._split(x)
    cut = float(np.max(m.design.X @ beta)) + 2.0
    seen = []

    class Cutoff(type(fam)):
        def derivs(self, y, eta, extra):
            d = super().derivs(y, eta, extra)
            far = eta > cut
            seen.append(bool(far.any()))
            return (np.where(far, -np.inf, d[0]), np.where(far, np.nan, d[1]), d[2], d[3])

        def logpdf(self, y, eta, extra):
            return self.derivs(y, eta, extra)[0]

    m.response = Cutoff()
    K = 40
    args = (m.design, m.response, m.cov_struct, beta, theta, extra)
    llf, grad, _ = agq_loglike(*args, nagq=K)
    lg_ref, sc_ref = reference_agq(m, x, K)
    assert any(seen) and np.isfinite(llf) and np.all(np.isfinite(grad))
    assert abs(llf - lg_ref.sum()) <= RTOL * abs(lg_ref.sum())
    _assert_close(grad, sc_ref.sum(0))
