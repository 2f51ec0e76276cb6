"""Trajectory and effect plots (Agg backend): the drawn curves are the predictions."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import statsmodels.api as sm  # noqa: E402
from scipy import special  # noqa: E402

import statsmodels_glmm.api as smg  # noqa: E402

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
