"""
The pieces of ``H^{-1}`` that the gradient and the conditional variances read from a
:class:`~statsmodels_glmm.likelihood.schur.SchurFactor`: with the notation of
:mod:`.schur`,

.. math::

    H^{-1} = \\begin{pmatrix} A^{-1} + F S^{-1} F' & -F S^{-1} \\\\
             -S^{-1} F' & S^{-1} \\end{pmatrix}, \\qquad F = A^{-1} B,

every row's block ``H^{-1}[J_t, J_t]`` needs the diagonal blocks of ``A^{-1} + F S^{-1}
F'``, the entries of ``P = F S^{-1}`` on the pattern of ``B`` and those of ``S^{-1}``
on the row's remainder effects.  ``P`` is one dense product where ``B`` is dense, a
sum over the pairs of ``B``'s entries within a level where those are kept as an index,
and a product in row chunks otherwise; where a dense ``B`` still has far fewer such
pairs than the dense product has multiply-adds (``SchurPattern.by_pattern``: crossed
factors whose levels meet a small share of the other factor's levels), the compiled
kernel sums over those pairs alone (:func:`.compiled_schur.schur_sigma`); on large
indexes of pairs (``SchurPattern.pair_kernels``) a kernel makes ``np.bincount``'s sums
over them (:func:`.compiled_schur.pair_sigma`).
"""

import numpy as np

from . import compiled_schur

__all__ = ["SchurInverse"]


class SchurInverse:
    """
    The selected inverse of a Schur factorisation, read row by row: mixed into
    :class:`~statsmodels_glmm.likelihood.schur.SchurFactor`, whose pattern
    (``pat``), ``Ainv``, ``Fv`` and reads of ``S^{-1}`` (``_full``, ``_read``,
    ``_dense_F``) it uses.
    """

    __slots__ = ()

    def _sigma_parts(self, rows=True):
        """
        The pieces of ``Sigma = H^{-1}`` on the rows' effects: ``See`` (levels, q_e,
        q_e), the diagonal blocks of ``Sigma_ee``; ``Pv`` (nB, q_e), the entries of
        ``P = F S^{-1}`` on the pattern of ``B`` (``Sigma_eR = -P``); ``Srr`` (n, QR,
        QR), ``S^{-1}`` on every row's remainder effects (None without a remainder).
        """
        pat = self.pat
        qe = pat.qe
        See = self.Ainv.copy()
        if not pat.r:
            self._See = See
            return See, None, None
        Fv = self.Fv
        fast = None
        if pat.by_pattern:
            fast = compiled_schur.schur_sigma(Fv, pat.pB_col, pat.level_first,
                                              pat.level_count,
                                              self._full().reshape(pat.r, pat.r))
        if fast is not None:
            Pv = fast[0]
            See += fast[1]
        elif pat.dense_BtF:  # P = F S^{-1} as one dense product
            Fd = self._dense_F()
            P = Fd @ self._full().reshape(pat.r, pat.r)
            Pv = P.reshape(-1)[pat.B_flat]
            if qe == 1:
                See[:, 0, 0] += np.einsum("lc,lc->l", Fd, P)
            else:
                Fd3, P3 = Fd.reshape(pat.le, qe, pat.r), P.reshape(pat.le, qe, pat.r)
                See += Fd3 @ P3.transpose(0, 2, 1)
        else:
            if not pat.has_pairs:  # P = F S^{-1} densely in row chunks, on F's pattern
                Fs = pat._csr(Fv)
                Sinv = self._full().reshape(pat.r, pat.r)
                Pv = np.empty_like(Fv)
                step = max(qe, (self.chunk // max(pat.r, 1)) // qe * qe)
                for r0 in range(0, Fs.shape[0], step):
                    P = Fs[r0:r0 + step] @ Sinv
                    sel = np.flatnonzero((pat.pB_level >= r0 // qe)
                                         & (pat.pB_level < (r0 + step) // qe))
                    Pv[sel] = P[(pat.pB_level[sel, None] * qe - r0) + np.arange(qe)[None, :],
                                pat.pB_col[sel, None]]
            else:
                Pv = compiled_schur.pair_sigma(self.Sinv_buf, pat.read_positions(pat.r_pairs),
                                               Fv, pat.level_first, pat.level_count) \
                    if pat.pair_kernels else None
                if Pv is None:  # (otherwise the same sums by the kernel)
                    sp = self._read(pat.r_pairs)
                    Pv = np.empty_like(Fv)
                    for a in range(qe):
                        Pv[:, a] = np.bincount(pat.pair_p, weights=sp * Fv[pat.pair_pp, a],
                                               minlength=pat.nB)
            for a in range(qe):
                for b in range(qe):
                    See[:, a, b] += np.bincount(pat.pB_level, weights=Fv[:, a] * Pv[:, b],
                                                minlength=pat.le)
        self._See = See
        return See, Pv, self._read(pat.r_C) if rows else None

    def row_blocks(self):
        """Sigma[J_t, J_t] for every row t, as (n, Q, Q)."""
        pat = self.pat
        qe, n = pat.qe, pat.nobs
        Q = pat.Q
        out = np.empty((n, Q, Q))
        See, Pv, Srr = self._sigma_parts()
        if pat.r:
            SeR = -Pv[pat.pB_of_row]  # (n, QR, qe)
            out[:, :qe, qe:] = np.swapaxes(SeR, 1, 2)
            out[:, qe:, :qe] = SeR
            out[:, qe:, qe:] = Srr
        out[:, :qe, :qe] = See[pat.codes_e]
        return out

    def row_products(self, M):
        """``Sigma[J_t, J_t] m_t`` for every row ``t`` (``M``: (n, Q) row values) without
        :meth:`row_blocks`; an (n, Q) view of a C-ordered (Q, n) array."""
        pat = self.pat
        qe, Q = pat.qe, pat.Q
        See, Pv, _ = self._sigma_parts(rows=False)
        pB_T, r_CT = pat.rows_transposed()
        MT = np.ascontiguousarray(M.T)
        out = np.empty_like(MT)
        if qe == 1:
            out[0] = See[:, 0, 0][pat.codes_e] * MT[0]
        else:
            Sr = See[pat.codes_e]
            for a in range(qe):
                out[a] = Sr[:, a, 0] * MT[0]
                for b in range(1, qe):
                    out[a] += Sr[:, a, b] * MT[b]
        if Q > qe:
            SrrT = self._read(r_CT)  # (QR, QR, n)
            PvT = np.ascontiguousarray(Pv.T)  # (qe, nB)
        for i in range(Q - qe):
            vi = SrrT[i, 0] * MT[qe]
            for j in range(1, Q - qe):
                vi += SrrT[i, j] * MT[qe + j]
            for a in range(qe):
                Pi = PvT[a][pB_T[i]]  # -Sigma between effect a of e and effect i
                vi -= Pi * MT[a]
                out[a] -= Pi * MT[qe + i]
            out[qe + i] = vi
        return out.T

    def diagonal_blocks(self, starts, q):
        """
        Diagonal blocks of ``H^{-1}`` for effects ``starts[i] + (0..q-1)`` (one term's
        levels): (len(starts), q, q).
        """
        pat = self.pat
        e0, e1 = pat.e_range
        starts = np.asarray(starts)
        if len(starts) and e0 <= starts[0] < e1:
            if self._See is None:
                self._sigma_parts()
            return self._See[(starts - e0) // pat.qe]
        return self._read(pat.diagonal_dest(starts, q))
