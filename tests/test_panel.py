"""The analysis panel: invariants on the synthetic extract, and clear errors on a bad real extract."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.config import PanelConfig
from analysis.definitions import metabolic_syndrome
from analysis.panel import SchemaError, build_panel, build_panel_from_dir, read_linked, validate
from analysis.panel.build import LinkedExtract


@pytest.fixture(scope="module")
def tables(default_linked):
    return read_linked(default_linked[0] / "linked")


def test_one_row_per_person_year_and_cohorts_match_truth(default_panel, default_linked):
    _, panel, report = default_panel
    assert not panel.duplicated(["study_id", "year"]).any()
    assert report["rows"] == len(panel)
    assert sum(report["exclusions"].values()) == 0  # the synthetic extract is clean
    truth = pd.read_parquet(default_linked[0] / "truth/persons.parquet").set_index("STUDY_ID")
    ft = panel.drop_duplicates("study_id").set_index("study_id")["first_treat"]
    t = truth.reindex(ft.index)
    linked = ft > 0
    assert (ft[linked] == t.first_treat[linked]).all()  # linked enrollees carry their true cohort
    # unlinked participants look like never-enrolled: counted, not hidden
    unlinked = (~linked) & t.enrolled
    assert (
        unlinked.sum() == default_linked[1]["program_records"] - default_linked[1]["status_counts"]["linked"]
    )


def test_costs_and_outcomes_carried_from_claims(default_panel, default_linked, tables):
    """The panel's claims outcomes are the claims summed per person-year by the phenotype file (0 without
    claims), and equal the world's own person-year values and truth of when diagnoses show in claims."""
    _, panel, report = default_panel
    c = tables["claims"]
    cost = c.groupby([c.STUDY_ID, c.RECU_FR_DT // 10_000])["EDEC_TRAMT"].sum()
    got = panel.set_index(["study_id", "year"])["medical_cost"]
    np.testing.assert_array_equal(got.to_numpy(), cost.reindex(got.index).fillna(0).to_numpy())
    assert report["person_years_without_claims"] == int((~got.index.isin(cost.index)).sum()) > 0
    truth = pd.read_parquet(default_linked[0] / "truth/outcomes.parquet")
    m = panel.merge(truth, left_on=["study_id", "year"], right_on=["STUDY_ID", "year"], validate="one_to_one")
    assert len(m) == len(panel)
    for o in ("medical_cost", "outpatient_visits", "injury_visits", "new_hypertension", "new_diabetes",
              "new_dyslipidaemia", "cost_dental", "cost_preventive"):
        np.testing.assert_array_equal(m[o].to_numpy(float), m[f"y1_{o}"].to_numpy(float), err_msg=o)


def test_metabolic_syndrome_only_with_lipid_panel(default_panel):
    _, panel, _ = default_panel
    has_lipids = panel.triglycerides.notna()
    assert panel.metabolic_syndrome[~has_lipids].isna().all()
    assert panel.metabolic_syndrome[has_lipids].notna().all()
    p = panel[has_lipids]
    expect = metabolic_syndrome(
        p.female,
        p.waist,
        p.triglycerides,
        p.hdl,
        p.sbp,
        p.dbp,
        p.fasting_glucose,
        p.hypertension_drug > 0,
        p.diabetes_drug > 0,
        p.lipid_drug > 0,
    )
    np.testing.assert_array_equal(expect, p.metabolic_syndrome.to_numpy(float))
    assert 0.15 < p.metabolic_syndrome.mean() < 0.35


def test_korean_metabolic_syndrome_definition():
    # men: waist 90 + TG 150 + glucose 100 -> 3 criteria; women's waist threshold is 85
    assert metabolic_syndrome(False, 90, 150, 45, 120, 80, 100, False, False, False) == 1
    assert metabolic_syndrome(False, 89.9, 150, 45, 120, 80, 100, False, False, False) == 0
    assert metabolic_syndrome(True, 85, 100, 49, 120, 80, 90, False, False, False) == 0
    assert metabolic_syndrome(True, 85, 100, 49, 120, 80, 90, True, False, False) == 1  # BP drug
    assert np.isnan(metabolic_syndrome(True, 85, np.nan, 49, 120, 80, 90, True, False, False))


def test_baseline_is_last_checkup_before_reference_year(default_panel):
    _, panel, _ = default_panel
    first = panel.drop_duplicates("study_id")
    sample = first[first.baseline_checkup_year.notna()].sample(300, random_state=1)
    for _, p in sample.iterrows():
        rows = panel[(panel.study_id == p.study_id) & panel.checkup & (panel.year < p.baseline_year)]
        last = rows.iloc[-1]
        assert last.year == p.baseline_checkup_year and last.waist == p.waist_pre
        c1 = panel.loc[(panel.study_id == p.study_id) & (panel.year == p.baseline_year - 1), "medical_cost"]
        if len(c1):
            assert c1.iloc[0] == p.cost_pre1
    never = first[first.first_treat == 0]
    assert (never.baseline_year == PanelConfig().baseline_reference_year).all()
    treated = first[first.first_treat > 0]
    assert (treated.baseline_year == treated.first_treat).all()
    # nothing measured in or after the reference year
    assert (
        first.baseline_checkup_year.dropna() < first.loc[first.baseline_checkup_year.notna(), "baseline_year"]
    ).all()


def test_baseline_covariates_at_a_common_year(default_panel):
    """Risk-set matching measures everyone at the same time: for g = 2022 the 2024 joiners' costs are
    their 2021 and 2020 costs, not the costs before their own enrolment."""
    from analysis.panel import baseline_covariates

    _, panel, _ = default_panel
    base = baseline_covariates(panel, 2022)
    cost = panel.set_index(["study_id", "year"])["medical_cost"]
    later = panel.loc[panel.first_treat == 2024, "study_id"].unique()[:200]
    for sid in later:
        if (sid, 2021) in cost.index:
            assert base.loc[sid, "cost_pre1"] == cost[(sid, 2021)]
        row = panel[(panel.study_id == sid) & (panel.year == 2021)]
        if len(row):
            assert base.loc[sid, "premium_decile_pre"] == row.premium_decile.iloc[0]
    assert (base.baseline_checkup_year.dropna() < 2022).all()
    assert len(base) == panel.study_id.nunique()


def test_chronic_at_entry_is_the_first_year_and_blind_to_later_diagnoses(default_panel):
    """The DiD's chronic-disease covariate is the drug use of each person's first year, so a diagnosis
    in a year the design compares cannot move it; the baseline chronic_disease of a later joiner does move."""
    from analysis.panel import baseline_covariates
    from analysis.panel.build import chronic_at_entry

    _, panel, _ = default_panel
    first = panel.sort_values("year").drop_duplicates("study_id").set_index("study_id")
    drug = (first.hypertension_drug + first.diabetes_drug + first.lipid_drug) > 0
    persons = panel.drop_duplicates("study_id").set_index("study_id")
    assert (persons.chronic_at_entry == drug.reindex(persons.index)).all()
    assert panel.groupby("study_id").chronic_at_entry.nunique().max() == 1
    # a hypertension diagnosed and treated from 2020 on, for people in the extract before and in 2020 with
    # nothing at entry
    in_2020 = persons.index.isin(panel.loc[panel.year == 2020, "study_id"])
    before = (first.year < 2020).reindex(persons.index).to_numpy()
    clean = persons.index[~persons.chronic_at_entry & ~persons.chronic_disease & in_2020 & before][:300]
    assert len(clean) == 300
    later = panel.copy()
    hit = later.study_id.isin(clean) & (later.year >= 2020)
    later.loc[hit, "hypertension_drug"] = 1
    later.loc[hit & (later.year == 2020), "new_hypertension"] = 1.0
    assert not chronic_at_entry(later).reindex(clean).any()
    assert baseline_covariates(later, 2025).chronic_disease.reindex(clean).all()


# --- a researcher's real extract with problems: each error names table, column and rows


def _small(tables, n=2000):
    ids = tables["persons"]["STUDY_ID"].iloc[:n]
    return {k: v[v["STUDY_ID"].isin(ids)].reset_index(drop=True).copy() for k, v in tables.items()}


def test_missing_column(tables):
    t = _small(tables)
    t["checkups"] = t["checkups"].drop(columns=["G1E_WSTC"])
    with pytest.raises(SchemaError, match=r"table 'checkups': missing column\(s\) \['G1E_WSTC'\]"):
        validate(t)


def test_wrong_type(tables):
    t = _small(tables)
    t["claims"]["EDEC_TRAMT"] = t["claims"]["EDEC_TRAMT"].astype(str)
    t["claims"].loc[3, "EDEC_TRAMT"] = "1,234원"
    with pytest.raises(
        SchemaError,
        match=r"table 'claims', column 'EDEC_TRAMT': expected numbers, got text in "
        r"1 row\(s\), first at row\(s\) \[3\]",
    ):
        validate(t)


def test_duplicate_person_year(tables):
    t = _small(tables)
    q = t["qualification"]
    t["qualification"] = pd.concat([q, q.iloc[[5]]], ignore_index=True)
    with pytest.raises(
        SchemaError,
        match=r"table 'qualification': duplicate person-year .* 2 row\(s\), "
        rf"first at row\(s\) \[5, {len(q)}\]",
    ):
        validate(t)


def test_impossible_value(tables):
    t = _small(tables)
    t["checkups"].loc[[7, 9], "G1E_BP_SYS"] = [12.0, 400.0]
    with pytest.raises(
        SchemaError,
        match=r"table 'checkups', column 'G1E_BP_SYS': impossible or out-of-range "
        r"values \(range \[60, 300\]\) in 2 row\(s\), first at row\(s\) \[7, 9\]",
    ):
        validate(t)


def test_date_out_of_range(tables):
    t = _small(tables)
    t["checkups"].loc[4, "HME_YYYYMM"] = 203001
    with pytest.raises(SchemaError, match=r"'checkups', column 'HME_YYYYMM'.*first at row\(s\) \[4\]"):
        validate(t)
    t = _small(tables)
    t["participation"].loc[0, "enrol_month"] = "2021-13"
    with pytest.raises(SchemaError, match=r"'participation', column 'enrol_month': not a YYYY-MM month"):
        validate(t)


def test_unknown_id_and_missing_table(tables):
    t = _small(tables)
    t["claims"].loc[2, "STUDY_ID"] = 10**9
    with pytest.raises(
        SchemaError, match=r"table 'claims', column 'STUDY_ID': ids not in 'persons' in 1 row"
    ):
        validate(t)
    t = _small(tables)
    del t["participation"]
    with pytest.raises(SchemaError, match="table 'participation' is missing"):
        validate(t)


def test_exclusions_are_counted_not_silent(tables):
    t = _small(tables)
    q = t["qualification"]
    drop = q.index[(q.STND_Y == 2019)][:10]
    t["qualification"] = q.drop(drop).reset_index(drop=True)
    panel, report = build_panel(validate(t), PanelConfig())
    assert report["exclusions"]["claims_rows_without_qualification"] == _claims_in(t, q.loc[drop]) > 0
    assert len(panel) == len(t["qualification"])


def _claims_in(t, person_years):
    """Claims rows of the given qualification rows' person-years."""
    c = t["claims"]
    keys = pd.MultiIndex.from_arrays([c.STUDY_ID, c.RECU_FR_DT // 10_000])
    return int(keys.isin(pd.MultiIndex.from_frame(person_years[["STUDY_ID", "STND_Y"]])).sum())


# --- the panel is built a chunk of persons at a time; the result must not depend on the chunks


def _assert_same_build(a, b):
    """Two panel folders hold the same panel (rows, order, dtypes, values) and byte-identical reports."""
    pd.testing.assert_frame_equal(pd.read_parquet(a / "panel.parquet"), pd.read_parquet(b / "panel.parquet"))
    assert (a / "panel_report.json").read_bytes() == (b / "panel_report.json").read_bytes()


def test_chunked_build_equals_one_chunk(small_linked, tmp_path):
    linked = small_linked / "linked"
    assert LinkedExtract(linked, 250_000).n_chunks == 1
    assert LinkedExtract(linked, 3_001).n_chunks == 11
    panel_one, report_one = build_panel_from_dir(linked, tmp_path / "one", PanelConfig(), progress=False,
                                                 chunk_persons=250_000)
    panel, report = build_panel_from_dir(linked, tmp_path / "many", PanelConfig(), progress=False,
                                         chunk_persons=3_001)
    _assert_same_build(tmp_path / "one", tmp_path / "many")
    pd.testing.assert_frame_equal(panel, panel_one)
    assert report == report_one
    assert not (tmp_path / "many" / "panel.parquet.partial").exists()


def _write_extract(tables, out, row_group_size=None, shuffle=False):
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    for name, df in tables.items():
        if shuffle:
            df = df.iloc[rng.permutation(len(df))]
        pq.write_table(
            pa.Table.from_pandas(df, preserve_index=False),
            out / f"{name}.parquet",
            row_group_size=row_group_size,
        )
    return out


def test_chunked_build_of_an_unsorted_extract(tables, tmp_path):
    """A researcher's extract need not be sorted by study id: the rows of a chunk are found in any row group
    (here 2,000 persons in row groups of 700 rows, shuffled), and the panel is the same in any chunks."""
    src = _write_extract(_small(tables), tmp_path / "linked", row_group_size=700, shuffle=True)
    assert LinkedExtract(src, 150).n_chunks == 14
    build_panel_from_dir(src, tmp_path / "one", PanelConfig(), progress=False, chunk_persons=10**9)
    panel, report = build_panel_from_dir(
        src, tmp_path / "many", PanelConfig(), progress=False, chunk_persons=150
    )
    _assert_same_build(tmp_path / "one", tmp_path / "many")
    assert report["persons"] == 2000 and len(panel) == report["rows"]
    # and equal to the panel of the same persons in the sorted tables, built whole in memory
    whole, _ = build_panel(validate(_small(tables)), PanelConfig())
    pd.testing.assert_frame_equal(panel, whole)


def test_chunked_counts_are_summed_across_chunks(tables, tmp_path):
    """Exclusions found in different chunks add up to the whole-table count."""
    t = _small(tables)
    q = t["qualification"]
    drop = q.index[q.STND_Y == 2019][::150][:10]  # spread over the persons, hence over the chunks
    t["qualification"] = q.drop(drop).reset_index(drop=True)
    src = _write_extract(t, tmp_path / "linked")
    _, report = build_panel_from_dir(src, tmp_path / "p", PanelConfig(), progress=False, chunk_persons=150)
    assert report["exclusions"]["claims_rows_without_qualification"] == _claims_in(t, q.loc[drop]) > 0
    _, whole = build_panel(validate(t), PanelConfig())
    assert json.dumps(report, sort_keys=True) == json.dumps(whole, sort_keys=True)


def test_chunked_validation_names_the_file_rows(tables, tmp_path):
    """Every row is validated in its chunk; the error names the table, the column, the row of the file and
    the chunk, whatever chunk the problem sits in (an id above every person's lands in the last chunk; a
    missing id in the first)."""
    t = _small(tables)
    bad_value = t["claims"].copy()
    row = len(bad_value) - 3  # near the end of the file: the last chunk
    bad_value.loc[row, "EDEC_TRAMT"] = -5
    unknown_id = t["checkups"].copy()
    unknown_id.loc[700, "STUDY_ID"] = 10**9
    missing_id = t["checkups"].copy()
    missing_id["STUDY_ID"] = missing_id["STUDY_ID"].astype("Int64")
    missing_id.loc[len(missing_id) - 1, "STUDY_ID"] = pd.NA
    cases = [
        ("claims", bad_value,
         rf"table 'claims', column 'EDEC_TRAMT': impossible .* 1 row\(s\), first at row\(s\) \[{row}\].*"
         r"chunk 14 of 14"),
        ("checkups", unknown_id,
         r"table 'checkups', column 'STUDY_ID': ids not in 'persons' in 1 row\(s\), "
         r"first at row\(s\) \[700\].*chunk 14 of 14"),
        ("checkups", missing_id,
         rf"table 'checkups', column 'STUDY_ID': missing values in 1 row\(s\), first at row\(s\) "
         rf"\[{len(missing_id) - 1}\].*chunk 1 of 14"),
    ]
    for i, (name, frame, pattern) in enumerate(cases):
        src = _write_extract({**t, name: frame}, tmp_path / f"bad{i}", row_group_size=1000)
        with pytest.raises(SchemaError, match=pattern):
            build_panel_from_dir(src, tmp_path / f"p{i}", PanelConfig(), progress=False, chunk_persons=150)
        assert not (tmp_path / f"p{i}" / "panel.parquet").exists()


def test_readme_documents_the_real_data_schema():
    from analysis.panel import SCHEMA
    from analysis.paths import PROJECT_ROOT

    text = (PROJECT_ROOT / "README.md").read_text()
    section = text[text.index("## Using real data") : text.index("## Benchmarks")]
    for table, cols in SCHEMA.items():
        assert f"`{table}`" in section, table
        for col in cols:
            assert col in section, (table, col)


# --- claim-level consistency (issue 14): every case a clear error naming the table, column and rows


def _death_claim(t):
    """Row of a claim of a person who died before 2025-12, and a date after their death month."""
    q = t["qualification"]
    dead = q.loc[q.DTH_YM.notna() & (q.DTH_YM < 202512)].iloc[0]
    rows = t["claims"].index[t["claims"].STUDY_ID == dead.STUDY_ID]
    ym = int(dead.DTH_YM) + (89 if int(dead.DTH_YM) % 100 == 12 else 1)  # the next month
    return (rows[0] if len(rows) else None), ym * 100 + 1


@pytest.mark.parametrize("case", ["orphan_dx", "orphan_rx", "dx_person", "kcd", "main_kcd", "form", "date",
                                  "shares", "after_death", "ingredient"])
def test_claim_level_consistency(tables, case):
    t = _small(tables)
    c, d, r = t["claims"], t["diagnoses"], t["prescriptions"]
    if case == "orphan_dx":
        d.loc[5, "KEY_SEQ"] = c.KEY_SEQ.max() + 1
        pattern = r"table 'diagnoses', column 'KEY_SEQ': no such claim in 'claims' in 1 row\(s\), first at row\(s\) \[5\]"
    elif case == "orphan_rx":
        r.loc[6, "KEY_SEQ"] = c.KEY_SEQ.max() + 7
        pattern = r"table 'prescriptions', column 'KEY_SEQ': no such claim .* first at row\(s\) \[6\]"
    elif case == "dx_person":
        d.loc[3, "STUDY_ID"] = d.STUDY_ID[d.STUDY_ID != d.STUDY_ID[3]].iloc[0]
        pattern = r"table 'diagnoses', column 'STUDY_ID': differs from its claim's STUDY_ID .* \[3\]"
    elif case == "kcd":
        d.loc[4, "MCEX_SICK_SYM"] = "I10.9"
        pattern = r"table 'diagnoses', column 'MCEX_SICK_SYM': not of the form .* \[4\] \(e.g. 'I10.9'\)"
    elif case == "main_kcd":
        c.loc[8, "MAIN_SICK"] = "1234"
        pattern = r"table 'claims', column 'MAIN_SICK': not of the form .* \[8\]"
    elif case == "form":
        c.loc[9, "FORM_CD"] = "99"
        pattern = r"table 'claims', column 'FORM_CD': values not in .* \[9\]"
    elif case == "date":
        c.loc[10, "RECU_FR_DT"] = 20190230
        pattern = r"table 'claims', column 'RECU_FR_DT': not a date \(YYYYMMDD\) in 1 row\(s\), first at row\(s\) \[10\]"
    elif case == "shares":
        c.loc[11, "EDEC_JBRDN_AMT"] += 10
        pattern = r"'EDEC_SBRDN_AMT' \+ 'EDEC_JBRDN_AMT': patient and insurer shares do not add up .* \[11\]"
    elif case == "after_death":
        row, date = _death_claim(t)
        assert row is not None
        c.loc[row, "RECU_FR_DT"] = date
        pattern = rf"table 'claims', column 'RECU_FR_DT': care after the death month .* \[{row}\]"
    else:
        r.loc[2, "GNL_NM_CD"] = "metformin"
        pattern = r"table 'prescriptions', column 'GNL_NM_CD': not of the form .* \[2\]"
    with pytest.raises(SchemaError, match=pattern):
        validate(t)


# --- the person-year layout's cross-table and range cases (issue 18): each a clear error naming table, column
# and rows; the table-driven list replays every way of corrupting an extract the issue found accepted


def _participant(t, with_activity=True):
    """Row of participation (and the person's first activity row) of a participant with activity."""
    a = t["activity"]
    row = t["participation"].index[t["participation"].STUDY_ID.isin(a.STUDY_ID)][0]
    return row, a.index[a.STUDY_ID == t["participation"].STUDY_ID[row]][0]


def _corrupt(t, case):
    q, part, a = t["qualification"], t["participation"], t["activity"]
    if case == "death_month_13":
        q.loc[0, "DTH_YM"] = 202013
        return r"table 'qualification', column 'DTH_YM': not a year-month \(month not in 1-12\) in 1 row\(s\), first at row\(s\) \[0\] \(e.g. 202013\)"
    if case == "death_month_00":
        q.loc[3, "DTH_YM"] = 202000
        return r"table 'qualification', column 'DTH_YM': not a year-month .* \[3\]"
    if case == "born_after_the_year":
        pid = t["persons"].STUDY_ID[0]
        t["persons"].loc[0, "BIRTH_YEAR"] = 2024
        q.loc[q.STUDY_ID == pid, "BIRTH_YEAR"] = 2024
        return r"table 'qualification', column 'BIRTH_YEAR': born after the year of the row"
    if case == "birth_year_between_tables":
        pid = t["persons"].STUDY_ID[1]
        t["persons"].loc[1, "BIRTH_YEAR"] -= 1
        return r"table 'qualification', column 'BIRTH_YEAR': differs from 'persons' in"
    if case == "age_group":
        q.loc[2, "AGE_GROUP"] = (q.loc[2, "AGE_GROUP"] + 3) % 18
        return r"table 'qualification', column 'AGE_GROUP': not the 5-year band .* first at row\(s\) \[2\]"
    if case == "enrolment_before_the_program":
        part.loc[0, "enrol_month"] = "2019-03"
        return r"table 'participation', column 'enrol_month': before the program's first enrolment \(2021-11\) .* \[0\]"
    if case == "withdrawal_before_enrolment":
        part.loc[1, "enrol_month"], part.loc[1, "withdrawal_month"] = "2024-05", "2023-01"
        return r"table 'participation', column 'withdrawal_month': before enrol_month in 1 row\(s\), first at row\(s\) \[1\]"
    if case == "activity_before_enrolment":
        prow, arow = _participant(t)
        a.loc[arow, "month"] = "2021-11"
        part.loc[prow, "enrol_month"] = "2022-01"
        return rf"table 'activity', column 'month': before the person's enrol_month in .* \[{arow}\]"
    if case == "activity_of_a_non_participant":
        never = t["persons"].STUDY_ID[~t["persons"].STUDY_ID.isin(part.STUDY_ID)].iloc[0]
        a.loc[4, "STUDY_ID"] = never
        return r"table 'activity', column 'STUDY_ID': activity of a person with no row in 'participation' .* \[4\]"
    if case == "empty_qualification":
        t["qualification"] = q.iloc[:0]
        return r"table 'qualification' has no rows for the 2,000 persons read"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["death_month_13", "death_month_00", "born_after_the_year",
                                  "birth_year_between_tables", "age_group", "enrolment_before_the_program",
                                  "withdrawal_before_enrolment", "activity_before_enrolment",
                                  "activity_of_a_non_participant", "empty_qualification"])
def test_person_year_layout_consistency(tables, case):
    t = _small(tables)
    validate(t)  # clean before the corruption
    pattern = _corrupt(t, case)
    with pytest.raises(SchemaError, match=pattern):
        validate(t)


def test_persons_without_qualification_are_counted_and_every_person_accounted_for(tables):
    t = _small(tables)
    gone = t["persons"].STUDY_ID.iloc[:50]
    t["qualification"] = t["qualification"][~t["qualification"].STUDY_ID.isin(gone)].reset_index(drop=True)
    panel, report = build_panel(validate(t), PanelConfig())
    assert report["exclusions"]["persons_without_qualification"] == 50
    assert report["persons_in"] == 2000 == report["persons"] + 50 == panel.study_id.nunique() + 50


# --- the loader takes the tables as delivered: Parquet, CSV (UTF-8 or CP949) or SAS7BDAT


def test_same_panel_from_parquet_csv_and_sas(tables, tmp_path):
    pyreadstat = pytest.importorskip("pyreadstat")
    t = _small(tables, n=600)
    t["participation"]["wave"] = np.where(np.arange(len(t["participation"])) % 2, "1차 모집", "상시 모집")
    _write_extract(t, tmp_path / "parquet")
    for enc in ("utf-8", "cp949"):
        out = tmp_path / enc
        out.mkdir()
        for name, df in t.items():
            # NHIS delivers upper-case field names; a CSV export may lower-case them
            frame = df.rename(columns=str.lower) if enc == "cp949" else df
            frame.to_csv(out / f"{name}.csv", index=False, encoding=enc)
    assert "1차".encode("cp949") in (tmp_path / "cp949/participation.csv").read_bytes()
    sas = tmp_path / "sas"
    sas.mkdir()
    for name, df in t.items():
        frame = df.copy()
        for col in frame.columns:
            if pd.api.types.is_integer_dtype(frame[col]) and frame[col].hasnans:
                frame[col] = frame[col].astype(float)
        pyreadstat.write_sas7bdat(frame, str(sas / f"{name.upper()}.sas7bdat"))
    built = {}
    for src in ("parquet", "utf-8", "cp949", "sas"):
        built[src], _ = build_panel_from_dir(tmp_path / src, tmp_path / f"panel_{src}", PanelConfig(), progress=False)
    for src in ("utf-8", "cp949", "sas"):
        pd.testing.assert_frame_equal(built[src], built["parquet"], obj=src)
    assert (built["parquet"].wave == "1차 모집").any()


def test_unreadable_table_file_names_the_table(tables, tmp_path):
    src = _write_extract(_small(tables, n=100), tmp_path / "x")
    (src / "claims.parquet").write_bytes(b"STUDY_ID,KEY_SEQ\n1,2\n")
    with pytest.raises(SchemaError, match=r"table 'claims' \(claims.parquet\) is not a readable Parquet file"):
        build_panel_from_dir(src, tmp_path / "p", PanelConfig(), progress=False)
    (src / "claims.parquet").unlink()
    (src / "claims.csv").write_bytes("STUDY_ID,KEY_SEQ\n1,\xff\xfe\n".encode("latin-1"))
    with pytest.raises(SchemaError, match=r"claims.csv: text is neither UTF-8 nor CP949|table 'claims'"):
        build_panel_from_dir(src, tmp_path / "p", PanelConfig(), progress=False)


def test_a_failed_rebuild_leaves_no_panel_behind(tables, tmp_path):
    """The previous panel of a folder is not left looking like the new extract's when the rebuild fails."""
    t = _small(tables, n=100)
    good = _write_extract(t, tmp_path / "good")
    build_panel_from_dir(good, tmp_path / "p", PanelConfig(), progress=False)
    assert (tmp_path / "p" / "panel.parquet").exists() and (tmp_path / "p" / "panel_report.json").exists()
    t["qualification"].loc[0, "DTH_YM"] = 202013
    bad = _write_extract(t, tmp_path / "bad")
    with pytest.raises(SchemaError, match="DTH_YM"):
        build_panel_from_dir(bad, tmp_path / "p", PanelConfig(), progress=False)
    assert sorted(f.name for f in (tmp_path / "p").iterdir()) == ["phenotypes.toml"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 3), st.integers(0, 2), st.integers(-2**62, 2**62)), max_size=25),
       st.sampled_from([["a"], ["a", "b"], ["b", "c"], ["a", "b", "c"]]))
def test_duplicate_keys_are_found_as_pandas_finds_them(rows, key):
    """The packed-int64 duplicate check agrees with ``DataFrame.duplicated``, also where the key columns'
    ranges do not fit one int64 together (column c)."""
    from analysis.panel.schema import _has_duplicates

    df = pd.DataFrame(rows, columns=["a", "b", "c"]).astype(np.int64)
    assert _has_duplicates(df, key) == bool(df.duplicated(key).any())
