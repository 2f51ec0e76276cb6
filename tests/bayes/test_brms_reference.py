"""The toenail random-intercept posterior agrees with brms (Stan) under the same priors.

The reference (tests/results/brms_toenail_ri.json) comes from
tests/results/brms_script.R: 4 chains of 5000 draws after 1000 warm-up.
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

pytest.importorskip("numpyro")

import statsmodels_glmm.api as smg  # noqa: E402
from conftest import load_dataset, load_ref  # noqa: E402

PRIORS = {"Intercept": ("normal", 0, 10), "treatment[T.terbinafine]": ("normal", 0, 5),
          "time": ("normal", 0, 5), "treatment[T.terbinafine]:time": ("normal", 0, 5),
          "patientID Intercept SD": ("half_student_t", 3, 2.5)}


@pytest.mark.slow
def test_toenail_posterior_means_within_three_mcse_of_brms():
    ref = load_ref("brms_toenail_ri")["params"]
    m = smg.mixedglm("outcome_bin ~ treatment * time + (1 | patientID)",
                     load_dataset("toenail"), family=sm.families.Binomial())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = m.fit_bayes(draws=2000, tune=1000, chains=4, seed=7, priors=PRIORS,
                          progress=False)
    assert res.converged, res.convergence_messages
    for name in res.params.index:
        r = ref[name]
        tol = 3 * np.hypot(r["mcse_mean"], res.mcse[name])
        assert abs(res.params[name] - r["mean"]) < tol, (name, res.params[name], r["mean"], tol)
        # posterior SDs agree to the Monte Carlo error of an SD (about 5% here)
        assert res.bse[name] == pytest.approx(r["sd"], rel=0.08), name
