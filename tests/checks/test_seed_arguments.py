"""Seeds and simulation counts of the simulation-based checks: errors name the argument."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.checks.simulated_residuals import pit_residuals
from statsmodels_glmm.validation import check_seed

BAD_SEEDS = [("a", TypeError), (-1, ValueError), (1.5, TypeError), (True, TypeError),
             ([1, -2], ValueError), ([], TypeError), (["a"], TypeError), ({"a": 1}, TypeError)]


@pytest.fixture(scope="module")
def poisson_fit():
    df = smg.simulate_longitudinal("poisson", n_persons=40, seed=1)
    return smg.mixedglm("y ~ time + (1 + time | id)", df, family=sm.families.Poisson()).fit()


@pytest.mark.parametrize("seed, error", BAD_SEEDS)
def test_simulated_residuals_names_a_bad_seed(poisson_fit, seed, error):
    with pytest.raises(error, match="seed"):
        poisson_fit.simulated_residuals(nsim=20, seed=seed)


@pytest.mark.parametrize("seed, error", BAD_SEEDS)
def test_zero_inflation_test_names_a_bad_seed(poisson_fit, seed, error):
    with pytest.raises(error, match="seed"):
        poisson_fit.zero_inflation_test(nsim=20, seed=seed)


def test_pit_residuals_names_a_bad_rng():
    with pytest.raises(ValueError, match="rng"):
        pit_residuals(np.zeros(2), np.zeros((2, 3)), rng=-3)


def test_every_numpy_seed_form_gives_the_residuals_of_its_integer(poisson_fit):
    res = poisson_fit
    ref = res.simulated_residuals(nsim=20, seed=7).residuals
    for same in (np.int64(7), np.random.default_rng(7), np.random.SeedSequence(7),
                 np.random.PCG64(7)):
        pd.testing.assert_series_equal(res.simulated_residuals(nsim=20, seed=same).residuals,
                                       ref)
    a = res.simulated_residuals(nsim=20, seed=[7, 8]).residuals
    b = res.simulated_residuals(nsim=20, seed=np.array([7, 8])).residuals
    pd.testing.assert_series_equal(a, b)
    assert not np.allclose(a, ref)
    z = res.zero_inflation_test(nsim=30, seed=np.random.SeedSequence(3))
    assert z.equals(res.zero_inflation_test(nsim=30, seed=3))


def test_check_seed_returns_what_numpy_accepts():
    gen = np.random.default_rng(1)
    assert check_seed(gen) is gen
    assert check_seed(None) is None
    assert check_seed(np.uint8(4)) == 4
    assert check_seed((1, 2)) == (1, 2)


@pytest.mark.parametrize("nsim", [5, 20.5, "20", True, None, float("nan"), float("inf")])
def test_simulated_residuals_names_a_bad_nsim(poisson_fit, nsim):
    with pytest.raises(ValueError, match="nsim"):
        poisson_fit.simulated_residuals(nsim=nsim)


@pytest.mark.parametrize("nsim", [0, 2.5, "10", True, None])
def test_zero_inflation_test_names_a_bad_nsim(poisson_fit, nsim):
    with pytest.raises(ValueError, match="nsim"):
        poisson_fit.zero_inflation_test(nsim=nsim)


def test_zero_inflation_test_names_bad_random_effects(poisson_fit):
    with pytest.raises(ValueError, match="random_effects"):
        poisson_fit.zero_inflation_test(nsim=10, random_effects="modes")


BAD_COUNTS = [0, -3, 2.5, float("nan"), float("inf"), "20", True, None]


@pytest.mark.parametrize("nsim", BAD_COUNTS)
def test_every_simulation_count_is_checked_the_same_way(poisson_fit, nsim):
    calls = {"simulate": lambda: poisson_fit.simulate(nsim=nsim, seed=0),
             "zero_inflation_test": lambda: poisson_fit.zero_inflation_test(nsim=nsim, seed=0),
             "bootstrap": lambda: poisson_fit.bootstrap(nsim, seed=0, progress=False)}
    for what, call in calls.items():
        name = "n" if what == "bootstrap" else "nsim"
        with pytest.raises(ValueError, match=rf"^{name} must be a positive integer, got"):
            call()
    with pytest.raises(ValueError, match=r"^nsim must be a whole number >= 10, got"):
        poisson_fit.simulated_residuals(nsim=nsim if nsim != 0 else 9, seed=0)


def test_a_whole_float_count_is_the_same_as_the_integer(poisson_fit):
    a = poisson_fit.simulate(nsim=3.0, seed=4)
    b = poisson_fit.simulate(nsim=3, seed=4)
    pd.testing.assert_frame_equal(a, b)
    ra = poisson_fit.simulated_residuals(nsim=20.0, seed=2).residuals
    rb = poisson_fit.simulated_residuals(nsim=20, seed=2).residuals
    np.testing.assert_array_equal(ra, rb)
