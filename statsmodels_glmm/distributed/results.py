"""
Results of a :class:`~statsmodels_glmm.distributed.model.DaskMixedGLM`: the
results class, its wrapper, and prediction on the partitions of a Dask
DataFrame.
"""

import copy
import warnings

import numpy as np
import pandas as pd
from statsmodels.base import wrapper as wrap

from ..results import MixedGLMResults, MixedGLMResultsWrapper

__all__ = ["DaskMixedGLMResults", "DaskMixedGLMResultsWrapper"]


class DaskMixedGLMResults(MixedGLMResults):
    """
    :class:`MixedGLMResults` of a :class:`~statsmodels_glmm.distributed.model.DaskMixedGLM`.

    Everything that needs only the estimates works as for an in-memory fit.
    ``random_effects`` and ``random_effects_frame()`` gather the modes from the
    workers the first time; ``predict`` takes a pandas or a Dask DataFrame
    (the latter, or no argument for the fitted data, gives a Dask Series).
    Quantities over every fitted row that the in-memory results keep as pandas
    objects (residuals, simulations) are not gathered to the client.
    """

    def collect_random_effects(self):
        """
        Gather the conditional modes of all groups from the workers.

        Returns
        -------
        DataFrame
            One row per group (``design.group_labels`` order), one column per
            random effect; the same as :meth:`random_effects_frame`.
        """
        return self.random_effects_frame()

    def predict(self, exog=None, which="mean", random_effects="conditional", offset=None,
                exposure=None, **kwargs):
        """
        Predict on new data: a pandas DataFrame gives a Series as for an in-memory
        fit; a Dask DataFrame (default: the fitted one) gives a Dask Series
        computed partition by partition on the workers.
        """
        if exog is None:
            exog = self.model._frame
            if exog is None:
                raise ValueError("this result is detached from its Dask DataFrame; pass the "
                                 "rows to predict on")
        if not dp_is_dask(exog):
            return super().predict(exog, which=which, random_effects=random_effects,
                                   offset=offset, exposure=exposure, **kwargs)
        if offset is not None or exposure is not None:
            raise ValueError("offset/exposure arrays cannot be aligned with a Dask DataFrame; "
                             "give them as columns of the frame in the formula's model")
        client = self.model.client
        shipped = client.scatter(self._for_workers(random_effects == "conditional"),
                                 broadcast=True, hash=False)
        meta = _predict_meta(self, exog, which, random_effects)
        return exog.map_partitions(_predict_partition, shipped, which, random_effects,
                                   meta=meta)

    def get_prediction(self, exog=None, which="mean", random_effects="conditional",
                       offset=None, exposure=None):
        """
        Predictions with delta-method standard errors for new rows given as a pandas
        DataFrame, with ``random_effects="zero"`` or ``"marginal"``.

        The fitted rows stay on the cluster, and the standard errors of conditional
        predictions differentiate the conditional modes, which needs every fitted row:
        both are refused with a :class:`NotImplementedError` that says what to use.
        """
        if random_effects == "conditional":
            raise NotImplementedError(
                "get_prediction(random_effects='conditional') is not available for a Dask "
                "model: its standard errors differentiate the conditional modes, which needs "
                "every fitted row; use random_effects='zero' or 'marginal', or predict() for "
                "conditional means without standard errors")
        if exog is None or dp_is_dask(exog):
            raise NotImplementedError(
                "get_prediction() of the fitted rows is not available for a Dask model: its "
                "rows stay on the cluster; pass the rows to predict as a pandas DataFrame "
                "(e.g. ddf.head(1000)), or use predict() for the means of every row")
        return super().get_prediction(exog, which=which, random_effects=random_effects,
                                      offset=offset, exposure=exposure)

    def _require_rows(self, what):
        raise NotImplementedError(
            f"{what} works on every fitted row, and the rows of a Dask model stay on the "
            "cluster; fit a pandas sample (or the whole data in memory) for it")

    def _for_workers(self, modes):
        """
        A copy of these results to send to the workers: the modes gathered first
        (when ``modes``), and no link back to the cluster.
        """
        out = copy.copy(self)
        state = copy.copy(self._state)
        if modes and state.multi:
            state._modes = self._state.modes
        elif modes:
            state._u = self._state.u
        state._model = None
        out._state = state
        out.__dict__.pop("_b_modes", None)
        return out

    @property
    def fittedvalues(self):
        """Conditional means of the fitted rows as a Dask Series (NaN where a value is missing)."""
        return self.predict()

    def _not_gathered(self, what):
        raise NotImplementedError(
            f"{what} is a value per fitted row, and the rows of a Dask model stay on the "
            "cluster; compute it from res.predict(ddf) and the response column of ddf")

    @property
    def resid_response(self):
        self._not_gathered("resid_response")

    @property
    def resid_pearson(self):
        self._not_gathered("resid_pearson")

    @property
    def resid_deviance(self):
        self._not_gathered("resid_deviance")

    def simulate(self, *args, **kwargs):
        """Not available for a Dask model (rows stay on the cluster)."""
        self._not_gathered("simulate")

    def _eta_insample(self, random_effects="conditional"):
        self._not_gathered("the in-sample linear predictor")

    def _notes(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return super()._notes()

    def _slope_spreads(self, cols, codes, n_lev):
        """
        As :meth:`MixedGLMResults._slope_spreads`, from the column sums over all
        partitions instead of the rows: which columns of ``Z`` are all ones, and for
        the others the root mean square deviation from their group means,
        ``sqrt(sum_t (z_t - zbar_g(t))^2 / n)``, and their standard deviation.
        """
        info, n = self.model._info, self.nobs
        out = {}
        for c in cols:
            if info["z_all_one"][c]:
                continue
            mean = info["z_sum"][c] / n
            out[c] = (float(np.sqrt(info["z_within_ss"][c] / n)),
                      float(np.sqrt(max(info["z_sq"][c] / n - mean * mean, 0.0))))
        return out


def _needs_rows(name):
    def method(self, *args, **kwargs):
        raise NotImplementedError(
            f"{name}() works on every fitted row, and the rows of a Dask model stay on the "
            "cluster; fit a pandas sample (or the whole data in memory) for it")

    method.__name__ = name
    method.__doc__ = f"Not available for a Dask model: ``{name}`` needs every fitted row."
    return method


# checks that read the fitted rows (none would be right on the client's row-less design)
for _name in ("simulated_residuals", "variance_components", "r2", "icc", "bootstrap",
              "overdispersion", "zero_inflation_test", "marginal_params",
              "probability_effects"):
    if hasattr(MixedGLMResults, _name):
        setattr(DaskMixedGLMResults, _name, _needs_rows(_name))


class DaskMixedGLMResultsWrapper(MixedGLMResultsWrapper):
    """The results wrapper without row labels: per-row values stay Dask collections."""

    _attrs = {}
    _wrap_attrs = {k: v for k, v in MixedGLMResultsWrapper._wrap_attrs.items()
                   if v != "rows"}
    _methods = {}
    _wrap_methods = dict(MixedGLMResultsWrapper._wrap_methods)


wrap.populate_wrapper(DaskMixedGLMResultsWrapper, DaskMixedGLMResults)


def dp_is_dask(obj):
    """True for a Dask DataFrame (without importing dask)."""
    from .detect import is_dask_frame

    return is_dask_frame(obj)


def _predict_partition(pdf, res, which, random_effects):
    return MixedGLMResults.predict(res, pdf, which=which, random_effects=random_effects)


def _predict_meta(res, ddf, which, random_effects):
    if which in ("mean", "linear"):
        return pd.Series([], dtype=float)
    head = ddf.head(2, npartitions=-1)
    out = MixedGLMResults.predict(res, head, which=which, random_effects=random_effects)
    return out.iloc[:0]
