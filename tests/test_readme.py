"""
Every ```python block of README.md runs as written, in order, in one namespace.

Plain ``` blocks (shell commands, saved benchmark output) are not executed.  The
blocks run in a temporary directory (the explorer writes a file) with matplotlib's
Agg backend.
"""

import contextlib
import io
import os
import re

import matplotlib

matplotlib.use("Agg")

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def python_blocks(text):
    """The bodies of the ```python blocks of a Markdown text, in order."""
    return re.findall(r"^```python[ \t]*\n(.*?)^```[ \t]*$", text, flags=re.M | re.S)


def test_block_extraction_takes_only_python_blocks():
    text = "a\n```python\nx = 1\n```\n```\npip install x\n```\n```python\ny = x + 1\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = x + 1\n"]


def test_every_python_block_of_the_readme_runs(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    with open(README, encoding="utf-8") as fh:
        blocks = python_blocks(fh.read())
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme"}
    out = io.StringIO()
    try:
        for i, block in enumerate(blocks, 1):
            code = compile(block, f"README.md python block {i}", "exec")
            with contextlib.redirect_stdout(out):
                exec(code, namespace)
    finally:
        plt.close("all")
    # the names the blocks use are the ones they define, and their work is visible
    for name in ("df", "res", "res25", "endog", "exog", "exog_re", "groups", "new",
                 "simpler", "res_poisson", "res_nb"):
        assert name in namespace, name
    assert "Generalized Linear Mixed Model Results" in out.getvalue()
    assert (tmp_path / "explorer.html").stat().st_size > 0
    assert namespace["res"].converged
