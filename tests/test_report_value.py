"""The report's arithmetic and rules on hand-built inputs (exact values), and subgroup effects against the
truth of the no-selection world."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.causal.refutation import headline_design
from analysis.config import ReportConfig, load_config
from analysis.did.heterogeneity import adherence_gap, subgroup_effects
from analysis.report.value import program_spending, value_for_money


def _checks(cs_pre: bool, trend_pre: bool) -> list[dict]:
    return [{"design": "callaway_santanna", "name": "pre_trend_test", "passed": cs_pre},
            {"design": "callaway_santanna_trend", "name": "pre_trend_test", "passed": trend_pre},
            {"design": "published", "name": "pre_trend_test", "passed": True}]


@pytest.mark.parametrize(("cs_pre", "trend_pre", "design"), [
    (True, True, "callaway_santanna"), (True, False, "callaway_santanna"),
    (False, True, "callaway_santanna"), (False, False, "callaway_santanna")])
def test_headline_rule(cs_pre, trend_pre, design):
    got, reason = headline_design(_checks(cs_pre, trend_pre))
    assert got == design and reason
    if not cs_pre:  # a passing linearity test does not make the trend-adjusted design lead
        assert "biased" in reason  # the report must say that no design passed
    assert headline_design(_checks(cs_pre, trend_pre), "published") == ("published", "chosen in the study plan")


def _panel():
    # person 1: band, joined 2022, in the program 2022 (6 months, 12,000 P) and 2023 (12 months, 40,000 P);
    # person 2: phone, joined 2023, 2023 only (3 months, 5,000 P); person 3 never enrolled
    rows = [(1, 2021, 2022, "band", 0, 0, 0, 100.0), (1, 2022, 2022, "band", 6, 40, 12_000, 0.0),
            (1, 2023, 2022, "band", 12, 160, 40_000, 50.0), (2, 2021, 2023, "phone", 0, 0, 0, 10.0),
            (2, 2023, 2023, "phone", 3, 10, 5_000, 30.0), (3, 2021, 0, None, 0, 0, 0, 20.0),
            (3, 2023, 0, None, 0, 0, 0, 25.0)]
    return pd.DataFrame(rows, columns=["study_id", "year", "first_treat", "device", "program_months", "goal_days",
                                       "points", "medical_cost"])


def test_program_spending_counts_points_and_lent_bands():
    s = program_spending(_panel(), device_cost=50_000).iloc[0]
    assert s.participants == 2 and s.participant_years == 3 and s.bands_lent == 1
    assert s.points_paid == 57_000 and s.spending == 107_000
    assert s.spending_per_participant_year == pytest.approx(107_000 / 3, rel=1e-15)


def test_value_for_money_is_savings_over_spending():
    effect = pd.Series({"estimate": -20_000.0, "conf_low": -50_000.0, "conf_high": 10_000.0})
    spend = pd.Series({"spending_per_participant_year": 25_000.0})
    v = value_for_money(effect, spend, ReportConfig(participants=2_000_000))
    assert v["savings_per_krw"] == 0.8 and v["savings_per_krw_conf_low"] == -0.4
    assert v["savings_per_krw_conf_high"] == 2.0
    assert v["savings_total"] == 40e9 and v["spending_total"] == 50e9
    assert v["savings_total_conf_low"] == -20e9 and v["savings_total_conf_high"] == 100e9


def test_adherence_gap_by_hand():
    p = _panel()
    # a second 2022 joiner, inactive: 2 goal days over 12 months in 2023
    extra = pd.DataFrame([(4, 2021, 2022, "band", 0, 0, 0, 200.0), (4, 2023, 2022, "band", 12, 2, 400, 260.0),
                          (5, 2021, 2022, "band", 0, 0, 0, 0.0), (5, 2023, 2022, "band", 12, 200, 400, 30.0),
                          (6, 2021, 2022, "band", 0, 0, 0, 10.0), (6, 2023, 2022, "band", 12, 5, 400, 0.0),
                          (7, 2023, 2022, "band", 12, 5, 400, 0.0)],  # no 2021 row: excluded, counted
                         columns=p.columns)
    both = pd.concat([p, extra])
    # 2023 mean daily steps of the four 2022 joiners seen in both years: 1 -> 9,000, 4 -> 3,000, 5 -> 12,000,
    # 6 -> 5,000; their thirds by rank: {4, 6}, {1}, {5}
    both["mean_daily_steps"] = both.study_id.map({1: 9000.0, 4: 3000.0, 5: 12000.0, 6: 5000.0, 7: 8000.0})
    g = adherence_gap(both, truth=None).set_index("level")
    # active (>= 13 goal days a month): persons 1 (160/12) and 5 (200/12); inactive: 4 (2/12), 6 (5/12)
    assert g.loc["active", "n"] == 2 and g.loc["inactive", "n"] == 2
    assert g.loc["active", "mean_change"] == (-50 + 30) / 2 and g.loc["inactive", "mean_change"] == (60 - 10) / 2
    assert g.loc["active - inactive", "mean_change"] == -10 - 25
    se = np.hypot(np.std([-50, 30], ddof=1) / np.sqrt(2), np.std([60, -10], ddof=1) / np.sqrt(2))
    assert g.loc["active - inactive", "std_error"] == pytest.approx(se, rel=1e-12)
    z = 1.959963984540054  # each row's 95% interval is the normal one around its mean (none for a single person)
    assert g.loc["active", "std_error"] == pytest.approx(np.std([-50, 30], ddof=1) / np.sqrt(2), rel=1e-12)
    assert np.allclose(g.conf_low, g.mean_change - z * g.std_error, rtol=1e-12, equal_nan=True)
    assert np.allclose(g.conf_high, g.mean_change + z * g.std_error, rtol=1e-12, equal_nan=True)
    assert (g.n_excluded == 1).all()
    assert list(g.loc[["steps: lowest third", "steps: middle third", "steps: highest third"], "n"]) == [2, 1, 1]
    assert g.loc["steps: lowest third", "mean_change"] == (60 - 10) / 2
    assert g.loc["steps: highest third", "mean_change"] == 30


def test_subgroup_effects_cover_the_truth_without_selection(noselection_panel):
    cfg = load_config()
    r = subgroup_effects(noselection_panel.panel, cfg, "callaway_santanna", noselection_panel.truth)
    assert set(r.subgroup) == {"sex", "age", "baseline_bmi", "baseline_activity", "device"}
    assert r.estimate.notna().all() and r.truth.notna().all()
    z = (r.estimate - r.truth) / r.std_error
    assert (z.abs() < 3.5).all(), r[["subgroup", "level", "estimate", "truth", "std_error"]]
    sex = r[r.subgroup == "sex"]
    assert (sex.note.str.contains("female")).all()  # the constant covariate is named, not silently dropped
    # every person of the balanced panel (att_gt leaves out, and counts, those not seen every year) is in
    # exactly one sex
    p = noselection_panel.panel
    seen = p.groupby("study_id").year.size() == p.year.nunique()
    persons = p.drop_duplicates("study_id").set_index("study_id")[seen]
    assert sex.n_treated.sum() == (persons.first_treat > 0).sum()
    assert sex.n_control.sum() == (persons.first_treat == 0).sum()
