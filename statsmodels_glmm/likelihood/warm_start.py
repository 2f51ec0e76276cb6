"""
Warm starts for the conditional modes, carried explicitly from one likelihood
evaluation to the next.
"""

import numpy as np

__all__ = ["WarmStart"]


class WarmStart:
    """
    Explicit warm-start state for the conditional modes: modes in, modes out.

    Passed as ``warm=`` to :meth:`MixedGLM.loglike_internal`; after each
    evaluation whose inner solve converged to a finite likelihood it holds
    that evaluation's modes, which start the next one.  Nothing else holds
    state between likelihood evaluations.

    Examples
    --------
    >>> ws = WarmStart()
    >>> ws.u is None
    True
    """

    __slots__ = ("u", "last", "state")

    def __init__(self, u=None):
        self.u = u
        #: ``(nagq, point, llf, gradient, state)`` of the last evaluation
        self.last = None
        #: the state whose modes are ``u``, when it can predict modes nearby
        self.state = None

    def update(self, llf, state):
        """Keep the modes of ``state`` when they are usable as a start."""
        if np.isfinite(llf) and state.converged:
            self.u = state.u
            self.state = state if getattr(state, "d1", None) is not None else None

    def start(self):
        """What starts the next solve: the last state (its modes extrapolated to
        the new parameters) when there is one, else the modes."""
        return self.state if self.state is not None else self.u
