"""
Estimates on the edges of the parameter space, as the fit finds and reports them:
a random-effect variance at zero (is zero a maximum along it?), a standard
deviation diverging to infinity (separated groups), and a family parameter that
stops on the flat stretch before its lower bound.
"""

import numpy as np

from ..likelihood.warm_start import WarmStart

__all__ = ["settle_on_bounds", "diverging_sds", "rises_away_from_zero", "snap_to_zero",
           "DIVERGED_SD"]


#: a family parameter that ends this close to its lower bound (internal units: for the
#: negative binomial's ``log alpha``, a dispersion below 1e4 times its bound of 1e-8) is
#: tried on the bound (see :func:`settle_on_bounds`)
_BOUND_REACH = float(np.log(1e4))

#: a random-effect standard deviation (its column of Z scaled to root mean square one)
#: above which, with a link other than the identity, the linear predictor spans far more
#: than any probability or rate can follow: the likelihood still rises towards an
#: infinite variance
DIVERGED_SD = 1e3


def diverging_sds(model, x):
    """
    Names (``'g x0'``) of random effects whose standard deviation at ``x`` exceeds
    :data:`DIVERGED_SD` on the scaled columns of Z; none with the identity link.
    """
    if model.response.link_name == "identity" or not model.k_re:
        return []
    p, k = model.k_fe, model.k_re
    cs = model.cov_struct
    sd, _ = cs.sd_corr(np.asarray(x, dtype=float)[p:p + k])
    big = np.flatnonzero(sd * cs.row_scale > DIVERGED_SD)
    return [f"{cs.groups[j]} {cs.names[j]}" for j in big]


#: step along a zero diagonal entry of L (scaled coordinates) at which the objective's
#: rise shows that zero is a maximum of the likelihood in that direction
_ZERO_PROBE = 0.05


def rises_away_from_zero(f, xs, base, small):
    """
    True when, at the optimiser's answer ``xs`` (objective value ``base``) with the
    diagonal entries ``small`` of L at zero, the objective ``f`` (minus the scaled
    log-likelihood) rises along each of them: its value at ``xs + h e_i`` is above
    ``base`` and its slope there is positive.  The likelihood is even in such an entry,
    so zero is then a maximum along it (the curvature there is negative) and no restart
    is needed; a flat or falling direction, or a failed evaluation, asks for the restart.
    """
    if not np.isfinite(base):
        return False
    for i in small:
        x1 = np.array(xs, dtype=float)
        x1[i] = _ZERO_PROBE
        val, g = f(x1)
        if not (np.isfinite(val) and val > base and g[i] > 0):
            return False
    return True


def settle_on_bounds(model, x, nagq, bounds, warm):
    """
    ``x`` (internal parameters of ``model``) with the family parameters that
    stopped just inside a finite lower bound, while the log-likelihood still
    rises towards it, put on the bound when the log-likelihood there is at least
    as high; None when none is.

    The negative binomial's ``log alpha`` is bounded below
    (:meth:`~statsmodels_glmm.families.negbin.NegativeBinomial.extra_bounds`):
    with Poisson-like data the likelihood flattens as ``alpha -> 0``, so an
    optimiser stops anywhere on the flat stretch before the bound, a point
    that depends on its path.  A parameter within :data:`_BOUND_REACH` of its
    bound, with a negative derivative, is tried on the bound (one evaluation).

    Examples
    --------
    Counts without overdispersion, the dispersion left short of its bound:

    >>> import warnings
    >>> import pandas as pd
    >>> import statsmodels_glmm.api as smg
    >>> from statsmodels_glmm.families import NegativeBinomial
    >>> from statsmodels_glmm.model.fitting import WarmStart
    >>> rng = np.random.default_rng(5)
    >>> df = pd.DataFrame({"y": rng.binomial(6, 0.4, 300), "x": rng.normal(size=300),
    ...                    "g": np.repeat(np.arange(60), 5)})
    >>> model = smg.mixedglm("y ~ x + (1 | g)", df, family=NegativeBinomial())
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     x = model.fit().mle_retvals["internal_params"].copy()
    >>> x[-1] = np.log(1e-7)
    >>> out = settle_on_bounds(model, x, 1, model._bounds(), WarmStart())
    >>> from statsmodels_glmm.families.negbin import ALPHA_MIN
    >>> bool(out[-1] == np.log(ALPHA_MIN))  # alpha on its bound, 1e-8
    True
    """
    p, k = model.k_fe, model.k_re
    tried = [j for j in range(p + k, len(x))
             if bounds[j][0] is not None and bounds[j][0] < x[j] <= bounds[j][0] + _BOUND_REACH]
    if not tried:
        return None
    grad = model._gradient(x, nagq, warm=warm)
    llf = model.loglike_internal(x, nagq, warm=warm)[0]  # kept by the gradient's evaluation
    if not np.isfinite(llf):
        return None
    out = None
    for j in tried:
        if not grad[j] < 0:
            continue  # the likelihood does not rise towards the bound
        trial = np.array(x if out is None else out, dtype=float)
        trial[j] = bounds[j][0]
        at_bound = model.loglike_internal(trial, nagq, warm=WarmStart(warm.u))[0]
        if np.isfinite(at_bound) and at_bound >= llf - 1e-12 * abs(llf):
            out, llf = trial, at_bound
    return out


#: a diagonal entry of L (scaled coordinates: its column of Z at root mean square one)
#: that a Newton step shrinks below this size, to between :data:`_SNAP_SHRINK` (a
#: slow approach) and :data:`_SNAP_FAST` (a fast one, which Newton steps finish by
#: themselves) of what it was, is tried at zero (see :func:`snap_to_zero`)
_SNAP_FROM = 0.1
_SNAP_SHRINK = 0.7
_SNAP_FAST = 0.05
#: where the slope along such an entry is read (scaled coordinates): well inside any
#: standard deviation worth reporting, well above the one the fit calls zero (1e-6)
_SLOPE_PROBE = 1e-4


def snap_to_zero(model, x_old, x_new, llf_new, nagq, warm, tried):
    """
    ``x_new`` with the random-effect standard deviations that Newton steps are
    shrinking towards zero put at zero, when zero is the maximum along them.

    Where a variance's maximum is at zero the likelihood is flat there to first
    order, and Newton steps approach it only linearly, each from a new Hessian.
    A diagonal entry ``L_jj`` of the Cholesky factor whose column holds nothing
    else (the likelihood is then even in it) that the last step shrank below
    :data:`_SNAP_FROM`, to between :data:`_SNAP_FAST` and :data:`_SNAP_SHRINK` of
    its size or across zero (the step overshot it), is put at exactly zero when

    * the log-likelihood there is at least ``llf_new`` (the step's), and
    * it falls away from zero: its derivative in ``L_jj`` at
      :data:`_SLOPE_PROBE` is negative (an even function with negative
      curvature at zero; a maximum elsewhere makes it rise first).

    A zero entry is held there by the polish (see ``_free_mask``).  Each entry
    is tried once per polish (``tried``, a boolean mask over the parameters,
    updated in place).

    Returns ``(x, llf, gradient)`` at the point with the zeros, or None; ``warm``
    then holds that point's modes.

    Examples
    --------
    A binary panel whose random-intercept variance is estimated at zero; a step that
    took its ``L`` from 0.05 to 0.02 has it put at zero:

    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("binary", n_persons=500, n_waves=3, sd=(0.3, 0.0),
    ...                                corr=0.0, seed=3503)
    >>> m = smg.mixedglm("y ~ time * group + stress + (1 | id)", df,
    ...                  family=sm.families.Binomial())
    >>> x = m.fit().mle_retvals["internal_params"]
    >>> x_old, x_new = x.copy(), x.copy()
    >>> x_old[m.k_fe], x_new[m.k_fe] = 0.05, 0.02
    >>> llf_new = m.loglike_internal(x_new)[0]
    >>> x0, l0, g0 = snap_to_zero(m, x_old, x_new, llf_new, 1, WarmStart(),
    ...                           np.zeros(len(x), bool))
    >>> float(x0[m.k_fe]), bool(l0 >= llf_new)
    (0.0, True)
    """
    p, k = model.k_fe, model.k_re
    cs = model.cov_struct
    x_old, x_new = np.asarray(x_old, dtype=float), np.asarray(x_new, dtype=float)
    theta = x_new[p:p + k]
    size = np.abs(cs.scaled_theta(theta))
    before = np.abs(cs.scaled_theta(x_old[p:p + k]))
    slow = (size < _SNAP_SHRINK * before) & (size > _SNAP_FAST * before)
    crossed = theta * x_old[p:p + k] < 0  # the step overshot zero
    cand = np.flatnonzero(cs.even_diagonals(theta) & ~tried[p:p + k] & (size < _SNAP_FROM)
                          & (slow | crossed))
    if not len(cand):
        return None
    tried[p + cand] = True
    x0 = x_new.copy()
    x0[p + cand] = 0.0
    l0, g0, _ = model.loglike_internal(x0, nagq, gradient=True, warm=warm)
    if not (np.isfinite(l0) and l0 >= llf_new):
        return None
    if g0 is None:
        g0 = model._fd_gradient(x0, nagq, warm=warm)
    for j in cand:
        # the probes start from the zero point's modes and leave ``warm`` holding them
        x1 = x0.copy()
        x1[p + j] = _SLOPE_PROBE / cs.row_scale[cs.rows[j]]
        if not model._gradient(x1, nagq, warm=WarmStart(warm.u))[p + j] < 0:
            return None
    return x0, l0, g0
