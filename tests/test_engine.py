"""The claim-level work in SQL (analysis/panel/engine.py): DuckDB and Spark give the reference's person-years."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from analysis.config import ConfigError, EngineConfig, parse_config
from analysis.panel.build import LinkedExtract, build_panel_from_dir
from analysis.panel.engine import (
    TABLES,
    DuckDBEngine,
    EngineError,
    make_engine,
    person_years,
    person_years_from_extract,
)
from analysis.panel.schema import validate
from analysis.phenotypes import load
from analysis.phenotypes import person_years as reference
from tests.test_phenotypes import AHT, DEFAULT_TEXT, _history

DEFS = load()
# every rule of the file on one history: one and two outpatient claims, an inpatient one, sub-diagnoses,
# drug confirmation, washout with and without coverage, excluded families, a claim without qualification
HISTORY = [
    (1, 20190305, "03", "J069", ["I109"], [AHT]), (1, 20200110, "03", "I109", [], [AHT]),
    (1, 20200812, "03", "M545", ["I109"], []), (1, 20210707, "02", "I219", ["I110"], [AHT]),
    (1, 20220110, "03", "E119", [], []), (1, 20220311, "03", "E119", [], ["310101ATB"]),
    (1, 20190101, "05", "K021", [], []), (1, 20190201, "03", "H361", [], []), (1, 20190301, "03", "H251", [], []),
    (1, 20190401, "03", "S934", [], []), (1, 20190501, "02", "J189", [], []),
    (2, 20170505, "03", "I109", [], []), (2, 20200110, "03", "I109", [], [AHT]), (2, 20200311, "03", "I109", [], []),
    (2, 20230311, "04", "E785", ["E119"], ["310101ATB"]), (3, 20190601, "03", "J069", [], []),
]


def _drop_2019(tables):
    q, c, d, r = tables
    return q[~((q.STUDY_ID == 2) & (q.STND_Y == 2019))], c, d, r


@pytest.fixture(scope="module")
def duck():
    engine = DuckDBEngine(memory_limit_gb=1.0)
    yield engine
    engine.close()


@pytest.mark.parametrize("make, new_2020", [(lambda: _history(HISTORY, persons=(1, 2)), 1.0),
                                             (lambda: _drop_2019(_history(HISTORY, persons=(1, 2))), None)])
def test_duckdb_gives_the_reference_on_hand_built_histories(duck, make, new_2020, tmp_path):
    tables = make()
    want, excluded = reference(DEFS, *tables)
    got, got_excluded = person_years(duck, DEFS, *tables)
    pd.testing.assert_frame_equal(got, want)
    assert got_excluded == excluded == {"claims_rows_without_qualification": 1}
    # person 2's hypertension of 2020 is new (2017 lies outside the washout) unless 2019 was not covered
    got_2020 = got.new_hypertension[(got.STUDY_ID == 2) & (got.STND_Y == 2020)].iloc[0]
    assert got_2020 == new_2020 if new_2020 is not None else np.isnan(got_2020)
    # another file's rules (one-year washout, main position only) are another query, still the reference's
    path = tmp_path / "other.toml"
    path.write_text(DEFAULT_TEXT.replace('diagnosis = ["I10-I15"]\nposition = "any"',
                                         'diagnosis = ["I10-I15"]\nposition = "main"')
                    .replace('washout_years = 2\nlabel = "new hypertension', 'washout_years = 1\nlabel = "new hypertension'),
                    encoding="utf-8")
    other = load(path)
    assert other.outcomes["new_hypertension"].washout_years == 1
    pd.testing.assert_frame_equal(person_years(duck, other, *tables)[0], reference(other, *tables)[0])


def _small_tables(small_linked, persons: int | None = None):
    """The small world's validated tables (only its first ``persons`` persons' rows when given)."""
    return validate(LinkedExtract(small_linked / "linked", persons).read(0))


def test_duckdb_gives_the_reference_on_the_world(duck, small_linked):
    t = _small_tables(small_linked)
    args = (t["qualification"], t["claims"], t["diagnoses"], t["prescriptions"])
    want, excluded = reference(DEFS, *args)
    got, got_excluded = person_years(duck, DEFS, *args)
    pd.testing.assert_frame_equal(got, want)
    assert got_excluded == excluded
    assert want.medical_cost.sum() > 0 and (want.new_diabetes == 1).sum() > 0


def test_the_panel_is_the_same_by_either_implementation(small_linked, tmp_path):
    """build_panel_from_dir on DuckDB (the plan's default) equals the numpy reference's panel, and DuckDB's
    spill folder is gone afterwards."""
    from analysis.config import PanelConfig
    from analysis.panel.build import build_panel

    panel, _ = build_panel_from_dir(small_linked / "linked", tmp_path / "p", PanelConfig(), progress=False,
                                    engine=EngineConfig(memory_limit_gb=0.5))
    ref, _ = build_panel(_small_tables(small_linked), PanelConfig())
    pd.testing.assert_frame_equal(panel, ref)
    assert not (tmp_path / "p" / "spill").exists()


def _spark_or_skip():
    if shutil.which("java") is None:
        pytest.skip("no Java here: Spark needs Java 17 (`make test` installs openjdk-17-jre-headless where it can)")
    try:
        return make_engine("spark", master="local[2]")
    except EngineError as exc:
        pytest.skip(str(exc))


def test_the_whole_extract_read_by_the_engine_is_the_reference(duck, small_linked):
    """The cluster's path: the engine reads the extract's Parquet files itself; the table is the reference's
    over all chunks, in (person, year) order."""
    t = _small_tables(small_linked)
    want, excluded = reference(DEFS, t["qualification"], t["claims"], t["diagnoses"], t["prescriptions"])
    want = want.sort_values(["STUDY_ID", "STND_Y"], kind="stable").reset_index(drop=True)
    got, got_excluded = person_years_from_extract(duck, DEFS, small_linked / "linked")
    pd.testing.assert_frame_equal(got, want)
    assert got_excluded == excluded
    with pytest.raises(EngineError, match="not found"):
        person_years_from_extract(duck, DEFS, small_linked)


def _first_persons(linked: Path, out: Path, n: int) -> Path:
    """The extract's first ``n`` persons (by study ID) with every row of theirs in each table, as Parquet
    files in ``out``."""
    ids = pc.unique(pq.read_table(linked / "qualification.parquet", columns=["STUDY_ID"]).column(0))
    keep = pc.take(ids, pc.array_sort_indices(ids)[:n])
    out.mkdir()
    for name in TABLES:
        t = pq.read_table(linked / f"{name}.parquet")
        pq.write_table(t.filter(pc.is_in(t.column("STUDY_ID"), value_set=keep)), out / f"{name}.parquet")
    return out


def test_spark_gives_duckdbs_person_years(duck, small_linked, tmp_path):
    """Spark (local[2]) on both paths: a chunk's tables shipped with the query (hand-built histories), and
    a part of the small world's files read by Spark itself (3,000 of its persons: every path of the query,
    in a fraction of the time the whole extract took beside the suite's other work)."""
    spark = _spark_or_skip()
    hist = _history(HISTORY, persons=(1, 2))
    got, got_excluded = person_years(spark, DEFS, *hist)
    pd.testing.assert_frame_equal(got, reference(DEFS, *hist)[0])
    assert got_excluded == {"claims_rows_without_qualification": 1}
    part = _first_persons(small_linked / "linked", tmp_path / "part", 3000)
    want = person_years_from_extract(duck, DEFS, part)
    got = person_years_from_extract(spark, DEFS, part)
    assert want[0].STUDY_ID.nunique() == 3000
    pd.testing.assert_frame_equal(got[0], want[0])
    assert got[1] == want[1]
    assert (want[0].new_hypertension == 1).any() and want[0].hypertension_drug.any()


def test_engine_keys_are_checked():
    with pytest.raises(ConfigError, match="engine"):
        parse_config({"engine": {"name": "polars"}})
    with pytest.raises(ConfigError, match="memory_limit_gb"):
        parse_config({"engine": {"memory_limit_gb": 0.0}})
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config({"engine": {"threads": 4}})
    with pytest.raises(EngineError, match="allowed"):
        make_engine("polars")


def test_duckdb_under_a_small_memory_limit_spills_and_gives_the_same_table(duck, small_linked, tmp_path):
    """A quarter of a GB for the small world's whole extract: DuckDB spills to the folder it was given (one
    thread below 2 GB) and returns the table it returns with room; the folder it made is gone after."""
    want = person_years_from_extract(duck, DEFS, small_linked / "linked")[0]
    spill = tmp_path / "spill"
    tight = DuckDBEngine(memory_limit_gb=0.25, spill=spill)
    try:
        got = person_years_from_extract(tight, DEFS, small_linked / "linked")[0]
        assert any(spill.iterdir())  # it did spill
    finally:
        tight.close()
    pd.testing.assert_frame_equal(got, want)
    assert not spill.exists()
