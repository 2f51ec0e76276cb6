"""
Inference beyond Wald: likelihood-ratio tests, profile and bootstrap intervals.

The methods of :class:`InferenceMixin` become methods of
:class:`statsmodels_glmm.results.MixedGLMResults`:

* :meth:`~InferenceMixin.compare_lr_test`: likelihood-ratio test of a nested
  fit, with the chi-bar-square reference when a variance is tested at zero,
  or a parametric bootstrap of the statistic;
* :meth:`~InferenceMixin.conf_int`: Wald intervals that keep variances
  positive, profile likelihood intervals, bootstrap percentile intervals;
* :meth:`~InferenceMixin.profile`, :meth:`~InferenceMixin.bootstrap` and
  :meth:`~InferenceMixin.convergence_report`.
"""

import warnings

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["InferenceMixin", "LRTestResult"]


class LRTestResult(tuple):
    """
    ``(statistic, pvalue, df_diff)`` of a likelihood-ratio test, with details.

    Behaves as the tuple statsmodels' ``compare_lr_test`` returns; the
    attributes say how the p-value was obtained.

    Attributes
    ----------
    statistic, pvalue : float
    df_diff : int
    rule : str
        ``"chi2"``, ``"chibar"`` (50:50 mixture of ``chi2(df-1)`` and
        ``chi2(df)``), ``"chi2-conservative"`` or ``"bootstrap"``.
    reference : str
        The reference distribution, e.g. ``"0.5 chi2(0) + 0.5 chi2(1)"``.
    boundary : list of str
        Removed parameters on the boundary of the parameter space.
    note : str
    chi2_pvalue : float
        The naive ``chi2(df)`` p-value, for comparison.
    bootstrap : dict or None
        For ``method="bootstrap"``: ``lr`` (the replicate statistics),
        ``n``, ``n_failed``, ``seed``.
    """

    def __new__(cls, statistic, pvalue, df_diff, **info):
        self = super().__new__(cls, (float(statistic), float(pvalue), int(df_diff)))
        for k, v in info.items():
            setattr(self, k, v)
        return self

    statistic = property(lambda self: self[0])
    pvalue = property(lambda self: self[1])
    df_diff = property(lambda self: self[2])

    def __repr__(self):
        return (f"LRTestResult(statistic={self[0]:.4f}, pvalue={self[1]:.4g}, "
                f"df_diff={self[2]}, reference={getattr(self, 'reference', '')!r})")

    def __reduce__(self):
        return (_rebuild_lr, (tuple(self), dict(self.__dict__)))


def _rebuild_lr(values, info):
    return LRTestResult(*values, **info)


def _check_nested(full, restricted):
    """ValueError unless ``restricted`` is a special case of ``full`` on the same data."""
    from .compare import _family_key, _family_nested

    if not hasattr(restricted, "llf") or not hasattr(restricted, "model"):
        raise ValueError("restricted must be a fitted MixedGLM result")
    mf, mr = full.model, restricted.model
    if int(mf.nobs) != int(mr.nobs):
        raise ValueError(f"restricted: the models use different data ({mf.nobs} and "
                         f"{mr.nobs} observations); refit both on the same rows")
    if mf.design.endog_name != mr.design.endog_name:
        raise ValueError(f"restricted: different responses ({mf.design.endog_name!r} and "
                         f"{mr.design.endog_name!r})")
    yf = np.asarray(mf.endog, dtype=float)
    yr = np.asarray(mr.endog, dtype=float)
    if yf.shape != yr.shape or not np.allclose(yf, yr, equal_nan=True):
        raise ValueError("restricted: the response values differ between the models; "
                         "they must be fitted to the same data")
    if not np.array_equal(np.asarray(mf.design.row_index), np.asarray(mr.design.row_index)):
        raise ValueError("restricted: the models use different data rows")
    gf, gr = set(mf.cov_struct.groups), set(mr.cov_struct.groups)
    if not gr <= gf:
        raise ValueError(f"restricted: grouping factor(s) {sorted(gr - gf)} are not in this "
                         "model")
    kf, kr = _family_key(mf.response), _family_key(mr.response)
    if kf != kr and not _family_nested(kr, kf):
        raise ValueError(f"restricted: the families differ ({mf.response.name} and "
                         f"{mr.response.name}) and the restricted one is not a special case")
    if kf == kr and mf.response.link_name != mr.response.link_name:
        raise ValueError(f"restricted: the links differ ({mf.response.link_name} and "
                         f"{mr.response.link_name})")
    if full.nagq != restricted.nagq:
        raise ValueError(f"restricted: the fits use different integration rules (nagq "
                         f"{full.nagq} and {restricted.nagq}); refit with the same nagq")
    nf, nr = len(mf.param_names), len(mr.param_names)
    if nr >= nf:
        raise ValueError(f"restricted has {nr} parameters and this model {nf}: the "
                         "restricted model must have fewer (call it on the larger model)")
    missing = [n for n in mr.param_names if n not in set(mf.param_names)]
    if missing:
        raise ValueError(f"restricted: the models are not nested; parameters "
                         f"{missing} of the restricted model are not in this one")


def _positive_family_rows(model, internal):
    """Indices (in params) of family parameters reported as ``exp(c * internal)``."""
    p, k = model.k_fe, model.k_re
    resp = model.response
    if not model.k_extra:
        return []
    extra = np.asarray(internal, dtype=float)[p + k:]
    J = resp.extra_jacobian(extra)
    pub = resp.extra_public(extra)
    out = []
    for j in range(len(extra)):
        if np.any(np.abs(np.delete(J[j], j)) > 0) or pub[j] <= 0:
            continue
        # d public / d internal proportional to public: a log-scale parameter
        e2 = extra.copy()
        e2[j] += 0.1
        ratio = J[j, j] / pub[j]
        J2 = resp.extra_jacobian(e2)
        pub2 = resp.extra_public(e2)
        if pub2[j] > 0 and np.isclose(J2[j, j] / pub2[j], ratio, rtol=1e-4):
            out.append(p + k + j)
    return out


class InferenceMixin:
    """Likelihood-ratio tests and interval methods of a fitted MixedGLM."""

    # ------------------------------------------------------------ LR test
    def compare_lr_test(self, restricted, method="lr", n=200, seed=None, n_jobs=1,
                        progress=False):
        """
        Likelihood-ratio test of a nested (restricted) model against this one.

        .. math:: LR = 2\\,(\\ell_{full} - \\ell_{restricted}).

        With no parameter on a boundary the reference is ``chi2(df)``,
        ``df`` the difference in the number of parameters.  When the
        restriction removes one random-effect variance (a random slope or a
        random-effect term) with its covariances, the variance sits on the
        boundary of its space under the null, and the reference is the
        chi-bar-square mixture (Self and Liang 1987; Stram and Lee 1994)

        .. math::

            P(LR \\ge x) = \\tfrac12 P(\\chi^2_{df-1} \\ge x)
                         + \\tfrac12 P(\\chi^2_{df} \\ge x)

        (dropping a random intercept's variance: ``0.5 chi2(0) + 0.5 chi2(1)``;
        a random slope correlated with a kept intercept: ``0.5 chi2(1) +
        0.5 chi2(2)``).  The same holds for the negative binomial ``alpha``
        tested at zero (Poisson restriction).  When several variances are
        removed at once the conservative ``chi2(df)`` p-value is reported and
        ``rule`` says so.  Removed parameters are found by comparing the
        parameter names of the two models.

        Parameters
        ----------
        restricted : MixedGLMResults
            Fit of a special case of this model to the same data.
        method : {"lr", "bootstrap"}
            ``"bootstrap"``: a parametric bootstrap of the statistic; ``n``
            data sets are simulated from the restricted fit, both models are
            refitted to each (from their estimates), and
            ``p = (1 + #{LR* >= LR}) / (n_ok + 1)``, ``n_ok`` the replicates
            whose two refits succeeded.
        n, seed, n_jobs, progress
            Replicates, seed, worker processes and progress bar for the
            bootstrap (see :meth:`bootstrap`).

        Returns
        -------
        LRTestResult
            The tuple ``(statistic, pvalue, df_diff)`` with attributes
            ``rule``, ``reference``, ``boundary``, ``note``,
            ``chi2_pvalue`` and ``bootstrap``.

        Raises
        ------
        ValueError
            When the models are not nested: different data rows or response,
            different family (other than Poisson inside negative binomial or
            a count family inside its zero-inflated version), different
            ``nagq``, or a restricted model with as many parameters.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=60, seed=3)
        >>> big = smg.mixedglm("y ~ time + (1 + time | id)", df,
        ...                    family=sm.families.Poisson()).fit()
        >>> small = smg.mixedglm("y ~ time + (1 | id)", df,
        ...                      family=sm.families.Poisson()).fit()
        >>> stat, p, ddf = big.compare_lr_test(small)
        >>> ddf, big.compare_lr_test(small).reference
        (2, '0.5 chi2(1) + 0.5 chi2(2)')
        >>> bool(np.isclose(stat, 2 * (big.llf - small.llf)))
        True
        """
        from .compare import lr_reference

        _check_nested(self, restricted)
        if method not in ("lr", "bootstrap"):
            raise ValueError(f"method must be 'lr' or 'bootstrap', got {method!r}")
        stat = max(2.0 * (float(self.llf) - float(restricted.llf)), 0.0)
        ref = lr_reference(self, restricted)
        chi2_p = float(stats.chi2.sf(stat, ref.df))
        if ref.rule == "chi2-conservative":
            warnings.warn(ref.note, UserWarning, stacklevel=2)
        if method == "lr":
            return LRTestResult(stat, ref.pvalue(stat), ref.df, rule=ref.rule,
                                reference=ref.label, boundary=ref.boundary, note=ref.note,
                                chi2_pvalue=chi2_p, bootstrap=None)
        from .bootstrap import _check_n, run_refits, simulate_responses

        n = _check_n(n)
        ys = simulate_responses(restricted, n, seed)
        specs = [(self.model, np.asarray(self.params, float), self.nagq),
                 (restricted.model, np.asarray(restricted.params, float), restricted.nagq)]
        outs = run_refits(specs, ys, n_jobs=n_jobs, progress=progress, desc="LR bootstrap")
        lr = np.full(n, np.nan)
        for i, (f, r) in enumerate(outs):
            if f[0] is not None and r[0] is not None:
                lr[i] = max(2.0 * (f[1] - r[1]), 0.0)
        ok = lr[np.isfinite(lr)]
        n_failed = int(n - len(ok))
        # refits that land a hair below the restricted optimum count as LR* = 0
        p = (1.0 + np.sum(ok >= stat - 1e-8)) / (len(ok) + 1.0)
        note = (f"parametric bootstrap: {len(ok)} data sets simulated from the restricted "
                f"fit, both models refitted ({n_failed} failed); p = (1 + #{{LR* >= LR}}) / "
                f"(n + 1); asymptotic reference would be {ref.label}")
        return LRTestResult(stat, p, ref.df, rule="bootstrap", reference="parametric bootstrap",
                            boundary=ref.boundary, note=note, chi2_pvalue=chi2_p,
                            asymptotic_pvalue=ref.pvalue(stat),
                            bootstrap={"lr": lr, "n": n, "n_failed": n_failed, "seed": seed})

    # ------------------------------------------------------------ intervals
    def conf_int(self, alpha=0.05, cols=None, method="wald", re_scale="var", **kwargs):
        """
        Confidence intervals for the parameters.

        Parameters
        ----------
        alpha : float
            ``1 - alpha`` coverage.
        cols : list of int or str, optional
            Parameters to return (positions or names); default all.
        method : {"wald", "profile", "boot"}
            ``"wald"``: ``estimate +- z se`` for fixed effects and other
            unbounded parameters; variances get the delta-method interval on
            the log-SD scale,

            .. math::

                \\exp\\big(\\log \\hat\\sigma \\pm z\\, se(\\hat v) / (2 \\hat v)\\big)^2
                = \\hat v \\exp(\\pm z\\, se(\\hat v) / \\hat v),

            which is never negative; covariances get the interval of the
            correlation on the Fisher-z scale, ``tanh(atanh(r) +- z
            se(r) / (1 - r^2))`` with ``se(r)`` by the delta method, times the
            estimated SDs (the SDs are held at their estimates);
            positive family parameters (negative binomial ``alpha``,
            Gaussian ``scale``) are handled on the log scale.  Variances at
            zero (boundary) have no Wald interval (NaN).
            ``"profile"``: likelihood-ratio intervals from :meth:`profile`
            (variance rows are the squared SD limits; covariance rows the
            correlation limits times the estimated SDs; parameters that
            cannot be profiled keep their Wald interval, with a warning).
            ``"boot"``: percentile intervals of :meth:`bootstrap`.
        re_scale : {"var", "sd"}
            Random-effect rows as variances and covariances (the parameters'
            own rows), or as standard deviations (``"<group> <term> SD"``,
            lme4's ``.sig01``) and correlations (``"... Corr"``): the square
            roots of the variance limits, and the correlation limits (for
            ``"boot"``, quantiles of the replicates' SDs and correlations).
        **kwargs
            For ``"profile"``: passed to :meth:`profile`.  For ``"boot"``:
            ``boot`` (an existing :class:`~statsmodels_glmm.inference.bootstrap.BootstrapResults`)
            or ``n`` (default 500), ``seed``, ``n_jobs``, ``progress``, and
            ``kind`` (default ``"percentile"``).

        Returns
        -------
        DataFrame
            Columns ``0`` (lower) and ``1`` (upper), one row per parameter,
            as statsmodels' ``conf_int``.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=40, seed=4)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
        >>> ci = res.conf_int()
        >>> bool(ci.loc["id Intercept Var", 0] > 0)
        True
        >>> pci = res.conf_int(method="profile")
        >>> bool(pci.loc["time", 0] < res.params["time"] < pci.loc["time", 1])
        True
        >>> sd = res._results.conf_int(method="profile", re_scale="sd")
        >>> bool(np.allclose(sd.loc["id Intercept SD"] ** 2, pci.loc["id Intercept Var"]))
        True
        """
        if not (0 < alpha < 1):
            raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
        if re_scale not in ("var", "sd"):
            raise ValueError(f"re_scale must be 'var' or 'sd', got {re_scale!r}")
        names = list(self.model.param_names)
        boot_ci = None
        if method == "wald":
            if kwargs:
                raise TypeError(f"unexpected keyword argument(s) for method='wald': "
                                f"{', '.join(sorted(kwargs))}")
            ci = self._wald_ci(alpha)
        elif method == "profile":
            ci = self._profile_ci(alpha, **kwargs)
        elif method in ("boot", "bootstrap"):
            boot = kwargs.pop("boot", None)
            kind = kwargs.pop("kind", "percentile")
            if boot is None:
                kwargs.setdefault("n", 500)
                kwargs.setdefault("progress", False)
                boot = self.bootstrap(**kwargs)
            elif kwargs:
                raise TypeError(f"unexpected keyword argument(s) with boot=: "
                                f"{', '.join(sorted(kwargs))}")
            b = boot.conf_int(alpha, kind=kind)
            ci = pd.DataFrame({0: b["lower"].to_numpy(), 1: b["upper"].to_numpy()},
                              index=names)
            if re_scale == "sd":
                boot_ci = boot.conf_int(alpha, kind=kind, re_scale="sd")
        else:
            raise ValueError(f"method must be 'wald', 'profile' or 'boot', got {method!r}")
        if re_scale == "sd":
            ci = self._sd_corr_rows(ci, boot_ci)
            names = list(ci.index)
        if cols is not None:
            sel = []
            items = list(cols) if isinstance(cols, (list, tuple, np.ndarray, pd.Index)) \
                else [cols]
            for c in items:
                if isinstance(c, (int, np.integer)):
                    if not 0 <= c < len(names):
                        raise ValueError(f"cols: position {c} is out of range")
                    sel.append(names[c])
                elif c in names:
                    sel.append(c)
                else:
                    raise ValueError(f"cols: {c!r} is not a parameter name")
            ci = ci.loc[sel]
        return ci

    def _sd_corr_rows(self, ci, boot_ci=None):
        """Variance rows to SD rows, covariance rows to correlation rows."""
        from .bootstrap import sd_corr_map

        m = self.model
        params = np.asarray(self.params, dtype=float)
        out = ci.copy()
        index = list(ci.index)
        for k, (nm, i, j) in sd_corr_map(m).items():
            index[k] = nm
            if boot_ci is not None:
                out.iloc[k] = boot_ci.loc[nm].to_numpy()
            elif i == j:
                out.iloc[k] = np.sqrt(np.maximum(ci.iloc[k].to_numpy(dtype=float), 0.0))
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    out.iloc[k] = ci.iloc[k].to_numpy(dtype=float) / np.sqrt(
                        params[i] * params[j])
        out.index = index
        return out

    def _wald_ci(self, alpha):
        """Wald intervals; variances on the log-SD scale, covariances on Fisher's z."""
        m = self.model
        names = list(m.param_names)
        base = np.asarray(super().conf_int(alpha=alpha), dtype=float)
        params = np.asarray(self.params, dtype=float)
        V = np.asarray(self.normalized_cov_params, dtype=float)
        z = stats.norm.ppf(1 - alpha / 2)
        out = base.copy()
        p = m.k_fe
        cs = m.cov_struct
        var_pos = {}
        for k, (a, b) in enumerate(cs.positions):
            if a == b:
                var_pos[a] = p + k
        for k, (a, b) in enumerate(cs.positions):
            j = p + k
            if a == b:
                v, se = params[j], np.sqrt(V[j, j]) if V[j, j] >= 0 else np.nan
                if v > 0 and np.isfinite(se):
                    out[j] = v * np.exp(-z * se / v), v * np.exp(z * se / v)
                else:
                    out[j] = np.nan
                continue
            ia, ib = var_pos[a], var_pos[b]
            va, vb, c = params[ia], params[ib], params[j]
            idx = [ia, j, ib]
            sub = V[np.ix_(idx, idx)]
            if va <= 0 or vb <= 0 or not np.all(np.isfinite(sub)):
                out[j] = np.nan
                continue
            sa, sb = np.sqrt(va), np.sqrt(vb)
            r = c / (sa * sb)
            g = np.array([-0.5 * r / va, 1.0 / (sa * sb), -0.5 * r / vb])
            se_r = np.sqrt(max(g @ sub @ g, 0.0))
            if abs(r) >= 1 or not np.isfinite(se_r):
                out[j] = np.nan
                continue
            zr, se_z = np.arctanh(r), se_r / (1 - r * r)
            out[j] = np.tanh(zr - z * se_z) * sa * sb, np.tanh(zr + z * se_z) * sa * sb
        for j in _positive_family_rows(m, self.mle_retvals["internal_params"]):
            v, se = params[j], np.sqrt(V[j, j]) if V[j, j] >= 0 else np.nan
            out[j] = (v * np.exp(-z * se / v), v * np.exp(z * se / v)) if np.isfinite(se) \
                else (np.nan, np.nan)
        return pd.DataFrame(out, index=names, columns=[0, 1])

    def _profile_ci(self, alpha, **kwargs):
        from .profile import resolve_names

        m = self.model
        names = list(m.param_names)
        targets = resolve_names(m, None)[1]
        pr = self.profile(alpha=alpha, **kwargs)
        lim = pr.conf_int(alpha)
        wald = self._wald_ci(alpha)
        out = pd.DataFrame(np.nan, index=names, columns=[0, 1])
        cs = m.cov_struct
        p = m.k_fe
        sd = {}
        for k, (a, b) in enumerate(cs.positions):
            if a == b:
                sd[a] = np.sqrt(max(float(np.asarray(self.params)[p + k]), 0.0))
        by_var = {t.var_name: n for n, t in targets.items() if t.var_name is not None}
        for k, (a, b) in enumerate(cs.positions):
            nm = names[p + k]
            t = by_var.get(nm)
            if t is None or t not in lim.index:
                continue
            lo, hi = lim.loc[t, "lower"], lim.loc[t, "upper"]
            if a == b:
                out.loc[nm] = lo ** 2, hi ** 2
            else:
                out.loc[nm] = lo * sd[a] * sd[b], hi * sd[a] * sd[b]
        for nm in names:
            if nm in lim.index:
                out.loc[nm] = lim.loc[nm, "lower"], lim.loc[nm, "upper"]
        todo = [n for n in names if out.loc[n].isna().all()]
        if todo:
            if kwargs.get("params") is None:
                warnings.warn(f"no profile for {todo}: their Wald intervals are reported",
                              UserWarning, stacklevel=3)
            out.loc[todo] = wald.loc[todo].to_numpy()
        return out

    def profile(self, params=None, alpha=0.05, alphamax=0.01, maxsteps=30):
        """
        Profile the likelihood in each parameter (the others re-optimised).

        Traces ``zeta = sign(psi - psi_hat) sqrt(2 (llf_hat - llf_p(psi)))``
        outwards from the maximum until ``|zeta|`` passes
        ``z_{1 - alphamax/2}``, and solves exactly for the ``1 - alpha``
        limits.  Random-effect variances are profiled as standard
        deviations (rows ``"<group> <term> SD"``, lme4's ``.sig01``), the
        correlation of a two-term block as ``"... Corr"``.

        Parameters
        ----------
        params : list of str, optional
            Names to profile (fixed effects, ``"... SD"`` or ``"... Var"``,
            ``"... Corr"`` or ``"... Cov"``, family parameters); default all
            that can be.
        alpha, alphamax, maxsteps
            See :func:`statsmodels_glmm.inference.profile.profile`.

        Returns
        -------
        statsmodels_glmm.inference.profile.Profile
            With ``frame`` (parameter, value, zeta, llf), ``conf_int()`` and
            ``plot()``.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=40, seed=4)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
        >>> pr = res.profile(["id Intercept Var"])
        >>> pr.parameters
        ['id Intercept SD']
        """
        from .profile import profile

        return profile(self, params=params, alpha=alpha, alphamax=alphamax, maxsteps=maxsteps)

    # ------------------------------------------------------------ bootstrap
    def bootstrap(self, n, seed=None, progress=True, n_jobs=1):
        """
        Parametric bootstrap of the estimates.

        Simulates ``n`` responses from the fitted model with new random
        effects (``simulate(random_effects="new")``), refits the model to
        each starting from these estimates, and collects the replicates.
        Failed refits are counted, not raised.

        Parameters
        ----------
        n : int
            Number of replicates.
        seed : int, optional
            One independent generator per replicate from
            ``numpy.random.SeedSequence(seed).spawn(n)``: the replicates do
            not depend on ``n_jobs``.
        progress : bool
            tqdm progress bar when tqdm is installed.
        n_jobs : int
            Worker processes for the refits (``-1``: one per CPU).

        Returns
        -------
        statsmodels_glmm.inference.bootstrap.BootstrapResults
            ``params`` (DataFrame of replicates), ``n_failed``,
            ``conf_int(alpha, kind)``, ``summary()``.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=30, seed=3)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
        >>> bt = res.bootstrap(4, seed=0, progress=False)
        >>> list(bt.params.columns) == list(res.params.index), bt.n_failed
        (True, 0)
        """
        from .bootstrap import bootstrap

        return bootstrap(self, n, seed=seed, progress=progress, n_jobs=n_jobs)
