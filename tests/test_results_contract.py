"""One results contract: every estimator's ``summary()`` is a ``Summary`` (its text the R-style print, its
tables rendered as HTML and LaTeX), and the estimators with coefficients share ``params``, ``std_errors``,
``cov``, ``conf_int`` and the ``tidy`` columns. Small public data (MPDTA, lalonde), each result built once."""

from __future__ import annotations

from html import escape as html_escape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.causal.dowhy_checks import dowhy_analysis
from analysis.causal.sensitivity import e_value, event_study_inputs, honest_did
from analysis.did import aggte, att_gt, did_2x2, negative_weights, poisson_etwfe, stacked_did
from analysis.did.results import TIDY_COLUMNS
from analysis.did.twfe import twfe
from analysis.matching import matchit, weightit
from analysis.summary import Summary

DATA = Path(__file__).parent / "data"
MPDTA = pd.read_csv(DATA / "did_reference" / "mpdta.csv")
ARGS = ("lemp", "year", "countyreal", "first.treat")


def _mpdta_stacks() -> pd.DataFrame:
    """MPDTA as stacked sub-experiments: each cohort with the never-treated counties, weights 1."""
    never = MPDTA[MPDTA["first.treat"] == 0]
    return pd.concat([pd.concat([MPDTA[MPDTA["first.treat"] == g], never]).assign(
        sub_experiment=g, treated=lambda d, g=g: (d["first.treat"] == g).astype(int),
        event_time=lambda d, g=g: d.year - g, weights=1.0) for g in (2004, 2006, 2007)])


def _lalonde() -> pd.DataFrame:
    d = pd.read_csv(DATA / "lalonde.csv")
    d["race"] = np.where(d.black == 1, "black", np.where(d.hispan == 1, "hispan", "white"))
    return d


@pytest.fixture(scope="module")
def results() -> dict:
    res = att_gt(MPDTA, *ARGS, bstrap=False, cband=False, base_period="universal")
    dyn = aggte(res, "dynamic", bstrap=False, cband=False)
    out = {"att_gt": res, "aggte_dynamic": dyn, "aggte_group": aggte(res, "group", bstrap=False, cband=False),
           "twfe": twfe(MPDTA, *ARGS), "twfe_event_study": twfe(MPDTA, *ARGS, event_study=True, leads=3, lags=3),
           "poisson_etwfe": poisson_etwfe(MPDTA.assign(emp=np.exp(MPDTA.lemp)), "emp", "year", "countyreal",
                                          "first.treat"),
           "stacked_did": stacked_did(_mpdta_stacks(), "lemp", idname="countyreal"),
           "did_2x2": did_2x2(MPDTA[MPDTA["first.treat"].isin([0, 2006])].assign(
               treated=lambda d: (d["first.treat"] > 0).astype(int), weights=1.0, subclass=lambda d: d.countyreal),
               "lemp", idname="countyreal", pre=2005, post=2007)}
    out["honest_did"] = honest_did(*event_study_inputs(dyn), method="relative_magnitudes", Mvec=[0.5, 1.0])
    out["e_value"] = e_value(0.2, 0.05, 0.35, sd=1.0)
    lalonde = _lalonde()
    nw_panel = MPDTA[MPDTA["first.treat"].isin([2004, 2006, 2007])]  # no never-treated: some weights negative
    out["negative_weights"] = negative_weights(nw_panel, *ARGS)
    rng = np.random.default_rng(3)
    x = rng.normal(size=300)
    frame = pd.DataFrame({"x": x, "treated": (rng.random(300) < 1 / (1 + np.exp(-x))).astype(int)})
    frame["y_change"] = frame.treated + 2 * x + rng.normal(size=300)
    out["dowhy"] = dowhy_analysis(frame, "treated", "y_change", ["x"], graph=False,
                                  refuters=("placebo_treatment_refuter",), simulations=5)
    out["matchit"] = matchit("treat ~ age + educ + C(race) + married", lalonde, caliper=0.2)
    out["weightit"] = weightit("treat ~ age + educ + C(race) + married", lalonde, estimand="ATT")
    return out


ESTIMATORS = ["att_gt", "aggte_dynamic", "aggte_group", "twfe", "twfe_event_study", "poisson_etwfe", "stacked_did",
              "did_2x2"]


@pytest.mark.parametrize("name", [*ESTIMATORS, "honest_did", "e_value", "negative_weights", "dowhy", "matchit",
                                  "weightit"])
def test_summary_is_one_object_with_text_html_and_latex(results, name):
    s = results[name].summary()
    assert isinstance(s, Summary)
    assert s.as_text() == str(s) and len(s.as_text()) > 40
    assert s.tables and all(isinstance(t, pd.DataFrame) and len(t) for t in s.tables.values())
    html = s.as_html()
    assert html.count("<table") == len(s.tables) and s._repr_html_() == html
    assert all(html_escape(title) in html for title in s.tables)
    assert s.as_latex().count("\\begin{tabular}") == len(s.tables)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimators_share_params_cov_conf_int_and_tidy(results, name):
    r = results[name]
    params, se = r.params, r.std_errors
    assert params.index.equals(se.index) and r.cov.index.equals(params.index)
    ok = np.isfinite(se.to_numpy())
    np.testing.assert_allclose(np.sqrt(np.diag(r.cov.to_numpy())[ok]), se.to_numpy()[ok], rtol=1e-10)
    for level in (0.9, 0.95):
        ci = r.conf_int(level=level)
        assert list(ci.columns) == ["lower", "upper"]
        np.testing.assert_allclose((ci.upper - ci.lower).to_numpy()[ok],
                                   2 * se.to_numpy()[ok] * {0.9: 1.6448536269514722, 0.95: 1.959963984540054}[level])
    t = r.tidy()
    assert list(t.columns[: len(TIDY_COLUMNS)]) == list(TIDY_COLUMNS)
    assert isinstance(r.nobs, int) and r.nobs > 0


def test_checks_and_headlines_tidy_to_the_same_columns():
    """Refutation checks and headline choices are typed records whose ``tidy`` starts with the same columns;
    a range headline has no estimate, a check without statistics none either, and nothing is dropped."""
    from analysis.causal.refutation import tidy_checks
    from analysis.did.headline import tidy_headlines

    checks = [{"name": "pretest", "design": "cs", "passed": True, "meaning": "m", "estimate": 2.0,
               "std_error": 0.5, "p_value": 0.3, "conf_low": 1.0, "conf_high": 3.0},
              {"name": "dowhy_identification", "design": "published", "passed": False, "meaning": "not computed"}]
    heads = [{"outcome": "medical_cost", "design": None, "estimate": None, "conf_low": -5.0, "conf_high": 2.0,
              "p_value": None, "reason": "a range"}]
    tc, th = tidy_checks(checks), tidy_headlines(heads)
    for t in (tc, th):
        assert list(t.columns[: len(TIDY_COLUMNS)]) == list(TIDY_COLUMNS)
    assert list(tc.term) == ["pretest", "dowhy_identification"] and tc.statistic.iloc[0] == 4.0
    assert tc.iloc[1][["estimate", "p_value"]].isna().all() and list(tc.passed) == [True, False]
    assert th.term.iloc[0] == "medical_cost" and th.estimate.isna().all() and th.conf_low.iloc[0] == -5.0
