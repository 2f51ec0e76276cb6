"""
Worked example: ``python -m statsmodels_glmm`` (or the ``statsmodels-glmm`` command).

A substance-use panel study: ``n`` persons seen at five waves, some waves
missed.  Each person has a ``group`` (0/1, fixed over time) and a
time-varying ``stress`` score, and three outcomes per wave:

* ``used``: any use this wave (binary),
* ``days``: days used in the past month (count, with more zeros than a
  Poisson count allows),
* ``severity``: symptom severity, ``none < mild < moderate < severe``.

Each outcome is simulated from its own mixed model with correlated random
intercepts and slopes (:func:`statsmodels_glmm.simulate_longitudinal`), for
the same persons, covariates and missed waves, so every estimate can be
compared with the value that generated the data.  All three are analysed
with

.. math::

    g(E[y_{it} \\mid b_i]) = \\beta_0 + \\beta_1 t + \\beta_2\\,\\mathrm{group}_i
        + \\beta_3\\,\\mathrm{stress}_{it} + \\beta_4\\, t\\,\\mathrm{group}_i
        + b_{0i} + b_{1i} t, \\qquad b_i \\sim N_2(0, G),

with the logit link for ``used``, the log link for ``days`` and cumulative
logits ``logit P(severity <= k | b_i) = theta_k - eta_it`` for ``severity``
(no intercept).

The job prints a text report and writes to ``--out``: ``report.txt`` (the
same text), ``report.html`` (the same report as a page: tables as HTML
tables, text in paragraphs, figures embedded), the figures as PNG files
under ``figures/`` and, when available, an interactive explorer of the
binary and a count model.  The steps follow the guards against the common pitfalls of
GLMMs: odds and rate ratios with their scale stated, the Laplace
approximation checked against adaptive quadrature (and replaced when they
disagree), conditional effects next to population-averaged ones and GEE,
Persons A/B/C on the probability scale, overdispersion and zero-inflation
checks that decide the count model, a likelihood-ratio test for the random
slope, and warnings from every fit collected in one place.

Examples
--------
>>> from statsmodels_glmm.__main__ import substance_use_panel
>>> df = substance_use_panel(n_persons=30, seed=1)
>>> list(df.columns)
['id', 'time', 'group', 'stress', 'used', 'days', 'severity']
>>> df["severity"].cat.categories.tolist()
['none', 'mild', 'moderate', 'severe']
"""

import argparse
import contextlib
import os
import sys
import time
import types
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import expit

from . import api as smg

__all__ = ["substance_use_panel", "run_example", "main", "SEVERITY_LEVELS", "FIXED"]

#: the fixed part of every model, and the random part
FIXED = "time * group + stress"
RANDOM = "(1 + time | id)"
SEVERITY_LEVELS = ["none", "mild", "moderate", "severe"]
_PROFILE = {"time": 0.0, "group": 0.0, "stress": 0.0}
_IGNORED = (FutureWarning, DeprecationWarning, PendingDeprecationWarning)


def substance_use_panel(n_persons=500, n_waves=5, seed=2024):
    """
    Simulated substance-use panel with a binary, a count and an ordinal outcome.

    The three outcomes come from three calls of
    :func:`statsmodels_glmm.simulate_longitudinal` with the same seed, which
    draws the same ``group`` and ``stress`` values for all three; the missed
    waves of the binary simulation are applied to all outcomes.  True values
    (see ``statsmodels_glmm.simulate.DEFAULTS``): ``used`` is logistic with
    fixed effects ``(-1, 0.25, 0.5, 0.4, -0.2)`` for ``(Intercept, time,
    group, stress, time:group)``; ``days`` is zero-inflated Poisson (structural
    zero probability 0.27) with ``(0.5, 0.1, 0.3, 0.2, -0.1)``; ``severity``
    is cumulative-logit with ``(0.3, 0.5, 0.4, -0.2)`` and thresholds
    ``(-1, 0.5, 2)``.

    Parameters
    ----------
    n_persons : int
        Number of persons (at least 20).
    n_waves : int
        Waves per person before missed waves are removed.
    seed : int

    Returns
    -------
    DataFrame
        Columns ``id, time, group, stress, used, days, severity``;
        ``severity`` is an ordered Categorical with levels
        :data:`SEVERITY_LEVELS`.

    Examples
    --------
    >>> df = substance_use_panel(n_persons=40, seed=3)
    >>> bool(df.groupby("id").size().max() <= 5), set(df["used"]) <= {0, 1}
    (True, True)
    """
    n_persons, n_waves = int(n_persons), int(n_waves)
    if n_persons < 20:
        raise ValueError(f"n_persons must be at least 20, got {n_persons}")
    if n_waves < 2:
        raise ValueError(f"n_waves must be at least 2, got {n_waves}")
    kw = dict(n_persons=n_persons, n_waves=n_waves, seed=seed)
    use = smg.simulate_longitudinal("binary", **kw)
    days = smg.simulate_longitudinal("zip", dropout=0.0, **kw)
    sev = smg.simulate_longitudinal("ordinal", dropout=0.0, **kw)
    rows = ((use["id"].to_numpy() - 1) * n_waves + use["time"].to_numpy()).astype(int)
    if not np.array_equal(days["stress"].to_numpy()[rows], use["stress"].to_numpy()):
        raise RuntimeError("the simulated outcomes do not share their covariates")
    severity = pd.Categorical.from_codes(sev["y"].to_numpy()[rows] - 1,
                                         categories=SEVERITY_LEVELS, ordered=True)
    return pd.DataFrame({"id": use["id"].to_numpy(), "time": use["time"].to_numpy(),
                         "group": use["group"].to_numpy(), "stress": use["stress"].to_numpy(),
                         "used": use["y"].to_numpy(), "days": days["y"].to_numpy()[rows],
                         "severity": severity})


# --------------------------------------------------------------------------- helpers

def _formats(frame, digits=4):
    """``(float_format, formatters)``: fixed point, p-value columns in 3 significant digits."""
    def fixed(v):
        return f"{v:.{digits}f}"

    pcols = None
    if isinstance(frame, pd.DataFrame):
        pcols = {c: (lambda v: "" if pd.isna(v) else f"{v:.3g}") for c in frame.columns
                 if str(c).lower().startswith(("pr(", "pvalue", "p-value"))} or None
    return fixed, pcols


def _fmt(frame, digits=4):
    """Fixed-point text of a DataFrame or Series (p-values in 3 significant digits)."""
    fixed, pcols = _formats(frame, digits)
    with pd.option_context("display.width", 200, "display.max_columns", 40):
        if isinstance(frame, pd.DataFrame):
            return frame.to_string(float_format=fixed, formatters=pcols)
        return frame.to_string(float_format=fixed)


class _Block:
    """A report block: its text (for the text report) and how it is drawn in report.html."""

    def __init__(self, text, draw):
        self.text, self._draw = text, draw

    def __str__(self):
        return self.text

    def add_to(self, page):
        self._draw(page)


class _Table:
    """A DataFrame or Series in the report: :func:`_fmt` text, an HTML table in the page."""

    def __init__(self, frame, digits=4):
        self.frame, self.digits = frame, digits

    def __str__(self):
        return _fmt(self.frame, self.digits)

    def add_to(self, page):
        fixed, pcols = _formats(self.frame, self.digits)
        page.add_table(self.frame, float_format=fixed, formatters=pcols)



def _approximation(chk):
    """The approximation check: its summary text, and its tables as HTML tables."""
    def add_to(page):
        lines = str(chk.summary()).splitlines()
        page.add_paragraphs(lines[0])
        cols = ["llf", "d_llf", "max_change_se"]
        fixed, _ = _formats(chk.table)
        page.add_table(chk.table[cols], float_format=fixed,
                       caption="Log-likelihood by nodes per dimension K (K = 1 is Laplace)")
        page.add_table(chk.table.drop(columns=cols + ["agrees"], errors="ignore"),
                       float_format=fixed, caption="Parameters")
        imp = getattr(chk, "importance", None)
        if imp is not None:
            page.add_paragraphs(f"At the fitted estimates: importance-sampling estimate of "
                                f"the exact log-likelihood {imp['llf']:.4f} (SE "
                                f"{imp['se']:.4f}); the rules give")
            page.add_table(imp["rules"], float_format=fixed)
        page.add_paragraphs(f"Verdict: {chk.verdict}")

    return _Block(chk.summary(), add_to)


class _Progress:
    """Step progress on stderr: a tqdm bar when tqdm is installed, else lines for slow steps."""

    def __init__(self, total, enabled=True):
        self.enabled = bool(enabled)
        self.bar = None
        if self.enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, file=sys.stderr, leave=False, unit="step",
                                bar_format="{desc:<46}{bar:20}| {n_fmt}/{total_fmt} "
                                           "[{elapsed}]")

    @contextlib.contextmanager
    def step(self, label, slow=False):
        t0 = time.perf_counter()
        if self.bar is not None:
            self.bar.set_description_str(label)
        elif self.enabled and slow:
            print(f"  {label} ...", file=sys.stderr, flush=True)
        yield
        if self.bar is not None:
            self.bar.update(1)
        elif self.enabled and slow:
            print(f"  {label}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.total = self.bar.n
            self.bar.refresh()
            self.bar.close()


class _Report:
    """The text report, section by section, echoed to a stream as it grows.

    Every block keeps the object it was made from, so that the HTML page can show
    tables as tables (see :func:`_write_html`).
    """

    def __init__(self, stream):
        self.stream = stream
        self.sections = []          # [title, [(text, object)], [(figure file, caption)]]

    def section(self, title):
        self.sections.append([title, [], []])
        if self.stream is not None:
            print(f"\n{title}\n{'=' * len(title)}", file=self.stream)

    def text(self, *blocks):
        for b in blocks:
            self.sections[-1][1].append((str(b), b))
            if self.stream is not None:
                print(b, file=self.stream)

    def figure(self, path, caption):
        self.sections[-1][2].append((path, caption))

    def to_text(self):
        out = []
        for title, blocks, _ in self.sections:
            out += ["", title, "=" * len(title)] + [text for text, _ in blocks]
        return "\n".join(out).lstrip("\n") + "\n"


def _optional(name, module):
    """``smg.<name>`` if the API has it, else ``statsmodels_glmm.<module>.<name>``, else None."""
    fn = getattr(smg, name, None)
    if fn is None:
        import importlib

        try:
            fn = getattr(importlib.import_module(f"statsmodels_glmm.{module}"), name, None)
        except ImportError:
            fn = None
    return fn


def _fit(model, warned, label, **kw):
    """Fit and keep the warnings the fit raised (they are reported in the pitfalls section)."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = model.fit(**kw)
    for w in rec:
        if not issubclass(w.category, _IGNORED):
            msg = " ".join(str(w.message).split())
            if (label, w.category.__name__, msg) not in warned:
                warned.append((label, w.category.__name__, msg))
    return res


# --------------------------------------------------------------------------- the example

def run_example(n_persons=500, seed=2024, out="glmm-example", plots=True, progress=True,
                stream=None):
    """
    Run the worked example end to end and write its files.

    Parameters
    ----------
    n_persons : int
        Persons in the simulated panel (at least 20).
    seed : int
        Seed of the simulation (and of the simulation-based checks).
    out : str or path
        Directory for ``report.txt``, ``report.html``, ``figures/`` and the
        explorer; created if needed.
    plots : bool
        Draw the figures (needs matplotlib; skipped with a note without it).
    progress : bool
        Show progress on stderr.
    stream : file-like, optional
        Where the text report is echoed as it is built (``None``: nowhere).

    Returns
    -------
    types.SimpleNamespace
        ``data`` (the panel), ``fits`` (dict of fitted results: ``binary``,
        ``binary_laplace``, ``binary_intercept``, ``poisson``, ``negbin``,
        ``zip``, ``zinb`` when fitted, ``count`` (the chosen count model),
        ``ordinal``), ``checks`` (approximation check, GEE comparison, Person
        table, overdispersion, zero-inflation tests, comparisons), ``text``
        (the report), ``files`` (paths written) and ``warnings``.

    Examples
    --------
    >>> import tempfile
    >>> run = run_example(n_persons=60, seed=5, out=tempfile.mkdtemp(), plots=False,
    ...                   progress=False)                                 # doctest: +SKIP
    >>> sorted(run.fits)[:2]                                              # doctest: +SKIP
    ['binary', 'binary_intercept']
    """
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)
    rep = _Report(stream)
    fits, checks, warned, files = {}, {}, [], {}
    prog = _Progress(total=14, enabled=progress)
    t_start = time.perf_counter()
    try:
        # ---------------------------------------------------------------- data
        with prog.step("Simulating the panel"):
            df = substance_use_panel(n_persons=n_persons, seed=seed)
        n_rows, n_miss = len(df), int(n_persons) * 5 - len(df)
        rep.section("Data: a substance-use panel")
        rep.text(f"{n_persons} persons x 5 waves, {n_rows} person-waves observed "
                 f"({n_miss} waves missed); seed {seed}.",
                 "Outcomes: used (any use this wave, 0/1), days (days used in the past "
                 "month), severity (none < mild < moderate < severe).",
                 "Covariates: time (wave 0-4), group (0/1, fixed per person), stress "
                 "(time-varying).",
                 f"Every model: outcome ~ {FIXED} + {RANDOM}.",
                 "", "Share using, by wave and group:",
                 _Table(df.assign(time=df["time"].astype(int), group=df["group"].astype(int))
                      .pivot_table(index="group", columns="time", values="used",
                                   aggfunc="mean", observed=True), 3))

        # ---------------------------------------------------------------- binary
        binary_model = smg.mixedglm(f"used ~ {FIXED} + {RANDOM}", df,
                                    family=sm.families.Binomial())
        with prog.step("Binary model (Laplace)"):
            res_lap = _fit(binary_model, warned, "used, Laplace")
        fits["binary_laplace"] = res_lap
        with prog.step("Laplace versus adaptive quadrature", slow=True):
            chk = res_lap.check_approximation()
        checks["approximation"] = chk
        k = chk.recommended_nagq
        if chk.settled and k is not None and k > 1:
            with prog.step(f"Binary model ({k}-node quadrature)", slow=True):
                res_bin = _fit(binary_model, warned, f"used, nagq={k}", nagq=k)
            used_rule = f"adaptive quadrature, {k} nodes"
        else:
            res_bin = res_lap
            used_rule = "Laplace"
        fits["binary"] = res_bin
        rep.section("Binary outcome: any use this wave (logistic GLMM)")
        rep.text("Laplace fit:", res_lap.summary(), "",
                 "Is the Laplace approximation good enough? Refit with adaptive Gauss-Hermite "
                 "quadrature (K nodes per random effect):", _approximation(chk), "",
                 f"Binary model used below: {used_rule}.")
        if res_bin is not res_lap:
            rep.text(res_bin.summary())
        orat = res_bin.odds_ratios()
        checks["odds_ratios"] = orat
        rep.text("", "Odds ratios (exp of the log-odds coefficients; conditional: for one "
                 "person, random effects held fixed):", _Table(orat))

        with prog.step("Random slope: likelihood-ratio test"):
            ri_model = smg.mixedglm(f"used ~ {FIXED} + (1 | id)", df,
                                    family=sm.families.Binomial())
            nagq = 1 if res_bin is res_lap else k
            kw = {} if nagq == 1 else {"nagq": nagq}
            res_ri = _fit(ri_model, warned, "used, (1 | id)", **kw)
            fits["binary_intercept"] = res_ri
            try:
                lrt = smg.compare(res_ri, res_bin, names=["(1 | id)", "(1 + time | id)"])
            except ValueError as e:
                lrt = None
                rep.text("", f"(no likelihood-ratio test of the random slope: {e})")
        checks["random_slope"] = lrt
        if lrt is not None:
            rep.text("", "Does each person need their own slope? (random intercept only versus "
                     "intercept and slope; the p-value is conservative at the boundary):",
                     _Table(lrt))

        # ---------------------------------------------------------------- marginal
        with prog.step("Conditional, marginalised and GEE effects", slow=True):
            cmp = smg.compare_gee(res_bin)
        checks["gee"] = cmp
        rep.section("Conditional versus population-averaged effects")
        rep.text("Coefficients (log-odds): conditional GLMM, GLMM averaged over the random "
                 "effects, and GEE (exchangeable, robust SE):", _Table(cmp.table))
        if cmp.ratios is not None:
            rep.text("", "As odds ratios:", _Table(cmp.ratios))

        with prog.step("Persons A, B and C"):
            tab = res_bin.probability_effects("stress", at=dict(_PROFILE), data=df)
        tab = tab.rename(index={"individual, b = -2": "Person A (b = -2)",
                                "individual, b = 0": "Person B (b = 0)",
                                "individual, b = +2": "Person C (b = +2)"})
        checks["persons"] = tab
        rep.text("", "P(use) before and after one more unit of stress, at wave 0 in group 0 "
                 "(stress 0):", _Table(tab),
                 f"Same log-odds change for everyone (+{res_bin.fe_params['stress']:.4f}, "
                 f"odds ratio {np.exp(res_bin.fe_params['stress']):.4f}); the probability "
                 "change depends on where a person starts. The population rows answer the "
                 "average question GEE answers.")

        # ---------------------------------------------------------------- counts
        rep.section("Count outcome: days used in the past month")
        count_f = f"days ~ {FIXED} + {RANDOM}"
        with prog.step("Poisson model"):
            res_p = _fit(smg.mixedglm(count_f, df, family=sm.families.Poisson()),
                         warned, "days, Poisson")
        fits["poisson"] = res_p
        od = res_p.overdispersion()
        checks["overdispersion"] = od
        overdispersed = bool(od["ratio"] > 1 and od["pvalue"] < 0.05)
        rep.text("Poisson rate ratios (exp of the log-rate coefficients):",
                 _Table(res_p.rate_ratios()), "",
                 "Overdispersion check (Pearson chi-square / residual df):", _Table(od),
                 "Verdict: " + ("more variation than a Poisson model allows; fit a negative "
                                "binomial." if overdispersed else
                                "no evidence of overdispersion; Poisson variance is adequate."))
        current = res_p
        candidates = [("Poisson", res_p)]
        if overdispersed:
            with prog.step("Negative binomial model", slow=True):
                res_nb = _fit(smg.mixedglm(count_f, df,
                                           family=smg.families.NegativeBinomial()),
                              warned, "days, NB2")
            fits["negbin"] = res_nb
            candidates.append(("NB2", res_nb))
            current = res_nb
        with prog.step("Zero-inflation test"):
            zt = current.zero_inflation_test(nsim=200, seed=seed)
        checks["zero_inflation"] = zt
        excess = bool(zt["ratio"] > 1 and zt["pvalue"] < 0.05)
        name = candidates[-1][0]
        rep.text("", f"Zero-inflation check of the {name} model (observed zeros against "
                 "200 data sets simulated from the fit):", _Table(zt),
                 "Verdict: " + ("more zeros than the model predicts; fit zero-inflated "
                                "models." if excess else "the zeros are as expected."))
        if excess:
            with prog.step("Zero-inflated models", slow=True):
                res_zip = _fit(smg.mixedglm(count_f, df, family=sm.families.Poisson(),
                                            zi_formula="~1"), warned, "days, ZIP")
                fits["zip"] = res_zip
                candidates.append(("ZIP", res_zip))
                if overdispersed:
                    res_zinb = _fit(smg.mixedglm(count_f, df,
                                                 family=smg.families.NegativeBinomial(),
                                                 zi_formula="~1"), warned, "days, ZINB")
                    fits["zinb"] = res_zinb
                    candidates.append(("ZINB", res_zinb))
        names = [c[0] for c in candidates]
        comp = smg.compare(*[c[1] for c in candidates], names=names)
        checks["count_models"] = comp
        best = names[int(np.argmin([c[1].aic for c in candidates]))]
        res_cnt = dict(candidates)[best]
        fits["count"] = res_cnt
        rep.text("", "Count models compared (same data, same package, every constant kept, "
                 "so AIC compares across families):", _Table(comp),
                 f"Chosen by AIC: {best}.", "",
                 f"{best} rate ratios (exp of the log-rate coefficients; conditional):",
                 _Table(res_cnt.rate_ratios()))
        fam = res_cnt.family_params
        extra = []
        for key in fam.index:
            if key == "alpha":
                extra.append(f"NB2 dispersion alpha = {fam[key]:.4f} (theta = 1/alpha = "
                             f"{1 / fam[key]:.4f})")
        if "inflate_Intercept" in res_cnt.params.index:
            g0 = res_cnt.params["inflate_Intercept"]
            extra.append(f"structural-zero probability expit({g0:.4f}) = {expit(g0):.4f} "
                         "(true 0.27)")
        if extra:
            rep.text(*extra)

        # ---------------------------------------------------------------- ordinal
        with prog.step("Ordinal model"):
            res_ord = _fit(smg.mixedglm(f"severity ~ {FIXED} + {RANDOM}", df,
                                        family=smg.families.Ordinal()),
                           warned, "severity, ordinal")
        fits["ordinal"] = res_ord
        rep.section("Ordinal outcome: symptom severity")
        rep.text(res_ord.summary(), "",
                 "Cumulative odds ratios (odds of a more severe category, at every cut "
                 "point; conditional):", _Table(res_ord.odds_ratios()))
        new = pd.DataFrame({"time": [0.0, 4.0, 0.0, 4.0], "group": [0.0, 0.0, 1.0, 1.0],
                            "stress": 0.0, "id": -1})
        probs = res_ord.predict(new, which="prob", random_effects="marginal")
        probs.index = ["group 0, wave 0", "group 0, wave 4", "group 1, wave 0",
                       "group 1, wave 4"]
        checks["severity_probabilities"] = probs
        rep.text("", "Population-averaged category probabilities (stress 0):", _Table(probs, 3))

        # ---------------------------------------------------------------- figures
        rep.section("Figures")
        figures = []
        if plots:
            with prog.step("Figures", slow=True):
                figures = _figures(res_bin, res_cnt, df, tab, out, seed, warned)
        for path, caption in figures:
            rep.figure(path, caption)
            files[os.path.splitext(os.path.basename(path))[0]] = path
        rep.text("\n".join(f"{os.path.relpath(p, out)}: {c}" for p, c in figures)
                 if figures else ("(figures not drawn: --no-plots)" if not plots else
                                  "(figures not drawn: matplotlib is not installed; "
                                  "pip install matplotlib)"))
        explorer = _optional("explorer", "explorer")
        if plots and explorer is not None:
            with prog.step("Interactive explorer"):
                path = os.path.join(out, "explorer.html")
                # the page draws exp(eta): the best count model without zero inflation
                page_name, page_cnt = min(((n, r) for n, r in candidates
                                           if n in ("Poisson", "NB2")), key=lambda c: c[1].aic)
                try:
                    explorer(path, [res_bin, page_cnt])
                    files["explorer"] = path
                    rep.text("explorer.html: interactive explorer of the binary model and the "
                             f"{page_name} count model")
                except Exception as e:  # optional extra: report, do not fail the example
                    rep.text(f"(explorer not written: {type(e).__name__}: {e})")

        # ---------------------------------------------------------------- pitfalls
        rep.section("Pitfall guards in this analysis")
        rep.text(_pitfalls(fits, checks, used_rule, overdispersed, excess, best, warned))
        rep.text("", f"Total time {time.perf_counter() - t_start:.1f} s.")
    finally:
        prog.close()

    text = rep.to_text()
    files["report.txt"] = os.path.join(out, "report.txt")
    with open(files["report.txt"], "w", encoding="utf-8") as fh:
        fh.write(text)
    files["report.html"] = _write_html(rep, os.path.join(out, "report.html"))
    return types.SimpleNamespace(data=df, fits=fits, checks=checks, text=text, files=files,
                                 warnings=warned)


def _figures(res_bin, res_cnt, df, persons, out, seed, warned):
    """Draw and save the figures; returns ``[(path, caption)]`` (empty without matplotlib)."""
    try:
        import matplotlib
    except ImportError:
        return []
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figdir = os.path.join(out, "figures")
    os.makedirs(figdir, exist_ok=True)
    done = []

    def save(fig, name, caption):
        path = os.path.join(figdir, name)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        done.append((path, caption))

    ids = pd.unique(df["id"])
    rng = np.random.default_rng(seed)
    show = np.sort(rng.choice(ids, size=min(25, len(ids)), replace=False)).tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _IGNORED)
        fig = smg.plot_trajectories(res_bin, "time", data=df, at={"group": 0.0, "stress": 0.0},
                                    groups=show, re_values=[])
        ax = fig.axes[0]
        first = True
        for line in ax.lines:           # persons in thin grey, one legend entry for all
            if str(line.get_label()).startswith("id "):
                line.set(color="0.55", lw=0.8, alpha=0.7,
                         label=f"{len(show)} persons (their conditional modes)" if first
                         else "_nolegend_")
                first = False
        ax.legend(fontsize=8, loc="upper left", frameon=False)
        ax.set_ylabel("P(use)")
        ax.set_xlabel("wave")
        ax.set_title("Probability of use by wave (group 0, stress 0)", fontsize=10)
        save(fig, "trajectories.png", "Individual probability trajectories (conditional "
             "modes of 25 persons), the typical person and the population average with "
             "its 95% band")
        fig = smg.plot_effects(persons, res_bin, data=df)
        save(fig, "effects.png", "P(use) before and after one more unit of stress: Persons "
             "A, B, C and the population, with 95% intervals")
        plot_re = _optional("plot_random_effects", "plotting")
        if plot_re is not None:
            save(plot_re(res_bin), "random_effects.png",
                 "Conditional modes of each person's intercept and slope with 95% intervals")
        if hasattr(res_cnt, "simulated_residuals"):
            for label, res in (("binary", res_bin), ("count", res_cnt)):
                sr = res.simulated_residuals(nsim=250, seed=seed)
                if hasattr(sr, "plot"):
                    save(sr.plot(), f"residuals_{label}.png",
                         f"Simulation-based quantile residuals of the {label} model "
                         "(uniform if the model is right)")
    return done


def _pitfalls(fits, checks, used_rule, overdispersed, excess, best, warned):
    """One line per common pitfall: the guard used here and what it showed."""
    b = fits["binary"]
    cmp = checks["gee"]
    persons = checks["persons"]
    chk = checks["approximation"]
    lrt = checks["random_slope"]
    time_or = np.exp(b.fe_params["time"])
    gee_or = np.exp(cmp.table.loc["time", "gee"])
    rows = [
        ("Wrong-scale interpretation", "res.odds_ratios(), res.rate_ratios()",
         f"odds ratio for time {time_or:.4f} per wave, per person"),
        ("Conditional read as marginal", "smg.compare_gee(res)",
         f"time: conditional OR {time_or:.4f}, GEE OR {gee_or:.4f}"),
        ("Laplace trusted blindly", "res.check_approximation()", chk.verdict.split(":")[0]
         + f" -> binary model fitted with {used_rule}"),
        ("Ignoring overdispersion", "res.overdispersion()",
         f"Poisson ratio {checks['overdispersion']['ratio']:.4f} -> "
         + ("negative binomial fitted" if overdispersed else "Poisson kept")),
        ("Ignoring excess zeros", "res.zero_inflation_test()",
         f"observed / expected zeros {checks['zero_inflation']['ratio']:.4f} -> "
         + ("zero-inflated models fitted" if excess else "no zero inflation")
         + f"; chosen: {best}"),
        ("Over-specified random effects", "res.is_singular, smg.compare(simpler, res)",
         ("singular fit" if b.is_singular else "not singular")
         + ("" if lrt is None else
            f"; random slope LR p = {lrt['Pr(>Chisq)'].iloc[-1]:.3g}")),
        ("Odds ratio read as a probability ratio", "res.probability_effects()",
         "stress +1: P(use) change "
         + ", ".join(f"{v:+.4f}" for v in persons["difference"].iloc[:3])
         + " for Persons A, B, C"),
        ("AIC across packages or families", "smg.compare(...)",
         "all count models fitted here, every normalising constant kept"),
        ("Ordinal outcome as continuous", "smg.families.Ordinal()",
         "severity modelled by cumulative logits"),
        ("OLRE added to a binary model", "res.overdispersion() refuses binary fits",
         "Bernoulli variance is fixed by the mean; not applicable"),
        ("No predicted-probability plots", "smg.plot_trajectories(), smg.plot_effects()",
         "figures/ and report.html"),
        ("Non-convergence, separation", "res.converged, fit warnings",
         ", ".join(f"{k}: {'yes' if r.converged else 'NO'}" for k, r in
                   (("used", b), ("days", fits["count"]), ("severity", fits["ordinal"])))),
    ]
    tab = pd.DataFrame(rows, columns=["pitfall", "guard", "here"]).set_index("pitfall")
    with pd.option_context("display.max_colwidth", 200, "display.width", 250):
        text = tab.to_string()
    if warned:
        items = [f"[{label}] {cat}: {msg}" for label, cat, msg in warned]
        text += "\n\nWarnings raised by the fits:\n" + "\n".join(f"  {i}" for i in items)
    else:
        text += "\n\nNo fit raised a warning."

    def add_to(page):
        page.add_table(tab, text=True)
        if warned:
            page.add_paragraphs("Warnings raised by the fits:")
            page.add_list(items)
        else:
            page.add_paragraphs("No fit raised a warning.")

    return _Block(text, add_to)


def _write_html(rep, path):
    """The report as a page: tables as HTML tables, text as wrapping paragraphs, figures inline."""
    from .output.report import HTMLReport

    page = HTMLReport("statsmodels-glmm worked example: substance use over five waves")
    for title, blocks, figs in rep.sections:
        page.add_heading(title)
        for text, obj in blocks:
            if hasattr(obj, "add_to"):
                obj.add_to(page)
            elif hasattr(obj, "as_html"):
                page.add_summary(obj)
            else:
                page.add_paragraphs(text)
        for fpath, caption in figs:
            page.add_image(fpath, caption=caption)
    return page.write(path)


# --------------------------------------------------------------------------- command line

def _parser():
    p = argparse.ArgumentParser(
        prog="statsmodels-glmm",
        description="Worked example: binary, count and ordinal mixed models of a simulated "
                    "substance-use panel, with every check, a text and an HTML report.")
    p.add_argument("--n-persons", type=int, default=500,
                   help="persons in the simulated panel (default 500, at least 20)")
    p.add_argument("--seed", type=int, default=2024, help="simulation seed (default 2024)")
    p.add_argument("--out", default="glmm-example",
                   help="output directory (default ./glmm-example)")
    p.add_argument("--no-plots", action="store_true",
                   help="skip figures and the explorer (no matplotlib needed)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    return p


def main(argv=None):
    """
    Command-line entry point: run :func:`run_example` and print the report.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``): ``--n-persons``, ``--seed``,
        ``--out``, ``--no-plots``, ``--quiet``.

    Returns
    -------
    int
        Exit code 0.

    Examples
    --------
    >>> main(["--help"])                                   # doctest: +SKIP
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.n_persons < 20:
        parser.error(f"--n-persons must be at least 20, got {args.n_persons}")
    run = run_example(n_persons=args.n_persons, seed=args.seed, out=args.out,
                      plots=not args.no_plots, progress=not args.quiet, stream=sys.stdout)
    print(f"\nWrote {len(run.files)} files to {os.path.abspath(args.out)}: "
          + ", ".join(sorted(os.path.relpath(p, args.out) for p in run.files.values())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
