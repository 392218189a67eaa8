"""Yearly health, disease, claims and checkup attendance of the synthetic world.

``simulate_outcomes`` is called twice per chunk, once with the program's dose set to zero (potential
outcomes without the program, y0) and once with each person's actual dose (y1), on the same pre-drawn
random numbers, so that y1 - y0 is the exact individual effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from analysis.definitions import CARE_CATEGORIES
from analysis.synth.params import NC_CATEGORY_PARAMS, YEARS, T, WorldParams
from analysis.synth.population import MEASURES, Persons, factor_correlation

# mean (sd) men, women; slope per decade of age men, women; drift per year; 2-year within-person
# correlation [D/A: calibration.md section 2]. fbs is the non-diabetic component; diabetes adds to it.
MEASURE_SPEC = {
    "bmi": (24.3, 3.3, 22.6, 3.6, -0.2, 0.6, 0.07, 0.93),
    "waist": (83.6, 8.3, 75.8, 9.1, 0.3, 2.4, 0.2, 0.85),
    "sbp": (120.0, 13.0, 116.5, 14.4, 1.7, 4.2, 0.1, 0.6),
    "dbp": (76.0, 9.3, 73.3, 9.6, 0.3, 1.6, 0.0, 0.6),
    "fbs": (90.0, 11.0, 90.0, 9.5, 2.5, 2.5, 0.4, 0.65),
    "tc": (190.0, 36.0, 192.0, 36.0, -2.0, 3.5, 0.3, 0.7),
    "hdl": (52.7, 13.4, 61.7, 15.2, -0.6, -2.5, 0.2, 0.8),
    "ldl": (108.0, 32.0, 109.0, 32.0, -1.9, 3.5, 0.3, 0.7),
    "lntg": (np.log(123), 0.59, np.log(91), 0.52, 0.0, 0.05, 0.005, 0.6),
    "lnggt": (np.log(32), 0.71, np.log(17), 0.56, 0.0, 0.05, 0.0, 0.75),
}
AGE_CENTRE = 48.0
AGE_SD = 17.0
YEAR_IDX = np.arange(T)
COVID = np.array([1.0 if y in (2020, 2021) else 0.0 for y in YEARS])
# log-cost year effects: 4% nominal growth; COVID dip 2020-21, rebound 2022-23 [A: calibration.md]
COST_YEAR = 0.04 * YEAR_IDX + np.array([0, 0, 0, -0.10, -0.06, 0.0, 0.02, 0.02, 0.02])
CHECKUP_COVID = np.array([0, 0, 0, -0.35, -0.15, 0, 0, 0, 0])


@dataclass
class HealthDraws:
    """Random numbers shared by the y0 and y1 worlds (common random numbers)."""

    transient: np.ndarray  # (n, T, M) correlated year noise of the measures
    u_prev: np.ndarray  # (n, 3) prevalence draws for htn, dm, dl
    u_inc: np.ndarray  # (n, T, 3) incidence draws
    u_drug: np.ndarray  # (n, 3)
    u_any: np.ndarray  # (n, T)
    e_cost: np.ndarray  # (n, T) transient log-cost noise
    morbidity: np.ndarray  # (n, T) AR(1) morbidity: raises costs, lowers program engagement
    u_inp: np.ndarray  # (n, T)
    e_inp: np.ndarray  # (n, T)
    shock: np.ndarray  # (n, T) catastrophic event cost (0 = none), world independent
    u_visits: np.ndarray  # (n, T)
    injury: np.ndarray  # (n, T) injury visit counts (negative control: unaffected by the program)
    e_steps: np.ndarray  # (n, T)
    height_z: np.ndarray  # (n,)
    nc_use: np.ndarray  # (n, T, K) any use of each negative-control care category (CARE_CATEGORIES)
    nc_cost: np.ndarray  # (n, T, K) transient log-cost noise of each category
    nc_person: np.ndarray  # (n, K) a person's lasting propensity for each category


def draw_health(rng: np.random.Generator, p: Persons) -> HealthDraws:
    n = p.n
    corr = factor_correlation(MEASURES)
    transient = rng.standard_normal((n * T, len(MEASURES))) @ np.linalg.cholesky(corr).T
    age = p.age
    shock_p = np.clip(0.008 * np.exp(0.05 * (age - 50)), 0.001, 0.06)
    has_shock = rng.random((n, T)) < shock_p
    shock_cost = np.exp(np.log(5_000_000) + 0.9 * rng.standard_normal((n, T)))
    shock = np.where(has_shock, shock_cost, 0.0)
    # 40% of events carry half their cost into the next year
    carry = (rng.random((n, T)) < 0.4) & has_shock
    shock[:, 1:] += np.where(carry[:, :-1], 0.5 * shock[:, :-1], 0.0)
    # injuries: more in men and the young; the health-conscious have fewer (a level difference that
    # confounds cross-sectional comparisons but not DiD); the program has no effect on them [A]
    inj_rate = np.exp(
        -1.6
        + 0.3 * (~p.female)[:, None]
        - 0.1 * (age - 50) / 10
        + 0.3 * p.z["injury"][:, None]
        - 0.15 * p.z["H"][:, None]
    )
    drawn = dict(
        transient=transient.reshape(n, T, len(MEASURES)),
        u_prev=rng.random((n, 3)),
        u_inc=rng.random((n, T, 3)),
        u_drug=rng.random((n, 3)),
        u_any=rng.random((n, T)),
        e_cost=rng.standard_normal((n, T)),
        morbidity=_ar1(rng, n, rho=0.7, sd=MORBIDITY_SD),
        u_inp=rng.random((n, T)),
        e_inp=rng.standard_normal((n, T)),
        shock=shock,
        u_visits=rng.random((n, T)),
        injury=rng.poisson(inj_rate).astype(np.int16),
        e_steps=rng.standard_normal((n, T)),
        height_z=rng.standard_normal(n),
    )
    # drawn after the others, so that adding the categories left every earlier draw as it was
    k = len(CARE_CATEGORIES)
    return HealthDraws(
        **drawn,
        nc_use=rng.random((n, T, k)),
        nc_cost=rng.standard_normal((n, T, k)),
        nc_person=rng.standard_normal((n, k)),
    )


MORBIDITY_SD = 0.6


def _ar1(rng: np.random.Generator, n: int, rho: float, sd: float) -> np.ndarray:
    e = rng.standard_normal((n, T))
    x = np.empty((n, T))
    x[:, 0] = sd * e[:, 0]
    for t in range(1, T):
        x[:, t] = rho * x[:, t - 1] + sd * np.sqrt(1 - rho**2) * e[:, t]
    return x


def natural_steps(p: Persons, d: HealthDraws) -> np.ndarray:
    """Mean daily steps without the program, (n, T) [A: participants' mean ~8,600 with the program]."""
    a = (p.age - 60) / 10
    log_s = (
        np.log(8100)
        + 0.28 * p.z["steps"][:, None]
        + 0.03 * a
        - 0.05 * a**2
        - 0.04 * p.female[:, None]
        - 0.06 * COVID[None, :]
        + 0.08 * d.e_steps
        - 0.3 * d.morbidity  # the sick walk less: the root of self-selection into adherence [A]
    )
    return np.exp(log_s)


@dataclass
class Outcomes:
    """(n, T) arrays of one world (y0 or y1)."""

    measures: dict[str, np.ndarray]  # bmi, waist, sbp, dbp, fbs, tc, hdl, ldl, tg, ggt, weight
    htn: np.ndarray
    dm: np.ndarray
    dl: np.ndarray
    new_htn: np.ndarray
    new_dm: np.ndarray
    new_dl: np.ndarray
    htn_rx: np.ndarray
    dm_rx: np.ndarray
    dl_rx: np.ndarray
    cost: np.ndarray
    outpatient_cost: np.ndarray
    inpatient_cost: np.ndarray
    inpatient_days: np.ndarray
    outpatient_visits: np.ndarray
    patient_share: np.ndarray
    followup: np.ndarray  # attended abnormal checkups, followed up (raises that year's cost)
    nc_costs: dict[str, np.ndarray]  # cost by negative-control care category (part of ``cost``)


def _diseases(p: Persons, d: HealthDraws, dose: np.ndarray, params: WorldParams):
    """Prevalent (2017) and incident hypertension, diabetes, dyslipidaemia [A: calibration.md]."""
    z, age = p.z, p.age
    male = (~p.female).astype(float)
    a0 = age[:, 0]
    liab_prev = [
        -1.7 + 0.8 * (a0 - 50) / 10 + 0.9 * z["sbp"] + 0.3 * z["bmi"] + 0.1 * male,
        -2.9 + 0.5 * (a0 - 50) / 10 + 1.0 * z["fbs"] + 0.4 * z["bmi"] + 0.2 * male,
        -1.5 + 0.6 * (a0 - 50) / 10 + 0.8 * z["ldl"] + 0.2 * z["bmi"],
    ]
    # incidence intercepts: diabetes is set where the claims phenotype (which needs an antidiabetic, so the
    # untreated fifth is missed) finds 1.2 per 100 person-years at 40-79, inside calibration.md's 1-1.7
    log_h = [
        -3.45 + 0.35 * (age - 60) / 10 + (0.7 * z["sbp"] + 0.25 * z["bmi"])[:, None],
        -4.30 + 0.3 * (age - 60) / 10 + (0.9 * z["fbs"] + 0.3 * z["bmi"])[:, None],
        -3.7 + 0.3 * (age - 60) / 10 + (0.7 * z["ldl"])[:, None],
    ]
    eff = params.eff_log_hazard * dose  # dose already carries effect_scale
    adult = age >= 19
    states, news = [], []
    for k in range(3):
        prev = (d.u_prev[:, k] < expit(liab_prev[k])) & (a0 >= 19)
        hazard = np.exp(log_h[k] + eff)
        has = np.zeros((p.n, T), dtype=bool)
        new = np.zeros((p.n, T), dtype=bool)
        state = prev.copy()
        has[:, 0] = state
        for t in range(1, T):
            inc = (~state) & adult[:, t] & (d.u_inc[:, t, k] < hazard[:, t])
            # persons who turn 19 during the window enter with their prevalence draw
            entering = adult[:, t] & ~adult[:, t - 1] & (d.u_prev[:, k] < expit(liab_prev[k] - 1.0))
            inc_entry = entering & ~state
            state = state | inc | inc_entry
            new[:, t] = inc
            has[:, t] = state
        states.append(has)
        news.append(new)
    return states, news


def abnormal_checkup(m: dict[str, np.ndarray]) -> np.ndarray:
    """A screening result that prompts follow-up (and, in the default scenario, joining the program):
    BMI >= 25, SBP >= 130 or fasting glucose >= 100 [A]."""
    return (m["bmi"] >= 25) | (m["sbp"] >= 130) | (m["fbs"] >= 100)


def _measures(p: Persons, d: HealthDraws, dose_checkup, params: WorldParams, h_trend, disease, drugs) -> dict:
    """The checkup measures of every person-year: sex- and age-specific means and drift, a persistent and
    a transient part, the program's effect at the checkup dose, the health-conscious' own trend, COVID,
    disease and its drugs; clipped to what a checkup can show."""
    (htn, dm, dl), (htn_rx, dm_rx, dl_rx) = disease, drugs
    female = p.female[:, None]
    age_c = (p.age - AGE_CENTRE) / 10
    working_men = (~female) & (p.age < 65)
    covid_bump = COVID[None, :] * np.where(working_men, 1.0, 0.4)
    eff = {
        "bmi": params.eff_bmi,
        "waist": params.eff_waist,
        "sbp": params.eff_sbp,
        "dbp": params.eff_dbp,
        "fbs": params.eff_fbs,
        "hdl": params.eff_hdl,
    }
    m: dict[str, np.ndarray] = {}
    for j, name in enumerate(MEASURES):
        mm, sm, mf, sf, bm, bf, drift, r = MEASURE_SPEC[name]
        mean = np.where(female, mf, mm)
        slope = np.where(female, bf, bm)
        sd_tot = np.where(female, sf, sm)
        sd = np.sqrt(np.maximum(sd_tot**2 - (slope * AGE_SD / 10) ** 2, 0.5 * sd_tot**2))
        x = (
            mean
            + slope * age_c
            + drift * YEAR_IDX[None, :]
            + sd * (np.sqrt(r) * p.z[name][:, None] + np.sqrt(1 - r) * d.transient[:, :, j])
        )
        if name in eff:
            x = x + eff[name] * dose_checkup
            # the health-conscious grow healthier over the years (HDL up, the rest down), in SDs
            sign = 1.0 if name == "hdl" else -1.0
            x = x - sign * params.measure_trend_health_conscious * sd * p.z["H"][:, None] * h_trend[None, :]
        m[name] = x
    # COVID: weight +0.4 kg and waist +0.5 cm in working-age men, less in others [A]
    m["bmi"] = m["bmi"] + 0.15 * covid_bump
    m["waist"] = m["waist"] + 0.5 * covid_bump
    # disease and drugs [A: drug starts cut SBP ~10 mmHg, LDL ~40%, glucose ~20 mg/dL]
    m["sbp"] = m["sbp"] + 14 * htn - 10 * htn_rx
    m["dbp"] = m["dbp"] + 8 * htn - 5 * htn_rx
    m["fbs"] = m["fbs"] + 55 * dm - 20 * dm_rx
    m["ldl"] = m["ldl"] + 35 * dl
    m["tc"] = m["tc"] + 35 * dl
    ldl_cut = 0.4 * m["ldl"] * dl_rx
    m["ldl"] = m["ldl"] - ldl_cut
    m["tc"] = m["tc"] - ldl_cut
    m["tg"] = np.clip(np.exp(m.pop("lntg")), 20.0, 3000.0)
    m["ggt"] = np.clip(np.exp(m.pop("lnggt")), 3.0, 2000.0)
    m["hdl"] = np.maximum(m["hdl"], 15.0)
    m["fbs"] = np.maximum(m["fbs"], 60.0)
    m["bmi"] = np.maximum(m["bmi"], 14.0)
    m["waist"] = np.maximum(m["waist"], 50.0)
    m["sbp"] = np.maximum(m["sbp"], 80.0)
    m["dbp"] = np.clip(m["dbp"], 40.0, m["sbp"] - 15)
    m["tc"] = np.maximum(m["tc"], 80.0)
    m["ldl"] = np.maximum(m["ldl"], 10.0)
    return m


def _costs(p: Persons, d: HealthDraws, cumdose, params: WorldParams, h_trend, disease, followup):
    """``(outpatient, inpatient, negative-control categories, visit days, inpatient days, patient share)``
    per person-year in KRW (unrounded), zero where the person is not in the data [A/S: calibration.md
    section 2, medical costs]."""
    htn, dm, dl = disease
    female = p.female[:, None]
    age_c = (p.age - AGE_CENTRE) / 10
    chronic = htn.astype(float) + dm + dl
    disab = (p.disability > 0)[:, None]
    z = p.z
    any_use = d.u_any < expit(2.0 + 0.5 * female + 0.15 * age_c + 1.5 * (chronic > 0) + 0.2 * z["H"][:, None])
    # general outpatient care; 12.23 [C]: with the negative-control categories on top (~11% of the total),
    # the total keeps the 2022 joiners' 2021 cost of calibration.md (it was 12.43 before they existed)
    log_outp = (
        12.23
        + 0.28 * age_c
        + 0.12 * female
        + 0.35 * htn
        + 0.45 * dm
        + 0.2 * dl
        + 0.5 * disab
        + 0.08 * z["bmi"][:, None]
        + 0.6 * z["cost"][:, None]
        + COST_YEAR[None, :]
        + params.cost_trend_health_conscious * z["H"][:, None] * h_trend[None, :]
        + 0.12 * followup
        + d.morbidity
        + 0.6 * d.e_cost
    )
    outp = np.where(any_use, np.exp(log_outp), 0.0)
    inp_p = expit(-2.75 + 0.25 * age_c + 0.4 * (chronic > 0) + 0.3 * disab)
    inp_event = d.u_inp < inp_p
    inp = np.where(inp_event, np.exp(np.log(2_200_000) + 0.9 * d.e_inp + 0.1 * age_c), 0.0)
    inp = inp + d.shock
    multiplier = np.exp(params.eff_log_cost * cumdose)
    outp = outp * multiplier
    inp = inp * multiplier
    nc = negative_control_costs(p, d, params, h_trend, any_use)
    nc_total = sum(nc.values())
    cost = outp + inp + nc_total
    # ~KRW 52,000 per visit day, saturating at 300 days a year (costly care is not more visits)
    visits = np.floor(300 * -np.expm1(-outp / (52_000 * 300)) + d.u_visits).astype(np.int32)
    inp_days = np.where(inp > 0, np.minimum(np.ceil(inp / 350_000), 365), 0).astype(np.int32)
    aid = (p.insurance_type == 8)[:, None]
    share = np.where(aid, 0.03 * cost, np.minimum(0.3 * (outp + nc_total) + 0.2 * inp,
                                                  0.3 * (outp + nc_total) + 6_000_000))
    dead_or_minor = ~p.present
    for arr in (outp, inp, share, *nc.values()):
        arr[dead_or_minor] = 0.0
    visits[dead_or_minor] = 0
    inp_days[dead_or_minor] = 0
    return outp, inp, nc, visits, inp_days, share


def simulate_outcomes(
    p: Persons,
    d: HealthDraws,
    dose_checkup: np.ndarray,
    cumdose: np.ndarray,
    params: WorldParams,
    attended: np.ndarray,
    followup: np.ndarray | None = None,
) -> Outcomes:
    """One world's yearly outcomes given the program dose (thousand extra steps/day, (n, T)).

    ``dose_checkup`` is the mean over the 12 months up to the year's checkup month (checkup measures and
    new-diagnosis hazards, diagnoses following the screening: no effect before exposure, even within the
    enrolment year; a checkup in the enrolment month counts as exposed), ``cumdose`` the cumulative
    calendar-year dose (costs, annual). Both are zero for the world without the program and carry
    ``params.effect_scale`` already. Years with an attended (``attended``, (n, T)) abnormal checkup
    get follow-up care that raises that year's outpatient cost (the cost side of regression to the mean)
    [A]; ``followup`` gives those years, or ``None`` to derive them from this world's own measures (the
    world without the program). The years used are returned as ``Outcomes.followup``.
    """
    (htn, dm, dl), (new_htn, new_dm, new_dl) = _diseases(p, d, dose_checkup, params)
    rx = [d.u_drug[:, 0] < 0.85, d.u_drug[:, 1] < 0.8, d.u_drug[:, 2] < 0.6]
    htn_rx, dm_rx, dl_rx = htn & rx[0][:, None], dm & rx[1][:, None], dl & rx[2][:, None]
    h_trend = params.trend_profile()
    m = _measures(p, d, dose_checkup, params, h_trend, (htn, dm, dl), (htn_rx, dm_rx, dl_rx))
    if followup is None:
        followup = attended & abnormal_checkup(m)
    outp, inp, nc, visits, inp_days, share = _costs(p, d, cumdose, params, h_trend, (htn, dm, dl), followup)
    m["height"] = _height(p, d)
    m["weight"] = m["bmi"] * (m["height"] / 100) ** 2
    return Outcomes(
        measures=m,
        htn=htn,
        dm=dm,
        dl=dl,
        new_htn=new_htn,
        new_dm=new_dm,
        new_dl=new_dl,
        htn_rx=htn_rx,
        dm_rx=dm_rx,
        dl_rx=dl_rx,
        # the total is the sum of its rounded parts, so that category costs add up to it exactly
        cost=np.round(outp) + np.round(inp) + sum(np.round(v) for v in nc.values()),
        outpatient_cost=np.round(outp),
        inpatient_cost=np.round(inp),
        inpatient_days=inp_days,
        outpatient_visits=visits,
        patient_share=np.round(share),
        followup=followup,
        nc_costs={k: np.round(v) for k, v in nc.items()},
    )


def negative_control_costs(p: Persons, d: HealthDraws, params: WorldParams, h_trend: np.ndarray,
                           any_use: np.ndarray) -> dict:
    """Yearly cost of each negative-control care category (``CARE_CATEGORIES``), KRW, (n, T) each.

    The program has no effect on them (they do not depend on the dose, so y1 = y0 exactly), but they share
    the selection that threatens the cost estimate: the health-conscious use them more (a level) and their
    use grows differently over the years (``cost_trend_health_conscious`` x the category's relative trend x
    ``nc_trend_scale``, in the same form ``trend_form`` as general care). They share the person's cost
    proneness and the year effects (COVID dip) of general care [A]."""
    female = p.female[:, None]
    age_c = (p.age - AGE_CENTRE) / 10
    out = {}
    for k, (name, _) in enumerate(CARE_CATEGORIES):
        use, median, sdlog, rel_trend = NC_CATEGORY_PARAMS[name]
        person = 0.5 * p.z["cost"] + 0.6 * d.nc_person[:, k]
        use_logit = np.log(use / (1 - use)) + 0.5 * person[:, None] + 0.25 * p.z["H"][:, None] + 0.1 * female
        # only in years with any care at all (~90% [A: calibration.md]), which they do not add to
        used = any_use & (d.nc_use[:, :, k] < expit(use_logit))
        log_c = (
            np.log(median)
            + 0.1 * age_c
            + 0.3 * person[:, None]
            + COST_YEAR[None, :]
            + params.nc_trend_scale * rel_trend * params.cost_trend_health_conscious
            * p.z["H"][:, None] * h_trend[None, :]
            + sdlog * d.nc_cost[:, :, k]
        )
        out[f"cost_{name}"] = np.where(used, np.exp(log_c), 0.0)
    return out


def _height(p: Persons, d: HealthDraws) -> np.ndarray:
    """Height (cm) per person-year: cohort trend -2 cm per decade of age, shrinkage after 60 [D/A]."""
    base = np.where(p.female, 155.1, 168.6)[:, None]
    sd = np.where(p.female, 6.3, 6.5)[:, None]
    return (
        base - 0.2 * (p.age - AGE_CENTRE) - 0.05 * np.maximum(p.age - 60, 0) + 0.85 * sd * d.height_z[:, None]
    )


def checkup_schedule(rng: np.random.Generator, p: Persons, params: WorldParams):
    """Due and attended screenings, screening month, lipid-panel years [S: calibration.md section 2].

    Biennial by birth-year parity, annual for non-office workers, from age 20; lipids every 4 years (men
    from 24, women from 40). Attendance when due ~74.5%, higher for the health-conscious [A].
    """
    years = np.asarray(YEARS)
    parity_due = (years[None, :] % 2) == (p.birth_year[:, None] % 2)
    due = (parity_due | p.non_office[:, None]) & p.present & (p.age >= 20)
    logit = (
        params.attend_intercept
        + params.attend_health_conscious * p.z["H"][:, None]
        + 0.15 * (p.age - 50) / 10
        - 0.4 * (p.insurance_type == 8)[:, None]
        + CHECKUP_COVID[None, :]
    )
    attended = due & (rng.random(due.shape) < expit(logit))
    # year of death: only before the death month
    month_w = np.array([1, 2, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16], dtype=float)
    month = 1 + rng.choice(12, size=due.shape, p=month_w / month_w.sum())
    died_this_year = p.death_year[:, None] == years[None, :]
    attended &= ~(died_this_year & (month >= p.death_month[:, None]))
    lipid_age = np.where(p.female[:, None], 40, 24)
    lipids = attended & (p.age >= lipid_age) & (p.age % 4 == 0)
    return due, attended, month.astype(np.int8), lipids
