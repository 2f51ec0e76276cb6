"""
Fitting a MixedGLM to a Dask DataFrame on a Dask cluster.

``smg.mixedglm(formula, data=ddf, family=...)`` with a
``dask.dataframe.DataFrame`` returns a
:class:`~statsmodels_glmm.distributed.model.DaskMixedGLM`.  With one
grouping factor the marginal log-likelihood is a sum over groups,

.. math::

    \\ell(\\psi) = \\sum_p \\ell^{(p)}(\\psi), \\qquad
    \\nabla \\ell(\\psi) = \\sum_p \\nabla \\ell^{(p)}(\\psi), \\qquad
    \\hat H(\\psi) = \\sum_p \\hat H^{(p)}(\\psi),

where ``p`` runs over partitions that each hold whole groups and ``H^`` is the
forward-difference Hessian of the analytic gradient with the same steps in
every partition.  The model is set up once:

1. the levels of every factor the formulas use are computed on the whole
   data, so that every partition expands them into the same columns;
2. the group labels of each partition are read (the grouping column only, the
   outermost factor's columns with several factors); if a group appears in two
   partitions the frame is shuffled on those columns, so that every group lies
   in one partition;
3. each partition builds its design and an ordinary :class:`MixedGLM` on a
   worker (:mod:`~statsmodels_glmm.distributed.partition`), and these models stay
   there, with their warm-start modes, for the whole fit;
4. the client collects small summaries (sizes, labels, column moments, the
   ``R`` factor of ``X``), checks that every partition has the same columns
   and that ``X`` has full rank, and keeps a few rows to fix the formula specs.

The optimiser runs on the client with :meth:`MixedGLM.fit`; each evaluation
sends the parameter vector to every partition and receives
``(llf, gradient, converged)``: a few hundred bytes each way.  The fit returns
an ordinary :class:`~statsmodels_glmm.results.MixedGLMResults` (summary,
params, bse, llf, predict); conditional modes are gathered from the workers
when first asked for.

Several grouping factors nested in one outermost factor (``(1 | clinic) +
(1 | clinic:patient)``, ``(1 | clinic/patient)``) are fitted the same way: the
log-likelihood is a sum over the levels of the outermost factor
(:func:`outer_factor`), the frame is grouped by its columns, and each
partition builds the multi-factor design of its rows.  Crossed factors are
refused: their log-likelihood does not split over partitions.

If a worker dies, Dask rebuilds its partitions from the task graph (the same
rows, hence the same sums), or, past its retry limit, the fit stops with an
error; it never sums a partial set of partitions.
"""

import copy
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import statsmodels.api as sm

from ..spec.frame import check_label_types, group_columns, model_columns
from ..families import as_response
from ..spec.formula import re_formula_terms, split_formula
from ..spec.terms import check_observation_level, confounded_message, shares_columns
from ..exceptions import warn
from ..model.glmm import binary_gaussian_message
from . import partition as dp
from .cluster import (_client_for, _concat_labels, call_recording_warnings, quiet_shuffle_logs,
                      reemit_warnings)
from .model import DaskMixedGLM

__all__ = ["dask_model", "groups_split", "outer_factor"]


def _build_recording(data, spec):
    """:func:`partition.build_partition` on a worker, with the warnings it raised."""
    return call_recording_warnings(dp.build_partition, data, spec)


def _info_recording(part):
    """:func:`partition.part_info` on a worker, with the warnings it raised."""
    return call_recording_warnings(dp.part_info, part)


def _result(pair):
    return pair[0]


def _records(pair):
    return pair[1]


def _levels(ddf, cols, client):
    """Sorted levels of each column over the whole frame (known categories kept as they are)."""
    import dask

    levels, todo = {}, []
    for c in cols:
        s = ddf[c]
        if isinstance(s.dtype, pd.CategoricalDtype) and s.cat.known:
            levels[c] = list(s.cat.categories)
        else:
            todo.append(c)
    if todo:
        uniq = client.compute([ddf[c].dropna().unique() for c in todo], sync=True) \
            if client is not None else dask.compute(*[ddf[c].dropna().unique() for c in todo])
        for c, u in zip(todo, uniq):
            vals = pd.unique(np.asarray(u, dtype=object))
            try:
                vals = sorted(vals)
            except TypeError:
                vals = sorted(vals, key=str)
            levels[c] = vals
    return levels


def _unique_groups(frame, gcols):
    from ..spec.frame import group_values

    return pd.Series(group_values(frame.dropna(subset=gcols), gcols)).drop_duplicates()


def _distinct_labels(frame, column):
    """A partition's distinct values of a grouping column, refused if they mix types."""
    check_label_types(frame[column], column)
    return pd.Series(pd.unique(frame[column].dropna().to_numpy()), dtype=object)


def check_group_label_types(ddf, gcols, client):
    """
    Refuse, before any shuffle, a grouping column of object dtype whose values mix
    types that its text form groups differently (as the in-memory model does, see
    :func:`~statsmodels_glmm.spec.frame.check_group_types`): within each
    partition, then over the partitions' distinct values.  Columns Dask holds as
    text or numbers need no pass over the data.
    """
    for c in gcols:
        if ddf[c].dtype != object:
            continue
        labels = ddf.map_partitions(_distinct_labels, c, meta=(c, object))
        check_label_types(pd.Series(client.compute(labels, sync=True), dtype=object), c)


def groups_split(ddf, gcols, client):
    """
    Whether some group has rows in more than one partition.

    Reads the grouping column(s) only and brings each partition's distinct
    labels to the client (one value per group and partition).
    """
    if ddf.npartitions == 1:
        return False
    labels = ddf[gcols].map_partitions(_unique_groups, gcols, meta=(None, object))
    labels = client.compute(labels, sync=True)
    return bool(pd.Series(labels).duplicated().any())


def outer_factor(factors, meta):
    """
    The grouping factor every other factor is nested in, by their columns.

    A factor ``a:b`` is nested in ``a``: each of its levels lies inside one
    level of ``a``, because ``a`` is among the columns that form it.  The
    outermost factor is the one whose columns every factor has; the
    log-likelihood is then a sum over its levels.  Crossed factors (neither
    has the other's columns) are refused.

    Parameters
    ----------
    factors : list of str
        Grouping factors as written in the formula (``"clinic"``,
        ``"clinic:patient"``).
    meta : DataFrame
        Any rows with the data's columns (to read the factors' columns).

    Returns
    -------
    str

    Examples
    --------
    >>> meta = pd.DataFrame({"clinic": [1], "patient": [2], "item": [3]})
    >>> outer_factor(["clinic:patient", "clinic"], meta)
    'clinic'
    >>> outer_factor(["patient", "item"], meta)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    NotImplementedError: the grouping factors 'patient' and 'item' are crossed ...
    """
    cols = {f: set(group_columns(f, meta)) for f in factors}
    for f in factors:
        if all(cols[f] <= cols[g] for g in factors):
            return f
    pair = next((f, g) for i, f in enumerate(factors) for g in factors[i + 1:]
                if not (cols[f] <= cols[g] or cols[g] <= cols[f]))
    raise NotImplementedError(
        f"the grouping factors {pair[0]!r} and {pair[1]!r} are crossed (neither is nested "
        "in the other), so the log-likelihood is not a sum over groups of one factor and "
        "needs all rows in one place: fit a pandas DataFrame (in memory). Factors nested "
        "in one outermost factor are supported, written with its columns, e.g. "
        "(1 | clinic) + (1 | clinic:patient) or (1 | clinic/patient)")



def _combine_terms(infos, terms, info):
    """
    Whole-data levels of every random-effect term of a multi-factor model, and the
    checks :meth:`~statsmodels_glmm.spec.terms.RandomEffectTerm.validate` makes in memory.

    Sets ``info["term_labels"]`` (sorted labels per term) and, as for one factor,
    ``info["labels"]``/``info["sizes"]`` for the factor with the most levels.
    Refuses an observation-level intercept of a Gaussian response (and warns
    about one of a binary response), and two terms whose factors group the
    rows alike and share a random-effect column, as the in-memory model does.
    """
    from ..spec.design import _check_nesting

    full = [i for i in infos if i["nobs"]]
    labels_all, sizes_all = [], []
    z_all_one = np.all([i["z_all_one"] for i in full], axis=0)
    z_const = np.all([i["z_const"] for i in full], axis=0)
    bernoulli = all(i.get("bernoulli") for i in full)
    gaussian = all(i.get("gaussian") for i in full)
    col = 0
    for k, t in enumerate(terms):
        labels = _concat_labels([i["term_labels"][k] for i in full])
        check_label_types(labels, t.group)
        sizes = np.concatenate([i["term_sizes"][k] for i in full])
        codes, uniq = pd.factorize(labels, sort=True)
        if len(uniq) != len(labels):
            raise RuntimeError(f"a level of {t.group!r} has rows in two partitions after "
                               "the shuffle")
        labels_all.append(np.asarray(uniq))
        sizes_all.append(sizes[np.argsort(codes, kind="stable")])
        label = f"({t.expr} {'|' if t.correlated else '||'} {t.group})"
        if len(uniq) < 2:
            raise ValueError(f"random-effect term {label}: grouping factor {t.group!r} "
                             f"has {len(uniq)} level(s); a random effect needs at least two")
        icpt = z_all_one[col:col + t.q]
        const = z_const[col:col + t.q] & ~icpt
        if np.any(icpt) and t.q > 1 and np.any(const):
            name = t.names[int(np.flatnonzero(const)[0])]
            raise ValueError(
                f"random-effect term {label}: variable {name!r} is constant within every "
                f"level of {t.group!r}; its random slope cannot be told apart from the "
                "random intercept")
        check_observation_level(label, len(uniq), info["nobs"], bool(np.any(icpt)),
                                bernoulli=bernoulli, gaussian=gaussian)
        col += t.q
    # factors nested in the outermost one have every level inside one partition:
    # two group the whole data alike exactly when they do so in every partition
    for (k, m), _ in full[0].get("term_pairs", {}).items():
        pairs = [i["term_pairs"][(k, m)] for i in full]
        if all(same for same, _ in pairs) and \
                shares_columns(np.vstack([R for _, R in pairs]), terms[k].q):
            raise ValueError(confounded_message(terms[k].label, terms[m].label,
                                                terms[k].group, terms[m].group))
    _check_nesting([SimpleNamespace(group=t.group, expr=t.expr, n_levels=len(lab))
                    for t, lab in zip(terms, labels_all)], info["nobs"])
    finest = int(np.argmax([len(lab) for lab in labels_all]))
    info["term_labels"] = labels_all
    info["labels"], info["sizes"] = labels_all[finest], sizes_all[finest]
    info["finest"] = finest


def _combine(infos, gname="group", check_slopes=True):
    """Whole-data summaries from the partitions' :func:`part_info` dictionaries."""
    full = [i for i in infos if i["nobs"]]
    n_dropped = sum(i["n_dropped"] for i in infos)
    if not full:
        raise ValueError("no rows left after dropping rows with missing values")
    first = full[0]
    for i in full[1:]:
        for key, what in (("exog_names", "fixed-effects"), ("re_names", "random-effects")):
            if i[key] != first[key]:
                raise ValueError(
                    f"partitions build different {what} columns ({first[key]} and {i[key]}); "
                    "a column used in the formula has values whose levels differ between "
                    "partitions: make it a categorical column (or use C(column))")
        if i["blocks"] != first["blocks"]:
            raise ValueError("partitions disagree on the random-effect blocks")
    labels = _concat_labels([i["labels"] for i in full])
    check_label_types(labels, gname)
    sizes = np.concatenate([i["sizes"] for i in full])
    codes, uniq = pd.factorize(labels, sort=True)
    if len(uniq) != len(labels):
        raise RuntimeError("a group has rows in two partitions after the shuffle")
    order = np.argsort(codes, kind="stable")
    labels, sizes = np.asarray(uniq), sizes[order]
    nobs = int(sum(i["nobs"] for i in full))
    n = np.array([i["nobs"] for i in full], dtype=float)
    if len(labels) < 2:
        raise ValueError(f"grouping column {gname!r} has a single group; a mixed model "
                         "needs at least two")
    p = len(first["exog_names"])
    out = dict(labels=labels, sizes=sizes, nobs=nobs, n_dropped=n_dropped,
               y_sum=float(sum(i["y_sum"] for i in full)),
               exog_names=first["exog_names"], re_names=first["re_names"],
               endog_name=first["endog_name"])
    if p:
        sums = np.array([i["x_sum"] for i in full])
        sq = np.array([i["x_sq"] for i in full])
        mean = sums.sum(0) / nobs
        # deviations from the global mean, partition by partition (no cancellation
        # between a large mean and a small spread)
        part_mean = sums / n[:, None]
        m2 = sq - n[:, None] * part_mean ** 2 + n[:, None] * (part_mean - mean) ** 2
        var = np.maximum(m2.sum(0) / nobs, 0.0)
        x_first = first["x_first"]
        const = np.all([i["x_const"] & (i["x_first"] == x_first) for i in full], axis=0)
        var[const] = 0.0
        out.update(x_mean=mean, x_sd=np.sqrt(var), x_const=const & (x_first != 0),
                   x_first=x_first)
        # the R factors of all partitions stacked have the R factor of the whole X
        out["R"] = np.vstack([i["R"] for i in full])
    else:
        out.update(x_mean=np.zeros(0), x_sd=np.zeros(0), x_const=np.zeros(0, bool),
                   x_first=np.zeros(0))
    z_sq = np.sum([i["z_sq"] for i in full], axis=0)
    out["z_rms"] = np.sqrt(z_sq / nobs)
    z_all_one = np.all([i["z_all_one"] for i in full], axis=0)
    # every level of every factor lies in one partition: within-level sums add up
    out.update(z_sq=z_sq, z_sum=np.sum([i["z_sum"] for i in full], axis=0),
               z_within_ss=np.sum([i["z_within_ss"] for i in full], axis=0),
               z_all_one=z_all_one)
    if check_slopes and np.any(z_all_one):
        z_const = np.all([i["z_const"] for i in full], axis=0)
        for j, name in enumerate(first["re_names"]):
            if not z_all_one[j] and z_const[j]:
                raise ValueError(
                    f"random-effect variable {name!r} is constant within every group; its "
                    "random slope cannot be told apart from the random intercept")
    refused = [i.get("refused") for i in full]
    if all(refused) and min(i["y_min"] for i in full) == max(i["y_max"] for i in full):
        raise ValueError(refused[0])
    k_max = [i["k_max"] for i in full if i.get("k_max") is not None]
    out["k_max"] = max(k_max) if k_max else None
    return out


def _full_rank(info):
    """
    Fixed-effects columns to keep (None: all), by the whole-data rank rule of
    :func:`design.full_rank_columns` applied to the stacked ``R`` factors; the
    column summaries in ``info`` are cut to the kept columns.
    """
    from ..spec import design as _design

    names = list(info["exog_names"])
    info["all_exog_names"] = names
    R = info.pop("R", None)
    if R is None or not names:
        return None
    cols = list(_design.full_rank_columns(R, names, "fixed-effects", nobs=info["nobs"]))
    if len(cols) == len(names):
        return None
    info["exog_names"] = [names[j] for j in cols]
    for k in ("x_mean", "x_sd", "x_const", "x_first"):
        info[k] = info[k][cols]
    return cols


def dask_model(cls, formula, data, family=None, groups=None, re_formula=None, offset=None,
               exposure=None, missing="drop", formula_engine=None, zi_formula=None,
               client=None, vc_formula=None, **kwargs):
    """
    Build a :class:`~statsmodels_glmm.distributed.model.DaskMixedGLM` from a formula and a
    Dask DataFrame.

    Called by :meth:`MixedGLM.from_formula` (and so ``smg.mixedglm``) when
    ``data`` is a Dask DataFrame; the arguments are those of ``from_formula``,
    plus ``client`` (default: the active ``distributed`` client).

    Returns
    -------
    DaskMixedGLM
    """
    if vc_formula is not None:
        raise ValueError("vc_formula is not available for Dask data; write the "
                         "components as bar terms, e.g. (1 | school:classroom)")
    client = _client_for(client)
    extra = kwargs.pop("extra_formulas", None)
    if kwargs:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
    response = copy.deepcopy(as_response(family if family is not None
                                         else sm.families.Gaussian()))
    if getattr(response, "raw_endog", False):
        raise NotImplementedError(f"the {response.name} family is not available for Dask "
                                  "DataFrames yet; fit a pandas DataFrame")
    if zi_formula is not None:
        from ..families.zeroinflated import ZeroInflated

        # every partition binds its own rows: the reported coefficients stay internal
        response = ZeroInflated(response, zi_formula, cells=False)
    hook = getattr(response, "extra_formulas", None)
    if hook is not None:
        extra = {**(extra or {}), **hook()}
    if missing not in ("drop", "raise"):
        raise ValueError("missing must be 'drop' or 'raise'")
    for val, name in ((offset, "offset"), (exposure, "exposure")):
        if val is not None and not isinstance(val, str):
            raise ValueError(f"{name} must be the name of a column of the Dask DataFrame "
                             "(arrays cannot be aligned with its partitions)")

    for text in [formula, re_formula or ""] + [str(f) for f in (extra or {}).values()]:
        learned = re.search(r"(?<![\w.])(center|standardize|scale|bs|cr|cc|te|poly)\s*\(", text)
        if learned:
            raise ValueError(
                f"the transform {learned.group(1)}() in {text!r} learns from the data it "
                "sees, which would be each partition on its own; compute the column with "
                "Dask first (e.g. ddf['x_c'] = ddf['x'] - ddf['x'].mean())")
    fixed, terms = split_formula(formula)
    if terms and (groups is not None or re_formula is not None):
        raise ValueError("give random effects either as bar terms in the formula or with "
                         "groups=/re_formula=, not both")
    if not terms:
        if groups is None:
            raise ValueError("the model has no random effects: add a term such as "
                             "'(1 | id)' to the formula or pass groups=")
        if not isinstance(groups, str):
            raise ValueError("groups must be the name of a column of data when a formula is used")
        terms = re_formula_terms(re_formula, groups)
    group_names = list(dict.fromkeys(t.group for t in terms))  # in formula order
    meta = data._meta
    gname = outer_factor(group_names, meta)
    outer_cols = group_columns(gname, meta)
    # the outermost factor's columns first
    gcols, used, texts = model_columns(formula, extra, [gname] + group_names, offset,
                                       exposure, meta)
    dp.check_columns_exist(fixed, terms, meta)
    frame = data[used]
    levels = _levels(frame, dp.factor_columns(texts, meta[used], gcols), client)
    spec = dict(formula=formula, fixed=fixed, terms=terms, gname=gname, gcols=gcols, used=used,
                levels=levels, offset=offset, exposure=exposure, extra_formulas=extra or {},
                missing=missing, engine=formula_engine, response=response)

    check_group_label_types(frame, gcols, client)
    # every group of the outermost factor in one partition (with it, every level of
    # the factors nested in it)
    import dask

    # a shuffle logs its start and end at WARNING level: not news to the user
    with quiet_shuffle_logs():
        shuffled = groups_split(frame, outer_cols, client)
        if shuffled:
            frame = frame.shuffle(on=outer_cols, npartitions=frame.npartitions)
        # each task returns its result and the warnings it raised on the worker; the
        # partitions stay on the workers, only the warnings and summaries come here
        build = dask.delayed(_build_recording, pure=True)
        built = client.compute([build(p, spec) for p in frame.to_delayed()])
        parts = client.map(_result, built, pure=False)
        records = client.gather(client.map(_records, built, pure=False))
        del built
        answers = client.gather(client.map(_info_recording, parts, pure=False))
        infos = [i for i, _ in answers]
        records += [r for _, r in answers]
    reemit_warnings([w for rec in records for w in rec])
    multi = len(group_names) > 1
    if multi:
        outer = next(k for k, t in enumerate(terms) if t.group == gname)
        for i in infos:
            if i["nobs"]:
                i["labels"], i["sizes"] = i["term_labels"][outer], i["term_sizes"][outer]
    info = _combine(infos, gname, check_slopes=not multi)
    keep = [p for p, i in zip(parts, infos) if i["nobs"]]
    cols = _full_rank(info)
    if cols is not None:
        keep = client.map(dp.select_columns, keep, cols=cols, pure=False)
    sample = pd.concat([i["sample"] for i in infos if i["nobs"]], ignore_index=True)
    ref_response = copy.deepcopy(response)
    ref, _ = dp.partition_design(sample, spec, keep_spec=True, response=ref_response)
    if ref is None or ref.exog_names != info["all_exog_names"] or \
            ref.re_names != info["re_names"]:
        raise ValueError("the reference rows do not give the design of the partitions; "
                         "check the formula's columns for values that differ by partition")
    if cols is not None:
        ref.X = ref.X[:, cols]
        ref.exog_names = [ref.exog_names[j] for j in cols]
    ref.extra["fixed_columns"] = list(ref.exog_names)
    full = [i for i in infos if i["nobs"]]
    if multi:
        _combine_terms(infos, ref.terms, info)
    else:
        label = str(next((t for t in terms if t.expr.strip() == "1"), terms[0]))
        check_observation_level(label, len(info["labels"]), info["nobs"],
                                bool(np.any(info["z_all_one"])),
                                bernoulli=all(i["bernoulli"] for i in full),
                                gaussian=all(i["gaussian"] for i in full))
    if family is None and all(i["y_binary"] for i in full) and \
            min(i["y_min"] for i in full) < max(i["y_max"] for i in full):
        warn(binary_gaussian_message(info["endog_name"]), UserWarning)
    return DaskMixedGLM(ref, ref_response, client, keep, data, info, shuffled)
