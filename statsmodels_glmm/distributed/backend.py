"""
Fitting a MixedGLM to a Dask DataFrame on a Dask cluster.

``smg.mixedglm(formula, data=ddf, family=...)`` with a
``dask.dataframe.DataFrame`` returns a :class:`DaskMixedGLM`.  With one
grouping factor the marginal log-likelihood is a sum over groups,

.. math::

    \\ell(\\psi) = \\sum_p \\ell^{(p)}(\\psi), \\qquad
    \\nabla \\ell(\\psi) = \\sum_p \\nabla \\ell^{(p)}(\\psi), \\qquad
    \\hat H(\\psi) = \\sum_p \\hat H^{(p)}(\\psi),

where ``p`` runs over partitions that each hold whole groups and ``H^`` is the
forward-difference Hessian of the analytic gradient with the same steps in
every partition.  The model is set up once:

1. the levels of every factor the formulas use are computed on the whole
   data, so that every partition expands them into the same columns;
2. the group labels of each partition are read (the grouping column only, the
   outermost factor's columns with several factors); if a group appears in two
   partitions the frame is shuffled on those columns, so that every group lies
   in one partition;
3. each partition builds its design and an ordinary :class:`MixedGLM` on a
   worker (:mod:`~statsmodels_glmm.distributed.partition`), and these models stay
   there, with their warm-start modes, for the whole fit;
4. the client collects small summaries (sizes, labels, column moments, the
   ``R`` factor of ``X``), checks that every partition has the same columns
   and that ``X`` has full rank, and keeps a few rows to fix the formula specs.

The optimiser runs on the client with :meth:`MixedGLM.fit`; each evaluation
sends the parameter vector to every partition and receives
``(llf, gradient, converged)``: a few hundred bytes each way.  The fit returns
an ordinary :class:`~statsmodels_glmm.results.MixedGLMResults` (summary,
params, bse, llf, predict); conditional modes are gathered from the workers
when first asked for.

Several grouping factors nested in one outermost factor (``(1 | clinic) +
(1 | clinic:patient)``, ``(1 | clinic/patient)``) are fitted the same way: the
log-likelihood is a sum over the levels of the outermost factor
(:func:`outer_factor`), the frame is grouped by its columns, and each
partition builds the multi-factor design of its rows.  Crossed factors are
refused: their log-likelihood does not split over partitions.

If a worker dies, Dask rebuilds its partitions from the task graph (the same
rows, hence the same sums), or, past its retry limit, the fit stops with an
error; it never sums a partial set of partitions.
"""

import copy
import dataclasses
import inspect
import re
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import statsmodels.api as sm

from ..spec.design import Design, group_columns, model_columns
from ..families import as_response
from ..spec.formula import re_formula_terms, split_formula
from ..model import MixedGLM
from ..likelihood.start import START_TOL, link_of_mean, newton_ascent
from statsmodels.base import wrapper as wrap

from ..results import MixedGLMResults, MixedGLMResultsWrapper
from . import partition as dp

__all__ = ["dask_model", "DaskMixedGLM", "DaskMixedGLMResults"]


class ClusterError(RuntimeError):
    """A distributed evaluation could not be completed (workers lost, cluster gone)."""


def _client_for(client):
    """The Dask client to use: the one given, or the current default client."""
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover - dask installed without distributed
        raise ImportError("fitting a Dask DataFrame needs dask.distributed: "
                          "pip install 'statsmodels-glmm[dask]'") from None
    if client is not None:
        return client
    try:
        return default_client()
    except ValueError:
        raise ValueError("data is a Dask DataFrame but no Dask client is running; start one "
                         "first (from distributed import Client; client = Client()) or pass "
                         "client=") from None


# ---------------------------------------------------------------- design
class ClusterDesign(Design):
    """
    The client's view of a design whose rows live on the workers.

    Names, blocks, group labels and sizes describe the whole data; the row
    arrays (``X``, ``Z``, ``y``, ...) have no rows, so that nothing computed
    from them can be mistaken for a result on the data.  The formula specs
    (for predictions on new data) come from a few reference rows.
    """

    @property
    def n_groups(self):
        return len(self.group_labels)

    @property
    def nobs(self):
        return int(self.__dict__["_cluster_nobs"])

    @property
    def group_sizes(self):
        return self.__dict__["_cluster_sizes"]


def _cluster_design(ref, labels, sizes, nobs, n_dropped, term_labels=None):
    fields = {f: getattr(ref, f) for f in Design.__dataclass_fields__}
    for f in ("y", "X", "Z", "offset", "gid", "order"):
        fields[f] = fields[f][:0]
    fields["starts"] = np.zeros(0, dtype=int)
    fields["group_labels"] = labels
    if ref.multi:
        # the terms with the levels of the whole data and no rows
        fields["starts"] = None
        fields["terms"] = [dataclasses.replace(t, codes=t.codes[:0], labels=lab, Z=t.Z[:0])
                           for t, lab in zip(ref.terms, term_labels)]
        fields["group_name"] = fields["terms"][int(np.argmax(
            [len(lab) for lab in term_labels]))].group
    fields["row_index"] = pd.RangeIndex(0)
    fields["n_dropped"] = int(n_dropped)
    fields["extra"] = {k: ((v[0][:0],) + tuple(v[1:]) if isinstance(v, tuple) and len(v) == 3
                           else v) for k, v in ref.extra.items()}
    d = ClusterDesign(**fields)
    d.__dict__["_cluster_nobs"] = int(nobs)
    d.__dict__["_cluster_sizes"] = np.asarray(sizes)
    return d


class RemoteModes:
    """
    Conditional modes kept on the workers: what a :class:`~statsmodels_glmm.likelihood.warm_start.WarmStart`
    holds for a :class:`DaskMixedGLM` (``warm.u``), so that warm starts never
    bring the modes to the client.  ``token`` names them on every partition.
    """

    __slots__ = ("token",)

    def __init__(self, token):
        self.token = token

    def __repr__(self):
        return f"RemoteModes({self.token!r})"


class ClusterState:
    """
    The mode state of a distributed evaluation.

    ``converged`` is known at once; the modes ``u`` and their curvature
    inverses ``Hinv`` (in the order of ``design.group_labels``) are gathered
    from the workers when first used, at the parameters of the evaluation
    (warm-started from the modes it saved under ``token``).  With several
    grouping factors the state has, as the in-memory sparse state, the stacked
    modes ``u``, the modes per term ``modes`` and the conditional covariances
    per term ``cond_cov``, each term's levels in the order of its labels.
    """

    def __init__(self, model, internal, nagq, converged, token=None):
        self._model = model
        self.internal = np.array(internal, dtype=float)
        self.nagq = int(nagq)
        self.converged = bool(converged)
        self.token = token
        self.multi = bool(getattr(model, "multi", False))
        self._u = None
        self._hinv = None
        self._modes = None
        self._cond_cov = None

    def _detached(self):
        if self._model is None:
            raise ClusterError("the conditional modes were not gathered before this "
                               "result was detached from its cluster")
        return self._model

    def _gather_terms(self, with_cov):
        self._u, self._modes, cov = self._detached().gather_term_modes(
            self.internal, self.nagq, with_cov=with_cov, token=self.token)
        if with_cov:
            self._cond_cov = cov

    @property
    def u(self):
        if self._u is None:
            if self.multi:
                self._gather_terms(False)
            else:
                self._u = self._detached().gather_modes(self.internal, self.nagq,
                                                        token=self.token)[0]
        return self._u

    @property
    def Hinv(self):
        if self.multi:
            raise AttributeError("Hinv describes one grouping factor; use cond_cov")
        if self._hinv is None:
            self._u, self._hinv = self._detached().gather_modes(
                self.internal, self.nagq, with_hinv=True, token=self.token)
        return self._hinv

    @property
    def modes(self):
        if not self.multi:
            raise AttributeError("modes describes several grouping factors; use u")
        if self._modes is None:
            self._gather_terms(False)
        return self._modes

    @property
    def cond_cov(self):
        if not self.multi:
            raise AttributeError("cond_cov describes several grouping factors; use Hinv")
        if self._cond_cov is None:
            self._gather_terms(True)
        return self._cond_cov

    def __getstate__(self):
        if self._model is not None and self._model.attached:
            if self.multi:
                self.cond_cov  # gather everything before leaving the cluster
            else:
                self.u, self.Hinv
        state = dict(self.__dict__)
        state["_model"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.setdefault("multi", False)
        self.__dict__.setdefault("_modes", None)
        self.__dict__.setdefault("_cond_cov", None)


# ----------------------------------------------------------------- model
class DaskMixedGLM(MixedGLM):
    """
    A :class:`MixedGLM` whose rows are partitions of a Dask DataFrame.

    Build it with ``smg.mixedglm(formula, data=ddf, family=...)`` while a
    ``distributed.Client`` is active (or pass ``client=``).  ``fit`` takes the
    arguments of :meth:`MixedGLM.fit`; the log-likelihood, its gradient and
    the Hessian are sums over partitions computed on the workers.

    Attributes
    ----------
    client : distributed.Client
    n_partitions : int
        Partitions holding rows (after a shuffle when groups were split).
    shuffled : bool
        Whether the frame was shuffled on the grouping column.

    Examples
    --------
    Needs ``dask[dataframe]`` and ``distributed`` (not run with the doctests;
    ``tests/test_dask.py`` runs the same fit):

    >>> import statsmodels.api as sm
    >>> import statsmodels_glmm.api as smg
    >>> import dask.dataframe as dd  # doctest: +SKIP
    >>> from distributed import Client, LocalCluster  # doctest: +SKIP
    >>> cluster = LocalCluster(n_workers=2, dashboard_address=":0")  # doctest: +SKIP
    >>> client = Client(cluster)  # doctest: +SKIP
    >>> df = smg.simulate_longitudinal("binary", n_persons=60, seed=5)
    >>> f, fam = "y ~ time + (1 | id)", sm.families.Binomial()
    >>> ddf = dd.from_pandas(df, npartitions=2)  # doctest: +SKIP
    >>> res = smg.mixedglm(f, ddf, family=fam).fit()  # doctest: +SKIP
    >>> res0 = smg.mixedglm(f, df, family=fam).fit()
    >>> bool(abs(res.llf - res0.llf) < 1e-6)  # doctest: +SKIP
    True
    >>> client.close(); cluster.close()  # doctest: +SKIP
    """

    def __init__(self, ref_design, response, client, parts, frame, info, shuffled):
        MixedGLM.__init__(self, None, None, None, family=response, design=ref_design)
        self.client = client
        self._parts = parts
        self._frame = frame
        self.shuffled = bool(shuffled)
        self.n_partitions = len(parts)
        self._info = info
        self.design = _cluster_design(ref_design, info["labels"], info["sizes"],
                                      info["nobs"], info["n_dropped"], info.get("term_labels"))
        self.nobs = self.design.nobs
        self.n_groups = self.design.n_groups
        # the scale of each random-effect column (units of the boundary tests and of
        # the optimiser's scaling) over all rows, not the reference rows
        rms_z = np.asarray(info["z_rms"], dtype=float)
        self.cov_struct.row_scale = np.where(rms_z > 0, rms_z, 1.0)
        for key in ("_T", "_typical"):
            self.__dict__.pop(key, None)
        if info.get("k_max") is not None and hasattr(self.response, "k_max"):
            self.response.k_max = info["k_max"]
        # the statsmodels data hold the reference rows only: hide them
        self.endog = None
        self.exog = None

    # ------------------------------------------------------------ cluster
    @property
    def attached(self):
        """True while the model can reach its partitions on the cluster."""
        return self.__dict__.get("_parts") is not None

    def __getstate__(self):
        state = super().__getstate__()
        for k in ("client", "_parts", "_frame"):
            state[k] = None
        state.pop("_gathered", None)
        state.pop("_own_warm", None)
        return state

    def _map(self, fn, *args):
        """``fn(partition, *args)`` on every partition, on the workers; the list of results."""
        if not self.attached:
            raise ClusterError("this model is detached from its Dask cluster (unpickled); "
                               "build it again from the Dask DataFrame")
        names = list(inspect.signature(fn).parameters)[1:]
        futures = self.client.map(fn, self._parts, pure=False, **dict(zip(names, args)))
        try:
            return self.client.gather(futures)
        except (ValueError, TypeError, np.linalg.LinAlgError):
            raise
        except Exception as exc:
            name = type(exc).__name__
            if name in ("KilledWorker", "CancelledError", "CommClosedError", "TimeoutError",
                        "FutureCancelledError", "OSError"):
                raise ClusterError(f"the Dask cluster could not evaluate every partition "
                                   f"({name}: {exc}); no partial sums are used, so refit when "
                                   "the cluster is healthy") from exc
            raise

    def _typical_proxy(self):
        """A two-row stand-in with the moments of ``X`` and ``Z`` over all rows."""
        info = self._info
        mean, sd, const = info["x_mean"], info["x_sd"], info["x_const"]
        Xf = np.vstack([mean + sd, mean - sd])
        Xf[:, const] = info["x_first"][const]
        Zf = np.vstack([info["z_rms"], info["z_rms"]])
        return SimpleNamespace(design=SimpleNamespace(X=Xf, Z=Zf), k_fe=self.k_fe,
                               k_re=self.k_re, k_extra=self.k_extra,
                               cov_struct=self.cov_struct)

    def _scaling(self):
        """As :meth:`MixedGLM._scaling`, from the column moments of all partitions."""
        cached = self.__dict__.get("_T")
        if cached is None:
            cached = MixedGLM._scaling(self._typical_proxy())
            self.__dict__["_T"] = cached
        return cached

    def _typical_sizes(self):
        """As :meth:`MixedGLM._typical_sizes`, from the column moments of all partitions."""
        cached = self.__dict__.get("_typical")
        if cached is None:
            cached = MixedGLM._typical_sizes(self._typical_proxy())
            self.__dict__["_typical"] = cached
        return cached

    # --------------------------------------------------------- likelihood
    def _warm_token(self, warm):
        """The store behind ``warm`` (``loglike_internal``'s argument) and its modes' token."""
        if warm is True:
            warm = getattr(self, "warm_start", None) or \
                self.__dict__.setdefault("_own_warm", SimpleNamespace(u=None))
        elif warm is False or warm is None:
            return None, None
        u = getattr(warm, "u", None)
        if isinstance(u, RemoteModes):
            return warm, u.token
        if u is not None:  # modes gathered from the workers are known by their token
            return warm, self.__dict__.setdefault("_gathered", {}).get(id(u))
        return warm, None

    def _new_token(self):
        self.__dict__["_n_tokens"] = self.__dict__.get("_n_tokens", 0) + 1
        return self.__dict__["_n_tokens"]

    def loglike_internal(self, internal, nagq=1, gradient=False, warm=None):
        """
        Marginal log-likelihood (and gradient): the sum of every partition's
        :meth:`MixedGLM.loglike_internal`.

        ``warm`` works as for :class:`MixedGLM`, except that the modes stay on
        the workers: a :class:`~statsmodels_glmm.likelihood.warm_start.WarmStart` passed in
        comes back holding a :class:`RemoteModes` token for them.
        """
        if self.multi:
            self._integrator(int(nagq))  # the in-memory refusal of quadrature
        x = np.asarray(internal, dtype=float)
        store, start = self._warm_token(warm)
        save = self._new_token() if store is not None else None
        out = self._map(dp.part_eval, x, int(nagq), bool(gradient), self._typical_sizes(),
                        start, save)
        llf = float(sum(o[0] for o in out))
        grad = None
        if gradient:
            grads = [o[1] for o in out]
            grad = None if any(g is None for g in grads) else np.sum(grads, axis=0)
        converged = all(o[2] for o in out)
        if store is not None and np.isfinite(llf) and converged:
            store.u = RemoteModes(save)
        return llf, grad, ClusterState(self, x, nagq, converged, token=save)

    def hessian_internal(self, internal, nagq=1, free=None, central=False, grad=None,
                         warm=None):
        """
        Difference Hessian of the log-likelihood: each partition differences
        its own gradient with the common steps, and the results are added
        (``grad`` is not needed: each partition has its own).
        """
        if self.multi:
            self._integrator(int(nagq))
        x = np.asarray(internal, dtype=float)
        free = np.ones(len(x), bool) if free is None else np.asarray(free, bool)
        _, start = self._warm_token(warm)
        parts = self._map(dp.part_hessian, x, int(nagq), free, bool(central),
                          self._typical_sizes(), start)
        return np.sum(parts, axis=0)

    def _start_internal(self):
        """
        Start values as :meth:`MixedGLM._start_internal`: the fixed effects of
        the GLM without random effects by the Newton iterations of
        :func:`~statsmodels_glmm.likelihood.start.glm_start`, each step's sums added over
        partitions; family parameters from each partition's
        ``start_extra``, averaged with row counts as weights.  Families with
        their own ``start_beta`` average the partitions' own start values.
        """
        p, k = self.k_fe, self.k_re
        theta = self.cov_struct.start(1.0) * np.diag(self._scaling()[0])[p:p + k]
        out = [o for o in self._map(dp.part_start) if o[0]]
        if any(o[1] is not None for o in out):
            out = [o for o in out if o[1] is not None]
            w = np.array([o[0] for o in out], dtype=float)
            w = w / w.sum()
            beta = np.sum([wi * o[1] for wi, o in zip(w, out)], axis=0) if p else np.zeros(0)
            extra = np.sum([wi * np.asarray(o[2], float) for wi, o in zip(w, out)], axis=0) \
                if self.k_extra else np.zeros(0)
            return np.concatenate([np.atleast_1d(beta), theta, np.atleast_1d(extra)])
        beta = self._glm_start()
        return np.concatenate([beta, theta, self._start_extra(beta)])

    def _start_extra(self, beta):
        if not self.k_extra:
            return np.zeros(0)
        out = [o for o in self._map(dp.part_start_extra, beta) if o[0]]
        w = np.array([o[0] for o in out], dtype=float)
        return np.sum([wi * o[1] for wi, o in zip(w / w.sum(), out)], axis=0)

    def _glm_start(self, maxiter=25, tol=START_TOL):
        """:func:`~statsmodels_glmm.likelihood.start.glm_start` with sums over partitions."""
        p = self.k_fe
        beta = np.zeros(p)
        if p == 0:
            return beta
        info = self._info
        ones = np.flatnonzero(info["x_const"] & (info["x_first"] == 1.0))
        if len(ones):
            value = link_of_mean(self.response, info["y_sum"] / self.nobs)
            if value is not None:
                beta[ones[0]] = value
        extra = self._start_extra(beta)

        def sums(b):
            out = self._map(dp.part_glm, b, extra)
            return (float(sum(o[0] for o in out)), np.sum([o[1] for o in out], axis=0),
                    np.sum([o[2] for o in out], axis=0))

        beta = newton_ascent(sums, beta, maxiter, tol)
        return beta if np.all(np.isfinite(beta)) else np.zeros(p)

    def gather_term_modes(self, internal, nagq=1, with_cov=False, token=None):
        """
        Conditional modes of a model with several grouping factors, gathered
        from the workers: the stacked spherical modes ``u`` (layout of
        :func:`~statsmodels_glmm.spec.terms.term_offsets`), the modes ``b`` per term
        (levels, q) and, when ``with_cov``, the conditional covariances per
        term (levels, q, q), else None; each term's levels in the order of its
        ``labels``.  ``token`` names modes saved by an earlier evaluation.
        """
        out = [o for o in self._map(dp.part_modes, np.asarray(internal, float), int(nagq),
                                    bool(with_cov), token) if o is not None]
        us, modes, covs = [], [], []
        for k, t in enumerate(self.design.terms):
            pos = pd.Index(_concat_labels([o[k][0] for o in out])).get_indexer(t.labels)
            us.append(np.concatenate([o[k][1] for o in out])[pos].ravel())
            modes.append(np.concatenate([o[k][2] for o in out])[pos])
            if with_cov:
                covs.append(np.concatenate([o[k][3] for o in out])[pos])
        u = np.concatenate(us)
        if token is not None:
            self.__dict__.setdefault("_gathered", {})[id(u)] = token
        return u, modes, (covs if with_cov else None)

    def gather_modes(self, internal, nagq=1, with_hinv=False, token=None):
        """
        Conditional modes ``u`` (G, q) at ``internal``, and ``H^-1`` (G, q, q)
        when ``with_hinv`` (else None), gathered from the workers in the order
        of ``design.group_labels``; ``token`` names modes saved by an earlier
        evaluation to start from.
        """
        out = [o for o in self._map(dp.part_modes, np.asarray(internal, float), int(nagq),
                                    bool(with_hinv), token) if o is not None]
        labels = np.concatenate([o[0] for o in out])
        pos = pd.Index(labels).get_indexer(self.design.group_labels)
        u = np.concatenate([o[1] for o in out])[pos]
        Hinv = np.concatenate([o[2] for o in out])[pos] if with_hinv else None
        if token is not None:
            self.__dict__.setdefault("_gathered", {})[id(u)] = token
        return u, Hinv

    def _results(self, *args, **kwargs):
        # the in-memory checks read the (row-less) client design; the separation
        # check is made below from the partitions
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            wrapper = super()._results(*args, **kwargs)
        res = wrapper._results
        res.__class__ = DaskMixedGLMResults
        wrapper = DaskMixedGLMResultsWrapper(res)
        separated = self.separation_terms(res.params)
        if separated:
            from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

            warnings.warn(
                "the outcome may be (quasi-)completely separated by "
                f"{', '.join(repr(t) for t in separated)}: these estimates and their "
                "standard errors are not reliable", PerfectSeparationWarning, stacklevel=3)
        res.mle_retvals["separation"] = separated
        return wrapper

    def separation_terms(self, params):
        """
        :func:`~statsmodels_glmm.model.separation_terms` over all partitions:
        columns whose coefficient times standard deviation exceeds 10, or
        two-valued columns with an outcome that never varies at one value.
        """
        if self.response.name != "Binomial" or not self.k_fe:
            return []
        beta = np.asarray(params, dtype=float)[:self.k_fe]
        spread = self._info["x_sd"]
        out = [n for n, b, sd in zip(self.exog_names, beta, spread)
               if sd > 0 and abs(b) * sd > 10]
        parts = [o for o in self._map(dp.part_separation) if o is not None]
        for j, name in enumerate(self.exog_names):
            if name in out or any(o[j] is None for o in parts):
                continue
            flags = {}
            for o in parts:
                for v, (fail, succ) in o[j].items():
                    f0, s0 = flags.get(v, (True, True))
                    flags[v] = (f0 and fail, s0 and succ)
            if len(flags) == 2 and any(f or s for f, s in flags.values()):
                out.append(name)
        return out

    def fit(self, *args, **kwargs):
        """
        Fit by maximum likelihood on the cluster; arguments as :meth:`MixedGLM.fit`.

        Returns
        -------
        MixedGLMResults
            Random effects are gathered from the workers when first used.
        """
        nagq = kwargs.get("nagq", args[0] if args else 1)
        if self.multi and isinstance(nagq, (int, np.integer)) and nagq > 1:
            self._integrator(int(nagq))  # refused before any work on the cluster
        return super().fit(*args, **kwargs)


# --------------------------------------------------------------- results
class DaskMixedGLMResults(MixedGLMResults):
    """
    :class:`MixedGLMResults` of a :class:`DaskMixedGLM`.

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
    from . import is_dask_frame

    return is_dask_frame(obj)


def _predict_partition(pdf, res, which, random_effects):
    return MixedGLMResults.predict(res, pdf, which=which, random_effects=random_effects)


def _predict_meta(res, ddf, which, random_effects):
    if which in ("mean", "linear"):
        return pd.Series([], dtype=float)
    head = ddf.head(2, npartitions=-1)
    out = MixedGLMResults.predict(res, head, which=which, random_effects=random_effects)
    return out.iloc[:0]


# --------------------------------------------------------------- building
def _levels(ddf, cols, client):
    """Sorted levels of each column over the whole frame (known categories kept as they are)."""
    import dask

    levels, todo = {}, []
    for c in cols:
        s = ddf[c]
        if isinstance(s.dtype, pd.CategoricalDtype) and s.cat.known:
            levels[c] = list(s.cat.categories)
        else:
            todo.append(c)
    if todo:
        uniq = client.compute([ddf[c].dropna().unique() for c in todo], sync=True) \
            if client is not None else dask.compute(*[ddf[c].dropna().unique() for c in todo])
        for c, u in zip(todo, uniq):
            vals = pd.unique(np.asarray(u, dtype=object))
            try:
                vals = sorted(vals)
            except TypeError:
                vals = sorted(vals, key=str)
            levels[c] = vals
    return levels


def _unique_groups(frame, gcols):
    from ..spec.design import group_values

    return pd.Series(group_values(frame.dropna(subset=gcols), gcols)).drop_duplicates()


def groups_split(ddf, gcols, client):
    """
    Whether some group has rows in more than one partition.

    Reads the grouping column(s) only and brings each partition's distinct
    labels to the client (one value per group and partition).
    """
    if ddf.npartitions == 1:
        return False
    labels = ddf[gcols].map_partitions(_unique_groups, gcols, meta=(None, object))
    labels = client.compute(labels, sync=True)
    return bool(pd.Series(labels).duplicated().any())


def outer_factor(factors, meta):
    """
    The grouping factor every other factor is nested in, by their columns.

    A factor ``a:b`` is nested in ``a``: each of its levels lies inside one
    level of ``a``, because ``a`` is among the columns that form it.  The
    outermost factor is the one whose columns every factor has; the
    log-likelihood is then a sum over its levels.  Crossed factors (neither
    has the other's columns) are refused.

    Parameters
    ----------
    factors : list of str
        Grouping factors as written in the formula (``"clinic"``,
        ``"clinic:patient"``).
    meta : DataFrame
        Any rows with the data's columns (to read the factors' columns).

    Returns
    -------
    str

    Examples
    --------
    >>> meta = pd.DataFrame({"clinic": [1], "patient": [2], "item": [3]})
    >>> outer_factor(["clinic:patient", "clinic"], meta)
    'clinic'
    >>> outer_factor(["patient", "item"], meta)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    NotImplementedError: the grouping factors 'patient' and 'item' are crossed ...
    """
    cols = {f: set(group_columns(f, meta)) for f in factors}
    for f in factors:
        if all(cols[f] <= cols[g] for g in factors):
            return f
    pair = next((f, g) for i, f in enumerate(factors) for g in factors[i + 1:]
                if not (cols[f] <= cols[g] or cols[g] <= cols[f]))
    raise NotImplementedError(
        f"the grouping factors {pair[0]!r} and {pair[1]!r} are crossed (neither is nested "
        "in the other), so the log-likelihood is not a sum over groups of one factor and "
        "needs all rows in one place: fit a pandas DataFrame (in memory). Factors nested "
        "in one outermost factor are supported, written with its columns, e.g. "
        "(1 | clinic) + (1 | clinic:patient) or (1 | clinic/patient)")


def _concat_labels(parts):
    """Level labels of several partitions in one array (object dtype kept as such)."""
    return np.concatenate([np.asarray(p, dtype=object) if np.asarray(p).dtype == object
                           else np.asarray(p) for p in parts])


def _combine_terms(infos, terms, info):
    """
    Whole-data levels of every random-effect term of a multi-factor model, and the
    checks :meth:`~statsmodels_glmm.spec.terms.RandomEffectTerm.validate` makes in memory.

    Sets ``info["term_labels"]`` (sorted labels per term) and, as for one factor,
    ``info["labels"]``/``info["sizes"]`` for the factor with the most levels.
    """
    from ..spec.design import _check_nesting

    full = [i for i in infos if i["nobs"]]
    labels_all, sizes_all = [], []
    z_all_one = np.all([i["z_all_one"] for i in full], axis=0)
    z_const = np.all([i["z_const"] for i in full], axis=0)
    col = 0
    for k, t in enumerate(terms):
        labels = _concat_labels([i["term_labels"][k] for i in full])
        sizes = np.concatenate([i["term_sizes"][k] for i in full])
        codes, uniq = pd.factorize(labels, sort=True)
        if len(uniq) != len(labels):
            raise RuntimeError(f"a level of {t.group!r} has rows in two partitions after "
                               "the shuffle")
        labels_all.append(np.asarray(uniq))
        sizes_all.append(sizes[np.argsort(codes, kind="stable")])
        label = f"({t.expr} {'|' if t.correlated else '||'} {t.group})"
        if len(uniq) < 2:
            raise ValueError(f"random-effect term {label}: grouping factor {t.group!r} "
                             f"has {len(uniq)} level(s); a random effect needs at least two")
        icpt = z_all_one[col:col + t.q]
        const = z_const[col:col + t.q] & ~icpt
        if np.any(icpt) and t.q > 1 and np.any(const):
            name = t.names[int(np.flatnonzero(const)[0])]
            raise ValueError(
                f"random-effect term {label}: variable {name!r} is constant within every "
                f"level of {t.group!r}; its random slope cannot be told apart from the "
                "random intercept")
        if all(i.get("bernoulli") for i in full) and len(uniq) == info["nobs"]:
            warnings.warn(
                f"random-effect term {label} has one level per observation; with a binary "
                "response an observation-level random effect is not identified as "
                "overdispersion and changes the model (its variance is confounded with "
                "the link scale)", UserWarning, stacklevel=4)
        col += t.q
    _check_nesting([SimpleNamespace(group=t.group, expr=t.expr, n_levels=len(lab))
                    for t, lab in zip(terms, labels_all)], info["nobs"])
    finest = int(np.argmax([len(lab) for lab in labels_all]))
    info["term_labels"] = labels_all
    info["labels"], info["sizes"] = labels_all[finest], sizes_all[finest]
    info["finest"] = finest


def _combine(infos, gname="group", check_slopes=True):
    """Whole-data summaries from the partitions' :func:`part_info` dictionaries."""
    full = [i for i in infos if i["nobs"]]
    n_dropped = sum(i["n_dropped"] for i in infos)
    if not full:
        raise ValueError("no rows left after dropping rows with missing values")
    first = full[0]
    for i in full[1:]:
        for key, what in (("exog_names", "fixed-effects"), ("re_names", "random-effects")):
            if i[key] != first[key]:
                raise ValueError(
                    f"partitions build different {what} columns ({first[key]} and {i[key]}); "
                    "a column used in the formula has values whose levels differ between "
                    "partitions: make it a categorical column (or use C(column))")
        if i["blocks"] != first["blocks"]:
            raise ValueError("partitions disagree on the random-effect blocks")
    labels = _concat_labels([i["labels"] for i in full])
    sizes = np.concatenate([i["sizes"] for i in full])
    codes, uniq = pd.factorize(labels, sort=True)
    if len(uniq) != len(labels):
        raise RuntimeError("a group has rows in two partitions after the shuffle")
    order = np.argsort(codes, kind="stable")
    labels, sizes = np.asarray(uniq), sizes[order]
    nobs = int(sum(i["nobs"] for i in full))
    n = np.array([i["nobs"] for i in full], dtype=float)
    if len(labels) < 2:
        raise ValueError(f"grouping column {gname!r} has a single group; a mixed model "
                         "needs at least two")
    p = len(first["exog_names"])
    out = dict(labels=labels, sizes=sizes, nobs=nobs, n_dropped=n_dropped,
               y_sum=float(sum(i["y_sum"] for i in full)),
               exog_names=first["exog_names"], re_names=first["re_names"],
               endog_name=first["endog_name"])
    if p:
        sums = np.array([i["x_sum"] for i in full])
        sq = np.array([i["x_sq"] for i in full])
        mean = sums.sum(0) / nobs
        # deviations from the global mean, partition by partition (no cancellation
        # between a large mean and a small spread)
        part_mean = sums / n[:, None]
        m2 = sq - n[:, None] * part_mean ** 2 + n[:, None] * (part_mean - mean) ** 2
        var = np.maximum(m2.sum(0) / nobs, 0.0)
        x_first = first["x_first"]
        const = np.all([i["x_const"] & (i["x_first"] == x_first) for i in full], axis=0)
        var[const] = 0.0
        out.update(x_mean=mean, x_sd=np.sqrt(var), x_const=const & (x_first != 0),
                   x_first=x_first)
        # the R factors of all partitions stacked have the R factor of the whole X
        out["R"] = np.vstack([i["R"] for i in full])
    else:
        out.update(x_mean=np.zeros(0), x_sd=np.zeros(0), x_const=np.zeros(0, bool),
                   x_first=np.zeros(0))
    z_sq = np.sum([i["z_sq"] for i in full], axis=0)
    out["z_rms"] = np.sqrt(z_sq / nobs)
    z_all_one = np.all([i["z_all_one"] for i in full], axis=0)
    # every level of every factor lies in one partition: within-level sums add up
    out.update(z_sq=z_sq, z_sum=np.sum([i["z_sum"] for i in full], axis=0),
               z_within_ss=np.sum([i["z_within_ss"] for i in full], axis=0),
               z_all_one=z_all_one)
    if check_slopes and np.any(z_all_one):
        z_const = np.all([i["z_const"] for i in full], axis=0)
        for j, name in enumerate(first["re_names"]):
            if not z_all_one[j] and z_const[j]:
                raise ValueError(
                    f"random-effect variable {name!r} is constant within every group; its "
                    "random slope cannot be told apart from the random intercept")
    refused = [i.get("refused") for i in full]
    if all(refused) and min(i["y_min"] for i in full) == max(i["y_max"] for i in full):
        raise ValueError(refused[0])
    k_max = [i["k_max"] for i in full if i.get("k_max") is not None]
    out["k_max"] = max(k_max) if k_max else None
    return out


def _full_rank(info):
    """
    Fixed-effects columns to keep (None: all), by the whole-data rank rule of
    :func:`design.full_rank_columns` applied to the stacked ``R`` factors; the
    column summaries in ``info`` are cut to the kept columns.
    """
    from ..spec import design as _design

    names = list(info["exog_names"])
    info["all_exog_names"] = names
    R = info.pop("R", None)
    if R is None or not names:
        return None
    cols = list(_design.full_rank_columns(R, names, "fixed-effects"))
    if len(cols) == len(names):
        return None
    info["exog_names"] = [names[j] for j in cols]
    for k in ("x_mean", "x_sd", "x_const", "x_first"):
        info[k] = info[k][cols]
    return cols


def dask_model(cls, formula, data, family=None, groups=None, re_formula=None, offset=None,
               exposure=None, missing="drop", formula_engine=None, zi_formula=None,
               client=None, vc_formula=None, **kwargs):
    """
    Build a :class:`DaskMixedGLM` from a formula and a Dask DataFrame.

    Called by :meth:`MixedGLM.from_formula` (and so ``smg.mixedglm``) when
    ``data`` is a Dask DataFrame; the arguments are those of ``from_formula``,
    plus ``client`` (default: the active ``distributed`` client).

    Returns
    -------
    DaskMixedGLM
    """
    if vc_formula is not None:
        raise ValueError("vc_formula is not available for Dask data; write the "
                         "components as bar terms, e.g. (1 | school:classroom)")
    client = _client_for(client)
    extra = kwargs.pop("extra_formulas", None)
    if kwargs:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
    response = copy.deepcopy(as_response(family if family is not None
                                         else sm.families.Gaussian()))
    if getattr(response, "raw_endog", False):
        raise NotImplementedError(f"the {response.name} family is not available for Dask "
                                  "DataFrames yet; fit a pandas DataFrame")
    if zi_formula is not None:
        from ..families.zeroinflated import ZeroInflated

        response = ZeroInflated(response, zi_formula)
    hook = getattr(response, "extra_formulas", None)
    if hook is not None:
        extra = {**(extra or {}), **hook()}
    if missing not in ("drop", "raise"):
        raise ValueError("missing must be 'drop' or 'raise'")
    for val, name in ((offset, "offset"), (exposure, "exposure")):
        if val is not None and not isinstance(val, str):
            raise ValueError(f"{name} must be the name of a column of the Dask DataFrame "
                             "(arrays cannot be aligned with its partitions)")

    for text in [formula, re_formula or ""] + [str(f) for f in (extra or {}).values()]:
        learned = re.search(r"(?<![\w.])(center|standardize|scale|bs|cr|cc|te|poly)\s*\(", text)
        if learned:
            raise ValueError(
                f"the transform {learned.group(1)}() in {text!r} learns from the data it "
                "sees, which would be each partition on its own; compute the column with "
                "Dask first (e.g. ddf['x_c'] = ddf['x'] - ddf['x'].mean())")
    fixed, terms = split_formula(formula)
    if terms and (groups is not None or re_formula is not None):
        raise ValueError("give random effects either as bar terms in the formula or with "
                         "groups=/re_formula=, not both")
    if not terms:
        if groups is None:
            raise ValueError("the model has no random effects: add a term such as "
                             "'(1 | id)' to the formula or pass groups=")
        if not isinstance(groups, str):
            raise ValueError("groups must be the name of a column of data when a formula is used")
        terms = re_formula_terms(re_formula, groups)
    group_names = list(dict.fromkeys(t.group for t in terms))  # in formula order
    meta = data._meta
    gname = outer_factor(group_names, meta)
    outer_cols = group_columns(gname, meta)
    # the outermost factor's columns first
    gcols, used, texts = model_columns(formula, extra, [gname] + group_names, offset,
                                       exposure, meta)
    dp.check_columns_exist(fixed, terms, meta)
    frame = data[used]
    levels = _levels(frame, dp.factor_columns(texts, meta[used], gcols), client)
    spec = dict(formula=formula, fixed=fixed, terms=terms, gname=gname, gcols=gcols, used=used,
                levels=levels, offset=offset, exposure=exposure, extra_formulas=extra or {},
                missing=missing, engine=formula_engine, response=response)

    # every group of the outermost factor in one partition (with it, every level of
    # the factors nested in it)
    shuffled = groups_split(frame, outer_cols, client)
    if shuffled:
        frame = frame.shuffle(on=outer_cols, npartitions=frame.npartitions)
    import dask

    build = dask.delayed(dp.build_partition, pure=True)
    parts = client.compute([build(p, spec) for p in frame.to_delayed()])
    infos = client.gather(client.map(dp.part_info, parts, pure=False))
    multi = len(group_names) > 1
    if multi:
        outer = next(k for k, t in enumerate(terms) if t.group == gname)
        for i in infos:
            if i["nobs"]:
                i["labels"], i["sizes"] = i["term_labels"][outer], i["term_sizes"][outer]
    info = _combine(infos, gname, check_slopes=not multi)
    keep = [p for p, i in zip(parts, infos) if i["nobs"]]
    cols = _full_rank(info)
    if cols is not None:
        keep = client.map(dp.select_columns, keep, cols=cols, pure=False)
    sample = pd.concat([i["sample"] for i in infos if i["nobs"]], ignore_index=True)
    ref_response = copy.deepcopy(response)
    ref, _ = dp.partition_design(sample, spec, keep_spec=True, response=ref_response)
    if ref is None or ref.exog_names != info["all_exog_names"] or \
            ref.re_names != info["re_names"]:
        raise ValueError("the reference rows do not give the design of the partitions; "
                         "check the formula's columns for values that differ by partition")
    if cols is not None:
        ref.X = ref.X[:, cols]
        ref.exog_names = [ref.exog_names[j] for j in cols]
    ref.extra["fixed_columns"] = list(ref.exog_names)
    if multi:
        _combine_terms(infos, ref.terms, info)
    return DaskMixedGLM(ref, ref_response, client, keep, data, info, shuffled)
