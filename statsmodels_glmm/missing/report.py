"""
What is missing: rows dropped per column, patterns of observed waves, dropout.

:func:`missing_report` reads the data and the formula of a model before it is
fitted and says which rows the fit will drop, and why; with a time column it
classifies every person's observed waves as complete, monotone dropout or
intermittent, and counts dropout by wave (and by arm).
"""

import numpy as np
import pandas as pd

from ..spec.formula import split_formula
from ..spec.formula_engine import formula_manager
from ..spec.frame import _prepare_frame, evaluate_frame, model_columns

__all__ = ["missing_report", "MissingReport", "kept_rows"]


def kept_rows(data, formula, groups=None, re_formula=None, offset=None, exposure=None,
              extra_formulas=None, formula_engine=None):
    """
    Which rows of ``data`` a model with this formula keeps, and the columns it reads.

    The same evaluation as the model's (formula, random terms, grouping,
    offset), so the counts agree with ``MixedGLM.from_formula``.

    Returns
    -------
    keep : ndarray of bool
    used : list of str
        The columns of ``data`` the model reads.
    gcols : list of str
        The grouping columns.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [0, 1, None, 1], "x": [1.0, None, 2.0, 3.0],
    ...                    "id": [1, 1, 2, 2]})
    >>> keep, used, gcols = kept_rows(df, "y ~ x + (1 | id)")
    >>> keep.tolist(), used, gcols
    ([True, False, False, True], ['y', 'x', 'id'], ['id'])
    """
    from ..spec.formula import re_formula_terms

    if not isinstance(data, pd.DataFrame):
        raise ValueError("data must be a pandas DataFrame, got "
                         f"{type(data).__module__}.{type(data).__name__}")
    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(f"formula must be a formula string such as 'y ~ x + (1 | id)', "
                         f"got {formula!r}")
    fixed, terms = split_formula(formula)
    if not terms:
        if groups is None:
            raise ValueError("groups is needed when the formula has no random-effect term "
                             "such as '(1 | id)'")
        if not isinstance(groups, str) or groups not in data.columns:
            raise ValueError(f"groups must name a column of data, got {groups!r}")
        terms = re_formula_terms(re_formula, groups)
    group_names = list(dict.fromkeys(t.group for t in terms))
    gcols, used, _ = model_columns(formula, extra_formulas, group_names, offset, exposure,
                                   data)
    work = _prepare_frame(data, used)
    mf = evaluate_frame(work, formula_manager(formula_engine), fixed, terms, gcols,
                        extra_formulas, offset, exposure, check_columns=True)
    return np.asarray(mf.keep, dtype=bool), used, gcols


def _pattern_kind(row):
    """``complete``, ``monotone``, ``intermittent`` or ``none`` for a 0/1 wave vector."""
    obs = np.flatnonzero(row)
    if len(obs) == 0:
        return "none"
    if len(obs) == len(row):
        return "complete"
    if obs[-1] == len(obs) - 1:  # observed up to a wave, missing after it
        return "monotone"
    return "intermittent"


def missing_report(data, formula, groups=None, time=None, arm=None, waves=None,
                   re_formula=None, offset=None, exposure=None, formula_engine=None,
                   extra_formulas=None):
    """
    Describe the missing data a model with ``formula`` meets in ``data``.

    Parameters
    ----------
    data : DataFrame
        Not modified.
    formula : str
        The model's formula (``"y ~ x + (1 | id)"``, or a fixed part with ``groups``).
    groups : str, optional
        The person (grouping) column when the formula has no bar term; otherwise
        the first grouping factor of the formula is the person.
    time : str, optional
        The wave column; needed for the patterns and the dropout tables.
    arm : str, optional
        A column constant within persons (treatment arm) to split the dropout by.
    waves : sequence, optional
        The planned waves (default: every value of ``time`` in ``data``).  A person
        is observed at a wave when a row of that wave is kept by the model.
    re_formula, offset, exposure, formula_engine
        As in ``MixedGLM.from_formula``.
    extra_formulas : dict of str, optional
        Further right-hand sides the model reads (a zero-inflation formula).

    Returns
    -------
    MissingReport

    Examples
    --------
    >>> df = pd.DataFrame({"id": [1, 1, 1, 2, 2, 2], "t": [0, 1, 2, 0, 1, 2],
    ...                    "y": [0, 1, None, 1, None, 0], "x": [1.0] * 6})
    >>> rep = missing_report(df, "y ~ x + t + (1 | id)", time="t")
    >>> rep.n_dropped, sorted(rep.patterns["kind"])
    (2, ['intermittent', 'monotone'])
    """
    keep, used, gcols = kept_rows(data, formula, groups=groups, re_formula=re_formula,
                                  offset=offset, exposure=exposure,
                                  formula_engine=formula_engine,
                                  extra_formulas=extra_formulas)
    for name, col in (("time", time), ("arm", arm)):
        if col is not None and (not isinstance(col, str) or col not in data.columns):
            raise ValueError(f"{name} must name a column of data, got {col!r}")
    person = groups if groups is not None and not gcols else gcols[0]
    return MissingReport(data, keep, used, person, time=time, arm=arm, waves=waves,
                         formula=formula)


class MissingReport:
    """
    Tables of what is missing (see :func:`missing_report`).

    Attributes
    ----------
    n_rows, n_dropped, n_persons : int
        Rows of the data, rows the model drops, persons (levels of the grouping
        column).
    columns : DataFrame
        Per column the model reads: ``missing`` (rows where it is missing),
        ``percent``, and ``only_reason`` (dropped rows where it is the only
        missing column).
    patterns : DataFrame or None
        With ``time``: one row per pattern of observed waves (``X`` observed,
        ``.`` missing, waves in order): ``persons``, ``percent`` and ``kind``
        (complete, monotone, intermittent, none).
    kinds : DataFrame or None
        Persons per kind of pattern (and per arm).
    dropout : DataFrame or None
        Per wave (and arm): persons observed, persons missing the wave, persons
        dropped out by then (not observed at this or any later wave), and the
        percentage dropped out.
    person_patterns : DataFrame or None
        Per person: the pattern, its kind, the last observed wave and the arm.
    """

    def __init__(self, data, keep, used, person, time=None, arm=None, waves=None, formula=None):
        self.formula = formula
        self.person = person
        self.time = time
        self.arm = arm
        self.n_rows = len(data)
        self.n_dropped = int((~keep).sum())
        self.n_persons = int(data[person].nunique())
        miss = data[used].isna()
        only = miss.sum(axis=1) == 1
        self.columns = pd.DataFrame({
            "missing": miss.sum(axis=0).astype(int),
            "percent": 100 * miss.mean(axis=0),
            "only_reason": (miss & only.to_numpy()[:, None]).sum(axis=0).astype(int)})
        self.columns.index.name = "column"
        self.patterns = self.kinds = self.dropout = self.person_patterns = None
        if time is not None:
            self._waves(data, keep, waves)

    def _waves(self, data, keep, waves):
        person, time, arm = self.person, self.time, self.arm
        if waves is None:
            waves = np.sort(pd.unique(data[time].dropna()))
        waves = list(waves)
        if len(waves) == 0:
            raise ValueError(f"time column {time!r} has no values")
        obs = data.loc[keep, [person, time]]
        obs = obs[obs[time].isin(waves)]
        persons = pd.unique(data[person].dropna())
        grid = (pd.crosstab(obs[person], obs[time]).reindex(index=persons, columns=waves,
                                                            fill_value=0) > 0)
        mat = grid.to_numpy()
        text = ["".join("X" if v else "." for v in row) for row in mat]
        kinds = [_pattern_kind(row) for row in mat]
        last = [waves[np.flatnonzero(row)[-1]] if row.any() else np.nan for row in mat]
        pp = pd.DataFrame({"pattern": text, "kind": kinds, "last_wave": last},
                          index=pd.Index(persons, name=person))
        if arm is not None:
            arms = data.dropna(subset=[person]).groupby(person, sort=False)[arm]
            if (arms.nunique() > 1).any():
                bad = arms.nunique()
                raise ValueError(f"arm column {arm!r} changes within persons (e.g. "
                                 f"{bad[bad > 1].index[0]!r}); it must be constant per person")
            pp["arm"] = arms.first().reindex(persons).to_numpy()
        self.person_patterns = pp
        counts = pp.groupby(["pattern", "kind"]).size().rename("persons").reset_index()
        counts = counts.sort_values(["persons", "pattern"], ascending=[False, True])
        counts["percent"] = 100 * counts["persons"] / len(pp)
        self.patterns = counts.set_index("pattern")
        order = ["complete", "monotone", "intermittent", "none"]
        if arm is None:
            kinds_t = pp["kind"].value_counts().reindex(order, fill_value=0).to_frame("persons")
        else:
            kinds_t = pd.crosstab(pp["kind"], pp["arm"]).reindex(order, fill_value=0)
            kinds_t["all"] = kinds_t.sum(axis=1)
        kinds_t.index.name = "kind"
        self.kinds = kinds_t
        rows = []
        by = [(None, np.ones(len(pp), dtype=bool))]
        if arm is not None:
            by += [(a, (pp["arm"] == a).to_numpy()) for a in pd.unique(pp["arm"].dropna())]
        lastpos = np.array([np.flatnonzero(r)[-1] if r.any() else -1 for r in mat])
        for a, sel in by:
            n = int(sel.sum())
            for k, w in enumerate(waves):
                observed = int(mat[sel, k].sum())
                gone = int((lastpos[sel] < k).sum())
                row = {"wave": w, "persons": n, "observed": observed,
                       "missing": n - observed, "dropped_out": gone,
                       "percent_dropped_out": 100 * gone / n if n else np.nan}
                if arm is not None:
                    row = {"arm": "all" if a is None else a, **row}
                rows.append(row)
        self.dropout = pd.DataFrame(rows).set_index(["arm", "wave"] if arm is not None
                                                     else "wave")

    def summary(self):
        """The report as text."""
        lines = ["Missing data report",
                 "=" * 60,
                 f"Formula: {self.formula}",
                 f"Rows: {self.n_rows}; dropped by the model (a missing value in a column "
                 f"it reads): {self.n_dropped} ({100 * self.n_dropped / max(self.n_rows, 1):.1f}%)",
                 f"Persons ({self.person}): {self.n_persons}", "",
                 "Missing values per column (only_reason: dropped rows where it is the "
                 "only missing column):",
                 self.columns.to_string(float_format=lambda v: f"{v:.1f}")]
        if self.patterns is not None:
            lines += ["", f"Patterns of observed waves ({self.time}; X observed, . missing):",
                      self.patterns.head(15).to_string(float_format=lambda v: f"{v:.1f}")]
            if len(self.patterns) > 15:
                lines.append(f"... {len(self.patterns) - 15} more patterns")
            lines += ["", "Persons by kind of pattern (monotone: observed up to a wave and "
                      "missing after it; intermittent: a missed wave followed by an "
                      "observed one):", self.kinds.to_string()]
            lines += ["", "Dropout by wave (dropped_out: not observed at this or any later "
                      "wave):", self.dropout.to_string(float_format=lambda v: f"{v:.1f}")]
        return "\n".join(lines)

    def __str__(self):
        return self.summary()

    def __repr__(self):
        return (f"<MissingReport: {self.n_dropped} of {self.n_rows} rows dropped, "
                f"{self.n_persons} persons>")

    def plot(self, ax=None):
        """
        Percentage of persons observed and dropped out at each wave (by arm).

        Parameters
        ----------
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib Figure
        """
        import matplotlib.pyplot as plt

        if self.dropout is None:
            raise ValueError("the plot needs the waves: build the report with time=")
        if ax is None:
            fig, ax = plt.subplots(figsize=(6, 4))
        else:
            fig = ax.figure
        d = self.dropout.reset_index()
        groups = [("all", d)] if self.arm is None else [
            (a, part) for a, part in d.groupby("arm", sort=False) if a != "all"]
        for lab, part in groups:
            p = part["persons"].to_numpy(dtype=float)
            label = "" if self.arm is None else f"{self.arm} = {lab}: "
            ax.plot(part["wave"], 100 * part["observed"] / p, marker="o",
                    label=label + "observed")
            ax.plot(part["wave"], part["percent_dropped_out"], marker="s", linestyle="--",
                    label=label + "dropped out")
        ax.set_xlabel(str(self.time))
        ax.set_ylabel("% of persons")
        ax.set_ylim(0, 105)
        ax.legend(fontsize="small")
        ax.set_title("Observed waves and dropout")
        return fig
