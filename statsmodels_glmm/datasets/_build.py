"""
Refresh the bundled copies of the datasets from ``tests/data`` (maintenance script).

Run from the repository root::

    python -m statsmodels_glmm.datasets._build

Each CSV is copied byte for byte (gzip-compressed, with a zero timestamp so the
archive is reproducible, when it is larger than 10 kB), and the R factor levels
of the bundled sets are copied from ``tests/data/factor_levels.json`` into
``levels.json`` next to this file.  ``tests/datasets/test_datasets.py`` checks that the
bundled bytes and levels still equal the reference ones.
"""

import gzip
import json
import os

from ._meta import DATASETS

HERE = os.path.dirname(os.path.abspath(__file__))
GZIP_ABOVE = 10_000


def source_path(name, root="."):
    """The reference CSV of dataset ``name`` under ``tests/data`` of ``root``."""
    kind = DATASETS[name]["kind"]
    return os.path.join(root, "tests", "data", "real" if kind == "real" else "sim", f"{name}.csv")


def main(root="."):
    """Copy every available reference CSV into the package and rewrite ``levels.json``."""
    with open(os.path.join(root, "tests", "data", "factor_levels.json")) as fh:
        all_levels = json.load(fh)
    levels = {}
    for name in DATASETS:
        src = source_path(name, root)
        if not os.path.exists(src):
            print(f"skipped {name}: {src} not found")
            continue
        with open(src, "rb") as fh:
            raw = fh.read()
        for old in (f"{name}.csv", f"{name}.csv.gz"):
            if os.path.exists(os.path.join(HERE, "data", old)):
                os.remove(os.path.join(HERE, "data", old))
        if len(raw) > GZIP_ABOVE:
            with open(os.path.join(HERE, "data", f"{name}.csv.gz"), "wb") as out:
                with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
                    gz.write(raw)
        else:
            with open(os.path.join(HERE, "data", f"{name}.csv"), "wb") as out:
                out.write(raw)
        if name in all_levels:
            levels[name] = all_levels[name]
    with open(os.path.join(HERE, "levels.json"), "w") as fh:
        json.dump(levels, fh, indent=1, ensure_ascii=False)
        fh.write("\n")


if __name__ == "__main__":
    main()
