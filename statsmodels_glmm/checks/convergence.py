"""
Convergence report of a MixedGLM fit: what the optimiser ended with, and what to try.

At a maximum of the log-likelihood ``l`` the gradient is zero and the
Hessian ``H = d^2 l / dx dx'`` is negative definite on the free parameters.
The report gives the gradient on the internal scale (``x = [beta, theta,
phi]``, ``theta`` the Cholesky entries of ``G``) and on the reported scale
(``J' g_public = g_internal`` with ``J = d public / d internal``), the
eigenvalues of ``H`` (all negative at a proper maximum; one near zero means
a flat direction: a parameter that the data barely determine), the
parameters on a boundary, the optimiser's own messages, and advice naming
the predictors and random-effect terms concerned.
"""

import numpy as np
import pandas as pd

__all__ = ["ConvergenceReport", "convergence_report"]


class ConvergenceReport:
    """
    Numbers and advice about the convergence of one fit.

    Attributes
    ----------
    converged : bool
    gradient : DataFrame
        Columns ``internal`` and ``public``, one row per parameter.
    max_abs_gradient : float
        Largest gradient entry on the scale the optimiser uses (centred,
        scaled columns), as in ``mle_retvals["max_abs_grad"]``.
    hessian_eigenvalues : ndarray
        Eigenvalues of the Hessian of the free internal parameters,
        ascending.
    condition_number : float
        Ratio of the largest to the smallest absolute eigenvalue.
    boundary : list of str
        Parameters on the boundary (variances at zero, correlations at
        +-1, family parameters at a bound).
    messages : dict
        The optimiser's information (``mle_retvals`` without arrays).
    advice : list of str
        Concrete suggestions; empty when nothing looks wrong.
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def summary(self):
        """The report as text."""
        lines = ["Convergence report", "=" * 18,
                 f"converged: {self.converged}   optimiser: {self.messages.get('optimizer')}"
                 f" ({self.messages.get('message')})",
                 f"iterations: {self.messages.get('iterations')}   function evaluations: "
                 f"{self.messages.get('function_evaluations')}",
                 f"max |gradient| (scaled): {self.max_abs_gradient:.3g}   Newton decrement: "
                 f"{self.messages.get('newton_decrement', float('nan')):.3g}",
                 "", "Gradient at the estimates:",
                 self.gradient.to_string(float_format=lambda v: f"{v: .3e}"), "",
                 "Hessian eigenvalues (free internal parameters): "
                 + ", ".join(f"{v:.4g}" for v in self.hessian_eigenvalues),
                 f"condition number: {self.condition_number:.3g}",
                 "boundary: " + (", ".join(self.boundary) if self.boundary else "none"), ""]
        if self.advice:
            lines.append("Advice:")
            lines.extend(f"- {a}" for a in self.advice)
        else:
            lines.append("Advice: none; the fit looks converged.")
        return "\n".join(lines)

    __str__ = summary

    def __repr__(self):
        return f"<ConvergenceReport: converged={self.converged}, {len(self.advice)} advice>"


def _scale_advice(model):
    """Fixed-effect columns far from unit scale or far from centred."""
    d = model.design
    X = d.X
    names = list(model.exog_names)
    out = []
    if not X.shape[1]:
        return out
    sd = X.std(0)
    mean = X.mean(0)
    has_icpt = bool(np.any(np.all(X == 1.0, axis=0)))
    for j, nm in enumerate(names):
        if sd[j] == 0:
            continue
        if len(np.unique(X[:, j])) == 2 and set(np.unique(X[:, j])) <= {0.0, 1.0}:
            continue  # indicators are fine as they are
        reasons = []
        if sd[j] > 50 or sd[j] < 0.02:
            reasons.append(f"SD {sd[j]:.3g}")
        if has_icpt and abs(mean[j]) > 10 * sd[j]:
            reasons.append(f"mean {mean[j]:.3g} is {abs(mean[j]) / sd[j]:.0f} SDs from 0")
        if reasons:
            out.append((nm, "; ".join(reasons)))
    for j, nm in enumerate(model.design.re_names):
        z = d.Z[:, j]
        s = z.std()
        if s > 0 and (s > 50 or s < 0.02):
            out.append((f"{nm} (random effect)", f"SD {s:.3g}"))
    return out


def convergence_report(results):
    """
    Build a :class:`ConvergenceReport` for a fit.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=1)
    >>> df["time_ms"] = df["time"] * 1e4
    >>> res = smg.mixedglm("y ~ time_ms + (1 | id)", df, family=sm.families.Binomial()).fit()
    >>> rep = convergence_report(res)
    >>> any("time_ms" in a for a in rep.advice)
    True
    """
    m = results.model
    info = results.mle_retvals
    x = np.asarray(info["internal_params"], dtype=float)
    names = list(m.param_names)
    g = info.get("gradient")
    g = np.asarray(g, dtype=float) if g is not None else m._gradient(x, results.nagq)
    J = m.public_jacobian(x)
    g_pub = np.linalg.lstsq(J.T, g, rcond=None)[0]
    grad = pd.DataFrame({"internal": g, "public": g_pub}, index=names)
    bounds = m._bounds()
    free = m._free_mask(x, bounds)
    H = info.get("hessian")
    if H is None:
        H = m.hessian_internal(x, results.nagq, free)
    H = np.asarray(H, dtype=float)[np.ix_(free, free)]
    eig = np.linalg.eigvalsh(0.5 * (H + H.T)) if H.size else np.zeros(0)
    abs_eig = np.abs(eig)
    cond = float(abs_eig.max() / abs_eig.min()) if len(eig) and abs_eig.min() > 0 else np.inf

    p, k = m.k_fe, m.k_re
    cs = m.cov_struct
    theta = x[p:p + k]
    boundary, advice = [], []
    pub = cs.public_names()
    sd, corr = cs.sd_corr(theta)
    # a zero diagonal of L is a zero variance, or (variance > 0) a correlation at +-1
    zero_rows = [int(cs.rows[i]) for i in np.flatnonzero(cs.boundary_mask(theta))
                 if sd[cs.rows[i]] < 1e-6]
    zero_var = [pub[i] for i in np.flatnonzero(cs.boundary_mask(theta))
                if sd[cs.rows[i]] < 1e-6]
    boundary.extend(zero_var)
    near_one = []
    for i in range(cs.q):
        for j in range(i):
            if sd[i] > 0 and sd[j] > 0 and abs(corr[i, j]) > 0.98:
                near_one.append((cs.names[j], cs.names[i], corr[i, j], cs.groups[i]))
                boundary.append(f"{cs.groups[i]} {cs.names[j]} x {cs.names[i]} Corr "
                                f"= {corr[i, j]:+.3f}")
    lo = np.array([b[0] if b[0] is not None else -np.inf for b in bounds])
    for j in range(p + k, len(x)):
        if x[j] <= lo[j] + 1e-8:
            boundary.append(f"{names[j]} at its bound")

    for r in zero_rows:
        term, fac = cs.names[r], cs.groups[r]
        hint = (f"drop the random-effect term '(1 | {fac})'" if term == "Intercept" else
                f"drop it from the random-effects term of {fac!r}, e.g. '(1 | {fac})' "
                "instead of a random slope")
        advice.append(f"the variance of the random effect {term!r} of {fac!r} is zero "
                      f"(singular fit): {hint}")
    for a, b, r, fac in near_one:
        advice.append(f"the correlation of the random effects {a!r} and {b!r} of {fac!r} is "
                      f"{r:+.3f}: simplify the term, e.g. uncorrelated effects "
                      f"'(1 + {b} || {fac})' or drop the random {b!r}")
    for nm, why in _scale_advice(m):
        advice.append(f"centre and/or rescale the predictor {nm!r} ({why}); e.g. subtract its "
                      "mean and divide by its SD (or change units)")
    if not info.get("success", True) or not results.converged:
        advice.append(f"the optimiser stopped with '{info.get('message')}': refit from other "
                      "start values (fit(start_params=...)), raise maxiter, or compare with "
                      "adaptive quadrature (fit(nagq=...)) or a simpler model")
    if not info.get("hessian_positive_definite", True) or (len(eig) and eig.max() >= 0):
        advice.append("the Hessian is not negative definite: some parameter is not "
                      "identified (collinear predictors, a variance at zero, or too little "
                      "data for the random-effects structure)")
    elif np.isfinite(cond) and cond > 1e8:
        advice.append(f"the Hessian is badly conditioned (condition number {cond:.2g}): "
                      "rescale predictors or simplify the random effects")
    sep = list(info.get("separation") or [])
    if m.response.name == "Binomial":
        beta = x[:p]
        Xs = m.design.X.std(0)
        big = [n for n, b, s in zip(m.exog_names, beta, Xs) if s > 0 and abs(b) * s > 10]
        sep = list(dict.fromkeys(sep + big))
        if sep:
            advice.append(f"check separation: the outcome may be (quasi-)completely separated "
                          f"by {', '.join(repr(s) for s in sep)} (huge coefficients); consider "
                          "removing or merging those categories, or a penalised (Firth-type) "
                          "or Bayesian fit")
    if not info.get("inner_converged", True):
        advice.append("the conditional modes did not converge for every group at the "
                      "estimates: check groups with extreme responses")
    messages = {k: v for k, v in info.items()
                if k not in ("internal_params", "gradient", "hessian")}
    return ConvergenceReport(
        converged=bool(results.converged), gradient=grad,
        max_abs_gradient=float(info.get("max_abs_grad", np.max(np.abs(g)) if len(g) else 0.0)),
        hessian_eigenvalues=eig, condition_number=cond, boundary=boundary,
        messages=messages, advice=advice, separation=sep)
