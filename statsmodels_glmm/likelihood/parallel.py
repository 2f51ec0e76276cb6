"""
Chunks of groups and a small thread pool for the per-group work.

With one grouping factor the log-likelihood, its gradient and the
conditional modes are sums (or collections) of independent per-group
pieces,

.. math:: \\ell(\\theta) = \\sum_{c=1}^{C} \\sum_{i \\in c} \\ell_i(\\theta),

so the groups are split once into contiguous chunks ``c`` of about
:data:`CHUNK_ROWS` rows (rows are sorted by group).  A chunk's arrays fit in
the processor cache, so every Newton step, every quadrature node and the
gradient of a chunk run on data that is already there; and chunks are
independent, so they can run on several threads (numpy releases the GIL
inside its loops).  The chunks do not depend on the number of threads and
their partial sums are added in chunk order, so a threaded evaluation gives
exactly the numbers of a serial one.

The number of threads is, in order of precedence: the ``n_jobs`` argument of
the likelihood functions, the innermost :func:`using_threads` context, the
environment variable ``STATSMODELS_GLMM_NUM_THREADS``, and otherwise one
thread for data of fewer than :data:`MIN_PARALLEL_ROWS` rows (where threads do
not pay) and ``os.cpu_count()`` above.
"""

import contextlib
import contextvars
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["CHUNK_ROWS", "MIN_PARALLEL_ROWS", "ENV_VAR", "chunk_bounds", "num_threads",
           "map_chunks", "using_threads", "blas_single_thread", "blas_threads"]

#: Target number of rows per chunk of groups.
CHUNK_ROWS = 32768
#: Below this many rows (times nodes, for quadrature), two full chunks, the work runs on
#: one thread: on smaller data the threads' hand-offs and the parts of an evaluation
#: that hold the GIL cost more than a second thread saves (``benchmarks/bench_threads.py``
#: measures one thread against all of them, fit by fit, at growing sizes).
MIN_PARALLEL_ROWS = 2 * CHUNK_ROWS
#: Environment variable giving the number of threads.
ENV_VAR = "STATSMODELS_GLMM_NUM_THREADS"

_POOL = None
_POOL_SIZE = 0
_CONTEXT_JOBS = contextvars.ContextVar("statsmodels_glmm_n_jobs", default=None)
_POOL_LOCK = threading.Lock()
_LOCAL = threading.local()


def chunk_bounds(starts, nobs, rows=None):
    """
    Split sorted groups into contiguous chunks of about ``rows`` rows.

    Chunks hold whole groups; their number is ``ceil(nobs / rows)`` (fewer
    when groups are large), each ending at the group boundary nearest to its
    even share of the rows.

    Parameters
    ----------
    starts : ndarray of int
        First row of every group (increasing, ``starts[0] == 0``).
    nobs : int
        Number of rows.
    rows : int, optional
        Target rows per chunk (default :data:`CHUNK_ROWS`).

    Returns
    -------
    ndarray of int, shape (n_chunks + 1,)
        Group index where each chunk begins, then the number of groups.

    Examples
    --------
    >>> chunk_bounds(np.array([0, 3, 5, 9, 10]), 12, rows=6)
    array([0, 2, 5])
    >>> chunk_bounds(np.array([0, 3, 5, 9, 10]), 12, rows=100)
    array([0, 5])
    """
    rows = int(CHUNK_ROWS if rows is None else rows)
    G = len(starts)
    n_chunks = max(1, -(-int(nobs) // max(rows, 1)))
    if n_chunks == 1 or G == 1:
        return np.array([0, G])
    targets = np.arange(1, n_chunks) * (nobs / n_chunks)
    cut = np.minimum(np.searchsorted(starts, targets), G - 1)  # group starting at/after
    prev = np.maximum(cut - 1, 0)
    closer = np.abs(starts[prev] - targets) < np.abs(starts[cut] - targets)
    cut = np.where(closer, prev, cut)  # the group boundary nearest to each target
    cut = np.unique(cut[(cut > 0) & (cut < G)])
    return np.concatenate([[0], cut, [G]]).astype(np.intp)


def num_threads(n_jobs=None, work=None):
    """
    Number of threads for a job of ``work`` rows (rows times nodes for quadrature).

    Parameters
    ----------
    n_jobs : int, optional
        Explicit number of threads; ``-1`` means all processors.
    work : int, optional
        Size of the job; small jobs run serially unless threads are asked for.

    Examples
    --------
    >>> num_threads(1)
    1
    >>> num_threads(3)
    3
    >>> num_threads(work=100) if "STATSMODELS_GLMM_NUM_THREADS" not in os.environ else 1
    1
    """
    if n_jobs is None:
        n_jobs = _CONTEXT_JOBS.get()
    if n_jobs is None:
        env = os.environ.get(ENV_VAR, "").strip()
        if env:
            try:
                n_jobs = int(env)
            except ValueError:
                raise ValueError(f"{ENV_VAR} must be a whole number of threads, "
                                 f"got {env!r}") from None
    if n_jobs is None:
        if work is not None and work < MIN_PARALLEL_ROWS:
            return 1
        return os.cpu_count() or 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)):
        raise ValueError(f"n_jobs must be a whole number of threads (or -1), got {n_jobs!r}")
    n_jobs = int(n_jobs)
    if n_jobs == -1:
        return os.cpu_count() or 1
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be >= 1 or -1 (all processors), got {n_jobs}")
    return n_jobs


@contextlib.contextmanager
def using_threads(n_jobs):
    """
    A context in which likelihood evaluations use ``n_jobs`` threads.

    ``None`` keeps the default; an ``n_jobs`` argument given to a function
    still wins.

    Examples
    --------
    >>> with using_threads(1):
    ...     num_threads(work=10 ** 9)
    1
    """
    if n_jobs is not None:
        num_threads(n_jobs)  # validate now, with the argument's name in the message
    token = _CONTEXT_JOBS.set(n_jobs)
    try:
        yield
    finally:
        _CONTEXT_JOBS.reset(token)


def _pool(k):
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE < k:
            old = _POOL
            _POOL = ThreadPoolExecutor(max_workers=k, thread_name_prefix="smglmm",
                                       initializer=_mark_worker)
            _POOL_SIZE = k
            if old is not None:
                old.shutdown(wait=False)
        return _POOL


def _mark_worker():
    _LOCAL.worker = True


def map_chunks(fn, n_chunks, n_jobs=None, work=None):
    """
    ``[fn(0), ..., fn(n_chunks - 1)]``, on a thread pool when it pays.

    ``k`` threads (the caller's and ``k - 1`` pool threads) take chunks in
    turn; the results come back in chunk order whatever ``k`` is, so sums
    over them do not depend on it.  Work started from inside a pool thread
    runs serially (no nested pools), and BLAS runs on one thread meanwhile
    (:func:`blas_single_thread`).

    Examples
    --------
    >>> map_chunks(lambda k: k * k, 4, n_jobs=2)
    [0, 1, 4, 9]
    """
    k = min(num_threads(n_jobs, work), n_chunks)
    if k <= 1 or getattr(_LOCAL, "worker", False):
        return [fn(i) for i in range(n_chunks)]
    results = [None] * n_chunks
    todo = iter(range(n_chunks))
    lock = threading.Lock()
    failed = []

    def worker():
        while not failed:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            try:
                results[i] = fn(i)
            except BaseException as exc:  # re-raised in the caller
                failed.append(exc)
                return

    # each thread runs in a copy of the caller's context, so that settings kept in
    # context variables (numpy's floating-point error state, the thread count) hold there;
    # BLAS on one thread meanwhile: its own threads on top of these would oversubscribe
    # the processors (a fit already runs so, a lone evaluation did not)
    with blas_single_thread():
        futures = [_pool(k - 1).submit(contextvars.copy_context().run, worker)
                   for _ in range(k - 1)]
        worker()
        for f in futures:
            f.result()
    if failed:
        raise failed[0]
    return results


_CONTROLLER = []


def blas_single_thread():
    """
    A context in which BLAS runs on one thread (when ``threadpoolctl`` is installed).

    A fit's optimiser and its small matrix products work on vectors of a few
    parameters, where a multi-threaded BLAS spends far longer waking and
    synchronising its threads than computing (much longer still on a busy
    machine); the chunks of groups bring their own parallelism.  Without
    ``threadpoolctl`` this is a no-op.

    Inside a context that already set this limit in the same thread (a fit, whose
    evaluations each ask for it again) it costs nothing.

    Examples
    --------
    >>> with blas_single_thread():
    ...     float(np.ones(3) @ np.ones(3))
    3.0
    """
    return _blas_limit(1)


#: the context of a limit that is already in force in this thread
_NO_CHANGE = contextlib.nullcontext()


def _blas_limit(n):
    """A context with BLAS on ``n`` threads: nothing to do (a shared no-op context)
    without threadpoolctl or when this thread's innermost limit is already ``n``."""
    if getattr(_LOCAL, "blas", None) == n or _controller() is None:
        return _NO_CHANGE
    return _limited(n)


def _controller():
    """threadpoolctl's controller (made once), or None without threadpoolctl or a BLAS."""
    if not _CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER.append(ThreadpoolController())
        except Exception:  # not installed, or no BLAS it can see
            _CONTROLLER.append(None)
    return _CONTROLLER[0]


@contextlib.contextmanager
def _limited(n):
    """BLAS on ``n`` threads inside (the limit is the process's), recorded as this
    thread's innermost limit until the context ends."""
    outer = getattr(_LOCAL, "blas", None)
    _LOCAL.blas = n
    try:
        with _controller().limit(limits=n, user_api="blas"):
            yield
    finally:
        _LOCAL.blas = outer


def blas_threads(n):
    """
    A context in which BLAS runs on ``n`` threads (when ``threadpoolctl`` is installed).

    Large dense factorisations (a Cholesky factor of thousands of effects) are
    where a multi-threaded BLAS pays, also inside a fit that otherwise keeps
    BLAS on one thread (:func:`blas_single_thread`).

    Examples
    --------
    >>> with blas_threads(1):
    ...     float(np.ones(3) @ np.ones(3))
    3.0
    """
    return _blas_limit(max(int(n), 1))
