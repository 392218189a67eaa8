"""The program side: who enrols when (with selection), devices, engagement, monthly activity and dose."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm

from analysis.synth.params import (
    ENROLMENT_MILESTONES,
    FIRST_YEAR,
    JOIN_AGE_BANDS,
    JOIN_AGE_MIX,
    LAST_MONTH,
    PARTICIPANT_FEMALE,
    ROLLING_FROM,
    SEOUL_ADULTS,
    T,
    WorldParams,
)
from analysis.synth.population import Persons


def _month_index(year: int, month: int) -> int:
    return (year - FIRST_YEAR) * 12 + month - 1


def enrolment_periods() -> list[tuple[int, float, int, int, str]]:
    """Enrolment months at full scale: (month index, persons enrolling, min age, max age, wave label)."""
    periods = []
    prev_cum = 0
    prev_m = None
    rolling = _month_index(*ROLLING_FROM)
    for y, mo, cum, lo, hi in ENROLMENT_MILESTONES:
        m = _month_index(y, mo)
        if m < rolling:
            label = {2021: "2021-pilot", 2022: "2022", 2023: "2023"}[y]
            periods.append((m, float(cum - prev_cum), lo, hi, label))
        else:
            start = max(rolling, (prev_m or rolling) + 1)
            months = list(range(start, m + 1))
            for mm in months:
                yy = FIRST_YEAR + mm // 12
                periods.append((mm, (cum - prev_cum) / len(months), lo, hi, f"rolling-{yy}"))
        prev_cum, prev_m = cum, m
    return periods


@dataclass
class Enrolment:
    enrol_month: np.ndarray  # month index since 2017-01, -1 = never
    enrol_day: np.ndarray
    wave: np.ndarray  # object array of labels ("" = never)
    shortfall: int  # quota places left empty because a stratum ran out of eligible persons


def _band_of(age: np.ndarray) -> np.ndarray:
    edges = np.array([b[0] for b in JOIN_AGE_BANDS[1:]])
    return np.searchsorted(edges, age, side="right")


def enrol(
    rng: np.random.Generator,
    p: Persons,
    params: WorldParams,
    abnormal_attended: np.ndarray,
    checkup_month: np.ndarray,
    chronic: np.ndarray,
) -> Enrolment:
    """Choose enrollees period by period.

    Quotas per (sex, age band) stratum reproduce the enrolment curve and the participants' sex and age mix
    exactly [S]; within a stratum the enrollees are the top-k of an enrolment score plus Gumbel noise, i.e.
    sampling without replacement with odds exp(score). The score holds the selection mechanisms of the
    scenario (calibration.md section 4).
    """
    n = p.n
    periods = enrolment_periods()
    total = sum(x[1] for x in periods)
    n_bands = len(JOIN_AGE_BANDS)
    mix = np.asarray(JOIN_AGE_MIX)
    rolling = _month_index(*ROLLING_FROM)
    # early (age-capped) waves: the overall mix restricted to the eligible part of each band
    early_counts = np.zeros(n_bands)
    early_mix = {}
    for m, count, lo, hi, _ in periods:
        if m >= rolling:
            continue
        t = m // 12
        age = p.age[:, t]
        band = _band_of(age)
        present = p.present[:, t]
        elig = present & (age >= lo) & (age <= hi)
        frac = np.array(
            [elig[band == b].sum() / max((present & (band == b)).sum(), 1) for b in range(n_bands)]
        )
        w = mix * frac
        early_mix[m] = w / w.sum()
        early_counts += count * early_mix[m]
    late_mix = np.clip(mix * total - early_counts, 0, None)
    late_mix = late_mix / late_mix.sum()

    scale = n / SEOUL_ADULTS
    enrol_month = np.full(n, -1, dtype=np.int64)
    wave = np.full(n, "", dtype=object)
    prem_sd = (p.premium_decile - 5.5) / 2.9
    base_score = (
        params.select_health_conscious * p.z["H"]
        + params.select_premium * prem_sd
        + params.select_disability * (p.disability > 0)
    )
    cum_target = np.zeros((2, n_bands))
    cum_taken = np.zeros((2, n_bands), dtype=np.int64)
    shortfall = 0
    sex_share = np.array([1 - PARTICIPANT_FEMALE, PARTICIPANT_FEMALE])
    for m, count, lo, hi, label in periods:
        t, month = m // 12, m % 12 + 1
        age = p.age[:, t]
        died_before = (p.death_year == FIRST_YEAR + t) & (p.death_month <= month) | (
            (p.death_year > 0) & (p.death_year < FIRST_YEAR + t)
        )
        elig = p.present[:, t] & (age >= lo) & (age <= hi) & (enrol_month < 0) & ~died_before
        recent = abnormal_attended[:, max(t - 2, 0) : t].any(axis=1) | (
            abnormal_attended[:, t] & (checkup_month[:, t] < month)
        )
        score = (
            base_score
            + params.select_abnormal_checkup * recent
            + params.select_chronic * chronic[:, max(t - 1, 0)]
            + rng.gumbel(size=n)
        )
        band_mix = early_mix[m] if m < rolling else late_mix
        cum_target += count * scale * np.outer(sex_share, band_mix)
        quota = np.floor(cum_target + 1e-9).astype(np.int64) - cum_taken
        band = _band_of(age)
        sex = p.female.astype(np.int64)
        for s in (0, 1):
            for b in range(n_bands):
                q = int(quota[s, b])
                if q <= 0:
                    continue
                idx = np.flatnonzero(elig & (sex == s) & (band == b))
                if len(idx) <= q:
                    take = idx
                    shortfall += q - len(idx)
                else:
                    take = idx[np.argpartition(-score[idx], q - 1)[:q]]
                enrol_month[take] = m
                wave[take] = label
                cum_taken[s, b] += q  # a shortfall is not carried forward
    enrol_day = np.where(enrol_month >= 0, 1 + rng.integers(0, 28, n), 0)
    return Enrolment(enrol_month=enrol_month, enrol_day=enrol_day, wave=wave, shortfall=shortfall)


SEASON_CAP = 100_000


def point_rules(member: np.ndarray, month: np.ndarray, goal_days: np.ndarray, weekend_goal_days: np.ndarray):
    """Points earned per member-month under the rule in force [S: calibration.md section 1].

    200 P per goal day, capped at 100,000 P per 6-month season (2021-23) or per year (2024-25); from
    2025-12: 100 P per goal day + 500 P per week with 5 goal days including a weekend day. Rows must be in
    month order within a member. (With at most ~31 goal days a month the cap binds only in edge cases.)
    """
    year = FIRST_YEAR + month // 12
    new_rule = month >= _month_index(2025, 12)
    weeks = np.minimum(goal_days // 5, weekend_goal_days)
    raw = np.where(new_rule, 100 * goal_days + 500 * weeks, 200 * goal_days)
    season = np.where(year <= 2023, year * 2 + (month % 12 >= 6), year * 2)
    frame = pd.DataFrame({"member": member, "season": season, "raw": raw})
    cum = frame.groupby(["member", "season"], sort=False)["raw"].cumsum().to_numpy()
    return np.clip(raw - np.clip(cum - SEASON_CAP, 0, None), 0, None)


@dataclass
class Program:
    device: np.ndarray  # "" for never enrolled, else band / watch / phone
    withdraw_month: np.ndarray  # month index of withdrawal (-1: none by 2025-12)
    activity: pd.DataFrame  # member-month rows (PERSON row index, month, steps, goal days, points)
    dose: np.ndarray  # (n, T) program-induced steps/day, thousands, year mean
    dose_checkup: np.ndarray  # (n, T) the same over the 12 months up to the year's checkup month
    cumdose: np.ndarray  # (n, T)
    active_2023: np.ndarray  # >= 3 goal days a week on average in 2023 (enrolled then)


MONTH_SEASON = np.array([0.9, 0.92, 1.0, 1.05, 1.07, 1.0, 0.96, 0.97, 1.05, 1.07, 1.0, 0.9])
WEEKEND_RATIO = 1 - 0.119  # weekends -11.9% [S]
DAILY_SDLOG = 0.5  # [A]


def _month_start(m: np.ndarray) -> np.ndarray:
    return (np.asarray(m) + (FIRST_YEAR - 1970) * 12).astype("datetime64[M]").astype("datetime64[D]")


def _increment_and_adherence(rng, p: Persons, params: WorldParams, e: Enrolment, device, steps_nat, bmi0):
    """Each person's step increment at full engagement (heterogeneous) and adherence (self-selected on
    health consciousness) [A]."""
    n = p.n
    t0 = np.clip(e.enrol_month // 12, 0, T - 1)
    rows = np.arange(n)
    base_steps = steps_nat[rows, np.clip(t0 - 1, 0, T - 1)]
    base_bmi = bmi0[rows, np.clip(t0 - 1, 0, T - 1)]
    age_join = p.age[rows, t0]
    # heterogeneity [A]: larger for the inactive, overweight and older; smaller for phone-only users
    increment = (
        params.step_increment
        * params.effect_scale
        * (1 + 0.5 * (base_steps < 5000))
        * (1 + 0.2 * (base_bmi >= 25))
        * (1 + 0.2 * (age_join >= 60))
        * np.where(device == "phone", 0.65, 1.0)
    )
    adherence = expit(0.3 + 0.9 * p.z["H"] + 0.3 * (age_join >= 60) + 0.5 * rng.standard_normal(n))
    return increment, adherence


def _membership(rng, p: Persons, e: Enrolment, adherence):
    """``(withdrawal month or -1, last active month)``: withdrawal at a monthly hazard falling with
    adherence; death and the data's end stop activity too."""
    enrolled = e.enrol_month >= 0
    u_w = rng.random(p.n)
    hazard = np.clip(0.012 * (1.6 - adherence), 1e-4, 0.5)
    dur = np.ceil(np.log(1 - u_w) / np.log(1 - hazard)).astype(np.int64)
    withdraw = np.where(enrolled, e.enrol_month + dur, -1)
    death_m = np.where(p.death_year > 0, (p.death_year - FIRST_YEAR) * 12 + p.death_month - 1, 10**6)
    end = np.minimum(np.minimum(np.where(enrolled, withdraw - 1, -1), death_m), LAST_MONTH)
    return np.where(enrolled & (withdraw <= LAST_MONTH), withdraw, -1), end


def _goal_days(rng, p: Persons, e: Enrolment, idx, k, month, steps):
    """Per active month: days the step goal was met, of which on weekends, and the days counted (the
    first month from the enrolment day)."""
    t = month // 12
    start = _month_start(month)
    start = np.where(k == 0, start + (e.enrol_day[idx] - 1).astype("timedelta64[D]"), start)
    stop = _month_start(month + 1)
    weekdays = np.busday_count(start, stop)
    weekend = (stop - start).astype(np.int64) - weekdays
    wd_mean = steps * 7 / (5 + 2 * WEEKEND_RATIO)
    year = FIRST_YEAR + t
    goal = np.where((year >= 2024) & (p.age[idx, t] >= 70), 5000, 8000)  # [S]
    mu_shift = DAILY_SDLOG**2 / 2

    def p_goal(mean):
        return norm.sf((np.log(goal) - np.log(mean) + mu_shift) / DAILY_SDLOG)

    g_wd = rng.binomial(weekdays, p_goal(wd_mean))
    g_we = rng.binomial(weekend, p_goal(wd_mean * WEEKEND_RATIO))
    return g_wd + g_we, g_we, weekdays + weekend


def _doses(n: int, idx, month, inc, checkup_month):
    """``(dose, dose_checkup)``, (n, T) in thousand steps/day: the calendar year's mean, and the mean over
    the 12 months up to and including the year's checkup month (this year's months up to it, last year's
    from the same month on)."""
    t = month // 12
    dose = np.zeros((n, T))
    np.add.at(dose, (idx, t), inc / 12 / 1000)
    dose_checkup = np.zeros((n, T))
    this = month <= t * 12 + checkup_month[idx, t] - 1
    np.add.at(dose_checkup, (idx[this], t[this]), inc[this] / 12 / 1000)
    nxt = np.flatnonzero(t + 1 < T)
    tn = t[nxt] + 1
    last = month[nxt] >= tn * 12 + checkup_month[idx[nxt], tn] - 1 - 11
    np.add.at(dose_checkup, (idx[nxt][last], tn[last]), inc[nxt][last] / 12 / 1000)
    return dose, dose_checkup


def program_activity(
    rng: np.random.Generator,
    p: Persons,
    params: WorldParams,
    e: Enrolment,
    steps0: np.ndarray,
    shock: np.ndarray,
    morbidity: np.ndarray,
    bmi0: np.ndarray,
    checkup_month: np.ndarray,
) -> Program:
    """Devices, engagement decay, withdrawal, monthly steps, goal days, points and the yearly dose [S/A]."""
    n = p.n
    enrolled = e.enrol_month >= 0
    late = e.enrol_month >= _month_index(*ROLLING_FROM)
    u_dev = rng.random(n)
    device = np.where(~enrolled, "", np.where(~late, "band", np.where(u_dev < 0.27, "watch", "phone")))
    # watch owners walk more by themselves [S: ~+400 steps/day]: a person trait, not a program effect
    steps_nat = steps0 * np.where(device == "watch", 1.06, 1.0)[:, None]
    increment, adherence = _increment_and_adherence(rng, p, params, e, device, steps_nat, bmi0)
    withdraw, end = _membership(rng, p, e, adherence)

    who = np.flatnonzero(enrolled & (end >= e.enrol_month))
    lengths = end[who] - e.enrol_month[who] + 1
    idx = np.repeat(who, lengths)
    k = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    month = e.enrol_month[idx] + k
    t = month // 12
    # shocks (serious illness) and rising morbidity make people walk less: reverse causation [A]
    shock_now = shock[idx, t] > 0
    cum_shock = np.cumsum(shock > 0, axis=1)
    shock_before = (cum_shock[idx, t] - shock_now) > 0
    engage = (
        adherence[idx]
        * (0.5 + 0.5 * np.exp(-k / 10))
        * np.where(shock_now, 0.3, np.where(shock_before, 0.6, 1.0))
        * np.exp(-1.2 * np.clip(morbidity[idx, t], -0.3, None))
        * np.where(month >= _month_index(2025, 12), 0.85, 1.0)  # points cut 2025-12 [S]
    )
    inc = increment[idx] * engage
    steps = steps_nat[idx, t] * MONTH_SEASON[month % 12] * np.exp(0.1 * rng.standard_normal(len(idx))) + inc
    goal_days, g_we, days = _goal_days(rng, p, e, idx, k, month, steps)
    points = point_rules(idx, month, goal_days, g_we)
    dose, dose_checkup = _doses(n, idx, month, inc, checkup_month)
    in_2023 = t == 2023 - FIRST_YEAR
    gd = np.bincount(idx[in_2023], weights=goal_days[in_2023], minlength=n)
    days_2023 = np.bincount(idx[in_2023], weights=days[in_2023], minlength=n)
    active_2023 = (days_2023 > 0) & (gd / np.maximum(days_2023, 1) * 7 >= 3)

    activity = pd.DataFrame(
        {
            "row": idx,
            "month": month,
            "mean_daily_steps": np.round(steps).astype(np.int32),
            "goal_days": goal_days.astype(np.int16),
            "points": points.astype(np.int32),
        }
    )
    return Program(
        device=device,
        withdraw_month=withdraw,
        activity=activity,
        dose=dose,
        dose_checkup=dose_checkup,
        cumdose=np.cumsum(dose, axis=1),
        active_2023=active_2023,
    )
