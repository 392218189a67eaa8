"""The documented schema of a linked extract, and its validation.

A researcher's real linked extract (from NHIS's closed room) must come in this layout, one Parquet file per
table, keyed by the study id only; the synthetic linkage writes exactly this. ``validate`` fails with a
:class:`SchemaError` naming the table, the column and the offending rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import SchemaError

FIRST_YEAR, LAST_YEAR = 2017, 2025
# FORM_CD values of NHIS claims (inpatient 02, 04, 06, 07, 10, 12; outpatient 03, 05, 08, 09, 11, 13, 20, 21)
FORM_CODES = ("02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "20", "21")
KCD7 = r"[A-Z][0-9]{2}[0-9A-Z]{0,4}"  # a letter, two digits, up to four more characters, no dot
# the program's life: the pilot's enrolment opened 2021-11-01 (calibration.md section 1) [S]; program records
# (enrolment, withdrawal, activity) before it cannot be the program's
PROGRAM_FIRST_MONTH = "2021-11"


@dataclass(frozen=True)
class Col:
    kind: str  # "int", "float", "str"
    lo: float | None = None
    hi: float | None = None
    nullable: bool = False
    allowed: tuple | None = None
    doc: str = ""
    pattern: str | None = None  # a regular expression every (non-missing) text value must match


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
    # claim-level tables of the NHIS customised DB: T20 claim headers (명세서), T40 diagnoses (상병내역),
    # T60 prescriptions (처방전교부상세); the phenotype file turns them into the panel's claims outcomes
    "claims": {
        "STUDY_ID": Col("int", 1, None),
        "KEY_SEQ": Col("int", 1, None, doc="claim id"),
        "RECU_FR_DT": Col("int", FIRST_YEAR * 10_000 + 101, LAST_YEAR * 10_000 + 1231,
                          doc="start date of care, YYYYMMDD"),
        "FORM_CD": Col("str", allowed=FORM_CODES, doc="claim form (02 medical inpatient, 03 medical outpatient, "
                       "04/05 dental inpatient/outpatient, ...)"),
        "MAIN_SICK": Col("str", pattern=KCD7, doc="main diagnosis, KCD-7"),
        "SUB_SICK": Col("str", nullable=True, pattern=KCD7, doc="first sub-diagnosis, KCD-7 (may be empty)"),
        "VSCN": Col("int", 0, 366, doc="visit days (outpatient) or inpatient days of the claim"),
        "EDEC_TRAMT": Col("int", 0, 10**11, doc="adjudicated total cost, KRW"),
        "EDEC_SBRDN_AMT": Col("int", 0, 10**11, doc="patient share, KRW"),
        "EDEC_JBRDN_AMT": Col("int", 0, 10**11, doc="insurer share, KRW"),
    },
    "diagnoses": {
        "STUDY_ID": Col("int", 1, None),
        "KEY_SEQ": Col("int", 1, None, doc="the claim (claims.KEY_SEQ)"),
        "SEQ_NO": Col("int", 1, 99, doc="position: 1 = main diagnosis"),
        "MCEX_SICK_SYM": Col("str", pattern=KCD7, doc="diagnosis, KCD-7"),
    },
    "prescriptions": {
        "STUDY_ID": Col("int", 1, None),
        "KEY_SEQ": Col("int", 1, None, doc="the claim (claims.KEY_SEQ)"),
        "SEQ_NO": Col("int", 1, 999),
        "GNL_NM_CD": Col("str", pattern=r"[0-9A-Z]{9}", doc="ingredient code (주성분코드), 9 characters"),
        "MDCN_EXEC_FREQ": Col("int", 0, 366, nullable=True, doc="days supplied"),
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
    "claims": ["KEY_SEQ"],
    "diagnoses": ["KEY_SEQ", "SEQ_NO"],
    "prescriptions": ["KEY_SEQ", "SEQ_NO"],
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
    "STUDY_ID": "study_id",
}


def _rows(mask: np.ndarray | pd.Series, index: pd.Index, limit: int = 5) -> str:
    bad = index[np.asarray(mask)]
    more = f" and {len(bad) - limit} more" if len(bad) > limit else ""
    return f"{len(bad)} row(s), first at row(s) {list(map(int, bad[:limit]))}{more}"


def _valid_month(s: pd.Series) -> pd.Series:
    ok = s.astype(str).str.fullmatch(r"\d{4}-\d{2}")
    y = pd.to_numeric(s.astype(str).str[:4], errors="coerce")
    m = pd.to_numeric(s.astype(str).str[5:7], errors="coerce")
    return ok & y.between(FIRST_YEAR - 1, LAST_YEAR) & m.between(1, 12)


def _has_duplicates(df: pd.DataFrame, key: list[str]) -> bool:
    """Whether the key columns repeat a combination (cheaper than naming the duplicate rows, which is done
    only when there are some). Integer keys are mixed into one uint64 (wrapping) and sorted, about 3 times
    faster than a hash or a lexsort at claim-table sizes: equal keys always mix to equal values, so no repeat
    among the mixed values means none among the keys; a repeat is confirmed on the columns themselves."""
    if len(df) < 2:
        return False
    cols = [df[c].to_numpy() for c in key]
    if not all(np.issubdtype(c.dtype, np.integer) for c in cols):
        return bool(df.duplicated(key).any())
    mixed = np.zeros(len(df), np.uint64)
    with np.errstate(over="ignore"):
        for c in cols:
            mixed = mixed * np.uint64(0x9E3779B97F4A7C15) + c.astype(np.int64).view(np.uint64)
    mixed.sort()
    if not (mixed[1:] == mixed[:-1]).any():
        return False
    return bool(df.duplicated(key).any())


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
    # shallow: columns are replaced, never written into, so the caller's frame stays as it was
    df = df.copy(deep=False) if df.index.is_unique else df.reset_index(drop=True)
    for col, c in spec.items():
        where = f"table {name!r}, column {col!r}"
        s = df[col]
        if c.kind == "str":
            # checked once per distinct value: claim tables repeat a few thousand codes millions of times
            codes, uniques = pd.factorize(s, use_na_sentinel=True)
            uniques = pd.Series(uniques, dtype=object).astype(str)
            empty = np.append((uniques == "").to_numpy(), True)  # code -1 (missing) is empty too
            null = pd.Series(empty[codes], index=df.index)
        else:
            null = s.isna()
        if null.any() and not c.nullable:
            raise SchemaError(f"{where}: missing values in {_rows(null, df.index)}")
        if c.kind in ("int", "float"):
            df[col] = _numeric_column(where, c, s, null)
        else:
            df[col] = _text_column(where, col, c, s, codes, uniques, null)
    df = _TABLE_RULES[name](df) if name in _TABLE_RULES else df
    key = UNIQUE[name]
    if _has_duplicates(df, key):
        dup = df.duplicated(key, keep=False)
        what = "person-year" if "STND_Y" in key or "_year" in key else " + ".join(key)
        raise SchemaError(f"table {name!r}: duplicate {what} ({key}) in {_rows(dup, df.index)}")
    return df.drop(columns=["_year"], errors="ignore")


def _out_of_range(where: str, c, v, out, index) -> None:
    if out.any():
        rng = f"allowed {list(c.allowed)}" if c.allowed else f"range [{c.lo}, {c.hi}]"
        first = v[out][0] if isinstance(v, np.ndarray) else v[out].iloc[0]
        raise SchemaError(f"{where}: impossible or out-of-range values ({rng}) in {_rows(out, index)} "
                          f"(e.g. {float(first)})")


def _numeric_column(where: str, c, s: pd.Series, null: pd.Series) -> pd.Series:
    """A number column checked (text that is not a number, fractions in a whole-number column, values out
    of range or not allowed) and returned as int64, nullable Int64 or float."""
    if c.kind == "int" and pd.api.types.is_integer_dtype(s) and not null.any():
        v = s.to_numpy()  # already whole numbers: only the range to check
        out = np.zeros(len(v), bool)
        if c.lo is not None:
            out |= v < c.lo
        if c.hi is not None:
            out |= v > c.hi
        if c.allowed is not None:
            out |= ~np.isin(v, c.allowed)
        _out_of_range(where, c, v, out, s.index)
        return s.astype(np.int64)
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        num = pd.to_numeric(s, errors="coerce")
        bad = num.isna() & ~s.isna()
        if bad.any():
            raise SchemaError(f"{where}: expected numbers, got text in {_rows(bad, s.index)} "
                              f"(e.g. {s[bad].iloc[0]!r})")
        s = num
    s = s.astype(float)
    if c.kind == "int":
        frac = s.notna() & (s != np.floor(s))
        if frac.any():
            raise SchemaError(f"{where}: expected integers; {_rows(frac, s.index)}")
    out = pd.Series(False, index=s.index)
    if c.lo is not None:
        out |= s < c.lo
    if c.hi is not None:
        out |= s > c.hi
    if c.allowed is not None:
        out |= s.notna() & ~s.isin(c.allowed)
    _out_of_range(where, c, s, out, s.index)
    return s if c.kind == "float" else s.astype("Int64" if c.nullable else np.int64)


def _text_column(where: str, col: str, c, s: pd.Series, codes: np.ndarray, uniques: pd.Series,
                 null: pd.Series) -> pd.Series:
    """A text column checked against its pattern, its allowed values and (a ``*month*`` column) the study's
    months, each distinct value once; empty text returned as missing."""

    def fails(ok: np.ndarray) -> pd.Series:
        """Rows whose (non-missing) value is not ``ok`` (a flag per distinct value)."""
        return pd.Series(~np.append(ok, True)[codes] & ~null.to_numpy(), index=s.index)

    if c.pattern is not None:
        bad = fails(uniques.str.fullmatch(c.pattern).to_numpy(bool))
        if bad.any():
            raise SchemaError(f"{where}: not of the form {c.pattern} in {_rows(bad, s.index)} "
                              f"(e.g. {s[bad].iloc[0]!r})")
    if c.allowed is not None:
        out = fails(uniques.isin(c.allowed).to_numpy(bool))
        if out.any():
            raise SchemaError(f"{where}: values not in {list(c.allowed)} in {_rows(out, s.index)}")
    if "month" in col:
        bad = ~null & ~_valid_month(s)
        if bad.any():
            raise SchemaError(f"{where}: not a YYYY-MM month within {FIRST_YEAR - 1}-{LAST_YEAR} "
                              f"in {_rows(bad, s.index)} (e.g. {s[bad].iloc[0]!r})")
    if c.nullable and null.any():
        return s.where(~null, None)  # empty text and missing are one thing, whatever the file format
    return s


def _claims_rules(df: pd.DataFrame) -> pd.DataFrame:
    dates = pd.unique(df["RECU_FR_DT"])
    real = dates[pd.to_datetime(pd.Series(dates).astype(str), format="%Y%m%d", errors="coerce").notna()]
    bad = ~df["RECU_FR_DT"].isin(real)
    if bad.any():
        raise SchemaError(
            f"table 'claims', column 'RECU_FR_DT': not a date (YYYYMMDD) in {_rows(bad, df.index)} "
            f"(e.g. {int(df['RECU_FR_DT'][bad].iloc[0])})"
        )
    return df


def _checkups_rules(df: pd.DataFrame) -> pd.DataFrame:
    ym = df["HME_YYYYMM"]
    bad = ~(ym % 100).between(1, 12)
    if bad.any():
        raise SchemaError(f"table 'checkups', column 'HME_YYYYMM': month not in 1-12 in {_rows(bad, df.index)}")
    df["_year"] = ym // 100  # for the person-year key; dropped before the table is returned
    return df


def _qualification_rules(df: pd.DataFrame) -> pd.DataFrame:
    bad = df["DTH_YM"].notna() & ~(df["DTH_YM"] % 100).between(1, 12)
    if bad.any():
        raise SchemaError(
            f"table 'qualification', column 'DTH_YM': not a year-month (month not in 1-12) in "
            f"{_rows(bad, df.index)} (e.g. {int(df['DTH_YM'][bad].iloc[0])})"
        )
    bad = df["STND_Y"] < df["BIRTH_YEAR"]
    if bad.any():
        raise SchemaError(f"table 'qualification', column 'BIRTH_YEAR': born after the year of the row (STND_Y) "
                          f"in {_rows(bad, df.index)}")
    # NHIS's AGE_GROUP is the 5-year band of the age in the year, 18 for 90 and over
    band = np.minimum((df["STND_Y"] - df["BIRTH_YEAR"]) // 5, 18)
    bad = df["AGE_GROUP"] != band
    if bad.any():
        raise SchemaError(f"table 'qualification', column 'AGE_GROUP': not the 5-year band of STND_Y - "
                          f"BIRTH_YEAR in {_rows(bad, df.index)}")
    return df


def _participation_rules(df: pd.DataFrame) -> pd.DataFrame:
    for col in ("enrol_month", "withdrawal_month"):
        bad = df[col].notna() & (df[col].astype(str) < PROGRAM_FIRST_MONTH)
        if bad.any():
            raise SchemaError(f"table 'participation', column {col!r}: before the program's first enrolment "
                              f"({PROGRAM_FIRST_MONTH}) in {_rows(bad, df.index)} "
                              f"(e.g. {df[col][bad].iloc[0]!r})")
    bad = df["withdrawal_month"].notna() & (df["withdrawal_month"].astype(str) < df["enrol_month"].astype(str))
    if bad.any():
        raise SchemaError(f"table 'participation', column 'withdrawal_month': before enrol_month in "
                          f"{_rows(bad, df.index)}")
    return df


# rules across a table's columns, after each column passed its own checks
_TABLE_RULES = {"claims": _claims_rules, "checkups": _checkups_rules, "qualification": _qualification_rules,
                "participation": _participation_rules}


def validate(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Validate every table and the references between them (ids known to ``persons``)."""
    for required in ("persons", "qualification", "checkups", "claims", "diagnoses", "prescriptions", "participation"):
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
    if len(q) == 0 and len(out["persons"]):
        raise SchemaError(f"table 'qualification' has no rows for the {len(out['persons']):,} persons read: the "
                          "panel's person-years are the qualification years, so nobody could enter it")
    p = out["persons"].set_index("STUDY_ID")
    for col in ("SEX", "BIRTH_YEAR"):
        mism = q[col].to_numpy() != p[col].reindex(q["STUDY_ID"]).to_numpy()
        if mism.any():
            raise SchemaError(
                f"table 'qualification', column {col!r}: differs from 'persons' in {_rows(mism, q.index)}"
            )
    if "activity" in out:
        a = out["activity"]
        part = out["participation"].set_index("STUDY_ID")
        enrol = part["enrol_month"].reindex(a["STUDY_ID"]).to_numpy()
        none = pd.isna(enrol)
        if none.any():
            raise SchemaError(f"table 'activity', column 'STUDY_ID': activity of a person with no row in "
                              f"'participation' in {_rows(none, a.index)}")
        before = a["month"].astype(str).to_numpy() < enrol.astype(str)
        if before.any():
            raise SchemaError(f"table 'activity', column 'month': before the person's enrol_month in "
                              f"{_rows(before, a.index)}")
    c = out["claims"]
    over = c["EDEC_SBRDN_AMT"] > c["EDEC_TRAMT"]
    if over.any():
        raise SchemaError(
            f"table 'claims', column 'EDEC_SBRDN_AMT': patient share exceeds total cost in {_rows(over, c.index)}"
        )
    split = c["EDEC_SBRDN_AMT"] + c["EDEC_JBRDN_AMT"] != c["EDEC_TRAMT"]
    if split.any():
        raise SchemaError(
            f"table 'claims', columns 'EDEC_SBRDN_AMT' + 'EDEC_JBRDN_AMT': patient and insurer shares do not add "
            f"up to EDEC_TRAMT in {_rows(split, c.index)}"
        )
    death = q.dropna(subset=["DTH_YM"]).drop_duplicates("STUDY_ID").set_index("STUDY_ID")["DTH_YM"]
    after = (c["RECU_FR_DT"] // 100).to_numpy() > death.reindex(c["STUDY_ID"]).fillna(999999).to_numpy()
    if after.any():
        raise SchemaError(
            f"table 'claims', column 'RECU_FR_DT': care after the death month (qualification DTH_YM) in "
            f"{_rows(after, c.index)}"
        )
    # diagnoses and prescriptions belong to a claim of the same person
    claim_person = c.set_index("KEY_SEQ")["STUDY_ID"]
    for name in ("diagnoses", "prescriptions"):
        t = out[name]
        owner = claim_person.reindex(t["KEY_SEQ"]).to_numpy()
        orphan = pd.isna(owner)
        if orphan.any():
            raise SchemaError(
                f"table {name!r}, column 'KEY_SEQ': no such claim in 'claims' in {_rows(orphan, t.index)}"
            )
        other = owner != t["STUDY_ID"].to_numpy()
        if other.any():
            raise SchemaError(
                f"table {name!r}, column 'STUDY_ID': differs from its claim's STUDY_ID in {_rows(other, t.index)}"
            )
    return out
