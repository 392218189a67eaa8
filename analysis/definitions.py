"""Clinical definitions shared by every stage (the synthetic truth and the analysis panel alike)."""

from __future__ import annotations

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

# the package's own outcomes (the synthetic truth carries each); a study plan can name these, and any other
# outcome its phenotype file defines
OUTCOMES = (
    "medical_cost",
    "waist",
    "sbp",
    "dbp",
    "fasting_glucose",
    "bmi",
    "hdl",
    "triglycerides",
    "metabolic_syndrome",
    "new_hypertension",
    "new_diabetes",
    "new_dyslipidaemia",
    "outpatient_visits",
    "injury_visits",
    *NC_COST_OUTCOMES,
)
