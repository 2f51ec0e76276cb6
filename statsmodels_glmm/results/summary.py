"""
Summaries of a fitted MixedGLM: ``summary()`` (model header, fixed effects,
family parameters, random effects in lme4's VarCorr layout, notes) and
``summary2()`` (statsmodels' ``iolib.summary2`` layout: one table of all
parameters).

Every table and text line of a summary has one width, that of its widest
table: :class:`EqualWidthSummary` pads the narrower tables exactly to it.
"""

import datetime
import textwrap

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.iolib import summary2

__all__ = ["EqualWidthSummary", "SummaryMixin"]


class EqualWidthSummary(summary2.Summary):
    """
    statsmodels' ``Summary`` whose text has every table as wide as the widest.

    The extra width of a narrower table is spread over its column separators,
    and what does not divide evenly goes to its first column.

    Examples
    --------
    >>> s = EqualWidthSummary()
    >>> s.add_df(pd.DataFrame({"a": [1.0]}, index=["x"]))
    >>> s.add_df(pd.DataFrame({"long column name": [2.0], "b": [3.0]}, index=["y"]))
    >>> lines = str(s).splitlines()
    >>> len({len(line) for line in lines if line})
    1
    """

    def as_text(self):
        tables, settings = self.tables, self.settings
        if not tables:
            return super().as_text()
        n = len(tables)
        texts = _render(tables, settings, [0] * n, [0] * n)
        w0 = [_width(t) for t in texts]
        w1 = [_width(t) for t in _render(tables, settings, [1] * n, [0] * n)]
        widest = max(w0)
        pad_col = [(widest - a) // (b - a) if b > a else 0 for a, b in zip(w0, w1)]
        pad_index = [0] * n
        for _ in range(4):
            texts = _render(tables, settings, pad_col, pad_index)
            widths = [_width(t) for t in texts]
            if all(w == widest for w in widths):
                break
            pad_index = [max(p + widest - w, 0) for p, w in zip(pad_index, widths)]
        lines = "\n".join(texts).split("\n")
        lines[0] = "=" * widest
        lines.append("=" * widest)
        title = self.title or ""
        if title and len(title) < widest:
            title = " " * int(widest / 2 - len(title) / 2) + title
        notes = "\n".join("\n".join(textwrap.wrap(x, widest)) for x in self.extra_txt)
        return f"{title}\n" + "\n".join(lines) + f"\n{notes}"


def _render(tables, settings, pad_col, pad_index):
    """Text of every table with the given column-separator and first-column padding."""
    out = []
    for df, s, pc, pi in zip(tables, settings, pad_col, pad_index):
        out.append(summary2._df_to_simpletable(
            df, align=s["align"], float_format=s["float_format"], header=s["header"],
            index=s["index"], pad_col=pc, pad_index=pi).as_text())
    return out


def _width(text):
    return max((len(line) for line in text.splitlines()), default=0)


def _fmt_number(v):
    """Four decimals, or four significant digits for very large numbers."""
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return ""
        return f"{v:.4f}" if abs(v) < 1e6 else f"{v:.4g}"
    return v


class SummaryMixin:
    """``summary()``, ``summary2()`` and the notes they print."""

    def _cov_text(self):
        """Which covariance the standard errors come from (one summary line)."""
        if getattr(self, "cov_type", "nonrobust") == "nonrobust":
            return "nonrobust"
        return f"{self.cov_type} ({self.cov_kwds['n_clusters']} clusters)"

    def _notes(self):
        kept = self.__dict__.get("_kept_notes")
        if kept is not None:  # computed by remove_data() while the rows were there
            return list(kept)
        notes = []
        if not self.converged:
            notes.append("The fit did not converge: max |gradient| "
                         f"{self.mle_retvals['max_abs_grad']:.2g}. Estimates are unreliable.")
        if not self.mle_retvals.get("hessian_positive_definite", True):
            notes.append("The Hessian is not negative definite: standard errors are unreliable.")
        if self.is_singular:
            notes.append("Singular fit: a random-effect variance is at zero (boundary); "
                         "consider a simpler random-effects structure.")
        resp = self.model.response
        if (self.nagq == 1 and resp.name == "Binomial"
                and np.mean(self.model.design.group_sizes) < 5):
            notes.append("Binary data with fewer than 5 observations per group on average: "
                         "the Laplace approximation may be inaccurate; compare with nagq > 1.")
        notes.extend(self._design_notes())
        attempts = self.mle_retvals.get("attempts") or []
        if len(attempts) > 1:
            tried = ", ".join(f"{a['method']} ({'converged' if a['converged'] else 'not converged'}"
                              f", llf {a['llf']:.4f}" + (", reported" if a.get("reported") else "")
                              + ")" for a in attempts)
            notes.append(f"The first optimiser did not converge; tried in turn: {tried}. "
                         "The attempt with the highest log-likelihood is reported.")
        separated = self.mle_retvals.get("separation")
        if separated:
            notes.append("The outcome may be (quasi-)completely separated by "
                         + ", ".join(separated) + ": these estimates and standard errors "
                         "are not reliable.")
        guard = self.mle_retvals.get("laplace_check")
        refit = (guard or {}).get("refit") or {}
        if refit.get("moved"):
            moves = ", ".join(f"{n} {refit['change_se'][n]:+.1f}" for n in refit["moved"])
            more = "" if refit.get("complete", True) else (
                " (the refit stopped once that was clear: others may move too)")
            notes.append(f"Laplace may be inaccurate ({refit['reason']}): refitted by "
                         f"{refit['nagq']}-node adaptive quadrature from the Laplace "
                         "estimates, these move by more than 0.5 standard errors (in SE: "
                         f"{moves}){more}; refit with fit(nagq={refit['nagq']}).")
        elif guard is not None and guard["flagged"]:
            notes.append(
                f"Laplace may be inaccurate: {guard['nagq']}-node adaptive quadrature at the "
                f"estimates gives a log-likelihood {guard['difference']:+.2f} from Laplace's "
                f"(tolerance {guard['threshold']:.2f}); the likelihood, AIC, BIC and "
                "likelihood-ratio tests are doubtful. Run res.check_approximation() or "
                "refit with fit(nagq=...).")
        elif refit.get("skipped"):
            notes.append(f"Laplace check ({refit['reason']}): {refit['skipped']}.")
        if getattr(self, "cov_type", "nonrobust") != "nonrobust":
            kw = self.cov_kwds
            notes.append("Standard errors of the fixed effects are cluster-robust (sandwich, "
                         f"{kw['n_clusters']} clusters of {kw['clusters']}"
                         + (", small-sample factor C/(C-1)" if kw["use_correction"] else "")
                         + "); those of the variance and family parameters are model-based.")
        notes.extend(resp.summary_notes(self))
        return notes

    def _design_notes(self):
        """
        Rules of thumb on the random-effects design: enough groups for the variances
        (about 50 for a random intercept, 100 for random slopes) and enough variation
        of a random-slope variable within groups.
        """
        names = self.model.design.re_names
        notes = []
        seen = set()
        for f, cols, _, labels, codes in self._re_blocks:
            n_lev = len(labels)
            spreads = self._slope_spreads(cols, codes, n_lev)
            need = 100 if spreads else 50
            if n_lev < need and (f, need) not in seen:
                seen.add((f, need))
                what = "random slopes" if spreads else "a random intercept"
                notes.append(f"Only {n_lev} groups of {f!r}: the variance of {what} is "
                             f"estimated imprecisely with fewer than about {need} groups.")
            for c, (within, total) in spreads.items():
                if total > 0 and within < 0.1 * total:
                    notes.append(
                        f"Little variation of {names[c]!r} within groups of {f!r} "
                        f"(within-group SD {100 * within / total:.0f}% of its total SD): its "
                        "random slope is poorly identified; consider dropping it.")
        return notes

    def _slope_spreads(self, cols, codes, n_lev):
        """
        For the columns ``cols`` of ``Z`` that are not all ones (random slopes):
        ``{column: (within-group SD, total SD)}``, the within-group SD being the
        root mean square deviation from the group means.
        """
        Z = self.model.design.Z
        cnt = np.bincount(codes, minlength=n_lev)
        out = {}
        for c in cols:
            z = Z[:, c]
            if np.all(z == 1.0):
                continue
            mean = np.bincount(codes, weights=z, minlength=n_lev) / np.maximum(cnt, 1)
            out[c] = (float(np.sqrt(np.mean((z - mean[codes]) ** 2))), float(z.std()))
        return out

    def _groups_text(self):
        m, d = self.model, self.model.design
        if not m.multi:
            return f"{self.n_groups} ({d.group_name})"
        return ", ".join(f"{f} {len(lab)}" for f, lab in dict(
            (b[0], b[3]) for b in self._re_blocks).items())

    def summary(self, alpha=0.05):
        """
        Summary tables: model header, fixed effects, random effects, notes.

        Every table and line of the text has the width of the widest table.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=10)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
        >>> "Laplace" in str(res.summary())
        True
        """
        m, d = self.model, self.model.design
        sizes = d.group_sizes
        resp = m.response
        info = {
            "Model:": "MixedGLM",
            "Family:": resp.name,
            "Link:": resp.link_name,
            "Method:": self.method,
            "Dependent variable:": d.endog_name,
            "No. observations:": str(self.nobs),
            "No. groups:": self._groups_text(),
            "Group size min/mean/max:": f"{sizes.min()} / {sizes.mean():.1f} / {sizes.max()}",
            "Rows dropped (missing):": str(d.n_dropped),
            "Log-likelihood:": f"{self.llf:.4f}",
            "AIC:": f"{self.aic:.4f}",
            "BIC:": f"{self.bic:.4f}",
            "Converged:": "Yes" if self.converged else "No",
            "Covariance type:": self._cov_text(),
        }
        guard = self.mle_retvals.get("laplace_check")
        if guard is not None:
            info[f"Laplace check (AGQ-{guard['nagq']}):"] = (
                f"{guard['difference']:+.3f} (tol. {guard['threshold']:.1f}"
                + (", large)" if guard["flagged"] else ")"))
        smry = EqualWidthSummary()
        smry.add_title("Generalized Linear Mixed Model Results")
        smry.add_dict(info, ncols=2)
        z = stats.norm.ppf(1 - alpha / 2)
        k = self.k_fe
        b = np.asarray(self.params[:k])
        se = np.sqrt(np.diag(np.asarray(self.normalized_cov_params)))[:k]
        with np.errstate(divide="ignore", invalid="ignore"):
            zval = b / se
        fe = pd.DataFrame({"Coef.": b, "Std.Err.": se, "z": zval,
                           "P>|z|": 2 * stats.norm.sf(np.abs(zval)),
                           f"[{alpha / 2:.3f}": b - z * se, f"{1 - alpha / 2:.3f}]": b + z * se},
                          index=m.exog_names)
        smry.add_df(fe, float_format="%.4f")
        tab = resp.summary_table(self, alpha)
        if tab is not None:
            elementwise = getattr(tab, "map", None) or tab.applymap  # pandas < 2.1
            smry.add_df(elementwise(_fmt_number), float_format="%.4f")
        smry.add_df(self._re_table())
        if d.n_dropped:
            smry.add_text(f"{d.n_dropped} rows with a missing value were left out of the fit; "
                          "res.model.missing_report() shows which columns and waves are "
                          "missing.")
        for note in self._notes():
            smry.add_text(note)
        return smry

    def _re_table(self):
        """Variances, standard deviations and correlations, one block per grouping factor."""
        m, d = self.model, self.model.design
        G = self.cov_re.to_numpy()
        sd = self.re_sd.to_numpy()
        corr = self.re_corr.to_numpy()
        names = d.re_names
        groups = np.array(m.cov_struct.groups)
        rows = []
        # one block per grouping factor (lme4's VarCorr layout); correlations are within
        # a factor, with its earlier columns
        width = max(int(np.sum(groups == f)) for f in d.factors) - 1
        for f in d.factors:
            idx = np.flatnonzero(groups == f)
            for k, i in enumerate(idx):
                row = {"Group": f if k == 0 else "", "Name": names[i],
                       "Variance": f"{G[i, i]:.4f}", "Std.Dev.": f"{sd[i]:.4f}"}
                for j in range(width):
                    key = f"Corr({names[idx[j]]})" if not m.multi else f"Corr.{j + 1}"
                    row[key] = f"{corr[i, idx[j]]:.3f}" if j < k else ""
                rows.append(row)
        return pd.DataFrame(rows).set_index("Group")

    def summary2(self, yname=None, xname=None, title=None, alpha=0.05, float_format="%.4f"):
        """
        Summary in statsmodels' ``iolib.summary2`` layout: a model table, then one
        table of all parameters (fixed effects, random-effect variances and
        covariances, family parameters) with ``Coef.``, ``Std.Err.``, ``z``,
        ``P>|z|`` and the interval of :meth:`conf_int`.

        The rows in :attr:`untested_params` show no ``z`` and ``P>|z|`` (see
        ``pvalues``); their intervals are on the log-SD (variances) and Fisher-z
        (covariances) scales.

        Parameters
        ----------
        yname : str, optional
            Name of the response in the model table.
        xname : list of str, optional
            Row labels of the parameter table (one per parameter).
        title : str, optional
        alpha : float
            ``1 - alpha`` intervals.
        float_format : str

        Returns
        -------
        statsmodels.iolib.summary2.Summary

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=10)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
        >>> text = str(res.summary2())
        >>> "P>|z|" in text and "id Intercept Var" in text
        True
        """
        names = list(self.model.param_names)
        if xname is not None and len(xname) != len(names):
            raise ValueError(f"xname has {len(xname)} names; the model has {len(names)} "
                             "parameters")
        smry = EqualWidthSummary()
        smry.add_dict(self._summary2_info(yname), align="l")
        params = summary2.summary_params(self, alpha=alpha, use_t=self.use_t)
        params.index = list(xname) if xname is not None else names
        params = params.astype(object).where(params.notna(), "")
        smry.add_df(params, float_format=float_format)
        smry.add_title(title or f"Results: {type(self.model).__name__}")
        untested = self.untested_params
        if untested:
            smry.add_text(f"No z test for {', '.join(untested)} (variance parameters: zero is "
                          "on the boundary); use compare_lr_test or conf_int(method='profile').")
        for note in self._notes():
            smry.add_text(note)
        return smry

    def _summary2_info(self, yname=None):
        """The model table of :meth:`summary2`, in statsmodels' wording."""
        m, resp = self.model, self.model.response
        info = {
            "Model:": type(m).__name__,
            "Family:": resp.name,
            "Link:": resp.link_name,
            "Dependent Variable:": yname or m.design.endog_name,
            "Date:": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "No. Observations:": f"{int(self.nobs):#6d}",
            "No. Groups:": self._groups_text(),
            "Df Model:": f"{int(self.df_model):#6d}",
            "Df Residuals:": f"{int(self.df_resid):#6d}",
            "Method:": self.method,
            "Converged:": "Yes" if self.converged else "No",
            "Covariance Type:": self._cov_text(),
            "Log-Likelihood:": f"{self.llf:#8.5g}",
            "AIC:": f"{self.aic:8.4f}",
            "BIC:": f"{self.bic:8.4f}",
        }
        for key, attr, fmt in (("Deviance:", "deviance", "{:#8.5g}"),
                               ("Pearson chi2:", "pearson_chi2", "{:#6.3g}")):
            try:
                info[key] = fmt.format(getattr(self, attr))
            except (NotImplementedError, ValueError):  # rows on a cluster, or removed
                pass
        return info
