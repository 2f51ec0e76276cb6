"""
One adapter between this package and the formula engines.

statsmodels 0.15 routes formulas through its ``FormulaManager`` (patsy by
default, formulaic when chosen); statsmodels 0.14 has no such class and
speaks patsy only.  Everything the package needs from a formula engine goes
through :func:`formula_manager`, so no other module touches statsmodels'
private formula API.
"""

import numpy as np

try:  # statsmodels >= 0.15
    from statsmodels.formula._manager import FormulaManager as _StatsmodelsManager
except ImportError:  # pragma: no cover - exercised with the oldest supported statsmodels
    _StatsmodelsManager = None

__all__ = ["formula_manager"]


class _PatsyManager:
    """The subset of statsmodels' ``FormulaManager`` this package uses, on patsy alone."""

    engine = "patsy"

    def __init__(self):
        import patsy

        self._patsy = patsy
        self._env = patsy.EvalEnvironment([{"np": np}])

    def get_na_action(self, action="drop"):
        return self._patsy.NAAction(on_NA=action, NA_types=["None", "NaN"])

    def get_matrices(self, formula, data, pandas=True, na_action=None):
        p = self._patsy
        na_action = na_action if na_action is not None else self.get_na_action()
        if formula.split("~")[0].strip():
            return p.dmatrices(formula, data, eval_env=self._env, NA_action=na_action,
                               return_type="dataframe")
        return p.dmatrix(formula, data, eval_env=self._env, NA_action=na_action,
                         return_type="dataframe")

    @staticmethod
    def get_model_spec(frame):
        return frame.design_info

    @staticmethod
    def get_term_name_slices(frame):
        return dict(frame.design_info.term_name_slices)


def formula_manager(engine=None):
    """
    The formula engine for ``engine`` (``None`` or ``"patsy"``; ``"formulaic"``
    with statsmodels >= 0.15).

    Examples
    --------
    >>> formula_manager().engine
    'patsy'
    """
    if _StatsmodelsManager is not None:
        return _StatsmodelsManager(engine)
    if engine not in (None, "patsy"):
        raise ValueError(f"formula_engine={engine!r} needs statsmodels >= 0.15; "
                         "with this statsmodels only 'patsy' is available")
    return _PatsyManager()
