"""
Groups of a design: per-group sums, per-group values on the rows, and chunks
of groups.

Rows are sorted by group, so group ``i`` owns a contiguous run of rows
starting at ``starts[i]``, and ``gid`` gives every row its group code.  The
per-group quantities of every integrator are sums over a group's rows,

.. math:: S_i = \\sum_{t \\in i} a_t ,

computed by :func:`seg_sum` (``np.add.reduceat`` over the segments) or by
:func:`group_sum` and :func:`group_sums` (``np.bincount`` on the group
codes); per-group values go back to the rows by :func:`expand`.  The rows of
``M = Z L``, ``m_t = L' z_t``, are kept as separate contiguous columns
(:func:`_zl_columns`), so that ``m_t' v_i`` is a short sum of column times
repeated group values (:func:`_expand_dot`).

A :class:`ChunkPlan` cuts the groups into contiguous chunks of about
:data:`.parallel.CHUNK_ROWS` rows; each chunk holds views of the design's
arrays and its own group codes, so per-chunk work runs on data that fits the
processor cache and chunks can run on several threads.  :func:`chunk_plan`
builds the plan of a design once and caches it.
"""

import copy
import weakref

import numpy as np

from . import parallel

__all__ = ["seg_sum", "group_sum", "group_sums", "expand", "make_chunk", "ChunkPlan",
           "chunk_plan"]


def seg_sum(a, starts):
    """
    Sum rows of ``a`` within each group segment (rows sorted by group).

    >>> seg_sum(np.arange(5.0), np.array([0, 2]))
    array([1., 9.])
    """
    return np.add.reduceat(a, starts, axis=0)


def group_sum(v, design):
    """
    Sum a 1-d row array within each group (``np.bincount``: faster than reduceat).

    >>> from types import SimpleNamespace
    >>> d = SimpleNamespace(gid=np.array([0, 0, 1]), n_groups=2)
    >>> group_sum(np.array([1.0, 2.0, 5.0]), d)
    array([3., 5.])
    """
    return np.bincount(design.gid, weights=v, minlength=design.n_groups)


def group_sums(cols, design):
    """
    Per-group sums of several 1-d row arrays, as a (G, len(cols)) array.

    >>> from types import SimpleNamespace
    >>> d = SimpleNamespace(gid=np.array([0, 0, 1]), n_groups=2)
    >>> group_sums([np.ones(3), np.arange(3.0)], d)
    array([[2., 1.],
           [1., 2.]])
    """
    out = np.empty((design.n_groups, len(cols)))
    for j, v in enumerate(cols):
        out[:, j] = np.bincount(design.gid, weights=v, minlength=design.n_groups)
    return out


def _columns(A):
    """Contiguous copies of the columns of an (n, q) array."""
    return [np.ascontiguousarray(A[:, j]) for j in range(A.shape[1])]


def _zl_columns(Zc, L):
    """
    Columns of ``Z L`` from the contiguous columns ``Zc`` of ``Z`` (faster than a
    BLAS product on a skinny matrix; zero entries of ``L`` are skipped).

    >>> _zl_columns([np.ones(2), np.array([1.0, 2.0])], np.array([[1.0, 0.0], [0.5, 2.0]]))
    [array([1.5, 2. ]), array([2., 4.])]
    """
    out = []
    for a in range(L.shape[1]):
        col = None
        for b, z in enumerate(Zc):
            v = L[b, a]
            if v == 0.0:
                continue
            col = z * v if col is None else col + z * v
        out.append(np.zeros(len(Zc[0])) if col is None else col)
    return out


def _expand_dot(cols, v, design):
    """Row-wise ``m_t' v_i`` for per-group vectors v (G, q), with m_t given by columns."""
    sizes = design.group_sizes
    out = cols[0] * np.repeat(v[:, 0], sizes)
    for j in range(1, len(cols)):
        out += cols[j] * np.repeat(v[:, j], sizes)
    return out


def expand(a, design):
    """
    Repeat per-group rows of ``a`` to the (sorted) observations: ``a[gid]``, faster.

    >>> from types import SimpleNamespace
    >>> expand(np.array([10.0, 20.0]), SimpleNamespace(group_sizes=np.array([2, 1])))
    array([10., 10., 20.])
    """
    return np.repeat(a, design.group_sizes, axis=0)


class _Chunk:
    """Rows ``r0:r1`` and groups ``g0:g1`` of a design, with local group codes."""

    __slots__ = ("g0", "g1", "r0", "r1", "gid", "sizes", "starts", "y", "X", "Z", "Zc",
                 "offset", "_x_by_group")

    @property
    def n_groups(self):
        return self.g1 - self.g0

    @property
    def nobs(self):
        return self.r1 - self.r0

    @property
    def group_sizes(self):
        return self.sizes

    def x_by_group(self):
        """
        The sparse (p G) x n matrix whose row ``(k, i)`` holds ``X[t, k]`` at the rows
        ``t`` of group ``i`` (built on first use): times a row array ``W`` it gives
        every per-group sum ``sum_t X[t, k] W[t, j]`` at once.

        >>> from types import SimpleNamespace
        >>> d = SimpleNamespace(starts=np.array([0, 2]), nobs=3, group_sizes=np.array([2, 1]),
        ...                     y=np.zeros(3), X=np.arange(6.0).reshape(3, 2), Z=np.ones((3, 1)),
        ...                     offset=np.zeros(3))
        >>> (make_chunk(d, 0, 2).x_by_group() @ np.ones(3)).tolist()
        [2.0, 4.0, 4.0, 5.0]
        """
        got = getattr(self, "_x_by_group", None)
        if got is None:
            from scipy import sparse

            n, p = self.X.shape
            indptr = (np.arange(p)[:, None] * n + self.starts[None, :]).ravel()
            indptr = np.append(indptr, n * p)
            indices = np.tile(np.arange(n, dtype=np.int32), p)
            got = self._x_by_group = sparse.csr_matrix(
                (self.X.T.ravel(), indices, indptr), shape=(p * self.n_groups, n))
        return got


def make_chunk(design, g0, g1):
    """
    The groups ``g0:g1`` of a design as a chunk (views of its arrays, local codes).

    >>> from types import SimpleNamespace
    >>> d = SimpleNamespace(starts=np.array([0, 2, 3]), nobs=5,
    ...                     group_sizes=np.array([2, 1, 2]), y=np.arange(5.0),
    ...                     X=np.ones((5, 1)), Z=np.ones((5, 1)), offset=np.zeros(5))
    >>> c = make_chunk(d, 1, 3)
    >>> c.r0, c.r1, c.gid.tolist(), c.y.tolist()
    (2, 5, [0, 1, 1], [2.0, 3.0, 4.0])
    """
    ends = design.starts
    nobs = design.nobs
    c = _Chunk()
    c.g0, c.g1 = int(g0), int(g1)
    c.r0 = int(ends[g0]) if g0 < len(ends) else nobs
    c.r1 = int(ends[g1]) if g1 < len(ends) else nobs
    c.sizes = design.group_sizes[g0:g1]
    c.gid = np.repeat(np.arange(g1 - g0, dtype=np.intp), c.sizes)
    c.starts = design.starts[g0:g1] - c.r0
    c.y = design.y[c.r0:c.r1]
    c.X = design.X[c.r0:c.r1]
    c.Z = design.Z[c.r0:c.r1]
    c.Zc = _columns(c.Z)  # views when Z has one column
    c.offset = design.offset[c.r0:c.r1]
    return c


class ChunkPlan:
    """
    The groups of a design cut into contiguous chunks (see :mod:`.parallel`).

    Built once per design and reused: every chunk keeps views of ``y``, ``X``,
    ``Z`` and ``offset`` (no copies) and its own group codes; families get one
    shallow copy per chunk, so that what a family caches for its response
    array (``log y!``, binomial coefficients) is cached per chunk.

    Examples
    --------
    >>> from statsmodels_glmm.simulate import simulate_longitudinal
    >>> from statsmodels_glmm.model import MixedGLM
    >>> import statsmodels.api as sm
    >>> df = simulate_longitudinal(n_persons=30, seed=1)
    >>> m = MixedGLM.from_formula("y ~ time + (1 | id)", df, family=sm.families.Binomial())
    >>> plan = chunk_plan(m.design, rows=40)
    >>> sum(c.n_groups for c in plan.chunks), sum(c.nobs for c in plan.chunks) == m.nobs
    (30, True)
    """

    def __init__(self, design, rows=None):
        bounds = parallel.chunk_bounds(design.starts, design.nobs, rows)
        self.chunks = [make_chunk(design, g0, g1) for g0, g1 in zip(bounds[:-1], bounds[1:])]
        self._families = {}

    def families(self, family):
        """One shallow copy of ``family`` per chunk (cached)."""
        hit = self._families.get(id(family))
        if hit is not None and hit[0] is family:
            return hit[1]
        copies = [_family_copy(family) for _ in self.chunks]
        if len(self._families) > 4:
            self._families.clear()
        self._families[id(family)] = (family, copies)
        return copies


def _family_copy(family):
    """A shallow copy of a family (and of families it wraps): separate caches."""
    out = copy.copy(family)
    for k, v in list(vars(out).items()):
        if hasattr(v, "derivs") and hasattr(v, "extra_names"):
            setattr(out, k, _family_copy(v))
    return out


_PLANS = {}


def chunk_plan(design, rows=None):
    """
    The :class:`ChunkPlan` of a design (built on first use, then cached).

    The plan is rebuilt when the design's arrays are replaced.
    """
    key = id(design)
    rows = int(parallel.CHUNK_ROWS if rows is None else rows)
    sig = (id(design.y), id(design.X), id(design.Z), id(design.offset), design.nobs,
           design.n_groups, rows)
    hit = _PLANS.get(key)
    if hit is not None and hit[0]() is design and hit[1] == sig:
        return hit[2]
    plan = ChunkPlan(design, rows)
    for k in [k for k, v in _PLANS.items() if v[0]() is None]:
        del _PLANS[k]
    try:
        ref = weakref.ref(design)
    except TypeError:  # an object without weak references: keep it alive with the plan
        def ref(d=design):
            return d
    _PLANS[key] = (ref, sig, plan)
    return plan
