"""
Laplace approximation for any number of random-effect terms (nested, crossed,
observation-level) by one joint penalised Newton over the stacked effects.

With ``b = Lambda u``, ``u ~ N(0, I_N)`` (layout in :mod:`statsmodels_glmm.spec.terms`),
``M = Z Lambda`` and ``eta = X beta + offset + M u``, the marginal likelihood is

.. math::

    \\ell = \\log \\int \\exp\\{h(u)\\} (2\\pi)^{-N/2} du, \\qquad
    h(u) = \\sum_t \\log f(y_t \\mid \\eta_t) - u'u/2,

and its Laplace approximation at the maximiser ``u^`` of ``h`` is

.. math::

    \\ell \\approx h(\\hat u) - \\tfrac12 \\log\\det H, \\qquad
    H = I + M' W M, \\quad W = \\mathrm{diag}(-d_2),

every normalising constant kept (the family's ``d_0`` holds them).

Factorisation (the symbolic work is done once, in :class:`SparseLaplaceProblem`).
Order the effects as ``[e, R]`` where ``e`` are the effects of the term with the
most effects.  Every row belongs to one level of that term, so
``A = H_ee`` is block diagonal with ``q_e x q_e`` blocks, and

.. math::

    H = \\begin{pmatrix} A & B \\\\ B' & C \\end{pmatrix}, \\quad
    S = C - B' A^{-1} B, \\quad \\log\\det H = \\log\\det A + \\log\\det S .

``S`` (the Schur complement onto the other terms) is split once into the
connected components of its sparsity graph; each component is factorised
densely, components of equal size in one batched call.  For crossed factors
this is one dense block the size of the smaller factors (exact and fast when
they are small); for nested factors ``(1 | a/b)`` it is one small block per
level of ``a``.  All of this is exact; a large component with a sparse graph
(random crossed pairs) first eliminates its low-degree effects sparsely and
factorises only the rest densely (:mod:`statsmodels_glmm.likelihood.schur_fill`).
Before any numerical work the memory the factorisation
needs is compared with a budget (:mod:`statsmodels_glmm.likelihood.memory_budget`;
4 GiB unless the environment variable ``STATSMODELS_GLMM_MEMORY_BUDGET`` or the
``memory_budget`` argument says otherwise): a design beyond it is refused with
:class:`~statsmodels_glmm.likelihood.memory_budget.MemoryBudgetError`, or factorised
by CHOLMOD when scikit-sparse is installed.  With ``max_dense`` (or
``backend="sparse"``) the problem is factorised as a whole by a general sparse
Cholesky instead (see :mod:`statsmodels_glmm.likelihood.sparse_cholesky`).

Modes: Newton with step-halving on the whole vector ``u`` (plain Newton
oscillates on some binary data); weights ``w = -d_2`` are clipped at zero for
the Newton direction when the exact ``H`` is not positive definite.  When the
largest dense block has at least :attr:`SparseLaplaceProblem.iterative_from`
effects, a Newton step is taken by conjugate gradients on ``H`` (products with
``M`` only) preconditioned by the last factorisation of the problem (from the
previous step or evaluation), solved to a relative residual of ``1e-11``; when
they do not converge within 40 iterations the step falls back to a fresh
factorisation.  The factorisation at the modes, which gives ``log det H`` and
the gradient, is always exact, so an evaluation costs one large factorisation
instead of one per Newton step.

Gradient (analytic on the component path).  With ``Sigma = H^{-1}``,
``s_t = m_t' Sigma m_t``, ``c_t = d_3(t) s_t / 2``, ``a = Sigma M' c`` and
``r_t = d_1(t) + c_t + d_2(t) (M a)_t`` (implicit differentiation through
``u^``),

.. math::

    \\partial \\ell / \\partial \\beta = X' r, \\qquad
    \\partial \\ell / \\partial (L_k)_{ab} = \\sum_t z_{tka} \\{ r_t \\hat u_{k g_k(t) b}
        + d_1(t) a_{k g_k(t) b} - w_t (\\Sigma m_t)_{k g_k(t) b} \\},

and ``sum_t d0_phi + s_t d2_phi / 2 + (M a)_t d1_phi`` for a family parameter
``phi``.  Only the entries of ``Sigma`` among the effects of each row are
needed; they come from the blocks ``Sigma_RR = S^{-1}``,
``Sigma_eR = -A^{-1} B S^{-1}`` and
``Sigma_ee = A^{-1} + A^{-1} B S^{-1} B' A^{-1}`` on the pattern of ``B``.
On the general sparse path the gradient is by central finite differences of
the log-likelihood with the modes warm-started at ``u^``.
"""

import numpy as np
from scipy.sparse import csr_array

from . import compiled
from . import memory_budget as _budget
from .batched import _rowdot
from .dense_factor import DensePattern, pair_products
from .schur import SchurPattern
from .sparse_prediction import predicted_modes, usable_state
from ..spec.terms import split_thetas, term_offsets

__all__ = ["SparseLaplaceProblem", "SparseModeState", "sparse_laplace_loglike"]


class SparseLaplaceProblem:
    """
    The data of a model with several random-effect terms and the symbolic analysis
    of its Laplace Hessian, done once.

    Parameters
    ----------
    y : ndarray
        Response as the family validated it (rows in any fixed order).
    X : ndarray (n, p)
    offset : ndarray (n,) or None
    terms : list of RandomEffectTerm
        Rows aligned with ``y``.
    max_dense : int or None
        Under ``backend="auto"``, a larger connected component of the Schur
        complement sends the problem to the general sparse backend (None: no limit
        but the memory budget).
    backend : {"auto", "components", "sparse"}
        ``"auto"``: the components (dense blocks, analytic gradient) unless
        ``max_dense`` is exceeded, or the memory budget is and scikit-sparse's
        CHOLMOD is installed.
    sparse_method : {"auto", "cholmod", "splu"}
        Factorisation of the sparse path (see
        :class:`statsmodels_glmm.likelihood.sparse_cholesky.SparseHessianPattern`).
    memory_budget : int, str or None
        Bytes the factorisation may hold (``"8G"`` accepted); None reads the
        environment variable ``STATSMODELS_GLMM_MEMORY_BUDGET``, else 4 GiB (see
        :mod:`statsmodels_glmm.likelihood.memory_budget`).  A design whose
        factorisation would need more raises
        :class:`~statsmodels_glmm.likelihood.memory_budget.MemoryBudgetError`
        here, before any numerical work.

    Attributes
    ----------
    n_effects : int
        Length of the stacked ``u``.
    elim : int
        Index of the term eliminated first (the one with most effects).
    component_sizes : ndarray
        Sizes of the connected components of the Schur complement.
    backend : str
        The factorisation actually used: ``"components"``, ``"sparse-cholmod"``
        or ``"sparse-splu"``.

    Examples
    --------
    >>> import numpy as np
    >>> from statsmodels_glmm.spec.terms import RandomEffectTerm
    >>> rng = np.random.default_rng(0)
    >>> subj, item = np.repeat(np.arange(6), 4), np.tile(np.arange(4), 6)
    >>> terms = [RandomEffectTerm.from_arrays("subj", subj, np.ones((24, 1))),
    ...          RandomEffectTerm.from_arrays("item", item, np.ones((24, 1)))]
    >>> pr = SparseLaplaceProblem(rng.integers(0, 2, 24).astype(float), np.ones((24, 1)),
    ...                           None, terms)
    >>> pr.n_effects, pr.elim, pr.component_sizes.tolist(), pr.backend
    (10, 0, [4], 'components')
    """

    #: size of the largest dense block from which the mode finder's Newton steps
    #: are taken by preconditioned conjugate gradients
    iterative_from = 800
    #: on the component backend, problems with at most this many random effects are
    #: factorised as one dense matrix (:mod:`statsmodels_glmm.likelihood.dense_factor`):
    #: measured on crossed designs (single-threaded BLAS, a few Newton steps per
    #: evaluation) the dense factorisation is several times cheaper at 50 effects
    #: and about even from 175, where the elimination of the largest term wins
    dense_limit = 150

    def __init__(self, y, X, offset, terms, max_dense=None, backend="auto",
                 sparse_method="auto", memory_budget=None):
        if not terms:
            raise ValueError("terms is empty: give at least one RandomEffectTerm")
        if backend not in ("auto", "components", "sparse"):
            raise ValueError("backend must be 'auto', 'components' or 'sparse'")
        X = np.asarray(X, dtype=float)
        if X.ndim != 2:
            raise ValueError("X must be a 2-d array")
        n = X.shape[0]
        self.y = y
        self.X = X
        self.offset = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
        if len(self.offset) != n or len(y) != n:
            raise ValueError("y, X and offset must have the same number of rows")
        for t in terms:
            if len(t.codes) != n:
                raise ValueError(f"term {t.group!r} has {len(t.codes)} rows, X has {n}")
        self.terms = list(terms)
        self.nobs = n
        offs = term_offsets(terms)
        self.term_offsets = offs
        N = int(offs[-1])
        self.n_effects = N
        K = len(terms)
        e = int(np.argmax([t.n_effects for t in terms]))
        self.elim = e
        order = [e] + [k for k in range(K) if k != e]
        Q = sum(t.q for t in terms)
        self.Q = Q
        J = np.empty((n, Q), dtype=np.intp)
        Zr = np.empty((n, Q))
        self.slots = [None] * K
        pos = 0
        for k in order:
            t = terms[k]
            sl = slice(pos, pos + t.q)
            self.slots[k] = sl
            J[:, sl] = offs[k] + t.codes[:, None] * t.q + np.arange(t.q)[None, :]
            Zr[:, sl] = t.Z
            pos += t.q
        self.J, self.Zrows = J, Zr
        #: the last factorisation: preconditions the conjugate-gradient Newton steps
        #: of the mode finder (large problems) or starts its chord steps
        self.preconditioner = None
        budget = _budget.memory_budget(memory_budget)
        self.memory_budget = budget
        schur = SchurPattern(J, N, (offs[e], offs[e + 1]), terms[e].q)
        sizes = schur.component_sizes
        self.component_sizes = sizes
        big = int(sizes.max()) if len(sizes) else 0
        #: bytes the component factorisation holds at once (estimate)
        self.dense_bytes = schur.factor_bytes()
        if backend == "auto":
            from .sparse_cholesky import have_cholmod

            if max_dense is not None and big > max_dense:
                backend = "sparse"
            elif self.dense_bytes <= budget or not have_cholmod():
                backend = "components"
            else:
                backend = "sparse"
        if backend == "components":
            _budget.check_budget(
                self.dense_bytes, budget,
                f"the Laplace Hessian of these random effects (a dense block of {big:,} "
                f"effects after eliminating the {terms[e].n_effects:,} effects of term "
                f"{terms[e].group!r})")
            self.pattern = schur
            self.backend = "components"
            #: index arrays of the dense factorisation (built on first use)
            self.dense_pattern = None
            #: Newton steps by preconditioned conjugate gradients (a large dense block:
            #: one factorisation per evaluation instead of one per Newton step)
            self.iterative_steps = big >= self.iterative_from
        else:
            from .sparse_cholesky import SparseHessianPattern

            self.pattern = SparseHessianPattern(J, N, method=sparse_method,
                                                memory_budget=budget)
            self.backend = f"sparse-{self.pattern.method}"
            self.iterative_steps = True

    def precondition_with(self, state):
        """Start the next mode search from the factorisation at ``state``'s modes."""
        if (fac := getattr(state, "_fac", None)) is not None:
            self.preconditioner = fac

    # ------------------------------------------------------------ per theta
    #: from this many stored values of ``M`` (rows times ``Q``) on, products with
    #: ``M`` and ``M'`` go through compressed sparse row matrices (built once per
    #: parameter value) instead of a gather and an ``np.bincount``
    csr_from = 4096

    def row_matrix(self, M):
        """
        Products with ``M`` (``M u``) and ``M'`` (``M' x``) for the row-local values
        ``M`` of :meth:`m_rows` (see :class:`RowMatrix`).
        """
        return RowMatrix(self, M)

    def transposed(self):
        """``J`` and the row values of ``Z`` as C-ordered (Q, n) arrays (made once)."""
        got = self.__dict__.get("_transposed")
        if got is None:
            got = (np.ascontiguousarray(self.J.T), np.ascontiguousarray(self.Zrows.T))
            self.__dict__["_transposed"] = got
        return got

    def m_rows(self, Ls):
        """Row-local values of ``M = Z Lambda``: (n, Q), slots as ``J``."""
        M = np.empty_like(self.Zrows)
        for k, L in enumerate(Ls):
            sl = self.slots[k]
            M[:, sl] = self.Zrows[:, sl] @ L
        return M


class RowMatrix:
    """
    ``M`` (n x N) with row-local values ``M[t]`` on the effects ``J[t]``: products
    ``M u`` (:meth:`dot`) and ``M' x`` (:meth:`tdot`).

    Below :attr:`SparseLaplaceProblem.csr_from` values they are a gather and an
    ``np.bincount``; above, sparse row matrices of ``M`` and ``M'`` (the pattern's
    permutation computed once per problem).  ``M' x`` sums each effect's rows in row
    order either way, as ``np.bincount`` does.

    Examples
    --------
    >>> import numpy as np
    >>> from statsmodels_glmm.spec.terms import RandomEffectTerm
    >>> g1, g2 = np.repeat(np.arange(4), 3), np.tile(np.arange(3), 4)
    >>> terms = [RandomEffectTerm.from_arrays(g, v, np.ones((12, 1)))
    ...          for g, v in (("a", g1), ("b", g2))]
    >>> pr = SparseLaplaceProblem(np.zeros(12), np.ones((12, 1)), None, terms)
    >>> rm = pr.row_matrix(pr.m_rows([np.eye(1), np.eye(1)]))
    >>> rm.dot(np.arange(7.0))[:4].tolist(), rm.tdot(np.ones(12)).tolist()
    ([4.0, 5.0, 6.0, 5.0], [3.0, 3.0, 3.0, 3.0, 4.0, 4.0, 4.0])
    """

    __slots__ = ("M", "J", "Jf", "N", "csr", "csr_t", "_pairs")

    def __init__(self, pr, M):
        self.M, self.J, self.Jf, self.N = M, pr.J, pr.J.ravel(), pr.n_effects
        self._pairs = None
        self.csr = self.csr_t = None
        if M.size >= pr.csr_from:
            pat = pr.__dict__.get("_csr_pattern")
            if pat is None:
                n, Q = M.shape
                order = np.argsort(self.Jf, kind="stable")  # by effect, rows in order
                indptr_t = np.searchsorted(self.Jf[order], np.arange(self.N + 1))
                idx = np.int32 if max(n, self.N) < 2 ** 31 - 1 else np.int64
                pat = (self.Jf.astype(idx), np.arange(0, n * Q + 1, Q, dtype=idx),
                       order, (order // Q).astype(idx), indptr_t.astype(idx))
                pr.__dict__["_csr_pattern"] = pat
            cols, indptr, order, cols_t, indptr_t = pat
            vals = M.ravel()
            self.csr = csr_array((vals, cols, indptr), shape=(M.shape[0], self.N), copy=False)
            self.csr_t = csr_array((vals[order], cols_t, indptr_t), shape=(self.N, M.shape[0]),
                                   copy=False)

    def dot(self, u):
        """``M u`` (n,) for a stacked vector ``u`` (N,)."""
        if self.csr is None:
            return np.einsum("tq,tq->t", self.M, u[self.J])
        return self.csr @ u

    def pair_products(self, pat):
        """The row products ``M[:, a] * M[:, b]`` that ``pat.factor`` sums (kept)."""
        if self._pairs is None or self._pairs[0] is not pat:
            self._pairs = (pat, pair_products(self.M, *pat.slot_pairs()))
        return self._pairs[1]

    def tdot(self, x):
        """``M' x`` (N,) for a row vector ``x`` (n,)."""
        if self.csr_t is None:
            return np.bincount(self.Jf, weights=(self.M * x[:, None]).ravel(), minlength=self.N)
        return self.csr_t @ x


class SparseModeState:
    """
    Everything computed at the joint conditional modes for one parameter value.

    Attributes
    ----------
    u : ndarray (N,)
        Stacked spherical modes (layout of :func:`statsmodels_glmm.spec.terms.term_offsets`).
    eta : ndarray (n,)
        Linear predictor at the modes.
    d : tuple of ndarray
        Family derivatives ``d0 .. d3`` at ``eta``.
    h : float
        ``h(u^)``.
    logdet : float
        ``log det H``.
    converged : bool
    iterations : int
    modes : list of ndarray
        Per term, conditional modes of ``b`` as (n_levels, q) arrays (``L_k u``).
    cond_cov : list of ndarray or None
        Per term, conditional covariances of ``b`` per level, (n_levels, q, q):
        diagonal blocks of ``Lambda H^{-1} Lambda'`` (None on the sparse path
        unless asked for).
    s : ndarray (n,) or None
        ``m_t' H^{-1} m_t`` per row.
    backend : str
    """

    __slots__ = ("u", "eta", "d", "h", "logdet", "converged", "iterations", "modes",
                 "cond_cov", "s", "backend", "_fac", "_M", "_Ls")

    @property
    def d1(self):
        """First derivatives at the modes (they let :func:`predicted_modes` start the
        modes of nearby parameters); None when the search failed."""
        d = getattr(self, "d", None)
        return None if d is None or getattr(self, "_fac", None) is None else d[1]

    def __repr__(self):
        return (f"SparseModeState(converged={self.converged}, iterations={self.iterations}, "
                f"h={self.h:.6g}, logdet={self.logdet:.6g})")


def _factor(pr, M, w, rm=None):
    """
    Numeric factorisation with the backend of the problem; None if H is not p.d.
    (or has non-finite entries).  On the component backend a problem with at most
    :attr:`SparseLaplaceProblem.dense_limit` effects is factorised as one dense
    matrix (:class:`~statsmodels_glmm.likelihood.dense_factor.DenseFactor`, same
    interface and values as the component factorisation).  ``rm``, the
    :class:`RowMatrix` of ``M``, keeps the row products of ``M`` that the
    factorisations of one mode search (which differ in ``w`` only) sum.
    """
    if not np.isfinite(w).all():
        return None
    try:
        if pr.backend == "components" and pr.n_effects <= pr.dense_limit:
            if pr.dense_pattern is None:
                pr.dense_pattern = DensePattern(pr.J, pr.n_effects)
            pat = pr.dense_pattern
        elif pr.backend == "components":
            pat = pr.pattern
        else:
            return pr.pattern.factor(M, w)
        return pat.factor(M, w, None if rm is None else rm.pair_products(pat))
    except np.linalg.LinAlgError:
        return None


def solve_sparse_modes(pr, family, beta, Ls, extra, u0=None, tol=1e-10, maxiter=100,
                       chord=0.03):
    """
    Joint conditional modes of all terms by Newton with step-halving.

    Returns ``(u, rm, eta, d, h, factor, converged, iterations)`` where ``rm`` is the
    :class:`RowMatrix` of ``M = Z Lambda`` (its row values ``rm.M``) and ``factor``
    is the factorisation of ``H`` at the modes with the exact weights (None when
    that ``H`` is not positive definite).  When no Newton step can be computed
    (non-finite ``Lambda``, family derivatives or weights, so that not even the
    weights clipped at zero give a positive definite ``H``) the search stops
    with ``factor`` None and ``converged`` False, which
    :func:`sparse_laplace_loglike` reports as ``llf = -inf``.

    On the component backend, where a factorisation costs at least 30 passes
    over the rows (:attr:`SchurPattern.dense_work`), a full Newton step that
    shrank the largest gradient entry by at least the factor ``chord`` is
    followed by steps that reuse its factorisation (chord steps: one solve
    instead of a factorisation) for as long as each ascends and shrinks it by
    that factor again; otherwise ``H`` is factorised afresh.  ``u0`` is None
    (start at zero), an array of starting modes, or the :class:`SparseModeState`
    of nearby parameters (start at :func:`predicted_modes`).  A warm start
    ``u0`` begins with a chord step with the factorisation of the previous
    search (``pr.preconditioner``); when that does not take, the search restarts
    from zero if ``h`` is larger there.  Chord steps stop at a thousandth of
    ``tol``, and the returned ``factor`` is always one of ``H`` at the returned
    modes with their exact weights.  ``chord=0`` factorises at every iterate.
    Where the compiled search applies (:func:`.compiled.sparse_modes`: small, nearly
    nested designs) it takes the place of these steps, from the last modes.

    Examples
    --------
    >>> import numpy as np
    >>> from statsmodels_glmm.spec.terms import RandomEffectTerm
    >>> from statsmodels_glmm.families import Poisson
    >>> g1, g2 = np.repeat(np.arange(4), 3), np.tile(np.arange(3), 4)
    >>> terms = [RandomEffectTerm.from_arrays(g, v, np.ones((12, 1)))
    ...          for g, v in (("a", g1), ("b", g2))]
    >>> y = np.array([0, 1, 2, 1, 0, 3, 2, 2, 1, 0, 0, 4.0])
    >>> pr = SparseLaplaceProblem(y, np.ones((12, 1)), None, terms)
    >>> out = solve_sparse_modes(pr, Poisson(), np.zeros(1), [np.eye(1)] * 2, np.zeros(0))
    >>> out[6]
    True
    """
    y = pr.y
    N = pr.n_effects
    base = pr.X @ beta + pr.offset
    M = pr.m_rows(Ls)
    rm = pr.row_matrix(M)
    # the row kernel where there is one (the same numbers as family.derivs)
    derivs = compiled.row_derivatives(family, y, extra) or \
        (lambda eta: family.derivs(y, eta, extra))

    def evaluate(u):
        eta = base + rm.dot(u)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            d = derivs(eta)  # a trial step may overflow: it is halved
            h = float(d[0].sum() - 0.5 * u @ u)
            grad = rm.tdot(d[1]) - u
        return eta, d, h, grad

    iterative = pr.iterative_steps
    prec = pr.preconditioner if iterative else None
    # chord steps pay where a factorisation costs much more than a pass over the rows
    if (pr.backend != "components" or pr.n_effects <= pr.dense_limit
            or pr.pattern.dense_work < 30 * pr.nobs * pr.Q):
        chord = 0.0

    def hmul(v, w):  # H v = v + M' W M v
        return v + rm.tdot(w * rm.dot(v))

    # the compiled search where there is one (small, nearly nested designs), from the
    # last modes: the same modes to the tolerance, then the factor at them as below
    found = _compiled_modes(pr, family, base, M, u0, tol, maxiter)
    if found is not None and found[1]:
        u = found[0]
        eta, d, h, _ = evaluate(u)
        fac = _factor(pr, M, -d[2], rm) if np.isfinite(h) else None
        if fac is not None:
            pr.preconditioner = fac
            return u, rm, eta, d, h, fac, True, found[2]
    if isinstance(u0, SparseModeState):
        u = predicted_modes(pr, u0, base, rm) if usable_state(pr, u0) else \
            (np.array(u0.u, dtype=float) if getattr(u0, "u", None) is not None else None)
        u0 = u
    else:
        u = None if u0 is None else np.array(u0, dtype=float, copy=True).ravel()
    if u is None:
        u = np.zeros(N)
    if len(u) != N:
        raise ValueError(f"u0 has {len(u)} values; the terms have {N} random effects")
    eta, d, h, grad = evaluate(u)
    if not np.isfinite(h):
        u = np.zeros(N)
        eta, d, h, grad = evaluate(u)
    converged = False
    it = 0
    fac = None
    if not np.all(np.isfinite(M)):
        return u, rm, eta, d, h, None, False, it
    exact = False  # fac is the factorisation at u with the exact weights
    reuse = False  # the next step is a chord step with fac
    if not iterative and u0 is not None and pr.preconditioner is not None:
        fac, reuse = pr.preconditioner, chord > 0  # that of the previous evaluation
    check_zero = reuse
    for it in range(1, maxiter + 1):
        w = -d[2]
        step = None
        gmax = float(np.abs(grad).max())
        if reuse:
            step = fac.solve(grad)
            exact = False
        elif prec is not None and np.all(w >= 0) and np.all(np.isfinite(w)):
            # the Newton step by conjugate gradients preconditioned with an earlier
            # factorisation (None when they do not converge quickly)
            step = _pcg(lambda v: hmul(v, w), grad, prec.solve)
            fac = None
            exact = False
        if step is None:
            if check_zero:  # the warm start did not take (theta moved far): is zero better?
                check_zero = False
                z = evaluate(np.zeros(N))
                if z[2] > h:
                    u = np.zeros(N)
                    eta, d, h, grad = z
                    w = -d[2]
                    gmax = float(np.abs(grad).max())
            fac = _factor(pr, M, w, rm)
            exact = fac is not None
            if fac is None:
                fac = _factor(pr, M, np.maximum(w, 0.0), rm)
            if fac is None:  # non-finite weights: no Newton direction
                return u, rm, eta, d, h, None, False, it
            step = fac.solve(grad)
            if iterative:
                prec = pr.preconditioner = fac
        if not np.isfinite(step).all():
            return u, rm, eta, d, h, None, False, it
        dec = float(step @ grad)
        # chord steps converge linearly: they stop only at a thousandth of the
        # tolerance, about where the last of quadratically converging Newton steps
        # leaves the modes (or else end with a Newton step once they stall)
        lim = tol * 1e-3 if reuse else tol
        if gmax < lim or dec < lim * lim:
            converged = True
            break
        f = 1.0
        new = evaluate(u + step)
        if reuse and not (np.isfinite(new[2]) and new[2] >= h - 1e-12 * (1 + abs(h))):
            reuse = False  # a chord step that does not ascend: factorise afresh at u
            continue
        for _ in range(40):
            if np.isfinite(new[2]) and new[2] >= h - 1e-12 * (1 + abs(h)):
                break
            f *= 0.5
            new = evaluate(u + f * step)
        else:  # no ascent along the Newton direction: at the mode up to rounding?
            converged = dec < 1e-12 * (1.0 + abs(h))
            break
        u = u + f * step
        eta, d, h, grad = new
        # chord steps while full steps shrink the gradient quickly (W changes little)
        reuse = (fac is not None and f == 1.0 and not iterative
                 and float(np.abs(grad).max()) <= chord * gmax)
        check_zero = check_zero and not reuse
    w = -d[2]
    if not converged or not exact or not np.all(w >= 0) or fac is None:
        fac = _factor(pr, M, w, rm)
    if fac is not None:  # preconditions (or starts the chord steps of) the next search
        pr.preconditioner = fac
    return u, rm, eta, d, h, fac, converged, it


def _compiled_modes(pr, family, base, M, u0, tol, maxiter):
    """:func:`.compiled.sparse_modes` from the modes of ``u0`` (zero without them), or
    None (no kernel for the problem, a start of another size, non-finite ``M``)."""
    start = u0.u if isinstance(u0, SparseModeState) else u0
    N = pr.n_effects
    if start is not None and np.size(start) != N:
        return None
    return compiled.sparse_modes(pr, family, base, M, np.zeros(N) if start is None
                                 else np.ravel(start), tol, maxiter)


def _pcg(matvec, b, precond, rtol=1e-11, maxiter=40):
    """
    Preconditioned conjugate gradients for ``H x = b``; None when the relative
    residual does not fall below ``rtol`` within ``maxiter`` iterations.
    """
    bnorm = np.linalg.norm(b)
    if not np.isfinite(bnorm):
        return None
    x = np.zeros_like(b)
    if bnorm == 0.0:
        return x
    r = b.copy()
    z = precond(r)
    p = z.copy()
    rz = r @ z
    for _ in range(maxiter):
        Ap = matvec(p)
        pAp = p @ Ap
        if not pAp > 0:
            return None
        alpha = rz / pAp
        x += alpha * p
        r -= alpha * Ap
        if np.linalg.norm(r) <= rtol * bnorm:
            return x
        z = precond(r)
        rz_new = r @ z
        p = z + (rz_new / rz) * p
        rz = rz_new
    return None


def sparse_laplace_loglike(problem, family, beta, thetas, extra, u0=None, gradient=True,
                           cond_cov=None, per_row=False):
    """
    Laplace log-likelihood (every constant kept) of a model with several
    random-effect terms, and its gradient.

    Parameters
    ----------
    problem : SparseLaplaceProblem
    family : Response
    beta : ndarray (p,)
    thetas : list of ndarray or ndarray
        Per-term Cholesky parameters (``CovStructure`` internal scale), or
        their concatenation in term order.
    extra : ndarray
        Internal family parameters.
    u0 : ndarray (N,) or SparseModeState, optional
        Warm start for the stacked modes: ``state.u`` of a previous call, or that
        state itself (its modes extrapolated to these parameters, see
        :func:`predicted_modes`).
    gradient : bool
    cond_cov : bool or None
        Compute the conditional covariance blocks.  None (default): on the
        component path, where they cost little; on the sparse path they cost
        one solve per random effect and are computed only when True.
    per_row : bool
        Return the gradient as its (n, k) row-wise terms (component path only).
        Their sums over the rows of any set of levels that every random effect
        nests in (the levels of the outermost of nested factors) are the score
        contributions of those levels' independent log-likelihoods.

    Returns
    -------
    llf : float
        ``-inf`` when ``H`` is not positive definite at the modes.
    grad : ndarray or None
        Gradient with respect to ``[beta, theta_1, ..., theta_K, extra]``; analytic
        on the component path, central finite differences on the sparse path.
    state : SparseModeState

    Examples
    --------
    >>> import numpy as np
    >>> from statsmodels_glmm.spec.terms import RandomEffectTerm
    >>> from statsmodels_glmm.families import Binomial
    >>> g1, g2 = np.repeat(np.arange(4), 3), np.tile(np.arange(3), 4)
    >>> terms = [RandomEffectTerm.from_arrays(g, v, np.ones((12, 1)))
    ...          for g, v in (("a", g1), ("b", g2))]
    >>> y = Binomial().validate(np.array([0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1.0]), "y")
    >>> pr = SparseLaplaceProblem(y, np.ones((12, 1)), None, terms)
    >>> llf, grad, st = sparse_laplace_loglike(pr, Binomial(), np.zeros(1),
    ...                                        [np.ones(1), np.ones(1)], np.zeros(0))
    >>> grad.shape, [m.shape for m in st.modes]
    ((3,), [(4, 1), (3, 1)])
    """
    pr = problem
    beta = np.asarray(beta, dtype=float)
    extra = np.asarray(extra, dtype=float)
    ths = split_thetas(pr.terms, thetas)
    Ls = [t.cov.chol(th) for t, th in zip(pr.terms, ths)]
    u, rm, eta, d, h, fac, converged, it = solve_sparse_modes(pr, family, beta, Ls, extra, u0=u0)
    M = rm.M
    st = SparseModeState()
    st.u, st.eta, st.d, st.h = u, eta, d, h
    st.converged, st.iterations, st.backend = converged, it, pr.backend
    st.modes = [u[o:o + t.n_effects].reshape(t.n_levels, t.q) @ L.T
                for t, o, L in zip(pr.terms, pr.term_offsets, Ls)]
    st._M, st._Ls, st._fac = M, Ls, fac
    st.cond_cov = st.s = None
    if fac is None or not np.isfinite(h):
        st.logdet = np.nan
        return -np.inf, None, st
    st.logdet = fac.logdet
    llf = float(h - 0.5 * fac.logdet)
    analytic = hasattr(fac, "row_blocks")  # selected inverse available (component path)
    if cond_cov is None:
        cond_cov = analytic
    grad = None
    if gradient and analytic:
        v = _row_products(fac, M)  # H^{-1} m_t on row t's effects
        st.s = _rowdot(M, v)
        grad = _gradient(pr, family, extra, u, M, eta, d, fac, v, st.s, per_row, rm)
    elif gradient and per_row:
        raise NotImplementedError(
            "row-wise score contributions need the component factorisation; this problem "
            f"uses the {pr.backend} backend")
    elif gradient:
        grad = _fd_gradient(pr, family, beta, ths, extra, u)
    if cond_cov:
        st.cond_cov = [_lambda_blocks(L, fac.diagonal_blocks(o + np.arange(t.n_levels) * t.q, t.q))
                       for t, o, L in zip(pr.terms, pr.term_offsets, Ls)]
    return llf, grad, st


def _lambda_blocks(L, blocks):
    """``L @ blocks[i] @ L'`` for a (levels, q, q) stack (products in that order)."""
    if L.shape == (1, 1):
        return (blocks * L[0, 0]) * L[0, 0]
    return L[None] @ blocks @ L.T[None]


def _row_products(fac, M):
    """
    ``Sigma[J_t, J_t] m_t`` for every row (``Sigma = H^{-1}``), as (n, Q); the
    transpose of a C-ordered (Q, n) array.
    """
    rp = getattr(fac, "row_products", None)
    v = rp(M) if rp is not None else np.einsum("tij,tj->ti", fac.row_blocks(), M)
    return np.ascontiguousarray(v.T).T


def _gradient(pr, family, extra, u, M, eta, d, fac, v, s, per_row=False, rm=None):
    """Analytic gradient (see the module docstring); its row-wise terms with ``per_row``."""
    d0, d1, d2, d3 = d
    rm = pr.row_matrix(M) if rm is None else rm
    JT, ZT = pr.transposed()
    MT = np.ascontiguousarray(M.T)
    vT = np.ascontiguousarray(v.T)
    c = 0.5 * d3 * s
    a = fac.solve(rm.tdot(c))
    aT = a[JT]
    ma = _rowdot(MT.T, aT.T)
    r = d1 + c + d2 * ma
    w = -d2
    # per slot and row: r u + d1 a - w (Sigma m), the factor of z_{tka} in dL
    WT = u[JT] * r
    WT += aT * d1
    WT -= vT * w
    if per_row:
        parts = [pr.X * r[:, None]]
        for k, t in enumerate(pr.terms):
            sl = pr.slots[k]
            parts.append(pr.Zrows[:, sl][:, t.cov.rows] * WT[sl].T[:, t.cov.cols])
        if family.n_extra:
            e0, e1, e2 = family.extra_derivs(pr.y, eta, extra)
            parts.append(e0 + 0.5 * s[:, None] * e2 + ma[:, None] * e1)
        return np.hstack(parts)
    g_beta = r @ pr.X
    parts = [g_beta]
    for k, t in enumerate(pr.terms):
        sl = pr.slots[k]
        dL = ZT[sl] @ WT[sl].T
        parts.append(dL[t.cov.rows, t.cov.cols])
    if family.n_extra:
        e0, e1, e2 = family.extra_derivs(pr.y, eta, extra)
        parts.append(e0.sum(0) + 0.5 * (s @ e2) + ma @ e1)
    return np.concatenate(parts)


def _fd_gradient(pr, family, beta, ths, extra, u, rel=1e-5):
    """
    Central finite-difference gradient of the Laplace log-likelihood, every
    evaluation warm-started at the modes ``u`` (used on the sparse path).
    """
    p = len(beta)
    kt = np.cumsum([0] + [len(t) for t in ths])
    x0 = np.concatenate([beta] + list(ths) + [extra])
    g = np.empty(len(x0))

    def f(x):
        th = [x[p + kt[i]:p + kt[i + 1]] for i in range(len(ths))]
        return sparse_laplace_loglike(pr, family, x[:p], th, x[p + kt[-1]:], u0=u,
                                      gradient=False, cond_cov=False)[0]

    for j in range(len(x0)):
        h = rel * max(1.0, abs(x0[j]))
        e = np.zeros(len(x0))
        e[j] = h
        g[j] = (f(x0 + e) - f(x0 - e)) / (2 * h)
    return g
