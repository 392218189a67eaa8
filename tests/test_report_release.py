"""The release review (statistical disclosure control): each rule on small hand-built frames."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.config import DisclosureConfig
from analysis.report.release import ReleaseError, ReleaseReview


def persons(cells: dict[str, list[float]], by: str = "g", value: str = "cost") -> pd.DataFrame:
    """One row per person: ``cells`` maps a cell label to its persons' values."""
    return pd.DataFrame([(k, v) for k, vals in cells.items() for v in vals], columns=[by, value]).astype(
        {value: float}
    )


def records(review: ReleaseReview, name: str) -> list[dict]:
    return next(o for o in review.manifest()["outputs"] if o["name"] == name)["suppressed"]


def test_from_config_reads_the_disclosure_section():
    r = ReleaseReview.from_config(DisclosureConfig(min_cell=12, dominance=0.4, min_residual_df=20))
    assert (r.min_count, r.dominance, r.min_residual_df) == (12, 0.4, 20)
    assert r.manifest()["rules"]["floors_overridden"] == []


def test_rules_weaker_than_the_floors_need_an_explicit_override_that_the_release_states():
    from analysis.config import ConfigError, parse_config
    from analysis.report.text import methods_en, methods_ko

    with pytest.raises(ConfigError, match=r"disclosure: min_cell = 5 \(floor 10\) is weaker"):
        parse_config({"disclosure": {"min_cell": 5}})
    with pytest.raises(ConfigError, match="override_floors = true but no rule is below its floor"):
        parse_config({"disclosure": {"override_floors": True}})
    dc = parse_config({"disclosure": {"min_cell": 5, "dominance": 0.7, "override_floors": True}}).disclosure
    rules = ReleaseReview.from_config(dc).manifest()["rules"]
    assert rules == {"min_count": 5, "dominance": 0.7, "min_residual_df": 10,
                     "floors_overridden": ["min_cell", "dominance"]}
    en, ko = methods_en({}, rules), methods_ko({}, rules)
    assert "at least 5 persons, no person above 70% of a total" in en
    assert "override_floors for min_cell, dominance" in en
    assert "최소 5명, 1인 지배 70% 초과 금지" in ko and "override_floors: min_cell, dominance" in ko


def test_min_count_boundary_nine_suppressed_ten_kept():
    r = ReleaseReview()
    out = r.aggregate("costs", persons({"a": [1.0] * 9, "b": [1.0] * 5 + [3.0] * 5}), ["g"], "cost")
    assert r.suppressed("costs").to_dict("list") == {"g": [False, False], "n": [True, False], "cost": [True, False]}
    with pytest.raises(KeyError, match="no reviewed table named 'cost'"):
        r.suppressed("cost")
    assert list(out["g"]) == ["a", "b"]
    assert np.isnan(out["n"][0]) and np.isnan(out["cost"][0])  # the count is suppressed too
    assert out["n"][1] == 10 and out["cost"][1] == 2.0
    assert records(r, "costs") == [{"cell": {"g": "a"}, "rule": "min_count", "detail": "n < 10"}]


def test_nan_values_are_not_counted():
    data = persons({"a": [2.0] * 9 + [np.nan] * 2, "b": [2.0] * 5 + [4.0] * 5 + [np.nan] * 2})
    r = ReleaseReview()
    out = r.aggregate("costs", data, by=["g"], value="cost")
    assert np.isnan(out["n"][0])  # 11 rows but 9 values
    assert out["n"][1] == 10 and out["cost"][1] == 3.0
    counts = r.aggregate("persons", data, by=["g"], stat="count")
    assert list(counts.columns) == ["g", "n"] and list(counts["n"]) == [11, 12]


def test_dominance_exactly_half_kept_and_51_percent_suppressed():
    # x: 9 of 18 = 0.50 exactly; y: 102 of 200 = 0.51 (others 8 x 11 + 10 = 98)
    data = persons({"x": [9.0] + [1.0] * 9, "y": [102.0] + [11.0] * 8 + [10.0]})
    r = ReleaseReview()
    out = r.aggregate("sums", data, by=["g"], value="cost", stat="sum")
    assert out["cost"][0] == 18.0 and out["n"][0] == 10
    assert np.isnan(out["cost"][1]) and np.isnan(out["n"][1])
    (rec,) = records(r, "sums")
    assert rec == {"cell": {"g": "y"}, "rule": "dominance", "detail": "one person contributes more than 50% of the total"}
    assert "102" not in json.dumps(r.manifest())  # never the dominating value itself
    off = r.aggregate("sums_off", data, ["g"], "cost", stat="sum", dominance=False)
    assert list(off["cost"]) == [18.0, 200.0]
    # a value that can be negative (a cost change): dominance is off by default, and cannot be forced
    change = data.assign(cost=data["cost"] - 20.0)
    assert list(r.aggregate("change", change, ["g"], "cost", stat="sum")["cost"]) == [
        18.0 - 200.0,
        200.0 - 200.0,
    ]
    with pytest.raises(ValueError, match="non-negative"):
        r.aggregate("change_forced", change, ["g"], "cost", stat="sum", dominance=True)


def test_share_is_a_fraction_of_a_zero_one_value():
    r = ReleaseReview()
    out = r.aggregate(
        "smokers", persons({"a": [1.0] * 3 + [0.0] * 7}, value="smoker"), ["g"], "smoker", "share"
    )
    assert out["smoker"][0] == 0.3 and out["n"][0] == 10
    with pytest.raises(ValueError, match="0/1"):
        r.aggregate("bad", persons({"a": [2.0] * 10}), ["g"], "cost", "share")


def test_margins_secondary_suppression_blocks_recovery_by_subtraction():
    # region A: F n=3 (primary), M n=12 (next smallest -> secondary), X n=15; region B: F 10, M 11 (clean)
    rows = [("A", "F", 1.0)] * 3 + [("A", "M", 2.0)] * 12 + [("A", "X", 3.0)] * 15
    rows += [("B", "F", 4.0)] * 10 + [("B", "M", 5.0)] * 11
    data = pd.DataFrame(rows, columns=["region", "sex", "bmi"]).sample(frac=1.0, random_state=1)
    r = ReleaseReview()
    out = r.aggregate("bmi", data, ["region", "sex"], "bmi", margins=True, dominance=False)
    assert list(zip(out["region"], out["sex"], strict=True)) == [
        ("A", "F"), ("A", "M"), ("A", "X"), ("A", "Total"), ("B", "F"), ("B", "M"), ("B", "Total"),
    ]  # fmt: skip
    n, bmi = out["n"].to_numpy(), out["bmi"].to_numpy()
    assert np.isnan(n[:2]).all() and np.isnan(bmi[:2]).all()
    assert (n[2], bmi[2]) == (15, 3.0)
    assert (n[3], bmi[3]) == (30, (3 * 1.0 + 12 * 2.0 + 15 * 3.0) / 30)  # the total rests on all 30
    # total minus the published cells leaves two unknown cells: neither can be recovered
    assert n[3] - n[2] == 15 and np.isnan(n[:3]).sum() == 2
    assert list(n[4:]) == [10, 11, 21] and list(bmi[4:]) == [4.0, 5.0, (40.0 + 55.0) / 21]
    assert [(s["cell"], s["rule"]) for s in records(r, "bmi")] == [
        ({"region": "A", "sex": "F"}, "min_count"),
        ({"region": "A", "sex": "M"}, "secondary"),
    ]


def test_single_by_margins_have_one_overall_total():
    data = persons({"F": [1.0] * 9, "M": [1.0] * 11, "X": [1.0] * 10}, by="sex", value="visit")
    r = ReleaseReview()
    out = r.aggregate("visits", data, by=["sex"], stat="count", margins=True)
    assert list(out["sex"]) == ["F", "M", "X", "Total"]
    # F primary; the smallest unsuppressed cell is X (10), not M (11)
    assert np.isnan(out["n"][0]) and out["n"][1] == 11 and np.isnan(out["n"][2]) and out["n"][3] == 30
    assert [s["rule"] for s in records(r, "visits")] == ["min_count", "secondary"]
    # without margins nothing can be subtracted: no secondary suppression
    plain = r.aggregate("visits_plain", data, by=["sex"], stat="count")
    assert list(plain["n"].fillna(-1)) == [-1, 11, 10]


def test_table_blanks_min_max_columns_and_small_counts():
    t = pd.DataFrame(
        {
            "group": ["a", "b"],
            "n": [9, 10],
            "mean": [1.5, 2.5],
            "cost_max": [90.0, 80.0],
            "Minimum": [0.1, 0.2],
            "p100": [7.0, 8.0],
            "p10": [1.0, 2.0],
            "max_lag": [3, 3],
        }
    )
    r = ReleaseReview()
    out = r.table("summary", t, count="n")
    for col in ["cost_max", "Minimum", "p100"]:
        assert out[col].isna().all()
    assert np.isnan(out.loc[0, ["n", "mean", "p10", "max_lag"]].to_numpy(float)).all()
    assert list(out.loc[1, ["n", "mean", "p10", "max_lag"]]) == [10, 2.5, 2.0, 3]
    assert list(out["group"]) == ["a", "b"]
    recs = records(r, "summary")
    assert [(s["rule"], s["cell"]) for s in recs] == [
        ("exact_extreme", {"column": "cost_max"}),
        ("exact_extreme", {"column": "Minimum"}),
        ("exact_extreme", {"column": "p100"}),
        ("min_count", {"group": "a"}),
    ]
    assert t.loc[0, "cost_max"] == 90.0  # the input is not modified
    # the cells blanked, told apart from values that were missing before the review
    mask = r.suppressed("summary")
    assert mask.shape == out.shape and not mask["group"].any()
    assert mask[["cost_max", "Minimum", "p100"]].all().all()
    assert list(mask["mean"]) == [True, False] and list(mask["p10"]) == [True, False]
    gap = r.table("gap", pd.DataFrame({"g": ["a", "b"], "n": [50, 5], "p_adjusted": [np.nan, 0.2]}), count="n")
    assert gap["p_adjusted"].isna().all()
    assert list(r.suppressed("gap")["p_adjusted"]) == [False, True]  # row a: not adjusted, not suppressed


@pytest.mark.parametrize("column", ["PERSON_ID", "study_id", "rrn"])
def test_identifier_is_refused_naming_table_and_column(column):
    r = ReleaseReview()
    t = pd.DataFrame({column: ["p1"], "n": [50]})
    with pytest.raises(ReleaseError, match=f"'cohort_table'.*'{column}'"):
        r.table("cohort_table", t)
    with pytest.raises(ValueError, match=f"'cells'.*'{column}'"):
        r.aggregate("cells", t, by=[column], stat="count")
    assert r.manifest()["outputs"] == []  # a refused table is not recorded


def test_model_residual_df_and_group_counts():
    est = pd.DataFrame(
        {
            "term": ["e0", "e1", "e2"],
            "e": [0, 1, 2],
            "estimate": [1.0, 2.0, 3.0],
            "std_error": [0.1, 0.2, 0.3],
            "p_value": [0.01, 0.02, 0.03],
            "n_treated": [20, 20, 20],
            "n_control": [20, 20, 9],
            "df": [10, 9, 27],
        }
    )
    r = ReleaseReview()
    out = r.model("event_study", est, df_resid="df")
    assert list(out.loc[0, ["estimate", "std_error", "p_value", "n_control"]]) == [1.0, 0.1, 0.01, 20]
    assert out.loc[1, ["estimate", "std_error", "p_value"]].isna().all() and out.loc[1, "n_control"] == 20
    assert out.loc[2, ["estimate", "n_treated", "n_control"]].isna().all()  # counts below 10 hidden too
    assert list(out["term"]) == ["e0", "e1", "e2"] and list(out["e"]) == [0, 1, 2]
    mask = r.suppressed("event_study")
    assert mask.index.equals(out.index) and list(mask.columns) == list(out.columns)
    assert list(mask.sum(axis=1)) == [0, 3, 5]  # e1: the three results; e2: those and both counts
    assert not mask[["term", "e", "df"]].any().any()
    assert records(r, "event_study") == [
        {"cell": {"term": "e1", "e": 1}, "rule": "residual_df", "detail": "residual df < 10"},
        {"cell": {"term": "e2", "e": 2}, "rule": "min_count", "detail": "n_control < 10"},
    ]
    # residual df from the counts: 10 + 10 - 10 = 10 kept, 10 + 10 - 11 = 9 suppressed
    two = est.iloc[:1].assign(n_treated=10, n_control=10)
    assert r.model("att10", two, n_params=10)["estimate"][0] == 1.0
    assert np.isnan(r.model("att9", two, n_params=11)["estimate"][0])


def test_figure_needs_reviewed_sources_and_names_are_unique():
    r = ReleaseReview()
    r.table("t1", pd.DataFrame({"x": [1.0]}))
    with pytest.raises(ReleaseError, match="never reviewed"):
        r.figure("fig1", ["t1", "t2"])
    r.figure("graph", [])  # a figure of no data (the assumed causal graph) needs no source
    r.figure("fig1", ["t1"])
    with pytest.raises(ReleaseError, match="already reviewed"):
        r.table("t1", pd.DataFrame({"x": [1.0]}))
    fig = r.manifest()["outputs"][-1]
    assert fig == {
        "name": "fig1", "kind": "figure", "rows": None, "suppressed": [], "status": "released", "sources": ["t1"],
    }  # fmt: skip


def run_review(data: pd.DataFrame) -> tuple[ReleaseReview, list[pd.DataFrame]]:
    r = ReleaseReview()
    frames = [
        r.aggregate("bmi", data, ["region", "sex"], "bmi", margins=True, dominance=False),
        r.aggregate("cost", data, by=["sex"], value="cost", stat="sum"),
        r.table("extremes", pd.DataFrame({"g": ["a"], "n": [30], "cost_max": [1.0]}), count="n"),
    ]
    r.figure("bmi_plot", ["bmi"])
    return r, frames


def test_manifest_round_trips_and_counts_by_rule(tmp_path):
    rows = [("A", "F", 20.0, 1.0)] * 3 + [("A", "M", 22.0, 2.0)] * 12 + [("A", "X", 24.0, 3.0)] * 15
    data = pd.DataFrame(rows, columns=["region", "sex", "bmi", "cost"])
    data.loc[14, "cost"] = 100.0  # one M person holds 100 of M's 122
    r, _ = run_review(data)
    m = r.manifest()
    assert json.loads(r.write(tmp_path / "release.json").read_text()) == m
    assert [(o["name"], o["kind"], o["status"]) for o in m["outputs"]] == [
        ("bmi", "table", "released with suppression"),
        ("cost", "table", "released with suppression"),
        ("extremes", "table", "released with suppression"),
        ("bmi_plot", "figure", "released"),
    ]
    rules = [s["rule"] for o in m["outputs"] for s in o["suppressed"]]
    assert rules == ["min_count", "secondary", "min_count", "dominance", "exact_extreme"]
    assert m["summary"] == {
        "outputs": 4,
        "suppressed_cells": 5,
        "by_rule": {"min_count": 2, "dominance": 1, "residual_df": 0, "exact_extreme": 1, "secondary": 1},
    }
    assert m["rules"] == {"min_count": 10, "dominance": 0.5, "min_residual_df": 10, "floors_overridden": []}
    assert m["outputs"][1]["suppressed"][1]["detail"] == "one person contributes more than 50% of the total"  # 100 of 122


def test_same_review_twice_and_row_order_give_the_same_outputs():
    rows = [("A", "F", 20.0, 1.0)] * 3 + [("A", "M", 22.0, 2.0)] * 12 + [("B", "X", 24.0, 3.0)] * 15
    data = pd.DataFrame(rows, columns=["region", "sex", "bmi", "cost"])
    r1, f1 = run_review(data)
    r2, f2 = run_review(data.sample(frac=1.0, random_state=7))
    for a, b in zip(f1, f2, strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert r1.manifest() == r2.manifest()


def test_rounded_counts_and_the_parts_of_a_share():
    r = ReleaseReview()
    data = pd.DataFrame({"g": ["a"] * 12 + ["b"] * 17 + ["c"] * 3})
    out = r.aggregate("bins", data, by=["g"], stat="count", round_to=5)
    assert out.n.tolist()[:2] == [10.0, 15.0] and np.isnan(out.n.iloc[2])  # 12 -> 10, 17 -> 15, 3 suppressed
    entry = next(o for o in r.manifest()["outputs"] if o["name"] == "bins")
    assert entry["counts_rounded_to"] == 5 and entry["suppressed"][0]["rule"] == "min_count"
    rates = pd.DataFrame({"level": ["x", "y", "z", "w"], "records": [50, 50, 50, 8], "linked": [50, 45, 36, 8]})
    rates["rate"] = rates.linked / rates.records
    out = r.table("rates", rates, count="records", parts=("linked",))
    # x: all linked (0 unlinked) kept; y: 5 unlinked suppressed; z: 14 unlinked kept; w: 8 records suppressed
    assert out.rate.notna().tolist() == [True, False, True, False]
    details = [s["detail"] for s in records(r, "rates")]
    assert details == ["records - linked < 10", "n < 10"]
