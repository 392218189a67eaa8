"""The reports' words on constructed numbers: formats readers can read and a first screen that says the
range without method names, whatever the numbers (issue 16)."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest

from analysis.report.text import fmt_eok, fmt_num, fmt_won, josa, summary

# names a council member should not meet on the first screen (issue 16, item 1)
METHOD_WORDS = ["Callaway", "Sant'Anna", "DiD", "difference-in-differences", "Rambachan", "E-value", "E-값",
                "DoWhy", "calibrat", "propensity", "bootstrap", "pre-trend", "confidence interval", "CI ",
                "이중차분", "성향점수", "보정", "부트스트랩", "사전 추세", "신뢰구간"]
EXPONENT = re.compile(r"\d(?:\.\d+)?[eE][-+]?\d+")


@pytest.mark.parametrize("v, text", [(6.73e-4, "0.000673"), (-6.73e-5, "\u22120.0000673"), (0.0123, "0.0123"),
                                     (0.5, "0.5"), (1.234, "1.23"), (20.0, "20"), (99.9, "99.9"),
                                     (51775.4, "51,775"), (-124321.0, "\u2212124,321"), (0.0, "0")])
def test_numbers_have_three_significant_digits_and_no_exponent(v, text):
    assert fmt_num(v) == text


def test_korean_amounts_read_in_man_eok_and_jo():
    assert [fmt_won(v) for v in (51775, -10282, 10000, 999, 124321)] == [
        "5만 1,775원", "\u22121만 282원", "1만 원", "999원", "12만 4,321원"]
    assert [fmt_eok(v, "ko") for v in (51.9e9, -25.7e9, 113.4e9, 1.134e12, 1e12)] == [
        "519억 원", "\u2212257억 원", "1,134억 원", "1조 1,340억 원", "1조 원"]
    assert fmt_eok(51.9e9, "en") == "KRW 51.9 billion" and fmt_eok(113.4e9, "en") == "KRW 113 billion"


def test_korean_particles_follow_the_last_syllable():
    assert [josa(w, "은", "는") for w in ("허리둘레", "수축기혈압", "BMI")] == ["허리둘레는", "수축기혈압은", "BMI는"]
    assert [josa(w, "이", "가") for w in ("절감", "증가", "3", "5")] == ["절감이", "증가가", "3이", "5가"]


HEALTH = ["waist", "sbp", "bmi"]


def _headline(lo, hi, health=((-1, 1),) * 3, pretest_passed=False, pub=-124321.0, spend=60.6e9):
    n = 2_500_000
    return {"estimate": (lo + hi) / 2, "conf_low": lo, "conf_high": hi, "city": -45345.0,
            "published": pd.Series({"estimate": pub}), "pretest": {"passed": pretest_passed},
            "participants": n, "health": [{"outcome": o, "name_en": o.upper(), "name_ko": o, "conf_low": a,
                                           "conf_high": b} for o, (a, b) in zip(HEALTH, health, strict=True)],
            "value": {"savings_total_conf_low": -hi * n, "savings_total_conf_high": -lo * n, "spending_total": spend}}


CASES = {  # name: (headline, what each language's screen must say)
    "crosses 0": (_headline(-51775.0, 10282.0),
                  {"en": ["saving of KRW 51,775", "rise of KRW 10,282", "114%", "KRW 45,345", "no saving is shown",
                          "none of the 3 health measures", "KRW 124,321", "already changing differently"],
                   "ko": ["5만 1,775원", "1만 282원", "114%", "4만 5,345원", "절감이 확인되지 않으며",
                          "뚜렷이 달라진 것은 없습니다", "12만 4,321원 절감이", "확인되지 않습니다"]}),
    "saves": (_headline(-40000.0, -10000.0, health=((-1, -0.5), (-1, 1), (0.1, 0.3)), pretest_passed=True),
              {"en": ["lowered", "between KRW 10,000 and KRW 40,000", "22% to 88%", "WAIST fell", "BMI rose",
                      "the other 1 did not", "from chance", "may or may not cover it"],
               "ko": ["1만 원에서 4만 원 줄였고", "22%~88%", "waist는 낮아졌", "bmi는 높아졌", "나머지 1개",
                      "우연에서", "메우는지는 알 수 없습니다"]}),
    "saves less than it costs": (_headline(-40000.0, -10000.0, spend=150e9),
                                 {"en": ["covers only part of it"], "ko": ["일부만 메웁니다"]}),
    "saves more than it costs": (_headline(-40000.0, -30000.0, spend=10e9),
                                 {"en": ["more than covers it"], "ko": ["비용을 넘어섭니다"]}),
    "raises": (_headline(5000.0, 20000.0, pub=3000.0),
               {"en": ["raised", "between KRW 5,000 and KRW 20,000", "a rise of KRW 3,000", "medical costs rise as well"],
                "ko": ["5,000원에서 2만 원 늘렸고", "3,000원 증가가", "오히려 늘어납니다"]}),
}


@pytest.mark.parametrize("case", CASES)
def test_first_screen_says_the_range_in_plain_words(case):
    h, must = CASES[case]
    for lang in ("en", "ko"):
        text = html.unescape(re.sub(r"<[^>]+>", " ", summary(h, lang)))
        assert summary(h, lang).count("<p>") == 3  # costs and health; the city's figure; the budget
        for phrase in must[lang]:
            assert phrase in text, (case, lang, phrase, text)
        for word in METHOD_WORDS:
            assert word not in text, (case, lang, word)
        assert not EXPONENT.search(text)
        if lang == "en":
            assert len(text.split()) <= 100, (case, len(text.split()))
        else:
            assert len(re.sub(r"\s", "", text)) <= 400, case


def _value_headline(lo, hi, share=0.73, per_py=24226.0):
    """A headline dict for the value paragraph: the effect's interval ``lo``..``hi`` in savings (KRW per
    participant-year, positive = saving)."""
    n = 2_500_000
    return {"participants": n, "horizon": (2021, 2025),
            "value": {"savings_conf_low": lo, "savings_conf_high": hi, "break_even_per_participant_year": per_py,
                      "savings_total_conf_low": lo * n, "savings_total_conf_high": hi * n,
                      "spending_total": per_py * n, "city_savings_claim": 113.4e9, "insurer_share": share,
                      "savings_per_krw": (lo + hi) / 2 / per_py, "savings_per_krw_conf_low": lo / per_py,
                      "savings_per_krw_conf_high": hi / per_py}}


def test_value_for_money_states_break_even_payers_and_horizon_without_claiming_a_saving():
    from analysis.report.text import value_for_money

    crossing = _value_headline(-10282.0, 51775.0)
    en, ko = value_for_money(crossing, "en"), value_for_money(crossing, "ko")
    assert "at least KRW 24,226 a year" in en and "2만 4,226원 이상" in ko  # break-even = spending per participant-year
    assert "from a saving of KRW 51,775 to a rise of KRW 10,282, includes it" in en
    assert "(73%) and to patients (27%)" in en and "국민건강보험공단(73%)과 환자 본인(27%)" in ko
    assert "from a saving of KRW 129 billion to a rise of KRW 25.7 billion" in en
    assert "1,294억 원 절감에서 257억 원 증가 사이" in ko
    assert "Horizon: 2021-2025" in en and "2021~2025년" in ko
    assert "lies above that" in value_for_money(_value_headline(30000.0, 50000.0), "en")
    assert "falls short of that" in value_for_money(_value_headline(1000.0, 20000.0), "en")
    assert "그에 못 미칩니다" in value_for_money(_value_headline(1000.0, 20000.0), "ko")
    span = _value_headline(-10282.0, 51775.0)  # a range without a point estimate: no point ratio either
    span["value"]["savings_per_krw"] = float("nan")
    assert "per KRW spent: between −0.42 and 2.14 (no point estimate)" in value_for_money(span, "en")
    assert "지출 1원당 절감액 −0.42 ~ 2.14원 사이(점추정 없음)" in value_for_money(span, "ko") and "nan" not in value_for_money(span, "en")
    assert "per KRW spent: 0.86 (95% CI −0.42 to 2.14)" in en
    suppressed = _value_headline(1000.0, 20000.0, share=float("nan"))  # the payer sums were withheld
    assert "National Health Insurance" not in value_for_money(suppressed, "en") and "건강보험공단" not in value_for_money(suppressed, "ko")


def test_payer_costs_are_participants_program_years_and_a_dominant_person_is_withheld():
    from analysis.report.release import ReleaseReview
    from analysis.report.value import payer_costs

    rows = []
    for i in range(30):  # participants from 2022: program years 2022-2023 count, 2021 does not
        for year, months in ((2021, 0), (2022, 6), (2023, 12)):
            rows.append((i, year, 2022, months, 100.0 + i, 20.0))
    rows += [(99, 2022, 0, 0, 1e6, 1e6)]  # a non-participant's costs never count
    panel = pd.DataFrame(rows, columns=["study_id", "year", "first_treat", "program_months", "insurer_cost",
                                        "patient_cost"])
    long = payer_costs(panel)
    sums = long.groupby("payer").cost.sum()
    assert sums["insurer"] == sum(2 * (100.0 + i) for i in range(30)) and sums["patient"] == 30 * 2 * 20.0
    assert (long.groupby("payer").size() == 30).all()  # one row per participant and payer
    out = ReleaseReview().aggregate("payer_costs", long, ["payer"], "cost", stat="sum").set_index("payer")
    assert out.cost.notna().all()
    panel.loc[(panel.study_id == 0) & (panel.year == 2023), "insurer_cost"] = 1e7  # one person above half
    out = ReleaseReview().aggregate("payer_costs", payer_costs(panel), ["payer"], "cost", stat="sum").set_index("payer")
    assert np.isnan(out.at["insurer", "cost"]) and out.at["patient", "cost"] == 1200.0


def test_flow_cohorts_protect_a_small_year_from_subtraction_from_the_total():
    """The flow diagram's enrolment years come with their total: a year under the minimum count is
    suppressed, and so is a second cell, or the total minus the others would give it back."""
    from analysis.report.figures import flow_cohort_table
    from analysis.report.release import TOTAL, ReleaseReview

    class Run:  # the two things flow_cohort_table asks of a Study
        panel = pd.DataFrame({"study_id": np.arange(125), "first_treat": [2021] * 4 + [2022] * 21 + [0] * 100})

        def released(self, name, build):
            return build(ReleaseReview())

    t = flow_cohort_table(Run()).set_index("cohort").n
    assert np.isnan(t["2021"]) and t[TOTAL] == 125 and t["never"] == 100
    assert np.isnan(t["2022"])  # the smallest other year, withheld to protect 2021


def test_every_outcome_a_plan_can_name_has_its_names_and_figure_label():
    """The outcome registry: each of the package's outcomes and of the default phenotype file's has a name in
    the tables in both languages, and the package's own a figure label and scale (an outcome the plan names
    never reaches a table or figure without a label)."""
    from analysis.config import load_config
    from analysis.definitions import OUTCOME_SPECS, OUTCOMES
    from analysis.report.figures import FOREST_SCALE, OUTCOME_LABELS
    from analysis.report.text import outcome_names

    defs = load_config().phenotypes
    for lang in ("ko", "en"):
        names = outcome_names(defs, lang)
        assert set(OUTCOMES) | set(defs.outcomes) <= set(names)
        assert all(isinstance(v, str) and v for v in names.values())
    assert len({o.ko for o in OUTCOME_SPECS.values()}) == len({o.en for o in OUTCOME_SPECS.values()}) == len(OUTCOMES)
    assert set(OUTCOME_LABELS) == set(FOREST_SCALE) == set(OUTCOMES)
    assert all(s > 0 for s in FOREST_SCALE.values())
