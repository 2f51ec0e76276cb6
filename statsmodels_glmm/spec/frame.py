"""
Model frame: from a DataFrame to the inputs of a design.

This module reads the user's data: it checks the names a formula uses,
lists the columns a model reads, prepares a working copy of the frame
(nullable dtypes, infinities), evaluates the fixed, random and extra
formulas on it, finds the rows dropped for a missing value in any of them,
computes the offset (and logged exposure), turns a two-level categorical
response into 0/1 and labels the rows' groups.  The result,
a :class:`ModelFrame`, holds everything :mod:`statsmodels_glmm.spec.design`
needs to assemble a :class:`~statsmodels_glmm.spec.design.Design`, for the
whole data in memory and for one partition of a distributed fit alike.
"""

import functools
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .formula import split_offset_terms
from .formula_engine import design_frames, drop_na_action

__all__ = ["ModelFrame", "evaluate_frame", "fixed_matrices", "group_columns", "group_values",
           "materialize", "model_columns", "model_response", "offset_values", "rhs_text",
           "check_group_types", "check_label_types", "formula_offset"]


def _clean_formula_error(exc, formula, data_columns):
    msg = str(exc)
    m = re.search(r"name '([^']+)' is not defined", msg)
    if m:
        return ValueError(f"column {m.group(1)!r} named in formula {formula!r} is not in data")
    return ValueError(f"formula {formula!r} could not be evaluated: {msg.splitlines()[0]}")


def _check_columns(formula, data):
    """Raise a clear error for a bare name that is not a column of ``data``."""
    import builtins
    import keyword

    text = re.sub(r"'[^']*'|\"[^\"]*\"", " ", formula)
    # names called as functions, attributes and keyword arguments (df=3) are not columns
    names = set(re.findall(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*[(.])(?!\s*=(?!=))",
                           text))
    for name in names:
        if name in data.columns or keyword.iskeyword(name) or hasattr(builtins, name):
            continue
        raise ValueError(f"column {name!r} named in formula {formula!r} is not in data")


def group_columns(group, data):
    """
    Columns of ``data`` behind a grouping factor: ``"id"``, ``"a:b"`` or ``"C(id)"``.

    >>> import pandas as pd
    >>> group_columns("C(clinic):patient", pd.DataFrame({"clinic": [1], "patient": [2]}))
    ['clinic', 'patient']
    """
    cols = []
    for part in str(group).split(":"):
        part = part.strip()
        m = re.fullmatch(r"C\(\s*([^,()]+?)\s*\)", part)
        col = m.group(1) if m else part
        if col not in data.columns:
            raise ValueError(f"grouping column {col!r} is not in data")
        cols.append(col)
    return cols


def group_values(frame, gcols):
    """
    Group labels of every row: the column itself, or the columns joined by ``":"``.

    >>> import pandas as pd
    >>> group_values(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), ["a", "b"]).tolist()
    ['1:x', '2:y']
    """
    if len(gcols) == 1:
        return frame[gcols[0]]
    return frame[gcols].astype(str).agg(":".join, axis=1)


def check_group_types(frame, gcols):
    """
    Refuse a grouping column whose values mix types that its text form would group
    differently, such as the number ``1`` and the string ``"1"``.

    Pandas tells ``1`` from ``"1"`` (two groups) but takes ``1`` and ``1.0`` or
    ``True`` for one value, whereas a column read as text (Dask turns object
    columns into strings, a CSV has only text) has the opposite answers; the
    groups of such a column depend on how it was read, so it is refused with
    its name.  Columns of one type, and types whose text forms group the rows
    as their values do (numpy and Python integers), pass.

    Examples
    --------
    >>> df = pd.DataFrame({"g": pd.Series([1, "1", 2], dtype=object)})
    >>> check_group_types(df, ["g"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: grouping column 'g' mixes value types whose text forms ...
    >>> check_group_types(pd.DataFrame({"g": [1, 1, 2]}), ["g"])
    """
    for c in gcols:
        check_label_types(frame[c], c)


def check_label_types(values, column):
    """
    Refuse labels of several types whose values and text forms group them
    differently (see :func:`check_group_types`); ``values`` are the labels of one
    grouping column, ``column`` its name.

    >>> check_label_types(pd.Series(["a", "b", "a"]), "g")
    """
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    if s.dtype != object:
        return
    # strings only (the usual labels), told in one pass in C: no two types to compare
    if pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
        return
    s = s[s.notna()]
    arr = s.to_numpy()
    if len({type(v) for v in arr}) < 2:
        return
    by_value = pd.factorize(arr)[0]
    by_text = pd.factorize(np.array([str(v) for v in arr], dtype=object))[0]
    pairs = pd.DataFrame({"v": by_value, "t": by_text}).drop_duplicates()
    if pairs["v"].is_unique and pairs["t"].is_unique:
        return
    # an example: two values one way apart and the other way together
    key = "t" if not pairs["t"].is_unique else "v"
    clash = pairs[pairs[key].duplicated(keep=False)]
    first = clash[clash[key] == clash[key].iloc[0]]
    rows = [int(np.flatnonzero((by_value == v) & (by_text == t))[0])
            for v, t in zip(first["v"], first["t"])]
    shown = " and ".join(f"{arr[r]!r} ({type(arr[r]).__name__})" for r in rows[:2])
    raise ValueError(
        f"grouping column {column!r} mixes value types whose text forms group the rows "
        f"differently from their values ({shown}): whether they are one group or two "
        f"depends on how the column is read; convert it to one type first, e.g. "
        f"data[{column!r}].astype(str)")


def model_columns(formula, extra_formulas, group_names, offset, exposure, data):
    """
    The columns of ``data`` a model reads.

    Returns the grouping columns of ``group_names`` (in that order, each once),
    every column the model uses (those named in the formulas, then the grouping,
    offset and exposure columns), and the formula texts.  An offset or exposure
    named as a column that ``data`` (a DataFrame or Dask's metadata of one)
    lacks is refused, and so is a used column whose name ``data`` holds twice
    (which of the two the model should read is unknowable; columns the model
    does not use may share a name).

    >>> df = pd.DataFrame({"y": [0, 1], "x": [1.0, 2.0], "id": [1, 2], "w": [1, 1]})
    >>> model_columns("y ~ x", None, ["id"], "w", None, df)[:2]
    (['id'], ['y', 'x', 'id', 'w'])
    """
    gcols = []
    for g in group_names:
        gcols += [c for c in group_columns(g, data) if c not in gcols]
    for val, name in ((offset, "offset"), (exposure, "exposure")):
        if isinstance(val, str) and val not in data.columns:
            raise ValueError(f"{name} column {val!r} is not in data")
    texts = [formula] + [str(f) for f in (extra_formulas or {}).values()]
    used = _used_columns(texts, data)
    used += [c for c in gcols + [v for v in (offset, exposure) if isinstance(v, str)]
             if c not in used]
    _check_unique_columns(data, used)
    return gcols, used, texts


def _check_unique_columns(data, used):
    """Refuse, naming them, columns the model uses that appear more than once in ``data``."""
    dup = data.columns[data.columns.duplicated()]
    twice = list(dict.fromkeys(c for c in dup if c in set(used)))
    if twice:
        raise ValueError(
            f"data has more than one column named {', '.join(repr(c) for c in twice)}; the "
            "model uses that name and cannot tell which column is meant: rename or drop "
            "the copies")


def _used_columns(texts, data):
    """Columns of ``data`` whose names appear in any of ``texts``."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", " ".join(texts)))
    return [c for c in data.columns if c in words]


def _prepare_frame(data, columns):
    """
    A working copy of ``data`` whose used columns the formula engines read as a user means.

    Pandas' nullable dtypes (``Int64``, ``Float64``, ``boolean``, ``string``) hold
    ``pd.NA`` for a missing value, which the formula engines cannot test for truth:
    numbers become float (``NaN``), booleans and strings objects (``None``).  Infinite
    values are refused with the column's name.
    """
    # a new frame (the user's data is untouched) without the user's ``attrs``: pandas
    # deep-copies those on every operation, which costs more than the design itself
    # when they hold large lists
    work = pd.DataFrame(data).reset_index(drop=True)
    dtypes = work.dtypes
    for c in columns:
        dtype = dtypes[c]
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) and \
                not isinstance(dtype, pd.CategoricalDtype):
            col = work[c]
            if pd.api.types.is_bool_dtype(dtype) or (
                    pd.api.types.is_string_dtype(dtype)
                    and not pd.api.types.is_numeric_dtype(dtype)):
                # objects with None for a missing value (one pass; an object Series,
                # which pandas would otherwise read back as strings)
                work[c] = pd.Series(col.to_numpy(dtype=object, na_value=None), dtype=object)
            elif pd.api.types.is_numeric_dtype(dtype):
                work[c] = col.astype("float64")
            dtype = work[c].dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "iu":
            continue  # integers hold no infinity
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            vals = work[c].to_numpy(dtype=float)
            if np.isinf(vals).any():
                raise ValueError(f"column {c!r} has {int(np.isinf(vals).sum())} infinite "
                                 "value(s); replace or drop those rows")
    return work


def _categorical_response(ydf, lhs, response):
    """
    A one-column 0/1 response from a factor the formula engine expanded into indicators.

    A boolean response models P(True); a two-level string or categorical response
    models P(second level), the first level being the failure as in R.
    """
    cols = [str(c) for c in ydf.columns]
    prefix = f"{lhs}["
    if not (len(cols) >= 2 and all(c.startswith(prefix) and c.endswith("]") for c in cols)):
        return None
    levels = [c[len(prefix):-1] for c in cols]
    if response.name != "Binomial":
        raise ValueError(f"response {lhs!r} is not numeric (levels {levels}); "
                         f"the {response.name} family needs numbers")
    if len(cols) != 2:
        raise ValueError(f"response {lhs!r} has {len(cols)} levels ({', '.join(levels)}); "
                         "a binomial model needs exactly two (or 0/1 numbers)")
    return ydf.iloc[:, 1].to_numpy(dtype=float), cols[1]


def materialize(spec, data, mgr):
    """
    Evaluate a stored fixed or random design spec on new data.

    >>> from statsmodels_glmm.spec.formula_engine import formula_manager
    >>> mgr = formula_manager()
    >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    >>> spec = mgr.get_model_spec(_rhs_matrix(mgr, "x", df, "fixed effects"))
    >>> materialize(spec, df.head(2), mgr).shape
    (2, 2)
    """
    if mgr.engine == "patsy":
        import patsy

        return patsy.dmatrix(spec, data, return_type="dataframe", NA_action="raise")
    return spec.get_model_matrix(data, output="pandas")


@functools.cache
def _intercept_info():
    """patsy's design information of ``~ 1`` (the same whatever the data)."""
    import patsy

    return patsy.dmatrix("~ 1", pd.DataFrame(index=range(1)), return_type="dataframe").design_info


def _intercept_matrix(data):
    """The ``~ 1`` matrix of ``data`` (patsy), with the design information patsy gives it."""
    frame = pd.DataFrame({"Intercept": np.ones(len(data))}, index=data.index)
    frame.design_info = _intercept_info()
    return frame


def _rhs_matrix(mgr, rhs, data, what):
    if rhs.strip() == "1" and mgr.engine == "patsy":
        # a random intercept: the same one column whatever the data, without a formula pass
        return _intercept_matrix(data)
    formula = "~ " + rhs
    try:
        return design_frames(mgr, formula, data, drop_na_action(mgr))
    except Exception as exc:  # formula engines raise many types
        raise _clean_formula_error(exc, f"{what}: {rhs}", data.columns) from None


def rhs_text(formula):
    """
    The right-hand side of a one-sided formula, without the ``~``.

    >>> rhs_text(" ~ z + C(g)"), rhs_text("1")
    ('z + C(g)', '1')
    """
    f = formula.strip()
    return f[1:].strip() if f.startswith("~") else f


def fixed_matrices(mgr, fixed, frame, raw_endog=False):
    """
    The response and fixed-effects matrices of ``fixed`` on ``frame``.

    Rows with a missing value are left out (the matrices keep the index of
    the rows they hold).  With ``raw_endog`` the response is read from the
    data as it is, so only the right-hand side is evaluated and the response
    matrix is None.

    Examples
    --------
    >>> from statsmodels_glmm.spec.formula_engine import formula_manager
    >>> df = pd.DataFrame({"y": [0.0, 1.0, None], "x": [1.0, 2.0, 3.0]})
    >>> ydf, Xdf = fixed_matrices(formula_manager(), "y ~ x", df)
    >>> ydf.shape, list(Xdf.columns), Xdf.index.tolist()
    ((2, 1), ['Intercept', 'x'], [0, 1])
    """
    if raw_endog:
        return None, _rhs_matrix(mgr, fixed.partition("~")[2].strip(), frame, "fixed effects")
    try:
        return design_frames(mgr, fixed, frame, drop_na_action(mgr))
    except Exception as exc:  # formula engines raise many types
        raise _clean_formula_error(exc, fixed, frame.columns) from None


def offset_values(work, offset=None, exposure=None):
    """
    The offset of every row (plus the log of the exposure) and which rows have one.

    ``offset`` and ``exposure`` are column names of ``work`` or values aligned
    with it.  Infinite values and an exposure that is not positive are refused;
    a missing value gives an offset of zero and ``False`` in the mask.

    Returns
    -------
    offset : ndarray
    finite : ndarray of bool

    Examples
    --------
    >>> df = pd.DataFrame({"w": [1.0, np.e, np.nan]})
    >>> off, finite = offset_values(df, offset=[0.5, 0.5, 0.5], exposure="w")
    >>> off.tolist(), finite.tolist()
    ([0.5, 1.5, 0.5], [True, True, False])
    """
    off = np.zeros(len(work))
    finite = np.ones(len(work), dtype=bool)
    for val, name, fn in ((offset, "offset", lambda v: v), (exposure, "exposure", np.log)):
        if val is None:
            continue
        v = work[val].to_numpy(dtype=float) if isinstance(val, str) else np.asarray(val, float)
        if v.shape != (len(work),):
            raise ValueError(f"{name} must have one value per row of data ({len(work)})")
        if np.isinf(v).any():
            raise ValueError(f"{name} has {int(np.isinf(v).sum())} infinite value(s)")
        if name == "exposure" and np.any(v[np.isfinite(v)] <= 0):
            raise ValueError("exposure must be positive")
        finite &= np.isfinite(v)
        with np.errstate(divide="ignore", invalid="ignore"):
            off = off + np.where(np.isfinite(v), fn(np.where(np.isfinite(v), v, 1.0)), 0.0)
    return off, finite


def formula_offset(exprs, data, mgr):
    """
    The summed values of the ``offset(expr)`` terms of a formula on ``data``.

    Each expression is evaluated by the formula engine (as ``I(expr)``) and
    must give one number per row; a row where one is missing gets NaN, and an
    infinite value (the log of zero, say) is refused.

    Parameters
    ----------
    exprs : list of str
        The expressions inside ``offset(...)`` (see
        :func:`~statsmodels_glmm.spec.formula.split_offset_terms`).
    data : DataFrame
    mgr : FormulaManager

    Returns
    -------
    ndarray

    Examples
    --------
    >>> from statsmodels_glmm.spec.formula_engine import formula_manager
    >>> df = pd.DataFrame({"t": [1.0, np.e, np.nan]})
    >>> formula_offset(["np.log(t)", "t"], df, formula_manager()).tolist()
    [1.0, 3.718281828459045, nan]
    """
    total = np.zeros(len(data))
    for expr in exprs:
        what = f"offset({expr})"
        frame = _rhs_matrix(mgr, f"0 + I({expr})", data, what)
        if frame.shape[1] != 1:
            raise ValueError(f"{what} must give one number per row; it gives "
                             f"{frame.shape[1]} columns ({', '.join(map(str, frame.columns))})")
        vals = np.full(len(data), np.nan)
        vals[data.index.get_indexer(frame.index)] = frame.iloc[:, 0].to_numpy(dtype=float)
        if np.isinf(vals).any():
            raise ValueError(f"{what} has {int(np.isinf(vals).sum())} infinite value(s)")
        total = total + vals
    return total


@dataclass
class ModelFrame:
    """
    The formulas of a model evaluated on the rows it keeps.

    Attributes
    ----------
    data : DataFrame or None
        The kept rows of the working frame, indexed ``0 .. n - 1``; None when
        every row has a missing value.
    keep : ndarray of bool
        Which rows of the working frame are kept.
    n_dropped : int
        Rows dropped for a missing value.
    offset : ndarray
        Offset of the kept rows (including the log of the exposure).
    lhs, rhs : str
        The two sides of the fixed formula.
    ydf : DataFrame or None
        The response matrix (None when the family reads the response column).
    Xdf : DataFrame
        The fixed-effects matrix.
    re_frames : list of DataFrame
        Each random term's columns.
    extra_frames : dict of DataFrame
        The matrices of the extra formulas.
    offset_terms : list of str
        The expressions of the ``offset(...)`` terms of the fixed formula
        (their values are in ``offset``).

    Examples
    --------
    >>> from statsmodels_glmm.spec.formula import split_formula
    >>> from statsmodels_glmm.spec.formula_engine import formula_manager
    >>> df = pd.DataFrame({"y": [0, 1, 1.0], "x": [1.0, None, 3.0], "id": [1, 1, 2]})
    >>> fixed, terms = split_formula("y ~ x + (1 | id)")
    >>> mf = evaluate_frame(df, formula_manager(), fixed, terms, ["id"])
    >>> mf.n_dropped, mf.keep.tolist(), mf.Xdf.shape, mf.empty
    (1, [True, False, True], (2, 2), False)
    """

    data: pd.DataFrame
    keep: np.ndarray
    n_dropped: int
    offset: np.ndarray
    lhs: str
    rhs: str
    ydf: pd.DataFrame = None
    Xdf: pd.DataFrame = None
    re_frames: list = field(default_factory=list)
    extra_frames: dict = field(default_factory=dict)
    offset_terms: list = field(default_factory=list)

    @property
    def empty(self):
        """True when no row is left."""
        return self.data is None

    def extra_arrays(self, mgr, with_spec=True):
        """
        ``{key: (values, column names, spec)}`` of the extra formulas (spec None
        unless ``with_spec``).

        Examples
        --------
        >>> from statsmodels_glmm.spec.formula import split_formula
        >>> from statsmodels_glmm.spec.formula_engine import formula_manager
        >>> mgr = formula_manager()
        >>> df = pd.DataFrame({"y": [0, 1, 1.0], "z": [1.0, 2.0, 3.0], "id": [1, 1, 2]})
        >>> fixed, terms = split_formula("y ~ 1 + (1 | id)")
        >>> mf = evaluate_frame(df, mgr, fixed, terms, ["id"], extra_formulas={"zi": "~ z"})
        >>> values, names, spec = mf.extra_arrays(mgr, with_spec=False)["zi"]
        >>> values.shape, names, spec
        ((3, 2), ['Intercept', 'z'], None)
        """
        return {k: (f.to_numpy(dtype=float), [str(c) for c in f.columns],
                    mgr.get_model_spec(f) if with_spec else None)
                for k, f in self.extra_frames.items()}


def _rows_in(frame, n):
    """Which of ``n`` rows a matrix evaluated with missing rows dropped holds."""
    return np.isin(np.arange(n), frame.index)


def evaluate_frame(work, mgr, fixed, terms, gcols, extra_formulas=None, offset=None,
                   exposure=None, raw_endog=False, missing="drop", check_columns=False):
    """
    Evaluate a model's formulas on a working frame and drop rows with a missing value.

    A row is dropped when any piece of the model lacks it: the response, the
    fixed-effects matrix, a random term, a grouping column, an extra formula,
    the offset or the exposure.  The formulas are then evaluated again on the
    kept rows, so that factor levels and stateful transforms see only those.
    A term ``offset(expr)`` of the fixed formula is not a column of the
    fixed-effects matrix: its values are added to the offset.

    Parameters
    ----------
    work : DataFrame
        The working frame (see ``_prepare_frame``), indexed ``0 .. n - 1``.
    mgr : FormulaManager
    fixed : str
        The fixed-effects formula ``"y ~ x"``.
    terms : list of formula.RandomTerm
    gcols : list of str
        The grouping columns.
    extra_formulas : dict of str, optional
        Further right-hand sides, evaluated under their keys.
    offset, exposure : str, array-like or None
        See :func:`offset_values`.
    raw_endog : bool
        The family reads the response column as it is (no response matrix).
    missing : {"drop", "raise"}
        With ``"raise"`` any dropped row is an error.
    check_columns : bool
        First refuse, with a clear message, a name in a formula that is not
        a column of ``work``.

    Returns
    -------
    ModelFrame
        Its ``data`` is None (and the matrices those of all rows) when no row is
        left.

    Examples
    --------
    >>> from statsmodels_glmm.spec.formula import split_formula
    >>> from statsmodels_glmm.spec.formula_engine import formula_manager
    >>> df = pd.DataFrame({"y": [0, 1, 1.0], "x": [1.0, 2.0, 3.0], "id": [1, None, 2]})
    >>> fixed, terms = split_formula("y ~ x + (1 | id)")
    >>> mf = evaluate_frame(df, formula_manager(), fixed, terms, ["id"],
    ...                     extra_formulas={"zi": "~ x"})
    >>> mf.n_dropped, mf.data.index.tolist(), mf.extra_frames["zi"].shape
    (1, [0, 1], (2, 2))
    """
    extra_formulas = extra_formulas or {}
    if check_columns:
        _check_columns(fixed, work)
        for t in terms:
            _check_columns(t.expr, work)
    fixed, offset_terms = split_offset_terms(fixed)
    lhs, _, rhs = fixed.partition("~")
    lhs, rhs = lhs.strip(), rhs.strip()
    n = len(work)
    keep = np.ones(n, dtype=bool)
    if raw_endog:
        if lhs not in work.columns:
            raise ValueError(f"response {lhs!r} must be a column of data for this family")
        keep &= work[lhs].notna().to_numpy()
    ydf, Xdf = fixed_matrices(mgr, fixed, work, raw_endog)
    keep &= _rows_in(Xdf, n)
    re_frames = []
    for t in terms:
        re_frames.append(_rhs_matrix(mgr, t.expr, work, "random effects"))
        keep &= _rows_in(re_frames[-1], n)
    for c in gcols:  # column by column: a DataFrame of them costs several times more
        keep &= work[c].notna().to_numpy()
    extra_frames = {}
    for key, f in extra_formulas.items():
        f = rhs_text(f)
        if check_columns:
            _check_columns(f, work)
        extra_frames[key] = _rhs_matrix(mgr, f, work, key)
        keep &= _rows_in(extra_frames[key], n)
    off, finite = offset_values(work, offset, exposure)
    keep &= finite
    if offset_terms:
        from_formula = formula_offset(offset_terms, work, mgr)
        keep &= np.isfinite(from_formula)
    n_dropped = int((~keep).sum())
    if missing == "raise" and n_dropped:
        raise ValueError(f"{n_dropped} rows have missing values (missing='raise')")
    if not keep.any():
        sub = None
    elif n_dropped:
        sub = work.loc[keep].reset_index(drop=True)
        ydf, Xdf = fixed_matrices(mgr, fixed, sub, raw_endog)
        re_frames = [_rhs_matrix(mgr, t.expr, sub, "random effects") for t in terms]
        extra_frames = {k: _rhs_matrix(mgr, rhs_text(f), sub, k)
                        for k, f in extra_formulas.items()}
    else:
        sub = work
    off = off[keep]
    if offset_terms and sub is not None:
        off = off + (formula_offset(offset_terms, sub, mgr) if n_dropped else from_formula)
    return ModelFrame(sub, keep, n_dropped, off, lhs, rhs, ydf, Xdf, re_frames,
                      extra_frames, offset_terms)


def model_response(mf, response):
    """
    The response of the kept rows and its name, before the family validates it.

    The response column itself for a family that reads it as it is; a 0/1
    column for a two-level factor (see ``_categorical_response``); otherwise
    the response matrix (two columns for ``successes + failures``).

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> from statsmodels_glmm.spec.formula import split_formula
    >>> from statsmodels_glmm.spec.formula_engine import formula_manager
    >>> df = pd.DataFrame({"y": ["no", "yes", "yes"], "x": [1.0, 2.0, 3.0], "id": [1, 1, 2]})
    >>> fixed, terms = split_formula("y ~ x + (1 | id)")
    >>> mf = evaluate_frame(df, formula_manager(), fixed, terms, ["id"])
    >>> endog, name = model_response(mf, as_response(sm.families.Binomial()))
    >>> endog.tolist(), name
    ([0.0, 1.0, 1.0], 'y[yes]')
    """
    if getattr(response, "raw_endog", False):
        return mf.data[mf.lhs], mf.lhs
    cat = _categorical_response(mf.ydf, mf.lhs, response)
    if cat is not None:
        return cat
    ydf = mf.ydf
    return ydf.to_numpy(), (mf.lhs if ydf.shape[1] > 1 else str(ydf.columns[0]))
