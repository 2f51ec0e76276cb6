"""
Multiple imputation of missing covariates by chained equations, for a GLMM.

Two imputation models: substantive-model-compatible imputation
(``method="smc"``, :mod:`statsmodels_glmm.missing.smc`), where each missing
value is drawn from its conditional distribution under a covariate model and
the GLMM itself; and predictive mean matching on linear regressions with
statsmodels' :class:`statsmodels.imputation.mice.MICEData` (``method="pmm"``),
with the grouping respected through person means of the time-varying variables
(the covariates and the outcome), recomputed from the current imputed values
before each step.  The GLMM is fitted to every completed data set and the
estimates are pooled by Rubin's rules
(:class:`~statsmodels_glmm.missing.rubin.PooledResults`).
"""

import inspect

import numpy as np
import pandas as pd

from ..exceptions import warn
from ..spec.formula import split_formula
from .report import kept_rows
from .rubin import PooledResults
from .smc import SMCImputer, person_means

__all__ = ["mice", "person_mean_imputer"]


def _check_int(value, name, low):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def person_mean_imputer(data, person, variables, seed=None):
    """
    A :class:`~statsmodels.imputation.mice.MICEData` whose imputation models include
    person means.

    Parameters
    ----------
    data : DataFrame
        Numeric columns only, named as Python identifiers; ``person`` is not among
        them.
    person : array-like
        The person of every row.
    variables : list of str
        The time-varying columns whose person means are predictors of the others.
    seed : int, optional

    Returns
    -------
    (MICEData, update) where ``update(n)`` runs ``n`` cycles, each variable's step
    preceded by recomputing the person means from the current values.  A
    variable's own imputation model has the mean of the person's other rows
    (leave-one-out) in place of its person mean.

    Examples
    --------
    >>> df = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0, 2.0, 5.0],
    ...                    "z": [0.5, 1.0, np.nan, 2.0, 1.5, 2.5]})
    >>> imp, update = person_mean_imputer(df, [1, 1, 2, 2, 3, 3], ["x", "z"], seed=0)
    >>> update(2)
    >>> int(imp.data[["x", "z"]].isna().sum().sum())
    0
    """
    from statsmodels.imputation.mice import MICEData

    codes = pd.factorize(pd.Series(np.asarray(person)))[0]
    frame = data.reset_index(drop=True).copy()
    pm = {v: f"pm__{v}" for v in variables}

    loo = {v: f"loo__{v}" for v in variables}

    def refresh(target):
        for w in variables:
            target[pm[w]] = person_means(codes, target[w])
            target[loo[w]] = person_means(codes, target[w], leave_out=True)

    refresh(frame)
    kw = {}
    if "rng" in inspect.signature(MICEData.__init__).parameters:
        kw["rng"] = np.random.default_rng(seed)
    imp = MICEData(frame, **kw)
    base = list(data.columns)
    for v in base:
        if frame[v].isna().any():
            preds = [c for c in base if c != v] + [pm[w] if w != v else loo[w]
                                                     for w in variables]
            imp.set_imputer(v, formula=" + ".join(preds) if preds else "1")

    seeder = np.random.default_rng(seed)

    def update(n_cycles):
        state = None
        if not kw:  # older statsmodels draws from numpy's global generator: seeded, restored
            state = np.random.get_state()  # noqa: NPY002
            np.random.seed(int(seeder.integers(2 ** 31)))  # noqa: NPY002
        try:
            for _ in range(n_cycles):
                for v in imp._cycle_order:
                    refresh(imp.data)
                    imp.update(v)
            refresh(imp.data)
        finally:
            if state is not None:
                np.random.set_state(state)  # noqa: NPY002

    return imp, update


def mice(formula, data, family=None, groups=None, n_imputations=20, seed=None,
         re_formula=None, n_burnin=10, n_skip=5, model_kwargs=None, builder=None,
         method="smc", max_proposals=20000, **fit_kwargs):
    r"""
    Fit a GLMM with missing covariates by multiple imputation (MICE) and Rubin's rules.

    Every incomplete covariate the formula reads (numeric columns) is imputed in
    cycles (chained equations); rows whose outcome is missing help to impute the
    covariates but are left out of the analysis fits.  After ``n_burnin`` cycles
    a completed data set is taken every ``n_skip`` cycles; the model is fitted to
    each, and the fixed effects are pooled with Rubin's rules and Barnard-Rubin
    degrees of freedom (complete-data df: observations less parameters of the
    fit); variance and family parameters are averaged.

    Imputation models (``method``):

    ``"smc"``: substantive-model-compatible imputation (SMC-FCS, Bartlett et
    al. 2015; :mod:`statsmodels_glmm.missing.smc`).  A missing ``x_it`` is drawn
    from its full conditional distribution

    .. math::

        p(x_{it} \mid \cdot) \propto p(x_{it} \mid z_{it}, \bar x_{i,-t}; \gamma^*)
        \, f(y_{it} \mid x_{it}, z_{it}, b_i^*; \beta^*, \phi^*)

    where ``f`` is the GLMM itself, refitted to the current completed data at
    every step, with ``(beta*, theta*, phi*)`` drawn from the normal
    approximation of the sampling distribution and ``b_i*`` from the person's
    conditional distribution given the outcomes; the covariate model
    ``p(x | ...)`` is a normal linear regression (logistic for a 0/1 column) on
    the other covariates, the mean of ``x`` over the person's other rows
    ``\bar x_{i,-t}`` and the person means of the other time-varying
    covariates, its coefficients drawn from their posterior.  The outcome is
    not a predictor of the covariate model: it enters through ``f`` only, on
    the scale and with the link and random effects of the analysis model, so
    the imputations agree with the model fitted to them.  Continuous values are
    drawn by rejection sampling (proposal: the covariate model; acceptance
    probability ``f(y | x) / sup_mu f(y | mu)``); 0/1 values from their two-point
    conditional distribution.  Supported outcomes: Poisson, binary, Gaussian,
    negative binomial (NB2), with one grouping factor.

    ``"pmm"``: predictive mean matching on linear regressions (statsmodels'
    ``MICEData``) of each incomplete covariate on all the other variables of
    the analysis (covariates, the outcome, dummies of complete categorical
    covariates), on the person means of the other time-varying variables (the
    outcome included) and on the mean of the variable itself over the person's
    other rows.  Persons enter through their means only.  The regression on
    the raw outcome with main effects only is not compatible with a GLMM (log
    or logit link, random effects): in the simulations of
    ``benchmarks/bench_missing.py`` it attenuates the coefficient of the
    imputed covariate.

    Parameters
    ----------
    formula : str
        The model formula, as for ``mixedglm``.
    data : DataFrame
        Not modified.
    family : family, optional
    groups : str, optional
        Grouping column when the formula has no bar term.
    n_imputations : int
        At least 2.
    seed : int, optional
    re_formula : str, optional
    n_burnin, n_skip : int
        Cycles before the first imputation and between imputations.
    model_kwargs : dict, optional
        Further arguments of ``from_formula`` (``zi_formula``, ``offset``, ...).
    builder : callable
        ``MixedGLM.from_formula`` (``statsmodels_glmm.api.mice`` passes it).
    method : {"smc", "pmm"}, default "smc"
        The imputation model (above).
    max_proposals : int
        ``method="smc"``: proposals per value before the rejection sampler gives
        up and takes one of the last proposals by importance resampling (counted
        in the summary; a warning when more than 0.1% of the draws).
    **fit_kwargs
        Passed to every ``fit`` (the fits inside the ``"smc"`` cycles included).

    Returns
    -------
    PooledResults

    Notes
    -----
    ``"smc"`` draws the imputations under the analysis model, so they are only
    as good as that model: with a random slope left out of the formula that the
    data have, the imputed values inherit the misspecification (fit the model
    with its random effects settled first).
    ``benchmarks/results/bench_missing.txt`` compares both imputation models
    with the complete cases (bias, coverage of the 95% intervals) for a Poisson
    outcome with a time-varying covariate missing at random given the outcome.
    ``"smc"`` costs one GLMM fit per incomplete covariate and cycle.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=80, seed=3)
    >>> df.loc[df.index % 5 == 0, "stress"] = np.nan
    >>> r = smg.mice("y ~ time + stress + (1 | id)", df, family=sm.families.Binomial(),
    ...              n_imputations=2, seed=0, n_burnin=2, n_skip=1)
    >>> r.params.index.tolist()
    ['Intercept', 'time', 'stress']
    """
    if builder is None or not callable(builder):
        raise ValueError("builder must be a callable that builds the model, such as "
                         "MixedGLM.from_formula (statsmodels_glmm.api.mice passes it)")
    if not isinstance(data, pd.DataFrame):
        raise ValueError("data must be a pandas DataFrame, got "
                         f"{type(data).__module__}.{type(data).__name__}")
    _check_int(n_imputations, "n_imputations", 2)
    _check_int(n_burnin, "n_burnin", 0)
    _check_int(n_skip, "n_skip", 1)
    _check_int(max_proposals, "max_proposals", 1)
    if method not in ("pmm", "smc"):
        raise ValueError(f"method must be 'pmm' or 'smc', got {method!r}")
    if seed is not None and not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer or None, got {seed!r}")
    if model_kwargs is not None and not isinstance(model_kwargs, dict):
        raise ValueError(f"model_kwargs must be a dict, got {type(model_kwargs).__name__}")
    model_kwargs = dict(model_kwargs or {})
    extra = {"zi": model_kwargs["zi_formula"]} if model_kwargs.get("zi_formula") else None
    keep, used, gcols = kept_rows(data, formula, groups=groups, re_formula=re_formula,
                                  offset=model_kwargs.get("offset"),
                                  exposure=model_kwargs.get("exposure"), extra_formulas=extra)
    fixed, _ = split_formula(formula)
    outcome = fixed.partition("~")[0].strip()
    if outcome not in data.columns:
        raise ValueError(f"the outcome {outcome!r} must be a column of data (the imputation "
                         "model uses it as a predictor)")
    person = gcols[0]
    rows = data[person].notna().to_numpy()
    covs = [c for c in used if c not in gcols and c != outcome]
    incomplete = [c for c in covs if data.loc[rows, c].isna().any()]
    if not incomplete:
        raise ValueError("no covariate the formula reads has a missing value: fit the model "
                         "directly (rows with a missing outcome are handled by the fit)")
    for c in incomplete:
        dt = data[c].dtype
        if not pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt):
            raise ValueError(f"column {c!r} has missing values but is not numeric: this "
                             "imputation model imputes numeric covariates only (code a "
                             "two-level factor as 0/1)")
    sub = data.loc[rows]
    frame, names, outcome_cols, labels = _numeric_frame(sub, outcome, covs)
    pid = sub[person].to_numpy()
    codes = pd.factorize(pid)[0]
    varying = []
    for c, v in names.items():
        within = pd.Series(frame[v].to_numpy()).groupby(codes).std()
        if (within.fillna(0) > 1e-12).any():
            varying.append(v)

    def fit(completed):
        return builder(formula, completed, family=family, groups=groups,
                       re_formula=re_formula, **model_kwargs).fit(**fit_kwargs)

    if method == "pmm":
        imp, update = person_mean_imputer(frame, pid, varying, seed=seed)

        def current(c):
            return imp.data[names[c]].to_numpy()
    else:
        work = sub.reset_index(drop=True).copy()
        imp = SMCImputer(work, frame, names, incomplete, outcome_cols, codes, varying, fit,
                         np.random.default_rng(seed), max_proposals=max_proposals,
                         labels=labels)
        update = imp.update

        def current(c):
            return work[c].to_numpy(dtype=float)
    update(n_burnin)
    est, var, other, fits = [], [], [], 0
    nobs = None
    for j in range(n_imputations):
        update(n_skip)
        completed = data.copy()
        for c in incomplete:
            vals = completed[c].to_numpy(dtype=float).copy()
            vals[rows] = current(c)
            completed[c] = vals
        res = fit(completed)
        fits += int(not res.converged)
        k = res.k_fe
        p = np.asarray(res.params)
        est.append(p[:k])
        var.append(np.diag(np.asarray(res.cov_params_fe())))
        other.append(p[k:])
        if j == 0:
            fe_names = list(res.model.exog_names)
            other_names = list(res.model.param_names)[k:]
            nobs, n_par = res.nobs, len(p)
    if fits:
        warn(f"{fits} of {n_imputations} fits did not converge; their estimates are pooled "
             "all the same", UserWarning)
    n_cc = int(keep.sum())
    n_imp = {c: int(data.loc[rows, c].isna().sum()) for c in incomplete}
    shown = [c for c, v in names.items() if v in varying]
    if method == "pmm":
        model_note = (
            "Imputation model (statsmodels MICEData): predictive mean matching on linear "
            "regressions of each incomplete covariate on the other analysis variables (the "
            "outcome included), on the person means of the other time-varying variables ("
            + (", ".join(shown) if shown else "none") + ") and on the variable's own mean over "
            f"the person's other rows; burn-in {n_burnin} cycles, "
            f"{n_skip} between imputations.")
    else:
        preds = "; ".join(
            f"{c} ~ " + " + ".join(imp.predictors(c))
            + (" (logistic; the two values drawn exactly)" if imp.binary[c]
               else " (normal; rejection sampling)") for c in incomplete)
        model_note = (
            "Imputation model (substantive-model-compatible, SMC-FCS): each missing value "
            "drawn from p(x | other covariates) f(y | x, b_i), f the GLMM with its "
            "parameters drawn from their sampling distribution and b_i from its conditional "
            f"distribution; covariate models: {preds}; loo = mean over the person's other "
            "rows, pm = person mean; burn-in "
            f"{n_burnin} cycles, {n_skip} between imputations.")
        if imp.n_not_converged:
            warn(f"{imp.n_not_converged} of the {imp.n_fits} fits inside the imputation "
                 "cycles did not converge", UserWarning)
        if imp.n_fallback:
            model_note += (f" {imp.n_fallback} of {imp.n_drawn} draws rejected "
                           f"{max_proposals} proposals and were taken by importance "
                           "resampling.")
        if imp.n_fallback > 0.001 * imp.n_drawn:
            warn(f"{imp.n_fallback} of {imp.n_drawn} imputed values were not accepted within "
                 f"{max_proposals} proposals and were drawn by importance resampling; the "
                 "covariate model may fit the data badly (or raise max_proposals)",
                 UserWarning)
    notes = [
        model_note,
        "Imputed values: " + ", ".join(f"{c} {n}" for c, n in n_imp.items())
        + f"; rows in each fit: {nobs} (complete cases: {n_cc}).",
    ]
    info = {"Rows per fit:": str(nobs), "Complete cases:": str(n_cc),
            "Imputation:": "SMC-FCS" if method == "smc" else "PMM"}
    return PooledResults(pd.DataFrame(est, columns=fe_names),
                         pd.DataFrame(var, columns=fe_names), df_com=float(nobs - n_par),
                         other_params=pd.Series(np.mean(other, axis=0), index=other_names),
                         title="GLMM fitted by multiple imputation (MICE), pooled by "
                               "Rubin's rules", notes=notes, info=info)


def _numeric_frame(sub, outcome, covs):
    """
    The analysis variables as numeric columns ``v0, v1, ...`` (dummies for
    categorical covariates), ``{column: name}`` for the numeric ones, the set
    of names coding the outcome and a readable label of every name.
    """
    frame, names, outcome_cols, labels = {}, {}, set(), {}
    for c in [outcome] + covs:
        s = sub[c]
        before = len(frame)
        if isinstance(s.dtype, pd.CategoricalDtype):
            if s.isna().any() and c != outcome:
                raise ValueError(f"column {c!r} has missing values but is categorical")
            codes = s.cat.codes.astype(float).where(s.notna())
            if c == outcome:
                names[c] = f"v{len(frame)}"
                frame[names[c]] = codes.to_numpy()
            else:
                for lev in s.cat.categories[1:]:
                    labels[f"v{len(frame)}"] = f"{c}[{lev}]"
                    frame[f"v{len(frame)}"] = (s == lev).astype(float).to_numpy()
        elif pd.api.types.is_numeric_dtype(s.dtype):
            names[c] = f"v{len(frame)}"
            frame[names[c]] = s.to_numpy(dtype=float)
        elif s.isna().any() and c != outcome:
            raise ValueError(f"column {c!r} has missing values but is not numeric")
        else:
            for lev in pd.unique(s.dropna())[1:]:
                labels[f"v{len(frame)}"] = f"{c}[{lev}]"
                frame[f"v{len(frame)}"] = (s == lev).astype(float).to_numpy()
        if c in names:
            labels[names[c]] = c
        if c == outcome:
            outcome_cols = {f"v{i}" for i in range(before, len(frame))}
    return pd.DataFrame(frame), names, outcome_cols, labels
