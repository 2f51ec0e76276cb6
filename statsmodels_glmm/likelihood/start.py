"""
Starting values: the fixed effects of the model without random effects, and a
moment estimate of the random-effect covariance from that model's scores.

A GLM fit with no random effects gives good starting fixed effects.  It is
computed here by Newton's method on the family's own log-likelihood
(the ``Response`` derivatives), with step-halving:

.. math::

    \\beta \\leftarrow \\beta + (X' W X)^{-1} X' d_1, \\qquad W = \\mathrm{diag}(-d_2),

starting from the intercept at the link of the mean response.  Working on
the response interface keeps memory to a couple of copies of ``X`` and
works for every family; it stops after ``maxiter`` steps (separated data
have no finite optimum, and a start only has to be reasonable).
"""

import numpy as np

__all__ = ["glm_start", "glm_sums", "newton_ascent", "link_of_mean", "START_TOL",
           "moment_sums", "cross_moment_sums", "moment_covariance", "conditional_start_beta"]

#: Newton step size at which the starting fixed effects are good enough: the
#: convergence is quadratic, so the point is then accurate to about its square,
#: far closer than the mixed model's estimates are to it.
START_TOL = 1e-4


def link_of_mean(response, ybar):
    """
    The link of a mean response, kept inside the link's domain; None when the
    family has no statsmodels link or the link has no finite value there.

    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> round(link_of_mean(as_response(sm.families.Poisson()), 2.0), 4)
    0.6931
    """
    fam = response.sm_family
    if fam is None:
        return None
    if response.link_name in ("logit", "probit", "cloglog"):
        ybar = min(max(ybar, 0.01), 0.99)
    elif response.link_name == "log":
        ybar = max(ybar, 0.01)
    try:
        value = float(np.asarray(fam.link(np.array([ybar])))[0])
    except Exception:  # a link without a value there: start from zero
        return None
    return value if np.isfinite(value) else None


def _intercept_start(response, y, X):
    """Link of the mean response for a constant column, else None."""
    const = np.flatnonzero(np.all(X == 1.0, axis=0))
    if not len(const):
        return None, None
    return int(const[0]), link_of_mean(response, float(np.mean(response.response_value(y))))


def newton_ascent(sums, beta, maxiter=25, tol=1e-8):
    """
    Newton's method with step-halving on a concave log-likelihood.

    ``sums(b)`` returns ``(llf, gradient, negative Hessian)`` at ``b`` (the
    in-memory start sums over rows, the Dask start over partitions); a step is
    halved until the log-likelihood does not fall, and the loop stops after
    ``maxiter`` steps or when a step is below ``tol``.

    >>> b = newton_ascent(lambda b: (-float(b @ b), -2 * b, 2 * np.eye(2)), np.ones(2))
    >>> bool(np.allclose(b, 0.0))
    True
    """
    beta = np.asarray(beta, dtype=float)
    ridge = 1e-8 * np.eye(len(beta))
    ll, g, H = sums(beta)
    for _ in range(maxiter):
        try:
            step = np.linalg.solve(H + ridge, g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(H + ridge, g, rcond=None)[0]
        for _ in range(30):
            new = beta + step
            ll_new, g_new, H_new = sums(new)
            if np.isfinite(ll_new) and ll_new >= ll - 1e-10 * (1 + abs(ll)):
                break
            step = step * 0.5
        else:
            break
        beta, ll, g, H = new, ll_new, g_new, H_new
        if np.max(np.abs(step)) < tol:
            break
    return beta


def glm_start(response, X, y, offset, maxiter=25, tol=1e-8):
    """
    Fixed effects of the GLM without random effects, by Newton's method.

    Parameters
    ----------
    response : Response
    X : ndarray (n, p)
    y : response in the family's validated form
    offset : ndarray (n,)

    Returns
    -------
    beta : ndarray (p,)

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([np.ones(500), rng.normal(size=500)])
    >>> fam = as_response(sm.families.Poisson())
    >>> y = fam.validate(rng.poisson(np.exp(0.5 + 0.3 * X[:, 1])), "y")
    >>> beta = glm_start(fam, X, y, np.zeros(500))
    >>> glm = sm.GLM(y, X, family=sm.families.Poisson()).fit()
    >>> bool(np.allclose(beta, glm.params, atol=1e-6))
    True
    """
    p = X.shape[1]
    beta = np.zeros(p)
    if p == 0:
        return beta
    j, value = _intercept_start(response, y, X)
    if j is not None and value is not None:
        beta[j] = value
    extra = np.asarray(response.start_extra(y, X @ beta + offset), dtype=float)

    return newton_ascent(lambda b: glm_sums(response, y, X, offset, b, extra), beta, maxiter,
                         tol)


def glm_sums(response, y, X, offset, beta, extra):
    """
    ``(llf, X' d1, X' W X)`` of the model without random effects at ``beta``
    (``W = -d2`` clipped at zero): what :func:`newton_ascent` needs.

    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> fam = as_response(sm.families.Poisson())
    >>> ll, g, H = glm_sums(fam, np.array([1.0, 2.0]), np.ones((2, 1)), np.zeros(2),
    ...                     np.zeros(1), np.zeros(0))
    >>> g.tolist(), H.tolist()
    ([1.0], [[2.0]])
    """
    d0, d1, d2, _ = response.derivs(y, X @ beta + offset, extra)
    w = np.maximum(-d2, 0.0)
    return float(np.sum(d0)), X.T @ d1, X.T @ (X * w[:, None])


#: smallest and largest starting standard deviation of a random effect, on the scale
#: of its column of Z divided by the column's root mean square (the optimiser's scale)
START_SD_RANGE = (0.1, 1.0)
#: factor on the moment estimate's correlations in the start
START_CORR_SHRINK = 0.5


def _scores_and_weights(response, y, eta, extra):
    """Per-row scores ``d1 = dl/deta`` and information weights ``w = -d2`` (clipped at
    zero) of the model without random effects, as the moment sums use them."""
    _, d1, d2, _ = response.derivs(y, eta, extra)
    return np.asarray(d1, dtype=float), np.maximum(-np.asarray(d2, dtype=float), 0.0)


def moment_sums(response, y, eta, extra, Z, gid, n_groups):
    """
    The sums of the moment estimate of the random-effect covariance at a fit
    without random effects: ``(R, K)``.

    With per-row derivatives ``d1 = dl/deta`` and weights ``w = -d2`` of the
    model without random effects, each group's score and information for its
    random effects at zero are

    .. math::

        s_g = \\sum_{t \\in g} z_t d_{1t}, \\qquad
        A_g = \\sum_{t \\in g} w_t z_t z_t'.

    To first order in ``G``, :math:`E[s_g s_g'] = A_g + A_g G A_g`, so the
    least-squares moment estimate solves :math:`\\sum_g A_g G A_g = R` with
    :math:`R = \\sum_g (s_g s_g' - A_g)`.  Returned are ``R`` (q x q) and
    ``K[i, j, k, l] = sum_g A_g[i, j] A_g[k, l]``; both are sums over groups.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> fam = as_response(sm.families.Poisson())
    >>> y = fam.validate(np.array([0, 2, 5, 7]), "y")
    >>> R, K = moment_sums(fam, y, np.full(4, np.log(3.5)), np.zeros(0), np.ones((4, 1)),
    ...                    np.array([0, 0, 1, 1]), 2)
    >>> float(R[0, 0]), float(K[0, 0, 0, 0])  # (2 - 7)**2 + (12 - 7)**2 - 14, 2 * 7**2
    (36.0, 98.0)
    """
    d1, w = _scores_and_weights(response, y, eta, extra)
    q = Z.shape[1]
    S = np.empty((n_groups, q))
    A = np.empty((n_groups, q, q))
    for a in range(q):
        S[:, a] = np.bincount(gid, weights=Z[:, a] * d1, minlength=n_groups)
        for b in range(a + 1):
            A[:, a, b] = A[:, b, a] = np.bincount(gid, weights=w * Z[:, a] * Z[:, b],
                                                  minlength=n_groups)
    R = S.T @ S - A.sum(axis=0)
    K = np.einsum("gij,gkl->ijkl", A, A)
    return R, K


def cross_moment_sums(response, y, eta, extra, Za, gid_a, Zb, gid_b):
    r"""
    The part of the moments of one grouping factor's scores that another factor's
    random effects add: ``K[i, k, l, j]`` for the effects ``i, j`` of factor ``a``
    and ``k, l`` of factor ``b`` (q_a, q_b, q_b, q_a).  Two terms on one factor (an
    intercept and an uncorrelated slope) are two factors here whose cells are the
    levels themselves.

    Rows that share a level of ``a`` and a level of ``b`` (a cell) share that level's
    effect of ``b`` too, so, to first order in ``G``, a group ``g`` of ``a`` has

    .. math::

        E[s_g s_g'] = A_g + A_g G_a A_g + \sum_h A_{gh} G_b A_{gh}',
        \qquad A_{gh} = \sum_{t \in g \cap h} w_t z^a_t {z^b_t}',

    over the levels ``h`` of ``b``.  Summed over the groups, the last term is
    ``sum_kl K[i, k, l, j] G_b[k, l]``; it is large for nested factors (a level of
    the inner factor lies in one level of the outer, every row of it in that one
    cell) and small for crossed ones (mostly one row per cell).  The reverse block
    (``b``'s moments, ``a``'s effects) is ``K.transpose(1, 0, 3, 2)``.

    Examples
    --------
    Two inner groups of two 0/1 rows in one outer group, at ``eta = 0`` (weight
    1/4 a row): each inner group is one cell of information 1/2.

    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> logit = as_response(sm.families.Binomial())
    >>> K = cross_moment_sums(logit, logit.validate(np.array([0, 1, 1, 0]), "y"),
    ...                       np.zeros(4), np.zeros(0), np.ones((4, 1)),
    ...                       np.array([0, 0, 1, 1]), np.ones((4, 1)), np.zeros(4, int))
    >>> float(K[0, 0, 0, 0])  # 0.5**2 + 0.5**2
    0.5
    """
    w = _scores_and_weights(response, y, eta, extra)[1]
    nb = int(np.max(gid_b)) + 1 if len(gid_b) else 0
    cells, cell = np.unique(np.asarray(gid_a, dtype=np.int64) * nb + gid_b,
                            return_inverse=True)
    qa, qb = Za.shape[1], Zb.shape[1]
    A = np.empty((len(cells), qa, qb))
    for i in range(qa):
        for a in range(qb):
            A[:, i, a] = np.bincount(cell, weights=w * Za[:, i] * Zb[:, a],
                                     minlength=len(cells))
    return np.einsum("cia,cjb->iabj", A, A)


def moment_covariance(R, K, cov_struct, log_link=False):
    """
    Starting random-effect covariance ``G`` from the sums of :func:`moment_sums`.

    The entries of ``G`` that ``cov_struct`` estimates are found by least
    squares; ``G`` is made positive semi-definite and every standard deviation
    is held in :data:`START_SD_RANGE` on the scale of ``cov_struct.row_scale``:
    a start near zero would sit where the likelihood is flat in the Cholesky
    factor, and the first-order moments are least reliable for large
    variances, where the usual start of one does as well.  The correlations
    are multiplied by :data:`START_CORR_SHRINK`, away from +-1.  With a log link
    the moments are those of log-normal effects, ``exp(G) - 1``, and are mapped
    back entry by entry.

    Examples
    --------
    >>> from statsmodels_glmm.spec.covariance import CovStructure
    >>> cs = CovStructure([[0]], ["Intercept"], "id")
    >>> K = np.full((1, 1, 1, 1), 100.0)
    >>> [round(float(moment_covariance(np.array([[r]]), K, cs)[0, 0]), 12)
    ...  for r in (25.0, -5.0, 400.0)]
    [0.25, 0.01, 1.0]
    """
    q = cov_struct.q
    cols = []
    for a, b in cov_struct.positions:
        C = K[:, a, b, :] if a == b else K[:, a, b, :] + K[:, b, a, :]
        cols.append(C.ravel())
    C = np.array(cols).T
    sol = np.linalg.lstsq(C, np.asarray(R, dtype=float).ravel(), rcond=None)[0]
    G = np.zeros((q, q))
    G[cov_struct.rows, cov_struct.cols] = sol
    G = G + np.tril(G, -1).T
    if log_link:
        G = np.log1p(np.maximum(G, -0.99))
    rs = np.asarray(cov_struct.row_scale, dtype=float)
    Gs = G * np.outer(rs, rs)
    if not np.all(np.isfinite(Gs)):
        Gs = np.zeros((q, q))
    vals, vecs = np.linalg.eigh(0.5 * (Gs + Gs.T))
    Gs = (vecs * np.maximum(vals, 0.0)) @ vecs.T
    sd = np.sqrt(np.maximum(np.diag(Gs), 0.0))
    lo, hi = START_SD_RANGE
    target = np.clip(sd, lo, hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where(np.outer(sd, sd) > 0, Gs / np.outer(sd, sd), 0.0)
    # correlations halved: a start at +-1 has a zero on the diagonal of L, a stationary
    # point of the likelihood that the optimiser cannot leave
    corr = START_CORR_SHRINK * corr
    np.fill_diagonal(corr, 1.0)
    return corr * np.outer(target, target) / np.outer(rs, rs)


def conditional_start_beta(response, beta, intercept, v):
    """
    Fixed effects of the model without random effects moved towards their
    conditional meaning, given ``v``, the mean over rows of :math:`z_t' G z_t`
    (the random-effect variance of a row).

    With a log link the marginal mean is :math:`\\exp(\\eta + v/2)`, so the
    coefficient of the column of ones at index ``intercept`` (None: no such
    column) falls by :math:`v / 2`; with other links ``beta`` is kept.

    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> fam = as_response(sm.families.Poisson())
    >>> conditional_start_beta(fam, np.array([1.0, 0.5]), 0, 0.4).round(12).tolist()
    [0.8, 0.5]
    """
    beta = np.array(beta, dtype=float)
    if not len(beta) or not np.isfinite(v) or v <= 0:
        return beta
    if response.link_name == "log" and intercept is not None:
        beta[intercept] -= 0.5 * v
    return beta
