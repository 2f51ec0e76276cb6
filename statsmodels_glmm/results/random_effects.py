"""
Random effects of a fitted MixedGLM: covariance matrix, standard deviations,
correlations, conditional modes and their conditional covariances.

The methods of :class:`RandomEffectsMixin` become members of
:class:`~statsmodels_glmm.results.MixedGLMResults`.
"""

from functools import cached_property as cache_readonly

import numpy as np
import pandas as pd

__all__ = ["RandomEffectsMixin"]


class RandomEffectsMixin:
    """Covariance of the random effects and their conditional modes."""

    @cache_readonly
    def cov_re(self):
        """
        Random-effect covariance ``G`` as a DataFrame.

        With several grouping factors ``G`` is block diagonal and its rows are
        labelled ``"factor name"``; :attr:`cov_re_by_factor` gives each block.
        """
        m = self.model
        _, theta, _ = m._split(self._internal)
        names = m.design.re_names
        if m.multi:
            names = [f"{g} {n}" for g, n in zip(m.cov_struct.groups, names)]
        return pd.DataFrame(m.cov_struct.cov(theta), index=names, columns=names)

    @cache_readonly
    def cov_re_by_factor(self):
        """``{grouping factor: covariance DataFrame of its random effects}``."""
        m = self.model
        G = self.cov_re.to_numpy()
        groups = np.array(m.cov_struct.groups)
        out = {}
        for f in m.design.factors:
            idx = np.flatnonzero(groups == f)
            names = [m.design.re_names[i] for i in idx]
            out[f] = pd.DataFrame(G[np.ix_(idx, idx)], index=names, columns=names)
        return out

    @cache_readonly
    def re_sd(self):
        """Random-effect standard deviations."""
        return pd.Series(np.sqrt(np.diag(self.cov_re.to_numpy())), index=self.cov_re.index)

    @cache_readonly
    def re_corr(self):
        """Random-effect correlation matrix."""
        sd = self.re_sd.to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            c = self.cov_re.to_numpy() / np.outer(sd, sd)
        c[~np.isfinite(c)] = 0.0
        np.fill_diagonal(c, 1.0)
        return pd.DataFrame(c, index=self.cov_re.index, columns=self.cov_re.columns)

    @cache_readonly
    def is_singular(self):
        """True when a random-effect variance sits at zero (or G is rank deficient)."""
        m = self.model
        _, theta, _ = m._split(self._internal)
        return m.cov_struct.is_singular(theta)

    # -------------------------------------------------------- conditional modes
    @cache_readonly
    def _b_modes(self):
        m = self.model
        if m.multi:
            raise AttributeError("_b_modes describes one grouping factor; use _re_blocks")
        _, theta, _ = m._split(self._internal)
        L = m.cov_struct.chol(theta)
        return self._state.u @ L.T, L

    @cache_readonly
    def _re_blocks(self):
        """
        One entry per random-effect term: ``(factor, columns of Z, modes (levels, q),
        level labels, level of every fitted row)``; one entry for one grouping factor.
        The fitted rows' levels are a :class:`~.removal.RemovedRows` once
        :meth:`remove_data` has dropped them.
        """
        m, d = self.model, self.model.design
        if not m.multi:
            b, _ = self._b_modes
            return [(d.group_name, np.arange(d.Z.shape[1]), b, d.group_labels, d.gid)]
        out, col = [], 0
        for t, b in zip(d.terms, self._state.modes):
            out.append((t.group, np.arange(col, col + t.q), b, t.labels, t.codes))
            col += t.q
        return out

    @cache_readonly
    def _re_cond_cov(self):
        """Conditional covariances ``(levels, q, q)`` per entry of :attr:`_re_blocks`."""
        m = self.model
        if not m.multi:
            _, L = self._b_modes
            return [np.einsum("ij,gjk,lk->gil", L, self._state.Hinv, L)]
        st = self._state
        if st.cond_cov is None:
            from ..likelihood.sparse_laplace import sparse_laplace_loglike

            self._require_rows("the conditional covariances of the random effects")
            beta, theta, extra = m._split(self._internal)
            st = sparse_laplace_loglike(m.sparse_problem(), m.response, beta, theta, extra,
                                        u0=st.u, gradient=False, cond_cov=True)[2]
        return list(st.cond_cov)

    def _by_factor(self, arrays):
        """Join the per-term arrays of every grouping factor along their last axes."""
        out = {}
        for (f, cols, _, labels, _), arr in zip(self._re_blocks, arrays):
            out.setdefault(f, []).append((cols, labels, arr))
        return out

    @cache_readonly
    def random_effects(self):
        """
        Conditional modes of the random effects: dict group -> Series.

        With several grouping factors: ``{factor: {group: Series}}``.
        """
        names = self.model.design.re_names
        out = {}
        for f, parts in self._by_factor([b for _, _, b, _, _ in self._re_blocks]).items():
            cols = np.concatenate([c for c, _, _ in parts])
            b = np.concatenate([a for _, _, a in parts], axis=1)
            idx = [names[c] for c in cols]
            out[f] = {lab: pd.Series(b[i], index=idx) for i, lab in enumerate(parts[0][1])}
        return out if self.model.multi else out[self.model.design.group_name]

    @cache_readonly
    def random_effects_cov(self):
        """
        Conditional covariances ``L H^-1 L'`` of the random effects: dict group -> DataFrame.

        With several grouping factors: ``{factor: {group: DataFrame}}``; each
        term's block (terms of one factor written separately are shown as
        uncorrelated blocks).
        """
        names = self.model.design.re_names
        out = {}
        for f, parts in self._by_factor(self._re_cond_cov).items():
            cols = np.concatenate([c for c, _, _ in parts])
            q = len(cols)
            C = np.zeros((len(parts[0][1]), q, q))
            pos = 0
            for c, _, a in parts:
                C[:, pos:pos + len(c), pos:pos + len(c)] = a
                pos += len(c)
            idx = [names[c] for c in cols]
            out[f] = {lab: pd.DataFrame(C[i], index=idx, columns=idx)
                      for i, lab in enumerate(parts[0][1])}
        return out if self.model.multi else out[self.model.design.group_name]

    def random_effects_frame(self):
        """
        All conditional modes as one DataFrame (rows: groups).

        With several grouping factors: ``{factor: DataFrame}``.
        """
        names = self.model.design.re_names
        out = {}
        for f, parts in self._by_factor([b for _, _, b, _, _ in self._re_blocks]).items():
            cols = np.concatenate([c for c, _, _ in parts])
            b = np.concatenate([a for _, _, a in parts], axis=1)
            out[f] = pd.DataFrame(b, index=pd.Index(parts[0][1], name=f),
                                  columns=[names[c] for c in cols])
        return out if self.model.multi else out[self.model.design.group_name]

    def _random_part(self, Z, positions):
        """Row-wise ``z_t' b`` summed over terms; a position < 0 (new group) adds zero."""
        out = np.zeros(len(Z))
        for (_, cols, b, _, _), pos in zip(self._re_blocks, positions):
            bb = np.where(pos[:, None] >= 0, b[np.maximum(pos, 0)], 0.0)
            out += np.einsum("nq,nq->n", Z[:, cols], bb)
        return out

    def _positions(self, labels):
        """Level positions per term for new data (labels: array, or dict by factor)."""
        m = self.model
        if not m.multi:
            return [m.group_positions(labels)]
        return [m.group_positions(labels[f], factor=f) for f, *_ in self._re_blocks]
