"""
Rubin's rules: pooling estimates from multiply imputed data sets.

For ``m`` completed data sets with estimates ``Q_j`` and covariance matrices
``U_j`` of one parameter vector,

.. math::

    \\bar Q = \\frac1m \\sum_j Q_j, \\quad \\bar U = \\frac1m \\sum_j U_j, \\quad
    B = \\frac{1}{m - 1} \\sum_j (Q_j - \\bar Q)(Q_j - \\bar Q)', \\quad
    T = \\bar U + (1 + 1/m) B.

Per parameter, with ``lambda = (1 + 1/m) B / T`` and ``r = (1 + 1/m) B / U``,
the Barnard-Rubin (1999) degrees of freedom are

.. math::

    \\nu_{old} = (m - 1) / \\lambda^2, \\quad
    \\nu_{obs} = \\frac{\\nu_{com} + 1}{\\nu_{com} + 3} \\nu_{com} (1 - \\lambda), \\quad
    \\nu = \\frac{\\nu_{old} \\nu_{obs}}{\\nu_{old} + \\nu_{obs}},

(``nu = nu_old`` for ``nu_com = inf``) and the fraction of missing information
is ``(r + 2 / (nu + 3)) / (1 + r)``, as in R's ``mice::pool``.
"""

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["rubin_pool", "PooledResults"]


def rubin_pool(estimates, variances, df_com=np.inf):
    """
    Pool per-imputation estimates and their variances by Rubin's rules.

    Parameters
    ----------
    estimates : array-like, (m, p)
        One row of estimates per completed data set.
    variances : array-like, (m, p)
        Their squared standard errors (the diagonals of the covariance matrices).
    df_com : float or array-like
        Complete-data degrees of freedom (``inf`` for large-sample z inference).

    Returns
    -------
    DataFrame
        One row per parameter: ``estimate, within, between, total, se, riv,
        lambda, df, fmi``.

    Examples
    --------
    >>> q = np.array([[1.0], [2.0], [3.0]])
    >>> u = np.array([[0.5], [0.5], [0.5]])
    >>> out = rubin_pool(q, u)
    >>> float(out["estimate"][0]), float(out["between"][0]), round(float(out["total"][0]), 4)
    (2.0, 1.0, 1.8333)
    """
    Q = np.atleast_2d(np.asarray(estimates, dtype=float))
    U = np.atleast_2d(np.asarray(variances, dtype=float))
    if Q.shape != U.shape:
        raise ValueError(f"estimates {Q.shape} and variances {U.shape} differ in shape")
    m = Q.shape[0]
    if m < 2:
        raise ValueError(f"Rubin's rules need at least 2 imputations, got {m}")
    qbar = Q.mean(axis=0)
    ubar = U.mean(axis=0)
    b = Q.var(axis=0, ddof=1)
    t = ubar + (1 + 1 / m) * b
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(t > 0, (1 + 1 / m) * b / t, 0.0)
        riv = np.where(ubar > 0, (1 + 1 / m) * b / ubar, np.inf)
        df_old = np.where(lam > 0, (m - 1) / lam ** 2, np.inf)
        dfc = np.broadcast_to(np.asarray(df_com, dtype=float), qbar.shape)
        df_obs = np.where(np.isfinite(dfc), (dfc + 1) / (dfc + 3) * dfc * (1 - lam), np.inf)
        df = np.where(np.isfinite(df_obs), df_old * df_obs / (df_old + df_obs), df_old)
        df = np.where(np.isinf(df_old), df_obs, df)
        fmi = (riv + 2 / (df + 3)) / (1 + riv)
    return pd.DataFrame({"estimate": qbar, "within": ubar, "between": b, "total": t,
                         "se": np.sqrt(t), "riv": riv, "lambda": lam, "df": df, "fmi": fmi})


class PooledResults:
    """
    Estimates pooled over imputed data sets by Rubin's rules.

    Attributes
    ----------
    params, bse, tvalues, pvalues, df, fmi : Series
        Pooled estimates, standard errors ``sqrt(T)``, ``estimate / se``,
        two-sided p-values from Student's t with the Barnard-Rubin degrees of
        freedom ``df``, and the fraction of missing information.
    pool : DataFrame
        The full pooling table (see :func:`rubin_pool`).
    estimates : DataFrame
        The estimates of every completed data set (one row each).
    other_params : Series
        Parameters that are averaged but not tested (random-effect variances and
        covariances, family parameters).
    m : int
        Number of imputations.
    notes : list of str
        Lines of :meth:`summary` describing the imputation model.

    Examples
    --------
    >>> est = pd.DataFrame({"a": [1.0, 1.2, 0.9]})
    >>> var = pd.DataFrame({"a": [0.04, 0.05, 0.04]})
    >>> r = PooledResults(est, var, title="example")
    >>> round(float(r.params["a"]), 4), r.conf_int().shape
    (1.0333, (1, 2))
    """

    def __init__(self, estimates, variances, df_com=np.inf, other_params=None, title="",
                 notes=(), info=None):
        self.estimates = pd.DataFrame(estimates)
        self.variances = pd.DataFrame(variances, columns=self.estimates.columns)
        names = list(self.estimates.columns)
        self.m = len(self.estimates)
        self.pool = rubin_pool(self.estimates.to_numpy(), self.variances.to_numpy(), df_com)
        self.pool.index = names
        self.params = self.pool["estimate"].rename(None)
        self.bse = self.pool["se"].rename(None)
        self.df = self.pool["df"].rename(None)
        self.fmi = self.pool["fmi"].rename(None)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.tvalues = self.params / self.bse
        self.pvalues = pd.Series(2 * stats.t.sf(np.abs(self.tvalues), self.df), index=names)
        self.df_com = df_com
        self.other_params = (pd.Series(dtype=float) if other_params is None
                             else pd.Series(other_params, dtype=float))
        self.title = title
        self.notes = list(notes)
        self.info = dict(info or {})

    def conf_int(self, alpha=0.05):
        """
        ``1 - alpha`` intervals ``estimate -/+ t_{df}(1 - alpha/2) se``.

        Returns
        -------
        DataFrame
            Columns ``lower`` and ``upper``.
        """
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
        q = stats.t.ppf(1 - alpha / 2, self.df)
        return pd.DataFrame({"lower": self.params - q * self.bse,
                             "upper": self.params + q * self.bse})

    def summary_frame(self, alpha=0.05):
        """The pooled table: estimate, SE, t, df, p-value, interval, FMI."""
        ci = self.conf_int(alpha)
        return pd.DataFrame({"Coef.": self.params, "Std.Err.": self.bse, "t": self.tvalues,
                             "df": self.df, "P>|t|": self.pvalues,
                             f"[{alpha / 2:.3f}": ci["lower"],
                             f"{1 - alpha / 2:.3f}]": ci["upper"], "FMI": self.fmi})

    def summary(self, alpha=0.05):
        """
        Text summary: the pooled table, the averaged untested parameters and the
        description of the imputation.

        Returns
        -------
        statsmodels.iolib.summary2.Summary
        """
        from statsmodels.iolib import summary2

        smry = summary2.Summary()
        smry.add_title(self.title or "Estimates pooled by Rubin's rules")
        info = {"Imputations:": str(self.m),
                "Complete-data df:": ("inf" if not np.isfinite(np.max(self.df_com))
                                      else f"{float(np.max(self.df_com)):.0f}")}
        info.update(self.info)
        smry.add_dict(info, ncols=2)
        smry.add_df(self.summary_frame(alpha), float_format="%.4f")
        if len(self.other_params):
            smry.add_df(self.other_params.to_frame("Mean over imputations"),
                        float_format="%.4f")
        smry.add_text("Degrees of freedom: Barnard-Rubin (1999); FMI: fraction of missing "
                      "information.")
        for line in self.notes:
            smry.add_text(line)
        return smry

    def __str__(self):
        return str(self.summary())

    def __repr__(self):
        return f"<{type(self).__name__}: {len(self.params)} parameters, m={self.m}>"
