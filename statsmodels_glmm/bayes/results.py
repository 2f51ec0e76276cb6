"""
Results of a Bayesian (NUTS) fit of a mixed GLM: :class:`MixedGLMBayesResults`.
"""

import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from ..exceptions import warn
from ..validation import check_whole_number as _positive_int
from ._deps import require
from .draws import (extra_internal, linear_predictor, pointwise_loglik, prior_draws,
                    simulate_responses)
from .priors import prior_text

__all__ = ["MixedGLMBayesResults", "RHAT_MAX", "ESS_MIN"]

#: convergence rules: largest R-hat, smallest bulk ESS (as Vehtari et al. 2021 advise)
RHAT_MAX = 1.01
ESS_MIN = 400


class MixedGLMBayesResults:
    """
    Posterior of a mixed GLM sampled by NUTS.

    Attributes
    ----------
    params : Series
        Posterior means, in the order and on the scale of the maximum-likelihood
        ``params`` (fixed effects, variances and covariances of ``G``, family
        parameters).
    bse : Series
        Posterior standard deviations.
    draws : ndarray (chains, draws, k)
        The posterior draws of ``params``.
    rhat : Series
        Rank-normalised split R-hat of every parameter.
    ess : DataFrame
        Bulk and tail effective sample sizes.
    divergences : int
        Divergent transitions after warm-up.
    priors : dict
        The priors used, by name.
    seconds : float
        Wall-clock time of the sampling (compilation included).
    """

    def __init__(self, model, problem, samples, fields, seconds, settings):
        self.model = model
        self.problem = problem
        self.samples = samples
        self.fields = fields
        self.seconds = seconds
        self.settings = settings
        from .sampler import unpack

        self.draws, self._re, self._sd = unpack(problem, samples)
        names = model.param_names
        self.param_names = names
        flat = self.draws.reshape(-1, self.draws.shape[-1])
        self.params = pd.Series(flat.mean(0), index=names)
        self.bse = pd.Series(flat.std(0, ddof=1), index=names)
        self.priors = dict(problem.priors)
        self.divergences = int(np.sum(fields["diverging"]))
        self._diagnostics()
        self.convergence_messages = self._convergence_messages()
        for msg in self.convergence_messages:
            warn(msg, ConvergenceWarning)

    # ------------------------------------------------------------ diagnostics
    def _diagnostics(self):
        _, _, _, az = require()
        names = self.param_names
        ds = {f"p{i}": self.draws[..., i] for i in range(len(names))}
        data = az.convert_to_dataset(ds)
        rh = az.rhat(data)
        bulk = az.ess(data, method="bulk")
        tail = az.ess(data, method="tail")
        mcse = az.mcse(data)

        def get(d):
            return np.array([float(d[f"p{i}"]) for i in range(len(names))])
        self.rhat = pd.Series(get(rh), index=names)
        self.ess = pd.DataFrame({"bulk": get(bulk), "tail": get(tail)}, index=names)
        self.mcse = pd.Series(get(mcse), index=names)

    def _convergence_messages(self):
        out = []
        bad = self.rhat[~(self.rhat <= RHAT_MAX)]
        if len(bad):
            out.append(f"R-hat above {RHAT_MAX} for {', '.join(bad.index)} (largest "
                       f"{bad.max():.3f}): the chains disagree; sample longer (more tune and "
                       "draws) or check the model's identifiability")
        low = self.ess["bulk"][~(self.ess["bulk"] >= ESS_MIN)]
        if len(low):
            out.append(f"bulk ESS below {ESS_MIN} for {', '.join(low.index)} (smallest "
                       f"{low.min():.0f}): the posterior summaries are imprecise; "
                       "increase draws")
        if self.divergences:
            out.append(f"{self.divergences} divergent transition(s) after warm-up: the "
                       "posterior may be explored incompletely; raise target_accept "
                       "(e.g. 0.95) or use stronger priors on the SDs")
        return out

    @property
    def converged(self):
        """True when every R-hat <= 1.01, every bulk ESS >= 400 and no divergence."""
        return not self.convergence_messages

    # --------------------------------------------------------------- summaries
    def conf_int(self, alpha=0.05, method="eti"):
        """
        Credible intervals: equal-tailed (``"eti"``, quantiles) or highest density
        (``"hdi"``).

        Returns
        -------
        DataFrame with columns ``lower`` and ``upper``.
        """
        if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
            raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
        flat = self.draws.reshape(-1, self.draws.shape[-1])
        if method == "eti":
            lo, hi = np.quantile(flat, [alpha / 2, 1 - alpha / 2], axis=0)
        elif method == "hdi":
            _, _, _, az = require()
            h = np.asarray(az.hdi(flat[None], hdi_prob=1 - alpha))
            lo, hi = h[:, 0], h[:, 1]
        else:
            raise ValueError(f"method must be 'eti' or 'hdi', got {method!r}")
        return pd.DataFrame({"lower": lo, "upper": hi}, index=self.param_names)

    def summary_frame(self, alpha=0.05):
        """The parameter table of :meth:`summary` as a DataFrame."""
        ci = self.conf_int(alpha)
        lo, hi = f"[{alpha / 2:g}", f"{1 - alpha / 2:g}]"
        return pd.DataFrame({"Mean": self.params, "SD": self.bse, lo: ci["lower"],
                             hi: ci["upper"], "MCSE": self.mcse, "R-hat": self.rhat,
                             "ESS bulk": self.ess["bulk"], "ESS tail": self.ess["tail"]})

    def summary(self, alpha=0.05):
        """Posterior summary in the statsmodels layout, with R-hat, ESS and the priors."""
        from statsmodels.iolib import summary2

        m = self.model
        d = m.design
        s = self.settings
        info = {
            "Model:": "MixedGLM (Bayesian)", "Family:": m.response.name,
            "Link:": m.response.link_name, "Dependent Variable:": d.endog_name,
            "No. Observations:": str(d.nobs),
            "Groups:": ", ".join(f"{t.group} ({t.n_levels})" for t in self.problem.terms),
            "Sampler:": "NUTS (NumPyro)",
            "Chains x draws:": f"{s['chains']} x {s['draws']} (tune {s['tune']})",
            "Divergences:": str(self.divergences), "Seconds:": f"{self.seconds:.1f}",
        }
        sm = summary2.Summary()
        sm.add_title("Bayesian Mixed GLM Results")
        sm.add_dict(info, ncols=2)
        tab = self.summary_frame(alpha)
        fmt = tab.copy().astype(object)
        for c in tab.columns:
            digits = 0 if c.startswith("ESS") else (3 if c == "R-hat" else 4)
            fmt[c] = [f"{v:.{digits}f}" for v in tab[c]]
        sm.add_df(fmt)
        pri = pd.DataFrame({"Prior": [prior_text(v) for v in self.priors.values()]},
                           index=list(self.priors))
        sm.add_df(pri)
        notes = ["Mean and SD are the posterior mean and SD; intervals are equal-tailed "
                 "credible intervals. Priors on fixed effects act on the original "
                 "coefficients; the Intercept prior (and the thresholds') acts at the means "
                 "of the predictors."]
        notes += [f"Warning: {msg}." for msg in self.convergence_messages]
        for n in notes:
            sm.add_text(n)
        return sm

    def __repr__(self):
        return (f"<MixedGLMBayesResults: {len(self.param_names)} parameters, "
                f"{self.settings['chains']} x {self.settings['draws']} draws>")

    def compare_ml(self, res_ml):
        """
        The posterior beside a maximum-likelihood fit of the same model.

        Columns: ML estimate and SE, posterior mean and SD, their difference in
        posterior SDs and the ratio of the posterior SD to the ML SE.
        """
        if list(res_ml.params.index) != list(self.params.index):
            raise ValueError("res_ml has other parameters than this posterior; fit the same "
                             "model by model.fit()")
        ml = np.asarray(res_ml.params, dtype=float)
        se = np.asarray(res_ml.bse, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return pd.DataFrame({
                "ML": ml, "ML SE": se, "Posterior mean": self.params.to_numpy(),
                "Posterior SD": self.bse.to_numpy(),
                "Difference / SD": (self.params.to_numpy() - ml) / self.bse.to_numpy(),
                "SD / SE": self.bse.to_numpy() / se}, index=self.param_names)

    # ------------------------------------------------------------ random effects
    def _re_frames(self, stat):
        out = {}
        for ti, t in enumerate(self.problem.terms):
            b = self._re[ti].reshape((-1,) + self._re[ti].shape[2:])
            val = b.mean(0) if stat == "mean" else b.std(0, ddof=1)
            df = pd.DataFrame(val, index=pd.Index(t.labels, name=t.group), columns=t.names)
            out[t.group] = df if t.group not in out else out[t.group].join(
                df, rsuffix=" ")
        return out if self.model.multi else out[self.problem.terms[0].group]

    @property
    def random_effects(self):
        """Posterior means of the random effects: DataFrame (rows: groups); with several
        grouping factors a dict factor -> DataFrame."""
        return self._re_frames("mean")

    @property
    def random_effects_sd(self):
        """Posterior SDs of the random effects, laid out as :attr:`random_effects`."""
        return self._re_frames("sd")

    # -------------------------------------------------------------- predictions
    def _fam_internal(self):
        k = self.model.k_fe + self.model.k_re
        return extra_internal(self.problem, self.draws[..., k:])

    def _flat(self, a):
        return a.reshape((a.shape[0] * a.shape[1],) + a.shape[2:])

    def predict(self, exog=None, which="mean", random_effects="conditional"):
        """
        Predictions averaged over the posterior.

        Parameters
        ----------
        exog : DataFrame, optional
            New data (formula models); groups not in the fit get zero random
            effects.  None predicts the fitted rows.
        which : str
            ``"mean"`` or ``"linear"`` (and what the family offers, as in the
            maximum-likelihood ``predict``).
        random_effects : {"conditional", "zero"}
            Each draw's random effects of the group, or none.

        Returns
        -------
        Series (DataFrame for multi-column predictions) in the rows' order.
        """
        if random_effects not in ("conditional", "zero"):
            raise ValueError("random_effects must be 'conditional' or 'zero'")
        m = self.model
        d = m.design
        beta = self._flat(self.draws[..., :m.k_fe])
        re = [self._flat(r) for r in self._re] if random_effects == "conditional" else None
        if exog is None:
            eta = linear_predictor(self.problem, beta, re)
            extras = {k: v[0] for k, v in d.extra.items() if isinstance(v, tuple) and len(v) == 3}
            index = None
        else:
            X, Z, off, labels, extras = m._rows_for(
                exog, need_groups=random_effects == "conditional")
            pos = None
            if re is not None:
                pos = [m.group_positions(labels if not m.multi else labels[t.group],
                                         factor=t.group if m.multi else None)
                       for t in self.problem.terms]
            eta = linear_predictor(self.problem, beta, re, X, Z, off, pos)
            index = exog.index
        fam = self._flat(self._fam_internal())
        if which == "linear":
            out = eta.mean(0)
        else:
            acc = None
            for e, x in zip(eta, fam):
                v = np.asarray(m.response.predict_which(e, x, which, extras), dtype=float)
                acc = v if acc is None else acc + v
            out = acc / len(eta)
        if out.ndim == 2:
            out = pd.DataFrame(out, columns=m.response.which_columns(which, out.shape[1]))
            if index is None:
                vals = np.empty_like(out.to_numpy())
                vals[d.order] = out.to_numpy()
                return pd.DataFrame(vals, index=d.row_index, columns=out.columns)
            out.index = index
            return out
        if index is None:
            return pd.Series(d.unsort(out), index=d.row_index)
        return pd.Series(out, index=index)

    def posterior_predictive(self, n=100, seed=None):
        """
        ``n`` simulated responses from the posterior predictive distribution.

        Returns
        -------
        ndarray (n, nobs)
            Rows: draws chosen at random; columns: the fitted rows in the data's
            order (successes for binomial data, category codes for ordinal data).
        """
        n = _positive_int(n, "n")
        rng = np.random.default_rng(seed)
        m = self.model
        beta = self._flat(self.draws[..., :m.k_fe])
        pick = rng.choice(len(beta), size=n, replace=n > len(beta))
        re = [self._flat(r)[pick] for r in self._re]
        eta = linear_predictor(self.problem, beta[pick], re)
        sims = simulate_responses(self.problem, eta, self._flat(self._fam_internal())[pick], rng)
        return np.array([m.design.unsort(s) for s in sims])

    def prior_predictive(self, n=100, seed=None):
        """``n`` simulated responses from the prior predictive distribution (see
        :func:`prior_predictive`)."""
        return prior_predictive(self.problem, n, seed)

    # ---------------------------------------------------------------- ArviZ
    @property
    def idata(self):
        """ArviZ InferenceData: posterior, sample_stats, observed_data and pointwise
        log_likelihood (so that ``az.loo(res.idata)`` works)."""
        cached = self.__dict__.get("_idata")
        if cached is not None:
            return cached
        _, _, _, az = require()
        m = self.model
        post = {nm: self.draws[..., i] for i, nm in enumerate(self.param_names)}
        groups = [t.group for t in self.problem.terms]
        dims, coords = {}, {}
        for ti, t in enumerate(self.problem.terms):
            # a factor with several terms, e.g. (1 | id) + (0 + x | id): one name per term
            lab = t.group if groups.count(t.group) == 1 else f"{t.group} ({', '.join(t.names)})"
            post[f"{lab} SD"] = self._sd[ti]
            post[f"{lab} random effects"] = self._re[ti]
            dims[f"{lab} random effects"] = [f"{lab}__level", f"{lab}__effect"]
            dims[f"{lab} SD"] = [f"{lab}__effect"]
            coords[f"{lab}__level"] = [str(v) for v in t.labels]
            coords[f"{lab}__effect"] = t.names
        eta = linear_predictor(self.problem, self.draws[..., :m.k_fe], self._re)
        ll = pointwise_loglik(self.problem, eta, self._fam_internal())
        f = self.fields
        stats = {"diverging": f["diverging"], "n_steps": f["num_steps"],
                 "acceptance_rate": f["accept_prob"], "lp": -f["potential_energy"],
                 "energy": f["energy"]}
        y = np.asarray(m.response.response_value(m.design.y), dtype=float)
        idata = az.from_dict(posterior=post, sample_stats=stats, log_likelihood={"y": ll},
                             observed_data={"y": y}, coords=coords, dims=dims)
        self.__dict__["_idata"] = idata
        return idata


def prior_predictive(problem, n=100, seed=None):
    """``n`` responses simulated from the prior: ndarray (n, nobs) in the data's order."""
    n = _positive_int(n, "n")
    rng = np.random.default_rng(seed)
    m = problem.model
    params, re = prior_draws(problem, n, rng)
    eta = linear_predictor(problem, params[:, :m.k_fe], re)
    fam = extra_internal(problem, params[:, m.k_fe + m.k_re:])
    with np.errstate(over="ignore", invalid="ignore"):
        sims = simulate_responses(problem, eta, fam, rng)
    return np.array([m.design.unsort(s) for s in sims])

