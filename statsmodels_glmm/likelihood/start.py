"""
Starting values: the fixed effects of the model without random effects.

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

__all__ = ["glm_start", "glm_sums", "newton_ascent", "link_of_mean", "START_TOL"]

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
