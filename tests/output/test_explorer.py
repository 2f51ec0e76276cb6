"""
The HTML trajectory explorer: file content, starting values from a fit, and the page
itself driven in headless Chromium (sliders, toggles, computed curves, console).
"""

import json
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import integrate, special, stats

import statsmodels_glmm.api as smg
from statsmodels_glmm import datasets
from statsmodels_glmm.output.explorer import explorer

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SLIDERS = ["b0", "b1", "sd0", "sd1", "rho", "n", "waves"]


def _config(path):
    text = open(path, encoding="utf-8").read()
    m = re.search(r"var CONFIG = (\{.*?\});\n", text)
    return json.loads(m.group(1).replace("<\\/", "</"))


# ------------------------------------------------------------------ file only
def test_file_is_self_contained(tmp_path):
    path = explorer(tmp_path / "e.html", title="Trajectories <demo>")
    assert path == str(tmp_path / "e.html")
    html = open(path, encoding="utf-8").read()
    # no external resource of any kind: only the SVG namespace URI appears
    urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'<>)]*", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=\"(?!data:)", html)
    assert not re.search(r"@import|url\((?!#)", html)
    assert "<title>Trajectories &lt;demo&gt;</title>" in html
    cfg = _config(path)
    assert cfg["outcome"] == "binary" and cfg["scale"] == "response"
    assert cfg["params"]["binary"] == {"b0": -1.0, "b1": 0.25, "sd0": 1.0, "sd1": 0.5,
                                       "rho": -0.3}
    # the page's quadrature rule integrates the standard normal moments exactly
    x, w = np.array(cfg["quadNodes"]), np.array(cfg["quadWeights"])
    np.testing.assert_allclose([w.sum(), w @ x, w @ x**2, w @ x**4], [1, 0, 1, 3], atol=1e-12)


def test_starting_values_from_a_fit(tmp_path):
    df = datasets.load("sim_binary_small")
    res = smg.mixedglm("y ~ time * group + stress + (1 + time | id)", df,
                       family=sm.families.Binomial()).fit()
    cfg = _config(explorer(tmp_path / "fit.html", res))
    p = cfg["params"]["binary"]
    assert cfg["outcome"] == "binary" and cfg["timeName"] == "time"
    assert p["b0"] == res.fe_params["Intercept"] and p["b1"] == res.fe_params["time"]
    assert p["sd0"] == res.re_sd["Intercept"] and p["sd1"] == res.re_sd["time"]
    assert p["rho"] == res.re_corr.loc["Intercept", "time"]
    assert (cfg["waves"], cfg["t0"], cfg["dt"], cfg["n"]) == (5, 0.0, 1.0, 100)
    assert cfg["notes"]["binary"] == (
        "Starting values: estimates of y ~ time * group + stress + (1 + time | id) (Binomial) "
        "fitted to 200 groups; other covariates at 0 (reference levels).")
    assert cfg["notes"]["count"].startswith("Default values (no count model was given)")

    pois = smg.mixedglm("y ~ time + (1 | id)", datasets.load("sim_poisson_small"),
                        family=sm.families.Poisson()).fit()
    cfg = _config(explorer(tmp_path / "pois.html", pois))
    assert cfg["outcome"] == "count"
    assert cfg["params"]["count"]["sd1"] == 0.0 and cfg["params"]["count"]["rho"] == 0.0
    assert cfg["params"]["count"]["b1"] == pois.fe_params["time"]

    toe = datasets.load("toenail")
    ri = smg.mixedglm("outcome_bin ~ treatment + visit + (1 | patientID)", toe,
                      family=sm.families.Binomial()).fit()
    cfg = _config(explorer(tmp_path / "toe.html", ri, time="visit"))
    assert cfg["params"]["binary"]["b1"] == ri.fe_params["visit"]
    assert (cfg["waves"], cfg["t0"], cfg["dt"]) == (7, 1.0, 1.0)
    # an estimate outside the default slider range widens the range
    b0 = ri.fe_params["Intercept"]
    lo, hi, _ = cfg["ranges"]["b0"]
    assert lo <= b0 <= hi and cfg["ranges"]["sd0"][1] >= ri.re_sd["Intercept"]


def test_bad_input(tmp_path):
    df = datasets.load("sim_binary_small")
    with pytest.raises(ValueError, match="outcome"):
        explorer(tmp_path / "x.html", outcome="ordinal")
    with pytest.raises(ValueError, match="seed"):
        explorer(tmp_path / "x.html", seed=-1)
    res = smg.mixedglm("y ~ group + stress + (1 | id)", df,
                       family=sm.families.Binomial()).fit()
    with pytest.raises(ValueError, match="time"):
        explorer(tmp_path / "x.html", res)
    with pytest.raises(ValueError, match="time 'wave'"):
        explorer(tmp_path / "x.html", res, time="wave")
    gauss = smg.mixedglm("stress ~ time + (1 | id)", df, family=sm.families.Gaussian()).fit()
    with pytest.raises(ValueError, match="results"):
        explorer(tmp_path / "x.html", gauss)
    with pytest.raises(ValueError, match="results"):
        explorer(tmp_path / "x.html", df)
    crossed = smg.mixedglm("y ~ x + (1 | subj) + (1 | item)", datasets.load("sim_crossed"),
                           family=sm.families.Poisson()).fit()
    with pytest.raises(ValueError, match="one grouping factor"):
        explorer(tmp_path / "x.html", crossed)
    assert not os.path.exists(tmp_path / "x.html")



@pytest.fixture(scope="module")
def two_fits():
    binary = smg.mixedglm("y ~ time * group + stress + (1 + time | id)",
                          datasets.load("sim_binary_small"), family=sm.families.Binomial()).fit()
    count = smg.mixedglm("y ~ time + group + (1 + time | id)", datasets.load("sim_poisson_small"),
                         family=sm.families.Poisson()).fit()
    return binary, count


def test_each_outcome_has_its_own_starting_values_and_note(tmp_path, two_fits):
    binary, count = two_fits
    cfg = _config(explorer(tmp_path / "both.html", [binary, count]))
    assert cfg["outcome"] == "binary"
    assert cfg["params"]["binary"]["b0"] == binary.fe_params["Intercept"]
    assert cfg["params"]["count"]["b0"] == count.fe_params["Intercept"]
    assert cfg["params"]["count"]["sd1"] == count.re_sd["time"]
    assert cfg["notes"] == {
        "binary": "Starting values: estimates of y ~ time * group + stress + (1 + time | id) "
                  "(Binomial) fitted to 200 groups; other covariates at 0 (reference levels).",
        "count": "Starting values: estimates of y ~ time + group + (1 + time | id) (Poisson) "
                 "fitted to 200 groups; other covariates at 0 (reference levels)."}
    # the first fit sets the starting outcome
    assert _config(explorer(tmp_path / "c.html", (count, binary)))["outcome"] == "count"
    with pytest.raises(ValueError, match="two fits for the binary outcome"):
        explorer(tmp_path / "x.html", [binary, binary])
    with pytest.raises(ValueError, match="at most two"):
        explorer(tmp_path / "x.html", [binary, count, binary])
    assert not os.path.exists(tmp_path / "x.html")
    assert "{n} drawn persons" in cfg["pulledUp"]


# ------------------------------------------------------------------ script under node
_NODE_DOM = r"""
const fs = require("fs");
const page = fs.readFileSync(process.argv[2], "utf8");
const script = page.match(/<script>([\s\S]*)<\/script>/)[1];
const steps = JSON.parse(process.argv[3]);
function element(id) {
  return {id: id, attrs: {}, children: [], style: {}, textContent: "", innerHTML: "",
    value: "", checked: false, listeners: {},
    setAttribute(k, v) { this.attrs[k] = String(v); },
    getAttribute(k) { return this.attrs[k]; },
    appendChild(c) { this.children.push(c); return c; },
    removeChild(c) { this.children.splice(this.children.indexOf(c), 1); },
    get firstChild() { return this.children.length ? this.children[0] : null; },
    addEventListener(ev, fn) { (this.listeners[ev] = this.listeners[ev] || []).push(fn); },
    getComputedTextLength() { return 7 * this.textContent.length; }};
}
const nodes = {};
const document = {
  getElementById(id) { return nodes[id] || (nodes[id] = element(id)); },
  createElementNS(ns, name) { return element(name); },
  querySelectorAll(sel) {
    const m = sel.match(/^input\[name=(\w+)\]$/);
    if (!m) return [];
    const values = m[1] === "outcome" ? ["binary", "count"] : ["response", "link"];
    return values.map(function (v) {
      const e = document.getElementById(m[1] + "-" + v); e.value = v; return e; });
  }
};
const window = {};
new Function("window", "document", script)(window, document);
const out = [];
function snapshot() {
  const c = window.GLMMExplorer.computed;
  out.push({note: nodes.note.textContent, readout: nodes.readout.innerHTML,
            pulled: nodes.pulled.textContent, shown: nodes.pulled.style.display,
            state: window.GLMMExplorer.state, marginal: c.marginal, individual: c.individual});
}
snapshot();
steps.forEach(function (s) {
  if (s[0] === "toggle") {
    const e = document.getElementById(s[1] + "-" + s[2]); e.checked = true;
    e.listeners.change.forEach(function (f) { f(); });
  } else if (s[0] === "set") {
    document.getElementById(s[1]).listeners.input.forEach(function (f) {
      f({target: {value: String(s[2])}}); });
  } else {
    snapshot();
  }
});
process.stdout.write(JSON.stringify(out));
"""


def _run_in_node(tmp_path, page, steps):
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed (apt-get install -y nodejs)")
    harness = tmp_path / "harness.js"
    harness.write_text(_NODE_DOM, encoding="utf-8")
    done = subprocess.run([node, str(harness), str(page), json.dumps(steps)],
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def _above_every_person(snap):
    ind = np.asarray(snap["individual"])
    return bool(np.any(np.asarray(snap["marginal"]) > ind.max(axis=0)))


def test_note_follows_the_outcome_and_readout_explains_a_mean_above_everyone(tmp_path,
                                                                            two_fits):
    binary, count = two_fits
    page = explorer(tmp_path / "both.html", [binary, count], seed=2)
    cfg = _config(page)
    snaps = _run_in_node(tmp_path, page, [
        ["toggle", "outcome", "count"], ["snap"],
        ["set", "n", 5], ["set", "sd0", 3.0], ["snap"],
        ["toggle", "scale", "link"], ["snap"],
        ["toggle", "scale", "response"], ["toggle", "outcome", "binary"], ["snap"]])
    first, count_tab, few, link, back = snaps
    tail = (" Gray curves are drawn from a seeded generator, so each person keeps its place "
            "while the sliders move.")
    assert first["note"] == cfg["notes"]["binary"] + tail
    assert count_tab["note"] == cfg["notes"]["count"] + tail
    assert "y ~ time + group + (1 + time | id) (Poisson)" in count_tab["note"]
    assert back["note"] == cfg["notes"]["binary"] + tail
    # 5 persons, intercept SD 3 on the count scale: the mean exp(eta0 + s^2 / 2) lies far
    # above all five drawn curves, and the readout says why
    assert few["state"]["n"] == 5 and few["state"]["params"]["count"]["sd0"] == 3.0
    assert _above_every_person(few)
    assert few["shown"] == "block"
    assert few["pulled"] == cfg["pulledUp"].replace("{n}", "5")
    assert "pulled up by persons with large random effects" in few["pulled"]
    # the message appears exactly when the mean exceeds every drawn curve, on the
    # response scale only
    for snap in (first, count_tab, back):
        assert (snap["shown"] == "block") == _above_every_person(snap)
        assert (snap["pulled"] != "") == _above_every_person(snap)
    assert link["shown"] == "none" and link["pulled"] == ""


# ------------------------------------------------------------------ browser
@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip(f"no browser: {CHROMIUM} and {CHROMEDRIVER} are needed "
                    "(apt-get install -y chromium chromium-driver)")
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="explorer-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                 "--window-size=1280,1000"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def _drawing(driver):
    return driver.execute_script("""
        var ind = document.getElementById('individuals').children, d = [];
        for (var i = 0; i < ind.length; i++) d.push(ind[i].getAttribute('d'));
        return {individuals: d,
                marginal: document.getElementById('marginal').getAttribute('d'),
                conditional: document.getElementById('conditional').getAttribute('d')};""")


def _computed(driver):
    return driver.execute_script("""
        var c = GLMMExplorer.computed;
        return {times: c.times, individual: c.individual, marginal: c.marginal,
                conditional: c.conditional, yRange: GLMMExplorer.yRange,
                state: GLMMExplorer.state,
                marginalAttr: JSON.parse(document.getElementById('marginal')
                                         .getAttribute('data-values'))};""")


def _set(driver, slider, value):
    driver.execute_script("""
        var e = document.getElementById(arguments[0]);
        e.value = arguments[1];
        e.dispatchEvent(new Event('input', {bubbles: true}));""", slider, value)


def _click_toggle(driver, name, value):
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, f"{name}-{value}").find_element(By.XPATH, "..").click()
    assert driver.execute_script("return GLMMExplorer.state[arguments[0]]", name) == value


def _marginal_reference(p, t, outcome, scale):
    """Mean of h(eta) over b ~ N(0, G) by adaptive quadrature (independent of the page)."""
    eta0 = p["b0"] + p["b1"] * t
    s = np.sqrt(p["sd0"] ** 2 + 2 * p["rho"] * p["sd0"] * p["sd1"] * t + p["sd1"] ** 2 * t**2)
    if scale == "link":
        return eta0
    h = special.expit if outcome == "binary" else np.exp
    return integrate.quad(lambda z: h(eta0 + s * z) * stats.norm.pdf(z), -12, 12,
                          epsabs=1e-13, epsrel=1e-12, limit=200)[0]


def _check_curves(c, outcome, scale):
    p = c["state"]["params"][outcome]
    t = np.asarray(c["times"])
    eta0 = p["b0"] + p["b1"] * t
    cond = np.asarray(c["conditional"])
    marg = np.asarray(c["marginal"])
    ind = np.asarray(c["individual"])
    assert ind.shape == (c["state"]["n"], 12 * (c["state"]["waves"] - 1) + 1)
    assert np.isfinite(ind).all() and np.isfinite(marg).all()
    np.testing.assert_array_equal(marg, c["marginalAttr"])
    if scale == "link":
        np.testing.assert_allclose(cond, eta0, atol=1e-12)
        np.testing.assert_allclose(marg, cond, atol=1e-9)  # they coincide
    else:
        h = special.expit if outcome == "binary" else np.exp
        np.testing.assert_allclose(cond, h(eta0), rtol=1e-12, atol=1e-15)
        for j in (0, len(t) // 2, len(t) - 1):
            ref = _marginal_reference(p, t[j], outcome, scale)
            np.testing.assert_allclose(marg[j], ref, rtol=1e-9, atol=1e-12)
        if outcome == "binary":
            assert ((ind >= 0) & (ind <= 1)).all() and c["yRange"] == [0, 1]
        else:
            assert (ind >= 0).all() and c["yRange"][0] == 0
            # log link: E exp(eta) = exp(eta0 + s^2 / 2)
            v = p["sd0"] ** 2 + 2 * p["rho"] * p["sd0"] * p["sd1"] * t + p["sd1"] ** 2 * t**2
            np.testing.assert_allclose(marg, np.exp(eta0 + v / 2), rtol=1e-9)
    lo, hi = c["yRange"]
    assert np.isfinite([lo, hi]).all() and hi > lo


def test_explorer_in_browser(browser, tmp_path):
    path = explorer(tmp_path / "explorer.html")
    browser.get("file://" + path)
    assert browser.execute_script("return GLMMExplorer.renders") == 1
    _check_curves(_computed(browser), "binary", "response")

    # on the response scale the average of the curves is not the curve of b = 0
    c = _computed(browser)
    gap = np.abs(np.asarray(c["marginal"]) - np.asarray(c["conditional"]))
    assert gap.max() > 0.02
    before_link = _computed(browser)

    # every slider changes the drawing and the state
    new_values = {"b0": 0.5, "b1": -0.4, "sd0": 2.0, "sd1": 0.8, "rho": 0.6, "n": 80,
                  "waves": 8}
    for k in SLIDERS:
        old = _drawing(browser)
        _set(browser, k, new_values[k])
        new = _drawing(browser)
        assert new != old, k
        assert new["individuals"] != old["individuals"], k
        st = browser.execute_script("return GLMMExplorer.state")
        got = st[k] if k in ("n", "waves") else st["params"]["binary"][k]
        assert got == pytest.approx(new_values[k]), k
        if k not in ("n",):
            assert new["marginal"] != old["marginal"], k
    assert len(_drawing(browser)["individuals"]) == 80
    _check_curves(_computed(browser), "binary", "response")

    # the draws are fixed: moving the intercept shifts every person's link by the same amount
    _click_toggle(browser, "scale", "link")
    a = np.asarray(_computed(browser)["individual"])
    _set(browser, "b0", -0.25)
    b = np.asarray(_computed(browser)["individual"])
    np.testing.assert_allclose(b - a, -0.75, atol=1e-12)
    _check_curves(_computed(browser), "binary", "link")
    assert before_link["state"]["scale"] == "response"

    # count outcome on both scales
    old = _drawing(browser)
    _click_toggle(browser, "outcome", "count")
    assert _drawing(browser) != old
    _check_curves(_computed(browser), "count", "link")
    old = _drawing(browser)
    _click_toggle(browser, "scale", "response")
    assert _drawing(browser) != old
    c = _computed(browser)
    _check_curves(c, "count", "response")
    assert (np.asarray(c["marginal"]) - np.asarray(c["conditional"])).min() > 0
    # the count sliders start at the count defaults and stay in range at extremes
    assert c["state"]["params"]["count"]["b0"] == 0.5
    _set(browser, "b0", 4.0)
    _set(browser, "b1", 1.5)
    _set(browser, "sd0", 3.0)
    _set(browser, "waves", 12)
    c = _computed(browser)
    _check_curves(c, "count", "response")
    assert c["yRange"][1] <= 1e6
    _set(browser, "b0", 0.5)
    _set(browser, "b1", 0.1)
    _set(browser, "sd0", 0.9)
    _set(browser, "waves", 6)

    # back to binary: its own parameters were kept
    _click_toggle(browser, "outcome", "binary")
    assert browser.execute_script("return GLMMExplorer.state.params.binary.b0") == -0.25
    _set(browser, "b0", -1.0)
    _set(browser, "sd0", 1.6)
    _set(browser, "n", 60)
    c = _computed(browser)
    _check_curves(c, "binary", "response")
    # every text of the chart lies inside the chart, and no two texts overlap
    boxes = browser.execute_script("""
        var svg = document.getElementById('chart').getBoundingClientRect(), out = [];
        var texts = document.querySelectorAll('#chart text');
        for (var i = 0; i < texts.length; i++) {
          var r = texts[i].getBoundingClientRect();
          if (texts[i].textContent) out.push([r.left - svg.left, r.top - svg.top,
            r.right - svg.left, r.bottom - svg.top, texts[i].textContent]);
        }
        return [svg.width, svg.height, out];""")
    width, height, texts = boxes
    assert len(texts) > 10
    for x0, y0, x1, y1, text in texts:
        assert x0 >= -0.5 and y0 >= -0.5 and x1 <= width + 0.5 and y1 <= height + 0.5, text
    for i, (ax0, ay0, ax1, ay1, ta) in enumerate(texts):
        for bx0, by0, bx1, by1, tb in texts[i + 1:]:
            overlap = min(ax1, bx1) - max(ax0, bx0) > 0.5 and min(ay1, by1) - max(ay0, by0) > 0.5
            assert not overlap, (ta, tb)

    shot = tmp_path / "explorer.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000
    if os.environ.get("EXPLORER_SCREENSHOT"):
        shutil.copy(shot, os.environ["EXPLORER_SCREENSHOT"])
    assert _errors(browser) == []


def test_explorer_from_fit_in_browser(browser, tmp_path):
    df = datasets.load("sim_poisson_small")
    res = smg.mixedglm("y ~ time * group + stress + (1 + time | id)", df,
                       family=sm.families.Poisson()).fit()
    browser.get("file://" + explorer(tmp_path / "fit.html", res))
    st = browser.execute_script("return GLMMExplorer.state")
    assert st["outcome"] == "count" and st["n"] == 100 and st["waves"] == 5
    p = st["params"]["count"]
    assert p["b0"] == res.fe_params["Intercept"] and p["sd1"] == res.re_sd["time"]
    shown = browser.execute_script(
        "return ['b0', 'sd0', 'rho'].map(function (k) {"
        " return document.getElementById(k + '-out').textContent; })")
    assert shown == [f"{res.fe_params['Intercept']:.2f}", f"{res.re_sd['Intercept']:.2f}",
                     f"{res.re_corr.loc['Intercept', 'time']:.2f}"]
    _check_curves(_computed(browser), "count", "response")
    assert _errors(browser) == []

    # a time axis that does not start at 0: the intercept is still at time 0
    toe = datasets.load("toenail")
    ri = smg.mixedglm("outcome_bin ~ treatment + visit + (1 | patientID)", toe,
                      family=sm.families.Binomial()).fit()
    browser.get("file://" + explorer(tmp_path / "visit.html", ri, time="visit"))
    c = _computed(browser)
    assert c["times"][0] == 1.0 and c["times"][-1] == 7.0
    np.testing.assert_allclose(
        c["conditional"][0], special.expit(ri.fe_params["Intercept"] + ri.fe_params["visit"]),
        rtol=1e-12)
    _check_curves(c, "binary", "response")
    _click_toggle(browser, "scale", "link")
    _check_curves(_computed(browser), "binary", "link")
    assert _errors(browser) == []


def test_note_and_readout_in_browser(browser, tmp_path, two_fits):
    binary, count = two_fits
    page = explorer(tmp_path / "both.html", [binary, count], seed=2)
    cfg = _config(page)
    browser.get("file://" + page)

    def note():
        return browser.execute_script("return document.getElementById('note').textContent")

    def pulled():
        return browser.execute_script(
            "var e = document.getElementById('pulled');"
            "return [e.textContent, getComputedStyle(e).display];")

    assert note().startswith(cfg["notes"]["binary"])
    _click_toggle(browser, "outcome", "count")
    assert note().startswith(cfg["notes"]["count"])
    _set(browser, "n", 5)
    _set(browser, "sd0", 3.0)
    c = _computed(browser)
    ind = np.asarray(c["individual"])
    assert np.any(np.asarray(c["marginal"]) > ind.max(axis=0))
    assert pulled() == [cfg["pulledUp"].replace("{n}", "5"), "block"]
    _click_toggle(browser, "scale", "link")
    assert pulled() == ["", "none"]
    assert _errors(browser) == []
