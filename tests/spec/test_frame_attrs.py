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
