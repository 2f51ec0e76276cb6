"""
Sparse elimination of the low-degree effects of a large Schur complement before
its dense block: the factorisation :mod:`statsmodels_glmm.likelihood.schur` uses
for one large connected ``S`` whose graph is sparse (random crossed pairs).

The vertices of the graph of ``S`` are eliminated greedily by minimum degree
(exact degrees in the elimination graph, ties by index) while the smallest
degree is at most ``max(min_degree, degree_fraction * remaining)``; the
eliminated set ``E`` comes first in that order, the rest ``D`` (where the fill
has made the graph nearly dense) last.  With the numbering ``[E, D]``,

.. math::

    S = L L', \\qquad L = \\begin{pmatrix} L_{EE} & 0 \\\\ L_{DE} & U' \\end{pmatrix},
    \\qquad U'U = S_{DD} - L_{DE} L_{DE}',

``L_{EE}`` and ``L_{DE}`` are sparse with the fill pattern found once by the
symbolic elimination, and the Schur complement onto ``D`` is factorised
densely by LAPACK's ``potrf``.  The elimination tree of ``E`` is cut into
levels (a column's level exceeds those of all its descendants); the columns of
one level do not update each other, so each level is a few vectorised
gathers and ``np.bincount`` scatters over index arrays computed once.

The gradient needs ``S^{-1}`` only on the pattern of ``S``; the selected
inverse ``Z`` on the (larger) pattern of ``L`` is exact and closed under the
recurrences of Takahashi, Fagan and Chin:

.. math::

    Z_{DD} = (U'U)^{-1}, \\qquad
    Z_{ij} = -\\frac{1}{L_{jj}} \\sum_{k \\in s_j} Z_{ik} L_{kj}, \\qquad
    Z_{jj} = \\frac{1}{L_{jj}} \\Big(\\frac{1}{L_{jj}} - \\sum_{k \\in s_j} L_{kj} Z_{kj}\\Big),

for ``i`` in the structure ``s_j`` of column ``j``, levels taken from the top
down (``Z_DD`` by ``potri``).  Values of ``S``, ``L`` and ``Z`` share one
layout: the entries ``(i, j)``, ``i >= j``, of the ``E`` columns in column
order, then the ``D x D`` block (C order, lower triangle used), then one slot
that receives the unused upper triangle while ``S`` is assembled.
"""

import contextlib
import heapq

import numpy as np
from scipy.linalg import lapack

from .parallel import blas_threads, num_threads

__all__ = ["FillSplit"]


def _index_dtype(size):
    return np.int32 if size < 2 ** 31 - 1 else np.int64


class FillSplit:
    """
    Symbolic minimum-degree elimination of the graph of ``S`` (done once).

    Parameters
    ----------
    graph : scipy.sparse.csr_matrix (r, r)
        Pattern of ``S`` (symmetric; the diagonal is ignored).
    degree_fraction, min_degree : float, int
        A vertex is eliminated sparsely while the smallest degree is at most
        ``max(min_degree, degree_fraction * remaining)``.

    Attributes
    ----------
    n_sparse, n_dense : int
        Sizes of ``E`` and ``D``.
    nnz_sparse : int
        Entries of ``L_EE`` and ``L_DE`` (diagonal included).
    levels : int
        Height of the elimination tree of ``E``.
    buf_size : int
        Length of the value buffer (sparse entries, dense block, one spare slot).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.sparse import csr_matrix
    >>> S = 4 * np.eye(5) - np.eye(5, k=1) - np.eye(5, k=-1)
    >>> S[2, 4] = S[4, 2] = -1.0
    >>> fs = FillSplit(csr_matrix(S), degree_fraction=0.0, min_degree=1)
    >>> fs.n_sparse, fs.n_dense
    (2, 3)
    >>> i, j = np.nonzero(S)
    >>> buf = np.bincount(fs.dest(i, j), weights=S[i, j], minlength=fs.buf_size)
    >>> logdet = fs.factor(buf)
    >>> bool(np.isclose(logdet, np.linalg.slogdet(S)[1]))
    True
    >>> v = np.arange(5.0)
    >>> bool(np.allclose(fs.solve(buf, v), np.linalg.solve(S, v)))
    True
    """

    #: dense blocks of at least this size are factorised with the BLAS threads of
    #: :func:`statsmodels_glmm.likelihood.schur._threads` (smaller ones gain little from a
    #: second thread and lose much when the processors are shared)
    threaded_from = 3000

    def __init__(self, graph, degree_fraction=0.05, min_degree=16):
        graph = graph.tocsr()
        r = graph.shape[0]
        self.r = r
        order, structs = self._eliminate(graph, degree_fraction, min_degree)
        m = len(order)
        elim = np.zeros(r, dtype=bool)
        elim[order] = True
        perm = np.concatenate([np.asarray(order, dtype=np.intp), np.flatnonzero(~elim)])
        new = np.empty(r, dtype=np.intp)
        new[perm] = np.arange(r)
        self.perm, self.new = perm, new
        self.n_sparse = m
        nD = r - m
        self.n_dense = nD
        # column structures in the new numbering (rows below the diagonal, sorted)
        cols = [np.sort(new[np.fromiter(s, dtype=np.intp, count=len(s))]) for s in structs]
        cnt = np.array([len(c) + 1 for c in cols], dtype=np.int64)
        self.colptr = np.concatenate([[0], np.cumsum(cnt)]).astype(np.int64)
        nE = int(self.colptr[-1])
        self.nnz_sparse = nE
        rows = np.empty(nE, dtype=np.intp)
        for j, c in enumerate(cols):
            rows[self.colptr[j]] = j
            rows[self.colptr[j] + 1:self.colptr[j + 1]] = c
        colof = np.repeat(np.arange(m), cnt)
        self.rows, self.colof = rows, colof
        self.keys = colof.astype(np.int64) * r + rows  # sorted: column, then row
        self.dense_off = nE
        self.buf_size = nE + nD * nD + 1
        self.dump = self.buf_size - 1
        self.diag = self.colptr[:-1]
        # elimination tree levels of E
        level = np.zeros(m, dtype=np.intp)
        for j, c in enumerate(cols):
            if len(c) and c[0] < m:
                level[c[0]] = max(level[c[0]], level[j] + 1)
        self.levels = int(level.max()) + 1 if m else 0
        self._build_levels(cols, level)

    # ------------------------------------------------------------ symbolic
    @staticmethod
    def _eliminate(graph, frac, dmin):
        """Greedy minimum-degree elimination; the eliminated vertices and structures."""
        r = graph.shape[0]
        ip, ix = graph.indptr, graph.indices
        adj = [set(ix[ip[v]:ip[v + 1]].tolist()) for v in range(r)]
        for v in range(r):
            adj[v].discard(v)
        heap = [(len(a), v) for v, a in enumerate(adj)]
        heapq.heapify(heap)
        done = np.zeros(r, dtype=bool)
        order, structs = [], []
        while heap:
            d, v = heapq.heappop(heap)
            if done[v] or d != len(adj[v]):
                continue
            if d > max(dmin, frac * (r - len(order))):
                break
            nb = adj[v]
            order.append(v)
            structs.append(nb)
            done[v] = True
            adj[v] = None
            for x in nb:
                ax = adj[x]
                ax |= nb
                ax.discard(x)
                ax.discard(v)
                heapq.heappush(heap, (len(ax), x))
        return order, structs

    def _pos(self, i, j):
        """Buffer positions of entries (i, j), i >= j, new numbering (-1: not stored)."""
        i = np.asarray(i, dtype=np.intp)
        j = np.asarray(j, dtype=np.intp)
        m, nD = self.n_sparse, self.n_dense
        out = np.full(i.shape, -1, dtype=np.int64)
        sp = j < m
        if self.nnz_sparse:
            key = j[sp].astype(np.int64) * self.r + i[sp]
            k = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
            out[sp] = np.where(self.keys[k] == key, k, -1)
        dn = ~sp
        out[dn] = self.dense_off + (i[dn] - m) * nD + (j[dn] - m)
        return out

    def dest(self, i, j):
        """
        Positions at which to accumulate entries (i, j) of ``S`` (remainder
        numbering): the lower triangle in the new numbering, the spare slot for
        the upper one.
        """
        ni, nj = self.new[np.asarray(i)], self.new[np.asarray(j)]
        pos = self._pos(np.maximum(ni, nj), np.minimum(ni, nj))
        if np.any(pos < 0):
            raise ValueError("an entry outside the pattern of S")
        pos[ni < nj] = self.dump
        return pos.astype(_index_dtype(self.buf_size))

    def read_dest(self, i, j):
        """Positions of entries (i, j) of ``S^{-1}`` in either order (-1: outside the fill)."""
        ni, nj = self.new[np.asarray(i)], self.new[np.asarray(j)]
        return self._pos(np.maximum(ni, nj), np.minimum(ni, nj))

    def _build_levels(self, cols, level):
        """Per level of the elimination tree: the index arrays of one vectorised step."""
        m = self.n_sparse
        it = _index_dtype(self.buf_size)
        by_level = np.argsort(level, kind="stable")
        bounds = np.searchsorted(level[by_level], np.arange(self.levels + 1))
        self.steps = []
        d_src1, d_src2, d_tgt = [], [], []
        for lv in range(self.levels):
            lc = by_level[bounds[lv]:bounds[lv + 1]]
            off = [np.arange(self.colptr[j] + 1, self.colptr[j + 1]) for j in lc]
            nof = np.array([len(o) for o in off], dtype=np.intp)
            offpos = np.concatenate(off) if len(off) else np.zeros(0, dtype=np.intp)
            offcol = np.repeat(np.arange(len(lc)), nof)
            offrow = self.rows[offpos]
            # pairs (i, k) of rows of one column: a = pos(i, j), b = pos(k, j)
            a_l, b_l = [], []
            for o in off:
                a_l.append(np.repeat(o, len(o)))
                b_l.append(np.tile(o, len(o)))
            pa = np.concatenate(a_l) if a_l else np.zeros(0, dtype=np.intp)
            pb = np.concatenate(b_l) if b_l else np.zeros(0, dtype=np.intp)
            ri, rk = self.rows[pa], self.rows[pb]
            canon = self._pos(np.maximum(ri, rk), np.minimum(ri, rk))
            # factorisation updates: lower pairs (i >= k); E targets now, D targets at the end
            low = ri >= rk
            toE = low & (rk < m)
            toD = low & (rk >= m)
            uE, invE = np.unique(canon[toE], return_inverse=True)
            d_src1.append(pa[toD])
            d_src2.append(pb[toD])
            d_tgt.append(canon[toD])
            # selected inverse: Z[a] = -sum Z[canon] L[b] / L_jj, a indexed within offpos
            ta = np.searchsorted(offpos, pa)
            urow, rinv = np.unique(offrow, return_inverse=True)
            self.steps.append(dict(
                cols=lc, dpos=self.diag[lc].astype(it), offpos=offpos.astype(it),
                offcol=offcol, offrow=offrow, urow=urow, rinv=rinv,
                fa=pa[toE].astype(it), fb=pb[toE].astype(it), fu=uE.astype(it), finv=invE,
                zc=canon.astype(it), zb=pb.astype(it), za=ta))
        if d_src1:
            src1, src2, tgt = (np.concatenate(x) for x in (d_src1, d_src2, d_tgt))
        else:
            src1 = src2 = tgt = np.zeros(0, dtype=np.intp)
        uD, invD = np.unique(tgt, return_inverse=True)
        self.dsrc1, self.dsrc2 = src1.astype(it), src2.astype(it)
        self.du, self.dinv = uD.astype(it), invD
        self.n_pairs = int(sum(len(s["zc"]) for s in self.steps))

    def factor_bytes(self):
        """Bytes of a factorisation and its selected inverse (two buffers plus index arrays)."""
        return int(16 * self.buf_size + 8 * self.n_dense ** 2 + 24 * self.n_pairs)

    # ------------------------------------------------------------ numeric
    def _threads(self):
        """BLAS threads for the dense block (the ambient setting below ``threaded_from``)."""
        if self.n_dense < self.threaded_from:
            return contextlib.nullcontext()
        return blas_threads(num_threads(work=10 ** 9))

    def _dense(self, buf):
        nD = self.n_dense
        return buf[self.dense_off:self.dense_off + nD * nD].reshape(nD, nD)

    def factor(self, buf):
        """
        Factorise ``S`` held in ``buf`` (see :meth:`dest`) in place; returns
        ``log det S``.  Raises ``numpy.linalg.LinAlgError`` if not p.d.
        """
        logdet = 0.0
        for s in self.steps:
            d = buf[s["dpos"]]
            if not np.all(d > 0):
                raise np.linalg.LinAlgError("H is not positive definite")
            d = np.sqrt(d)
            buf[s["dpos"]] = d
            logdet += 2.0 * float(np.sum(np.log(d)))
            buf[s["offpos"]] /= d[s["offcol"]]
            if len(s["fu"]):
                buf[s["fu"]] -= np.bincount(s["finv"], weights=buf[s["fa"]] * buf[s["fb"]],
                                            minlength=len(s["fu"]))
        if len(self.du):
            buf[self.du] -= np.bincount(self.dinv, weights=buf[self.dsrc1] * buf[self.dsrc2],
                                        minlength=len(self.du))
        if self.n_dense:
            D = self._dense(buf)
            with self._threads():
                # C-ordered lower triangle = upper triangle of the Fortran view
                c, info = lapack.dpotrf(D.T, lower=0, clean=0, overwrite_a=1)
            if info != 0:
                raise np.linalg.LinAlgError("H is not positive definite")
            if not np.shares_memory(c, D):
                D.T[...] = c
            logdet += 2.0 * float(np.sum(np.log(np.diagonal(D))))
        return logdet

    def solve(self, buf, v):
        """``S^{-1} v`` from the factor in ``buf`` (remainder numbering)."""
        m = self.n_sparse
        x = v[self.perm].astype(float)
        steps = self.steps
        for s in steps:
            y = x[s["cols"]] / buf[s["dpos"]]
            x[s["cols"]] = y
            if len(s["urow"]):
                x[s["urow"]] -= np.bincount(s["rinv"], weights=buf[s["offpos"]] * y[s["offcol"]],
                                            minlength=len(s["urow"]))
        if self.n_dense:
            x[m:] = lapack.dpotrs(self._dense(buf).T, x[m:], lower=0)[0]
        for s in reversed(steps):
            t = np.bincount(s["offcol"], weights=buf[s["offpos"]] * x[s["offrow"]],
                            minlength=len(s["cols"]))
            x[s["cols"]] = (x[s["cols"]] - t) / buf[s["dpos"]]
        out = np.empty_like(x)
        out[self.perm] = x
        return out

    def selected_inverse(self, buf, out=None):
        """``S^{-1}`` on the pattern of the factor, in the layout of ``buf`` (into ``out``)."""
        Z = np.empty(self.buf_size) if out is None else out
        if self.n_dense:
            ZD = self._dense(Z)
            ZD[...] = self._dense(buf)
            with self._threads():
                _, info = lapack.dpotri(ZD.T, lower=0, overwrite_c=1)
            if info != 0:
                raise np.linalg.LinAlgError("H is singular")
        for s in reversed(self.steps):
            d = buf[s["dpos"]]
            off = s["offpos"]
            t = np.bincount(s["za"], weights=Z[s["zc"]] * buf[s["zb"]], minlength=len(off))
            Z[off] = -t / d[s["offcol"]]
            u = np.bincount(s["offcol"], weights=buf[off] * Z[off], minlength=len(d))
            Z[s["dpos"]] = (1.0 / d - u) / d
        return Z
