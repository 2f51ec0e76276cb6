"""
Model methods about missing data.
"""

import pandas as pd


class MissingDataModelMixin:
    """Methods of :class:`MixedGLM` about missing data."""

    def missing_report(self, data=None, time=None, arm=None, waves=None):
        """
        Describe the rows this model drops and the pattern of observed waves.

        Parameters
        ----------
        data : DataFrame, optional
            The data the model was built from (default: the DataFrame that
            ``from_formula`` keeps as ``model.data.frame``).
        time : str, optional
            The wave column, for the patterns and dropout by wave.
        arm : str, optional
            A column constant within persons to split the dropout by.
        waves : sequence, optional
            The planned waves (default: the values of ``time`` in ``data``).

        Returns
        -------
        MissingReport
            See :func:`statsmodels_glmm.missing.report.missing_report`.

        Examples
        --------
        >>> import numpy as np
        >>> import statsmodels.api as sm
        >>> import statsmodels_glmm.api as smg
        >>> df = smg.simulate_longitudinal("binary", n_persons=40, seed=2)
        >>> df.loc[3, "stress"] = np.nan
        >>> m = smg.mixedglm("y ~ time + stress + (1 | id)", df, family=sm.families.Binomial())
        >>> m.missing_report(time="time").n_dropped
        1
        """
        from ..missing.imputation import refit_call
        from ..missing.report import missing_report

        if data is None:
            data = getattr(getattr(self, "data", None), "frame", None)
        if data is None:
            raise ValueError("data is needed: this model does not keep the DataFrame it was "
                             "built from; pass it as missing_report(data, ...)")
        if not isinstance(data, pd.DataFrame):
            raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__} (a "
                             "Dask DataFrame: compute the columns the model reads first)")
        d = self.design
        if d.extra.get("formula_manager") is None:
            raise ValueError("missing_report needs a model built with from_formula")
        formula, kwargs = refit_call(self)
        extra = d.extra.get("extra_formulas") or None
        rep = missing_report(data, formula, time=time, arm=arm, waves=waves,
                             offset=kwargs.get("offset"), exposure=kwargs.get("exposure"),
                             formula_engine=kwargs.get("formula_engine"),
                             extra_formulas=extra)
        if rep.n_dropped != d.n_dropped or rep.n_rows - rep.n_dropped != d.nobs:
            raise ValueError(f"data has {rep.n_rows - rep.n_dropped} complete rows, the model "
                             f"{d.nobs}: pass the data the model was built from")
        return rep
