"""
Predictions, fitted values, residuals, fit statistics and simulation of a fitted MixedGLM.

The methods of :class:`PredictionMixin` become members of
:class:`~statsmodels_glmm.results.MixedGLMResults`.
"""

from functools import cached_property as cache_readonly

import numpy as np
import pandas as pd

from ..validation import check_seed, check_whole_number

__all__ = ["PredictionMixin"]


class PredictionMixin:
    """Predictions, residuals, deviance and Pearson statistic, simulated responses."""

    def _require_rows(self, what):
        """A ValueError naming ``what`` when :meth:`remove_data` has dropped the fitted rows."""
        if not isinstance(self.model.design.X, np.ndarray):
            raise ValueError(f"{what} needs the fitted rows, which remove_data() dropped; "
                             "refit the model to get it (predictions on new data still work)")

    def _extra(self):
        return self.model._split(self._internal)[2]

    def _eta_insample(self, random_effects="conditional"):
        self._require_rows("the linear predictor of the fitted rows")
        d = self.model.design
        beta = self._internal[:self.k_fe]
        eta = d.X @ beta + d.offset
        if random_effects == "conditional":
            eta = eta + self._random_part(d.Z, [blk[4] for blk in self._re_blocks])
        return eta

    def predict(self, exog=None, which="mean", random_effects="conditional", offset=None,
                exposure=None, **kwargs):
        """
        Predict on the fitted rows or on new data.

        Parameters
        ----------
        exog : DataFrame, optional
            New data with every column the formulas use and the grouping
            column.  Groups never seen in fitting get zero random effects.
        which : str
            ``"mean"`` (response scale) or ``"linear"`` (link scale); some
            families add more (see their documentation).
        random_effects : {"conditional", "zero", "marginal"}
            Use each group's conditional modes, set the random effects to
            zero, or average over their distribution (population-averaged).
        offset, exposure : array-like, optional
            For new data when the model was given offsets as arrays.

        Returns
        -------
        Series (or DataFrame for multi-column predictions)

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=8)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
        >>> new = df.head(3).assign(id=-1)        # an unseen person
        >>> p0 = res.predict(new)
        >>> bool(np.allclose(p0, res.predict(new, random_effects="zero")))
        True
        """
        m = self.model
        d = m.design
        if random_effects not in ("conditional", "zero", "marginal"):
            raise ValueError("random_effects must be 'conditional', 'zero' or 'marginal'")
        if exog is not None:
            missing = self._missing_rows(exog)
            if missing is not None and missing.any():
                # predict the complete rows; rows with a missing value get NaN
                keep = ~missing
                part = self.predict(exog.loc[keep], which=which,
                                    random_effects=random_effects,
                                    offset=None if offset is None else np.asarray(offset)[keep],
                                    exposure=None if exposure is None
                                    else np.asarray(exposure)[keep])
                return part.reindex(exog.index) if not exog.index.has_duplicates else \
                    _reinsert(part, keep, exog.index)
        beta = self._internal[:self.k_fe]
        if exog is None:
            self._require_rows("predict() without new data")
            X, Z, off, index = d.X, d.Z, d.offset, None
            bz = (self._random_part(Z, [blk[4] for blk in self._re_blocks])
                  if random_effects == "conditional" else 0.0)
            extras = {k: v[0] for k, v in d.extra.items() if isinstance(v, tuple) and len(v) == 3}
            sorted_rows = True
        else:
            X, Z, off, labels, extras = m._rows_for(
                exog, need_groups=random_effects == "conditional")
            if offset is not None:
                off = off + np.asarray(offset, dtype=float)
            if exposure is not None:
                off = off + np.log(np.asarray(exposure, dtype=float))
            index = exog.index
            bz = 0.0
            if random_effects == "conditional":
                bz = self._random_part(Z, self._positions(labels))
            sorted_rows = False
        eta = X @ beta + off + bz
        extra = self._extra()
        if random_effects == "marginal":
            from ..marginal.predict import marginal_predict

            out = marginal_predict(self, X, Z, off, which=which, extras=extras)
        elif which == "linear":
            out = eta
        else:
            out = m.response.predict_which(eta, extra, which, extras)
        out = np.asarray(out)
        if out.ndim == 2:
            cols = m.response.which_columns(which, out.shape[1])
            out = pd.DataFrame(out, columns=cols)
        if sorted_rows:
            if isinstance(out, pd.DataFrame):
                vals = out.to_numpy()
                un = np.empty_like(vals)
                un[d.order] = vals
                return pd.DataFrame(un, index=d.row_index, columns=out.columns)
            return pd.Series(d.unsort(out), index=d.row_index)
        if isinstance(out, pd.DataFrame):
            out.index = index
            return out
        return pd.Series(out, index=index)

    def _missing_rows(self, exog):
        """Rows of new data with a missing value in a column the model uses."""
        return self.model._missing_rows(exog)

    # ------------------------------------------------------------ residuals
    @cache_readonly
    def fittedvalues(self):
        """Conditional means (random effects at their modes), in data order."""
        return self.predict()

    def _resid_parts(self):
        self._require_rows("residuals")
        m, d = self.model, self.model.design
        eta = self._eta_insample()
        extra = self._extra()
        mu = m.response.mean(eta, extra)
        yv = m.response.response_value(d.y)
        return eta, mu, yv, extra

    @cache_readonly
    def resid_response(self):
        """``y - mu`` (proportions for binomial data), conditional on the modes."""
        d = self.model.design
        _, mu, yv, _ = self._resid_parts()
        return pd.Series(d.unsort(yv - mu), index=d.row_index)

    @property
    def resid(self):
        """
        Response residuals ``endog - fittedvalues`` (statsmodels' ``resid``): the
        same values as :attr:`resid_response`, conditional on the modes.
        """
        return self.resid_response

    @cache_readonly
    def resid_pearson(self):
        """``(y - mu) / sqrt(V(mu) / n)``."""
        m, d = self.model, self.model.design
        _, mu, yv, extra = self._resid_parts()
        v = m.response.variance(mu, extra) / m.response.weights(d.y)
        return pd.Series(d.unsort((yv - mu) / np.sqrt(v)), index=d.row_index)

    @cache_readonly
    def resid_deviance(self):
        """Signed deviance residuals."""
        m, d = self.model, self.model.design
        eta, _, _, extra = self._resid_parts()
        return pd.Series(d.unsort(m.response.deviance_resid(d.y, eta, extra)),
                         index=d.row_index)

    @cache_readonly
    def deviance(self):
        """
        Conditional deviance: the sum of the family's unit deviances at the
        conditional modes, ``sum(resid_deviance ** 2)``.

        This is what lme4's ``deviance()`` returns for a GLMM.  glmmTMB's
        ``deviance()`` and the "deviance" of lme4's summary are ``-2 * llf``
        instead (the marginal likelihood, every constant kept).

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=40, seed=1)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
        >>> bool(np.isclose(res.deviance, (res.resid_deviance ** 2).sum()))
        True
        """
        r = np.asarray(self.resid_deviance, dtype=float)
        return float(np.sum(r * r))

    @cache_readonly
    def pearson_chi2(self):
        """
        Pearson statistic at the conditional modes, ``sum(resid_pearson ** 2)``.

        ``pearson_chi2 / df_resid`` is the overdispersion ratio of the GLMM FAQ
        (and of :meth:`overdispersion`).

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=40, seed=1)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
        >>> bool(np.isclose(res.pearson_chi2 / res.df_resid, res.overdispersion()["ratio"]))
        True
        """
        r = np.asarray(self.resid_pearson, dtype=float)
        return float(np.sum(r * r))

    # ------------------------------------------------------------ simulation
    def simulate(self, nsim=1, random_effects="new", seed=None):
        """
        Draw new responses from the fitted model, for the fitted rows.

        Parameters
        ----------
        nsim : int
            Number of simulated data sets.
        random_effects : {"new", "conditional", "zero"}
            Draw new random effects from ``N(0, G)`` (a new sample of
            groups), use each group's conditional modes, or set them to zero.
        seed : int or numpy Generator, optional

        Returns
        -------
        DataFrame
            One column per simulated data set, rows in data order.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=40, seed=11)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
        >>> res.simulate(nsim=2, seed=0).shape == (len(df), 2)
        True
        """
        if random_effects not in ("new", "conditional", "zero"):
            raise ValueError("random_effects must be 'new', 'conditional' or 'zero'")
        nsim = check_whole_number(nsim, "nsim")
        rng = np.random.default_rng(check_seed(seed))
        m, d = self.model, self.model.design
        base = self._eta_insample("zero")
        extra = self._extra()
        blocks = self._re_blocks
        _, theta, _ = m._split(self._internal)
        G = m.cov_struct.cov(theta)
        # each term's covariance factor (G is block diagonal over the terms)
        Ls = [_psd_factor(G[np.ix_(cols, cols)]) for _, cols, _, _, _ in blocks]
        codes = [blk[4] for blk in blocks]
        out = {}
        for k in range(int(nsim)):
            if random_effects == "new":
                bs = [rng.standard_normal((len(lab), len(cols))) @ L.T
                      for (_, cols, _, lab, _), L in zip(blocks, Ls)]
            elif random_effects == "conditional":
                bs = [b for _, _, b, _, _ in blocks]
            else:
                bs = [np.zeros_like(b) for _, _, b, _, _ in blocks]
            eta = base
            for (_, cols, _, _, _), b, c in zip(blocks, bs, codes):
                eta = eta + np.einsum("nq,nq->n", d.Z[:, cols], b[c])
            out[f"sim_{k}"] = d.unsort(np.asarray(m.response.simulate(eta, extra, d.y, rng)))
        return pd.DataFrame(out, index=d.row_index)


def _psd_factor(G):
    """
    ``F`` with ``F F' = G``: the Cholesky factor, or from the eigen decomposition
    when ``G`` is only positive semi-definite (a variance at zero).
    """
    try:
        return np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(G)
        return v * np.sqrt(np.maximum(w, 0.0))


def _reinsert(part, keep, index):
    """Place predictions for the kept rows into a frame over all rows (NaN elsewhere)."""
    vals = part.to_numpy()
    out = np.full((len(keep),) + vals.shape[1:], np.nan)
    out[keep] = vals
    if isinstance(part, pd.DataFrame):
        return pd.DataFrame(out, index=index, columns=part.columns)
    return pd.Series(out, index=index)
