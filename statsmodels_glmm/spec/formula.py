"""
Split an lme4-style formula into its fixed part and random-effect terms.

``"y ~ time * group + (1 + time | id)"`` becomes the fixed formula
``"y ~ time * group"`` and one random term ``RandomTerm("1 + time", "id",
correlated=True)``.  Everything outside the bar terms is left to statsmodels'
formula engine (patsy or formulaic).  Supported bar terms: ``(expr | g)``,
``(expr || g)`` (uncorrelated terms) and ``(expr | g1/g2)`` (nested, expanded
to ``g1`` and ``g1:g2``).  A term ``offset(expr)`` of the fixed part (the R
spelling of an offset) is taken out of it by :func:`split_offset_terms`.
"""

import re
from dataclasses import dataclass

__all__ = ["RandomTerm", "split_formula", "re_formula_terms", "split_offset_terms"]


@dataclass(frozen=True)
class RandomTerm:
    """
    One random-effect term: a model expression varying by a grouping factor.

    Attributes
    ----------
    expr : str
        Right-hand side evaluated for the random-effects design, e.g. ``"1 + time"``.
    group : str
        Name of the grouping column (``"g1:g2"`` for an interaction of two).
    correlated : bool
        False for ``||`` terms: each formula term then gets its own variance
        and no correlations with the others.

    Examples
    --------
    >>> str(RandomTerm("1 + time", "id", correlated=False))
    '(1 + time || id)'
    """

    expr: str
    group: str
    correlated: bool = True

    def __str__(self):
        bar = "|" if self.correlated else "||"
        return f"({self.expr} {bar} {self.group})"


def _find_bar_terms(rhs):
    """Return [(start, end)] spans of parenthesised groups that contain a bar."""
    spans = []
    depth = 0
    start = None
    for i, ch in enumerate(rhs):
        if ch == "(":
            if depth == 0:
                start = i
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced parentheses in formula: {rhs!r}")
            if depth == 0 and "|" in rhs[start + 1:i]:
                spans.append((start, i + 1))
    if depth != 0:
        raise ValueError(f"unbalanced parentheses in formula: {rhs!r}")
    return spans


def _parse_bar(inner):
    correlated = "||" not in inner
    sep = "|" if correlated else "||"
    expr, _, group = inner.partition(sep)
    expr, group = expr.strip(), group.strip()
    if not expr or not group:
        raise ValueError(f"random-effect term '({inner})' needs an expression and a group, "
                         "as in (1 + time | id)")
    if "|" in group:
        raise ValueError(f"random-effect term '({inner})' has more than one bar")
    groups = [g.strip() for g in group.split("/")]
    if any(not g for g in groups):
        raise ValueError(f"bad nesting in random-effect term '({inner})'")
    out = []
    for k in range(len(groups)):
        out.append(RandomTerm(expr, ":".join(groups[:k + 1]), correlated))
    return out


def split_formula(formula):
    """
    Split ``"y ~ fixed + (re | g)"`` into the fixed formula and random terms.

    Parameters
    ----------
    formula : str

    Returns
    -------
    fixed : str
        The formula without bar terms (``"y ~ 1"`` if nothing else is left).
    terms : list of RandomTerm

    Examples
    --------
    >>> fixed, terms = split_formula("y ~ time * group + (1 + time | id)")
    >>> fixed
    'y ~ time * group'
    >>> terms
    [RandomTerm(expr='1 + time', group='id', correlated=True)]
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError("formula must be a string of the form 'y ~ x + (1 | g)'")
    lhs, _, rhs = formula.partition("~")
    spans = _find_bar_terms(rhs)
    terms = []
    pieces = []
    last = 0
    for a, b in spans:
        pieces.append(rhs[last:a])
        terms.extend(_parse_bar(rhs[a + 1:b - 1]))
        last = b
    pieces.append(rhs[last:])
    fixed_rhs = " ".join(pieces)
    if "|" in fixed_rhs:
        raise ValueError(f"formula {formula!r} has a bar outside parentheses; random-effect "
                         "terms need parentheses, as in 'y ~ time + (1 | person)'")
    # tidy the '+' left behind where bar terms were removed
    parts = [p.strip() for p in fixed_rhs.split("+")]
    parts = [p for p in parts if p]
    fixed_rhs = " + ".join(parts) if parts else "1"
    if fixed_rhs.lstrip().startswith("-"):
        fixed_rhs = "1 " + fixed_rhs
    return f"{lhs.strip()} ~ {fixed_rhs}", terms


def re_formula_terms(re_formula, groups):
    """
    Random terms for the statsmodels spelling ``groups="id", re_formula="~time"``.

    Examples
    --------
    >>> re_formula_terms("~time", "id")
    [RandomTerm(expr='time', group='id', correlated=True)]
    >>> re_formula_terms(None, "id")
    [RandomTerm(expr='1', group='id', correlated=True)]
    """
    if re_formula is None:
        expr = "1"
    else:
        expr = str(re_formula).strip()
        if expr.startswith("~"):
            expr = expr[1:].strip()
        if not expr:
            raise ValueError("re_formula must name at least one term, e.g. '~1' or '~time'")
    return [RandomTerm(expr, str(groups), True)]


_OFFSET_CALL = re.compile(r"(?<![\w.])offset\s*\(")


def _top_level_terms(rhs):
    """Spans ``(start, end)`` of the ``+``-separated pieces of ``rhs`` outside parentheses."""
    spans, depth, start = [], 0, 0
    for i, ch in enumerate(rhs):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "+" and depth == 0:
            spans.append((start, i))
            start = i + 1
    spans.append((start, len(rhs)))
    return spans


def split_offset_terms(fixed):
    """
    Take the ``offset(expr)`` terms out of a fixed-effects formula.

    ``offset(expr)`` adds the values of ``expr`` to the linear predictor with
    a coefficient fixed at one, as in R; it must be a term of its own (joined
    to the others by ``+``).

    Parameters
    ----------
    fixed : str
        ``"y ~ x + offset(np.log(t))"``.

    Returns
    -------
    fixed : str
        The formula without the offset terms (``"y ~ 1"`` if nothing is left).
    offsets : list of str
        The expressions inside ``offset(...)``, in formula order.

    Examples
    --------
    >>> split_offset_terms("y ~ time + offset(np.log(exposure)) + group")
    ('y ~ time + group', ['np.log(exposure)'])
    >>> split_offset_terms("y ~ x")
    ('y ~ x', [])
    """
    lhs, sep, rhs = fixed.partition("~")
    if not _OFFSET_CALL.search(rhs):
        return fixed, []
    keep, offsets = [], []
    for a, b in _top_level_terms(rhs):
        piece = rhs[a:b].strip()
        m = _OFFSET_CALL.match(piece)
        if m and piece.endswith(")") and _balanced(piece[m.end():-1]):
            expr = piece[m.end():-1].strip()
            if not expr:
                raise ValueError(f"offset() in formula {fixed!r} needs an expression, "
                                 "e.g. offset(np.log(exposure))")
            offsets.append(expr)
        elif _OFFSET_CALL.search(piece):
            raise ValueError(f"offset(...) in formula {fixed!r} must be a term of its own, "
                             "added with '+' (as in 'y ~ x + offset(np.log(t))'), not "
                             f"part of {piece!r}")
        elif piece:
            keep.append(piece)
    rest = " + ".join(keep) if keep else "1"
    if rest.lstrip().startswith("-"):
        rest = "1 " + rest
    return f"{lhs.strip()} ~ {rest}", offsets


def _balanced(text):
    """Whether the parentheses of ``text`` never close more than they opened, and all close."""
    depth = 0
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return False
    return depth == 0
