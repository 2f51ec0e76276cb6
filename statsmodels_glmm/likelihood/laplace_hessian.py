"""
The fixed-effects block of the Hessian of the Laplace log-likelihood, in closed form.

For one grouping factor the Laplace log-likelihood is a sum over groups of
``l_i = h_i(u_i) - 1/2 log det H_i`` at the conditional mode ``u_i`` (see
:mod:`.laplace` for the notation: ``m_t = L' z_t``, ``H_i = I - sum_t d_2(t)
m_t m_t'``, ``P_i = H_i^{-1}``, ``s_t = m_t' P_i m_t``, ``c_t = d_3(t) s_t / 2``,
``a_i = P_i sum_t c_t m_t`` and the working score ``r_t = d_1(t) + c_t + d_2(t)
m_t' a_i``, so that the gradient is ``X' r``).  Differentiating ``r`` once
more in ``beta``, with the mode moving as ``du_i / dbeta = D_i = P_i sum_t d_2(t)
m_t x_t'``, the linear predictor as ``e_t = x_t + D_i' m_t`` and
``d_k(t)`` as ``d_{k+1}(t) e_t``:

.. math::

    ds_t &= \\sum_{s \\in i} d_3(s) (m_t' P_i m_s)^2 e_s
          = (P_i m_t)' K_i (P_i m_t), \\quad K_i = \\sum_{s \\in i} d_3(s) m_s m_s' e_s', \\\\
    dc_t &= \\tfrac12 \\{ d_4(t) s_t e_t + d_3(t) ds_t \\}, \\\\
    da_i &= P_i \\sum_{s \\in i} m_s \\{ d_3(s) (m_s' a_i) e_s + dc_s \\}, \\\\
    dr_t &= \\{ d_2(t) + d_3(t) m_t' a_i \\} e_t + dc_t + d_2(t) da_i' m_t,

and ``d^2 l / dbeta dbeta' = X' dR`` (rows ``dr_t'``).  This needs the fourth
derivative ``d_4`` of the log-density (:meth:`Response.d4`), which the binomial
(logit, probit, cloglog), Poisson, Gaussian, negative binomial (NB1, NB2, at
fixed dispersion) and cumulative-link ordinal families provide (for the ordinal
families ``eta`` is shared by the thresholds and ``d_4`` is its fourth
derivative); the columns of the covariance and family parameters are still
differences of the analytic gradient.  Groups are processed chunk by chunk
(see :mod:`.parallel`), so the temporaries stay of chunk size.
"""

import numpy as np

from . import compiled, parallel
from .chunks import _family_copy, _zl_columns, chunk_plan, make_chunk

__all__ = ["laplace_beta_hessian", "has_closed_form"]

#: Rows per chunk of groups for the closed-form pass.
HESSIAN_CHUNK_ROWS = 8192


def has_closed_form(family):
    """
    True when ``family`` provides the fourth derivative the closed form needs
    (:meth:`~statsmodels_glmm.families.base.Response.has_d4`).

    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> has_closed_form(as_response(sm.families.Poisson()))
    True
    """
    return bool(family.has_d4())


def _chunk_part(c, family, beta, L, extra, u, P):
    """
    ``X_c' dR_c``: one chunk's share of the fixed-effects Hessian.

    ``dR`` is never formed row by row: with ``E = X + sum_a m_a D_a`` every
    term of ``X' dR`` is a product of per-group sums ``sum_t w_t x_t`` (for a
    few row weights ``w``) with small per-group blocks, which keeps the work
    at about ``p`` passes over the rows.
    """
    X, sizes, gid = c.X, c.sizes, c.gid
    G, p = c.n_groups, X.shape[1]
    q = L.shape[0]

    def gsum(v):
        return np.bincount(gid, weights=v, minlength=G)

    def rows(v):
        return np.repeat(v, sizes)

    Mc = _zl_columns(c.Zc, L)
    eta = X @ beta + c.offset
    for a in range(q):
        eta += Mc[a] * rows(u[:, a])
    _, _, d2, d3 = family.derivs(c.y, eta, extra)
    d4 = family.d4(c.y, eta, extra)
    pairs = [(a, b) for a in range(q) for b in range(a, q)]
    wpair = [1.0 if a == b else 2.0 for a, b in pairs]
    # the row weights and group sums below, compiled where possible (the same numbers)
    fast = compiled.hessian_rows(c, Mc, d2, d3, d4, P)
    if fast is None:
        PM = [sum(Mc[b] * rows(P[:, a, b]) for b in range(q)) for a in range(q)]
        s = sum(Mc[a] * PM[a] for a in range(q))
        hd3 = 0.5 * d3
        cm = [gsum(m * hd3 * s) for m in Mc]
        ma = sum(Mc[a] * rows(sum(P[:, a, b] * cm[b] for b in range(q))) for a in range(q))
        brow = d3 * ma + 0.5 * d4 * s  # the part of the coefficient of e_t from dc_t and a_i
        # row weights w whose sums sum_t w_t x_t per group are needed
        weights = ([(d2 + brow) * m for m in Mc]                      # G1
                   + [hd3 * PM[a] * PM[b] for a, b in pairs]           # G2
                   + [d2 * m for m in Mc]                              # C
                   + [d3 * Mc[a] * Mc[b] for a, b in pairs]            # K0
                   + [brow * m for m in Mc])                           # R0
        W = np.empty((len(gid), len(weights)))
        for j, w in enumerate(weights):
            W[:, j] = w
        dbrow = d2 + brow
        KS = [[gsum(d3 * Mc[a] * Mc[b] * Mc[cidx]) for cidx in range(q)] for a, b in pairs]
        RS1 = [[gsum(brow * Mc[b] * Mc[cidx]) for cidx in range(q)] for b in range(q)]
        RS2 = [[gsum(hd3 * Mc[b] * PM[a1] * PM[b1]) for a1, b1 in pairs] for b in range(q)]
    else:
        W, dbrow, KS, RS1, RS2 = fast
    # XW[j] (G, p): sum_t w_tj x_t per group, from one sparse product
    XW = np.asarray(c.x_by_group() @ W).reshape(p, G, -1).transpose(2, 1, 0)
    nq, npr = q, len(pairs)
    G1 = [XW[j] for j in range(nq)]
    G2 = [XW[nq + j] for j in range(npr)]
    C = [XW[nq + npr + j] for j in range(nq)]
    K0 = [XW[2 * nq + npr + j] for j in range(npr)]
    R0 = [XW[2 * nq + 2 * npr + j] for j in range(nq)]
    # du/dbeta: D_a = sum_b P_ab C_b
    D = [sum(P[:, a, b, None] * C[b] for b in range(q)) for a in range(q)]
    # K_ab = sum_s d3 m_a m_b e_s
    K = []
    for j in range(npr):
        Kj = K0[j].copy()
        for cidx in range(q):
            Kj += KS[j][cidx][:, None] * D[cidx]
        K.append(Kj)
    # R_b = sum_s m_b (brow e_s + d3 ds_s / 2), then da_a = sum_b P_ab R_b
    R = []
    for b in range(q):
        Rb = R0[b].copy()
        for cidx in range(q):
            Rb += RS1[b][cidx][:, None] * D[cidx]
        for j in range(npr):
            Rb += (wpair[j] * RS2[b][j])[:, None] * K[j]
        R.append(Rb)
    da = [sum(P[:, a, b, None] * R[b] for b in range(q)) for a in range(q)]
    H = X.T @ (X * dbrow[:, None])
    for a in range(q):
        H += G1[a].T @ D[a] + C[a].T @ da[a]
    for j in range(npr):
        H += wpair[j] * (G2[j].T @ K[j])
    return H


def laplace_beta_hessian(design, family, beta, L, extra, state, n_jobs=None):
    """
    Second derivatives of the Laplace log-likelihood in the fixed effects.

    Parameters
    ----------
    design : Design
        One grouping factor.
    family : Response
        With a fourth derivative (:func:`has_closed_form`).
    beta, L, extra : ndarray
        Fixed effects, Cholesky factor of ``G``, internal family parameters.
    state : ModeState
        The converged modes at these parameters (``u`` and ``Hinv``), as a
        Laplace evaluation returns them.
    n_jobs : int, optional
        Threads (see :func:`statsmodels_glmm.likelihood.parallel.num_threads`).

    Returns
    -------
    ndarray (p, p)

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from statsmodels_glmm.model import MixedGLM
    >>> from statsmodels_glmm.likelihood.laplace import laplace_loglike
    >>> from statsmodels_glmm.simulate import simulate_longitudinal
    >>> df = simulate_longitudinal(n_persons=40, seed=1)
    >>> m = MixedGLM.from_formula("y ~ time + (1 | id)", df, family=sm.families.Binomial())
    >>> b, th = np.array([-1.0, 0.2]), np.ones(1)
    >>> st = laplace_loglike(m.design, m.response, m.cov_struct, b, th, np.zeros(0))[2]
    >>> H = laplace_beta_hessian(m.design, m.response, b, np.eye(1), np.zeros(0), st)
    >>> g = lambda bb: laplace_loglike(m.design, m.response, m.cov_struct, bb, th,
    ...                                np.zeros(0))[1][:2]
    >>> fd = np.column_stack([(g(b + e) - g(b - e)) / 2e-6 for e in np.eye(2) * 1e-6])
    >>> bool(np.allclose(H, fd, rtol=1e-5, atol=1e-6))
    True
    """
    plan = chunk_plan(design)
    if len(plan.chunks) == 1 and design.nobs <= HESSIAN_CHUNK_ROWS:
        # small data: the likelihood's one chunk, kept with the design, with its family
        # copy and its matrix of per-group sums (built once, not at every call)
        chunks, families = plan.chunks, plan.families(family)
    else:
        # smaller chunks than the likelihood's, made on the fly: this pass keeps a
        # dozen row arrays alive at once, and they should stay in the processor cache
        bounds = parallel.chunk_bounds(design.starts, design.nobs, HESSIAN_CHUNK_ROWS)
        chunks = [None] * (len(bounds) - 1)
    beta = np.asarray(beta, dtype=float)
    L = np.asarray(L, dtype=float)

    def one(k):
        if chunks[k] is None:
            c, fam = make_chunk(design, bounds[k], bounds[k + 1]), _family_copy(family)
        else:
            c, fam = chunks[k], families[k]
        sl = slice(c.g0, c.g1)
        with np.errstate(over="ignore", invalid="ignore"):
            return _chunk_part(c, fam, beta, L, extra, state.u[sl], state.Hinv[sl])

    parts = parallel.map_chunks(one, len(chunks), n_jobs=n_jobs, work=design.nobs)
    H = parts[0].copy()
    for part in parts[1:]:
        H += part
    return 0.5 * (H + H.T)
