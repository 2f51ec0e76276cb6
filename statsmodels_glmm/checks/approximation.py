"""
Is the integral approximation good enough?  Compare Laplace and AGQ rules.

The marginal log-likelihood of a GLMM is an integral over the random
effects.  :func:`check_approximation` evaluates it (and the estimates it
implies) with adaptive Gauss-Hermite rules of increasing size ``K``
(``K = 1`` is the Laplace approximation) and says whether the answers have
settled.

For each ``K`` the check reports the log-likelihood and the parameters:

* ``refit=True`` (default): a full fit with ``K`` nodes, started at the
  estimates.
* ``refit=False`` (quick): the log-likelihood at the fitted estimates
  ``x^`` and the one-Newton-step estimates under the ``K``-node objective,
  ``x_K = x^ - H_K(x^)^{-1} g_K(x^)`` (``g_K`` its analytic gradient,
  ``H_K`` its Hessian by differences of ``g_K``), reported on the public
  scale.  The step is exact only for a quadratic objective: when the rules
  differ much (binary data with few observations per group) it can land
  far away, so in this mode the verdict uses the log-likelihoods alone.

With ``K*`` the largest rule, a rule ``K`` *agrees* when
``|llf_K - llf_K*| <= tol_llf`` and (when refitting) every parameter is
within ``tol_se`` standard errors of its ``K*`` value.  The answers have *settled*
when the second largest rule agrees and the third largest is within ten
times the tolerances (the changes are shrinking); the advice is
then the smallest ``K`` from which every larger rule agrees ("Laplace is
adequate" when that is ``K = 1``).  Otherwise the verdict is
"not settled as K grows": no rule in the range can be trusted.  This
happens for binary data with very large random-effect variances, where the
posterior of the random effects is far from Gaussian (see
``docs/quadrature.md``).
"""

import time
import warnings

import numpy as np
import pandas as pd

__all__ = ["check_approximation", "ApproximationCheck", "laplace_guard", "guard_threshold",
           "guard_refit", "in_danger_zone", "guard_message"]

_DEFAULT_K = {1: (1, 5, 9, 15, 25, 40), 2: (1, 3, 5, 7, 9, 11), 3: (1, 3, 5, 7)}


class ApproximationCheck:
    """
    Result of :func:`check_approximation`.

    Attributes
    ----------
    table : DataFrame
        One row per ``K``: ``llf``, ``d_llf`` (change from the largest
        rule), ``max_change_se`` (largest parameter change from the largest
        rule, in standard errors), ``agrees``, then every parameter.
    changes : DataFrame
        Parameter changes from the largest rule, in standard errors.
    settled : bool
    recommended_nagq : int or None
        Smallest ``K`` whose answers agree with every larger rule (None when
        not settled).
    verdict : str
        ``"Laplace is adequate"``, ``"use nagq=K"`` or ``"not settled as K grows"``
        followed by a one-line reason.
    refit : bool
    importance : dict or None
        ``llf`` and ``se`` of the importance-sampling estimate of the exact
        log-likelihood at the fitted estimates, and ``rules``: every rule's
        log-likelihood there.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=40, seed=2)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> chk = res.check_approximation(nagq=(1, 5, 9))
    >>> chk.settled
    True
    >>> list(chk.table.index)
    [1, 5, 9]
    """

    def __init__(self, table, changes, settled, recommended, verdict, refit, method,
                 importance=None):
        self.table = table
        self.changes = changes
        self.settled = bool(settled)
        self.recommended_nagq = recommended
        self.verdict = verdict
        self.refit = bool(refit)
        self.method = method
        self.importance = importance

    def summary(self):
        """Printable text: the table and the verdict."""
        how = ("refitted at each K" if self.refit
               else "llf at the fitted estimates; verdict from the log-likelihood only; "
               "parameters one Newton step under each rule, a rough guide (refit=True "
               "compares refitted estimates)")
        cols = ["llf", "d_llf", "max_change_se"]
        with pd.option_context("display.width", 120, "display.max_columns", 30):
            body = self.table[cols].to_string(float_format=lambda v: f"{v:.4f}")
            par = self.table.drop(columns=cols + ["agrees"]).to_string(
                float_format=lambda v: f"{v:.4f}")
        lines = [f"Approximation check (fitted with {self.method}; {how})", "",
                 "Log-likelihood by nodes per dimension K (K = 1 is Laplace):", body, "",
                 "Parameters:", par, ""]
        if self.importance is not None:
            imp = self.importance
            rules = imp["rules"].to_string(float_format=lambda v: f"{v:.4f}")
            lines += [f"At the fitted estimates: importance-sampling estimate of the exact "
                      f"log-likelihood {imp['llf']:.4f} (SE {imp['se']:.4f}); the rules give",
                      rules, ""]
        lines.append(f"Verdict: {self.verdict}")
        return "\n".join(lines)

    def __str__(self):
        return self.summary()

    def __repr__(self):
        return f"<ApproximationCheck: {self.verdict}>"


def _default_nagq(q, fitted):
    ks = list(_DEFAULT_K.get(q, (1, 3)))
    if fitted not in ks:
        ks.append(fitted)
    return sorted(ks)


def check_approximation(res, nagq=None, refit=True, tol_llf=0.05, tol_se=0.1,
                        importance=None, ndraws=16384):
    """
    Compare the Laplace approximation and adaptive quadrature rules.

    Parameters
    ----------
    res : MixedGLMResults
        A fitted model (any ``nagq``).
    nagq : sequence of int, optional
        Nodes per random-effect dimension to compare.  Default
        ``(1, 5, 9, 15, 25, 40)`` for a scalar random effect,
        ``(1, 3, 5, 7, 9, 11)`` for two and ``(1, 3, 5, 7)`` for three, plus
        the fitted ``nagq``.
    refit : bool
        True (default): refit with every rule and compare log-likelihoods and
        estimates.  False: a quicker look that evaluates every rule at the
        fitted estimates; the verdict then rests on the log-likelihood alone
        (the estimates shown are one Newton step under each rule, a rough
        indication that is poor when the rules differ much).
    tol_llf : float
        Log-likelihood agreement tolerance.
    tol_se : float
        Parameter agreement tolerance in standard errors.
    importance : bool, optional
        Also estimate the exact log-likelihood at the fitted estimates by
        importance sampling (:func:`importance.importance_loglike`) and show
        it beside every rule evaluated there.  Default: only when the rules
        have not settled.
    ndraws : int
        Draws per group for the importance-sampling estimate.

    Returns
    -------
    ApproximationCheck

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=11)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
    >>> chk = check_approximation(res, nagq=(1, 9, 15))
    >>> chk.table.columns[:4].tolist()
    ['llf', 'd_llf', 'max_change_se', 'agrees']
    """
    model = res.model
    q = model.design.Z.shape[1]
    if nagq is None:
        ks = _default_nagq(q, res.nagq)
    else:
        try:
            ks = sorted({int(k) for k in np.atleast_1d(nagq)})
        except (TypeError, ValueError):
            raise ValueError("nagq must be a sequence of positive integers") from None
        if not ks or ks[0] < 1:
            raise ValueError("nagq must be a sequence of positive integers (1 = Laplace)")
        if len(ks) < 2:
            raise ValueError("nagq needs at least two different rules to compare")
    if tol_llf <= 0 or tol_se <= 0:
        raise ValueError("tol_llf and tol_se must be positive")
    if q > 1:  # validate node counts before any work
        from ..likelihood.quadrature import _check_nodes

        for k in ks:
            _check_nodes(k, q)
    names = list(model.param_names)
    x0 = np.asarray(res.mle_retvals["internal_params"], dtype=float)
    bounds = model._bounds()
    free = model._free_mask(x0, bounds)
    llf, params, conv = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in ks:
            if refit:
                r = model.fit(nagq=k, start_params=np.asarray(res.params))
                llf.append(r.llf)
                params.append(np.asarray(r.params, dtype=float))
                conv.append(r.converged)
                continue
            lk, g, _ = model.loglike_internal(x0, k, gradient=True)
            if g is None:
                g = model._fd_gradient(x0, k)
            x = x0.copy()
            ok = np.isfinite(lk)
            if ok and np.any(free):
                H = model.hessian_internal(x0, k, free)[np.ix_(free, free)]
                try:
                    x[free] = x0[free] + np.linalg.solve(-H, g[free])
                except np.linalg.LinAlgError:
                    ok = False
            llf.append(lk)
            params.append(model.to_public(x))
            conv.append(bool(ok))
    llf = np.array(llf)
    P = np.vstack(params)
    se = np.asarray(res.bse, dtype=float)
    scale = np.where(np.isfinite(se) & (se > 0), se, 0.01 * np.abs(P[-1]) + 1e-3)
    dse = (P - P[-1]) / scale
    d_llf = llf - llf[-1]
    maxse = np.max(np.abs(dse), axis=1)
    agrees = (np.abs(d_llf) <= tol_llf) & np.array(conv)
    if refit:
        agrees &= maxse <= tol_se
    # settled: the two largest rules agree, and the third largest is not far off
    settled = bool(np.all(agrees[-2:]) and np.all(np.isfinite(llf[-2:])))
    if len(ks) >= 3:
        settled &= bool(abs(d_llf[-3]) <= 10 * tol_llf
                        and (maxse[-3] <= 10 * tol_se or not refit))
    top = min(3, len(ks))
    table = pd.DataFrame(P, index=pd.Index(ks, name="K"), columns=names)
    table.insert(0, "agrees", agrees)
    table.insert(0, "max_change_se", maxse)
    table.insert(0, "d_llf", d_llf)
    table.insert(0, "llf", llf)
    changes = pd.DataFrame(dse, index=pd.Index(ks, name="K"), columns=names)
    if not settled:
        worst = np.max(np.abs(llf[-top:] - llf[-1]))
        verdict = (f"not settled as K grows: the log-likelihood still moves by {worst:.3g} "
                   f"between K = {ks[-top]} and K = {ks[-1]}, so no rule in this range can be "
                   "trusted; try more nodes (nagq), a simpler random-effects structure, or "
                   "check the model (very large random-effect variances with binary data "
                   "make the integrand far from Gaussian)")
        recommended = None
    else:
        i = len(ks) - 1
        while i > 0 and agrees[i - 1]:
            i -= 1
        recommended = ks[i]
        if recommended == 1:
            verdict = (f"Laplace is adequate: K = 1 to {ks[-1]} agree within "
                       f"{tol_llf:g} in log-likelihood and {tol_se:g} SE in every parameter")
        else:
            verdict = (f"use nagq={recommended}: from K = {recommended} on the rules agree "
                       f"within {tol_llf:g} in log-likelihood and {tol_se:g} SE in every "
                       f"parameter; Laplace is off by {abs(d_llf[0]):.3g} in log-likelihood "
                       f"and {maxse[0]:.2g} SE" if ks[0] == 1 else
                       f"use nagq={recommended}: from K = {recommended} on the rules agree")
    imp = None
    if importance or (importance is None and not settled):
        from ..likelihood.importance import importance_loglike

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value, se = importance_loglike(res, ndraws=ndraws)
            at_fit = pd.Series([model.loglike_internal(x0, k)[0] for k in ks],
                               index=pd.Index(ks, name="K"), name="llf at the fitted estimates")
        imp = {"llf": value, "se": se, "rules": at_fit}
        if not settled:
            verdict += (f". At the fitted estimates an importance-sampling estimate of the "
                        f"exact log-likelihood is {value:.2f} (SE {se:.2f}), while the rules "
                        f"give {at_fit.min():.2f} to {at_fit.max():.2f} "
                        f"(Laplace {at_fit.iloc[0]:.2f})" if ks[0] == 1 else
                        f". At the fitted estimates an importance-sampling estimate of the "
                        f"exact log-likelihood is {value:.2f} (SE {se:.2f})")
    return ApproximationCheck(table, changes, settled, recommended, verdict, refit, res.method,
                              imp)


#: nodes per dimension of the accuracy guard's quadrature rule, by random-effect dimension
GUARD_NODES = {1: 5, 2: 3, 3: 3}


def guard_threshold(n_groups):
    """
    Largest ``|llf_AGQ - llf_Laplace|`` the guard accepts: ``1 + 0.05 n_groups``.

    The Laplace error is a sum of per-group errors of order ``1 / n_i``.  On
    well-behaved binary and count panels (4 to 6 observations per group,
    random intercepts and slopes; the simulated sets in ``tests/data``) the
    per-group difference from the guard's rule (5 nodes for one random effect,
    3 x 3 for two) is 0.003 to 0.022; the toenail random-slope fit, whose
    Laplace estimates are far from the quadrature ones, shows 0.27 (3 x 3) to
    0.41 (5 x 5).  A tolerance of 0.05 per group (plus 1, a change of 2 on the
    likelihood-ratio scale, for small data) separates the two.

    >>> guard_threshold(200)
    11.0
    """
    return 1.0 + 0.05 * n_groups


def laplace_guard(model, internal, llf_laplace, warm=None, for_refit=False):
    """
    Cheap accuracy guard of a Laplace fit: the log-likelihood at the estimates
    by a small adaptive Gauss-Hermite rule.

    One quadrature evaluation at the Laplace estimates (no refit), with
    :data:`GUARD_NODES` nodes per dimension, centred and scaled at the modes
    and curvatures Laplace already found.  Where :func:`guard_refit` will refit
    in any case (binary data in the danger zone, :func:`in_danger_zone`, small
    enough for the refit), the evaluation uses the refit's rule
    (:data:`REFIT_NODES`) instead; with ``for_refit`` it also takes the gradient
    there and keeps it for the refit to start from (see
    :func:`pop_first_evaluation`), so that the guard costs no evaluation of its
    own.  Returns None when the guard does not apply (Gaussian responses, where
    Laplace is exact; more than three random effects per group; several
    grouping factors, where quadrature is not available), else a dict with
    ``nagq``, ``llf``, ``difference`` (quadrature minus Laplace), ``threshold``
    and ``flagged``.  Where every random-effect variance is estimated at zero the
    linear predictor does not depend on the random effects, so that Laplace is
    exact: no quadrature is evaluated, ``llf`` is Laplace's, ``difference`` is 0
    and ``exact`` is True.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=100, n_waves=8, seed=3)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
    >>> g = res.mle_retvals["laplace_check"]
    >>> g["nagq"], g["flagged"], g["refit"]
    (5, False, None)

    With fewer than 5 rows per person (the danger zone) the value comes from the
    refit's 15-node rule, the refit's first evaluation:

    >>> df = smg.simulate_longitudinal("binary", n_persons=100, seed=3)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
    >>> g = res.mle_retvals["laplace_check"]
    >>> g["nagq"], g["flagged"], g["refit"]["llf_at_laplace"] == g["llf"]
    (15, False, True)
    """
    q = model.design.Z.shape[1]
    resp = model.response
    exact = resp.name == "Gaussian" and resp.link_name == "identity"
    if model.multi or q not in GUARD_NODES or exact:
        return None
    K, gradient = GUARD_NODES[q], False
    thr = guard_threshold(model.n_groups)
    if not np.any(model.cov_struct.chol(model._split(internal)[1])):
        # every random-effect variance at zero: the linear predictor does not depend on
        # the random effects, the integrals are those of a standard normal density, and
        # Laplace gives them exactly (as would any quadrature rule)
        return dict(nagq=K, llf=float(llf_laplace), difference=0.0, threshold=thr,
                    flagged=False, exact=True)
    if _refit_ahead(model, q):
        # the refit starts with its own rule's value and gradient at these estimates:
        # the guard takes that evaluation (a closer value) instead of one of its own
        K, gradient = REFIT_NODES[q], bool(for_refit)
    try:
        llf_k, grad_k, _ = model.loglike_internal(internal, nagq=K, gradient=gradient,
                                                  warm=warm)
    except (ValueError, MemoryError, np.linalg.LinAlgError):
        return None
    llf_k = float(llf_k)
    diff = llf_k - float(llf_laplace)
    out = dict(nagq=K, llf=llf_k, difference=diff, threshold=thr,
               flagged=bool(not np.isfinite(diff) or abs(diff) > thr))
    if gradient and grad_k is not None:
        out[_FIRST] = (np.array(internal, dtype=float), llf_k, grad_k)
    return out


#: key of the guard's quadrature evaluation that the refit takes over (popped by
#: :func:`pop_first_evaluation` before the guard is shown)
_FIRST = "_first_evaluation"


def pop_first_evaluation(guard):
    """
    Remove and return the ``(point, llf, gradient)`` of the refit's rule that
    :func:`laplace_guard` computed for the refit (None otherwise), so that
    :func:`guard_refit` starts from it and the guard's dict holds only its report.

    >>> guard = {"nagq": 15, "llf": -1.5, _FIRST: (np.zeros(2), -1.5, np.ones(2))}
    >>> point, llf, grad = pop_first_evaluation(guard)
    >>> llf, sorted(guard), pop_first_evaluation(guard)
    (-1.5, ['llf', 'nagq'], None)
    """
    return None if guard is None else guard.pop(_FIRST, None)


def _refit_ahead(model, q):
    """True when :func:`guard_refit` will refit whatever the guard's value: binary data
    in the danger zone, a rule it has, and data small enough for it."""
    return q in REFIT_NODES and in_danger_zone(model) and _refit_small_enough(model, q)


def _refit_small_enough(model, q):
    """True when one evaluation of the refit's rule touches at most
    :data:`REFIT_MAX_ROW_NODES` row-nodes."""
    return model.nobs * REFIT_NODES[q] ** q <= REFIT_MAX_ROW_NODES


#: nodes per dimension of the guard's refit, by random-effect dimension (a rule that
#: check_approximation finds settled on the test panels: 15 for one random effect,
#: 7 x 7 for two, 5 x 5 x 5 for three)
REFIT_NODES = {1: 15, 2: 7, 3: 5}
#: the guard refits only when one quadrature evaluation touches at most this many
#: row-nodes (rows times nodes per group); a 15-node or 7 x 7-node quadrature gradient
#: costs some 4 to 7 Laplace evaluations and a refit takes a few of them, so above
#: this the refit would cost more than about half a fit
REFIT_MAX_ROW_NODES = 250_000
#: a move of an estimate, in its standard errors, that the refit reports
REFIT_TOL_SE = 0.5
#: groups smaller than this on average make binary data the primer's danger zone
DANGER_GROUP_SIZE = 5


def in_danger_zone(model):
    """
    Binary (Bernoulli: one trial per row) response with fewer than
    :data:`DANGER_GROUP_SIZE` observations per group on average (the mean, as
    the summary's note), where Laplace is known to bias the estimates.

    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=30, seed=1)
    >>> m = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial())
    >>> in_danger_zone(m), round(float(m.design.group_sizes.mean()), 2)
    (True, 4.73)
    """
    resp, d = model.response, model.design
    if resp.name != "Binomial" or model.multi or d.n_groups == 0 or len(d.y) == 0:
        return False
    return bool(np.all(resp.n_trials(d.y) == 1)
                and np.mean(d.group_sizes) < DANGER_GROUP_SIZE)


def guard_refit(model, internal, guard, hessian, free, cov_public, steps=8, warm=None,
                first=None):
    """
    Refit a Laplace fit by adaptive quadrature, cheaply, where Laplace is doubtful.

    Runs when the guard's quadrature value differs from Laplace's by more than
    ``1 + 0.02 n_groups`` (the top of the range of well-behaved panels, see
    :func:`guard_threshold`) or the data are in the danger zone
    (:func:`in_danger_zone`), for one grouping factor and up to three random
    effects.  From the Laplace estimates it takes up to ``steps`` quasi-Newton
    steps on the :data:`REFIT_NODES`-node quadrature log-likelihood, the
    Laplace Hessian the first curvature and BFGS updates of it after every
    step (one quadrature gradient each, halved until the quadrature
    log-likelihood does not fall), then compares the estimates: every
    parameter that moves by more than :data:`REFIT_TOL_SE` of its Laplace
    standard error is named, ``flagged`` is set and ``recommended_nagq`` is
    the rule used.  The steps stop early once the comparison is decided: when
    every estimate's move is below :data:`REFIT_TOL_SE`, or above it, by more
    than twice what the next step would change it; and once the warning itself
    is decided, when one estimate's move is above it by that margin:
    ``complete`` is then False, the estimates
    named are those that move by more than :data:`REFIT_TOL_SE` at that point,
    and others may move too (``fit(nagq=K)`` or :func:`check_approximation`
    tell).  The step that decides is taken unevaluated, and ``llf`` is the
    value the quadratic model predicts there; ``params`` and ``change_se``
    are then those of a refit not run to its end.  Often the first
    quadrature gradient decides it.  The refit is skipped
    (``skipped`` says why) above :data:`REFIT_MAX_ROW_NODES` row-nodes, where the guard's own
    log-likelihood difference already exceeds its tolerance (the warning is
    then given on that ground), and where every random-effect variance is
    estimated at zero (the guard's ``exact``: Laplace is exact there).

    Parameters
    ----------
    model : MixedGLM
    internal : ndarray
        Laplace estimates on the internal scale.
    guard : dict or None
        The result of :func:`laplace_guard`; updated in place with a
        ``"refit"`` entry and returned.
    hessian : ndarray
        Laplace Hessian on the internal scale.
    free : ndarray of bool
        Parameters not held on a bound.
    cov_public : ndarray
        Covariance of the reported parameters (their standard errors scale the
        moves).
    first : tuple, optional
        ``(point, llf, gradient)`` of the refit's rule at ``internal``, already
        computed (see :func:`pop_first_evaluation`).

    Returns
    -------
    dict or None
        ``guard`` with ``refit`` = None (not needed) or a dict with ``nagq``,
        ``reason``, and either ``skipped`` or ``llf`` (quadrature, at the
        refitted point), ``llf_at_laplace`` (quadrature, at the Laplace point),
        ``params``, ``change_se`` (pandas Series), ``max_change_se``, ``moved``
        (names), ``steps``, ``converged``, ``complete`` (False when the steps
        stopped once the warning was decided, before every estimate was) and
        ``seconds``.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=150, sd=(0.5, 0.0), seed=0)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Binomial()).fit()
    >>> r = res.mle_retvals["laplace_check"]["refit"]
    >>> r["nagq"], r["converged"], r["moved"]
    (15, True, [])
    """
    if guard is None:
        return None
    guard["refit"] = None
    q = model.design.Z.shape[1]
    reasons = []
    if in_danger_zone(model):
        reasons.append(f"binary data, {np.mean(model.design.group_sizes):.1f} "
                       "observations per group on average")
    if not np.isfinite(guard["difference"]) or \
            abs(guard["difference"]) > 1.0 + 0.02 * model.n_groups:
        reasons.append(f"{guard['nagq']}-node quadrature at the estimates differs from "
                       f"Laplace by {guard['difference']:+.2f}")
    if not reasons or model.multi or q not in REFIT_NODES:
        return guard
    K = REFIT_NODES[q]
    out = dict(nagq=K, reason="; ".join(reasons))
    guard["refit"] = out
    if guard.get("exact"):
        out["skipped"] = ("not refitted: every random-effect variance is estimated at zero, "
                          "where the Laplace likelihood is exact")
        return guard
    if guard["flagged"]:
        out["skipped"] = (f"not refitted: the {guard['nagq']}-node quadrature log-likelihood "
                          "at the estimates already differs from Laplace's by more than the "
                          f"tolerance; compare with fit(nagq={K}) or res.check_approximation()")
        return guard
    if not _refit_small_enough(model, q):
        out["skipped"] = (f"not refitted by {K}-node quadrature on data this large "
                          f"({model.nobs} rows x {K ** q} nodes); compare with "
                          f"fit(nagq={K}) or res.check_approximation()")
        return guard
    start = time.perf_counter()
    x = np.array(internal, dtype=float)
    bounds = model._bounds()
    lo = np.array([b[0] if b[0] is not None else -np.inf for b in bounds])
    names = list(model.param_names)
    before = model.to_public(internal)
    se = np.sqrt(np.diag(np.asarray(cov_public, dtype=float)))
    se = np.where(np.isfinite(se) & (se > 0), se, np.nan)

    complete = True  # False once the steps stop on the warning before every estimate

    def settled(x, step):
        nonlocal complete
        # every estimate is on one side of REFIT_TOL_SE and stays there with twice the
        # next step: which estimates move is decided, and further steps would not change
        # it; or one estimate is decided above it: the warning is certain
        with np.errstate(invalid="ignore"):
            now = np.abs(model.to_public(x) - before) / se
            ahead = np.abs(model.to_public(x + step) - before) / se
        slack = 2 * np.abs(ahead - now)
        below, above = now + slack < REFIT_TOL_SE, now - slack > REFIT_TOL_SE
        if np.all(below | above | ~np.isfinite(now + slack)):
            return True
        if np.any(above):
            complete = False
            return True
        return False

    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        try:
            x, llf, llf_at_laplace, n_steps, done = _chord_refit(model, x, K, hessian, free, lo,
                                                              steps, warm, settled, first)
        except (ValueError, MemoryError, NotImplementedError, np.linalg.LinAlgError):
            x = None
    if x is None:
        out["skipped"] = ("not refitted: the Laplace Hessian is not negative definite or "
                          "the quadrature log-likelihood is not finite")
        return guard
    after = model.to_public(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        change = np.where(np.isfinite(se), (after - before) / se, np.nan)
    size = np.abs(change)
    moved = [n for n, big in zip(names, size > REFIT_TOL_SE) if big]
    index = pd.Index(names)  # one index for both Series (each would build its own)
    out.update(llf=float(llf), llf_at_laplace=float(llf_at_laplace),
               params=pd.Series(after, index=index), change_se=pd.Series(change, index=index),
               max_change_se=float(np.nanmax(size)) if not np.isnan(size).all() else 0.0,
               moved=moved, steps=n_steps, converged=done, complete=complete,
               seconds=time.perf_counter() - start)
    if moved:
        guard["flagged"] = True
        guard["recommended_nagq"] = K
    return guard


def _chord_refit(model, x, K, hessian, free, lo, steps, warm, settled=None, first=None):
    """
    Newton steps on the ``K``-node quadrature log-likelihood, the Laplace Hessian
    the first curvature and BFGS updates of it after every step (a quasi-Newton
    method): ``(point, llf, llf at the start, steps, converged)``.  Stops, converged,
    when a full step would gain under 5e-5, or when ``settled(x, step)`` says the
    next step cannot change the verdict; that last step is then taken without
    evaluating it, and ``llf`` is the value the quadratic model predicts there.
    ``first``, the ``(point, llf, gradient)`` of the rule at ``x`` when already
    computed, saves the first evaluation.  Raises LinAlgError where the Laplace
    Hessian is not negative definite and ValueError without a finite quadrature
    gradient.
    """
    if first is not None and np.array_equal(first[0], x):
        llf, g = first[1], first[2]
    else:
        llf, g, _ = model.loglike_internal(x, K, gradient=True, warm=warm)
    start_llf = llf
    H = -np.asarray(hessian, dtype=float)[np.ix_(free, free)]
    np.linalg.cholesky(H)  # LinAlgError when not negative definite
    if g is None or not np.isfinite(llf):
        raise ValueError("no quadrature gradient")
    done, n_steps = False, 0
    for n_steps in range(1, steps + 1):
        step = np.zeros_like(x)
        step[free] = np.linalg.solve(H, g[free])
        if g[free] @ step[free] < 1e-4:  # a full step would gain under 5e-5
            done = True
            break
        if settled is not None and settled(x, step):
            x, llf, done = np.maximum(x + step, lo), llf + 0.5 * (g[free] @ step[free]), True
            break
        for _ in range(8):
            xn = np.maximum(x + step, lo)
            ln, gn, _ = model.loglike_internal(xn, K, gradient=True, warm=warm)
            if np.isfinite(ln) and ln >= llf - 1e-10 and gn is not None:
                H = _secant_update(H, (xn - x)[free], (g - gn)[free])
                x, llf, g = xn, ln, gn
                break
            step *= 0.5
        else:
            break
    return x, llf, start_llf, n_steps, done


def _secant_update(B, s, y):
    """
    The BFGS update of the curvature ``B`` (minus the Hessian) from a step ``s`` and
    the fall ``y`` of the gradient along it; ``B`` unchanged where the pair has no
    positive curvature (the update would not stay positive definite).
    """
    sy = float(s @ y)
    Bs = B @ s
    sBs = float(s @ Bs)
    if not (sy > 1e-12 * np.sqrt(float(s @ s) * float(y @ y)) and sBs > 0):
        return B
    B = B + np.outer(y, y) / sy - np.outer(Bs, Bs) / sBs
    return 0.5 * (B + B.T)


def guard_message(guard):
    """
    The warning text for a guard that flagged the Laplace fit, or None.

    >>> guard_message({"flagged": False}) is None
    True
    """
    if guard is None or not guard.get("flagged"):
        return None
    refit = guard.get("refit") or {}
    moved = refit.get("moved") or []
    if moved:
        K = refit["nagq"]
        ch = refit["change_se"]
        shown = ", ".join(f"{n!r} {ch[n]:+.1f}" for n in moved[:4]) + (
            ", ..." if len(moved) > 4 else "")
        more = "" if refit.get("complete", True) else (
            " (the refit stopped once that was clear: other estimates may move too)")
        return (f"the Laplace estimates look inaccurate here ({refit['reason']}): refitted "
                f"by {K}-node adaptive quadrature from them, estimates move by more than "
                f"{REFIT_TOL_SE:g} standard errors (in SE: {shown}){more}; refit with "
                f"fit(nagq={K}) (res.check_approximation() compares more rules); the "
                "comparison is in res.mle_retvals['laplace_check']")
    return (f"the Laplace approximation looks inaccurate here: at the estimates, "
            f"{guard['nagq']}-node adaptive quadrature gives a log-likelihood "
            f"{guard['difference']:+.2f} from Laplace's (tolerance "
            f"{guard['threshold']:.2f}); run res.check_approximation() or refit with "
            "fit(nagq=...)")
