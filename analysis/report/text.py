"""The words of the reports, in Korean (the primary audience) and English, filled from released numbers."""

from __future__ import annotations

import math

MINUS = "\u2212"


def fmt_num(v: float) -> str:
    """Thousands separators, a real minus sign, 3 significant decimals for small numbers."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    a = abs(v)
    s = f"{a:,.0f}" if a >= 100 else f"{a:,.3g}" if a >= 0.001 else f"{a:.2e}"
    return (MINUS if v < 0 else "") + s


def fmt_krw(v: float) -> str:
    return fmt_num(round(v))


def fmt_eok(v: float, lang: str) -> str:
    """Large KRW sums: 억 원 (1e8) in Korean, billion KRW in English."""
    if lang == "ko":
        return f"{fmt_num(round(v / 1e8))}억 원"
    return f"KRW {fmt_num(round(v / 1e9, 1)) if abs(v) < 1e11 else fmt_num(round(v / 1e9))} billion"


DESIGNS = {
    "ko": {"published": "서울시 발표 설계", "callaway_santanna": "Callaway-Sant'Anna 설계(계획)",
           "callaway_santanna_trend": "추세 보정 Callaway-Sant'Anna 설계", "stacked_matched": "적층 매칭 DiD",
           "twfe": "이원고정효과(TWFE)"},
    "en": {"published": "the city's published design", "callaway_santanna": "the plan's Callaway-Sant'Anna design",
           "callaway_santanna_trend": "the trend-adjusted Callaway-Sant'Anna design",
           "stacked_matched": "stacked matched DiD", "twfe": "two-way fixed effects (TWFE)"},
}
CHECKS = {
    "ko": {"main_estimate": "주 추정치", "e_value": "E-값", "pre_trend_test": "사전 추세 검정",
           "honest_did_relative_magnitudes": "상대적 크기 민감도", "honest_did_smoothness": "평활성 민감도",
           "dowhy_identification": "DoWhy 식별", "placebo_in_time": "시점 위약 검정",
           "placebo_in_time_trend_adjusted": "시점 위약 검정(추세 보정)", "negative_control_outcome": "음성 대조 결과"},
    "en": {},
}


def check_label(key: str, lang: str) -> str:
    if key in DESIGNS[lang]:
        return DESIGNS[lang][key]
    return CHECKS[lang].get(key, key.replace("_", " "))


def fmt_ratio(v: float) -> str:
    return (MINUS if v < 0 else "") + f"{abs(v):.2f}"


def _robustness(h: dict) -> tuple[int, int]:
    """Robustness checks (not the main estimates, whose 'passed' means an interval that includes 0)."""
    rob = [c for c in h["all_checks"] if c["name"] != "main_estimate"]
    return sum(c["passed"] for c in rob), len(rob)


def _sentence_refutation(h: dict, lang: str) -> str:
    pt, nc = h["pretest"] or {}, h["negative_control"] or {}
    k, n = _robustness(h)
    if lang == "ko":
        s = f"반증·민감도 검정 {n}개 중 {k}개를 통과했습니다. "
        s += ("계획한 설계의 사전 추세 검정은 참여 전에 이미 참여자와 비교군의 의료비 추세가 달랐음을 보여 주었고"
              if pt and not pt.get("passed") else "참여 전 추세의 차이는 검출되지 않았고")
        s += (", 프로그램이 바꿀 수 없는 손상 진료(음성 대조)에서는 효과가 나타나지 않았습니다."
              if nc.get("passed") else ", 프로그램이 바꿀 수 없는 손상 진료(음성 대조)에서도 '효과'가 나타나 선택 편향을 시사합니다.")
        return s
    s = f"The designs passed {k} of {n} refutation and sensitivity checks. "
    s += ("The plan's pre-test shows participants' costs were already on a different trend before they enrolled"
          if pt and not pt.get("passed") else "No difference in trends before enrolment was detected")
    s += ("; injury visits, which the program cannot change (a negative control), show no effect."
          if nc.get("passed") else "; injury visits, which the program cannot change, also show an 'effect': a sign "
          "of selection.")
    return s


def _breakdowns(h: dict) -> dict:
    return {c["design"]: c.get("breakdown") for c in h["all_checks"] if c["name"] == "honest_did_relative_magnitudes"}


def _sentence_sensitivity(h: dict, lang: str) -> str:
    b = _breakdowns(h)
    cs, pub = b.get("callaway_santanna"), b.get("published")

    def show(x):
        return "0" if x is None else f"{x:.2g}"

    if lang == "ko":
        return (f"민감도 분석(Rambachan-Roth): 참여 후 추세 차이가 참여 전 최대 차이의 {show(cs)}배(계획한 설계), "
                f"{show(pub)}배(서울시 설계)를 넘으면 '효과가 0이 아니다'라는 결론이 유지되지 않습니다. 1배보다 작으면, 참여 "
                "전에 이미 본 정도의 추세 차이만으로도 결론이 사라진다는 뜻입니다.")
    return (f"Sensitivity (Rambachan-Roth): the conclusion 'the effect is not zero' survives only while post-enrolment "
            f"trend differences stay below {show(cs)} times (the plan's design) and {show(pub)} times (the city's "
            "design) the largest difference seen before enrolment; below 1 means trend differences already seen "
            "before enrolment are enough to undo it.")


def reason_ko(reason: str) -> str:
    """The Korean of ``analysis.causal.refutation.headline_design``'s reasons."""
    if reason.startswith("chosen"):
        return "계획서에서 지정"
    if reason.startswith("its pre-test"):
        return "사전 추세 검정을 통과"
    if reason.startswith("the plan's design fails"):
        return ("계획한 설계는 사전 추세 검정에서 기각되었고(참여 전부터 추세가 달랐음), 추세 보정 설계의 직선성 검정은 "
                "기각되지 않음")
    return "어떤 설계도 사전 추세 검정을 통과하지 못함: 모든 추정치가 편향되었을 수 있음"


def answer_ko(h: dict) -> str:
    v = h["value"]
    pub = h["published"]
    direction = "줄였" if h["conf_high"] < 0 else "늘렸" if h["conf_low"] > 0 else "바꿨다고 확신할 수 없"
    parts = [
        f"<p><b>프로그램은 참여자 1인당 연간 의료비를 {fmt_krw(h['estimate'])}원 바꾼 것으로 추정됩니다 "
        f"(95% 신뢰구간 {fmt_krw(h['conf_low'])} ~ {fmt_krw(h['conf_high'])}원).</b> 즉 의료비를 {direction}"
        f"{'습니다' if direction != '바꿨다고 확신할 수 없' else '습니다'}. "
        f"근거: {DESIGNS['ko'][h['design']]} ({reason_ko(h['reason'])}).</p>",
        f"<p>서울시가 발표한 {fmt_krw(h['city'])}원과 비교하면: 같은 발표 설계(2022년 참여자와 1:10 매칭 비교군, "
        f"2021→2023)를 이 데이터에 적용하면 {fmt_krw(pub.estimate)}원이 나옵니다. 발표 설계는 두 해만 비교하므로, "
        "건강에 관심이 많은 사람이 먼저 참여하고 그들의 의료비가 원래 더 천천히 늘어나는 자기선택을 걸러내지 못합니다. "
        "여러 해의 참여 전 추세를 함께 보는 설계는 그 차이를 드러내고 보정합니다.</p>",
        f"<p>얼마나 확신할 수 있나: {_sentence_refutation(h, 'ko')} {_sentence_sensitivity(h, 'ko')}</p>",
        f"<p>참여자 {h['participants'] / 1e4:,.0f}만 명 기준: 연간 의료비 절감 {fmt_eok(v['savings_total'], 'ko')} "
        f"(95% 신뢰구간 {fmt_eok(v['savings_total_conf_low'], 'ko')} ~ {fmt_eok(v['savings_total_conf_high'], 'ko')}), "
        f"프로그램 지출(실제 지급 포인트 + 대여 기기) 연 {fmt_eok(v['spending_total'], 'ko')}. "
        f"<b>지출 1원당 절감액 {fmt_ratio(v['savings_per_krw'])}원 (95% 신뢰구간 {fmt_ratio(v['savings_per_krw_conf_low'])} ~ "
        f"{fmt_ratio(v['savings_per_krw_conf_high'])}원).</b> 서울시의 환산치는 연 {fmt_eok(v['city_savings_claim'], 'ko')}이었습니다.</p>",
    ]
    if h["truth"] is not None and not math.isnan(h["truth"]):
        parts.append(f"<p class=\"note\">이 보고서는 합성 데이터로 만든 것입니다. 이 합성 세계에 심어 둔 실제 효과는 "
                     f"{fmt_krw(h['truth'])}원입니다(실제 자료에서는 알 수 없는 값).</p>")
    return "".join(parts)


def answer_en(h: dict) -> str:
    v = h["value"]
    pub = h["published"]
    verdict = ("lowered" if h["conf_high"] < 0 else "raised" if h["conf_low"] > 0 else
               "cannot be said to have changed")
    parts = [
        f"<p><b>The program changed participants' medical costs by an estimated KRW {fmt_krw(h['estimate'])} per "
        f"person per year (95% CI {fmt_krw(h['conf_low'])} to {fmt_krw(h['conf_high'])}).</b> So it {verdict} "
        f"costs. Basis: {DESIGNS['en'][h['design']]} ({h['reason']}).</p>",
        f"<p>Against the city's published KRW {fmt_krw(h['city'])}: the same published design (2022 joiners vs "
        f"1:10 matched non-participants, 2021 to 2023) gives KRW {fmt_krw(pub.estimate)} on these data. Comparing "
        "two years only, it cannot separate the program from self-selection: health-conscious people join first, "
        "and their costs were already growing more slowly. Designs that use several years before enrolment reveal "
        "that difference and correct for it.</p>",
        f"<p>How sure we are: {_sentence_refutation(h, 'en')} {_sentence_sensitivity(h, 'en')}</p>",
        f"<p>At {h['participants'] / 1e6:g} million participants: yearly savings {fmt_eok(v['savings_total'], 'en')} (95% CI "
        f"{fmt_eok(v['savings_total_conf_low'], 'en')} to {fmt_eok(v['savings_total_conf_high'], 'en')}), against "
        f"yearly spending of {fmt_eok(v['spending_total'], 'en')} (points actually paid plus lent devices). "
        f"<b>Savings per KRW spent: {fmt_ratio(v['savings_per_krw'])} (95% CI {fmt_ratio(v['savings_per_krw_conf_low'])} "
        f"to {fmt_ratio(v['savings_per_krw_conf_high'])}).</b> The city extrapolated {fmt_eok(v['city_savings_claim'], 'en')} "
        "a year.</p>",
    ]
    if h["truth"] is not None and not math.isnan(h["truth"]):
        parts.append(f"<p class=\"note\">This report is built on synthetic data. The true effect planted in this "
                     f"synthetic world is KRW {fmt_krw(h['truth'])} (unknowable with real data).</p>")
    return "".join(parts)


def methods_ko(h: dict) -> str:
    return ("<p>프로그램 참여 기록과 국민건강보험공단의 건강검진·진료비 자료를 가명결합하여, 2017~2025년 1인 1년 단위 "
            "분석 자료를 만들었습니다. 참여 시기가 사람마다 다르므로(2021년 시범사업부터 2025년 상시 모집까지), 같은 시기에 "
            "아직 참여하지 않은 사람과 비교하는 Callaway-Sant'Anna 이중차분법을 주 설계로 하고, 서울시의 발표 설계, 적층 매칭 "
            "이중차분법, 이원고정효과 회귀를 함께 보고합니다. 참여 전 추세 검정이 기각되면 참여 전 직선 추세를 제거한 추정치를 "
            "주 결과로 삼는다는 규칙은 분석 전에 계획서(study.toml)에 정해 두었습니다. 위약 검정, 음성 대조 결과, "
            "Rambachan-Roth 민감도 분석, E-값, DoWhy 반증 검정으로 결과를 점검했습니다. 모든 표와 그림은 공개 전 "
            "반출 심사 규칙(최소 10명, 1인 지배 50% 초과 금지, 잔차 자유도 10 이상, 개인 최솟값·최댓값 비공개)을 거쳤습니다.</p>")


def methods_en(h: dict) -> str:
    return ("<p>Program records were linked with the National Health Insurance Service's checkup and claims data "
            "by pseudonymised linkage into a person-year panel for 2017-2025. People joined at different times "
            "(from the 2021 pilot to rolling enrolment in 2025), so the main design is Callaway and Sant'Anna's "
            "difference-in-differences, comparing joiners with people not yet enrolled at the same time; the city's "
            "published design, stacked matched DiD and two-way fixed effects are reported beside it. The rule that a "
            "rejected pre-test makes the trend-adjusted estimate (each cohort's linear pre-enrolment trend removed) "
            "the headline was fixed in the study plan (study.toml) before the analysis. Placebo tests, a negative "
            "control outcome, Rambachan-Roth sensitivity bounds, the E-value and DoWhy's refuters check the result. "
            "Every table and figure passed the release rules before it was written (at least 10 persons, no person "
            "above 50% of a total, at least 10 residual degrees of freedom, no person's exact minimum or maximum).</p>")


def _release(lang: str):
    def f(s: dict) -> str:
        rules = ", ".join(f"{k} {v}" for k, v in s["by_rule"].items())
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
           "11_sensitivity": "민감도 분석", "12_causal_graph": "가정한 인과 그래프"},
    "en": {"01_enrolment_curve": "Enrolment curve", "02_linkage_match_rates": "Linkage match rates",
           "03_cost_trends_by_cohort": "Medical cost by enrolment cohort", "04_propensity_overlap": "Propensity overlap",
           "05_love_plot": "Covariate balance before and after matching", "06_group_time_att": "Group-time effects",
           "07_event_study": "Event study", "08_forest_all_outcomes": "Every outcome, every design",
           "09_heterogeneity": "Effects by subgroup", "10_adherence_dose": "Adherence (self-selection)",
           "11_sensitivity": "Sensitivity analysis", "12_causal_graph": "Assumed causal graph"},
}

TEXT = {
    "ko": {
        "title": "손목닥터9988은 의료비를 줄였는가?", "subtitle": "합성 연계 자료 재분석 (시나리오 {scenario}, 규모 {scale})",
        "answer": answer_ko, "methods": methods_ko, "release": _release("ko"), "h_methods": "방법",
        "h_figures": "그림", "h_diagnostics": "진단과 반증 검정", "h_tables": "전체 표", "h_release": "반출 심사",
        "diagnostics_intro": "주 추정치의 '통과'는 신뢰구간이 0을 포함한다는 뜻이고, 반증·민감도 검정의 '통과'는 결론이 "
                             "그 검정을 견딘다는 뜻입니다. 각 행의 설명을 함께 보십시오.",
        "t_estimates": "결과별·설계별 추정치", "t_heterogeneity": "하위집단", "t_adherence": "활동 수준별 비교",
        "t_value": "비용 대비 효과", "col_design": "설계", "col_check": "검정", "col_estimate": "값",
        "col_result": "결과", "col_meaning": "의미", "col_item": "항목", "col_value": "값", "passed": "통과",
        "failed": "실패", "suppressed": "비공개", "figure_titles": FIGURE_TITLES["ko"],
    },
    "en": {
        "title": "Did Wrist Doctor 9988 lower medical costs?",
        "subtitle": "Re-analysis on synthetic linked data (scenario {scenario}, scale {scale})",
        "answer": answer_en, "methods": methods_en, "release": _release("en"), "h_methods": "Methods",
        "h_figures": "Figures", "h_diagnostics": "Diagnostics and refutation", "h_tables": "Full tables",
        "h_release": "Release review",
        "diagnostics_intro": "For main estimates, 'passed' means the interval includes zero; for refutation and "
                             "sensitivity checks, that the conclusion survives the check. Read each row's meaning.",
        "t_estimates": "Estimates by outcome and design", "t_heterogeneity": "Subgroups", "t_adherence": "Adherence",
        "t_value": "Value for money", "col_design": "design", "col_check": "check", "col_estimate": "value",
        "col_result": "result", "col_meaning": "meaning", "col_item": "item", "col_value": "value",
        "passed": "passed", "failed": "failed", "suppressed": "suppressed", "figure_titles": FIGURE_TITLES["en"],
    },
}


COLUMN_NAMES = {
    "ko": {"outcome": "결과", "design": "설계", "estimate": "추정치", "conf_low": "95% 하한", "conf_high": "95% 상한",
           "p_value": "p값", "p_adjusted": "보정 p값", "n_treated": "참여자 수", "n_control": "비교군 수",
           "truth": "참값(합성)", "subgroup": "하위집단", "level": "수준", "n": "인원", "mean_change": "평균 변화",
           "participants": "참여자", "participant_years": "참여 인년", "points_paid": "지급 포인트",
           "bands_lent": "대여 밴드", "device_cost": "밴드 단가", "spending": "총지출",
           "spending_per_participant_year": "참여 인년당 지출"},
    "en": {"conf_low": "95% low", "conf_high": "95% high", "p_adjusted": "p (adjusted)", "truth": "truth (synthetic)",
           "n_treated": "participants", "n_control": "comparison", "mean_change": "mean change"},
}
