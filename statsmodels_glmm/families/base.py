"""
The response layer: conditional distribution of ``y`` given the linear predictor.

Every family used by :class:`statsmodels_glmm.MixedGLM` is a :class:`Response`.
The integration code (Laplace, adaptive quadrature) only talks to this
interface, so a new distribution lands by writing one subclass.

For observation ``t`` with linear predictor ``eta_t`` and family parameters
``phi`` (dispersion, zero-inflation coefficients, ordinal thresholds, held on
an unconstrained internal scale), a response supplies

.. math::

    d_k(t) = \\frac{\\partial^k}{\\partial \\eta_t^k} \\log f(y_t \\mid \\eta_t, \\phi),
    \\qquad k = 0, 1, 2, 3,

with every normalising constant kept in ``d_0``, and the derivatives of
``d_0, d_1, d_2`` with respect to each element of ``phi``.
"""

import numpy as np

__all__ = ["Response"]


class Response:
    """
    Base class of a conditional response distribution: the one interface
    between the families and the rest of the package.

    Required of every family: ``name``, ``link_name``, :meth:`validate`,
    :meth:`derivs`, :meth:`mean`, :meth:`variance`, :meth:`deviance_resid`
    and :meth:`simulate`.  A family with parameters of its own (dispersion,
    thresholds, zero-inflation coefficients) also sets ``n_extra`` and
    implements :meth:`extra_names`, :meth:`start_extra` and
    :meth:`extra_public` / :meth:`extra_internal`.

    Optional capabilities are declared here with their defaults, and the rest
    of the package calls them without probing: ``raw_endog`` and ``rowwise``
    (attributes), :meth:`check_fit_data`, :meth:`bind`,
    :meth:`extra_formulas`, :meth:`start_beta`, :meth:`extra_bounds`,
    :meth:`extra_derivs` (default: differences), :meth:`logpdf_d1`,
    :meth:`logpdf`, :meth:`d4` (default: None, which keeps the fixed-effects
    Hessian on differences of the gradient), :meth:`predict_which`,
    :meth:`which_columns`, :meth:`summary_table` and :meth:`summary_notes`.
    Families and designs do not modify each other: :meth:`bind` returns new
    objects.

    Examples
    --------
    >>> import numpy as np
    >>> from statsmodels_glmm.families import Binomial
    >>> fam = Binomial()
    >>> y = fam.validate(np.array([0.0, 1.0]), "y")
    >>> d0, d1, d2, d3 = fam.derivs(y, np.zeros(2), np.zeros(0))
    >>> np.round(d0, 4)
    array([-0.6931, -0.6931])
    """

    name = "response"
    link_name = "identity"
    n_extra = 0
    #: whether the fixed-effects design keeps its intercept column
    has_intercept = True
    #: statsmodels family object this response wraps, if any
    sm_family = None
    #: True when the design must pass the response column itself to :meth:`validate`
    #: (not the formula engine's matrix): ordinal responses keep their categories
    raw_endog = False
    #: True when the random-effect covariance starts at the moment estimate of
    #: :func:`~statsmodels_glmm.likelihood.start.moment_covariance`: counts, whose
    #: scores are unbounded; the bounded scores of 0/1 and ordinal outcomes make the
    #: first-order moments understate the variance, and a start below the optimum costs
    #: the optimiser more than the identity start
    moment_start = False
    #: True when, with several grouping factors, the covariance starts at the moment
    #: estimate although :attr:`moment_start` is False: 0/1 and ordinal outcomes, whose
    #: understated moments still start nearer the optimum than the identity does when a
    #: factor (the items of a crossed design, say) varies less than one on the scaled
    #: columns
    moment_start_several_factors = False
    #: True when :meth:`derivs` may be evaluated on the response stacked node after node
    #: (quadrature); False when the response array carries row-specific designs
    rowwise = True
    #: True when the fit's quasi-Newton search may hand over to Newton steps once an
    #: iteration gains little (:mod:`statsmodels_glmm.model.optimizer_callback`); False
    #: for likelihoods with ridges by construction, where a small gain does not mean
    #: the maximum is near
    newton_handover = True

    # ---------------------------------------------------------- model hooks
    def bind(self, design):
        """
        The family and design a model fits with, as new objects (neither argument is
        modified).  Families whose likelihood needs more than the response (the
        zero-inflation design) return a bound copy of themselves and a design
        whose response carries it.  Default: both unchanged.
        """
        return self, design

    def extra_formulas(self):
        """Further right-hand sides the design must build (``{key: rhs}``)."""
        return {}

    def start_beta(self, design):
        """Starting fixed effects, or None to use a GLM of :attr:`sm_family`."""
        return None

    def extra_bounds(self):
        """Optimiser bounds of the internal family parameters."""
        return [(None, None)] * self.n_extra

    def summary_table(self, results, alpha=0.05):
        """A table of family parameters for the summary, or None."""
        return None

    def summary_notes(self, results):
        """Family-specific notes for the summary."""
        return []

    def which_columns(self, which, k):
        """Column names of a multi-column prediction ``which``, or None."""
        return None

    # ------------------------------------------------------------------ data
    def validate(self, endog, name):
        """Check the response and return it in the form ``derivs`` expects."""
        raise NotImplementedError

    def check_fit_data(self, y, name):
        """
        Refuse validated data that no model of this family can be fitted to
        (called by the design builders, not by :meth:`validate`, so that
        derivatives stay computable at any response).
        """

    def n_trials(self, y):
        """Number of trials per row (1 for non-binomial responses)."""
        return np.ones(len(y))

    # ------------------------------------------------------------ parameters
    def extra_names(self):
        """Names of the family parameters on their public (natural) scale."""
        return []

    def start_extra(self, y, eta):
        """Starting values of the internal family parameters."""
        return np.zeros(self.n_extra)

    def extra_public(self, extra):
        """Map internal family parameters to their reported values."""
        return np.asarray(extra, dtype=float)

    def extra_internal(self, public):
        """Inverse of :meth:`extra_public`."""
        return np.asarray(public, dtype=float)

    def extra_jacobian(self, extra):
        """Jacobian ``d public / d internal`` (k x k), by central differences."""
        extra = np.asarray(extra, dtype=float)
        k = len(extra)
        jac = np.zeros((k, k))
        for j in range(k):
            h = 1e-6 * max(1.0, abs(extra[j]))
            e = np.zeros(k)
            e[j] = h
            jac[:, j] = (self.extra_public(extra + e) - self.extra_public(extra - e)) / (2 * h)
        return jac

    # ---------------------------------------------------------- likelihood
    def derivs(self, y, eta, extra):
        """
        Log-density and its first three derivatives in ``eta``.

        Returns
        -------
        d0, d1, d2, d3 : ndarray
            Arrays of the length of ``eta``.
        """
        raise NotImplementedError

    def logpdf(self, y, eta, extra):
        """
        Per-observation log-density with all normalising constants (what
        quadrature nodes need when no gradient is wanted; families may compute
        it more cheaply than :meth:`derivs`).
        """
        return self.derivs(y, eta, extra)[0]

    def d4(self, y, eta, extra):
        """
        Fourth derivative of the log-density in ``eta``, or None when the family
        does not provide it.  With it, the fixed-effects block of the Laplace
        Hessian is computed in closed form (see :mod:`.laplace_hessian`);
        without it, by differences of the gradient.

        >>> from statsmodels_glmm.families import Poisson
        >>> Poisson().d4(np.array([1.0]), np.array([0.0]), None).tolist()
        [-1.0]
        >>> Response().d4(np.array([1.0]), np.array([0.0]), None) is None
        True
        """
        return None

    def has_d4(self):
        """
        True when :meth:`d4` gives numbers, probed on one response value at
        ``eta = 0``; families whose ``d4`` needs more than that override it.

        >>> from statsmodels_glmm.families import Poisson
        >>> Poisson().has_d4(), Response().has_d4()
        (True, False)
        """
        y = np.zeros((1, 2)) if self.name == "Binomial" else np.zeros(1)
        if self.name == "Binomial":
            y[0, 1] = 1.0
        try:
            return self.d4(y, np.zeros(1), np.zeros(self.n_extra)) is not None
        except Exception:  # a d4 that cannot run on this probe
            return False

    def extra_derivs(self, y, eta, extra):
        """
        Derivatives of ``d0, d1, d2`` with respect to the internal family
        parameters, each an ``(n, n_extra)`` array.

        The default uses central differences observation by observation
        (cheap: no random-effect modes are re-solved); subclasses may
        override with closed forms.
        """
        k = self.n_extra
        n = len(eta)
        out = [np.zeros((n, k)) for _ in range(3)]
        extra = np.asarray(extra, dtype=float)
        for j in range(k):
            h = 1e-5 * max(1.0, abs(extra[j]))
            e = np.zeros(k)
            e[j] = h
            plus = self.derivs(y, eta, extra + e)
            minus = self.derivs(y, eta, extra - e)
            for m in range(3):
                out[m][:, j] = (plus[m] - minus[m]) / (2 * h)
        return tuple(out)

    def logpdf_d1(self, y, eta, extra):
        """Log-density and its first derivative only (quadrature nodes need no more)."""
        return self.derivs(y, eta, extra)[:2]

    # ----------------------------------------------------------- prediction
    def predict_which(self, eta, extra, which, extras=None):
        """
        A prediction on the response scale: ``"mean"`` here; families add more
        (count probabilities, category probabilities, ...).
        """
        if which == "mean":
            return self.mean(eta, extra)
        raise ValueError(f"which={which!r} is not available for {self.name}; use 'mean' "
                         "or 'linear'")

    def mean(self, eta, extra):
        """Conditional mean of the response (per trial for binomial data)."""
        raise NotImplementedError

    def variance(self, mu, extra):
        """Conditional variance as a function of the mean (per trial)."""
        raise NotImplementedError

    def response_value(self, y):
        """The observed response on the scale of :meth:`mean`."""
        return np.asarray(y, dtype=float)

    def weights(self, y):
        """Prior weights used for Pearson residuals (trials for binomial)."""
        return np.ones(len(y))

    def deviance_resid(self, y, eta, extra):
        """Signed deviance residuals, ``sign(y - mu) sqrt(2 (l_sat - l))``."""
        raise NotImplementedError

    def simulate(self, eta, extra, y_template, rng):
        """Draw responses given the linear predictor."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(link={self.link_name!r})"
