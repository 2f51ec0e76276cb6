"""
Simulation-based (quantile) residuals of a fitted MixedGLM.

The fitted model is used as a data-generating process.  For observation
``t`` with observed response ``y_t``, ``S`` responses
``y*_{t1}, ..., y*_{tS}`` are drawn from the fitted model (new random
effects from ``N(0, G)`` by default, or each group's conditional modes),
and the residual is the position of ``y_t`` in that simulated predictive
distribution, randomised over ties:

.. math::

    \\hat F^-_t = \\frac{1}{S}\\sum_{s} 1\\{y^*_{ts} < y_t\\}, \\qquad
    \\hat F_t = \\frac{1}{S}\\sum_{s} 1\\{y^*_{ts} \\le y_t\\}, \\qquad
    r_t = \\hat F^-_t + U_t\\,(\\hat F_t - \\hat F^-_t),\\quad U_t \\sim U(0, 1).

For a continuous response ``F^- = F`` and ``r_t`` is the empirical
probability integral transform; for a discrete one the uniform draw
spreads the probability mass of the observed value (the randomised PIT of
Dunn and Smyth, 1996, with the simulated distribution in place of the
exact one, as in the scaled residuals of R's DHARMa).  If the model is
right, the ``r_t`` are (up to the ``1/S`` granularity) independent draws
from ``U(0, 1)`` whatever the family, which gives the tests below.

Tests
-----
* Uniformity: Kolmogorov-Smirnov test of ``r`` against ``U(0, 1)``.
* Dispersion (default): with ``m_t`` and ``s_t`` the mean and standard
  deviation of the ``S + 1`` values of row ``t`` (the observed one and its
  ``S`` simulations), every data set ``x`` (the observed one and each
  simulated one) is standardised, ``r_t = (x_t - m_t) / s_t`` (rows with
  ``s_t > 0``), and each group's ``r`` is replaced by its least-squares
  residual on the group's random-effect columns and a constant (the
  grouping factor with the most levels, observation-level terms left out).
  That removes the variation that random effects add within a group, the
  same for the observed and for every simulated data set, and leaves the
  variation of the observations around their group's curve:
  ``T(x) = sum_t w_t^2 / df``, with ``w`` these residuals and ``df`` the
  rows left after the groups' fits.  The fit matches the level of the
  observed data (the mean, and through it the variance of a Poisson or
  binomial response), which a simulated data set drawn with new random
  effects does not; so the statistics are compared at a common level:
  ``T`` is regressed on ``L(x) = sum_t (1 - h_t) x_t / s_t^2 / df`` (``h_t``
  the leverage of row ``t`` in its group's fit; for a Poisson response
  ``L`` estimates the expected ``T`` given the data set's random effects)
  over all ``S + 1`` data sets, and the observed residual of that
  regression is ranked among the simulated ones (two-sided; the regression
  treats the ``S + 1`` data sets alike, so the ranks are exchangeable
  whenever the data sets are).  ``ratio = T(y) / T_hat(L(y))``, the
  observed statistic over what the simulations give at the observed level
  (above 1: more variation than the model allows).  For 200 Poisson data
  sets simulated and fitted with the same random-slope model (40 persons,
  ``S = 39``) it rejected 6.5% at the 5% level.  A family with a dispersion
  parameter of its own (negative binomial, Gaussian) is fitted to the
  within-group variation too, and the test is then conservative; for 0/1
  responses it reacts to the random-effect distribution (for instance to
  random-effect variances that a Laplace fit underestimates).  Without
  groups of several rows the statistic below is used.
* Dispersion, overall (``within_groups=False``): the same ``r`` without the
  group fits, ``T(x) = mean_t r_t^2``, compared with ``T(y*_s)`` of every
  simulated data set; ``ratio = T(y) / mean_s T(y*_s)`` and a two-sided
  simulation p-value.  Pooling the observed value into ``m_t`` and ``s_t``
  treats the ``S + 1`` data sets alike, so their statistics are
  exchangeable under the model (``m_t`` and ``s_t`` from the simulations
  alone would put every simulated data set, but not the observed one,
  inside its own reference: the ratio is then biased upwards by about
  ``2 / S``, enough to flag a correct binary model on 23,000 rows).  The
  random effects drawn anew for every simulated data set dominate this
  statistic, so it has little power against overdispersion within groups,
  and since the estimates are fitted to the observed data, the observed
  statistic lies closer to the simulated ones' centre than a fresh draw
  would (conservative).
* Zero inflation: the observed number of zeros against the numbers of zeros
  of the simulated data sets (ratio and two-sided simulation p-value); not
  for Gaussian or ordinal responses.
* Outliers: rows outside the whole simulation envelope
  (``y_t < min_s y*_{ts}`` or ``y_t > max_s y*_{ts}``).  For a continuous
  response each row is outside with probability ``2 / (S + 1)``, so their
  number is compared with a Binomial(n, 2/(S+1)) (exact test, by default
  of "more outliers than expected"); for discrete data ties make the test
  conservative.

Two-sided simulation p-values are
``min(1, 2 min((1 + #{T* >= T}) / (S + 1), (1 + #{T* <= T}) / (S + 1)))``.
"""

from collections import namedtuple

import numpy as np
import pandas as pd
from scipy import stats

from ..validation import check_seed, check_whole_number

__all__ = ["SimulatedResiduals", "CheckTest", "simulated_residuals", "pit_residuals"]

#: Result of one residual test: ``statistic`` and ``pvalue`` first; ``observed``
#: and ``expected`` are the observed value of the underlying quantity and what
#: the fitted model gives for it; ``method`` names the test.
CheckTest = namedtuple("CheckTest", ["statistic", "pvalue", "observed", "expected", "method"])


def pit_residuals(observed, simulated, rng=None):
    """
    Randomised probability-integral-transform residuals from simulations.

    Parameters
    ----------
    observed : array-like, shape (n,)
        Observed responses (numbers; category codes for ordinal data).
    simulated : array-like, shape (n, nsim)
        Responses simulated from the fitted model, one column per data set.
    rng : int, numpy Generator or SeedSequence, optional
        Source (or seed) of the uniform draws that break ties.

    Returns
    -------
    ndarray, shape (n,)
        ``F^- + U (F - F^-)`` with ``F^-`` and ``F`` the shares of the
        simulations below and at-or-below the observation.

    Examples
    --------
    >>> import numpy as np
    >>> sims = np.array([[0, 1, 1, 2], [3, 4, 5, 6]])
    >>> r = pit_residuals([1, 7], sims, rng=0)
    >>> bool(0.25 <= r[0] <= 0.75), float(r[1])
    (True, 1.0)
    """
    y = np.asarray(observed, dtype=float)
    sims = np.asarray(simulated, dtype=float)
    if sims.ndim != 2 or sims.shape[0] != y.shape[0]:
        raise ValueError(f"simulated must have shape (n, nsim) with n = {len(y)}, got "
                         f"{sims.shape}")
    rng = np.random.default_rng(check_seed(rng, "rng"))
    nsim = sims.shape[1]
    below = np.count_nonzero(sims < y[:, None], axis=1) / nsim
    at_or_below = np.count_nonzero(sims <= y[:, None], axis=1) / nsim
    u = rng.random(len(y))
    return below + u * (at_or_below - below)


def _two_sided(obs, sims):
    """Two-sided simulation p-value with the +1 correction."""
    sims = np.asarray(sims, dtype=float)
    n = len(sims)
    hi = (1 + np.count_nonzero(sims >= obs)) / (n + 1)
    lo = (1 + np.count_nonzero(sims <= obs)) / (n + 1)
    return float(min(1.0, 2 * min(hi, lo)))


def _observed_numeric(res):
    """Observed responses in data order on the scale ``simulate`` draws them."""
    resp, d = res.model.response, res.model.design
    if resp.name == "Ordinal":
        y = np.asarray(d.y, dtype=float)                        # category codes
    elif resp.name == "Binomial":
        y = np.asarray(d.y[:, 0], dtype=float)                  # successes
    else:
        y = np.asarray(resp.response_value(d.y), dtype=float)   # counts / values
    return d.unsort(y)


def _simulated_numeric(res, sims):
    """Simulated responses as floats (ordinal levels mapped to their codes)."""
    resp = res.model.response
    vals = sims.to_numpy()
    if resp.name == "Ordinal":
        idx = pd.Index(list(resp.levels))
        codes = idx.get_indexer(vals.ravel())
        if np.any(codes < 0):  # numeric levels drawn as category scores
            codes = pd.Index(np.asarray(resp.scores(), dtype=float)).get_indexer(
                vals.ravel().astype(float))
        return codes.reshape(vals.shape).astype(float)
    return vals.astype(float)


def simulated_residuals(res, nsim=250, seed=None, conditional=False):
    """
    Simulation-based quantile residuals of a fitted model.

    Parameters
    ----------
    res : MixedGLMResults
    nsim : int
        Number of data sets simulated from the fitted model (at least 10).
    seed : int, numpy Generator or SeedSequence, optional
        Anything ``numpy.random.default_rng`` takes; the same seed gives the
        same residuals.
    conditional : bool
        False (default): simulate with new random effects drawn from
        ``N(0, G)``, the fitted model as a data-generating process (checks
        the random-effect distribution too).  True: simulate given each
        group's conditional modes (checks the conditional distribution).

    Returns
    -------
    SimulatedResiduals

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=60, seed=3)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> sr = res.simulated_residuals(nsim=100, seed=1)
    >>> sr.residuals.shape == (len(df),), bool(sr.residuals.between(0, 1).all())
    (True, True)
    """
    nsim_i = check_whole_number(nsim, "nsim", lowest=10)
    if not isinstance(conditional, (bool, np.bool_)):
        raise ValueError(f"conditional must be True or False, got {conditional!r}")
    rng = np.random.default_rng(check_seed(seed))
    sims = res.simulate(nsim=nsim_i, random_effects="conditional" if conditional else "new",
                        seed=rng)
    index = sims.index
    sim = _simulated_numeric(res, sims)
    obs = _observed_numeric(res)
    resid = pit_residuals(obs, sim, rng)
    predicted = np.asarray(res.predict(random_effects="conditional" if conditional else "zero"),
                           dtype=float)
    groups, group_design = _finest_groups(res)
    return SimulatedResiduals(resid, obs, sim, predicted, index,
                              family=res.model.response.name, conditional=bool(conditional),
                              groups=groups, group_design=group_design)


def _finest_groups(res):
    """
    Level of every row (data order) of the grouping factor with the most levels,
    leaving out observation-level terms, and the random-effect columns of that
    factor (rows in data order; None when unknown); ``(None, None)`` if there is
    no such factor.
    """
    d = res.model.design
    blocks = getattr(res, "_re_blocks", None)
    if blocks is None:
        blocks = [(d.group_name, None, None, d.group_labels, d.gid)]
    best = None
    for _, cols, _, labels, codes in blocks:
        if len(labels) < res.nobs and (best is None or len(labels) > best[0]):
            best = (len(labels), cols, codes)
    if best is None:
        return None, None
    _, cols, codes = best
    Z = getattr(d, "Z", None)
    design = None
    if cols is not None and Z is not None and np.ndim(Z) == 2 and len(Z) == len(codes):
        design = d.unsort(np.asarray(Z, dtype=float)[:, cols])
    return d.unsort(np.asarray(codes)), design


def _group_residuals(R, codes, design=None):
    """
    Every group's rows of ``R`` (n, k) replaced by their least-squares residuals
    on a constant and the group's rows of ``design`` (n, q).

    Returns the residuals (n, k), the leverage of every row in its group's fit,
    and the residual degrees of freedom (rows less the rank of each group's
    columns, summed over groups).  Groups of equal size are handled together.
    """
    n = R.shape[0]
    B = np.ones((n, 1))
    if design is not None and np.size(design):
        D = np.asarray(design, dtype=float).reshape(n, -1)
        rms = np.sqrt(np.mean(D * D, axis=0))
        B = np.column_stack([B, D / np.where(rms > 0, rms, 1.0)])
    order = np.argsort(codes, kind="stable")
    sc = np.asarray(codes)[order]
    starts = np.flatnonzero(np.r_[True, sc[1:] != sc[:-1]])
    sizes = np.diff(np.r_[starts, n])
    W = np.zeros_like(R)
    lev = np.zeros(n)
    df = 0
    for size in np.unique(sizes):
        rows = order[starts[sizes == size][:, None] + np.arange(size)]   # (groups, size)
        U, sv, _ = np.linalg.svd(B[rows], full_matrices=False)
        tol = sv[:, :1] * max(B.shape[1], size) * np.finfo(float).eps * 10
        U = U * (sv > tol)[:, None, :]          # an orthonormal basis of each group's columns
        Rg = R[rows]
        W[rows] = Rg - U @ (np.swapaxes(U, 1, 2) @ Rg)
        lev[rows] = np.einsum("gij,gij->gi", U, U)
        df += int(np.sum(size - np.count_nonzero(sv > tol, axis=1)))
    return W, lev, df


class SimulatedResiduals:
    """
    Simulation-based quantile residuals and the tests built on them.

    Made by :meth:`MixedGLMResults.simulated_residuals`; the construction
    and the tests are described in :mod:`statsmodels_glmm.checks.simulated_residuals`.

    Attributes
    ----------
    residuals : Series
        Residuals in ``[0, 1]``, in data order; uniform if the model is right.
    observed : ndarray
        Observed responses (successes for binomial data, category codes for
        ordinal data).
    simulated : ndarray, shape (n, nsim)
        The simulated responses on the same scale, rows in data order.
    predicted : ndarray
        Model predictions of the mean (random effects at zero for
        unconditional simulations, at their modes for conditional ones),
        used by :meth:`plot`.
    nsim : int
    conditional : bool
    groups : ndarray or None
        Group of every row (data order) for the dispersion test within
        groups: the grouping factor with the most levels, observation-level
        terms left out.
    group_design : ndarray or None
        That factor's random-effect columns, shape (n, q), rows in data
        order; the dispersion test within groups fits them (and a constant)
        in every group.  None: the constant only.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=4)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
    >>> sr = res.simulated_residuals(nsim=100, seed=2)
    >>> sr.test_uniformity().pvalue > 0.01
    True
    """

    def __init__(self, residuals, observed, simulated, predicted, index, family="",
                 conditional=False, groups=None, group_design=None):
        self.residuals = pd.Series(np.asarray(residuals, dtype=float), index=index,
                                   name="simulated_residual")
        self.observed = np.asarray(observed, dtype=float)
        self.simulated = np.asarray(simulated, dtype=float)
        self.predicted = np.asarray(predicted, dtype=float)
        self.nsim = self.simulated.shape[1]
        self.family = family
        self.conditional = conditional
        self.groups = None if groups is None else np.asarray(groups)
        self.group_design = None if group_design is None else np.asarray(group_design, float)

    def __repr__(self):
        kind = "conditional" if self.conditional else "unconditional"
        return (f"<SimulatedResiduals: {len(self.residuals)} residuals, {self.nsim} "
                f"{kind} simulations, {self.family}>")

    # ------------------------------------------------------------------ tests
    def test_uniformity(self):
        """
        Kolmogorov-Smirnov test of the residuals against ``U(0, 1)``.

        Returns
        -------
        CheckTest
            ``statistic`` is the KS distance ``D``; a small ``pvalue`` says
            the data do not look like draws from the fitted model.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> sr = SimulatedResiduals(np.linspace(0.01, 0.99, 50), np.zeros(50),
        ...                         np.zeros((50, 10)), np.zeros(50), pd.RangeIndex(50))
        >>> round(sr.test_uniformity().statistic, 3)
        0.01
        """
        r = self.residuals.to_numpy()
        ks = stats.kstest(r, "uniform")
        return CheckTest(float(ks.statistic), float(ks.pvalue), float(ks.statistic), 0.0,
                         "Kolmogorov-Smirnov test against U(0, 1)")

    def _standardised(self):
        """
        All data sets (observed first), the rows with spread, and their
        standardised values ``(x_t - m_t) / s_t``.
        """
        X = np.column_stack([self.observed, self.simulated])
        m = X.mean(1)
        sd = X.std(1, ddof=1)
        ok = sd > 1e-12 * np.maximum(np.abs(m), 1.0)
        return X[ok], sd[ok], ok, (X[ok] - m[ok, None]) / sd[ok, None]

    def _spread(self):
        """Overall dispersion statistic of the observed (first) and every simulated data set."""
        R = self._standardised()[3]
        stat = np.einsum("ij,ij->j", R, R) / max(R.shape[0], 1)
        return float(stat[0]), stat[1:]

    def _has_groups(self):
        return self.groups is not None and len(np.unique(self.groups)) < len(self.groups)

    def _within_spread(self):
        """
        Within-group statistic ``T`` and level ``L`` of every data set (observed
        first); None when the groups' fits leave no rows.
        """
        X, sd, ok, R = self._standardised()
        design = None if self.group_design is None else self.group_design[ok]
        W, lev, df = _group_residuals(R, np.asarray(self.groups)[ok], design)
        if df < 1:
            return None
        T = np.einsum("ij,ij->j", W, W) / df
        level = ((1.0 - lev) / sd ** 2) @ X / df
        return T, level

    def test_dispersion(self, within_groups=None):
        """
        Simulation test of the residual spread (over- or underdispersion).

        By default (when the rows have groups of several rows) each group's
        standardised residuals are fitted on the group's random-effect
        columns and a constant, and the spread left, ``T``, of the observed
        data is compared with that of every simulated data set at the same
        level of the data (see :mod:`statsmodels_glmm.checks.simulated_residuals`).

        Parameters
        ----------
        within_groups : bool, optional
            True: the test within groups described above; False: the
            overall statistic ``T(x) = mean_t ((x_t - m_t) / s_t)^2``, with
            ``m_t`` and ``s_t`` the mean and standard deviation of row ``t``'s
            observed and simulated values together (dominated by the
            random-effect draws: little power against overdispersion
            within groups).  None (default): within groups when the groups
            are known and leave rows after their fits, else overall.

        Returns
        -------
        CheckTest
            ``statistic`` is the ratio of ``T(y)`` to ``expected``, what the
            simulations give (about 1 if the model is right, above 1 for
            overdispersion); ``observed`` is ``T(y)``; two-sided simulation
            p-value.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> sims = rng.poisson(3.0, size=(200, 100))
        >>> sr = SimulatedResiduals(np.full(200, 0.5), rng.poisson(3.0, 200), sims,
        ...                         np.full(200, 3.0), pd.RangeIndex(200),
        ...                         groups=np.repeat(np.arange(40), 5))
        >>> sr.test_dispersion().pvalue > 0.05
        True
        >>> over = rng.negative_binomial(1.5, 1.5 / 4.5, 200)   # mean 3, variance 9
        >>> sr.observed = over.astype(float)
        >>> t = sr.test_dispersion()
        >>> bool(t.statistic > 2), t.pvalue < 0.05
        (True, True)
        """
        if within_groups is None:
            within = self._within_spread() if self._has_groups() else None
        elif not isinstance(within_groups, (bool, np.bool_)):
            raise ValueError(f"within_groups must be True, False or None, got {within_groups!r}")
        elif within_groups:
            if self.groups is None:
                raise ValueError("within_groups=True needs the group of every row")
            within = self._within_spread()
            if within is None:
                raise ValueError("within_groups=True needs groups with more rows than "
                                 "random effects")
        else:
            within = None
        if within is None:
            obs_stat, sim_stat = self._spread()
            expected = float(sim_stat.mean())
            ratio = obs_stat / expected if expected > 0 else np.inf
            return CheckTest(float(ratio), _two_sided(obs_stat, sim_stat), obs_stat, expected,
                             "simulated dispersion test (two-sided)")
        T, level = within
        A = np.column_stack([np.ones_like(T), level])
        coef = np.linalg.lstsq(A, T, rcond=None)[0]
        fitted = A @ coef
        e = T - fitted
        expected = float(fitted[0])
        ratio = float(T[0] / expected) if expected > 0 else np.inf
        return CheckTest(ratio, _two_sided(e[0], e[1:]), float(T[0]), expected,
                         "simulated dispersion test within groups, at the observed level "
                         "(two-sided)")

    def test_zero_inflation(self):
        """
        Observed number of zeros against the simulated numbers of zeros.

        Returns
        -------
        CheckTest
            ``statistic`` is observed / mean simulated zeros, ``observed``
            and ``expected`` the two counts; two-sided simulation p-value.
            For binomial data a zero is a row with no success.

        Raises
        ------
        ValueError
            For Gaussian and ordinal responses: neither has a zero count (the
            lowest category of an ordinal response is not a zero).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> y = np.where(rng.random(300) < 0.3, 0, rng.poisson(2.0, 300))
        >>> sr = SimulatedResiduals(np.full(300, 0.5), y, rng.poisson(1.4, (300, 200)),
        ...                         np.full(300, 1.4), pd.RangeIndex(300))
        >>> sr.test_zero_inflation().pvalue < 0.01
        True
        """
        if self.family == "Gaussian":
            raise ValueError("test_zero_inflation() is for discrete responses, not Gaussian")
        if self.family == "Ordinal":
            raise ValueError("test_zero_inflation() is for counts and binomial responses, not "
                             "ordinal ones: the lowest category of an ordinal response is not "
                             "a zero count")
        obs = int(np.count_nonzero(self.observed == 0))
        zeros = np.count_nonzero(self.simulated == 0, axis=0)
        expected = float(zeros.mean())
        ratio = obs / expected if expected > 0 else (np.inf if obs else 1.0)
        return CheckTest(float(ratio), _two_sided(obs, zeros), obs, expected,
                         "simulated zero-inflation test (two-sided)")

    def test_outliers(self, alternative="greater"):
        """
        Rows outside the whole simulation envelope against ``Binomial(n, 2/(nsim+1))``.

        Parameters
        ----------
        alternative : {"greater", "two-sided", "less"}
            "greater" (default) asks whether there are more outliers than the
            model produces.  Discrete data can rarely fall outside the
            envelope (binary data never do), so "two-sided" and "less" are
            only meaningful for continuous responses.

        Returns
        -------
        CheckTest
            ``statistic`` is the number of rows below every or above every
            simulated value, ``expected`` ``n * 2 / (nsim + 1)``; exact
            binomial p-value (conservative for discrete data).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(1)
        >>> sims = rng.normal(size=(500, 99))
        >>> y = np.r_[rng.normal(size=480), np.full(20, 10.0)]
        >>> sr = SimulatedResiduals(np.full(500, 0.5), y, sims, np.zeros(500),
        ...                         pd.RangeIndex(500))
        >>> t = sr.test_outliers()
        >>> t.statistic >= 20, t.pvalue < 0.001
        (True, True)
        """
        if alternative not in ("greater", "two-sided", "less"):
            raise ValueError("alternative must be 'greater', 'two-sided' or 'less', got "
                             f"{alternative!r}")
        y = self.observed
        out = (y < self.simulated.min(1)) | (y > self.simulated.max(1))
        k = int(np.count_nonzero(out))
        n = len(y)
        p0 = 2.0 / (self.nsim + 1)
        pval = float(stats.binomtest(k, n, p0, alternative=alternative).pvalue)
        return CheckTest(k, pval, k, n * p0,
                         f"outliers outside the simulation envelope, exact binomial test "
                         f"({alternative})")

    def tests(self):
        """
        All applicable tests as one DataFrame (rows: tests).

        ``dispersion`` is ``test_dispersion()``; when that is the test within
        groups, ``dispersion_overall`` is ``test_dispersion(within_groups=False)``;
        ``zero_inflation`` is left out for Gaussian and ordinal responses.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> sr = SimulatedResiduals(rng.random(100), rng.poisson(2, 100),
        ...                         rng.poisson(2, (100, 50)), np.full(100, 2.0),
        ...                         pd.RangeIndex(100))
        >>> list(sr.tests().index)
        ['uniformity', 'dispersion', 'zero_inflation', 'outliers']
        >>> sr.groups = np.repeat(np.arange(20), 5)
        >>> list(sr.tests().index)[:3]
        ['uniformity', 'dispersion', 'dispersion_overall']
        """
        rows = {"uniformity": self.test_uniformity(), "dispersion": self.test_dispersion()}
        if "within" in rows["dispersion"].method:
            rows["dispersion_overall"] = self.test_dispersion(within_groups=False)
        if self.family not in ("Gaussian", "Ordinal"):
            rows["zero_inflation"] = self.test_zero_inflation()
        rows["outliers"] = self.test_outliers()
        frame = pd.DataFrame([v._asdict() for v in rows.values()], index=list(rows))
        for col in ("statistic", "pvalue", "observed", "expected"):
            frame[col] = frame[col].astype(float)
        return frame

    # ------------------------------------------------------------------- plot
    def plot(self, fig=None):
        """
        QQ plot against ``U(0, 1)`` and residuals against ranked predictions.

        Left: sorted residuals against uniform quantiles ``(i - 0.5) / n``
        with the identity line and the KS p-value.  Right: residuals against
        the rank-transformed predictions (scaled to ``[0, 1]``) with lines at
        0.25, 0.5 and 0.75 and the residual quartiles in ten bins of
        prediction: under the model the bin quartiles lie near the lines.

        Parameters
        ----------
        fig : matplotlib Figure, optional
            Figure to draw on (two axes are added); a new one by default.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> sr = SimulatedResiduals(rng.random(100), rng.poisson(2, 100),
        ...                         rng.poisson(2, (100, 50)), rng.random(100),
        ...                         pd.RangeIndex(100))
        >>> fig = sr.plot()
        >>> len(fig.axes)
        2
        """
        from statsmodels.graphics import utils  # imports matplotlib

        fig = utils.create_mpl_fig(fig, figsize=(10, 4.5))
        ax1, ax2 = fig.subplots(1, 2)
        r = self.residuals.to_numpy()
        n = len(r)
        q = (np.arange(1, n + 1) - 0.5) / n
        ax1.plot(q, np.sort(r), ".", ms=3, alpha=0.6)
        ax1.plot([0, 1], [0, 1], color="C3", lw=1)
        ks = self.test_uniformity()
        ax1.set_title(f"QQ plot against U(0, 1) (KS p = {ks.pvalue:.3g})")
        ax1.set_xlabel("expected (uniform quantile)")
        ax1.set_ylabel("observed (simulated residual)")
        rank = stats.rankdata(self.predicted, method="average")
        x = (rank - 1) / max(n - 1, 1)
        ax2.plot(x, r, ".", ms=3, alpha=0.4)
        for h in (0.25, 0.5, 0.75):
            ax2.axhline(h, color="C3", lw=0.8, ls="--")
        nb = min(10, max(n // 20, 1))
        edges = np.linspace(0, 1, nb + 1)
        which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, nb - 1)
        mids = 0.5 * (edges[:-1] + edges[1:])
        counts = np.bincount(which, minlength=nb)
        order = np.lexsort((r, which))
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        for qq, style in ((0.25, ":"), (0.5, "-"), (0.75, ":")):
            pos = starts + np.floor(qq * np.maximum(counts - 1, 0)).astype(int)
            vals = np.where(counts > 0, r[order][np.minimum(pos, n - 1)], np.nan)
            ax2.plot(mids, vals, style, color="k", lw=1.2)
        ax2.set_xlim(-0.02, 1.02)
        ax2.set_ylim(-0.02, 1.02)
        ax2.set_title("Residuals against predictions")
        ax2.set_xlabel("model prediction (rank-transformed)")
        ax2.set_ylabel("simulated residual")
        fig.tight_layout()
        return fig
