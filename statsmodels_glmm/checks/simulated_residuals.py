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
* Dispersion: with ``m_t`` and ``s_t`` the mean and standard deviation of
  the ``S + 1`` values of row ``t`` (the observed one and its ``S``
  simulations), the Pearson-type statistic
  ``T(x) = mean_t ((x_t - m_t) / s_t)^2`` (rows with ``s_t > 0``) of the
  observed data is compared with ``T(y*_s)`` of every simulated data set;
  ``ratio = T(y) / mean_s T(y*_s)`` (above 1: more variation than the
  model allows) and a two-sided simulation p-value.  Pooling the observed
  value into ``m_t`` and ``s_t`` treats the ``S + 1`` data sets alike, so
  their statistics are exchangeable under the model and the p-value is
  exact (``m_t`` and ``s_t`` from the simulations alone would put every
  simulated data set, but not the observed one, inside its own reference:
  the ratio is then biased upwards by about ``2 / S``, enough to flag a
  correct binary model on 23,000 rows).  With ``within_groups=True`` the
  standardised residuals are centred within each group before squaring,
  which removes the between-group variation that new random effects add to
  every simulated data set: more power against overdispersion within
  groups, but the statistic also reacts to a misestimated random-effect
  variance.
* Zero inflation: the observed number of zeros against the numbers of zeros
  of the simulated data sets (ratio and two-sided simulation p-value).
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
    rng : int or numpy Generator, optional
        Source of the uniform draws that break ties.

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
    rng = np.random.default_rng(rng)
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
    seed : int or numpy Generator, optional
        The same seed gives the same residuals.
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
    try:
        nsim_i = int(nsim)
    except (TypeError, ValueError):
        raise ValueError(f"nsim must be an integer, got {nsim!r}") from None
    if nsim_i != nsim or nsim_i < 10:
        raise ValueError(f"nsim must be an integer of at least 10, got {nsim!r}")
    if not isinstance(conditional, (bool, np.bool_)):
        raise ValueError(f"conditional must be True or False, got {conditional!r}")
    rng = np.random.default_rng(seed)
    sims = res.simulate(nsim=nsim_i, random_effects="conditional" if conditional else "new",
                        seed=rng)
    index = sims.index
    sim = _simulated_numeric(res, sims)
    obs = _observed_numeric(res)
    resid = pit_residuals(obs, sim, rng)
    predicted = np.asarray(res.predict(random_effects="conditional" if conditional else "zero"),
                           dtype=float)
    return SimulatedResiduals(resid, obs, sim, predicted, index,
                              family=res.model.response.name, conditional=bool(conditional),
                              groups=_finest_groups(res))


def _finest_groups(res):
    """
    Level of every row (data order) of the grouping factor with the most levels,
    leaving out observation-level terms; None if there is no such factor.
    """
    d = res.model.design
    blocks = getattr(res, "_re_blocks", None)
    if blocks is None:
        blocks = [(d.group_name, None, None, d.group_labels, d.gid)]
    best = None
    for _, _, _, labels, codes in blocks:
        if len(labels) < res.nobs and (best is None or len(labels) > best[0]):
            best = (len(labels), codes)
    return None if best is None else d.unsort(np.asarray(best[1]))


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
        Group of every row (data order) for ``within_groups`` tests: the
        grouping factor with the most levels, observation-level terms left
        out.

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
                 conditional=False, groups=None):
        self.residuals = pd.Series(np.asarray(residuals, dtype=float), index=index,
                                   name="simulated_residual")
        self.observed = np.asarray(observed, dtype=float)
        self.simulated = np.asarray(simulated, dtype=float)
        self.predicted = np.asarray(predicted, dtype=float)
        self.nsim = self.simulated.shape[1]
        self.family = family
        self.conditional = conditional
        self.groups = None if groups is None else np.asarray(groups)

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

    def _spread(self, within_groups=False):
        """Dispersion statistic of the observed (first) and every simulated data set."""
        X = np.column_stack([self.observed, self.simulated])
        m = X.mean(1)
        sd = X.std(1, ddof=1)
        ok = sd > 1e-12 * np.maximum(np.abs(m), 1.0)
        R = (X[ok] - m[ok, None]) / sd[ok, None]
        if within_groups:
            if self.groups is None:
                raise ValueError("within_groups=True needs the group of every row")
            from scipy import sparse

            g = np.asarray(self.groups)[ok]
            codes, g = np.unique(g, return_inverse=True)
            if len(codes) == len(g):
                raise ValueError("within_groups=True needs groups with more than one row")
            M = sparse.csr_matrix((np.ones(len(g)), (g, np.arange(len(g)))),
                                  shape=(len(codes), len(g)))
            size = np.asarray(M.sum(1)).ravel()
            R = R - (M @ R / size[:, None])[g]
        stat = np.einsum("ij,ij->j", R, R) / max(R.shape[0], 1)
        return float(stat[0]), stat[1:]

    def test_dispersion(self, within_groups=False):
        """
        Simulation test of the residual spread (over- or underdispersion).

        With ``m_t`` and ``s_t`` the mean and standard deviation of row
        ``t``'s observed and simulated values together,
        ``T(x) = mean_t ((x_t - m_t) / s_t)^2`` of the observed data is
        compared with the same statistic of every simulated data set; the
        ``nsim + 1`` statistics are exchangeable under the model.

        Parameters
        ----------
        within_groups : bool
            Centre the standardised residuals within each group first
            (removes between-group variation: more power against
            overdispersion within groups, but also sensitive to a
            misestimated random-effect variance).

        Returns
        -------
        CheckTest
            ``statistic`` is ``T(y) / mean T(y*)`` (about 1 if the model is
            right, above 1 for overdispersion), ``observed`` ``T(y)``,
            ``expected`` the mean of ``T(y*)``; two-sided simulation p-value.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> sims = rng.poisson(3.0, size=(200, 100))
        >>> sr = SimulatedResiduals(np.full(200, 0.5), rng.poisson(3.0, 200), sims,
        ...                         np.full(200, 3.0), pd.RangeIndex(200))
        >>> sr.test_dispersion().pvalue > 0.05
        True
        """
        obs_stat, sim_stat = self._spread(within_groups)
        expected = float(sim_stat.mean())
        ratio = obs_stat / expected if expected > 0 else np.inf
        kind = ", within groups" if within_groups else ""
        return CheckTest(float(ratio), _two_sided(obs_stat, sim_stat), obs_stat, expected,
                         f"simulated dispersion test (two-sided{kind})")

    def test_zero_inflation(self):
        """
        Observed number of zeros against the simulated numbers of zeros.

        Returns
        -------
        CheckTest
            ``statistic`` is observed / mean simulated zeros, ``observed``
            and ``expected`` the two counts; two-sided simulation p-value.
            For ordinal data "zero" is the lowest category; for binomial data
            a row with no success.

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

        ``dispersion_within`` (when the groups are known) is
        ``test_dispersion(within_groups=True)``; ``zero_inflation`` is left
        out for Gaussian responses.

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
        ['uniformity', 'dispersion', 'dispersion_within']
        """
        rows = {"uniformity": self.test_uniformity(), "dispersion": self.test_dispersion()}
        if self.groups is not None and len(np.unique(self.groups)) < len(self.groups):
            rows["dispersion_within"] = self.test_dispersion(within_groups=True)
        if self.family != "Gaussian":
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
