"""
The client's side of a Dask cluster: the client to use, the design whose rows
live on the workers, the mode state of a distributed evaluation, and what the
cluster says while it works (warnings of the tasks, the shuffle's log).

:class:`ClusterDesign` describes the whole data (names, blocks, group labels
and sizes) without holding any rows.  :class:`RemoteModes` names conditional
modes kept on the workers, and :class:`ClusterState` gathers them (with their
curvature inverses or conditional covariances) when first used.

Warnings raised in a task on a worker would be printed (or dropped) in the
worker's process: :func:`call_recording_warnings` runs the task and returns
them with its result, and :func:`reemit_warnings` raises them again on the
client, each distinct message once.  :func:`quiet_shuffle_logs` keeps the
routine ``distributed.shuffle`` log lines of a shuffle off the console.
"""

import contextlib
import dataclasses
import logging
import pickle
import threading
import warnings

import numpy as np
import pandas as pd

from ..exceptions import warn
from ..spec.design import Design

__all__ = ["ClusterError", "ClusterDesign", "RemoteModes", "ClusterState",
           "call_recording_warnings", "reemit_warnings", "quiet_shuffle_logs"]


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
    Conditional modes kept on the workers: what a
    :class:`~statsmodels_glmm.likelihood.warm_start.WarmStart` holds for a
    :class:`~statsmodels_glmm.distributed.model.DaskMixedGLM` (``warm.u``), so
    that warm starts never bring the modes to the client.  ``token`` names them
    on every partition.
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


def _concat_labels(parts):
    """Level labels of several partitions in one array (object dtype kept as such)."""
    return np.concatenate([np.asarray(p, dtype=object) if np.asarray(p).dtype == object
                           else np.asarray(p) for p in parts])


# ------------------------------------------------------------- warnings of tasks
_SINK = threading.local()        # the list collecting this thread's warnings, if any
_CAPTURE_LOCK = threading.Lock()
_CAPTURE = {"depth": 0, "filters": None, "showwarning": None}
_PICKLABLE = {}


def _record_or_show(message, category, filename, lineno, file=None, line=None):
    """``warnings.showwarning`` while tasks record: to the task's list, or shown as before."""
    sink = getattr(_SINK, "records", None)
    if sink is not None:
        sink.append((category, str(message)))
        return
    show = _CAPTURE["showwarning"]
    if show is not None:
        show(message, category, filename, lineno, file, line)


def _start_recording():
    with _CAPTURE_LOCK:
        if _CAPTURE["depth"] == 0:
            _CAPTURE["filters"] = list(warnings.filters)
            _CAPTURE["showwarning"] = warnings.showwarning
            warnings.simplefilter("always")
            warnings.showwarning = _record_or_show
        _CAPTURE["depth"] += 1


def _stop_recording():
    with _CAPTURE_LOCK:
        _CAPTURE["depth"] -= 1
        if _CAPTURE["depth"] == 0:
            warnings.filters[:] = _CAPTURE["filters"]
            if warnings.showwarning is _record_or_show:
                warnings.showwarning = _CAPTURE["showwarning"]
            _CAPTURE["filters"] = _CAPTURE["showwarning"] = None


def _sendable(category):
    """``category`` if it can travel to the client (pickled by reference), else UserWarning."""
    ok = _PICKLABLE.get(category)
    if ok is None:
        try:
            ok = pickle.loads(pickle.dumps(category)) is category
        except Exception:  # a class defined where the client cannot import it
            ok = False
        _PICKLABLE[category] = ok
    return category if ok else UserWarning


def call_recording_warnings(_task, *args, **kwargs):
    """
    ``_task(*args, **kwargs)`` and the warnings it raised: ``(result, records)``,
    with ``records`` the distinct ``(category, message)`` pairs in order.

    Meant to run as a task on a worker: every warning of the task is recorded
    (none is shown there, repeats included), by thread, so that tasks running
    at the same time in threads of one worker keep their own.

    Examples
    --------
    >>> import warnings
    >>> def task(x):
    ...     warnings.warn("x is large")
    ...     warnings.warn("x is large")
    ...     return 2 * x
    >>> call_recording_warnings(task, 4)
    (8, [(<class 'UserWarning'>, 'x is large')])
    """
    outer = getattr(_SINK, "records", None)
    _SINK.records = records = []
    _start_recording()
    try:
        out = _task(*args, **kwargs)
    finally:
        _stop_recording()
        _SINK.records = outer
    return out, [(_sendable(c), m) for c, m in dict.fromkeys(records)]


def reemit_warnings(records, seen=None):
    """
    Raise each distinct ``(category, message)`` of ``records`` on the client,
    through :func:`statsmodels_glmm.exceptions.warn` (pointing at the user's line).

    ``seen`` (a set) holds the pairs already raised in the same piece of work:
    they are skipped, and a pair is added once the warning filters in force let
    it through, so that a warning silenced by the caller at one step (a
    ``warnings.catch_warnings`` block) is still raised at a later one.

    Examples
    --------
    >>> import warnings
    >>> seen = set()
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     reemit_warnings([(UserWarning, "a"), (UserWarning, "a"), (RuntimeWarning, "b")],
    ...                     seen)
    ...     reemit_warnings([(UserWarning, "a")], seen)
    >>> [(w.category.__name__, str(w.message)) for w in caught]
    [('UserWarning', 'a'), ('RuntimeWarning', 'b')]
    """
    for category, message in dict.fromkeys(records):
        key = (category, message)
        if seen is not None and key in seen:
            continue
        with warnings.catch_warnings(record=True) as probe:  # the filters in force, unchanged
            warn(message, category)
        if not probe:
            continue
        warn(message, category)
        if seen is not None:
            seen.add(key)


# ------------------------------------------------------------------ shuffle logs
_SHUFFLE_LOGGER = "distributed.shuffle"
_QUIET_LOCK = threading.Lock()
_QUIET = {"depth": 0, "level": None}


@contextlib.contextmanager
def quiet_shuffle_logs():
    """
    Keep the ``distributed.shuffle`` loggers of this process below WARNING
    while the block runs.

    A P2P shuffle logs each start and end at WARNING level (on the scheduler,
    which for a ``LocalCluster`` runs in the client's process, so the lines
    reach the console).  Inside the block that logger lets only errors
    through; the other ``distributed`` loggers are not touched, and the level
    is put back when the last such block ends.

    Examples
    --------
    >>> import logging
    >>> log = logging.getLogger("distributed.shuffle")
    >>> before = log.level
    >>> with quiet_shuffle_logs():
    ...     log.isEnabledFor(logging.WARNING)
    False
    >>> log.level == before
    True
    """
    log = logging.getLogger(_SHUFFLE_LOGGER)
    with _QUIET_LOCK:
        if _QUIET["depth"] == 0:
            _QUIET["level"] = log.level
            log.setLevel(max(log.level, logging.ERROR))
        _QUIET["depth"] += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _QUIET["depth"] -= 1
            if _QUIET["depth"] == 0:
                log.setLevel(_QUIET["level"])
