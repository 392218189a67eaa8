"""The analysis panel: one row per person-year with readable names, cohort and baseline covariates.

The panel is built a chunk of persons at a time (a range of study ids; persons are independent, and all of a
person's rows are needed together), so memory is bounded at any scale: each table's rows of the chunk are
read, validated and turned into panel rows, which are appended to ``panel.parquet``; the report's counts are
summed over the chunks. A single chunk (as small as one's extract allows) gives exactly the same panel and
report.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from analysis import phenotypes
from analysis.config import EngineConfig, PanelConfig
from analysis.definitions import metabolic_syndrome
from analysis.errors import PanelError
from analysis.panel.engine import make_engine
from analysis.panel.engine import person_years as engine_person_years
from analysis.panel.formats import convert, find_table
from analysis.panel.schema import READABLE, SCHEMA, SchemaError, validate
from analysis.paths import staged

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
# persons per chunk of build_panel_from_dir: ~0.4M person-years, ~4M claims and ~7M diagnosis rows, a peak of
# 2-3 GB whatever the scale (benchmarks/results_claims_world.md)
CHUNK_PERSONS = 50_000


class LinkedExtract:
    """The linked extract's Parquet files (one per table), read a chunk of persons at a time.

    Chunks are ranges of study ids: ``chunk_persons`` consecutive ids of ``persons`` each, the first open
    below and the last open above, so every row of every table belongs to exactly one chunk (rows whose
    ``STUDY_ID`` is missing or not a whole number go to the first chunk, where validation reports them), and
    all rows of a person, in every table, to the same chunk. Reading is by row group: a sorted extract (the
    linkage sorts every table by study id) reads each row group once; an unsorted one is still read
    correctly, at the cost of reading row groups again for every chunk they touch.

    Frames are indexed by the row numbers of their file, so validation names the file's rows.
    """

    def __init__(self, linked_dir: str | Path, chunk_persons: int | None = None):
        linked_dir = Path(linked_dir)
        self.files: dict[str, pq.ParquetFile] = {}
        self._staging: tempfile.TemporaryDirectory | None = None
        for name in SCHEMA:
            path = find_table(linked_dir, name)
            if path is None:
                if name == "activity":
                    continue
                raise FileNotFoundError(
                    f"linked extract: table {name!r} not found in {linked_dir} (as {name}.parquet, .csv or .sas7bdat)"
                )
            if path.suffix.lower() != ".parquet":
                if self._staging is None:
                    self._staging = tempfile.TemporaryDirectory(prefix="wristdoctor-extract-")
                path = convert(path, name, Path(self._staging.name) / f"{name}.parquet")
            try:
                self.files[name] = pq.ParquetFile(path)
            except (pa.ArrowInvalid, OSError) as exc:
                raise SchemaError(f"linked extract: table {name!r} ({path.name}) is not a readable Parquet file "
                                  f"({exc})") from None
        self.chunk_persons = chunk_persons
        self.bounds = self._bounds(chunk_persons)
        self._offsets = {
            n: np.cumsum([0] + [pf.metadata.row_group(r).num_rows for r in range(pf.num_row_groups)])
            for n, pf in self.files.items()
        }
        self._touches = {n: self._chunks_of_row_groups(n) for n in self.files}
        self._cache: dict[str, tuple[int, pa.Table, np.ndarray]] = {}

    @property
    def n_chunks(self) -> int:
        return len(self.bounds)

    def _bounds(self, chunk_persons: int | None) -> np.ndarray:
        """First study id of every chunk (from ``persons``); one chunk when not chunking."""
        pf = self.files["persons"]
        if chunk_persons is None or "STUDY_ID" not in pf.schema_arrow.names:
            return np.zeros(1, np.int64)
        if chunk_persons < 1:
            raise PanelError(f"chunk_persons must be a positive number of persons; got {chunk_persons}")
        ids, whole = _numeric_ids(pf.read(columns=["STUDY_ID"]).column("STUDY_ID"))
        ids = np.unique(ids[whole].astype(np.int64))
        return ids[::chunk_persons] if len(ids) else np.zeros(1, np.int64)

    def _chunk_of(self, table: pa.Table) -> np.ndarray:
        """Chunk number of every row of ``table``."""
        if self.n_chunks == 1 or "STUDY_ID" not in table.column_names:
            return np.zeros(table.num_rows, np.int64)
        ids, whole = _numeric_ids(table.column("STUDY_ID"))
        chunk = np.searchsorted(self.bounds, ids, side="right") - 1
        chunk[~whole] = 0
        return np.maximum(chunk, 0)

    def _chunks_of_row_groups(self, name: str) -> list[np.ndarray]:
        """The chunks each row group of a table has rows in (a scan of the study id column)."""
        pf = self.files[name]
        if self.n_chunks == 1 or "STUDY_ID" not in pf.schema_arrow.names:
            return [np.zeros(1, np.int64)] * pf.num_row_groups
        return [
            np.unique(self._chunk_of(pf.read_row_group(r, columns=["STUDY_ID"])))
            for r in range(pf.num_row_groups)
        ]

    def _row_group(self, name: str, r: int) -> tuple[pa.Table, np.ndarray]:
        """Row group ``r`` of a table (the documented columns present) with each row's chunk; the last one
        read of each table is kept, as consecutive chunks of a sorted extract share a row group."""
        hit = self._cache.get(name)
        if hit is not None and hit[0] == r:
            return hit[1], hit[2]
        pf = self.files[name]
        cols = [c for c in SCHEMA[name] if c in pf.schema_arrow.names]
        table = pf.read_row_group(r, columns=cols)
        chunk = self._chunk_of(table)
        self._cache[name] = (r, table, chunk)
        return table, chunk

    def read(self, chunk: int = 0) -> dict[str, pd.DataFrame]:
        """The rows of chunk ``chunk`` of every table (documented columns only), indexed by file row number."""
        tables = {}
        for name, pf in self.files.items():
            parts, rows = [], []
            for r, touched in enumerate(self._touches[name]):
                if chunk not in touched:
                    continue
                table, of = self._row_group(name, r)
                sel = np.flatnonzero(of == chunk)
                if len(sel) == table.num_rows:
                    parts.append(table)
                elif len(sel) and sel[-1] - sel[0] + 1 == len(sel):
                    parts.append(table.slice(int(sel[0]), len(sel)))  # a sorted extract: one run of rows
                else:
                    parts.append(table.take(sel))
                rows.append(self._offsets[name][r] + sel)
            if parts:
                df = pa.concat_tables(parts).to_pandas()
                df.index = pd.Index(np.concatenate(rows))
            else:
                cols = [c for c in SCHEMA[name] if c in pf.schema_arrow.names]
                df = pf.schema_arrow.empty_table().select(cols).to_pandas()
            tables[name] = df
        return tables

    def chunk_label(self, chunk: int) -> str:
        """The study ids of a chunk, for messages."""
        if self.n_chunks == 1:
            return "all study ids"
        if chunk == 0:
            return f"study ids below {self.bounds[1]:,}"
        if chunk == self.n_chunks - 1:
            return f"study ids from {self.bounds[chunk]:,}"
        return f"study ids {self.bounds[chunk]:,}-{self.bounds[chunk + 1] - 1:,}"


def _numeric_ids(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Study ids as numbers, and which of them are whole numbers (not missing, text or fractions)."""
    s = col.to_pandas()
    if pd.api.types.is_integer_dtype(s):
        return s.to_numpy(), np.ones(len(s), bool)
    if not pd.api.types.is_numeric_dtype(s):
        s = pd.to_numeric(s, errors="coerce")
    v = s.to_numpy(dtype=float, na_value=np.nan)
    return v, np.isfinite(v) & (v == np.floor(v))


def read_linked(linked_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Read the linked extract's tables whole (only the documented columns) and validate them.

    For a large extract use :func:`build_panel_from_dir`, which reads and validates a chunk of persons at a
    time; both read through :class:`LinkedExtract`.
    """
    return validate(LinkedExtract(linked_dir).read())


def _rows_outside(panel: pd.DataFrame, other: pd.DataFrame, keys: list[str]) -> int:
    """Rows of ``other`` whose person-year is not a qualification row of the panel (left out, counted)."""
    return int((~pd.MultiIndex.from_frame(other[keys]).isin(pd.MultiIndex.from_frame(panel[keys]))).sum())


def build_panel(tables: dict[str, pd.DataFrame], cfg: PanelConfig, engine=None) -> tuple[pd.DataFrame, dict]:
    """Person-year panel from validated linked tables; returns (panel, report with every exclusion).

    ``engine`` (``analysis.panel.engine``) computes the claims outcomes; None: the reference implementation
    in numpy (``phenotypes.person_years``), which gives the same panel."""
    report: dict = {"exclusions": {}}
    q = tables["qualification"].rename(columns=READABLE)
    panel = _person_years(q)
    panel = _add_claims_outcomes(panel, tables, cfg, engine, report)
    # the chronic disease as the claims show it each year (a drug of any of the three families): the DiD
    # designs' time-varying covariate, which att_gt reads at each comparison's earlier period
    panel["chronic_drug"] = ((panel["hypertension_drug"] > 0) | (panel["diabetes_drug"] > 0)
                             | (panel["lipid_drug"] > 0)).astype(np.int8)
    panel = _add_checkups(panel, tables["checkups"], report)
    panel = _add_participation(panel, tables, q, report)
    if "activity" in tables:
        panel = _add_activity(panel, tables["activity"], report)
    panel = panel.sort_values(_KEYS, kind="stable").reset_index(drop=True)
    panel = add_baseline(panel, cfg.baseline_reference_year)
    report.update(
        {
            "rows": len(panel),
            "persons": int(panel["study_id"].nunique()),
            "years": [int(panel["year"].min()), int(panel["year"].max())] if len(panel) else None,
            "cohorts": {
                str(g): int(n) for g, n in panel.groupby("first_treat")["study_id"].nunique().items()
            },
            "baseline_reference_year": cfg.baseline_reference_year,
            "persons_without_baseline_checkup": int(
                panel.drop_duplicates("study_id")["baseline_checkup_year"].isna().sum()
            ),
        }
    )
    _check_person_accounting(report)
    return panel, report


_KEYS = ["study_id", "year"]


def _person_years(q: pd.DataFrame) -> pd.DataFrame:
    """One row per qualification person-year with the person's characteristics in that year."""
    return pd.DataFrame(
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


def _add_claims_outcomes(panel, tables, cfg: PanelConfig, engine, report: dict) -> pd.DataFrame:
    """The claims outcomes by the phenotype file: claims of person-years outside the qualification years
    cannot be placed and are excluded, with counts; a person-year without claims had no adjudicated care
    (0)."""
    defs = phenotypes.load(cfg.phenotypes or None)
    claim_tables = (tables["qualification"], tables["claims"], tables["diagnoses"], tables["prescriptions"])
    py, excluded = (phenotypes.person_years(defs, *claim_tables) if engine is None
                    else engine_person_years(engine, defs, *claim_tables))
    report["exclusions"].update(excluded)
    report["phenotypes"] = {"version": defs.version, "source": Path(defs.source).name}
    report["person_years_without_claims"] = int(
        (~pd.MultiIndex.from_frame(tables["qualification"][["STUDY_ID", "STND_Y"]]).isin(
            pd.MultiIndex.from_arrays([tables["claims"]["STUDY_ID"], tables["claims"]["RECU_FR_DT"] // 10_000])
        )).sum()
    )
    for name, p in defs.outcomes.items():
        v = py[name].to_numpy()
        panel[name] = v.astype(np.int32) if p.kind == "days" else v
    return panel


def _add_checkups(panel: pd.DataFrame, checkups: pd.DataFrame, report: dict) -> pd.DataFrame:
    """The year's general health screening (missing where none), and the metabolic syndrome it shows."""
    k = checkups.rename(columns=READABLE)
    k = k.assign(
        year=(k["HME_YYYYMM"] // 100).astype(np.int16), checkup_month=(k["HME_YYYYMM"] % 100).astype(np.int8)
    )
    k = k.drop(columns="HME_YYYYMM")
    report["exclusions"]["checkups_without_qualification"] = _rows_outside(panel, k, _KEYS)
    panel = panel.merge(k, on=_KEYS, how="left", indicator="_chk")
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
    return panel


def _add_participation(panel: pd.DataFrame, tables: dict, q: pd.DataFrame, report: dict) -> pd.DataFrame:
    """Enrolment: cohort = enrolment year (0 = never enrolled, R did's convention); participants and
    persons without qualification rows counted."""
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
    persons_in = tables["persons"]["STUDY_ID"]
    report["persons_in"] = int(persons_in.nunique())
    report["exclusions"]["persons_without_qualification"] = int((~persons_in.isin(q["study_id"])).sum())
    return panel


def _add_activity(panel: pd.DataFrame, activity: pd.DataFrame, report: dict) -> pd.DataFrame:
    """The program's monthly activity summed (means for steps) over each person-year."""
    a = activity.rename(columns=READABLE)
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
    report["exclusions"]["activity_person_years_without_qualification"] = _rows_outside(panel, agg, _KEYS)
    panel = panel.merge(agg, on=_KEYS, how="left")
    panel["program_months"] = panel["program_months"].fillna(0).astype(np.int8)
    panel["mean_daily_steps"] = panel["mean_daily_steps"].astype(np.float32)
    panel["goal_days"] = panel["goal_days"].fillna(0).astype(np.int16)
    panel["points"] = panel["points"].fillna(0).astype(np.int32)
    return panel


def _check_person_accounting(report: dict) -> None:
    """Persons in = persons in the panel + persons excluded (a person is lost only by a counted exclusion)."""
    left_out = report["exclusions"]["persons_without_qualification"]
    if report["persons_in"] != report["persons"] + left_out:
        raise RuntimeError(f"panel: {report['persons_in']:,} persons in the extract but {report['persons']:,} in the "
                           f"panel and {left_out:,} counted as excluded; a person was lost uncounted (a bug)")


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
            raise PanelError("baseline_covariates: reference has no year for some study_id values")
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
        + panel["new_hypertension"].fillna(0)  # missing off the risk set: not a new diagnosis
        + panel["new_diabetes"].fillna(0)
        + panel["new_dyslipidaemia"].fillna(0)
    ) > 0
    out["chronic_disease"] = persons.isin(panel.loc[before & flag.to_numpy(), "study_id"].unique())
    return out


def chronic_at_entry(panel: pd.DataFrame) -> pd.Series:
    """Whether each person (index ``study_id``) took a hypertension, diabetes or dyslipidaemia drug in their
    first year in the extract, kept to compare with the plan's yearly ``chronic_drug`` (stop 41's version of
    ``benchmarks/bench_cost_bias_noselection.py``, ``results_cost_bias_noselection.md``): read at each
    comparison's earlier period, that one holds the chronic disease of the year before a cohort joins, which
    this flag, years stale by then, does not.

    ``chronic_disease`` (:func:`baseline_covariates`) is measured over every year before enrolment, so for
    cohort g it holds the diagnoses of the years the design compares before g, and for the never enrolled it
    stops at ``baseline_reference_year``: conditioning on it conditions on the pre-period outcome (a new
    hypertension in 2023 sets the flag of a 2025 joiner), which bends the pre-trends of the new diagnoses
    by construction. This flag is measured at one time for everybody, before any period a comparison uses
    but the first. Diagnoses are not used: in the first year every new-diagnosis outcome is off its risk set
    (the phenotypes' washout)."""
    first = panel.loc[panel.groupby("study_id", sort=False)["year"].idxmin()]
    drug = (first["hypertension_drug"] + first["diabetes_drug"] + first["lipid_drug"]) > 0
    return pd.Series(drug.to_numpy(bool), index=pd.Index(first["study_id"], name="study_id"),
                     name="chronic_at_entry")


def add_baseline(panel: pd.DataFrame, reference_year: int) -> pd.DataFrame:
    """Each person's baseline: covariates before their enrolment year (enrollees) or ``reference_year``
    (never enrolled), from :func:`baseline_covariates`, and :func:`chronic_at_entry`, repeated on every row
    of the person."""
    first = panel.drop_duplicates("study_id").set_index("study_id")["first_treat"]
    ref = pd.Series(np.where(first > 0, first, reference_year), index=first.index)
    base = baseline_covariates(panel, ref)
    base.insert(0, "baseline_year", ref.astype(np.int16))
    base["chronic_at_entry"] = chronic_at_entry(panel).reindex(base.index)
    return panel.merge(base, left_on="study_id", right_index=True, how="left")


def _combine_reports(reports: list[dict]) -> dict:
    """The report of the whole panel from its chunks' reports: counts summed, years spanned."""
    out = dict(reports[0])
    out["exclusions"] = {k: sum(r["exclusions"][k] for r in reports) for k in reports[0]["exclusions"]}
    for k in ("rows", "persons", "persons_in", "persons_without_baseline_checkup", "person_years_without_claims"):
        out[k] = sum(r[k] for r in reports)
    spans = [r["years"] for r in reports if r["years"] is not None]
    out["years"] = [min(s[0] for s in spans), max(s[1] for s in spans)] if spans else None
    cohorts: Counter = Counter()
    for r in reports:
        cohorts.update(r["cohorts"])
    out["cohorts"] = {g: cohorts[g] for g in sorted(cohorts, key=int)}
    return out


def _arrow(panel: pd.DataFrame, schema: pa.Schema | None) -> pa.Table:
    """A chunk of the panel as an Arrow table; after the first chunk, checked against the file's schema (the
    first chunk's): every column's type is fixed by build_panel, so a difference is a bug, reported by name
    rather than written or cast."""
    table = pa.Table.from_pandas(panel, preserve_index=False)
    if schema is not None and not table.schema.equals(schema, check_metadata=False):
        first = dict(zip(schema.names, schema.types, strict=True))
        diff = [
            f"{f.name}: {f.type} (first chunk: {first.get(f.name, 'absent')})"
            for f in table.schema
            if first.get(f.name) != f.type
        ]
        raise RuntimeError(
            f"panel: a chunk's columns differ in type from the first chunk's: {diff or table.schema}"
        )
    return table


def build_panel_from_dir(
    linked_dir: str | Path,
    out: str | Path,
    cfg: PanelConfig,
    progress: bool = True,
    *,
    chunk_persons: int = CHUNK_PERSONS,
    return_panel: bool = True,
    engine: EngineConfig | None = None,
) -> tuple[pd.DataFrame | None, dict]:
    """Read and validate ``linked_dir``, build the panel, write ``out/panel.parquet`` and its report.

    Persons are processed ``chunk_persons`` at a time (see :class:`LinkedExtract`): each chunk's rows of
    every table are validated (a problem is reported with the table, column and file rows, and the study
    ids of the chunk where it was found; later chunks are not checked), built into panel rows with
    :func:`build_panel` and appended to ``panel.parquet``; the report's counts are summed over chunks. The
    panel and report do not depend on ``chunk_persons``.

    Parameters
    ----------
    linked_dir, out : folders of the linked extract and of the panel.
    cfg : the plan's ``[panel]`` settings.
    progress : show a progress bar over the chunks.
    chunk_persons : persons per chunk (memory grows with it; the result does not change).
    return_panel : also return the whole panel as a DataFrame (it must then fit in memory); with False the
        panel is only written and None is returned in its place.
    engine : the plan's ``[engine]`` (default DuckDB): where the claims become person-year outcomes. DuckDB
        spills to ``out/spill`` beyond its memory limit (removed after the build).

    Returns
    -------
    (panel or None, report)
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    extract = LinkedExtract(linked_dir, chunk_persons)
    # the run keeps the outcome definitions it was built with (the report's methods print them)
    defs = phenotypes.load(cfg.phenotypes or None)
    (out / "phenotypes.toml").write_text(Path(defs.source).read_text(encoding="utf-8"), encoding="utf-8")
    # a rebuild that fails must not leave the previous panel looking like this extract's: the old one goes
    # first, and the new one is renamed into place after its report, so its presence means a finished build
    (out / "panel.parquet").unlink(missing_ok=True)
    (out / "panel_report.json").unlink(missing_ok=True)
    reports, frames = [], []
    engine = engine or EngineConfig()
    runner = make_engine(engine.name, master=engine.master, memory_limit_gb=engine.memory_limit_gb,
                         spill=out / "spill")
    with staged() as stage, contextlib.closing(runner):
        report_path, panel_path = stage(out / "panel_report.json"), stage(out / "panel.parquet")
        writer: pq.ParquetWriter | None = None
        try:
            for k in tqdm(range(extract.n_chunks), desc="panel", unit="chunk", disable=not progress):
                try:
                    tables = validate(extract.read(k))
                except SchemaError as exc:
                    if extract.n_chunks == 1:
                        raise
                    raise SchemaError(
                        f"{exc} [rows are the file's row numbers; counted among {extract.chunk_label(k)} (chunk "
                        f"{k + 1} of {extract.n_chunks} of {extract.chunk_persons:,} persons); later chunks not "
                        "checked]"
                    ) from None
                panel, report = build_panel(tables, cfg, runner)
                del tables
                reports.append(report)
                if writer is None:
                    table = _arrow(panel, None)
                    writer = pq.ParquetWriter(panel_path, table.schema, compression="zstd")
                else:
                    table = _arrow(panel, writer.schema)
                writer.write_table(table)
                del table
                if return_panel:
                    frames.append(panel)
                del panel
        finally:
            if writer is not None:
                writer.close()
        report = _combine_reports(reports)
        _check_person_accounting(report)
        report_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    if not return_panel:
        return None, report
    panel = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return panel, report
