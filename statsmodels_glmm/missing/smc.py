"""
Substantive-model-compatible imputation of missing covariates of a GLMM.

The chained-equations sampler of Bartlett, Seaman, White and Carpenter (2015,
SMC-FCS), with the GLMM as the substantive model.  For an incomplete covariate
``x`` and a row ``(i, t)`` whose ``x`` is missing, the full conditional
distribution of ``x_it`` is

.. math::

    p(x_{it} \\mid \\cdot) \\propto p(x_{it} \\mid z_{it}, \\bar x_{i,-t}; \\gamma)\\,
    f(y_{it} \\mid x_{it}, z_{it}, b_i; \\beta, \\phi)

where the first factor is the covariate model (a normal linear regression of
``x`` on the other covariates ``z``, the mean ``\\bar x_{i,-t}`` of ``x`` over the
person's other rows and the person means of the other time-varying covariates;
the outcome is not among its predictors) and the second is the GLMM's
conditional density of the outcome given the person's random effects ``b_i``.
One cycle, for each incomplete covariate in turn:

1. fit the GLMM to the current completed data; draw its parameters
   ``(beta*, theta*, phi*)`` from the normal approximation of their sampling
   distribution and every person's ``b_i*`` from its conditional distribution
   given the person's outcomes and current covariates
   (:func:`~.imputation.draw_internal`, :func:`~.imputation.draw_random_effects`);
2. fit the covariate model to the current completed data by least squares and
   draw ``(gamma*, sigma*)`` from their posterior under a flat prior;
3. draw every missing ``x_it`` by rejection sampling: propose
   ``x ~ N(w_it' gamma*, sigma*^2)`` and accept with probability
   ``f(y_it | x, ...) / M_it`` where ``M_it = sup_mu f(y_it | mu)`` is the
   likelihood at the mean equal to the observation (Poisson ``y^y e^-y / y!``,
   binary 1, normal ``1 / sqrt(2 pi phi)``, negative binomial at ``mu = y``).
   Rows without an observed outcome take the proposal.  The rows of a person are
   drawn one after another (the mean of the person's other rows changes with
   each draw); all persons are drawn together.

The accepted draws follow the full conditional exactly, so the imputations are
consistent with the GLMM: no interaction or link-scale transformation of the
outcome has to be written into an imputation model.
"""

import warnings

import numpy as np
import pandas as pd
from scipy.special import expit

from .imputation import draw_internal, draw_random_effects

__all__ = ["SMCImputer", "SMC_FAMILIES", "person_means", "log_bound", "rejection_sample"]

#: families whose likelihood bound ``sup_mu f(y | mu)`` is known in closed form
SMC_FAMILIES = ("Poisson", "Binomial", "Gaussian", "NegativeBinomial")


def person_means(codes, values, leave_out=False):
    """
    Mean of ``values`` over each row's person (``codes`` 0..P-1); with
    ``leave_out`` the mean over the person's other rows.  Missing values are
    skipped; a row with no value to average gets the overall mean.

    Examples
    --------
    >>> person_means(np.array([0, 0, 1, 1]), np.array([1.0, 3.0, 2.0, np.nan]))
    array([2., 2., 2., 2.])
    >>> person_means(np.array([0, 0, 0]), np.array([1.0, 3.0, 8.0]), leave_out=True)
    array([5.5, 4.5, 2. ])
    """
    v = np.asarray(values, dtype=float)
    n_p = int(codes.max()) + 1 if len(codes) else 0
    ok = np.isfinite(v)
    vz = np.where(ok, v, 0.0)
    s = np.bincount(codes, weights=vz, minlength=n_p)[codes]
    c = np.bincount(codes, weights=ok.astype(float), minlength=n_p)[codes]
    if leave_out:
        s, c = s - vz, c - ok
    return np.where(c > 0, s / np.maximum(c, 1), np.nanmean(v))


def log_bound(resp, y, extra):
    """
    ``log sup_mu f(y | mu)`` for every row: the log-likelihood at the mean equal
    to the observation (0 for a binary outcome).

    Examples
    --------
    >>> from statsmodels_glmm.families import as_response
    >>> import statsmodels.api as sm
    >>> r = as_response(sm.families.Poisson())
    >>> [round(float(v), 4) + 0.0 for v in log_bound(r, np.array([0.0, 1.0, 3.0]), np.zeros(0))]
    [0.0, -1.0, -1.4959]
    """
    if resp.name == "Binomial":
        return np.zeros(len(y))
    y = np.asarray(y, dtype=float)
    eta = y if resp.name == "Gaussian" else np.log(np.maximum(y, 1e-300))
    return resp.logpdf(y, eta, extra)


def _draw_regression(W, x, rng):
    """
    ``(gamma*, sigma*)`` drawn from the posterior of a normal linear regression
    of ``x`` on ``W`` under the prior ``p(gamma, log sigma) = const`` (least
    squares through the singular value decomposition; directions of ``W``
    without variation are left at zero).
    """
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    keep = s > s[0] * 1e-10
    U, s, Vt = U[:, keep], s[keep], Vt[keep]
    coef = Vt.T @ ((U.T @ x) / s)
    resid = x - W @ coef
    dof = max(len(x) - int(keep.sum()), 1)
    sigma = np.sqrt(resid @ resid / rng.chisquare(dof))
    gamma = coef + sigma * (Vt.T @ (rng.standard_normal(int(keep.sum())) / s))
    return gamma, sigma


def rejection_sample(mean, sigma, log_ratio, rng, max_proposals=20000):
    """
    One draw per row from the density proportional to
    ``N(x; mean_r, sigma^2) exp(log_ratio(r, x))``, ``log_ratio <= 0``, by rejection
    sampling with the normal as proposal, all rows together: each round draws
    ``K`` proposals for every row still pending (``K`` = 4, 8, ... up to 256) and
    keeps the first accepted one.  A row with none accepted after
    ``max_proposals`` proposals takes one of its last round's proposals with
    probability proportional to ``exp(log_ratio)`` (importance resampling).

    Parameters
    ----------
    mean : ndarray (rows,)
    sigma : float
    log_ratio : callable
        ``log_ratio(idx, values)``: log acceptance probabilities of ``values`` for
        rows ``idx`` (values above 0 are taken as 0).
    rng : numpy Generator
    max_proposals : int

    Returns
    -------
    (draws, number of rows resampled, number of proposals)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x, n_resampled, _ = rejection_sample(np.zeros(4000), 1.0,
    ...                                      lambda i, v: np.where(v > 0, 0.0, -np.inf), rng)
    >>> bool(x.min() > 0), n_resampled   # the half-normal
    (True, 0)
    """
    out = np.full(len(mean), np.nan)
    pending = np.arange(len(mean))
    tried, K, n_fallback, n_prop = 0, 4, 0, 0
    while pending.size:
        n = len(pending)
        cand = mean[pending, None] + sigma * rng.standard_normal((n, K))
        ll = log_ratio(np.repeat(pending, K), cand.ravel())
        ll = np.where(np.isfinite(ll), np.minimum(ll, 0.0), -np.inf).reshape(n, K)
        acc = np.log(rng.random((n, K))) < ll
        n_prop += n * K
        tried += K
        hit = acc.any(axis=1)
        out[pending[hit]] = cand[hit, np.argmax(acc[hit], axis=1)]
        if tried >= max_proposals and not hit.all():
            lw = ll[~hit]
            top = lw.max(axis=1, keepdims=True)
            w = np.exp(lw - np.where(np.isfinite(top), top, 0.0))
            w = np.where(np.isfinite(top), w, 1.0)
            p = w / w.sum(axis=1, keepdims=True)
            pick = (np.cumsum(p, axis=1) < rng.random((len(p), 1))).sum(axis=1)
            out[pending[~hit]] = cand[~hit, np.minimum(pick, K - 1)]
            n_fallback += int((~hit).sum())
            hit[:] = True
        pending = pending[~hit]
        K = min(2 * K, 256)
    return out, n_fallback, n_prop


def _draw_logistic(W, x, rng, maxiter=50):
    """
    Coefficients of a logistic regression of the 0/1 ``x`` on ``W`` drawn from
    the normal approximation of their posterior under a flat prior (maximum
    likelihood by Newton steps, covariance the inverse information; directions
    of ``W`` without variation are left at zero).
    """
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    keep = s > s[0] * 1e-10
    A = U[:, keep] * s[keep]  # W in the basis of its non-null directions
    g = np.zeros(A.shape[1])
    for _ in range(maxiter):
        p = expit(A @ g)
        info = (A * (p * (1 - p))[:, None]).T @ A + 1e-8 * np.eye(len(g))
        step = np.linalg.solve(info, A.T @ (x - p))
        g = g + step
        if np.max(np.abs(step)) < 1e-10:
            break
    p = expit(A @ g)
    info = (A * (p * (1 - p))[:, None]).T @ A + 1e-8 * np.eye(len(g))
    g = g + np.linalg.cholesky(np.linalg.inv(info)) @ rng.standard_normal(len(g))
    return Vt[keep].T @ g


class SMCImputer:
    """
    The SMC-FCS sampler over the rows of one analysis data set.

    Parameters
    ----------
    work : DataFrame
        The analysis rows (a ``RangeIndex``), every column the model reads;
        updated in place with the current imputations.
    frame : DataFrame
        Numeric version of the analysis variables (same rows): covariates,
        dummies of categorical ones and the outcome.
    names : dict
        ``{column of work: column of frame}`` for the numeric columns.
    incomplete : list of str
        Columns of ``work`` to impute (numeric).
    outcome_cols : set of str
        Columns of ``frame`` that code the outcome (not predictors of the
        covariate model).
    codes : ndarray of int
        Person of every row, 0..P-1.
    varying : list of str
        Columns of ``frame`` that vary within persons.
    fit : callable
        ``fit(work)`` returns the GLMM fitted to the current data.
    rng : numpy Generator
    labels : dict, optional
        Readable names of the columns of ``frame`` (for :meth:`predictors`).
    max_proposals : int
        Proposals per value before the rejection sampler gives up; such a value
        is drawn by importance resampling from the last proposals instead (and
        counted in ``n_fallback``).
    """

    def __init__(self, work, frame, names, incomplete, outcome_cols, codes, varying, fit, rng,
                 max_proposals=20000, labels=None):
        self.work, self.frame, self.names = work, frame, names
        self.incomplete = list(incomplete)
        self.codes, self.fit, self.rng = codes, fit, rng
        self.max_proposals = int(max_proposals)
        self.outcome_cols = set(outcome_cols)
        self.labels = dict(labels or {})
        self.varying = [v for v in varying if v not in self.outcome_cols]
        self.missing = {c: frame[names[c]].isna().to_numpy() for c in self.incomplete}
        self.n_fallback = 0
        self.n_not_converged = 0
        self.n_fits = 0
        self.n_proposals = 0
        self.n_drawn = 0
        self.affine = {}
        self.binary = {}
        for c in self.incomplete:
            obs = frame[names[c]].dropna().to_numpy()
            self.binary[c] = bool(np.isin(obs, (0.0, 1.0)).all() and len(np.unique(obs)) == 2)
        for c in self.incomplete:  # start from values drawn from the observed ones
            miss = self.missing[c]
            obs = frame[names[c]].to_numpy()[~miss]
            self._set(c, np.flatnonzero(miss), rng.choice(obs, size=int(miss.sum())))

    def predictors(self, c):
        """Predictors of the covariate model of ``c`` (besides the intercept)."""
        v = self.names[c]
        lab = {w: self.labels.get(w, w) for w in self.frame.columns}
        other = [lab[w] for w in self.frame.columns if w != v and w not in self.outcome_cols]
        return other + [f"loo({c})"] + [f"pm({lab[w]})" for w in self.varying if w != v]

    def _set(self, c, rows, values):
        v = self.names[c]
        self.frame.loc[rows, v] = values
        col = self.work[c].to_numpy(dtype=float).copy()
        col[rows] = values
        self.work[c] = col

    def _design(self, c):
        v = self.names[c]
        f = self.frame
        other = [w for w in f.columns if w != v and w not in self.outcome_cols]
        cols = [np.ones(len(f))] + [f[w].to_numpy(dtype=float) for w in other]
        cols += [person_means(self.codes, f[w].to_numpy()) for w in self.varying if w != v]
        W = np.column_stack(cols)
        bad = ~np.isfinite(W)
        if bad.any():  # a predictor missing in the row: its mean
            W[bad] = np.take(np.nanmean(np.where(bad, np.nan, W), axis=0), np.nonzero(bad)[1])
        return W

    def _outcome_model(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = self.fit(self.work)
        self.n_fits += 1
        self.n_not_converged += int(not res.converged)
        model = res.model
        resp = model.response
        if resp.name not in SMC_FAMILIES or (resp.name == "Binomial"
                                             and not np.all(model.design.y[:, 1] == 1)):
            raise NotImplementedError(
                f"method='smc' supports Poisson, binary, Gaussian and negative binomial (NB2) "
                f"outcomes, not {resp.name}; use method='pmm'")
        if model.multi:
            raise NotImplementedError("method='smc' supports one grouping factor (the person); "
                                      "use method='pmm'")
        internal = draw_internal(res, self.rng)
        b, _ = draw_random_effects(model, internal, self.rng)
        beta, _, extra = model._split(internal)
        d = model.design
        pos = np.asarray(d.row_index, dtype=np.int64)
        y = np.empty((len(self.work),) + d.y.shape[1:])
        y[pos] = d.unsort(d.y) if d.y.ndim == 1 else _unsort2(d, d.y)
        gid = np.full(len(self.work), -1)
        gid[pos] = d.unsort(d.gid)
        infit = np.zeros(len(self.work), bool)
        infit[pos] = True
        return model, beta, extra, b, y, gid, infit

    def _rows(self, model, rows, c, values):
        rep = self.work.iloc[rows].copy()
        rep[c] = values
        X, Z, off, _, _ = model._rows_for(rep, need_groups=False)
        return X, Z, off

    def _eta(self, model, beta, b, rows, gid, c, values):
        X, Z, off = self._rows(model, rows, c, values)
        return X @ beta + off + np.einsum("nq,nq->n", Z, b[gid])

    def _is_affine(self, model, rows, c):
        """
        Whether the designs of the rows are affine in ``c``: the designs at seven
        values spread over the range of ``c`` (widened by three standard
        deviations) equal those interpolated from the values 0 and 1.
        """
        x = self.frame[self.names[c]].to_numpy(dtype=float)
        sd = np.nanstd(x)
        grid = np.linspace(np.nanmin(x) - 3 * sd, np.nanmax(x) + 3 * sd, 7)
        rows = rows[:200]
        X0, Z0, o0 = self._rows(model, rows, c, 0.0)
        X1, Z1, o1 = self._rows(model, rows, c, 1.0)
        for g in grid:
            X, Z, o = self._rows(model, rows, c, g)
            for A, A0, A1 in ((X, X0, X1), (Z, Z0, Z1), (o, o0, o1)):
                ref = A0 + g * (A1 - A0)
                if not np.allclose(A, ref, rtol=1e-9, atol=1e-9 * (1 + np.abs(ref).max())):
                    return False
        return True

    def step(self, c):
        """Draw every missing value of covariate ``c`` once."""
        rng = self.rng
        model, beta, extra, b, y, gid, infit = self._outcome_model()
        resp = model.response
        v = self.names[c]
        W = self._design(c)
        x = self.frame[v].to_numpy(dtype=float)
        loo = person_means(self.codes, x, leave_out=True)
        if self.binary[c]:
            gamma = _draw_logistic(np.column_stack([W, loo]), x, rng)
        else:
            gamma, sigma = _draw_regression(np.column_stack([W, loo]), x, rng)
        miss = np.flatnonzero(self.missing[c])
        rank = pd.Series(self.codes[miss]).groupby(self.codes[miss]).cumcount().to_numpy()
        bound = np.full(len(self.work), np.nan)
        have = infit[miss]
        fit_rows = miss[have]
        bound[fit_rows] = log_bound(resp, y[fit_rows], extra)
        lin = None
        if fit_rows.size:
            if not self.binary[c] and c not in self.affine:
                self.affine[c] = self._is_affine(model, fit_rows, c)
            if self.binary[c] or self.affine[c]:  # eta = a + x s for every missing row
                a = np.full(len(self.work), np.nan)
                slope = np.full(len(self.work), np.nan)
                e0 = self._eta(model, beta, b, fit_rows, gid[fit_rows], c, 0.0)
                a[fit_rows] = e0
                slope[fit_rows] = self._eta(model, beta, b, fit_rows, gid[fit_rows], c, 1.0) - e0
                lin = (a, slope)
        for k in range(int(rank.max()) + 1 if len(rank) else 0):
            rows = miss[rank == k]
            x = self.frame[v].to_numpy(dtype=float)
            loo = person_means(self.codes, x, leave_out=True)[rows]
            mean = W[rows] @ gamma[:-1] + loo * gamma[-1]
            fitted = infit[rows]
            if self.binary[c]:  # two values: the full conditional exactly
                logit = mean.copy()
                r = rows[fitted]
                if fitted.any():
                    logit[fitted] += (resp.logpdf(y[r], lin[0][r] + lin[1][r], extra)
                                      - resp.logpdf(y[r], lin[0][r], extra))
                new = (rng.random(len(rows)) < expit(logit)).astype(float)
            else:
                new = mean + sigma * rng.standard_normal(len(rows))
                if fitted.any():
                    r = rows[fitted]
                    new[fitted] = self._reject(model, beta, extra, b, resp, r, y[r], gid[r],
                                               bound[r], mean[fitted], sigma, c, lin)
            self._set(c, rows, new)
            self.n_drawn += len(rows)

    def _reject(self, model, beta, extra, b, resp, rows, y, gid, bound, mean, sigma, c, lin):
        def log_ratio(idx, values):
            if lin is None:
                eta = self._eta(model, beta, b, rows[idx], gid[idx], c, values)
            else:
                eta = lin[0][rows[idx]] + lin[1][rows[idx]] * values
            return resp.logpdf(y[idx], eta, extra) - bound[idx]

        out, n_fallback, n_prop = rejection_sample(mean, sigma, log_ratio, self.rng,
                                                   self.max_proposals)
        self.n_fallback += n_fallback
        self.n_proposals += n_prop
        return out

    def update(self, n_cycles):
        """Run ``n_cycles`` cycles over the incomplete covariates."""
        for _ in range(n_cycles):
            for c in self.incomplete:
                self.step(c)


def _unsort2(d, a):
    out = np.empty_like(a)
    out[d.order] = a
    return out
