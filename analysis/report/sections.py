"""The standard sections of a published evaluation (RECORD/STROBE), in Korean and English: background and
objectives, the data and who is in it (missing data, deaths), limitations and generalisability, what the
report is (date, version, plan, data access), and the RECORD checklist saying where each item is answered.

Every number comes from the run's own records or reviewed tables (``render.py`` passes them in ``facts``).
"""

from __future__ import annotations

import html

from analysis.report.text import fmt_eok, fmt_krw, fmt_won

# the section each RECORD item points to, by its anchor
SECTIONS = {
    "ko": {"summary": "첫 화면(요약)", "background": "배경과 목적", "methods": "방법", "data": "자료와 대상자",
           "limitations": "한계와 일반화 가능성", "about": "이 보고서에 대하여"},
    "en": {"summary": "first screen (summary)", "background": "Background and objectives", "methods": "Methods",
           "data": "Data and participants", "limitations": "Limitations and generalisability",
           "about": "About this report"},
}

SHARE_VARIABLES = ("female", "disability_pre", "chronic_disease")
TABLE1_LABELS = {
    "ko": {"n": "인원", "female": "여성", "age_pre": "나이(세)", "premium_decile_pre": "보험료 분위(1~10)",
           "disability_pre": "장애", "chronic_disease": "만성질환(참여 전 진단)", "bmi_pre": "체질량지수(참여 전 검진)",
           "sbp_pre": "수축기혈압(mmHg, 참여 전 검진)", "fasting_glucose_pre": "공복혈당(mg/dL, 참여 전 검진)",
           "cost_pre1": "참여 전해 의료비(원)"},
    "en": {"n": "persons", "female": "female", "age_pre": "age (years)", "premium_decile_pre": "premium decile (1-10)",
           "disability_pre": "disability", "chronic_disease": "chronic disease (diagnosed before)",
           "bmi_pre": "BMI (last checkup before)", "sbp_pre": "systolic BP (mmHg, last checkup before)",
           "fasting_glucose_pre": "fasting glucose (mg/dL, last checkup before)",
           "cost_pre1": "medical cost in the year before (KRW)"},
}

HEADINGS = {
    "ko": {"background": "배경과 목적", "data": "자료와 대상자", "limitations": "한계와 일반화 가능성",
           "about": "이 보고서에 대하여", "record": "RECORD 점검표", "table1": "표 1. 서울시 설계 대상자의 참여 전 특성",
           "missing": "결측과 사망"},
    "en": {"background": "Background and objectives", "data": "Data and participants",
           "limitations": "Limitations and generalisability", "about": "About this report",
           "record": "RECORD checklist", "table1": "Table 1. The city's design's people before enrolment",
           "missing": "Missing data and deaths"},
}


def background(f: dict, lang: str) -> str:
    if lang == "ko":
        return (f"<p>손목닥터9988은 서울시가 2021년 시범사업으로 시작한 건강관리 사업으로, 참여자에게 손목형 활동량계(밴드)나 "
                f"스마트폰 앱으로 걸음 수를 재게 하고 목표를 채우면 포인트를 줍니다. 참여자는 {f['participants'] / 1e4:,.0f}만 명 "
                f"규모에 이르렀습니다. 서울시는 프로그램 기록과 국민건강보험공단의 검진·진료비 자료를 가명결합하고 2022년 "
                f"참여자를 비참여자와 1:10으로 매칭해, 2021년에서 2023년 사이 의료비가 1인당 {fmt_won(-f['city'])} 덜 늘었다고 "
                f"발표하고 연 {fmt_eok(f['city_claim'], 'ko')}의 절감으로 환산했습니다.</p>"
                "<p>목적: 이 프로그램이 참여자의 의료비와 건강(허리둘레, 혈압, 공복혈당, 체질량지수, 대사증후군, 고혈압·당뇨 "
                "신규 발생)을 얼마나 바꾸었는지를, 스스로 참여한 사람이 원래 다르다는 점(자기 선택)을 견디는 설계로 다시 "
                "추정하고, 서울시의 수치가 그와 왜 다른지 보이는 것입니다.</p>")
    return (f"<p>Wrist Doctor 9988 (손목닥터9988) is a health program the Seoul Metropolitan Government started as a pilot "
            "in 2021: participants count their steps with a lent wristband or a phone app and earn points for meeting "
            f"goals; it has reached about {f['participants'] / 1e6:g} million participants. The city linked program "
            "records with the National Health Insurance Service's checkup and claims data by pseudonymised linkage, "
            f"matched 2022 joiners 1:10 with non-participants, reported that medical costs grew KRW {fmt_krw(-f['city'])} "
            f"less per person from 2021 to 2023, and extrapolated savings of {fmt_eok(f['city_claim'], 'en')} a year.</p>"
            "<p>Objectives: to re-estimate what the program did to participants' medical costs and health (waist, "
            "blood pressure, fasting glucose, BMI, metabolic syndrome, new hypertension and diabetes) with designs "
            "that hold up when volunteers differ from everyone else (self-selection), and to show why the city's "
            "figure differs.</p>")


def data_text(f: dict, lang: str) -> str:
    """Who is in the data: linkage, the panel, data cleaning (RECORD 12.2, 12.3, 13.1)."""
    keys = {"ko": {"name": "이름", "birth_date": "생년월일", "sex": "성별", "phone": "전화번호"},
            "en": {"name": "name", "birth_date": "birth date", "sex": "sex", "phone": "phone number"}}[lang]
    k1, k2 = (" + ".join(keys.get(k, k) for k in f["keys"][n]) for n in ("key1", "key2"))
    if lang == "ko":
        return (f"<p>가명결합: 프로그램 기록과 건강보험 자료는 두 결합키({k1}; {k2})를 비밀키로 암호화한 값으로 "
                f"연결했습니다(결합키의 원문과 비밀키는 어떤 출력물에도 남지 않습니다). 참여 기록 {f['records']:,}건 중 "
                f"{f['match_rate']:.1%}가 연결되었고, 연결되지 않은 참여자는 평균 나이가 더 많았습니다(아래 그림). 자료를 읽을 때 "
                "모든 표의 열, 형식, 범위, 코드, 표 사이의 참조를 점검하며, 어긋나는 자료는 표·열·행을 밝혀 거부하고, 제외한 "
                f"사람은 수를 셉니다(자격 자료가 없는 사람 {f['without_qualification']:,}명).</p>")
    return (f"<p>Linkage: program records and NHIS data were joined on two keys ({k1}; {k2}), each encrypted with a "
            "secret key (neither the keys' plain values nor the secret reach any output). Of "
            f"{f['records']:,} program records {f['match_rate']:.1%} were linked; the unlinked were older on average "
            "(figure below). Loading checks every table's columns, types, ranges, codes and the references between "
            "tables, refuses data that break them naming the table, column and rows, and counts everyone left out "
            f"(persons without qualification records: {f['without_qualification']:,}).</p>")


def missing_text(f: dict, lang: str) -> str:
    """Missing data and deaths: what is missing, how many, and how each analysis handles it."""
    share = f["dropped_unbalanced"] / f["persons"]
    deaths = f["deaths"]
    if lang == "ko":
        died = "비공개(반출 심사)" if deaths != deaths else f"{int(deaths):,}명"
        return (f"<p>사망: 분석 기간 중 {died}이 사망했습니다. 사망한 해 이후에는 자료가 없고, 사망한 해의 진료비는 "
                f"포함됩니다. 의료비 분석의 주 설계는 9년 모두 관찰된 사람만 씁니다: 사망, 성년 도달, 전입·전출로 어느 해가 "
                f"빠진 {f['dropped_unbalanced']:,}명({share:.0%})이 빠지므로, 결과는 계속 서울에 산 성인에 대한 것입니다. 건강검진은 "
                f"보통 2년마다이므로 검진 수치는 검진을 받은 해에만 있고, 검진 수치 분석은 관찰된 모든 검진을 씁니다. 참여 전 "
                f"검진이 없는 {f['no_baseline_checkup']:,}명은 매칭에서 '참여 전 검진 없음' 표시로 구별했습니다. 의료비 0원은 "
                "결측이 아니라 진료가 없던 해입니다.</p>")
    died = "a number withheld by the release review" if deaths != deaths else f"{int(deaths):,}"
    return (f"<p>Deaths: {died} persons died during the study years; there are no data after the year of "
            "death, and care in that year is counted. The main cost design uses persons observed in all nine years: the "
            f"{f['dropped_unbalanced']:,} ({share:.0%}) with a year missing through death, coming of age or moving in "
            "or out are left out, so its result is about adults who stayed in Seoul throughout. Checkups are usually "
            "every two years, so checkup measures exist only in checkup years, and their analyses use every observed "
            f"checkup. The {f['no_baseline_checkup']:,} persons without a checkup before enrolment carry a 'no checkup "
            "before' flag in the matching. A cost of zero is a year without care, not a missing value.</p>")


def limitations(f: dict, lang: str) -> str:
    if lang == "ko":
        items = [
            "자기 선택: 건강에 관심이 많은 사람이 먼저 참여한다면, 측정되지 않는 그 차이는 어떤 설계로도 완전히 없앨 수 "
            "없습니다. 이 보고서는 그래서 검진 수치와 새 진단을 점추정 없이 범위로 보고하고, 의료비는 음성 대조로 보정하되 "
            "그 보정이 남기는 편향(합성 세계 검증에서 평균 1만 3천 원가량 절감을 부풀림)을 밝힙니다.",
            f"연결: 참여 기록의 {1 - f['match_rate']:.1%}는 연결되지 않아 비참여자로 남았고, 이들은 더 나이가 많았습니다. "
            "효과를 희석하는 방향입니다.",
            "청구 자료로 만든 결과: 새 진단은 상병 코드와 투약으로 정의해 잘못 분류될 수 있고, 비급여 진료는 청구 자료에 없으며, "
            "금액은 명목 금액입니다.",
            "검진: 검진 수치는 검진을 받은 사람에게만 있고, 프로그램이 검진 참여 자체를 바꿨다면 그만큼 치우칠 수 있습니다.",
            "일반화: 결과는 서울에 계속 산 성인 가운데 스스로 참여한 사람에 대한 것입니다. 참여하지 않은 사람이 참여했을 때의 "
            "효과나 다른 도시·시기에는 그대로 옮길 수 없고, 2020~2022년에는 코로나19로 진료 이용이 줄었습니다.",
        ]
        if f["synthetic"]:
            items.append("이 보고서의 숫자는 합성 세계의 것으로, 실제 서울에 대한 결론이 아닙니다. 합성 세계는 방법이 참값을 "
                         "찾는지 점검하려고 만든 것입니다.")
    else:
        items = [
            "Self-selection: if health-conscious people join first, no design can fully remove that unmeasured "
            "difference. This report therefore gives checkup measures and new diagnoses as ranges without a point "
            "claim, calibrates costs with negative controls, and states the bias calibration leaves (in the synthetic "
            "coverage study it overstated the saving by about KRW 13,000 on average).",
            f"Linkage: {1 - f['match_rate']:.1%} of program records were not linked and stayed among the non-participants; "
            "they were older. This dilutes the effect.",
            "Outcomes from claims: new diagnoses are defined by diagnosis codes and drugs and can be misclassified; care "
            "not covered by insurance is not in the claims; amounts are nominal KRW.",
            "Checkups: checkup measures exist only for those who attend; if the program changed attendance itself, "
            "they may be skewed by that.",
            "Generalisability: the results are about adults who stayed in Seoul and chose to join. They do not carry "
            "over as they are to people who did not join, to other cities or to other years; care use fell with "
            "COVID-19 in 2020-2022.",
        ]
        if f["synthetic"]:
            items.append("The numbers in this report are those of a synthetic world, not conclusions about Seoul: the "
                         "world exists to check that the methods find a truth it knows.")
    return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def about(f: dict, lang: str) -> str:
    if lang == "ko":
        data = ("합성 자료: 누구나 패키지로 같은 세계를 다시 만들 수 있습니다(같은 시드, 같은 결과)." if f["synthetic"] else
                "실제 결합 자료는 국민건강보험공단의 폐쇄 분석실 안에만 있으며, 반출 심사를 통과한 집계만 나옵니다.")
        return (f"<p>분석 실행일 {f['finished']}, 패키지 wristdoctor-study {f['version']}, 분석 계획(study.toml) 지문 "
                f"<code>{f['fingerprint']}</code>, 결과 정의 파일 판 {f['phenotypes']}. {data} 분석 계획, 결과 정의 파일과 모든 코드는 "
                "패키지와 함께 공개되며, 같은 계획과 자료로 다시 실행하면 같은 표와 그림이 나옵니다.</p>")
    data = ("Synthetic data: anyone can rebuild the same world with the package (same seed, same results)." if
            f["synthetic"] else "The real linked data stay inside NHIS's closed analysis room; only aggregates that "
            "passed the release review leave it.")
    return (f"<p>Analysis run on {f['finished']}; package wristdoctor-study {f['version']}; plan (study.toml) "
            f"fingerprint <code>{f['fingerprint']}</code>; outcome-definition file version {f['phenotypes']}. {data} The plan, "
            "the outcome definitions and all code come with the package; rerun with the same plan and data, they "
            "give the same tables and figures.</p>")


# RECORD (Benchimol et al. 2015, PLoS Med 12(10): e1001885): the items specific to routinely collected data,
# and the section of this report that answers each
RECORD_ITEMS = [
    ("1.1", "summary", "Type of data in the title or abstract", "제목·요약에 자료의 종류"),
    ("1.2", "summary", "Geographic region and timeframe", "지역과 기간"),
    ("1.3", "summary", "Linkage between databases stated", "자료 결합 여부"),
    ("6.1", "data", "Methods of population selection (codes, algorithms)", "대상자 선정 방법(코드, 알고리즘)"),
    ("6.2", "methods", "Validation of the codes or algorithms", "코드·알고리즘의 검증"),
    ("6.3", "data", "Flow diagram of the linkage with numbers at each stage", "단계별 인원이 있는 결합 흐름도"),
    ("7.1", "methods", "Codes and algorithms for exposures, outcomes, confounders", "노출·결과·교란변수의 코드와 알고리즘"),
    ("12.1", "about", "Investigators' access to the database population", "연구자의 자료 접근 범위"),
    ("12.2", "data", "Data cleaning methods", "자료 정제 방법"),
    ("12.3", "data", "Linkage methods and linkage quality", "결합 방법과 결합 품질"),
    ("13.1", "data", "Selection of persons, including by data quality and linkage", "자료 품질·결합에 따른 대상자 선정"),
    ("19.1", "limitations", "Misclassification, unmeasured confounding, missing data, changing eligibility",
     "오분류, 측정되지 않은 교란, 결측, 자격 변화"),
    ("22.1", "about", "Access to protocol, raw data and programming code", "계획서·원자료·코드 접근"),
]
