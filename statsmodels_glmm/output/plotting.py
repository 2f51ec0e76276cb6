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
segments, one per individual and one for the population.
:func:`plot_random_effects` is a caterpillar plot of the conditional modes
``b_hat_i`` with intervals ``b_hat_i +/- z * sqrt(diag Var(b_i | y_i))``, where the
conditional covariance is the inverse curvature at the mode that the Laplace
approximation already computes (``res.random_effects_cov``).

New figures use matplotlib's constrained layout so that tick labels, axis
labels and curve labels stay inside the figure and do not overlap.
"""

import numpy as np
import pandas as pd

from ..marginal.predict import _mean_fun, _profile, _unpack, _unwrap, get_prediction

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


def plot_effects(effects, ax=None):
    """
    Before -> after segments of :func:`probability_effects` output.

    Parameters
    ----------
    effects : DataFrame
        Output of ``res.probability_effects(...)`` (columns ``before``,
        ``after``, ``difference``).
    ax : matplotlib Axes, optional

    Returns
    -------
    Figure

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
    """
    if not isinstance(effects, pd.DataFrame) or not {"before", "after"} <= set(effects.columns):
        raise ValueError("effects must be the DataFrame returned by probability_effects "
                         "(columns 'before' and 'after')")
    n = len(effects)
    fig, ax = _axes(ax, figsize=(6.4, max(2.4, 0.45 * n + 1.3)))
    ypos = np.arange(n)[::-1]
    for y, (lab, row) in zip(ypos, effects.iterrows()):
        ax.annotate("", xy=(row["after"], y), xytext=(row["before"], y),
                    arrowprops=dict(arrowstyle="->", color="C0", lw=1.5))
        ax.plot([row["before"]], [y], "o", color="C0")
        diff = row["after"] - row["before"]
        ax.annotate(f"{diff:+.3f}", (max(row["before"], row["after"]), y), xytext=(7, 0),
                    textcoords="offset points", va="center", ha="left", fontsize=8)
    ax.set_yticks(ypos)
    ax.set_yticklabels([str(i) for i in effects.index])
    ax.set_ylim(-0.6, n - 0.4)
    # room on the right for the differences written after the arrows
    lo = float(np.nanmin(effects[["before", "after"]].to_numpy()))
    hi = float(np.nanmax(effects[["before", "after"]].to_numpy()))
    span = hi - lo if hi > lo else max(abs(hi), 1.0) * 0.1
    ax.set_xlim(lo - 0.08 * span, hi + 0.25 * span)
    ax.grid(axis="x", color="0.9", lw=0.8)
    ax.set_axisbelow(True)
    var = effects.attrs.get("variable")
    ax.set_xlabel("predicted mean" + (f": before -> after a change in {var}" if var else ""))
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
