"""
Design: the model's data, built once and sorted by group.

From a formula (or arrays) this module builds the fixed-effects matrix ``X``,
the random-effects matrix ``Z`` with its covariance blocks, the group codes,
the offset and the response, after dropping rows with a missing value in any
column the model uses.  Rows are stably sorted by group so that per-group
sums are segment reductions (``np.add.reduceat`` over ``starts``).

Reading the data frame (formula evaluation, missing rows, offsets) is done by
:mod:`statsmodels_glmm.spec.frame`; :func:`fixed_design`, :func:`random_design`,
``_assemble`` and :func:`attach_specs` turn its
:class:`~statsmodels_glmm.spec.frame.ModelFrame` into a
:class:`Design`, for all the data (:func:`build_design`, with the checks that
need every row) and for one partition of a distributed fit alike.
"""

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .formula import re_formula_terms, split_formula
from .formula_engine import formula_manager
from .frame import (_prepare_frame, _rhs_matrix, check_group_types, evaluate_frame,
                    group_columns, group_values, model_columns, model_response)
from .terms import _blocks, build_terms, check_observation_level

from ..exceptions import warn

__all__ = ["Design", "build_design", "design_from_arrays", "fixed_design", "random_design",
           "attach_specs", "response_kind"]


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
    mf = evaluate_frame(work, mgr, fixed, terms, gcols, extra_formulas, offset, exposure,
                        raw_endog=response.raw_endog, missing=missing, check_columns=True)
    if mf.empty:
        raise ValueError("no rows left after dropping rows with missing values")
    sub = mf.data
    check_group_types(sub, gcols)
    y, endog_name, X, exog_names = fixed_design(mf, response)
    response.check_fit_data(y, endog_name)
    cols = full_rank_columns(X, exog_names, "fixed-effects")
    X, exog_names = X[:, cols], [exog_names[j] for j in cols]
    Z, re_names, blocks, re_groups = random_design(terms, mf.re_frames, mgr)
    extras = mf.extra_arrays(mgr)
    bernoulli, gaussian = response_kind(response, y)
    if multi:
        re_terms = build_terms(terms, sub, mgr, bernoulli=bernoulli, frames=mf.re_frames,
                               gaussian=gaussian)
        _check_nesting(re_terms, len(sub))
        design = _assemble_multi(y, X, Z, mf.offset, re_terms, exog_names, re_names, blocks,
                                 re_groups, endog_name, extras)
    else:
        graw = group_values(sub, group_columns(gname, sub))
        design = _assemble(y, X, Z, mf.offset, graw, exog_names, re_names, blocks, gname,
                           endog_name, extras)
        ones = np.all(design.Z == 1.0, axis=0)
        label = str(next((t for t, f in zip(terms, mf.re_frames)
                          if np.any(np.all(f.to_numpy(dtype=float) == 1.0, axis=0))), terms[0]))
        check_observation_level(label, design.n_groups, design.nobs, bool(np.any(ones)),
                                bernoulli=bernoulli, gaussian=gaussian)
    design.row_index = data.index[mf.keep]
    design.n_dropped = mf.n_dropped
    design.formula = formula
    attach_specs(design, mf, mgr, terms, used_cols, gcols, extra_formulas, offset, exposure,
                 fixed_columns=exog_names)
    return design


def response_kind(response, y):
    """
    ``(bernoulli, gaussian)``: a binomial response with one trial in every row,
    and a Gaussian response with the identity link (the kinds of response for
    which an observation-level random effect is warned about or refused).

    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> response_kind(as_response(sm.families.Gaussian()), np.zeros(3))
    (False, True)
    """
    bernoulli = response.name == "Binomial" and bool(np.all(np.asarray(y)[:, 1] == 1))
    gaussian = response.name == "Gaussian" and getattr(response, "link_name", None) == "identity"
    return bernoulli, gaussian


def fixed_design(mf, response):
    """
    The validated response and the fixed-effects matrix of a model frame.

    The family validates the response (see
    :func:`~statsmodels_glmm.spec.frame.model_response`); a family without an
    intercept (the ordinal thresholds take its place) loses the ``Intercept``
    column.

    Parameters
    ----------
    mf : ModelFrame
        See :func:`~statsmodels_glmm.spec.frame.evaluate_frame`.
    response : Response

    Returns
    -------
    y : ndarray
    endog_name : str
    X : ndarray
    exog_names : list of str

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> from statsmodels_glmm.spec.formula import split_formula
    >>> from statsmodels_glmm.spec.formula_engine import formula_manager
    >>> df = pd.DataFrame({"y": [0, 1, 1.0], "x": [1.0, 2.0, 3.0], "id": [1, 1, 2]})
    >>> fixed, terms = split_formula("y ~ x + (1 | id)")
    >>> mf = evaluate_frame(df, formula_manager(), fixed, terms, ["id"])
    >>> y, name, X, names = fixed_design(mf, as_response(sm.families.Binomial()))
    >>> y.shape, name, X.shape, names
    ((3, 2), 'y', (3, 2), ['Intercept', 'x'])
    """
    endog, endog_name = model_response(mf, response)
    y = response.validate(endog, endog_name)
    X = mf.Xdf.to_numpy(dtype=float)
    exog_names = [str(c) for c in mf.Xdf.columns]
    if not response.has_intercept:
        icpt = [i for i, c in enumerate(exog_names) if c in ("Intercept", "1")]
        X = np.delete(X, icpt, axis=1)
        exog_names = [c for i, c in enumerate(exog_names) if i not in icpt]
    return y, endog_name, X, exog_names


def random_design(terms, frames, mgr):
    """
    The random-effects matrix of all terms, side by side, and its covariance blocks.

    A correlated term (``|``) is one covariance block; an uncorrelated one
    (``||``) has a block per formula term.  A term without columns, and a
    column repeated within one grouping factor, are refused.

    Parameters
    ----------
    terms : list of formula.RandomTerm
    frames : list of DataFrame
        Each term's evaluated columns.
    mgr : FormulaManager

    Returns
    -------
    Z : ndarray
    re_names : list of str
    blocks : list of list of int
        Columns of ``Z`` of every covariance block.
    re_groups : list of str
        Grouping factor of every column of ``Z``.

    Examples
    --------
    >>> from statsmodels_glmm.spec.formula import split_formula
    >>> from statsmodels_glmm.spec.formula_engine import formula_manager
    >>> mgr = formula_manager()
    >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "id": [1, 1, 2], "c": [1, 2, 2]})
    >>> _, terms = split_formula("y ~ x + (1 + x || id) + (1 | c)")
    >>> frames = [_rhs_matrix(mgr, t.expr, df, "random effects") for t in terms]
    >>> Z, names, blocks, groups = random_design(terms, frames, mgr)
    >>> Z.shape, names, blocks, groups
    ((3, 3), ['Intercept', 'x', 'Intercept'], [[0], [1], [2]], ['id', 'id', 'c'])
    """
    Zparts, re_names, blocks = [], [], []
    col = 0
    for t, frame in zip(terms, frames):
        names = [str(c) for c in frame.columns]
        if not names:
            raise ValueError(f"random term {t} has no columns")
        Zparts.append(frame.to_numpy(dtype=float))
        blocks.extend(_blocks(t, frame, mgr, col))
        re_names.extend(names)
        col += len(names)
    re_groups = [t.group for t, frame in zip(terms, frames) for _ in frame.columns]
    pairs = list(zip(re_groups, re_names))
    if len(set(pairs)) != len(pairs):
        raise ValueError(f"random-effect columns repeat across terms of one grouping factor: "
                         f"{[f'{g} {n}' for g, n in pairs]}")
    return np.column_stack(Zparts), re_names, blocks, re_groups


def attach_specs(design, mf, mgr, terms, used, gcols, extra_formulas=None, offset=None,
                 exposure=None, fixed_columns=None):
    """
    Record in ``design`` what predicting from new data needs.

    The formula engine's specs of the fixed and random matrices, the used
    columns of the kept rows (to rebuild the specs after unpickling), the
    terms, the grouping columns, the extra formulas, the offset and
    exposure columns (None for values given as arrays) and the expressions of
    the formula's ``offset(...)`` terms.  ``design`` is modified in place.

    Parameters
    ----------
    design : Design
    mf : ModelFrame
        The frame ``design`` was assembled from.
    mgr : FormulaManager
    terms : list of formula.RandomTerm
    used : list of str
        The columns the model reads.
    gcols : list of str
        The grouping columns.
    extra_formulas : dict of str, optional
    offset, exposure : str, array-like or None
    fixed_columns : list of str, optional
        The fixed-effects columns kept (recorded when given).

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> from statsmodels_glmm.simulate import simulate_longitudinal
    >>> df = simulate_longitudinal(n_persons=5, seed=0)
    >>> d = build_design("y ~ time + (1 | id)", df, as_response(sm.families.Binomial()))
    >>> d.extra["fixed_rhs"], d.extra["group_columns"], d.extra["fixed_columns"]
    ('time', ['id'], ['Intercept', 'time'])
    """
    design.fixed_spec = mgr.get_model_spec(mf.Xdf)
    design.re_spec = [mgr.get_model_spec(f) for f in mf.re_frames]
    design.extra["formula_manager"] = mgr
    if fixed_columns is not None:
        design.extra["fixed_columns"] = list(fixed_columns)  # of the fixed spec, after dropping
    design.extra["terms"] = terms
    design.extra["fixed_rhs"] = mf.rhs
    # by position: selecting a list of names costs several times more in pandas
    cols = mf.data.columns
    design.extra["spec_data"] = mf.data.take([cols.get_loc(c) for c in used], axis=1)
    design.extra["group_columns"] = gcols
    design.extra["extra_formulas"] = dict(extra_formulas or {})
    design.extra["offset"] = offset if isinstance(offset, str) else None
    design.extra["exposure"] = exposure if isinstance(exposure, str) else None
    #: expressions of the formula's offset(...) terms, evaluated on new data to predict
    design.extra["formula_offsets"] = list(mf.offset_terms)


def full_rank_columns(X, names, what, nobs=None):
    """
    Indices of the columns to keep so that ``X`` has full column rank.

    Columns are scaled to unit length (so units do not matter) and taken
    from left to right; a column whose part orthogonal to the columns kept
    before it is below 1e-9 of its length adds nothing and is dropped, with a
    warning naming it and the columns it depends on (as lme4 does).  A
    column that is zero in every row is refused, and so is a design whose
    kept columns are as many as its rows (``nobs``, default the rows of
    ``X``): the fixed effects alone would then reproduce every observation,
    leaving nothing to estimate the random effects from.

    ``X`` may also be the triangular factor ``R`` of a QR decomposition of the
    design (its columns have the same linear relations); ``nobs`` is then the
    design's number of rows.

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

    from scipy.linalg import qr

    n, p = X.shape
    nobs = n if nobs is None else int(nobs)
    if p == 0:
        return []
    gram = X.T @ X
    norms = np.sqrt(np.maximum(np.diag(gram), 0.0))
    zero = np.flatnonzero(norms == 0)
    if len(zero):
        raise ValueError(f"{what} column {names[zero[0]]!r} is zero in every row")
    # a well-conditioned design (smallest eigenvalue of the correlation-like Gram
    # matrix far above rounding) has every column's orthogonal part far above the
    # 1e-9 threshold: no factorisation of X needed
    if p < nobs and np.all(np.isfinite(gram)) and \
            np.linalg.eigvalsh(gram / np.outer(norms, norms)).min() > 1e-8:
        return list(range(p))
    # the columns' linear relations are those of the QR factor (min(n, p) x p);
    # each column's part orthogonal to the kept columns before it, from an
    # orthonormal basis of those (Gram-Schmidt, twice for accuracy)
    R = qr(X / norms, mode="r", pivoting=False)[0]
    basis = np.zeros((R.shape[0], 0))
    keep, dep = [], []
    for j in range(p):
        r = R[:, j].copy()
        for _ in range(2):
            r -= basis @ (basis.T @ r)
        size = np.linalg.norm(r)
        if size < 1e-9:
            dep.append(j)
        else:
            keep.append(j)
            basis = np.column_stack([basis, r / size])
    if len(keep) >= nobs:
        raise ValueError(
            f"the {what} design has {p} columns of rank {len(keep)} for {nobs} rows: the "
            "fixed effects alone reproduce every observation, leaving nothing to estimate "
            "the random effects and the residual variation from; use fewer fixed effects")
    if not dep:
        return keep
    parts = []
    for j in dep:
        earlier = [i for i in keep if i < j]
        coef = np.linalg.lstsq(R[:, earlier], R[:, j], rcond=None)[0]
        used = [names[earlier[i]] for i in np.flatnonzero(np.abs(coef) > 1e-8)]
        parts.append(f"{names[j]!r} (a linear combination of "
                     f"{', '.join(repr(u) for u in used)})")
    warn(f"{what} columns are collinear: dropping {'; '.join(parts)}", UserWarning)
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
    twice = list(dict.fromkeys(c for c in exog_names if list(exog_names).count(c) > 1))
    if twice:
        raise ValueError(f"exog has more than one column named "
                         f"{', '.join(repr(c) for c in twice)}; parameter names must be unique")
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
    g = pd.Series(np.asarray(groups)) if not isinstance(groups, pd.Series) else \
        groups.reset_index(drop=True)
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
    bernoulli, gaussian = response_kind(response, y)
    check_observation_level(f"({' + '.join(design.re_names)} | {design.group_name})",
                            design.n_groups, design.nobs,
                            bool(np.any(np.all(design.Z == 1.0, axis=0))),
                            bernoulli=bernoulli, gaussian=gaussian)
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

    groups = {t.group for t in re_terms}
    for t in re_terms:
        parts = t.group.split(":")
        if len(parts) > 1 and ":".join(parts[:-1]) in groups and t.n_levels == nobs:
            warn(
                f"random-effect term ({t.expr} | {t.group}): every level of {t.group!r} has a "
                f"single row, so nesting {parts[-1]!r} in {':'.join(parts[:-1])!r} gives an "
                "observation-level effect; if the factors are crossed, write "
                f"(1 | {':'.join(parts[:-1])}) + (1 | {parts[-1]})", UserWarning)


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


def _assemble(y, X, Z, offset, graw, exog_names, re_names, blocks, gname, endog_name, extras,
              check=True):
    """
    Design of a model with one grouping factor, rows stably sorted by group.

    With ``check`` (the whole data) a single group and a random slope that
    never varies within a group are refused; one partition of the data skips
    both checks.
    """
    codes, labels = pd.factorize(graw, sort=True)
    labels = np.asarray(labels)
    if check and len(labels) < 2:
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
    if check and np.any(np.all(Zs == 1.0, axis=0)):
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
