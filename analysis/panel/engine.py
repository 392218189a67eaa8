"""The claim-level work of the panel in SQL: every outcome of the phenotype file per qualification
person-year, on an embedded DuckDB (the default) or on Spark (``[engine] name = "spark"``).

:func:`person_years_sql` writes one query from the phenotype file; both engines run that same text, so a
study's outcome definitions mean the same thing on a laptop, in NHIS's closed room and on a cluster. The
query reads four tables by name (``qualification``, ``claims``, ``diagnoses``, ``prescriptions``: the
validated T20/T40/T60 layout of ``analysis.panel.schema``) and returns, per ``qualification`` row (by its
``_ROW`` number), ``STUDY_ID``, ``STND_Y`` and one column per outcome: what
``analysis.phenotypes.person_years``, the reference implementation in numpy, returns (tests require the
two to be identical, and Spark's table to be DuckDB's).

DuckDB runs in process with a memory limit and spills to a folder of the run beyond it (its
``temp_directory``), so the claims of any number of persons aggregate in bounded memory. Spark starts a
local session (``master = "local[2]"``) or joins the cluster named by ``master`` (``spark://host:7077``,
``yarn``; see the README), which needs Java 17.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.errors import EngineError
from analysis.phenotypes import Definitions, family_bounds

TABLES = ("qualification", "claims", "diagnoses", "prescriptions")
COLUMNS = {  # what the query reads of each table
    "qualification": ("STUDY_ID", "STND_Y"),
    "claims": ("KEY_SEQ", "STUDY_ID", "RECU_FR_DT", "FORM_CD", "MAIN_SICK", "VSCN", "EDEC_TRAMT", "EDEC_SBRDN_AMT",
               "EDEC_JBRDN_AMT"),
    "diagnoses": ("KEY_SEQ", "MCEX_SICK_SYM"),
    "prescriptions": ("KEY_SEQ", "GNL_NM_CD"),
}


_CLAIM_YEAR = "CAST(FLOOR(RECU_FR_DT / 10000) AS INTEGER)"  # the year of a claim's first day (YYYYMMDD)


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _code_in(col: str, families: tuple[str, ...], exclude: tuple[str, ...]) -> str:
    """SQL for ``phenotypes.code_in``: the code's first three characters within one of ``families`` (all
    codes when empty) and none of ``exclude``; a missing code matches nothing."""
    def within(fams):
        parts = []
        for fam in fams:
            lo, hi = family_bounds(fam)
            parts.append(f"substr({col}, 1, 3) BETWEEN {_quote(lo)} AND {_quote(hi)}")
        return "(" + " OR ".join(parts) + ")"

    cond = [f"{col} IS NOT NULL"]
    if families:
        cond.append(within(families))
    if exclude:
        cond.append(f"NOT {within(exclude)}")
    return "(" + " AND ".join(cond) + ")"


def _prefix_in(col: str, prefixes: tuple[str, ...]) -> str:
    parts = [f"substr({col}, 1, {len(p)}) = {_quote(p)}" for p in prefixes]
    return f"({col} IS NOT NULL AND (" + " OR ".join(parts) + "))"


def _forms(defs: Definitions, which: str | None) -> str:
    if which is None:
        return "TRUE"
    return "(FORM_CD IN (" + ", ".join(_quote(f) for f in defs.forms[which]) + "))"


def person_years_sql(defs: Definitions) -> str:
    """The query of every outcome of ``defs`` per qualification row (see the module's docstring).

    Claims whose person-year (person, year of ``RECU_FR_DT``) has no qualification row are left out, as in
    the reference; :func:`excluded_sql` counts them. Amounts and days are summed (0 without claims), drug
    flags are 1 where a prescription of the family sits on a claim of the person-year, and a new diagnosis
    is 1/0 where the person is at risk (covered and without the code in each of the ``washout_years`` years
    before, never in the extract's first ones) and missing elsewhere (``phenotypes.new_in_grid``)."""
    drugs = sorted({p.drug for p in defs.outcomes.values() if p.kind == "drug"}
                   | {p.confirm_drug for p in defs.outcomes.values() if p.kind == "new_diagnosis" and p.confirm_drug})
    any_dx = [p for p in defs.outcomes.values() if p.kind == "new_diagnosis" and p.position != "main"]
    ctes = ["y0 AS (SELECT MIN(STND_Y) AS y0 FROM qualification)"]
    # per claim: whether any of its diagnoses / prescriptions is of the family. The claims that have one are
    # few, so each family's set is filtered first and the claims join those small sets
    flags, joins = [], []
    for p in any_dx:
        ctes.append(f"dx_{p.name} AS (SELECT DISTINCT KEY_SEQ FROM diagnoses "
                    f"WHERE {_code_in('MCEX_SICK_SYM', p.diagnosis, p.exclude)})")
        joins.append(f"LEFT JOIN dx_{p.name} ON dx_{p.name}.KEY_SEQ = c.KEY_SEQ")
        flags.append(f"CASE WHEN dx_{p.name}.KEY_SEQ IS NULL THEN 0 ELSE 1 END AS dx_{p.name}")
    for d in drugs:
        ctes.append(f"rx_{d} AS (SELECT DISTINCT KEY_SEQ FROM prescriptions WHERE {_prefix_in('GNL_NM_CD', defs.drugs[d][1])})")
        joins.append(f"LEFT JOIN rx_{d} ON rx_{d}.KEY_SEQ = c.KEY_SEQ")
        flags.append(f"CASE WHEN rx_{d}.KEY_SEQ IS NULL THEN 0 ELSE 1 END AS rx_{d}")
    ctes.append(f"c AS (SELECT c.*, {_CLAIM_YEAR} AS CLAIM_Y FROM claims c)")
    ctes.append("qk AS (SELECT DISTINCT STUDY_ID, STND_Y FROM qualification)")
    ctes.append(f"cq AS (SELECT c.*{''.join(', ' + f for f in flags)} FROM c JOIN qk ON qk.STUDY_ID = c.STUDY_ID "
                f"AND qk.STND_Y = c.CLAIM_Y {' '.join(joins)})")
    aggs = []
    for p in defs.outcomes.values():
        if p.kind in ("amount", "days"):
            cond = _forms(defs, p.forms)
            if p.main_diagnosis or p.exclude:
                cond += " AND " + _code_in("MAIN_SICK", p.main_diagnosis, p.exclude)
            col = p.amount if p.kind == "amount" else "VSCN"
            aggs.append(f"SUM(CASE WHEN {cond} THEN {col} ELSE 0 END) AS v_{p.name}")
        elif p.kind == "new_diagnosis":
            coded = _code_in("MAIN_SICK", p.diagnosis, p.exclude) if p.position == "main" else f"dx_{p.name} = 1"
            aggs.append(f"SUM(CASE WHEN {coded} AND {_forms(defs, 'outpatient')} THEN 1 ELSE 0 END) AS nout_{p.name}")
            aggs.append(f"SUM(CASE WHEN {coded} AND {_forms(defs, 'inpatient')} THEN 1 ELSE 0 END) AS ninp_{p.name}")
            aggs.append(f"MAX(CASE WHEN {coded} THEN 1 ELSE 0 END) AS seen_{p.name}")
    aggs += [f"MAX(rx_{d}) AS rx_{d}" for d in drugs]
    ctes.append(f"agg AS (SELECT STUDY_ID, CLAIM_Y AS STND_Y, {', '.join(aggs)} FROM cq GROUP BY STUDY_ID, CLAIM_Y)")
    # one row per qualification person-year with its claims' aggregates (none: 0)
    base_cols = []
    for p in defs.outcomes.values():
        if p.kind in ("amount", "days"):
            base_cols.append(f"COALESCE(a.v_{p.name}, 0) AS v_{p.name}")
        elif p.kind == "new_diagnosis":
            met = (f"(COALESCE(a.nout_{p.name}, 0) >= {p.min_outpatient_claims} OR "
                   f"COALESCE(a.ninp_{p.name}, 0) >= {p.min_inpatient_claims})")
            if p.confirm_drug:
                met = f"({met} AND COALESCE(a.rx_{p.confirm_drug}, 0) = 1)"
            base_cols.append(f"CASE WHEN {met} THEN 1 ELSE 0 END AS met_{p.name}")
            base_cols.append(f"COALESCE(a.seen_{p.name}, 0) AS seen_{p.name}")
    base_cols += [f"COALESCE(a.rx_{d}, 0) AS rx_{d}" for d in drugs]
    ctes.append(f"b AS (SELECT qk.STUDY_ID, qk.STND_Y, {', '.join(base_cols)} FROM qk LEFT JOIN agg a "
                "ON a.STUDY_ID = qk.STUDY_ID AND a.STND_Y = qk.STND_Y)")
    # the risk set of each new diagnosis: covered and not seen in each of the washout years before
    select, lags = [], set()
    for p in defs.outcomes.values():
        if p.kind in ("amount", "days"):
            select.append(f"CAST(ROUND(b.v_{p.name}) AS BIGINT) AS {p.name}")
        elif p.kind == "drug":
            select.append(f"CAST(b.rx_{p.drug} AS TINYINT) AS {p.name}")
        else:
            w = p.washout_years
            lags.update(range(1, w + 1))
            at_risk = [f"b.STND_Y - y0.y0 >= {w}"] + [
                f"l{k}.STUDY_ID IS NOT NULL AND l{k}.seen_{p.name} = 0" for k in range(1, w + 1)]
            select.append(f"CASE WHEN {' AND '.join(at_risk)} THEN CAST(b.met_{p.name} AS FLOAT) END AS {p.name}")
    lag_joins = " ".join(f"LEFT JOIN b l{k} ON l{k}.STUDY_ID = b.STUDY_ID AND l{k}.STND_Y = b.STND_Y - {k}"
                         for k in sorted(lags))
    ctes.append(f"o AS (SELECT b.STUDY_ID, b.STND_Y, {', '.join(select)} FROM b CROSS JOIN y0 {lag_joins})")
    return (f"WITH {', '.join(ctes)} SELECT q._ROW, o.* FROM qualification q JOIN o "
            "ON o.STUDY_ID = q.STUDY_ID AND o.STND_Y = q.STND_Y ORDER BY q._ROW")


def excluded_sql() -> str:
    """The count of claims rows whose person-year has no qualification row (left out of every outcome)."""
    return ("SELECT COUNT(*) AS n FROM claims c LEFT JOIN (SELECT DISTINCT STUDY_ID, STND_Y FROM qualification) q "
            f"ON q.STUDY_ID = c.STUDY_ID AND q.STND_Y = {_CLAIM_YEAR} WHERE q.STUDY_ID IS NULL")


def _frames(qualification, claims, diagnoses, prescriptions) -> dict[str, pa.Table]:
    """The four tables as Arrow tables of only the columns the query reads (DuckDB reads them without a
    copy), with ``_ROW`` numbering qualification's rows."""
    tables = dict(zip(TABLES, (qualification, claims, diagnoses, prescriptions), strict=True))
    out = {}
    for name, df in tables.items():
        arrays = {}
        for c in COLUMNS[name]:
            s = df[c]
            if pd.api.types.is_integer_dtype(s.dtype):
                arrays[c] = pa.array(s.to_numpy(np.int64))
            else:  # codes: plain strings (a categorical's dictionary would differ between engines)
                arrays[c] = pa.array(s.astype("string[pyarrow]") if not isinstance(s.dtype, pd.StringDtype)
                                     else s, type=pa.string(), from_pandas=True)
        out[name] = pa.table(arrays)
    out["qualification"] = out["qualification"].append_column("_ROW", pa.array(np.arange(len(qualification))))
    return out


def _as_reference(result: pd.DataFrame, defs: Definitions, n_rows: int, numbered: bool = True) -> pd.DataFrame:
    """The engine's table in the reference's order and dtypes (``numbered``: ``_ROW`` must be 0..n-1; else a
    strictly increasing sort key)."""
    rows = result["_ROW"].to_numpy()
    in_order = (rows == np.arange(n_rows)).all() if numbered else (np.diff(rows) > 0).all()
    if len(result) != n_rows or not in_order:
        raise EngineError("the engine returned a row count or order that does not match the qualification table "
                          "(duplicate STUDY_ID, STND_Y rows?)")
    out = {"STUDY_ID": result["STUDY_ID"].to_numpy(np.int64), "STND_Y": result["STND_Y"].to_numpy(np.int16)}
    for p in defs.outcomes.values():
        v = result[p.name]
        if p.kind in ("amount", "days"):
            out[p.name] = v.to_numpy(np.int64)
        elif p.kind == "drug":
            out[p.name] = v.to_numpy(np.int8)
        else:
            out[p.name] = pd.to_numeric(v, errors="raise").to_numpy(np.float32, na_value=np.nan)
    return pd.DataFrame(out)


def _threads(memory_limit_gb: float) -> int:
    """DuckDB's threads: up to the cores, one per 2 GB of the limit. Each thread keeps buffers of its own: on
    the default extract (205,000 persons) the whole-extract query with 2 threads failed at 1 GB while 1 thread
    finished there by spilling (peak 1.4 GB, 118 s; 23 s at 4 GB with 2)."""
    return max(1, min(os.cpu_count() or 1, int(memory_limit_gb // 2)))


class DuckDBEngine:
    """In-process DuckDB with ``memory_limit_gb`` and its spill folder ``spill`` (a temporary folder when None)."""

    def __init__(self, memory_limit_gb: float = 4.0, spill: str | Path | None = None, threads: int | None = None):
        try:
            import duckdb
        except ImportError:  # pragma: no cover (a dependency)
            raise EngineError("engine 'duckdb': the duckdb package is not installed (pip install duckdb)") from None
        made = spill is None or not Path(spill).exists()
        spill = Path(tempfile.mkdtemp(prefix="wristdoctor-spill-") if spill is None else spill)
        self._made_spill = spill if made else None  # removed on close when this engine made it
        spill.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(config={"memory_limit": f"{memory_limit_gb}GB", "temp_directory": str(spill),
                                          "threads": threads or _threads(memory_limit_gb),
                                          "preserve_insertion_order": False})

    def query(self, sql: str, tables: dict[str, pa.Table]) -> pd.DataFrame:
        for name, table in tables.items():
            self.con.register(name, table)
        try:
            return self.con.execute(sql).df()
        finally:
            for name in tables:
                self.con.unregister(name)

    def query_files(self, sql: str, paths: dict[str, Path]) -> pd.DataFrame:
        for name, path in paths.items():
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {_file_view(name, f'read_parquet({_quote(str(path))})')}")
        return self.con.execute(sql).df()

    def close(self) -> None:
        self.con.close()
        if self._made_spill is not None:
            shutil.rmtree(self._made_spill, ignore_errors=True)


_SPARK = {}


class SparkEngine:
    """PySpark (Spark SQL) on ``master``: ``local[2]`` on this machine, or a cluster's master URL, with
    ``memory_limit_gb`` of driver memory (in local mode the whole of Spark's). One session per process,
    stopped at exit."""

    def __init__(self, master: str = "local[2]", memory_limit_gb: float = 4.0):
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise EngineError("engine 'spark': pyspark is not installed (pip install pyspark)") from None
        if master not in _SPARK:
            try:
                session = (SparkSession.builder.master(master).appName("wristdoctor")
                           .config("spark.sql.session.timeZone", "UTC")
                           .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                           .config("spark.driver.memory", f"{max(1, round(memory_limit_gb))}g")
                           .config("spark.sql.shuffle.partitions", "8")
                           .config("spark.ui.enabled", "false")
                           .config("spark.ui.showConsoleProgress", "false").getOrCreate())
                session.sparkContext.setLogLevel("ERROR")
            except Exception as exc:  # no Java, a master that cannot be reached
                raise EngineError(f"engine 'spark': cannot start a Spark session on {master!r} "
                                  f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); Spark "
                                  "needs Java 17 (Debian: apt-get install openjdk-17-jre-headless)") from None
            _SPARK[master] = session
            atexit.register(session.stop)
        self.spark = _SPARK[master]

    def query(self, sql: str, tables: dict[str, pa.Table]) -> pd.DataFrame:
        from pyspark.sql import types as T

        for name, table in tables.items():
            schema = T.StructType([T.StructField(f.name, T.LongType() if pa.types.is_integer(f.type)
                                                 else T.StringType(), True) for f in table.schema])
            self.spark.createDataFrame(table.to_pandas(), schema=schema).createOrReplaceTempView(name)
        return self._sql(sql)

    def query_files(self, sql: str, paths: dict[str, Path]) -> pd.DataFrame:
        for name, path in paths.items():
            self.spark.read.parquet(str(path)).createOrReplaceTempView(f"{name}_file")
            self.spark.sql(_file_view(name, f"{name}_file")).createOrReplaceTempView(name)
        return self._sql(sql)

    def _sql(self, sql: str) -> pd.DataFrame:
        try:
            return self.spark.sql(sql).toPandas()
        except Exception as exc:  # a Java error: its first line says what (out of memory, lost executor, ...)
            first = next((line for line in str(exc).splitlines() if "Error" in line or "Exception" in line), str(exc))
            raise EngineError(f"engine 'spark': the person-year query failed ({first.strip()[:300]}); with "
                              "master local[*] raise [engine] memory_limit_gb (Spark's driver memory)") from None

    def close(self) -> None:
        pass


def _file_view(name: str, source: str) -> str:
    """The columns the query reads of a table file; qualification's rows numbered in (person, year) order."""
    cols = ", ".join(COLUMNS[name])
    if name == "qualification":  # a sort key, not row_number(): a window without partitions is one task
        return f"SELECT {cols}, CAST(STUDY_ID AS BIGINT) * 10000 + STND_Y AS _ROW FROM {source}"
    return f"SELECT {cols} FROM {source}"


def person_years_from_extract(engine, defs: Definitions, linked_dir: str | Path) -> tuple[pd.DataFrame, dict]:
    """The person-years of a whole linked extract's Parquet files, read by the engine itself (on a cluster,
    by Spark's executors; on DuckDB, within its memory limit), in (person, year) order, and the exclusion
    count. The files are not validated here: the panel build validates every chunk (``analysis.panel.schema``)
    and this path serves a validated extract."""
    linked_dir = Path(linked_dir)
    paths = {name: linked_dir / f"{name}.parquet" for name in TABLES}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise EngineError(f"linked extract: {missing} not found (this path reads Parquet files)")
    n_rows = engine.query_files("SELECT COUNT(*) AS n FROM qualification", {"qualification": paths["qualification"]})
    result = engine.query_files(person_years_sql(defs), paths)
    n = int(engine.query_files(excluded_sql(), paths)["n"].iloc[0])
    return (_as_reference(result, defs, int(n_rows["n"].iloc[0]), numbered=False),
            {"claims_rows_without_qualification": n})


def make_engine(name: str, *, master: str = "local[2]", memory_limit_gb: float = 4.0,
                spill: str | Path | None = None):
    """The engine the plan's ``[engine]`` names."""
    if name == "duckdb":
        return DuckDBEngine(memory_limit_gb, spill)
    if name == "spark":
        return SparkEngine(master, memory_limit_gb)
    raise EngineError(f"engine {name!r}; allowed: ['duckdb', 'spark']")


def person_years(engine, defs: Definitions, qualification: pd.DataFrame, claims: pd.DataFrame,
                 diagnoses: pd.DataFrame, prescriptions: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """``phenotypes.person_years`` on ``engine``: the same table and the same exclusion counts."""
    tables = _frames(qualification, claims, diagnoses, prescriptions)
    result = engine.query(person_years_sql(defs), tables)
    n = int(engine.query(excluded_sql(), {k: tables[k] for k in ("qualification", "claims")})["n"].iloc[0])
    return _as_reference(result, defs, len(qualification)), {"claims_rows_without_qualification": n}
