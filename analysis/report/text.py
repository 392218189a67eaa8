"""The words of the reports, in Korean (the primary audience) and English, filled from released numbers."""

from __future__ import annotations

import html
import math
import re

import numpy as np

from analysis.config import DISCLOSURE_FLOORS
from analysis.definitions import OUTCOME_SPECS
from analysis.did.designs import DESIGNS as REGISTRY

MINUS = "\u2212"


def fmt_num(v: float) -> str:
    """Thousands separators, a real minus sign, 3 significant decimals for small numbers."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if v == 0:
        return "0"
    a = abs(v)
    # three significant digits as plain decimals: readers of the reports do not read 6.73e-04
    s = f"{a:,.0f}" if a >= 100 else f"{a:.{max(2 - math.floor(math.log10(a)), 0)}f}".rstrip("0").rstrip(".")
    return (MINUS if v < 0 else "") + s


def fmt_p(v: float) -> str:
    """A p-value as readers expect it: three decimals, '<0.001' below that."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def fmt_krw(v: float) -> str:
    """Whole won with thousands separators; "–" where there is no number (a range has no point estimate)."""
    if v is None or math.isnan(v):
        return "–"
    return fmt_num(round(v))


def fmt_eok(v: float, lang: str) -> str:
    """Large KRW sums: 억 원 (1e8) and 조 (1e12) in Korean, billion KRW in English."""
    if lang == "ko":
        eok = round(v / 1e8)
        jo, rest = divmod(abs(eok), 10_000)
        words = (f"{jo:,}조 {rest:,}억" if rest else f"{jo:,}조") if jo else f"{rest:,}억"
        return (MINUS if eok < 0 else "") + words + " 원"
    return f"KRW {fmt_num(round(v / 1e9, 1)) if abs(v) < 1e11 else fmt_num(round(v / 1e9))} billion"


def fmt_won(v: float) -> str:
    """A per-person amount as Korean readers say it: 51,775 -> '5만 1,775원' (만 = 10,000)."""
    won = round(v)
    man, rest = divmod(abs(won), 10_000)
    words = (f"{man:,}만 {rest:,}원" if rest else f"{man:,}만 원") if man else f"{rest:,}원"
    return (MINUS if won < 0 else "") + words


DESIGNS = {"ko": {name: d.label_ko for name, d in REGISTRY.items()},
           "en": {name: d.label_en for name, d in REGISTRY.items()}}
CHECKS = {
    "ko": {"main_estimate": "주 추정치", "e_value": "E-값", "pre_trend_test": "사전 추세 검정",
           ("callaway_santanna_trend", "pre_trend_test"): "사전 추세 직선성 검정",
           "honest_did_relative_magnitudes": "민감도: 상대적 크기", "honest_did_smoothness": "민감도: 평활성",
           "dowhy_identification": "DoWhy 식별", "placebo_in_time": "시점 위약 검정",
           "placebo_in_time_trend_adjusted": "시점 위약 검정(추세 보정)", "negative_control_outcome": "음성 대조 결과",
           "placebo_treatment_refuter": "DoWhy: 위약 처치", "random_common_cause": "DoWhy: 무작위 공통원인",
           "data_subset_refuter": "DoWhy: 부분표본", "bootstrap_refuter": "DoWhy: 부트스트랩",
           "dummy_outcome_refuter": "DoWhy: 가짜 결과", "add_unobserved_common_cause": "DoWhy: 미관측 교란 모의",
           "covariate_form": "공변량 형태"},
    "en": {"main_estimate": "main estimate", "e_value": "E-value", "pre_trend_test": "pre-trend test",
           ("callaway_santanna_trend", "pre_trend_test"): "linearity of the pre-trend",
           "honest_did_relative_magnitudes": "sensitivity: relative magnitudes",
           "honest_did_smoothness": "sensitivity: smoothness", "dowhy_identification": "DoWhy identification",
           "placebo_in_time": "placebo in time", "placebo_in_time_trend_adjusted": "placebo in time (trend-adjusted)",
           "negative_control_outcome": "negative control outcome", "placebo_treatment_refuter": "DoWhy: placebo treatment",
           "random_common_cause": "DoWhy: random common cause", "data_subset_refuter": "DoWhy: data subset",
           "bootstrap_refuter": "DoWhy: bootstrap", "dummy_outcome_refuter": "DoWhy: dummy outcome",
           "add_unobserved_common_cause": "DoWhy: simulated hidden confounder", "covariate_form": "form of the covariates"},
}

# What each check asks, in plain words for the report's readers (refutation.json keeps the technical
# meaning for researchers). Filled with the plan's settings: {shift} placebo years, {ebar} the E-value bar,
# {mbar} the relative-magnitudes bar.
CHECK_MEANINGS = {
    "ko": {
        "e_value": "신뢰구간을 0까지 옮기려면 관측되지 않은 교란요인이 참여와 의료비 변화 양쪽과 어느 정도의 위험비로 연관되어야 "
                   "하는지입니다(VanderWeele·Ding 2017). 신뢰한계의 E-값이 {ebar} 이상이면 통과입니다.",
        "pre_trend_test": "참여 전 해마다 참여자와 비교군의 의료비 추세가 같았는지 봅니다. 통과는 차이가 검출되지 않았다는 뜻입니다.",
        ("published", "pre_trend_test"): "매칭된 두 집단의 2017~2020년(참여 전) 의료비 추세가 같았는지 봅니다. 통과는 차이가 "
                                         "검출되지 않았다는 뜻입니다.",
        ("callaway_santanna_trend", "pre_trend_test"): "참여 전 추세 차이가 직선인지 봅니다. 직선이어야 그 추세를 연장해 빼는 "
                                                       "보정이 정당합니다. 통과는 직선에서 벗어남이 검출되지 않았다는 뜻입니다.",
        "honest_did_relative_magnitudes": "참여 후 추세 차이가 참여 전 최대 차이의 {mbar}배까지 벌어져도 효과의 부호가 유지되는지 "
                                          "봅니다(Rambachan·Roth 2023). 한계점은 결론이 처음 사라지는 배수입니다.",
        "honest_did_smoothness": "참여 전 추세 차이를 직선으로 연장해도 효과의 부호가 유지되는지 봅니다(Rambachan·Roth 2023).",
        "dowhy_identification": "가정한 인과 그래프에서 관측된 변수만으로 효과를 식별할 수 있는지 봅니다. 관측되지 않는 건강 관심도가 "
                                "참여와 의료비 모두에 영향을 주면 식별되지 않으며, 추정치는 그 영향이 없다는 가정에 기댑니다.",
        "placebo_in_time": "참여 시점을 {shift}년 앞당긴 가짜 참여(아무도 참여하기 전이라 실제 효과는 0)에서 설계가 아무 효과도 "
                           "찾지 않는지 봅니다.",
        "negative_control_outcome": "프로그램이 바꿀 수 없는 손상 진료에서 설계가 효과를 찾지 않는지 봅니다. 효과가 나오면 선택 편향의 "
                                    "신호입니다. 이 대조는 손상 진료도 함께 겪는 진료 이용 추세의 차이는 볼 수 있지만, 건강에 신경 "
                                    "쓰는 사람의 다른 의료비가 더 느리게 느는 것이나 검진 수치의 평균 회귀는 보지 못하므로, "
                                    "통과해도 편향이 없다는 뜻은 아닙니다.",
        "placebo_treatment_refuter": "참여 여부를 무작위로 섞으면 효과가 0이 되는지 봅니다.",
        "random_common_cause": "무관한 무작위 변수를 보정에 더해도 추정치가 그대로인지 봅니다.",
        "data_subset_refuter": "무작위 부분표본(80%)에서도 비슷한 추정치가 나오는지 봅니다.",
        "bootstrap_refuter": "부트스트랩 재표본에서도 비슷한 추정치가 나오는지 봅니다.",
        "dummy_outcome_refuter": "결과를 참여와 무관한 잡음으로 바꾸면 효과가 0이 되는지 봅니다.",
        "add_unobserved_common_cause": "여러 강도의 모의 교란요인을 넣어도 효과의 부호가 유지되는지 봅니다.",
        "covariate_form": "나이처럼 곡선으로 넣은 공변량을 직선으로 바꿔도 추정치가 표준오차보다 적게 움직이는지 봅니다. 많이 "
                          "움직이면 결과가 분석 모형의 선택에 기대고 있다는 뜻입니다.",
        "not_computed": "계산되지 않음: {reason}",
    },
    "en": {
        "e_value": "How strongly, as a risk ratio, an unmeasured confounder would have to be tied to both enrolment and "
                   "the cost change to move the interval to zero (VanderWeele and Ding 2017); passes when the E-value "
                   "of the confidence limit is at least {ebar}.",
        "pre_trend_test": "Were joiners' and comparison people's costs on the same path in the years before enrolment? "
                          "Passing means no difference was detected.",
        ("published", "pre_trend_test"): "Were the matched groups' costs on the same path in 2017-2020, before "
                                         "enrolment? Passing means no difference was detected.",
        ("callaway_santanna_trend", "pre_trend_test"): "Is the difference in trends before enrolment a straight line? "
                                                       "Only then is extending and removing it defensible. Passing means "
                                                       "no departure from a line was detected.",
        "honest_did_relative_magnitudes": "Does the effect keep its sign if trends after enrolment diverge by up to "
                                          "{mbar} times the largest divergence before it (Rambachan and Roth 2023)? The "
                                          "breakdown is the multiple at which the conclusion first fails.",
        "honest_did_smoothness": "Does the effect keep its sign when the difference in trends before enrolment is "
                                 "extended in a straight line (Rambachan and Roth 2023)?",
        "dowhy_identification": "Can the assumed causal graph identify the effect from observed variables? Not while "
                                "unobserved health consciousness drives both enrolment and costs; the estimate then "
                                "rests on assuming that away.",
        "placebo_in_time": "With enrolment pretended {shift} years earlier, before anyone enrolled (so the true effect "
                           "is zero), does the design find nothing?",
        "negative_control_outcome": "Does the design find no effect on injury visits, which the program cannot change? "
                                    "An effect there would signal selection. It can reveal a trend in care use that injuries "
                                    "share; it cannot see the health-conscious's other costs growing more slowly, nor "
                                    "regression to the mean in checkup measures: passing it does not mean there is no "
                                    "bias.",
        "placebo_treatment_refuter": "Does the effect vanish when enrolment is randomly shuffled?",
        "random_common_cause": "Does adding an unrelated random covariate leave the estimate unchanged?",
        "data_subset_refuter": "Do random 80% subsets give a similar estimate?",
        "bootstrap_refuter": "Do bootstrap resamples give a similar estimate?",
        "dummy_outcome_refuter": "Does the estimate vanish when the outcome is replaced by noise unrelated to enrolment?",
        "add_unobserved_common_cause": "Does the effect keep its sign under simulated hidden confounders of a range of "
                                       "strengths?",
        "covariate_form": "Does the estimate move by less than its standard error when a covariate entered as a "
                          "curve (age) enters as a straight line instead? A larger move means the result rests on "
                          "a modelling choice.",
        "not_computed": "Not computed: {reason}",
    },
}
CHECK_MEANINGS["ko"]["placebo_in_time_trend_adjusted"] = CHECK_MEANINGS["ko"]["placebo_in_time"]
CHECK_MEANINGS["en"]["placebo_in_time_trend_adjusted"] = CHECK_MEANINGS["en"]["placebo_in_time"]


def check_label(key: str, lang: str, design: str | None = None) -> str:
    """The readers' name of a design or of a check (``design`` picks a check's design-specific name)."""
    if key in DESIGNS[lang]:
        return DESIGNS[lang][key]
    return CHECKS[lang].get((design, key)) or CHECKS[lang].get(key, key.replace("_", " "))


def check_meaning(check: dict, lang: str, shift: int) -> str:
    """What passing ``check`` (a row of refutation.json) shows, in plain words; a check that could not be
    computed says why."""
    from analysis.causal.refutation import E_VALUE_BAR, MBAR_PASS

    m = CHECK_MEANINGS[lang]
    if check["meaning"].startswith("not computed"):
        return m["not_computed"].format(reason=check["meaning"].removeprefix("not computed: "))
    text = m.get((check["design"], check["name"])) or m.get(check["name"])
    if text is None:  # a check the report has no words for yet: its own (English) meaning
        return check["meaning"]
    return text.format(shift=shift, ebar=f"{E_VALUE_BAR:g}", mbar=f"{MBAR_PASS:g}")


def fmt_ratio(v: float) -> str:
    return (MINUS if v < 0 else "") + f"{abs(v):.2f}"


# Checks any estimator passes whatever the selection (DoWhy's refuters of the estimation step): they are
# in the diagnostics table but say nothing about self-selection, so the report's text does not count them.
MECHANICAL = ("placebo_treatment_refuter", "random_common_cause", "data_subset_refuter", "bootstrap_refuter",
              "dummy_outcome_refuter")


def _finding(c: dict, lang: str, shift: int) -> str | None:
    """What one check that can see self-selection found, in a clause (None: a check the text leaves to the
    table: a mechanical one, the smoothness bound, one not computed)."""
    name, ok = c["name"], c["passed"]
    if name in MECHANICAL or name == "honest_did_smoothness" or c["meaning"].startswith("not computed"):
        return None
    p = html.unescape(_p_words(c))  # "< 0.001", "= 0.615"; the sentence is escaped as a whole
    ko = lang == "ko"
    if name == "pre_trend_test" and c["design"] == "callaway_santanna_trend":
        return (f"참여 전 추세 차이가 직선에서 벗어남은 검출되지 않음(p {p})" if ko else
                f"no departure of the pre-enrolment difference from a straight line was detected (p {p})") if ok else (
                f"참여 전 추세 차이가 직선이 아님(p {p})" if ko else
                f"the pre-enrolment difference is not a straight line (p {p})")
    if name == "pre_trend_test":
        return (f"참여 전 추세 차이는 검출되지 않음(p {p})" if ko else
                f"trends before enrolment did not differ detectably (p {p})") if ok else (
                f"참여 전부터 추세가 달랐음(p {p})" if ko else f"trends already differed before enrolment (p {p})")
    if name == "honest_did_relative_magnitudes" and c.get("grid"):
        return (f"참여 후 추세 차이가 벌어지면 결론은 {_breakdown_phrase(c, 'ko')}" if ko else
                f"if trends after enrolment may diverge, its conclusion {_breakdown_phrase(c, 'en')}")
    if name == "e_value" and c.get("estimate") is not None:
        ev = f"{c['estimate']:.2f}"
        return (f"참여와 결과 양쪽에 위험비 {ev} 정도로 연관된 숨은 요인만으로도 설명될 수 있음" if ko else
                f"a hidden factor tied to joining and to the outcome by a risk ratio of {ev} would explain it away") \
            if not ok else (f"위험비 {ev}보다 강한 숨은 요인이어야 설명됨" if ko else
                            f"only a hidden factor stronger than a risk ratio of {ev} would explain it away")
    if name in ("placebo_in_time", "placebo_in_time_trend_adjusted"):
        return (f"참여 시점을 {shift}년 앞당긴 가짜 참여에서 " + ("효과가 없음" if ok else "'효과'가 나타남") if ko else
                f"a pretend enrolment {shift} years earlier finds " + ("nothing" if ok else "an 'effect'"))
    if name == "negative_control_outcome":
        return (("프로그램이 바꿀 수 없는 손상 진료에서 효과가 없음(이 대조는 진료 이용의 공통 추세만 봄)" if ok else
                 "프로그램이 바꿀 수 없는 손상 진료에서도 '효과'가 나타나 선택 편향을 시사함") if ko else
                ("injury visits, which the program cannot change, show no effect (this control sees only a shared "
                 "trend in care use)" if ok else
                 "injury visits, which the program cannot change, show an 'effect': a sign of selection"))
    if name == "dowhy_identification":
        return (("가정한 인과 그래프로 효과가 식별됨" if ok else "측정되지 않는 건강 관심이 참여와 결과 모두에 영향을 주는 한 "
                 "효과가 식별되지 않음") if ko else
                ("the assumed causal graph identifies the effect" if ok else "the effect is not identified while "
                 "unmeasured health consciousness drives both joining and the outcome"))
    if name == "add_unobserved_common_cause":
        return (("모의 숨은 요인을 넣어도 부호가 유지됨" if ok else "크지 않은 모의 숨은 요인으로도 부호가 바뀜") if ko else
                ("its sign holds under simulated hidden confounders" if ok else
                 "simulated hidden confounders of modest strength flip its sign"))
    return None


MULTIPLICITY = {"ko": {"holm": "Holm 방법", "BH": "Benjamini-Hochberg 방법"},
                "en": {"holm": "Holm's method", "BH": "the Benjamini-Hochberg method"}}


def _sentence_refutation(h: dict, lang: str, shift: int = 2) -> str:
    """What the checks that can see self-selection found, design by design (the headline's, the plan's for
    the designs built on it, the city's), not a tally; the checks any estimator passes are named as such;
    and the limits of the rule that chose the headline."""
    checks = h["all_checks"]
    own = ("callaway_santanna" if h["design"] in ("callaway_santanna_trend", "callaway_santanna_calibrated",
                                                   "calibration_span") else None)
    parts = []
    for d in dict.fromkeys([h["design"], *([own] if own else []), "published"]):
        found = [f for c in checks if c["design"] == d and c["name"] != "main_estimate"
                 and (f := _finding(c, lang, shift))]
        if found:
            label = DESIGNS[lang][d]
            parts.append(f"{label[0].upper()}{label[1:]}: " + ("; ".join(found) if lang == "en" else ", ".join(found)))
    parts = [html.escape(x) for x in parts]  # p < 0.001 reads "<0.001"
    if lang == "ko":
        return ("자기 선택을 볼 수 있는 검정의 결과는 이렇습니다. " + ". ".join(parts) + ". 참여를 무작위로 섞기, 무관한 변수 더하기, "
                "부분표본, 재표본, 잡음 결과 같은 DoWhy 검정은 어떤 추정치든 통과하므로 아래 표에만 두었습니다. 사전 추세 "
                "검정을 통과한 설계를 고르는 규칙에는 그 자체의 편향이 있으며(통과가 일부 우연일 수 있음, Roth 2022), 2차 결과의 "
                f"p값은 {MULTIPLICITY['ko'][h['multiplicity']]}으로 보정했습니다.")
    return ("What the checks that can see self-selection found. " + ". ".join(parts) + ". DoWhy's checks of shuffled "
            "enrolment, an added random variable, subsets, resampling and a noise outcome pass whatever the selection, "
            "so they are only in the table below. A rule that picks a design because it passed a pre-test has a bias "
            f"of its own (passing is partly luck; Roth 2022), and the secondary outcomes' p-values are adjusted by "
            f"{MULTIPLICITY['en'][h['multiplicity']]}.")


def grid_top(check: dict) -> float:
    """The largest Mbar of a relative-magnitudes check's grid (a breakdown of None means the conclusion
    holds up to it)."""
    return max(g["Mbar"] for g in check["grid"])


def _breakdown_phrase(check: dict, lang: str) -> str:
    """What a relative-magnitudes breakdown means (None: the conclusion holds over the whole grid, up to
    :func:`grid_top` times the largest pre-enrolment divergence)."""
    b, top = check.get("breakdown"), f"{grid_top(check):g}"
    if lang == "ko":
        if b is None:
            return f"참여 전 최대 차이의 {top}배까지 벌어져도 유지됩니다"
        if b == 0:
            return "추세가 완전히 평행하다고 해도 0과 구별되지 않습니다"
        return (f"참여 전 최대 차이의 {b:.2g}배에서 사라집니다" + ("(이미 관찰된 정도의 차이만으로도 충분)" if b <= 1 else ""))
    if b is None:
        return f"holds even if they diverge by {top} times the largest divergence seen before enrolment"
    if b == 0:
        return "cannot be told from zero even with exactly parallel trends"
    return (f"fails once they diverge by {b:.2g} times the largest divergence seen before enrolment"
            + (", no more than was already seen" if b <= 1 else ""))


def reason_ko(reason: str) -> str:
    """The Korean of ``analysis.causal.refutation.headline_design``'s reasons."""
    if reason.startswith("chosen"):
        return "계획서에서 지정"
    if reason.startswith("costs are calibrated"):
        return ("의료비는 프로그램이 바꿀 수 없지만 건강 관심이 바꾸는 진료비(치과·안과·피부·귀·예방 진료, 음성 대조)로 "
                "체계적 오차를 추정해 보정함")
    if reason.startswith("its pre-test"):
        return "사전 추세 검정을 통과"
    if m := re.search(r"negative-control costs err by ([+-][\d.]+%) on average \(p = ([^)]+)\)", reason):
        return (f"음성 대조 진료비가 평균 {m[1]} 어긋나 있고(p = {m[2]}) 이 진료비도 같은 만큼 어긋나는지는 자료로 확인할 수 "
                "없으므로, 보정한 구간과 보정하지 않은 구간을 모두 아우르는 범위를 제시하고 점추정은 하지 않음")
    return "어떤 설계도 사전 추세 검정을 통과하지 못함: 모든 추정치가 편향되었을 수 있음"


def _p_words(check: dict) -> str:
    """A check's p-value after "p": "< 0.001" or "= 0.615" (escaped for the page)."""
    p = fmt_p(check.get("p_value"))
    return html.escape(p.replace("<", "< ", 1) if p.startswith("<") else f"= {p}")


def _why_differ(h: dict, lang: str) -> str:
    """Why the city's two-year design and the headline differ, from what the pre-tests found."""
    diverged = bool(h["pretest"]) and not h["pretest"]["passed"]
    city = h.get("pretest_city")
    if lang == "ko":
        if diverged:
            seen = "" if not city else (
                f" 서울시 설계의 2017~2020년 사전 추세 검정은 이를 {'검출하지 못했습니다' if city['passed'] else '검출했습니다'}"
                f"(p {_p_words(city)}).")
            return (f"참여자와 비교군의 의료비는 참여 전부터 다른 추세를 보였습니다(계획 설계의 사전 추세 검정 기각, "
                    f"p {_p_words(h['pretest'])}).{seen} 예컨대 건강에 관심이 많은 "
                    "사람이 먼저 참여하고 그들의 의료비가 원래 다르게 변했다면, 두 해만 비교하는 발표 설계는 이 차이를 프로그램 "
                    "효과로 셉니다. 참여 전 여러 해를 함께 보는 설계는 그 차이를 드러냅니다.")
        return ("참여 전 추세의 차이는 검출되지 않았으므로, 차이는 주로 비교군의 정의(아직 참여하지 않은 사람 전체 대 1:10 매칭)와 "
                "표본 변동에서 옵니다.")
    if diverged:
        seen = "" if not city else (
            f" The city's own pre-trend test on its matched groups in 2017-2020 "
            f"{'did not detect it' if city['passed'] else 'detected it too'} (p {_p_words(city)}).")
        return (f"Participants' costs were already on a different path before they enrolled (the plan's pre-trend "
                f"test rejects, p {_p_words(h['pretest'])}).{seen} If, say, health-conscious people join first and their costs were changing differently "
                "anyway, a design that compares two years only counts that difference as a program effect. Designs "
                "that use several years before enrolment reveal it.")
    return ("No difference in trends before enrolment was detected, so the gap comes mainly from the comparison group "
            "(everyone not yet enrolled rather than 1:10 matched controls) and sampling variation.")


def _calibration_limit(h: dict, lang: str) -> str:
    """What calibration cannot remove, said where it leads (issue 13: a target the coverage study shows out
    of reach under a mechanism is said in the report for that mechanism)."""
    if h["design"] != "callaway_santanna_calibrated":
        return ""
    return _calibration_bias(lang) + _calibration_width(h, lang)


def _calibration_width(h: dict, lang: str) -> str:
    """How much wider calibration made the interval, and why: the controls' proportional estimates are less
    precise than the target's, so their mean error is known only roughly (on the coverage study's worlds
    without selection the calibrated interval was up to 2.6 times the uncalibrated one, README)."""
    plan = h.get("plan")
    if plan is None or not plan.conf_high > plan.conf_low:
        return ""
    ratio = (h["conf_high"] - h["conf_low"]) / (plan.conf_high - plan.conf_low)
    if lang == "ko":
        return (f" 보정한 구간은 보정하지 않은 같은 설계의 구간보다 {ratio:.1f}배 넓습니다. 보정은 음성 대조 진료비가 "
                "보여 주는 편향의 퍼짐과 그 평균의 불확실성을 구간에 더하는데, 대조가 몇 개뿐이면 이 둘을 대략적으로만 "
                "알 수 있습니다. 편향이 없다고 가정하지 않는 대가입니다.")
    return (f" Its interval is {ratio:.1f} times as wide as the same design's without calibration: calibration adds "
            "the spread of the control costs' errors and the uncertainty of their mean, which a handful of controls "
            "tell only roughly; the width is the price of not assuming the bias away.")


def _calibration_bias(lang: str) -> str:
    """What the coverage study found calibration leaves (README, issue 13): measured figures, cited."""
    if lang == "ko":
        return (" 보정은 음성 대조 진료비(치과·안과·피부·귀·예방)가 함께 겪는 편향만 없앱니다. 패키지의 합성 세계 검증에서 "
                "보정한 추정치는 절감액을 평균 1만 3천 원가량 부풀렸고(서울의 1% 규모 세계 216개, "
                "benchmarks/results_honest_entry_d47_001.md), 효과가 전혀 없는 서울의 10분의 1 규모 세계에서도 "
                "1만 7,678원의 절감을 주장했습니다. 서울의 5% 규모에서는 효과가 없는 세계 6개 중 3개에서 절감을 주장했고"
                "(최대 5만 5,615원, benchmarks/results_honest_corr_d71_005.md), 건강 관심이 큰 사람이 많이 참여하지만 그들의 "
                "의료비가 더 느리게 늘지는 않는 세계에서는 대조 진료비의 편향이 전체 진료비와 반대 방향이라 보정이 오히려 "
                "추정치를 참값에서 멀어지게 했습니다. 참여자와 비참여자의 진료비 수준이 다르면 대조 진료비의 편향과 "
                "전체 진료비의 편향이 같은 비율이 아니고, 만성질환 발생처럼 대조 진료비가 겪지 않는 차이도 남기 때문입니다. "
                "이 규모에서 절감을 주장하는 보정 추정치는 보정하지 않은 추정치와 함께 읽어야 합니다.")
    return (" Calibration removes only the bias the negative-control costs (dental, eye, skin, ear, preventive care) "
            "share. In the package's synthetic coverage study the calibrated estimate overstated the saving by about "
            "13,000 KRW per participant-year on average (216 worlds at 1% of Seoul, "
            "benchmarks/results_honest_entry_d47_001.md), and on a world with no effect at a tenth of Seoul it still "
            "claimed a saving of 17,678 KRW. At 5% of Seoul it claimed a saving on 3 of 6 worlds without effect (up to "
            "55,615 KRW, benchmarks/results_honest_corr_d71_005.md): where many health-conscious people join but their "
            "costs do not grow more slowly, the controls err the other way from the total cost and calibration moves "
            "the estimate away from the truth. Where participants' costs differ in level from everyone else's, the "
            "controls' error is not the same share as the total cost's, and differences the controls do not share, "
            "such as the onset of chronic disease, remain. At this scale read a calibrated saving beside the "
            "uncalibrated estimate, not alone.")


def _effect_range_en(lo: float, hi: float, amount) -> str:
    """An interval of savings (``lo`` to ``hi``, a negative saving being a rise) in words."""
    if lo < 0 < hi:
        return f"from a saving of {amount(hi)} to a rise of {amount(-lo)}"
    return f"a saving of {amount(lo)} to {amount(hi)}" if lo >= 0 else f"a rise of {amount(-hi)} to {amount(-lo)}"


def _effect_range_ko(lo: float, hi: float, amount) -> str:
    if lo < 0 < hi:
        return f"{amount(hi)} 절감에서 {amount(-lo)} 증가 사이"
    return f"{amount(lo)}에서 {amount(hi)} 사이의 절감" if lo >= 0 else f"{amount(-hi)}에서 {amount(-lo)} 사이의 증가"


def value_for_money(h: dict, lang: str) -> str:
    """The report's value-for-money paragraph in ``lang`` ("ko" or "en"): what the program costs a
    participant-year, the effect that would pay for it, who would get a saving, and whether the cost
    headline's interval reaches that effect."""
    return _value_ko(h) if lang == "ko" else _value_en(h)


def _value_en(h: dict) -> str:
    """Value for money from the payer's and the city's side: spending, the break-even effect, who would get
    a saving, the city-wide range and the horizon; no saving stated as fact where its interval crosses 0."""
    v, n = h["value"], h["participants"]
    lo, hi, be = v["savings_conf_low"], v["savings_conf_high"], v["break_even_per_participant_year"]
    compare = ("the whole interval of the estimated saving lies above that" if lo > be else
               f"even the largest saving the interval allows (KRW {fmt_krw(hi)}) falls short of that" if hi < be else
               f"the estimated effect, {_effect_range_en(lo, hi, lambda x: f'KRW {fmt_krw(x)}')}, includes it")
    total = _effect_range_en(v["savings_total_conf_low"], v["savings_total_conf_high"], lambda x: fmt_eok(x, "en"))
    share = v["insurer_share"]
    payer = ("" if math.isnan(share) else
             f" Any saving accrues not to the city but to the National Health Insurance Service ({share:.0%}) and to "
             f"patients ({1 - share:.0%}), by their shares of participants' medical costs.")
    y0, y1 = h["horizon"]
    per_krw = (f"{fmt_ratio(v['savings_per_krw'])} (95% CI {fmt_ratio(v['savings_per_krw_conf_low'])} to "
               f"{fmt_ratio(v['savings_per_krw_conf_high'])})" if math.isfinite(v['savings_per_krw']) else
               f"between {fmt_ratio(v['savings_per_krw_conf_low'])} and {fmt_ratio(v['savings_per_krw_conf_high'])} "
               "(no point estimate)")
    return (f"<p>Value for money. The city pays for points and lent bands: KRW {fmt_krw(be)} per participant-year, "
            f"{fmt_eok(v['spending_total'], 'en')} a year at {n / 1e6:g} million participants (administration, the app "
            f"and publicity are not in the data and are left out). The program pays for itself only if it lowers each "
            f"participant's medical costs by at least KRW {fmt_krw(be)} a year; {compare}.{payer} At {n / 1e6:g} million "
            f"participants the yearly effect on medical costs ranges {total} (the city extrapolated a saving of "
            f"{fmt_eok(v['city_savings_claim'], 'en')}). <b>Estimated savings per KRW spent: {per_krw}.</b> Horizon: {y0}-{y1}, the years observed, in nominal KRW, "
            "undiscounted.</p>")


def _value_ko(h: dict) -> str:
    v, n = h["value"], h["participants"]
    lo, hi, be = v["savings_conf_low"], v["savings_conf_high"], v["break_even_per_participant_year"]
    compare = ("추정 절감액의 구간 전체가 그보다 큽니다" if lo > be else
               f"구간이 허용하는 가장 큰 절감({fmt_won(hi)})도 그에 못 미칩니다" if hi < be else
               f"추정된 효과의 범위({_effect_range_ko(lo, hi, fmt_won)})가 그 금액을 포함합니다")
    total = _effect_range_ko(v["savings_total_conf_low"], v["savings_total_conf_high"], lambda x: fmt_eok(x, "ko"))
    share = v["insurer_share"]
    payer = ("" if math.isnan(share) else
             f" 절감이 있다면 그 몫은 서울시가 아니라 국민건강보험공단({share:.0%})과 환자 본인({1 - share:.0%})에게 "
             "돌아갑니다(참여자 의료비의 부담 비율로 나눔).")
    y0, y1 = h["horizon"]
    per_krw = (f"추정치 {fmt_ratio(v['savings_per_krw'])}원(95% 신뢰구간 {fmt_ratio(v['savings_per_krw_conf_low'])} ~ "
               f"{fmt_ratio(v['savings_per_krw_conf_high'])}원)" if math.isfinite(v['savings_per_krw']) else
               f"{fmt_ratio(v['savings_per_krw_conf_low'])} ~ {fmt_ratio(v['savings_per_krw_conf_high'])}원 사이(점추정 없음)")
    return (f"<p>비용 대비 효과. 서울시는 포인트와 대여 밴드에 참여 인년당 {fmt_won(be)}, 참여자 {n / 1e4:,.0f}만 명 기준 연 "
            f"{fmt_eok(v['spending_total'], 'ko')}을 씁니다(운영비·앱·홍보비는 자료에 없어 빠졌습니다). 프로그램이 제 비용을 "
            f"뽑으려면 참여자 1인당 연간 의료비를 {fmt_won(be)} 이상 줄여야 하는데, {compare}.{payer} 참여자 "
            f"{n / 1e4:,.0f}만 명 기준 연간 의료비 효과는 {total}입니다(서울시 환산치: 연 "
            f"{fmt_eok(v['city_savings_claim'], 'ko')} 절감). <b>지출 1원당 절감액 {per_krw}.</b> "
            f"기간: 관찰된 {y0}~{y1}년, 명목 금액, 할인하지 않음.</p>")


def _has_point(h: dict) -> bool:
    """Whether the headline is a point estimate with its interval, not a range without one."""
    return h["estimate"] is not None and not math.isnan(h["estimate"])


def answer_ko(h: dict) -> str:
    pub = h["published"]
    verdict = ("구간 전체가 0보다 작아 의료비를 줄였다고 볼 수 있습니다" if h["conf_high"] < 0 else
               "구간 전체가 0보다 커 의료비를 늘렸다고 볼 수 있습니다" if h["conf_low"] > 0 else
               "구간이 0을 포함하므로 의료비가 줄었는지 늘었는지 이 자료로는 가릴 수 없습니다")
    lead = (f"참여자 1인당 연간 의료비 차이의 추정치는 {fmt_krw(h['estimate'])}원, 95% 신뢰구간은 "
            f"{fmt_krw(h['conf_low'])} ~ {fmt_krw(h['conf_high'])}원입니다." if _has_point(h) else
            f"이 자료로는 참여자 1인당 연간 의료비에 대한 효과를 자기 선택과 구별할 수 없습니다. 효과는 "
            f"{fmt_krw(h['conf_low'])} ~ {fmt_krw(h['conf_high'])}원 사이에 있습니다(점추정 없음).")
    parts = [
        f"<p><b>{lead}</b> {verdict}. "
        f"근거: {DESIGNS['ko'][h['design']]} ({reason_ko(h['reason'])}).{_calibration_limit(h, 'ko')}</p>",
        f"<p>서울시가 발표한 {fmt_krw(h['city'])}원과 비교하면: 같은 발표 설계(2022년 참여자와 1:10 매칭 비교군, "
        f"2021→2023)를 이 데이터에 적용하면 {fmt_krw(pub.estimate)}원이 나옵니다. {_why_differ(h, 'ko')}</p>",
        f"<p>얼마나 확신할 수 있나: {_sentence_refutation(h, 'ko', h['placebo_shift'])}</p>",
        value_for_money(h, "ko"),
    ]
    if h["truth"] is not None and not math.isnan(h["truth"]):
        parts.append(f"<p class=\"note\">이 보고서는 합성 데이터로 만든 것입니다. 이 합성 세계에 심어 둔 실제 효과는 "
                     f"{fmt_krw(h['truth'])}원입니다(실제 자료에서는 알 수 없는 값).</p>")
    return "".join(parts)


def answer_en(h: dict) -> str:
    pub = h["published"]
    verdict = ("The whole interval lies below 0: the program lowered costs" if h["conf_high"] < 0 else
               "The whole interval lies above 0: the program raised costs" if h["conf_low"] > 0 else
               "The interval includes 0: these data cannot tell whether costs fell or rose")
    lead = (f"The estimated difference in a participant's yearly medical costs is KRW {fmt_krw(h['estimate'])} "
            f"(95% CI {fmt_krw(h['conf_low'])} to {fmt_krw(h['conf_high'])})." if _has_point(h) else
            "These data cannot tell the effect on a participant's yearly medical costs apart from self-selection: "
            f"it lies between KRW {fmt_krw(h['conf_low'])} and KRW {fmt_krw(h['conf_high'])} (no point estimate).")
    parts = [
        f"<p><b>{lead}</b> {verdict}. "
        f"Basis: {DESIGNS['en'][h['design']]} ({h['reason']}).{_calibration_limit(h, 'en')}</p>",
        f"<p>Against the city's published KRW {fmt_krw(h['city'])}: the same published design (2022 joiners vs "
        f"1:10 matched non-participants, 2021 to 2023) gives KRW {fmt_krw(pub.estimate)} on these data. "
        f"{_why_differ(h, 'en')}</p>",
        f"<p>How sure we are: {_sentence_refutation(h, 'en', h['placebo_shift'])}</p>",
        value_for_money(h, "en"),
    ]
    if h["truth"] is not None and not math.isnan(h["truth"]):
        parts.append(f"<p class=\"note\">This report is built on synthetic data. The true effect planted in this "
                     f"synthetic world is KRW {fmt_krw(h['truth'])} (unknowable with real data).</p>")
    return "".join(parts)


# --- the first screen: three plain sentences, no method names (issue 16) ------------------------------------


def josa(word: str, with_final: str, without_final: str) -> str:
    """``word`` and the particle its last syllable takes (은/는, 이/가, 과/와): Korean picks by whether the
    syllable ends in a consonant. A digit is read as its Sino-Korean name (1 일, 3 삼, 6 육, 7 칠, 8 팔, 0 영 end in
    one); a Latin letter as an acronym's vowel-final name (BMI: 비엠아이)."""
    last = word.rstrip()[-1]
    if "\uac00" <= last <= "\ud7a3":
        final = (ord(last) - 0xAC00) % 28 != 0
    else:
        final = last in "136780"
    return word + (with_final if final else without_final)


def _share(v: float, city: float) -> str:
    """``v`` as a whole-number percentage of the city's figure (both KRW per participant-year)."""
    return f"{round(100 * v / city):,}%"


def _cost_sentence_en(h: dict) -> str:
    lo, hi, city = h["conf_low"], h["conf_high"], h["city"]
    claim = f"the city's claimed KRW {fmt_krw(-city)} saving"
    if hi < 0:
        said = (f"lowered a participant's yearly medical costs by between KRW {fmt_krw(-hi)} and KRW {fmt_krw(-lo)} "
                f"({_share(hi, city)} to {_share(lo, city)} of {claim})")
    elif lo > 0:
        said = (f"raised a participant's yearly medical costs by between KRW {fmt_krw(lo)} and KRW {fmt_krw(hi)} "
                f"(against {claim})")
    else:
        said = (f"changed a participant's yearly medical costs by between a saving of KRW {fmt_krw(-lo)} and a rise "
                f"of KRW {fmt_krw(hi)} ({_share(lo, city)} of {claim} to none of it), so no saving is shown")
    return f"On these data the program {said}; {_health_clause(h, 'en')}."


def _cost_sentence_ko(h: dict) -> str:
    lo, hi, city = h["conf_low"], h["conf_high"], h["city"]
    claim = f"서울시 발표 절감액 {fmt_won(-city)}"
    if hi < 0:
        said = (f"참여자 1인당 연간 의료비를 {fmt_won(-hi)}에서 {fmt_won(-lo)} 줄였고({claim}의 "
                f"{_share(hi, city)}~{_share(lo, city)})")
    elif lo > 0:
        said = f"참여자 1인당 연간 의료비를 {fmt_won(lo)}에서 {fmt_won(hi)} 늘렸고({josa(claim, '과', '와')} 반대 방향)"
    else:
        said = (f"참여자 1인당 연간 의료비를 최대 {fmt_won(-lo)} 줄였을 수도, {fmt_won(hi)} 늘렸을 수도 있어 "
                f"절감이 확인되지 않으며({claim}의 {_share(lo, city)}에서 0%까지)")
    return f"이 자료로 보면 프로그램은 {said}, {_health_clause(h, 'ko')}."


def _health_clause(h: dict, lang: str) -> str:
    """Which of the health measures changed clearly (an interval that excludes 0), by name."""
    health = h["health"]
    moved = [(m[f"name_{lang}"], m["conf_high"] < 0) for m in health if m["conf_low"] > 0 or m["conf_high"] < 0]
    n = len(health)
    if lang == "ko":
        if not moved:
            return f"건강 지표 {n}개 가운데 뚜렷이 달라진 것은 없습니다"
        said = ", ".join(f"{josa(name, '은', '는')} {'낮아졌' if fell else '높아졌'}" for name, fell in moved)
        rest = n - len(moved)
        return f"건강 지표 가운데 {said}고" + (f" 나머지 {rest}개는 뚜렷한 변화가 없습니다" if rest else "습니다")
    if not moved:
        return f"none of the {n} health measures changed clearly"
    said = ", ".join(f"{name} {'fell' if fell else 'rose'}" for name, fell in moved)
    rest = n - len(moved)
    return f"of {n} health measures, {said} clearly" + (f" and the other {rest} did not" if rest else "")


def _city_sentence(h: dict, lang: str) -> str:
    """Why the city's figure differs: its own design on these data, and what the pre-enrolment years show."""
    pub = h["published"]
    if pub is None:
        return ""
    diverged = bool(h["pretest"]) and not h["pretest"]["passed"]
    if lang == "ko":
        what = f"{fmt_won(-pub.estimate)} 절감" if pub.estimate < 0 else f"{fmt_won(pub.estimate)} 증가"
        why = ("참여자의 의료비는 참여 전부터 다른 사람과 다르게 변하고 있었고, 두 해만 비교하면 그 차이까지 프로그램 효과로 "
               "세기 때문입니다" if diverged else
               "그 차이는 비교 대상을 누구로 삼았는지와 우연에서 옵니다")
        return f"같은 자료에 서울시의 두 해 비교 방식을 적용하면 {josa(what, '이', '가')} 나오는데, {why}."
    what = f"a saving of KRW {fmt_krw(-pub.estimate)}" if pub.estimate < 0 else f"a rise of KRW {fmt_krw(pub.estimate)}"
    why = ("because joiners' costs were already changing differently before they joined" if diverged else
           "the gap comes from whom each compares participants with and from chance")
    return f"The city's two-year comparison gives {what} on these data, {why}."


def _budget_sentence(h: dict, lang: str) -> str:
    """What the cost effect means for the budget; no saving is stated as fact when its interval crosses 0."""
    v = h["value"]
    lo, hi, spend = v["savings_total_conf_low"], v["savings_total_conf_high"], v["spending_total"]
    n = h["participants"]
    if lang == "ko":
        rng = f"연 {fmt_eok(lo, 'ko')}에서 {fmt_eok(hi, 'ko')} 사이의 절감"
        verdict = ("이를 상쇄할 의료비 절감은 확인되지 않습니다" if lo <= 0 <= hi else
                   f"의료비는 오히려 늘어납니다(연 {fmt_eok(-hi, 'ko')}~{fmt_eok(-lo, 'ko')})" if hi < 0 else
                   f"{josa(rng, '은', '는')} 비용을 넘어섭니다" if lo > spend else
                   f"{josa(rng, '은', '는')} 비용의 일부만 메웁니다" if hi < spend else
                   f"{josa(rng, '이', '가')} 비용을 메우는지는 알 수 없습니다")
        return f"참여자 {n / 1e4:,.0f}만 명 기준 프로그램 비용은 연 {fmt_eok(spend, 'ko')}이며, {verdict}."
    rng = f"the yearly saving of {fmt_eok(lo, 'en')} to {fmt_eok(hi, 'en')}"
    verdict = ("no saving is shown to set against it" if lo <= 0 <= hi else
               f"medical costs rise as well, by {fmt_eok(-hi, 'en')} to {fmt_eok(-lo, 'en')} a year" if hi < 0 else
               f"{rng} more than covers it" if lo > spend else
               f"{rng} covers only part of it" if hi < spend else
               f"{rng} may or may not cover it")
    return f"At {n / 1e6:g} million participants the program costs {fmt_eok(spend, 'en')} a year; {verdict}."


def summary(h: dict, lang: str) -> str:
    """The first screen's three sentences: costs and health, why the city's figure differs, the budget."""
    first = _cost_sentence_ko(h) if lang == "ko" else _cost_sentence_en(h)
    return "".join(f"<p>{html.escape(s)}</p>" for s in (first, _city_sentence(h, lang), _budget_sentence(h, lang)) if s)


def _rules_ko(r: dict) -> str:
    F = DISCLOSURE_FLOORS
    text = (f"반출 심사 규칙(최소 {r['min_count']}명, 1인 지배 {r['dominance']:.0%} 초과 금지, 잔차 자유도 "
            f"{r['min_residual_df']} 이상, 개인 최솟값·최댓값 비공개)을 거쳤습니다.")
    if r["floors_overridden"]:
        text += (f" 단, 계획서가 패키지의 하한(최소 {F['min_cell']}명, 1인 지배 {F['dominance']:.0%}, 잔차 자유도 "
                 f"{F['min_residual_df']})보다 약한 규칙을 명시적으로 "
                 f"허용했습니다(override_floors: {', '.join(r['floors_overridden'])}).")
    return text


def _rules_en(r: dict) -> str:
    F = DISCLOSURE_FLOORS
    text = (f"Every table and figure passed the release rules before it was written (at least {r['min_count']} "
            f"persons, no person above {r['dominance']:.0%} of a total, at least {r['min_residual_df']} residual "
            "degrees of freedom, no person's exact minimum or maximum).")
    if r["floors_overridden"]:
        text += (f" The plan explicitly allowed rules weaker than the package's floors ({F['min_cell']} persons, "
                 f"{F['dominance']:.0%}, {F['min_residual_df']} residual df): override_floors for "
                 f"{', '.join(r['floors_overridden'])}.")
    return text


def methods_ko(h: dict, rules: dict) -> str:
    return ("<p>프로그램 참여 기록과 국민건강보험공단의 건강검진·진료비 자료를 가명결합하여, 2017~2025년 1인 1년 단위 "
            "분석 자료를 만들었습니다. 참여 시기가 사람마다 다르므로(2021년 시범사업부터 2025년 상시 모집까지), 같은 시기에 "
            "아직 참여하지 않은 사람과 비교하는 Callaway-Sant'Anna 이중차분법을 주 설계로 하고, 서울시의 발표 설계, 적층 매칭 "
            "이중차분법, 이원고정효과 회귀를 함께 보고합니다. 결과마다 어떤 설계를 앞세울지는 분석 전에 계획서(study.toml)에 정한 "
            "규칙이 진단 결과만으로 정합니다: 진료비는 음성 대조 진료비로 보정한 설계(대조에 체계적 오차가 보이면 보정 전후 구간을 모두 아우르는 범위), 검진 수치와 새 진단은 참여 이유에 대한 서로 다른 가정 위에 선 세 설계의 범위(세 설계가 서로 다르지 않으면 주 설계), "
            "참여 전 추세가 달랐던 결과는 Rambachan-Roth 범위(점추정 없음)입니다. 위약 검정, 음성 대조 결과, "
            "Rambachan-Roth 민감도 분석, E-값, DoWhy 반증 검정으로 결과를 점검했습니다. 모든 표와 그림은 공개 전 "
            f"{_rules_ko(rules)}</p>")


def methods_en(h: dict, rules: dict) -> str:
    return ("<p>Program records were linked with the National Health Insurance Service's checkup and claims data "
            "by pseudonymised linkage into a person-year panel for 2017-2025. People joined at different times "
            "(from the 2021 pilot to rolling enrolment in 2025), so the main design is Callaway and Sant'Anna's "
            "difference-in-differences, comparing joiners with people not yet enrolled at the same time; the city's "
            "published design, stacked matched DiD and two-way fixed effects are reported beside it. Which design leads "
            "each outcome is decided from diagnostics only, by a rule fixed in the study plan (study.toml) before "
            "the analysis: costs by the design calibrated on negative-control costs (or, where those controls show a "
            "systematic error, the span of the calibrated and the uncalibrated intervals), checkup measures and new "
            "diagnoses by the range of three designs, each right under a different account of why people joined (by the main "
            "design where the three agree), and outcomes whose pre-enrolment trends differed by a "
            "Rambachan-Roth range with no point claim. Placebo tests, a negative "
            "control outcome, Rambachan-Roth sensitivity bounds, the E-value and DoWhy's refuters check the result. "
            f"{_rules_en(rules)}</p>")


RULES = {"ko": {"min_count": "최소 인원", "dominance": "1인 지배", "residual_df": "잔차 자유도",
                "exact_extreme": "최솟값·최댓값", "secondary": "2차 비공개"},
         "en": {"min_count": "minimum count", "dominance": "dominance", "residual_df": "residual df",
                "exact_extreme": "exact extreme", "secondary": "secondary"}}


def _release(lang: str):
    def f(s: dict) -> str:
        # counts of cells by the rule that withheld them ("3 under the minimum count"), never "minimum count 3",
        # which reads as the rule's own threshold
        used = {k: v for k, v in s["by_rule"].items() if v}
        rules = ", ".join((f"{RULES[lang][k]} 기준 {v}개" if lang == "ko" else f"{v} under the {RULES[lang][k]} rule")
                          for k, v in used.items()) or ("해당 없음" if lang == "ko" else "none")
        if lang == "ko":
            return (f"출력물 {s['outputs']}개를 심사했고 {s['suppressed_cells']}개 셀을 비공개 처리했습니다 ({rules}). "
                    "세부 내역은 reports/release_manifest.json에 있습니다. 비공개 셀은 표에 '비공개'로 표시됩니다.")
        return (f"{s['outputs']} outputs were reviewed and {s['suppressed_cells']} cells suppressed ({rules}). "
                "The details are in reports/release_manifest.json; suppressed cells read 'suppressed' in the tables.")
    return f


FIGURE_TITLES = {
    "ko": {"01_enrolment_curve": "참여자 누적 추이", "02_linkage_match_rates": "가명결합 연결률",
           "03_cost_trends_by_cohort": "참여 시기별 의료비 추이", "04_propensity_overlap": "성향점수 겹침",
           "05_love_plot": "매칭 전후 공변량 균형", "06_group_time_att": "집단-시점별 효과",
           "07_event_study": "사건연구: 참여 전후 효과", "08_forest_all_outcomes": "모든 결과, 모든 설계",
           "09_heterogeneity": "하위집단별 효과", "10_adherence_dose": "활동 수준별 비교(자기선택)",
           "11_sensitivity": "민감도 분석", "12_causal_graph": "가정한 인과 그래프",
           "13_flow_diagram": "참여자와 가명결합 흐름"},
    "en": {"01_enrolment_curve": "Enrolment curve", "02_linkage_match_rates": "Linkage match rates",
           "03_cost_trends_by_cohort": "Medical cost by enrolment cohort", "04_propensity_overlap": "Propensity overlap",
           "05_love_plot": "Covariate balance before and after matching", "06_group_time_att": "Group-time effects",
           "07_event_study": "Event study", "08_forest_all_outcomes": "Every outcome, every design",
           "09_heterogeneity": "Effects by subgroup", "10_adherence_dose": "Adherence (self-selection)",
           "11_sensitivity": "Sensitivity analysis", "12_causal_graph": "Assumed causal graph",
           "13_flow_diagram": "Participant and linkage flow"},
}

# One sentence under each figure: how to read it (not what it shows on one run: the same words serve any data).
FIGURE_NOTES = {
    "ko": {
        "01_enrolment_curve": "가명결합된 참여자를 참여 월별로 누적한 수입니다. {min_cell}명 미만인 달은 비공개 처리되어 0으로 세고, 월별 인원은 5 단위로 "
                              "반올림했습니다.",
        "02_linkage_match_rates": "집단별로 프로그램 기록이 건강보험 자료와 연결된 비율입니다. 연결되지 않은 참여자는 분석에서 비참여자로 "
                                  "남으므로, 연결률이 낮은 집단일수록 효과가 희석됩니다.",
        "03_cost_trends_by_cohort": "참여 연도별 1인당 연간 평균 의료비입니다. 참여 전부터 선의 기울기가 다르면 집단 간 차이가 프로그램만이 "
                                    "아니라는 경고입니다.",
        "04_propensity_overlap": "서울시 설계의 2022년 참여자, 전체 비교 후보, 매칭된 비교군의 성향점수 분포입니다. 분포가 겹치는 범위에서만 "
                                 "매칭이 의미가 있습니다.",
        "05_love_plot": "서울시 매칭 전후 공변량별 표준화 평균차입니다. 0.1(점선) 미만이면 균형으로 보지만, 측정된 변수에 한해서입니다.",
        "06_group_time_att": "참여 집단과 연도별 효과와 균일 95% 신뢰대입니다. 참여 전(회색) 점들은 추세가 평행했다면 0 근처에 있어야 합니다.",
        "07_event_study": "계획의 Callaway-Sant'Anna 설계로 본 참여 후 경과 연수별 효과로, 해마다 참여 전해와 비교했습니다(사건연구 그림은 "
                          "고정 기준 시점으로 읽어야 하므로(Roth 2024) 추정치의 기준 시점과 다릅니다; 음성대조 보정 결론에는 "
                          "사건연구가 없습니다). 0년 이전에 기울기가 있으면 참여 전부터 집단이 벌어지고 있었다는 뜻이고, 이후 "
                          "추정치에 그 추세가 섞입니다.",
        "08_forest_all_outcomes": "결과별·설계별 추정치와 95% 신뢰구간입니다. 합성 자료에서 검은 마름모는 심어 둔 실제 효과입니다.",
        "09_heterogeneity": "참여 전에 정해진 하위집단별 주 설계 추정치입니다. 구간이 넓고 서로 겹치면 하위집단 간 차이가 확인되지 "
                            "않은 것입니다.",
        "10_adherence_dose": "2022년 참여자를 활동 여부와 걸음 수 3분위로 나눈 관찰된 의료비 변화(빨강)와 실제 프로그램 효과(초록)입니다. "
                             "둘의 차이는 걷기의 효과가 아니라 누가 걷기를 선택하는지를 보여 줍니다.",
        "11_sensitivity": "참여 후 추세 차이를 참여 전 최대 차이의 Mbar배까지 허용할 때 평균 효과의 강건 95% 신뢰구간입니다(Mbar 0.1 "
                          "간격). 구간이 처음 0을 포함하는 점이 한계점입니다. 음성대조로 보정한 의료비 결론에는 사건연구가 없어 이 "
                          "범위가 없으며, 그 불확실성은 보정이 더한 폭으로 나타납니다.",
        "12_causal_graph": "참여와 결과의 원인으로 가정한 관계입니다. 점선인 건강 관심도는 측정되지 않으므로, 측정된 변수만 보정하는 "
                           "설계로는 배제할 수 없습니다.",
        "13_flow_diagram": "프로그램 기록이 건강보험 자료와 연결된 과정과 분석에 들어간 사람 수입니다. 연결되지 않은 참여자는 "
                           "비참여자 속에 남아 효과를 희석합니다. {min_cell}명 미만의 칸은 비공개입니다.",
    },
    "en": {
        "01_enrolment_curve": "Linked participants by month of enrolment, cumulated; months with fewer than {min_cell} joiners are "
                              "suppressed and count as 0, and monthly counts are rounded to 5.",
        "02_linkage_match_rates": "Share of program records linked to an NHIS person, by group; unlinked participants stay "
                                  "among the apparent non-participants, so a group with a lower rate has its effect diluted.",
        "03_cost_trends_by_cohort": "Mean yearly medical cost by the year people enrolled; lines whose slopes differ before "
                                    "enrolment warn that the groups differ in more than the program.",
        "04_propensity_overlap": "Propensity scores of the 2022 joiners, all potential controls and the matched controls in "
                                 "the city's design; matching means something only where the groups overlap.",
        "05_love_plot": "Standardised mean difference of each covariate before and after the city's matching; below 0.1 "
                        "(dashed) counts as balanced, but only on what was measured.",
        "06_group_time_att": "Effect for each enrolment cohort and year with uniform 95% bands; points before enrolment "
                             "(grey) should sit near zero if trends were parallel.",
        "07_event_study": "Effect by years since enrolment, all cohorts together, by the plan's Callaway-Sant'Anna design "
                          "(the calibrated cost headline has no event study), each year against the year before "
                          "enrolment (a universal base period, as event-study plots should be read: Roth 2024; the "
                          "estimates use the plan's base period); a slope before year 0 means the groups "
                          "were already drifting apart, and the estimates after it carry that drift.",
        "08_forest_all_outcomes": "Every outcome's estimate by design with its 95% interval; on synthetic data the black "
                                  "diamond is the true effect planted in the world.",
        "09_heterogeneity": "The headline design within subgroups fixed before enrolment; wide, overlapping intervals mean "
                            "no subgroup difference is established.",
        "10_adherence_dose": "2022 joiners by adherence and by third of daily steps: the observed cost change (red) against "
                             "the true program effect (green); the gap between them is who chooses to walk, not what "
                             "walking does.",
        "11_sensitivity": "Robust 95% intervals of the average effect as trends after enrolment may diverge by up to Mbar "
                          "times the largest divergence before it (Mbar in steps of 0.1); where the interval first reaches "
                          "zero is the breakdown. The calibrated cost headline has no event study and so no such bounds: "
                          "its uncertainty is the width calibration adds.",
        "12_causal_graph": "The assumed causes of enrolment and outcomes; health consciousness (dashed) is not measured, so "
                           "no design that adjusts only for measured variables can rule it out.",
        "13_flow_diagram": "How program records were linked to NHIS data and who entered the analysis; unlinked "
                           "participants stay among the apparent non-participants and dilute the effect. Boxes with "
                           "fewer than {min_cell} persons are suppressed.",
    },
}

VALUE_LABELS = {
    "ko": {"savings_per_participant_year": "참여 인년당 절감액(원)", "savings_conf_low": "참여 인년당 절감액 95% 하한",
           "savings_conf_high": "참여 인년당 절감액 95% 상한", "spending_per_participant_year": "참여 인년당 지출(원)",
           "savings_per_krw": "지출 1원당 절감액(원)", "savings_per_krw_conf_low": "지출 1원당 절감액 95% 하한",
           "savings_per_krw_conf_high": "지출 1원당 절감액 95% 상한", "participants": "환산 기준 참여자 수",
           "savings_total": "연간 총 절감액(원)", "savings_total_conf_low": "연간 총 절감액 95% 하한",
           "savings_total_conf_high": "연간 총 절감액 95% 상한", "spending_total": "연간 총 지출(원)",
           "city_savings_claim": "서울시 환산 연간 절감액(원)",
           "break_even_per_participant_year": "비용을 뽑는 1인당 연간 절감액(원)",
           "insurer_share": "의료비 중 건강보험 부담 비율"},
    "en": {"savings_per_participant_year": "savings per participant-year (KRW)",
           "savings_conf_low": "savings per participant-year, 95% low",
           "savings_conf_high": "savings per participant-year, 95% high",
           "spending_per_participant_year": "spending per participant-year (KRW)",
           "savings_per_krw": "savings per KRW spent", "savings_per_krw_conf_low": "savings per KRW spent, 95% low",
           "savings_per_krw_conf_high": "savings per KRW spent, 95% high", "participants": "participants extrapolated to",
           "savings_total": "yearly savings (KRW)", "savings_total_conf_low": "yearly savings, 95% low",
           "savings_total_conf_high": "yearly savings, 95% high", "spending_total": "yearly spending (KRW)",
           "city_savings_claim": "the city's yearly savings claim (KRW)",
           "break_even_per_participant_year": "break-even saving per participant-year (KRW)",
           "insurer_share": "NHIS share of participants' medical costs"},
}

# outcomes in the tables, with the tables' units, from the outcome registry (analysis/definitions.py)
OUTCOMES = {lang: {name: getattr(o, lang) for name, o in OUTCOME_SPECS.items()} for lang in ("ko", "en")}


def outcome_names(defs, lang: str) -> dict[str, str]:
    """Each outcome's name in the tables: the package's own from ``OUTCOMES``, an outcome a study's phenotype
    file adds by its ``name_<lang>`` (else its key)."""
    added = {n: dict(p.names).get(lang, n) for n, p in defs.outcomes.items()}
    return {**added, **OUTCOMES[lang]}


SUBGROUPS = {"ko": {"sex": "성별", "age": "나이", "baseline_bmi": "기초 BMI", "baseline_activity": "기초 신체활동",
                    "device": "기기", "adherence_2023": "2023년 활동"},
             "en": {"baseline_bmi": "baseline BMI", "baseline_activity": "baseline activity",
                    "adherence_2023": "adherence in 2023"}}
LEVELS = {"ko": {"female": "여성", "male": "남성", "active": "활동", "inactive": "비활동", "band": "밴드", "phone": "휴대폰",
                 "watch": "스마트워치", "active - inactive": "활동 − 비활동", "steps: lowest third": "걸음 수 하위 1/3",
                 "steps: middle third": "걸음 수 중간 1/3", "steps: highest third": "걸음 수 상위 1/3"},
          "en": {"active - inactive": "active − inactive"}}


def _knob_list(knobs: dict) -> str:
    """The world knobs a plan set on top of its scenario, as ``name = value`` (the plan's own words)."""
    return html.escape(", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}" for k, v in knobs.items()))


WORLDS = {"ko": {"default": "기본 세계", "null": "프로그램 효과가 전혀 없는 세계", "no-selection": "자기 선택이 없는 세계"},
          "en": {"default": "the default world", "null": "a world where the program does nothing",
                 "no-selection": "a world where people do not select themselves into the program"}}


def _pct(scale: float) -> str:
    return f"{100 * scale:g}%"


TEXT = {
    "ko": {
        "title": "손목닥터9988은 의료비를 줄였는가?", "subtitle": lambda sc, scale, years: (
            f"합성 연계 자료로 한 재분석(서울, {years[0]}~{years[1]}년): 서울 성인의 {_pct(scale)} 규모로 만든 "
            f"{WORLDS['ko'].get(sc, sc)}"),
        "h_detail": "이 숫자의 근거", "row_city": "서울시 발표 (2022년 참여자 대 1:10 매칭 비참여자, 2021→2023년)",
        "row_city_here": "같은 설계를 이 자료에 적용", "row_headline": "이 연구의 결론",
        "knobs": lambda k: f"; 시나리오 위에 바꾼 세계 설정: {_knob_list(k)}" if k else "",
        "answer": answer_ko, "methods": methods_ko, "release": _release("ko"), "h_methods": "방법",
        "h_figures": "그림", "h_diagnostics": "진단과 반증 검정", "h_tables": "전체 표", "h_release": "반출 심사",
        "diagnostics_intro": "설계별 반증·민감도 검정입니다. '통과'는 결론이 그 검정을 견딘다는 뜻입니다. 주 추정치와 신뢰구간은 "
                             "아래 전체 표에 있습니다. '비공개'는 반출 심사에서 가려진 값, '–'는 해당 없는 값입니다.",
        "dowhy_note": "DoWhy는 서울시 설계를 의료비 변화에 대한 참여 여부와 매칭 공변량의 회귀로 추정하므로, 그 값({dowhy}원)은 "
                      "표의 두 해 비교 값({did}원)과 다릅니다. DoWhy 검정의 값은 이 회귀의 값과 견주어 읽습니다. 민감도 "
                      "검정의 값은 효과가 아니라 한계점입니다.",
        "t_headlines": "결과별 결론",
        "t_definitions": "결과 변수 정의",
        "definitions_intro": "진료비·진단·투약 결과는 모두 청구 명세서(T20), 상병(T40), 처방(T60) 자료에서 결과 정의 파일"
                             "(phenotypes.toml, 판 {version})의 규칙으로 만들었습니다. 진료비는 명목 금액(원)입니다. 이 정의는 "
                             "의무기록과 대조해 검증되지 않았으며, 패키지는 합성 세계의 실제 발생과 비교해 점검합니다"
                             "(benchmarks/results_claims_world.md). 공변량은 분석 계획(study.toml)의 [covariates]와 [did]에 "
                             "있습니다.",
        "headlines_intro": "결과마다 계획서에 미리 정한 규칙(진단 결과만으로 결정)에 따라 고른 설계입니다. 검진 수치와 새 진단은 "
                           "아래 세 설계가 서로 다르지 않은 경우가 아니면 점 추정치 없이 범위로 보고합니다. 사람들이 참여한 이유는 자료만으로 가려낼 수 없습니다. 검진 결과가 나빠서 "
                           "참여한 사람은 다음 검진에서 저절로 좋아지고(평균 회귀), 원래부터 건강 상태가 다른 사람도 있으며, "
                           "참여의 계기가 된 검진에서 진단을 함께 받은 사람도 있습니다. 세 설계(참여 전 해부터 잰 설계, 참여 "
                           "계기가 될 수 있는 검진 시기 이전부터 재고 그 무렵 참여하지 않은 사람과 비교한 설계, 참여 전 마지막 "
                           "검진과 진단을 맞춘 설계)는 각각 이 가운데 한 설명에서 옳고 나머지에서는 정해진 방향으로 "
                           "어긋나므로, 효과는 세 설계가 만드는 범위로 보고합니다. 세 설계의 추정치가 통계적으로 서로 다르지 않으면 어느 설명이 "
                           "맞든 답이 같으므로 주 설계의 추정치(점추정과 신뢰구간)를 보고합니다. 검진이 참여를 이끌기 전부터 추세가 달랐다면 "
                           "Rambachan-Roth 범위(참여 후 추세 차이가 참여 전 최대 차이만큼 벌어질 수 있다고 할 때)를 씁니다. "
                           "범위 안에서는 효과와 자기 선택을 구별할 수 없습니다. 의료비는 프로그램이 바꿀 수 없는 진료비(음성 대조)로 보정하며, 보정은 그 대조군이 "
                           "공유하는 편향만 제거합니다. 대조에 체계적 오차가 보이면(평균 오차가 0과 다르면) 의료비도 같은 오차를 가지는지 "
                           "확인할 수 없으므로, 보정한 구간과 보정하지 않은 구간을 모두 아우르는 범위로 보고합니다.",
        "t_estimates": "결과별·설계별 추정치", "t_heterogeneity": "하위집단", "t_adherence": "활동 수준별 비교",
        "t_value": "비용 대비 효과", "passed": "통과", "failed": "실패", "suppressed": "비공개",
        "breakdown": "한계점", "ci_limit": "신뢰한계", "figure_titles": FIGURE_TITLES["ko"],
        "figure_notes": FIGURE_NOTES["ko"],
    },
    "en": {
        "title": "Did Wrist Doctor 9988 lower medical costs?",
        "subtitle": lambda sc, scale, years: (
            f"Re-analysis on synthetic linked data (Seoul, {years[0]}-{years[1]}): {WORLDS['en'].get(sc, sc)}, built "
            f"like Seoul at {_pct(scale)} of its adults"),
        "h_detail": "What lies behind these numbers",
        "row_city": "The city's published figure (2022 joiners vs 1:10 matched non-participants, 2021 to 2023)",
        "row_city_here": "The city's design on these data", "row_headline": "This study's headline",
        "knobs": lambda k: f"; world knobs set on top of the scenario: {_knob_list(k)}" if k else "",
        "answer": answer_en, "methods": methods_en, "release": _release("en"), "h_methods": "Methods",
        "h_figures": "Figures", "h_diagnostics": "Diagnostics and refutation", "h_tables": "Full tables",
        "h_release": "Release review",
        "diagnostics_intro": "Each design's refutation and sensitivity checks; 'passed' means the conclusion survives "
                             "the check. The main estimates and their intervals are in the full tables below. "
                             "'suppressed' marks a value withheld by the release review, '–' one that does not apply.",
        "dowhy_note": "DoWhy estimates the city's design by a regression of the cost change on enrolment and the "
                      "matching covariates, so its number (KRW {dowhy}) differs from the two-year comparison in the "
                      "tables (KRW {did}); read DoWhy's checks against its own number. A sensitivity check's value is "
                      "its breakdown, not an effect.",
        "t_headlines": "Headline by outcome",
        "t_definitions": "Outcome definitions",
        "definitions_intro": "Every cost, diagnosis and drug outcome was computed from the claim headers (T20), "
                             "diagnoses (T40) and prescriptions (T60) by the rules of the outcome-definition file "
                             "(phenotypes.toml, version {version}). Costs are nominal KRW. The definitions have not "
                             "been validated against medical records; the package checks them against the synthetic "
                             "world's true onsets (benchmarks/results_claims_world.md). The covariates are in the "
                             "plan's (study.toml) [covariates] and [did] tables.",
        "headlines_intro": "For each outcome, the design chosen by the rule fixed in the study plan (decided from "
                           "diagnostics only). Checkup measures and new diagnoses are reported as ranges, with no point "
                           "estimate, unless the designs below agree. People join for reasons the data cannot tell apart: some after a bad checkup, "
                           "which improves at the next one by itself (regression to the mean); some because they "
                           "differ lastingly; and the checkup that prompted joining can also have produced a "
                           "diagnosis. Three designs (measured from the year before joining; measured from before "
                           "the checkups that could have prompted joining, against people who did not join around "
                           "then; matched on the last checkup and the diagnoses before joining) are each right under "
                           "one of these accounts and off in a known direction under the others, so the effect is "
                           "reported as the span of the three; where the three estimates do not differ significantly, "
                           "the account does not change the answer and the main design's estimate and interval are "
                           "reported. Where "
                           "trends differed before any checkup could prompt joining, the Rambachan-Roth range is used "
                           "(trends after enrolment may diverge as much as the largest divergence before it). Within a "
                           "range the effect cannot be told apart from self-selection. Costs "
                           "are calibrated with costs the program cannot change (negative controls); calibration "
                           "removes only the bias those controls share. Where the controls show a systematic error "
                           "(their mean error differs from 0), whether a cost shares it cannot be checked, and the "
                           "cost is reported as the span of the calibrated and the uncalibrated intervals.",
        "t_estimates": "Estimates by outcome and design", "t_heterogeneity": "Subgroups", "t_adherence": "Adherence",
        "t_value": "Value for money", "passed": "passed", "failed": "failed", "suppressed": "suppressed",
        "breakdown": "breakdown", "ci_limit": "CI limit", "figure_titles": FIGURE_TITLES["en"],
        "figure_notes": FIGURE_NOTES["en"],
    },
}


COLUMN_NAMES = {
    "ko": {"check": "검정", "value": "값", "interval": "95% 구간", "result": "결과", "meaning": "의미", "item": "항목",
           "outcome": "결과", "design": "설계", "estimate": "추정치", "conf_low": "95% 하한", "conf_high": "95% 상한",
           "p_value": "p값", "p_adjusted": "보정 p값", "n_treated": "참여자 수", "n_control": "비교군 수",
           "truth": "참값(합성)", "subgroup": "하위집단", "level": "수준", "n": "인원", "mean_change": "평균 변화",
           "participants": "참여자", "participant_years": "참여 인년", "points_paid": "지급 포인트",
           "bands_lent": "대여 밴드", "device_cost": "밴드 단가", "spending": "총지출",
           "spending_per_participant_year": "참여 인년당 지출", "figure": "수치", "characteristic": "특성", "definition": "정의", "rule": "규칙",
           "joiners_2022": "2022년 참여자", "candidates": "비교 후보 전체", "matched": "매칭된 비교군",
           "record_item": "항목", "record_asks": "요구 내용", "record_where": "답한 곳",
           "per_participant_year": "참여자 1인당 연간 의료비 차이(원)"},
    "en": {"conf_low": "95% low", "conf_high": "95% high", "p_value": "p", "p_adjusted": "p (adjusted)",
           "truth": "truth (synthetic)", "n_treated": "participants", "n_control": "comparison",
           "mean_change": "mean change", "interval": "95% interval", "participant_years": "participant-years",
           "points_paid": "points paid", "bands_lent": "bands lent", "device_cost": "KRW per band",
           "spending_per_participant_year": "spending per participant-year", "figure": "",
           "characteristic": "", "joiners_2022": "2022 joiners", "candidates": "all candidates",
           "matched": "matched comparison", "record_item": "item", "record_asks": "asks for",
           "record_where": "answered in",
           "per_participant_year": "difference in yearly medical cost per participant (KRW)"},
}


def format_cell(v, column: str) -> str:
    """One value as the reports print it: p-values as '<0.001'/'0.123', integers with thousands separators,
    other numbers by ``fmt_num`` (a missing one as '–'), text as it is."""
    if column in ("p_value", "p_adjusted"):
        return fmt_p(v)
    if isinstance(v, bool | np.bool_):
        return str(v)
    if isinstance(v, int | np.integer):
        return f"{v:,}"
    if isinstance(v, float | np.floating):
        return fmt_num(v)
    return str(v)


def readable(df, phenotypes=None, lang: str = "en"):
    """A table as a reader (or a notebook) shows it, every cell a string in the reports' own format
    (``format_cell``): outcome, design, subgroup, level and value-item codes replaced by their names."""
    names = {"design": DESIGNS[lang], "subgroup": SUBGROUPS[lang], "level": LEVELS[lang], "item": VALUE_LABELS[lang],
             "outcome": outcome_names(phenotypes, lang) if phenotypes is not None else OUTCOMES[lang]}
    out = df.copy().astype(object)
    for col in out.columns:
        if col in names:
            out[col] = out[col].map(lambda x, m=names[col]: m.get(x, x))
        out[col] = [format_cell(x, col) for x in out[col]]
    return out
