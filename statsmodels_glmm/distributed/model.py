"""
The distributed model: a :class:`~statsmodels_glmm.model.MixedGLM` whose rows
are partitions of a Dask DataFrame.

Each evaluation of the log-likelihood, its gradient, the difference Hessian,
the start values and the conditional modes runs on every partition on the
workers, and the client adds the partitions' results.
"""

import inspect
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd

from ..model import MixedGLM
from ..model.columns import separation_kind
from ..likelihood.start import START_TOL, link_of_mean, newton_ascent
from . import partition as dp
from ..exceptions import warn
from .cluster import (ClusterError, ClusterState, RemoteModes, _cluster_design, _concat_labels,
                      call_recording_warnings, reemit_warnings)
from .results import DaskMixedGLMResults, DaskMixedGLMResultsWrapper

__all__ = ["DaskMixedGLM"]


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
    ``tests/distributed/test_dask.py`` runs the same fit):

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
        state.pop("_warned", None)
        return state

    def _map(self, fn, *args):
        """
        ``fn(partition, *args)`` on every partition, on the workers; the list of results.

        Warnings the tasks raise on the workers are raised again here, each
        distinct message once (once per optimisation while a fit runs).
        """
        if not self.attached:
            raise ClusterError("this model is detached from its Dask cluster (unpickled); "
                               "build it again from the Dask DataFrame")
        names = list(inspect.signature(fn).parameters)[1:]
        futures = self.client.map(call_recording_warnings, [fn] * len(self._parts),
                                  self._parts, key=getattr(fn, "__name__", "partition"),
                                  pure=False, **dict(zip(names, args)))
        try:
            out = self.client.gather(futures)
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
        reemit_warnings([w for _, records in out for w in records],
                        self.__dict__.get("_warned"))
        return [result for result, _ in out]

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
        comes back holding a :class:`~statsmodels_glmm.distributed.cluster.RemoteModes`
        token for them.
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

    def _newton_hessian(self, internal, nagq, free, grad, warm):
        """The Newton steps of a fit use the exact Hessian of :meth:`hessian_internal`
        (the partitions difference their own gradients in one round trip)."""
        return self.hessian_internal(internal, nagq, free, grad=grad, warm=warm), True

    def _start_internal(self):
        """
        Start values as :meth:`MixedGLM._start_internal`: the fixed effects of
        the GLM without random effects by the Newton iterations of
        :func:`~statsmodels_glmm.likelihood.start.glm_start`, each step's sums added over
        partitions; family parameters from each partition's
        ``start_extra``, averaged with row counts as weights.  Families with
        their own ``start_beta`` average the partitions' own start values.  For
        a family with ``moment_start`` the random-effect covariance starts at the
        moment estimate of the in-memory model, its sums added over partitions
        (each holds its groups whole).
        """
        p, k = self.k_fe, self.k_re
        theta = self.cov_struct.start(1.0) * np.diag(self._scaling()[0])[p:p + k]
        out = [o for o in self._map(dp.part_start) if o[0]]
        from_glm = not any(o[1] is not None for o in out)
        if not from_glm:
            out = [o for o in out if o[1] is not None]
            w = np.array([o[0] for o in out], dtype=float)
            w = w / w.sum()
            beta = np.sum([wi * o[1] for wi, o in zip(w, out)], axis=0) if p else np.zeros(0)
            extra = np.sum([wi * np.asarray(o[2], float) for wi, o in zip(w, out)], axis=0) \
                if self.k_extra else np.zeros(0)
            beta, extra = np.atleast_1d(beta), np.atleast_1d(extra)
        else:
            beta = self._glm_start()
            extra = self._start_extra(beta)
        sums = [o for o in self._map(dp.part_moments, beta, extra) if o != ()] \
            if self._uses_moment_start() else []
        if sums and all(o is not None for o in sums):
            R, K, ztz, n = (sum(o[i] for o in sums) for i in range(4))
            moments = self._start_from_moments(beta, R, K, ztz, n, from_glm=from_glm)
            if moments is not None:
                beta, theta = moments
        return np.concatenate([beta, theta, extra])

    def _intercept_column(self):
        """Index of the column of ones in X (from the partitions' summaries), or None."""
        info = self._info
        ones = np.flatnonzero(info["x_const"] & (info["x_first"] == 1.0))
        return int(ones[0]) if len(ones) else None

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
        ones = self._intercept_column()
        if ones is not None:
            value = link_of_mean(self.response, info["y_sum"] / self.nobs)
            if value is not None:
                beta[ones] = value
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

            warn("the outcome may be (quasi-)completely separated by "
                 f"{', '.join(repr(t) for t in separated)}: these estimates and their "
                 "standard errors are not reliable", PerfectSeparationWarning)
        res.mle_retvals["separation"] = separated
        return wrapper

    def separation_terms(self, params):
        """
        :func:`~statsmodels_glmm.model.separation_terms` over all partitions:
        columns whose coefficient times standard deviation exceeds 10, or
        two-valued columns with an outcome that never varies at one value.
        """
        if separation_kind(self.response) is None or not self.k_fe:
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
        if kwargs.get("cov_type", "nonrobust") != "nonrobust":
            raise NotImplementedError(
                f"cov_type={kwargs['cov_type']!r} is not available for a Dask DataFrame: the "
                "sandwich needs each group's score, which stays on the workers; fit the "
                "rows in a pandas DataFrame for cluster-robust standard errors")
        return super().fit(*args, **kwargs)

    def _fit(self, *args, **kwargs):
        """
        One optimisation of :meth:`MixedGLM.fit`; a warning raised on the workers
        is raised once in it, however many evaluations raise it.
        """
        outer = self.__dict__.get("_warned")
        self.__dict__["_warned"] = set()
        try:
            return super()._fit(*args, **kwargs)
        finally:
            if outer is None:
                self.__dict__.pop("_warned", None)
            else:
                self.__dict__["_warned"] = outer
