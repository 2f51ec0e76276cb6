"""
Wald statistics of a fitted MixedGLM as statsmodels' tools read them.

``tvalues``, ``pvalues``, ``t_test``, ``wald_test`` and ``t_test_pairwise`` of
:class:`~statsmodels_glmm.results.MixedGLMResults` come from :class:`WaldMixin`.
Random-effect variances and covariances and positive family parameters (the
negative binomial ``alpha``, a Gaussian ``scale``) get no Wald test: their
``tvalues`` and ``pvalues`` are NaN, and so are the statistic and p-value of a
``t_test`` row or ``wald_test`` that involves one.  A variance tested at zero sits
on the boundary of its parameter space, where the Wald statistic is not normal;
the likelihood-ratio test of :meth:`compare_lr_test` (chi-bar-square reference)
and profile intervals (``conf_int(method="profile")``) are the tools for them.
Tables built from ``pvalues`` (statsmodels' ``summary_col``, stargazer) then show
no significance stars on these rows, as this package's own summary shows no test.
"""

from functools import cached_property as cache_readonly

import numpy as np

from ..exceptions import warn
from ..inference.mixin import _positive_family_rows

__all__ = ["WaldMixin"]

_NO_TEST = ("no Wald test is reported for random-effect variances and covariances or "
            "positive family parameters ({names}): a variance tested at zero sits on the "
            "boundary of its parameter space, where the Wald statistic is not normal. Use "
            "res.compare_lr_test(restricted) or res.conf_int(method='profile'); the "
            "statistic and p-value of {what} are NaN")


class WaldMixin:
    """Wald statistics with the variance parameters left untested."""

    @cache_readonly
    def untested_params(self):
        """
        Names of the parameters that get no Wald test (NaN ``tvalues`` and ``pvalues``):
        the random-effect variances and covariances, and family parameters that are
        positive by definition (negative binomial ``alpha``, Gaussian ``scale``).

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=40, seed=2)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
        >>> res.untested_params
        ['id Intercept Var']
        >>> bool(np.isnan(res.pvalues["id Intercept Var"]))
        True
        """
        names = list(self.model.param_names)
        return [names[i] for i in np.flatnonzero(self._untested_mask)]

    @cache_readonly
    def _untested_mask(self):
        m = self.model
        mask = np.zeros(len(m.param_names), dtype=bool)
        mask[m.k_fe:m.k_fe + m.k_re] = True
        mask[_positive_family_rows(m, self._internal)] = True
        return mask

    @cache_readonly
    def tvalues(self):
        """
        ``params / bse``; NaN for the parameters in :attr:`untested_params`.
        ``pvalues`` (two-sided, normal reference) follow, NaN on the same rows.
        """
        params = np.asarray(self.params, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = params / np.asarray(self.bse, dtype=float)
        return np.where(self._untested_mask, np.nan, t)

    def _restriction_matrix(self, r_matrix):
        """The restriction matrix of ``r_matrix`` as ``t_test`` and ``wald_test`` parse it."""
        from ..spec.formula_engine import formula_manager

        names = list(self.model.data.cov_names)
        parse = getattr(formula_manager(), "get_linear_constraints", None)
        if parse is not None:
            R = parse(r_matrix, names).constraint_matrix
        else:  # pragma: no cover - statsmodels < 0.15 parses with patsy
            from patsy import DesignInfo

            R = DesignInfo(names).linear_constraint(r_matrix).coefs
        return np.atleast_2d(np.asarray(R, dtype=float))

    def _touches_untested(self, r_matrix):
        """Per restriction: does it involve a parameter of :attr:`untested_params`?"""
        R = self._restriction_matrix(r_matrix)
        if R.shape[1] != len(self._untested_mask):
            return np.zeros(R.shape[0], dtype=bool)  # statsmodels raises its own error
        return np.any(R[:, self._untested_mask] != 0, axis=1)

    def _restricted_cov(self, r_matrix, cov_p):
        """
        ``(V, R)``: the covariance of the parameters (``cov_p`` or the fit's) with the rows
        and columns that no restriction involves set to zero, so that a NaN there (a
        random-effect variance without a standard error) does not reach ``R V R'``, whose
        value is otherwise unchanged; ``V`` is ``cov_p`` and ``R`` None when the shapes do
        not match (statsmodels then raises its own error).
        """
        R = self._restriction_matrix(r_matrix)
        V = np.array(self.cov_params() if cov_p is None else cov_p, dtype=float)
        if V.ndim != 2 or V.shape != (R.shape[1], R.shape[1]):
            return cov_p, None
        unused = ~(R != 0).any(axis=0)
        V[unused, :] = 0.0
        V[:, unused] = 0.0
        return V, R

    def t_test(self, r_matrix, cov_p=None, use_t=None):
        """
        Wald (z) tests of linear restrictions, as statsmodels' ``t_test``.

        A restriction that involves a parameter of :attr:`untested_params` gets
        NaN as its statistic and p-value (with a warning); its effect and standard
        error are reported.  Only the covariance entries of the parameters a
        restriction involves are used, so fixed effects are tested when a
        random-effect variance has no standard error (a singular fit).

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=40, seed=2)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
        >>> tt = res.t_test("time = 0")
        >>> bool(np.isclose(tt.pvalue, res.pvalues["time"]))
        True
        """
        V, R = self._restricted_cov(r_matrix, cov_p)
        no_se = None
        if R is not None:
            # each row's variance R_i V R_i' needs only the block of the parameters in R_i:
            # a NaN elsewhere (set to zero here) does not make that row NaN
            finite = np.isfinite(V)
            no_se = np.array([not finite[np.ix_(used, used)].all() for used in R != 0])
            V = np.where(finite, V, 0.0)
        out = super().t_test(r_matrix, cov_p=V, use_t=use_t)
        if no_se is not None and no_se.any():
            _nan_rows(out, ("sd", "statistic", "tvalue", "pvalue"), no_se)
        touched = self._touches_untested(r_matrix)
        if touched.any():
            _nan_rows(out, ("statistic", "tvalue", "pvalue"), touched)
            warn(_NO_TEST.format(names=", ".join(self.untested_params),
                                 what="the restrictions that involve them"), UserWarning)
        return out

    def wald_test(self, r_matrix, cov_p=None, invcov=None, use_f=None, df_constraints=None,
                  scalar=True):
        """
        Joint Wald test of linear restrictions, as statsmodels' ``wald_test``.

        A test that involves a parameter of :attr:`untested_params` gets NaN as
        its statistic and p-value (with a warning), and so does a test that involves
        a parameter without a standard error.  Only the covariance entries of the
        parameters the restrictions involve are used.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("poisson", n_persons=40, seed=2)
        >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
        >>> wt = res.wald_test("time = 0", scalar=True)
        >>> bool(np.isclose(wt.pvalue, res.pvalues["time"]))
        True
        """
        if invcov is None:
            cov_p, R = self._restricted_cov(r_matrix, cov_p)
            if R is not None and not np.all(np.isfinite(R @ cov_p @ R.T)):
                # a parameter of the test has no standard error: NaN statistic and p-value
                invcov = np.full((R.shape[0], R.shape[0]), np.nan)
        out = super().wald_test(r_matrix, cov_p=cov_p, invcov=invcov, use_f=use_f,
                                df_constraints=df_constraints, scalar=scalar)
        if self._touches_untested(r_matrix).any():
            for attr in ("statistic", "fvalue", "tvalue", "pvalue"):
                if hasattr(out, attr):
                    val = getattr(out, attr)
                    setattr(out, attr, np.nan if np.ndim(val) == 0
                            else np.full(np.shape(val), np.nan))
            warn(_NO_TEST.format(names=", ".join(self.untested_params), what="this test"),
                 UserWarning)
        return out

    def t_test_pairwise(self, term_name, method="hs", alpha=0.05, factor_labels=None,
                        ignore=False):
        """
        Pairwise Wald tests between the levels of a categorical fixed-effects term,
        with multiple-testing corrected p-values (statsmodels' ``t_test_pairwise``).

        Parameters
        ----------
        term_name : str
            A term of the fixed-effects formula, e.g. ``"trt"`` or ``"C(visit)"``.
        method : str or list of str
            Correction of :func:`statsmodels.stats.multitest.multipletests`.
        alpha : float
            Level of the reject decision.
        factor_labels : list of str, optional
            Labels of the levels (default: the levels of the data).
        ignore : bool
            Allow a term with several factors (its first factor is compared).

        Returns
        -------
        statsmodels.stats.contrast.MultiCompResult
            ``result_frame`` (one row ``"b-a"`` per pair) and ``contrasts``.

        Examples
        --------
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.datasets.load("bacteria")
        >>> res = smg.mixedglm("y_bin ~ trt + (1 | ID)", df, family=sm.families.Binomial()).fit()
        >>> res.t_test_pairwise("trt").result_frame.index.tolist()
        ['drug-placebo', 'drug+-placebo', 'drug+-drug']
        """
        from statsmodels.sandbox.stats.multicomp import contrast_allpairs
        from statsmodels.stats.contrast import MultiCompResult, t_test_multi

        m = self.model
        d = m.design
        mgr, spec = d.extra.get("formula_manager"), d.fixed_spec
        if mgr is None or spec is None:
            raise ValueError("t_test_pairwise needs a model built from a formula "
                             "(mixedglm or MixedGLM.from_formula)")
        term, factor, cat, cm, columns = _term_coding(mgr, spec, term_name, ignore)
        if factor_labels is not None:
            if len(factor_labels) != len(cat):
                raise ValueError(f"factor_labels has {len(factor_labels)} labels; term "
                                 f"{term_name!r} has {len(cat)} levels")
            cat = list(factor_labels)
        names = list(m.param_names)
        dropped = [c for c in columns if c not in names]
        if dropped:
            raise ValueError(f"term {term_name!r}: column(s) {dropped} are not in the fitted "
                             "model (dropped as collinear, or the intercept of an ordinal "
                             "model); its levels cannot be compared")
        k = len(cat)
        pairs = np.triu_indices(k, 1)
        labels = [f"{cat[j]}-{cat[i]}" for i, j in zip(*pairs)]
        contrasts = np.zeros((len(labels), len(names)))
        contrasts[:, [names.index(c) for c in columns]] = -contrast_allpairs(k) @ cm
        frame = t_test_multi(self, contrasts, method=method, ci_method=None, alpha=alpha,
                             contrast_names=labels)
        return MultiCompResult(result_frame=frame, contrasts=contrasts, term=term,
                               contrast_labels=labels, term_encoding_matrix=cm)


def _nan_rows(out, attrs, rows):
    """Set the entries of ``rows`` (boolean, one per restriction) of ``attrs`` to NaN."""
    for attr in attrs:
        if getattr(out, attr, None) is None:
            continue
        val = np.array(getattr(out, attr), dtype=float)
        flat = val.reshape(-1)
        if flat.size == rows.size:
            flat[rows] = np.nan
        else:
            flat[:] = np.nan
        setattr(out, attr, val)


def _term_coding(mgr, spec, term_name, ignore):
    """
    ``(term, factor, level labels, coding matrix, column names)`` of a categorical
    term of a formula spec (patsy DesignInfo or formulaic ModelSpec).
    """
    get_names = getattr(mgr, "get_term_names", None)
    terms = get_names(spec) if get_names is not None else list(spec.term_names)
    if term_name not in terms:
        raise ValueError(f"term_name {term_name!r} is not a fixed-effects term; the terms "
                         f"are {terms}")
    term = spec.terms[terms.index(term_name)]
    if len(term.factors) != 1 and not ignore:
        raise ValueError(f"term {term_name!r} is an interaction; pairwise comparisons "
                         "are for main effects (ignore=True compares its first factor)")
    if not term.factors:
        raise ValueError(f"term {term_name!r} has no factor to compare")
    factor = term.factors[0]
    if get_names is not None:
        try:
            cat = list(mgr.get_factor_categories(factor, spec))
        except (KeyError, TypeError, AttributeError):
            cat = None
        cm = mgr.get_contrast_matrix(term, factor, spec) if cat else None
    else:  # pragma: no cover - statsmodels < 0.15: patsy's DesignInfo
        info = spec.factor_infos[factor]
        cat = None if info.categories is None else list(info.categories)
        cm = spec.term_codings[term][0].contrast_matrices[factor].matrix if cat else None
    if not cat:
        raise ValueError(f"term {term_name!r} is not categorical; pairwise comparisons "
                         "need the levels of a factor")
    columns = [str(c) for c in list(spec.column_names)[spec.term_slices[term]]]
    return term, factor, cat, np.asarray(cm, dtype=float), columns
