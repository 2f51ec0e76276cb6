"""
Rows of new data for prediction from a formula model.

:meth:`RowsMixin._rows_for` builds the fixed- and random-effects designs,
offset, group labels and extra designs of new data; :meth:`RowsMixin.group_positions`
finds each new row's group among the fitted groups.
"""

import warnings

import numpy as np
import pandas as pd

__all__ = ["RowsMixin"]


class RowsMixin:
    """
    Mapping of new data onto a formula model's designs and fitted groups.

    Reads the model's ``design`` and ``multi``.
    """

    # ----------------------------------------------------------- prediction
    def _rows_for(self, data, need_groups=True):
        """
        X, Z, offset, group labels and extra designs for new data (formula models).

        The grouping column is needed only when ``need_groups`` (conditional
        predictions); without it the labels are None.
        """
        from ..spec.frame import _prepare_frame, group_columns, group_values, materialize

        d = self.design
        mgr = d.extra.get("formula_manager")
        if mgr is None:
            raise ValueError("predicting from new data needs a model built with from_formula; "
                             "pass exog/exog_re/groups arrays instead")
        if not isinstance(data, pd.DataFrame):
            raise ValueError("data must be a pandas DataFrame")
        spec_data = d.extra.get("spec_data")
        used = [c for c in (spec_data.columns if spec_data is not None else [])
                if c in data.columns]
        data = _prepare_frame(data, used)
        Xdf = materialize(d.fixed_spec, data, mgr)
        Xdf.columns = [str(c) for c in Xdf.columns]
        # the columns the fit kept (an ordinal model drops the intercept, collinear
        # columns are dropped)
        X = Xdf[d.extra.get("fixed_columns", d.exog_names)].to_numpy(dtype=float)
        Z = np.column_stack([materialize(s, data, mgr).to_numpy(dtype=float) for s in d.re_spec])
        gcols = d.extra.get("group_columns") or d.group_name.split(":")
        absent = [g for g in gcols if g not in data.columns]
        if absent and need_groups:
            raise ValueError(f"grouping column {absent[0]!r} is not in data; conditional "
                             "predictions need it (random_effects='zero' or 'marginal' "
                             "do not)")
        if absent:
            labels = None
        elif self.multi:
            labels = {f: group_values(data, group_columns(f, data)).to_numpy()
                      for f in d.factors}
        else:
            labels = group_values(data, group_columns(d.group_name, data)).to_numpy()
        offset = np.zeros(len(data))
        for key, fn in (("offset", lambda v: v), ("exposure", np.log)):
            spec = d.extra.get(key)
            if isinstance(spec, str):
                if spec not in data.columns:
                    raise ValueError(f"{key} column {spec!r} is not in data")
                offset = offset + fn(data[spec].to_numpy(dtype=float))
        extras = {}
        for key, val in d.extra.items():
            if isinstance(val, tuple) and len(val) == 3:
                extras[key] = materialize(val[2], data, mgr).to_numpy(dtype=float)
        return X, Z, offset, labels, extras

    def group_positions(self, labels, warn=True, factor=None):
        """
        Index of each label among the fitted groups (-1 for a group not in the fit).

        Labels are matched by value; where that finds nothing, by their text, so
        that ids read as strings find the groups fitted with integer ids (and the
        reverse) when the text form is unambiguous.  A warning counts the rows
        whose group was not in the fit (their random effects are zero).

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("binary", n_persons=30, seed=2)
        >>> m = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial())
        >>> m.group_positions(np.array(["1", "2", "30"])).tolist()
        [0, 1, 29]
        """
        d = self.design
        fitted_labels = d.group_labels
        factor = d.group_name if factor is None else factor
        if d.multi:
            fitted_labels = next(t.labels for t in d.terms if t.group == factor)
        fitted = pd.Index(fitted_labels)
        labels = np.asarray(labels)
        pos = fitted.get_indexer(labels)
        if np.any(pos < 0):
            text = pd.Index([str(v) for v in fitted_labels])
            if text.is_unique:
                alt = text.get_indexer([str(v) for v in labels])
                pos = np.where(pos < 0, alt, pos)
        unseen = pos < 0
        if warn and np.any(unseen):
            n_groups = len(pd.unique(labels[unseen]))
            warnings.warn(
                f"{int(unseen.sum())} row(s) of new data belong to {n_groups} group(s) of "
                f"{factor!r} that were not in the fit: their random effects "
                "are set to zero", UserWarning, stacklevel=3)
        return pos
