"""
The index of pairs of entries of ``B`` within one level of the eliminated factor,
over which :mod:`statsmodels_glmm.likelihood.schur` sums ``B'A^{-1}B`` and the
rows' pieces of ``H^{-1}``.

The entries of ``B`` are numbered level by level (``level_first[l]`` the first
of level ``l``, ``level_count[l]`` how many).  Every entry ``p`` is paired with
each entry ``p'`` of its own level in turn, entries in order, so entry ``p`` of
level ``l`` owns ``level_count[l]`` consecutive pairs.  The pairs are made
``chunk`` at a time, so that no temporary grows with their number.

Examples
--------
>>> import numpy as np
>>> level_of = np.array([0, 0, 1])  # entries 0 and 1 in level 0, entry 2 in level 1
>>> p, pp = pair_index(np.array([0, 2]), np.array([2, 1]), level_of)
>>> p.tolist(), pp.tolist()
([0, 0, 1, 1, 2], [0, 1, 0, 1, 2])
"""

import numpy as np

from .schur_fill import _index_dtype

__all__ = ["pair_chunks", "pair_index"]


def pair_chunks(level_first, level_count, level_of, chunk=2 ** 18):
    """
    ``(a, p, p')`` for the pairs ``a, a + 1, ...``, ``chunk`` of them at a time
    (``level_of[p]``: the level of entry ``p``).
    """
    per = level_count[level_of]  # pairs of each entry
    ends = np.cumsum(per)
    total = int(ends[-1]) if len(ends) else 0
    entry_first = level_first[level_of]  # the first entry of each entry's level
    for a in range(0, total, chunk):
        b = min(a + chunk, total)
        # the entries whose pairs the chunk holds, the first and last ones in part
        e0 = int(np.searchsorted(ends, a, side="right"))
        e1 = int(np.searchsorted(ends, b - 1, side="right")) + 1
        count = per[e0:e1].copy()
        count[0] -= a - (ends[e0] - per[e0])
        count[-1] -= ends[e1 - 1] - b
        p = np.repeat(np.arange(e0, e1), count)
        yield a, p, entry_first[p] + (np.arange(a, b) - (ends[p] - per[p]))


def pair_index(level_first, level_count, level_of, chunk=2 ** 18):
    """
    ``(p, p')`` of every pair as two arrays, 32-bit where the number of pairs and
    entries allows.
    """
    total = int(level_count[level_of].sum())
    it = _index_dtype(max(total, len(level_of)))
    p_all, pp_all = np.empty(total, dtype=it), np.empty(total, dtype=it)
    for a, p, pp in pair_chunks(level_first, level_count, level_of, chunk):
        p_all[a:a + len(p)] = p
        pp_all[a:a + len(p)] = pp
    return p_all, pp_all
