"""
One partition of a distributed fit: its design, its model, and the sums it returns.

A model with one grouping factor has a marginal log-likelihood that is a sum
over groups,

.. math::

    \\ell(\\psi) = \\sum_{i=1}^{G} \\ell_i(\\psi)
               = \\sum_{p=1}^{P} \\Big( \\sum_{i \\in p} \\ell_i(\\psi) \\Big),

so when every group lies in one partition ``p`` the log-likelihood, its
gradient and any finite-difference Hessian built from the same steps are sums
of per-partition pieces.  Each partition holds an ordinary :class:`MixedGLM`
built from its own rows and evaluates its piece with
:meth:`MixedGLM.loglike_internal`, the code the in-memory fit runs.

This module needs pandas only: the functions here run inside Dask tasks but
import nothing from Dask, so they can be checked on plain DataFrames.

With several grouping factors nested in one outermost factor, the sum runs
over the levels of that factor, and each partition holds the multi-factor
design of its rows (random-effect terms as in
:func:`~statsmodels_glmm.spec.design.build_design`, built by
:func:`partition_terms` without the whole-data checks).

Designs of different partitions must have identical columns.  The client fixes
the levels of every categorical column once (:func:`cast_levels`) and each
partition's design is checked against the expected column names; the checks
that need all the data (a full-rank ``X``, at least two groups, random slopes
that vary within groups) are made on the client from the summaries of
:func:`part_info`, not per partition, where a rare level or a single group is
normal.
"""

import copy
import re

import numpy as np
import pandas as pd

from ..spec.design import (_assemble, _assemble_multi, attach_specs, fixed_design,
                           random_design, response_kind)
from ..spec.formula_engine import formula_manager
from ..spec.frame import (_check_columns, _prepare_frame, check_group_types, evaluate_frame,
                          group_values)
from ..spec.terms import build_terms, same_grouping
from ..likelihood.warm_start import WarmStart
from ..model import MixedGLM
from ..model.columns import outcome_at_bounds, separation_kind
from ..likelihood.start import glm_sums

__all__ = ["PartitionGLM", "Partition", "cast_levels", "partition_design", "build_partition",
           "select_columns", "part_info", "part_eval", "part_hessian", "part_start", "part_glm",
           "part_start_extra", "part_separation", "part_modes", "partition_terms"]


class PartitionGLM(MixedGLM):
    """
    A :class:`MixedGLM` on one partition's rows.

    Identical to its parent except that the difference steps of gradients and
    Hessians can be set from outside (``typical``), so that every partition
    steps by the same amounts and the per-partition differences add up to the
    difference of the whole log-likelihood.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.simulate import simulate_longitudinal
    >>> df = simulate_longitudinal("poisson", n_persons=6, seed=1)
    >>> m = PartitionGLM.from_formula("y ~ time + (1 | id)", df, family=sm.families.Poisson())
    >>> m.typical = np.ones(3)
    >>> m._typical_sizes().tolist()
    [1.0, 1.0, 1.0]
    """

    typical = None

    def _typical_sizes(self):
        if self.typical is not None:
            return np.asarray(self.typical, dtype=float)
        return super()._typical_sizes()


class Partition:
    """
    What a worker keeps for one partition between iterations.

    ``model`` is a :class:`PartitionGLM` (None when no row of the partition is
    left after dropping missing values); its warm-start modes stay with it.
    """

    #: how many sets of warm-start modes a partition keeps (the newest ones)
    KEEP_MODES = 4

    def __init__(self, model, n_dropped, sample):
        self.model = model
        self.n_dropped = int(n_dropped)
        self.sample = sample
        self.modes = {}

    def warm(self, token):
        """A :class:`WarmStart` from the modes saved under ``token`` (empty if unknown)."""
        return WarmStart(self.modes.get(token) if token is not None else None)

    def keep(self, token, warm):
        """Save the modes of ``warm`` under ``token``, forgetting the oldest sets."""
        if token is None or warm is None or warm.u is None:
            return
        self.modes[token] = warm.u
        while len(self.modes) > self.KEEP_MODES:
            self.modes.pop(next(iter(self.modes)))

    @property
    def nobs(self):
        return 0 if self.model is None else self.model.nobs


# ------------------------------------------------------------------ levels
def cast_levels(frame, levels):
    """
    Cast the columns named in ``levels`` to categoricals with those categories.

    Every partition then expands a factor into the same indicator columns,
    whichever levels it happens to contain.  Values outside the categories
    (there are none when the categories came from the whole data) become
    missing.  Returns a new frame; ``frame`` is not modified.

    Examples
    --------
    >>> df = pd.DataFrame({"a": ["x", "z"], "b": [1.0, 2.0]})
    >>> cast_levels(df, {"a": ["x", "y", "z"]})["a"].cat.categories.tolist()
    ['x', 'y', 'z']
    """
    out = frame.copy(deep=False)
    for col, cats in levels.items():
        if col in out.columns:
            values = out[col]
            if isinstance(values.dtype, pd.CategoricalDtype):
                values = values.astype(object)
            out[col] = pd.Categorical(values, categories=list(cats))
    return out


# ------------------------------------------------------------------ design
def partition_design(data, spec, keep_spec=False, response=None):
    """
    The :class:`~statsmodels_glmm.spec.design.Design` of one partition.

    The steps are those of :func:`~statsmodels_glmm.spec.design.build_design`
    (:func:`~statsmodels_glmm.spec.frame.evaluate_frame` drops rows with a
    missing value in any used column and evaluates the fixed, random and
    extra formulas; the response is validated and rows are sorted by group)
    without the checks that need the whole data set, which the client makes:
    a full-rank ``X``, the family's checks of the whole response, two groups
    or more, random slopes that vary within groups, nesting.  The levels of
    categorical columns are those the client fixed (``spec["levels"]``).

    Parameters
    ----------
    data : DataFrame
        The partition's rows; never modified.
    spec : dict
        Made by the client: ``fixed``, ``terms``, ``gname``, ``gcols``,
        ``used``, ``levels``, ``offset``, ``exposure``, ``extra_formulas``,
        ``missing``, ``engine``, ``response``.
    keep_spec : bool
        Keep the formula engine's specs and the used columns in
        ``design.extra`` (needed to predict from new data).
    response : Response, optional
        The family object to validate the response with (it may record
        levels); default ``spec["response"]``.

    Returns
    -------
    Design, or None when no row is left; and the number of dropped rows.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> from statsmodels_glmm.spec.formula import split_formula
    >>> from statsmodels_glmm.simulate import simulate_longitudinal
    >>> df = simulate_longitudinal(n_persons=4, seed=0)
    >>> fixed, terms = split_formula("y ~ time + (1 | id)")
    >>> spec = dict(fixed=fixed, terms=terms, gname="id", gcols=["id"],
    ...             used=["y", "time", "id"], levels={}, offset=None, exposure=None,
    ...             extra_formulas={}, missing="drop", engine=None,
    ...             response=as_response(sm.families.Binomial()))
    >>> d, dropped = partition_design(df, spec)
    >>> d.exog_names, d.n_groups, dropped
    (['Intercept', 'time'], 4, 0)
    """
    response = spec["response"] if response is None else response
    used, gcols, terms = spec["used"], spec["gcols"], spec["terms"]
    extra_formulas = spec["extra_formulas"] or {}
    work = _prepare_frame(cast_levels(data[used], spec["levels"]), used)
    if len(work) == 0:
        return None, 0
    mgr = formula_manager(spec["engine"])
    mf = evaluate_frame(work, mgr, spec["fixed"], terms, gcols, extra_formulas, spec["offset"],
                        spec["exposure"], raw_endog=getattr(response, "raw_endog", False),
                        missing=spec["missing"])
    if mf.empty:
        return None, mf.n_dropped
    sub = mf.data
    check_group_types(sub, gcols)
    y, endog_name, X, exog_names = fixed_design(mf, response)
    Z, re_names, blocks, re_groups = random_design(terms, mf.re_frames, mgr)
    extras = mf.extra_arrays(mgr, with_spec=keep_spec)
    if len({t.group for t in terms}) > 1:
        # several factors nested in one: the multi-factor design of these rows, rows in
        # their order, without the whole-data checks of the terms (made on the client)
        re_terms = partition_terms(terms, sub, mgr, mf.re_frames)
        design = _assemble_multi(y, X, Z, mf.offset, re_terms, exog_names, re_names, blocks,
                                 re_groups, endog_name, extras)
    else:
        design = _assemble(y, X, Z, mf.offset, group_values(sub, gcols), exog_names, re_names,
                           blocks, spec["gname"], endog_name, extras, check=False)
    design.row_index = pd.RangeIndex(len(sub))
    design.n_dropped = mf.n_dropped
    design.formula = spec.get("formula")
    if keep_spec:
        attach_specs(design, mf, mgr, terms, used, gcols, extra_formulas, spec["offset"],
                     spec["exposure"])
    return design, mf.n_dropped


def partition_terms(terms, data, mgr, frames):
    """
    The random-effect terms of one partition's rows, unvalidated.

    As :func:`~statsmodels_glmm.spec.terms.build_terms` (each factor's levels are
    the sorted distinct values of its columns, joined by ``":"`` for an
    interaction), except that the checks which need the whole data -- two
    levels or more per factor, random slopes that vary within levels -- are
    left to the client: a partition holding a single clinic is normal.

    Parameters
    ----------
    terms : list of formula.RandomTerm
    data : DataFrame
        The partition's kept rows.
    mgr : FormulaManager
    frames : list of DataFrame
        Each term's evaluated columns on ``data``.

    Returns
    -------
    list of RandomEffectTerm

    Examples
    --------
    >>> from statsmodels_glmm.spec.formula import split_formula
    >>> from statsmodels_glmm.spec.formula_engine import formula_manager
    >>> from statsmodels_glmm.spec.frame import _rhs_matrix
    >>> df = pd.DataFrame({"a": [1, 1, 1], "b": [1, 2, 2], "x": [0.1, 0.5, 0.2]})
    >>> _, rt = split_formula("y ~ x + (1 | a/b)")
    >>> mgr = formula_manager()
    >>> frames = [_rhs_matrix(mgr, t.expr, df, "random effects") for t in rt]
    >>> [(t.group, t.labels.tolist()) for t in partition_terms(rt, df, mgr, frames)]
    [('a', [1]), ('a:b', ['1:1', '1:2'])]
    """
    return build_terms(terms, data, mgr, frames=frames, validate=False)


def _model_for(design, response):
    return PartitionGLM(None, None, None, family=response, design=design)


def build_partition(data, spec, n_sample=50):
    """
    Build the :class:`Partition` of one chunk of rows (run on a worker).

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> from statsmodels_glmm.families import as_response
    >>> from statsmodels_glmm.spec.formula import split_formula
    >>> from statsmodels_glmm.simulate import simulate_longitudinal
    >>> df = simulate_longitudinal(n_persons=4, seed=0)
    >>> fixed, terms = split_formula("y ~ time + (1 | id)")
    >>> spec = dict(fixed=fixed, terms=terms, gname="id", gcols=["id"],
    ...             used=["y", "time", "id"], levels={}, offset=None, exposure=None,
    ...             extra_formulas={}, missing="drop", engine=None,
    ...             response=as_response(sm.families.Binomial()))
    >>> build_partition(df, spec).nobs == len(df)
    True
    """
    response = copy.deepcopy(spec["response"])
    design, n_dropped = partition_design(data, spec, response=response)
    sample = data[spec["used"]].head(n_sample).copy()
    sample.attrs = {}
    if design is None:
        return Partition(None, n_dropped, sample)
    model = _model_for(design, response)
    return Partition(model, n_dropped, sample)


def select_columns(part, cols):
    """
    The partition with only the fixed-effects columns ``cols`` (those the
    whole-data rank check keeps); a new object, so that Dask can rebuild it.
    """
    m = part.model
    if m is None:
        return part
    d = copy.copy(m.design)
    d.extra = dict(d.extra)
    d.X = np.ascontiguousarray(d.X[:, cols])
    d.exog_names = [d.exog_names[j] for j in cols]
    return Partition(_model_for(d, m.response), part.n_dropped, part.sample)


# ------------------------------------------------------------------ tasks
def part_info(part):
    """
    The summaries the client needs once: sizes, labels, column names and moments.

    ``R`` is the triangular factor of the QR decomposition of the partition's
    ``X`` (stacking the factors of all partitions and factoring again gives
    the ``R`` of the whole ``X``: a full-rank check without moving rows).
    """
    out = dict(nobs=part.nobs, n_dropped=part.n_dropped, sample=part.sample)
    m = part.model
    if m is None:
        return out
    d = m.design
    X, Z = d.X, d.Z
    p = X.shape[1]
    const = np.all(X == X[:1], axis=0) if p else np.zeros(0, bool)
    # random slopes: is the column constant within every group of this partition?
    if d.multi:
        z_const = np.concatenate([_constant_within(t.Z, t.codes) for t in d.terms])
        z_within = np.concatenate([_within_ss(t.Z, t.codes) for t in d.terms])
        out.update(term_labels=[t.labels for t in d.terms],
                   term_sizes=[np.bincount(t.codes, minlength=t.n_levels) for t in d.terms],
                   term_pairs=_term_pairs(d.terms))
    elif len(d.starts):
        zmin = np.minimum.reduceat(Z, d.starts, axis=0)
        zmax = np.maximum.reduceat(Z, d.starts, axis=0)
        z_const = np.all(zmin == zmax, axis=0)
        z_within = _within_ss(Z, d.gid)
    else:
        z_const = np.ones(Z.shape[1], bool)
        z_within = np.zeros(Z.shape[1])
    R = np.linalg.qr(X, mode="r") if p else np.zeros((0, 0))
    yv = np.asarray(m.response.response_value(d.y), dtype=float).reshape(len(d.gid), -1)[:, 0]
    check = getattr(m.response, "check_fit_data", None)
    refused = None
    if check is not None:
        try:
            check(d.y, d.endog_name)
        except ValueError as exc:
            refused = str(exc)
    out.update(
        exog_names=list(d.exog_names), re_names=list(d.re_names), blocks=d.blocks,
        endog_name=d.endog_name, labels=d.group_labels, sizes=d.group_sizes,
        x_sum=X.sum(0), x_sq=(X ** 2).sum(0), x_first=X[0].copy(), x_const=const,
        z_sq=(Z ** 2).sum(0), z_sum=Z.sum(0), z_within_ss=z_within,
        z_all_one=np.all(Z == 1.0, axis=0), z_const=z_const, R=R,
        k_extra=m.k_extra, k_max=getattr(m.response, "k_max", None),
        y_min=float(np.min(yv)), y_max=float(np.max(yv)), y_sum=float(np.sum(yv)),
        y_binary=bool(np.all((yv == 0) | (yv == 1))), refused=refused)
    out["bernoulli"], out["gaussian"] = response_kind(m.response, d.y)
    return out


def _term_pairs(terms):
    """
    For each pair of terms of different grouping factors: whether the two group
    this partition's rows alike, and the triangular factor of ``[Z_a | Z_b]``
    (stacked over partitions it gives the factor of the whole data).
    """
    out = {}
    for k, a in enumerate(terms):
        for m, b in enumerate(terms[k + 1:], start=k + 1):
            if a.group == b.group:
                continue
            same = a.n_levels == b.n_levels and same_grouping(a.codes, b.codes)
            out[(k, m)] = (same, np.linalg.qr(np.c_[a.Z, b.Z], mode="r") if same else None)
    return out


def _constant_within(Z, codes):
    """For each column of ``Z``: is it constant within every level of ``codes``?"""
    order = np.argsort(codes, kind="stable")
    c = codes[order]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    Zs = Z[order]
    return np.all(np.minimum.reduceat(Zs, starts, axis=0) ==
                  np.maximum.reduceat(Zs, starts, axis=0), axis=0)


def _within_ss(Z, codes):
    """For each column of ``Z``: the sum of squared deviations from its level means."""
    cnt = np.bincount(codes)
    means = np.stack([np.bincount(codes, weights=z) for z in Z.T], axis=1) \
        / np.maximum(cnt, 1)[:, None]
    return ((Z - means[codes]) ** 2).sum(0)


def part_eval(part, internal, nagq, gradient, typical, start=None, save=None):
    """
    ``(llf, grad, converged)`` of one partition: :meth:`MixedGLM.loglike_internal`.

    The conditional modes start from those saved under the token ``start``
    (from zero when there are none) and the modes found are saved under
    ``save``; with neither, the evaluation is cold and saves nothing.  A
    partition without rows contributes zero.  A family without an analytic
    gradient falls back to central differences with the global steps.
    """
    m = part.model
    n = len(internal)
    if m is None:
        return 0.0, (np.zeros(n) if gradient else None), True
    m.typical = typical
    x = np.asarray(internal, dtype=float)
    warm = part.warm(start) if (start is not None or save is not None) else None
    llf, grad, state = m.loglike_internal(x, nagq, gradient=gradient, warm=warm)
    if gradient and grad is None and np.isfinite(llf):
        grad = m._fd_gradient(x, nagq, warm=warm)
    part.keep(save, warm)
    return float(llf), (None if grad is None else np.asarray(grad, float)), \
        bool(state.converged)


def part_hessian(part, internal, nagq, free, central, typical, start=None):
    """
    This partition's finite-difference Hessian with the global steps
    (:meth:`MixedGLM.hessian_internal`, modes warm-started from ``start``);
    the Hessians of all partitions add up to that of the whole log-likelihood.
    """
    m = part.model
    n = len(internal)
    if m is None:
        return np.zeros((n, n))
    m.typical = typical
    return m.hessian_internal(np.asarray(internal, dtype=float), nagq, free, central=central,
                              warm=part.warm(start))


def part_start(part):
    """
    Start values of a family that provides its own (``response.start_beta``),
    from this partition alone: ``(nobs, beta, extra)``, with ``beta`` None for
    a family that starts from the GLM (the client then runs the GLM's Newton
    steps over all partitions).
    """
    m = part.model
    if m is None:
        return 0, None, None
    d = m.design
    beta = m.response.start_beta(d)
    if beta is None:
        return m.nobs, None, None
    extra = m.response.start_extra(d.y, d.X @ beta + d.offset)
    return m.nobs, np.asarray(beta, float), np.asarray(extra, float)


def part_glm(part, beta, extra):
    """
    This partition's terms of a Newton step of the GLM without random effects
    (as :func:`statsmodels_glmm.likelihood.start.glm_start`): ``sum d0``, ``X' d1`` and
    ``X' W X`` with ``W = max(-d2, 0)``.
    """
    m = part.model
    p = len(beta)
    if m is None:
        return 0.0, np.zeros(p), np.zeros((p, p))
    d = m.design
    return glm_sums(m.response, d.y, d.X, d.offset, beta, extra)


def part_moments(part, beta, extra):
    """
    This partition's sums of the moment start of the random-effect covariance
    (``MixedGLM._moment_sums`` at the fit without random effects ``beta``,
    ``extra``): its groups lie in it whole, so the sums over partitions are those
    of the whole data.  An empty tuple for an empty partition, None for moments
    that are not finite.
    """
    m = part.model
    if m is None:
        return ()
    d = m.design
    return m._moment_sums(d.X @ beta + d.offset, np.asarray(extra, dtype=float))


def part_start_extra(part, beta):
    """``(nobs, start_extra(y, X beta + offset))`` of this partition."""
    m = part.model
    if m is None:
        return 0, None
    d = m.design
    return m.nobs, np.asarray(m.response.start_extra(d.y, d.X @ beta + d.offset), float)


def part_separation(part):
    """
    For each fixed-effects column taking at most two values here: per value,
    whether the outcome is at its lower bound in every row (every trial
    failed; every count zero) and whether it is at its upper bound (every
    trial succeeded) -- the data of
    :func:`statsmodels_glmm.model.separation_terms`, for a binomial or count
    response (None for other families).
    """
    m = part.model
    if m is None or separation_kind(m.response) is None:
        return None
    d = m.design
    low, high = outcome_at_bounds(m.response, d.y)
    out = []
    for j in range(d.X.shape[1]):
        col = d.X[:, j]
        vals = np.unique(col)
        if len(vals) > 2:
            out.append(None)
            continue
        out.append({float(v): (bool(np.all(low[col == v])), bool(np.all(high[col == v])))
                    for v in vals})
    return out


def part_modes(part, internal, nagq, with_hinv=False, start=None):
    """
    Group labels and conditional modes ``u`` at ``internal`` (and their
    ``H^-1`` when ``with_hinv``), the modes warm-started from ``start``.
    """
    m = part.model
    if m is None:
        return None
    x = np.asarray(internal, dtype=float)
    llf, _, state = m.loglike_internal(x, nagq, gradient=False, warm=part.warm(start))
    if m.multi:
        return _term_modes(m, x, state, with_hinv)
    return (m.design.group_labels, np.asarray(state.u),
            np.asarray(state.Hinv) if with_hinv else None)


def _term_modes(m, x, state, with_cov):
    """
    Per random-effect term of a multi-factor partition: level labels, spherical
    modes ``u_k`` (levels, q), modes ``b_k = u_k L_k'`` and, when ``with_cov``,
    the conditional covariances ``L_k H^-1_kk L_k'`` (levels, q, q).
    """
    cond = state.cond_cov
    if with_cov and cond is None:
        from ..likelihood.sparse_laplace import sparse_laplace_loglike

        beta, theta, extra = m._split(x)
        cond = sparse_laplace_loglike(m.sparse_problem(), m.response, beta, theta, extra,
                                      u0=state.u, gradient=False, cond_cov=True)[2].cond_cov
    pr = m.sparse_problem()
    out = []
    for k, (t, o, b) in enumerate(zip(m.design.terms, pr.term_offsets, state.modes)):
        u_k = np.asarray(state.u[o:o + t.n_effects]).reshape(t.n_levels, t.q)
        out.append((t.labels, u_k, np.asarray(b),
                    np.asarray(cond[k]) if with_cov else None))
    return out


# ------------------------------------------------------------------ columns
def factor_columns(formula_texts, meta, skip):
    """
    Columns whose levels must be agreed across partitions.

    Text, categorical and object columns used by the formulas, and numeric
    columns that appear only inside ``C(...)``; ``skip`` (the grouping
    columns) are left alone.  Boolean columns have fixed levels already.

    Examples
    --------
    >>> meta = pd.DataFrame({"y": [0.0], "arm": ["a"], "t": [1], "x": [1.0]})
    >>> factor_columns(["y ~ arm + C(t) + x"], meta, [])
    ['arm', 't']
    """
    text = " ".join(formula_texts)
    out = []
    for c in meta.columns:
        if c in skip or not re.search(rf"(?<![\w.]){re.escape(str(c))}(?![\w.])", text):
            continue
        dtype = meta[c].dtype
        if pd.api.types.is_bool_dtype(dtype):
            continue
        if isinstance(dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(dtype):
            out.append(c)
            continue
        name = re.escape(str(c))
        anywhere = len(re.findall(rf"(?<![\w.]){name}(?![\w.])", text))
        in_c = len(re.findall(rf"\bC\(\s*{name}\s*[,)]", text))
        if in_c and in_c == anywhere:
            out.append(c)
    return out


def check_columns_exist(fixed, terms, meta):
    """Clear errors for names in the formula that are not columns (as in build_design)."""
    _check_columns(fixed, meta)
    for t in terms:
        _check_columns(t.expr, meta)
