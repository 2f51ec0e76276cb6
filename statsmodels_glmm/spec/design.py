"""
Design: the model's data, built once and sorted by group.

From a formula (or arrays) this module builds the fixed-effects matrix ``X``,
the random-effects matrix ``Z`` with its covariance blocks, the group codes,
the offset and the response, after dropping rows with a missing value in any
column the model uses.  Rows are stably sorted by group so that per-group
sums are segment reductions (``np.add.reduceat`` over ``starts``).
"""

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .formula import re_formula_terms, split_formula
from .formula_engine import formula_manager

__all__ = ["Design", "build_design", "design_from_arrays", "materialize"]


@dataclass
class Design:
    """
    Sorted model data.

    Attributes (rows in group-sorted order unless noted)
    ----------------------------------------------------
    y : ndarray
        Response as the family validated it.
    X, Z : ndarray
        Fixed- and random-effects designs.
    offset : ndarray
    gid : ndarray of int
        Group index of every row (0 .. n_groups - 1).
    starts : ndarray of int
        First row of every group.
    order : ndarray of int
        ``sorted = original[order]``; original order is the order of the
        rows kept from the user's data.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> from statsmodels_glmm.simulate import simulate_longitudinal
    >>> df = simulate_longitudinal(n_persons=5, seed=0)
    >>> d = build_design("y ~ time + (1 | id)", df, as_response(sm.families.Binomial()))
    >>> bool((d.unsort(d.X[:, 1]) == df["time"].to_numpy()).all())
    True
    """

    y: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    offset: np.ndarray
    gid: np.ndarray
    starts: np.ndarray
    order: np.ndarray
    exog_names: list
    re_names: list
    blocks: list
    group_name: str
    group_labels: np.ndarray
    endog_name: str
    row_index: pd.Index = None
    n_dropped: int = 0
    fixed_spec: object = None
    re_spec: object = None
    formula: str = None
    extra: dict = field(default_factory=dict)
    #: random-effect terms (several grouping factors), None for one factor
    terms: list = None
    #: grouping factor of every column of Z (None: ``group_name`` for all)
    re_groups: list = None

    @property
    def multi(self):
        """True when the model has several grouping factors."""
        return self.terms is not None

    @property
    def factors(self):
        """The grouping factors in formula order."""
        if self.terms is None:
            return [self.group_name]
        return list(dict.fromkeys(t.group for t in self.terms))

    @property
    def n_groups(self):
        if self.starts is None:
            return len(self.group_labels)
        return len(self.starts)

    @property
    def nobs(self):
        return len(self.gid)

    @property
    def group_sizes(self):
        sizes = self.__dict__.get("_sizes")
        if sizes is None or len(sizes) != self.n_groups:
            if self.starts is None:
                sizes = np.bincount(self.gid, minlength=len(self.group_labels))
            else:
                sizes = np.diff(np.append(self.starts, self.nobs))
            self.__dict__["_sizes"] = sizes
        return sizes

    # formula specs (patsy DesignInfo) cannot be pickled: rebuild them from the
    # used columns of the kept rows when unpickling
    def __getstate__(self):
        state = dict(self.__dict__)
        extra = dict(state["extra"])
        mgr = extra.pop("formula_manager", None)
        if mgr is not None:
            extra["formula_engine"] = mgr.engine
            state["fixed_spec"] = None
            state["re_spec"] = None
            for k, v in list(extra.items()):
                if isinstance(v, tuple) and len(v) == 3:
                    extra[k] = (v[0], v[1], None)
        state["extra"] = extra
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        engine = self.extra.pop("formula_engine", None)
        spec_data = self.extra.get("spec_data")
        if spec_data is None or engine is None:
            return
        mgr = formula_manager(engine)
        self.fixed_spec = mgr.get_model_spec(
            _rhs_matrix(mgr, self.extra["fixed_rhs"], spec_data, "fixed effects"))
        self.re_spec = [mgr.get_model_spec(_rhs_matrix(mgr, t.expr, spec_data, "random effects"))
                        for t in self.extra["terms"]]
        for k, v in list(self.extra.items()):
            if isinstance(v, tuple) and len(v) == 3:
                f = self.extra["extra_formulas"][k].strip().lstrip("~")
                self.extra[k] = (v[0], v[1], mgr.get_model_spec(_rhs_matrix(mgr, f, spec_data, k)))
        self.extra["formula_manager"] = mgr

    def unsort(self, a):
        """Put a row-wise array back into the user's row order (always a new array)."""
        ident = self.__dict__.get("_identity_order")
        if ident is None:
            ident = self.__dict__["_identity_order"] = _is_identity(self.order)
        if ident and len(a) == len(self.order):
            return np.array(a, copy=True)
        out = np.empty_like(a)
        out[self.order] = a
        return out


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


def model_columns(formula, extra_formulas, group_names, offset, exposure, data):
    """
    The columns of ``data`` a model reads.

    Returns the grouping columns of ``group_names`` (in that order, each once),
    every column the model uses (those named in the formulas, then the grouping,
    offset and exposure columns), and the formula texts.  An offset or exposure
    named as a column that ``data`` (a DataFrame or Dask's metadata of one)
    lacks is refused.

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
    return gcols, used, texts


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
    work = data.reset_index(drop=True)  # a new frame; the user's data is untouched
    for c in columns:
        col = work[c]
        dtype = col.dtype
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) and \
                not isinstance(dtype, pd.CategoricalDtype):
            if pd.api.types.is_bool_dtype(dtype):
                work[c] = pd.Series(np.where(col.isna(), None, col.astype(object)),
                                    dtype=object)
            elif pd.api.types.is_numeric_dtype(dtype):
                work[c] = col.astype("float64")
            elif pd.api.types.is_string_dtype(dtype):
                work[c] = pd.Series(np.where(col.isna(), None, col.astype(object)),
                                    dtype=object)
        if pd.api.types.is_numeric_dtype(work[c].dtype) and \
                not pd.api.types.is_bool_dtype(work[c].dtype):
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

    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> from statsmodels_glmm.simulate import simulate_longitudinal
    >>> df = simulate_longitudinal(n_persons=5, seed=0)
    >>> d = build_design("y ~ time + (1 | id)", df, as_response(sm.families.Binomial()))
    >>> materialize(d.fixed_spec, df.head(2), d.extra["formula_manager"]).shape
    (2, 2)
    """
    if mgr.engine == "patsy":
        import patsy

        return patsy.dmatrix(spec, data, return_type="dataframe", NA_action="raise")
    return spec.get_model_matrix(data, output="pandas")


def _rhs_matrix(mgr, rhs, data, what):
    formula = "~ " + rhs
    try:
        return mgr.get_matrices(formula, data, pandas=True,
                                na_action=mgr.get_na_action("drop"))
    except Exception as exc:  # formula engines raise many types
        raise _clean_formula_error(exc, f"{what}: {rhs}", data.columns) from None


def build_design(formula, data, response, groups=None, re_formula=None,
                 offset=None, exposure=None, extra_formulas=None, missing="drop",
                 formula_engine=None, vc_formula=None):
    """
    Build a :class:`Design` from a formula and a DataFrame.

    Parameters
    ----------
    formula : str
        ``"y ~ x + (1 + time | id)"``, or a fixed formula with ``groups``
        (and optionally ``re_formula``) in the statsmodels spelling.
    data : DataFrame
        Never modified.
    response : Response
        Validates the response column(s).
    offset, exposure : str, array-like or None
        A column name or values aligned with ``data``; ``exposure`` is logged.
    extra_formulas : dict of str, optional
        Further right-hand sides (e.g. a zero-inflation formula) whose
        designs are returned sorted in ``Design.extra``.
    vc_formula : dict of str, optional
        MixedLM-style variance components nested in ``groups``:
        ``{"clinic": "0 + C(clinic)"}`` adds a random intercept for every
        level of ``clinic`` within each group, i.e. the term
        ``(1 | groups:clinic)``.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> from statsmodels_glmm.simulate import simulate_longitudinal
    >>> df = simulate_longitudinal(n_persons=20, seed=0)
    >>> d = build_design("y ~ time + (1 + time | id)", df, as_response(sm.families.Binomial()))
    >>> d.exog_names, d.re_names, d.n_groups
    (['Intercept', 'time'], ['Intercept', 'time'], 20)
    """
    if not isinstance(data, pd.DataFrame):
        raise ValueError("data must be a pandas DataFrame")
    if len(data) == 0:
        raise ValueError("data is empty (no rows)")
    if missing not in ("drop", "raise"):
        raise ValueError("missing must be 'drop' or 'raise'")
    fixed, terms = split_formula(formula)
    if terms and (groups is not None or re_formula is not None or vc_formula is not None):
        raise ValueError("give random effects either as bar terms in the formula or with "
                         "groups=/re_formula=, not both")
    if not terms:
        if groups is None:
            raise ValueError("the model has no random effects: add a term such as "
                             "'(1 | id)' to the formula or pass groups=")
        if not isinstance(groups, str):
            raise ValueError("groups must be the name of a column of data when a formula is used")
        # as in MixedLM: with variance components, a random intercept for the groups
        # is part of the model only when re_formula asks for it
        terms = [] if (vc_formula is not None and re_formula is None) else \
            re_formula_terms(re_formula, groups)
    if vc_formula is not None:
        terms = terms + vc_formula_terms(vc_formula, groups)
    group_names = list(dict.fromkeys(t.group for t in terms))  # in formula order
    multi = len(group_names) > 1
    gname = group_names[0]
    gcols, used_cols, _ = model_columns(formula, extra_formulas, group_names, offset,
                                        exposure, data)
    work = _prepare_frame(data, used_cols)
    mgr = formula_manager(formula_engine)
    lhs, _, rhs = fixed.partition("~")
    lhs, rhs = lhs.strip(), rhs.strip()
    _check_columns(fixed, work)
    for t in terms:
        _check_columns(t.expr, work)

    # ---- missing values: union of the rows each piece drops
    raw_endog = response.raw_endog
    keep = np.ones(len(work), dtype=bool)
    if raw_endog:
        if lhs not in work.columns:
            raise ValueError(f"response {lhs!r} must be a column of data for this family")
        keep &= work[lhs].notna().to_numpy()
        Xdf = _rhs_matrix(mgr, rhs, work, "fixed effects")
        keep &= np.isin(np.arange(len(work)), Xdf.index)
    else:
        try:
            ydf, Xdf = mgr.get_matrices(fixed, work, pandas=True,
                                        na_action=mgr.get_na_action("drop"))
        except Exception as exc:
            raise _clean_formula_error(exc, fixed, work.columns) from None
        keep &= np.isin(np.arange(len(work)), Xdf.index)
    re_frames = []
    for t in terms:
        re_frames.append(_rhs_matrix(mgr, t.expr, work, "random effects"))
        keep &= np.isin(np.arange(len(work)), re_frames[-1].index)
    keep &= work[gcols].notna().all(axis=1).to_numpy()
    extra_frames = {}
    for key, f in (extra_formulas or {}).items():
        f = f.strip()
        f = f[1:].strip() if f.startswith("~") else f
        _check_columns(f, work)
        extra_frames[key] = _rhs_matrix(mgr, f, work, key)
        keep &= np.isin(np.arange(len(work)), extra_frames[key].index)
    off = np.zeros(len(work))
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
        keep &= np.isfinite(v)
        with np.errstate(divide="ignore", invalid="ignore"):
            off = off + np.where(np.isfinite(v), fn(np.where(np.isfinite(v), v, 1.0)), 0.0)
    n_dropped = int((~keep).sum())
    if missing == "raise" and n_dropped:
        raise ValueError(f"{n_dropped} rows have missing values (missing='raise')")
    if keep.sum() == 0:
        raise ValueError("no rows left after dropping rows with missing values")

    if n_dropped:
        sub = work.loc[keep].reset_index(drop=True)
        if raw_endog:
            Xdf = _rhs_matrix(mgr, rhs, sub, "fixed effects")
        else:
            ydf, Xdf = mgr.get_matrices(fixed, sub, pandas=True,
                                        na_action=mgr.get_na_action("drop"))
        re_frames = [_rhs_matrix(mgr, t.expr, sub, "random effects") for t in terms]
        extra_frames = {k: _rhs_matrix(mgr, (f[1:] if f.strip().startswith("~") else f), sub, k)
                        for k, f in (extra_formulas or {}).items()}
    else:
        sub = work
    fixed_spec = mgr.get_model_spec(Xdf)
    if raw_endog:
        endog = sub[lhs]
        endog_name = lhs
    else:
        cat = _categorical_response(ydf, lhs, response)
        if cat is not None:
            endog, endog_name = cat
        else:
            endog = ydf.to_numpy()
            endog_name = lhs if ydf.shape[1] > 1 else str(ydf.columns[0])
    y = response.validate(endog, endog_name)
    response.check_fit_data(y, endog_name)
    X = Xdf.to_numpy(dtype=float)
    exog_names = [str(c) for c in Xdf.columns]
    if not response.has_intercept:
        icpt = [i for i, c in enumerate(exog_names) if c in ("Intercept", "1")]
        X = np.delete(X, icpt, axis=1)
        exog_names = [c for i, c in enumerate(exog_names) if i not in icpt]
    cols = full_rank_columns(X, exog_names, "fixed-effects")
    X, exog_names = X[:, cols], [exog_names[j] for j in cols]

    # ---- random effects: columns of every term, one covariance block per term
    Zparts, re_names, blocks, re_specs = [], [], [], []
    col = 0
    for t, frame in zip(terms, re_frames):
        names = [str(c) for c in frame.columns]
        if not names:
            raise ValueError(f"random term {t} has no columns")
        Zparts.append(frame.to_numpy(dtype=float))
        re_specs.append(mgr.get_model_spec(frame))
        if t.correlated:
            blocks.append(list(range(col, col + len(names))))
        else:
            slices = mgr.get_term_name_slices(frame)
            for sl in slices.values():
                idx = list(range(col + sl.start, col + sl.stop))
                if idx:
                    blocks.append(idx)
        re_names.extend(names)
        col += len(names)
    re_groups = [t.group for t, frame in zip(terms, re_frames) for _ in frame.columns]
    pairs = list(zip(re_groups, re_names))
    if len(set(pairs)) != len(pairs):
        raise ValueError(f"random-effect columns repeat across terms of one grouping factor: "
                         f"{[f'{g} {n}' for g, n in pairs]}")
    Z = np.column_stack(Zparts)

    extras = {k: (f.to_numpy(dtype=float), [str(c) for c in f.columns], mgr.get_model_spec(f))
              for k, f in extra_frames.items()}
    if multi:
        from .terms import build_terms

        bernoulli = response.name == "Binomial" and bool(np.all(y[:, 1] == 1))
        re_terms = build_terms(terms, sub, mgr, bernoulli=bernoulli, frames=re_frames)
        _check_nesting(re_terms, len(sub))
        design = _assemble_multi(y, X, Z, off[keep], re_terms, exog_names, re_names, blocks,
                                 re_groups, endog_name, extras)
    else:
        graw = group_values(sub, group_columns(gname, sub))
        design = _assemble(y, X, Z, off[keep], graw, exog_names, re_names, blocks, gname,
                           endog_name, extras)
    design.row_index = data.index[keep]
    design.n_dropped = n_dropped
    design.fixed_spec = fixed_spec
    design.re_spec = re_specs
    design.formula = formula
    design.extra["formula_manager"] = mgr
    design.extra["fixed_columns"] = list(exog_names)  # of the fixed spec, after dropping
    design.extra["terms"] = terms
    design.extra["fixed_rhs"] = rhs
    design.extra["spec_data"] = sub[used_cols]
    design.extra["group_columns"] = gcols
    design.extra["extra_formulas"] = dict(extra_formulas or {})
    design.extra["offset"] = offset if isinstance(offset, str) else None
    design.extra["exposure"] = exposure if isinstance(exposure, str) else None
    return design


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


def full_rank_columns(X, names, what):
    """
    Indices of the columns to keep so that ``X`` has full column rank.

    Columns are scaled to unit length (so units do not matter) and taken
    from left to right; a column whose part orthogonal to the columns before
    it is below 1e-9 of its length adds nothing and is dropped, with a
    warning naming it and the columns it depends on (as lme4 does).  A
    column that is zero in every row is refused.

    Examples
    --------
    >>> import numpy as np, warnings
    >>> X = np.c_[np.ones(4), [1, 2, 3, 4.0], [2, 4, 6, 8.0]]
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     keep = full_rank_columns(X, ["a", "b", "c"], "fixed-effects")
    >>> keep, str(w[0].message)
    ([0, 1], "fixed-effects columns are collinear: dropping 'c' (a linear combination of 'b')")
    """
    import warnings

    from scipy.linalg import qr

    if X.shape[1] == 0:
        return []
    gram = X.T @ X
    norms = np.sqrt(np.maximum(np.diag(gram), 0.0))
    zero = np.flatnonzero(norms == 0)
    if len(zero):
        raise ValueError(f"{what} column {names[zero[0]]!r} is zero in every row")
    # a well-conditioned design (smallest eigenvalue of the correlation-like Gram
    # matrix far above rounding) has every column's orthogonal part far above the
    # 1e-9 threshold: no factorisation of X needed
    if np.all(np.isfinite(gram)) and \
            np.linalg.eigvalsh(gram / np.outer(norms, norms)).min() > 1e-8:
        return list(range(X.shape[1]))
    R = qr(X / norms, mode="r", pivoting=False)[0]
    dep = np.abs(np.diag(R)) < 1e-9
    keep = [j for j in range(X.shape[1]) if not dep[j]]
    if not dep.any():
        return keep
    parts = []
    for j in np.flatnonzero(dep):
        earlier = [i for i in keep if i < j]
        coef = np.linalg.lstsq(X[:, earlier] / norms[earlier], X[:, j] / norms[j],
                               rcond=None)[0]
        used = [names[earlier[i]] for i in np.flatnonzero(np.abs(coef) > 1e-8)]
        parts.append(f"{names[j]!r} (a linear combination of "
                     f"{', '.join(repr(u) for u in used)})")
    warnings.warn(f"{what} columns are collinear: dropping {'; '.join(parts)}",
                  UserWarning, stacklevel=4)
    return keep


def design_from_arrays(endog, exog, groups, exog_re, response, offset=None, exposure=None,
                       exog_names=None, re_names=None, endog_name="y", missing="drop"):
    """
    Build a :class:`Design` from arrays (the ``MixedGLM(endog, exog, groups)`` spelling).

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> y = np.array([0, 1, 1, 0, 1, 0.]); X = np.ones((6, 1)); g = [1, 1, 2, 2, 3, 3]
    >>> d = design_from_arrays(y, X, g, None, as_response(sm.families.Binomial()))
    >>> d.n_groups, d.re_names
    (3, ['Intercept'])
    """
    def names_of(a, default):
        if isinstance(a, pd.DataFrame):
            return [str(c) for c in a.columns]
        if isinstance(a, pd.Series):
            return [str(a.name) if a.name is not None else default[0]]
        return None

    row_index = endog.index if isinstance(endog, (pd.Series, pd.DataFrame)) else None
    if isinstance(endog, pd.Series) and endog.name is not None:
        endog_name = str(endog.name)
    X = np.asarray(exog, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    n = X.shape[0]
    exog_names = exog_names or names_of(exog, ["x1"]) or [f"x{i + 1}" for i in range(X.shape[1])]
    if np.isinf(X).any():
        bad = exog_names[int(np.flatnonzero(np.isinf(X).any(0))[0])]
        raise ValueError(f"exog column {bad!r} has infinite values")
    if exog_re is None:
        Z = np.ones((n, 1))
        re_names = re_names or ["Intercept"]
    else:
        Z = np.asarray(exog_re, dtype=float)
        if Z.ndim == 1:
            Z = Z[:, None]
        re_names = re_names or names_of(exog_re, ["z1"]) or [f"z{i + 1}" for i in range(Z.shape[1])]
    g = pd.Series(np.asarray(groups)) if not isinstance(groups, pd.Series) else groups.reset_index(drop=True)
    yv = endog.to_numpy() if isinstance(endog, (pd.Series, pd.DataFrame)) else np.asarray(endog)
    for name, arr in (("exog", X), ("exog_re", Z), ("groups", g)):
        if len(arr) != len(yv):
            raise ValueError(f"{name} has {len(arr)} rows but endog has {len(yv)}")
    off = np.zeros(n)
    if offset is not None:
        off = off + np.asarray(offset, dtype=float)
    if exposure is not None:
        ex = np.asarray(exposure, dtype=float)
        if np.any(ex <= 0):
            raise ValueError("exposure must be positive")
        off = off + np.log(ex)
    keep = (np.all(np.isfinite(X), axis=1) & np.all(np.isfinite(Z), axis=1)
            & g.notna().to_numpy() & np.isfinite(off)
            & ~pd.DataFrame(np.asarray(yv).reshape(n, -1)).isna().any(axis=1).to_numpy())
    n_dropped = int((~keep).sum())
    if missing == "raise" and n_dropped:
        raise ValueError(f"{n_dropped} rows have missing values (missing='raise')")
    cols = full_rank_columns(X[keep], list(exog_names), "exog")
    X, exog_names = X[:, cols], [exog_names[j] for j in cols]
    yk = endog[keep] if isinstance(endog, pd.Series) else yv[keep]
    y = response.validate(yk, endog_name)
    response.check_fit_data(y, endog_name)
    design = _assemble(y, X[keep], Z[keep], off[keep], g[keep].reset_index(drop=True),
                       list(exog_names), list(re_names), [list(range(Z.shape[1]))],
                       str(getattr(groups, "name", None) or "Group"), endog_name, {})
    design.row_index = row_index[keep] if row_index is not None else pd.RangeIndex(n)[keep]
    design.n_dropped = n_dropped
    return design


def vc_formula_terms(vc_formula, groups):
    """
    Random terms for MixedLM's variance components ``vc_formula`` within ``groups``.

    Each component must be a random intercept per level of one column,
    written ``"0 + C(col)"`` (or ``"0 + col"``): it becomes ``(1 | groups:col)``.
    As in MixedLM, the groups themselves get a random intercept only when
    ``re_formula`` asks for it (``re_formula="1"``).

    >>> vc_formula_terms({"classroom": "0 + C(classroom)"}, "school")
    [RandomTerm(expr='1', group='school:classroom', correlated=True)]
    """
    from .formula import RandomTerm

    if not isinstance(vc_formula, dict) or not vc_formula:
        raise ValueError("vc_formula must be a dict such as {'clinic': '0 + C(clinic)'}")
    if not isinstance(groups, str):
        raise ValueError("vc_formula needs groups= (the column the components are nested in)")
    out = []
    for name, f in vc_formula.items():
        m = re.fullmatch(r"\s*~?\s*0\s*\+\s*(?:C\(\s*([A-Za-z_][\w.]*)\s*\)|([A-Za-z_][\w.]*))\s*",
                         str(f))
        if not m:
            raise ValueError(f"vc_formula[{name!r}] = {f!r}: only random intercepts per level "
                             "of one column are supported, written '0 + C(column)'")
        out.append(RandomTerm("1", f"{groups}:{m.group(1) or m.group(2)}", True))
    return out


def _check_nesting(re_terms, nobs):
    """
    Warn when a nested term ``a:b`` has one row per level: then ``(1 | a/b)`` fits an
    observation-level effect, which is rarely what nesting syntax was meant for
    (crossed factors are written ``(1 | a) + (1 | b)``).
    """
    import warnings

    groups = {t.group for t in re_terms}
    for t in re_terms:
        parts = t.group.split(":")
        if len(parts) > 1 and ":".join(parts[:-1]) in groups and t.n_levels == nobs:
            warnings.warn(
                f"random-effect term ({t.expr} | {t.group}): every level of {t.group!r} has a "
                f"single row, so nesting {parts[-1]!r} in {':'.join(parts[:-1])!r} gives an "
                "observation-level effect; if the factors are crossed, write "
                f"(1 | {':'.join(parts[:-1])}) + (1 | {parts[-1]})", UserWarning, stacklevel=4)


def _assemble_multi(y, X, Z, offset, re_terms, exog_names, re_names, blocks, re_groups,
                    endog_name, extras):
    """
    Design of a model with several grouping factors: rows in the user's order, the
    random-effect terms in ``terms``.  ``gid``/``group_labels`` describe the factor with
    the most levels (the unit of the group-size rules of thumb); ``starts`` is None,
    since the rows are not sorted by any one factor.
    """
    finest = max(re_terms, key=lambda t: t.n_levels)
    n = len(y)
    d = Design(y=y, X=np.ascontiguousarray(X), Z=np.ascontiguousarray(Z), offset=offset,
               gid=finest.codes, starts=None, order=np.arange(n), exog_names=exog_names,
               re_names=re_names, blocks=blocks, group_name=finest.group,
               group_labels=finest.labels, endog_name=endog_name)
    d.terms = re_terms
    d.re_groups = re_groups
    for k, (arr, names, spec) in extras.items():
        d.extra[k] = (np.ascontiguousarray(arr), names, spec)
    return d


def _assemble(y, X, Z, offset, graw, exog_names, re_names, blocks, gname, endog_name, extras):
    codes, labels = pd.factorize(graw, sort=True)
    labels = np.asarray(labels)
    if len(labels) < 2:
        raise ValueError(f"grouping column {gname!r} has a single group; a mixed model "
                         "needs at least two")
    order = np.argsort(codes, kind="stable")
    gid = codes[order]
    starts = np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]])
    # rows already sorted by group (long data usually are): no reordering copies
    ident = _is_identity(order)

    def take(a):
        return a if ident else a[order]

    Zs = take(Z)
    # a random-effect variable that never varies within a group is not identifiable
    has_icpt = np.any(np.all(Zs == 1.0, axis=0))
    if has_icpt:
        for j, name in enumerate(re_names):
            if np.all(Zs[:, j] == 1.0):
                continue
            seg_min = np.minimum.reduceat(Zs[:, j], starts)
            seg_max = np.maximum.reduceat(Zs[:, j], starts)
            if np.all(seg_min == seg_max):
                raise ValueError(
                    f"random-effect variable {name!r} is constant within every group of "
                    f"{gname!r}; its random slope cannot be told apart from the random "
                    "intercept")
    d = Design(y=take(y), X=np.ascontiguousarray(take(X)), Z=np.ascontiguousarray(Zs),
               offset=take(offset), gid=gid, starts=starts, order=order,
               exog_names=exog_names, re_names=re_names, blocks=blocks, group_name=gname,
               group_labels=labels, endog_name=endog_name)
    d.__dict__["_identity_order"] = ident
    for k, (arr, names, spec) in extras.items():
        d.extra[k] = (np.ascontiguousarray(take(arr)), names, spec)
    return d


def _is_identity(order):
    """True when a sorting permutation leaves every row where it is."""
    return bool(len(order) < 2 or np.all(order[1:] > order[:-1]))
