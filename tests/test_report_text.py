"""The reports' words on constructed numbers: formats readers can read and a first screen that says the
range without method names, whatever the numbers (issue 16)."""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest

from analysis.report.text import _josa, fmt_eok, fmt_num, fmt_won, summary

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
    assert [_josa(w, "은", "는") for w in ("허리둘레", "수축기혈압", "BMI")] == ["허리둘레는", "수축기혈압은", "BMI는"]
    assert [_josa(w, "이", "가") for w in ("절감", "증가", "3", "5")] == ["절감이", "증가가", "3이", "5가"]


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
