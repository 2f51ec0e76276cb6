"""
The model's data and parameters as the sampler sees them.

:class:`Problem` reads a model's design (fixed effects ``X``, the
random-effect terms of one or several grouping factors, the offset, the
response as the family validated it), centres and scales the fixed-effects
columns (the sampler works on the coefficients of the centred and scaled
columns, so that the intercept is the intercept at the means of the
predictors), and sets the priors: the defaults of :mod:`.priors`, replaced by
name from the user's ``priors``.  It also maps sampled values back to the
model's reported parameters ``[beta, var/cov of G, family]``.
"""

import numpy as np

from .densities import family_kind
from .priors import check_prior

__all__ = ["Problem", "Term"]


class Term:
    """One random-effect term: level codes, its columns of ``Z`` and its blocks."""

    def __init__(self, group, codes, labels, cols, names, blocks):
        self.group = group
        self.codes = np.asarray(codes, dtype=np.intp)
        self.labels = np.asarray(labels)
        self.cols = list(cols)              # columns of the model's Z
        self.names = list(names)
        self.blocks = [list(b) for b in blocks]   # local column indices
        self.n_levels = len(self.labels)
        self.q = len(self.cols)


def _terms(model):
    d = model.design
    cs = model.cov_struct
    if not d.multi:
        groups = [d.group_name]
        raw = [(d.group_name, d.gid, d.group_labels, list(range(d.Z.shape[1])))]
    else:
        raw, pos = [], 0
        for t in d.terms:
            raw.append((t.group, t.codes, t.labels, list(range(pos, pos + t.q))))
            pos += t.q
        groups = [t.group for t in d.terms]
    out = []
    for group, codes, labels, cols in raw:
        col_set = set(cols)
        blocks = [[cols.index(c) for c in b] for b in cs.blocks if b[0] in col_set]
        out.append(Term(group, codes, labels, cols, [d.re_names[c] for c in cols], blocks))
    del groups
    return out


class Problem:
    """
    Arrays, priors and parameter maps of a model for the sampler.

    Parameters
    ----------
    model : MixedGLM
    priors : dict or None
        ``{name: (distribution, *parameters)}`` replacing defaults by name.
    """

    def __init__(self, model, priors=None):
        self.model = model
        d = model.design
        resp = model.response
        self.kind = family_kind(resp)
        self.response = resp
        self.y = d.y
        self.offset = np.asarray(d.offset, dtype=float)
        X = np.asarray(d.X, dtype=float)
        self.p = X.shape[1]
        self.exog_names = list(d.exog_names)
        self.terms = _terms(model)
        self._scale_columns(X)
        self.extra_names = list(resp.extra_names())
        self._default_priors()
        self.set_priors(priors)

    # ---------------------------------------------------------- columns
    def _scale_columns(self, X):
        """``Xs = (X - center) / scale``; the constant column stays (the intercept)."""
        p = self.p
        ordinal = self.kind.startswith("ordinal")
        const = [j for j in range(p) if len(X) and np.ptp(X[:, j]) == 0 and X[0, j] != 0]
        self.icpt = const[0] if const else None
        mean = X.mean(0) if len(X) else np.zeros(p)
        sd = X.std(0) if len(X) else np.ones(p)
        center = np.zeros(p)
        scale = np.ones(p)
        for j in range(p):
            if j == self.icpt:
                scale[j] = X[0, j]
            elif sd[j] > 0:
                scale[j] = sd[j]
                if self.icpt is not None or ordinal:
                    center[j] = mean[j]
        self.center, self.scale = center, scale
        Xs = (X - center) / scale
        self.Xs = Xs
        self.x_sd = np.where(sd > 0, sd, 1.0)

    def beta_from_scaled(self, bs):
        """Original-scale coefficients from those of the scaled columns (last axis)."""
        bs = np.asarray(bs, dtype=float)
        beta = bs / self.scale
        if self.icpt is not None:
            shift = np.sum(np.delete(self.center * beta, self.icpt, axis=-1), axis=-1)
            beta[..., self.icpt] = (bs[..., self.icpt] - shift) / self.scale[self.icpt]
        return beta

    def threshold_shift(self, beta):
        """``sum_j center_j beta_j``: centred thresholds to the original ones (ordinal)."""
        return np.sum(self.center * beta, axis=-1)

    # ----------------------------------------------------------- priors
    def _default_priors(self):
        kind, y = self.kind, self.y
        gaussian = kind == "gaussian"
        s_y = float(np.std(y)) if gaussian else 1.0
        s_y = s_y if s_y > 0 else 1.0
        pri = {}
        for j, name in enumerate(self.exog_names):
            if j == self.icpt:
                pri[name] = ("normal", float(np.mean(y)) if gaussian else 0.0, float(2.5 * s_y))
            else:
                pri[name] = ("normal", 0.0, float(2.5 * s_y / self.x_sd[j]))
        Z = self.model.design.Z
        for t in self.terms:
            for c, nm in zip(t.cols, t.names):
                rms = float(np.sqrt(np.mean(Z[:, c] ** 2))) or 1.0
                pri[f"{t.group} {nm} SD"] = ("exponential", rms / s_y)
        for name in self.corr_names():
            pri[name] = ("lkj", 2.0)
        if gaussian:
            pri["sigma"] = ("exponential", 1.0 / s_y)
        if kind in ("nb2", "nb1", "zi-nb2", "zi-nb1"):
            pri["alpha"] = ("exponential", 1.0)
        if kind.startswith("ordinal"):
            pri["thresholds"] = ("student_t", 3.0, 0.0, 2.5)
        if kind.startswith("zi-"):
            W = self.y[:, 1:]
            for j, nm in enumerate(self.response.zi_names):
                sdw = float(np.std(W[:, j]))
                pri[f"inflate_{nm}"] = (("logistic", 0.0, 1.0) if sdw == 0
                                        else ("normal", 0.0, 2.5 / sdw))
        self.default_priors = pri

    def corr_names(self):
        """One name per correlated block: ``'id correlation'`` (with its columns if needed)."""
        out = []
        for t in self.terms:
            big = [b for b in t.blocks if len(b) > 1]
            for b in big:
                if len(big) == 1:
                    out.append(f"{t.group} correlation")
                else:
                    out.append(f"{t.group} correlation ({', '.join(t.names[i] for i in b)})")
        return out

    def support(self, name):
        if name in self.exog_names or name == "thresholds" or name.startswith("inflate_"):
            return "real"
        if name.endswith(" correlation") or " correlation (" in name:
            return "corr"
        return "positive"

    def set_priors(self, priors):
        pri = dict(self.default_priors)
        if priors is not None:
            if not isinstance(priors, dict):
                raise ValueError("priors must be a dict {name: (distribution, *parameters)}")
            for name, spec in priors.items():
                if name not in pri:
                    raise ValueError(f"priors: unknown parameter name {name!r}; the names are "
                                     f"{', '.join(repr(n) for n in pri)}")
                pri[name] = check_prior(name, spec, self.support(name))
        self.priors = pri
