"""
Sphinx configuration of the statsmodels-glmm documentation.

Build (warnings are errors; every code cell is executed, nothing is cached)::

    pip install -e ".[docs]"
    sphinx-build -W -b html docs docs/_build/html

Pages are MyST Markdown.  Pages whose front matter declares a kernel are run
by myst-nb at build time, so every number and figure in them is computed by
the code shown.  The API reference pages list every public name of
``statsmodels_glmm.api`` and ``statsmodels_glmm.families``; the lists are
filled in from the modules' ``__all__`` while the pages are read, so a new
public name appears without editing the pages.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import statsmodels_glmm  # noqa: E402

project = "statsmodels-glmm"
author = "statsmodels-glmm developers"
copyright = "statsmodels-glmm developers, BSD 3-Clause licence"
version = release = statsmodels_glmm.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]

exclude_patterns = ["_build", "jupyter_execute", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
source_suffix = {".md": "myst-nb", ".rst": "restructuredtext"}

# --- MyST and execution --------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "force"            # run every notebook page on every build, no cache
nb_execution_timeout = 180             # seconds per page
nb_execution_raise_on_error = True     # a failing cell fails the build
nb_execution_show_tb = True
nb_merge_streams = True
nb_render_image_options = {"width": "90%"}

# --- API reference ---------------------------------------------------------------------------
autosummary_generate = False
autodoc_default_options = {"members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# --- HTML ------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"statsmodels-glmm {release}"
html_static_path = ["_static"] if os.path.isdir(os.path.join(HERE, "_static")) else []
html_theme_options = {
    "navigation_depth": 2,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_show_sourcelink = False

# Pages written alongside this site; listed in the table of contents when they exist
# (marker in index.md -> pages).
OPTIONAL_PAGES = {"<!-- optional-learning -->": ["grouping_factors"],
                  "<!-- optional-pages -->": ["inference", "checks", "plots", "dask"]}
_BASES = ("LikelihoodModelResults, GenericLikelihoodModelResults, Results, LikelihoodModel, "
          "GenericLikelihoodModel, Model, object")


def _api_block(module_name, names, title_of):
    """MyST text: an autosummary table of ``names`` and one autodoc entry per name."""
    import importlib
    import inspect

    mod = importlib.import_module(module_name)
    lines = ["```{eval-rst}", f".. currentmodule:: {module_name}", "", ".. autosummary::", ""]
    lines += [f"   {n}" for n in names]
    lines += ["```", ""]
    for n in names:
        obj = getattr(mod, n)
        lines += [f"## `{title_of(n)}`", "", "```{eval-rst}"]
        if inspect.isclass(obj):
            # own methods and those of this package's mixins; statsmodels' base-class
            # methods (conf_int, t_test, ...) are documented by statsmodels
            lines += [f".. autoclass:: {module_name}.{n}", "   :members:",
                      f"   :inherited-members: {_BASES}", ""]
        elif inspect.ismodule(obj):
            lines += [f".. automodule:: {obj.__name__}", ""]
            for m in getattr(obj, "__all__", []):
                kind = "autoclass" if inspect.isclass(getattr(obj, m)) else "autofunction"
                lines += [f".. {kind}:: {obj.__name__}.{m}", ""]
        else:
            lines += [f".. autofunction:: {module_name}.{n}", ""]
        lines += ["```", ""]
    return "\n".join(lines)


def _layout_block():
    """MyST text: one table per layer of the import-linter contract, a row per module."""
    import importlib
    import pkgutil
    import re

    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    with open(os.path.join(os.path.dirname(HERE), "pyproject.toml"), "rb") as fh:
        contract = tomllib.load(fh)["tool"]["importlinter"]["contracts"][0]
    lines = []
    for depth, layer in enumerate(contract["layers"], start=1):
        parts = [p.strip() for p in layer.split("|")]
        lines += [f"### {depth}. {', '.join(f'`{p}`' for p in parts)}", "",
                  "| module | what it holds |", "|---|---|"]
        for part in parts:
            name = f"statsmodels_glmm.{part}"
            mod = importlib.import_module(name)
            names = [name]
            if hasattr(mod, "__path__"):
                names += sorted(m.name for m in pkgutil.walk_packages(mod.__path__, name + ".")
                                if not m.name.rsplit(".", 1)[-1].startswith("_"))
            for n in names:
                doc = (importlib.import_module(n).__doc__ or "").strip()
                first = " ".join(doc.split("\n\n")[0].split()) if doc else ""
                # Sphinx roles do not render inside a Markdown table: keep the name
                first = re.sub(r":\w+:`~?([^`]+)`",
                               lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", first)
                first = first.replace("``", "`")
                lines.append(f"| `{n.replace('statsmodels_glmm.', '')}` | {first} |")
        lines.append("")
    return "\n".join(lines)


def _capabilities_block():
    """MyST text: the "What works with what" table, from the matrix the tests run."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "capabilities_matrix", os.path.join(HERE, "capabilities_matrix.py"))
    matrix = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(matrix)
    return matrix.table_markdown()


def _fill(app, docname, source):
    """Replace the ``<!-- ... -->`` markers of generated lists while the pages are read."""
    text = source[0]
    if docname == "index":
        for marker, pages in OPTIONAL_PAGES.items():
            have = [p for p in pages if os.path.exists(os.path.join(HERE, p + ".md"))]
            text = text.replace(marker, "\n".join(have))
    if "<!-- api-functions -->" in text or "<!-- api-families -->" in text:
        import statsmodels_glmm.api as api
        import statsmodels_glmm.families as fam

        # families is a module: documented on its own page
        api_names = [n for n in api.__all__ if n != "families" and not n.startswith("_")]
        text = text.replace("<!-- api-functions -->",
                            _api_block("statsmodels_glmm.api", api_names, lambda n: f"smg.{n}"))
        text = text.replace("<!-- api-families -->",
                            _api_block("statsmodels_glmm.families", list(fam.__all__),
                                       lambda n: f"smg.families.{n}"))
    if "<!-- layout-modules -->" in text:
        text = text.replace("<!-- layout-modules -->", _layout_block())
    if "<!-- capabilities-table -->" in text:
        text = text.replace("<!-- capabilities-table -->", _capabilities_block())
    source[0] = text


def _always_reread(app, env, added, changed, removed):
    """Pages whose text is generated re-read on every build (the code or the pages changed)."""
    return [d for d in ("index", "reference/api", "reference/families",
                                   "reference/layout", "capabilities") if d in env.found_docs]


def setup(app):
    app.connect("source-read", _fill)
    app.connect("env-get-outdated", _always_reread)
    return {"parallel_read_safe": True}
