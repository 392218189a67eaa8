"""Clinical definitions shared by every stage (the synthetic truth and the analysis panel alike)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def metabolic_syndrome(female, waist, tg, hdl, sbp, dbp, fbs, htn_rx, dm_rx, dl_rx) -> np.ndarray:
    """Korean metabolic syndrome: >= 3 of the five criteria (calibration.md section 2) [S].

    Waist >= 90 cm (men) / >= 85 cm (women); TG >= 150 mg/dL or lipid drug; HDL < 40 (men) / < 50 (women)
    or lipid drug; SBP >= 130 or DBP >= 85 or antihypertensive; fasting glucose >= 100 or diabetes drug.
    Returns 1.0 / 0.0, and NaN wherever a measure needed is missing (e.g. no lipid panel that year).
    """
    female = np.asarray(female, dtype=bool)
    waist, tg, hdl, sbp, dbp, fbs = (np.asarray(x, dtype=float) for x in (waist, tg, hdl, sbp, dbp, fbs))
    htn_rx, dm_rx, dl_rx = (np.asarray(x, dtype=bool) for x in (htn_rx, dm_rx, dl_rx))
    crit = (
        np.where(female, waist >= 85, waist >= 90).astype(float)
        + ((tg >= 150) | dl_rx)
        + (np.where(female, hdl < 50, hdl < 40) | dl_rx)
        + ((sbp >= 130) | (dbp >= 85) | htn_rx)
        + ((fbs >= 100) | dm_rx)
    )
    out = (crit >= 3).astype(float)
    missing = np.isnan(waist) | np.isnan(tg) | np.isnan(hdl) | np.isnan(sbp) | np.isnan(dbp) | np.isnan(fbs)
    return np.where(missing, np.nan, out)


# Care categories whose costs walking cannot change but care-seeking can: the negative-control outcomes of
# the cost estimate (OHDSI practice: picked before looking at the data; calibration.md section 6).
# (name, KCD-7 family of the claim's main diagnosis, as analysis/phenotypes.toml defines cost_<name>)
CARE_CATEGORIES = (
    ("dental", "K00-K14"),
    ("eye", "H00-H59 (not H36 diabetic retinopathy)"),
    ("skin", "L00-L99"),
    ("ear", "H60-H95"),
    ("preventive", "Z00-Z29"),
)
NC_COST_OUTCOMES = tuple(f"cost_{name}" for name, _ in CARE_CATEGORIES)


# the claims outcomes the panel and the study use (the phenotype file defines each; a study's own file may
# add more)
PANEL_CLAIMS_OUTCOMES = (
    "medical_cost", "patient_cost", "insurer_cost", "outpatient_visits", "inpatient_days", "injury_visits",
    *NC_COST_OUTCOMES, "hypertension_drug", "diabetes_drug", "lipid_drug", "new_hypertension", "new_diabetes",
    "new_dyslipidaemia",
)


# the checkup measures the panel carries (from the G1E tables, not the phenotype file)
CHECKUP_OUTCOMES = ("waist", "sbp", "dbp", "fasting_glucose", "bmi", "hdl", "triglycerides", "metabolic_syndrome")

# what a matching design can adjust for: each person's covariates measured before the cohort's enrolment year,
# the columns of analysis.matching.riskset.cohort_frame (analysis.panel.baseline_covariates, no_checkup_pre for
# a person without a checkup before it, whose measures are set to the cohort mean); a plan's [covariates]
# names terms of these (a name, or C(name) for a categorical)
MATCHING_COVARIATES = (
    "female", "age_pre", "district_pre", "disability_pre", "premium_decile_pre", "chronic_disease",
    "bmi_pre", "waist_pre", "sbp_pre", "dbp_pre", "fasting_glucose_pre", "no_checkup_pre", "cost_pre1", "cost_pre2",
)

@dataclass(frozen=True)
class OutcomeSpec:
    """One of the package's outcomes, declared once: its name in the reports' tables (with the tables'
    unit), its figures' bilingual label (in the figures' unit) and what the figures divide an effect by to
    draw it in that unit (shares and rates per person-year are drawn per 100, costs in KRW 1,000)."""

    ko: str
    en: str
    figure: str
    figure_scale: float = 1.0


CARE_CATEGORIES_KO = {"dental": "치과", "eye": "안과", "skin": "피부", "ear": "귀", "preventive": "예방"}


def _negative_control(name: str) -> tuple[str, OutcomeSpec]:
    ko, en = f"{CARE_CATEGORIES_KO[name]} 진료비(음성 대조, 원/년)", f"{name} care cost (negative control, KRW/yr)"
    return f"cost_{name}", OutcomeSpec(ko, en, f"{ko} · {en}")


# the package's own outcomes (the synthetic truth carries each), in the order figures and tables show them; a
# study plan can name these, and any other outcome its phenotype file defines (named there)
OUTCOME_SPECS = {
    "medical_cost": OutcomeSpec("의료비(원/년)", "medical cost (KRW/yr)",
                                "의료비 (천원/년) · medical cost (KRW 1,000/yr)", 1e3),
    "waist": OutcomeSpec("허리둘레(cm)", "waist (cm)", "허리둘레 (cm) · waist"),
    "sbp": OutcomeSpec("수축기혈압(mmHg)", "systolic BP (mmHg)", "수축기혈압 (mmHg) · systolic BP"),
    "dbp": OutcomeSpec("이완기혈압(mmHg)", "diastolic BP (mmHg)", "이완기혈압 (mmHg) · diastolic BP"),
    "fasting_glucose": OutcomeSpec("공복혈당(mg/dL)", "fasting glucose (mg/dL)",
                                   "공복혈당 (mg/dL) · fasting glucose"),
    "bmi": OutcomeSpec("체질량지수(kg/m²)", "BMI (kg/m²)", "체질량지수 · BMI"),
    "hdl": OutcomeSpec("HDL 콜레스테롤(mg/dL)", "HDL cholesterol (mg/dL)", "HDL 콜레스테롤 (mg/dL) · HDL cholesterol"),
    "triglycerides": OutcomeSpec("중성지방(mg/dL)", "triglycerides (mg/dL)", "중성지방 (mg/dL) · triglycerides"),
    "metabolic_syndrome": OutcomeSpec("대사증후군(비율)", "metabolic syndrome (share)",
                                      "대사증후군 (%p) · metabolic syndrome (points)", 0.01),
    "new_hypertension": OutcomeSpec("고혈압 신규 발생(비율)", "new hypertension (share)",
                                    "고혈압 신규 (100인년당) · new hypertension per 100 person-years", 0.01),
    "new_diabetes": OutcomeSpec("당뇨 신규 발생(비율)", "new diabetes (share)",
                                "당뇨 신규 (100인년당) · new diabetes per 100 person-years", 0.01),
    "new_dyslipidaemia": OutcomeSpec("이상지질혈증 신규 발생(비율)", "new dyslipidaemia (share)",
                                     "이상지질혈증 신규 (100인년당) · new dyslipidaemia per 100 person-years", 0.01),
    "outpatient_visits": OutcomeSpec("외래 방문 횟수(회/년)", "outpatient visits (per year)",
                                     "외래 방문 (회/년) · outpatient visits per year"),
    "injury_visits": OutcomeSpec("손상 진료 횟수(음성 대조)", "injury visits (negative control)",
                                 "손상 진료 (100인년당, 음성대조) · injury visits per 100 person-years (negative control)",
                                 0.01),
    **dict(_negative_control(name) for name, _ in CARE_CATEGORIES),
}
OUTCOMES = tuple(OUTCOME_SPECS)
