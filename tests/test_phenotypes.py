"""Outcome definitions as data: the phenotype file on hand-built claim histories, and on the world."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from analysis import phenotypes
from analysis.phenotypes import PhenotypeError, code_in, load, person_years
from analysis.synth.params import scenario_params
from analysis.synth.world import generate_chunk

DEFS = load()


def _history(claims: list[tuple], years=range(2017, 2026), persons=(1,)):
    """Tables from claims given as (person, date, form, main, [other diagnoses], [ingredients])."""
    q = pd.DataFrame([(p, y) for p in persons for y in years], columns=["STUDY_ID", "STND_Y"])
    c, d, r = [], [], []
    for k, (pid, date, form, main, other, drugs) in enumerate(claims, start=1):
        c.append({"STUDY_ID": pid, "KEY_SEQ": k, "RECU_FR_DT": date, "FORM_CD": form, "MAIN_SICK": main,
                  "VSCN": 1, "EDEC_TRAMT": 1000, "EDEC_SBRDN_AMT": 300, "EDEC_JBRDN_AMT": 700})
        for j, code in enumerate([main, *other], start=1):
            d.append({"STUDY_ID": pid, "KEY_SEQ": k, "SEQ_NO": j, "MCEX_SICK_SYM": code})
        for j, code in enumerate(drugs, start=1):
            r.append({"STUDY_ID": pid, "KEY_SEQ": k, "SEQ_NO": j, "GNL_NM_CD": code})
    cols_c = ["STUDY_ID", "KEY_SEQ", "RECU_FR_DT", "FORM_CD", "MAIN_SICK", "VSCN", "EDEC_TRAMT", "EDEC_SBRDN_AMT",
              "EDEC_JBRDN_AMT"]
    return (q, pd.DataFrame(c, columns=cols_c), pd.DataFrame(d, columns=["STUDY_ID", "KEY_SEQ", "SEQ_NO", "MCEX_SICK_SYM"]),
            pd.DataFrame(r, columns=["STUDY_ID", "KEY_SEQ", "SEQ_NO", "GNL_NM_CD"]))


def _by_year(defs, tables, outcome, person=1):
    py, _ = person_years(defs, *tables)
    return py[py.STUDY_ID == person].set_index("STND_Y")[outcome].to_dict()


AHT = "210101ATB"  # an antihypertensive of the default file


def test_new_diagnosis_needs_two_outpatient_claims_or_one_inpatient(tmp_path):
    t = _history([
        (1, 20190305, "03", "J069", ["I109"], [AHT]),  # one outpatient claim in 2019: not enough
        (1, 20200110, "03", "I109", [], [AHT]), (1, 20200812, "03", "M545", ["I109"], []),  # two in 2020
    ])
    # 2019 had a claim carrying the code, so 2020 is off the risk set (missing), and never "new"; at risk
    # again once two years pass without the code
    off = float("nan")
    np.testing.assert_array_equal(list(_by_year(DEFS, t, "new_hypertension").values()),
                                  [off, off, 0, off, off, off, 0, 0, 0])
    t = _history([(1, 20190305, "03", "I109", [], [AHT]), (1, 20190406, "03", "I109", [], [])])
    # the extract's first two years have no observed washout: missing, not 0
    np.testing.assert_array_equal(list(_by_year(DEFS, t, "new_hypertension").values()),
                                  [off, off, 1, off, off, 0, 0, 0, 0])
    assert _by_year(DEFS, t, "hypertension_drug")[2019] == 1
    t = _history([(2, 20210707, "02", "I219", ["I110"], [AHT])], persons=(2,))
    assert _by_year(DEFS, t, "new_hypertension", person=2)[2021] == 1  # one inpatient claim suffices
    # the code in the sub-diagnosis position only counts where the position is "any"
    main_only = DEFAULT_TEXT.replace('diagnosis = ["I10-I15"]\nposition = "any"', 'diagnosis = ["I10-I15"]\nposition = "main"')
    assert main_only != DEFAULT_TEXT
    t = _history([(1, 20190305, "03", "J069", ["I109"], [AHT]), (1, 20190406, "03", "M545", ["I109"], [])])
    assert _by_year(DEFS, t, "new_hypertension")[2019] == 1
    assert _by_year(_load_text(main_only, tmp_path), t, "new_hypertension")[2019] == 0


def _load_text(text, folder):
    path = folder / f"ph{len(list(folder.iterdir()))}.toml"
    path.write_text(text, encoding="utf-8")
    return load(path)


def test_washout_needs_coverage_and_a_clean_window(tmp_path):
    two = [(1, 20200110, "03", "I109", [], [AHT]), (1, 20200311, "03", "I109", [], [])]
    # the default two-year washout: a code in 2017 is outside the window, one in 2018 inside it
    assert _by_year(DEFS, _history([(1, 20170505, "03", "I109", [], []), *two]), "new_hypertension")[2020] == 1
    assert np.isnan(_by_year(DEFS, _history([(1, 20180505, "03", "I109", [], []), *two]), "new_hypertension")[2020])
    # with a one-year washout the 2018 code no longer blocks
    one = _load_text(DEFAULT_TEXT.replace("washout_years = 2\nlabel = \"new hypertension",
                                          "washout_years = 1\nlabel = \"new hypertension"), tmp_path)
    assert one.outcomes["new_hypertension"].washout_years == 1
    assert _by_year(one, _history([(1, 20180505, "03", "I109", [], []), *two]), "new_hypertension")[2020] == 1
    # not covered in 2019 (no qualification row): the washout is not observed, so not new
    q, c, d, r = _history(two)
    assert np.isnan(_by_year(DEFS, (q[q.STND_Y != 2019], c, d, r), "new_hypertension")[2020])
    # the extract's first two years can never hold a new diagnosis
    early = [(1, 20180110, "03", "I109", [], [AHT]), (1, 20180311, "03", "I109", [], [])]
    assert np.isnan(_by_year(DEFS, _history(early), "new_hypertension")[2018])


def test_drug_confirmation():
    dm = [(1, 20220110, "03", "E119", [], []), (1, 20220311, "03", "E119", [], [])]
    assert _by_year(DEFS, _history(dm), "new_diabetes")[2022] == 0  # no antidiabetic that year
    dm[1] = (1, 20220311, "03", "E119", [], ["310101ATB"])
    assert _by_year(DEFS, _history(dm), "new_diabetes")[2022] == 1
    assert _by_year(DEFS, _history(dm), "diabetes_drug")[2022] == 1
    assert _by_year(DEFS, _history(dm), "hypertension_drug")[2022] == 0


def test_costs_days_and_families():
    t = _history([
        (1, 20190101, "05", "K021", [], []), (1, 20190201, "03", "H361", [], []), (1, 20190301, "03", "H251", [], []),
        (1, 20190401, "03", "S934", [], []), (1, 20190501, "02", "J189", [], []), (3, 20190601, "03", "J069", [], []),
    ], persons=(1,))
    py, excluded = person_years(DEFS, *t)
    row = py[(py.STUDY_ID == 1) & (py.STND_Y == 2019)].iloc[0]
    assert row.medical_cost == 5000 and row.patient_cost == 1500 and row.insurer_cost == 3500
    assert row.cost_dental == 1000 and row.cost_eye == 1000  # H36 (diabetic retinopathy) is excluded
    assert row.injury_visits == 1 and row.inpatient_days == 1 and row.outpatient_visits == 4
    assert excluded == {"claims_rows_without_qualification": 1}  # person 3 has no qualification rows
    assert list(code_in(pd.Series(["I10", "I159", "I16", "E78", "E780", None]), ("I10-I15", "E78"))) == [
        True, True, False, True, True, False]


DEFAULT_TEXT = phenotypes.DEFAULT.read_text(encoding="utf-8")


@pytest.mark.parametrize("edit, message", [
    (("kind = \"drug\"\ndrug = \"antihypertensive\"", "kind = \"drug\"\ndrug = \"aspirin\""), "names no drug family"),
    (("diagnosis = [\"I10-I15\"]", "diagnosis = [\"I10.9\"]"), "KCD-7 families"),
    (("washout_years = 2\nlabel = \"new hypertension", "washout_years = 0\nlabel = \"new hypertension"),
     "washout_years must be a whole number"),
    (("kind = \"days\"\nforms = \"outpatient\"", "kind = \"days\"\nforms = \"outpatient\"\namount = \"EDEC_TRAMT\""),
     "do not apply to kind 'days'"),
    (("version = \"2026.12-2\"", ""), "'version'"),
])
def test_bad_phenotype_files_name_the_key(tmp_path, edit, message):
    assert edit[0] in DEFAULT_TEXT
    path = tmp_path / "bad.toml"
    path.write_text(DEFAULT_TEXT.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(PhenotypeError, match=message):
        load(path)


def test_world_claims_sum_to_person_years_and_diagnoses_match_truth():
    """On a chunk of the world: every claims outcome of the phenotype file equals the world's own person-year
    value (costs, visit days, injuries, categories) or its truth of when a disease shows in claims."""
    tb = {k: v.to_pandas() if isinstance(v, pa.Table) else v
          for k, v in generate_chunk(0, 6000, 17, scenario_params("default")).items()}
    ren = {"PERSON_ID": "STUDY_ID"}
    py, excluded = person_years(DEFS, *(tb[k].rename(columns=ren) for k in
                                        ("nhis/qualification", "nhis/t20", "nhis/t40", "nhis/t60")))
    assert excluded == {"claims_rows_without_qualification": 0}
    truth = tb["truth/outcomes"].rename(columns={"PERSON_ID": "STUDY_ID", "year": "STND_Y"})
    m = py.merge(truth, on=["STUDY_ID", "STND_Y"], validate="one_to_one")
    assert len(m) == len(py) == len(tb["nhis/qualification"])
    for o in ("medical_cost", "outpatient_visits", "injury_visits", "new_hypertension", "new_diabetes",
              "new_dyslipidaemia", "cost_dental", "cost_eye", "cost_skin", "cost_ear", "cost_preventive"):
        np.testing.assert_array_equal(m[o].to_numpy(float), m[f"y1_{o}"].to_numpy(float), err_msg=o)
    assert m.new_hypertension.sum() > 20 and m.cost_dental.gt(0).mean() > 0.05
    t20 = tb["nhis/t20"]
    assert (t20.EDEC_SBRDN_AMT + t20.EDEC_JBRDN_AMT == t20.EDEC_TRAMT).all()
    assert (t20.EDEC_SBRDN_AMT >= 0).all() and (t20.EDEC_JBRDN_AMT >= 0).all()
    assert t20.KEY_SEQ.is_unique


ADDED = """
[outcomes.cost_musculoskeletal]
kind = "amount"
main_diagnosis = ["M00-M99"]
label = "cost of claims whose main diagnosis is musculoskeletal"
name_en = "musculoskeletal care cost (KRW/yr)"
name_ko = "근골격계 진료비(원/년)"

[outcomes.respiratory_visits]
kind = "days"
forms = "outpatient"
main_diagnosis = ["J00-J22"]
label = "outpatient visit days for respiratory infections"
"""


@pytest.fixture(scope="module")
def added_outcome_study(small_linked, tmp_path_factory):
    """A study whose own phenotype file adds two outcomes and studies them, on the small world."""
    from analysis.config import parse_config
    from analysis.panel import build_panel_from_dir

    base = tmp_path_factory.mktemp("added_outcome")
    (base / "phenotypes.toml").write_text(DEFAULT_TEXT + ADDED, encoding="utf-8")
    cfg = parse_config({"panel": {"phenotypes": str(base / "phenotypes.toml")},
                        "outcomes": {"primary": "cost_musculoskeletal", "secondary": ["respiratory_visits", "bmi"]}})
    panel, _ = build_panel_from_dir(small_linked / "linked", base / "panel", cfg.panel, progress=False)
    return cfg, panel, small_linked / "linked"


def test_a_plan_names_only_outcomes_its_phenotype_file_defines(tmp_path):
    from analysis.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"outcomes.primary: unknown outcome\(s\) \['cost_musculoskeletal'\].*"
                                          r"phenotype file's outcomes"):
        parse_config({"outcomes": {"primary": "cost_musculoskeletal"}})


def test_a_study_adds_an_outcome_without_code(added_outcome_study):
    """The added outcomes are panel columns equal to a direct sum over the linked claims, go through every
    design (costs calibrated like the package's own), carry no synthetic truth, and are named in the
    report's tables by the file's own names."""
    from analysis.did.headline import outcome_headlines
    from analysis.did.outcomes import estimate_all
    from analysis.report.text import outcome_names

    cfg, panel, linked = added_outcome_study
    claims = pd.read_parquet(linked / "claims.parquet",
                             columns=["STUDY_ID", "RECU_FR_DT", "FORM_CD", "MAIN_SICK", "VSCN", "EDEC_TRAMT"])
    claims["year"] = claims.RECU_FR_DT // 10_000
    key = ["STUDY_ID", "year"]
    msk = claims[claims.MAIN_SICK.astype(str).str.match(r"M\d\d")].groupby(key).EDEC_TRAMT.sum()
    resp = claims[claims.MAIN_SICK.astype(str).str.match(r"J(0\d|1\d|2[0-2])")
                  & claims.FORM_CD.astype(str).isin(["03", "05"])].groupby(key).VSCN.sum()
    idx = pd.MultiIndex.from_arrays([panel.study_id, panel.year])
    assert msk.sum() > 0 and resp.sum() > 0
    np.testing.assert_array_equal(panel.cost_musculoskeletal, msk.reindex(idx, fill_value=0).to_numpy())
    np.testing.assert_array_equal(panel.respiratory_visits, resp.reindex(idx, fill_value=0).to_numpy())

    assert cfg.phenotypes.is_cost("cost_musculoskeletal") and not cfg.phenotypes.is_cost("respiratory_visits")
    est, excl = estimate_all(panel, cfg)
    mine = est[est.outcome == "cost_musculoskeletal"]
    assert {"callaway_santanna", "callaway_santanna_calibrated"} <= set(mine.design)
    assert est[est.outcome == "respiratory_visits"].design.nunique() >= 2
    assert est[est.outcome.isin(["cost_musculoskeletal", "respiratory_visits"])].truth.isna().all()
    heads = {h["outcome"]: h for h in outcome_headlines(est, excl, cfg)}
    assert heads["cost_musculoskeletal"]["design"] == "callaway_santanna_calibrated"
    assert heads["respiratory_visits"]["design"] != "callaway_santanna_calibrated"
    names = outcome_names(cfg.phenotypes, "ko")
    assert names["cost_musculoskeletal"] == "근골격계 진료비(원/년)" and names["respiratory_visits"] == "respiratory_visits"
    assert names["medical_cost"] == "의료비(원/년)"
