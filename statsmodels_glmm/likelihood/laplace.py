"""
Conditional modes and the Laplace approximation, for all groups at once.

With ``b_i = L u_i``, ``u_i ~ N(0, I_q)`` and linear predictor
``eta_t = x_t' beta + offset_t + m_t' u_i`` (``m_t = L' z_t``), group ``i``
contributes

.. math::

    \\ell_i = \\log \\int \\exp\\{\\tilde h_i(u)\\} (2\\pi)^{-q/2} du,
    \\qquad \\tilde h_i(u) = \\sum_{t \\in i} \\log f(y_t \\mid \\eta_t) - u'u/2 .

The Laplace approximation expands ``h~`` around its maximiser ``u^_i``:

.. math:: \\ell_i \\approx \\tilde h_i(\\hat u_i) - \\tfrac12 \\log\\det H_i,
          \\qquad H_i = I + \\sum_{t \\in i} w_t m_t m_t', \\quad w_t = -d_2(t).

Modes come from Newton's method with step-halving, every group's q x q
system solved in one batched call.  The gradient of the approximation is
analytic: with ``s_t = m_t' H^{-1} m_t``, ``c_t = d_3(t) s_t / 2``,
``a_i = H_i^{-1} sum_t c_t m_t`` and the working score
``r_t = d_1(t) + c_t + d_2(t) m_t' a_i`` (implicit differentiation through the
modes),

.. math::

    \\partial \\ell / \\partial \\beta = X' r, \\qquad
    \\partial \\ell / \\partial L_{ab} = \\sum_t r_t z_{ta} \\hat u_{ib}
        + \\sum_i a_{ib} (Z_i' d_1)_a - \\sum_i (H_i^{-1} L' Z_i' W_i Z_i)_{ba},

and for a family parameter ``phi``:
``sum_t d0_phi + s_t d2_phi / 2 + (m_t' a_i) d1_phi``.
"""

from types import SimpleNamespace

import numpy as np

from . import compiled, parallel
from .batched import _is_pd, _logdet, _rowdot, _solve, _triu, batched_inv, matvec
from .chunks import _columns, _expand_dot, _zl_columns, chunk_plan, seg_sum

__all__ = ["ModeState", "solve_modes", "laplace_loglike"]


class ModeState:
    """
    Everything computed at the conditional modes for one parameter value.

    ``u`` (G, q) modes, ``H``/``Hinv`` curvatures and their inverses,
    ``logdet``, ``h`` the log-integrand at the modes, ``converged``,
    ``iterations``; the row-wise ``eta`` (linear predictor), ``d`` (family
    derivatives), ``M = Z L`` and ``Mc`` (its columns) are computed when
    first asked for.  Returned by :func:`solve_modes` (see its example).
    """

    def __init__(self, design, family, beta, L, extra):
        self._args = (design, family, beta, L, extra)
        self._rows = None
        self.u = self.H = self.Hinv = self.logdet = self.h = None
        #: first and second family derivatives of every row at the modes (kept to
        #: predict the modes at nearby parameters, see :func:`predicted_modes`)
        self.d1 = self.d2 = None
        self.converged = False
        self.iterations = 0

    def _row_values(self):
        if self._rows is None:
            design, family, beta, L, extra = self._args
            M = design.Z @ L
            eta = design.X @ beta + design.offset
            Mc = _columns(M)
            eta += _expand_dot(Mc, self.u, design)
            self._rows = (M, Mc, eta, family.derivs(design.y, eta, extra))
        return self._rows

    @property
    def M(self):
        return self._row_values()[0]

    @property
    def Mc(self):
        return self._row_values()[1]

    @property
    def eta(self):
        return self._row_values()[2]

    @property
    def d(self):
        return self._row_values()[3]



#: Largest change of a mode (in standard deviations of ``u``) taken from a prediction.
MAX_PREDICTED_MOVE = 0.5
#: Chunks of fewer rows start Newton from the last modes instead of a prediction.
PREDICT_MIN_ROWS = 1000


def predicted_modes(c, prev, beta, L):
    """
    First-order prediction of a chunk's modes at ``(beta, L)`` from an earlier
    :class:`ModeState` ``prev`` (same design, nearby parameters).

    The modes solve ``sum_t m_t d_1(t) - u_i = 0``; differentiating it with
    ``eta_t = x_t' beta + z_t' L u_i`` gives

    .. math:: H_i \\, du_i = \\sum_t \\big[ dL' z_t \\, d_1(t)
              + m_t \\, d_2(t) \\, (x_t' d\\beta + z_t' dL \\, u_i) \\big],

    with ``H_i``, ``m_t = L' z_t``, ``d_1``, ``d_2`` taken at ``prev``.  Only a
    starting point for Newton's method: the modes found do not depend on it.
    No mode moves by more than :data:`MAX_PREDICTED_MOVE`.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.model import MixedGLM
    >>> from statsmodels_glmm.simulate import simulate_longitudinal
    >>> df = simulate_longitudinal(n_persons=40, seed=1)
    >>> m = MixedGLM.from_formula("y ~ time + (1 | id)", df, family=sm.families.Binomial())
    >>> b = np.array([-1.0, 0.2])
    >>> st = solve_modes(m.design, m.response, b, np.eye(1), np.zeros(0))
    >>> c = chunk_plan(m.design).chunks[0]
    >>> exact = solve_modes(m.design, m.response, b + 1e-3, np.eye(1), np.zeros(0)).u
    >>> pred = predicted_modes(c, st, b + 1e-3, np.eye(1))
    >>> bool(np.abs(pred - exact).max() < 1e-3 * np.abs(st.u - exact).max())
    True
    """
    _, _, beta0, L0, _ = prev._args
    sl = slice(c.g0, c.g1)
    u = prev.u[sl]
    d1, d2 = prev.d1[c.r0:c.r1], prev.d2[c.r0:c.r1]
    q = L.shape[0]
    gid = c.gid  # np.take(v, gid) repeats per-group values to the rows, faster than np.repeat
    dL = L - L0
    dbeta = beta - beta0
    moved = bool((dL != 0.0).any())
    if not moved and not (dbeta != 0.0).any():
        return np.array(u, dtype=float)
    ZdL = _zl_columns(c.Zc, dL) if moved else None
    M0 = _zl_columns(c.Zc, L0)
    deta = c.X @ dbeta
    rhs = compiled.prediction_rhs(c, deta, ZdL, M0, d1, d2, u)  # the same numbers
    if rhs is None:
        if moved:
            for a in range(q):
                deta += ZdL[a] * np.take(u[:, a], gid)
        deta *= d2
        rhs = np.empty((c.n_groups, q))
        for a in range(q):
            col = M0[a] * deta
            if moved:
                col += ZdL[a] * d1
            rhs[:, a] = np.bincount(c.gid, weights=col, minlength=c.n_groups)
    du = matvec(prev.Hinv[sl], rhs)
    # first order is trusted for small moves only: a long extrapolation (a trial point
    # far away) can land where Newton needs many steps, so no mode moves by more than
    # MAX_PREDICTED_MOVE standard deviations of its random effect
    size = np.abs(du[:, 0])
    for a in range(1, q):  # (a reduction over a short last axis is slow in numpy)
        size = np.maximum(size, np.abs(du[:, a]))
    big = size > MAX_PREDICTED_MOVE
    if big.any():
        du[big] *= (MAX_PREDICTED_MOVE / size[big])[:, None]
    return u + du


def _term_size(eta, d):
    """
    The size of the terms a row's log-density is computed from, ``|d_2| (1 + |eta|)``
    (for Poisson counts ``mu log mu``): what its rounding scales with.
    """
    return np.abs(d[2]) * (1.0 + np.abs(eta))


def _gradient_rounding(eta, d, Mc, gsum):
    """
    A bound on the rounding error of each group's mode gradient ``sum_t m_t d_1(t)``:
    ``d_1`` inherits the relative rounding of the log-density's terms
    (:func:`_term_size`).
    """
    w = np.abs(d[1]) + _term_size(eta, d)
    m = np.abs(Mc[0])
    for col in Mc[1:]:
        m = m + np.abs(col)
    return 64 * np.finfo(float).eps * gsum(m * w)


def _chunk_modes(c, family, beta, L, extra, u0, tol, maxiter):
    """
    Newton with step-halving for the groups of one chunk.

    ``u0`` is None (start at zero), an array of starting modes, or a
    :class:`ModeState` of nearby parameters (start at :func:`predicted_modes`).

    Returns a namespace with the chunk's ``u``, ``eta``, ``d``, ``Mc``,
    ``H``, ``h``, ``converged`` and ``iterations``.
    """
    y, G, gid = c.y, c.n_groups, c.gid
    q = L.shape[0]
    base = c.X @ beta + c.offset
    Mc = _zl_columns(c.Zc, L)
    prev = None
    if isinstance(u0, ModeState) and c.nobs < PREDICT_MIN_ROWS:
        u0 = u0.u  # tiny chunks: a prediction costs about what it saves
    if isinstance(u0, ModeState):
        prev, u0 = u0, u0.u
        with np.errstate(all="ignore"):
            u = predicted_modes(c, prev, beta, L)
        if not np.isfinite(u).all():
            u = np.array(u0[c.g0:c.g1], dtype=float)
    else:
        u = np.zeros((G, q)) if u0 is None else np.array(u0[c.g0:c.g1], dtype=float)
    iu, ju = _triu(q)
    diag = _triu(q, diag=True)
    # the compiled evaluation where there is one (same numbers, see .compiled)
    fast = compiled.mode_evaluator(c, family, base, Mc, extra)
    # m_ta m_tb, fixed during the solve
    MM = [Mc[i] * Mc[j] for i, j in zip(iu, ju)] if fast is None else None

    def gsum(v):
        return np.bincount(gid, weights=v, minlength=G)

    def numpy_evaluate(u):
        """eta, derivatives, h, gradient and exact curvature at u."""
        eta = base + Mc[0] * np.take(u[:, 0], gid)
        for j in range(1, q):
            eta += Mc[j] * np.take(u[:, j], gid)
        d = family.derivs(y, eta, extra)
        d2 = d[2]
        h = gsum(d[0])
        h -= 0.5 * _rowdot(u, u)
        grad = np.empty((G, q))
        for j in range(q):
            grad[:, j] = gsum(Mc[j] * d[1])
        grad -= u
        H = np.empty((G, q, q))
        for k, (i, j) in enumerate(zip(iu, ju)):
            col = gsum(d2 * MM[k])  # H = I - sum_t d2_t m_t m_t'
            if i == j:
                H[:, i, i] = 1.0 - col
            else:
                H[:, i, j] = H[:, j, i] = -col
        return eta, d, h, grad, H

    evaluate = numpy_evaluate if fast is None else fast
    eta, d, h, grad, H = evaluate(u)
    if u0 is not None and not np.isfinite(h).all():
        u = np.zeros((G, q))
        eta, d, h, grad, H = evaluate(u)
    converged = False
    stalled = np.zeros(G, dtype=bool)
    any_stalled = False
    it = 0
    for it in range(1, maxiter + 1):
        Hn = H
        if d[2].max() > 0:
            # exact Newton where the group's Hessian is positive definite (fast near the
            # mode, e.g. zero-inflated data); clipped weights elsewhere (always p.d.)
            pd_ok = _is_pd(Hn)
            if not pd_ok.all():
                if MM is None:
                    MM = [Mc[i] * Mc[j] for i, j in zip(iu, ju)]
                wc = np.maximum(-d[2], 0.0)
                Hc = np.empty((G, q, q))
                for k, (i, j) in enumerate(zip(iu, ju)):
                    Hc[:, i, j] = Hc[:, j, i] = gsum(wc * MM[k])
                Hc[:, diag, diag] += 1.0
                Hn = np.where(pd_ok[:, None, None], Hn, Hc)
        # step, Newton decrement and their largest entries (compiled where possible)
        ns = compiled.newton_step(Hn, grad)
        if ns is not None and ns[2]:
            step, dec, _, gmax_all, dec_max = ns
        else:
            step = _solve(Hn, grad)
            if not np.isfinite(step).all():  # (the test over all entries first: it is fast)
                bad = ~np.isfinite(step).all(axis=1)
                # a singular curvature (far from the data): a scaled gradient step instead
                # of a NaN step that step-halving could never repair
                diag_h = np.diagonal(Hn[bad], axis1=1, axis2=2)
                step[bad] = grad[bad] / np.maximum(np.nan_to_num(diag_h, nan=1.0), 1.0)
            dec = _rowdot(step, grad)  # Newton decrement
            gmax_all, dec_max = np.abs(grad).max(), dec.max()
        if any_stalled:
            live = ~stalled
            done = not live.any() or (np.abs(grad[live]).max() < tol
                                      or dec[live].max() < tol * tol)
        else:
            done = gmax_all < tol or dec_max < tol * tol
        if not done and it >= 3 and dec_max < 1e-8:
            # groups with very large terms (huge counts) have a gradient whose rounding
            # exceeds the tolerance: there a gradient within its rounding is converged
            gmax = np.abs(grad[:, 0])
            for a in range(1, q):
                gmax = np.maximum(gmax, np.abs(grad[:, a]))
            ok = gmax <= np.maximum(tol, _gradient_rounding(eta, d, Mc, gsum))
            ok |= dec < tol * tol
            done = bool((ok | stalled).all())
        # a predicted start is always followed by a Newton step: the error of a mode
        # enters the log-determinant to first order, and the prediction may stop just
        # inside the tolerance, where a step makes that error negligible
        if done and (prev is None or it > 1):
            converged = True
            break
        fac = np.ones(G)
        u_new = u + step
        new = evaluate(u_new)
        lim = h - 1e-12 * (1 + np.abs(h))
        slack = None
        for _ in range(40):
            h_new = new[2]
            bad = ~(h_new >= lim)
            bad |= ~np.isfinite(h_new)
            if not bad.any():
                break
            if slack is None:
                # h is a sum of terms that can be far larger than h itself (large
                # counts): a step is judged against the rounding of those terms
                slack = 1e-12 * gsum(np.abs(d[0]) + _term_size(eta, d))
                lim = lim - slack
                bad = ~(h_new >= lim)
                bad |= ~np.isfinite(h_new)
                if not bad.any():
                    break
            fac = np.where(bad, fac * 0.5, fac)
            u_new = u + fac[:, None] * step
            new = evaluate(u_new)
        else:
            # no step of these groups can be told from rounding: they are at their mode
            # as far as the arithmetic can tell, and count as converged
            stalled |= bad
            any_stalled = True
            u_new[bad] = u[bad]
            new = evaluate(u_new)
        u = u_new
        eta, d, h, grad, H = new
    out = SimpleNamespace(u=u, eta=eta, d=d, Mc=Mc, H=H, h=h, converged=converged,
                          iterations=it, gsum=gsum)
    return out


def _chunk_working(c, loc, Hinv):
    """
    The row-wise pieces of a chunk's Laplace gradient: ``s_t``, ``m_t' a_i``, the
    working score ``r_t`` and the columns ``V_b`` of
    ``V_t = r_t u_i + d_1(t) a_i + d_2(t) H_i^{-1} m_t`` (a list of q row arrays).
    """
    out = compiled.gradient_pieces(c, loc, Hinv)  # the same numbers, compiled
    if out is not None:
        return out
    d0, d1, d2, d3 = loc.d
    Mc, u, gid, gsum = loc.Mc, loc.u, c.gid, loc.gsum
    q = len(Mc)
    # the entries of the symmetric H_i^{-1} repeated to the rows, each taken once
    P = {}
    for a in range(q):
        for b in range(a, q):
            P[a, b] = P[b, a] = np.take(Hinv[:, a, b], gid)
    # HM_a = (H_i^{-1} m_t)_a and s_t = m_t' H_i^{-1} m_t
    HM = []
    for a in range(q):
        col = Mc[0] * P[a, 0]
        for b in range(1, q):
            col += Mc[b] * P[a, b]
        HM.append(col)
    s = Mc[0] * HM[0]
    for a in range(1, q):
        s += Mc[a] * HM[a]
    cc = d3 * s
    cc *= 0.5
    ag = np.empty((c.n_groups, q))
    for a in range(q):
        ag[:, a] = gsum(Mc[a] * cc)
    ag = matvec(Hinv, ag)
    arow = [np.take(ag[:, a], gid) for a in range(q)]
    ma = Mc[0] * arow[0]
    for a in range(1, q):
        ma += Mc[a] * arow[a]
    r = d1 + cc
    r += d2 * ma
    # dl/dL_ab = sum_t z_ta V_tb with V = r u_i + d1 a_i + d2 H_i^{-1} m_t
    V = []
    for b in range(q):
        col = r * np.take(u[:, b], gid)
        col += d1 * arow[b]
        col += d2 * HM[b]
        V.append(col)
    return s, ma, r, V


def _chunk_gradient(c, family, L, extra, loc, Hinv, n_extra, per_group=False):
    """
    The chunk's share of the Laplace gradient: ``X' r``, ``Z' V`` (q x q, the
    derivative with respect to every entry of ``L``) and the family part.

    With ``per_group`` the same sums are taken within each group of the chunk:
    one row per group (``(n_groups, p + q*q + n_extra)``).
    """
    s, ma, r, V = _chunk_working(c, loc, Hinv)
    q = len(V)
    if per_group:
        Vm = np.column_stack(V)
        parts = [c.X * r[:, None], (c.Z[:, :, None] * Vm[:, None, :]).reshape(c.nobs, q * q)]
        if n_extra:
            e0, e1, e2 = family.extra_derivs(c.y, loc.eta, extra)
            parts.append(e0 + 0.5 * s[:, None] * e2 + ma[:, None] * e1)
        return seg_sum(np.hstack(parts), c.starts)
    g_beta = c.X.T @ r
    dL = np.array([[z @ v for v in V] for z in c.Zc])
    if n_extra:
        e0, e1, e2 = family.extra_derivs(c.y, loc.eta, extra)
        g_extra = e0.sum(0) + 0.5 * (s @ e2) + ma @ e1
    else:
        g_extra = np.zeros(0)
    return np.concatenate([g_beta, dL.ravel(), g_extra])


def _run_chunks(design, family, beta, L, extra, u0, tol, maxiter, n_jobs, task, work=None):
    """Solve the modes chunk by chunk, then ``task(chunk, family, loc)`` on each."""
    plan = chunk_plan(design)
    fams = plan.families(family)
    G, q = design.n_groups, L.shape[0]
    st = ModeState(design, family, beta, L, extra)
    st.u = np.empty((G, q))
    st.H = np.empty((G, q, q))
    st.Hinv = np.empty((G, q, q))
    st.h = np.empty(G)
    st.logdet = np.empty(G)
    single = len(plan.chunks) == 1
    if not single:
        st.d1 = np.empty(design.nobs)
        st.d2 = np.empty(design.nobs)
    if isinstance(u0, ModeState):
        prev = u0
        _, _, b0, L0, _ = prev._args
        if (prev._args[0] is not design or prev.d1 is None or prev.u.shape != (G, q)
                or np.shape(b0) != np.shape(beta) or np.shape(L0) != L.shape):
            u0 = prev.u if prev.u is not None and prev.u.shape == (G, q) else None
    elif u0 is not None:
        u0 = np.asarray(u0, dtype=float)
        if u0.shape != (G, q):
            raise ValueError(f"u0 must have shape {(G, q)}, got {u0.shape}")
    beta = np.asarray(beta, dtype=float)

    def one(k):
        c = plan.chunks[k]
        loc = _chunk_modes(c, fams[k], beta, L, extra, u0, tol, maxiter)
        sl = slice(c.g0, c.g1)
        st.u[sl], st.H[sl], st.h[sl] = loc.u, loc.H, loc.h
        if single:
            st.d1, st.d2 = loc.d[1], loc.d[2]
        else:
            st.d1[c.r0:c.r1], st.d2[c.r0:c.r1] = loc.d[1], loc.d[2]
        Hinv = batched_inv(loc.H)
        st.Hinv[sl] = Hinv
        st.logdet[sl] = _logdet(loc.H)
        out = task(c, fams[k], loc, Hinv) if task is not None else None
        return loc.converged, loc.iterations, out

    res = parallel.map_chunks(one, len(plan.chunks), n_jobs=n_jobs,
                              work=design.nobs if work is None else work)
    st.converged = all(r[0] for r in res)
    st.iterations = max(r[1] for r in res)
    return st, [r[2] for r in res]


def solve_modes(design, family, beta, L, extra, u0=None, tol=1e-10, maxiter=100, n_jobs=None):
    """
    Conditional modes ``u^_i`` of all groups by batched Newton with step-halving.

    Groups are processed in cache-sized chunks (see :mod:`.parallel`), each
    chunk iterating until all its groups have converged:
    ``max |grad| < tol`` or a Newton decrement below ``tol**2``.

    Parameters
    ----------
    design : Design
        Sorted data (``y``, ``X``, ``Z``, ``offset``, ``gid``, ``starts``).
    family : Response
    beta, L, extra : ndarray
        Fixed effects, Cholesky factor of G, internal family parameters.
    u0 : ndarray (G, q), optional
        Warm start.
    tol : float
        Convergence tolerance on the gradient of every group's log-integrand.
    maxiter : int
        Largest number of Newton steps.
    n_jobs : int, optional
        Threads (default: see :func:`statsmodels_glmm.likelihood.parallel.num_threads`).

    Returns
    -------
    ModeState

    Examples
    --------
    >>> from statsmodels_glmm.simulate import simulate_longitudinal
    >>> from statsmodels_glmm.model import MixedGLM
    >>> import statsmodels.api as sm, numpy as np
    >>> df = simulate_longitudinal(n_persons=30, seed=1)
    >>> m = MixedGLM.from_formula("y ~ time + (1 | id)", df, family=sm.families.Binomial())
    >>> st = solve_modes(m.design, m.response, np.array([-1.0, 0.2]), np.eye(1), np.zeros(0))
    >>> st.converged
    True
    """
    L = np.asarray(L, dtype=float)
    return _run_chunks(design, family, beta, L, extra, u0, tol, maxiter, n_jobs, None)[0]


def laplace_loglike(design, family, cov, beta, theta, extra, u0=None, gradient=True,
                    n_jobs=None, per_group=False):
    """
    Laplace log-likelihood (every constant kept) and its analytic gradient.

    The modes, the curvatures and the gradient of each chunk of groups are
    computed in one pass while the chunk's rows are in cache; chunks may run
    on several threads (``n_jobs``; the numbers do not depend on it).

    With ``per_group=True`` the log-likelihood and the gradient are returned
    group by group, the terms the totals are sums of: ``llf`` is a (G,) array
    of ``l_i`` and ``grad`` a (G, k) array of the score contributions
    ``d l_i / d [beta, theta, extra]`` (rows in the order of
    ``design.group_labels``).

    Returns
    -------
    llf : float (ndarray (G,) with ``per_group``)
    grad : ndarray or None
        Gradient with respect to ``[beta, theta, extra]`` (internal scale).
    state : ModeState

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.model import MixedGLM
    >>> from statsmodels_glmm.simulate import simulate_longitudinal
    >>> df = simulate_longitudinal(n_persons=30, seed=1)
    >>> m = MixedGLM.from_formula("y ~ time + (1 | id)", df, family=sm.families.Binomial())
    >>> args = (m.design, m.response, m.cov_struct, np.array([-1.0, 0.2]), np.ones(1),
    ...         np.zeros(0))
    >>> llf, grad, st = laplace_loglike(*args)
    >>> grad.shape
    (3,)
    >>> lg, scores, _ = laplace_loglike(*args, per_group=True)
    >>> scores.shape
    (30, 3)
    >>> bool(np.allclose(scores.sum(0), grad, rtol=1e-12, atol=1e-12))
    True
    """
    L = np.asarray(cov.chol(theta), dtype=float)
    ne = family.n_extra

    def gradient_task(c, fam, loc, Hinv):
        with np.errstate(invalid="ignore", over="ignore"):
            return _chunk_gradient(c, fam, L, extra, loc, Hinv, ne, per_group)

    st, parts = _run_chunks(design, family, beta, L, extra, u0, 1e-10, 100, n_jobs,
                            gradient_task if gradient else None)
    p, q = len(beta), L.shape[0]
    if per_group:
        lg = st.h - 0.5 * st.logdet
        if not gradient or not np.all(np.isfinite(lg)):
            return lg, None, st
        rows = np.concatenate(parts, axis=0)
        cols = np.concatenate([np.arange(p), p + cov.rows * q + cov.cols,
                               p + q * q + np.arange(ne)])
        return lg, rows[:, cols], st
    if not (np.isfinite(st.logdet).all() and np.isfinite(st.h).all()):
        return -np.inf, None, st
    llf = float(st.h.sum() - 0.5 * st.logdet.sum())
    if not gradient:
        return llf, None, st
    total = parts[0].copy()
    for g in parts[1:]:
        total += g
    dL = total[p:p + q * q].reshape(q, q)
    return llf, np.concatenate([total[:p], dL[cov.rows, cov.cols], total[p + q * q:]]), st


def _example(q=1):
    """
    A small binary panel with ``q`` random effects per person (its design and
    family as ``m.design``, ``m.response``), its only chunk and its
    :class:`ModeState` at ``beta = (-1, 0.2)``, ``L = I`` (for the examples of
    :mod:`.compiled`).
    """
    from ..families import Binomial
    from ..simulate import simulate_longitudinal
    from ..spec.design import build_design

    df = simulate_longitudinal(n_persons=40, seed=1)
    re = "(1 | id)" if q == 1 else "(1 + time | id)"
    m = SimpleNamespace(response=Binomial())
    m.design = build_design(f"y ~ time + {re}", df, m.response)
    st = solve_modes(m.design, m.response, np.array([-1.0, 0.2]), np.eye(q), np.zeros(0))
    return m, chunk_plan(m.design).chunks[0], st
