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


def test_no_effect_on_checkups_before_the_enrolment_month(default_world):
    out, persons = _truth(default_world[0])
    chk = pd.read_parquet(default_world[0] / "nhis/checkups.parquet", columns=["PERSON_ID", "HME_YYYYMM"])
    chk["year"] = chk.HME_YYYYMM // 100
    x = chk.merge(out, on=["PERSON_ID", "year"]).merge(persons[["PERSON_ID", "first_treat", "enrol_month"]])
    enrol_ym = pd.to_numeric(x.enrol_month.str.replace("-", ""), errors="coerce")
    before = (x.first_treat == x.year) & (x.HME_YYYYMM < enrol_ym)
    assert before.sum() > 1000
    for m in ("waist", "sbp", "bmi", "fasting_glucose", "hdl"):
        assert (x.loc[before, f"y1_{m}"] == x.loc[before, f"y0_{m}"]).all(), m
    later = (x.first_treat > 0) & (x.year > x.first_treat)
    assert (x.loc[later, "y1_waist"] - x.loc[later, "y0_waist"]).mean() < 0


def test_effect_scale_scales_the_effect_once(tmp_path):
    """Half the step increment gives exactly half the dose and half the effect on waist and BMI."""
    import dataclasses

    from analysis.synth import generate_world, scenario_params

    full = scenario_params("default")
    generate_world(tmp_path / "full", scale=0.004, seed=2, params=full, progress=False)
    half = dataclasses.replace(full, effect_scale=0.5)
    generate_world(tmp_path / "half", scale=0.004, seed=2, params=half, progress=False)
    a = pd.read_parquet(tmp_path / "full/truth/outcomes.parquet")
    b = pd.read_parquet(tmp_path / "half/truth/outcomes.parquet")
    np.testing.assert_allclose(b.dose, 0.5 * a.dose, rtol=1e-6, atol=1e-7)
    # waist and BMI respond to the dose only (SBP and glucose also move with new diagnoses, a step
    # function of the dose, so they are not linear in it); rows at a physiological floor are left out
    for m, floor in (("waist", 50.0), ("bmi", 14.0)):
        ok = (a[f"y1_{m}"] > floor) & (b[f"y1_{m}"] > floor)
        assert ok.mean() > 0.99  # BMI is drawn normal: ~0.4% of person-years hit the floor of 14
        np.testing.assert_allclose(
            (b[f"y1_{m}"] - b[f"y0_{m}"])[ok], 0.5 * (a[f"y1_{m}"] - a[f"y0_{m}"])[ok], atol=2e-5
        )


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
