"""
The design is built on a working frame without the user's ``DataFrame.attrs``: pandas
deep-copies those on every operation, which made building a model on a simulated
panel (its true random effects in ``attrs``) cost more than fitting it.
"""

import numpy as np
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.spec.frame import _prepare_frame


def test_working_frame_drops_attrs_and_leaves_the_users_frame_alone():
    df = smg.simulate_longitudinal("binary", n_persons=40, seed=3)
    before = {k: dict(v) for k, v in df.attrs.items()}
    work = _prepare_frame(df, ["y", "time"])
    assert work.attrs == {}
    assert df.attrs == before and len(df.attrs["random_effects"]["u0"]) == 40
    # the working frame holds the same values, indexed 0 .. n - 1
    np.testing.assert_array_equal(work["y"].to_numpy(), df["y"].to_numpy())
    assert work.index.tolist() == list(range(len(df)))


def test_model_on_a_frame_with_attrs_equals_the_model_without_them():
    df = smg.simulate_longitudinal("poisson", n_persons=60, seed=5)
    plain = df.copy()
    plain.attrs = {}
    fam = sm.families.Poisson()
    a = smg.mixedglm("y ~ time + (1 | id)", df, family=fam)
    b = smg.mixedglm("y ~ time + (1 | id)", plain, family=fam)
    np.testing.assert_array_equal(a.design.X, b.design.X)
    np.testing.assert_array_equal(a.design.y, b.design.y)
    assert a.fit().llf == b.fit().llf
    assert "random_effects" in df.attrs


def test_selecting_a_column_of_a_simulated_frame_does_not_copy_its_attrs_item_by_item(
        monkeypatch):
    # pandas deep-copies attrs on every operation; the true random effects are lists
    # of one number per person, which copy.deepcopy would walk item by item
    import copy

    df = smg.simulate_longitudinal("binary", n_persons=300, seed=2)
    copied = []  # each number that copy.deepcopy copies goes through its float entry

    def atomic(x, memo):
        copied.append(x)
        return x

    monkeypatch.setitem(copy._deepcopy_dispatch, float, atomic)
    col = df["y"]
    assert col.attrs == df.attrs
    assert col.attrs["random_effects"]["u0"] is not df.attrs["random_effects"]["u0"]
    # none of the 600 numbers in the lists u0 and u1 is copied one by one
    assert copied == []
    assert copy.deepcopy([0.5, 1.5]) == [0.5, 1.5] and len(copied) == 2  # the count works
