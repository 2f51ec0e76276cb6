"""
compare_gee: statsmodels' GEE on the GLMM's data against geepack, and the table.
"""

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.marginal.gee import fit_gee

from conftest import load_dataset, load_ref, r_name, ref_fixed

B, P = sm.families.Binomial(), sm.families.Poisson()

CASES = [
    ("toenail", "outcome_bin ~ treatment * time", "patientID", B),
    ("epil", "y ~ lbase * trt + lage + V4", "subject", P),
    ("bacteria", "y_bin ~ trt + week_gt2", "ID", B),
]


@pytest.fixture(scope="module")
def fits():
    out = {}
    for name, formula, g, fam in CASES:
        df = load_dataset(name)
        res = smg.mixedglm(f"{formula} + (1 | {g})", df, family=fam).fit()
        out[name] = (df, res, smg.compare_gee(res))
    return out


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_gee_reproduces_geepack(fits, name):
    df, res, cmp = fits[name]
    ref_json = load_ref(f"{name}__gee_exch")
    ref = ref_fixed(ref_json)
    tab = cmp.table.rename(index=r_name).join(ref[["estimate", "se"]], how="inner")
    assert len(tab) == len(ref)
    np.testing.assert_allclose(tab["gee"], tab["estimate"], atol=5e-4, rtol=0)
    np.testing.assert_allclose(tab["gee_robust_se"], tab["se"], rtol=0.01)
    # the two moment estimators of the exchangeable correlation differ slightly
    assert abs(float(cmp.working_correlation) - ref_json["correlation"]["alpha"]) < 0.005


def test_statsmodels_gee_on_original_data(fits):
    """Our rows/groups/family give the same fit as calling smf.gee on the data frame."""
    df, res, cmp = fits["toenail"]
    direct = sm.GEE.from_formula("outcome_bin ~ treatment * time", groups="patientID", data=df,
                                 family=sm.families.Binomial(),
                                 cov_struct=sm.cov_struct.Exchangeable()).fit()
    np.testing.assert_allclose(cmp.table["gee"], direct.params, atol=1e-8)
    np.testing.assert_allclose(cmp.table["gee_robust_se"], direct.bse, rtol=1e-6)
    assert abs(float(cmp.working_correlation) - 0.4212) < 5e-5


def test_table_columns_and_ratios(fits):
    df, res, cmp = fits["toenail"]
    t = cmp.table
    assert t.columns.tolist() == ["conditional", "conditional_se", "marginalised",
                                  "marginalised_se", "gee", "gee_robust_se"]
    np.testing.assert_allclose(t["conditional"], res.fe_params)
    np.testing.assert_allclose(t["conditional_se"], res.bse_fe)
    np.testing.assert_allclose(cmp.ratios["gee OR"], np.exp(t["gee"]))
    np.testing.assert_allclose(cmp.ratios["conditional lower"],
                               res.odds_ratios()["Lower CI"], rtol=1e-10)
    text = str(cmp.summary())
    assert "Exchangeable" in text and "marginalised" in text
    # the marginalised coefficients land near GEE, the conditional ones far from it
    d_m = np.abs(t["marginalised"] - t["gee"]) / t["gee_robust_se"]
    d_c = np.abs(t["conditional"] - t["gee"]) / t["gee_robust_se"]
    assert d_m.max() < 2 and d_c.max() > 3
    _, _, cmp_p = fits["epil"]
    assert cmp_p.ratios.columns[0] == "conditional RR"


def test_independence_equals_glm(fits):
    df, res, _ = fits["bacteria"]
    g = fit_gee(res, cov_struct=sm.cov_struct.Independence())
    glm = sm.GLM.from_formula("y_bin ~ trt + week_gt2", data=df,
                              family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(g.params, glm.params, atol=1e-7)


def test_binomial_trials_expanded_to_bernoulli():
    df = load_dataset("cbpp")
    res = smg.mixedglm("incidence + non_incidence ~ period + (1 | herd)", df, family=B).fit()
    g = fit_gee(res, cov_struct=sm.cov_struct.Independence())
    glm = sm.GLM.from_formula("incidence + non_incidence ~ period", data=df,
                              family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(g.params, glm.params, atol=1e-7)
    assert g.nobs == df["size"].sum()


def test_bad_cov_struct(fits):
    _, res, _ = fits["bacteria"]
    with pytest.raises(ValueError, match="cov_struct"):
        smg.compare_gee(res, cov_struct="exchangeable")


@pytest.mark.parametrize("name", ["toenail", "epil"])
def test_printed_summary_fits_100_columns_and_shows_every_number(fits, name):
    _, _, cmp = fits[name]
    lines = str(cmp).splitlines()
    assert max(len(ln) for ln in lines) <= 100
    assert str(cmp.summary()) == str(cmp)
    lab = cmp.ratio_label
    for term, row in cmp.table.iterrows():
        at = [i for i, ln in enumerate(lines) if ln.startswith(f"{term} ")]
        assert len(at) == 2, term            # one line in each block
        coef = [float(v) for v in lines[at[0]][len(term):].split()]
        np.testing.assert_allclose(coef, row.to_numpy(), atol=0.5e-4 + 1e-12)
        ratio = [float(v) for v in lines[at[1]][len(term):].split()]
        below = [float(v) for v in lines[at[1] + 1].replace("(", " ").replace(")", " ")
                 .replace(",", " ").split()]
        r = cmp.ratios.loc[term]
        keys = ["conditional", "marginalised", "gee"]
        np.testing.assert_allclose(ratio, [r[f"{k} {lab}"] for k in keys], atol=0.5e-4 + 1e-12)
        np.testing.assert_allclose(below, [r[f"{k} {b}"] for k in keys for b in ("lower", "upper")],
                                   atol=0.5e-4 + 1e-12)
    html = cmp.summary().as_html()
    assert html.count("<table") == 3 and "Exchangeable" in html


# ------------------------------------------------------------ several grouping factors
@pytest.fixture(scope="module")
def nested():
    df = load_dataset("sim_nested")
    df = df[df["clinic"] <= 12].reset_index(drop=True)
    df["obs"] = np.arange(len(df))
    return df


def _hand_gee(df, y, groups, fam):
    return sm.GEE.from_formula(f"{y} ~ time + treat", groups=groups, data=df, family=fam,
                               cov_struct=sm.cov_struct.Exchangeable()).fit()


def test_nested_model_clusters_on_outermost_factor(nested):
    res = smg.mixedglm("ycount ~ time + treat + (1 | clinic) + (1 | clinic:patient)", nested,
                       family=P).fit()
    cmp = smg.compare_gee(res)
    hand = _hand_gee(nested, "ycount", "clinic", P)
    assert cmp.gee_results.model.num_group == 12 == nested["clinic"].nunique()
    np.testing.assert_allclose(cmp.table["gee"], hand.params, rtol=0, atol=1e-8)
    np.testing.assert_allclose(cmp.table["gee_robust_se"], hand.bse, rtol=0, atol=1e-8)
    np.testing.assert_allclose(float(cmp.working_correlation),
                               float(hand.model.cov_struct.dep_params), rtol=0, atol=1e-8)
    assert "GEE clusters:" in str(cmp) and "12 (clinic)" in str(cmp)


def test_nested_slash_syntax_clusters_on_outermost_factor(nested):
    res = smg.mixedglm("ybin ~ time + treat + (1 | clinic/patient)", nested, family=B).fit()
    hand = _hand_gee(nested, "ybin", "clinic", B)
    g = fit_gee(res)
    np.testing.assert_allclose(g.params, hand.params, rtol=0, atol=1e-8)
    np.testing.assert_allclose(g.bse, hand.bse, rtol=0, atol=1e-8)


def test_observation_level_term_keeps_the_subject_clusters(nested):
    res = smg.mixedglm("ycount ~ time + treat + (1 | clinic) + (1 | obs)", nested,
                       family=P).fit()
    g = fit_gee(res)
    hand = _hand_gee(nested, "ycount", "clinic", P)
    assert g.model.num_group == 12
    np.testing.assert_allclose(g.params, hand.params, rtol=0, atol=1e-8)
    np.testing.assert_allclose(g.bse, hand.bse, rtol=0, atol=1e-8)


def test_crossed_factors_are_refused_naming_them():
    df = load_dataset("sim_crossed")
    df = df[(df["subj"] <= 20) & (df["item"] % 2 == 0)]
    res = smg.mixedglm("y ~ x + cond + (1 | subj) + (1 | item)", df, family=P).fit()
    msg = r"compare_gee.*'subj' and 'item' are crossed.*res\.marginal_params\(\)"
    with pytest.raises(ValueError, match=msg):
        smg.compare_gee(res)
    with pytest.raises(ValueError, match=msg):
        fit_gee(res)


def test_ordinal_family_is_refused_naming_compare_gee_and_family():
    df = load_dataset("sim_ordinal_small")
    res = smg.mixedglm("y ~ time + stress + (1 | id)", df, family=smg.families.Ordinal()).fit()
    with pytest.raises(ValueError, match=r"compare_gee.*Ordinal family.*which='prob'"):
        smg.compare_gee(res)
