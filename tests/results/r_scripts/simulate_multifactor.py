#!/usr/bin/env python3
"""Generate the simulated multi-factor GLMM reference datasets.

    python3 tests/results/r_scripts/simulate_multifactor.py     (run from the repo root)

Writes ``tests/data/sim/sim_nested.csv`` and ``tests/data/sim/sim_crossed.csv``.
numpy ``default_rng`` (PCG64) with fixed seeds, so the files are reproducible
byte for byte with the same numpy version; floats are written with their
shortest round-trip ``repr``.

sim_nested (patients nested in clinics)
    40 clinics x 20 patients x 6 visits (time = 0..5), 4800 rows, no missing rows.
    ``patient`` is 1..20 in every clinic, so a patient is identified only by
    (clinic, patient): the grouping factor must be the interaction
    ``clinic:patient``. ``treat`` ~ Bernoulli(0.5) per patient.

        eta = b0 + b_time*time + b_treat*treat + c_clinic
              + a0_{clinic:patient} + a1_{clinic:patient}*time
        c ~ N(0, 0.5^2),  (a0, a1) ~ N2(0, [[0.8^2, r*0.8*0.25], [., 0.25^2]]), r = -0.3

    ybin ~ Bernoulli(logistic(eta)) with (b0, b_time, b_treat) = (-0.5, 0.2, 0.6);
    ycount ~ Poisson(exp(eta)) with (b0, b_time, b_treat) = (0.3, 0.1, -0.4).
    The two outcomes use independent draws of the random effects.

sim_crossed (subjects crossed with items)
    60 subjects x 40 items; each (subject, item) pair is kept with probability
    0.85 (unbalanced, about 2040 rows). ``cond`` is an item-level 0/1 condition
    (items 1..20 -> 0, 21..40 -> 1); ``x`` ~ N(0, 1) per row.

        eta = 0.5 + 0.3*x - 0.4*cond + s_subj + t_item,
        s ~ N(0, 0.6^2), t ~ N(0, 0.4^2)

    y ~ Poisson(exp(eta)); ynb ~ NB2(mu = exp(eta), theta = 2)
    (var = mu + mu^2/theta), drawn as a gamma-Poisson mixture with the same eta.
"""
import os

import numpy as np

OUT = os.path.join("tests", "data", "sim")
SEED_NESTED = 20261202
SEED_CROSSED = 20261203

NESTED = {
    "n_clinic": 40, "n_patient": 20, "n_visit": 6,
    "sd_clinic": 0.5, "sd_int": 0.8, "sd_slope": 0.25, "corr": -0.3,
    "fixed_bin": {"(Intercept)": -0.5, "time": 0.2, "treat": 0.6},
    "fixed_count": {"(Intercept)": 0.3, "time": 0.1, "treat": -0.4},
}
CROSSED = {
    "n_subj": 60, "n_item": 40, "p_keep": 0.85,
    "sd_subj": 0.6, "sd_item": 0.4, "nb_theta": 2.0,
    "fixed": {"(Intercept)": 0.5, "x": 0.3, "cond": -0.4},
}


def expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def write_csv(path, cols):
    """CSV with integer columns as integers and floats as shortest round-trip repr."""
    names = list(cols)
    n = len(cols[names[0]])
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        for i in range(n):
            vals = []
            for k in names:
                v = cols[k][i]
                if isinstance(v, (float, np.floating)):
                    vals.append(repr(float(v)))
                else:
                    vals.append(str(int(v)))
            f.write(",".join(vals) + "\n")


def nested_effects(rng, p):
    """Clinic intercepts and per-patient (intercept, slope) pairs."""
    nc, npat = p["n_clinic"], p["n_patient"]
    c = rng.normal(0.0, p["sd_clinic"], size=nc)
    s0, s1, r = p["sd_int"], p["sd_slope"], p["corr"]
    cov = np.array([[s0 * s0, r * s0 * s1], [r * s0 * s1, s1 * s1]])
    a = rng.multivariate_normal(np.zeros(2), cov, size=nc * npat)
    return c, a


def simulate_nested(seed=SEED_NESTED, p=NESTED):
    rng = np.random.default_rng(seed)
    nc, npat, nv = p["n_clinic"], p["n_patient"], p["n_visit"]
    clinic = np.repeat(np.arange(1, nc + 1), npat * nv)
    patient = np.tile(np.repeat(np.arange(1, npat + 1), nv), nc)
    time = np.tile(np.arange(nv), nc * npat)
    treat_p = rng.binomial(1, 0.5, size=nc * npat)
    treat = np.repeat(treat_p, nv)
    pidx = np.repeat(np.arange(nc * npat), nv)       # global patient index
    cidx = clinic - 1
    out = {"clinic": clinic, "patient": patient, "time": time, "treat": treat}
    for name, fx, draw in (("ybin", p["fixed_bin"], "binomial"),
                           ("ycount", p["fixed_count"], "poisson")):
        c, a = nested_effects(rng, p)
        eta = (fx["(Intercept)"] + fx["time"] * time + fx["treat"] * treat
               + c[cidx] + a[pidx, 0] + a[pidx, 1] * time)
        if draw == "binomial":
            out[name] = rng.binomial(1, expit(eta))
        else:
            out[name] = rng.poisson(np.exp(eta))
    return out


def simulate_crossed(seed=SEED_CROSSED, p=CROSSED):
    rng = np.random.default_rng(seed)
    ns, ni = p["n_subj"], p["n_item"]
    subj = np.repeat(np.arange(1, ns + 1), ni)
    item = np.tile(np.arange(1, ni + 1), ns)
    keep = rng.uniform(size=ns * ni) < p["p_keep"]
    subj, item = subj[keep], item[keep]
    n = subj.size
    cond = (item > ni // 2).astype(int)
    x = rng.normal(0.0, 1.0, size=n)
    s = rng.normal(0.0, p["sd_subj"], size=ns)
    t = rng.normal(0.0, p["sd_item"], size=ni)
    fx = p["fixed"]
    eta = fx["(Intercept)"] + fx["x"] * x + fx["cond"] * cond + s[subj - 1] + t[item - 1]
    mu = np.exp(eta)
    y = rng.poisson(mu)
    th = p["nb_theta"]
    lam = rng.gamma(shape=th, scale=mu / th)
    ynb = rng.poisson(lam)
    return {"subj": subj, "item": item, "x": x, "cond": cond, "y": y, "ynb": ynb}


def main():
    os.makedirs(OUT, exist_ok=True)
    nested = simulate_nested()
    write_csv(os.path.join(OUT, "sim_nested.csv"), nested)
    crossed = simulate_crossed()
    write_csv(os.path.join(OUT, "sim_crossed.csv"), crossed)
    print(f"sim_nested  rows={len(nested['ybin'])} mean ybin={nested['ybin'].mean():.3f} "
          f"mean ycount={nested['ycount'].mean():.3f} max ycount={nested['ycount'].max()}")
    print(f"sim_crossed rows={len(crossed['y'])} mean y={crossed['y'].mean():.3f} "
          f"mean ynb={crossed['ynb'].mean():.3f} max ynb={crossed['ynb'].max()}")


if __name__ == "__main__":
    main()
