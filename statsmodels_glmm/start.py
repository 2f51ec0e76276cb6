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

__all__ = ["glm_start"]


def _intercept_start(response, y, X):
    """Link of the mean response for a constant column, else None."""
    const = np.flatnonzero(np.all(X == 1.0, axis=0))
    fam = response.sm_family
    if not len(const) or fam is None:
        return None, None
    ybar = float(np.mean(response.response_value(y)))
    if response.link_name in ("logit", "probit", "cloglog"):
        ybar = min(max(ybar, 0.01), 0.99)
    elif response.link_name == "log":
        ybar = max(ybar, 0.01)
    try:
        value = float(np.asarray(fam.link(np.array([ybar])))[0])
    except Exception:  # a link without a value there: start from zero
        return None, None
    return int(const[0]), value if np.isfinite(value) else None


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

    def value_and_derivs(b):
        d0, d1, d2, _ = response.derivs(y, X @ b + offset, extra)
        return float(np.sum(d0)), d1, d2

    ll, d1, d2 = value_and_derivs(beta)
    ridge = 1e-8 * np.eye(p)
    for _ in range(maxiter):
        w = np.maximum(-d2, 0.0)
        g = X.T @ d1
        H = X.T @ (X * w[:, None]) + ridge
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(H, g, rcond=None)[0]
        for _ in range(30):
            new = beta + step
            ll_new, d1_new, d2_new = value_and_derivs(new)
            if np.isfinite(ll_new) and ll_new >= ll - 1e-10 * (1 + abs(ll)):
                break
            step = step * 0.5
        else:
            break
        beta, ll, d1, d2 = new, ll_new, d1_new, d2_new
        if np.max(np.abs(step)) < tol:
            break
    return beta
