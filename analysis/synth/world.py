"""Generate the synthetic linked world in chunks, straight to Parquet.

Layout of the output folder::

    nhis/identifiers.parquet    PERSON_ID + the direct identifiers NHIS uses for linkage
    nhis/qualification.parquet  person-year eligibility (NHIS research-DB field names)
    nhis/checkups.parquet       one row per general health screening
    nhis/t20.parquet            claim headers (명세서): one row per claim (analysis.synth.claims)
    nhis/t40.parquet            diagnoses of each claim (상병내역), KCD-7
    nhis/t60.parquet            prescriptions of each claim (처방전교부상세), ingredient codes
    program/participants.parquet, program/activity.parquet
    truth/persons.parquet, truth/outcomes.parquet   (estimators never read these)
    manifest.json               row counts and SHA-256 of every file
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from analysis import __version__, phenotypes
from analysis.definitions import OUTCOMES, metabolic_syndrome
from analysis.errors import SynthError
from analysis.paths import staged
from analysis.synth.claims import claim_tables, diagnosis_truth
from analysis.synth.health import (
    HealthDraws,
    Outcomes,
    checkup_schedule,
    draw_health,
    natural_steps,
    simulate_outcomes,
)
from analysis.synth.params import (
    CHUNK_PERSONS,
    FIRST_YEAR,
    SEOUL_ADULTS,
    YEARS,
    WorldParams,
    scenario_params,
)
from analysis.synth.population import GIVEN_SYLLABLES, Persons, korean_names, make_persons, phone_numbers
from analysis.synth.program import Enrolment, Program, enrol, program_activity

# component streams: each part of the world draws from its own generator, so a change in one part does
# not shift the random numbers of the others, and the scenarios share the same population
STREAMS = ("persons", "health", "checkups", "enrolment", "program", "identifiers", "measurement", "claims")

TABLES = {
    "nhis/identifiers": pa.schema(
        [
            ("PERSON_ID", pa.int64()),
            ("NAME", pa.string()),
            ("BIRTH_DATE", pa.string()),
            ("SEX", pa.int8()),
            ("PHONE", pa.string()),
        ]
    ),
    "nhis/qualification": pa.schema(
        [
            ("STND_Y", pa.int16()),
            ("PERSON_ID", pa.int64()),
            ("SEX", pa.int8()),
            ("BIRTH_YEAR", pa.int16()),
            ("AGE_GROUP", pa.int8()),
            ("SIDO", pa.int8()),
            ("SGG", pa.int32()),
            ("IPSN_TYPE_CD", pa.int8()),
            ("CTRB_PT_TYPE_CD", pa.int8()),
            ("DFAB_GRD_CD", pa.int8()),
            ("DTH_YM", pa.int32()),
        ]
    ),
    "nhis/checkups": pa.schema(
        [("PERSON_ID", pa.int64()), ("HME_YYYYMM", pa.int32())]
        + [
            (c, pa.float32())
            for c in (
                "G1E_HGHT",
                "G1E_WGHT",
                "G1E_BMI",
                "G1E_WSTC",
                "G1E_BP_SYS",
                "G1E_BP_DIA",
                "G1E_FBS",
                "G1E_TOT_CHOL",
                "G1E_HDL",
                "G1E_LDL",
                "G1E_TG",
                "G1E_HGB",
                "G1E_CRTN",
                "G1E_GFR",
                "G1E_SGOT",
                "G1E_SGPT",
                "G1E_GGT",
            )
        ]
        + [
            ("G1E_URN_PROT", pa.int8()),
            ("Q_SMK_YN", pa.int8()),
            ("Q_DRK_FRQ", pa.int8()),
            ("Q_PA_WALK", pa.int8()),
        ]
    ),
    "nhis/t20": pa.schema(
        [
            ("KEY_SEQ", pa.int64()),
            ("PERSON_ID", pa.int64()),
            ("RECU_FR_DT", pa.int32()),
            ("FORM_CD", pa.string()),
            ("MAIN_SICK", pa.string()),
            ("SUB_SICK", pa.string()),
            ("VSCN", pa.int32()),
            ("EDEC_TRAMT", pa.int64()),
            ("EDEC_SBRDN_AMT", pa.int64()),
            ("EDEC_JBRDN_AMT", pa.int64()),
        ]
    ),
    "nhis/t40": pa.schema(
        [("KEY_SEQ", pa.int64()), ("SEQ_NO", pa.int16()), ("PERSON_ID", pa.int64()), ("MCEX_SICK_SYM", pa.string())]
    ),
    "nhis/t60": pa.schema(
        [
            ("KEY_SEQ", pa.int64()),
            ("SEQ_NO", pa.int16()),
            ("PERSON_ID", pa.int64()),
            ("GNL_NM_CD", pa.string()),
            ("MDCN_EXEC_FREQ", pa.int16()),
        ]
    ),
    "program/participants": pa.schema(
        [
            ("member_id", pa.int64()),
            ("name", pa.string()),
            ("birth_date", pa.string()),
            ("sex", pa.string()),
            ("phone", pa.string()),
            ("district", pa.int32()),
            ("enrol_date", pa.date32()),
            ("wave", pa.string()),
            ("device", pa.string()),
            ("withdrawal_date", pa.date32()),
        ]
    ),
    "program/activity": pa.schema(
        [
            ("member_id", pa.int64()),
            ("month", pa.string()),
            ("mean_daily_steps", pa.int32()),
            ("goal_days", pa.int16()),
            ("points", pa.int32()),
        ]
    ),
    "truth/persons": pa.schema(
        [
            ("PERSON_ID", pa.int64()),
            ("member_id", pa.int64()),
            ("first_treat", pa.int16()),
            ("enrol_month", pa.string()),
            ("wave", pa.string()),
            ("device", pa.string()),
            ("health_consciousness", pa.float32()),
            ("active_2023", pa.bool_()),
            ("fault_name", pa.bool_()),
            ("fault_phone", pa.bool_()),
            ("fault_birth_date", pa.bool_()),
            ("format_variant", pa.bool_()),
        ]
    ),
}
# every outcome the plan can name, plus steps (the program's dose) and the year each disease truly began
# (what the claims phenotypes detect, late or never where care is not sought: benchmarks/bench_claims_world.py)
ONSETS = {"onset_hypertension": "new_htn", "onset_diabetes": "new_dm", "onset_dyslipidaemia": "new_dl"}
TRUTH_OUTCOMES = (*OUTCOMES, "steps", *ONSETS)
TABLES["truth/outcomes"] = pa.schema(
    [("PERSON_ID", pa.int64()), ("year", pa.int16()), ("dose", pa.float32())]
    # costs in float64: float32 would round amounts above KRW 16.7M, and y1 - y0 must be exact
    + [
        (f"{w}_{o}", pa.float64() if o == "medical_cost" or o.startswith("cost_") else pa.float32())
        for o in TRUTH_OUTCOMES
        for w in ("y0", "y1")
    ]
)


def n_persons(scale: float) -> int:
    return int(round(SEOUL_ADULTS * scale))


def _fmt_date(d: np.ndarray, compact: bool = False) -> np.ndarray:
    s = np.datetime_as_string(d.astype("datetime64[D]"), unit="D")
    return np.char.replace(s, "-", "") if compact else s


def _month_str(m: np.ndarray) -> np.ndarray:
    return np.datetime_as_string((m + (FIRST_YEAR - 1970) * 12).astype("datetime64[M]"), unit="M")


@dataclasses.dataclass(frozen=True)
class _ChunkWorld:
    """One chunk's simulated persons and both potential worlds, before any table is written: ``y0``
    without the program, ``y1`` (observed) with it."""

    p: Persons
    d: HealthDraws
    attended: np.ndarray
    hme_month: np.ndarray
    lipids: np.ndarray
    e: Enrolment
    steps0: np.ndarray
    prog: Program
    y0: Outcomes
    y1: Outcomes


def generate_chunk(chunk: int, n: int, seed: int, params: WorldParams) -> dict[str, pd.DataFrame | pa.Table]:
    """All tables of one chunk of ``n`` persons; deterministic in (chunk, seed, params). The claim tables
    (``nhis/t20``, ``t40``, ``t60``) are Arrow tables (tens of millions of rows at the default scale)."""
    ss = np.random.SeedSequence([seed, chunk])
    rngs = dict(zip(STREAMS, (np.random.default_rng(s) for s in ss.spawn(len(STREAMS))), strict=True))
    w = _simulate(rngs, chunk, n, params)
    p = w.p
    ii, tt = np.nonzero(p.present)
    years = np.asarray(YEARS)
    tables, member_id, faults = _identifier_tables(rngs["identifiers"], chunk, w)
    tables["nhis/qualification"] = _qualification(p, ii, tt, years)
    tables.update(
        claim_tables(rngs["claims"], chunk, p.person_id, ii, tt, years, p.death_year, p.death_month, w.y1,
                     w.d.injury)
    )
    tables["nhis/checkups"] = _checkups(rngs["measurement"], w, years)
    tables["truth/outcomes"] = _truth_outcomes(w, ii, tt, years)
    tables["truth/persons"] = _truth_persons(w, member_id, faults)
    return tables


def _simulate(rngs: dict, chunk: int, n: int, params: WorldParams) -> _ChunkWorld:
    p = make_persons(rngs["persons"], n, id_offset=10_000_001 + chunk * CHUNK_PERSONS)
    d = draw_health(rngs["health"], p)
    _, attended, hme_month, lipids = checkup_schedule(rngs["checkups"], p, params)
    zeros = np.zeros((n, len(YEARS)))
    # follow-up after an abnormal screening is derived from the world without the program; the world
    # with it reuses the same years (pre-enrolment values are the same in both worlds)
    y0 = simulate_outcomes(p, d, zeros, zeros, params, attended)
    abnormal_attended = y0.followup
    # chronic disease as the claims show it (drug use): untreated disease is invisible, and selecting
    # on it would be selection on an unobservable
    chronic = y0.htn_rx | y0.dm_rx | y0.dl_rx
    e = enrol(rngs["enrolment"], p, params, abnormal_attended, hme_month, chronic)
    steps0 = natural_steps(p, d)
    prog = program_activity(
        rngs["program"], p, params, e, steps0, d.shock, d.morbidity, y0.measures["bmi"], hme_month
    )
    y1 = simulate_outcomes(
        p, d, prog.dose_checkup, prog.cumdose, params, attended, followup=abnormal_attended
    )
    return _ChunkWorld(p, d, attended, hme_month, lipids, e, steps0, prog, y0, y1)


def _identifier_tables(r: np.random.Generator, chunk: int, w: _ChunkWorld):
    """NHIS's identifiers (the reference) and the program's copies with realistic faults, the program's
    activity; also each person's member id (-1 if never enrolled) and the faults (name, phone, birth date,
    format variant: 4 x n) for the truth."""
    p, e, prog = w.p, w.e, w.prog
    n = len(p.person_id)
    names = korean_names(r, n)
    phones = phone_numbers(r, n)
    tables: dict[str, pd.DataFrame] = {}
    tables["nhis/identifiers"] = pd.DataFrame(
        {"PERSON_ID": p.person_id, "NAME": names, "BIRTH_DATE": _fmt_date(p.birth_date), "SEX": _sex_code(p),
         "PHONE": phones}
    )

    pidx = np.flatnonzero(e.enrol_month >= 0)
    k = len(pidx)
    member_id = np.full(n, -1, dtype=np.int64)
    member_id[pidx] = 50_000_001 + chunk * CHUNK_PERSONS + r.permutation(k)
    # identifier faults on the program side [A]: typos in names; changed phone numbers (more among the
    # young); birth dates registered by the lunar calendar or mistyped (more among the old)
    age_join = FIRST_YEAR + e.enrol_month[pidx] // 12 - p.birth_year[pidx]
    fault_name = r.random(k) < 0.02
    fault_phone = r.random(k) < np.where(age_join < 40, 0.12, 0.06)
    fault_bdate = r.random(k) < np.where(age_join >= 60, 0.06, 0.008)
    variant = r.random(k) < 0.10
    pname = names[pidx].copy()
    swap = GIVEN_SYLLABLES[r.integers(0, len(GIVEN_SYLLABLES), k)]
    # a typo replaces the last syllable of the given name
    typo = np.char.add(np.array([nm[:-1] for nm in pname], dtype=pname.dtype), swap) if k else pname
    fault_name &= typo != pname
    pname = np.where(fault_name, typo, pname)
    # format variants that normalisation must absorb: spaces in names, phones without dashes
    spaced = np.char.add(
        np.char.add(np.array([nm[:1] for nm in pname], dtype=pname.dtype), " "),
        np.array([nm[1:] for nm in pname], dtype=pname.dtype),
    )
    pname = np.where(variant, spaced, pname)
    pphone = np.where(fault_phone, phone_numbers(r, k), phones[pidx])
    pphone = np.where(variant, np.char.replace(pphone, "-", ""), pphone)
    pbd = p.birth_date[pidx] + np.where(fault_bdate, r.integers(1, 40, k), 0).astype("timedelta64[D]")
    enrol_date = _fmt_date(
        (e.enrol_month[pidx] + (FIRST_YEAR - 1970) * 12).astype("datetime64[M]").astype("datetime64[D]")
        + (e.enrol_day[pidx] - 1).astype("timedelta64[D]")
    )
    wm = prog.withdraw_month[pidx]
    wd = np.where(
        wm >= 0,
        (np.maximum(wm, 0) + (FIRST_YEAR - 1970) * 12).astype("datetime64[M]").astype("datetime64[D]")
        + r.integers(0, 28, k).astype("timedelta64[D]"),
        np.datetime64("NaT"),
    )
    tables["program/participants"] = pd.DataFrame(
        {
            "member_id": member_id[pidx],
            "name": pname,
            "birth_date": _fmt_date(pbd, compact=True),
            "sex": np.where(p.female[pidx], "F", "M"),
            "phone": pphone,
            "district": p.district[pidx],
            "enrol_date": pd.to_datetime(enrol_date).date,
            "wave": e.wave[pidx].astype(str),
            "device": prog.device[pidx],
            "withdrawal_date": pd.Series(wd).dt.date,
        }
    )
    act = prog.activity
    tables["program/activity"] = pd.DataFrame(
        {
            "member_id": member_id[act["row"].to_numpy()],
            "month": _month_str(act["month"].to_numpy()),
            "mean_daily_steps": act["mean_daily_steps"].to_numpy(),
            "goal_days": act["goal_days"].to_numpy(),
            "points": act["points"].to_numpy(),
        }
    )
    faults = np.zeros((4, n), dtype=bool)
    for j, f in enumerate((fault_name, fault_phone, fault_bdate, variant)):
        faults[j, pidx] = f
    return tables, member_id, faults


def _sex_code(p: Persons) -> np.ndarray:
    return np.where(p.female, 2, 1).astype(np.int8)


def _qualification(p: Persons, ii: np.ndarray, tt: np.ndarray, years: np.ndarray) -> pd.DataFrame:
    """NHIS qualification: one row per person-year present in Seoul."""
    dth = np.where(p.death_year > 0, p.death_year * 100 + p.death_month, 0)
    dth_y = np.where(years[tt] == p.death_year[ii], dth[ii], 0)
    out = pd.DataFrame(
        {
            "STND_Y": years[tt],
            "PERSON_ID": p.person_id[ii],
            "SEX": _sex_code(p)[ii],
            "BIRTH_YEAR": p.birth_year[ii],
            "AGE_GROUP": np.minimum(p.age[ii, tt] // 5, 18),
            "SIDO": 11,
            "SGG": p.district[ii],
            "IPSN_TYPE_CD": p.insurance_type[ii],
            "CTRB_PT_TYPE_CD": p.premium_decile[ii],
            "DFAB_GRD_CD": p.disability[ii],
            "DTH_YM": pd.array(np.where(dth_y > 0, dth_y, 0), dtype="Int32"),
        }
    )
    out.loc[dth_y == 0, "DTH_YM"] = pd.NA
    return out


def _checkups(rm: np.random.Generator, w: _ChunkWorld, years: np.ndarray) -> pd.DataFrame:
    """NHIS general health screenings of the observed world (``y1``), measured with rounding."""
    p, prog = w.p, w.prog
    n = len(p.person_id)
    ci, ct = np.nonzero(w.attended)
    mm = w.y1.measures
    nc = len(ci)
    lip = w.lipids[ci, ct]
    male = ~p.female[ci]
    steps_obs = w.steps0[ci, ct] + prog.dose[ci, ct] * 1000

    def meas(name, dec=1):
        return np.round(mm[name][ci, ct], dec)

    def lipid(x):
        return np.where(lip, x, np.nan)

    age_c = p.age[ci, ct]
    crtn = np.exp(
        np.where(male, np.log(1.0), np.log(0.75)) + 0.18 * rm.standard_normal(nc) + 0.003 * (age_c - 45)
    )
    # smoking [D/A]: a persistent person propensity (r(2y) ~0.9), lower for the health-conscious, peaking
    # in the 30s-40s, declining ~0.7 pp a year; thresholds give 32.4% of men and 3.9% of women current
    smoke_person = rm.standard_normal(n)
    smoke_latent = -0.3 * p.z["H"][ci] + 0.95 * smoke_person[ci] + 0.3 * rm.standard_normal(nc)
    smoke_thr = np.where(male, 0.33, 1.62) + 0.025 * (years[ct] - 2021) + 0.012 * np.abs(age_c - 40)
    current = smoke_latent > smoke_thr
    former = ~current & (smoke_latent > smoke_thr - np.where(male, 0.6, 0.2))
    return pd.DataFrame(
        {
            "PERSON_ID": p.person_id[ci],
            "HME_YYYYMM": years[ct] * 100 + w.hme_month[ci, ct],
            "G1E_HGHT": meas("height"),
            "G1E_WGHT": meas("weight"),
            "G1E_BMI": meas("bmi"),
            "G1E_WSTC": meas("waist"),
            "G1E_BP_SYS": meas("sbp", 0),
            "G1E_BP_DIA": meas("dbp", 0),
            "G1E_FBS": meas("fbs", 0),
            "G1E_TOT_CHOL": lipid(meas("tc", 0)),
            "G1E_HDL": lipid(meas("hdl", 0)),
            "G1E_LDL": lipid(meas("ldl", 0)),
            "G1E_TG": lipid(meas("tg", 0)),
            "G1E_HGB": np.round(np.where(male, 15.2, 13.0) + 1.1 * rm.standard_normal(nc), 1),
            "G1E_CRTN": np.round(crtn, 2),
            "G1E_GFR": np.round(
                np.clip(141 * (crtn / np.where(male, 0.9, 0.7)) ** -1.0 * 0.993**age_c, 5, 200), 0
            ),
            "G1E_SGOT": np.round(np.exp(np.log(24) + 0.35 * rm.standard_normal(nc)), 0),
            "G1E_SGPT": np.round(np.exp(np.log(np.where(male, 26, 17)) + 0.5 * rm.standard_normal(nc)), 0),
            "G1E_GGT": meas("ggt", 0),
            "G1E_URN_PROT": np.where(rm.random(nc) < 0.95, 1, rm.integers(2, 7, nc)),
            "Q_SMK_YN": np.where(current, 3, np.where(former, 2, 1)),
            "Q_DRK_FRQ": np.clip(rm.poisson(np.where(male, 1.5, 0.6)), 0, 7),
            "Q_PA_WALK": np.clip(
                np.round(7 / (1 + np.exp(-(steps_obs - 6500) / 1500)) + rm.normal(0, 1, nc)), 0, 7
            ),
        }
    )


def _truth_outcomes(w: _ChunkWorld, ii: np.ndarray, tt: np.ndarray, years: np.ndarray) -> pd.DataFrame:
    """Every outcome in both worlds per person-year, new diagnoses and drug use as the claims show them
    (the phenotype file's rule on each world); estimators never read it."""
    p, d, prog = w.p, w.d, w.prog
    defs = phenotypes.load()
    worlds = (("y0", w.y0), ("y1", w.y1))
    shown = {k: diagnosis_truth(o, p.present, defs) for k, o in worlds}
    n_nc = {k: sum((v > 0).astype(np.int64) for v in o.nc_costs.values()) for k, o in worlds}

    def mets(k, o, rows, cols):
        mm_ = o.measures
        rx = shown[k]
        return metabolic_syndrome(
            p.female[rows],
            mm_["waist"][rows, cols],
            mm_["tg"][rows, cols],
            mm_["hdl"][rows, cols],
            mm_["sbp"][rows, cols],
            mm_["dbp"][rows, cols],
            mm_["fbs"][rows, cols],
            rx["hypertension_drug"][rows, cols],
            rx["diabetes_drug"][rows, cols],
            rx["lipid_drug"][rows, cols],
        )

    truth = {"PERSON_ID": p.person_id[ii], "year": years[tt], "dose": prog.dose[ii, tt]}
    for k, o in worlds:
        mo = o.measures
        truth[f"{k}_medical_cost"] = o.cost[ii, tt]
        # every outpatient claim's visit days: general care, injuries, the negative-control categories
        truth[f"{k}_outpatient_visits"] = (o.outpatient_visits + d.injury + n_nc[k])[ii, tt]
        truth[f"{k}_waist"] = mo["waist"][ii, tt]
        truth[f"{k}_sbp"] = mo["sbp"][ii, tt]
        truth[f"{k}_dbp"] = mo["dbp"][ii, tt]
        truth[f"{k}_fasting_glucose"] = mo["fbs"][ii, tt]
        truth[f"{k}_bmi"] = mo["bmi"][ii, tt]
        truth[f"{k}_hdl"] = mo["hdl"][ii, tt]
        truth[f"{k}_triglycerides"] = mo["tg"][ii, tt]
        truth[f"{k}_metabolic_syndrome"] = mets(k, o, ii, tt)
        for name in ("new_hypertension", "new_diabetes", "new_dyslipidaemia"):
            truth[f"{k}_{name}"] = shown[k][name][ii, tt]
        truth[f"{k}_injury_visits"] = d.injury[ii, tt]
        for name, v in o.nc_costs.items():
            truth[f"{k}_{name}"] = v[ii, tt]
        for name, attr in ONSETS.items():
            truth[f"{k}_{name}"] = getattr(o, attr)[ii, tt]
        truth[f"{k}_steps"] = w.steps0[ii, tt] + (prog.dose[ii, tt] * 1000 if k == "y1" else 0.0)
    return pd.DataFrame(truth)


def _truth_persons(w: _ChunkWorld, member_id: np.ndarray, faults: np.ndarray) -> pd.DataFrame:
    """Each person's enrolment, program use, latent health consciousness and identifier faults."""
    p, e, prog = w.p, w.e, w.prog
    enrolled = e.enrol_month >= 0
    out = pd.DataFrame(
        {
            "PERSON_ID": p.person_id,
            "member_id": pd.array(np.where(enrolled, member_id, 0), dtype="Int64"),
            "first_treat": np.where(enrolled, FIRST_YEAR + e.enrol_month // 12, 0),
            "enrol_month": np.where(enrolled, _month_str(np.maximum(e.enrol_month, 0)), ""),
            "wave": e.wave.astype(str),
            "device": prog.device,
            "health_consciousness": p.z["H"],
            "active_2023": prog.active_2023,
            "fault_name": faults[0],
            "fault_phone": faults[1],
            "fault_birth_date": faults[2],
            "format_variant": faults[3],
        }
    )
    out.loc[~enrolled, "member_id"] = pd.NA
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(out: Path, meta: dict) -> dict:
    files = {}
    for path in sorted(out.rglob("*.parquet")):
        rel = path.relative_to(out).as_posix()
        files[rel] = {"rows": pq.ParquetFile(path).metadata.num_rows, "sha256": _sha256(path)}
    manifest = {**meta, "files": files}
    with staged() as stage:
        stage(out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def generate_world(
    out: str | Path,
    scale: float = 0.025,
    seed: int = 9988,
    scenario: str = "default",
    params: WorldParams | None = None,
    progress: bool = True,
) -> dict:
    """Write the synthetic world for ``scale`` x Seoul to ``out`` and return its manifest.

    Persons are generated in chunks of a fixed size and streamed to Parquet (one row group per chunk and
    table), so memory stays bounded at any scale and the same seed, scenario, scale and version give
    byte-identical files.
    """
    params = params or scenario_params(scenario)
    if params.scenario != scenario:
        raise SynthError(f"params.scenario {params.scenario!r} differs from scenario {scenario!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    total = n_persons(scale)
    if total < 1000:
        raise SynthError(
            f"scale {scale} gives {total} persons; use a scale of at least 0.000122 (1,000 persons)"
        )
    sizes = [CHUNK_PERSONS] * (total // CHUNK_PERSONS)
    if total % CHUNK_PERSONS:
        sizes.append(total % CHUNK_PERSONS)
    with staged() as stage:  # a failed regeneration leaves the previous world whole
        writers: dict[str, pq.ParquetWriter] = {}
        try:
            for chunk, n in enumerate(tqdm(sizes, desc="synth: chunks", unit="chunk", disable=not progress)):
                tables = generate_chunk(chunk, n, seed, params)
                for name, df in tables.items():
                    schema = TABLES[name]
                    if name not in writers:
                        path = out / f"{name}.parquet"
                        path.parent.mkdir(parents=True, exist_ok=True)
                        writers[name] = pq.ParquetWriter(stage(path), schema, compression="zstd")
                    table = df.cast(schema) if isinstance(df, pa.Table) else pa.Table.from_pandas(
                        df, schema=schema, preserve_index=False)
                    writers[name].write_table(table.replace_schema_metadata(None))
        finally:
            for w in writers.values():
                w.close()
    meta = {
        "generator": "analysis.synth",
        "version": __version__,
        "scenario": scenario,
        "scale": scale,
        "seed": seed,
        "persons": total,
        "params": dataclasses.asdict(params),
    }
    return write_manifest(out, meta)
