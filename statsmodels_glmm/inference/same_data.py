"""
Whether two fits used the same data.

Likelihood-ratio tests, AIC/BIC tables and the null model of R-squared
compare log-likelihoods, which is meaningful only for fits of the same
observations.  :func:`data_differences` compares the data the models were
fitted to (not the frames they came from), and :func:`nesting_differences`
checks, on the matched rows, that a restricted model's design lies inside
the full model's.

What is compared, for fits whose rows are in memory (this package's
in-memory fits, with one or several grouping factors, and statsmodels
``GLM`` results):

* the number of rows used (after dropping missing values);
* the response of every row, and for binomial data the number of trials
  (a 0/1 response has one trial per row; a statsmodels ``GLM`` given
  ``(successes, failures)`` its ``n_trials``);
* the offset of every row: offset plus log exposure, zero without either;
* for every grouping factor both models have (by name), which rows belong
  together: a partition of the rows, so group labels do not matter;
* not the row order, the row labels (index) or the column names: two fits
  of the same rows in another order, or through ``df.dropna().reset_index()``,
  agree.

A statsmodels ``GLM`` with integer ``freq_weights`` stands for its rows each
repeated ``freq_weights`` times (its log-likelihood is that of the repeated
rows); a ``GLM`` with other observation weights is refused, since a mixed
model has none.

How rows are matched: first in the order of the user's data; when every
row agrees there (the usual case of two formulas on one frame) the data are
the same.  Otherwise the rows are compared without regard to their order by
colour refinement (Weisfeiler and Leman 1968): a row starts with the colour
of its ``(response, trials, offset)``; then, repeatedly, every group gets
the colour of the multiset of its rows' colours and every row the colour of
its own colour together with the colours of its groups, until the number of
colours stops growing.  Colours depend neither on the order of the rows nor
on the group labels, and the data are the same when both fits have the same
multiset of final row colours; sorting the rows by colour then matches them.
For one grouping factor, and for nested factors, equal colours mean that a
matching of the rows exists that keeps responses, offsets and groups; for
crossed factors colour refinement can, in specially built symmetric designs,
fail to tell two different arrangements apart.

Fits on a Dask DataFrame keep their rows on the workers.  For them only
what the client holds is compared: the number of rows, the sum of the
response values (to ``1e-9`` relative), the number of levels of every shared
grouping factor and the sizes of the groups of the factor the model keeps
them for.  Offsets, the row-by-row response, the arrangement of the rows in
groups and the column spaces of :func:`nesting_differences` are not
compared for them; a pandas fit and a Dask fit of the same rows agree.
"""

import numpy as np

__all__ = ["data_differences", "nesting_differences", "rows_compared", "is_glm"]


def is_glm(res):
    """
    True for a statsmodels ``GLM`` results object (or its wrapper).

    >>> import numpy as np, statsmodels.api as sm
    >>> x = sm.add_constant(np.arange(6.0))
    >>> is_glm(sm.GLM(np.array([0, 1, 0, 1, 1, 1]), x, family=sm.families.Binomial()).fit())
    True
    >>> is_glm(sm.OLS(np.arange(6.0), x).fit())
    False
    """
    from statsmodels.genmod.generalized_linear_model import GLM

    return isinstance(getattr(res, "model", None), GLM)


class _Data:
    """The data one fit used: rows in the user's order, or only summaries."""

    def __init__(self, nobs):
        self.nobs = int(nobs)
        self.values = self.trials = self.offset = self.X = None
        self.exog_names = []
        self.factors = {}      # factor -> codes of the rows
        self.Z = {}            # factor -> (columns of Z, their names)
        self.levels = {}       # factor -> number of levels
        self.sizes = {}        # factor -> sorted group sizes
        self.y_sum = None

    @property
    def has_rows(self):
        return self.values is not None

    def _summarise(self):
        self.y_sum = float(np.sum(self.values[:, 0] / self.trials))
        for f, codes in self.factors.items():
            counts = np.bincount(codes)
            counts = counts[counts > 0]
            self.levels[f] = len(counts)
            self.sizes[f] = np.sort(counts)


def _data(res):
    """The :class:`_Data` of a fitted model (results object, wrapper or model)."""
    if is_glm(res):
        return _glm_data(getattr(res, "_results", res))
    res = getattr(res, "_results", res)
    m = getattr(res, "model", res)
    d = getattr(m, "design", None)
    if d is None:
        raise ValueError(f"{type(res).__name__} is not a fitted model of this package or a "
                         "statsmodels GLM")
    out = _Data(d.nobs)
    if len(d.gid) != d.nobs:  # rows on the workers of a cluster
        info = getattr(m, "_info", None) or {}
        if "y_sum" in info:
            out.y_sum = float(info["y_sum"])
        if d.multi:
            for t in d.terms:
                out.levels[t.group] = len(t.labels)
        else:
            out.levels[d.group_name] = len(d.group_labels)
        out.sizes[d.group_name] = np.sort(np.asarray(d.group_sizes))
        return out
    resp = m.response
    n = d.nobs
    y = d.unsort(np.asarray(d.y))
    trials = np.asarray(resp.n_trials(y), dtype=float).reshape(n)
    if resp.name == "Binomial":
        values = np.asarray(y, dtype=float)[:, :1]
    else:
        values = np.asarray(resp.response_value(y), dtype=float).reshape(n, -1)
    out.values, out.trials = values, trials
    out.offset = np.asarray(d.unsort(np.asarray(d.offset, dtype=float)), dtype=float)
    out.X = d.unsort(np.asarray(d.X, dtype=float))
    out.exog_names = [str(c) for c in d.exog_names]
    if d.multi:
        for t in d.terms:
            out.factors[t.group] = np.asarray(t.codes)
    else:
        out.factors[d.group_name] = d.unsort(np.asarray(d.gid))
    Z = d.unsort(np.asarray(d.Z, dtype=float))
    groups = d.re_groups or [d.group_name] * Z.shape[1]
    for f in dict.fromkeys(groups):
        cols = [j for j, g in enumerate(groups) if g == f]
        out.Z[f] = (Z[:, cols], [str(d.re_names[j]) for j in cols])
    out._summarise()
    return out


def _glm_data(res):
    """The :class:`_Data` of a statsmodels GLM fit (rows repeated by ``freq_weights``)."""
    from statsmodels.genmod import families

    gm = res.model
    n = len(gm.endog)
    vw = np.asarray(gm.var_weights, dtype=float) * np.ones(n)
    if np.any(vw != 1):
        raise ValueError("a GLM with var_weights has no mixed-model counterpart (a mixed "
                         "model has no observation weights); for binomial data give "
                         "successes and failures as two response columns")
    fw = np.asarray(gm.freq_weights, dtype=float) * np.ones(n)
    rep = None
    if np.any(fw != 1):
        if np.any(fw < 0) or np.any(fw != np.round(fw)):
            raise ValueError("a GLM with freq_weights that are not whole numbers has no "
                             "mixed-model counterpart (a mixed model has no observation "
                             "weights)")
        rep = fw.astype(int)
    endog = np.asarray(gm.endog, dtype=float)
    trials = np.asarray(getattr(gm, "n_trials", 1.0), dtype=float) * np.ones(n)
    if isinstance(gm.family, families.Binomial):
        values = np.round(endog * trials)
    else:
        values, trials = endog, np.ones(n)
    offset = np.zeros(n)
    if getattr(gm, "offset", None) is not None:
        offset = offset + np.asarray(gm.offset, dtype=float)
    if getattr(gm, "exposure", None) is not None:  # statsmodels keeps log(exposure)
        offset = offset + np.asarray(gm.exposure, dtype=float)
    X = np.asarray(gm.exog, dtype=float)
    if rep is not None:
        values, trials, offset, X = (np.repeat(a, rep, axis=0)
                                     for a in (values, trials, offset, X))
    out = _Data(len(values))
    out.values, out.trials, out.offset, out.X = values.reshape(-1, 1), trials, offset, X
    out.exog_names = [str(c) for c in gm.exog_names]
    out._summarise()
    return out


# ------------------------------------------------------------------ helpers
def _q(a):
    """Values rounded to 12 significant digits, ``-0.0`` made ``0.0`` (row keys)."""
    a = np.asarray(a, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.floor(np.log10(np.abs(a)))
    scale = 10.0 ** np.where(np.isfinite(e), e, 0.0)
    return np.round(a / scale, 11) * scale + 0.0


def _ids(ka, kb):
    """Integer ids of the rows of two 2-D keys, equal rows getting equal ids."""
    ka, kb = np.asarray(ka), np.asarray(kb)
    both = np.vstack([ka.reshape(len(ka), -1), kb.reshape(len(kb), -1)])
    if both.shape[1] == 0:
        return np.zeros(len(ka), dtype=np.int64), np.zeros(len(kb), dtype=np.int64)
    _, inv = np.unique(both, axis=0, return_inverse=True)
    inv = np.asarray(inv, dtype=np.int64).reshape(-1)
    return inv[:len(ka)], inv[len(ka):]


def _group_colours(colour, codes, table):
    """Colour of every group: the multiset of its rows' colours, numbered in ``table``."""
    order = np.lexsort((colour, codes))
    c, col = codes[order], colour[order]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    out = np.zeros(int(codes.max()) + 1 if len(codes) else 0, dtype=np.int64)
    for level, piece in zip(c[starts], np.split(col, starts[1:])):
        out[level] = table.setdefault(piece.tobytes(), len(table))
    return out


def _refine(ka, kb, factors):
    """
    Colour refinement of the rows of two fits; ``factors`` is a list of
    ``(codes_a, codes_b)``.  Returns the final row colours of both.
    """
    ca, cb = _ids(ka, kb)
    n_colours = len(np.unique(np.r_[ca, cb]))
    for _ in range(len(ca) + 1):
        parts_a, parts_b = [ca], [cb]
        for codes_a, codes_b in factors:
            table = {}
            parts_a.append(_group_colours(ca, codes_a, table)[codes_a])
            parts_b.append(_group_colours(cb, codes_b, table)[codes_b])
        ca, cb = _ids(np.column_stack(parts_a), np.column_stack(parts_b))
        new = len(np.unique(np.r_[ca, cb]))
        if new == n_colours:
            break
        n_colours = new
    return ca, cb


def _same_partition(a, b):
    """True when two code vectors put the same rows together (labels aside)."""
    pairs = len(np.unique(np.column_stack([a, b]), axis=0))
    return pairs == len(np.unique(a)) == len(np.unique(b))


def _n_differ(ka, kb):
    """Rows of ``ka`` left without an equal row of ``kb`` (multisets; 0: the same rows)."""
    ia, ib = _ids(ka, kb)
    m = int(max(ia.max(initial=-1), ib.max(initial=-1))) + 1
    return int(np.sum(np.maximum(np.bincount(ia, minlength=m) - np.bincount(ib, minlength=m),
                                 0)))


def _keys(A, B):
    """The row keys ``(response, trials, offset)`` of two fits, comparable column by column."""
    va, vb = _q(A.values), _q(B.values)
    if va.shape[1] != vb.shape[1]:
        va, vb = va[:, :1], vb[:, :1]
    return va, vb, _q(A.trials), _q(B.trials), _q(A.offset), _q(B.offset)


def _same_in_order(A, B, shared):
    """Every row agrees in the user's row order (responses, trials, offsets, groups)."""
    va, vb, ta, tb, oa, ob = _keys(A, B)
    return (np.array_equal(va, vb) and np.array_equal(ta, tb) and np.array_equal(oa, ob)
            and all(_same_partition(A.factors[f], B.factors[f]) for f in shared))


# ------------------------------------------------------------------ comparison
def _differences(A, B, names=("the first model", "the second model")):
    """
    ``(kind, text)`` for every difference; kinds: rows, response, trials, offset,
    grouping.  ``names`` name the two fits in the texts.
    """
    if A.nobs != B.nobs:
        return [("rows", f"different responses: {A.nobs} vs {B.nobs} rows")]
    if not (A.has_rows and B.has_rows):
        return _summary_differences(A, B)
    shared = [f for f in A.factors if f in B.factors]
    if _same_in_order(A, B, shared):
        return []
    n = A.nobs
    va, vb, ta, tb, oa, ob = _keys(A, B)
    out = []
    k = _n_differ(va, vb)
    if k:
        out.append(("response", f"different responses: {k} of {n} values differ"))
    k = _n_differ(ta, tb)
    if k:
        out.append(("trials", f"different numbers of binomial trials: {k} of {n} rows differ"))
    k = _n_differ(oa, ob)
    if k:
        za, zb = not np.any(oa), not np.any(ob)
        what = (f"only {names[1] if za else names[0]} has an offset or exposure" if za != zb
                else f"{k} of {n} values differ")
        out.append(("offset", f"different offsets: {what}"))
    if out:
        return out
    ka, kb = np.column_stack([va, ta, oa]), np.column_stack([vb, tb, ob])
    moved = not np.array_equal(va, vb) or not np.array_equal(ta, tb)
    if _n_differ(ka, kb):
        if moved:
            return [("response", "different responses: the same values, paired differently "
                                 "with the trials or offsets")]
        return [("offset", "different offsets: the same values, attached to other rows")]
    failed = []
    for f in shared:
        ca, cb = _refine(ka, kb, [(A.factors[f], B.factors[f])])
        if not np.array_equal(np.sort(ca), np.sort(cb)):
            failed.append(repr(f))
    if not failed and len(shared) > 1:
        ca, cb = _refine(ka, kb, [(A.factors[f], B.factors[f]) for f in shared])
        if not np.array_equal(np.sort(ca), np.sort(cb)):
            failed.append(" and ".join(map(repr, shared)) + " taken together")
    if not failed:
        return []
    if not moved:
        # the rows line up in the user's order: the factors that group them otherwise
        out = [("grouping", f"rows grouped differently by {f!r}: the same responses in "
                            "other groups")
               for f in shared if not _same_partition(A.factors[f], B.factors[f])]
        return out or [("grouping", f"rows grouped differently by {failed[0]}")]
    k = int(np.sum(np.any(va != vb, axis=1) | (ta != tb)))
    return [("response", f"different responses: {k} of {n} values differ row by row, and no "
                         "reordering of the rows gives the same responses within the groups "
                         f"of {failed[0]}")]


def _summary_differences(A, B):
    """What can be compared when one fit keeps its rows on a cluster."""
    out = []
    if A.y_sum is not None and B.y_sum is not None and \
            abs(A.y_sum - B.y_sum) > 1e-9 * max(1.0, abs(A.y_sum), abs(B.y_sum)):
        out.append(("response", f"different responses: the response values sum to "
                                f"{A.y_sum:.10g} and {B.y_sum:.10g}"))
    for f in A.levels:
        if f not in B.levels:
            continue
        if A.levels[f] != B.levels[f]:
            out.append(("grouping", f"different numbers of groups of {f!r}: "
                                    f"{A.levels[f]} vs {B.levels[f]}"))
        elif f in A.sizes and f in B.sizes and not np.array_equal(A.sizes[f], B.sizes[f]):
            out.append(("grouping", f"different group sizes of {f!r}"))
    return out


def data_differences(a, b, names=("the first model", "the second model")):
    """
    What differs between the data two fits used (empty when nothing does).

    See the module description for what is compared and how the rows are
    matched.

    Parameters
    ----------
    a, b : MixedGLMResults or statsmodels GLMResults
        Fitted models (results, their wrappers, or the models).
    names : tuple of str
        How the texts name ``a`` and ``b``.

    Returns
    -------
    list of str
        One sentence per difference, e.g. ``"different responses: 200 vs
        190 rows"`` or ``"rows grouped differently by 'id': ..."``.

    Raises
    ------
    ValueError
        For an argument that is not a fitted model, or a statsmodels GLM with
        observation weights a mixed model cannot have.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=30, seed=1)
    >>> f, P = "y ~ time + (1 | id)", sm.families.Poisson()
    >>> res = smg.mixedglm(f, df, family=P).fit()
    >>> shuffled = df.sample(frac=1.0, random_state=0).reset_index(drop=True)
    >>> data_differences(res, smg.mixedglm(f, shuffled, family=P).fit())
    []
    >>> data_differences(res, smg.mixedglm(f, df.iloc[5:], family=P).fit())
    ['different responses: 139 vs 134 rows']
    """
    return [text for _, text in _differences(_data(a), _data(b), names)]


# ------------------------------------------------------------------ nesting
def rows_compared(a, b):
    """
    True when both fits hold their rows in memory, so that
    :func:`nesting_differences` compares column spaces (False for a fit on
    a Dask cluster).

    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=20, seed=1)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> rows_compared(res, res)
    True
    """
    return _data(a).has_rows and _data(b).has_rows


def _match(A, B):
    """Row indices ``(ia, ib)`` pairing the rows of two fits with the same data."""
    shared = [f for f in A.factors if f in B.factors]
    if _same_in_order(A, B, shared):
        idx = np.arange(A.nobs)
        return idx, idx
    va, vb, ta, tb, oa, ob = _keys(A, B)
    ka, kb = [va, ta, oa], [vb, tb, ob]
    names = [c for c in A.exog_names if c in B.exog_names]
    ka += [_q(A.X[:, A.exog_names.index(c)]) for c in names]
    kb += [_q(B.X[:, B.exog_names.index(c)]) for c in names]
    for f in shared:
        za, na = A.Z[f]
        zb, nb = B.Z[f]
        ka += [_q(za[:, na.index(c)]) for c in na if c in nb]
        kb += [_q(zb[:, nb.index(c)]) for c in na if c in nb]
    ka, kb = np.column_stack(ka), np.column_stack(kb)
    pairs = [(A.factors[f], B.factors[f]) for f in shared]
    ca, cb = _refine(ka, kb, pairs)
    if not np.array_equal(np.sort(ca), np.sort(cb)):
        # the shared columns differ: match by the data alone, ties by those columns
        ca, cb = _refine(np.column_stack([va, ta, oa]), np.column_stack([vb, tb, ob]), pairs)
        return (np.lexsort(tuple(ka.T[::-1]) + (ca,)),
                np.lexsort(tuple(kb.T[::-1]) + (cb,)))
    return np.argsort(ca, kind="stable"), np.argsort(cb, kind="stable")


def _outside_span(F, R, tol=1e-7):
    """Columns of ``R`` that are not linear combinations of the columns of ``F``."""
    if R.shape[1] == 0:
        return []
    rn = np.linalg.norm(R, axis=0)
    fn = np.linalg.norm(F, axis=0)
    F = F[:, fn > 0] / fn[fn > 0]
    if F.shape[1]:
        U, s, _ = np.linalg.svd(F, full_matrices=False)
        U = U[:, s > 1e-10 * s[0]]
        resid = R - U @ (U.T @ R)
    else:
        resid = R
    rel = np.linalg.norm(resid, axis=0) / np.where(rn > 0, rn, 1.0)
    return [j for j in range(R.shape[1]) if rel[j] > tol]


def nesting_differences(full, restricted):
    """
    Why the restricted model's design is not inside the full model's, on matched rows.

    The rows of the two fits are matched as in :func:`data_differences`
    (the caller has found no difference in the data).  Then every
    fixed-effects column of ``restricted`` must be a linear combination of
    the full model's fixed-effects columns, and, for every grouping factor,
    every random-effects column of ``restricted`` a combination of the full
    model's random-effects columns of that factor (relative residual below
    ``1e-7``).  Random effects of factors the full model lacks are left to
    the caller; fits whose rows are on a cluster are not checked.

    When the rows are not in the same order in both fits, rows with equal
    response, trials, offset and groups are told apart by the columns the
    two models share by name; a restricted model whose columns are all
    named otherwise (say an array-built GLM) should then be given its rows
    in the full model's order.

    Parameters
    ----------
    full, restricted : MixedGLMResults or statsmodels GLMResults

    Returns
    -------
    list of str
        Empty when the designs are nested.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=30, seed=1)
    >>> P = sm.families.Poisson()
    >>> full = smg.mixedglm("y ~ time + group + (1 | id)", df, family=P).fit()
    >>> other = df.assign(time=df["time"] ** 2)
    >>> small = smg.mixedglm("y ~ time + (1 | id)", other, family=P).fit()
    >>> nesting_differences(full, small)[0][:47]
    "fixed-effects column(s) ['time'] of the restric"
    """
    A, B = _data(full), _data(restricted)
    if not (A.has_rows and B.has_rows) or A.nobs != B.nobs:
        return []
    ia, ib = _match(A, B)
    out = []
    bad = _outside_span(A.X[ia], B.X[ib])
    if bad:
        out.append(f"fixed-effects column(s) {[B.exog_names[j] for j in bad]} of the restricted "
                   "model are not combinations of the full model's fixed-effects columns on "
                   "the same rows (a covariate, or the pairing of responses and covariates, "
                   "differs between the two data sets)")
    for f, (zb, nb) in B.Z.items():
        if f not in A.Z:
            continue
        bad = _outside_span(A.Z[f][0][ia], zb[ib])
        if bad:
            out.append(f"random-effects column(s) {[nb[j] for j in bad]} of {f!r} in the "
                       "restricted model are not combinations of the full model's columns of "
                       f"{f!r} on the same rows")
    return out
