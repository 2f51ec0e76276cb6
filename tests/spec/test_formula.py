import pytest

from statsmodels_glmm.spec.formula import RandomTerm, re_formula_terms, split_formula


@pytest.mark.parametrize("formula,fixed,terms", [
    ("y ~ x + (1 | g)", "y ~ x", [RandomTerm("1", "g")]),
    ("y ~ (x | g) + x", "y ~ x", [RandomTerm("x", "g")]),
    ("y ~ x * z + (1 + x | g)", "y ~ x * z", [RandomTerm("1 + x", "g")]),
    ("y ~ x + (0 + x | g)", "y ~ x", [RandomTerm("0 + x", "g")]),
    ("y ~ x + (1 + x || g)", "y ~ x", [RandomTerm("1 + x", "g", False)]),
    ("y ~ (1 | g)", "y ~ 1", [RandomTerm("1", "g")]),
    ("y ~ x + (1 | a/b)", "y ~ x", [RandomTerm("1", "a"), RandomTerm("1", "a:b")]),
    ("a + b ~ I(x ** 2) + np.log(z) + (1 | g)", "a + b ~ I(x ** 2) + np.log(z)",
     [RandomTerm("1", "g")]),
    ("y ~ x + (1 | g) + (0 + x | g)", "y ~ x", [RandomTerm("1", "g"), RandomTerm("0 + x", "g")]),
])
def test_split(formula, fixed, terms):
    f, t = split_formula(formula)
    assert f == fixed
    assert t == terms


@pytest.mark.parametrize("bad", ["y ~ x + (1 | )", "y ~ x + ( | g)", "y x", "y ~ (x | g",
                                 "y ~ x + (1 | g | h)"])
def test_bad_formulas(bad):
    with pytest.raises(ValueError):
        split_formula(bad)


def test_re_formula_terms():
    assert re_formula_terms("~ 1 + time", "id") == [RandomTerm("1 + time", "id")]
    assert re_formula_terms(None, "id") == [RandomTerm("1", "id")]
    with pytest.raises(ValueError, match="re_formula"):
        re_formula_terms("~", "id")
