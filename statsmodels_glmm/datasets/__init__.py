"""
Small datasets bundled with statsmodels-glmm, in the style of ``statsmodels.datasets``.

Real longitudinal and clustered data from the GLMM literature (toenail, cbpp, epil,
bacteria, wine, soup, VerbAgg) and the simulated panels used throughout the
documentation (``sim_*``), stored as CSV files inside the package.  Every factor
comes back as a pandas ``Categorical`` whose categories are in R's level order, so
the first category is the reference level of the treatment contrasts, and the
fits in the documentation and the R reference fits see the same design.

Functions
---------
load(name)
    The data as a DataFrame (a new copy on every call).
list()
    Names of the available datasets with one-line titles.
describe(name)
    A :class:`Dataset` record: title, description, columns, source, licence.

Examples
--------
>>> from statsmodels_glmm import datasets   # also smg.datasets
>>> df = datasets.load("cbpp")
>>> df.shape
(56, 5)
>>> df["period"].cat.categories.tolist()
['1', '2', '3', '4']
>>> "toenail" in datasets.list().index
True
"""

import builtins
import gzip
import io
import json
import os
from dataclasses import dataclass, field

from ._meta import DATASETS

__all__ = ["load", "list", "describe", "Dataset"]

_HERE = os.path.dirname(os.path.abspath(__file__))
_DATA = os.path.join(_HERE, "data")


@dataclass(frozen=True)
class Dataset:
    """
    Description of one bundled dataset.

    Attributes
    ----------
    name, title : str
    description : str
        What was measured, on whom, and how.
    columns : dict
        Column name -> meaning.
    source : str
        Where the data come from (R package and the original publication).
    license : str
        Terms under which the data are distributed.
    model : str
        A model the documentation or the tests fit to these data.
    shape : tuple of int
        Rows and columns of :func:`load`'s frame.

    Examples
    --------
    >>> from statsmodels_glmm import datasets
    >>> d = datasets.describe("epil")
    >>> d.shape, d.columns["y"]
    ((236, 10), 'seizure count in the two-week period')
    """

    name: str
    title: str
    description: str
    columns: dict = field(repr=False)
    source: str = field(repr=False)
    license: str = field(repr=False)
    model: str = field(repr=False)
    shape: tuple = ()

    def __str__(self):
        import textwrap

        width = max(len(c) for c in self.columns)
        lines = [f"{self.name}: {self.title}", "",
                 textwrap.fill(self.description, 78), "",
                 f"{self.shape[0]} rows, {self.shape[1]} columns:"]
        lines += [f"  {c:<{width}}  {m}" for c, m in self.columns.items()]
        lines += ["", textwrap.fill("Source: " + self.source, 78),
                  textwrap.fill("Licence: " + self.license, 78),
                  "Example model: " + self.model]
        return "\n".join(lines)


def _file(name):
    for fn in (f"{name}.csv", f"{name}.csv.gz"):
        path = os.path.join(_DATA, fn)
        if os.path.exists(path):
            return path
    return None


def _names():
    return [n for n in DATASETS if _file(n) is not None]


def _levels():
    with open(os.path.join(_HERE, "levels.json"), encoding="utf-8") as fh:
        return json.load(fh)


def _check_name(name):
    names = _names()
    if not isinstance(name, str) or name not in names:
        raise ValueError(f"name {name!r} is not a bundled dataset; available: "
                         f"{', '.join(names)}")
    return name


def _read(name):
    import pandas as pd

    path = _file(name)
    with open(path, "rb") as fh:
        raw = fh.read()
    if path.endswith(".gz"):
        raw = gzip.decompress(raw)
    lv = _levels().get(name, {})
    # factor columns are read as text (ids such as "01" keep their spelling), then
    # given R's level order; empty fields are the only missing-value marker
    df = pd.read_csv(io.BytesIO(raw), dtype={c: str for c in lv}, keep_default_na=False,
                     na_values=[""])
    for col, info in lv.items():
        df[col] = pd.Categorical(df[col], categories=info["levels"], ordered=info["ordered"])
    return df


def load(name):
    """
    Load a bundled dataset as a DataFrame.

    Parameters
    ----------
    name : str
        One of the names in :func:`list` (e.g. ``"toenail"``, ``"sim_binary_small"``).

    Returns
    -------
    DataFrame
        A fresh copy.  Factors are ``Categorical`` with R's level order (reference
        level first; ordered for ordinal responses), counts and indicators are
        integers, measurements floats.  ``df.attrs`` holds ``name``, ``title``,
        ``source`` and ``license``.

    Raises
    ------
    ValueError
        If ``name`` is not a bundled dataset (the message lists the names).

    Examples
    --------
    >>> from statsmodels_glmm import datasets
    >>> df = datasets.load("toenail")
    >>> df.shape
    (1908, 6)
    >>> df["treatment"].cat.categories.tolist()
    ['itraconazole', 'terbinafine']
    >>> datasets.load("wine")["rating"].cat.ordered
    True
    """
    df = _read(_check_name(name))
    meta = DATASETS[name]
    df.attrs.update(name=name, title=meta["title"], source=meta["source"],
                    license=meta["license"])
    return df


def list():  # noqa: A001 - the statsmodels-style name
    """
    The available datasets and their one-line titles.

    Returns
    -------
    DataFrame
        Indexed by ``name``, with columns ``title``, ``outcome`` (binary, binomial,
        count, ordinal) and ``kind`` (``real`` or ``simulated``).

    Examples
    --------
    >>> from statsmodels_glmm import datasets
    >>> tab = datasets.list()
    >>> tab.loc["epil", "outcome"], tab.loc["sim_zip_small", "kind"]
    ('count', 'simulated')
    """
    import pandas as pd

    names = _names()
    return pd.DataFrame(
        {"title": [DATASETS[n]["title"] for n in names],
         "outcome": [DATASETS[n]["outcome"] for n in names],
         "kind": ["real" if DATASETS[n]["kind"] == "real" else "simulated" for n in names]},
        index=pd.Index(names, name="name"))


def describe(name):
    """
    Description, columns, source and licence of a dataset.

    Parameters
    ----------
    name : str

    Returns
    -------
    Dataset
        ``print()`` it for a readable page.

    Examples
    --------
    >>> from statsmodels_glmm import datasets
    >>> d = datasets.describe("wine")
    >>> d.title
    'Bitterness of wine rated by nine judges (ordinal, 5 categories)'
    >>> "ordinal" in d.source
    True
    """
    meta = DATASETS[_check_name(name)]
    shape = meta["shape"]
    if shape is None:  # sets whose size is read from the file
        shape = _read(name).shape
    return Dataset(name=name, title=meta["title"], description=meta["description"],
                   columns=dict(meta["columns"]), source=meta["source"],
                   license=meta["license"], model=meta["model"], shape=builtins.tuple(shape))
