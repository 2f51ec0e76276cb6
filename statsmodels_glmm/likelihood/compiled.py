"""
Optional compiled kernels for the Laplace and quadrature engines (numba).

The Newton search for the conditional modes (:func:`.laplace._chunk_modes`)
evaluates, at every iterate, the linear predictor, the family's derivatives and
every group's sums

.. math::

    h_i = \\sum_{t \\in i} d_0(t) - u_i'u_i/2, \\qquad
    g_i = \\sum_{t \\in i} d_1(t) m_t - u_i, \\qquad
    H_i = I - \\sum_{t \\in i} d_2(t) m_t m_t' .

In numpy that is some 30 passes over the rows, each a separate call.  With
numba installed (the ``fast`` extra: ``pip install statsmodels-glmm[fast]``),
the arithmetic and the sums run in three compiled passes, with ``exp`` and
``log1p`` left to numpy's vectorised functions.  The kernels repeat numpy's
operations in the same order, so the two give the same numbers to the last bit
(the tests compare them); only the time differs.

The row kernels cover the binomial family with the logit link, the Poisson
family with the log link and the Gaussian family with the identity link (also the
family derivatives of the several-factor search once loaded, :func:`row_derivatives`); the
gradient pieces, the Newton steps, the mode prediction and the closed-form
fixed-effects Hessian's row pass serve every family; all with one or two random
effects per group.  The binomial-logit and Poisson-log families'
log-densities at adaptive quadrature's nodes have a kernel too.  Several
grouping factors have kernels of their own (see :mod:`._sparse_kernels`):
:func:`sparse_modes`, the whole joint mode search of small, nearly nested designs,
whose modes agree with the numpy search's to its tolerance rather than to the
bit; and, for crossed factors whose levels meet few of each other's, the sums of
the Schur factorisation over the pattern of its cross block
(:mod:`.compiled_schur`).  So has the Gaussian model's
profiled log-likelihood, the search of a Gaussian fit's start
(:func:`gaussian_profile`), which agrees with numpy's to rounding.
Everything else keeps the numpy path.  Set the environment variable
``STATSMODELS_GLMM_COMPILED=0`` before the first fit, or :data:`ENABLED` to False,
to use numpy throughout.  The kernels are compiled on first use and cached on disk
by numba; loading numba is a one-time cost of the first fit of a session
(``benchmarks/bench_compiled.py`` measures it).

Each public function has an example; they share :func:`.laplace._example` (a small
problem with its modes).
"""

import importlib.util
import os
import threading
import warnings

import numpy as np

__all__ = ["ENABLED", "ENV_VAR", "available", "mode_evaluator", "row_derivatives",
           "gradient_pieces",
           "prediction_rhs", "node_values", "newton_step", "hessian_rows", "sparse_modes",
           "gaussian_profile"]

#: The environment variable that turns the kernels off (``0``) or leaves them on (``1``).
ENV_VAR = "STATSMODELS_GLMM_COMPILED"
_OFF, _ON = ("0", "false", "no", "off"), ("", "1", "true", "yes", "on")
_KNOWN = _OFF + _ON
_SETTING = os.environ.get(ENV_VAR, "").strip().lower()
#: False: the numpy path everywhere (also set by ``STATSMODELS_GLMM_COMPILED=0``).
ENABLED = _SETTING not in _OFF

_KERNELS = []  # the kernel module once loaded, or None when numba cannot provide it
_LOCK = threading.Lock()


def _smoke(K):
    """Call every kernel once on tiny inputs of the kinds fits pass (compiling them or
    loading them from numba's cache), so that a numba that cannot build them fails here."""
    n, f = 3, np.linspace(0.1, 0.3, 3)
    st = np.array([0, 2], dtype=np.intp)
    y2 = np.column_stack([np.array([0.0, 1.0, 1.0]), np.ones(3)])  # a binomial y
    s, k = y2[:, 0], y2[:, 1]  # strided views, as Binomial hands them out
    outs = [np.empty(n) for _ in range(6)]
    u1, u2 = np.zeros((2, 1)), np.zeros((2, 2))
    h, g1, g2 = np.empty(2), np.empty((2, 1)), np.empty((2, 2))
    H1, H2 = np.empty((2, 1, 1)), np.empty((2, 2, 2))
    P1, P2 = np.ones((2, 1, 1)), np.tile(np.eye(2), (2, 1, 1))
    K.linear_predictor(f, f, f, u1, st, n, outs[0])
    K.linear_predictor(f, f, f, u2, st, n, outs[0])
    K.logit_rows(f, f, f, s, *outs[:4])
    K.binomial_rows(f, f, f, s, k, f, *outs[:4])
    K.poisson_rows(f, f, f, f, *outs[:4])
    K.gaussian_rows(f, f, -1.0, 2.0, *outs[:4])
    K.group_sums(f, f, f, f, f, u1, st, n, h, g1, H1)
    K.group_sums(f, f, f, f, f, u2, st, n, h, g2, H2)
    K.working_q1(f, f, f, f, u1, P1, st, n, *outs[:4])
    K.working_q2(f, f, f, f, f, u2, P2, st, n, *outs[:5])
    K.prediction_rhs(f, f, f, f, f, f, f, u2, True, st, n, g2)
    K.prediction_rhs(f, f, f, f, f, f, f, u1, False, st, n, g1)
    e2, d2 = np.full((2, n), 0.5), np.empty((2, n))
    K.logit_nodes(e2, e2, e2, s, k, s, False, True, d2, d2.copy())
    K.logit_nodes(e2, e2, e2, s, k, f, True, False, d2, d2)
    K.poisson_nodes(e2, e2, f, f, True, d2, d2.copy())
    K.newton_step(P1, g1, np.empty((2, 1)), h)
    K.newton_step(P2, g2, np.empty((2, 2)), h)
    K.hessian_rows(f, f, f, f, f, P1, st, n, np.empty((n, 5)), outs[0], np.empty((2, 1, 1)),
                   np.empty((2, 1, 1)), np.empty((2, 1, 1)))
    K.hessian_rows(f, f, f, f, f, P2, st, n, np.empty((n, 12)), outs[0], np.empty((2, 3, 2)),
                   np.empty((2, 2, 2)), np.empty((2, 2, 3)))


def _kernels():
    """The kernel module, loaded and checked on first use; None when numba is missing
    or cannot build the kernels (the numpy path then, with a warning)."""
    return _load(_KERNELS, "_mode_kernels", lambda mod: _smoke(mod), "the compiled kernels",
                 "fits use numpy alone (the same numbers, more slowly)")


def _load(store, name, smoke, what, then):
    """
    The kernel module ``name`` of this package, imported and ``smoke``-tested once and
    kept in ``store`` (a list); None without numba, or, with a warning naming ``what``
    and ``then``, when numba cannot build it.
    """
    if store:  # (loaded: every evaluation asks, so without taking the lock)
        return store[0]
    with _LOCK:
        if not store:
            mod = None
            if importlib.util.find_spec("numba") is not None:
                try:
                    mod = importlib.import_module(f".{name}", __package__)
                    smoke(mod)
                except Exception as exc:  # a numba that cannot build them: numpy it is
                    warnings.warn(f"numba is installed but {what} could not be built "
                                  f"({type(exc).__name__}: {exc}); {then}", UserWarning,
                                  stacklevel=3)
                    mod = None
            store.append(mod)
    return store[0]


def available():
    """
    True when the compiled kernels are used: numba is installed and
    :data:`ENABLED` is true.

    >>> isinstance(available(), bool)
    True
    """
    return _enabled() and _kernels() is not None


def _enabled():
    """:data:`ENABLED`, after checking the environment variable's value."""
    if _SETTING not in _KNOWN:
        raise ValueError(f"{ENV_VAR} must be 0 or 1 (or false/true, no/yes, off/on), got "
                         f"{os.environ.get(ENV_VAR)!r}")
    return bool(ENABLED)


def _exp_neg_abs(eta):
    """``exp(-|eta|)`` (as the binomial family computes it, in one new array)."""
    e = np.abs(eta)
    np.negative(e, out=e)
    return np.exp(e, out=e)


def _family_kind(family, *methods):
    """
    ``"logit"`` for the binomial family with the logit link, ``"poisson"`` for the
    Poisson family, ``"gaussian"`` for the Gaussian family with the identity link,
    when the named methods are the package's own (a subclass that redefines one of
    them keeps numpy); None for every other family.
    """
    key = (type(family), getattr(family, "link_name", None), methods)
    kind = _KINDS.get(key, False)
    if kind is not False:
        return kind
    from ..families.standard import Binomial, Gaussian, Poisson

    if isinstance(family, Binomial) and family.link_name == "logit":
        kind, cls = "logit", Binomial
    elif isinstance(family, Poisson):
        kind, cls = "poisson", Poisson
    elif isinstance(family, Gaussian) and family.link_name == "identity":
        kind, cls = "gaussian", Gaussian
    else:
        kind, cls = None, None
    if cls is not None and any(getattr(type(family), m) is not getattr(cls, m)
                               for m in methods):
        kind = None
    _KINDS[key] = kind
    return kind


_KINDS = {}  # (family class, link, methods): the answer of _family_kind


def _row_kernel(family, y, extra=None):
    """
    ``rows(eta, d0, d1, d2, d3)``: the family's derivatives written into the four
    arrays, or None for a family without a kernel (the Gaussian family's needs its
    ``extra``, the log standard deviation).
    """
    K = _kernels()
    kind = _family_kind(family, "derivs")
    if kind == "logit":
        s, k, lc = family._y_parts(y)
        if lc is None:
            def rows(eta, d0, d1, d2, d3):
                e = _exp_neg_abs(eta)
                K.logit_rows(eta, e, np.log1p(e), s, d0, d1, d2, d3)
        else:
            def rows(eta, d0, d1, d2, d3):
                e = _exp_neg_abs(eta)
                K.binomial_rows(eta, e, np.log1p(e), s, k, lc, d0, d1, d2, d3)
        return rows
    if kind == "poisson":
        yc = np.ascontiguousarray(y, dtype=float)
        lgy = np.ascontiguousarray(family._log_factorial(y))

        def rows(eta, d0, d1, d2, d3):
            K.poisson_rows(eta, np.exp(eta), yc, lgy, d0, d1, d2, d3)
        return rows
    if kind == "gaussian" and extra is not None:
        from ..families.standard import _LOG_2PI

        # the scalars as Gaussian.derivs forms them
        s2 = np.exp(2 * extra[0])
        c0 = -0.5 * _LOG_2PI - extra[0]
        yc = np.ascontiguousarray(y, dtype=float)

        def rows(eta, d0, d1, d2, d3):
            K.gaussian_rows(eta, yc, c0, s2, d0, d1, d2, d3)
        return rows
    return None


def row_derivatives(family, y, extra=None):
    """
    ``derivs(eta)``: the family's ``(d0, d1, d2, d3)`` at the linear predictor ``eta``
    of the rows of ``y``, by the row kernel (the numbers of ``family.derivs``), or None
    where there is none (numba missing or disabled, a family without a row kernel) and
    where the row kernels are not loaded yet: the several-factor search, which asks
    for them, gains a few percent from them, less than the one-time cost of loading
    them (a one-factor fit loads them).

    Examples
    --------
    >>> from statsmodels_glmm.families import Poisson
    >>> fam, y = Poisson(), np.array([0.0, 2.0, 5.0])
    >>> eta = np.array([0.0, 0.5, 1.5])
    >>> _ = available()  # (loads the kernels)
    >>> derivs = row_derivatives(fam, y)
    >>> derivs is None or all(np.array_equal(a, b)
    ...                       for a, b in zip(derivs(eta), fam.derivs(y, eta, None)))
    True
    """
    if not (_enabled() and _KERNELS and _KERNELS[0] is not None):
        return None
    rows = _row_kernel(family, y, extra)
    if rows is None:
        return None

    def derivs(eta):
        eta = np.ascontiguousarray(eta, dtype=float)
        d = tuple(np.empty(len(eta)) for _ in range(4))
        rows(eta, *d)
        return d

    return derivs


def mode_evaluator(c, family, base, Mc, extra=None):
    """
    The compiled evaluation of the mode search on chunk ``c``, or None where
    there is none (numba missing or disabled, another family, more than two
    random effects per group).

    ``base`` is the fixed part of the linear predictor, ``Mc`` the columns
    of ``M = Z L`` and ``extra`` the family's parameters (the Gaussian family's
    row kernel needs them; without them it has none).  The returned
    ``evaluate(u)`` gives ``(eta, d, h, grad, H)`` at the modes ``u`` (G, q), as
    the numpy evaluation in :func:`.laplace._chunk_modes` does.

    Examples
    --------
    >>> from statsmodels_glmm.likelihood.laplace import _example
    >>> m, c, st = _example()
    >>> ev = mode_evaluator(c, m.response, c.X @ np.array([-1.0, 0.2]), st.Mc)
    >>> ev is None or bool(np.allclose(ev(st.u)[3], 0.0, atol=1e-9))  # the gradient at the modes
    True
    """
    q = len(Mc)
    if q > 2 or not available():
        return None
    rows = _row_kernel(family, c.y, extra)
    if rows is None:
        return None
    K = _kernels()

    n, G = c.nobs, c.n_groups
    starts = np.ascontiguousarray(c.starts, dtype=np.intp)
    base = np.ascontiguousarray(base, dtype=float)
    m = [np.ascontiguousarray(col, dtype=float) for col in Mc]

    def evaluate(u):
        u = np.ascontiguousarray(u, dtype=float)
        eta = np.empty(n)
        d = tuple(np.empty(n) for _ in range(4))
        h = np.empty(G)
        grad = np.empty((G, q))
        H = np.empty((G, q, q))
        K.linear_predictor(base, m[0], m[-1], u, starts, n, eta)
        rows(eta, *d)
        K.group_sums(m[0], m[-1], d[0], d[1], d[2], u, starts, n, h, grad, H)
        return eta, d, h, grad, H

    return evaluate


#: the several-factor kernel runs on problems of at most this many rows ...
SPARSE_MAX_ROWS = 4000
#: ... and at most this many effects left after eliminating the largest factor's (the
#: block it factorises densely at every Newton step)
SPARSE_MAX_REMAINDER = 128

_SPARSE = []  # the several-factor kernel module once loaded, or None


def _sparse_kernels():
    """The several-factor kernel module (:mod:`._sparse_kernels`), loaded and checked on
    first use; None when numba is missing or cannot build it (the numpy search then,
    with a warning)."""
    return _load(_SPARSE, "_sparse_kernels", _sparse_smoke,
                 "the compiled kernel of several grouping factors",
                 "their fits use numpy alone")


def _sparse_smoke(mod):
    """Call the several-factor kernel on a tiny problem of each family kind."""
    J = np.array([[0, 2], [1, 2]], dtype=np.intp)
    ptr, col = np.array([0, 1, 2], dtype=np.intp), np.zeros(2, dtype=np.intp)
    f = np.array([0.0, 1.0])
    for kind in (0, 1):
        mod.sparse_newton(kind, f, np.ones((2, 2)), J, np.array([-1, -1, 0]),
                          np.array([2], dtype=np.intp), 0, ptr, col, True, f, np.ones(2),
                          np.zeros(3), 1e-10, 5)
    mod.schur_sigma(np.ones((2, 1)), np.zeros(2, dtype=np.intp), np.zeros(1, dtype=np.intp),
                    np.array([2], dtype=np.intp), np.ones((1, 1)), np.empty((2, 1)),
                    np.empty((1, 1, 1)))
    mod.schur_update(np.ones(2), np.array([0, 1], dtype=np.intp), np.zeros(1, dtype=np.intp),
                     np.array([2], dtype=np.intp), np.zeros((2, 2)))
    mod.schur_pairs(np.ones((2, 2)), np.ones((2, 2)), np.zeros(1, dtype=np.intp),
                    np.array([2], dtype=np.intp), np.array([0, 1], dtype=np.intp),
                    np.zeros((2, 2)))
    mod.cross_t(np.ones((2, 1)), np.zeros(1, dtype=np.intp), np.array([2], dtype=np.intp),
                np.array([0, 1], dtype=np.intp), np.ones((1, 1)), np.empty(2))
    mod.cross(np.ones((2, 1)), np.zeros(1, dtype=np.intp), np.array([2], dtype=np.intp),
              np.array([0, 1], dtype=np.intp), np.ones(2), np.empty((1, 1)))
    for it in (np.int32, np.int64):  # (buffer positions come in both sizes)
        pos = np.array([0, 1, 2, 3], dtype=it)
        mod.pair_update(np.ones((2, 1)), np.ones((2, 1)), np.zeros(1, dtype=np.intp),
                        np.array([2], dtype=np.intp), pos, np.zeros(4))
        mod.pair_sigma(np.ones(4), pos, np.ones((2, 1)), np.zeros(1, dtype=np.intp),
                       np.array([2], dtype=np.intp), np.empty((2, 1)))


def _sparse_pattern(pr):
    """
    What the several-factor kernel needs of a :class:`.sparse_laplace.SparseLaplaceProblem`
    that it suits, made once: ``(J, remap, rem, e0, nzptr, nzcol, diag)``; None where it
    does not suit (see :func:`sparse_modes`).
    """
    got = pr.__dict__.get("_kernel_pattern")
    if got is not None:
        return got[0]
    out = None
    pat = pr.pattern if pr.backend == "components" else None
    if (pat is not None and not pr.iterative_steps and pat.qe == 1 and pr.Q > 1
            and 0 < pat.r <= SPARSE_MAX_REMAINDER and pr.nobs <= SPARSE_MAX_ROWS):
        J = np.ascontiguousarray(pr.J, dtype=np.intp)
        e0, e1 = pat.e_range
        rem = np.ascontiguousarray(pat.rem_index, dtype=np.intp)
        remap = np.full(pr.n_effects, -1, dtype=np.intp)
        remap[rem] = np.arange(len(rem))
        r = len(rem)
        # the (eliminated level, other effect) pairs that rows meet, level by level
        keys = np.unique(np.repeat(J[:, 0] - e0, pr.Q - 1) * r + remap[J[:, 1:]].ravel())
        level, col = np.divmod(keys, r)
        nzptr = np.searchsorted(level, np.arange(e1 - e0 + 1)).astype(np.intp)
        per_level = np.diff(nzptr)
        # nearly nested factors: each eliminated level meets few other effects, so the
        # Schur complement costs little to form (crossed factors keep the numpy search,
        # whose dense products and reused factorisations serve them better)
        if int(np.sum(per_level ** 2)) <= pr.nobs:
            out = (J, remap, rem, int(e0), nzptr, col.astype(np.intp),
                   bool(pr.Q == 2 and per_level.max(initial=0) <= 1))
    pr.__dict__["_kernel_pattern"] = (out,)
    return out


def sparse_modes(pr, family, base, M, u, tol, maxiter):
    """
    The joint conditional modes of several grouping factors by the compiled Newton
    search (:mod:`._sparse_kernels`): ``(u, converged, iterations)``, or None where
    there is no kernel for the problem (numba missing or disabled; a family other
    than binomial-logit and Poisson-log; the largest factor with more than one
    effect per level; more than :data:`SPARSE_MAX_ROWS` rows or
    :data:`SPARSE_MAX_REMAINDER` other effects; crossed rather than nearly nested
    factors; the iterative or sparse-Cholesky backends; a non-finite ``M``).

    ``base`` is the fixed part of the linear predictor, ``M`` the row values of
    ``Z Lambda`` (as :meth:`~.sparse_laplace.SparseLaplaceProblem.m_rows` gives
    them) and ``u`` the start (not modified).  The modes agree with those of the
    numpy search to the tolerance ``tol``, not to the last bit.

    Examples
    --------
    >>> from statsmodels_glmm.spec.terms import RandomEffectTerm
    >>> from statsmodels_glmm.families import Poisson
    >>> from statsmodels_glmm.likelihood.sparse_laplace import (SparseLaplaceProblem,
    ...                                                         solve_sparse_modes)
    >>> rng = np.random.default_rng(0)
    >>> inner, outer = np.repeat(np.arange(12), 3), np.repeat(np.arange(4), 9)
    >>> terms = [RandomEffectTerm.from_arrays(g, v, np.ones((36, 1)))
    ...          for g, v in (("a", inner), ("b", outer))]
    >>> pr = SparseLaplaceProblem(rng.poisson(2.0, 36), np.ones((36, 1)), None, terms)
    >>> M = pr.m_rows([np.eye(1)] * 2)
    >>> got = sparse_modes(pr, Poisson(), np.zeros(36), M, np.zeros(16), 1e-10, 100)
    >>> got is None or bool(np.allclose(got[0], solve_sparse_modes(
    ...     pr, Poisson(), np.zeros(1), [np.eye(1)] * 2, np.zeros(0))[0], atol=1e-9))
    True
    """
    if not _enabled():  # (this kernel is loaded alone: such fits need none of the others)
        return None
    kind = _family_kind(family, "derivs")
    parts = _sparse_pattern(pr) if kind in ("logit", "poisson") else None
    K = _sparse_kernels() if parts is not None else None
    if K is None or not np.all(np.isfinite(M)):
        return None
    y = pr.y
    got = pr.__dict__.get("_kernel_response")
    if got is None or got[0] is not y:
        # (writable copies: the kernel is compiled for those; the design's are read-only)
        if kind == "poisson":
            s, k = np.array(y, dtype=float), np.ones(len(y))
        else:
            s, k = (np.array(y[:, j], dtype=float) for j in (0, 1))
        got = pr.__dict__["_kernel_response"] = (y, s, k)
    J, remap, rem, e0, nzptr, nzcol, diag = parts
    u = np.array(u, dtype=float)
    converged, it = K.sparse_newton(0 if kind == "poisson" else 1,
                                    np.ascontiguousarray(base, dtype=float),
                                    np.ascontiguousarray(M, dtype=float), J, remap, rem, e0,
                                    nzptr, nzcol, diag, got[1], got[2], u, float(tol),
                                    int(maxiter))
    return u, bool(converged), int(it)


_GAUSSIAN = []  # the Gaussian profile's kernel module once loaded, or None


def _gaussian_kernels():
    """The kernels of the Gaussian profiled log-likelihood (:mod:`._gaussian_kernels`),
    loaded and checked on first use; None when numba is missing or cannot build them."""
    return _load(_GAUSSIAN, "_gaussian_kernels", _gaussian_smoke,
                 "the compiled kernels of the Gaussian profiled likelihood",
                 "Gaussian fits search their start with numpy")


def _gaussian_smoke(mod):
    """Call the Gaussian profile kernels for one and two random effects."""
    for q in (1, 2):
        R, ZtZ = np.ones((q, 2, 3)), np.tile(np.eye(q), (2, 1, 1))
        Ainv = np.empty((2, 3))
        mod.curvatures(ZtZ, 0.5, 0.1, 0.4, 1.0, Ainv)
        mod.cross_sums(R, 0.5, 0.1, 0.4, Ainv, np.empty((3, 3)), np.empty((2, 3)),
                       np.empty((2, 3)))
        mod.profile_gradient(R, ZtZ, 0.5, 0.1, 0.4, np.zeros(2), 1.0, Ainv, np.zeros((q, q)),
                             np.empty(2))


def gaussian_profile(Lam, R, ZtZ, diag=1.0, sums=True):
    """
    The group sums of the Gaussian profiled log-likelihood at the relative factor
    ``Lam`` by the compiled kernels (see :mod:`._gaussian_kernels`):
    ``(logdet, K, gradient)`` with ``logdet = sum_i log det A_i`` (NaN where an
    ``A_i = diag I + Lam' Z_i' Z_i Lam`` is not positive definite),
    ``K = sum_i R_i' Lam A_i^{-1} Lam' R_i`` (None without ``sums``) and
    ``gradient(beta, c)`` giving ``(grad, XLs, vLs, ss, tr)``: the (q, q) derivatives
    of :func:`.gaussian_profile.profiled_loglike` given ``beta`` and ``c = n / r^2``,
    and the sums ``X' Z Lam s``, ``v' Lam s``, ``s's`` and ``tr A^{-1}`` over groups
    that :func:`.gaussian_profile.gaussian_gradient` adds (``v_i = Z_i' (y_i - X_i
    beta)``, ``s_i = A_i^{-1} Lam' v_i``; NaN where ``logdet`` is).  None where there
    is no kernel (numba missing or disabled, more than two random effects per
    group).  ``R`` and ``ZtZ`` are the (q, G, p + 1) and (G, q, q) sums of
    :func:`.gaussian_profile.cross_products`.  The numbers agree with the numpy
    path's to rounding, not to the bit.

    Examples
    --------
    >>> from statsmodels_glmm.likelihood.gaussian_profile import _example, cross_products
    >>> d, cs = _example("(1 + time | id)")
    >>> cp = cross_products(d)
    >>> Lam = np.array([[0.9, 0.0], [-0.2, 0.4]])
    >>> got = gaussian_profile(Lam, cp["R"], cp["ZtZ"])
    >>> A = np.eye(2) + Lam.T @ cp["ZtZ"] @ Lam
    >>> got is None or bool(np.isclose(got[0], np.linalg.slogdet(A)[1].sum(), rtol=1e-12))
    True
    """
    q = Lam.shape[0]
    if q > 2 or not _enabled():
        return None
    M = _gaussian_kernels()
    if M is None:
        return None
    R = np.ascontiguousarray(R, dtype=float)
    ZtZ = np.ascontiguousarray(ZtZ, dtype=float)
    G, k = R.shape[1], R.shape[2]
    l11 = float(Lam[0, 0])
    l21, l22 = (float(Lam[1, 0]), float(Lam[1, 1])) if q == 2 else (0.0, 0.0)
    Ainv = np.empty((G, 3))
    logdet = M.curvatures(ZtZ, l11, l21, l22, float(diag), Ainv)
    K = None
    if sums and np.isfinite(logdet):
        K = np.empty((k, k))
        M.cross_sums(R, l11, l21, l22, Ainv, K, np.empty((2, k)), np.empty((2, k)))

    def gradient(beta, c):
        if not np.isfinite(logdet):  # (the inverse curvatures were not all made)
            nan = np.full((q, q), np.nan)
            return np.tril(nan), np.full(k - 1, np.nan), np.nan, np.nan, np.nan
        grad, XLs = np.zeros((q, q)), np.empty(k - 1)
        vls, ss, tr = M.profile_gradient(R, ZtZ, l11, l21, l22,
                                         np.ascontiguousarray(beta, dtype=float), float(c),
                                         Ainv, grad, XLs)
        return grad, XLs, vls, ss, tr

    return logdet, K, gradient


def gradient_pieces(c, loc, Hinv):
    """
    ``(s, ma, r, V)`` of :func:`.laplace._chunk_working` from the compiled kernel,
    or None where there is none (numba missing or disabled, more than two random
    effects per group).  Any family: only its derivatives at the modes enter.

    Examples
    --------
    >>> from statsmodels_glmm.likelihood.laplace import _example
    >>> m, c, st = _example(q=2)
    >>> out = gradient_pieces(c, st, st.Hinv)
    >>> M = np.column_stack(st.Mc)  # s_t = m_t' H_i^-1 m_t
    >>> out is None or bool(np.allclose(out[0], np.einsum("ti,tij,tj->t", M, st.Hinv[c.gid], M)))
    True
    """
    q = len(loc.Mc)
    if q > 2 or not available():
        return None
    K = _kernels()

    n = c.nobs
    d1, d2, d3 = (np.ascontiguousarray(v, dtype=float) for v in loc.d[1:4])
    m = [np.ascontiguousarray(col, dtype=float) for col in loc.Mc]
    u = np.ascontiguousarray(loc.u, dtype=float)
    P = np.ascontiguousarray(Hinv, dtype=float)
    starts = np.ascontiguousarray(c.starts, dtype=np.intp)
    s, ma, r = np.empty(n), np.empty(n), np.empty(n)
    V = [np.empty(n) for _ in range(q)]
    if q == 1:
        K.working_q1(m[0], d1, d2, d3, u, P, starts, n, s, ma, r, V[0])
    else:
        K.working_q2(m[0], m[1], d1, d2, d3, u, P, starts, n, s, ma, r, V[0], V[1])
    return s, ma, r, V


def prediction_rhs(c, deta, ZdL, M0, d1, d2, u):
    """
    The per-group right-hand sides of :func:`.laplace.predicted_modes` from the
    compiled kernel (``ZdL`` None when ``L`` did not move), or None where there is
    none (numba missing or disabled, more than two random effects per group).

    Examples
    --------
    >>> from statsmodels_glmm.likelihood.laplace import _example
    >>> m, c, st = _example()
    >>> deta = c.X @ np.array([1e-3, 0.0])  # beta moves, L does not
    >>> rhs = prediction_rhs(c, deta, None, st.Mc, st.d1, st.d2, st.u)
    >>> ref = np.bincount(c.gid, weights=st.Mc[0] * deta * st.d2)
    >>> rhs is None or bool(np.allclose(rhs[:, 0], ref))
    True
    """
    q = len(M0)
    if q > 2 or not available():
        return None
    K = _kernels()
    f = [np.ascontiguousarray(v, dtype=float) for v in (deta, d1, d2)]
    M = [np.ascontiguousarray(v, dtype=float) for v in M0]
    moved = ZdL is not None
    Z = [np.ascontiguousarray(v, dtype=float) for v in ZdL] if moved else M
    rhs = np.empty((c.n_groups, q))
    K.prediction_rhs(f[0], Z[0], Z[-1], M[0], M[-1], f[1], f[2],
                     np.ascontiguousarray(u, dtype=float), moved,
                     np.ascontiguousarray(c.starts, dtype=np.intp), c.nobs, rhs)
    return rhs


def node_values(family, y, etaT, want_d1, d0, d1):
    """
    The log-density (and, with ``want_d1``, its first derivative) at a block of
    quadrature nodes, ``etaT`` (nodes, rows), written into ``d0`` and ``d1`` by the
    compiled kernel; False where there is none (numba missing or disabled, a
    family other than binomial-logit and Poisson-log).  The numbers are those of
    the family's ``logpdf_d1`` and ``logpdf``.

    Examples
    --------
    >>> from statsmodels_glmm.families import Poisson
    >>> fam, y, etaT = Poisson(), np.array([0.0, 2.0, 5.0]), np.array([[0.0, 0.5, 1.5]])
    >>> d0, d1 = np.empty((1, 3)), np.empty((1, 3))
    >>> done = node_values(fam, y, etaT, True, d0, d1)
    >>> ref = fam.logpdf_d1(y, etaT[0], None)
    >>> not done or bool(np.array_equal(d0[0], ref[0]) and np.array_equal(d1[0], ref[1]))
    True
    """
    if not available():
        return False
    K = _kernels()
    kind = _family_kind(family, "logpdf_d1", "logpdf", "derivs")
    if kind == "logit":
        s, k, lc = family._y_parts(y)
        e = _exp_neg_abs(etaT)
        trials = lc is not None
        K.logit_nodes(etaT, e, np.log1p(e), s, k, lc if trials else s, trials, want_d1, d0,
                      d1 if want_d1 else d0)
        return True
    if kind == "poisson":
        yc = np.ascontiguousarray(y, dtype=float)
        K.poisson_nodes(etaT, np.exp(etaT), yc, np.ascontiguousarray(family._log_factorial(y)),
                        want_d1, d0, d1 if want_d1 else d0)
        return True
    return False


def newton_step(H, grad):
    """
    ``(step, dec, finite, max |grad|, max dec)`` of the mode search's Newton step
    from the compiled kernel (the numbers of :func:`.batched._solve` and numpy's
    reductions), or None where there is none (numba missing or disabled, more than
    two random effects per group).

    Examples
    --------
    >>> out = newton_step(np.array([[[2.0]], [[4.0]]]), np.array([[1.0], [-2.0]]))
    >>> out is None or (out[0].ravel().tolist(), out[3], out[4]) == ([0.5, -0.5], 2.0, 1.0)
    True
    """
    G, q = grad.shape
    if q > 2 or not available():
        return None
    step, dec = np.empty((G, q)), np.empty(G)
    finite, gmax, dmax = _kernels().newton_step(np.ascontiguousarray(H, dtype=float),
                                                np.ascontiguousarray(grad, dtype=float),
                                                step, dec)
    return step, dec, bool(finite), float(gmax), float(dmax)


def hessian_rows(c, Mc, d2, d3, d4, P):
    """
    ``(W, d2 + brow, KS, RS1, RS2)`` of the closed-form fixed-effects Hessian's chunk
    pass (:func:`.laplace_hessian._chunk_part`) from the compiled kernel: the row
    weights ``W`` (rows, columns) and the group sums as nested lists of (G,) arrays
    (``KS[j][c]``, ``RS1[b][c]``, ``RS2[b][j]``), or None where there is none (numba
    missing or disabled, more than two random effects per group).

    Examples
    --------
    >>> from statsmodels_glmm.likelihood.laplace import _example
    >>> m, c, st = _example()
    >>> d = st.d
    >>> d4 = m.response.d4(c.y, st.eta, None)
    >>> out = hessian_rows(c, st.Mc, d[2], d[3], d4, st.Hinv)
    >>> out is None or bool(np.array_equal(out[0][:, 2], d[2] * st.Mc[0]))  # the column d2 m
    True
    """
    q = len(Mc)
    if q > 2 or not available():
        return None
    n, G = c.nobs, c.n_groups
    npr = q * (q + 1) // 2
    f = [np.ascontiguousarray(v, dtype=float) for v in (d2, d3, d4)]
    m = [np.ascontiguousarray(v, dtype=float) for v in Mc]
    W = np.empty((n, 2 * q + 2 * npr + q))
    dbrow = np.empty(n)
    KS, RS1, RS2 = np.empty((G, npr, q)), np.empty((G, q, q)), np.empty((G, q, npr))
    _kernels().hessian_rows(m[0], m[-1], f[0], f[1], f[2], np.ascontiguousarray(P, dtype=float),
                            np.ascontiguousarray(c.starts, dtype=np.intp), n, W, dbrow,
                            KS, RS1, RS2)
    return (W, dbrow, [[KS[:, j, k] for k in range(q)] for j in range(npr)],
            [[RS1[:, b, k] for k in range(q)] for b in range(q)],
            [[RS2[:, b, j] for j in range(npr)] for b in range(q)])
