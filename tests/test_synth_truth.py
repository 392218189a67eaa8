"""The truth: potential outcomes with and without the program, and the scenarios' invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm

from analysis.synth.world import TRUTH_OUTCOMES


def _truth(world):
    return (
        pd.read_parquet(world / "truth/outcomes.parquet"),
        pd.read_parquet(world / "truth/persons.parquet"),
    )


def test_null_world_truth_is_exactly_zero(null_world):
    out, persons = _truth(null_world)
    assert persons.member_id.notna().sum() > 1000  # people still enrol
    assert (out["dose"] == 0).all()
    for o in TRUTH_OUTCOMES:
        y0, y1 = out[f"y0_{o}"].to_numpy(), out[f"y1_{o}"].to_numpy()
        assert np.array_equal(y0, y1, equal_nan=True), o


def test_default_effects_only_for_enrollees_and_after_enrolment(default_world):
    out, persons = _truth(default_world[0])
    out = out.merge(persons[["PERSON_ID", "first_treat"]], on="PERSON_ID")
    eff = out["y1_medical_cost"] - out["y0_medical_cost"]
    never = out.first_treat == 0
    before = (out.first_treat > 0) & (out.year < out.first_treat)
    assert (eff[never | before] == 0).all()  # no effect without exposure, no anticipation
    assert (out.loc[never | before, "dose"] == 0).all()
    after = (out.first_treat > 0) & (out.year > out.first_treat)
    assert eff[after].mean() < 0  # costs fall
    w = out.y1_waist - out.y0_waist
    assert (w[never | before] == 0).all() and w[after].mean() < 0
    # the negative control is untouched by the program
    assert np.array_equal(out.y0_injury_visits, out.y1_injury_visits)


def test_default_effect_sizes_match_calibration_section_4(default_world):
    """Enrollees at 1-2 years: waist -0.3 to -0.5 cm, SBP -0.6 to -1.0, costs -1% to -2% a year;
    steps +600 to +1,000 in year 1 [A: calibration.md section 4]."""
    out, persons = _truth(default_world[0])
    out = out.merge(persons[["PERSON_ID", "first_treat"]], on="PERSON_ID")
    # 2022 joiners (December wave) in 2023, their first full year
    d = out[(out.first_treat == 2022) & (out.year == 2023)]
    steps = (d.y1_steps - d.y0_steps).mean()
    assert 500 <= steps <= 1000, steps
    assert -0.6 <= (d.y1_waist - d.y0_waist).mean() <= -0.2
    assert -1.1 <= (d.y1_sbp - d.y0_sbp).mean() <= -0.5
    rel = (d.y1_medical_cost.sum() - d.y0_medical_cost.sum()) / d.y0_medical_cost.sum()
    assert -0.025 <= rel <= -0.008, rel


def _enrolment_logit(world):
    persons = pd.read_parquet(world / "truth/persons.parquet")
    qual = pd.read_parquet(world / "nhis/qualification.parquet")
    q = qual[qual.STND_Y == 2021].set_index("PERSON_ID")
    df = persons.set_index("PERSON_ID").join(q, how="inner")
    df = df[(df.first_treat == 0) | (df.first_treat >= 2022)]
    y = (df.first_treat > 0).astype(float)
    age = 2021 - df.BIRTH_YEAR
    X = pd.get_dummies(pd.cut(age, [0, 30, 40, 50, 60, 70, 200]), prefix="age", drop_first=True, dtype=float)
    X["female"] = (df.SEX == 2).astype(float)
    X["premium"] = df.CTRB_PT_TYPE_CD.astype(float)
    X["disab"] = (df.DFAB_GRD_CD > 0).astype(float)
    X["H"] = df.health_consciousness
    fit = sm.Logit(y, sm.add_constant(X)).fit(disp=0)
    return fit.params["H"], fit.bse["H"]


def test_no_selection_enrolment_ignores_latent_health_consciousness(noselection_world, null_world):
    coef, se = _enrolment_logit(noselection_world)
    assert abs(coef) < 3 * se + 0.02, (coef, se)
    coef_sel, se_sel = _enrolment_logit(null_world)  # null keeps the default's selection
    assert coef_sel > 0.3 and coef_sel > 10 * se_sel
