"""
``remove_data()`` of a fitted MixedGLM: drop every array with one entry per
fitted row, as statsmodels' ``LikelihoodModelResults.remove_data`` does, so that
the saved results are small.

What stays: the estimates and their covariance (``params``, ``bse``,
``conf_int()``, Wald tests), everything per group (random effects and their
conditional covariances), the scalars the summaries print (``summary()`` and
``summary2()`` keep working, their notes computed before the rows went), and
what predicting on new data needs: the formula specs and the used columns of the
fitted rows, from which the specs are rebuilt when the results are unpickled
(statsmodels keeps a formula model's data frame for the same purpose).
"""

import copy

import numpy as np

__all__ = ["RemoveDataMixin", "RemovedRows"]

_REMOVED = ("the fitted rows were removed by remove_data(): this needs them; refit the model "
            "(estimates, summaries and predictions on new data work without them)")


class RemovedRows:
    """
    Stands for a per-row array that :meth:`RemoveDataMixin.remove_data` dropped: any
    use of it (length, indexing, arithmetic, conversion to an array, attributes)
    raises a ValueError that says so.

    >>> import numpy as np
    >>> np.asarray(RemovedRows())
    Traceback (most recent call last):
    ...
    ValueError: the fitted rows were removed by remove_data(): ...
    """

    __slots__ = ()

    def _refuse(self, *args, **kwargs):
        raise ValueError(_REMOVED)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise ValueError(_REMOVED)

    def __repr__(self):
        return "RemovedRows()"

    __len__ = __iter__ = __getitem__ = __array__ = __bool__ = _refuse
    __matmul__ = __rmatmul__ = __add__ = __radd__ = __sub__ = __rsub__ = _refuse
    __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __neg__ = __pow__ = _refuse

#: per-row members of the design
_DESIGN_ROWS = ("y", "X", "Z", "offset", "gid", "order", "row_index")
#: per-row values cached on the results
_RESULT_ROWS = ("fittedvalues", "resid_response", "resid_pearson", "resid_deviance")


class RemoveDataMixin:
    """``remove_data()``: keep estimates, per-group values and summaries, drop the rows."""

    def remove_data(self):
        """
        Remove the arrays with one entry per fitted row from the results and the model.

        Afterwards ``params``, ``bse``, ``tvalues``, ``pvalues``, ``conf_int()``,
        ``t_test``/``wald_test``, ``random_effects``, ``deviance``,
        ``summary()``, ``summary2()`` and ``predict(new_data)`` work as before (also
        after ``save``/``load``); what needs the fitted rows (``fittedvalues``,
        residuals, ``simulate``, the likelihood and refits, ``get_prediction``,
        ``predict()`` without data) raises a ValueError that says so.
        ``res.save(path, remove_data=True)`` calls it.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=12)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
        >>> p = res.predict(df.head(3))
        >>> res.remove_data()
        >>> res.model.endog is None
        True
        >>> bool(np.allclose(res.predict(df.head(3)), p))
        True
        """
        m = self.model
        d = m.design
        if isinstance(d.X, RemovedRows):
            return  # already removed
        # what the summaries and per-group answers need, while the rows are there
        for name in ("_re_blocks", "_re_cond_cov", "deviance", "pearson_chi2",
                     "untested_params"):
            try:
                getattr(self, name)
            except (NotImplementedError, ValueError):  # not defined for the family (the
                pass  # Pearson statistic of an ordinal model) or rows kept on a cluster
        self.__dict__["_kept_notes"] = self._notes()
        _ = d.group_sizes  # computed now, cached on the design
        d.extra["fitted_offset"] = bool(np.any(d.offset != 0))
        super().remove_data()  # statsmodels' data attributes of the model
        blocks = self.__dict__.get("_re_blocks")
        if blocks is not None:
            self.__dict__["_re_blocks"] = [(f, cols, b, lab, RemovedRows())
                                           for f, cols, b, lab, _ in blocks]
        for name in _RESULT_ROWS:
            self.__dict__.pop(name, None)
        _design_without_rows(d)
        same = m.family is m.response
        m.response = _family_without_rows(m.response)
        m.family = m.response if same else _family_without_rows(m.family)
        self._state = _state_without_rows(self._state, m.response)
        for name in ("orig_endog", "orig_exog", "endog", "exog", "row_labels", "frame"):
            if hasattr(m.data, name):
                setattr(m.data, name, None)
        m.endog = m.exog = None
        m.__dict__.pop("_sparse_problem", None)
        m.__dict__.pop("_gaussian_cross_products", None)  # sums of the rows, with their arrays
        warm = getattr(m, "warm_start", None)
        if warm is not None:
            warm.last = warm.state = None


def _design_without_rows(d):
    """Replace the design's per-row arrays by :class:`RemovedRows` (in place)."""
    for name in _DESIGN_ROWS:
        setattr(d, name, RemovedRows())
    if d.terms is not None:
        terms = []
        for t in d.terms:
            t = copy.copy(t)
            q = t.q
            t.codes, t.Z = RemovedRows(), np.empty((0, q))  # Z keeps the term's width
            terms.append(t)
        d.terms = terms
    for key, val in list(d.extra.items()):
        if isinstance(val, tuple) and len(val) == 3:
            # a design that is the same in every row (zi_formula="~1") keeps one row
            d.extra[key] = (_one_row_if_constant(val[0]),) + tuple(val[1:])
    mgr = d.extra.get("formula_manager")
    if mgr is not None:
        # a fresh manager: the one that built the design remembers its rows
        from ..spec.formula_engine import formula_manager

        d.extra["formula_manager"] = formula_manager(mgr.engine)


def _one_row_if_constant(M):
    """The first row of ``M`` when every row is the same, else None."""
    if M is None:
        return None
    M = np.asarray(M)
    return M[:1].copy() if len(M) and np.all(M == M[:1]) else None


#: the families' caches of per-row values, with their empty values
_FAMILY_CACHES = {"_cache": None, "_y_cache": (None, None)}
_FAMILY_CACHES_POPPED = ("_lgy", "_lchoose")


def _family_without_rows(response):
    """
    A copy of the family without per-row designs and caches (a constant zero-inflation
    design keeps one row); a wrapped count family (``base``) likewise.
    """
    out = copy.copy(response)
    if getattr(out, "W", None) is not None:
        out.W = _one_row_if_constant(out.W)
    state = getattr(out, "__dict__", {})
    for name, empty in _FAMILY_CACHES.items():
        if name in state:
            state[name] = empty
    for name in _FAMILY_CACHES_POPPED:
        state.pop(name, None)
    if getattr(out, "base", None) is not None and out.base is not response:
        out.base = _family_without_rows(out.base)
    return out


def _state_without_rows(state, response):
    """A copy of the conditional-mode state without its per-row values."""
    if state is None:
        return None
    out = copy.copy(state)
    args = getattr(out, "_args", None)
    if isinstance(args, tuple) and len(args) == 5:
        out._args = (args[0], response) + args[2:]
    slots = getattr(type(out), "__slots__", ())
    for name in ("d1", "d2", "_rows", "eta", "d", "s", "_M", "_fac"):
        if name in slots or name in getattr(out, "__dict__", {}):
            try:
                setattr(out, name, None)
            except AttributeError:
                pass
    return out
