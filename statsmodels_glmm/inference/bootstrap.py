"""
Parametric bootstrap of a fitted MixedGLM.

Replicate ``r = 1, ..., R`` draws new random effects ``b_i* ~ N(0, G_hat)``
for every group and responses ``y* ~ f(y | x' beta_hat + z' b*, phi_hat)``
at the fitted rows (``res.simulate(random_effects="new")``), then refits
the same model to ``y*`` starting from the original estimates.  The
replicate estimates ``theta_r*`` approximate the sampling distribution of
the estimator; percentile intervals are

.. math::

    [\\theta^*_{(\\alpha/2)}, \\theta^*_{(1 - \\alpha/2)}],

the empirical quantiles of the replicates (``kind="basic"`` reflects them,
``2 \\hat\\theta - \\theta^*_{(1-\\alpha/2)}, 2 \\hat\\theta - \\theta^*_{(\\alpha/2)}``,
and ``kind="normal"`` is ``\\hat\\theta \\pm z_{1-\\alpha/2} sd(\\theta^*)``).

Reproducibility: every replicate gets its own generator from
``numpy.random.SeedSequence(seed).spawn(R)``, and the responses are drawn
in the calling process, so the replicates do not depend on ``n_jobs``.
Refits run in worker processes when ``n_jobs > 1``.
"""

import os
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..likelihood.parallel import blas_single_thread
from ..validation import check_seed, check_whole_number

__all__ = ["BootstrapResults", "bootstrap", "design_response", "with_response", "refit",
           "sd_corr_map", "to_sd_corr"]


# ----------------------------------------------------------------- new data
def design_response(model, values):
    """
    A response in data order turned into the model's internal form.

    Parameters
    ----------
    model : MixedGLM
    values : array-like
        One value per fitted row, in the user's row order, on the scale
        ``res.simulate`` returns: successes for binomial data (the numbers
        of trials are kept), counts, category values for ordinal models,
        numbers for Gaussian models.

    Returns
    -------
    ndarray
        The response in group-sorted order, as ``model.design.y`` holds it
        (successes and trials for binomial data; counts followed by the
        zero-inflation design for zero-inflated models; category codes for
        ordinal models).

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=20, seed=1)
    >>> m = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson())
    >>> bool(np.array_equal(design_response(m, df["y"]), m.design.y))
    True
    """
    d, resp = model.design, model.response
    v = np.asarray(values)
    if v.ndim != 1 or len(v) != d.nobs:
        raise ValueError(f"values must hold one response per fitted row ({d.nobs}), "
                         f"got shape {v.shape}")
    v = v[d.order]
    y0 = d.y
    if getattr(resp, "simulate_codes", None) is not None:  # ordinal: category codes
        codes = pd.Index(list(resp.levels), dtype=object).get_indexer(v.astype(object))
        if np.any(codes < 0):
            codes = pd.Index(np.asarray(resp.scores(), dtype=float)).get_indexer(
                v.astype(float))
        if np.any(codes < 0):
            raise ValueError("values holds categories that are not levels of the response")
        return codes.astype(y0.dtype)
    v = v.astype(float)
    if y0.ndim == 2:  # binomial (successes, trials) or zero-inflated (count, W)
        return np.column_stack([v, y0[:, 1:]])
    return v


def with_response(model, y):
    """
    A copy of ``model`` with the same design and a new response.

    Parameters
    ----------
    model : MixedGLM
    y : ndarray
        Response in the model's internal form and group-sorted order (see
        :func:`design_response`).

    Returns
    -------
    MixedGLM
        Shares X, Z, the offsets and the scaling with ``model`` (nothing is
        rebuilt); cached structures that hold the response (the joint problem
        of a model with several grouping factors) are copied with the new one,
        and the warm-start cache of the conditional modes is cleared.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=20, seed=2)
    >>> m = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial())
    >>> y = m.design.y.copy()
    >>> y[:, 0] = 1 - y[:, 0]                # successes and trials, group-sorted
    >>> m2 = with_response(m, y)
    >>> m2.design.X is m.design.X, m2.design is m.design
    (True, False)
    """
    y = np.asarray(y)
    d0 = model.design
    if y.shape != d0.y.shape:
        raise ValueError(f"y must have the shape of the model's response {d0.y.shape}, "
                         f"got {y.shape}")
    m = _shallow_copy(model)
    d = _shallow_copy(d0)  # not copy.copy: Design's pickling hooks rebuild formula specs
    d.y = y
    d.extra = dict(d0.extra)
    m.design = d
    m.response = _shallow_copy(model.response)
    from ..likelihood.warm_start import WarmStart

    m.warm_start = WarmStart()  # the copy keeps no modes of the original's response
    # cached problems built from the data (the joint sparse Laplace problem of several
    # grouping factors holds the response): the same structure with the new response
    for key, val in list(m.__dict__.items()):
        if key.startswith("_") and getattr(val, "y", None) is d0.y:
            new = _shallow_copy(val)
            new.y = y
            m.__dict__[key] = new
    m.endog = d.unsort(m.response.response_value(y))
    return m


def _shallow_copy(obj):
    """A new instance sharing the attribute values (no pickling hooks called)."""
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    return new


def refit(model, y, start_params=None, nagq=1, **fit_kwargs):
    """
    Fit ``model``'s design to a new response (see :func:`with_response`).

    Warnings of the fit are silenced; the Laplace accuracy check is off
    unless ``check_laplace=True`` is passed.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=30, seed=3)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> again = refit(res.model, res.model.design.y, start_params=res.params)
    >>> bool(np.allclose(again.params, res.params, atol=1e-6))
    True
    """
    m = with_response(model, y)
    fit_kwargs.setdefault("check_laplace", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m.fit(nagq=nagq, start_params=start_params, **fit_kwargs)


# ------------------------------------------------------------ parallel refits
_WORKER = {}


def _init_worker(specs):
    _WORKER["specs"] = specs


def _one(specs, y):
    """Refit every (model, start, nagq) spec to ``y``: [(params, llf, converged, error)]."""
    out = []
    for model, start, nagq in specs:
        try:
            model.response.check_fit_data(y, model.design.endog_name)
            r = refit(model, y, start_params=start, nagq=nagq)
            p = np.asarray(r.params, dtype=float)
            if not (np.all(np.isfinite(p)) and np.isfinite(r.llf)):
                raise FloatingPointError("non-finite estimates")
            out.append((p, float(r.llf), bool(r.converged), None))
        except Exception as exc:  # a failed replicate is counted, not raised
            out.append((None, np.nan, False, f"{type(exc).__name__}: {exc}"))
    return out


def _chunk(items):
    specs = _WORKER["specs"]
    with blas_single_thread():
        return [(i, _one(specs, y)) for i, y in items]


def _progress_bar(total, enabled, desc):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc)


def run_refits(specs, ys, n_jobs=1, progress=False, desc="bootstrap"):
    """
    Refit each spec ``(model, start_params, nagq)`` to each response in ``ys``.

    Returns a list (one entry per response) of lists (one per spec) of
    ``(params, llf, converged, error)``.  ``n_jobs > 1`` spreads the
    responses over worker processes (``-1``: one per CPU); the answers do not
    depend on ``n_jobs``.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=30, seed=3)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> out = run_refits([(res.model, res.params, 1)], [res.model.design.y])
    >>> bool(np.isclose(out[0][0][1], res.llf))
    True
    """
    n = len(ys)
    n_jobs = _n_jobs(n_jobs)
    bar = _progress_bar(n, progress, desc)
    results = [None] * n
    try:
        if n_jobs == 1 or n <= 1:
            with blas_single_thread():
                for i, y in enumerate(ys):
                    results[i] = _one(specs, y)
                    if bar is not None:
                        bar.update(1)
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed

            size = max(1, min(8, n // (4 * n_jobs)))
            chunks = [list(enumerate(ys))[s:s + size] for s in range(0, n, size)]
            with ProcessPoolExecutor(max_workers=n_jobs, initializer=_init_worker,
                                     initargs=(specs,)) as ex:
                futures = [ex.submit(_chunk, c) for c in chunks]
                for fut in as_completed(futures):
                    part = fut.result()
                    for i, out in part:
                        results[i] = out
                    if bar is not None:
                        bar.update(len(part))
    finally:
        _WORKER.pop("specs", None)
        if bar is not None:
            bar.close()
    return results


def _n_jobs(n_jobs):
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0 \
            or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive integer or -1, got {n_jobs!r}")
    return (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)


def _check_n(n, name="n"):
    return check_whole_number(n, name)


def replicate_generators(seed, n):
    """
    ``n`` independent generators spawned from ``seed``.

    An integer (or None, or a sequence of integers) ``s`` gives
    ``default_rng(c)`` for ``c`` in ``SeedSequence(s).spawn(n)``; a
    ``SeedSequence``, ``BitGenerator`` or ``Generator`` spawns its own children
    (numpy's ``spawn``), so ``default_rng(s)`` gives the same generators as
    ``s`` and a second call with the same object gives new ones.

    Examples
    --------
    >>> a = [g.integers(100) for g in replicate_generators(5, 3)]
    >>> b = [g.integers(100) for g in replicate_generators(np.random.default_rng(5), 3)]
    >>> a == b
    True
    """
    seed = check_seed(seed)
    n = _check_n(n)
    random = np.random
    if isinstance(seed, (random.Generator, random.BitGenerator)):
        # what numpy's spawn (numpy >= 1.25) gives: children of the seed sequence,
        # each a new bit generator of the same kind
        bits = seed.bit_generator if isinstance(seed, random.Generator) else seed
        seq = getattr(bits, "seed_seq", None) or bits._seed_seq
        children = [type(bits)(child) for child in seq.spawn(n)]
        if isinstance(seed, random.Generator):
            return [random.Generator(b) for b in children]
        return children
    if not isinstance(seed, random.SeedSequence):
        seed = random.SeedSequence(seed)
    return [random.default_rng(child) for child in seed.spawn(n)]


def simulate_responses(results, n, seed=None):
    """
    ``n`` responses drawn from a fit (new random effects), in internal form.

    Replicate ``r`` uses the ``r``-th generator of :func:`replicate_generators`,
    ``default_rng(SeedSequence(seed).spawn(n)[r])`` for an integer seed.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=30, seed=3)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> a, b = simulate_responses(res, 2, seed=1), simulate_responses(res, 2, seed=1)
    >>> bool(np.array_equal(a[1], b[1])), a[0].shape == res.model.design.y.shape
    (True, True)
    """
    generators = replicate_generators(seed, n)
    model = results.model
    out = []
    for rng in generators:
        sim = results.simulate(nsim=1, random_effects="new", seed=rng)
        out.append(design_response(model, sim.iloc[:, 0].to_numpy()))
    return out


# ---------------------------------------------------- SD / correlation scale
def sd_corr_map(model):
    """
    ``{position: (new name, i, j)}`` for the covariance parameters of ``model``:
    a variance at position ``k`` becomes ``"<group> <term> SD"`` (``i = j = k``),
    a covariance ``"<group> <a> x <b> Corr"`` with ``i, j`` the positions of
    the two variances.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=20, seed=1)
    >>> m = smg.mixedglm("y ~ time + (1 + time | id)", df, family=sm.families.Poisson())
    >>> [v[0] for v in sd_corr_map(m).values()]
    ['id Intercept SD', 'id Intercept x time Corr', 'id time SD']
    """
    cs = model.cov_struct
    p = model.k_fe
    var_pos = {a: p + k for k, (a, b) in enumerate(cs.positions) if a == b}
    out = {}
    for k, (a, b) in enumerate(cs.positions):
        if a == b:
            out[p + k] = (f"{cs.groups[a]} {cs.names[a]} SD", p + k, p + k)
        else:
            out[p + k] = (f"{cs.groups[a]} {cs.names[b]} x {cs.names[a]} Corr",
                          var_pos[b], var_pos[a])
    return out


def to_sd_corr(model, params):
    """
    Parameters (a vector, or replicates as rows) with variances as SDs and
    covariances as correlations, and the new names.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=20, seed=1)
    >>> m = smg.mixedglm("y ~ time + (1 + time | id)", df, family=sm.families.Poisson())
    >>> vals, names = to_sd_corr(m, [0.1, 0.2, 4.0, -1.0, 1.0])
    >>> vals.tolist()
    [0.1, 0.2, 2.0, -0.5, 1.0]
    """
    P = np.array(params, dtype=float)
    one = P.ndim == 1
    P = np.atleast_2d(P)
    out = P.copy()
    names = list(model.param_names)
    with np.errstate(divide="ignore", invalid="ignore"):
        for k, (nm, i, j) in sd_corr_map(model).items():
            names[k] = nm
            if i == j:
                out[:, k] = np.sqrt(np.maximum(P[:, k], 0.0))
            else:
                out[:, k] = P[:, k] / np.sqrt(P[:, i] * P[:, j])
    return (out[0] if one else out), names


# ------------------------------------------------------------------ results
class BootstrapResults:
    """
    Replicates of a parametric bootstrap (see :func:`bootstrap`).

    Attributes
    ----------
    params : DataFrame
        One row per successful replicate (index: replicate number), one
        column per model parameter.
    llf : Series
        Log-likelihood of each successful refit.
    estimates : Series
        The original estimates.
    n, n_failed, n_nonconverged : int
        Replicates asked for, refits that failed (not in ``params``), and
        refits kept although the optimiser reported no convergence.
    failures : list of (int, str)
        Replicate number and error message of every failed refit.
    seed : int or None
    """

    def __init__(self, params, llf, estimates, n, failures, n_nonconverged, seed,
                 model=None):
        self.model = model
        self.params = params
        self.llf = llf
        self.estimates = estimates
        self.n = int(n)
        self.failures = list(failures)
        self.n_failed = len(self.failures)
        self.n_nonconverged = int(n_nonconverged)
        self.seed = seed

    def __repr__(self):
        return (f"<BootstrapResults: {self.n} replicates, {self.n_failed} failed, "
                f"{self.n_nonconverged} not converged>")

    def std(self):
        """Bootstrap standard errors (SD of the replicates)."""
        return self.params.std(ddof=1)

    def conf_int(self, alpha=0.05, kind="percentile", re_scale="var"):
        """
        Bootstrap confidence intervals.

        Parameters
        ----------
        alpha : float
            ``1 - alpha`` coverage.
        kind : {"percentile", "basic", "normal"}
            Quantiles of the replicates; the basic (reflected) interval
            ``2 theta_hat - q(1 - alpha/2), 2 theta_hat - q(alpha/2)``; or
            ``theta_hat +- z sd(theta*)``.
        re_scale : {"var", "sd"}
            Random-effect rows as variances and covariances, or as standard
            deviations and correlations (computed from each replicate).

        Returns
        -------
        DataFrame
            Columns ``lower``, ``upper``, one row per parameter.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=30, seed=3)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
        >>> bt = res.bootstrap(5, seed=1, progress=False)
        >>> ci = bt.conf_int()
        >>> bool((ci["lower"] <= ci["upper"]).all())
        True
        """
        if not (0 < alpha < 1):
            raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
        if len(self.params) < 2:
            raise ValueError("fewer than two successful replicates: no interval")
        if re_scale not in ("var", "sd"):
            raise ValueError(f"re_scale must be 'var' or 'sd', got {re_scale!r}")
        P, est = self.params, self.estimates
        if re_scale == "sd":
            if self.model is None:
                raise ValueError("re_scale='sd' needs the model (bootstrap results made by "
                                 "res.bootstrap)")
            vals, names = to_sd_corr(self.model, P.to_numpy())
            P = pd.DataFrame(vals, index=P.index, columns=names)
            e, _ = to_sd_corr(self.model, est.to_numpy())
            est = pd.Series(e, index=names)
        lo_q = P.quantile(alpha / 2)
        hi_q = P.quantile(1 - alpha / 2)
        if kind == "percentile":
            lo, hi = lo_q, hi_q
        elif kind == "basic":
            lo, hi = 2 * est - hi_q, 2 * est - lo_q
        elif kind == "normal":
            z = stats.norm.ppf(1 - alpha / 2)
            sd = P.std(ddof=1)
            lo, hi = est - z * sd, est + z * sd
        else:
            raise ValueError(f"kind must be 'percentile', 'basic' or 'normal', got {kind!r}")
        return pd.DataFrame({"lower": lo, "upper": hi}, index=P.columns)

    def summary(self, alpha=0.05):
        """
        Estimates, bootstrap mean, bias, standard error and percentile interval.

        Returns
        -------
        statsmodels.iolib.summary2.Summary

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=30, seed=3)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
        >>> "Bias" in str(res.bootstrap(4, seed=2, progress=False).summary())
        True
        """
        from statsmodels.iolib import summary2

        P = self.params
        tab = pd.DataFrame({"Estimate": self.estimates, "Boot mean": P.mean(),
                            "Bias": P.mean() - self.estimates, "Boot SE": P.std(ddof=1)})
        if len(P) >= 2:
            ci = self.conf_int(alpha)
            tab[f"[{alpha / 2:.3f}"] = ci["lower"]
            tab[f"{1 - alpha / 2:.3f}]"] = ci["upper"]
        smry = summary2.Summary()
        smry.add_title("Parametric bootstrap")
        smry.add_dict({"Replicates:": str(self.n), "Successful:": str(len(P)),
                       "Failed:": str(self.n_failed),
                       "Not converged (kept):": str(self.n_nonconverged),
                       "Seed:": str(self.seed)}, ncols=2)
        smry.add_df(tab, float_format="%.4f")
        if self.n_failed:
            smry.add_text(f"{self.n_failed} refit(s) failed, for example: "
                          f"{self.failures[0][1]}")
        return smry


def bootstrap(results, n, seed=None, progress=True, n_jobs=1):
    """
    Parametric bootstrap: simulate from the fit, refit, collect the estimates.

    Parameters
    ----------
    results : MixedGLMResults
    n : int
        Number of replicates.
    seed : int, SeedSequence or numpy Generator, optional
        Replicate ``r`` draws with ``default_rng(SeedSequence(seed).spawn(n)[r])``
        (a SeedSequence or Generator spawns its own children, see
        :func:`replicate_generators`): the same seed gives the same replicates
        whatever ``n_jobs``.
    progress : bool
        Show a tqdm progress bar when tqdm is installed.
    n_jobs : int
        Worker processes for the refits (``-1``: one per CPU).

    Returns
    -------
    BootstrapResults

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=30, seed=3)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> bt = bootstrap(res, 4, seed=0, progress=False)
    >>> bt.params.shape
    (4, 3)
    """
    n = _check_n(n)
    seed = check_seed(seed)
    _n_jobs(n_jobs)
    if not isinstance(progress, (bool, np.bool_)):
        raise ValueError(f"progress must be True or False, got {progress!r}")
    model = results.model
    names = list(model.param_names)
    ys = simulate_responses(results, n, seed)
    start = np.asarray(results.params, dtype=float)
    outs = run_refits([(model, start, results.nagq)], ys, n_jobs=n_jobs, progress=progress)
    rows, llfs, idx, failures, nonconv = [], [], [], [], 0
    for i, out in enumerate(outs):
        p, llf, conv, err = out[0]
        if p is None:
            failures.append((i, err))
            continue
        rows.append(p)
        llfs.append(llf)
        idx.append(i)
        nonconv += not conv
    index = pd.Index(idx, name="replicate")
    params = pd.DataFrame(np.array(rows).reshape(len(rows), len(names)), index=index,
                          columns=names)
    return BootstrapResults(params, pd.Series(llfs, index=index, name="llf"),
                            pd.Series(start, index=names), n, failures, nonconv, seed,
                            model=model)
