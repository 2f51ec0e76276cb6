r"""
An interactive, self-contained HTML page that shows what the random effects of a
GLMM do to individual and average trajectories.

The page simulates people from the model

.. math::

    \eta_{it} = (\beta_0 + b_{0i}) + (\beta_1 + b_{1i})\,t, \qquad
    (b_{0i}, b_{1i}) \sim N_2\!\left(0, \begin{pmatrix} \sigma_0^2 & \rho\sigma_0\sigma_1 \\
    \rho\sigma_0\sigma_1 & \sigma_1^2 \end{pmatrix}\right),

with mean :math:`\mu_{it} = h(\eta_{it})`, where :math:`h` is the inverse
logit (binary outcome, a probability) or the exponential (count outcome, an
expected count).  It draws every person's curve :math:`h(\eta_{it})` in gray
and two summaries in colour:

* the *conditional* curve of the average person, :math:`h(\beta_0 + \beta_1 t)`
  (random effects set to zero);
* the *marginal* (population-averaged) curve, the mean of all individual curves,
  :math:`E_b[h(\eta_{it})] = \int h(\beta_0 + \beta_1 t + s_t z)\,\phi(z)\,dz`
  with :math:`s_t^2 = \sigma_0^2 + 2\rho\sigma_0\sigma_1 t + \sigma_1^2 t^2`,
  computed by quadrature in :math:`z` (in closed form,
  :math:`\exp(\beta_0 + \beta_1 t + s_t^2/2)`, for the log link).

On the link scale the two coincide (the mean of a linear predictor is the
linear predictor at the mean); on the response scale :math:`h` is nonlinear,
so they differ, and the gap grows with the random-effect variance.

The random draws :math:`z_i` come from a seeded generator in the page and are
rescaled, :math:`b_i = L z_i` with :math:`L` the Cholesky factor of the
covariance, so a person keeps the same position in the distribution while the
sliders move the parameters.

The page has no external resources: the JavaScript and the SVG drawing are
inline, so it works offline and can be sent as one file.
"""

import json
import os

import numpy as np

__all__ = ["explorer"]

_TIME_NAMES = ("time", "wave", "visit", "week", "weeks", "month", "months", "year", "years",
               "day", "days", "occasion", "period", "age", "t")

_DEFAULTS = {
    "binary": {"b0": -1.0, "b1": 0.25, "sd0": 1.0, "sd1": 0.5, "rho": -0.3},
    "count": {"b0": 0.5, "b1": 0.1, "sd0": 0.6, "sd1": 0.15, "rho": -0.3},
}

_RANGES = {  # slider min, max, step
    "b0": [-4.0, 4.0, 0.05],
    "b1": [-1.5, 1.5, 0.01],
    "sd0": [0.0, 3.0, 0.05],
    "sd1": [0.0, 1.5, 0.01],
    "rho": [-0.95, 0.95, 0.01],
    "n": [5, 200, 1],
    "waves": [2, 12, 1],
}


def _outcome_of(res):
    resp = res.model.response
    link = getattr(resp, "link_name", None)
    kind = type(resp).__name__
    if kind == "Binomial" and link == "logit":
        return "binary"
    if link == "log" and "ZeroInflated" not in kind and kind != "Ordinal":
        return "count"
    raise ValueError(f"results: the explorer draws binary logit and count log-link models; "
                     f"this model is {resp!r}")


def _from_results(res, time):
    """Starting values, time axis and labels from a fitted MixedGLMResults."""
    res = getattr(res, "_results", res)
    if not hasattr(res, "fe_params") or not hasattr(res, "re_sd"):
        raise ValueError("results must be a fitted MixedGLMResults")
    outcome = _outcome_of(res)
    if getattr(res.model, "multi", False):
        raise ValueError("results: the explorer draws models with one grouping factor; "
                         "this model has several")
    d = res.model.design
    fe = res.fe_params
    re_names = list(d.re_names)
    if "Intercept" not in re_names or "Intercept" not in fe.index:
        raise ValueError("results: the model needs a fixed and a random intercept")
    slopes = [n for n in re_names if n != "Intercept"]
    if time is None:
        if len(slopes) == 1 and slopes[0] in fe.index:
            time = slopes[0]
        else:
            found = [n for n in _TIME_NAMES if n in fe.index]
            if not found:
                raise ValueError("time: no time-like covariate found among the fixed effects "
                                 f"{list(fe.index)}; pass time='column'")
            time = found[0]
    if time not in fe.index:
        raise ValueError(f"time {time!r} is not a fixed effect of the model "
                         f"({list(fe.index)})")
    sd = res.re_sd
    corr = res.re_corr
    start = {"b0": float(fe["Intercept"]), "b1": float(fe[time]),
             "sd0": float(sd["Intercept"]),
             "sd1": float(sd[time]) if time in re_names else 0.0,
             "rho": float(corr.loc["Intercept", time]) if time in re_names else 0.0}
    # the time axis: observed range of the time column, spaced by waves
    t0, dt, waves = 0.0, 1.0, 5
    data = d.extra.get("spec_data")
    if data is not None and time in getattr(data, "columns", []):
        import pandas as pd

        vals = pd.to_numeric(data[time], errors="coerce").dropna().to_numpy(dtype=float)
        if vals.size:
            lo, hi = float(vals.min()), float(vals.max())
            nuniq = np.unique(vals).size
            waves = int(np.clip(nuniq if nuniq <= 12 else 7, 2, 12))
            t0 = lo
            dt = (hi - lo) / (waves - 1) if hi > lo else 1.0
    n = int(np.clip(len(d.group_labels), _RANGES["n"][0], 100))
    formula = getattr(res.model, "formula", None)
    if isinstance(formula, str) and formula.strip():
        formula = " ".join(formula.split())
    else:
        re_expr = " + ".join("1" if r == "Intercept" else r for r in re_names)
        formula = f"{d.endog_name} ~ ... + ({re_expr} | {d.group_name})"
    note = (f"Starting values: estimates of {formula} ({res.model.response.name}) fitted to "
            f"{len(d.group_labels)} groups; other covariates at 0 (reference levels).")
    return outcome, start, {"t0": t0, "dt": dt, "waves": waves, "n": n,
                            "time_name": time, "note": note}


#: readout text when the marginal mean exceeds every drawn person's curve ({n}: persons drawn)
_PULLED_UP = ("The marginal curve lies above every one of the {n} drawn persons: the mean over "
              "the whole population is pulled up by persons with large random effects, who "
              "are rare and so outside this small sample (draw more persons to see some).")


def _ranges_with(params):
    """Slider ranges widened to contain the starting values of every outcome."""
    r = {k: list(v) for k, v in _RANGES.items()}
    for start in params.values():
        for k, v in start.items():
            lo, hi, _ = r[k]
            if k == "rho":
                if abs(v) > hi:
                    r[k] = [-1.0, 1.0, 0.01]
                continue
            if v < lo:
                r[k][0] = float(np.floor(v - 0.5))
            if v > hi:
                r[k][1] = float(np.ceil(v + 0.5))
    return r


def explorer(path, results=None, time=None, outcome="binary", seed=1, title=None):
    """
    Write an interactive HTML explorer of individual and average GLMM trajectories.

    One self-contained file (inline JavaScript and SVG, no network access) with
    sliders for the fixed intercept and slope, the random-intercept and
    random-slope standard deviations and their correlation, the number of
    persons and of waves; toggles between a binary (logit) and a count (log)
    outcome and between the response and the link scale.  Gray lines are
    simulated individual trajectories; the marginal curve (mean of all
    individual curves) and the conditional curve (the person with ``b = 0``)
    are drawn in colour.  When the marginal curve lies above every drawn
    person's curve (few persons and a large SD, above all for counts), the
    readout says that the population mean is pulled up by persons with large
    random effects outside the drawn sample.  See the module docstring for
    the formulas.

    Parameters
    ----------
    path : str or path-like
        File to write (``.html``).
    results : MixedGLMResults or list of them, optional
        A fit with a random intercept (and optionally a random slope on a
        time-like covariate) and a logit (binomial) or log (count) link; the
        sliders start at its estimates (other covariates at zero), the time
        axis spans the observed range of the time covariate, and the number of
        persons starts at the number of groups (at most 100).  A list may give
        one binary and one count fit: each outcome's sliders start at its own
        fit, and the note under the sliders names the formula of the fit
        shown; the first fit sets the starting outcome and the time axis.
    time : str, optional
        Name of the time covariate in ``results``; default the random-slope
        column, else the first fixed effect with a time-like name.
    outcome : {"binary", "count"}
        Starting outcome when no results are given.
    seed : int
        Seed of the page's random draws of the persons.
    title : str, optional
        Page title.

    Returns
    -------
    str
        The path written.

    Examples
    --------
    >>> import os, tempfile
    >>> from statsmodels_glmm.output.explorer import explorer
    >>> out = explorer(os.path.join(tempfile.mkdtemp(), "explorer.html"))
    >>> html = open(out, encoding="utf-8").read()
    >>> "<svg" in html and "http://" not in html.replace("http://www.w3.org", "")
    True
    """
    if outcome not in ("binary", "count"):
        raise ValueError(f"outcome must be 'binary' or 'count', got {outcome!r}")
    if not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2 ** 32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    params = {k: dict(v) for k, v in _DEFAULTS.items()}
    axis = {"t0": 0.0, "dt": 1.0, "waves": 5, "n": 50, "time_name": "time"}
    default = "Default values: a simulated panel like the ones in the documentation."
    notes = {k: default for k in _DEFAULTS}
    fits = [] if results is None else (list(results) if isinstance(results, (list, tuple))
                                       else [results])
    if results is not None and not 1 <= len(fits) <= 2:
        raise ValueError("results must be one fit or a list of at most two (one binary and "
                         f"one count model), got {len(fits)}")
    for i, fit in enumerate(fits):
        kind, start, ax = _from_results(fit, time)
        if kind in [k for k, v in notes.items() if v != default]:
            raise ValueError(f"results: two fits for the {kind} outcome; give at most one "
                             "binary and one count model")
        params[kind] = start
        notes[kind] = ax.pop("note")
        if i == 0:  # the first fit sets the starting outcome and the time axis
            outcome, axis = kind, ax
    if fits:
        for kind in notes:
            if notes[kind] == default:
                notes[kind] = (f"Default values (no {kind} model was given): a simulated "
                               "panel like the ones in the documentation.")
    elif time is not None:
        axis["time_name"] = str(time)
    ranges = _ranges_with(params)
    # trapezoid rule in z on [-9, 9]: for the normal-weighted, analytic integrands
    # here it converges geometrically and, unlike a fixed Gauss-Hermite rule, stays
    # accurate when s_t is large (a logistic curve steep in z)
    z = np.linspace(-9.0, 9.0, 801)
    w = np.exp(-0.5 * z**2)
    w /= w.sum()
    config = {
        "outcome": outcome, "scale": "response", "params": params, "ranges": ranges,
        "n": axis["n"], "waves": axis["waves"], "t0": axis["t0"], "dt": axis["dt"],
        "timeName": axis["time_name"], "notes": notes, "seed": int(seed),
        "maxPersons": int(ranges["n"][1]),
        "quadNodes": z.tolist(), "quadWeights": w.tolist(),
        "pulledUp": _PULLED_UP,
    }
    page_title = title or "GLMM trajectory explorer"
    blob = json.dumps(config, allow_nan=False).replace("</", "<\\/")
    html = (_TEMPLATE.replace("__TITLE__", _escape(page_title))
            .replace("__CONFIG__", blob))
    path = os.fspath(path)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(html)
    return path


def _escape(text):
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>__TITLE__</title>
<style>
  :root { --marg: #c0392b; --cond: #1f5fa8; --ink: #222; --muted: #666; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
         color: var(--ink); background: #fafafa; }
  header { padding: 12px 22px 2px; }
  h1 { font-size: 20px; margin: 0 0 4px; font-weight: 600; }
  header p { margin: 0; color: var(--muted); max-width: 70em; }
  main { display: grid; grid-template-columns: 300px minmax(480px, 1fr); gap: 18px;
         padding: 10px 22px 18px; align-items: start; }
  .panel { background: #fff; border: 1px solid #e2e2e2; border-radius: 8px; padding: 12px 14px; }
  .ctl { margin: 0 0 6px; }
  .ctl label { display: flex; justify-content: space-between; font-size: 13px; }
  .ctl output { font-variant-numeric: tabular-nums; color: var(--ink); font-weight: 600; }
  .ctl input[type=range] { width: 100%; margin: 2px 0 0; accent-color: #555; }
  .seg { display: flex; margin: 0 0 12px; border: 1px solid #bbb; border-radius: 6px;
         overflow: hidden; }
  .seg label { flex: 1; text-align: center; padding: 5px 4px; cursor: pointer; font-size: 13px;
               background: #f3f3f3; user-select: none; }
  .seg input { position: absolute; opacity: 0; pointer-events: none; }
  .seg label:has(input:checked) { background: #333; color: #fff; }
  .seg label + label { border-left: 1px solid #bbb; }
  h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted);
       margin: 4px 0 8px; font-weight: 600; }
  #chart { width: 100%; height: auto; display: block; }
  .readout { display: flex; gap: 22px; flex-wrap: wrap; margin-top: 6px; font-size: 13px; }
  .readout b { font-variant-numeric: tabular-nums; }
  .note { color: var(--muted); font-size: 12px; margin-top: 8px; }
  .pulled { display: none; margin-top: 6px; font-size: 13px; color: var(--marg); }
  .axis text { font-size: 12px; fill: #444; }
  .axis line, .axis path { stroke: #999; }
  .grid line { stroke: #ececec; }
  .lab { font-size: 13px; fill: #333; }
  .leg text { font-size: 12.5px; fill: #222; }
</style>
</head>
<body>
<header>
  <h1>__TITLE__</h1>
  <p>Each gray curve is one simulated person. The <span style="color:var(--cond)">blue dashed</span>
  curve is the person with random effects zero (conditional); the bold
  <span style="color:var(--marg)">red</span> curve is the average of all persons' curves
  (marginal). They coincide on the link scale and separate on the response scale.</p>
</header>
<main>
  <section class="panel" id="controls">
    <h2>Outcome</h2>
    <div class="seg" role="radiogroup" aria-label="outcome">
      <label><input type="radio" name="outcome" value="binary" id="outcome-binary">binary (logit)</label>
      <label><input type="radio" name="outcome" value="count" id="outcome-count">count (log)</label>
    </div>
    <h2>Scale</h2>
    <div class="seg" role="radiogroup" aria-label="scale">
      <label><input type="radio" name="scale" value="response" id="scale-response">response</label>
      <label><input type="radio" name="scale" value="link" id="scale-link">link</label>
    </div>
    <h2>Fixed effects</h2>
    <div class="ctl"><label for="b0"><span>intercept &beta;<sub>0</sub></span><output id="b0-out"></output></label>
      <input type="range" id="b0"></div>
    <div class="ctl"><label for="b1"><span>slope &beta;<sub>1</sub> (per unit of <span class="tname"></span>)</span><output id="b1-out"></output></label>
      <input type="range" id="b1"></div>
    <h2>Random effects</h2>
    <div class="ctl"><label for="sd0"><span>intercept SD &sigma;<sub>0</sub></span><output id="sd0-out"></output></label>
      <input type="range" id="sd0"></div>
    <div class="ctl"><label for="sd1"><span>slope SD &sigma;<sub>1</sub></span><output id="sd1-out"></output></label>
      <input type="range" id="sd1"></div>
    <div class="ctl"><label for="rho"><span>correlation &rho;</span><output id="rho-out"></output></label>
      <input type="range" id="rho"></div>
    <h2>Design</h2>
    <div class="ctl"><label for="n"><span>persons</span><output id="n-out"></output></label>
      <input type="range" id="n"></div>
    <div class="ctl"><label for="waves"><span>waves</span><output id="waves-out"></output></label>
      <input type="range" id="waves"></div>
    <div class="note" id="note"></div>
  </section>
  <section class="panel">
    <svg id="chart" viewBox="0 0 760 470" xmlns="http://www.w3.org/2000/svg" role="img"
         aria-label="trajectories">
      <defs><clipPath id="plotclip"><rect id="cliprect"></rect></clipPath></defs>
      <g id="grid" class="grid"></g>
      <g id="individuals" clip-path="url(#plotclip)" fill="none" stroke="#8a8a8a"></g>
      <path id="marginal" clip-path="url(#plotclip)" fill="none" stroke="var(--marg)"
            stroke-width="4" stroke-linejoin="round"></path>
      <path id="conditional" clip-path="url(#plotclip)" fill="none" stroke="var(--cond)"
            stroke-width="2.6" stroke-dasharray="9 6"></path>
      <g id="xaxis" class="axis"></g>
      <g id="yaxis" class="axis"></g>
      <text id="xlabel" class="lab" text-anchor="middle"></text>
      <text id="ylabel" class="lab" text-anchor="middle"></text>
      <g id="legend" class="leg"></g>
    </svg>
    <div class="readout" id="readout"></div>
    <div class="pulled" id="pulled" role="status"></div>
  </section>
</main>
<script>
(function () {
  "use strict";
  var CONFIG = __CONFIG__;
  var SVGNS = "http://www.w3.org/2000/svg";
  var W = 760, H = 470, M = {left: 70, right: 22, top: 66, bottom: 52};
  var PW = W - M.left - M.right, PH = H - M.top - M.bottom;
  var SUB = 12;  // grid points per wave interval

  // ---- seeded standard normal draws (xorshift32 + Box-Muller), fixed per person
  function generator(seed) {
    var s = (seed >>> 0) || 0x9e3779b9;
    return function () {
      s ^= s << 13; s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5; s >>>= 0;
      return (s + 0.5) / 4294967296;
    };
  }
  var rnd = generator(CONFIG.seed * 2654435761 + 12345);
  for (var burn = 0; burn < 20; burn++) rnd();
  var Z = [];
  for (var i = 0; i < CONFIG.maxPersons; i++) {
    var u1 = rnd(), u2 = rnd();
    var r = Math.sqrt(-2 * Math.log(u1));
    Z.push([r * Math.cos(2 * Math.PI * u2), r * Math.sin(2 * Math.PI * u2)]);
  }

  var state = {
    outcome: CONFIG.outcome, scale: CONFIG.scale,
    params: JSON.parse(JSON.stringify(CONFIG.params)),
    n: CONFIG.n, waves: CONFIG.waves
  };

  function expit(x) {
    if (x >= 0) { var e = Math.exp(-x); return 1 / (1 + e); }
    var f = Math.exp(x); return f / (1 + f);
  }
  function inv(eta) {  // inverse link: a probability in [0, 1] or a mean count >= 0
    if (state.outcome === "binary") return expit(eta);
    return Math.exp(Math.min(eta, 700));
  }
  function onScale(eta) { return state.scale === "link" ? eta : inv(eta); }

  function compute() {
    var p = state.params[state.outcome];
    var L10 = p.rho * p.sd1, L11 = p.sd1 * Math.sqrt(Math.max(0, 1 - p.rho * p.rho));
    var nGrid = (state.waves - 1) * SUB + 1, times = [], waveTimes = [];
    for (var g = 0; g < nGrid; g++) times.push(CONFIG.t0 + CONFIG.dt * g / SUB);
    for (var k = 0; k < state.waves; k++) waveTimes.push(CONFIG.t0 + CONFIG.dt * k);
    var individual = [];
    for (var i = 0; i < state.n; i++) {
      var b0 = p.sd0 * Z[i][0], b1 = L10 * Z[i][0] + L11 * Z[i][1];
      var row = new Array(nGrid);
      for (var g2 = 0; g2 < nGrid; g2++) {
        var t = times[g2];
        row[g2] = onScale(p.b0 + b0 + (p.b1 + b1) * t);
      }
      individual.push(row);
    }
    var marginal = new Array(nGrid), conditional = new Array(nGrid);
    var xs = CONFIG.quadNodes, ws = CONFIG.quadWeights;
    var closed = state.outcome === "count" && state.scale === "response";
    for (var g3 = 0; g3 < nGrid; g3++) {
      var tt = times[g3];
      var eta0 = p.b0 + p.b1 * tt;
      var v = p.sd0 * p.sd0 + 2 * p.rho * p.sd0 * p.sd1 * tt + p.sd1 * p.sd1 * tt * tt;
      var s = Math.sqrt(Math.max(v, 0)), acc = 0;
      if (closed) {  // lognormal mean: E exp(eta0 + s z) = exp(eta0 + s^2 / 2)
        acc = Math.exp(Math.min(eta0 + v / 2, 700));
      } else {
        for (var q = 0; q < xs.length; q++) acc += ws[q] * onScale(eta0 + s * xs[q]);
      }
      marginal[g3] = acc;
      conditional[g3] = onScale(eta0);
    }
    return {times: times, waveTimes: waveTimes, individual: individual,
            marginal: marginal, conditional: conditional};
  }

  function quantile(sorted, q) {
    if (!sorted.length) return 0;
    var pos = (sorted.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
  }
  function niceStep(range, target) {
    var raw = range / target, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / mag;
    return mag * (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10);
  }
  function yRange(c) {
    if (state.scale === "response" && state.outcome === "binary") return [0, 1];
    var all = [];
    c.individual.forEach(function (row) { for (var j = 0; j < row.length; j += SUB / 2) all.push(row[j]); });
    all.sort(function (a, b) { return a - b; });
    var lines = c.marginal.concat(c.conditional);
    var hi = Math.max(quantile(all, 0.97), Math.max.apply(null, lines));
    if (state.scale === "response") {  // counts: from 0, top at a round number
      hi = Math.min(Math.max(hi * 1.08, 1), 1e6);
      var st = niceStep(hi, 5);
      return [0, Math.ceil(hi / st) * st];
    }
    var lo = Math.min(quantile(all, 0.03), Math.min.apply(null, lines));
    lo = Math.max(lo, -15); hi = Math.min(hi, 15);
    if (hi - lo < 1) { var mid = (hi + lo) / 2; lo = mid - 0.5; hi = mid + 0.5; }
    var pad = 0.06 * (hi - lo);
    return [lo - pad, hi + pad];
  }

  function el(name, attrs, parent) {
    var e = document.createElementNS(SVGNS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function fmt(v, d) {
    if (Math.abs(v) < 0.5 * Math.pow(10, -d)) v = 0;
    if (Math.abs(v) >= 1000) return v.toFixed(0);
    return v.toFixed(d);
  }

  var renders = 0;
  function render() {
    var c = compute(), yr = yRange(c);
    var x0 = c.times[0], x1 = c.times[c.times.length - 1];
    function X(t) { return M.left + PW * (t - x0) / (x1 - x0); }
    function Y(v) {  // values stay finite and near the plot; the clip path trims the rest
      var span = yr[1] - yr[0];
      var vv = Math.min(Math.max(v, yr[0] - 0.1 * span), yr[1] + 0.1 * span);
      return M.top + PH * (1 - (vv - yr[0]) / span);
    }
    function pathOf(vals) {
      var d = "";
      for (var j = 0; j < vals.length; j++)
        d += (j ? "L" : "M") + X(c.times[j]).toFixed(2) + "," + Y(vals[j]).toFixed(2);
      return d;
    }
    var cr = document.getElementById("cliprect");
    cr.setAttribute("x", M.left); cr.setAttribute("y", M.top);
    cr.setAttribute("width", PW); cr.setAttribute("height", PH);

    // grid and axes
    var grid = document.getElementById("grid"), xa = document.getElementById("xaxis"),
        ya = document.getElementById("yaxis");
    clear(grid); clear(xa); clear(ya);
    el("rect", {x: M.left, y: M.top, width: PW, height: PH, fill: "#fff", stroke: "#bbb"}, grid);
    var ystep = niceStep(yr[1] - yr[0], 6), yt = Math.ceil(yr[0] / ystep - 1e-9) * ystep;
    for (; yt <= yr[1] + 1e-9; yt += ystep) {
      var yy = Y(yt), lab = Math.abs(yt) < 1e-12 ? 0 : yt;
      el("line", {x1: M.left, x2: M.left + PW, y1: yy, y2: yy}, grid);
      el("line", {x1: M.left - 5, x2: M.left, y1: yy, y2: yy}, ya);
      var tx = el("text", {x: M.left - 8, y: yy + 4, "text-anchor": "end"}, ya);
      tx.textContent = ystep < 0.1 ? lab.toFixed(2) : ystep < 1 ? lab.toFixed(1) : lab.toFixed(0);
    }
    var every = Math.max(1, Math.ceil(c.waveTimes.length / 12));
    c.waveTimes.forEach(function (t, k) {
      var xx = X(t);
      el("line", {x1: xx, x2: xx, y1: M.top, y2: M.top + PH}, grid);
      el("line", {x1: xx, x2: xx, y1: M.top + PH, y2: M.top + PH + 5}, xa);
      if (k % every === 0) {
        var tx2 = el("text", {x: xx, y: M.top + PH + 19, "text-anchor": "middle"}, xa);
        tx2.textContent = Math.abs(t - Math.round(t)) < 1e-9 ? t.toFixed(0) :
          (CONFIG.dt < 1 ? t.toFixed(2) : t.toFixed(1));
      }
    });
    var xl = document.getElementById("xlabel");
    xl.setAttribute("x", M.left + PW / 2); xl.setAttribute("y", H - 10);
    xl.textContent = CONFIG.timeName + " (one tick per wave)";
    var yl = document.getElementById("ylabel");
    yl.setAttribute("transform", "translate(18," + (M.top + PH / 2) + ") rotate(-90)");
    yl.textContent = state.scale === "link"
      ? (state.outcome === "binary" ? "log-odds (link scale)" : "log expected count (link scale)")
      : (state.outcome === "binary" ? "probability P(y = 1)" : "expected count");

    // curves
    var ind = document.getElementById("individuals");
    clear(ind);
    var op = Math.max(0.18, Math.min(0.7, 2.5 / Math.sqrt(state.n)));
    ind.setAttribute("stroke-opacity", op.toFixed(3));
    ind.setAttribute("stroke-width", state.n > 80 ? "1" : "1.3");
    c.individual.forEach(function (row) { el("path", {d: pathOf(row)}, ind); });
    var mp = document.getElementById("marginal"), cp = document.getElementById("conditional");
    mp.setAttribute("d", pathOf(c.marginal));
    cp.setAttribute("d", pathOf(c.conditional));
    mp.setAttribute("data-values", JSON.stringify(c.marginal));
    cp.setAttribute("data-values", JSON.stringify(c.conditional));

    // legend above the plot, items placed one after the other (wrapping if needed)
    var lg = document.getElementById("legend");
    clear(lg);
    var same = state.scale === "link";
    var items = [
      {stroke: "#8a8a8a", w: 1.5, dash: null, text: state.n + " simulated persons"},
      {stroke: "var(--marg)", w: 4, dash: null, text: "marginal: mean of all curves"},
      {stroke: "var(--cond)", w: 2.6, dash: "9 6",
       text: "conditional: person with b = 0" + (same ? " (identical on the link scale)" : "")}
    ];
    var lxp = M.left, lyp = 22;
    items.forEach(function (it) {
      var g = el("g", {}, lg);
      var ln = el("line", {x1: 0, x2: 30, y1: 0, y2: 0, stroke: it.stroke,
                            "stroke-width": it.w}, g);
      if (it.dash) ln.setAttribute("stroke-dasharray", it.dash);
      var t = el("text", {x: 38, y: 4}, g);
      t.textContent = it.text;
      var wdt = 38 + t.getComputedTextLength();
      if (lxp > M.left && lxp + wdt > W - M.right) { lxp = M.left; lyp += 20; }
      g.setAttribute("transform", "translate(" + lxp + "," + lyp + ")");
      lxp += wdt + 26;
    });

    // numbers at the last wave
    var last = c.times.length - 1;
    var dlast = c.marginal[last] - c.conditional[last];
    var name = state.scale === "link" ? "linear predictor" :
      (state.outcome === "binary" ? "P(y = 1)" : "expected count");
    document.getElementById("readout").innerHTML =
      "<span>" + name + " at the last wave (" + CONFIG.timeName + " = " +
      fmt(c.times[last], 2) + "):</span>" +
      "<span style='color:var(--marg)'>marginal <b>" + fmt(c.marginal[last], 3) + "</b></span>" +
      "<span style='color:var(--cond)'>conditional <b>" + fmt(c.conditional[last], 3) + "</b></span>" +
      "<span>difference <b>" + fmt(dlast, 3) + "</b></span>";
    // with few persons and a large SD the mean can lie above every drawn curve
    var above = false;
    if (state.scale === "response") {
      for (var g4 = 0; g4 < c.times.length && !above; g4++) {
        var top = -Infinity;
        for (var i4 = 0; i4 < c.individual.length; i4++) top = Math.max(top, c.individual[i4][g4]);
        if (c.marginal[g4] > top) above = true;
      }
    }
    var pulled = document.getElementById("pulled");
    pulled.textContent = above ? CONFIG.pulledUp.replace("{n}", String(state.n)) : "";
    pulled.style.display = above ? "block" : "none";

    renders += 1;
    window.GLMMExplorer.pulledUp = above;
    window.GLMMExplorer.computed = c;
    window.GLMMExplorer.yRange = yr;
    window.GLMMExplorer.renders = renders;
  }

  // ---- controls
  var SL = ["b0", "b1", "sd0", "sd1", "rho", "n", "waves"];
  function decimals(step) { return step >= 1 ? 0 : step >= 0.1 ? 1 : 2; }
  function syncControls() {
    var p = state.params[state.outcome];
    SL.forEach(function (k) {
      var inp = document.getElementById(k), rg = CONFIG.ranges[k];
      inp.min = rg[0]; inp.max = rg[1]; inp.step = rg[2];
      var val = (k === "n" || k === "waves") ? state[k] : p[k];
      inp.value = val;
      document.getElementById(k + "-out").textContent = Number(val).toFixed(decimals(rg[2]));
    });
    document.getElementById("outcome-" + state.outcome).checked = true;
    document.getElementById("scale-" + state.scale).checked = true;
  }
  SL.forEach(function (k) {
    document.getElementById(k).addEventListener("input", function (ev) {
      var v = parseFloat(ev.target.value);
      if (!isFinite(v)) return;
      if (k === "n" || k === "waves") state[k] = Math.round(v);
      else state.params[state.outcome][k] = v;
      document.getElementById(k + "-out").textContent =
        v.toFixed(decimals(CONFIG.ranges[k][2]));
      render();
    });
  });
  ["outcome", "scale"].forEach(function (name) {
    Array.prototype.forEach.call(document.querySelectorAll("input[name=" + name + "]"),
      function (inp) {
        inp.addEventListener("change", function () {
          if (!inp.checked) return;
          state[name] = inp.value;
          syncControls();
          showNote();
          render();
        });
      });
  });
  Array.prototype.forEach.call(document.querySelectorAll(".tname"), function (e) {
    e.textContent = CONFIG.timeName;
  });
  function showNote() {
    document.getElementById("note").textContent = CONFIG.notes[state.outcome] +
      " Gray curves are drawn from a seeded generator, so each person keeps its place while the sliders move.";
  }

  window.GLMMExplorer = {state: state, config: CONFIG, render: render};
  syncControls();
  showNote();
  render();
})();
</script>
</body>
</html>
"""
