"""
Random-effect terms: one object per ``(expr | g)`` term, and the stacked layout.

A model with ``K`` terms has one stacked vector of spherical random effects
``u`` (``u ~ N(0, I)``).  Term ``k`` has ``q_k`` columns in its block ``Z_k`` of
the random-effects design and ``l_k`` levels of its grouping factor; its effects
occupy the contiguous slice ``u[o_k : o_k + l_k q_k]``, level-major:

.. math::

    u_{o_k + \\ell q_k + j} \\quad \\text{is column } j \\text{ of level } \\ell
    \\text{ of term } k, \\qquad o_k = \\sum_{m < k} l_m q_m .

The full random-effects design ``Z`` (``n x sum_k l_k q_k``, sparse) has in row
``t`` the values ``z_{tkj}`` at the columns ``o_k + g_k(t) q_k + j`` where
``g_k(t)`` is the level of row ``t`` in factor ``k``.  The random effects are
``b = Lambda u`` with ``Lambda`` block diagonal: ``l_k`` copies of the term's
lower-triangular factor ``L_k`` (:meth:`CovStructure.chol`), so that
``cov(b) = Lambda Lambda'``, as in lme4.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..exceptions import warn
from .covariance import CovStructure
from .frame import _rhs_matrix, group_columns, group_values

__all__ = ["RandomEffectTerm", "build_terms", "term_offsets", "sparse_Z", "block_lambda",
           "split_thetas", "param_names", "check_observation_level", "same_grouping",
           "shares_columns", "check_confounded_terms", "confounded_message"]


@dataclass(eq=False)
class RandomEffectTerm:
    """
    One random-effect term: a grouping factor, its block of ``Z`` and its covariance.

    Attributes
    ----------
    group : str
        Name of the grouping factor, e.g. ``"clinic:patient"``.
    codes : ndarray of int, shape (n,)
        Level of every row, ``0 .. n_levels - 1``.
    labels : ndarray
        Level labels (sorted), ``labels[codes]`` gives the rows' group values.
    Z : ndarray, shape (n, q)
        The term's columns of the random-effects design.
    names : list of str
        Column names of ``Z``.
    cov : CovStructure
        Parametrisation of the term's q x q covariance ``L L'``.
    expr : str
        The term's expression (``"1 + time"``).
    correlated : bool
        False for ``||`` terms.

    Examples
    --------
    >>> import numpy as np
    >>> t = RandomEffectTerm.from_arrays("id", [3, 1, 3, 2], np.ones((4, 1)))
    >>> t.n_levels, t.q, t.codes.tolist(), t.labels.tolist()
    (3, 1, [2, 0, 2, 1], [1, 2, 3])
    >>> t.cov.public_names()
    ['id Intercept Var']
    """

    group: str
    codes: np.ndarray
    labels: np.ndarray
    Z: np.ndarray
    names: list
    cov: CovStructure
    expr: str = "1"
    correlated: bool = True

    @classmethod
    def from_arrays(cls, group, values, Z, names=None, blocks=None):
        """
        A term from raw group values and its ``Z`` block (one correlated block by default).

        Examples
        --------
        >>> import numpy as np
        >>> t = RandomEffectTerm.from_arrays("g", ["a", "a", "b", "b"],
        ...                                  np.c_[np.ones(4), [0.5, 2.0, 1.0, 3.0]],
        ...                                  names=["Intercept", "x"], blocks=[[0], [1]])
        >>> t.cov.public_names()
        ['g Intercept Var', 'g x Var']
        """
        Z = np.asarray(Z, dtype=float)
        if Z.ndim == 1:
            Z = Z[:, None]
        codes, labels = pd.factorize(pd.Series(values).reset_index(drop=True), sort=True)
        if np.any(codes < 0):
            raise ValueError(f"grouping factor {group!r} has missing values")
        if len(codes) != Z.shape[0]:
            raise ValueError(f"grouping factor {group!r} has {len(codes)} values but Z has "
                             f"{Z.shape[0]} rows")
        q = Z.shape[1]
        names = list(names) if names is not None else (
            ["Intercept"] if q == 1 else [f"z{j + 1}" for j in range(q)])
        blocks = blocks if blocks is not None else [list(range(q))]
        expr = " + ".join("1" if nm == "Intercept" else nm for nm in names)
        term = cls(str(group), codes.astype(np.intp), np.asarray(labels), Z, names,
                   CovStructure(blocks, names, str(group)), expr=expr,
                   correlated=len(blocks) == 1)
        term.validate()
        return term

    @property
    def label(self):
        """The term as written in a formula, e.g. ``'(1 + time | id)'``."""
        return f"({self.expr} {'|' if self.correlated else '||'} {self.group})"

    @property
    def n_levels(self):
        """Number of levels of the grouping factor."""
        return len(self.labels)

    @property
    def q(self):
        """Number of random effects per level."""
        return self.Z.shape[1]

    @property
    def n_effects(self):
        """``n_levels * q``: the term's length in the stacked vector ``u``."""
        return self.n_levels * self.q

    @property
    def n_params(self):
        """Number of covariance parameters of the term."""
        return self.cov.n_params

    def validate(self):
        """
        Refuse a term that no model can estimate, naming the term.

        A grouping factor needs two levels or more; a random slope whose
        variable is constant within every level cannot be told apart from the
        random intercept of the same term.
        """
        label = self.label
        if self.n_levels < 2:
            raise ValueError(f"random-effect term {label}: grouping factor {self.group!r} "
                             f"has {self.n_levels} level(s); a random effect needs at least two")
        if not np.all(np.isfinite(self.Z)):
            raise ValueError(f"random-effect term {label} has non-finite values in Z")
        icpt = np.all(self.Z == 1.0, axis=0)
        if np.any(icpt) and self.q > 1:
            lo = np.full((self.n_levels, self.q), np.inf)
            hi = np.full((self.n_levels, self.q), -np.inf)
            np.minimum.at(lo, self.codes, self.Z)
            np.maximum.at(hi, self.codes, self.Z)
            const = np.all(lo == hi, axis=0) & ~icpt
            if np.any(const):
                name = self.names[int(np.flatnonzero(const)[0])]
                raise ValueError(
                    f"random-effect term {label}: variable {name!r} is constant within every "
                    f"level of {self.group!r}; its random slope cannot be told apart from the "
                    "random intercept")

    def __repr__(self):
        bar = "|" if self.correlated else "||"
        return (f"RandomEffectTerm(({self.expr} {bar} {self.group}), levels={self.n_levels}, "
                f"q={self.q})")


def _blocks(term, frame, mgr, col0=0):
    """Covariance blocks of a term: one block, or one per formula term for ``||``."""
    q = frame.shape[1]
    if term.correlated:
        return [list(range(col0, col0 + q))]
    out = []
    for sl in mgr.get_term_name_slices(frame).values():
        idx = list(range(col0 + sl.start, col0 + sl.stop))
        if idx:
            out.append(idx)
    return out


def build_terms(terms, data, formula_manager, bernoulli=False, frames=None, validate=True,
                gaussian=False):
    """
    Build the random-effect terms of a model from its bar terms and kept rows.

    Parameters
    ----------
    terms : list of formula.RandomTerm
        As returned by :func:`statsmodels_glmm.spec.formula.split_formula`
        (``(1 | a/b)`` already expanded to ``a`` and ``a:b``).
    data : DataFrame
        The rows the model keeps (no missing values in the used columns).
    formula_manager : FormulaManager
        Evaluates each term's expression (see :mod:`statsmodels_glmm.spec.formula_engine`).
    bernoulli : bool
        True for a binary response (binomial with one trial per row): an
        observation-level random effect then gets a warning.
    gaussian : bool
        True for a Gaussian response with the identity link: an
        observation-level random intercept is then refused
        (see :func:`check_observation_level`).
    frames : list of DataFrame, optional
        The terms' design matrices when the caller has already evaluated them
        on ``data`` (one per term, in order).
    validate : bool
        Check each term on these rows (two levels or more, random slopes that
        vary within levels, observation-level terms, two factors that group
        the rows alike; default True).  A part of the data -- one partition
        of a distributed fit -- skips the checks that need all rows.

    Returns
    -------
    list of RandomEffectTerm

    Examples
    --------
    >>> import pandas as pd
    >>> from statsmodels_glmm.spec.formula import split_formula
    >>> from statsmodels_glmm.spec.formula_engine import formula_manager
    >>> df = pd.DataFrame({"a": [1, 1, 2, 2, 3, 3], "b": [1, 2, 1, 2, 1, 2],
    ...                    "x": [0.1, 0.5, 0.2, 0.9, 0.4, 0.3]})
    >>> _, rt = split_formula("y ~ x + (1 | a/b)")
    >>> [(t.group, t.n_levels, t.q) for t in build_terms(rt, df, formula_manager())]
    [('a', 3, 1), ('a:b', 6, 1)]
    """
    if not isinstance(data, pd.DataFrame):
        raise ValueError("data must be a pandas DataFrame")
    if not terms:
        raise ValueError("terms is empty: a mixed model needs at least one random-effect term")
    frame_data = data.reset_index(drop=True)
    n = len(frame_data)
    out = []
    for i, t in enumerate(terms):
        frame = (frames[i] if frames is not None else
                 _rhs_matrix(formula_manager, t.expr, frame_data, "random effects"))
        if len(frame) != n:
            raise ValueError(f"random-effect term {t}: {n - len(frame)} row(s) have missing "
                             "values; pass only the rows the model keeps")
        names = [str(c) for c in frame.columns]
        if not names:
            raise ValueError(f"random-effect term {t} has no columns")
        gcols = group_columns(t.group, frame_data)
        gv = group_values(frame_data, gcols)
        if pd.Series(gv).isna().any():
            raise ValueError(f"random-effect term {t}: grouping column(s) {gcols} have "
                             "missing values")
        codes, labels = pd.factorize(gv, sort=True)
        blocks = _blocks(t, frame, formula_manager)
        term = RandomEffectTerm(t.group, codes.astype(np.intp), np.asarray(labels),
                                frame.to_numpy(dtype=float), names,
                                CovStructure(blocks, names, t.group), expr=t.expr,
                                correlated=t.correlated)
        if validate:
            term.validate()
            check_observation_level(str(t), term.n_levels, n,
                                    bool(np.any(np.all(term.Z == 1.0, axis=0))),
                                    bernoulli=bernoulli, gaussian=gaussian)
        out.append(term)
    seen = set()
    for t in out:
        for name in t.names:
            if (t.group, name) in seen:
                raise ValueError(f"random-effect column {name!r} of grouping factor "
                                 f"{t.group!r} appears in more than one term")
            seen.add((t.group, name))
    if validate:
        check_confounded_terms(out)
    return out


def check_observation_level(label, n_levels, nobs, intercept, bernoulli=False, gaussian=False):
    """
    Refuse or warn about a random-effect term with one level per observation.

    With a Gaussian response and the identity link an observation-level
    random intercept has the same variance as the residual: only their sum
    can be estimated, so the term is refused.  With a binary response (one
    trial per row) the variance of such a term is not identified as
    overdispersion: a warning says so.

    Parameters
    ----------
    label : str
        The term as written, e.g. ``"(1 | obs)"``.
    n_levels, nobs : int
        Levels of its grouping factor and rows of the model.
    intercept : bool
        Whether the term has a column of ones (a random intercept).
    bernoulli, gaussian : bool
        The kind of response.

    Examples
    --------
    >>> check_observation_level("(1 | obs)", 10, 10, True, gaussian=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: random-effect term (1 | obs) has one level per observation: with a Gaussian ...
    """
    if n_levels != nobs:
        return
    if gaussian and intercept:
        raise ValueError(
            f"random-effect term {label} has one level per observation: with a Gaussian "
            "response its variance and the residual variance cannot be told apart (only "
            "their sum is identifiable); remove the term")
    if bernoulli:
        warn(
            f"random-effect term {label} has one level per observation; with a binary "
            "response an observation-level random effect is not identified as "
            "overdispersion and changes the model (its variance is confounded with "
            "the link scale)", UserWarning)


def same_grouping(codes_a, codes_b):
    """
    Whether two factors divide the rows into the same groups (one a relabelling
    of the other).  ``codes_*`` are level codes ``0 .. L - 1``, every level used.

    >>> import numpy as np
    >>> same_grouping(np.array([0, 0, 1, 2]), np.array([2, 2, 0, 1]))
    True
    >>> same_grouping(np.array([0, 0, 1, 2]), np.array([0, 1, 2, 2]))
    False
    """
    codes_a, codes_b = np.asarray(codes_a), np.asarray(codes_b)
    if len(codes_a) != len(codes_b):
        return False
    if len(codes_a) == 0:
        return True
    la, lb = int(codes_a.max()) + 1, int(codes_b.max()) + 1
    if la != lb:
        return False
    # b as a function of a (the last row of each level of a), checked on every row;
    # a function between two sets of L used levels is then one-to-one
    image = np.full(la, -1, dtype=np.intp)
    image[codes_a] = codes_b
    return bool(np.array_equal(image[codes_a], codes_b))


def _column_rank(M):
    """Rank of the columns of ``M`` scaled to unit length (zero columns add nothing)."""
    M = np.asarray(M, dtype=float)
    norms = np.sqrt((M * M).sum(0))
    M = M[:, norms > 0] / norms[norms > 0]
    if M.shape[1] == 0:
        return 0
    return int(np.linalg.matrix_rank(M, tol=1e-8))


def shares_columns(M, q_a):
    """
    Whether the first ``q_a`` columns of ``M`` and the others span a common direction.

    ``M`` is ``[Z_a | Z_b]`` (or the triangular factor of its QR decomposition,
    which has the same column relations): true when its rank is below the
    ranks of the two parts added, i.e. some combination of the columns of
    ``Z_a`` equals one of ``Z_b`` in every row.

    >>> import numpy as np
    >>> x = np.array([0.5, 1.0, 2.0, 3.0])
    >>> shares_columns(np.c_[np.ones(4), x, np.ones(4)], 2), shares_columns(np.c_[np.ones(4), x], 1)
    (True, False)
    """
    M = np.asarray(M, dtype=float)
    return _column_rank(M) < _column_rank(M[:, :q_a]) + _column_rank(M[:, q_a:])


def confounded_message(label_a, label_b, group_a, group_b):
    """The error for two terms whose variances cannot be told apart."""
    return (f"random-effect terms {label_a} and {label_b} cannot both be estimated: the "
            f"grouping factors {group_a!r} and {group_b!r} divide the rows into the same "
            "groups and the terms share a random-effect column, so the model is not "
            "identifiable (only the sum of their variances could be estimated); remove one "
            "of the terms")


def check_confounded_terms(terms):
    """
    Refuse two terms of different grouping factors that group the rows alike
    (one factor a relabelling of the other, as ``(1 | subj/subj)`` or two
    factors with one level per row) and share a random-effect column (two
    intercepts, say): their variances are not identifiable separately.

    Examples
    --------
    >>> import numpy as np
    >>> a = RandomEffectTerm.from_arrays("subj", [1, 1, 2, 2, 3], np.ones((5, 1)))
    >>> b = RandomEffectTerm.from_arrays("twin", ["x", "x", "y", "y", "z"], np.ones((5, 1)))
    >>> check_confounded_terms([a, b])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: random-effect terms (1 | subj) and (1 | twin) cannot both be estimated: ...
    """
    for i, a in enumerate(terms):
        for b in terms[i + 1:]:
            if a.group == b.group or a.n_levels != b.n_levels:
                continue
            if same_grouping(a.codes, b.codes) and shares_columns(np.c_[a.Z, b.Z], a.q):
                raise ValueError(confounded_message(a.label, b.label, a.group, b.group))




def term_offsets(terms):
    """
    Start of every term's slice of the stacked ``u`` (and the total length last).

    Examples
    --------
    >>> import numpy as np
    >>> a = RandomEffectTerm.from_arrays("a", [0, 1, 2, 0], np.ones((4, 1)))
    >>> b = RandomEffectTerm.from_arrays("b", [0, 0, 1, 1], np.c_[np.ones(4), [1, 2, 3, 5.0]])
    >>> term_offsets([a, b]).tolist()
    [0, 3, 7]
    """
    return np.concatenate([[0], np.cumsum([t.n_effects for t in terms])]).astype(np.intp)


def sparse_Z(terms):
    """
    The random-effects design of all terms in the stacked layout (CSC, n x total).

    Examples
    --------
    >>> import numpy as np
    >>> a = RandomEffectTerm.from_arrays("a", [0, 1, 1], np.ones((3, 1)))
    >>> b = RandomEffectTerm.from_arrays("b", [0, 0, 1], np.c_[np.ones(3), [1, 2, 3.0]])
    >>> sparse_Z([a, b]).toarray()
    array([[1., 0., 1., 1., 0., 0.],
           [0., 1., 1., 2., 0., 0.],
           [0., 1., 0., 0., 1., 3.]])
    """
    offs = term_offsets(terms)
    n = len(terms[0].codes)
    rows, cols, vals = [], [], []
    for t, o in zip(terms, offs):
        if len(t.codes) != n:
            raise ValueError(f"term {t.group!r} has {len(t.codes)} rows, expected {n}")
        j = np.arange(t.q)
        cols.append((o + t.codes[:, None] * t.q + j[None, :]).ravel())
        rows.append(np.repeat(np.arange(n), t.q))
        vals.append(t.Z.ravel())
    return sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n, offs[-1]))


def split_thetas(terms, thetas):
    """
    Per-term theta vectors from a list or from one concatenated vector.

    Examples
    --------
    >>> import numpy as np
    >>> a = RandomEffectTerm.from_arrays("a", [0, 1], np.ones((2, 1)))
    >>> b = RandomEffectTerm.from_arrays("b", [0, 0, 1, 1], np.c_[np.ones(4), [1, 2, 3, 5.0]])
    >>> [x.tolist() for x in split_thetas([a, b], np.arange(4.0))]
    [[0.0], [1.0, 2.0, 3.0]]
    """
    if isinstance(thetas, (list, tuple)):
        parts = [np.asarray(th, dtype=float).ravel() for th in thetas]
    else:
        flat = np.asarray(thetas, dtype=float).ravel()
        k = np.cumsum([0] + [t.n_params for t in terms])
        if len(flat) != k[-1]:
            raise ValueError(f"thetas has {len(flat)} values; the terms need {k[-1]}")
        parts = [flat[k[i]:k[i + 1]] for i in range(len(terms))]
    if len(parts) != len(terms):
        raise ValueError(f"thetas has {len(parts)} vectors for {len(terms)} terms")
    for t, th in zip(terms, parts):
        if len(th) != t.n_params:
            raise ValueError(f"theta of term {t.group!r} has {len(th)} values; "
                             f"it needs {t.n_params}")
    return parts


def block_lambda(terms, thetas):
    """
    The block-diagonal relative covariance factor ``Lambda`` (CSC, total x total).

    Examples
    --------
    >>> import numpy as np
    >>> a = RandomEffectTerm.from_arrays("a", [0, 1], np.ones((2, 1)))
    >>> block_lambda([a], [np.array([2.0])]).toarray()
    array([[2., 0.],
           [0., 2.]])
    """
    blocks = []
    for t, th in zip(terms, split_thetas(terms, thetas)):
        blocks.append(sp.kron(sp.identity(t.n_levels, format="csc"),
                              sp.csc_matrix(t.cov.chol(th)), format="csc"))
    return sp.block_diag(blocks, format="csc")


def param_names(terms):
    """
    Public covariance-parameter names of all terms, prefixed by the grouping factor.

    Examples
    --------
    >>> import numpy as np
    >>> a = RandomEffectTerm.from_arrays("item", [0, 1], np.ones((2, 1)))
    >>> b = RandomEffectTerm.from_arrays("id", [0, 0, 1, 1], np.c_[np.ones(4), [1, 2, 3, 5.0]],
    ...                                  names=["Intercept", "x"])
    >>> param_names([a, b])
    ['item Intercept Var', 'id Intercept Var', 'id Intercept x x Cov', 'id x Var']
    """
    out = []
    for t in terms:
        out.extend(t.cov.public_names())
    return out
