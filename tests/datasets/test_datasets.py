"""Bundled datasets: same bytes and levels as tests/data, shapes, dtypes, errors."""

import fnmatch
import gzip
import json
import os

import numpy as np
import pandas as pd
import pytest

from statsmodels_glmm import datasets
from statsmodels_glmm.datasets._meta import DATASETS

from conftest import DATA, load_dataset, load_ref

PKG = os.path.dirname(datasets.__file__)
REQUIRED = ["toenail", "cbpp", "epil", "bacteria", "wine", "sim_binary_small",
            "sim_poisson_small", "sim_negbin_small", "sim_zip_small", "sim_ordinal_small"]
ALL_LEVELS = json.load(open(os.path.join(DATA, "factor_levels.json")))


def _reference_csv(name):
    kind = "real" if DATASETS[name]["kind"] == "real" else "sim"
    return os.path.join(DATA, kind, f"{name}.csv")


def _available():
    return list(datasets.list().index)


def test_list_has_the_required_sets_and_everything_exported():
    names = _available()
    assert set(REQUIRED) <= set(names)
    # every dataset whose reference CSV exists in tests/data is bundled (soup, VerbAgg, ...)
    for name in DATASETS:
        if os.path.exists(_reference_csv(name)):
            assert name in names, name
    tab = datasets.list()
    assert list(tab.columns) == ["title", "outcome", "kind"]
    assert tab["title"].map(len).between(10, 90).all()
    assert set(tab["outcome"]) <= {"binary", "binomial", "count", "ordinal"}


@pytest.mark.parametrize("name", list(DATASETS))
def test_bundled_bytes_equal_reference_csv(name):
    if name not in _available():
        pytest.skip(f"{name} is not bundled")
    for fn in (f"{name}.csv", f"{name}.csv.gz"):
        path = os.path.join(PKG, "data", fn)
        if os.path.exists(path):
            raw = open(path, "rb").read()
            if fn.endswith(".gz"):
                raw = gzip.decompress(raw)
    assert raw == open(_reference_csv(name), "rb").read()


@pytest.mark.parametrize("name", list(DATASETS))
def test_load_shape_dtypes_and_level_order(name):
    if name not in _available():
        pytest.skip(f"{name} is not bundled")
    df = datasets.load(name)
    meta = DATASETS[name]
    assert df.shape == meta["shape"]
    assert list(df.columns) == list(meta["columns"])
    levels = ALL_LEVELS.get(name, {}) if meta["kind"] == "real" else {}
    for col in df.columns:
        if col in levels:
            assert isinstance(df[col].dtype, pd.CategoricalDtype), col
            assert df[col].cat.categories.tolist() == levels[col]["levels"], col
            assert df[col].cat.ordered == levels[col]["ordered"], col
            assert df[col].cat.categories[0] == levels[col]["reference"], col
            assert not df[col].isna().any(), col  # every value is a declared level
        else:
            assert df[col].dtype in (np.int64, np.float64), (col, df[col].dtype)
    # the loader the tests use reads the same frame
    ref = load_dataset(name)
    pd.testing.assert_frame_equal(df, ref)
    assert df.attrs["name"] == name and df.attrs["license"] == meta["license"]


def test_derived_columns_are_what_the_descriptions_say():
    t = datasets.load("toenail")
    np.testing.assert_array_equal(t["outcome_bin"], (t["outcome"] == "moderate or severe"))
    assert t["patientID"].nunique() == 294
    c = datasets.load("cbpp")
    np.testing.assert_array_equal(c["non_incidence"], c["size"] - c["incidence"])
    e = datasets.load("epil")
    np.testing.assert_allclose(e["Visit"], (2 * e["period"] - 5) / 10, atol=1e-15)
    np.testing.assert_array_equal(e["V4"], e["period"] == 4)
    b = datasets.load("bacteria")
    np.testing.assert_array_equal(b["y_bin"], b["y"] == "y")
    np.testing.assert_array_equal(b["week_gt2"], b["week"] > 2)
    w = datasets.load("wine")
    np.testing.assert_array_equal(w["rating_int"], w["rating"].cat.codes + 1)
    # rating is the 0-100 response grouped in intervals [0, 20), [20, 40), ...
    np.testing.assert_array_equal(w["rating_int"], w["response"] // 20 + 1)
    if "soup" in _available():
        s = datasets.load("soup")
        np.testing.assert_array_equal(s["SURENESS_int"], s["SURENESS"].cat.codes + 1)
        assert s["RESP"].nunique() == 185
    if "VerbAgg" in _available():
        v = datasets.load("VerbAgg")
        np.testing.assert_array_equal(v["r2num"], v["r2"] == "Y")
        np.testing.assert_array_equal(v["r2"] == "N", v["resp"] == "no")
        assert v["id"].nunique() == 316 and v["item"].nunique() == 24
    for name in ("sim_binary_small", "sim_poisson_small", "sim_negbin_small", "sim_zip_small",
                 "sim_ordinal_small"):
        df = datasets.load(name)
        assert df["id"].nunique() == 200
        assert df["time"].between(0, 4).all()
        # persons sorted by id then time; group constant within person
        assert (df.sort_values(["id", "time"]).index == df.index).all()
        assert (df.groupby("id")["group"].nunique() == 1).all()
    assert set(datasets.load("sim_ordinal_small")["y"]) == {1, 2, 3, 4}


def test_load_returns_a_fresh_copy():
    a = datasets.load("cbpp")
    a.loc[0, "size"] = -1
    assert datasets.load("cbpp").loc[0, "size"] == 14


def test_describe_fields():
    for name in _available():
        d = datasets.describe(name)
        assert d.name == name
        assert d.shape == DATASETS[name]["shape"]
        assert list(d.columns) == list(datasets.load(name).columns)
        for text in (d.title, d.description, d.source, d.license, d.model):
            assert isinstance(text, str) and len(text) > 5
        page = str(d)
        assert d.title in page and "Licence:" in page and "Source:" in page
    assert "GPL-2" in datasets.describe("toenail").license
    assert "HSAUR3" in datasets.describe("toenail").source
    assert "BSD-3-Clause" in datasets.describe("sim_binary_small").license


def test_unknown_name_raises_listing_the_names():
    with pytest.raises(ValueError) as info:
        datasets.load("toenails")
    msg = str(info.value)
    assert "'toenails'" in msg
    for name in _available():
        assert name in msg
    with pytest.raises(ValueError, match="available: toenail"):
        datasets.describe("nope")
    with pytest.raises(ValueError, match="name"):
        datasets.load(3)


def test_bundled_levels_match_tests_data():
    bundled = json.load(open(os.path.join(PKG, "levels.json"), encoding="utf-8"))
    for name, lv in bundled.items():
        assert lv == ALL_LEVELS[name], name


def test_package_data_declares_the_files():
    tomllib = pytest.importorskip("tomllib")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cfg = tomllib.load(open(os.path.join(root, "pyproject.toml"), "rb"))
    patterns = cfg["tool"]["setuptools"]["package-data"]["statsmodels_glmm.datasets"]
    files = ["levels.json"] + ["data/" + f for f in os.listdir(os.path.join(PKG, "data"))]
    for f in files:
        assert any(fnmatch.fnmatch(f, p) for p in patterns), f


def test_fits_on_bundled_data_run():
    import statsmodels.api as sm

    import statsmodels_glmm.api as smg

    df = datasets.load("cbpp")
    res = smg.mixedglm("incidence + non_incidence ~ period + (1 | herd)", df,
                       family=sm.families.Binomial()).fit()
    ref = load_ref("cbpp__tmb_ri")
    est = [r["estimate"] for r in ref["fixed_effects"]]
    np.testing.assert_allclose(res.fe_params.to_numpy(), est, atol=1e-4)
    assert res.re_sd.iloc[0] == pytest.approx(ref["random_effects"][0]["sd"][0], abs=1e-4)
