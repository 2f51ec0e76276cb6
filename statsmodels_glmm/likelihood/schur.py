"""
Exact factorisation of the Laplace Hessian by eliminating one factor, then
dense blocks: the default backend of :mod:`statsmodels_glmm.likelihood.sparse_laplace`.

Order the random effects as ``[e, R]``, ``e`` those of one term (the one with
most effects).  Each row belongs to exactly one level of that term, so
``A = H_ee`` is block diagonal with ``q_e x q_e`` blocks and

.. math::

    H = \\begin{pmatrix} A & B \\\\ B' & C \\end{pmatrix}, \\qquad
    S = C - B' A^{-1} B, \\qquad \\log\\det H = \\log\\det A + \\log\\det S,

    H^{-1} = \\begin{pmatrix} A^{-1} + F S^{-1} F' & -F S^{-1} \\\\
             -S^{-1} F' & S^{-1} \\end{pmatrix}, \\qquad F = A^{-1} B .

The pattern of ``S`` is split once into connected components; each is
factorised densely, components of one size in one batched call (crossed
factors: one block the size of the smaller factors; ``(1 | a/b)``: one block per
level of ``a``).  A remainder of at most :attr:`SchurPattern.merge_below`
effects is one dense block whatever its components (one LAPACK call costs less
than many small ones).  Everything index-related (patterns of ``B``, ``C`` and
``B'F``, where each contribution lands) is computed once in
:class:`SchurPattern`; ``B'F`` is a sum over the pairs of entries of ``B`` in one
level of the eliminated factor, kept as an index when there are at most
:attr:`SchurPattern.pair_limit` of them, so a numeric factorisation is one pass
over the rows (the products ``w_t M_ta M_tb`` summed into ``A``, ``B`` and ``C`` at
once), one ``np.bincount`` for ``B'F`` and the dense block factorisations (a
dense or a sparse product otherwise).  When ``S`` is one dense block and ``B`` is
dense enough (crossed factors such as persons x items), ``B'F`` is a dense product
instead; with one effect per level it is ``G'G``, ``G = A^{-1/2} B``, subtracted
from ``S`` by one symmetric rank-k update (``dsyrk``) in place, in the triangle
that the Cholesky factorisation reads; where ``B``'s pairs of entries within a level
are far fewer than that update's multiply-adds (each level meets a small share of the
other factor's levels: :attr:`SchurPattern.by_pattern`), the compiled kernel
subtracts those pairs' products alone (:mod:`.compiled_schur`; with several effects per
eliminated level, the product ``B'F`` too), and solves gather ``B``'s entries instead
of multiplying by ``F`` densely.  The pieces of
``H^{-1}`` that the rows read are in :mod:`.schur_inverse`.

Large blocks (thousands of effects, e.g. two crossed factors with thousands of
levels each) are factorised in place by LAPACK's ``potrf`` with all BLAS
threads allowed (:data:`THREADED_BLOCK`); their inverse, needed for the
gradient, is computed in place by ``potri`` in one triangle and read
symmetrically, so a factorisation holds about two copies of the block.

A component of at least :attr:`SchurPattern.fill_from` effects whose graph is
sparse (random crossed pairs: two levels of one factor linked through a few
shared levels of the other) is not one dense block: its low-degree effects are
eliminated first by a sparse minimum-degree elimination and only the rest,
where the fill has made ``S`` nearly dense, is factorised by ``potrf``
(:class:`~statsmodels_glmm.likelihood.schur_fill.FillSplit`; used when that
dense rest keeps at most :attr:`SchurPattern.fill_keep` of the effects).  The
gradient reads ``S^{-1}`` from the selected inverse on the pattern of that
factor, which contains the pattern of ``S``.
"""

import contextlib

import numpy as np
from scipy.linalg import blas, lapack
from scipy.sparse import coo_matrix, csr_array, csr_matrix
from scipy.sparse.csgraph import connected_components

from . import compiled_schur
from .batched import _is_pd, _logdet, batched_inv, matvec
from .dense_factor import pair_products
from .schur_fill import FillSplit, _index_dtype
from .schur_inverse import SchurInverse
from .schur_pairs import pair_chunks, pair_index

__all__ = ["SchurPattern", "SchurFactor"]


class SchurPattern:
    """
    Symbolic analysis of ``H = I + M' W M`` for elimination of one term.

    Parameters
    ----------
    J : ndarray of int (n, Q)
        Stacked indices of every row's random effects; the first ``q_e``
        columns belong to the eliminated term.
    N : int
        Number of random effects.
    e_range : (int, int)
        The eliminated term's slice of the stacked vector.
    qe : int
        Its number of effects per level.

    Attributes
    ----------
    component_sizes : ndarray
        Sizes of the connected components of ``S`` (a remainder of at most
        :attr:`merge_below` effects is nevertheless factorised as one block).
    splits : list of tuple
        ``(FillSplit, buffer offset, members, component)`` for each component whose
        low-degree effects are eliminated sparsely before its dense block.
    dense_work : float
        Multiply-adds of a numeric factorisation beyond its passes over the rows
        (the product ``B'F`` and the dense Cholesky factorisations).

    Examples
    --------
    >>> import numpy as np
    >>> subj, item = np.repeat(np.arange(3), 2), np.tile(np.arange(2), 3)
    >>> J = np.c_[subj, 3 + item]
    >>> pat = SchurPattern(J, 5, (0, 3), 1)
    >>> pat.component_sizes.tolist()
    [2]
    >>> f = pat.factor(np.ones((6, 2)), np.ones(6))
    >>> M = np.zeros((6, 5)); M[np.arange(6), subj] = 1; M[np.arange(6), 3 + item] = 1
    >>> bool(np.isclose(f.logdet, np.linalg.slogdet(np.eye(5) + M.T @ M)[1]))
    True
    """

    #: a remainder of at most this many effects is factorised as one dense block
    #: (one LAPACK call beats many small batched ones)
    merge_below = 192
    #: largest number of (entry, entry) pairs of ``B`` within a level kept as an index
    #: (``B'F`` and the selected inverse are then plain ``np.bincount`` calls)
    pair_limit = 4_000_000
    #: a component of at least this many effects whose graph has at most
    #: ``fill_density * size**2`` entries is analysed for a sparse elimination of its
    #: low-degree effects (:class:`~statsmodels_glmm.likelihood.schur_fill.FillSplit`)
    fill_from = 1000
    fill_density = 0.05
    #: degree fraction of that minimum-degree elimination (see ``FillSplit``)
    fill_fraction = 0.05
    #: the split is used when its dense block keeps at most this share of the effects
    fill_keep = 0.8
    #: largest ``F = A^{-1} B`` (levels * q_e * remainder effects) that solves hold densely
    dense_F_up_to = 65536
    #: a dense ``B'F`` goes through the compiled kernels on ``B``'s pattern when its pairs
    #: of entries within a level, times this, are fewer than ``levels * r * r``
    by_pattern_work = 16
    #: ... and ``levels * r * r`` is at least this (below, the dense products cost less
    #: than loading the kernels once)
    by_pattern_from = 4_000_000
    #: ... and beyond that size where ``B`` has entries in at least this share of it
    dense_F_fill = 0.12
    #: the index of pairs (``has_pairs``) is summed by the compiled kernels from this
    #: many pairs times ``q_e ** 2`` on (the same sums in the same order as
    #: ``np.bincount``'s, see :func:`.compiled_schur.pair_update`; below, they save less
    #: in a fit than loading them costs once),
    #: or from ``pair_kernels_imported`` when numba is imported already (loading them
    #: then costs far less)
    pair_kernels_from, pair_kernels_imported = 1_000_000, 50_000
    #: entries of the index of pairs (and of other long indexes) computed at once
    index_chunk = 2 ** 18
    #: from this many row products on, and up to this many sums (beyond, the sums no
    #: longer stay in the processor cache and ``np.bincount`` is faster), a
    #: factorisation's pass over the rows goes through a sparse matrix of ones
    sum_matrix_from, sum_matrix_bins = 4096, 65536

    def __init__(self, J, N, e_range, qe):
        n = J.shape[0]
        self.J = J
        self.N = N
        self.nobs = n
        self.Q = J.shape[1]
        e0, e1 = self.e_range = (int(e_range[0]), int(e_range[1]))
        self.qe = int(qe)
        self.le = (e1 - e0) // self.qe
        self.codes_e = (J[:, 0] - e0) // self.qe
        rmask = np.ones(N, dtype=bool)
        rmask[e0:e1] = False
        self.rem_index = np.flatnonzero(rmask)  # remainder position -> global index
        self.r = len(self.rem_index)
        rmap = np.full(N, -1, dtype=np.intp)
        rmap[self.rem_index] = np.arange(self.r)
        self.rmap = rmap
        self._analyse_schur(rmap, n)

    def _analyse_schur(self, rmap, n):
        """Patterns of B, of the pairs in B'A^{-1}B and the components of S (once)."""
        qe, r = self.qe, self.r
        JR = rmap[self.J[:, qe:]]  # (n, QR) remainder indices of each row
        self.JR = JR
        QR = JR.shape[1]
        if r == 0:
            self.component_sizes = np.zeros(0, dtype=np.intp)
            self.nB = 0
            self.pB_level = self.pB_col = np.zeros(0, dtype=np.intp)
            self.pB_of_row = np.zeros((n, 0), dtype=np.intp)
            self.d_pairs = np.zeros(0, dtype=np.intp)
            self.__dict__["_pair_index"] = (self.d_pairs, self.d_pairs)
            self.single = self.has_pairs = self.dense_BtF = self.B_full = self.dense_F = False
            self.by_pattern = self.pair_kernels = False
            self.d_C = np.zeros((n, 0, 0), dtype=np.intp)
            self.d_I = np.zeros(0, dtype=np.intp)
            self.buckets = []
            self.splits = []
            self.buf_size = 0
            self.comp = np.zeros(0, dtype=np.intp)
            self.local = np.zeros(0, dtype=np.intp)
            self.bufoff = np.zeros(0, dtype=np.intp)
            self.comp_size = np.zeros(0, dtype=np.intp)
            self.dense_work = 0.0
            return
        key = self.codes_e[:, None].astype(np.int64) * r + JR
        ukeys, inv = np.unique(key.ravel(), return_inverse=True)
        self.pB_level = (ukeys // r).astype(np.intp)
        self.pB_col = (ukeys % r).astype(np.intp)
        self.pB_of_row = inv.reshape(n, QR).astype(np.intp)
        nB = len(ukeys)
        self.nB = nB
        cnt = np.bincount(self.pB_level, minlength=self.le)
        first = np.concatenate([[0], np.cumsum(cnt)[:-1]])
        # B (and F = A^{-1} B) as CSR matrices with rows (level, column of the term):
        # the value of entry p, column a sits at position first*qe + a*count + rank
        qe = self.qe
        rank = np.arange(nB) - first[self.pB_level]
        self.B_pos = (first[self.pB_level] * qe)[:, None] + np.arange(qe)[None, :] * \
            cnt[self.pB_level][:, None] + rank[:, None]
        self.B_indices = np.empty(nB * qe, dtype=np.int32)
        self.B_indices[self.B_pos] = self.pB_col[:, None]
        rows = np.repeat(np.arange(self.le * qe), np.repeat(cnt, qe))
        self.B_indptr = np.searchsorted(rows, np.arange(self.le * qe + 1)).astype(np.int32)
        # connected components of the pattern of S = C - B'A^{-1}B
        Bs = self._csr(np.ones((nB, qe)))
        BtF = (Bs.T @ Bs).tocsr()  # the pattern of B'F
        BtB = BtF.tocoo()
        ci = np.concatenate([np.repeat(JR, QR, axis=1).ravel(), BtB.row])
        cj = np.concatenate([np.tile(JR, (1, QR)).ravel(), BtB.col])
        graph = coo_matrix((np.ones(len(ci), dtype=np.int8), (ci, cj)), shape=(r, r)).tocsr()
        ncomp, comp = connected_components(graph, directed=False)
        self.component_sizes = np.bincount(comp, minlength=ncomp)
        if 1 < ncomp and r <= self.merge_below:
            ncomp, comp = 1, np.zeros(r, dtype=np.int32)
        comp_size = np.bincount(comp, minlength=ncomp)
        order = np.argsort(comp, kind="stable")
        cstart = np.concatenate([[0], np.cumsum(comp_size)[:-1]])
        local = np.empty(r, dtype=np.intp)
        local[order] = np.arange(r) - cstart[comp[order]]
        self.comp, self.local, self.comp_size = comp, local, comp_size
        self.single = ncomp == 1
        # one dense component with a dense-enough B (crossed factors such as persons x
        # items): B'F as a dense product is cheaper than the sparse one
        self.dense_BtF = bool(self.single and self.le * qe * r <= 4_000_000
                              and nB >= 0.05 * self.le * r)
        per = cnt[self.pB_level]
        total = int(per.sum())
        self.has_pairs = (not self.single) or (not self.dense_BtF and total <= self.pair_limit)
        work = total * qe * qe
        self.pair_kernels = bool(self.has_pairs and (
            work >= self.pair_kernels_from
            or (work >= self.pair_kernels_imported and compiled_schur.numba_imported())))
        # B'A^{-1}B and the rows' pieces of H^{-1} level by level on B's pattern (the
        # compiled kernels) where its pairs of entries within a level are far fewer than
        # the multiply-adds of the dense products
        self.level_first, self.level_count = first.astype(np.intp), cnt.astype(np.intp)
        dense_work = self.le * r * r
        self.by_pattern = bool(self.dense_BtF and dense_work >= self.by_pattern_from
                               and self.by_pattern_work * total < dense_work)
        # large components with a sparse graph: low-degree effects eliminated sparsely
        split = np.zeros(ncomp, dtype=bool)
        fills = []
        if self.has_pairs:
            g1 = graph.copy()
            g1.data = np.ones(len(g1.data), dtype=np.int8)
            for c in np.flatnonzero(comp_size >= self.fill_from):
                s = int(comp_size[c])
                mem = order[cstart[c]:cstart[c] + s]  # local order
                sub = g1[mem][:, mem]
                if sub.nnz > self.fill_density * s * s:
                    continue
                fill = FillSplit(sub, degree_fraction=self.fill_fraction)
                if fill.n_dense <= self.fill_keep * s:
                    split[c] = True
                    fills.append((fill, mem, int(c)))
        # buckets of equal-size components, each stored as (n_s, s, s) in one buffer,
        # then the split components in the layout of FillSplit
        bufoff = np.zeros(ncomp, dtype=np.int64)
        buckets = []
        off = 0
        for s in np.unique(comp_size[~split]):
            cs = np.flatnonzero((comp_size == s) & ~split)
            bufoff[cs] = off + np.arange(len(cs)) * s * s
            members = np.empty((len(cs), s), dtype=np.intp)
            rank = np.empty(ncomp, dtype=np.intp)
            rank[cs] = np.arange(len(cs))
            idx = np.flatnonzero((comp_size[comp] == s) & ~split[comp])
            members[rank[comp[idx]], local[idx]] = idx
            buckets.append((int(s), int(off), members))
            off += len(cs) * s * s
        self.splits = []
        for fill, mem, c in fills:
            bufoff[c] = off
            self.splits.append((fill, int(off), mem, c))
            off += fill.buf_size
        self.buckets = buckets
        self.buf_size = int(off)
        self.bufoff = bufoff
        self.d_C = self._dest(np.repeat(JR[:, :, None], QR, 2), np.repeat(JR[:, None, :], QR, 1))
        self.r_C = self._dest(np.repeat(JR[:, :, None], QR, 2), np.repeat(JR[:, None, :], QR, 1),
                              read=True) if self.splits else self.d_C
        self.d_I = self._dest(np.arange(r), np.arange(r))
        if self.has_pairs:
            # the places in the buffer of the pairs (p, p') of B entries in the same
            # level of the eliminated factor, in chunks (bounded 64-bit temporaries)
            self.d_pairs = np.empty(total, dtype=_index_dtype(self.buf_size))
            self.r_pairs = (np.empty(total, dtype=_index_dtype(self.buf_size)) if self.splits
                            else self.d_pairs)
            for a, p, pp in pair_chunks(self.level_first, self.level_count, self.pB_level,
                                        self.index_chunk):
                b = a + len(p)
                ci, cj = self.pB_col[p], self.pB_col[pp]
                self.d_pairs[a:b] = self._dest(ci, cj)
                if self.splits:
                    self.r_pairs[a:b] = self._dest(ci, cj, read=True)
        self.B_full = False
        # solves multiply by F = A^{-1} B as a dense array when it is small, or when B
        # fills enough of that layout for a pass over it to beat gathers of its entries
        self.dense_F = bool(self.le * qe * r <= self.dense_F_up_to
                            or (self.dense_BtF and nB >= self.dense_F_fill * self.le * r))
        # positions of B's entries in its dense (levels * q_e) x r layout
        self.B_flat = ((self.pB_level[:, None] * qe + np.arange(qe)[None, :]) * r
                       + self.pB_col[:, None])
        if self.dense_F:
            # every (level, remainder effect) pair present: B in its dense layout
            self.B_full = bool(qe == 1 and nB == self.le * r
                               and np.array_equal(self.B_flat[:, 0], np.arange(nB)))
        if self.dense_BtF:
            ii, jj = np.meshgrid(np.arange(r), np.arange(r), indexing="ij")
            self.d_all = self._dest(ii.ravel(), jj.ravel())
        # multiply-adds of one numeric factorisation beyond its passes over the rows:
        # the product B'F and the dense Cholesky factorisations
        self.dense_work = float(
            (self.le * qe * r * r if self.dense_BtF else total * qe)
            + sum(len(m) * s ** 3 / 3 for s, _, m in buckets)
            + sum(fill.n_dense ** 3 / 3 for fill, *_ in self.splits))
        # pattern of B'F (fixed): its entries' positions in the buffer, found once
        BtF.sort_indices()
        self.BtF_nnz = BtF.nnz
        coo = BtF.tocoo()
        self.d_BtF = self._dest(coo.row, coo.col)

    @property
    def pair_p(self):
        """
        The first entry ``p`` of each pair of B entries in one level of the eliminated
        factor (see :mod:`.schur_pairs`; :attr:`d_pairs` gives each pair's place in
        the buffer of ``S``), made on first use: the compiled kernels do without it.
        """
        return self._pairs()[0]

    @property
    def pair_pp(self):
        """The second entry ``p'`` of each pair (see :attr:`pair_p`)."""
        return self._pairs()[1]

    def _pairs(self):
        got = self.__dict__.get("_pair_index")
        if got is None:
            got = pair_index(self.level_first, self.level_count, self.pB_level,
                             self.index_chunk)
            self.__dict__["_pair_index"] = got
        return got

    def row_scatter(self):
        """
        ``(slot_a, slot_b, index, off_B, off_S, total)`` (made once): the products
        ``w_t M[t, slot_a] M[t, slot_b]`` (all rows of one slot pair, then the next)
        summed at ``index`` give ``A`` (levels x q_e x q_e, upper triangle), then ``B``
        (nB x q_e) from ``off_B`` and the buffer of ``S`` from ``off_S``.  Each entry is
        reached from one slot pair only, so its rows are added in row order.
        """
        got = self.__dict__.get("_row_scatter")
        if got is None:
            qe, QR, off_B = self.qe, self.Q - self.qe, self.le * self.qe * self.qe
            off_S = off_B + self.nB * qe
            pairs = ([(a, b, self.codes_e * (qe * qe) + (a * qe + b))
                      for a in range(qe) for b in range(a, qe)]
                     + [(qe + j, a, off_B + self.pB_of_row[:, j] * qe + a)
                        for a in range(qe) for j in range(QR)]
                     + [(qe + i, qe + j, off_S + self.d_C[:, i, j].astype(np.intp))
                        for i in range(QR) for j in range(QR)])
            sa, sb, idx = zip(*pairs)
            got = (np.array(sa, dtype=np.intp), np.array(sb, dtype=np.intp),
                   np.concatenate(idx).astype(np.intp), off_B, off_S, off_S + self.buf_size)
            self.__dict__["_row_scatter"] = got
        return got

    def row_sum(self, vals, index, total):
        """
        ``np.bincount(index, weights=vals, minlength=total)`` for the index of
        :meth:`row_scatter`, by a sparse matrix of ones once that pays (each bin's
        entries in their order: the sums of ``np.bincount``).
        """
        if not (len(index) >= self.sum_matrix_from and total <= self.sum_matrix_bins):
            return np.bincount(index, weights=vals, minlength=total)
        agg = self.__dict__.get("_row_sum")
        if agg is None:
            order = np.argsort(index, kind="stable")
            idx = np.int32 if len(index) < 2 ** 31 - 1 else np.int64
            indptr = np.searchsorted(index[order], np.arange(total + 1)).astype(idx)
            agg = csr_array((np.ones(len(index)), order.astype(idx), indptr),
                            shape=(total, len(index)))
            self.__dict__["_row_sum"] = agg
        return agg @ vals

    def rows_transposed(self):
        """``pB_of_row`` as (QR, n) and ``r_C`` as (QR, QR, n), C-ordered (made once)."""
        if "_rows_T" not in self.__dict__:
            self._rows_T = (np.ascontiguousarray(self.pB_of_row.T),
                            np.ascontiguousarray(self.r_C.transpose(1, 2, 0)) if self.r else None)
        return self._rows_T

    def read_index(self, d):
        """Positions ``d`` of the buffer of ``S`` moved into the upper triangle of the
        blocks above :attr:`SchurFactor.small` (see :meth:`SchurFactor._read`)."""
        cache = self.__dict__.setdefault("_read_index", {})
        got = cache.get(id(d))
        if got is not None and got[0] is d:  # (the cache holds d: its id is not reused)
            return got[1]
        # positions stay below the buffer's size: 32-bit where it allows (half the memory)
        out = np.array(d, dtype=_index_dtype(self.buf_size), copy=True)
        flat = out.reshape(-1)
        big = [(s, off, members.shape[0]) for s, off, members in self.buckets
               if s > SchurFactor.small]
        for a in range(0, len(flat) if big else 0, self.index_chunk):
            o = flat[a:a + self.index_chunk]  # (a view: in chunks, bounded temporaries)
            for s, off, count in big:
                m = (o >= off) & (o < off + count * s * s)
                blk, rem = np.divmod(o[m] - off, s * s)
                i, j = np.divmod(rem, s)
                o[m] = off + blk * s * s + np.minimum(i, j) * s + np.maximum(i, j)
        if len(cache) < 32:
            cache[id(d)] = (d, out)
        return out

    def read_positions(self, d):
        """Positions ``d`` of the buffer of ``S`` moved to where ``S^{-1}`` is always
        found: :meth:`read_index` where a block is above
        :attr:`SchurFactor.symmetric_up_to` (its inverse keeps one triangle), ``d`` itself
        otherwise (see :meth:`SchurFactor._read`)."""
        one_triangle = self.__dict__.get("_one_triangle")
        if one_triangle is None:
            one_triangle = any(s > SchurFactor.symmetric_up_to for s, _, _ in self.buckets)
            self.__dict__["_one_triangle"] = one_triangle
        return self.read_index(d) if one_triangle else d

    def diagonal_dest(self, starts, q):
        """Buffer positions of the diagonal blocks of S for effects ``starts + (0..q-1)``."""
        starts = np.asarray(starts)
        cache = self.__dict__.setdefault("_diagonal_dest", {})
        key = (starts.tobytes(), q)
        if key not in cache:
            ri = self.rmap[starts[:, None] + np.arange(q)]
            i, j = np.repeat(ri[:, :, None], q, 2), np.repeat(ri[:, None, :], q, 1)
            got = self._dest(i, j, read=bool(self.splits))
            if len(cache) >= 16:
                return got
            cache[key] = got
        return cache[key]

    def factor_bytes(self):
        """
        Bytes a numeric factorisation holds at once (estimate): the buffer of
        ``S``, its inverse, one Cholesky factor and a working copy of the largest
        block, plus the row-wise arrays.
        """
        sizes = [s for s, _, _ in self.buckets]
        big = max(sizes) if sizes else 0
        # (and the one-pass index, the kept row products and their weighted copy:
        # at most Q^2 slot pairs each)
        per_row = self.nobs * (self.Q * (self.Q + 4) + 3 * self.Q ** 2) * 8
        # S (holding the Cholesky factors), S^{-1}, the same two of the factorisation
        # kept to precondition the next one, and one temporary of the largest block
        dense = sum(len(m) * s * s for s, _, m in self.buckets)
        split = sum(f.factor_bytes() for f, *_ in self.splits)
        return int(8 * (4 * dense + big * big) + 2 * split + per_row + 16 * self.nB * self.qe)

    def _csr(self, V):
        """The (levels * q_e) x r CSR matrix with values V (nB, q_e) on the pattern of B."""
        data = np.empty(self.nB * self.qe)
        data[self.B_pos] = V
        return csr_matrix((data, self.B_indices, self.B_indptr),
                          shape=(self.le * self.qe, self.r))

    def _dest(self, i, j, read=False):
        """
        Position of entry (i, j) of S (same component) in the buffer.  In a split
        component: where S is accumulated (the upper triangle goes to a spare slot),
        or with ``read`` where S^{-1} is read in either order.
        """
        i, j = np.asarray(i), np.asarray(j)
        c = self.comp[i]
        pos = self.bufoff[c] + self.local[i] * self.comp_size[c] + self.local[j]
        for fill, off, _, cs in self.splits:
            sel = c == cs
            li, lj = self.local[i[sel]], self.local[j[sel]]
            if read:  # (the effects of one row or level share an entry of S)
                p = fill.read_dest(li, lj)
                if np.any(p < 0):
                    raise ValueError("an entry outside the pattern of the factor of S")
                pos[sel] = off + p
            else:
                pos[sel] = off + fill.dest(li, lj)
        return pos if read else pos.astype(_index_dtype(self.buf_size))

    def factor(self, M, w, products=None):
        """Numeric factorisation (``products``: ``pair_products`` of ``M`` for the
        :meth:`slot_pairs`, if kept); ``numpy.linalg.LinAlgError`` if not p.d."""
        return SchurFactor(self, M, w, products)

    def slot_pairs(self):  # the slot pairs whose row products a factorisation sums
        return self.row_scatter()[:2]


#: dense blocks of at least this size are factorised and inverted with all the
#: threads :func:`statsmodels_glmm.likelihood.parallel.num_threads` allows
THREADED_BLOCK = 1500


def _threads(s):
    """BLAS threads for a dense block of size ``s`` (a no-op context below the threshold)."""
    if s < THREADED_BLOCK:
        return contextlib.nullcontext()
    from .parallel import blas_threads, num_threads

    return blas_threads(num_threads(work=10 ** 9))


def _potrf(a, overwrite=False):
    """
    Lower Cholesky factor of a symmetric matrix (C-ordered; with ``overwrite``
    computed in its memory); LinAlgError if not p.d.
    """
    c, info = lapack.dpotrf(a.T, lower=1, clean=1, overwrite_a=overwrite)
    if info != 0:
        raise np.linalg.LinAlgError("H is not positive definite")
    return c


def _rowdot_pairs(Bv, Fv, pat):
    """``sum_a Bv[p, a] Fv[p', a]`` for every pair ``(p, p')`` of entries in one level."""
    if Bv.shape[1] == 1:
        return Bv[pat.pair_p, 0] * Fv[pat.pair_pp, 0]
    return np.einsum("pa,pa->p", Bv[pat.pair_p], Fv[pat.pair_pp])


class SchurFactor(SchurInverse):
    """Numeric factorisation of ``H = [[A, B], [B', C]]`` by components (one ``M``, ``w``)."""

    __slots__ = ("Ainv", "logdet", "Fv", "pat", "_See", "_S", "_chol", "_Sinv", "_tri",
                 "_sel", "_Fd")

    #: components up to this size are inverted in batched calls; larger ones are
    #: solved through their Cholesky factors and inverted only when asked
    small = 16
    #: entries of the dense product F S^{-1} held at once (rows are processed in chunks)
    chunk = 2 ** 22
    #: blocks up to this size get both triangles of their inverse (larger ones keep
    #: one triangle, read through :meth:`SchurPattern.read_index`)
    symmetric_up_to = 512

    def __init__(self, pat, M, w, products=None):
        self.pat = pat
        self._See = None
        self._tri = None
        self._sel = False
        self._Fd = None
        qe, le = pat.qe, pat.le
        # A, B and C in one pass over the rows (see SchurPattern.row_scatter)
        sa, sb, index, off_B, off_S, total = pat.row_scatter()
        if products is None:
            products = pair_products(M, sa, sb)
        buf = pat.row_sum((products * w).ravel(), index, total)
        if qe == 1:
            a1 = buf[:le] + 1.0
            if not (a1 > 0).all():
                raise np.linalg.LinAlgError("H is not positive definite")
            ainv = 1.0 / a1
            self.Ainv = ainv.reshape(le, 1, 1)
            logdet = float(np.log(a1).sum())
        else:
            A = buf[:off_B].reshape(le, qe, qe)
            for a in range(qe):
                for b in range(a + 1, qe):
                    A[:, b, a] = A[:, a, b]
            A[:, np.arange(qe), np.arange(qe)] += 1.0
            if not np.all(_is_pd(A)):
                raise np.linalg.LinAlgError("H is not positive definite")
            self.Ainv = batched_inv(A)
            logdet = float(np.sum(_logdet(A)))
        if pat.r:
            Bv = buf[off_B:off_S].reshape(pat.nB, qe)
            if pat.B_full:  # entries in level-major order, every level r of them
                Fv = (Bv.reshape(le, pat.r) * ainv[:, None]).reshape(-1, 1)
            elif qe == 1:
                Fv = (Bv[:, 0] * ainv[pat.pB_level])[:, None]
            else:
                Fv = matvec(self.Ainv[pat.pB_level], Bv)
            S = buf[off_S:]
            if pat.dense_BtF and qe == 1:
                self._subtract_gtg(Bv, ainv, S)
            elif pat.dense_BtF:
                BtF = compiled_schur.schur_pairs(Bv, Fv, pat.level_first, pat.level_count,
                                                 pat.pB_col, pat.r) if pat.by_pattern else None
                if BtF is None:  # (otherwise summed over B's pairs within a level)
                    Bd = np.zeros(pat.le * qe * pat.r)
                    Fd = np.zeros(pat.le * qe * pat.r)
                    Bd[pat.B_flat] = Bv
                    Fd[pat.B_flat] = Fv
                    BtF = Bd.reshape(pat.le * qe, pat.r).T @ Fd.reshape(pat.le * qe, pat.r)
                S[pat.d_all] -= BtF.ravel()
            elif pat.has_pairs:
                BtF = compiled_schur.pair_update(Bv, Fv, pat.level_first, pat.level_count,
                                                 pat.d_pairs, pat.buf_size) \
                    if pat.pair_kernels else None
                if BtF is None:  # (otherwise the same sums by the kernel)
                    BtF = np.bincount(pat.d_pairs, weights=_rowdot_pairs(Bv, Fv, pat),
                                      minlength=pat.buf_size)
                S -= BtF
            else:
                BtF = (pat._csr(Bv).T @ pat._csr(Fv)).tocsr()
                BtF.sort_indices()
                if BtF.nnz == pat.BtF_nnz:
                    S[pat.d_BtF] -= BtF.tocoo().data
                else:  # an entry cancelled to an explicit zero was dropped: map it afresh
                    coo = BtF.tocoo()
                    np.subtract.at(S, pat._dest(coo.row, coo.col), coo.data)
            S[pat.d_I] += 1.0
            self._chol = []
            self._Sinv = np.empty_like(S)
            for fill, off, _, _ in pat.splits:  # in place; LinAlgError if not p.d.
                logdet += fill.factor(S[off:off + fill.buf_size])
            for s, off, members in pat.buckets:
                blk = S[off:off + members.shape[0] * s * s].reshape(-1, s, s)
                if s <= self.small:
                    if not np.all(_is_pd(blk)):
                        raise np.linalg.LinAlgError("H is not positive definite")
                    logdet += float(np.sum(_logdet(blk)))
                    self._Sinv[off:off + blk.size] = batched_inv(blk).ravel()
                    self._chol.append(None)
                else:
                    # LinAlgError if not p.d.; large blocks are factorised in place
                    with _threads(s):
                        chol = [_potrf(b, overwrite=s > pat.merge_below) for b in blk]
                    logdet += 2.0 * sum(float(np.log(c.diagonal()).sum()) for c in chol)
                    self._chol.append(chol)
            # (large blocks now hold their Cholesky factors; split components theirs)
            self._S = S if pat.splits else None
            self.Fv = Fv
        else:
            self.Fv = np.zeros((0, qe))
            self._Sinv = np.zeros(0)
            self._chol = []
        self.logdet = logdet

    def _subtract_gtg(self, Bv, ainv, S):
        """``S -= B'A^{-1}B = G'G`` with ``G = A^{-1/2} B`` (one effect per eliminated
        level): one symmetric rank-k update, or, where ``B`` has far fewer pairs of
        entries within a level than that update has multiply-adds
        (``SchurPattern.by_pattern``), the compiled kernel on those pairs."""
        pat = self.pat
        r = pat.r
        if pat.B_full:
            G = Bv.reshape(pat.le, r) * np.sqrt(ainv)[:, None]
        else:
            g = Bv[:, 0] * np.sqrt(ainv[pat.pB_level])
            if r > self.small and pat.by_pattern and compiled_schur.schur_update(
                    g, pat.pB_col, pat.level_first, pat.level_count, S.reshape(r, r)):
                return  # the upper triangle, as dsyrk's below
            G = np.zeros(pat.le * r)
            G[pat.B_flat[:, 0]] = g
            G = G.reshape(pat.le, r)
        if r > self.small:
            # the one block of S is the whole buffer, in the order of the effects:
            # S -= G'G only in its upper triangle, the one its Cholesky factorisation
            # reads (the block seen in Fortran order: lower)
            blas.dsyrk(-1.0, G.T, beta=1.0, c=S.reshape(r, r).T, trans=0, lower=1,
                       overwrite_c=1)
        else:
            C = blas.dsyrk(1.0, G.T, trans=0, lower=0)  # upper triangle of G'G
            C += np.triu(C, 1).T
            S[pat.d_all] -= C.ravel()

    @property
    def Sinv_buf(self):
        """
        S^{-1} in the bucket buffer; large components are inverted on first use, in
        place and only in their upper triangle (read them with :meth:`_read`).
        """
        if self._sel:  # (set once everything below is done)
            return self._Sinv
        if self._tri is None:
            self._tri = [False] * len(self.pat.buckets)
        for b, ((s, off, members), chol) in enumerate(zip(self.pat.buckets, self._chol)):
            if chol is not None and not self._tri[b]:
                with _threads(s):
                    for k, c in enumerate(chol):
                        # the C-ordered block seen in Fortran order: LAPACK's lower
                        # triangle is the block's upper one
                        dst = self._Sinv[off + k * s * s:off + (k + 1) * s * s].reshape(s, s).T
                        dst[...] = c
                        _, info = lapack.dpotri(dst, lower=1, overwrite_c=1)
                        if info != 0:
                            raise np.linalg.LinAlgError("H is singular")
                if s <= self.symmetric_up_to:
                    # both triangles (reads are then plain gathers); solves by the inverse
                    blk = self._Sinv[off:off + members.shape[0] * s * s].reshape(-1, s, s)
                    blk += blk.transpose(0, 2, 1).copy()  # (the lower triangle was zero)
                    blk.reshape(-1, s * s)[:, ::s + 1] *= 0.5
                    self._chol[b] = None
                else:
                    self._tri[b] = True
        for fill, off, _, _ in self.pat.splits:  # split components: the selected inverse
            sl = slice(off, off + fill.buf_size)
            fill.selected_inverse(self._S[sl], out=self._Sinv[sl])
        self._sel = True
        return self._Sinv

    def _read(self, d):
        """Entries of S^{-1} at buffer positions ``d`` (either triangle)."""
        return self.Sinv_buf[self.pat.read_positions(d)]

    def _full(self):
        """The whole S^{-1} buffer with both triangles filled."""
        buf = self.Sinv_buf
        for b, (s, off, members) in enumerate(self.pat.buckets):
            if self._tri[b]:
                for k in range(members.shape[0]):
                    blk = buf[off + k * s * s:off + (k + 1) * s * s].reshape(s, s)
                    blk += np.triu(blk, 1).T
                self._tri[b] = False
                self._chol[b] = None
        return buf

    def _sinv_apply(self, v):
        """S^{-1} v for a remainder vector v."""
        out = np.empty_like(v)
        for (s, off, members), chol in zip(self.pat.buckets, self._chol):
            if chol is None:
                blk = self._Sinv[off:off + members.size * s].reshape(-1, s, s)
                if s <= self.small:
                    out[members] = matvec(blk, v[members])
                else:
                    out[members] = (blk @ v[members][:, :, None])[:, :, 0]
            else:
                for mem, c in zip(members, chol):
                    out[mem] = lapack.dpotrs(c, v[mem], lower=1)[0]
        for fill, off, mem, _ in self.pat.splits:
            out[mem] = fill.solve(self._S[off:off + fill.buf_size], v[mem])
        return out

    def _dense_F(self):
        """F = A^{-1} B as a dense (levels * q_e) x r array (made once)."""
        if self._Fd is None:
            pat = self.pat
            if pat.B_full:
                self._Fd = self.Fv.reshape(pat.le, pat.r)
            else:
                Fd = np.zeros(pat.le * pat.qe * pat.r)
                Fd[pat.B_flat] = self.Fv
                self._Fd = Fd.reshape(pat.le * pat.qe, pat.r)
        return self._Fd

    def solve(self, g):
        """H^{-1} g for a stacked vector g (global layout)."""
        pat = self.pat
        e0, e1 = pat.e_range
        ge = g[e0:e1].reshape(pat.le, pat.qe)
        if pat.qe == 1:
            ye = self.Ainv[:, 0, :] * ge
        else:
            ye = matvec(self.Ainv, ge)
        x = np.empty_like(g)
        if pat.r:
            if pat.dense_F:  # dense products with F
                Fd = self._dense_F()
                xR = self._sinv_apply(g[pat.rem_index] - ge.ravel() @ Fd)
                ye -= (Fd @ xR).reshape(pat.le, pat.qe)
            else:  # gathers of B's entries (compiled on large patterns: the same sums)
                Fv = self.Fv
                parts = (Fv, pat.level_first, pat.level_count, pat.pB_col)
                kernel = pat.by_pattern or pat.pair_kernels
                Ftg = compiled_schur.schur_cross(*parts, ge, size=pat.r) if kernel else None
                if Ftg is None:
                    Ftg = np.bincount(pat.pB_col, weights=np.einsum(
                        "pa,pa->p", Fv, ge[pat.pB_level]), minlength=pat.r)
                xR = self._sinv_apply(g[pat.rem_index] - Ftg)
                Fx = compiled_schur.schur_cross(*parts, xR) if kernel else None
                if Fx is not None:
                    ye -= Fx
                else:
                    xc = xR[pat.pB_col]
                    for a in range(pat.qe):
                        ye[:, a] -= np.bincount(pat.pB_level, weights=Fv[:, a] * xc,
                                                minlength=pat.le)
            x[pat.rem_index] = xR
        x[e0:e1] = ye.ravel()
        return x
