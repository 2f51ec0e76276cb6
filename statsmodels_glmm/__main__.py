"""
Worked example: ``python -m statsmodels_glmm``.

Simulates a panel study (400 people, 5 waves, some missed visits), fits a
logistic GLMM to a binary outcome and a Poisson GLMM to a count outcome, each
with correlated random intercepts and slopes, and prints what a reader of
the results needs: summaries, odds and rate ratios, and the spread of the
person-specific trajectories.
"""

import sys
import time
import warnings

import numpy as np
import statsmodels.api as sm

from . import api as smg


def _section(title):
    print()
    print(title)
    print("=" * len(title))


def main(argv=None):
    warnings.simplefilter("ignore", FutureWarning)
    n_persons = 400
    seed = 2024

    _section("Binary outcome: did the participant use the substance this wave?")
    df = smg.simulate_longitudinal("binary", n_persons=n_persons, seed=seed)
    print(f"{df['id'].nunique()} persons, {len(df)} person-waves "
          f"({n_persons * 5 - len(df)} waves missed); true fixed effects "
          "Intercept -1.0, time 0.25, group 0.5, stress 0.4, time:group -0.2; "
          "random-intercept SD 1.0, slope SD 0.5, correlation -0.3")
    t0 = time.perf_counter()
    res_bin = smg.mixedglm("y ~ time * group + stress + (1 + time | id)", df,
                           family=sm.families.Binomial()).fit()
    elapsed = time.perf_counter() - t0
    print(res_bin.summary())
    print(f"(fitted in {elapsed:.2f} s)")
    print("\nConditional (subject-specific) odds ratios:")
    print(res_bin.odds_ratios().round(3))
    b = res_bin.random_effects_frame()
    print("\nConditional modes of the random effects (first 5 persons):")
    print(b.head().round(3))

    _section("Count outcome: days used in the past month")
    dfc = smg.simulate_longitudinal("poisson", n_persons=n_persons, seed=seed + 1)
    t0 = time.perf_counter()
    res_cnt = smg.mixedglm("y ~ time * group + stress + (1 + time | id)", dfc,
                           family=sm.families.Poisson()).fit()
    elapsed = time.perf_counter() - t0
    print(res_cnt.summary())
    print(f"(fitted in {elapsed:.2f} s)")
    print("\nConditional rate ratios:")
    print(res_cnt.rate_ratios().round(3))

    _section("Predictions for a new person at waves 0..4 (group 1, stress 0)")
    new = dfc.head(0).reindex(range(5))
    new["id"] = -1
    new["time"] = np.arange(5.0)
    new["group"] = 1.0
    new["stress"] = 0.0
    print("expected count with random effects at zero:",
          np.round(res_cnt.predict(new, random_effects="zero").to_numpy(), 3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
