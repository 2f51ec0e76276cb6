"""
The linear mixed model's log-likelihood profiled over the fixed effects and the
residual variance (one grouping factor), and its maximum: the start of a
Gaussian fit.

With a Gaussian response and the identity link, ``y_i = X_i beta + Z_i b_i + e_i``,
``b_i ~ N(0, sigma^2 Lambda Lambda')`` and ``e_i ~ N(0, sigma^2 I)``, the marginal
covariance of group ``i`` is ``sigma^2 (I + Z_i Lambda Lambda' Z_i')``.  With
``A_i = I + Lambda' Z_i' Z_i Lambda`` (q x q) the determinant lemma and the
Woodbury identity reduce everything to per-group sums of cross products,

.. math::

    \\log\\det V_i = n_i \\log\\sigma^2 + \\log\\det A_i, \\qquad
    u' V_i^{-1} v = \\sigma^{-2} \\{ u'v - (\\Lambda' Z_i' u)' A_i^{-1} (\\Lambda' Z_i' v) \\},

so that for a given ``Lambda`` the generalised least-squares fixed effects
``beta^ = (X' W X)^{-1} X' W y``, the residual sum ``r^2 = y' W y - beta^' X' W y``
(``W = sigma^2 V^{-1}``) and ``sigma^2 = r^2 / n`` are closed forms, and

.. math::

    \\ell_p(\\Lambda) = -\\tfrac12 \\{ n \\log(2 \\pi r^2 / n) + n
                        + \\sum_i \\log\\det A_i \\}

is the log-likelihood maximised over ``beta`` and ``sigma^2`` (as lme4 profiles
it).  The sums ``Z_i' Z_i``, ``Z_i' X_i``, ``Z_i' y_i``, ``X' X``, ``X' y`` and
``y' y`` are formed once (one pass over the rows); every evaluation then costs a
few operations per group, whatever the number of rows.  Maximising ``l_p`` over
the ``q (q + 1) / 2`` entries of ``Lambda`` gives the maximum-likelihood
estimates of the whole model, which the fit then only has to confirm.
"""

import numpy as np
from scipy import optimize

from . import compiled
from .chunks import seg_sum

__all__ = ["cross_products", "profiled_loglike", "profiled_optimum"]


def _example(re):
    """The design and covariance layout of a small Gaussian panel, ``y ~ time + re``
    with ``y`` the log of one plus simulated counts (for the examples)."""
    import statsmodels.api as sm

    from ..families import as_response
    from ..simulate import simulate_longitudinal
    from ..spec.covariance import CovStructure
    from ..spec.design import build_design

    df = simulate_longitudinal("poisson", n_persons=30, seed=1)
    df["y"] = np.log1p(df["y"])
    d = build_design(f"y ~ time + {re}", df, as_response(sm.families.Gaussian()))
    return d, CovStructure(d.blocks, d.re_names, d.group_name)


def cross_products(design):
    """
    The sums the profiled log-likelihood needs, from one pass over the rows
    (sorted by group): ``ZtZ`` (G, q, q), ``ZtX`` (G, q, p), ``Zty`` (G, q),
    ``XtX``, ``Xty``, ``yty`` and ``n``, with ``y`` less the offset; ``R`` holds
    ``[Z_i' X_i, Z_i' y_i]`` as (q, G, p + 1), and ``ZtX`` and ``Zty`` are views of it.

    Examples
    --------
    >>> d, cs = _example("(1 + time | id)")
    >>> cp = cross_products(d)
    >>> cp["ZtX"].shape, bool(np.allclose(cp["ZtZ"].sum(0), d.Z.T @ d.Z))
    ((30, 2, 2), True)
    """
    d = design
    y = np.asarray(d.y, dtype=float) - d.offset
    X, Z, starts = d.X, d.Z, d.starts
    q, p = Z.shape[1], X.shape[1]
    G = len(starts)
    # [Z_i' X_i, Z_i' y_i] as (q, G, p + 1), the layout the evaluations read
    R = np.empty((q, G, p + 1))
    ZtZ = np.empty((G, q, q))
    for a in range(q):
        za = Z[:, a]
        R[a, :, p] = seg_sum(za * y, starts)
        for b in range(a, q):
            ZtZ[:, a, b] = ZtZ[:, b, a] = seg_sum(za * Z[:, b], starts)
        for j in range(p):
            R[a, :, j] = seg_sum(za * X[:, j], starts)
    return dict(ZtZ=ZtZ, ZtX=R[:, :, :p].transpose(1, 0, 2), Zty=R[:, :, p].T, R=R,
                XtX=X.T @ X, Xty=X.T @ y, yty=float(y @ y), n=len(y))


def profiled_loglike(Lam, cp, gradient=False):
    """
    ``(l_p, beta^, sigma^2)`` at the relative factor ``Lam`` (q x q, lower
    triangular; ``G = sigma^2 Lam Lam'``) from the sums ``cp`` of
    :func:`cross_products`; ``l_p = -inf`` where ``X' W X`` is singular or the
    residual sum is not positive.  With ``gradient`` a fourth item, the (q, q)
    derivatives of ``l_p`` in the entries of ``Lam`` (None with ``-inf``):
    with ``v_i = Z_i' (y_i - X_i beta^)``, ``s_i = A_i^{-1} Lam' v_i`` and
    ``S_i = Z_i' Z_i`` (``beta^`` and ``sigma^2`` need no derivative at their optimum),

    .. math::

        \\frac{\\partial \\ell_p}{\\partial \\Lambda} = \\frac{n}{r^2} \\sum_i
            (v_i - S_i \\Lambda s_i) s_i' - \\sum_i S_i \\Lambda A_i^{-1} .

    Examples
    --------
    A model without random effects is the linear regression:

    >>> import statsmodels.api as sm
    >>> d, cs = _example("(1 | id)")
    >>> llf, beta, s2 = profiled_loglike(np.zeros((1, 1)), cross_products(d))
    >>> ols = sm.OLS(d.y, d.X).fit()
    >>> bool(np.isclose(llf, ols.llf)), bool(np.allclose(beta, ols.params))
    (True, True)
    """
    G, q, p = cp["ZtX"].shape
    n = cp["n"]
    R = cp["R"]
    fail = (-np.inf, None, None) + ((None,) if gradient else ())
    fast = compiled.gaussian_profile(Lam, R, cp["ZtZ"])  # the same sums, compiled
    if fast is not None:
        logdet, K, finish = fast
        if not np.isfinite(logdet):
            return fail
    else:
        LR, A = _lambda_products(Lam, R, cp["ZtZ"])
        with np.errstate(invalid="ignore", divide="ignore"):
            C, S = _cholesky_solve(A, LR)
        if C is None:
            return fail
        logdet = 2.0 * np.log(C).sum()
        K = sum(S[a].T @ S[a] for a in range(q))  # sum_i S_i' S_i
    XtWX = cp["XtX"] - K[:p, :p]
    XtWy = cp["Xty"] - K[:p, p]
    try:
        beta = np.linalg.solve(XtWX, XtWy) if p else np.zeros(0)
    except np.linalg.LinAlgError:
        return fail
    r2 = cp["yty"] - K[p, p] - beta @ XtWy
    if not (np.isfinite(r2) and r2 > 0 and np.isfinite(logdet)):
        return fail
    s2 = r2 / n
    llf = -0.5 * (n * np.log(2 * np.pi * s2) + n + logdet)
    if not gradient:
        return llf, beta, s2
    if fast is not None:
        return llf, beta, s2, finish(beta, n / r2)[0]
    v = [R[a, :, p] - R[a, :, :p] @ beta for a in range(q)]  # Z_i' (y_i - X_i beta^)
    return llf, beta, s2, _profile_gradient(Lam, cp["ZtZ"], A, v, n / r2)[0]


def _profile_gradient(Lam, ZtZ, A, v, c):
    """``c sum_i (v_i - S_i Lam s_i) s_i' - sum_i S_i Lam A_i^{-1}`` (lower triangle),
    ``s_i = A_i^{-1} Lam' v_i``, with the ``s_i`` (a list of q arrays (G,)) and
    ``sum_i tr A_i^{-1}``; ``v`` as a list of q arrays (G,).  Two dimensions written
    out."""
    q = Lam.shape[0]
    grad = np.zeros((q, q))
    if q == 1:
        lam = Lam[0, 0]
        z, ai = ZtZ[:, 0, 0], 1.0 / A[:, 0, 0]
        s = ai * (lam * v[0])
        grad[0, 0] = c * ((v[0] - z * lam * s) @ s) - lam * (z @ ai)
        return grad, [s], ai.sum()
    if q == 2:
        l11, l21, l22 = Lam[0, 0], Lam[1, 0], Lam[1, 1]
        z11, z21, z22 = ZtZ[:, 0, 0], ZtZ[:, 1, 0], ZtZ[:, 1, 1]
        a, b, d = A[:, 0, 0], A[:, 1, 0], A[:, 1, 1]
        det = a * d - b * b
        i11, i21, i22 = d / det, -b / det, a / det
        sl00, sl01 = z11 * l11 + z21 * l21, z21 * l22  # S_i Lam
        sl10, sl11 = z21 * l11 + z22 * l21, z22 * l22
        w0, w1 = v[0] * l11 + v[1] * l21, v[1] * l22
        s0, s1 = i11 * w0 + i21 * w1, i21 * w0 + i22 * w1
        r0 = v[0] - (sl00 * s0 + sl01 * s1)
        r1 = v[1] - (sl10 * s0 + sl11 * s1)
        grad[0, 0] = c * (r0 @ s0) - (sl00 @ i11 + sl01 @ i21)
        grad[1, 0] = c * (r1 @ s0) - (sl10 @ i11 + sl11 @ i21)
        grad[1, 1] = c * (r1 @ s1) - (sl10 @ i21 + sl11 @ i22)
        return grad, [s0, s1], i11.sum() + i22.sum()
    Ainv = np.linalg.inv(A)
    V = np.column_stack(v)
    SL = ZtZ @ Lam
    s = np.einsum("gab,gb->ga", Ainv, V @ Lam)
    resid = V - np.einsum("gab,gb->ga", SL, s)
    grad = np.tril(c * (resid.T @ s) - np.einsum("gab,gbc->ac", SL, Ainv))
    return grad, list(s.T), np.einsum("gaa->", Ainv)


def _lambda_products(Lam, R, ZtZ, diag=1.0):
    """
    ``Lam' R_i`` (R and the result as (q, G, k); None when ``R`` is None) and
    ``A_i = diag I + Lam' Z_i' Z_i Lam`` (G, q, q) for every group; one and two
    dimensions written out (``einsum`` costs more than the arithmetic on short axes).
    """
    q = Lam.shape[0]
    if q == 1:
        lam = Lam[0, 0]
        return None if R is None else lam * R, diag + (lam * lam) * ZtZ
    if q == 2:
        l11, l21, l22 = Lam[0, 0], Lam[1, 0], Lam[1, 1]
        LR = None
        if R is not None:
            LR = np.empty_like(R)
            np.multiply(R[0], l11, out=LR[0])
            LR[0] += l21 * R[1]
            np.multiply(R[1], l22, out=LR[1])
        z11, z21, z22 = ZtZ[:, 0, 0], ZtZ[:, 1, 0], ZtZ[:, 1, 1]
        u = z21 * l11 + z22 * l21  # (Z'Z Lam)[1, 0]
        A = np.empty_like(ZtZ)
        A[:, 0, 0] = diag + l11 * (z11 * l11 + z21 * l21) + l21 * u
        A[:, 1, 0] = A[:, 0, 1] = l22 * u
        A[:, 1, 1] = diag + l22 * (z22 * l22)
        return LR, A
    A = np.einsum("ba,gbc,cd->gad", Lam, ZtZ, Lam)
    A[:, np.arange(q), np.arange(q)] += diag
    return None if R is None else np.einsum("ba,bgk->agk", Lam, R), A


def _cholesky_solve(A, B):
    """
    The diagonals of the Cholesky factors ``C_i`` of a (G, q, q) stack of positive
    definite ``A_i`` (as a (G, q) array) and ``C_i^{-1} B_i`` (B and the result as
    (q, G, k)); ``(None, None)`` when one is not positive definite.  One and two
    dimensions in closed form (a batched LAPACK call per 2 x 2 block costs more than
    the arithmetic).
    """
    q = A.shape[1]
    if q == 1:
        c = np.sqrt(A[:, 0, 0])
        ok = np.all(c > 0)
        return (c[:, None], B / c[None, :, None]) if ok else (None, None)
    if q == 2:
        c11 = np.sqrt(A[:, 0, 0])
        c21 = A[:, 1, 0] / c11
        c22 = np.sqrt(A[:, 1, 1] - c21 * c21)
        if not (np.all(c11 > 0) and np.all(c22 > 0)):
            return None, None
        S = np.empty_like(B)
        np.divide(B[0], c11[:, None], out=S[0])
        np.multiply(S[0], c21[:, None], out=S[1])
        np.subtract(B[1], S[1], out=S[1])
        S[1] /= c22[:, None]
        return np.column_stack([c11, c22]), S
    try:
        C = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        return None, None
    S = np.linalg.solve(C, B.transpose(1, 0, 2)).transpose(1, 0, 2)
    return C[:, np.arange(q), np.arange(q)], S


def profiled_optimum(design, cov, theta0, gtol=1e-3, sums=None):
    """
    The maximum-likelihood estimates of a Gaussian mixed model with one grouping
    factor, by maximising :func:`profiled_loglike` over the relative Cholesky
    entries (the pattern of ``cov``, a
    :class:`~statsmodels_glmm.spec.covariance.CovStructure`) from ``theta0``:
    ``(beta, theta, log sigma, llf)`` with ``theta`` the absolute entries
    (``L = sigma Lambda``), or None when the search fails.  ``sums`` are the
    :func:`cross_products` of ``design`` when the caller has them.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.model import MixedGLM
    >>> from statsmodels_glmm.simulate import simulate_longitudinal
    >>> df = simulate_longitudinal("poisson", n_persons=40, seed=2)
    >>> df["y"] = np.log1p(df["y"])  # a continuous response
    >>> m = MixedGLM.from_formula("y ~ time + (1 | id)", df, family=sm.families.Gaussian())
    >>> beta, theta, log_sigma, llf = profiled_optimum(m.design, m.cov_struct, np.ones(1))
    >>> x = np.concatenate([beta, theta, [log_sigma]])
    >>> bool(np.isclose(llf, m.loglike_internal(x)[0], rtol=1e-12))
    True
    """
    cp = cross_products(design) if sums is None else sums
    rows, cols = cov.rows, cov.cols
    q = cov.q
    diag = rows == cols

    def lam(t):
        L = np.zeros((q, q))
        L[rows, cols] = t
        return L

    def f(t):
        val, _, _, grad = profiled_loglike(lam(t), cp, gradient=True)
        if not np.isfinite(val):
            return np.inf, np.zeros_like(t)
        return -val, -grad[rows, cols]

    # no bounds: l_p is even in each column of Lambda, so a diagonal entry held at
    # zero by a bound would be a stationary point the search cannot leave
    x0 = np.where(diag, np.maximum(np.abs(np.asarray(theta0, dtype=float)), 1e-3), theta0)
    with np.errstate(all="ignore"):
        try:
            opt = optimize.minimize(f, x0, jac=True, method="L-BFGS-B",
                                    options=dict(ftol=1e-15, gtol=gtol, maxiter=200))
        except (ValueError, np.linalg.LinAlgError):
            return None
    if not np.isfinite(opt.fun):
        return None
    L = lam(opt.x)
    L *= np.where(np.diag(L) < 0, -1.0, 1.0)[None, :]  # the same G, diagonal >= 0
    t = L[rows, cols]
    llf, beta, s2 = profiled_loglike(L, cp)
    if beta is None:
        return None
    sigma = np.sqrt(s2)
    return beta, sigma * t, float(np.log(sigma)), float(llf)


def gaussian_gradient(beta, L, log_sigma, cp):
    """
    The gradient of the Gaussian model's log-likelihood in ``(beta, L, log sigma)``
    from the sums ``cp`` of :func:`cross_products` (one grouping factor): a cost
    per call that does not grow with the rows.  With ``B_i = sigma^2 I + L' S_i L``,
    ``S_i = Z_i' Z_i``, ``v_i = Z_i' e_i``, ``e = y - X beta``, ``s_i = B_i^{-1} L' v_i``
    and ``Q = e'e - sum_i v_i' L s_i``,

    .. math::

        \\partial_\\beta \\ell = \\sigma^{-2} (X'e - \\sum_i X_i' Z_i L s_i), \\qquad
        \\partial_L \\ell = \\sigma^{-2} \\sum_i (v_i - S_i L s_i) s_i'
            - \\sum_i S_i L B_i^{-1},

    .. math::

        \\partial_{\\log\\sigma} \\ell = -(n - G q) - \\sigma^2 \\sum_i \\mathrm{tr} B_i^{-1}
            + Q / \\sigma^2 - \\sum_i s_i' s_i .

    Returns ``(d beta, d L (q, q, lower triangle), d log sigma)``.

    Examples
    --------
    At the maximum that :func:`profiled_optimum` finds, the gradient vanishes (up to
    the search's tolerance):

    >>> d, cs = _example("(1 + time | id)")
    >>> beta, theta, log_sigma, _ = profiled_optimum(d, cs, cs.start(1.0))
    >>> g = gaussian_gradient(beta, cs.chol(theta), log_sigma, cross_products(d))
    >>> bool(max(np.abs(g[0]).max(), np.abs(g[1]).max(), abs(g[2])) < 1e-2)
    True
    """
    G, q, p = cp["ZtX"].shape
    n = cp["n"]
    s2 = np.exp(2.0 * log_sigma)
    R = cp["R"]
    Xe = cp["Xty"] - cp["XtX"] @ beta
    ee = cp["yty"] - 2.0 * beta @ cp["Xty"] + beta @ cp["XtX"] @ beta
    fast = compiled.gaussian_profile(L, R, cp["ZtZ"], diag=s2, sums=False)
    if fast is not None:  # the same sums, compiled
        d_L, XLs, vLs, ss, tr = fast[2](beta, 1.0 / s2)
        d_beta = (Xe - XLs) / s2
        Q = ee - vLs
    else:
        v = [R[a, :, p] - R[a, :, :p] @ beta for a in range(q)]  # Z_i' e_i
        B = _lambda_products(L, None, cp["ZtZ"], diag=s2)[1]  # sigma^2 I + L' S_i L
        d_L, s, tr = _profile_gradient(L, cp["ZtZ"], B, v, 1.0 / s2)
        Ls = [sum(L[a, b] * s[b] for b in range(q)) for a in range(q)]  # L s_i
        d_beta = (Xe - sum(R[a, :, :p].T @ Ls[a] for a in range(q))) / s2
        Q = ee - sum(v[a] @ Ls[a] for a in range(q))  # e'e - sum_i v_i' L s_i
        ss = sum(sa @ sa for sa in s)
    d_tau = -(n - G * q) - s2 * tr + Q / s2 - ss
    return d_beta, d_L, float(d_tau)


def gaussian_beta_hessian(L, log_sigma, cp):
    """
    The fixed-effects block of the Gaussian model's Hessian from the sums ``cp`` of
    :func:`cross_products`: ``-(X'X - sum_i X_i' Z_i L B_i^{-1} L' Z_i' X_i) / sigma^2``
    with ``B_i = sigma^2 I + L' Z_i' Z_i L`` (minus the inverse of the covariance of
    the generalised least-squares estimates; it does not depend on ``beta``).

    Examples
    --------
    >>> d, cs = _example("(1 + time | id)")
    >>> H = gaussian_beta_hessian(np.array([[0.4, 0.0], [-0.05, 0.2]]), np.log(0.6),
    ...                           cross_products(d))
    >>> H.shape, bool(np.all(np.linalg.eigvalsh(H) < 0))
    ((2, 2), True)
    """
    G, q, p = cp["ZtX"].shape
    s2 = np.exp(2.0 * log_sigma)
    R = cp["R"]
    fast = compiled.gaussian_profile(L, R, cp["ZtZ"], diag=s2)
    if fast is not None:  # the same sums, compiled (with the y column, unused here)
        if not np.isfinite(fast[0]):
            return None
        K = fast[1][:p, :p]
    else:
        LR, B = _lambda_products(L, R[:, :, :p], cp["ZtZ"], diag=s2)
        with np.errstate(invalid="ignore", divide="ignore"):
            C, S = _cholesky_solve(B, LR)
        if C is None:
            return None
        K = sum(S[a].T @ S[a] for a in range(q))
    return -(cp["XtX"] - K) / s2
