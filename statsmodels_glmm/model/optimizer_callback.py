"""
What the quasi-Newton optimiser's per-iteration callback does: progress lines for
``fit(disp=True)`` and the hand-over from L-BFGS-B to the Newton polish.

L-BFGS-B reaches the neighbourhood of the maximum in a few iterations and then
gains little per iteration: its curvature pairs were collected far from the
maximum, and its line searches fail more often there.  The Newton polish that
follows (:meth:`~statsmodels_glmm.model.fitting.FittingMixin._polish`) converges
quadratically from that neighbourhood with one Hessian.  So once an L-BFGS-B
iteration raises the log-likelihood by less than :data:`HANDOVER_GAIN`, the
search stops and the polish finishes.  The threshold is in log-likelihood units,
so it does not depend on the parameterisation or the units of the covariates.
The search also hands over when a random-effect standard deviation is shrinking
towards zero (see :data:`TOWARD_ZERO_FROM`): where its maximum is at zero the
search approaches it only linearly, and the polish puts it there.
"""

import numpy as np

__all__ = ["HANDOVER_GAIN", "HandOver", "IterationWatch"]

#: an L-BFGS-B iteration that raises the log-likelihood by less than this hands the
#: search over to the Newton polish (measured on binary, Poisson, one- and
#: several-factor designs: 0.1 stops too early on weakly identified variances,
#: 1e-3 saves little)
HANDOVER_GAIN = 1e-2

#: a watched standard deviation (scaled coordinates) below this that shrank in each of
#: the last two iterations, while the last one gained under :data:`TOWARD_ZERO_GAIN`,
#: hands the search over too: its maximum is likely at zero, which the search
#: approaches only linearly (the polish puts it there, see
#: :func:`~statsmodels_glmm.model.boundaries.snap_to_zero`)
TOWARD_ZERO_FROM = 0.1
TOWARD_ZERO_GAIN = 1.0


class HandOver(Exception):
    """Raised by :class:`IterationWatch` to stop L-BFGS-B: ``xs`` and ``val`` are its
    last iterate and objective, ``nit`` its iterations."""

    def __init__(self, xs, val, nit):
        super().__init__("handed over to Newton steps")
        self.xs, self.val, self.nit = xs, val, nit


class IterationWatch:
    """
    The callback of a quasi-Newton search on ``f(xs) = -llf / scale``.

    Every evaluation of ``f`` is reported to :meth:`seen` (so the callback reuses
    its value instead of evaluating again).  At each iteration the callback prints
    a progress line when ``disp`` is set, and, with ``handover``, raises
    :class:`HandOver` once the iteration raised the log-likelihood by less than
    ``gain`` (or a watched standard deviation shrinks towards zero, see
    ``watched``).

    Parameters
    ----------
    f : callable
        ``f(xs) -> (value, gradient)``.
    scale : float
        The objective's divisor (log-likelihood = ``-value * scale``).
    disp : bool
        Print a line per iteration.
    gain : float, optional
        Default :data:`HANDOVER_GAIN` (read when the watch is made).
    watched : callable, optional
        ``watched(xs)``: the sizes of the standard deviations whose maximum can be
        at zero (inf for the others).  With ``handover``, :class:`HandOver` is also
        raised once one below :data:`TOWARD_ZERO_FROM` has shrunk in each of the
        last two iterations and the last gained under :data:`TOWARD_ZERO_GAIN`.

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda xs: (float(xs @ xs), 2 * xs)
    >>> w = IterationWatch(f, scale=1.0, disp=False, gain=0.1)
    >>> w.start(handover=True)
    >>> for x in ([1.0], [0.5], [0.45]):
    ...     w.seen(np.array(x), *f(np.array(x)))
    ...     try:
    ...         w(np.array(x))
    ...     except HandOver as h:
    ...         print("handed over at", h.xs, "after", h.nit, "iterations")
    handed over at [0.45] after 3 iterations
    >>> w.evaluations
    3
    """

    def __init__(self, f, scale, disp=False, gain=None, watched=None):
        self.f, self.scale, self.disp = f, scale, bool(disp)
        self.gain = float(HANDOVER_GAIN if gain is None else gain)
        self.watched = watched
        self.last = None
        self.evaluations = 0
        self.start(False)

    def start(self, handover):
        """Begin a new search (iterations counted from zero); ``handover`` arms the stop."""
        self.handover = bool(handover)
        self.prev, self.k = None, 0
        self.sizes = []
        self.reason = None

    def _toward_zero(self, xk, gained):
        """Whether a watched standard deviation is shrinking towards zero (see
        :data:`TOWARD_ZERO_FROM`)."""
        if self.watched is None:
            return False
        self.sizes = (self.sizes + [self.watched(xk)])[-3:]
        if len(self.sizes) < 3 or not gained < TOWARD_ZERO_GAIN:
            return False
        a, b, c = self.sizes
        return bool(np.any((c < TOWARD_ZERO_FROM) & (c < b) & (b < a)))

    def seen(self, xs, val, grad):
        """Record an evaluation of ``f``."""
        self.evaluations += 1
        self.last = (np.array(xs, dtype=float), val, grad)

    def __call__(self, xk, *args, **kwargs):
        self.k += 1
        if self.last is not None and np.array_equal(self.last[0], xk):
            val, grad = self.last[1], self.last[2]
        else:
            val, grad = self.f(xk)
        if self.disp:
            print(f"iteration {self.k:4d}: log-likelihood {-val * self.scale:.6f}, "
                  f"max |gradient| {np.max(np.abs(grad)) * self.scale:.3g}", flush=True)
        if self.handover:
            gained = np.inf if self.prev is None else (self.prev - val) * self.scale
            if gained < self.gain:
                self.reason = f"an iteration gained under {self.gain:g} in log-likelihood"
                raise HandOver(np.array(xk, dtype=float), val, self.k)
            if self._toward_zero(xk, gained):
                self.reason = "a standard deviation is shrinking towards zero"
                raise HandOver(np.array(xk, dtype=float), val, self.k)
        self.prev = val
