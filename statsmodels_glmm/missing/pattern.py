"""
Pattern-mixture model: the dropout pattern as a covariate.

Persons are grouped by their dropout pattern, the last wave at which their
outcome was observed.  The model is refitted with the pattern as a main effect
and interacting with every fixed-effect column that involves time, so that each
pattern has its own level and its own trajectory; the estimates of the original
coefficients are then averaged over the patterns, weighted by the share of
persons in each, with delta-method standard errors (from the refit's covariance
and the multinomial variance of the shares).

The assumption, in plain words: persons who leave the study at the same wave
are alike, and their trajectory before they left describes how they would have
continued; the average over patterns describes the whole sample.  Patterns
whose persons have only one observed wave cannot show a trajectory, and small
patterns cannot estimate one: both are merged with the next later pattern.
"""

import re

import numpy as np
import pandas as pd
from scipy import stats

from ..validation import check_whole_number
from .imputation import check_refittable, fitted_frame, refit_call

__all__ = ["pattern_mixture", "PatternMixtureResults"]


def _involves(name, time):
    """True when the fixed-effect column ``name`` involves the variable ``time``."""
    pat = re.compile(r"(?<![\w.])" + re.escape(time) + r"(?![\w])")
    return any(pat.search(part) for part in str(name).split(":"))


def pattern_mixture(res, time, term=None, min_persons=20, alpha=0.05, fit_kwargs=None):
    """
    Pattern-mixture estimates: patterns of dropout as covariates, averaged.

    Parameters
    ----------
    res : MixedGLMResults
        A fit with one grouping factor, the person.
    time : str
        The wave column (numeric); the pattern of a person is the last wave with
        an observed outcome.
    term : str, optional
        A fixed effect to single out in :attr:`PatternMixtureResults.term_table`
        (the per-pattern estimates); default the first one involving ``time``.
    min_persons : int
        A pattern with fewer persons (or whose persons have one observed wave
        only) is merged with the next later pattern (the latest with the one
        before it).
    alpha : float
    fit_kwargs : dict, optional
        Passed to ``fit`` of the refit (default: the fit's ``nagq``).

    Returns
    -------
    PatternMixtureResults

    Notes
    -----
    The pattern enters as indicator columns (reference: the latest pattern,
    usually the completers) and as their products with every fixed-effect column
    whose name involves ``time``.  The averaged coefficient of a column ``c`` is
    ``sum_p pi_p (beta_c + gamma_pc)`` with ``pi_p`` the share of persons in
    pattern ``p``; its variance is ``a' V a + g' S g``, ``a`` the weights on the
    refit's coefficients, ``V`` their covariance, ``g`` the per-pattern
    coefficients and ``S = (diag(pi) - pi pi') / n`` the covariance of the shares.
    With a single pattern the model and the estimates are those of the fit.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=150, seed=3)
    >>> res = smg.mixedglm("y ~ time * group + (1 | id)", df,
    ...                    family=sm.families.Poisson()).fit()
    >>> pm = res.pattern_mixture(time="time")
    >>> pm.params.index.tolist() == res.fe_params.index.tolist()
    True
    """
    check_refittable(res, "pattern_mixture")
    model = res.model
    d = model.design
    frame = fitted_frame(model)
    if not isinstance(time, str) or time not in frame.columns:
        raise ValueError(f"time must name a column the model reads "
                         f"({', '.join(frame.columns)}), got {time!r}")
    if not pd.api.types.is_numeric_dtype(frame[time].dtype):
        raise ValueError(f"time column {time!r} must be numeric")
    names = list(model.exog_names)
    timed = [c for c in names if _involves(c, time)]
    if not timed:
        raise ValueError(f"no fixed effect of the model involves {time!r}")
    if term is None:
        term = timed[0]
    elif not isinstance(term, str) or term not in names:
        raise ValueError(f"term must name a fixed effect of the model ({', '.join(names)}), "
                         f"got {term!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    min_persons = check_whole_number(min_persons, "min_persons")
    if fit_kwargs is not None and not isinstance(fit_kwargs, dict):
        raise ValueError(f"fit_kwargs must be a dict, got {type(fit_kwargs).__name__}")
    person = d.extra["group_columns"][0]
    g = frame.groupby(person, sort=False)[time]
    last, n_waves = g.max(), g.nunique()
    # a pattern whose persons have one observed wave shows no trajectory: merge it
    # with the next later pattern
    # (and so is a pattern of fewer than min_persons persons)
    levels = sorted(pd.unique(last))
    merged, pending = {}, []
    for lev in levels:
        pending.append(lev)
        sel = last.isin(pending)
        if sel.sum() >= min_persons and not bool((n_waves[sel] <= 1).all()):
            merged.update({v: lev for v in pending})
            pending = []
    if pending:  # the latest patterns are too small: join the previous one
        target = max(merged.values()) if merged else pending[-1]
        merged.update({v: target for v in pending})
        merged = {k: (target if v in pending else v) for k, v in merged.items()}
    pattern = last.map(merged)
    pats = sorted(pd.unique(pattern))
    shares = pattern.value_counts(normalize=True).reindex(pats).to_numpy()
    n_persons = len(pattern)
    ref = pats[-1]
    others = [p for p in pats if p != ref]
    X = d.unsort(d.X)  # the fitted rows in data order, as frame
    row_pat = frame[person].map(pattern).to_numpy()
    cols, ind_cols = {}, {}
    for i, p in enumerate(others):
        ind = (row_pat == p).astype(float)
        name = f"_pattern{i + 1}"
        cols[name] = ind
        ind_cols[p] = {"Intercept": name}
        for c in timed:
            cname = f"_pattern{i + 1}_x{names.index(c)}"
            cols[cname] = ind * X[:, names.index(c)]
            ind_cols[p][c] = cname
    work = frame.assign(**cols)
    formula, kwargs = refit_call(model)
    if cols:
        formula = formula + " + " + " + ".join(cols)
    fk = {"nagq": res.nagq}
    fk.update(fit_kwargs or {})
    refit = type(model).from_formula(formula, work, **kwargs).fit(**fk) if cols else res
    all_names = list(refit.model.exog_names)
    V = np.asarray(refit.cov_params_fe())
    b = np.asarray(refit.fe_params)
    est, se, per = [], [], {}
    for c in names:
        a = np.zeros(len(all_names))
        a[all_names.index(c)] = 1.0
        gp = np.full(len(pats), b[all_names.index(c)])
        for p in others:
            key = ind_cols[p].get("Intercept" if c == "Intercept" else c)
            if key is not None and key in all_names:
                a[all_names.index(key)] += shares[pats.index(p)]
                gp[pats.index(p)] += b[all_names.index(key)]
        S = (np.diag(shares) - np.outer(shares, shares)) / n_persons
        est.append(float(shares @ gp))
        se.append(float(np.sqrt(a @ V @ a + gp @ S @ gp)))
        per[c] = gp
    est, se = np.array(est), np.array(se)
    counts = pattern.value_counts().reindex(pats).to_numpy()
    term_table = pd.DataFrame({"persons": counts, "share": shares, "estimate": per[term]},
                              index=pd.Index(pats, name="last wave"))
    info = {"time": time, "term": term, "merged": {k: v for k, v in merged.items() if k != v},
            "n_persons": n_persons, "timed": timed}
    return PatternMixtureResults(pd.Series(est, index=names), pd.Series(se, index=names),
                                 term_table, refit, info, alpha)


class PatternMixtureResults:
    """
    Results of :func:`pattern_mixture`.

    Attributes
    ----------
    params, bse, tvalues, pvalues : Series
        Pattern-averaged fixed effects, delta-method standard errors, z statistics
        and two-sided normal p-values.
    term_table : DataFrame
        Per pattern (last observed wave): persons, share and the estimate of
        ``term``.
    refit : MixedGLMResults
        The fit with the pattern columns.
    info : dict
    """

    def __init__(self, params, bse, term_table, refit, info, alpha=0.05):
        self.params = params
        self.bse = bse
        with np.errstate(divide="ignore", invalid="ignore"):
            self.tvalues = params / bse
        self.pvalues = pd.Series(2 * stats.norm.sf(np.abs(self.tvalues)), index=params.index)
        self.term_table = term_table
        self.refit = refit
        self.info = info
        self.alpha = alpha

    def conf_int(self, alpha=None):
        """Wald intervals ``estimate -/+ z se`` (DataFrame with ``lower``, ``upper``)."""
        alpha = self.alpha if alpha is None else alpha
        z = stats.norm.ppf(1 - alpha / 2)
        return pd.DataFrame({"lower": self.params - z * self.bse,
                             "upper": self.params + z * self.bse})

    def summary(self):
        """The estimates, the patterns and the assumption, as text."""
        ci = self.conf_int()
        tab = pd.DataFrame({"Coef.": self.params, "Std.Err.": self.bse, "z": self.tvalues,
                            "P>|z|": self.pvalues, "lower": ci["lower"], "upper": ci["upper"]})
        i = self.info
        lines = ["Pattern-mixture model (pattern: last observed wave of "
                 f"{i['time']!r}; {i['n_persons']} persons)", "=" * 72,
                 "Fixed effects averaged over the patterns (delta-method SEs):",
                 tab.to_string(float_format=lambda v: f"{v:.4f}"), "",
                 f"Per pattern, {i['term']!r}:",
                 self.term_table.to_string(float_format=lambda v: f"{v:.4f}")]
        if i["merged"]:
            lines.append("Merged (fewer than min_persons persons, or one observed wave "
                         "and so no trajectory): "
                         + ", ".join(f"{k} into {v}" for k, v in i["merged"].items()))
        lines.append("Assumption: persons who leave at the same wave are alike, and their "
                     "trajectory while observed describes how they would have continued "
                     "(each pattern extrapolates its own trajectory).")
        return "\n".join(lines)

    def __str__(self):
        return self.summary()

    def __repr__(self):
        return f"<PatternMixtureResults: {len(self.term_table)} patterns>"
