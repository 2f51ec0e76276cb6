"""
A self-contained HTML report: text sections, tables and figures in one file.

The figures are embedded as base64-encoded PNG images (``<img
src="data:image/png;base64,...">``), so the file can be mailed or archived
on its own and opened without the directory it was written from.  Nothing
but the standard library is needed to write it; matplotlib figures are
converted with their own ``savefig``.

Examples
--------
>>> import os, tempfile
>>> from statsmodels_glmm.output.report import HTMLReport
>>> rep = HTMLReport("Example")
>>> rep.add_heading("Numbers")
>>> rep.add_text("odds ratio 1.234")
>>> path = rep.write(os.path.join(tempfile.mkdtemp(), "report.html"))
>>> "odds ratio 1.234" in open(path, encoding="utf-8").read()
True
"""

import base64
import html
import io
import os

__all__ = ["HTMLReport", "png_bytes"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 70rem;
       margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #3465a4; padding-bottom: .3rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; color: #204a87; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: .7rem; overflow-x: auto;
      font-size: .8rem; line-height: 1.3; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; border: 1px solid #e1e4e8; }
figcaption { font-size: .9rem; color: #555; }
p.note { color: #555; font-size: .9rem; }
"""


def png_bytes(fig, dpi=110):
    """
    The PNG encoding of a matplotlib figure.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : int
        Resolution of the image.

    Returns
    -------
    bytes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from matplotlib.figure import Figure
    >>> fig = Figure(figsize=(2, 1))
    >>> _ = fig.add_subplot().plot([0, 1], [0, 1])
    >>> png_bytes(fig)[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


class HTMLReport:
    """
    Build an HTML page from headings, preformatted text and PNG figures.

    Parameters
    ----------
    title : str
        Page title and top heading.

    Examples
    --------
    >>> rep = HTMLReport("Fit")
    >>> rep.add_text("a < b")          # escaped in the page
    >>> rep.add_image(b"\\x89PNG\\r\\n\\x1a\\n", caption="empty")
    >>> page = rep.to_html()
    >>> "a &lt; b" in page, "data:image/png;base64," in page
    (True, True)
    """

    def __init__(self, title):
        self.title = str(title)
        self._parts = []

    def add_heading(self, text):
        """Add a second-level heading.

        Examples
        --------
        >>> rep = HTMLReport("t"); rep.add_heading("Counts")
        >>> "<h2>Counts</h2>" in rep.to_html()
        True
        """
        self._parts.append(f"<h2>{html.escape(str(text))}</h2>")

    def add_text(self, text, preformatted=True):
        """Add text, preformatted (tables, summaries) or as a paragraph note.

        Examples
        --------
        >>> rep = HTMLReport("t"); rep.add_text("see below", preformatted=False)
        >>> '<p class="note">see below</p>' in rep.to_html()
        True
        """
        body = html.escape(str(text))
        self._parts.append(f"<pre>{body}</pre>" if preformatted
                           else f'<p class="note">{body}</p>')

    def add_image(self, png, caption=None):
        """Embed PNG bytes (or the PNG file at a path) as a base64 data URI.

        Examples
        --------
        >>> rep = HTMLReport("t"); rep.add_image(b"abc")
        >>> "data:image/png;base64,YWJj" in rep.to_html()
        True
        """
        if isinstance(png, (str, os.PathLike)):
            with open(png, "rb") as fh:
                png = fh.read()
        data = base64.b64encode(bytes(png)).decode("ascii")
        alt = html.escape(caption or "figure")
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._parts.append(f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
                           f"{cap}</figure>")

    def add_figure(self, fig, caption=None, dpi=110):
        """Embed a matplotlib figure (see :func:`png_bytes`).

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from matplotlib.figure import Figure
        >>> rep = HTMLReport("t"); rep.add_figure(Figure(figsize=(1, 1)), caption="c")
        >>> "<figcaption>c</figcaption>" in rep.to_html()
        True
        """
        self.add_image(png_bytes(fig, dpi=dpi), caption=caption)

    def to_html(self):
        """The complete page as a string.

        Examples
        --------
        >>> HTMLReport("T").to_html().startswith("<!DOCTYPE html>")
        True
        """
        title = html.escape(self.title)
        body = "\n".join(self._parts)
        return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
                f"<h1>{title}</h1>\n{body}\n</body>\n</html>\n")

    def write(self, path):
        """Write the page (UTF-8) and return its path.

        Examples
        --------
        >>> import os, tempfile
        >>> p = HTMLReport("T").write(os.path.join(tempfile.mkdtemp(), "r.html"))
        >>> os.path.getsize(p) > 0
        True
        """
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(self.to_html())
        return path
