"""
Tipping-point analysis: delta-adjusted multiple imputation of missing outcomes.

The fit of a mixed model to the observed outcomes is valid when the outcomes
are missing at random (MAR): whether a wave is missing may depend on what was
observed, not on the unobserved outcome itself.  :func:`tipping_point` asks how
far the conclusion about one coefficient survives departures from MAR: each
missing outcome is imputed from the fitted model given the person's observed
waves, with its linear predictor shifted by ``delta`` (the missing outcomes are
assumed to be worse or better than MAR predicts by ``delta`` on the link scale),
the model is refitted to every completed data set, and the estimates are pooled
by Rubin's rules.  The smallest shift that changes the conclusion (significance
at ``alpha``) is the tipping point.
"""

import numpy as np
import pandas as pd
from scipy import stats

from ..exceptions import warn
from ..validation import check_whole_number
from .imputation import (as_outcome_column, check_refittable, draw_internal,
                         draw_random_effects, fitted_frame, new_rows, outcome_template,
                         refit_call)
from .rubin import rubin_pool

__all__ = ["tipping_point", "TippingPointResults"]


def _check_common(res, term, m, seed):
    names = list(res.model.exog_names)
    if not isinstance(term, str) or term not in names:
        raise ValueError(f"term must name a fixed effect of the model ({', '.join(names)}), "
                         f"got {term!r}")
    m = check_whole_number(m, "m (the number of imputations)", lowest=2)
    if seed is not None and not isinstance(seed, (int, np.integer, np.random.SeedSequence)):
        raise ValueError(f"seed must be an integer or None, got {seed!r}")
    return m


def _as_deltas(deltas):
    if isinstance(deltas, (str, bytes)):
        raise ValueError(f"deltas must be numbers, got {deltas!r}")
    try:
        arr = np.atleast_1d(np.asarray(deltas, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(f"deltas must be numbers, got {deltas!r}") from None
    if arr.ndim != 1 or len(arr) == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"deltas must be a non-empty sequence of finite numbers, got {deltas!r}")
    return np.unique(arr)


def _rows_to_impute(res, data, time, waves, what):
    """The fitted rows and the rows whose outcome is imputed (new frames)."""
    model = res.model
    d = model.design
    y = d.endog_name
    person = d.extra["group_columns"][0] if len(d.extra["group_columns"]) == 1 else None
    if person is None:
        raise NotImplementedError(f"{what} needs a grouping factor that is one column")
    used = list(d.extra["spec_data"].columns)
    if data is None:  # the frame a formula model keeps, rows with a missing outcome included
        kept = getattr(getattr(model, "data", None), "frame", None)
        data = kept if isinstance(kept, pd.DataFrame) else None
    if data is not None:
        if not isinstance(data, pd.DataFrame):
            raise ValueError("data must be a pandas DataFrame, got "
                             f"{type(data).__module__}.{type(data).__name__}")
        absent = [c for c in used if c not in data.columns]
        if absent:
            raise ValueError(f"data lacks the column {absent[0]!r} that the model reads")
        frame = data[used].copy()
        others = frame.drop(columns=[y]).notna().all(axis=1)
        observed = frame[others & frame[y].notna()]
        if len(observed) != res.nobs:
            raise ValueError(f"data has {len(observed)} complete rows but the model was fitted "
                             f"to {res.nobs}: pass the data the model was fitted to")
        todo = frame[others & frame[y].isna()]
    else:
        observed = fitted_frame(model)
        todo = observed.iloc[:0]
    if time is not None:
        if not isinstance(time, str) or time not in used:
            raise ValueError(f"time must name a column the model reads ({', '.join(used)}), "
                             f"got {time!r}")
        if waves is None:
            waves = np.sort(pd.unique(observed[time]))
        waves = list(np.atleast_1d(np.asarray(waves)).tolist())
        if len(waves) == 0:
            raise ValueError("waves must list at least one planned wave")
        both = pd.concat([observed, todo], ignore_index=True)
        extra_rows = new_rows(model, both, time, waves, person)
        todo = pd.concat([todo, extra_rows], ignore_index=True)
    elif waves is not None:
        raise ValueError("waves needs time= (the column of the waves)")
    if len(todo) == 0:
        raise ValueError(
            "there is no missing outcome to impute: pass data= (the data the model was "
            "fitted to, with the rows whose outcome is missing) and/or time= (and waves=) "
            "for the planned waves each person lacks")
    return observed.reset_index(drop=True), todo.reset_index(drop=True), person


def _arm_mask(todo, arm, arm_level):
    if arm is None:
        if arm_level is not None:
            raise ValueError("arm_level needs arm= (the column of the arms)")
        return np.ones(len(todo), dtype=bool), None
    if isinstance(arm, tuple) and len(arm) == 2 and arm_level is None:
        arm, arm_level = arm
    if not isinstance(arm, str) or arm not in todo.columns:
        raise ValueError(f"arm must name a column the model reads ({', '.join(todo.columns)}), "
                         f"got {arm!r}")
    if arm_level is None:
        raise ValueError(f"arm_level is needed with arm={arm!r}: the level of {arm!r} whose "
                         "imputed outcomes are shifted by delta")
    vals = todo[arm]
    if not (vals == arm_level).any():
        seen = ", ".join(map(repr, pd.unique(vals)[:10]))
        raise ValueError(f"arm_level {arm_level!r} is not a value of {arm!r} among the rows "
                         f"to impute ({seen})")
    return (vals == arm_level).to_numpy(), (arm, arm_level)


def tipping_point(res, term, deltas=(-1.0, -0.5, 0.0, 0.5, 1.0), arm=None, arm_level=None,
                  m=20, seed=None, time=None, waves=None, data=None, after_dropout=False,
                  alpha=0.05, n_proposals=50, fit_kwargs=None):
    """
    Delta-adjusted multiple imputation of missing outcomes (tipping-point analysis).

    Missing outcomes are imputed from the fitted model given each person's
    observed outcomes, their linear predictor shifted by ``delta`` (in rows of one
    arm only, with ``arm``), the model is refitted to every completed data set,
    and the coefficient ``term`` is pooled by Rubin's rules, for each ``delta``.

    Which outcomes are imputed:

    - with ``data``: the rows of ``data`` whose outcome is missing while every
      other column the model reads is present (``data`` must be the data the
      model was fitted to);
    - with ``time``: for each person, every planned wave (``waves``, default the
      waves seen in the fitted data) with no row; such a row takes the person's
      mean over the rows present for numeric columns (time-varying covariates are
      set to the person's average; constant ones keep their value) and the
      person's last value for other columns.

    One imputation ``j`` draws (1) all parameters from the normal approximation of
    their sampling distribution on the internal scale (log-Cholesky factors of
    the random-effects covariance; the model-based covariance from the Hessian,
    also for a fit with robust standard errors), (2) each person's random effects from their
    conditional distribution given the person's observed outcomes, by
    sampling-importance-resampling from a multivariate t proposal at the
    conditional mode (see
    :func:`~statsmodels_glmm.missing.imputation.draw_random_effects`), (3) the
    missing outcomes from the family with linear predictor
    ``x'beta + z'b + delta``.  Draws (1)-(2) and the random numbers of (3) are
    shared by all deltas, so the estimates move smoothly with ``delta``.

    Parameters
    ----------
    res : MixedGLMResults
        A fit with one grouping factor (binary, count, ordinal or Gaussian outcome).
    term : str
        The fixed effect to follow, e.g. ``"time:group"``.
    deltas : sequence of float
        Shifts of the imputed linear predictor (log-odds for a binary outcome,
        log-rate for counts, the cumulative log-odds of a higher category for an
        ordinal outcome, the outcome's units for a Gaussian one).  For a
        zero-inflated model the count part is shifted, not the probability of a
        structural zero.
    arm, arm_level : str and value, optional
        Shift only the imputed rows where column ``arm`` equals ``arm_level``
        (``arm=("group", 1)`` is accepted too); other imputed rows are MAR.
    m : int
        Imputations per delta (at least 2; 20 or more for a final analysis).
    seed : int, optional
    time, waves : optional
        Impute the planned waves each person lacks (see above).
    data : DataFrame, optional
        The data the model was fitted to, including rows with a missing outcome
        (default: the DataFrame the model was built from, kept by ``from_formula``).
        Not modified.
    after_dropout : bool
        Shift only the imputed waves after the person's last observed wave (needs
        ``time``); intermittently missed waves are then imputed under MAR.
        Default False: every imputed wave is shifted.
    alpha : float
        Level of the tests and intervals.
    n_proposals : int
        Importance-sampling proposals per person and imputation.
    fit_kwargs : dict, optional
        Passed to ``fit`` of each refit (default: the fit's ``nagq``, the fit's
        estimates as start values, ``check_laplace=False``).

    Returns
    -------
    TippingPointResults

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=100, seed=3)
    >>> res = smg.mixedglm("y ~ time * group + (1 | id)", df,
    ...                    family=sm.families.Binomial()).fit()
    >>> tp = res.tipping_point("time:group", deltas=[0, 1], m=2, seed=1, time="time")
    >>> tp.table.columns.tolist()[:3]
    ['delta', 'estimate', 'se']
    """
    what = "tipping_point"
    m = _check_common(res, term, m, seed)
    deltas = _as_deltas(deltas)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    n_proposals = check_whole_number(n_proposals, "n_proposals")
    if fit_kwargs is not None and not isinstance(fit_kwargs, dict):
        raise ValueError(f"fit_kwargs must be a dict, got {type(fit_kwargs).__name__}")
    if not isinstance(after_dropout, (bool, np.bool_)):
        raise ValueError(f"after_dropout must be True or False, got {after_dropout!r}")
    if after_dropout and time is None:
        raise ValueError("after_dropout needs time= (the column of the waves)")
    check_refittable(res, what)
    model = res.model
    d = model.design
    observed, todo, person = _rows_to_impute(res, data, time, waves, what)
    shift, arm_info = _arm_mask(todo, arm, arm_level)
    if after_dropout:
        last = observed.groupby(person)[time].max()
        shift = shift & (todo[time].to_numpy() > todo[person].map(last).to_numpy(
            dtype=float, na_value=-np.inf))
    X, Z, off, labels, extras = model._rows_for(todo)
    gpos = model.group_positions(labels, warn=False)
    template = outcome_template(model, len(todo), extras)
    formula, kwargs = refit_call(model)
    fk = {"nagq": res.nagq, "start_params": np.asarray(res.params), "check_laplace": False}
    fk.update(fit_kwargs or {})
    y = d.endog_name
    k = list(model.exog_names).index(term)
    ss = np.random.SeedSequence(seed)
    est = np.full((len(deltas), m), np.nan)
    var = np.full((len(deltas), m), np.nan)
    not_conv = 0
    ess_all = []
    L_size = d.Z.shape[1]
    for j, child in enumerate(ss.spawn(m)):
        s_par, s_out = child.spawn(2)
        rng = np.random.default_rng(s_par)
        x = draw_internal(res, rng)
        b, ess = draw_random_effects(model, x, rng, n_proposals=n_proposals)
        ess_all.append(ess)
        beta, theta, extra = model._split(x)
        L = model.cov_struct.chol(theta)
        b_new = rng.standard_normal((len(todo), L_size)) @ L.T  # persons not in the fit
        b_rows = np.where(gpos[:, None] >= 0, b[np.maximum(gpos, 0)], b_new)
        eta = X @ beta + off + np.einsum("nq,nq->n", Z, b_rows)
        for i, delta in enumerate(deltas):
            rng_out = np.random.default_rng(s_out)  # the same numbers for every delta
            draw = model.response.simulate(eta + delta * shift, extra, template, rng_out)
            filled = todo.copy()
            filled[y] = as_outcome_column(draw, observed[y])
            completed = pd.concat([observed, filled], ignore_index=True)
            if isinstance(observed[y].dtype, pd.CategoricalDtype):
                completed[y] = pd.Categorical(completed[y], categories=observed[y].cat.categories,
                                              ordered=observed[y].cat.ordered)
            r = type(model).from_formula(formula, completed, **kwargs).fit(**fk)
            not_conv += int(not r.converged)
            est[i, j] = np.asarray(r.params)[k]
            var[i, j] = np.asarray(r.bse)[k] ** 2
    if not_conv:
        warn(f"{not_conv} of {m * len(deltas)} refits did not converge; their estimates are "
             "pooled all the same", UserWarning)
    df_com = float(res.df_resid) + len(todo)
    rows = []
    for i, delta in enumerate(deltas):
        p = rubin_pool(est[i][:, None], var[i][:, None], df_com).iloc[0]
        rows.append({"delta": delta, "estimate": p["estimate"], "se": p["se"], "df": p["df"],
                     "fmi": p["fmi"]})
    table = pd.DataFrame(rows)
    table["t"] = table["estimate"] / table["se"]
    table["pvalue"] = 2 * stats.t.sf(np.abs(table["t"]), table["df"])
    q = stats.t.ppf(1 - alpha / 2, table["df"])
    table["lower"] = table["estimate"] - q * table["se"]
    table["upper"] = table["estimate"] + q * table["se"]
    table = table[["delta", "estimate", "se", "df", "t", "pvalue", "lower", "upper", "fmi"]]
    info = {"term": term, "m": m, "alpha": alpha, "n_imputed": len(todo),
            "n_shifted": int(shift.sum()), "n_observed": len(observed), "arm": arm_info,
            "time": time, "waves": waves, "from_data": data is not None,
            "after_dropout": bool(after_dropout),
            "direct": (float(res.params.iloc[k] if hasattr(res.params, "iloc")
                             else res.params[k]), float(np.asarray(res.bse)[k])),
            "median_ess": float(np.median(np.concatenate(ess_all))),
            "min_ess": float(np.min(np.concatenate(ess_all))),
            "not_converged": not_conv, "family": model.response.name}
    return TippingPointResults(table, info, estimates=est, variances=var)


def _crossings(table, alpha):
    """Deltas where significance at ``alpha`` changes, interpolated between neighbours."""
    crit = stats.t.ppf(1 - alpha / 2, table["df"].to_numpy())
    s = np.abs(table["t"].to_numpy()) - crit
    dl = table["delta"].to_numpy()
    out = []
    for a in range(len(dl) - 1):
        if (s[a] > 0) != (s[a + 1] > 0):
            out.append(float(dl[a] + (dl[a + 1] - dl[a]) * s[a] / (s[a] - s[a + 1])))
    return out


class TippingPointResults:
    """
    Results of :func:`tipping_point`.

    Attributes
    ----------
    table : DataFrame
        One row per delta: pooled ``estimate``, ``se``, Barnard-Rubin ``df``,
        ``t``, ``pvalue``, interval ``lower``/``upper`` and ``fmi``.
    crossings : list of float
        Deltas at which the conclusion (significance at ``alpha``) changes,
        interpolated linearly in ``|t| - t_crit`` between neighbouring deltas.
    tipping_delta : float
        The crossing nearest to ``delta = 0`` (NaN if the conclusion does not change
        within the deltas examined).
    estimates, variances : ndarray (deltas, m)
        Per-imputation estimates and squared standard errors.
    info : dict
        Settings and diagnostics (rows imputed, importance-sampling effective
        sample sizes, the direct estimate and its standard error).
    """

    def __init__(self, table, info, estimates=None, variances=None):
        self.table = table
        self.info = info
        self.estimates = estimates
        self.variances = variances
        self.alpha = info["alpha"]
        self.crossings = _crossings(table, self.alpha)
        self.tipping_delta = (min(self.crossings, key=abs) if self.crossings else np.nan)

    def summary(self):
        """The analysis as text."""
        i = self.info
        b, se = i["direct"]
        where = (f"only in rows with {i['arm'][0]} = {i['arm'][1]!r}" if i["arm"]
                 else "in every imputed row")
        if i.get("after_dropout"):
            where += ", after the person's last observed wave"
        lines = [f"Tipping-point analysis for {i['term']!r} ({i['family']})",
                 "=" * 72,
                 f"Direct (MAR) estimate: {b:.4f} (SE {se:.4f})",
                 f"Outcomes imputed: {i['n_imputed']} (shifted by delta {where}: "
                 f"{i['n_shifted']}); observed rows: {i['n_observed']}",
                 f"Imputations per delta: {i['m']}; pooled by Rubin's rules with "
                 "Barnard-Rubin degrees of freedom", "",
                 self.table.to_string(index=False, float_format=lambda v: f"{v:.4f}"), ""]
        if self.crossings:
            lines.append(f"The conclusion at alpha = {self.alpha} changes at delta = "
                         + ", ".join(f"{c:.3f}" for c in self.crossings)
                         + f" (tipping point nearest to MAR: {self.tipping_delta:.3f}).")
        else:
            sig = bool(self.table["pvalue"].iloc[0] < self.alpha)
            lines.append(f"The conclusion at alpha = {self.alpha} ("
                         + ("significant" if sig else "not significant")
                         + ") does not change between delta = "
                         f"{self.table['delta'].min():g} and {self.table['delta'].max():g}.")
        lines.append("delta shifts the linear predictor of the imputed outcomes: delta = 0 is "
                     "MAR; other values assume the missing outcomes differ from what the "
                     "observed data predict by delta on the link scale.")
        lines.append("Imputation: parameters drawn from their normal sampling distribution; "
                     "each person's random effects drawn from their conditional distribution "
                     "given the observed waves (importance resampling at the conditional "
                     f"mode; median effective sample size {i['median_ess']:.0f}, "
                     f"smallest {i['min_ess']:.1f}).")
        if i["min_ess"] < 5:
            lines.append("A person's importance weights have an effective sample size "
                         "below 5: increase n_proposals.")
        if i["not_converged"]:
            lines.append(f"{i['not_converged']} refits did not converge.")
        return "\n".join(lines)

    def __str__(self):
        return self.summary()

    def __repr__(self):
        return (f"<TippingPointResults {self.info['term']!r}: {len(self.table)} deltas, "
                f"tipping delta {self.tipping_delta:.3g}>")

    def plot(self, ax=None):
        """
        Pooled estimate and interval against delta, with zero and the tipping point.

        Returns
        -------
        matplotlib Figure
        """
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(6, 4))
        else:
            fig = ax.figure
        t = self.table
        ax.fill_between(t["delta"], t["lower"], t["upper"], alpha=0.25,
                        label=f"{100 * (1 - self.alpha):.0f}% interval")
        ax.plot(t["delta"], t["estimate"], marker="o", label="pooled estimate")
        ax.axhline(0.0, color="black", linewidth=0.8)
        if np.isfinite(self.tipping_delta):
            ax.axvline(self.tipping_delta, color="red", linestyle="--",
                       label=f"tipping point {self.tipping_delta:.2f}")
        ax.set_xlabel("delta (shift of the imputed linear predictor)")
        ax.set_ylabel(self.info["term"])
        ax.legend(fontsize="small")
        ax.set_title("Tipping-point analysis")
        return fig
