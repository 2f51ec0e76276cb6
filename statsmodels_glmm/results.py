"""
Results of a MixedGLM fit: estimates, random effects, predictions, summary.
"""

import functools

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.base import wrapper as wrap
from statsmodels.base.model import LikelihoodModelResults, LikelihoodResultsWrapper
from statsmodels.iolib import summary2
from functools import cached_property as cache_readonly

from .checks.approximation import check_approximation
from .checks.mixin import ChecksMixin
from .checks.diagnostics import overdispersion, zero_inflation_test
from .inference.mixin import InferenceMixin
from .marginal.predict import get_prediction, marginal_params, probability_effects

__all__ = ["MixedGLMResults", "MixedGLMResultsWrapper"]


def _as_method(func):
    """``func(res, ...)`` as a results method that keeps its signature and docstring."""
    @functools.wraps(func)
    def method(self, *args, **kwargs):
        return func(self, *args, **kwargs)
    return method


class MixedGLMResults(InferenceMixin, ChecksMixin, LikelihoodModelResults):
    """
    Results of :meth:`MixedGLM.fit`.

    ``params`` holds the fixed effects, then the variances and covariances
    of the random effects, then family parameters, all named; ``bse``,
    ``tvalues``, ``pvalues``, ``conf_int()`` and ``cov_params()`` follow the
    same order (covariance parameters by the delta method).  Wald tests
    (``t_test``, ``wald_test``) work on the fixed effects by name.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=80, seed=7)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
    >>> res.fe_params.index.tolist()
    ['Intercept', 'time']
    >>> res.cov_re.shape
    (1, 1)
    """

    def __init__(self, model, params, cov_params, llf, state, nagq, converged, mle_retvals):
        super().__init__(model, params, normalized_cov_params=cov_params, scale=1.0)
        self._llf = float(llf)
        self._state = state
        self.nagq = int(nagq)
        self.converged = bool(converged)
        self.mle_retvals = mle_retvals
        self.use_t = False
        self.k_fe = model.k_fe
        self.k_re = model.k_re
        self.nobs = model.nobs
        self.n_groups = model.n_groups
        self.method = ("Laplace" if nagq == 1 else f"Adaptive Gauss-Hermite, {nagq} nodes")
        self.df_modelwc = len(params)
        self.df_resid = self.nobs - self.df_modelwc

    # ------------------------------------------------------------ likelihood
    @cache_readonly
    def llf(self):
        """Maximised log-likelihood, every normalising constant kept."""
        return self._llf

    @cache_readonly
    def aic(self):
        return -2 * self.llf + 2 * self.df_modelwc

    @cache_readonly
    def bic(self):
        return -2 * self.llf + np.log(self.nobs) * self.df_modelwc

    # ------------------------------------------------------------ estimates
    @property
    def _internal(self):
        return self.mle_retvals["internal_params"]

    @cache_readonly
    def fe_params(self):
        """Fixed effects as a Series."""
        return pd.Series(self.params[:self.k_fe], index=self.model.exog_names)

    @cache_readonly
    def bse_fe(self):
        """Standard errors of the fixed effects."""
        return pd.Series(np.sqrt(np.diag(self.cov_params_fe())), index=self.model.exog_names)

    def cov_params_fe(self):
        """Covariance matrix of the fixed effects (ndarray)."""
        c = np.asarray(self.normalized_cov_params)
        return c[:self.k_fe, :self.k_fe]

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
    def family_params(self):
        """Family parameters (dispersion, thresholds, ...) on their reported scale."""
        names = self.model.response.extra_names()
        return pd.Series(self.params[self.k_fe + self.k_re:], index=names, dtype=float)

    @cache_readonly
    def is_singular(self):
        """True when a random-effect variance sits at zero (or G is rank deficient)."""
        m = self.model
        _, theta, _ = m._split(self._internal)
        return m.cov_struct.is_singular(theta)

    # -------------------------------------------------------- random effects
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
            from .likelihood.sparse_laplace import sparse_laplace_loglike

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

    # ----------------------------------------------------------- prediction
    def _extra(self):
        return self.model._split(self._internal)[2]

    def _eta_insample(self, random_effects="conditional"):
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
            from .marginal.predict import marginal_predict

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
        if not isinstance(exog, pd.DataFrame):
            return None
        spec_data = self.model.design.extra.get("spec_data")
        cols = [c for c in (spec_data.columns if spec_data is not None else [])
                if c in exog.columns and c != self.model.design.endog_name]
        if not cols:
            return None
        return exog[cols].isna().any(axis=1).to_numpy()

    @cache_readonly
    def fittedvalues(self):
        """Conditional means (random effects at their modes), in data order."""
        return self.predict()

    def _resid_parts(self):
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

    # -------------------------------------------------------- interpretation
    def odds_ratios(self, alpha=0.05):
        """
        ``exp(beta)`` with Wald intervals: odds ratios for a logit link,
        rate ratios for a log link.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=60, seed=9)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
        >>> res.odds_ratios().columns.tolist()
        ['RR', 'Lower CI', 'Upper CI']
        """
        link = self.model.response.link_name
        label = {"logit": "OR", "log": "RR"}.get(link, "exp(coef)")
        z = stats.norm.ppf(1 - alpha / 2)
        b, se = self.fe_params, self.bse_fe
        return pd.DataFrame({label: np.exp(b), "Lower CI": np.exp(b - z * se),
                             "Upper CI": np.exp(b + z * se)})

    rate_ratios = odds_ratios

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
        rng = np.random.default_rng(seed)
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

    # ------------------------------------------------ checks and margins
    # functions of a fitted result, also reachable as methods (same signature and
    # documentation, the result itself as the first argument)
    check_approximation = _as_method(check_approximation)
    overdispersion = _as_method(overdispersion)
    zero_inflation_test = _as_method(zero_inflation_test)
    get_prediction = _as_method(get_prediction)
    marginal_params = _as_method(marginal_params)
    probability_effects = _as_method(probability_effects)

    # --------------------------------------------------------------- summary
    def _notes(self):
        notes = []
        if not self.converged:
            notes.append("The fit did not converge: max |gradient| "
                         f"{self.mle_retvals['max_abs_grad']:.2g}. Estimates are unreliable.")
        if not self.mle_retvals.get("hessian_positive_definite", True):
            notes.append("The Hessian is not negative definite: standard errors are unreliable.")
        if self.is_singular:
            notes.append("Singular fit: a random-effect variance is at zero (boundary); "
                         "consider a simpler random-effects structure.")
        resp = self.model.response
        if (self.nagq == 1 and resp.name == "Binomial"
                and np.mean(self.model.design.group_sizes) < 5):
            notes.append("Binary data with fewer than 5 observations per group on average: "
                         "the Laplace approximation may be inaccurate; compare with nagq > 1.")
        notes.extend(self._design_notes())
        attempts = self.mle_retvals.get("attempts") or []
        if len(attempts) > 1:
            tried = ", ".join(f"{a['method']} ({'converged' if a['converged'] else 'not converged'}"
                              f", llf {a['llf']:.4f})" for a in attempts)
            notes.append(f"The first optimiser did not converge; tried in turn: {tried}. "
                         f"Reported: {self.mle_retvals['optimizer']}.")
        separated = self.mle_retvals.get("separation")
        if separated:
            notes.append("The outcome may be (quasi-)completely separated by "
                         + ", ".join(separated) + ": these estimates and standard errors "
                         "are not reliable.")
        guard = self.mle_retvals.get("laplace_check")
        if guard is not None and guard["flagged"]:
            notes.append(
                f"Laplace may be inaccurate: {guard['nagq']}-node adaptive quadrature at the "
                f"estimates gives a log-likelihood {guard['difference']:+.2f} from Laplace's "
                f"(tolerance {guard['threshold']:.2f}); the likelihood, AIC, BIC and "
                "likelihood-ratio tests are doubtful. Run res.check_approximation() or "
                "refit with fit(nagq=...).")
        notes.extend(resp.summary_notes(self))
        return notes

    def _design_notes(self):
        """
        Rules of thumb on the random-effects design: enough groups for the variances
        (about 50 for a random intercept, 100 for random slopes) and enough variation
        of a random-slope variable within groups.
        """
        names = self.model.design.re_names
        notes = []
        seen = set()
        for f, cols, _, labels, codes in self._re_blocks:
            n_lev = len(labels)
            spreads = self._slope_spreads(cols, codes, n_lev)
            need = 100 if spreads else 50
            if n_lev < need and (f, need) not in seen:
                seen.add((f, need))
                what = "random slopes" if spreads else "a random intercept"
                notes.append(f"Only {n_lev} groups of {f!r}: the variance of {what} is "
                             f"estimated imprecisely with fewer than about {need} groups.")
            for c, (within, total) in spreads.items():
                if total > 0 and within < 0.1 * total:
                    notes.append(
                        f"Little variation of {names[c]!r} within groups of {f!r} "
                        f"(within-group SD {100 * within / total:.0f}% of its total SD): its "
                        "random slope is poorly identified; consider dropping it.")
        return notes

    def _slope_spreads(self, cols, codes, n_lev):
        """
        For the columns ``cols`` of ``Z`` that are not all ones (random slopes):
        ``{column: (within-group SD, total SD)}``, the within-group SD being the
        root mean square deviation from the group means.
        """
        Z = self.model.design.Z
        cnt = np.bincount(codes, minlength=n_lev)
        out = {}
        for c in cols:
            z = Z[:, c]
            if np.all(z == 1.0):
                continue
            mean = np.bincount(codes, weights=z, minlength=n_lev) / np.maximum(cnt, 1)
            out[c] = (float(np.sqrt(np.mean((z - mean[codes]) ** 2))), float(z.std()))
        return out

    def summary(self, alpha=0.05):
        """
        Summary tables: model header, fixed effects, random effects, notes.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=10)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
        >>> "Laplace" in str(res.summary())
        True
        """
        m, d = self.model, self.model.design
        sizes = d.group_sizes
        resp = m.response
        info = {
            "Model:": "MixedGLM",
            "Family:": resp.name,
            "Link:": resp.link_name,
            "Method:": self.method,
            "Dependent variable:": d.endog_name,
            "No. observations:": str(self.nobs),
            "No. groups:": (f"{self.n_groups} ({d.group_name})" if not m.multi else
                            ", ".join(f"{f} {len(lab)}" for f, lab in dict(
                                (b[0], b[3]) for b in self._re_blocks).items())),
            "Group size min/mean/max:": f"{sizes.min()} / {sizes.mean():.1f} / {sizes.max()}",
            "Rows dropped (missing):": str(d.n_dropped),
            "Log-likelihood:": f"{self.llf:.4f}",
            "AIC:": f"{self.aic:.4f}",
            "BIC:": f"{self.bic:.4f}",
            "Converged:": "Yes" if self.converged else "No",
        }
        guard = self.mle_retvals.get("laplace_check")
        if guard is not None:
            info[f"Laplace check (AGQ-{guard['nagq']}):"] = (
                f"{guard['difference']:+.3f} (tol. {guard['threshold']:.1f}"
                + (", large)" if guard["flagged"] else ")"))
        smry = summary2.Summary()
        smry.add_title("Generalized Linear Mixed Model Results")
        smry.add_dict(info, ncols=2)
        z = stats.norm.ppf(1 - alpha / 2)
        k = self.k_fe
        b = np.asarray(self.params[:k])
        se = np.sqrt(np.diag(np.asarray(self.normalized_cov_params)))[:k]
        with np.errstate(divide="ignore", invalid="ignore"):
            zval = b / se
        fe = pd.DataFrame({"Coef.": b, "Std.Err.": se, "z": zval,
                           "P>|z|": 2 * stats.norm.sf(np.abs(zval)),
                           f"[{alpha / 2:.3f}": b - z * se, f"{1 - alpha / 2:.3f}]": b + z * se},
                          index=m.exog_names)
        smry.add_df(fe, float_format="%.4f")
        tab = resp.summary_table(self, alpha)
        if tab is not None:
            elementwise = getattr(tab, "map", None) or tab.applymap  # pandas < 2.1
            smry.add_df(elementwise(_fmt_number), float_format="%.4f")
        G = self.cov_re.to_numpy()
        sd = self.re_sd.to_numpy()
        corr = self.re_corr.to_numpy()
        names = d.re_names
        groups = np.array(m.cov_struct.groups)
        rows = []
        # one block per grouping factor (lme4's VarCorr layout); correlations are within
        # a factor, with its earlier columns
        width = max(int(np.sum(groups == f)) for f in d.factors) - 1
        for f in d.factors:
            idx = np.flatnonzero(groups == f)
            for k, i in enumerate(idx):
                row = {"Group": f if k == 0 else "", "Name": names[i],
                       "Variance": f"{G[i, i]:.4f}", "Std.Dev.": f"{sd[i]:.4f}"}
                for j in range(width):
                    key = f"Corr({names[idx[j]]})" if not m.multi else f"Corr.{j + 1}"
                    row[key] = f"{corr[i, idx[j]]:.3f}" if j < k else ""
                rows.append(row)
        re_tab = pd.DataFrame(rows).set_index("Group")
        smry.add_df(re_tab)
        for note in self._notes():
            smry.add_text(note)
        return smry

    def __getstate__(self):
        return self.__dict__

    def remove_data(self):  # pragma: no cover - statsmodels API parity
        raise NotImplementedError("remove_data is not supported for MixedGLM results")


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


def _fmt_number(v):
    """Four decimals, or four significant digits for very large numbers."""
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return ""
        return f"{v:.4f}" if abs(v) < 1e6 else f"{v:.4g}"
    return v


def _reinsert(part, keep, index):
    """Place predictions for the kept rows into a frame over all rows (NaN elsewhere)."""
    vals = part.to_numpy()
    out = np.full((len(keep),) + vals.shape[1:], np.nan)
    out[keep] = vals
    if isinstance(part, pd.DataFrame):
        return pd.DataFrame(out, index=index, columns=part.columns)
    return pd.Series(out, index=index)


class MixedGLMResultsWrapper(LikelihoodResultsWrapper):
    """Attaches parameter and row names to :class:`MixedGLMResults` (what ``fit`` returns)."""

    _attrs = {}
    _wrap_attrs = wrap.union_dicts(LikelihoodResultsWrapper._wrap_attrs, _attrs)
    _methods = {}
    _wrap_methods = wrap.union_dicts(LikelihoodResultsWrapper._wrap_methods, _methods)


wrap.populate_wrapper(MixedGLMResultsWrapper, MixedGLMResults)


@functools.wraps(MixedGLMResults.conf_int)
def _conf_int(self, *args, **kwargs):
    # conf_int labels its own rows (it can return SD rows or a subset of parameters),
    # so the generic wrapper, which relabels by parameter name, is bypassed
    return self._results.conf_int(*args, **kwargs)


MixedGLMResultsWrapper.conf_int = _conf_int
