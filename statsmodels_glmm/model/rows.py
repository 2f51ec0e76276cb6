"""
Rows of new data for prediction from a formula model.

:meth:`RowsMixin._rows_for` builds the fixed- and random-effects designs,
offset, group labels and extra designs of new data; :meth:`RowsMixin.group_positions`
finds each new row's group among the fitted groups; :meth:`RowsMixin.predict` is
statsmodels' ``model.predict(params, exog)``: the mean with the random effects at
zero.
"""

import numpy as np
import pandas as pd

from ..exceptions import warn as _warn

__all__ = ["RowsMixin"]


class RowsMixin:
    """
    Mapping of new data onto a formula model's designs and fitted groups.

    Reads the model's ``design`` and ``multi``.
    """

    # ----------------------------------------------------------- prediction
    def predict(self, params, exog=None, which="mean", offset=None, exposure=None):
        """
        Mean response with the random effects at zero, for parameters ``params``.

        statsmodels' ``model.predict(params, exog)``: the same values as
        ``res.predict(exog, random_effects="zero")`` when ``params`` are the
        estimates (the mean of a group whose random effects are zero, not the
        population average; see ``random_effects="marginal"`` there).

        Parameters
        ----------
        params : array-like
            All parameters in the order of :attr:`param_names`; a family without
            parameters of its own also takes the fixed effects alone.
        exog : DataFrame or array-like, optional
            New data with the columns the fixed-effects formula (and a
            zero-inflation formula) uses, or a fixed-effects design with one column
            per fixed effect (:attr:`exog_names`); default the fitted rows.  Rows of a
            DataFrame with a missing value get NaN.
        which : str
            ``"mean"``, ``"linear"`` or what the family adds.
        offset, exposure : array-like, optional
            Per row of ``exog``; needed with a design array when the model was
            fitted with an offset (give ``offset=0`` for none).

        Returns
        -------
        ndarray
            One value per row (two dimensions for multi-column predictions).

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("binary", n_persons=40, seed=4)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
        >>> p = res.model.predict(res.params, df.head(2))
        >>> bool(np.allclose(p, res.predict(df.head(2), random_effects="zero")))
        True
        >>> X = np.array([[1.0, 0.0], [1.0, 2.0]])
        >>> bool(np.allclose(res.model.predict(res.params, X)[0],
        ...                  1 / (1 + np.exp(-res.params["Intercept"]))))
        True
        """
        beta, extra = self._predict_params(params)
        d = self.design
        if exog is None:
            if not isinstance(d.X, np.ndarray):
                raise ValueError("exog: the fitted rows were removed by remove_data(); "
                                 "pass the rows to predict")
            if offset is not None or exposure is not None:
                raise ValueError("offset/exposure are for the rows of exog; the fitted rows "
                                 "use the model's own")
            extras = {k: v[0] for k, v in d.extra.items() if isinstance(v, tuple) and len(v) == 3}
            out = self._predict_rows(d.X, d.offset, beta, extra, which, extras, None, None)
            if out.ndim == 2:
                un = np.empty_like(out)
                un[d.order] = out
                return un
            return d.unsort(out)
        if isinstance(exog, pd.DataFrame) and d.extra.get("formula_manager") is not None:
            missing = self._missing_rows(exog)
            keep = None if missing is None or not missing.any() else ~missing
            rows = exog if keep is None else exog.loc[keep]
            X, _, off, _, extras = self._rows_for(rows, need_groups=False)
            if keep is not None:
                offset = None if offset is None else np.asarray(offset, dtype=float)[keep]
                exposure = None if exposure is None else np.asarray(exposure, dtype=float)[keep]
            if offset is None and exposure is None and self._fitted_offset() and \
                    d.extra.get("offset") is None and d.extra.get("exposure") is None and \
                    not d.extra.get("formula_offsets"):
                raise ValueError("offset: the model was fitted with an offset given as an "
                                 "array; pass offset= (or exposure=) for the rows of exog "
                                 "(offset=0 for none)")
            out = self._predict_rows(X, off, beta, extra, which, extras, offset, exposure)
            if keep is None:
                return out
            full = np.full((len(exog),) + out.shape[1:], np.nan)
            full[keep] = out
            return full
        X = self._design_array(exog)
        if offset is None and exposure is None and self._fitted_offset():
            raise ValueError("offset: the model was fitted with an offset; pass offset= (or "
                             "exposure=) for the rows of exog (offset=0 for none)")
        return self._predict_rows(X, np.zeros(len(X)), beta, extra, which,
                                  self._constant_extras(len(X)), offset, exposure)

    def _constant_extras(self, n):
        """The family's extra designs (zero inflation) for ``n`` rows of a design array."""
        out = {}
        for key, val in self.design.extra.items():
            if not (isinstance(val, tuple) and len(val) == 3):
                continue
            M = None if val[0] is None else np.asarray(val[0], dtype=float)
            if M is None or len(M) == 0 or not np.all(M == M[:1]):
                raise ValueError(f"exog: the model's {key!r} design varies by row, so a "
                                 "fixed-effects array cannot carry it; pass a DataFrame with "
                                 "the columns its formula uses")
            out[key] = np.repeat(M[:1], n, axis=0)
        return out

    def _predict_params(self, params):
        """Fixed effects and internal family parameters from reported ``params``."""
        names = list(self.param_names)
        vals = np.asarray(params, dtype=float)
        p, k = self.k_fe, self.k_re
        if vals.ndim == 1 and vals.shape[0] == len(names):
            extra = (self.response.extra_internal(vals[p + k:]) if self.k_extra
                     else np.zeros(0))
            return vals[:p], np.asarray(extra, dtype=float)
        if vals.ndim == 1 and vals.shape[0] == p and not self.k_extra:
            return vals, np.zeros(0)
        alone = "" if self.k_extra else f" (or the {p} fixed effects alone)"
        raise ValueError(f"params has shape {vals.shape}; the model has {len(names)} "
                         f"parameters{alone}: {', '.join(names)}")

    def _design_array(self, exog):
        """``exog`` as a fixed-effects design with one column per fixed effect."""
        try:
            X = np.asarray(exog, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("exog must be a DataFrame with the model's columns or a numeric "
                             f"array with {self.k_fe} columns ({', '.join(self.exog_names)})"
                             ) from None
        if X.ndim == 1 and X.shape[0] == self.k_fe:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.k_fe:
            raise ValueError(f"exog has shape {X.shape}; the fixed-effects design has "
                             f"{self.k_fe} columns ({', '.join(self.exog_names)})")
        if not np.all(np.isfinite(X)):
            raise ValueError("exog has missing or infinite values")
        return X

    def _predict_rows(self, X, off, beta, extra, which, extras, offset, exposure):
        n = len(X)
        off = np.asarray(off, dtype=float)
        for name, val, fn in (("offset", offset, lambda v: v), ("exposure", exposure, np.log)):
            if val is None:
                continue
            v = np.asarray(val, dtype=float)
            if v.ndim > 1 or (v.ndim == 1 and len(v) != n):
                raise ValueError(f"{name} has {v.size} values for {n} rows of exog")
            off = off + fn(v)
        eta = X @ beta + off
        if which == "linear":
            return eta
        return np.asarray(self.response.predict_which(eta, extra, which, extras))

    def _fitted_offset(self):
        """True when the model was fitted with a nonzero offset (or exposure)."""
        d = self.design
        if not isinstance(d.offset, np.ndarray):  # rows removed: remembered
            return bool(d.extra.get("fitted_offset", False))
        return bool(np.any(d.offset != 0))

    def _missing_rows(self, exog):
        """Rows of new data with a missing value in a column the model uses (or None)."""
        if not isinstance(exog, pd.DataFrame):
            return None
        spec_data = self.design.extra.get("spec_data")
        cols = [c for c in (spec_data.columns if spec_data is not None else [])
                if c in exog.columns and c != self.design.endog_name]
        if not cols:
            return None
        return exog[cols].isna().any(axis=1).to_numpy()

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
        exprs = d.extra.get("formula_offsets")
        if exprs:
            from ..spec.frame import formula_offset

            offset = offset + formula_offset(exprs, data, mgr)
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
            _warn(f"{int(unseen.sum())} row(s) of new data belong to {n_groups} group(s) of "
                  f"{factor!r} that were not in the fit: their random effects are set to zero",
                  UserWarning)
        return pos
