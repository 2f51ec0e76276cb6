"""
The HTML report page: tables as HTML tables in scrolling containers, text in paragraphs.
"""

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from statsmodels.iolib import summary, summary2
from statsmodels.iolib.table import SimpleTable

from statsmodels_glmm.output.report import HTMLReport


class _Tags(HTMLParser):
    """Open tags in order, with the text of every table cell."""

    def __init__(self):
        super().__init__()
        self.tags, self.cells, self._cell = [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _parse(page):
    p = _Tags()
    p.feed(page)
    return p


def test_table_of_a_frame_and_of_a_series():
    rep = HTMLReport("t")
    frame = pd.DataFrame({"OR": [1.23456, 0.5], "p < 0.05": [True, False]},
                         index=["a<b", "c"])
    rep.add_table(frame, float_format=lambda v: f"{v:.3f}", caption="Odds ratios")
    rep.add_table(pd.Series({"chi2": 12.5, "ratio": 1.25}, name="check"),
                  float_format=lambda v: f"{v:.2f}")
    page = rep.to_html()
    p = _parse(page)
    assert [t for t, _ in p.tags].count("table") == 2 and "pre" not in [t for t, _ in p.tags]
    # every table sits in a container that scrolls sideways instead of clipping
    wraps = [a for t, a in p.tags if t == "div" and a.get("class") == "table"]
    assert len(wraps) == 2
    assert re.search(r"\.table \{[^}]*overflow-x: auto", page)
    for cell in ["a<b", "1.235", "0.500", "True", "p < 0.05", "chi2", "12.50", "1.25", "check"]:
        assert cell in p.cells, cell
    assert "<caption>Odds ratios</caption>" in page
    with pytest.raises(ValueError, match="frame"):
        rep.add_table(np.eye(2))


def test_summary_tables_then_notes_as_paragraphs():
    s2 = summary2.Summary()
    s2.add_title("Fit")
    s2.add_df(pd.DataFrame({"Coef.": [0.5, -1.25]}, index=["x", "z"]))
    s2.add_text("a note with p < 0.05 and a long line " + "word " * 40)
    rep = HTMLReport("t")
    rep.add_summary(s2)
    page = rep.to_html()
    p = _parse(page)
    assert [t for t, _ in p.tags].count("table") == 1
    assert {"Coef.", "0.5000", "-1.2500", "x", "z"} <= set(p.cells)
    assert '<p class="caption">Fit</p>' in page
    assert "<p>a note with p &lt; 0.05 and a long line" in page
    assert s2.extra_txt and "p < 0.05" in s2.extra_txt[0]        # the summary is unchanged
    # statsmodels.iolib.summary.Summary: tables (their titles as captions) and extra text
    s1 = summary.Summary()
    s1.tables.append(SimpleTable([["1.0", "2.0"]], headers=["a", "b"], stubs=["row"],
                                 title="Block"))
    s1.add_extra_txt(["first note", "second note"])
    rep = HTMLReport("t")
    rep.add_summary(s1)
    page = rep.to_html()
    assert page.count("<table") == 1 and "Block" in page
    assert "<p>first note</p>\n<p>second note</p>" in page
    assert s1.extra_txt == "first note\nsecond note"


def test_paragraphs_and_lists_escape_and_skip_empty_lines():
    rep = HTMLReport("t")
    rep.add_paragraphs("Verdict: x < y\n\n   \nnext")
    rep.add_list(["[fit] Warning: a & b"])
    page = rep.to_html()
    assert "<p>Verdict: x &lt; y</p>\n<p>next</p>" in page
    assert "<li>[fit] Warning: a &amp; b</li>" in page
    assert re.search(r"p, li \{[^}]*overflow-wrap: anywhere", page)
