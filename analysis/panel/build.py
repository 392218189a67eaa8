"""The analysis panel: one row per person-year with readable names, cohort and baseline covariates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from analysis.config import PanelConfig
from analysis.definitions import metabolic_syndrome
from analysis.panel.schema import READABLE, SCHEMA, validate

MEASURES = (
    "height",
    "weight",
    "bmi",
    "waist",
    "sbp",
    "dbp",
    "fasting_glucose",
    "total_cholesterol",
    "hdl",
    "ldl",
    "triglycerides",
    "ggt",
)
BASELINE_MEASURES = ("bmi", "waist", "sbp", "dbp", "fasting_glucose")


def read_linked(linked_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Read the linked extract's tables (only the documented columns) and validate them."""
    linked_dir = Path(linked_dir)
    tables = {}
    for name, spec in SCHEMA.items():
        path = linked_dir / f"{name}.parquet"
        if not path.exists():
            if name == "activity":
                continue
            raise FileNotFoundError(f"linked extract: table {name!r} not found at {path}")
        df = pd.read_parquet(path)
        extra = [c for c in df.columns if c not in spec]
        tables[name] = df.drop(columns=extra)
    return validate(tables)


def _rows_outside(panel: pd.DataFrame, other: pd.DataFrame, keys: list[str]) -> int:
    """Rows of ``other`` whose person-year is not a qualification row of the panel (left out, counted)."""
    return int((~pd.MultiIndex.from_frame(other[keys]).isin(pd.MultiIndex.from_frame(panel[keys]))).sum())


def build_panel(tables: dict[str, pd.DataFrame], cfg: PanelConfig) -> tuple[pd.DataFrame, dict]:
    """Person-year panel from validated linked tables; returns (panel, report with every exclusion)."""
    report: dict = {"exclusions": {}, "imputations": {}}
    q = tables["qualification"].rename(columns=READABLE)
    panel = pd.DataFrame(
        {
            "study_id": q["study_id"].to_numpy(np.int64),
            "year": q["year"].to_numpy(np.int16),
            "female": (q["sex"] == 2).to_numpy(),
            "birth_year": q["birth_year"].to_numpy(np.int16),
            "age": (q["year"] - q["birth_year"]).to_numpy(np.int16),
            "district": q["district"].to_numpy(np.int32),
            "insurance_type": q["insurance_type"].to_numpy(np.int8),
            "premium_decile": q["premium_decile"].to_numpy(np.int8),
            "disability": (q["disability"] > 0).to_numpy(),
            "died": (q["death_ym"].fillna(0) // 100 == q["year"]).to_numpy(),
        }
    )
    keys = ["study_id", "year"]

    # claims: person-years without a claims row had no adjudicated claims (cost 0); rows outside the
    # qualification years cannot be placed and are excluded, with counts
    c = tables["claims"].rename(columns=READABLE)
    report["exclusions"]["claims_rows_without_qualification"] = _rows_outside(panel, c, keys)
    panel = panel.merge(c, on=keys, how="left", indicator="_claims")
    no_claims = (panel["_claims"] == "left_only").to_numpy()
    report["imputations"]["person_years_without_claims_row_set_to_zero"] = int(no_claims.sum())
    panel = panel.drop(columns="_claims")
    claim_cols = [READABLE[k] for k in SCHEMA["claims"] if k not in ("STUDY_ID", "STND_Y")]
    for col in claim_cols:
        panel[col] = panel[col].fillna(0).astype(np.int64 if "cost" in col else np.int32)
    for col in (
        "new_hypertension",
        "new_diabetes",
        "new_dyslipidaemia",
        "hypertension_drug",
        "diabetes_drug",
        "lipid_drug",
    ):
        panel[col] = panel[col].astype(np.int8)

    # checkups
    k = tables["checkups"].rename(columns=READABLE)
    k = k.assign(
        year=(k["HME_YYYYMM"] // 100).astype(np.int16), checkup_month=(k["HME_YYYYMM"] % 100).astype(np.int8)
    )
    k = k.drop(columns="HME_YYYYMM")
    report["exclusions"]["checkups_without_qualification"] = _rows_outside(panel, k, keys)
    panel = panel.merge(k, on=keys, how="left", indicator="_chk")
    panel["checkup"] = (panel.pop("_chk") == "both").to_numpy()
    for col in MEASURES:
        panel[col] = panel[col].astype(np.float32)
    for col in ("smoking", "drinking_days", "walking_days", "checkup_month"):
        panel[col] = panel[col].astype("Int8")
    panel["metabolic_syndrome"] = metabolic_syndrome(
        panel["female"],
        panel["waist"],
        panel["triglycerides"],
        panel["hdl"],
        panel["sbp"],
        panel["dbp"],
        panel["fasting_glucose"],
        panel["hypertension_drug"] > 0,
        panel["diabetes_drug"] > 0,
        panel["lipid_drug"] > 0,
    ).astype(np.float32)

    # participation: cohort = enrolment year (0 = never enrolled, R did's convention)
    p = tables["participation"].rename(columns=READABLE)
    p = p.assign(first_treat=p["enrol_month"].str[:4].astype(np.int16))
    panel = panel.merge(
        p[["study_id", "first_treat", "enrol_month", "wave", "device", "withdrawal_month"]],
        on="study_id",
        how="left",
    )
    panel["first_treat"] = panel["first_treat"].fillna(0).astype(np.int16)
    no_rows = ~p["study_id"].isin(panel["study_id"])
    report["exclusions"]["participants_without_qualification"] = int(no_rows.sum())

    if "activity" in tables:
        a = tables["activity"].rename(columns=READABLE)
        a = a.assign(year=a["month"].str[:4].astype(np.int16))
        agg = (
            a.groupby(["study_id", "year"], sort=False)
            .agg(
                program_months=("month", "size"),
                mean_daily_steps=("mean_daily_steps", "mean"),
                goal_days=("goal_days", "sum"),
                points=("points", "sum"),
            )
            .reset_index()
        )
        report["exclusions"]["activity_person_years_without_qualification"] = _rows_outside(panel, agg, keys)
        panel = panel.merge(agg, on=keys, how="left")
        panel["program_months"] = panel["program_months"].fillna(0).astype(np.int8)
        panel["mean_daily_steps"] = panel["mean_daily_steps"].astype(np.float32)
        panel["goal_days"] = panel["goal_days"].fillna(0).astype(np.int16)
        panel["points"] = panel["points"].fillna(0).astype(np.int32)

    panel = panel.sort_values(keys, kind="stable").reset_index(drop=True)
    panel = add_baseline(panel, cfg.baseline_reference_year)
    report.update(
        {
            "rows": len(panel),
            "persons": int(panel["study_id"].nunique()),
            "years": [int(panel["year"].min()), int(panel["year"].max())],
            "cohorts": {
                str(g): int(n) for g, n in panel.groupby("first_treat")["study_id"].nunique().items()
            },
            "baseline_reference_year": cfg.baseline_reference_year,
            "persons_without_baseline_checkup": int(
                panel.drop_duplicates("study_id")["baseline_checkup_year"].isna().sum()
            ),
        }
    )
    return panel, report


def baseline_covariates(panel: pd.DataFrame, reference: int | pd.Series) -> pd.DataFrame:
    """Covariates of every person measured strictly before a reference year, one row per person.

    ``reference`` is one year for everybody (risk-set matching for cohort g calls it with g, so that
    never- and not-yet-enrolled controls are measured at the same time as the enrollees) or a Series of
    years indexed by ``study_id``. Returns, indexed by ``study_id``: the year before the reference as
    ``age_pre, premium_decile_pre, disability_pre, district_pre`` (NaN if not in the population then);
    the last checkup before it (``baseline_checkup_year``, ``bmi_pre, waist_pre, sbp_pre, dbp_pre,
    fasting_glucose_pre``; NaN where there is none); ``cost_pre1``, ``cost_pre2`` (costs one and two
    years before); ``chronic_disease`` (any hypertension, diabetes or dyslipidaemia drug or diagnosis
    before it).
    """
    sid = panel["study_id"]
    if isinstance(reference, pd.Series):
        ref = sid.map(reference).to_numpy()
        if np.isnan(ref.astype(float)).any():
            raise ValueError("baseline_covariates: reference has no year for some study_id values")
    else:
        ref = np.full(len(panel), int(reference))
    year = panel["year"].to_numpy()
    before = year < ref
    persons = pd.Index(sid.unique(), name="study_id")
    out = pd.DataFrame(index=persons)
    prev = panel.loc[year == ref - 1].set_index("study_id")
    out["age_pre"] = prev["age"].reindex(persons).astype("Int16")
    out["premium_decile_pre"] = prev["premium_decile"].reindex(persons).astype("Int8")
    out["disability_pre"] = prev["disability"].reindex(persons).astype("boolean")
    out["district_pre"] = prev["district"].reindex(persons).astype("Int32")
    pre = panel.loc[before & panel["checkup"].to_numpy(), ["study_id", "year", *BASELINE_MEASURES]]
    last = pre.groupby("study_id", sort=False).tail(1).set_index("study_id").reindex(persons)
    out["baseline_checkup_year"] = last["year"].astype("Int16")
    for m in BASELINE_MEASURES:
        out[f"{m}_pre"] = last[m].astype(np.float32)
    for lag in (1, 2):
        rows = panel.loc[year == ref - lag].set_index("study_id")["medical_cost"]
        out[f"cost_pre{lag}"] = rows.reindex(persons).astype(np.float64)
    flag = (
        panel["hypertension_drug"]
        + panel["diabetes_drug"]
        + panel["lipid_drug"]
        + panel["new_hypertension"]
        + panel["new_diabetes"]
        + panel["new_dyslipidaemia"]
    ) > 0
    out["chronic_disease"] = persons.isin(panel.loc[before & flag.to_numpy(), "study_id"].unique())
    return out


def add_baseline(panel: pd.DataFrame, reference_year: int) -> pd.DataFrame:
    """Each person's baseline: covariates before their enrolment year (enrollees) or ``reference_year``
    (never enrolled), from :func:`baseline_covariates`, repeated on every row of the person."""
    first = panel.drop_duplicates("study_id").set_index("study_id")["first_treat"]
    ref = pd.Series(np.where(first > 0, first, reference_year), index=first.index)
    base = baseline_covariates(panel, ref)
    base.insert(0, "baseline_year", ref.astype(np.int16))
    return panel.merge(base, left_on="study_id", right_index=True, how="left")


def build_panel_from_dir(
    linked_dir: str | Path, out: str | Path, cfg: PanelConfig, progress: bool = True
) -> tuple[pd.DataFrame, dict]:
    """Read and validate ``linked_dir``, build the panel, write ``out/panel.parquet`` and its report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tqdm(total=3, desc="panel", unit="step", disable=not progress) as bar:
        tables = read_linked(linked_dir)
        bar.update()
        panel, report = build_panel(tables, cfg)
        bar.update()
        panel.to_parquet(out / "panel.parquet", index=False, compression="zstd")
        (out / "panel_report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        bar.update()
    return panel, report
