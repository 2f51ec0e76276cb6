"""
Response families of statsmodels-glmm.

Users pass statsmodels' own family objects (``sm.families.Binomial()``,
``sm.families.Poisson()``, ``sm.families.Gaussian()``) or the families this
package adds; :func:`as_response` turns either into the :class:`Response`
the likelihood code works with.
"""

import statsmodels.api as sm

from .base import Response
from .standard import Binomial, Gaussian, Poisson
from .negbin import NegativeBinomial
from .ordinal import Ordinal

__all__ = ["Response", "Binomial", "Poisson", "Gaussian", "NegativeBinomial", "Ordinal",
           "as_response"]


def as_response(family):
    """
    Turn a statsmodels family (or one of ours) into a :class:`Response`.

    Parameters
    ----------
    family : statsmodels.genmod.families.Family or Response

    Returns
    -------
    Response

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> as_response(sm.families.Poisson())
    Poisson(link='log')
    """
    if isinstance(family, Response):
        return family
    if isinstance(family, type):
        family = family()
    fams = sm.families
    if isinstance(family, fams.Binomial):
        return Binomial(link=family.link)
    if isinstance(family, fams.Poisson):
        return Poisson(link=family.link)
    if isinstance(family, fams.NegativeBinomial):
        # statsmodels fixes alpha; here NB2 alpha is estimated, started at the given value
        return NegativeBinomial(p=2, link=family.link, alpha=family.alpha)
    if isinstance(family, fams.Gaussian):
        return Gaussian(link=family.link)
    raise ValueError(
        f"family {type(family).__name__} is not supported; use Binomial, Poisson or "
        "Gaussian from statsmodels, or a family from statsmodels_glmm.families")
