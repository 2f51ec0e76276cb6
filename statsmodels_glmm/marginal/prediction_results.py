"""
Predictions with delta-method standard errors, and the links their intervals are built on.

:class:`PredictionResults` holds what :func:`statsmodels_glmm.marginal.predict.get_prediction`
returns: the predictions, their standard errors and intervals built on a link scale and
mapped back (so probabilities stay inside (0, 1) and counts stay positive).
"""

import numpy as np
import pandas as pd
from scipy import special, stats

__all__ = ["PredictionResults"]

_LINKS = {"logit": (special.logit, special.expit), "probit": (special.ndtri, special.ndtr),
          "cloglog": (lambda m: np.log(-np.log1p(-m)), lambda e: -np.expm1(-np.exp(e))),
          "log": (np.log, np.exp), "identity": (lambda m: m, lambda e: e)}


def _link(name):
    """``(g, g_inverse)`` for a link name."""
    try:
        return _LINKS[str(name).lower()]
    except KeyError:
        raise ValueError(f"link {name!r} has no known inverse here; use logit, probit, "
                         "cloglog, log or identity") from None


class PredictionResults:
    """
    Predictions with delta-method standard errors (like statsmodels' PredictionResults).

    Attributes
    ----------
    predicted : ndarray
        Predictions, ``(n,)`` or ``(n, k)``.
    se : ndarray
        Standard errors, same shape.
    row_labels : Index
    columns : list or None
        Column names of two-dimensional predictions.
    transform : str
        Scale on which :meth:`conf_int` builds intervals (``"logit"``,
        ``"log"``, ..., ``"identity"``) before mapping them back.

    Examples
    --------
    >>> import numpy as np
    >>> pr = PredictionResults(np.array([0.2, 0.5]), np.array([0.05, 0.1]), transform="identity")
    >>> pr.summary_frame().columns.tolist()
    ['mean', 'mean_se', 'mean_ci_lower', 'mean_ci_upper']
    """

    def __init__(self, predicted, se, row_labels=None, columns=None, transform="identity",
                 random_effects="marginal", which="mean"):
        self.predicted = np.asarray(predicted, dtype=float)
        self.se = np.asarray(se, dtype=float)
        n = self.predicted.shape[0]
        self.row_labels = pd.RangeIndex(n) if row_labels is None else pd.Index(row_labels)
        self.columns = columns
        self.transform = transform
        self.random_effects = random_effects
        self.which = which

    @property
    def predicted_mean(self):
        """Alias of :attr:`predicted` (older statsmodels spelling)."""
        return self.predicted

    @property
    def var_pred_mean(self):
        """Delta-method variances of the predictions."""
        return self.se ** 2

    def conf_int(self, alpha=0.05):
        """
        Wald intervals, built on the transform scale and mapped back
        (so probabilities stay inside (0, 1) and counts stay positive).

        Returns
        -------
        ndarray, (n, 2) or (n, k, 2)
        """
        z = stats.norm.ppf(1 - alpha / 2)
        p, se = self.predicted, self.se
        if self.transform == "identity":
            lo, hi = p - z * se, p + z * se
        else:
            g, ginv = _link(self.transform)
            with np.errstate(divide="ignore", invalid="ignore"):
                gp = g(p)
                eps = 1e-6 * np.maximum(np.abs(p), 1e-8)
                dg = (g(p + eps) - g(p - eps)) / (2 * eps)
                lo, hi = ginv(gp - z * se * dg), ginv(gp + z * se * dg)
            bad = ~np.isfinite(lo) | ~np.isfinite(hi)
            lo = np.where(bad, p - z * se, lo)
            hi = np.where(bad, p + z * se, hi)
        return np.stack([lo, hi], axis=-1)

    def summary_frame(self, alpha=0.05):
        """
        DataFrame with ``mean, mean_se, mean_ci_lower, mean_ci_upper``
        (long format, one row per row and column, for two-dimensional
        predictions).
        """
        ci = self.conf_int(alpha)
        if self.predicted.ndim == 1:
            return pd.DataFrame({"mean": self.predicted, "mean_se": self.se,
                                 "mean_ci_lower": ci[:, 0], "mean_ci_upper": ci[:, 1]},
                                index=self.row_labels)
        n, k = self.predicted.shape
        cols = self.columns if self.columns is not None else list(range(k))
        idx = pd.MultiIndex.from_product([self.row_labels, cols], names=["row", "column"])
        return pd.DataFrame({"mean": self.predicted.ravel(), "mean_se": self.se.ravel(),
                             "mean_ci_lower": ci[..., 0].ravel(),
                             "mean_ci_upper": ci[..., 1].ravel()}, index=idx)

    def __repr__(self):
        return (f"PredictionResults({self.predicted.shape[0]} rows, which={self.which!r}, "
                f"random_effects={self.random_effects!r})")
