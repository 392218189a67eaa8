"""The default world reproduces calibration.md section 5 (tolerances as stated there)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.synth.calibration import (
    PUBLISHED_ACTIVE_GAP,
    PUBLISHED_DID,
    calibration_table,
    calibration_targets,
    claims_person_years,
)


@pytest.fixture(scope="module")
def calib(default_run):
    """The default world's calibration report, as the default run computed it (``calibration_report``)."""
    return json.loads((default_run["run"] / "calibration.json").read_text())


@pytest.fixture(scope="module")
def claims_py(default_world):
    return claims_person_years(default_world[0])


@pytest.mark.parametrize("statistic", list(calibration_targets().statistic))
def test_calibration_target(calib, statistic):
    """Each target of calibration.md section 5 (participants' sex, age at joining and enrolment curve;
    checkup attendance; metabolic syndrome, overweight and smoking; the joiners' 2021 cost) within its band."""
    row = calibration_table(calib).set_index("statistic").loc[statistic]
    assert row.within, (statistic, row.this_world, row.low, row.high)


def test_calibration_bands_are_the_stated_tolerances():
    t = calibration_targets().set_index("statistic")
    assert len(t) == 1 + 6 + 5 + 8
    assert t.loc["participants_female", ["low", "high"]].tolist() == pytest.approx([0.62, 0.68])
    assert t.loc["join_age_50s", "target"] == 0.229 and t.loc["mets_men", "high"] == 0.26
    assert t.loc["cumulative_2025-09_share", "target"] == pytest.approx(2_460_000 / 8_200_000)
    assert t.loc["treated_cost_2021", ["low", "high"]].tolist() == pytest.approx([799_636.65, 1_081_861.35])


def test_published_design_lands_near_the_city_headline(calib):
    """The city's design on this world: its 95% interval covers -45,345 KRW (the interval is wide at the
    test scale; the benchmark runs it at full scale), and the true effect for the same people is a third
    to a half of the headline."""
    est, se = calib["published_design_did"], calib["published_design_se"]
    assert est - 1.96 * se <= PUBLISHED_DID <= est + 1.96 * se
    ratio = calib["published_design_true_att"] / PUBLISHED_DID
    assert 0.25 <= ratio <= 0.6, ratio


def test_active_vs_inactive_gap(calib):
    gap, se = calib["active_vs_inactive_gap"], calib["active_vs_inactive_gap_se"]
    assert gap < 0
    assert gap - 1.96 * se <= PUBLISHED_ACTIVE_GAP <= gap + 1.96 * se


def test_costs_zero_inflated_heavy_tailed_with_covid_dip(claims_py):
    claims = claims_py
    any_use = (claims.medical_cost > 0).mean()
    assert 0.85 <= any_use <= 0.95
    pos = np.log(claims.loc[claims.medical_cost > 0, "medical_cost"])
    assert 1.1 <= pos.std() <= 1.5  # sdlog 1.2-1.4 [A]
    mean = claims.groupby("STND_Y").medical_cost.mean()
    assert mean[2020] < mean[2019]  # COVID dip
    assert mean[2022] / mean[2021] > mean[2019] / mean[2018]  # rebound


def test_new_diagnosis_rates_at_40_to_79(default_world, claims_py):
    claims = claims_py
    qual = pd.read_parquet(
        default_world[0] / "nhis/qualification.parquet", columns=["STND_Y", "PERSON_ID", "BIRTH_YEAR"]
    )
    df = claims.merge(qual, on=["STND_Y", "PERSON_ID"])
    age = df.STND_Y - df.BIRTH_YEAR
    rates = {}
    for dx in ("new_hypertension", "new_diabetes"):
        # the phenotype's risk set: covered and without the code through its washout (missing elsewhere)
        at_risk = (age >= 40) & (age <= 79) & df[dx].notna()
        rates[dx] = 100 * df.loc[at_risk, dx].sum() / at_risk.sum()  # per 100 person-years
    htn, dm = rates["new_hypertension"], rates["new_diabetes"]
    assert 2.0 <= htn <= 4.0, htn
    assert 1.0 <= dm <= 1.7, dm


def test_checkup_schedule_and_lipid_rule(default_world):
    chk = pd.read_parquet(
        default_world[0] / "nhis/checkups.parquet", columns=["PERSON_ID", "HME_YYYYMM", "G1E_TG"]
    )
    qual = pd.read_parquet(default_world[0] / "nhis/qualification.parquet")
    df = chk.assign(STND_Y=chk.HME_YYYYMM // 100).merge(qual, on=["PERSON_ID", "STND_Y"], how="left")
    assert df.SEX.notna().all()  # every screening in a year the person is in the population
    age = df.STND_Y - df.BIRTH_YEAR
    # biennial by birth-year parity for everyone except employees (whose non-office workers go yearly)
    not_emp = df.IPSN_TYPE_CD != 5
    assert ((df.STND_Y % 2 == df.BIRTH_YEAR % 2) | ~not_emp).all()
    # lipids every 4 years: men from 24, women from 40
    lip = df.G1E_TG.notna()
    assert (age[lip] % 4 == 0).all()
    assert (age[lip & (df.SEX == 1)] >= 24).all() and (age[lip & (df.SEX == 2)] >= 40).all()
    assert lip.mean() > 0.15


def test_participant_steps_and_points(default_world):
    act = pd.read_parquet(default_world[0] / "program/activity.parquet")
    assert 7_600 <= act.mean_daily_steps.mean() <= 9_600  # 8,606 reported [S]
    assert (act.goal_days <= 31).all()
    old_rule = act.month < "2025-12"
    assert (act.loc[old_rule, "points"] == 200 * act.loc[old_rule, "goal_days"]).all()
    new = act[~old_rule]
    assert (new.points >= 100 * new.goal_days).all() and (new.points <= 100 * new.goal_days + 500 * 6).all()


def test_point_rules_cap_and_new_rule():
    from analysis.synth.program import SEASON_CAP, _month_index, point_rules

    # one member earning 30 goal days a month for 12 months of 2023: two seasons, each capped at 100,000 P
    months = np.array([_month_index(2023, m) for m in range(1, 13)])
    member = np.zeros(12, dtype=int)
    goal = np.full(12, 30 * 20)  # exaggerated goal days to exceed the cap
    pts = point_rules(member, months, goal, np.zeros(12, dtype=int))
    assert pts[:6].sum() == SEASON_CAP and pts[6:].sum() == SEASON_CAP
    assert pts[0] == SEASON_CAP and (pts[1:6] == 0).all()  # the first month alone reaches the cap
    # 2024: one yearly season
    months = np.array([_month_index(2024, m) for m in range(1, 13)])
    pts = point_rules(member, months, goal, np.zeros(12, dtype=int))
    assert pts.sum() == SEASON_CAP
    # 2025-12: 100 P per goal day + 500 P per qualifying week (5 goal days incl. a weekend day)
    m = np.array([_month_index(2025, 12)])
    assert point_rules(np.zeros(1, int), m, np.array([22]), np.array([3])).tolist() == [100 * 22 + 500 * 3]
    assert point_rules(np.zeros(1, int), m, np.array([22]), np.array([0])).tolist() == [100 * 22]


def test_claims_person_years_by_chunks_of_persons_is_the_whole(small_world, monkeypatch):
    """Read a range of persons at a time (bounded memory at any scale), the person-years are those of the
    whole tables read at once, row for row (persons are independent; all of a person's rows share a range)."""
    import analysis.synth.calibration as cal

    monkeypatch.setattr(cal, "CHUNK_PERSONS", 10**9)
    whole = cal.claims_person_years(small_world)
    monkeypatch.setattr(cal, "CHUNK_PERSONS", 997)
    chunked = cal.claims_person_years(small_world)
    assert chunked.PERSON_ID.nunique() > 997 * 3  # several ranges
    key = ["PERSON_ID", "STND_Y"]
    pd.testing.assert_frame_equal(chunked.sort_values(key).reset_index(drop=True),
                                  whole.sort_values(key).reset_index(drop=True))
    years = cal.claims_person_years(small_world, years=(2021, 2023))
    pd.testing.assert_frame_equal(years.sort_values(key).reset_index(drop=True),
                                  whole[whole.STND_Y.isin([2021, 2023])].sort_values(key).reset_index(drop=True))
