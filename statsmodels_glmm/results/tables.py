"""
The results as other packages' regression tables read them.

stargazer (an optional package) reads statsmodels results through a translator
and marks a ``NaN`` p-value with three stars; :func:`register_stargazer` gives it
a translator for :class:`~statsmodels_glmm.results.MixedGLMResultsWrapper` in
which the parameters without a Wald test (``untested_params``: variance
parameters) have no p-value, hence no stars, and in which the per-row residuals
are not read (stargazer's "Residual Std. Error" is a linear-model statistic).
statsmodels' ``summary_col`` reads ``pvalues`` directly and needs nothing here.
"""

import importlib.util

import numpy as np

__all__ = ["register_stargazer"]

#: stargazer's names for the statsmodels attributes it reads
_STARGAZER_ATTRS = {"p_values": "pvalues", "cov_values": "params", "cov_std_err": "bse",
                    "degree_freedom": "df_model", "degree_freedom_resid": "df_resid",
                    "nobs": "nobs"}


def stargazer_data(res):
    """
    What stargazer needs of a fitted result: estimates, standard errors, p-values
    (None for :attr:`untested_params`), intervals, sizes.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> df = smg.simulate_longitudinal("poisson", n_persons=40, seed=6)
    >>> res = smg.mixedglm("y ~ time + (1 | id)", df, family=sm.families.Poisson()).fit()
    >>> data = stargazer_data(res)
    >>> data["p_values"]["id Intercept Var"] is None, data["ngroups"]
    (True, 40)
    """
    data = {key: getattr(res, attr) for key, attr in _STARGAZER_ATTRS.items()}
    names = list(res.model.param_names)
    untested = set(res.untested_params)
    p = np.asarray(data["p_values"], dtype=float)
    data["p_values"] = dict(zip(names, [None if n in untested or not np.isfinite(v)
                                        else float(v) for n, v in zip(names, p)]))
    for key in ("cov_values", "cov_std_err"):
        data[key] = dict(zip(names, np.asarray(data[key], dtype=float)))
    ci = res.conf_int()
    data["conf_int_low_values"] = dict(zip(names, np.asarray(ci[0], dtype=float)))
    data["conf_int_high_values"] = dict(zip(names, np.asarray(ci[1], dtype=float)))
    data["cov_names"] = np.array(names, dtype=object)
    data["dependent_variable"] = res.model.endog_names
    data["ngroups"] = None if res.model.multi else int(res.n_groups)
    for key in ("r2", "r2_adj", "pseudo_r2", "f_statistic", "f_p_value", "resid_std_err"):
        data[key] = None
    return data


def register_stargazer():
    """
    Register :func:`stargazer_data` with stargazer when it is installed; returns
    whether it was registered.
    """
    if importlib.util.find_spec("stargazer") is None:
        return False
    try:
        from stargazer.translators import register_class
    except ImportError:  # a stargazer without translators reads the attributes itself
        return False
    from .core import MixedGLMResultsWrapper

    register_class(MixedGLMResultsWrapper, stargazer_data)
    return True
