"""
What works with what: model kinds x random-effects structures x fits x results methods.

This module is the one definition of the capability matrix.  ``tests/test_capabilities.py``
fits every model kind with every random-effects structure and checks every method of the
results against the outcome given here (a number checked by an identity or an independent
computation, or a refusal whose message is matched); ``docs/conf.py`` renders the table of
``docs/capabilities.md`` from it with :func:`table_markdown`.  It imports nothing from the
package.

An outcome is :data:`WORKS` or a :class:`Refuses` (exception type, a regular expression
its message matches, and what to use instead).  :data:`PENDING` lists cells whose behaviour
is the one given here but which do not behave so yet: their tests fail until the code is
fixed, and then until the entry is removed, so the table never claims more than the tests
show.
"""

from collections import namedtuple

__all__ = ["KINDS", "STRUCTURES", "FITS", "METHODS", "GROUPS", "WORKS", "Refuses", "PENDING",
           "DASK_NEEDS_ROWS", "DASK_REPRESENTATIVE", "DASK_EXPENSIVE", "BAYES_STRUCTURES",
           "REPRESENTATIVE", "FIT_WARNINGS", "expected", "cells", "table_markdown"]

#: Model kinds: response column(s) of the test data, family (as written by a user; ``sm``
#: is ``statsmodels.api``, ``smg`` is ``statsmodels_glmm.api``) and extra model keywords.
KINDS = {
    "logit": dict(label="binary, logit", response="yb", family="sm.families.Binomial()",
                  options={}, link="logit"),
    "probit": dict(label="binary, probit", response="yb",
                   family="sm.families.Binomial(sm.families.links.Probit())", options={},
                   link="probit"),
    "cloglog": dict(label="binary, cloglog", response="yb",
                    family="sm.families.Binomial(sm.families.links.CLogLog())", options={},
                    link="cloglog"),
    "binomial": dict(label="binomial with trials", response="s + f",
                     family="sm.families.Binomial()", options={}, link="logit"),
    "poisson": dict(label="Poisson with offset", response="yp",
                    family="sm.families.Poisson()", options={"offset": "logt"}, link="log"),
    "nb2": dict(label="negative binomial NB2", response="ynb",
                family="smg.families.NegativeBinomial()", options={}, link="log"),
    "nb1": dict(label="negative binomial NB1", response="ynb",
                family="smg.families.NegativeBinomial(p=1)", options={}, link="log"),
    "zip": dict(label="zero-inflated Poisson", response="yzi",
                family="sm.families.Poisson()", options={"zi_formula": "~1"}, link="log"),
    "zinb": dict(label="zero-inflated NB2", response="yzi",
                 family="smg.families.NegativeBinomial()", options={"zi_formula": "~1"},
                 link="log"),
    "ordinal": dict(label="ordinal (cumulative logit)", response="yo",
                    family="smg.families.Ordinal()", options={}, link="logit"),
    "gaussian": dict(label="Gaussian", response="yg", family="sm.families.Gaussian()",
                     options={}, link="identity"),
}

#: Random-effects structures: the bar terms after ``~ x + ``, and the grouping factors.
STRUCTURES = {
    "ri": dict(label="random intercept", terms="(1 | g)", factors=("g",)),
    "slope": dict(label="correlated slope", terms="(1 + x | g)", factors=("g",)),
    "uncorr": dict(label="uncorrelated slope", terms="(1 + x || g)", factors=("g",)),
    "nested": dict(label="nested factors", terms="(1 | g/p)", factors=("g", "g:p")),
    "crossed": dict(label="crossed factors", terms="(1 | g) + (1 | h)", factors=("g", "h")),
    "olre": dict(label="observation-level effect", terms="(1 | g) + (1 | obs)",
                 factors=("g", "obs")),
}

#: Fits: ``nagq`` of ``fit()``; ``dask`` is the Laplace fit of the same rows given as a Dask
#: DataFrame (three partitions), whose methods are checked against the in-memory fit.
FITS = {"laplace": 1, "agq": 5, "dask": 1}

#: Results methods: the call a cell makes (as shown in the docs), its column group, whether
#: it is expensive (run on :data:`REPRESENTATIVE` rows by default, elsewhere marked slow)
#: and whether it is also checked on adaptive-quadrature fits.
_M = namedtuple("Method", "call group expensive agq")
METHODS = {
    "fit": _M("mixedglm(...).fit(nagq=...)", "fit", False, True),
    "summary": _M("summary(), summary2()", "summary", False, True),
    "predict_conditional": _M("predict(random_effects='conditional')", "predict", False, True),
    "predict_zero": _M("predict(random_effects='zero')", "predict", False, False),
    "predict_marginal": _M("predict(random_effects='marginal')", "predict", False, True),
    "predict_which": _M("predict(which=...), every family option", "predict", False, False),
    "predict_unseen": _M("predict(new data with unseen levels)", "predict", False, False),
    "get_prediction_conditional": _M("get_prediction(random_effects='conditional')",
                                     "get_prediction", False, True),
    "get_prediction_zero": _M("get_prediction(random_effects='zero')", "get_prediction",
                              False, False),
    "get_prediction_marginal": _M("get_prediction(random_effects='marginal')",
                                  "get_prediction", False, False),
    "wald_tests": _M("t_test(), wald_test()", "intervals", False, False),
    "conf_int_wald": _M("conf_int()", "intervals", False, True),
    "cov_cluster": _M("fit(cov_type='cluster')", "intervals", True, True),
    "conf_int_profile": _M("conf_int(method='profile')", "intervals", True, False),
    "conf_int_boot": _M("conf_int(method='boot')", "intervals", True, False),
    "profile": _M("profile()", "intervals", True, False),
    "bootstrap": _M("bootstrap()", "intervals", True, False),
    "simulate_conditional": _M("simulate(random_effects='conditional')", "simulate", False,
                               True),
    "simulate_zero": _M("simulate(random_effects='zero')", "simulate", False, False),
    "simulate_new": _M("simulate(random_effects='new')", "simulate", False, False),
    "compare_lr_test": _M("compare_lr_test(restricted)", "LR test, compare", False, True),
    "compare": _M("smg.compare(res, restricted), info_criteria()", "LR test, compare", False,
                  False),
    "simulated_residuals": _M("simulated_residuals() and its tests", "simulated residuals",
                              False, False),
    "icc": _M("icc()", "ICC, R2", False, False),
    "r2": _M("r2()", "ICC, R2", False, False),
    "random_effects": _M("random_effects, random_effects_cov, random_effects_frame()",
                         "random effects", False, True),
    "plot_random_effects": _M("smg.plot_random_effects(res)", "random effects", False, False),
    "marginal_params": _M("marginal_params()", "population-averaged", False, False),
    "probability_effects": _M("probability_effects()", "population-averaged", False, False),
    "plot_effects": _M("smg.plot_effects(effects, res)", "population-averaged", False, False),
    "compare_gee": _M("smg.compare_gee(res)", "GEE", False, False),
    "odds_ratios": _M("odds_ratios()", "odds / rate ratios", False, False),
    "fit_bayes": _M("model.fit_bayes(draws, tune, chains)", "Bayesian", True, False),
    "tipping_point": _M("tipping_point(term, deltas, m)", "missing data", True, False),
    "pattern_mixture": _M("pattern_mixture(time, term)", "missing data", True, False),
    "pickle": _M("pickle round trip, remove_data()", "pickle", False, True),
}

#: Structures whose rows have a ``fit_bayes`` cell (a sampler run is compiled per model:
#: the other structures are covered by ``tests/bayes``); its cells run only with ``-m slow``.
BAYES_STRUCTURES = ("ri", "slope", "crossed")

#: Column groups of the docs table, in order.
GROUPS = list(dict.fromkeys(m.group for m in METHODS.values()))

#: Rows whose expensive methods (profile, bootstrap) run in the default test run.
REPRESENTATIVE = {("logit", "ri"), ("poisson", "crossed"), ("nb2", "ri"),
                  ("ordinal", "nested"), ("gaussian", "uncorr"), ("binomial", "olre"),
                  ("zip", "ri")}

#: Rows whose Dask cells run in the default test run (the expensive ones on the first row
#: only); elsewhere only the Dask fit cell does, and the rest are marked slow.
DASK_REPRESENTATIVE = {("logit", "ri"), ("zip", "ri"), ("binomial", "nested"),
                       ("gaussian", "uncorr")}
#: The only rows with Dask cells for the expensive methods (profiles): every evaluation is a
#: round trip to the cluster, and the profiling code is the same for every model kind.
DASK_EXPENSIVE = {("logit", "ri"), ("binomial", "nested")}


class Refuses(namedtuple("Refuses", "error match advice")):
    """A refusal: exception name, regular expression of its message, what to use instead."""

    __slots__ = ()


WORKS = "works"

_AGQ_MULTI = Refuses("ValueError", r"needs a single grouping factor.*nagq=1",
                     "adaptive quadrature needs a single grouping factor: use the Laplace "
                     "approximation (nagq=1)")
_GAUSSIAN_OLRE = Refuses("ValueError", r"one level per observation: with a Gaussian response",
                         "with a Gaussian response an observation-level effect cannot be told "
                         "from the residual variance: remove the term")
_ORDINAL_MARGINAL = Refuses("ValueError", r"Ordinal",
                            "an ordinal mean is not the inverse link of a linear predictor: use "
                            "get_prediction(random_effects='marginal', which='prob')")
_DASK_ADVICE = ("the rows of a Dask model stay on the cluster: fit the rows in a pandas "
                "DataFrame (or a sample of them) for this")
#: Methods that need every fitted row, refused for a model fitted to a Dask DataFrame.
DASK_NEEDS_ROWS = {"conf_int_boot", "bootstrap", "simulate_conditional", "simulate_zero",
                   "simulate_new", "simulated_residuals", "icc", "r2", "marginal_params",
                   "probability_effects", "plot_effects", "compare_gee"}
_DASK_ROWS = Refuses("NotImplementedError", r"Dask model|stay on the cluster", _DASK_ADVICE)
_DASK_CONDITIONAL_SE = Refuses(
    "NotImplementedError", r"random_effects='conditional'.*Dask",
    "standard errors of conditional predictions differentiate the conditional modes, which "
    "needs every fitted row: on a Dask model use random_effects='zero' or 'marginal', or "
    "predict() for conditional means without standard errors")
_DASK_CROSSED = Refuses("NotImplementedError", r"are crossed",
                        "crossed grouping factors need all rows in one place: fit a pandas "
                        "DataFrame (factors nested in one outermost factor work on Dask)")
_DASK_FAMILY = Refuses("NotImplementedError", r"not available for Dask",
                       "the ordinal family reads the raw response: fit a pandas DataFrame")
_SANDWICH_CROSSED = Refuses("NotImplementedError", r"independent clusters",
                            "crossed factors do not split the log-likelihood into independent "
                            "clusters: no sandwich; use the model-based or bootstrap intervals")
_DASK_SANDWICH = Refuses("NotImplementedError", r"cov_type=.*Dask",
                         "the sandwich needs each group's score, which stays on the workers: "
                         "fit the rows in a pandas DataFrame for cluster-robust errors")
_MISSING_MULTI = Refuses("NotImplementedError", r"one grouping factor",
                         "imputing missing outcomes draws each person's random effects: the "
                         "model must have one grouping factor (the person)")
_MISSING_TRIALS = Refuses("NotImplementedError", r"not a plain column|binary outcomes",
                          "drawn outcomes are written into one outcome column: code a binary "
                          "outcome as one 0/1 row per trial")
_MISSING_DASK = Refuses("NotImplementedError", r"does not run on a Dask fit",
                        "the refits to completed data need the rows in memory: fit a pandas "
                        "DataFrame")
_BAYES_DASK = Refuses("NotImplementedError", r"fit_bayes.*Dask DataFrame",
                      "the sampler needs every row in memory: fit the rows as a pandas "
                      "DataFrame")
_GEE_CROSSED = Refuses("ValueError", r"crossed",
                       "crossed factors give no nested clusters for a GEE: use "
                       "marginal_params() for population-averaged coefficients")


#: Rows whose fit works with a warning: ``(kind, structure) -> (regular expression, note)``.
FIT_WARNINGS = {
    (kind, "olre"): ("one level per observation; with a binary response",
                     "fits, with a warning: on a 0/1 response an observation-level effect is "
                     "not identified as overdispersion")
    for kind in ("logit", "probit", "cloglog")
}


def expected(kind, structure, fit, method):
    """
    The outcome of one cell: :data:`WORKS` or a :class:`Refuses`; None when the cell is not
    part of the matrix (a method not checked on adaptive-quadrature fits, a profile on a
    Dask fit outside :data:`DASK_EXPENSIVE`, or a row whose model is refused, beyond its
    ``fit`` cell).
    """
    row_refusal = _GAUSSIAN_OLRE if (kind, structure) == ("gaussian", "olre") else None
    if fit == "dask" and kind == "ordinal":
        row_refusal = _DASK_FAMILY
    elif fit == "dask" and structure in ("crossed", "olre"):
        row_refusal = _DASK_CROSSED
    if fit == "agq" and len(STRUCTURES[structure]["factors"]) > 1 and row_refusal is None:
        row_refusal = _AGQ_MULTI
    if row_refusal is not None:
        return row_refusal if method == "fit" else None
    if fit == "agq" and not METHODS[method].agq:
        return None
    if fit == "dask" and method in DASK_NEEDS_ROWS:
        return _DASK_ROWS
    if fit == "dask" and method == "get_prediction_conditional":
        return _DASK_CONDITIONAL_SE
    if method == "fit_bayes":
        if fit == "dask":
            return _BAYES_DASK
        if structure not in BAYES_STRUCTURES:
            return None
    if method in ("tipping_point", "pattern_mixture"):
        if fit == "dask":
            return _MISSING_DASK
        if len(STRUCTURES[structure]["factors"]) > 1:
            return _MISSING_MULTI
        if kind == "binomial":
            return _MISSING_TRIALS
    if fit == "dask" and method == "cov_cluster":
        return _DASK_SANDWICH
    if fit == "dask" and METHODS[method].expensive and (kind, structure) not in DASK_EXPENSIVE:
        return None  # the same profiling code on every row; one evaluation per round trip
    if method == "cov_cluster" and structure == "crossed":
        return _SANDWICH_CROSSED
    if kind == "ordinal" and method in ("marginal_params", "compare_gee"):
        return _ORDINAL_MARGINAL
    if method == "compare_gee" and structure == "crossed":
        return _GEE_CROSSED
    return WORKS


def cells():
    """Every cell of the matrix: ``(kind, structure, fit, method, outcome, expensive)``."""
    for kind in KINDS:
        for structure in STRUCTURES:
            for fit in FITS:
                for method, spec in METHODS.items():
                    out = expected(kind, structure, fit, method)
                    if out is not None:
                        yield kind, structure, fit, method, out, spec.expensive


#: Cells that do not behave as :func:`expected` says yet, with what goes wrong and where
#: the fix belongs.  Their tests fail until the code is fixed and the entry removed.
PENDING = {}


def _pending(rows, methods, why, fits=("laplace",)):
    for row in rows.split():
        kind, structure = row.split("-")
        for fit in fits:
            for method in methods.split():
                PENDING[(kind, structure, fit, method)] = why


# ------------------------------------------------------------------ docs table
def _cell_text(kind, structure, methods, notes, fits=tuple(FITS)):
    """
    One table cell: ``yes``, ``no [k]`` or ``partly: no [k]`` (footnote ``k`` says what to
    use instead), ``-`` when the row's model is refused; a dagger for pending cells.
    """
    outs = [(fit, m, expected(kind, structure, fit, m)) for fit in fits for m in methods]
    outs = [(fit, m, o) for fit, m, o in outs if o is not None]
    if not outs:
        return "-"
    refs = []
    for _, _, o in outs:
        if isinstance(o, Refuses):
            k = notes.setdefault(o.advice, len(notes) + 1)
            if f"no [{k}]" not in refs:
                refs.append(f"no [{k}]")
    n_refused = sum(isinstance(o, Refuses) for _, _, o in outs)
    if not refs:
        text = "yes"
    elif n_refused < len(outs):
        text = "partly: " + ", ".join(refs)
    else:
        text = ", ".join(refs)
    if any((kind, structure, fit, m) in PENDING for fit, m, _ in outs):
        text += " &dagger;"
    return text


def table_markdown():
    """
    The "What works with what" table (MyST Markdown), generated from the matrix.

    Rows are model kind x random-effects structure, columns the method groups (the fit
    column has the Laplace approximation, adaptive quadrature and a Dask DataFrame apart,
    and the last column has every other method on a model fitted to a Dask DataFrame); a
    cell says
    ``yes`` when every method of its group works for that row, ``no [k]`` (footnote ``k``:
    what to use instead) when they are refused, ``partly`` when some are.  A dagger marks
    cells whose test fails at present.
    """
    notes = {}
    groups = {g: [m for m, s in METHODS.items() if s.group == g] for g in GROUPS}
    head = ["model", "random effects"] + GROUPS + ["methods on Dask"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for kind, kspec in KINDS.items():
        for structure, sspec in STRUCTURES.items():
            row = [kspec["label"], f"`{sspec['terms']}`".replace("|", "\\|")]
            for g in GROUPS:
                if g == "fit":
                    lap = _cell_text(kind, structure, ["fit"], notes, ("laplace",))
                    agq = _cell_text(kind, structure, ["fit"], notes, ("agq",))
                    dask = _cell_text(kind, structure, ["fit"], notes, ("dask",))
                    if (kind, structure) in FIT_WARNINGS:
                        k = notes.setdefault(FIT_WARNINGS[kind, structure][1], len(notes) + 1)
                        lap += f" [{k}]"
                    row.append(f"Laplace: {lap}; AGQ: {agq}; Dask: {dask}")
                else:
                    row.append(_cell_text(kind, structure, groups[g], notes, ("laplace",)))
            methods = [m for m in METHODS if m != "fit"]
            row.append(_cell_text(kind, structure, methods, notes, ("dask",))
                       if expected(kind, structure, "dask", "fit") == WORKS else "-")
            lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for advice, k in notes.items():
        lines.append(f"[{k}] {advice}  ")
    lines += ["", "The model kinds (`x` a covariate varying within groups):", "",
              "| model | formula | family | options |", "|---|---|---|---|"]
    for spec in KINDS.values():
        opts = ", ".join(f"`{k}={v!r}`" for k, v in spec["options"].items())
        lines.append(f"| {spec['label']} | `{spec['response']} ~ x + <random effects>` | "
                     f"`{spec['family']}` | {opts} |")
    lines += ["", "The calls behind each column:", "", "| column | calls |", "|---|---|"]
    for g in GROUPS:
        calls = "; ".join(f"`{METHODS[m].call}`" for m in groups[g])
        lines.append(f"| {g} | {calls} |")
    lines.append("| methods on Dask | every call above, on a model fitted to a Dask DataFrame |")
    if PENDING:
        lines += ["", "&dagger; Cells whose test fails at present, by cause:", ""]
        causes = {}
        for (kind, structure, fit, method), why in PENDING.items():
            cells_ = causes.setdefault(why, {})
            cells_.setdefault(METHODS[method].call, []).append(
                f"{KINDS[kind]['label']} with {STRUCTURES[structure]['label']}"
                + {"agq": " (AGQ)", "dask": " (Dask)"}.get(fit, ""))
        for why, by_call in causes.items():
            what = "; ".join(f"`{call}` for {', '.join(rows)}" for call, rows in by_call.items())
            lines.append(f"- {what}: {why}.")
    return "\n".join(lines) + "\n"
