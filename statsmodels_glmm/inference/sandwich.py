"""
Cluster-robust (sandwich) covariance of the estimates of a mixed model.

With one grouping factor the marginal log-likelihood is a sum over the
independent groups, ``l(psi) = sum_i l_i(psi)``; with nested factors it is a
sum over the levels of the outermost one.  Clusters ``c`` are those groups or
unions of them (``groups=``: a coarser column that every group lies within),
and the score contributions of a cluster are ``s_c = sum_{i in c} d l_i /
d psi``, computed analytically by the integrator of the fit (Laplace or
adaptive Gauss-Hermite quadrature) group by group.  The sandwich covariance is

.. math::

    V = A^{-1} B A^{-1}, \\qquad A = -\\nabla^2 l(\\hat\\psi), \\qquad
    B = f \\sum_c s_c s_c' ,

with ``A`` the Hessian the fit's model-based standard errors come from
(``res.mle_retvals["hessian"]``), on the internal parameter scale and then
mapped to the reported scale by the delta method (``res.model.public_jacobian``;
the fixed-effects block is the same on both scales).  The factor ``f`` is 1 by
default, as in glmmTMB's ``sandwich()`` / ``vcov(fit, sandwich=TRUE)`` (the
``meatHC`` of glmmTMB is the plain cross-product of the cluster scores);
``use_correction=True`` gives ``f = C / (C - 1)`` for ``C`` clusters (the
cluster adjustment of ``sandwich::vcovCL``; statsmodels' cluster default
multiplies further by ``(N - 1) / (N - K)``, which has no counterpart for a
mixed model and is not applied).

Robust standard errors are reported for the fixed effects.  The variances,
covariances and family parameters keep their model-based covariance block
(``full=True`` gives the sandwich for every parameter); the covariances
between the fixed effects and the other parameters come from the sandwich.
With crossed grouping factors the log-likelihood does not split into
independent clusters and no sandwich is computed.
"""

import numpy as np
import pandas as pd

from ..exceptions import warn

__all__ = ["cluster_scores", "robust_cov", "COV_TYPES", "FEW_CLUSTERS"]

#: The values of ``cov_type`` that give a cluster-robust covariance.
COV_TYPES = ("robust", "cluster")
#: Below this many clusters the sandwich is noisy and biased low: a warning says so.
FEW_CLUSTERS = 30


def _row_values(model, groups):
    """
    The cluster value of every row the model uses, in the order of the user's
    data (rows with missing values dropped), from a column name, a Series
    aligned with the data, or an array with one value per used row.
    """
    d = model.design
    if isinstance(groups, str):
        data = d.extra.get("spec_data")
        if data is None or groups not in data.columns:
            have = ", ".join(map(repr, data.columns)) if data is not None else "none"
            raise ValueError(
                f"groups={groups!r} is not a column the model reads (columns: {have}); "
                "pass the column itself, e.g. groups=df[...], indexed like the data")
        return data[groups].reset_index(drop=True), groups
    name = getattr(groups, "name", None) or "groups"
    if isinstance(groups, pd.Series) and d.row_index is not None:
        if not groups.index.is_unique:
            raise ValueError("groups: the Series' index has repeated labels; it must be "
                             "indexed like the data the model was built from")
        missing = ~d.row_index.isin(groups.index)
        if missing.any():
            raise ValueError(
                f"groups: {int(missing.sum())} rows the model uses have no entry in the "
                f"Series (first: {d.row_index[missing][0]!r}); index it like the data")
        return groups.reindex(d.row_index).reset_index(drop=True), name
    vals = groups if isinstance(groups, pd.Series) else np.asarray(groups)
    if vals.ndim != 1 or len(vals) != d.nobs:
        extra = (f" ({d.n_dropped} rows with missing values were dropped: pass a Series "
                 "indexed like the data, or a column name)" if d.n_dropped else "")
        raise ValueError(f"groups has shape {vals.shape}; the model uses {d.nobs} rows, "
                         f"one cluster value per row is needed{extra}")
    return pd.Series(vals).reset_index(drop=True), name


def _codes(values, name):
    """
    Integer codes and sorted labels of cluster values (categories in their own
    order); missing values refused.
    """
    if values.isna().any():
        raise ValueError(f"groups ({name}) has missing values in rows the model uses")
    codes, labels = pd.factorize(values, sort=True)
    return codes, np.asarray(labels)


def _n_split(level_codes, cluster_codes):
    """How many levels have rows in more than one cluster."""
    n_lev = int(level_codes.max()) + 1
    lo = np.full(n_lev, np.iinfo(np.intp).max)
    hi = np.full(n_lev, -1)
    np.minimum.at(lo, level_codes, cluster_codes)
    np.maximum.at(hi, level_codes, cluster_codes)
    return int(np.count_nonzero(lo != hi))


def _check_nested(level_codes, cluster_codes, factor, name):
    """Every level of ``factor`` must lie within one cluster; a ValueError otherwise."""
    split = _n_split(level_codes, cluster_codes)
    if split:
        raise ValueError(
            f"groups ({name}) does not nest the grouping factor {factor!r}: {split} of "
            f"its levels have rows in several clusters; the log-likelihood splits over "
            f"clusters only when each cluster is a union of levels of {factor!r}")


def _crossed_error(model):
    return NotImplementedError(
        f"cluster-robust standard errors need the log-likelihood to split into independent "
        f"clusters; the grouping factors {' and '.join(map(repr, model.design.factors))} "
        "are crossed, so the scores do not split over the groups of any one of them")


def _outermost(model):
    """The term of a multi-factor model that every other term nests in, or None."""
    terms = model.design.terms
    top = min(terms, key=lambda t: t.n_levels)
    if any(_n_split(t.codes, top.codes) for t in terms):
        return None
    return top


def _internal_cluster_scores(res, groups=None):
    """
    ``(S, labels, name)``: the (C, k) score contributions of the clusters on the
    internal parameter scale, the cluster labels and the clustering's name.
    """
    m = res.model
    d = m.design
    x = np.asarray(res.mle_retvals["internal_params"], dtype=float)
    beta, theta, extra = m._split(x)
    nagq = int(getattr(res, "nagq", 1))
    if m.multi:
        top = _outermost(m)
        if top is None:
            raise _crossed_error(m)
        if groups is None:
            codes, labels, name = top.codes, np.asarray(top.labels), top.group
        else:
            vals, name = _row_values(m, groups)
            codes, labels = _codes(vals, name)
            _check_nested(top.codes, codes, top.group, name)
        from ..likelihood.sparse_laplace import sparse_laplace_loglike

        llf, rows, _ = sparse_laplace_loglike(m.sparse_problem(), m.response, beta, theta,
                                              extra, per_row=True)
        if rows is None or not np.isfinite(llf):
            raise ValueError("the log-likelihood is not finite at the estimates: no scores")
        S = np.zeros((len(labels), rows.shape[1]))
        np.add.at(S, codes, rows)
        return S, labels, name
    if nagq == 1:
        from ..likelihood.laplace import laplace_loglike as fn
    else:
        from ..likelihood.quadrature import make_agq_loglike

        fn = make_agq_loglike(nagq, d.Z.shape[1])
    lg, G, _ = fn(d, m.response, m.cov_struct, beta, theta, extra, per_group=True)
    if G is None or not np.all(np.isfinite(G)):
        raise ValueError("the log-likelihood is not finite at the estimates: no scores")
    if groups is None:
        return G, np.asarray(d.group_labels), d.group_name
    vals, name = _row_values(m, groups)
    codes, labels = _codes(vals, name)
    sorted_codes = codes[d.order]
    _check_nested(d.gid, sorted_codes, d.group_name, name)
    S = np.zeros((len(labels), G.shape[1]))
    np.add.at(S, sorted_codes[d.starts], G)
    return S, labels, name


def cluster_scores(res, groups=None):
    """
    Score contributions of the independent clusters at the estimates.

    Parameters
    ----------
    res : MixedGLMResults
    groups : str, Series or array-like, optional
        The clusters: by default the model's grouping factor (the outermost
        one of nested factors); or a column of the model's data, a Series
        indexed like the data, or one value per used row, coarser than (and
        nesting) the grouping factor.

    Returns
    -------
    DataFrame
        One row per cluster (labelled), one column per parameter: the
        derivative of the cluster's log-likelihood with respect to the
        reported parameters (fixed effects exactly; variance and family
        parameters through the inverse of ``public_jacobian``).  The columns
        sum to the score of the model (about zero at the maximum).

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=40, sd=(0.7, 0.0), seed=2)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> S = cluster_scores(res)
    >>> S.shape
    (40, 3)
    >>> total = S.sum(axis=0).to_numpy()
    >>> bool(np.allclose(total[:2], res.mle_retvals["gradient"][:2], atol=1e-9))
    True
    """
    S, labels, name = _internal_cluster_scores(res, groups)
    m = res.model
    J = m.public_jacobian(np.asarray(res.mle_retvals["internal_params"], dtype=float))
    pub = np.linalg.lstsq(J.T, S.T, rcond=None)[0].T
    return pd.DataFrame(pub, index=pd.Index(labels, name=name), columns=m.param_names)


def robust_cov(res, cov_type="cluster", groups=None, use_correction=False, full=False):
    """
    Cluster-robust (sandwich) covariance of the estimates.

    Parameters
    ----------
    res : MixedGLMResults
        A maximum-likelihood fit (Laplace or adaptive quadrature) with one
        grouping factor, or nested grouping factors.
    cov_type : {"cluster", "robust"}
        Both cluster by the model's grouping factor (the outermost of nested
        factors) unless ``groups`` is given.
    groups : str, Series or array-like, optional
        Coarser clusters: a column of the model's data (name), a Series
        indexed like the data, or one value per used row.  Every group of
        the grouping factor must lie within one cluster; the groups' score
        contributions are summed within the clusters.
    use_correction : bool
        Multiply the meat by ``C / (C - 1)`` for ``C`` clusters (default
        False: no factor, as glmmTMB's sandwich).
    full : bool
        Sandwich for every parameter.  By default only the fixed effects
        (and their covariances with the other parameters) are robust; the
        block of the variance and family parameters is the model-based one.

    Returns
    -------
    DataFrame
        Covariance of all parameters, labelled by ``res.model.param_names``
        (NaN where the model-based covariance is NaN: parameters on a bound).
        Its ``attrs`` record ``cov_type``, ``clusters`` (the clustering's
        name), ``n_clusters``, ``use_correction`` and ``robust`` (``"fixed"``
        or ``"all"``).

    Raises
    ------
    NotImplementedError
        For crossed grouping factors (the scores do not split over groups).
    ValueError
        For an unknown ``cov_type``, or ``groups`` that do not nest the
        grouping factor or do not match the data.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=60, sd=(0.7, 0.0), seed=2)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> V = robust_cov(res)
    >>> list(V.index)
    ['Intercept', 'time', 'id Intercept Var']
    >>> V.attrs["clusters"], V.attrs["n_clusters"]
    ('id', 60)
    >>> ratio = np.sqrt(np.diag(V))[:2] / np.asarray(res.bse)[:2]
    >>> bool(np.all((ratio > 0.7) & (ratio < 1.3)))
    True
    """
    if cov_type not in COV_TYPES:
        raise ValueError(f"cov_type must be one of {', '.join(map(repr, COV_TYPES))}, "
                         f"got {cov_type!r}")
    m = res.model
    x = np.asarray(res.mle_retvals["internal_params"], dtype=float)
    hess = np.asarray(res.mle_retvals["hessian"], dtype=float)
    S, labels, name = _internal_cluster_scores(res, groups)
    n_cl = len(labels)
    if n_cl < 2:
        raise ValueError(f"groups ({name}) has a single cluster; a sandwich needs at least two")
    if n_cl < FEW_CLUSTERS:
        warn(f"only {n_cl} clusters ({name}): cluster-robust standard errors are unreliable "
             f"with fewer than about {FEW_CLUSTERS} clusters (they tend to be too small)",
             UserWarning)
    free = m._free_mask(x, m._bounds())
    A = -hess[np.ix_(free, free)]
    try:
        np.linalg.cholesky(A)
        Ainv = np.linalg.inv(A)
    except np.linalg.LinAlgError:
        Ainv = np.linalg.pinv(A)  # as the model-based covariance of the fit
    Sf = S[:, free]
    B = Sf.T @ Sf
    if use_correction:
        B *= n_cl / (n_cl - 1)
    k = len(x)
    V = np.zeros((k, k))
    V[np.ix_(free, free)] = Ainv @ B @ Ainv
    J = m.public_jacobian(x)
    V = J @ V @ J.T
    V = 0.5 * (V + V.T)
    model_cov = np.asarray(res.normalized_cov_params, dtype=float)
    if not full:
        p = m.k_fe
        V[p:, p:] = model_cov[p:, p:]
    V[np.isnan(model_cov)] = np.nan
    names = m.param_names
    out = pd.DataFrame(V, index=names, columns=names)
    out.attrs.update(cov_type=cov_type, clusters=name, n_clusters=n_cl,
                     use_correction=bool(use_correction), robust="all" if full else "fixed")
    return out
