"""R formulas through formulaic in matchit, weightit and att_gt: each term against the same model written
with the term's columns computed by hand (an independent design matrix), and errors that name the term."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.did import att_gt
from analysis.did.drdid import DiDError
from analysis.formulas import FormulaError, design, parse, straight
from analysis.matching import matchit, weightit
from analysis.matching.propensity import MatchingError

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def lalonde():
    d = pd.read_csv(DATA / "lalonde.csv")
    d["race"] = np.where(d.black == 1, "black", np.where(d.hispan == 1, "hispan", "white"))
    return d


def test_design_columns_are_the_terms_computed_by_hand(lalonde):
    rhs = parse("~ age + I(age^2) + C(race) + married:re74 + nodegree * educ", "f")
    assert rhs.variables == ("age", "race", "married", "re74", "nodegree", "educ")
    X = design(lalonde, rhs, "f")
    want = pd.DataFrame({
        "age": lalonde.age, "I(age ** 2)": lalonde.age ** 2,
        "racehispan": (lalonde.race == "hispan") * 1.0, "racewhite": (lalonde.race == "white") * 1.0,
        "nodegree": lalonde.nodegree, "educ": lalonde.educ,
        "married:re74": lalonde.married * lalonde.re74, "nodegree:educ": lalonde.nodegree * lalonde.educ,
    }).astype(float)
    pd.testing.assert_frame_equal(X.sort_index(axis=1), want.sort_index(axis=1), check_dtype=False)
    # balance tables: every level of a categorical; R's ^ and Python's ** are the same power inside I()
    assert {"raceblack", "racehispan", "racewhite"} <= set(design(lalonde, rhs, "f", all_levels=True).columns)
    np.testing.assert_array_equal(design(lalonde, parse("I(age**2)", "f"), "f").to_numpy(),
                                  design(lalonde, parse("I(age^2)", "f"), "f").to_numpy())
    # another reference level, named like the default's levels
    other = design(lalonde, parse("C(race, contr.treatment(base='white'))", "f"), "f")
    assert list(other.columns) == ["raceblack", "racehispan"]


def test_matchit_with_a_squared_term_equals_the_hand_built_column(lalonde):
    d = lalonde.assign(age2=lalonde.age.astype(float) ** 2)
    a = matchit("treat ~ age + I(age^2) + educ + race + re74", d, ratio=1)
    b = matchit("treat ~ age + age2 + educ + race + re74", d, ratio=1)
    np.testing.assert_allclose(a.distance.to_numpy(), b.distance.to_numpy(), rtol=1e-10)
    pd.testing.assert_frame_equal(a.match_matrix, b.match_matrix)
    # the balance table shows each model term as MatchIt does
    s = a.summary().sum_all
    assert "I(age ** 2)" in s.index
    assert s.loc["I(age ** 2)", "Means Treated"] == pytest.approx(d.age2[d.treat == 1].mean())


def test_weightit_takes_what_ifs_propensity_model(lalonde):
    """The form of Hernan and Robins' What If, Program 12.2 (quadratics and a categorical), on lalonde's
    columns: refused by the hand parser before, now the same weights as the hand-built columns."""
    f = "treat ~ age + I(age^2) + educ + I(educ^2) + C(race) + married + re74 + I(re74^2)"
    d = lalonde.assign(age2=lalonde.age ** 2.0, educ2=lalonde.educ ** 2.0, re742=lalonde.re74 ** 2.0)
    a = weightit(f, d, estimand="ATE")
    b = weightit("treat ~ age + age2 + educ + educ2 + C(race) + married + re74 + re742", d, estimand="ATE")
    np.testing.assert_allclose(a.weights.to_numpy(), b.weights.to_numpy(), rtol=1e-8)


def test_att_gt_xformla_with_a_squared_term_equals_the_hand_built_column():
    mpdta = pd.read_csv(DATA / "did_reference" / "mpdta.csv").assign(lpop2=lambda x: x.lpop ** 2)
    kw = dict(yname="lemp", tname="year", idname="countyreal", gname="first.treat", bstrap=False, cband=False)
    a = att_gt(mpdta, xformla="~ lpop + I(lpop^2)", **kw)
    b = att_gt(mpdta, xformla="~ lpop + lpop2", **kw)
    np.testing.assert_allclose(a.att, b.att, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.se, b.se, rtol=1e-7)


def _quadratic_trend_panel(n: int = 2000, seed: int = 17) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A noiseless panel, periods 1-5, groups 3, 4 and never treated (0). Untreated outcomes
    y_it(0) = a_i + lambda_t + t * (0.5 x_i + 0.3 x_i^2): each unit's trend is quadratic in x, so parallel
    trends hold given (x, x^2) and not given x alone; treatment is more likely for large x and x^2 (the
    groups differ in x). Effects known: ATT(g,t) = 1 + 0.5 (t - g) + 0.1 g from t = g on, 0 before."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    treated = rng.random(n) < 1 / (1 + np.exp(1.0 - 0.8 * x - 0.4 * x ** 2))
    g = np.where(treated, np.where(rng.random(n) < 0.5, 3, 4), 0)
    a, lam = rng.normal(size=n), [0.0, 0.4, -0.2, 0.7, 1.1]
    d = pd.concat([pd.DataFrame({
        "id": np.arange(n), "t": t, "g": g, "x": x,
        "y": a + lam[t - 1] + t * (0.5 * x + 0.3 * x ** 2) + _tau(g, t),
    }) for t in range(1, 6)], ignore_index=True)
    return d, x, g


def _tau(g, t):
    g, t = np.asarray(g), np.asarray(t)
    return np.where((g > 0) & (t >= g), 1.0 + 0.5 * (t - g) + 0.1 * g, 0.0)


@pytest.mark.parametrize("square", ["I(x**2)", "I(x^2)"])
@pytest.mark.parametrize("est_method", ["reg", "dr"])
def test_att_gt_xformla_with_a_square_recovers_att_under_quadratic_trends(square, est_method):
    """With ``~ x + I(x^2)`` the outcome model of the comparison group's change is exact (no noise), so
    reg and dr return every ATT(g,t) exactly, pre-periods 0; with ``~ x`` alone they do not."""
    d, _, _ = _quadratic_trend_panel()
    kw = dict(yname="y", tname="t", idname="id", gname="g", est_method=est_method, bstrap=False, cband=False)
    r = att_gt(d, xformla=f"~ x + {square}", **kw)
    assert len(r.att) == 8  # groups 3 and 4, periods 2-5 (varying base period)
    np.testing.assert_allclose(r.att, _tau(r.group, r.t), rtol=0, atol=1e-10)
    # omitting x^2: the bias is visible in every cell, pre-periods included
    short = att_gt(d, xformla="~ x", **kw)
    assert np.abs(short.att - _tau(short.group, short.t)).min() > 0.2


def test_att_gt_xformla_without_the_square_has_the_omitted_variable_bias():
    """Outcome regression with ``~ x`` only: each cell is off by exactly the part of 0.3 x^2 that a line
    in x fitted on the never treated does not predict for group g, once for each period between the base
    period and t (base t - 1 before g, g - 1 from g on)."""
    d, x, g = _quadratic_trend_panel()
    r = att_gt(d, "y", "t", "id", "g", xformla="~ x", est_method="reg", bstrap=False, cband=False)
    c = g == 0
    slope, intercept = np.polyfit(x[c], x[c] ** 2, 1)
    per_period = {gg: 0.3 * (np.mean(x[g == gg] ** 2) - intercept - slope * np.mean(x[g == gg]))
                  for gg in (3, 4)}
    base = np.where(r.t < r.group, r.t - 1, r.group - 1)
    bias = np.array([per_period[gg] for gg in r.group]) * (r.t - base)
    np.testing.assert_allclose(r.att, _tau(r.group, r.t) + bias, rtol=0, atol=1e-10)
    assert min(per_period.values()) > 0.3


def test_formula_errors_name_the_term(lalonde):
    with pytest.raises(MatchingError, match=r"term 'foo\(age\)' uses 'foo'"):
        matchit("treat ~ age + foo(age)", lalonde)
    with pytest.raises(MatchingError, match=r"term 'shoe' uses 'shoe', which is not a column"):
        weightit("treat ~ age + shoe", lalonde)
    with pytest.raises(MatchingError, match=r"cannot be read"):
        matchit("treat ~ age +", lalonde)
    with pytest.raises(MatchingError, match=r"always has an intercept"):
        matchit("treat ~ age - 1", lalonde)
    with pytest.raises(MatchingError, match=r"left-hand side must be one column"):
        matchit("treat + age ~ educ", lalonde)
    mpdta = pd.read_csv(DATA / "did_reference" / "mpdta.csv")
    with pytest.raises(DiDError, match=r"xformla: term 'np.log\(zz\)' uses 'zz'"):
        att_gt(mpdta, "lemp", "year", "countyreal", "first.treat", xformla="~ lpop + np.log(zz)")
    with pytest.raises(FormulaError, match=r"f 'x \*\* ': cannot be read|cannot be read"):
        parse("x ** ", "f")


def test_the_columns_inside_stateful_transforms_are_read(lalonde):
    """formulaic's required_variables leaves out the argument of poly, bs and cr; the parse reads it, so a
    missing column is an error naming it rather than a failure inside the model matrix."""
    rhs = parse("~ poly(age, 3) + bs(educ, df=3) + cr(re74, df=3) + np.log(re75 + 1) + C(race, contr.treatment(base=2))",
                "f")
    assert rhs.variables == ("age", "educ", "re74", "re75", "race")
    with pytest.raises(FormulaError, match=r"term 'poly\(shoe, 2\)' uses 'shoe', which is not a column"):
        design(lalonde, parse("~ age + poly(shoe, 2)", "f"), "f")
    # the same covariates as straight lines: a curved term becomes its columns, a categorical stays
    assert straight(["married", "poly(age, 3)", "C(race)", "I(educ^2)", "educ:age"], "f") == (
        "married", "age", "C(race)", "educ")
