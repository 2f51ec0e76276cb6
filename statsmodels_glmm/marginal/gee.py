"""
Conditional, marginalised and GEE coefficients side by side.

A GLMM coefficient answers "how does the mean of *one* group change?"; a GEE
coefficient answers "how does the *population* mean change?".  With a
nonlinear link they differ: for the logit link the marginal log odds ratio
is pulled toward zero as the random-effect variance grows.  The GLMM can
answer the population question too, by integrating the random effects out
(:func:`statsmodels_glmm.marginal.predict.marginal_params`).  :func:`compare_gee`
puts the three answers in one table:

* conditional ``beta`` with its model-based SE (the GLMM fit),
* the GLMM marginalised over ``N(0, G)`` with delta-method SE,
* statsmodels' GEE on the same fixed-effects design, rows, groups and
  family (exchangeable working correlation by default), robust SE,

plus the same on the ratio scale (odds ratios for the logit link, rate
ratios for the log link).
"""

import copy
import textwrap

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.iolib.summary import Summary
from statsmodels.iolib.table import SimpleTable

from .predict import marginal_params

__all__ = ["compare_gee", "GEEComparison", "fit_gee", "gee_clusters"]


def _unwrap(res):
    return getattr(res, "_results", res)


def _n_split(level_codes, cluster_codes):
    """How many levels of a factor have rows in more than one cluster."""
    n_lev = int(level_codes.max()) + 1
    lo = np.full(n_lev, np.iinfo(np.intp).max)
    hi = np.full(n_lev, -1)
    np.minimum.at(lo, level_codes, cluster_codes)
    np.maximum.at(hi, level_codes, cluster_codes)
    return int(np.count_nonzero(lo != hi))


def gee_clusters(res):
    """
    The GEE clusters of a GLMM fit: the outermost grouping factor.

    With one grouping factor the clusters are its levels.  With several, they
    are the levels of the factor that every other factor nests in (for
    ``(1 | clinic) + (1 | clinic:patient)`` the clinics, for
    ``(1 | subj) + (1 | obs)`` the subjects): rows of different clusters are
    then independent under the GLMM, as a GEE assumes.

    Parameters
    ----------
    res : MixedGLMResults

    Returns
    -------
    codes : ndarray of int
        The cluster of every row the GLMM used, in the order of the user's data.
    labels : ndarray
        The level of the factor for each code.
    name : str
        The grouping factor.

    Raises
    ------
    ValueError
        When the grouping factors are crossed: no one factor nests the others.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=30, seed=1)
    >>> df["visit"] = df.groupby("id").cumcount() % 2
    >>> res = smg.mixedglm("y ~ time + (1 | id/visit)", df,
    ...                    family=sm.families.Poisson()).fit()
    >>> codes, labels, name = gee_clusters(res)
    >>> name, len(labels)
    ('id', 30)
    """
    d = _unwrap(res).model.design
    terms = getattr(d, "terms", None)
    if not terms:
        return d.unsort(np.asarray(d.gid)), np.asarray(d.group_labels), d.group_name
    top = min(terms, key=lambda t: t.n_levels)
    codes = np.asarray(top.codes)
    crossed = [t.group for t in terms if _n_split(np.asarray(t.codes), codes)]
    if crossed:
        factors = list(dict.fromkeys(t.group for t in terms))
        raise ValueError(
            f"compare_gee needs one clustering that every grouping factor nests in; the "
            f"factors {' and '.join(map(repr, factors))} are crossed, so a GEE has no "
            "independent clusters. Use res.marginal_params() for population-averaged "
            "coefficients")
    return d.unsort(codes), np.asarray(top.labels), top.group


def fit_gee(res, cov_struct=None, maxiter=200):
    """
    Fit statsmodels' GEE with the fixed effects, rows, clusters and family of a GLMM fit.

    The rows are the ones the GLMM used (after dropping missing values), in
    the order of the user's data.  Binomial data with several trials per
    row are expanded to one 0/1 row per trial.  The clusters are the levels
    of the outermost grouping factor (:func:`gee_clusters`); crossed factors
    are refused.

    Parameters
    ----------
    res : MixedGLMResults
    cov_struct : statsmodels CovStruct, optional
        Working correlation (default ``sm.cov_struct.Exchangeable()``).
    maxiter : int

    Returns
    -------
    GEEResults

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=50, seed=1)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> g = fit_gee(res)
    >>> list(g.params.index)
    ['Intercept', 'time']
    """
    res = _unwrap(res)
    res._require_rows("fit_gee()")
    m = res.model
    d = m.design
    response = m.response
    fam = response.sm_family
    if fam is None:
        advice = ("; for an ordinal response use get_prediction(random_effects='marginal', "
                  "which='prob') for population-averaged category probabilities"
                  if response.name == "Ordinal" else "")
        raise ValueError(f"compare_gee needs a family with a statsmodels GEE counterpart "
                         f"(Binomial, Poisson, negative binomial, Gaussian); the "
                         f"{response.name} family has none{advice}")
    # a GLM fit (e.g. for start values) leaves binomial trial counts on the instance
    fam = (sm.families.Binomial(link=copy.deepcopy(fam.link))
           if isinstance(fam, sm.families.Binomial) else copy.deepcopy(fam))
    if cov_struct is None:
        cov_struct = sm.cov_struct.Exchangeable()
    elif not isinstance(cov_struct, sm.cov_struct.CovStruct):
        raise ValueError("cov_struct must be a statsmodels CovStruct instance, e.g. "
                         "sm.cov_struct.Exchangeable()")
    y = d.unsort(np.asarray(response.response_value(d.y), dtype=float))
    X = d.unsort(d.X)
    off = d.unsort(d.offset)
    groups, _, _ = gee_clusters(res)
    trials = d.unsort(np.asarray(response.n_trials(d.y), dtype=float))
    if np.any(trials != 1):
        succ = np.round(y * trials).astype(int)
        nt = np.round(trials).astype(int)
        rep = np.repeat(np.arange(len(y)), nt)
        within = np.arange(len(rep)) - np.repeat(np.cumsum(nt) - nt, nt)
        y = (within < np.repeat(succ, nt)).astype(float)
        X, off, groups = X[rep], off[rep], groups[rep]
    exog = pd.DataFrame(X, columns=list(d.exog_names))
    kw = {} if not np.any(off != 0) else {"offset": off}
    model = sm.GEE(pd.Series(y, name=d.endog_name), exog, groups=groups, family=fam,
                   cov_struct=cov_struct, **kw)
    return model.fit(maxiter=maxiter)


class GEEComparison:
    """
    Conditional, marginalised and GEE coefficients (from :func:`compare_gee`).

    Attributes
    ----------
    table : DataFrame
        ``conditional, conditional_se, marginalised, marginalised_se, gee,
        gee_robust_se`` by term.
    ratios : DataFrame or None
        ``exp`` of each estimate with Wald intervals (odds ratios for the
        logit link, rate ratios for the log link); None for other links.
    marginal : DataFrame
        The full :func:`marginal_params` output.
    gee_results : GEEResults
        The statsmodels GEE fit.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=80, seed=2)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
    >>> cmp = smg.compare_gee(res)
    >>> list(cmp.table.columns)[:2]
    ['conditional', 'conditional_se']
    """

    def __init__(self, res, marginal, gee_results, alpha=0.05):
        self._res = res
        self.marginal = marginal
        self.gee_results = gee_results
        self.alpha = alpha
        g = gee_results
        self.table = pd.DataFrame({
            "conditional": marginal["conditional"], "conditional_se": marginal["conditional_se"],
            "marginalised": marginal["marginal"], "marginalised_se": marginal["marginal_se"],
            "gee": np.asarray(g.params), "gee_robust_se": np.asarray(g.bse)},
            index=marginal.index)
        self.table.index.name = "term"
        link = marginal.attrs.get("link")
        self.ratio_label = {"logit": "OR", "log": "RR"}.get(link)
        self.ratios = None
        if self.ratio_label is not None:
            z = stats.norm.ppf(1 - alpha / 2)
            t = self.table
            cols = {}
            for key, se in (("conditional", "conditional_se"), ("marginalised", "marginalised_se"),
                            ("gee", "gee_robust_se")):
                cols[f"{key} {self.ratio_label}"] = np.exp(t[key])
                cols[f"{key} lower"] = np.exp(t[key] - z * t[se])
                cols[f"{key} upper"] = np.exp(t[key] + z * t[se])
            self.ratios = pd.DataFrame(cols, index=t.index)

    @property
    def working_correlation(self):
        """Dependence parameter(s) of GEE's working correlation."""
        return self.gee_results.model.cov_struct.dep_params

    def summary(self, width=None):
        """
        Printable summary (a statsmodels ``Summary``), at most about 100 characters wide.

        Three blocks: the fit (family, groups, GEE working correlation), the
        coefficients on the link scale (``conditional``, ``marginalised`` and
        ``GEE`` with their standard errors) and, for logit and log links, the
        odds or rate ratios with their Wald intervals on the line below each
        estimate.  Every number is also in :attr:`table` and :attr:`ratios`.

        Parameters
        ----------
        width : int, optional
            Width of the explanatory text at the end (default: the width of
            the tables).

        Returns
        -------
        statsmodels.iolib.summary.Summary
            ``str()`` gives the text, ``as_html()`` the HTML tables.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("binary", n_persons=80, seed=2)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
        >>> text = str(smg.compare_gee(res).summary())
        >>> max(len(line) for line in text.splitlines()) <= 100
        True
        """
        res = self._res
        _, labels, name = gee_clusters(res)
        cs = self.gee_results.model.cov_struct
        dep = cs.dep_params
        dep_s = f"{float(dep):.4f}" if np.ndim(dep) == 0 else str(np.round(dep, 4))
        rmse = self.marginal.attrs.get("link_rmse", np.nan)
        left = [("Family:", res.model.response.name),
                ("Link:", str(self.marginal.attrs.get("link"))),
                ("No. observations:", str(res.nobs)),
                ("GEE clusters:", f"{len(labels)} ({name})")]
        right = [("GLMM method:", str(res.method)),
                 ("GEE correlation:", f"{type(cs).__name__} ({dep_s})"),
                 ("Marginalised RMSE:", f"{rmse:.4g} (link scale)"),
                 ("", "")]
        info = [[a, b, c, e] for (a, b), (c, e) in zip(left, right)]
        t = self.table
        terms = [str(i) for i in t.index]
        coef = [[f"{v:.4f}" for v in row] for row in t.to_numpy()]
        coef_head = ["conditional", "SE", "marginalised", "SE", "GEE", "robust SE"]
        blocks = [(info, None, None), (coef, coef_head, terms)]
        if self.ratios is not None:
            r, lab = self.ratios, self.ratio_label
            keys = ["conditional", "marginalised", "gee"]
            rows, stubs = [], []
            for term in r.index:
                rows.append([f"{r.loc[term, f'{k} {lab}']:.4f}" for k in keys])
                rows.append([f"({r.loc[term, f'{k} lower']:.4f}, "
                             f"{r.loc[term, f'{k} upper']:.4f})" for k in keys])
                stubs += [str(term), ""]
            blocks.append((rows, [f"conditional {lab}", f"marginalised {lab}", f"GEE {lab}"],
                           stubs))
        tables = _aligned_tables(blocks, "Conditional (GLMM), marginalised (GLMM) and GEE "
                                         "coefficients")
        smry = Summary()
        smry.tables = tables
        level = f"{100 * (1 - self.alpha):g}%"
        note = ("conditional: effect within a group (random effects held fixed), model-based "
                "SE. marginalised: GLMM means averaged over N(0, G), link regressed on X, "
                "delta-method SE. GEE: population-averaged GEE, robust (sandwich) SE.")
        if self.ratios is not None:
            name = {"OR": "odds ratios", "RR": "rate ratios"}[self.ratio_label]
            note += (f" {name.capitalize()} (exp of the coefficients) with their {level} "
                     "Wald interval on the line below.")
        w = width or max(len(line) for line in str(tables[0]).splitlines())
        smry.add_extra_txt(textwrap.wrap(note, w))
        return smry

    def __str__(self):
        return str(self.summary())

    def __repr__(self):
        return str(self.summary())


def _aligned_tables(blocks, title):
    """
    SimpleTables of equal width from ``[(rows, headers, stubs)]``.

    The first block has no headers and no stubs (label / value pairs); the
    others get their stub column widened so that all tables share the width
    of the widest.
    """
    def natural(rows, headers, stubs):
        cols = list(zip(*(rows + ([headers] if headers else []))))
        w = sum(max(len(c) for c in col) for col in cols) + len(cols) - 1
        return w + (max(len(s) for s in stubs) + 1 if stubs else 0)

    width = max(natural(*b) for b in blocks)
    out = []
    for i, (rows, headers, stubs) in enumerate(blocks):
        extra = width - natural(rows, headers, stubs)
        if stubs:
            n = max(len(s) for s in stubs) + extra
            stubs = [s.ljust(n) for s in stubs]
            tab = SimpleTable(rows, headers=headers, stubs=stubs,
                              txt_fmt=dict(data_aligns="r", header_align="r"))
        else:  # label / value pairs: spread the slack over the value columns
            rows = [list(r) for r in rows]
            ncol = len(rows[0])
            for j in range(1, ncol, 2):
                n = max(len(r[j]) for r in rows) + extra // (ncol // 2) + (
                    extra % (ncol // 2) if j == ncol - 1 else 0)
                for r in rows:
                    r[j] = r[j].ljust(n)
            tab = SimpleTable(rows, title=title if i == 0 else "",
                              txt_fmt=dict(data_aligns="l"))
        out.append(tab)
    return out


def compare_gee(res, cov_struct=None, alpha=0.05):
    """
    Conditional, marginalised and GEE coefficients in one table.

    Parameters
    ----------
    res : MixedGLMResults
        A GLMM fit whose family has a statsmodels counterpart (Binomial,
        Poisson, Gaussian, ...).  For a zero-inflated model GEE fits the
        overall mean ``E[y]`` with the count family and the marginalised
        column is the log-linear projection of the same overall mean.
    cov_struct : statsmodels CovStruct, optional
        GEE working correlation (default exchangeable).
    alpha : float
        For the ratio intervals.

    Returns
    -------
    GEEComparison
        ``table`` (DataFrame), ``ratios`` (odds / rate ratios),
        ``summary()``, ``gee_results``.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=80, seed=2)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
    >>> cmp = smg.compare_gee(res)
    >>> cmp.table.columns.tolist()
    ['conditional', 'conditional_se', 'marginalised', 'marginalised_se', 'gee', 'gee_robust_se']
    >>> cmp.ratios.columns[0]
    'conditional OR'
    """
    res = _unwrap(res)
    res._require_rows("compare_gee()")
    g = fit_gee(res, cov_struct=cov_struct)
    mp = marginal_params(res, alpha=alpha)
    return GEEComparison(res, mp, g, alpha=alpha)
