"""The documented schema of a linked extract, and its validation.

A researcher's real linked extract (from NHIS's closed room) must come in this layout, one Parquet file per
table, keyed by the study id only; the synthetic linkage writes exactly this. ``validate`` fails with a
:class:`SchemaError` naming the table, the column and the offending rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.definitions import CARE_CATEGORIES, nc_claims_column

FIRST_YEAR, LAST_YEAR = 2017, 2025


@dataclass(frozen=True)
class Col:
    kind: str  # "int", "float", "str"
    lo: float | None = None
    hi: float | None = None
    nullable: bool = False
    allowed: tuple | None = None
    doc: str = ""


# NHIS research-DB field names (calibration.md section 2) -> readable panel names, with ranges of
# physiologically possible values (not of typical ones)
SCHEMA: dict[str, dict[str, Col]] = {
    "persons": {
        "STUDY_ID": Col("int", 1, None, doc="study id attached by the combination agency"),
        "BIRTH_YEAR": Col("int", 1900, LAST_YEAR, doc="birth year (birth date generalised)"),
        "SEX": Col("int", allowed=(1, 2), doc="1 male, 2 female"),
    },
    "qualification": {
        "STUDY_ID": Col("int", 1, None),
        "STND_Y": Col("int", FIRST_YEAR, LAST_YEAR, doc="year"),
        "SEX": Col("int", allowed=(1, 2)),
        "BIRTH_YEAR": Col("int", 1900, LAST_YEAR),
        "AGE_GROUP": Col("int", 0, 18, doc="5-year age group (age // 5, 18 = 90+)"),
        "SIDO": Col("int", 11, 11, doc="province (11 = Seoul)"),
        "SGG": Col(
            "int",
            allowed=tuple(range(1, 6)) + tuple(range(11000, 12000)),
            doc="district code (11110-11740), or region code 1-5 where the linkage generalised districts",
        ),
        "IPSN_TYPE_CD": Col("int", allowed=(1, 2, 5, 6, 7, 8), doc="insurance type"),
        "CTRB_PT_TYPE_CD": Col("int", 0, 10, doc="premium decile (0 = medical aid)"),
        "DFAB_GRD_CD": Col("int", 0, 6, doc="disability grade (0 none)"),
        "DTH_YM": Col("int", 201701, 202512, nullable=True, doc="death year-month"),
    },
    "checkups": {
        "STUDY_ID": Col("int", 1, None),
        "HME_YYYYMM": Col("int", 201701, 202512, doc="screening year-month"),
        "G1E_HGHT": Col("float", 100, 230, nullable=True),
        "G1E_WGHT": Col("float", 20, 300, nullable=True),
        "G1E_BMI": Col("float", 10, 80, nullable=True),
        "G1E_WSTC": Col("float", 40, 200, nullable=True),
        "G1E_BP_SYS": Col("float", 60, 300, nullable=True),
        "G1E_BP_DIA": Col("float", 30, 200, nullable=True),
        "G1E_FBS": Col("float", 30, 900, nullable=True),
        "G1E_TOT_CHOL": Col("float", 50, 1000, nullable=True),
        "G1E_HDL": Col("float", 5, 300, nullable=True),
        "G1E_LDL": Col("float", 5, 900, nullable=True),
        "G1E_TG": Col("float", 10, 5000, nullable=True),
        "G1E_GGT": Col("float", 1, 5000, nullable=True),
        "Q_SMK_YN": Col("int", allowed=(1, 2, 3), nullable=True),
        "Q_DRK_FRQ": Col("int", 0, 7, nullable=True),
        "Q_PA_WALK": Col("int", 0, 7, nullable=True),
    },
    "claims": {
        "STUDY_ID": Col("int", 1, None),
        "STND_Y": Col("int", FIRST_YEAR, LAST_YEAR),
        "OUTP_VSCN": Col("int", 0, 3000, doc="outpatient visit days"),
        "INP_VSCN": Col("int", 0, 366, doc="inpatient days"),
        "EDEC_TRAMT": Col("int", 0, None, doc="adjudicated total cost, KRW"),
        "EDEC_SBRDN_AMT": Col("int", 0, None, doc="patient share, KRW"),
        "EDEC_JBRDN_AMT": Col("int", 0, None, doc="insurer share, KRW"),
        "HTN_NEW": Col("int", 0, 1),
        "DM_NEW": Col("int", 0, 1),
        "DYSLIP_NEW": Col("int", 0, 1),
        "HTN_RX": Col("int", 0, 1),
        "DM_RX": Col("int", 0, 1),
        "DYSLIP_RX": Col("int", 0, 1),
        "INJ_VSCN": Col("int", 0, 3000, doc="injury (KCD S/T) visit days: negative control"),
        **{nc_claims_column(c[0]): Col("int", 0, None, doc=f"cost of {c[0]} care (main diagnosis {c[1]}), KRW, "
                                       "part of EDEC_TRAMT: negative control") for c in CARE_CATEGORIES},
    },
    "participation": {
        "STUDY_ID": Col("int", 1, None),
        "enrol_month": Col("str", doc="YYYY-MM"),
        "wave": Col("str"),
        "device": Col("str", allowed=("band", "watch", "phone")),
        "withdrawal_month": Col("str", nullable=True, doc="YYYY-MM or empty"),
    },
    "activity": {
        "STUDY_ID": Col("int", 1, None),
        "month": Col("str", doc="YYYY-MM"),
        "mean_daily_steps": Col("int", 0, 100_000),
        "goal_days": Col("int", 0, 31),
        "points": Col("int", 0, 100_000),
    },
}
# unique keys: (table, columns, how to derive them)
UNIQUE = {
    "persons": ["STUDY_ID"],
    "qualification": ["STUDY_ID", "STND_Y"],
    "claims": ["STUDY_ID", "STND_Y"],
    "checkups": ["STUDY_ID", "_year"],
    "participation": ["STUDY_ID"],
    "activity": ["STUDY_ID", "month"],
}

# readable names used in the panel (documented mapping from NHIS field names)
READABLE = {
    "SEX": "sex",
    "BIRTH_YEAR": "birth_year",
    "STND_Y": "year",
    "SGG": "district",
    "IPSN_TYPE_CD": "insurance_type",
    "CTRB_PT_TYPE_CD": "premium_decile",
    "DFAB_GRD_CD": "disability",
    "DTH_YM": "death_ym",
    "G1E_HGHT": "height",
    "G1E_WGHT": "weight",
    "G1E_BMI": "bmi",
    "G1E_WSTC": "waist",
    "G1E_BP_SYS": "sbp",
    "G1E_BP_DIA": "dbp",
    "G1E_FBS": "fasting_glucose",
    "G1E_TOT_CHOL": "total_cholesterol",
    "G1E_HDL": "hdl",
    "G1E_LDL": "ldl",
    "G1E_TG": "triglycerides",
    "G1E_GGT": "ggt",
    "Q_SMK_YN": "smoking",
    "Q_DRK_FRQ": "drinking_days",
    "Q_PA_WALK": "walking_days",
    "OUTP_VSCN": "outpatient_visits",
    "INP_VSCN": "inpatient_days",
    "EDEC_TRAMT": "medical_cost",
    "EDEC_SBRDN_AMT": "patient_cost",
    "EDEC_JBRDN_AMT": "insurer_cost",
    "HTN_NEW": "new_hypertension",
    "DM_NEW": "new_diabetes",
    "DYSLIP_NEW": "new_dyslipidaemia",
    "HTN_RX": "hypertension_drug",
    "DM_RX": "diabetes_drug",
    "DYSLIP_RX": "lipid_drug",
    "INJ_VSCN": "injury_visits",
    **{nc_claims_column(c[0]): f"cost_{c[0]}" for c in CARE_CATEGORIES},
    "STUDY_ID": "study_id",
}


class SchemaError(ValueError):
    """A linked table does not meet the documented schema."""


def _rows(mask: np.ndarray | pd.Series, index: pd.Index, limit: int = 5) -> str:
    bad = index[np.asarray(mask)]
    more = f" and {len(bad) - limit} more" if len(bad) > limit else ""
    return f"{len(bad)} row(s), first at row(s) {list(map(int, bad[:limit]))}{more}"


def _valid_month(s: pd.Series) -> pd.Series:
    ok = s.astype(str).str.fullmatch(r"\d{4}-\d{2}")
    y = pd.to_numeric(s.astype(str).str[:4], errors="coerce")
    m = pd.to_numeric(s.astype(str).str[5:7], errors="coerce")
    return ok & y.between(FIRST_YEAR - 1, LAST_YEAR) & m.between(1, 12)


def validate_table(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Check one table; returns it with numeric columns coerced. Raises SchemaError on any problem.

    Rows are named by the frame's index: the file's row numbers when read by ``LinkedExtract`` (whole or a
    chunk of persons at a time), positions for a frame with a default index; a frame whose index has
    repeated labels is named by position.
    """
    spec = SCHEMA[name]
    missing = [c for c in spec if c not in df.columns]
    if missing:
        raise SchemaError(f"table {name!r}: missing column(s) {missing}; expected {list(spec)}")
    df = df.copy() if df.index.is_unique else df.reset_index(drop=True)
    for col, c in spec.items():
        s = df[col]
        null = s.isna() | (s.astype(str) == "") if c.kind == "str" else s.isna()
        if null.any() and not c.nullable:
            raise SchemaError(f"table {name!r}, column {col!r}: missing values in {_rows(null, df.index)}")
        if c.kind in ("int", "float"):
            if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
                num = pd.to_numeric(s, errors="coerce")
                bad = num.isna() & ~s.isna()
                if bad.any():
                    raise SchemaError(
                        f"table {name!r}, column {col!r}: expected numbers, got text in {_rows(bad, df.index)} "
                        f"(e.g. {s[bad].iloc[0]!r})"
                    )
                s = num
            s = s.astype(float)
            if c.kind == "int":
                frac = s.notna() & (s != np.floor(s))
                if frac.any():
                    raise SchemaError(
                        f"table {name!r}, column {col!r}: expected integers; {_rows(frac, df.index)}"
                    )
            out = pd.Series(False, index=df.index)
            if c.lo is not None:
                out |= s < c.lo
            if c.hi is not None:
                out |= s > c.hi
            if c.allowed is not None:
                out |= s.notna() & ~s.isin(c.allowed)
            if out.any():
                rng = f"allowed {list(c.allowed)}" if c.allowed else f"range [{c.lo}, {c.hi}]"
                raise SchemaError(
                    f"table {name!r}, column {col!r}: impossible or out-of-range values ({rng}) in "
                    f"{_rows(out, df.index)} (e.g. {float(s[out].iloc[0])})"
                )
            df[col] = s if c.kind == "float" else s.astype("Int64" if c.nullable else np.int64)
        else:
            if c.allowed is not None:
                out = ~null & ~s.isin(c.allowed)
                if out.any():
                    raise SchemaError(
                        f"table {name!r}, column {col!r}: values not in {list(c.allowed)} in {_rows(out, df.index)}"
                    )
            if "month" in col:
                bad = ~null & ~_valid_month(s)
                if bad.any():
                    raise SchemaError(
                        f"table {name!r}, column {col!r}: not a YYYY-MM month within {FIRST_YEAR - 1}-{LAST_YEAR} "
                        f"in {_rows(bad, df.index)} (e.g. {s[bad].iloc[0]!r})"
                    )
    if name == "checkups":
        ym = df["HME_YYYYMM"]
        bad = ~(ym % 100).between(1, 12)
        if bad.any():
            raise SchemaError(
                f"table 'checkups', column 'HME_YYYYMM': month not in 1-12 in {_rows(bad, df.index)}"
            )
        df["_year"] = ym // 100
    key = UNIQUE[name]
    dup = df.duplicated(key, keep=False)
    if dup.any():
        what = "person-year" if "STND_Y" in key or "_year" in key else " + ".join(key)
        raise SchemaError(f"table {name!r}: duplicate {what} ({key}) in {_rows(dup, df.index)}")
    return df.drop(columns=["_year"], errors="ignore")


def validate(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Validate every table and the references between them (ids known to ``persons``)."""
    for required in ("persons", "qualification", "checkups", "claims", "participation"):
        if required not in tables:
            raise SchemaError(f"linked extract: table {required!r} is missing")
    out = {name: validate_table(name, df) for name, df in tables.items()}
    known = pd.Index(out["persons"]["STUDY_ID"])
    for name, df in out.items():
        if name == "persons":
            continue
        orphan = ~df["STUDY_ID"].isin(known)
        if orphan.any():
            raise SchemaError(
                f"table {name!r}, column 'STUDY_ID': ids not in 'persons' in {_rows(orphan, df.index)}"
            )
    q = out["qualification"]
    p = out["persons"].set_index("STUDY_ID")
    mism = q["SEX"].to_numpy() != p["SEX"].reindex(q["STUDY_ID"]).to_numpy()
    if mism.any():
        raise SchemaError(
            f"table 'qualification', column 'SEX': differs from 'persons' in {_rows(mism, q.index)}"
        )
    c = out["claims"]
    over = c["EDEC_SBRDN_AMT"] > c["EDEC_TRAMT"]
    if over.any():
        raise SchemaError(
            f"table 'claims', column 'EDEC_SBRDN_AMT': patient share exceeds total cost in {_rows(over, c.index)}"
        )
    return out
