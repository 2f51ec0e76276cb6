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
:func:`statsmodels_glmm.marginal.probability_effects` as before -> after
segments, one per individual and one for the population.
"""

import numpy as np
import pandas as pd

from .marginal import _mean_fun, _profile, _unpack, _unwrap, get_prediction

__all__ = ["plot_trajectories", "plot_effects"]


def _axes(ax):
    from statsmodels.graphics import utils

    return utils.create_mpl_ax(ax)


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
    if "Intercept" in re_names:
        j = re_names.index("Intercept")
        sd = float(np.sqrt(G[j, j]))
        vals = sd * np.array([-2.0, -1.0, 1.0, 2.0]) if re_values is None else \
            np.asarray(re_values, dtype=float)
        for v in vals:
            mu = np.asarray(fun(X @ beta + off + v * Z[:, j], extras))
            if mu.ndim == 1:
                ax.plot(grid, mu, color="0.6", lw=0.9)
                ax.annotate(f"b = {v:+.2g}", (grid[-1], mu[-1]), fontsize=7, color="0.4",
                            xytext=(2, 0), textcoords="offset points", va="center")
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
    ax.set_xlabel(x)
    ax.set_ylabel(f"predicted mean of {d.endog_name}")
    ax.legend(loc="best", fontsize=8)
    return fig


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
    fig, ax = _axes(ax)
    n = len(effects)
    ypos = np.arange(n)[::-1]
    for y, (lab, row) in zip(ypos, effects.iterrows()):
        ax.annotate("", xy=(row["after"], y), xytext=(row["before"], y),
                    arrowprops=dict(arrowstyle="->", color="C0", lw=1.5))
        ax.plot([row["before"]], [y], "o", color="C0")
        diff = row["after"] - row["before"]
        ax.text(max(row["before"], row["after"]), y + 0.15, f"{diff:+.3f}", fontsize=8)
    ax.set_yticks(ypos)
    ax.set_yticklabels([str(i) for i in effects.index])
    ax.set_ylim(-0.7, n - 0.3)
    var = effects.attrs.get("variable")
    ax.set_xlabel("predicted mean" + (f": before -> after a change in {var}" if var else ""))
    return fig
