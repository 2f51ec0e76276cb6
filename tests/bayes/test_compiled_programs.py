"""JAX keeps the programs it compiles, each in memory maps of its own, and every NUTS
run compiles its own: when the process's maps crowd the kernel's limit, a Bayesian fit
first drops them, so that many fits in one process do not end in a failed compilation
(a segmentation fault inside XLA).  Those caches also keep each run's loop functions: a
finished fit empties what they bind, so that its model, data and draws go with the
results."""

import os
import sys

import pytest
import statsmodels.api as sm

pytest.importorskip("numpyro")

import statsmodels_glmm.api as smg  # noqa: E402
from statsmodels_glmm.bayes import _deps  # noqa: E402

linux_maps = pytest.mark.skipif(not os.path.exists("/proc/self/maps")
                                or _deps._map_limit() is None,
                                reason="the memory-map counts are read from /proc (Linux)")


def _maps():
    return _deps._count_lines(_deps._MAPS)


def _compiled():
    """A jitted function with one compiled program in its cache."""
    import jax
    import jax.numpy as jnp

    f = jax.jit(lambda x: 2.0 * x + 1.0)
    f(jnp.ones(3))
    assert f._cache_size() == 1
    return f


def _short_fit():
    df = smg.simulate_longitudinal("binary", n_persons=40, seed=2)
    m = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial())
    with pytest.warns(Warning):  # a run this short warns about its ESS
        return m.fit_bayes(draws=20, tune=20, chains=1, seed=0, progress=False)


@linux_maps
def test_compiled_programs_hold_maps_until_a_crowded_process_drops_them():
    import jax
    import jax.numpy as jnp

    f = _compiled()
    start = _maps()
    # forty programs of their own, as the closures over its data a fit compiles
    fns = [jax.jit(lambda x, k=k: jnp.sin(x) * k) for k in range(40)]
    for g in fns:
        g(jnp.ones(3))
    before = _maps()
    assert before > start + 40
    # below the share nothing is dropped ...
    assert _deps.release_compiled_if_crowded(share=1.0) is False
    assert f._cache_size() == 1 and _maps() >= before
    # ... above it every program goes, and the maps they held with them
    assert _deps.release_compiled_if_crowded(share=0.0) is True
    assert f._cache_size() == 0 and all(g._cache_size() == 0 for g in fns)
    assert _maps() < before - 40


@linux_maps
def test_fit_bayes_drops_the_programs_first_when_the_maps_are_crowded(monkeypatch):
    f = _compiled()
    monkeypatch.setattr(_deps, "MAP_SHARE", 0.0)
    _short_fit()
    assert f._cache_size() == 0  # dropped before the run compiled its own


def test_nothing_is_dropped_without_a_limit_or_without_jax(monkeypatch):
    f = _compiled()
    monkeypatch.setattr(_deps, "_MAP_LIMIT", "/nonexistent/max_map_count")
    assert _deps.release_compiled_if_crowded(share=0.0) is False
    monkeypatch.undo()
    monkeypatch.delitem(sys.modules, "jax")
    assert _deps.release_compiled_if_crowded(share=0.0) is False
    monkeypatch.undo()
    assert f._cache_size() == 1


def test_a_bayesian_fit_lets_its_model_and_draws_go_when_the_user_drops_them(monkeypatch):
    # NumPyro's and JAX's caches keep each run's loop functions, which bind the model
    # function (so the model and its data) and the MCMC object (so the draws)
    import gc
    import weakref

    import numpyro.infer

    runs = []
    run = numpyro.infer.MCMC.run

    def watched(self, *args, **kwargs):
        runs.append(self)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(numpyro.infer.MCMC, "run", watched)
    r = _short_fit()
    assert r.params.shape == (3,)
    ref = weakref.ref(r.model)
    del r
    gc.collect()
    assert ref() is None
    assert [getattr(runs[0], k) for k in ("_states", "_states_flat")] == [None, None]
    with pytest.raises(RuntimeError, match="released"):
        runs[0].sampler.model()
