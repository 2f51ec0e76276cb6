"""
Population-averaged (marginal) answers from a fitted GLMM.

A GLMM describes the response of one group given its random effects,

.. math:: E[y \\mid x, z, b] = h(x'\\beta + z'b), \\qquad b \\sim N(0, G),

so ``beta`` is a *conditional* (subject-specific) effect.  The
population-averaged mean of a row is the average over the random-effect
distribution,

.. math::

    \\mu^M(x, z) = \\int h(x'\\beta + z'b)\\, \\phi(b; 0, G)\\, db
                = \\int h(x'\\beta + s\\,v)\\, \\phi(v)\\, dv,
    \\qquad s^2 = z'Gz,

because the integrand depends on ``b`` only through the scalar ``z'b ~ N(0,
z'Gz)``.  The q-dimensional integral therefore collapses exactly to a
one-dimensional one, whatever ``q`` is.  It is computed by the trapezoidal
rule on a uniform grid in ``v`` (step ``min(0.1, 0.4 / s)``, range
``[-9 - s, 9 + s]``).  For integrands analytic in a strip (the inverse logit
has its nearest poles at ``Im(v) = pi / s``) this rule converges
geometrically, with error about ``exp(-2 pi d / step) < 1e-20``; Gauss-Hermite
nodes, which are spent far out in the tails, need hundreds of nodes for
``1e-6`` once ``s`` exceeds 4 (a random-intercept SD of 4 is typical for
binary data, e.g. toenail).  The product Gauss-Hermite rule over all ``q``
dimensions on the Cholesky factor of ``G`` is available as
``method="product"``, as a cross-check.  Closed forms are used where they
exist: ``exp(eta + s^2 / 2)`` for a log-link mean, ``Phi(eta / sqrt(1 + s^2))``
for a probit mean, ``eta`` for an identity link.

Any family works through its response: the conditional mean is
``response.predict_which(eta, extra, which, extras)`` when the family
defines it (one column or several, e.g. ordinal category probabilities or
zero-inflated means), else ``response.mean(eta, extra)``; every column is
averaged over ``v``; the variance (``which="var"``) is that of the population,
``E[Var(y | b)] + E[mu_b^2] - E[mu_b]^2``.

Population-averaged coefficients (:func:`marginal_params`) regress the link
of the marginal means on ``X`` over the observed rows,

.. math:: \\beta^M = \\arg\\min_\\gamma \\sum_t (g(\\mu^M_t) - o_t - x_t'\\gamma)^2,

the target that a GEE fit estimates when the marginal model is nearly linear
on the link scale.  For the logit link with a random intercept of variance
``sigma^2`` the classical approximation is
``beta / sqrt(1 + c^2 sigma^2)``, ``c = 16 sqrt(3) / (15 pi)``.

Standard errors use the delta method with ``res.cov_params()``: the
Jacobian of a prediction with respect to all public parameters (fixed
effects, variances and covariances of ``G`` - which move marginal
predictions - and family parameters) is taken by central differences.
Parameters on a boundary (no standard error) are held fixed.
"""

import numpy as np
import pandas as pd
from scipy import special, stats

from .prediction_results import PredictionResults, _link

__all__ = ["marginal_predict", "get_prediction", "PredictionResults", "marginal_params",
           "probability_effects", "C_LOGIT"]

#: constant of the logit attenuation approximation, ``16 sqrt(3) / (15 pi)``
C_LOGIT = 16.0 * np.sqrt(3.0) / (15.0 * np.pi)

_TAIL = 9.0
_CHUNK = 2 ** 20


# ------------------------------------------------------------------ links
# ------------------------------------------------------------- parameters
def _unpack(res, params=None):
    """Fixed effects, ``G`` and internal family parameters from public params."""
    m = res.model
    k, r = res.k_fe, res.k_re
    if params is None:
        p = np.asarray(res.params, dtype=float)
        extra = np.asarray(res._extra(), dtype=float)
    else:
        p = np.asarray(params, dtype=float)
        extra = (np.asarray(m.response.extra_internal(p[k + r:]), dtype=float)
                 if m.k_extra else np.zeros(0))
    cs = m.cov_struct
    G = np.zeros((cs.q, cs.q))
    G[cs.rows, cs.cols] = p[k:k + r]
    G = G + np.tril(G, -1).T
    return p[:k], G, extra


def _factor(G):
    """A square root ``L`` with ``L L' = G`` (Cholesky, or eigen for a singular G)."""
    try:
        return np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(G)
        return v * np.sqrt(np.maximum(w, 0.0))


def _mean_fun(response, extra, which):
    """``f(eta, extras_rows) -> (n,) or (n, k)``: the conditional quantity to average."""
    return lambda eta, ex: response.predict_which(eta, extra, which, ex)


def _closed_form(fun, response, which, extras):
    """A closed-form marginal mean ``f(eta, s2)`` when the family's mean is one we know."""
    if which != "mean" or extras:
        return None
    t = np.linspace(-3.0, 3.0, 13)
    try:
        m = np.asarray(fun(t, {}), dtype=float)
    except Exception:  # a family that needs its extra designs: no closed form
        return None
    if m.shape != t.shape:
        return None
    link = response.link_name
    if link == "log" and np.allclose(m, np.exp(t), rtol=1e-12, atol=0):
        return lambda eta, s2: np.exp(eta + s2 / 2.0)
    if link == "identity" and np.allclose(m, t, rtol=0, atol=1e-12):
        return lambda eta, s2: eta
    if link == "probit" and np.allclose(m, special.ndtr(t), rtol=1e-12, atol=1e-15):
        return lambda eta, s2: special.ndtr(eta / np.sqrt(1.0 + s2))
    return None


def _grid(s_max):
    """Trapezoid nodes and weights for ``E[f(eta + s v)]``, ``v ~ N(0, 1)``, ``s <= s_max``."""
    s_max = float(max(s_max, 0.0))
    h = min(0.1, 0.4 / s_max) if s_max > 0 else 0.1
    lo, hi = -_TAIL - s_max, _TAIL + s_max
    n = int(np.ceil((hi - lo) / h)) + 1
    v = np.linspace(lo, hi, n)
    w = np.exp(-0.5 * v * v)
    return v, w / w.sum()


def _average(fun, eta_nodes_fn, n, K, w, extras):
    """Average ``fun`` over K nodes per row, in row chunks (vectorised within a chunk)."""
    rows = max(1, _CHUNK // max(K, 1))
    parts = []
    for start in range(0, n, rows):
        sl = slice(start, min(n, start + rows))
        e = eta_nodes_fn(sl)  # (m, K)
        m_rows = e.shape[0]
        ex = {k: np.repeat(np.asarray(v)[sl], K, axis=0) for k, v in extras.items()}
        val = np.asarray(fun(e.ravel(), ex), dtype=float)
        val = val.reshape((m_rows, K) + val.shape[1:])
        parts.append(np.einsum("k,mk...->m...", w, val))
    return np.concatenate(parts, axis=0)


def marginal_predict(res, X, Z, offset, which="mean", extras=None, params=None,
                     method="collapse", n_nodes=20, grid=None):
    """
    Population-averaged predictions ``E[y | x]``, the random effects integrated out.

    Parameters
    ----------
    res : MixedGLMResults
    X, Z : ndarray
        Fixed- and random-effects design rows.
    offset : ndarray or None
    which : str
        ``"mean"`` or a family-specific quantity (averaged over the random
        effects); ``"var"`` is the population variance
        ``E[Var(y | b)] + Var(E[y | b])``; ``"linear"`` returns
        ``x'beta + offset``, the average of the linear predictor.
    extras : dict, optional
        Extra design rows the family needs (e.g. the zero-inflation design).
    params : array-like, optional
        Public parameters to use instead of the estimates (delta method).
    method : {"collapse", "product"}
        One-dimensional integral over ``z'b`` (exact reduction, default) or
        the product Gauss-Hermite rule over all ``q`` dimensions.
    n_nodes : int
        Nodes per dimension for ``method="product"``.
    grid : tuple, optional
        Fixed ``(nodes, weights)`` of the one-dimensional rule.

    Returns
    -------
    ndarray, (n,) or (n, k)

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=60, seed=9)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> d = res.model.design
    >>> mu = marginal_predict(res, d.X[:2], d.Z[:2], d.offset[:2])
    >>> s2 = res.cov_re.iloc[0, 0]
    >>> bool(np.allclose(mu, np.exp(d.X[:2] @ res.fe_params + s2 / 2)))
    True
    """
    m = res.model
    response = m.response
    beta, G, extra = _unpack(res, params)
    X = np.atleast_2d(np.asarray(X, dtype=float))
    Z = np.atleast_2d(np.asarray(Z, dtype=float))
    n = X.shape[0]
    if Z.shape[0] != n:
        raise ValueError(f"Z has {Z.shape[0]} rows but X has {n}")
    if X.shape[1] != len(beta):
        raise ValueError(f"X has {X.shape[1]} columns but the model has {len(beta)} fixed effects")
    if Z.shape[1] != G.shape[0]:
        raise ValueError(f"Z has {Z.shape[1]} columns but the model has {G.shape[0]} "
                         "random effects")
    off = np.zeros(n) if offset is None else np.broadcast_to(np.asarray(offset, float), (n,))
    extras = {} if extras is None else dict(extras)
    eta0 = X @ beta + off
    if which == "linear":
        return eta0
    if method not in ("collapse", "product"):
        raise ValueError("method must be 'collapse' or 'product'")
    fun = _mean_fun(response, extra, which)
    if which == "var":  # the law of total variance: E[Var(y | b)] + Var(E[y | b])
        var, mean = fun, _mean_fun(response, extra, "mean")

        def fun(e, ex):
            mu = mean(e, ex)
            return np.stack([var(e, ex), mu, mu * mu], axis=-1)
    if method == "product":
        from ..likelihood.quadrature import gh_rule

        nodes, logw = gh_rule(int(n_nodes), G.shape[0])    # (K^q, q), standard-normal scale
        w = np.exp(logw - 0.5 * (nodes * nodes).sum(1))    # weights for N(0, I)
        B = nodes @ _factor(G).T                            # b at every node
        out = _average(fun, lambda sl: eta0[sl, None] + Z[sl] @ B.T, n, len(w), w, extras)
    else:
        s2 = np.maximum(np.einsum("nq,qr,nr->n", Z, G, Z), 0.0)
        closed = _closed_form(fun, response, which, extras)
        if closed is not None:
            return closed(eta0, s2)
        s = np.sqrt(s2)
        v, w = _grid(s.max() if n else 0.0) if grid is None else grid
        out = _average(fun, lambda sl: eta0[sl, None] + s[sl, None] * v[None, :], n, len(v),
                       w, extras)
    return out[:, 0] + out[:, 2] - out[:, 1] ** 2 if which == "var" else out


# ------------------------------------------------------------ delta method
def _free_params(res):
    """Parameters that have a standard error (others are held fixed)."""
    C = np.asarray(res.cov_params(), dtype=float)
    return np.isfinite(np.diag(C)) & (np.diag(C) > 0)


def _jacobian(f, p0, free, f0=None, k_fixed=0):
    """
    Central-difference Jacobian of ``f`` (flattened) at ``p0`` over the free params; a
    forward difference for a parameter after the first ``k_fixed`` (the fixed effects)
    within one step above zero: a variance or a dispersion near its boundary, where the
    backward point leaves the parameter space.
    """
    p0 = np.asarray(p0, dtype=float)
    f0 = np.asarray(f(p0) if f0 is None else f0, dtype=float).ravel()
    J = np.zeros((f0.size, p0.size))
    for j in np.flatnonzero(free):
        h = 1e-5 * max(1.0, abs(p0[j]))
        e = np.zeros_like(p0)
        e[j] = h
        up = np.asarray(f(p0 + e), float).ravel()
        if j >= k_fixed and 0 <= p0[j] < h:
            J[:, j] = (up - f0) / h
        else:
            J[:, j] = (up - np.asarray(f(p0 - e), float).ravel()) / (2 * h)
    return J


def _delta_cov(res, J, free):
    C = np.nan_to_num(np.where(np.outer(free, free), np.asarray(res.cov_params(), float), 0.0))
    return J @ C @ J.T


def _delta_se(res, J, free):
    C = np.nan_to_num(np.where(np.outer(free, free), np.asarray(res.cov_params(), float), 0.0))
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", J, C, J), 0.0))


def _unwrap(res):
    return getattr(res, "_results", res)


def _rows(res, exog, offset=None, exposure=None, need_groups=True):
    """
    Design rows (X, Z, offset, extras, level positions, row index, sorted flag).

    The positions are a list with one array per random-effect term (the level
    of each row among the fitted levels of that term's factor, -1 for a level
    not in the fit, with a warning), or None when the groups are not needed.
    """
    m = res.model
    d = m.design
    if exog is None:
        extras = {k: v[0] for k, v in d.extra.items() if isinstance(v, tuple) and len(v) == 3}
        return d.X, d.Z, d.offset, extras, [b[4] for b in res._re_blocks], d.row_index, True
    if not isinstance(exog, pd.DataFrame):
        raise ValueError("exog must be a pandas DataFrame with the model's columns")
    X, Z, off, labels, extras = m._rows_for(exog, need_groups=need_groups)
    if offset is not None:
        off = off + np.asarray(offset, dtype=float)
    if exposure is not None:
        off = off + np.log(np.asarray(exposure, dtype=float))
    positions = res._positions(labels) if need_groups else None
    return X, Z, off, extras, positions, exog.index, False


def _term_modes(res, p):
    """Conditional modes of ``b`` per random-effect term, re-solved at public params ``p``."""
    m = res.model
    k, r = res.k_fe, res.k_re
    beta, theta, extra = m._split(m.to_internal(np.asarray(p, dtype=float)))
    if m.multi:
        from ..likelihood.sparse_laplace import sparse_laplace_loglike

        return sparse_laplace_loglike(m.sparse_problem(), m.response, beta, theta, extra,
                                      u0=res._state.u, gradient=False, cond_cov=False)[2].modes
    from ..likelihood.laplace import solve_modes

    L = m.cov_struct.chol(m.cov_struct.internal(np.asarray(p, float)[k:k + r]))
    return [solve_modes(m.design, m.response, beta, L, extra, u0=res._state.u).u @ L.T]


def _prediction_function(res, X, Z, off, extras, positions, which, random_effects, grid=None):
    """``f(public params) -> predictions`` for the requested kind of prediction."""
    response = res.model.response
    if random_effects == "marginal":
        return lambda p: marginal_predict(res, X, Z, off, which=which, extras=extras, params=p,
                                          grid=grid)
    cols = [blk[1] for blk in res._re_blocks]

    def f(p):
        beta, _, extra = _unpack(res, p)
        eta = X @ beta + off
        if random_effects == "conditional":
            for c, pos, b in zip(cols, positions, _term_modes(res, p)):
                bb = np.where(pos[:, None] >= 0, b[np.maximum(pos, 0)], 0.0)
                eta = eta + np.einsum("nq,nq->n", Z[:, c], bb)
        return eta if which == "linear" else _mean_fun(response, extra, which)(eta, extras)
    return f


def get_prediction(res, exog=None, which="mean", random_effects="conditional", offset=None,
                   exposure=None):
    """
    Predictions with delta-method standard errors and intervals.

    Parameters
    ----------
    res : MixedGLMResults
    exog : DataFrame, optional
        New data (all model columns and the grouping column); default the
        fitted rows, returned in data order.
    which : str
        ``"mean"``, ``"linear"`` or a family-specific quantity.
    random_effects : {"conditional", "marginal", "zero"}
        Use the groups' conditional modes (the default, as in ``predict``;
        re-solved at every parameter value, jointly over all grouping
        factors; a level not in the fit contributes zero, with a warning;
        the prediction error of the modes themselves is not included),
        average over ``N(0, G)`` (population-averaged), or set the random
        effects to zero.  Only conditional predictions need the grouping
        columns.
    offset, exposure : array-like, optional
        For new data when the model was given offsets as arrays.

    Returns
    -------
    PredictionResults
        ``predicted``, ``se``, ``conf_int()``, ``summary_frame()``.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=8)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
    >>> pr = res.get_prediction(df.head(4))
    >>> sf = pr.summary_frame()
    >>> bool(((sf["mean_ci_lower"] < sf["mean"]) & (sf["mean"] < sf["mean_ci_upper"])).all())
    True
    """
    res = _unwrap(res)
    if random_effects not in ("marginal", "conditional", "zero"):
        raise ValueError("random_effects must be 'marginal', 'conditional' or 'zero'")
    if not isinstance(which, str):
        raise ValueError("which must be a string such as 'mean' or 'linear'")
    m = res.model
    d = m.design
    X, Z, off, extras, positions, index, sorted_rows = _rows(
        res, exog, offset, exposure, need_groups=random_effects == "conditional")
    grid = None
    if random_effects == "marginal" and which != "linear":
        _, G, _ = _unpack(res)
        s_max = np.sqrt(max(np.max(np.einsum("nq,qr,nr->n", Z, G, Z)), 0.0)) if len(Z) else 0.0
        grid = _grid(1.05 * s_max)
    f = _prediction_function(res, X, Z, off, extras, positions, which, random_effects,
                             grid)
    p0 = np.asarray(res.params, dtype=float)
    pred = np.asarray(f(p0), dtype=float)
    free = _free_params(res)
    J = _jacobian(f, p0, free, f0=pred, k_fixed=res.k_fe)
    se = _delta_se(res, J, free).reshape(pred.shape)
    if sorted_rows:
        un_p, un_s = np.empty_like(pred), np.empty_like(se)
        un_p[d.order], un_s[d.order] = pred, se
        pred, se = un_p, un_s
    columns = None
    if pred.ndim == 2:
        columns = m.response.which_columns(which, pred.shape[1])
    if which == "linear":
        transform = "identity"
    elif which == "mean" and pred.ndim == 1:
        transform = m.response.link_name
        try:
            _link(transform)
        except ValueError:
            transform = "identity"
    elif np.all((pred > 0) & (pred < 1)):
        transform = "logit"
    else:
        transform = "identity"
    return PredictionResults(pred, se, row_labels=index, columns=columns, transform=transform,
                             random_effects=random_effects, which=which)


# -------------------------------------------------------- marginal params
def marginal_params(res, alpha=0.05):
    """
    Population-averaged coefficients next to the conditional ones.

    The marginal means of the fitted rows are mapped to the link scale and
    regressed on the fixed-effects design by least squares (offsets
    subtracted); standard errors by the delta method with
    ``res.cov_params()`` (covariance parameters included).

    Parameters
    ----------
    res : MixedGLMResults
    alpha : float
        For the marginal intervals.

    Returns
    -------
    DataFrame
        Columns ``conditional, conditional_se, marginal, marginal_se, z,
        P>|z|``, the interval bounds, and for the logit link
        ``approx_logit`` = ``beta / sqrt(1 + c^2 sigma^2)`` (``sigma^2`` the
        random-intercept variance).  ``attrs["link_rmse"]`` is the
        root-mean-square misfit of the linear marginal model on the link
        scale (0 means the marginal model is exactly linear).

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=60, seed=9)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> mp = res.marginal_params()
    >>> # log link, random intercept: only the intercept moves, by sigma^2 / 2
    >>> bool(abs(mp.loc["time", "marginal"] - mp.loc["time", "conditional"]) < 1e-8)
    True
    """
    res = _unwrap(res)
    m = res.model
    d = m.design
    link = getattr(m.response, "link_name", "identity")
    g, _ = _link(link)
    extras = {k: v[0] for k, v in d.extra.items() if isinstance(v, tuple) and len(v) == 3}
    X, Z, off = d.X, d.Z, d.offset
    _, G, _ = _unpack(res)
    grid = _grid(1.05 * np.sqrt(max(np.max(np.einsum("nq,qr,nr->n", Z, G, Z)), 0.0)))
    Q, R = np.linalg.qr(X)

    def fit(p):
        mu = marginal_predict(res, X, Z, off, which="mean", extras=extras, params=p, grid=grid)
        if mu.ndim != 1:
            raise ValueError("marginal_params needs a one-column mean; this family predicts "
                             f"{mu.shape[1]} columns (use get_prediction instead)")
        if link in ("logit", "probit", "cloglog"):
            if np.any((mu < 0) | (mu > 1)):
                raise ValueError(
                    f"the means of {m.response.name} are not probabilities, so the {link} "
                    "link cannot be applied to them; marginal_params needs a family whose "
                    "mean is the inverse link (binomial, Poisson, negative binomial, "
                    "zero-inflated counts)")
            mu = np.clip(mu, 1e-15, 1 - 1e-15)
        elif link == "log":
            mu = np.maximum(mu, 1e-300)
        ystar = g(mu) - off
        return np.linalg.solve(R, Q.T @ ystar), ystar

    p0 = np.asarray(res.params, dtype=float)
    bm, ystar = fit(p0)
    free = _free_params(res)
    J = _jacobian(lambda p: fit(p)[0], p0, free, f0=bm, k_fixed=res.k_fe)
    se = _delta_se(res, J, free)
    zc = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = bm / se
    names = list(m.exog_names)
    out = pd.DataFrame({"conditional": np.asarray(res.fe_params), "conditional_se":
                        np.asarray(res.bse_fe), "marginal": bm, "marginal_se": se, "z": zval,
                        "P>|z|": 2 * stats.norm.sf(np.abs(zval)),
                        f"[{alpha / 2:.3f}": bm - zc * se, f"{1 - alpha / 2:.3f}]": bm + zc * se},
                       index=names)
    if link == "logit":
        re_names = list(d.re_names)
        if "Intercept" in re_names:
            i = re_names.index("Intercept")
            out["approx_logit"] = out["conditional"] / np.sqrt(1 + C_LOGIT ** 2 * G[i, i])
        else:
            out["approx_logit"] = np.nan
    resid = ystar - X @ bm
    out.attrs["link_rmse"] = float(np.sqrt(np.mean(resid ** 2)))
    out.attrs["link"] = link
    return out


# -------------------------------------------------------- probability effects
def _profile(res, at, data):
    """One-row DataFrame of covariate values (from ``at``, completed from ``data``)."""
    m = res.model
    d = m.design
    row = {}
    if data is not None and not isinstance(data, pd.DataFrame):
        raise ValueError("data must be a pandas DataFrame")
    if data is None:  # complete the profile from the model's own rows
        data = d.extra.get("spec_data")
    if data is not None:
        for c in data.columns:
            col = data[c]
            if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                row[c] = [col.mean()]
            else:
                row[c] = pd.Series(col.mode().iloc[:1].to_numpy(), dtype=col.dtype)
    prof = pd.DataFrame(row) if row else pd.DataFrame(index=[0])
    if at is not None:
        if not isinstance(at, dict):
            raise ValueError("at must be a dict mapping column names to values")
        for k, v in at.items():
            if data is not None and k in data.columns and isinstance(data[k].dtype,
                                                                      pd.CategoricalDtype):
                prof[k] = pd.Categorical([v], categories=data[k].cat.categories,
                                         ordered=data[k].cat.ordered)
            else:
                prof[k] = [v]
    for gcol in d.group_name.split(":"):
        if gcol not in prof.columns:
            prof[gcol] = [d.group_labels[0]]
    return prof


def _shift(frame, variable, delta, values):
    before, after = frame.copy(), frame.copy()
    if variable not in frame.columns:
        raise ValueError(f"variable {variable!r} is not a column of the data / profile")
    if values is not None:
        if len(values) != 2:
            raise ValueError("values must be a pair (from, to)")
        col = frame[variable]
        for df, v in ((before, values[0]), (after, values[1])):
            if isinstance(col.dtype, pd.CategoricalDtype):
                df[variable] = pd.Categorical([v] * len(df), categories=col.cat.categories,
                                              ordered=col.cat.ordered)
            else:
                df[variable] = v
    else:
        if not pd.api.types.is_numeric_dtype(frame[variable]):
            raise ValueError(f"variable {variable!r} is not numeric; give values=(from, to)")
        after[variable] = frame[variable] + float(delta)
    return before, after


def probability_effects(res, variable, at=None, data=None, delta=1.0, values=None,
                        re_values=(-2.0, 0.0, 2.0), re_term="Intercept", alpha=0.05):
    """
    Effects on the response scale: subject-specific and population-averaged.

    For one covariate profile (``at``), the predicted mean before and after
    a change of ``variable`` (``+delta``, or ``values=(from, to)``) is shown
    for individuals whose random effect ``re_term`` equals each of
    ``re_values`` (other random effects zero), and for the population
    (random effects integrated out).  With ``data`` the average marginal
    effect is added: the mean over the rows of ``data`` of the change in the
    population-averaged mean.  Standard errors of the differences are by the
    delta method.

    Parameters
    ----------
    res : MixedGLMResults
    variable : str
        Column of the data to change.
    at : dict, optional
        Covariate values of the profile; columns not given are set from
        ``data``, or from the rows the model was fitted to when ``data`` is not
        given (numeric: mean, others: most frequent value).
    data : DataFrame, optional
        Data for completing the profile and for the average marginal effect.
    delta : float
        Change of a numeric variable.
    values : tuple, optional
        ``(from, to)`` values instead of ``+delta`` (e.g. two factor levels).
    re_values : sequence of float
        Random-effect values on the link scale (default -2, 0, +2).
    re_term : str
        Random-effect column that takes ``re_values``.
    alpha : float

    Returns
    -------
    DataFrame
        Rows per individual, the population average at the profile, and the
        average marginal effect; columns ``before, after, difference, se,
        ci_lower, ci_upper``.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=8)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
    >>> tab = res.probability_effects("time", at={"time": 0}, data=df)
    >>> tab.index.tolist()[:3]
    ['individual, b = -2', 'individual, b = 0', 'individual, b = +2']
    """
    res = _unwrap(res)
    m = res.model
    d = m.design
    re_names = list(d.re_names)
    if re_term not in re_names:
        raise ValueError(f"re_term {re_term!r} is not a random effect; choose from {re_names}")
    j = re_names.index(re_term)
    prof = _profile(res, at, data)
    b0, b1 = _shift(prof, variable, delta, values)
    try:
        X0, Z0, o0, e0 = (m._rows_for(b0)[i] for i in (0, 1, 2, 4))
        X1, Z1, o1, e1 = (m._rows_for(b1)[i] for i in (0, 1, 2, 4))
    except Exception as exc:
        raise ValueError(f"could not build the profile rows ({exc}); give every model column "
                         "in at= or pass data=") from None
    re_values = np.asarray(re_values, dtype=float)
    if data is not None:
        d0, d1 = _shift(data, variable, delta, values)
        XD0, ZD0, oD0, _, eD0 = m._rows_for(d0)
        XD1, ZD1, oD1, _, eD1 = m._rows_for(d1)
    _, G, _ = _unpack(res)
    s_all = [np.einsum("nq,qr,nr->n", Zz, G, Zz) for Zz in (Z0, Z1)]
    if data is not None:
        s_all += [np.einsum("nq,qr,nr->n", Zz, G, Zz) for Zz in (ZD0, ZD1)]
    grid = _grid(1.05 * np.sqrt(max(max(np.max(s) for s in s_all), 0.0)))

    def f(p):
        beta, _, extra = _unpack(res, p)
        fun = _mean_fun(m.response, extra, "mean")
        out = []
        for X, Z, o, e in ((X0, Z0, o0, e0), (X1, Z1, o1, e1)):
            eta = X @ beta + o
            rows = eta[0] + re_values * Z[0, j]
            ex = {k: np.repeat(np.asarray(v)[:1], len(rows), axis=0) for k, v in e.items()}
            out.append(np.asarray(fun(rows, ex), dtype=float))
        mm0 = marginal_predict(res, X0, Z0, o0, extras=e0, params=p, grid=grid)
        mm1 = marginal_predict(res, X1, Z1, o1, extras=e1, params=p, grid=grid)
        vec = [out[0], out[1], mm0, mm1]
        if data is not None:
            vec.append([np.mean(marginal_predict(res, XD0, ZD0, oD0, extras=eD0, params=p,
                                                 grid=grid))])
            vec.append([np.mean(marginal_predict(res, XD1, ZD1, oD1, extras=eD1, params=p,
                                                 grid=grid))])
        for v in vec:
            if np.asarray(v).ndim != 1:
                raise ValueError("probability_effects needs a one-column mean; use "
                                 "get_prediction for families with several columns")
        return np.concatenate([np.ravel(v) for v in vec])

    p0 = np.asarray(res.params, dtype=float)
    v0 = f(p0)
    free = _free_params(res)
    J = _jacobian(f, p0, free, f0=v0, k_fixed=res.k_fe)
    k = len(re_values)
    before_idx = list(range(k)) + [2 * k]
    after_idx = list(range(k, 2 * k)) + [2 * k + 1]
    bname = "b" if re_term == "Intercept" else f"b[{re_term}]"
    labels = [f"individual, {bname} = {'0' if v == 0 else format(v, '+g')}" for v in re_values]
    labels.append("population average at profile")
    if data is not None:
        before_idx.append(2 * k + 2)
        after_idx.append(2 * k + 3)
        labels.append("average marginal effect (data)")
    A = np.zeros((len(before_idx), len(v0)))
    A[np.arange(len(before_idx)), after_idx] = 1.0
    A[np.arange(len(before_idx)), before_idx] = -1.0
    V = _delta_cov(res, J, free)
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", A, V, A), 0.0))
    diff = A @ v0
    z = stats.norm.ppf(1 - alpha / 2)
    out = pd.DataFrame({"before": v0[before_idx], "after": v0[after_idx], "difference": diff,
                        "se": se, "ci_lower": diff - z * se, "ci_upper": diff + z * se},
                       index=labels)
    out.attrs.update(variable=variable, delta=delta, values=values,
                     profile=prof.drop(columns=d.group_name.split(":"), errors="ignore"))
    return out
