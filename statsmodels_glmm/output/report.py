"""
A self-contained HTML report: headings, paragraphs, tables and figures in one file.

Tables are HTML tables (``DataFrame.to_html``, statsmodels ``Summary.as_html``)
inside containers that scroll sideways rather than clip when a table is wider
than the page; text is set in paragraphs that wrap.  The figures are embedded
as base64-encoded PNG images (``<img src="data:image/png;base64,...">``), so
the file can be mailed or archived on its own and opened without the
directory it was written from.  Writing the page needs only the standard
library; tables come from the pandas and statsmodels objects themselves and
matplotlib figures are converted with their own ``savefig``.

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
import copy
import html
import io
import os

__all__ = ["HTMLReport", "png_bytes"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 70rem;
       margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #3465a4; padding-bottom: .3rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; color: #204a87; }
p, li { overflow-wrap: anywhere; margin: .35rem 0; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: .7rem; overflow-x: auto;
      font-size: .8rem; line-height: 1.3; white-space: pre-wrap; overflow-wrap: anywhere; }
.table { max-width: 100%; overflow-x: auto; margin: .5rem 0 1rem; }
.table table { border-collapse: collapse; font-size: .82rem; line-height: 1.3;
               font-variant-numeric: tabular-nums; }
.table caption { caption-side: top; text-align: left; font-weight: 600; padding: .2rem 0; }
.table th, .table td { padding: .15rem .55rem; border-bottom: 1px solid #e6e8eb;
                       text-align: right; vertical-align: top; white-space: nowrap; }
.table thead th { border-bottom: 2px solid #c8ccd0; white-space: normal; }
.table tbody th, .table tr > th:first-child { text-align: left; }
.table table.text td { text-align: left; white-space: normal; min-width: 12rem; }
.table table.simpletable td:nth-child(odd) { text-align: left; }
.table table.simpletable td:nth-child(even) { text-align: right; }
.table table.simpletable th { text-align: right; }
.table table.simpletable tr > th:first-child { text-align: left; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; border: 1px solid #e1e4e8; }
figcaption { font-size: .9rem; color: #555; }
p.note { color: #555; font-size: .9rem; }
p.caption { font-weight: 600; margin-bottom: .2rem; }
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
        """Add text, preformatted (kept line by line, long lines wrap) or as a paragraph note.

        Examples
        --------
        >>> rep = HTMLReport("t"); rep.add_text("see below", preformatted=False)
        >>> '<p class="note">see below</p>' in rep.to_html()
        True
        """
        body = html.escape(str(text))
        self._parts.append(f"<pre>{body}</pre>" if preformatted
                           else f'<p class="note">{body}</p>')

    def add_paragraphs(self, text):
        """Add each non-empty line of ``text`` as a paragraph (it wraps at the page width).

        Examples
        --------
        >>> rep = HTMLReport("t"); rep.add_paragraphs("first\\n\\nsecond <b>")
        >>> "<p>first</p>\\n<p>second &lt;b&gt;</p>" in rep.to_html()
        True
        """
        lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
        if lines:
            self._parts.append("\n".join(f"<p>{html.escape(ln)}</p>" for ln in lines))

    def add_list(self, items):
        """Add a bulleted list (items are escaped).

        Examples
        --------
        >>> rep = HTMLReport("t"); rep.add_list(["a", "b"])
        >>> "<ul>\\n<li>a</li>\\n<li>b</li>\\n</ul>" in rep.to_html()
        True
        """
        body = "\n".join(f"<li>{html.escape(str(i))}</li>" for i in items)
        self._parts.append(f"<ul>\n{body}\n</ul>")

    def add_table(self, frame, float_format=None, formatters=None, caption=None, text=False):
        """Add a DataFrame (or Series) as an HTML table in a sideways-scrolling container.

        Parameters
        ----------
        frame : DataFrame or Series
        float_format, formatters
            As in ``DataFrame.to_html``.
        caption : str, optional
        text : bool
            Left-aligned, wrapping cells (for tables of words rather than numbers).

        Examples
        --------
        >>> import pandas as pd
        >>> rep = HTMLReport("t")
        >>> rep.add_table(pd.DataFrame({"OR": [1.23456]}, index=["x"]),
        ...               float_format=lambda v: f"{v:.2f}")
        >>> page = rep.to_html()
        >>> '<div class="table">' in page and "<td>1.23</td>" in page
        True
        """
        if hasattr(frame, "to_frame") and not hasattr(frame, "columns"):  # a Series
            frame = frame.to_frame(name=frame.name if frame.name is not None else "")
        if not hasattr(frame, "to_html"):
            raise ValueError("frame must be a pandas DataFrame or Series")
        classes = ["data"] + (["text"] if text else [])
        body = frame.to_html(float_format=float_format, formatters=formatters, border=0,
                             classes=classes, na_rep="")
        if caption:
            body = body.replace(">", f"><caption>{html.escape(caption)}</caption>", 1)
        self._parts.append(f'<div class="table">{body}</div>')

    def add_summary(self, summary):
        """Add a statsmodels ``Summary`` (``summary`` or ``summary2``): its tables, then its notes.

        Examples
        --------
        >>> from statsmodels.iolib import summary2
        >>> import pandas as pd
        >>> s = summary2.Summary(); s.add_df(pd.DataFrame({"Coef.": [0.5]}, index=["x"]))
        >>> s.add_text("p < 0.05 is not a verdict")
        >>> rep = HTMLReport("t"); rep.add_summary(s)
        >>> page = rep.to_html()
        >>> page.count("<table") == 1 and "<p>p &lt; 0.05 is not a verdict</p>" in page
        True
        """
        smry = copy.copy(summary)
        notes = getattr(smry, "extra_txt", None)
        if isinstance(notes, str):
            notes = [notes]
        smry.extra_txt = [] if isinstance(getattr(summary, "extra_txt", None), list) else None
        tables = smry.as_html()
        tables = tables.strip()
        while tables.endswith("<br/>"):
            tables = tables[:-len("<br/>")].rstrip()
        title = getattr(smry, "title", None)
        head = f'<p class="caption">{html.escape(title)}</p>' if title else ""
        self._parts.append(f'{head}<div class="table">{tables}</div>')
        for note in notes or []:
            self.add_paragraphs(note)

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
