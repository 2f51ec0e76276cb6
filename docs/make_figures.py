"""
Draw the figures of docs/plots.md into docs/_static/.

    python docs/make_figures.py            # all figures
    python docs/make_figures.py --no-browser   # skip the explorer screenshot

Every figure is saved at 100 dpi from the bundled datasets, so the pictures are
what a user gets with the default settings.
"""

import argparse
import os
import shutil
import tempfile

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import statsmodels.api as sm  # noqa: E402

import statsmodels_glmm.api as smg  # noqa: E402
from statsmodels_glmm import datasets  # noqa: E402
from statsmodels_glmm.explorer import explorer  # noqa: E402
from statsmodels_glmm.plotting import (plot_effects, plot_random_effects,  # noqa: E402
                                       plot_trajectories)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_static")


def save(fig, name):
    path = os.path.join(OUT, name)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print("wrote", path)


def screenshot(html, png):
    """Open ``html`` in headless Chromium and save a screenshot (False if unavailable)."""
    if not (os.path.exists("/usr/bin/chromium") and os.path.exists("/usr/bin/chromedriver")):
        return False
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return False
    profile = tempfile.mkdtemp()
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                 "--window-size=1280,920"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                              options=opts)
    try:
        driver.get("file://" + os.path.abspath(html))
        driver.save_screenshot(png)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    print("wrote", png)
    return True


def main(browser=True):
    os.makedirs(OUT, exist_ok=True)
    binom = sm.families.Binomial()

    toenail = datasets.load("toenail")
    res = smg.mixedglm("outcome_bin ~ treatment * time + (1 | patientID)", toenail,
                       family=binom).fit(nagq=15)
    save(plot_trajectories(res, "time", data=toenail, at={"treatment": "itraconazole"}),
         "plot_trajectories.png")
    tab = res.probability_effects("time", at={"treatment": "itraconazole", "time": 0},
                                  data=toenail)
    save(plot_effects(tab), "plot_effects.png")

    cbpp = datasets.load("cbpp")
    res_cbpp = smg.mixedglm("incidence + non_incidence ~ period + (1 | herd)", cbpp,
                            family=binom).fit()
    save(plot_random_effects(res_cbpp), "plot_random_effects_cbpp.png")

    sim = datasets.load("sim_binary_small")
    res_sim = smg.mixedglm("y ~ time * group + stress + (1 + time | id)", sim,
                           family=binom).fit()
    save(plot_random_effects(res_sim), "plot_random_effects_sim.png")

    crossed = datasets.load("sim_crossed")
    res_x = smg.mixedglm("y ~ x + cond + (1 | subj) + (1 | item)", crossed,
                         family=sm.families.Poisson()).fit()
    save(plot_random_effects(res_x), "plot_random_effects_crossed.png")

    html = explorer(os.path.join(OUT, "explorer.html"), res_sim)
    print("wrote", html)
    if browser:
        screenshot(html, os.path.join(OUT, "explorer.png"))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--no-browser", action="store_true")
    main(browser=not ap.parse_args().no_browser)
