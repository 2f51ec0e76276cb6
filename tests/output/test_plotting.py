"""
Trajectory, effect and random-effect plots (Agg backend).

The drawn values are the predictions / conditional modes, and every figure is
rendered at 100 dpi and checked for text outside the figure and overlapping
labels.
"""

import itertools
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import statsmodels.api as sm  # noqa: E402
from scipy import special, stats  # noqa: E402

import statsmodels_glmm.api as smg  # noqa: E402
from statsmodels_glmm import datasets  # noqa: E402
from statsmodels_glmm.output.plotting import plot_random_effects  # noqa: E402

from conftest import load_dataset  # noqa: E402


@pytest.fixture(scope="module")
def toenail_ri():
    df = load_dataset("toenail")
    res = smg.mixedglm("outcome_bin ~ treatment * time + (1 | patientID)", df,
                       family=sm.families.Binomial()).fit()
    return df, res


def test_plot_trajectories_curves(toenail_ri):
    df, res = toenail_ri
    grid = np.linspace(0, 12, 7)
    at = {"treatment": "itraconazole"}
    fig = smg.plot_trajectories(res, "time", data=df, at=at, grid=grid, re_values=[-2, 2],
                                groups=[res.model.design.group_labels[0]])
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.lines}
    b = res.fe_params.to_numpy()
    eta = b[0] + b[2] * grid
    np.testing.assert_allclose(lines["typical individual (b = 0)"].get_ydata(),
                               special.expit(eta), atol=1e-12)
    new = df.head(7).assign(time=grid, treatment="itraconazole")
    new["treatment"] = new["treatment"].astype(df["treatment"].dtype)
    pop = res.predict(new, random_effects="marginal")
    np.testing.assert_allclose(lines["population average"].get_ydata(), pop, atol=1e-12)
    unlabeled = [ln for ln in ax.lines if ln.get_label().startswith("_")]
    ys = sorted(tuple(ln.get_ydata()) for ln in unlabeled)
    np.testing.assert_allclose(ys[0], special.expit(eta - 2), atol=1e-12)
    np.testing.assert_allclose(ys[1], special.expit(eta + 2), atol=1e-12)
    plt.close(fig)


def test_plot_effects(toenail_ri):
    df, res = toenail_ri
    tab = res.probability_effects("time", at={"treatment": "itraconazole", "time": 0}, data=df)
    fig, ax = plt.subplots()
    out = smg.plot_effects(tab, ax=ax)
    assert out is fig
    assert [t.get_text() for t in ax.get_yticklabels()] == list(tab.index)
    dots = [ln for ln in ax.lines if ln.get_marker() == "o"]
    np.testing.assert_allclose(sorted(ln.get_xdata()[0] for ln in dots), sorted(tab["before"]))
    plt.close(fig)



def _intervals(ax):
    """{(row label, "before" / "after"): (lower, upper, height)} of the drawn interval bars."""
    out = {}
    for ln in ax.lines:
        gid = str(ln.get_gid())
        if gid.startswith("interval "):
            side, row = gid[len("interval "):].split(": ", 1)
            xs, ys = ln.get_xdata(), ln.get_ydata()
            assert len(xs) == 2 and ys[0] == ys[1]
            out[row, side] = (xs[0], xs[1], ys[0])
    return out


def test_plot_effects_intervals_equal_delta_method_on_the_linear_predictor(toenail_ri):
    df, res = toenail_ri
    tab = res.probability_effects("time", at={"treatment": "itraconazole", "time": 0}, data=df)
    fig = smg.plot_effects(tab, res, data=df)
    ax = fig.axes[0]
    bars = _intervals(ax)
    assert len(bars) == 2 * len(tab)
    ticks = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks())}
    for row in tab.index:
        for side in ("before", "after"):
            lo, hi, y = bars[row, side]
            assert lo < tab.loc[row, side] < hi, (row, side)
            # before just above the arrow, after just below
            assert (y > ticks[row]) == (side == "before") and abs(y - ticks[row]) < 0.5
    # individual b = +2 (random intercept fixed at 2), itraconazole (reference level)
    fe = res.fe_params
    V = res.cov_params().loc[fe.index, fe.index].to_numpy()
    z = stats.norm.ppf(0.975)
    for side, t in (("before", 0.0), ("after", 1.0)):
        x = np.zeros(len(fe))
        x[list(fe.index).index("Intercept")] = 1.0
        x[list(fe.index).index("time")] = t
        eta = x @ fe.to_numpy() + 2.0
        se = np.sqrt(x @ V @ x)
        lo, hi, _ = bars["individual, b = +2", side]
        np.testing.assert_allclose([lo, hi], special.expit([eta - z * se, eta + z * se]),
                                   rtol=0, atol=1e-8)
        assert special.expit(eta) == pytest.approx(tab.loc["individual, b = +2", side],
                                                   abs=1e-10)
    # the population row: the marginal prediction's own delta-method interval
    new = df.head(2).assign(time=[0.0, 1.0], treatment="itraconazole")
    new["treatment"] = new["treatment"].astype(df["treatment"].dtype)
    ci = res.get_prediction(new, random_effects="marginal").conf_int()
    for k, side in enumerate(("before", "after")):
        lo, hi, _ = bars["population average at profile", side]
        np.testing.assert_allclose([lo, hi], ci[k], rtol=1e-6)
    plt.close(fig)


def test_plot_effects_without_data_leaves_the_data_average_without_interval(toenail_ri):
    df, res = toenail_ri
    tab = res.probability_effects("time", at={"treatment": "itraconazole", "time": 0}, data=df)
    tab = tab.rename(index={"individual, b = -2": "Patient A (b = -2)"})
    fig = smg.plot_effects(tab, res)
    bars = _intervals(fig.axes[0])
    assert ("Patient A (b = -2)", "before") in bars
    assert not any(row == "average marginal effect (data)" for row, _ in bars)
    assert len(bars) == 2 * (len(tab) - 1)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["95% interval, before", "95% interval, after"]
    plt.close(fig)


def test_plot_effects_refuses_a_table_from_other_results(toenail_ri):
    df, res = toenail_ri
    tab = res.probability_effects("time", at={"treatment": "itraconazole", "time": 0})
    other = tab.copy()
    other.loc["individual, b = 0", "before"] += 0.01
    with pytest.raises(ValueError, match="does not match these results"):
        smg.plot_effects(other, res)
    plain = pd.DataFrame({"before": [0.1], "after": [0.2]}, index=["A"])
    with pytest.raises(ValueError, match="probability_effects"):
        smg.plot_effects(plain, res)
    with pytest.raises(ValueError, match="alpha"):
        smg.plot_effects(tab, res, alpha=1.5)


def test_default_grid_comes_from_the_fitted_rows(toenail_ri):
    df, res = toenail_ri
    fig = smg.plot_trajectories(res, "time")
    xs = fig.axes[0].lines[0].get_xdata()
    assert xs.min() == pytest.approx(df["time"].min())
    assert xs.max() == pytest.approx(df["time"].max())


def test_plot_bad_input(toenail_ri):
    df, res = toenail_ri
    with pytest.raises(ValueError, match="grid"):
        smg.plot_trajectories(res, "not_a_column")
    with pytest.raises(ValueError, match="probability_effects"):
        smg.plot_effects(df)


# ---------------------------------------------------------------- layout checks
def _drawn_texts(fig):
    """(description, Text) of every non-empty text matplotlib draws on ``fig``."""
    out = []
    for t in fig.texts:
        out.append(("figure text", t))
    for ax in fig.axes:
        for axis, name in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            lo, hi = sorted(axis.get_view_interval())
            tol = 1e-9 * max(1.0, abs(hi - lo))
            for loc, lab in zip(axis.get_majorticklocs(), axis.get_majorticklabels()):
                if lo - tol <= loc <= hi + tol:
                    out.append((f"{name} tick label", lab))
            out.append((f"{name} axis label", axis.label))
            out.append((f"{name} offset text", axis.get_offset_text()))
        for t in (ax.title, ax._left_title, ax._right_title):
            out.append(("title", t))
        for t in ax.texts:
            out.append(("text", t))
        leg = ax.get_legend()
        if leg is not None:
            out += [("legend", t) for t in leg.get_texts()]
    return [(d, t) for d, t in out if t.get_visible() and t.get_text().strip()]


def check_layout(fig, path=None):
    """
    Render at 100 dpi; assert every text lies inside the figure and no two overlap.

    Returns the number of texts checked.
    """
    fig.set_dpi(100)
    fig.canvas.draw()
    if path is not None:
        fig.savefig(path, dpi=100)
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    W, H = fig.canvas.get_width_height()
    texts = _drawn_texts(fig)
    boxes = []
    for desc, t in texts:
        bb = t.get_window_extent(renderer)
        label = f"{desc} {t.get_text()!r}"
        assert bb.x0 >= -0.5 and bb.y0 >= -0.5 and bb.x1 <= W + 0.5 and bb.y1 <= H + 0.5, \
            f"{label} at {bb.bounds} falls outside the {W}x{H} figure"
        boxes.append((label, bb))
    for (l1, b1), (l2, b2) in itertools.combinations(boxes, 2):
        dx = min(b1.x1, b2.x1) - max(b1.x0, b2.x0)
        dy = min(b1.y1, b2.y1) - max(b1.y0, b2.y0)
        assert not (dx > 0.5 and dy > 0.5), f"{l1} overlaps {l2}"
    return len(boxes)


def _png(tmp_path, name):
    return os.path.join(tmp_path, f"{name}.png")


def test_layout_checker_catches_clipping_and_overlap():
    fig, ax = plt.subplots(figsize=(3, 2))  # no constrained layout
    ax.set_yticks([0, 1])
    ax.set_yticklabels(["a very long label that cannot fit", "b"])
    with pytest.raises(AssertionError, match="outside"):
        check_layout(fig)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(3, 2), layout="constrained")
    ax.text(0.5, 0.5, "first")
    ax.text(0.5, 0.5, "second")
    with pytest.raises(AssertionError, match="overlaps"):
        check_layout(fig)
    plt.close(fig)


def test_plot_trajectories_layout(toenail_ri, tmp_path):
    df, res = toenail_ri
    fig = smg.plot_trajectories(res, "time", data=df, at={"treatment": "itraconazole"},
                                groups=[res.model.design.group_labels[3]])
    assert check_layout(fig, _png(tmp_path, "trajectories")) >= 10
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_text().startswith("b = ")]
    assert len(labels) == 4  # b = -2 sd, -sd, +sd, +2 sd at the right edge
    # right-edge labels keep the order of the curve ends
    ys = [t.get_window_extent().y0 for t in labels]
    assert ys == sorted(ys)
    plt.close(fig)


def test_plot_effects_layout(toenail_ri, tmp_path):
    df, res = toenail_ri
    tab = res.probability_effects("time", at={"treatment": "itraconazole", "time": 0}, data=df)
    fig = smg.plot_effects(tab, res, data=df)
    n = check_layout(fig, _png(tmp_path, "effects"))
    assert n >= 2 * len(tab)  # tick labels and the written differences
    written = sorted(float(t.get_text()) for t in fig.axes[0].texts if t.get_text())
    np.testing.assert_allclose(written, sorted(tab["after"] - tab["before"]), atol=5e-4)
    plt.close(fig)


def test_plot_random_effects_values(toenail_ri):
    df, res = toenail_ri
    fig = plot_random_effects(res, level=0.9)
    (ax,) = fig.axes
    modes = res.random_effects_frame()["Intercept"]
    order = np.argsort(modes.to_numpy(), kind="stable")
    (dots,) = [ln for ln in ax.lines if ln.get_marker() == "o"]
    np.testing.assert_allclose(dots.get_xdata(), modes.to_numpy()[order], atol=1e-12)
    np.testing.assert_array_equal(dots.get_ydata(), np.arange(len(modes)))
    segs = np.array(ax.collections[0].get_segments())
    sd = np.sqrt([res.random_effects_cov[g].loc["Intercept", "Intercept"]
                  for g in modes.index[order]])
    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(segs[:, 0, 0], modes.to_numpy()[order] - z * sd, atol=1e-12)
    np.testing.assert_allclose(segs[:, 1, 0], modes.to_numpy()[order] + z * sd, atol=1e-12)
    assert "294 groups" in ax.get_ylabel()
    assert ax.get_yticks().size == 0  # too many groups to label
    plt.close(fig)


def test_plot_random_effects_layout_labelled_groups(tmp_path):
    df = datasets.load("cbpp")
    res = smg.mixedglm("incidence + non_incidence ~ period + (1 | herd)", df,
                       family=sm.families.Binomial()).fit()
    fig = plot_random_effects(res)
    assert check_layout(fig, _png(tmp_path, "caterpillar_cbpp")) >= 17
    ax = fig.axes[0]
    modes = res.random_effects_frame()["Intercept"].sort_values(kind="stable")
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(g) for g in modes.index]
    plt.close(fig)


def test_plot_random_effects_two_columns_share_rows(tmp_path):
    df = datasets.load("sim_binary_small")
    res = smg.mixedglm("y ~ time * group + stress + (1 + time | id)", df,
                       family=sm.families.Binomial()).fit()
    fig = plot_random_effects(res, sort="time")
    check_layout(fig, _png(tmp_path, "caterpillar_sim"))
    assert [a.get_title() for a in fig.axes] == ["Intercept", "time"]
    fr = res.random_effects_frame()
    order = np.argsort(fr["time"].to_numpy(), kind="stable")
    for a, col in zip(fig.axes, ["Intercept", "time"]):
        (dots,) = [ln for ln in a.lines if ln.get_marker() == "o"]
        np.testing.assert_allclose(dots.get_xdata(), fr[col].to_numpy()[order], atol=1e-12)
    plt.close(fig)
    # one column into a given axes, groups labelled on request
    fig2, ax2 = plt.subplots(figsize=(4, 30), layout="constrained")
    out = plot_random_effects(res, columns=["time"], labels=True, sort=False, ax=ax2)
    assert out is fig2
    assert [t.get_text() for t in ax2.get_yticklabels()] == [str(g) for g in fr.index]
    check_layout(fig2)
    plt.close(fig2)


def test_plot_random_effects_bad_input(toenail_ri):
    df, res = toenail_ri
    with pytest.raises(ValueError, match="term 'school'"):
        plot_random_effects(res, term="school")
    with pytest.raises(ValueError, match="columns"):
        plot_random_effects(res, columns=["time"])
    with pytest.raises(ValueError, match="level"):
        plot_random_effects(res, level=95)
    with pytest.raises(ValueError, match="sort"):
        plot_random_effects(res, sort="age")
    fig, axs = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="ax has 2 axes"):
        plot_random_effects(res, ax=axs)
    plt.close(fig)
    fig = plot_random_effects(res, term="patientID")
    assert len(fig.axes) == 1
    plt.close(fig)


def test_plot_random_effects_one_panel_per_factor_and_column(tmp_path):
    """Results exposing several grouping factors get one panel per factor and column."""
    import types

    import pandas as pd

    rng = np.random.default_rng(0)
    a = pd.DataFrame(rng.normal(size=(12, 2)), columns=["Intercept", "time"],
                     index=pd.Index([f"c{i}" for i in range(12)], name="clinic"))
    b = pd.DataFrame(rng.normal(size=(30, 1)), columns=["x"],
                     index=pd.Index(range(30), name="item"))
    cov = {"clinic": {g: pd.DataFrame(np.diag([0.04, 0.01]), index=a.columns,
                                      columns=a.columns) for g in a.index},
           "item": {g: pd.DataFrame([[0.09]], index=b.columns, columns=b.columns)
                    for g in b.index}}
    res = types.SimpleNamespace(random_effects_frame=lambda: {"clinic": a, "item": b},
                                random_effects_cov=cov)
    fig = plot_random_effects(res)
    assert [ax.get_title() for ax in fig.axes] == ["clinic: Intercept", "clinic: time",
                                                   "item: x"]
    (dots,) = [ln for ln in fig.axes[2].lines if ln.get_marker() == "o"]
    np.testing.assert_allclose(dots.get_xdata(), np.sort(b["x"].to_numpy()))
    assert [ax.get_ylabel().split(" (")[0] for ax in fig.axes] == ["clinic", "", "item"]
    check_layout(fig, _png(tmp_path, "caterpillar_two_factors"))
    segs = np.array(fig.axes[2].collections[0].get_segments())
    np.testing.assert_allclose(segs[:, 1, 0] - segs[:, 0, 0], 2 * 1.959964 * 0.3, atol=1e-6)
    plt.close(fig)
    fig = plot_random_effects(res, term="item")
    assert len(fig.axes) == 1 and "30 groups" in fig.axes[0].get_ylabel()
    assert fig.axes[0].get_title() == "x"
    plt.close(fig)


def test_plot_random_effects_crossed_factors_fit(tmp_path):
    df = datasets.load("sim_crossed")
    res = smg.mixedglm("y ~ x + cond + (1 | subj) + (1 | item)", df,
                       family=sm.families.Poisson()).fit()
    frames = res.random_effects_frame()  # {factor: DataFrame}
    fig = plot_random_effects(res)
    assert [a.get_title() for a in fig.axes] == ["subj: Intercept", "item: Intercept"]
    check_layout(fig, _png(tmp_path, "caterpillar_crossed"))
    for a, f in zip(fig.axes, ["subj", "item"]):
        b = frames[f]["Intercept"].to_numpy()
        order = np.argsort(b, kind="stable")
        (dots,) = [ln for ln in a.lines if ln.get_marker() == "o"]
        np.testing.assert_allclose(dots.get_xdata(), b[order], atol=1e-12)
        sd = np.sqrt([res.random_effects_cov[f][g].iloc[0, 0]
                      for g in frames[f].index[order]])
        segs = np.array(a.collections[0].get_segments())
        np.testing.assert_allclose(segs[:, 1, 0] - segs[:, 0, 0], 2 * 1.959963984540054 * sd,
                                   rtol=1e-12)
        assert f"{len(b)} groups" in a.get_ylabel()
    plt.close(fig)
