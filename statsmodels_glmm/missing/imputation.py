"""
Drawing missing outcomes from a fitted model, and refitting to completed data.

The pieces of :func:`~statsmodels_glmm.missing.tipping.tipping_point`:

- :func:`refit_call`: the formula and ``from_formula`` arguments that rebuild a
  fitted model on new data (through the model's own class);
- :func:`fitted_frame`: the rows and columns the model was fitted to;
- :func:`draw_internal`: parameters drawn from the normal approximation of their
  sampling distribution (on the internal scale, where it is most nearly normal);
- :func:`draw_random_effects`: every person's random effects drawn from their
  conditional distribution given the person's observed outcomes, by
  sampling-importance-resampling from a multivariate t proposal centred at the
  conditional mode with the curvature there as its scale;
- :func:`outcome_template` and :func:`as_outcome_column`: what the family needs to
  draw outcomes for new rows, and the drawn values in the data's coding.
"""

import numpy as np
import pandas as pd
from scipy.special import logsumexp

__all__ = ["refit_call", "fitted_frame", "check_refittable", "draw_internal",
           "draw_random_effects", "outcome_template", "as_outcome_column", "new_rows"]


def check_refittable(res, what):
    """
    Refuse, naming ``what``, a fit that cannot be rebuilt on completed data:
    several grouping factors, rows not in memory (Dask), no formula, an outcome
    that is not a plain column, offsets given as arrays.
    """
    m = res.model
    d = m.design
    if getattr(m, "_parts", None) is not None:  # rows held on the workers of a Dask cluster
        raise NotImplementedError(
            f"{what} refits the model to completed data held in memory and does not run on a "
            "Dask fit; fit the model to a pandas DataFrame (compute the columns it reads)")
    data = d.extra.get("spec_data")
    if not isinstance(data, pd.DataFrame) or d.extra.get("formula_manager") is None:
        raise NotImplementedError(
            f"{what} needs a model built by from_formula on a pandas DataFrame whose rows "
            "are in memory (not a Dask fit, not arrays, not after remove_data())")
    if m.multi:
        raise NotImplementedError(
            f"{what} supports models with one grouping factor (the person); this model has "
            f"several ({', '.join(d.factors)})")
    if d.endog_name not in data.columns:
        raise NotImplementedError(
            f"{what} writes drawn outcomes into the outcome column, but the outcome "
            f"{d.endog_name!r} is not a plain column of the data (a factor level, an "
            "expression or successes and failures): code it as a numeric 0/1 or count column")
    if m.response.name == "Binomial" and not np.all(d.y[:, 1] == 1):
        raise NotImplementedError(f"{what} supports binary outcomes (one trial per row), "
                                  "not binomial counts")
    named = d.extra.get("offset") or d.extra.get("exposure") or d.extra.get("formula_offsets")
    if m._fitted_offset() and not named:
        raise NotImplementedError(f"{what} needs the offset or exposure given as a column "
                                  "name (the values of new rows are read from it)")


def refit_call(model):
    """
    ``(formula, kwargs)`` such that ``type(model).from_formula(formula, data, **kwargs)``
    builds the same model on new data.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=30, seed=1)
    >>> m = smg.mixedglm("y ~ time", df, groups="id", re_formula="~time",
    ...                  family=sm.families.Binomial())
    >>> refit_call(m)[0]
    'y ~ time + (time | id)'
    """
    d = model.design
    formula = d.formula
    if "|" not in formula:
        formula = formula + " + " + " + ".join(str(t) for t in d.extra["terms"])
    resp = model.response
    kwargs = {"formula_engine": d.extra["formula_manager"].engine}
    if hasattr(resp, "zi_formula") and hasattr(resp, "base"):
        kwargs["family"] = resp.base
        kwargs["zi_formula"] = resp.zi_formula
    else:
        kwargs["family"] = resp
    for key in ("offset", "exposure"):
        if d.extra.get(key) is not None:
            kwargs[key] = d.extra[key]
    return formula, kwargs


def fitted_frame(model):
    """The fitted rows (the columns the model reads) as a new DataFrame."""
    return model.design.extra["spec_data"].copy()


def draw_internal(res, rng):
    """
    Internal parameters drawn from ``N(x_hat, (-H)^-1)``, ``H`` the Hessian of the
    log-likelihood at the optimum on the internal scale (parameters held on a
    bound stay there; draws are kept within the bounds).
    """
    m = res.model
    x = np.asarray(res.mle_retvals["internal_params"], dtype=float)
    H = np.asarray(res.mle_retvals["hessian"], dtype=float)
    bounds = m._bounds()
    free = m._free_mask(x, bounds)
    out = x.copy()
    if np.any(free):
        A = -H[np.ix_(free, free)]
        try:
            C = np.linalg.cholesky(np.linalg.inv(A))
        except np.linalg.LinAlgError:
            raise ValueError("the Hessian of the fit is not negative definite, so the "
                             "parameters cannot be drawn from their sampling distribution; "
                             "simplify the model or check res.summary()") from None
        out[free] = x[free] + C @ rng.standard_normal(int(free.sum()))
    lo = np.array([b[0] if b[0] is not None else -np.inf for b in bounds])
    hi = np.array([b[1] if b[1] is not None else np.inf for b in bounds])
    return np.clip(out, lo, hi)


def _group_sum(gid, values, n_groups):
    """Per-group sums of row values (rows x ...) -> (groups x ...)."""
    out = np.zeros((n_groups,) + values.shape[1:])
    np.add.at(out, gid, values)
    return out


def _conditional_mode(resp, y, base, ZL, gid, n_groups, extra, maxiter=60):
    """Modes of ``u`` (``b = L u``) per group and the Fisher-type curvature there."""
    q = ZL.shape[1]
    u = np.zeros((n_groups, q))
    eye = np.eye(q)

    def objective(u):
        eta = base + np.einsum("nq,nq->n", ZL, u[gid])
        d0 = resp.logpdf(y, eta, extra)
        return np.bincount(gid, weights=d0, minlength=n_groups) - 0.5 * np.sum(u * u, 1), eta

    f, eta = objective(u)
    for _ in range(maxiter):
        _, d1, d2, _ = resp.derivs(y, eta, extra)
        g = _group_sum(gid, ZL * d1[:, None], n_groups) - u
        w = np.minimum(d2, 0.0)
        negH = eye - _group_sum(gid, ZL[:, :, None] * ZL[:, None, :] * w[:, None, None],
                                n_groups)
        if np.max(np.abs(g)) < 1e-8:
            break
        step = np.linalg.solve(negH, g[:, :, None])[:, :, 0]
        t = np.ones(n_groups)
        for _ in range(30):
            f_new, eta_new = objective(u + t[:, None] * step)
            worse = ~(f_new >= f - 1e-12)
            if not worse.any():
                break
            t = np.where(worse, t / 2, t)
        t = np.where(worse, 0.0, t)
        u = u + t[:, None] * step
        f, eta = objective(u)
    _, _, d2, _ = resp.derivs(y, eta, extra)
    w = np.minimum(d2, 0.0)
    negH = eye - _group_sum(gid, ZL[:, :, None] * ZL[:, None, :] * w[:, None, None], n_groups)
    return u, negH


def draw_random_effects(model, internal, rng, n_proposals=50, df=4):
    """
    One draw of every fitted group's random effects from their conditional
    distribution given the group's observed outcomes, at parameters ``internal``.

    The conditional mode ``u_hat`` of the standardised effects ``u`` (``b = L u``)
    and the curvature ``-H`` there are found by damped Newton steps; ``n_proposals``
    draws from a multivariate t (``df`` degrees of freedom) with centre ``u_hat`` and
    scale ``(-H)^-1`` are weighted by target over proposal density and one of them
    is kept with probability proportional to its weight (sampling-importance-
    resampling), which corrects the normal approximation of the Laplace method.

    Returns
    -------
    b : ndarray (groups, q)
        Random effects on the scale of the model's ``Z``.
    ess : ndarray (groups,)
        Effective sample size of each group's importance weights.
    """
    d, resp = model.design, model.response
    beta, theta, extra = model._split(np.asarray(internal, dtype=float))
    L = model.cov_struct.chol(theta)
    ZL = d.Z @ L
    base = d.X @ beta + d.offset
    G, q, K = d.n_groups, ZL.shape[1], int(n_proposals)
    u_hat, negH = _conditional_mode(resp, d.y, base, ZL, d.gid, G, extra)
    S = np.linalg.inv(negH)
    C = np.linalg.cholesky(0.5 * (S + np.transpose(S, (0, 2, 1))))
    z = rng.standard_normal((K, G, q))
    w = rng.chisquare(df, size=(K, G)) / df
    u = u_hat[None] + np.einsum("gij,kgj->kgi", C, z) / np.sqrt(w)[:, :, None]
    delta = np.sum(z * z, axis=2) / w
    log_q = -0.5 * (df + q) * np.log1p(delta / df)
    eta = base[None, :] + np.einsum("nq,knq->kn", ZL, u[:, d.gid, :])
    y = np.concatenate([d.y] * K) if d.y.ndim > 1 else np.tile(d.y, K)
    ll = resp.logpdf(y, eta.ravel(), extra).reshape(K, -1)
    idx = (np.arange(K)[:, None] * G + d.gid[None, :]).ravel()
    log_p = np.bincount(idx, weights=ll.ravel(), minlength=K * G).reshape(K, G)
    log_p = log_p - 0.5 * np.sum(u * u, axis=2)
    log_w = log_p - log_q
    log_w = np.where(np.isfinite(log_w), log_w, -np.inf)
    log_w = log_w - logsumexp(log_w, axis=0)[None, :]
    wts = np.exp(log_w)
    ess = 1.0 / np.sum(wts ** 2, axis=0)
    cum = np.cumsum(wts, axis=0)
    pick = np.minimum((cum < rng.random(G)[None, :]).sum(axis=0), K - 1)
    u_draw = u[pick, np.arange(G), :]
    return u_draw @ L.T, ess


def outcome_template(model, n, extras):
    """What ``response.simulate`` needs besides ``eta`` for ``n`` new rows."""
    resp = model.response
    if resp.name == "Binomial":
        return np.column_stack([np.zeros(n), np.ones(n)])
    if hasattr(resp, "zi_formula") and hasattr(resp, "base"):
        W = extras.get("zi") if extras else None
        if W is None:
            W = np.ones((n, 1))
        return np.column_stack([np.zeros(n), W])
    return np.zeros(n)


def as_outcome_column(values, like):
    """Drawn outcomes in the coding of the data's outcome column ``like``."""
    values = np.asarray(values)
    if isinstance(like.dtype, pd.CategoricalDtype):
        return pd.Categorical(values, categories=like.cat.categories,
                              ordered=like.cat.ordered)
    if pd.api.types.is_numeric_dtype(like.dtype):
        return values.astype(float)
    return values.astype(object)


def new_rows(model, frame, time, waves, person):
    """
    Rows for the planned waves each person lacks in ``frame``.

    A new row copies the person's values: the person's mean over the rows present
    for a numeric column, the value of the person's last row for other columns;
    ``time`` is set to the missing wave and the outcome left missing.
    """
    d = model.design
    y = d.endog_name
    frame = frame.sort_values([person, time], kind="stable")
    have = frame.groupby(person, sort=False)[time].agg(lambda s: set(s.tolist()))
    other = [c for c in frame.columns if c not in (person, time, y)]
    num = [c for c in other if pd.api.types.is_numeric_dtype(frame[c].dtype)
           and not pd.api.types.is_bool_dtype(frame[c].dtype)]
    rest = [c for c in other if c not in num]
    g = frame.groupby(person, sort=False)
    means = g[num].mean() if num else pd.DataFrame(index=have.index)
    lasts = g[rest].last() if rest else pd.DataFrame(index=have.index)
    rows = []
    for p, seen in have.items():
        for w in waves:
            if w not in seen:
                rows.append((p, w))
    if not rows:
        return frame.iloc[:0].copy()
    out = pd.DataFrame(rows, columns=[person, time])
    out = out.join(means, on=person).join(lasts, on=person)
    out[y] = pd.Series([np.nan] * len(out), dtype=object)
    if isinstance(frame[time].dtype, pd.CategoricalDtype):
        out[time] = pd.Categorical(out[time], categories=frame[time].cat.categories)
    for c in rest:
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            out[c] = pd.Categorical(out[c], categories=frame[c].cat.categories,
                                    ordered=frame[c].cat.ordered)
    return out[list(frame.columns)]
