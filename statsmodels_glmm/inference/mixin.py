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

import numpy as np
import pandas as pd
from scipy import stats

from ..exceptions import warn

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


def _data_error(diffs, arg="restricted"):
    return ValueError(f"{arg}: the models were fitted to different data: {'; '.join(diffs)}; "
                      "refit both on the same rows")


def _check_nested(full, restricted):
    """
    ValueError unless ``restricted`` is a special case of ``full`` on the same data.

    Returns the number of parameters removed (0 for two fits of one model).
    """
    from .compare import _family_key, _family_nested, _glm_family, _is_glm, _n_params
    from .same_data import data_differences, nesting_differences, rows_compared

    if not hasattr(restricted, "llf") or not hasattr(restricted, "model"):
        raise ValueError("restricted must be a fitted MixedGLM result or a statsmodels GLM "
                         "result")
    mf = full.model
    names = ("this model", "the restricted model")
    if _is_glm(restricted):
        try:
            key_r, link_r = _glm_family(restricted)
            diffs = data_differences(full, restricted, names)
        except ValueError as exc:
            raise ValueError(f"restricted: {exc}") from None
        mr_name, nr = key_r[0], _n_params(restricted)
    else:
        mr = restricted.model
        if getattr(mr, "design", None) is None:
            raise ValueError("restricted must be a fitted MixedGLM result or a statsmodels GLM "
                             "result")
        diffs = data_differences(full, restricted, names)
        key_r, link_r, mr_name = _family_key(mr.response), mr.response.link_name, \
            mr.response.name
        nr = len(mr.param_names)
    if diffs:
        raise _data_error(diffs)
    kf = _family_key(mf.response)
    if kf != key_r and not _family_nested(key_r, kf):
        raise ValueError(f"restricted: the families differ ({mf.response.name} and "
                         f"{mr_name}) and the restricted one is not a special case")
    if kf == key_r and mf.response.link_name != link_r:
        raise ValueError(f"restricted: the links differ ({mf.response.link_name} and "
                         f"{link_r})")
    nf = len(mf.param_names)
    if _is_glm(restricted):
        if nr >= nf:
            raise ValueError(f"restricted has {nr} parameters and this model {nf}: the "
                             "GLM must have fewer")
    else:
        gf, gr = set(mf.cov_struct.groups), set(mr.cov_struct.groups)
        if not gr <= gf:
            raise ValueError(f"restricted: grouping factor(s) {sorted(gr - gf)} are not in "
                             "this model")
        if full.nagq != restricted.nagq:
            raise ValueError(f"restricted: the fits use different integration rules (nagq "
                             f"{full.nagq} and {restricted.nagq}); refit with the same nagq")
        same_model = list(mr.param_names) == list(mf.param_names)
        if nr >= nf and not same_model:
            raise ValueError(f"restricted has {nr} parameters and this model {nf}: the "
                             "restricted model must have fewer (call it on the larger model)")
        # fixed effects are compared by their column spaces when the rows are at hand
        fixed = set(mr.design.exog_names) if rows_compared(full, restricted) else set()
        missing = [n for n in mr.param_names if n not in set(mf.param_names) and n not in fixed]
        if missing:
            raise ValueError(f"restricted: the models are not nested; parameters "
                             f"{missing} of the restricted model are not in this one")
    nest = nesting_differences(full, restricted)
    if nest:
        raise ValueError(f"restricted: the models are not nested: {'; '.join(nest)}")
    return nf - nr


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


def _log_scale_interval(value, var, z):
    """
    Wald interval of a positive parameter on the log scale:
    ``value * exp(-+ z * se / value)`` with ``se = sqrt(var)``.

    NaN, NaN when ``value`` is not positive, ``var`` is negative or not finite, or the
    parameter is at its boundary: an estimate within rounding of zero, whose relative
    standard error is so large that the upper limit is not a finite number.

    >>> [round(v, 12) for v in _log_scale_interval(1.0, 0.25, 2.0)]
    [0.367879441171, 2.718281828459]
    >>> _log_scale_interval(2e-11, 3.6e-11, 1.96)
    (nan, nan)
    """
    if not (value > 0 and np.isfinite(value) and np.isfinite(var) and var >= 0):
        return np.nan, np.nan
    with np.errstate(over="ignore"):
        ratio = z * np.sqrt(var) / value
    if not np.log(value) + ratio < np.log(np.finfo(float).max):
        return np.nan, np.nan
    return float(value * np.exp(-ratio)), float(value * np.exp(ratio))


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

        The two fits must use the same data, compared as
        :func:`statsmodels_glmm.inference.same_data.data_differences` does:
        the same responses (and binomial trials), offsets and grouping of
        the rows, the rows matched by their content (so fits of the same
        rows in another order or with another index agree).  On the matched
        rows the restricted model's fixed- and random-effects columns must
        be combinations of this model's.  Two fits of the same model give
        ``df_diff`` 0, a statistic of 0 up to the optimizer's tolerance and
        p-value 1.

        A statsmodels ``GLM`` result of the same family and link on the same
        data (the fixed part without random effects, as ``sm.GLM`` or
        ``smf.glm`` fit it, with an offset or exposure, binomial
        ``(successes, failures)`` or integer ``freq_weights``) answers "is a
        random effect needed?" as lme4's ``anova(glmer_fit, glm_fit)``: the
        statistic is ``2 (llf - glm.llf)`` (both log-likelihoods keep every
        normalising constant), and with one random intercept the reference
        is ``0.5 chi2(0) + 0.5 chi2(1)``.

        Parameters
        ----------
        restricted : MixedGLMResults or statsmodels GLMResults
            Fit of a special case of this model to the same data.
        method : {"lr", "bootstrap"}
            ``"bootstrap"``: a parametric bootstrap of the statistic; ``n``
            data sets are simulated from the restricted fit, both models are
            refitted to each (from their estimates), and
            ``p = (1 + #{LR* >= LR}) / (n_ok + 1)``, ``n_ok`` the replicates
            whose two refits succeeded (not for a GLM).
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
            When the models were fitted to different data (the message says
            what differs), or are not nested: different family (other than
            Poisson inside negative binomial or a count family inside its
            zero-inflated version) or link, different ``nagq``, a restricted
            model with more parameters, or restricted columns outside this
            model's column space.

        Warns
        -----
        UserWarning
            When this model's log-likelihood is below the restricted one's
            (this fit did not reach its maximum); the statistic is then 0.

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
        >>> import statsmodels.formula.api as smf
        >>> glm = smf.glm("y ~ time", df, family=sm.families.Poisson()).fit()
        >>> small.compare_lr_test(glm).reference
        '0.5 chi2(0) + 0.5 chi2(1)'
        >>> bool(np.isclose(stat, 2 * (big.llf - small.llf)))
        True
        """
        from ..exceptions import warn
        from .compare import _is_glm, _llf, lr_reference

        if method not in ("lr", "bootstrap"):
            raise ValueError(f"method must be 'lr' or 'bootstrap', got {method!r}")
        df_removed = _check_nested(self, restricted)
        if method == "bootstrap" and _is_glm(restricted):
            raise ValueError("method='bootstrap' needs a restricted model of this package (it "
                             "is refitted to every simulated data set); for a GLM use "
                             "method='lr', or fit the GLM's model with smg.mixedglm")
        llf_r = _llf(restricted)
        raw = 2.0 * (float(self.llf) - llf_r)
        if raw < -2e-3 - 1e-7 * abs(llf_r):
            warn(f"the log-likelihood of this model is {-raw / 2:.4g} below that of the "
                 "restricted model, which is a special case of it: this fit has not reached "
                 "its maximum, and the statistic is set to 0; refit this model (e.g. from "
                 "the restricted model's estimates, or with another optimizer)", UserWarning)
        stat = max(raw, 0.0)
        if df_removed == 0:
            return LRTestResult(stat, 1.0, 0, rule="chi2", reference="chi2(0)", boundary=[],
                                note="the two fits have the same parameters: no restriction "
                                     "is tested; the statistic is 0 up to the optimizer's "
                                     "tolerance", chi2_pvalue=1.0, bootstrap=None)
        ref = lr_reference(self, restricted)
        chi2_p = float(stats.chi2.sf(stat, ref.df))
        if ref.rule == "chi2-conservative":
            warn(ref.note, UserWarning)
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

    def data_differences(self, other):
        """
        What differs between the data of this fit and of ``other``.

        The responses (with binomial trials), offsets and the grouping of
        the rows (as a partition, for every grouping factor both fits have),
        the rows matched by content; see
        :func:`statsmodels_glmm.inference.same_data.data_differences`.

        Parameters
        ----------
        other : MixedGLMResults or statsmodels GLMResults

        Returns
        -------
        list of str
            Empty when the fits used the same data.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=30, seed=1)
        >>> P = sm.families.Poisson()
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=P).fit()
        >>> res.data_differences(smg.mixedglm("y ~ 1 + (1 | id)", df, family=P).fit())
        []
        """
        from .same_data import data_differences

        return data_differences(self, other, ("this model", "the other model"))

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
            ``boot`` (an existing :class:`~statsmodels_glmm.inference.bootstrap.BootstrapResults`
            of this fit: same parameter names and estimates, else ValueError)
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
            else:
                self._check_boot(boot)
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

    def _check_boot(self, boot):
        """ValueError unless ``boot`` holds replicates of this fit (same names and estimates)."""
        est = getattr(boot, "estimates", None)
        if est is None or not hasattr(boot, "conf_int"):
            raise ValueError(f"boot must be the BootstrapResults of this fit's bootstrap(), got "
                             f"{type(boot).__name__}")
        names = list(self.model.param_names)
        if list(est.index) != names:
            raise ValueError(f"boot was made from a model with parameters {list(est.index)}, "
                             f"not this model's {names}; use this fit's bootstrap()")
        mine = np.asarray(self.params, dtype=float)
        theirs = est.to_numpy(dtype=float)
        if not np.allclose(theirs, mine, rtol=1e-10, atol=1e-12, equal_nan=True):
            worst = names[int(np.nanargmax(np.abs(theirs - mine)))]
            raise ValueError(f"boot was made from another fit: its estimates differ from this "
                             f"fit's (most in {worst!r}: {est[worst]:.6g} vs "
                             f"{mine[names.index(worst)]:.6g}); use this fit's bootstrap()")

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
                out[j] = _log_scale_interval(params[j], V[j, j], z)
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
            out[j] = _log_scale_interval(params[j], V[j, j], z)
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
                warn(f"no profile for {todo}: their Wald intervals are reported", UserWarning)
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
