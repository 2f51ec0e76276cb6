"""
Worked example: ``python -m statsmodels_glmm``.

Simulates panel studies (400 people, 5 waves, some missed visits) and fits
mixed models with correlated random intercepts and slopes to a binary, a
count, an overdispersed count and an ordinal outcome.  Prints what a reader
of the results needs: summaries, odds and rate ratios, a check of the
Laplace approximation against adaptive quadrature, subject-specific versus
population-averaged (GEE) effects, an overdispersion check and model
comparison, and predictions for a new person.
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


FORMULA = "y ~ time * group + stress + (1 + time | id)"


def _fit_and_show(df, family):
    """Fit the example model, print its summary and the fit time."""
    t0 = time.perf_counter()
    res = smg.mixedglm(FORMULA, df, family=family).fit()
    elapsed = time.perf_counter() - t0
    print(res.summary())
    print(f"(fitted in {elapsed:.2f} s)")
    return res


def main(argv=None):
    """Run the worked example and print its results (returns the exit code 0)."""
    warnings.simplefilter("ignore", FutureWarning)
    n_persons = 400
    seed = 2024

    _section("Binary outcome: did the participant use the substance this wave?")
    df = smg.simulate_longitudinal("binary", n_persons=n_persons, seed=seed)
    print(f"{df['id'].nunique()} persons, {len(df)} person-waves "
          f"({n_persons * 5 - len(df)} waves missed); true fixed effects "
          "Intercept -1.0, time 0.25, group 0.5, stress 0.4, time:group -0.2; "
          "random-intercept SD 1.0, slope SD 0.5, correlation -0.3")
    res_bin = _fit_and_show(df, sm.families.Binomial())
    print("\nConditional (subject-specific) odds ratios:")
    print(res_bin.odds_ratios().round(3))
    b = res_bin.random_effects_frame()
    print("\nConditional modes of the random effects (first 5 persons):")
    print(b.head().round(3))

    _section("Is the Laplace approximation good enough here?")
    t0 = time.perf_counter()
    check = res_bin.check_approximation(nagq=(1, 3, 5, 7, 9))
    print(check.summary())
    print(f"(checked in {time.perf_counter() - t0:.1f} s)")

    _section("Subject-specific versus population-averaged effects (GLMM vs GEE)")
    print(smg.compare_gee(res_bin).summary())

    _section("Count outcome: days used in the past month")
    dfc = smg.simulate_longitudinal("poisson", n_persons=n_persons, seed=seed + 1)
    res_cnt = _fit_and_show(dfc, sm.families.Poisson())
    print("\nConditional rate ratios:")
    print(res_cnt.rate_ratios().round(3))

    print("\nOverdispersion check (Pearson chi-square / residual df):")
    print(res_cnt.overdispersion().round(4).to_string())

    _section("Overdispersed counts: Poisson versus negative binomial")
    dfn = smg.simulate_longitudinal("negbin", n_persons=n_persons, seed=seed + 2)
    fits = {}
    for name, fam in (("Poisson", sm.families.Poisson()),
                      ("NB2", smg.families.NegativeBinomial())):
        fits[name] = smg.mixedglm(FORMULA, dfn, family=fam).fit()
    print(fits["Poisson"].overdispersion().round(4).to_string())
    print(smg.compare(fits["Poisson"], fits["NB2"], names=list(fits)).to_string())
    print(f"NB2 dispersion: alpha = {fits['NB2'].family_params.iloc[0]:.3f} "
          "(true 0.5, i.e. theta = 2)")

    _section("Ordinal outcome: symptom severity in four ordered categories")
    dfo = smg.simulate_longitudinal("ordinal", n_persons=n_persons, seed=seed + 3)
    res_ord = smg.mixedglm(FORMULA, dfo, family=smg.families.Ordinal()).fit()
    print(res_ord.summary())

    _section("Predictions for a new person at waves 0..4 (group 1, stress 0)")
    new = dfc.head(0).reindex(range(5))
    new["id"] = -1
    new["time"] = np.arange(5.0)
    new["group"] = 1.0
    new["stress"] = 0.0
    print("expected count, random effects at zero:     ",
          np.round(res_cnt.predict(new, random_effects="zero").to_numpy(), 3))
    print("expected count, averaged over people:       ",
          np.round(res_cnt.predict(new, random_effects="marginal").to_numpy(), 3))
    print("P(use), random effects at zero:             ",
          np.round(res_bin.predict(new, random_effects="zero").to_numpy(), 3))
    print("P(use), averaged over people:               ",
          np.round(res_bin.predict(new, random_effects="marginal").to_numpy(), 3))
    print("severity category probabilities, averaged over people:")
    print(res_ord.predict(new, which="prob", random_effects="marginal").round(3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
