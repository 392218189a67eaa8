"""Measure a generated world against the calibration targets (calibration.md section 5).

This is the generator checking itself: it may read ``truth/`` (the true person crosswalk and potential
outcomes). Estimators never do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis import phenotypes
from analysis.synth.params import (
    ENROLMENT_MILESTONES,
    JOIN_AGE_BANDS,
    JOIN_AGE_MIX,
    PARTICIPANT_FEMALE,
    SEOUL_ADULTS,
)

PUBLISHED_DID = -45_345.0  # Seoul Metropolitan Government, 2025-11 [S: calibration.md section 1]
PUBLISHED_ACTIVE_GAP = -267_593.0  # [S]
JOIN_AGE_LABELS = ("19_29", "30s", "40s", "50s", "60s", "70plus")
CURVE_MONTHS = ("2023-12", "2024-06", "2024-11", "2025-04", "2025-09")


def _band(key: str, target: float, low: float, high: float, source: str) -> dict:
    return {"statistic": key, "target": target, "low": low, "high": high, "source": source}


def calibration_targets() -> pd.DataFrame:
    """The targets of calibration.md section 5 with the band a default world must fall in (the tolerances
    stated there, or the published range): one row per statistic of :func:`calibration_report`, with its
    source. The city's design and the active-inactive gap are judged by interval coverage instead (their
    sampling error depends on the scale) and are not rows here."""
    rows = [_band("participants_female", PARTICIPANT_FEMALE, PARTICIPANT_FEMALE - 0.03, PARTICIPANT_FEMALE + 0.03,
                  "participants ~65% female [S]")]
    rows += [_band(f"join_age_{lab}", share, share - 0.03, share + 0.03, "age at joining, 2.18M users [S]")
             for lab, share in zip(JOIN_AGE_LABELS, JOIN_AGE_MIX, strict=True)]
    for month in CURVE_MONTHS:
        y, m = map(int, month.split("-"))
        share = next(c for yy, mm, c, *_ in ENROLMENT_MILESTONES if (yy, mm) == (y, m)) / SEOUL_ADULTS
        rows.append(_band(f"cumulative_{month}_share", share, share * 0.97, share * 1.03,
                          "cumulative participants over Seoul's adults [S]"))
    rows += [
        _band("attendance_when_due", 0.745, 0.725, 0.765, "checkup uptake in Seoul 2023 [S]"),
        _band("mets_men", 0.253, 0.22, 0.26, "metabolic syndrome, men [S]"),
        _band("mets_women", 0.197, 0.17, 0.21, "metabolic syndrome, women [S]"),
        _band("bmi25_men", 0.45, 0.42, 0.48, "BMI >= 25, men [S]"),
        _band("bmi25_women", 0.27, 0.24, 0.30, "BMI >= 25, women [S]"),
        _band("current_smoking_men", 0.324, 0.294, 0.354, "current smoking, men [D]"),
        _band("current_smoking_women", 0.039, 0.024, 0.054, "current smoking, women [D]"),
        _band("treated_cost_2021", 940_749.0, 940_749 * 0.85, 940_749 * 1.15,
              "2021 medical cost of Seoul's matched 2022 joiners [S]"),
    ]
    return pd.DataFrame(rows)


def calibration_table(report: dict[str, float]) -> pd.DataFrame:
    """:func:`calibration_targets` beside a world's :func:`calibration_report`: ``this_world`` and whether
    it lies in the band (``within``)."""
    t = calibration_targets()
    t["this_world"] = t.statistic.map(report).astype(float)
    t["within"] = (t.this_world >= t.low) & (t.this_world <= t.high)
    return t


def _read(world: Path, name: str, columns=None) -> pd.DataFrame:
    return pd.read_parquet(world / f"{name}.parquet", columns=columns)


# persons per chunk of ``claims_person_years``: the claim tables of 100,000 persons are about a tenth of those
# of 0.1 x Seoul, which read whole took the run past 20 GB
CHUNK_PERSONS = 100_000


def claims_person_years(world: Path, qual: pd.DataFrame | None = None, years=None) -> pd.DataFrame:
    """The world's claims outcomes per qualification person-year, by the package's phenotype file (what the
    panel computes from the linked claims), keyed by ``PERSON_ID`` and ``STND_Y``; only ``years`` where given.

    Read ``CHUNK_PERSONS`` persons at a time (a range of ``PERSON_ID``; all of a person's rows are in one
    range, so the result is the same as from the whole tables): memory stays bounded at any scale, and the
    world's tables, written in person order, are read once (Parquet row groups outside a range are skipped)."""
    if qual is None:
        qual = _read(world, "nhis/qualification", ["STND_Y", "PERSON_ID"])
    defs = phenotypes.load()
    ren = {"PERSON_ID": "STUDY_ID"}
    ids = np.unique(qual["PERSON_ID"].to_numpy(np.int64))
    bounds = ids[::CHUNK_PERSONS] if len(ids) else np.zeros(1, np.int64)
    pid = qual["PERSON_ID"].to_numpy(np.int64)
    parts = []
    for i, lo in enumerate(bounds):
        hi = bounds[i + 1] if i + 1 < len(bounds) else None
        # the first range is open below and the last above, so no claim row falls outside every range
        filt = ([("PERSON_ID", ">=", int(lo))] if i else []) + ([("PERSON_ID", "<", int(hi))] if hi is not None else [])
        q = qual[((pid >= lo) | (i == 0)) & ((pid < hi) if hi is not None else True)]
        tables = (pd.read_parquet(world / f"nhis/{t}.parquet", filters=filt or None).rename(columns=ren)
                  for t in ("t20", "t40", "t60"))
        py, _ = phenotypes.person_years(defs, q[["PERSON_ID", "STND_Y"]].rename(columns=ren), *tables)
        parts.append(py if years is None else py[py.STND_Y.isin(years)])
    return pd.concat(parts, ignore_index=True).rename(columns={"STUDY_ID": "PERSON_ID"})


def stratified_did(df: pd.DataFrame, strata: list[str], treat: str, change: str) -> tuple[float, float, int]:
    """ATT DiD by exact stratification: controls reweighted to the treated's strata (ATT weights).

    Returns (estimate, standard error, treated count). A transparent stand-in for the city's propensity
    matching on the same covariates, used only to check the world's calibration.
    """
    # the strata cells as integer codes (one per distinct combination; a missing value is a cell of its own)
    key = df.groupby(strata, sort=False, dropna=False).ngroup().to_numpy()
    t = df[treat].to_numpy(bool)
    y = df[change].to_numpy(float)
    nt = np.bincount(key[t], minlength=key.max() + 1 if len(key) else 0)
    nc = np.bincount(key[~t], minlength=len(nt))
    keep = ((nt > 0) & (nc > 0))[key]  # cells with both treated and controls
    key, tt, y = key[keep], t[keep], y[keep]
    w = np.where(tt, 1.0, nt[key] / nc[key])
    yt, yc, wc = y[tt], y[~tt], w[~tt]
    est = yt.mean() - np.sum(wc * yc) / wc.sum()
    var_t = yt.var(ddof=1) / len(yt)
    mc = np.sum(wc * yc) / wc.sum()
    var_c = np.sum(wc**2 * (yc - mc) ** 2) / wc.sum() ** 2
    return float(est), float(np.sqrt(var_t + var_c)), int(tt.sum())


def calibration_report(world: str | Path) -> dict[str, float]:
    """The section-5 statistics of a generated world, as a flat dict."""
    world = Path(world)
    out: dict[str, float] = {}
    # only the columns used below (the string columns are the costly ones to read)
    persons = _read(world, "truth/persons", ["PERSON_ID", "member_id", "first_treat", "enrol_month", "active_2023"])
    part = _read(world, "program/participants", ["sex"])
    qual = _read(
        world,
        "nhis/qualification",
        ["STND_Y", "PERSON_ID", "SEX", "BIRTH_YEAR", "IPSN_TYPE_CD", "CTRB_PT_TYPE_CD", "DFAB_GRD_CD"],
    )
    out["persons"] = len(persons)
    out["participants"] = len(part)
    out["participant_share"] = len(part) / len(persons)
    out["participants_female"] = float((part["sex"] == "F").mean())
    # age at joining
    pp = persons[persons.member_id.notna()].copy()
    q1 = qual[["PERSON_ID", "BIRTH_YEAR"]].drop_duplicates("PERSON_ID")
    pp = pp.merge(q1, on="PERSON_ID", how="left")
    join_year = pp["enrol_month"].str[:4].astype(int)
    age = join_year - pp["BIRTH_YEAR"]
    for (lo, hi), label in zip(JOIN_AGE_BANDS, JOIN_AGE_LABELS, strict=True):
        out[f"join_age_{label}"] = float(((age >= lo) & (age < hi)).mean())
    # cumulative enrolment, scaled to Seoul (each distinct month parsed once, not each participant's)
    codes, uniq = pd.factorize(pp["enrol_month"], use_na_sentinel=False)
    months = pd.PeriodIndex(uniq, freq="M")
    for m in ("2023-12", "2024-06", "2024-11", "2025-04", "2025-09"):
        out[f"cumulative_{m}_share"] = float(np.asarray(months <= pd.Period(m, "M"))[codes].sum() / len(persons))

    # checkups: attendance when due needs the schedule; use its definition: parity or annual workers
    chk = _read(world, "nhis/checkups", ["PERSON_ID", "HME_YYYYMM", "G1E_BMI", "Q_SMK_YN"])
    chk["year"] = chk["HME_YYYYMM"] // 100
    qual = qual.merge(
        chk[["PERSON_ID", "year"]].assign(att=True),
        left_on=["PERSON_ID", "STND_Y"],
        right_on=["PERSON_ID", "year"],
        how="left",
    )
    age_q = qual["STND_Y"] - qual["BIRTH_YEAR"]
    parity_due = (qual["STND_Y"] % 2) == (qual["BIRTH_YEAR"] % 2)
    due = (
        parity_due & (age_q >= 20) & (qual["IPSN_TYPE_CD"] != 5)
    )  # office/non-office unknown: skip employees
    out["attendance_when_due"] = float(qual.loc[due, "att"].fillna(False).astype(bool).mean())

    # metabolic syndrome and BMI among the screened (latest year with full lipid panels, all adults)
    sex = qual.drop_duplicates("PERSON_ID").set_index("PERSON_ID")["SEX"]
    chk["female"] = chk["PERSON_ID"].map(sex).to_numpy() == 2
    for lab, f in (("men", False), ("women", True)):
        out[f"bmi25_{lab}"] = float((chk.loc[chk.female == f, "G1E_BMI"] >= 25).mean())
    for lab, f in (("men", False), ("women", True)):
        out[f"current_smoking_{lab}"] = float((chk.loc[chk.female == f, "Q_SMK_YN"] == 3).mean())
    # the truth is read once, for this and the design check (2019 here, 2023 there)
    truth_all = _read(
        world,
        "truth/outcomes",
        ["PERSON_ID", "year", "y0_metabolic_syndrome", "y0_medical_cost", "y1_medical_cost"],
    )
    truth = truth_all[truth_all.year == 2019]
    fem = truth["PERSON_ID"].map(sex).to_numpy() == 2
    for lab, f in (("men", False), ("women", True)):
        out[f"mets_{lab}"] = float(truth.loc[fem == f, "y0_metabolic_syndrome"].mean())
    out.update(published_design_check(world, persons, qual, truth=truth_all))
    return out


def published_design_check(
    world: Path, persons: pd.DataFrame, qual: pd.DataFrame, truth: pd.DataFrame | None = None
) -> dict[str, float]:
    """The city's design on this world: 2022 joiners vs non-participants by end-2023, 2021 -> 2023 costs,
    balanced on sex, age, disability, premium decile, chronic disease; plus the exact truth for the same
    treated people and the active-vs-inactive gap. ``truth``: ``truth/outcomes`` with at least PERSON_ID,
    year and the medical-cost potential outcomes, if already read (else read here)."""
    claims = claims_person_years(world, qual, years=(2021, 2023))
    c = claims.pivot(index="PERSON_ID", columns="STND_Y", values="medical_cost")
    c = c.dropna()
    chronic = (
        claims[claims.STND_Y == 2021].set_index("PERSON_ID")[["hypertension_drug", "diabetes_drug", "lipid_drug"]]
        .any(axis=1)
    )
    q = qual[qual.STND_Y == 2021].drop_duplicates("PERSON_ID").set_index("PERSON_ID")
    df = pd.DataFrame({"change": c[2023] - c[2021], "cost2021": c[2021]})
    df = df.join(q[["SEX", "BIRTH_YEAR", "DFAB_GRD_CD", "CTRB_PT_TYPE_CD"]], how="inner")
    df["chronic"] = chronic.reindex(df.index).fillna(False).astype(bool)
    df["age5"] = (2021 - df["BIRTH_YEAR"]) // 5
    df["disab"] = df["DFAB_GRD_CD"] > 0
    pers = persons.set_index("PERSON_ID")
    ft = pers["first_treat"].reindex(df.index)
    df["treated"] = ft == 2022
    df = df[(ft == 2022) | (ft == 0) | (ft >= 2024)]
    est, se, n_t = stratified_did(
        df, ["SEX", "age5", "disab", "CTRB_PT_TYPE_CD", "chronic"], "treated", "change"
    )
    if truth is None:
        truth = _read(world, "truth/outcomes", ["PERSON_ID", "year", "y0_medical_cost", "y1_medical_cost"])
    tr = truth[(truth.year == 2023) & truth.PERSON_ID.isin(df.index[df.treated])]
    true_att = float((tr.y1_medical_cost - tr.y0_medical_cost).mean())
    act = pers["active_2023"].reindex(df.index[df.treated])
    ch = df.loc[df.treated, "change"]
    a_ch, i_ch = ch[act.to_numpy()], ch[~act.to_numpy()]
    gap = float(a_ch.mean() - i_ch.mean())
    gap_se = float(np.sqrt(a_ch.var(ddof=1) / len(a_ch) + i_ch.var(ddof=1) / len(i_ch)))
    return {
        "published_design_did": est,
        "published_design_se": se,
        "published_design_treated": n_t,
        "published_design_true_att": true_att,
        "published_design_ratio_true_to_est": true_att / est if est else np.nan,
        "treated_cost_2021": float(df.loc[df.treated, "cost2021"].mean()),
        "active_share_2023": float(act.mean()),
        "active_vs_inactive_gap": gap,
        "active_vs_inactive_gap_se": gap_se,
    }
