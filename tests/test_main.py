"""
The worked example (``python -m statsmodels_glmm``): files written, and every number
checked here printed equal to an independent fit or computation.

One small run (120 persons) is shared by the tests of this module.
"""

import contextlib
import io
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import expit

import statsmodels_glmm.api as smg
from statsmodels_glmm.__main__ import FIXED, RANDOM, _optional, main, substance_use_panel

N, SEED = 120, 3
HALF_UNIT = 0.5e-4 + 1e-9      # rounding error of a number printed with 4 decimals


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("example")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["--n-persons", str(N), "--seed", str(SEED), "--out", str(out),
                     "--quiet"])
    assert code == 0
    return buf.getvalue(), out


@pytest.fixture(scope="module")
def panel():
    return substance_use_panel(n_persons=N, seed=SEED)


def _block(text, header, n_rows):
    """Rows (label -> floats) of the table printed after the line starting with ``header``."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(header))
    rows = {}
    for ln in lines[start + 2:start + 4 + n_rows]:  # after the column header (+ index name)
        m = re.match(r"^(.*?)\s+((?:-?\d+\.\d+\s*)+)$", ln)
        if m:
            rows[m.group(1).strip()] = [float(v) for v in m.group(2).split()]
        else:
            assert not rows, f"unexpected line inside the table: {ln!r}"
        if len(rows) == n_rows:
            return rows
    raise AssertionError(f"table after {header!r} has fewer than {n_rows} rows")


def _binary_nagq(text):
    m = re.search(r"Binary model used below: (Laplace|adaptive quadrature, (\d+) nodes)", text)
    return 1 if m.group(2) is None else int(m.group(2))


def test_files_written_and_report_matches_stdout(run):
    text, out = run
    for name in ["report.txt", "report.html", "figures/trajectories.png",
                 "figures/effects.png"]:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    report = (out / "report.txt").read_text(encoding="utf-8")
    assert report.strip() in text          # the printed report is the file
    if _optional("plot_random_effects", "plotting") is not None:
        assert (out / "figures" / "random_effects.png").is_file()
    if _optional("explorer", "explorer") is not None:
        page = (out / "explorer.html").read_text(encoding="utf-8")
        assert page.lstrip().lower().startswith("<!doctype html") and "<script" in page
    pngs = sorted((out / "figures").glob("*.png"))
    page = (out / "report.html").read_text(encoding="utf-8")
    # self-contained: every figure embedded, nothing loaded from elsewhere
    assert page.count('src="data:image/png;base64,') == len(pngs) >= 2
    assert 'src="http' not in page and 'src="figures' not in page
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_data_section_counts(run, panel):
    text, _ = run
    assert f"{N} persons x 5 waves, {len(panel)} person-waves observed " \
           f"({N * 5 - len(panel)} waves missed)" in text


def test_odds_ratios_equal_independent_fit(run, panel):
    text, _ = run
    k = _binary_nagq(text)
    res = smg.mixedglm(f"used ~ {FIXED} + {RANDOM}", panel,
                       family=sm.families.Binomial()).fit(**({"nagq": k} if k > 1 else {}))
    printed = _block(text, "Odds ratios (exp of the log-odds", 5)
    ci = np.exp(res.conf_int().loc[res.fe_params.index])
    for term, beta in res.fe_params.items():
        or_, lo, hi = printed[term]
        assert abs(or_ - np.exp(beta)) <= HALF_UNIT, term
        assert abs(lo - ci.loc[term].iloc[0]) <= HALF_UNIT
        assert abs(hi - ci.loc[term].iloc[1]) <= HALF_UNIT


def test_persons_abc_are_inverse_logits_of_the_fit(run, panel):
    """Person b: P = expit(Intercept + b) at wave 0, group 0, stress 0; +stress after."""
    text, _ = run
    k = _binary_nagq(text)
    res = smg.mixedglm(f"used ~ {FIXED} + {RANDOM}", panel,
                       family=sm.families.Binomial()).fit(**({"nagq": k} if k > 1 else {}))
    b0, bs = res.fe_params["Intercept"], res.fe_params["stress"]
    printed = _block(text, "P(use) before and after one more unit of stress", 3)
    for label, b in (("Person A (b = -2)", -2.0), ("Person B (b = 0)", 0.0),
                     ("Person C (b = +2)", 2.0)):
        before, after, diff = printed[label][:3]
        assert abs(before - expit(b0 + b)) <= HALF_UNIT
        assert abs(after - expit(b0 + bs + b)) <= HALF_UNIT
        assert abs(diff - (expit(b0 + bs + b) - expit(b0 + b))) <= HALF_UNIT


def test_gee_column_equals_statsmodels_gee(run, panel):
    text, _ = run
    gee = sm.GEE.from_formula(f"used ~ {FIXED}", groups="id", data=panel,
                              family=sm.families.Binomial(),
                              cov_struct=sm.cov_struct.Exchangeable()).fit()
    printed = _block(text, "Coefficients (log-odds): conditional GLMM", 5)
    for term, beta in gee.params.items():
        # columns: conditional, conditional_se, marginalised, marginalised_se, gee, gee_se
        assert abs(printed[term][4] - beta) <= HALF_UNIT, term
        assert abs(printed[term][5] - gee.bse[term]) <= HALF_UNIT, term


def test_overdispersion_ratio_is_pearson_statistic(run, panel):
    text, _ = run
    res = smg.mixedglm(f"days ~ {FIXED} + {RANDOM}", panel,
                       family=sm.families.Poisson()).fit()
    mu = np.asarray(res.predict(panel, random_effects="conditional"), dtype=float)
    y = panel["days"].to_numpy(float)
    chi2 = np.sum((y - mu) ** 2 / mu)
    ratio = chi2 / (len(y) - len(res.params))
    m = re.search(r"Overdispersion check.*\nchi2\s+(\S+)\ndf_resid\s+(\S+)\nratio\s+(\S+)", text)
    assert abs(float(m.group(1)) - chi2) <= HALF_UNIT + 1e-9 * chi2
    assert float(m.group(2)) == len(y) - len(res.params)
    assert abs(float(m.group(3)) - ratio) <= HALF_UNIT


def test_chosen_count_model_rate_ratios(run, panel):
    text, _ = run
    best = re.search(r"Chosen by AIC: (\w+)\.", text).group(1)
    fam = {"Poisson": sm.families.Poisson(), "ZIP": sm.families.Poisson()}.get(
        best, smg.families.NegativeBinomial())
    zi = {"zi_formula": "~1"} if best in ("ZIP", "ZINB") else {}
    res = smg.mixedglm(f"days ~ {FIXED} + {RANDOM}", panel, family=fam, **zi).fit()
    printed = _block(text, f"{best} rate ratios", 5)
    for term, beta in res.fe_params.items():
        assert abs(printed[term][0] - np.exp(beta)) <= HALF_UNIT, term
    # the compared models' AIC column: the chosen one is the smallest and equals its fit's
    lines = text[text.index("Count models compared"):text.index("Chosen by AIC")].splitlines()
    aic = {ln.split()[0]: float(ln.split()[5]) for ln in lines[3:] if ln.strip()}
    assert best == min(aic, key=aic.get) and len(aic) >= 2
    assert abs(aic[best] - res.aic) <= HALF_UNIT


def test_severity_probabilities_sum_to_one_and_match_predict(run, panel):
    text, _ = run
    res = smg.mixedglm(f"severity ~ {FIXED} + {RANDOM}", panel,
                       family=smg.families.Ordinal()).fit()
    new = pd.DataFrame({"time": [0.0, 4.0], "group": [0.0, 0.0], "stress": 0.0, "id": -1})
    p = res.predict(new, which="prob", random_effects="marginal").to_numpy()
    m = re.search(r"group 0, wave 0\s+([\d. ]+)\ngroup 0, wave 4\s+([\d. ]+)", text)
    for row, expect in zip(m.groups(), p):
        vals = np.array(row.split(), dtype=float)
        assert np.all(np.abs(vals - expect) <= 0.5e-3 + 1e-9)
        assert abs(expect.sum() - 1) < 1e-10


def test_pitfall_section_names_every_guard(run):
    text, _ = run
    sec = text[text.index("Pitfall guards in this analysis"):]
    for guard in ["res.odds_ratios()", "smg.compare_gee(res)", "res.check_approximation()",
                  "res.overdispersion()", "res.zero_inflation_test()",
                  "res.probability_effects()", "smg.families.Ordinal()"]:
        assert guard in sec, guard


def test_panel_shares_covariates_and_validates(panel):
    full = smg.simulate_longitudinal("zip", n_persons=N, seed=SEED, dropout=0.0)
    full = full.set_index(["id", "time"])
    key = pd.MultiIndex.from_arrays([panel["id"], panel["time"]])
    assert len(panel) < len(full)                     # some waves were missed
    assert np.array_equal(full.loc[key, "y"].to_numpy(), panel["days"].to_numpy())
    assert np.array_equal(full.loc[key, "stress"].to_numpy(), panel["stress"].to_numpy())
    with pytest.raises(ValueError, match="n_persons"):
        substance_use_panel(n_persons=5)


def test_cli_rejects_too_few_persons(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--n-persons", "5"])
    assert e.value.code == 2
    assert "--n-persons" in capsys.readouterr().err


def test_module_doctests():
    """pytest's doctest collection skips ``__main__.py``; run its examples here."""
    import doctest

    import statsmodels_glmm.__main__ as example

    result = doctest.testmod(example, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 4 and result.failed == 0


class _Page(HTMLParser):
    """The page as a sequence of (tag, text) for p, li, pre and h2, and (table, rows) items."""

    def __init__(self):
        super().__init__()
        self.items, self._stack, self._text, self._rows = [], [], [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._rows = []
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._rows[-1].append("")
        elif tag in ("p", "li", "pre", "h2", "caption"):
            self._stack.append(tag)
            self._text = []

    def handle_endtag(self, tag):
        if tag == "table":
            self.items.append(("table", self._rows))
            self._rows = None
        elif self._stack and tag == self._stack[-1]:
            self._stack.pop()
            if tag != "caption":
                self.items.append((tag, "".join(self._text)))

    def handle_data(self, data):
        if self._rows is not None and self._rows and self._rows[-1] and not self._stack:
            self._rows[-1][-1] += data
        elif self._stack:
            self._text.append(data)


def _page(out):
    parser = _Page()
    parser.feed((out / "report.html").read_text(encoding="utf-8"))
    return parser.items


def _table_after(items, start):
    """Rows (label -> cell texts) of the first table after the paragraph starting with start."""
    i = next(k for k, (tag, text) in enumerate(items) if tag == "p" and text.startswith(start))
    rows = next(body for tag, body in items[i + 1:] if tag == "table")
    return {r[0].strip(): [c.strip() for c in r[1:]] for r in rows if r and r[0].strip()}


def test_html_report_has_html_tables_and_nothing_wider_than_the_page(run):
    text, out = run
    items = _page(out)
    tables = [body for tag, body in items if tag == "table"]
    report = (out / "report.txt").read_text(encoding="utf-8")
    # every model summary (statsmodels' Summary.as_html) and the pitfall table
    n_summaries = report.count("Generalized Linear Mixed Model Results")
    assert n_summaries >= 2
    at = [k for k, (tag, t) in enumerate(items)
          if tag == "p" and t == "Generalized Linear Mixed Model Results"]
    assert len(at) == n_summaries
    for k in at:
        info, coef = [" ".join(" ".join(r) for r in body)
                      for tag, body in items[k + 1:k + 3] if tag == "table"]
        assert "Family:" in info and "Coef." in coef and "Std.Err." in coef
    pit = next(t for t in tables if any(r and r[0].strip() == "Wrong-scale interpretation"
                                        for r in t))
    section = report[report.index("Pitfall guards in this analysis"):]
    body = [r for r in pit if len(r) == 3 and r[0].strip() and r[0].strip() != "pitfall"]
    assert len(body) == 12
    for name, guard, here in body:
        assert name.strip() in section and guard.strip() in section and here.strip() in section
    # no preformatted block holds a table or a line wider than the page
    for tag, content in items:
        if tag == "pre":
            assert max(len(ln) for ln in content.splitlines()) <= 110
            assert "Coef." not in content and "Wrong-scale" not in content
    # every line of text outside tables is a paragraph that wraps; the verdicts are whole
    paragraphs = {text for tag, text in items if tag == "p"}
    verdicts = [ln for ln in report.splitlines() if ln.startswith("Verdict: ")]
    assert len(verdicts) >= 3
    for v in verdicts:
        assert v in paragraphs, v
    lines = report.splitlines()
    titles = [a for a, b in zip(lines, lines[1:])
              if a and a == a.strip() and b == "=" * len(a)]
    assert [t for tag, t in items if tag == "h2"] == titles and len(titles) == 7


def test_html_tables_show_the_numbers_of_the_text_report(run):
    text, out = run
    items = _page(out)
    html_or = _table_after(items, "Odds ratios (exp of the log-odds")
    text_or = _block(text, "Odds ratios (exp of the log-odds", 5)
    assert set(html_or) == set(text_or)
    for term, vals in text_or.items():
        assert [float(v) for v in html_or[term]] == vals, term
    html_gee = _table_after(items, "Coefficients (log-odds): conditional GLMM")
    text_gee = _block(text, "Coefficients (log-odds): conditional GLMM", 5)
    for term, vals in text_gee.items():
        assert [float(v) for v in html_gee[term]] == vals, term
