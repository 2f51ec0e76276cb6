"""
One adapter between this package and the formula engines.

statsmodels 0.15 routes formulas through its ``FormulaManager`` (patsy by
default, formulaic when chosen); statsmodels 0.14 has no such class and
speaks patsy only.  Everything the package needs from a formula engine goes
through :func:`formula_manager`, so no other module touches statsmodels'
private formula API.
"""

import functools

import numpy as np
import pandas as pd

try:  # statsmodels >= 0.15
    from statsmodels.formula._manager import FormulaManager as _StatsmodelsManager
except ImportError:  # pragma: no cover - exercised with the oldest supported statsmodels
    _StatsmodelsManager = None

__all__ = ["formula_manager", "drop_na_action", "design_frames"]


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


#: When False, patsy reads columns of strings value by value, as it does on a DataFrame
#: (for comparisons of the two ways; see :func:`_string_levels`).
STRINGS_AS_CODES = True

#: Columns of fewer rows are read value by value: below it, making the codes costs
#: more than patsy's pass over the values.
STRINGS_AS_CODES_MIN_ROWS = 1000

#: When False, ``C(x)`` reaches patsy as patsy's own box, whose values patsy reads one
#: by one (for comparisons of the two ways; see :func:`_categorical`).
CATEGORIES_AS_CODES = True
#: ... and so does ``C(x)`` of a column of numbers of fewer rows: below it, making the
#: codes costs more than patsy's passes over the values.
CATEGORIES_AS_CODES_MIN_ROWS = 500

#: the mark of a column of strings that :class:`_ColumnArrays` handed over as codes
_CODES_TAG = "statsmodels_glmm.codes"

#: the strings ``float()`` reads as NaN (patsy counts them as missing categorical values)
_NAN_STRINGS = frozenset(("nan", "+nan", "-nan"))


@functools.cache
def _fast_na_class():
    """
    A patsy ``NAAction`` with the same answers as patsy's own, computed faster:
    numerical missing values on the array (not through pandas' element-wise
    dispatch on a DataFrame) and the common scalar types of a categorical
    column (floats, strings, integers, None) without an exception per value.
    """
    import patsy

    class FastNAAction(patsy.NAAction):
        def is_numerical_NA(self, arr):
            return super().is_numerical_NA(np.asarray(arr))

        def is_categorical_NA(self, obj):
            if obj is None:
                return "None" in self.NA_types
            if isinstance(obj, (str, float, int, np.integer, np.floating)):
                if "NaN" not in self.NA_types:
                    return False
                if isinstance(obj, str):
                    return obj.strip().lower() in _NAN_STRINGS
                return bool(obj != obj)
            return super().is_categorical_NA(obj)

        def handle_NA(self, values, is_NAs, origins):
            # no missing value anywhere: patsy would copy every array through an
            # all-true mask; the arrays themselves are the same answer
            if self.on_NA == "drop" and not any(m.any() for m in is_NAs):
                return list(values)
            return super().handle_NA(values, is_NAs, origins)

    return FastNAAction


class _PlainColumn(np.ndarray):
    """
    A column as a numpy array that iterates as a pandas Series does, over Python
    scalars: patsy names the levels of ``C(k)`` after the values it iterates
    (``k[T.1]``, where numpy's own scalars would give ``k[T.np.int64(1)]``).
    """

    def __iter__(self):
        return iter(self.tolist())


class _ColumnArrays(dict):
    """
    The columns of a DataFrame as patsy reads them, each converted once on first use.

    patsy looks a variable up in its data many times per formula; on a DataFrame
    every lookup goes through pandas' indexing.  Plain numpy columns (numbers,
    booleans, objects) are handed over as arrays (see ``_PlainColumn``); any
    other dtype (categorical, datetime, ...) as the pandas Series, so patsy sees
    its levels and types as before.  With ``strings=True`` a column of strings
    is handed over as a categorical Series with the levels patsy would find (see
    :func:`_string_levels`), which patsy reads from its codes instead of value by
    value.  A name that is not a column raises ``KeyError``, which sends patsy on
    to the formula's environment.
    """

    def __init__(self, frame, strings=False):
        super().__init__()
        self._frame = frame
        self._strings = strings
        self._names = frozenset(c for c in frame.columns if isinstance(c, str))

    def __missing__(self, key):
        if key not in self._names:
            raise KeyError(key)
        col = self._frame[key]
        if not isinstance(col, pd.Series):  # a name several columns share
            raise KeyError(key)
        value = _string_levels(col) if self._strings else None
        if value is None:
            dtype = col.dtype
            if (isinstance(dtype, np.dtype) and dtype.kind in "biufcO"
                    and not (dtype.kind == "O" and _other_missing(col))):
                value = col.to_numpy().view(_PlainColumn)
            else:
                value = col
        self[key] = value
        return value


def _other_missing(col):
    """
    Whether an object column holds missing values other than None and float NaN
    (``pd.NA``, ``NaT``): numpy compares those differently from pandas.

    >>> _other_missing(pd.Series(["a", None, np.nan], dtype=object))
    False
    >>> _other_missing(pd.Series(["a", pd.NA], dtype=object))
    True
    """
    missing = col.isna().to_numpy()
    return bool(missing.any()) and not all(v is None or isinstance(v, float)
                                           for v in col.to_numpy()[missing])


def _string_levels(col):
    """
    A column of strings as a categorical Series whose categories are the levels
    patsy finds in it, value by value, with its default missing values (None and
    NaN): the distinct strings in Python's order, without those ``float()``
    reads as NaN, which become missing like None and NaN.  None for any other
    column, and for one whose missing values patsy would not count as missing
    (``pd.NA``, ``NaT``): patsy reads those as they are.

    Examples
    --------
    >>> s = _string_levels(pd.Series(["b", None, "a", "nan", "b"], dtype=object))
    >>> list(s.cat.categories), s.cat.codes.tolist()
    (['a', 'b'], [1, -1, 0, -1, 1])
    >>> _string_levels(pd.Series([1.0, 2.0])) is None
    True
    """
    dtype = col.dtype
    if isinstance(dtype, pd.StringDtype):
        if dtype.na_value is not np.nan and col.hasnans:
            return None  # pd.NA: a value, not a missing one, to patsy
    elif not (isinstance(dtype, np.dtype) and dtype.kind == "O"):
        return None
    elif (pd.api.types.infer_dtype(col, skipna=True) != "string"
            or _other_missing(col)):
        return None
    codes, uniques = pd.factorize(col)
    uniques = [str(u) for u in uniques]
    levels = sorted(u for u in uniques if u.strip().lower() not in _NAN_STRINGS)
    where = {u: i for i, u in enumerate(levels)}
    order = np.array([where.get(u, -1) for u in uniques] + [-1], dtype=codes.dtype)
    # a code of -1 (missing) takes the last entry of ``order``, which is -1
    cat = pd.Categorical.from_codes(order[codes], categories=pd.Index(levels, dtype=object))
    out = pd.Series(cat, index=col.index, name=col.name)
    out.attrs[_CODES_TAG] = True
    return out


def _numeric_codes(values):
    """
    A column of numbers as a pandas Categorical of its distinct values, sorted, with
    NaN missing: the levels and codes patsy finds when it reads the column value by
    value.  None for a column that is not one-dimensional integers or floats, and
    for one holding a negative zero (patsy keeps whichever zero it meets first).

    Examples
    --------
    >>> c = _numeric_codes(np.array([3.0, 1.0, np.nan, 3.0]))
    >>> list(c.categories), c.codes.tolist()
    ([1.0, 3.0], [1, 0, -1, 1])
    """
    a = np.asarray(values)
    if a.ndim != 1 or a.dtype.kind not in "iuf":
        return None
    if a.dtype.kind == "f" and bool(np.any(np.signbit(a) & (a == 0))):
        return None
    codes, uniques = pd.factorize(a, sort=True)
    return pd.Categorical.from_codes(codes, categories=uniques)


def _categorical(data, contrast=None, levels=None):
    """
    ``C()`` in formulas: patsy's, except that ``C(x)`` alone (no contrast, no levels)
    of a column that :class:`_ColumnArrays` read as plain numbers (from
    :data:`CATEGORIES_AS_CODES_MIN_ROWS` rows), or handed over as codes, gives patsy
    the categorical itself.  Its levels are those patsy would find and patsy reads
    its codes, where patsy's own box makes it read every value in Python twice
    (``benchmarks/bench_build.py`` times both).  The same design, columns and names;
    on other data (new data for predictions, given as a DataFrame) this is patsy's
    ``C``.
    """
    import patsy

    if contrast is None and levels is None:
        if isinstance(data, _PlainColumn) and len(data) >= CATEGORIES_AS_CODES_MIN_ROWS:
            cat = _numeric_codes(data)
            if cat is not None:
                return cat
        elif isinstance(data, pd.Series) and data.attrs.get(_CODES_TAG):
            return data
    return patsy.builtins.C(data, contrast, levels)


@functools.cache
def _patsy_env(codes=False):
    """The namespace formulas see beside the data's columns: numpy as ``np`` (and, with
    ``codes``, :func:`_categorical` as ``C``)."""
    import patsy

    names = {"np": np, "C": _categorical} if codes else {"np": np}
    return patsy.EvalEnvironment([names])


def design_frames(mgr, formula, frame, na_action):
    """
    The design matrices of ``formula`` on ``frame`` (two for ``y ~ x``, one for ``~ x``).

    With patsy the columns are read through plain arrays (see ``_ColumnArrays``):
    the same matrices, index and design information as patsy gives on the
    DataFrame itself, several times faster on small data.  Other engines go
    through statsmodels' formula manager.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [0.0, 1.0, None], "x": [1.0, 2.0, 3.0], "g": list("aba")})
    >>> mgr = formula_manager()
    >>> ydf, Xdf = design_frames(mgr, "y ~ x + C(g)", df, drop_na_action(mgr))
    >>> list(Xdf.columns), Xdf.index.tolist()
    (['Intercept', 'C(g)[T.b]', 'x'], [0, 1])
    """
    if mgr.engine != "patsy":
        return mgr.get_matrices(formula, frame, pandas=True, na_action=na_action)
    import patsy

    build = patsy.dmatrices if formula.split("~")[0].strip() else patsy.dmatrix
    # strings as categories where their missing values are patsy's defaults (None, NaN)
    default_na = (isinstance(na_action, _fast_na_class())
                  and set(na_action.NA_types) == {"None", "NaN"})
    strings = STRINGS_AS_CODES and len(frame) >= STRINGS_AS_CODES_MIN_ROWS and default_na
    env = _patsy_env(CATEGORIES_AS_CODES and default_na)
    try:
        return build(formula, _ColumnArrays(frame, strings), eval_env=env,
                     NA_action=na_action, return_type="dataframe")
    except patsy.PatsyError as exc:
        text = str(exc)
        if strings and "mismatching levels" in text:
            # ``C(g, levels=...)`` in another order than the sorted one: patsy reads
            # the strings themselves
            return build(formula, _ColumnArrays(frame), eval_env=env,
                         NA_action=na_action, return_type="dataframe")
        # a formula that reads no column: only the DataFrame tells patsy the row count
        if "how many rows" not in text:
            raise
    return build(formula, frame, eval_env=_patsy_env(), NA_action=na_action,
                 return_type="dataframe")


def drop_na_action(mgr):
    """
    The missing-value action that drops rows, for the engine of ``mgr``.

    Examples
    --------
    >>> act = drop_na_action(formula_manager())
    >>> act.is_categorical_NA(float("nan")), act.is_categorical_NA("a"), act.is_categorical_NA(None)
    (True, False, True)
    """
    if mgr.engine == "patsy":
        return _fast_na_class()(on_NA="drop", NA_types=["None", "NaN"])
    return mgr.get_na_action("drop")


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
