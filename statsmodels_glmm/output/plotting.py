"""
Plots of predicted trajectories and of subject-specific versus population effects.

matplotlib is imported only when a plot is drawn, so importing
``statsmodels_glmm`` never needs it.  Every function returns the matplotlib
``Figure`` (as statsmodels' graphics functions do) and accepts ``ax=`` to
draw into an existing axes.

:func:`plot_trajectories` shows the predicted mean against a numeric
covariate for individuals with chosen random intercepts (thin lines), the
"typical" individual ``b = 0`` (dashed) and the population average with the
random effects integrated out (thick, with a delta-method band).  The gap
between the dashed and the thick curve is the conditional / marginal
difference of a nonlinear link.  :func:`plot_effects` draws the output of
:func:`statsmodels_glmm.marginal.predict.probability_effects` as before -> after
segments, one per individual and one for the population; given the fit, it adds
pointwise delta-method intervals of every mean (for an individual with random
effect ``v``: ``h(x'beta + v -+ z sqrt(x' V x))``).
:func:`plot_random_effects` is a caterpillar plot of the conditional modes
``b_hat_i`` with intervals ``b_hat_i +/- z * sqrt(diag Var(b_i | y_i))``, where the
conditional covariance is the inverse curvature at the mode that the Laplace
approximation already computes (``res.random_effects_cov``).

New figures use matplotlib's constrained layout so that tick labels, axis
labels and curve labels stay inside the figure and do not overlap.
"""

import re

import numpy as np
import pandas as pd

from ..marginal.predict import (
    PredictionResults,
    _delta_se,
    _free_params,
    _grid,
    _jacobian,
    _link,
    _mean_fun,
    _profile,
    _shift,
    _unpack,
    _unwrap,
    get_prediction,
    marginal_predict,
)

__all__ = ["plot_trajectories", "plot_effects", "plot_random_effects"]


def _axes(ax, figsize=None):
    """``(fig, ax)``: a new constrained-layout figure, or ``ax``'s own figure."""
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _spread(targets, gap, lo=0.0, hi=1.0):
    """
    Positions close to ``targets`` (sorted or not) that are at least ``gap`` apart.

    One-dimensional label placement: keep the order, push labels apart upwards,
    then pull them back below ``hi`` and above ``lo``.

    >>> _spread([0.0, 0.0, 0.5], 0.1).round(3).tolist()
    [0.0, 0.1, 0.5]
    >>> _spread([1.0, 1.0], 0.1).round(3).tolist()
    [0.9, 1.0]
    """
    t = np.asarray(targets, dtype=float)
    order = np.argsort(t, kind="stable")
    p = np.clip(t[order], lo, hi)
    for i in range(1, len(p)):          # a handful of labels: a plain sweep
        p[i] = max(p[i], p[i - 1] + gap)
    if len(p) and p[-1] > hi:
        p[-1] = hi
        for i in range(len(p) - 2, -1, -1):
            p[i] = min(p[i], p[i + 1] - gap)
    out = np.empty_like(p)
    out[order] = p
    return out


def plot_trajectories(res, x, data=None, at=None, grid=None, re_values=None, groups=None,
                      marginal=True, alpha=0.05, ax=None):
    """
    Predicted mean against a covariate: individuals, the typical individual, the population.

    Parameters
    ----------
    res : MixedGLMResults
    x : str
        Numeric column for the horizontal axis (e.g. ``"time"``).
    data : DataFrame, optional
        Completes the covariate profile and gives the default grid (the
        observed range of ``x``); default the rows the model was fitted to.
    at : dict, optional
        Values of the other covariates (see :func:`probability_effects`).
    grid : array-like, optional
        Values of ``x`` (default 50 points over the observed range).
    re_values : sequence of float, optional
        Random-intercept values of the individual curves (link scale);
        default ``sd * (-2, -1, 1, 2)``.
    groups : sequence, optional
        Labels of fitted groups whose own trajectories (conditional modes)
        are added, evaluated at the profile.
    marginal : bool
        Draw the population-averaged curve with its interval band.
    alpha : float
        For the band.
    ax : matplotlib Axes, optional

    Returns
    -------
    Figure
        The individual curves are labelled just right of the axes (labels
        spread so that they never overlap) and the legend sits above the axes,
        where it hides no curve; give a title with ``fig.suptitle``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=8)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
    >>> fig = smg.plot_trajectories(res, "time", data=df)
    >>> len(fig.axes[0].lines) >= 5
    True
    """
    res = _unwrap(res)
    m = res.model
    d = m.design
    if data is None:  # the rows the model was fitted to
        data = d.extra.get("spec_data")
    if grid is None:
        if data is None or x not in data.columns:
            raise ValueError(f"give grid= or data= with column {x!r}")
        col = pd.to_numeric(data[x], errors="coerce")
        grid = np.linspace(np.nanmin(col), np.nanmax(col), 50)
    grid = np.asarray(grid, dtype=float)
    prof = _profile(res, at, data)
    frame = pd.concat([prof] * len(grid), ignore_index=True)
    frame[x] = grid
    X, Z, off, _, extras = m._rows_for(frame)
    beta, G, extra = _unpack(res)
    fun = _mean_fun(m.response, extra, "mean")
    re_names = list(d.re_names)
    fig, ax = _axes(ax)
    ends = []  # (last value, text) of the individual curves, labelled at the right edge
    if "Intercept" in re_names:
        j = re_names.index("Intercept")
        sd = float(np.sqrt(G[j, j]))
        vals = sd * np.array([-2.0, -1.0, 1.0, 2.0]) if re_values is None else \
            np.asarray(re_values, dtype=float)
        for v in vals:
            mu = np.asarray(fun(X @ beta + off + v * Z[:, j], extras))
            if mu.ndim == 1:
                ax.plot(grid, mu, color="0.6", lw=0.9)
                ends.append((mu[-1], f"b = {v:+.2g}"))
    mu0 = np.asarray(fun(X @ beta + off, extras))
    if mu0.ndim != 1:
        raise ValueError("plot_trajectories draws one-column means; this family predicts "
                         f"{mu0.shape[1]} columns")
    ax.plot(grid, mu0, color="C0", ls="--", lw=1.5, label="typical individual (b = 0)")
    if groups is not None:
        bmodes = res.random_effects
        for gl in groups:
            if gl not in bmodes:
                raise ValueError(f"group {gl!r} is not a fitted group")
            b = bmodes[gl].to_numpy()
            ax.plot(grid, np.asarray(fun(X @ beta + off + Z @ b, extras)), lw=1.0,
                    label=f"{d.group_name} {gl}")
    if marginal:
        pr = get_prediction(res, frame, random_effects="marginal")
        ci = pr.conf_int(alpha)
        ax.plot(grid, pr.predicted, color="C3", lw=2.5, label="population average")
        ax.fill_between(grid, ci[:, 0], ci[:, 1], color="C3", alpha=0.2, lw=0)
    ax.set_xlim(grid[0], grid[-1])  # curve labels sit right at the curve ends
    ax.set_xlabel(x)
    ax.set_ylabel(f"predicted mean of {d.endog_name}")
    handles, _ = ax.get_legend_handles_labels()
    if ends:
        from matplotlib.lines import Line2D

        handles.insert(0, Line2D([], [], color="0.6", lw=0.9,
                                 label="individuals (random intercept b)"))
    # above the axes, where it cannot hide a curve
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.01, 1.0, 0.1),
              mode="expand", ncol=2, fontsize=8, frameon=False, borderaxespad=0.2)
    if ends:
        _label_right_edge(fig, ax, ends, fontsize=7)
    return fig


def _label_right_edge(fig, ax, ends, fontsize):
    """Curve labels just right of the axes, spread so that they never overlap."""
    ax.autoscale_view()
    ylo, yhi = ax.get_ylim()
    frac = (np.array([e[0] for e in ends], dtype=float) - ylo) / (yhi - ylo)
    # one text line plus a little space, as a fraction of the axes height
    height_in = fig.get_size_inches()[1] * ax.get_position().height
    pos = _spread(frac, 1.3 * fontsize / 72.0 / height_in)
    for p, (_, text) in zip(pos, ends):
        ax.annotate(text, xy=(1.0, p), xycoords="axes fraction", xytext=(3, 0),
                    textcoords="offset points", va="center", ha="left", fontsize=fontsize,
                    color="0.35", annotation_clip=False)


_INDIVIDUAL = re.compile(r"\bb(?:\[([^\]]+)\])? = ([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")


def _effect_intervals(effects, res, data=None, alpha=0.05):
    """
    Pointwise intervals of the ``before`` and ``after`` means of a probability_effects table.

    The rows are recomputed from ``res`` and the table's ``attrs`` (variable,
    change and covariate profile): rows whose label contains ``b = v`` (or
    ``b[term] = v``) are individuals with that random effect, the next row is
    the population average at the profile and the one after it the average
    over ``data``.  Standard errors come from the delta method over all
    estimated parameters (for an individual, only the fixed effects and
    family parameters move its mean); each interval is built on the link
    scale and mapped back, so for an individual with a mean ``h(eta)``,
    ``eta = x'beta + v z``, it is ``h(eta -+ z_{1-alpha/2} sqrt(x' V x))``.

    Returns a DataFrame (index of ``effects``) with ``before_lower,
    before_upper, after_lower, after_upper``; the row of the average over the
    data is NaN when ``data`` is None.  Raises ValueError when the table does
    not come from ``res``.
    """
    res = _unwrap(res)
    m = res.model
    d = m.design
    attrs = effects.attrs
    if "variable" not in attrs or not isinstance(attrs.get("profile"), pd.DataFrame):
        raise ValueError("effects: intervals need the DataFrame returned by "
                         "res.probability_effects (its attrs name the variable and profile)")
    prof = _profile(res, None, attrs["profile"])
    b0, b1 = _shift(prof, attrs["variable"], attrs.get("delta", 1.0), attrs.get("values"))
    sides = [m._rows_for(b0), m._rows_for(b1)]
    re_names = list(d.re_names)
    pos, cols, vals, other = [], [], [], []
    for i, lab in enumerate(effects.index):
        hit = _INDIVIDUAL.search(str(lab))
        if hit is None:
            other.append(i)
            continue
        term = hit.group(1) or "Intercept"
        if term not in re_names:
            raise ValueError(f"effects: row {lab!r} names the random effect {term!r}, which "
                             f"is not in the model ({re_names})")
        pos.append(i)
        cols.append(re_names.index(term))
        vals.append(float(hit.group(2)))
    if len(other) > 2:
        raise ValueError("effects: rows other than individuals (labels with 'b = value') must "
                         "be the population average and the average over the data; found "
                         f"{[effects.index[i] for i in other]}")
    cols, vals = np.asarray(cols, dtype=int), np.asarray(vals, dtype=float)
    pop = other[:1]
    ame = other[1:] if data is not None else []
    if ame:
        if not isinstance(data, pd.DataFrame):
            raise ValueError("data must be the DataFrame given to probability_effects")
        data_sides = [m._rows_for(f) for f in _shift(data, attrs["variable"],
                                                     attrs.get("delta", 1.0),
                                                     attrs.get("values"))]
    _, G, _ = _unpack(res)
    zs = [sd[1] for sd in sides] + ([sd[1] for sd in data_sides] if ame else [])
    s_max = max(float(np.max(np.einsum("nq,qr,nr->n", Z, G, Z))) for Z in zs)
    grid = _grid(1.05 * np.sqrt(max(s_max, 0.0)))

    def f(p):
        beta, _, extra = _unpack(res, p)
        fun = _mean_fun(m.response, extra, "mean")
        out = []
        for k, (X, Z, o, _, e) in enumerate(sides):
            eta = X @ beta + o
            rows = eta[0] + vals * Z[0, cols]
            ex = {key: np.repeat(np.asarray(v)[:1], len(rows), axis=0) for key, v in e.items()}
            out.append(np.asarray(fun(rows, ex), dtype=float))
            if pop:
                out.append(marginal_predict(res, X, Z, o, extras=e, params=p, grid=grid))
            if ame:
                XD, ZD, oD, _, eD = data_sides[k]
                out.append([np.mean(marginal_predict(res, XD, ZD, oD, extras=eD, params=p,
                                                     grid=grid))])
        for v in out:
            if np.asarray(v).ndim != 1:
                raise ValueError("effects: intervals need a family with a one-column mean")
        return np.concatenate([np.ravel(v) for v in out])

    p0 = np.asarray(res.params, dtype=float)
    v0 = f(p0)
    free = _free_params(res)
    se = _delta_se(res, _jacobian(f, p0, free, f0=v0), free)
    transform = m.response.link_name
    try:
        _link(transform)
    except ValueError:
        transform = "identity"
    ci = PredictionResults(v0, se, transform=transform).conf_int(alpha)
    rows = pos + pop + ame
    half = len(v0) // 2
    out = pd.DataFrame(np.nan, index=effects.index,
                       columns=["before_lower", "before_upper", "after_lower", "after_upper"])
    for side, name in ((0, "before"), (1, "after")):
        got = v0[side * half:(side + 1) * half]
        want = effects[name].to_numpy(dtype=float)[rows]
        bad = ~np.isclose(got, want, rtol=1e-6, atol=1e-9)
        if bad.any():
            i = rows[int(np.flatnonzero(bad)[0])]
            raise ValueError(f"effects: row {effects.index[i]!r} ({name} = {want[bad][0]:.6g}) "
                             f"does not match these results ({got[bad][0]:.6g}); pass the "
                             "results (and data) the table was computed from")
        out.iloc[rows, 2 * side] = ci[side * half:(side + 1) * half, 0]
        out.iloc[rows, 2 * side + 1] = ci[side * half:(side + 1) * half, 1]
    return out


def plot_effects(effects, results=None, data=None, alpha=0.05, ax=None):
    """
    Before -> after segments of :func:`probability_effects` output, with intervals.

    Each row is drawn as an arrow from the mean before the change (dot) to the
    mean after it, with the difference written after the arrow.  With
    ``results``, the pointwise ``1 - alpha`` intervals of the two means are
    drawn as bars just above (before) and just below (after) the arrow: for an
    individual with random effect ``b = v`` (the ``individual, b = v`` rows,
    random effects fixed at ``v``), the delta-method interval of the linear
    predictor ``eta = x'beta + v``, ``h(eta -+ z sqrt(x' V x))`` with ``V``
    the covariance of the estimates and ``h`` the inverse link; for the
    population average (random effects integrated out) the delta-method
    interval of the marginal mean, built on the link scale.  The row of the
    average over the data gets its intervals when ``data`` (the data given
    to ``probability_effects``) is passed, and none otherwise.

    Parameters
    ----------
    effects : DataFrame
        Output of ``res.probability_effects(...)`` (columns ``before``,
        ``after``, ``difference``); rows may be renamed as long as the
        individuals' labels keep ``b = value``.
    results : MixedGLMResults, optional
        The fit that produced ``effects``; needed for the intervals.
    data : DataFrame, optional
        The data given to ``probability_effects``, for the intervals of the
        average over the data.
    alpha : float
        The intervals cover ``1 - alpha`` (default 95%).
    ax : matplotlib Axes, optional

    Returns
    -------
    Figure
        The interval bars are Line2D objects whose ``gid`` is
        ``"interval before: <row>"`` or ``"interval after: <row>"``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> tab = pd.DataFrame({"before": [0.12, 0.5], "after": [0.18, 0.62],
    ...                     "difference": [0.06, 0.12]}, index=["A", "B"])
    >>> fig = plot_effects(tab)
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['A', 'B']

    With the fit, the 95% intervals are drawn:

    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=8)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
    >>> tab = res.probability_effects("time", at={"time": 0})
    >>> fig = plot_effects(tab, res)
    >>> sum(str(ln.get_gid()).startswith("interval") for ln in fig.axes[0].lines)
    8
    """
    if not isinstance(effects, pd.DataFrame) or not {"before", "after"} <= set(effects.columns):
        raise ValueError("effects must be the DataFrame returned by probability_effects "
                         "(columns 'before' and 'after')")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    intervals = None if results is None else _effect_intervals(effects, results, data, alpha)
    n = len(effects)
    fig, ax = _axes(ax, figsize=(6.4, max(2.4, 0.55 * n + 1.5)))
    ypos = np.arange(n)[::-1]
    level = f"{100 * (1 - alpha):g}% interval"
    legend = {}
    right = np.array(effects[["before", "after"]].max(axis=1), dtype=float)
    for k, (y, (lab, row)) in enumerate(zip(ypos, effects.iterrows())):
        if intervals is not None:
            iv = intervals.loc[lab] if intervals.index.is_unique else intervals.iloc[k]
            for name, dy, color in (("before", 0.2, "0.45"), ("after", -0.2, "C0")):
                lo, hi = iv[f"{name}_lower"], iv[f"{name}_upper"]
                if np.isfinite(lo) and np.isfinite(hi):
                    text = f"{level}, {name}"
                    (line,) = ax.plot([lo, hi], [y + dy, y + dy], color=color, lw=1.4,
                                      marker="|", ms=7, mew=1.4, solid_capstyle="butt",
                                      label=text if text not in legend else "_nolegend_")
                    line.set_gid(f"interval {name}: {lab}")
                    legend.setdefault(text, line)
                    right[k] = max(right[k], hi)
        ax.annotate("", xy=(row["after"], y), xytext=(row["before"], y),
                    arrowprops=dict(arrowstyle="->", color="C0", lw=1.5))
        ax.plot([row["before"]], [y], "o", color="C0")
        diff = row["after"] - row["before"]
        ax.annotate(f"{diff:+.3f}", (right[k], y), xytext=(7, 0),
                    textcoords="offset points", va="center", ha="left", fontsize=8)
    ax.set_yticks(ypos)
    ax.set_yticklabels([str(i) for i in effects.index])
    ax.set_ylim(-0.6, n - 0.4)
    # room on the right for the differences written after the arrows
    vals = effects[["before", "after"]].to_numpy(dtype=float)
    if intervals is not None:
        vals = np.concatenate([vals.ravel(), intervals.to_numpy(dtype=float).ravel()])
    lo, hi = float(np.nanmin(vals)), float(np.nanmax(vals))
    span = hi - lo if hi > lo else max(abs(hi), 1.0) * 0.1
    ax.set_xlim(lo - 0.05 * span, hi + 0.22 * span)
    ax.grid(axis="x", color="0.9", lw=0.8)
    ax.set_axisbelow(True)
    var = effects.attrs.get("variable")
    ax.set_xlabel("predicted mean" + (f": before -> after a change in {var}" if var else ""))
    if legend:
        ax.legend(handles=list(legend.values()), loc="lower left",
                  bbox_to_anchor=(0.0, 1.01, 1.0, 0.1), mode="expand", ncol=2, fontsize=8,
                  frameon=False, borderaxespad=0.2)
    return fig


def _re_terms(res):
    """
    ``{grouping factor: (modes, conditional SDs)}`` with one DataFrame each (rows: groups).

    The conditional SDs are the square roots of the diagonals of
    ``res.random_effects_cov``.  One grouping factor gives one entry; results whose
    ``random_effects_frame()`` returns ``{factor: frame}`` (and whose
    ``random_effects_cov`` is then ``{factor: {group: cov}}``) give one entry per factor.
    """
    frames = res.random_effects_frame()
    covs = res.random_effects_cov
    if isinstance(frames, pd.DataFrame):
        name = frames.index.name or res.model.design.group_name
        frames, covs = {name: frames}, {name: covs}
    out = {}
    for name, modes in frames.items():
        cov = covs[name]
        sd = np.sqrt(np.maximum(np.stack(
            [np.diag(np.asarray(cov[g], dtype=float)) for g in modes.index]), 0.0))
        out[str(name)] = (modes, pd.DataFrame(sd.reshape(modes.shape), index=modes.index,
                                              columns=modes.columns))
    return out


def plot_random_effects(res, term=None, columns=None, level=0.95, sort=True, labels=None,
                        ax=None):
    r"""
    Caterpillar plot of the conditional modes of the random effects with intervals.

    For every group ``i`` and random-effect column ``j`` the plot shows the
    conditional mode ``b_hat_ij`` (the maximiser of ``p(b_i | y_i)`` at the
    estimates) and the interval

    .. math:: \hat b_{ij} \pm z_{1-(1-\text{level})/2}\,
              \sqrt{[\operatorname{Var}(b_i \mid y_i)]_{jj}},

    where ``Var(b_i | y_i)`` is approximated by the inverse negative Hessian of
    the log posterior at the mode (``res.random_effects_cov``).  These
    intervals describe the conditional distribution of each person's effect
    given the estimates; they do not include the uncertainty of the fixed
    effects and variance parameters.

    Parameters
    ----------
    res : MixedGLMResults
    term : str, optional
        Grouping factor whose effects are drawn (e.g. ``"id"``); default every
        factor the results expose (one panel per column of each).
    columns : sequence of str, optional
        Random-effect columns to draw (e.g. ``["Intercept"]``); default all.
    level : float
        Coverage of the intervals, in (0, 1).
    sort : bool or str
        Order the groups by the mode of the first drawn column of their factor
        (``True``), of the named column, or keep the fitted order (``False``).  Rows line up across
        panels, so a group is at the same height in every panel.
    labels : bool, optional
        Write the group labels on the vertical axis; default when there are at
        most 40 groups (with more, the rows are ranks).
    ax : matplotlib Axes or sequence of Axes, optional
        One Axes per panel; default a new figure.

    Returns
    -------
    Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=30, seed=3)
    >>> res = smg.mixedglm("y ~ time + (1 + time | id)", df,
    ...                    family=sm.families.Binomial()).fit()
    >>> from statsmodels_glmm.output.plotting import plot_random_effects
    >>> fig = plot_random_effects(res)
    >>> [a.get_title() for a in fig.axes]
    ['Intercept', 'time']
    """
    from scipy import stats

    res = _unwrap(res)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    terms = _re_terms(res)
    if term is not None:
        if term not in terms:
            raise ValueError(f"term {term!r} is not a grouping factor of the model; "
                             f"available: {', '.join(terms)}")
        terms = {term: terms[term]}
    panels = []  # (factor, column, modes, sds)
    for name, (modes, sds) in terms.items():
        cols = list(modes.columns) if columns is None else list(columns)
        bad = [c for c in cols if c not in modes.columns]
        if bad:
            raise ValueError(f"columns {bad} are not random effects of {name!r}; "
                             f"available: {list(modes.columns)}")
        panels += [(name, c, modes, sds) for c in cols]
    if not panels:
        raise ValueError("columns selects no random effect")
    n_max = max(len(p[2]) for p in panels)
    if labels is None:
        labels = n_max <= 40
    if ax is None:
        import matplotlib.pyplot as plt

        height = float(np.clip(0.17 * n_max + 1.3, 3.0, 9.0)) if labels else 4.8
        fig, axes = plt.subplots(1, len(panels), figsize=(1.4 + 3.4 * len(panels), height),
                                 layout="constrained", squeeze=False)
        axes = list(axes[0])
    else:
        axes = [ax] if not isinstance(ax, (list, tuple, np.ndarray)) else \
            list(np.ravel(ax))
        if len(axes) != len(panels):
            raise ValueError(f"ax has {len(axes)} axes for {len(panels)} panels")
        fig = axes[0].figure
    from matplotlib.ticker import MaxNLocator

    z = stats.norm.ppf(0.5 + level / 2)
    first = {}  # first drawn column of every factor: the default sort key
    for name, col, _, _ in panels:
        first.setdefault(name, col)
    for i, (a, (name, col, modes, sds)) in enumerate(zip(axes, panels)):
        b = modes[col].to_numpy(dtype=float)
        half = z * sds[col].to_numpy(dtype=float)
        if sort is False:
            order = np.arange(len(b))
        else:
            key = first[name] if sort is True else sort
            if key not in modes.columns:
                raise ValueError(f"sort {sort!r} is not a random-effect column of {name!r}")
            order = np.argsort(modes[key].to_numpy(dtype=float), kind="stable")
        y = np.arange(len(b))
        bo, ho = b[order], half[order]
        small = len(b) > 100
        a.axvline(0.0, color="0.5", lw=0.8, ls="--", zorder=1)
        a.hlines(y, bo - ho, bo + ho, color="0.7" if small else "0.55",
                 lw=0.5 if small else 1.0, zorder=2,
                 label=f"{100 * level:g}% interval")
        a.plot(bo, y, "o", color="C0", ms=2.0 if small else 3.5, zorder=3,
               label="conditional mode")
        a.set_ylim(-0.8, len(b) - 0.2)
        a.set_title(str(col) if len(terms) == 1 else f"{name}: {col}")
        a.xaxis.set_major_locator(MaxNLocator(nbins=6))
        a.set_xlabel("conditional mode (link scale)")
        if labels:
            a.set_yticks(y)
            a.set_yticklabels([str(v) for v in modes.index[order]],
                              fontsize=7 if len(b) > 20 else 9)
            if i > 0 and panels[i - 1][0] == name:
                a.tick_params(axis="y", labelleft=False)
        else:
            a.set_yticks([])
        if i == 0 or panels[i - 1][0] != name:
            what = (f", ordered by {first[name] if sort is True else sort}"
                    if sort is not False else "")
            a.set_ylabel(f"{name} ({len(b)} groups{what})")
    return fig
