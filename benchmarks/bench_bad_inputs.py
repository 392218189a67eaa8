"""Bad inputs as a new user makes them: corrupted linked extracts fed to ``python -m analysis panel`` and bad
study plans fed to ``python -m analysis synth --config``, each case classified by what the user sees.

Outcomes:
- ``clear error``: exit 2 and one line on stderr that names what the case broke (its table and column, or its
  plan key), no traceback;
- ``counted exclusion``: exit 0 and the case's persons or rows counted in ``panel_report.json``;
- ``misleading error``: exit 2 but the line does not name what was broken;
- ``unexpected error``: exit 1 (the package did not expect the input), or any traceback;
- ``silently accepted``: exit 0 with nothing reported.

The extract is a small synthetic world (scale 0.001, seed 3) linked with the public default secret, built
in a temporary folder. Results: ``benchmarks/results_bad_inputs.json`` and ``.md`` (quoted in the README).
Usage: ``python benchmarks/bench_bad_inputs.py``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results_bad_inputs.json"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=ROOT, capture_output=True, text=True)


def _set(table: str, col: str, rows: list[int], value):
    def edit(t: dict[str, pd.DataFrame]) -> None:
        df = t[table]
        if isinstance(value, float) and df[col].dtype.kind in "iu":
            df[col] = df[col].astype(float)
        if isinstance(value, str):
            df[col] = df[col].astype(object)
        df.loc[rows, col] = value
    return edit


def _first_person(t):
    return t["qualification"].STUDY_ID.iloc[0]


def _death_in_2019(t):
    q = t["qualification"]
    q.loc[q.STUDY_ID == _first_person(t), "DTH_YM"] = 201906.0


def _birth_differs(t):
    q = t["qualification"]
    q.loc[q.STUDY_ID == _first_person(t), "BIRTH_YEAR"] -= 1


def _born_2024(t):
    pid = t["persons"].STUDY_ID.iloc[0]
    t["persons"].loc[0, "BIRTH_YEAR"] = 2024
    t["qualification"].loc[t["qualification"].STUDY_ID == pid, "BIRTH_YEAR"] = 2024


def _withdraw_before(t):
    t["participation"].loc[0, ["enrol_month", "withdrawal_month"]] = ["2024-05", "2023-01"]


def _activity_of(t, who):
    a, part = t["activity"], t["participation"]
    if who == "non-participant":
        row = a.iloc[:1].copy()
        row["STUDY_ID"] = t["persons"].STUDY_ID[~t["persons"].STUDY_ID.isin(part.STUDY_ID)].iloc[0]
    else:
        p = part[part.STUDY_ID.isin(a.STUDY_ID)].iloc[0]
        row = a[a.STUDY_ID == p.STUDY_ID].iloc[:1].copy()
        row["month"] = "2021-11"
        part.loc[part.STUDY_ID == p.STUDY_ID, "enrol_month"] = "2022-01"
    t["activity"] = pd.concat([a, row], ignore_index=True)


def _without_qualification(t):
    ids = t["persons"].STUDY_ID.iloc[:50]
    t["qualification"] = t["qualification"][~t["qualification"].STUDY_ID.isin(ids)]


def _raw(fn):
    def edit(folder: Path) -> None:
        fn(folder)
    return edit


def _overwrite_block(folder: Path) -> None:
    p = folder / "claims.parquet"
    b = bytearray(p.read_bytes())
    mid = len(b) // 3
    b[mid:mid + 64] = bytes(range(64))
    p.write_bytes(bytes(b))


# (case, edit of the tables or ("raw", edit of the folder), what a clear message names, or
# ("exclusion", the panel_report counter that must count it))
EXTRACT_CASES = [
    ("insurer share above the total", _set("claims", "EDEC_JBRDN_AMT", [0], 10**7), "EDEC_JBRDN_AMT"),
    ("patient shares x10", _set("claims", "EDEC_SBRDN_AMT", [0, 1, 2], 10**6), "EDEC_SBRDN_AMT"),
    ("EDEC_TRAMT = 9.2e18", _set("claims", "EDEC_TRAMT", [0], 9_200_000_000_000_000_000), "EDEC_TRAMT"),
    ("EDEC_JBRDN_AMT = 1e300", _set("claims", "EDEC_JBRDN_AMT", [0], 1e300), "EDEC_JBRDN_AMT"),
    ("EDEC_TRAMT = 1e300", _set("claims", "EDEC_TRAMT", [0], 1e300), "EDEC_TRAMT"),
    ("EDEC_TRAMT = inf", _set("claims", "EDEC_TRAMT", [0], float("inf")), "EDEC_TRAMT"),
    ("EDEC_TRAMT = NaN", _set("claims", "EDEC_TRAMT", [0], float("nan")), "EDEC_TRAMT"),
    ("RECU_FR_DT 20190230", _set("claims", "RECU_FR_DT", [0], 20190230), "RECU_FR_DT"),
    ("FORM_CD 99", _set("claims", "FORM_CD", [0], "99"), "FORM_CD"),
    ("MAIN_SICK with a dot", _set("claims", "MAIN_SICK", [0], "I10.9"), "MAIN_SICK"),
    ("DTH_YM 202013", _set("qualification", "DTH_YM", [0], 202013.0), "DTH_YM"),
    ("DTH_YM 202000", _set("qualification", "DTH_YM", [0], 202000.0), "DTH_YM"),
    ("claims after death", _death_in_2019, "RECU_FR_DT"),
    ("BIRTH_YEAR 2024", _born_2024, "BIRTH_YEAR"),
    ("BIRTH_YEAR differs between tables", _birth_differs, "AGE_GROUP"),
    ("AGE_GROUP contradicts BIRTH_YEAR", _set("qualification", "AGE_GROUP", [0], 1), "AGE_GROUP"),
    ("SEX 3", _set("persons", "SEX", [0], 3), "SEX"),
    ("enrolment in 2019-03", _set("participation", "enrol_month", [0], "2019-03"), "enrol_month"),
    ("enrol_month 2022-13", _set("participation", "enrol_month", [0], "2022-13"), "enrol_month"),
    ("withdrawal before enrolment", _withdraw_before, "withdrawal_month"),
    ("activity of a non-participant", lambda t: _activity_of(t, "non-participant"), "activity"),
    ("activity before enrolment", lambda t: _activity_of(t, "before"), "activity"),
    ("STUDY_ID unknown to persons", _set("claims", "STUDY_ID", [0], 10**9), "STUDY_ID"),
    ("duplicate person-year", lambda t: t.update(qualification=pd.concat(
        [t["qualification"], t["qualification"].iloc[[5]]], ignore_index=True)), "duplicate"),
    ("50 persons without qualification rows", _without_qualification,
     ("exclusion", "persons_without_qualification")),
    ("empty qualification table", lambda t: t.update(qualification=t["qualification"].iloc[:0]), "qualification"),
    ("column missing", lambda t: t.update(checkups=t["checkups"].drop(columns=["G1E_WSTC"])), "G1E_WSTC"),
    ("0-byte claims.parquet", ("raw", lambda d: (d / "claims.parquet").write_bytes(b"")), "claims"),
    ("truncated claims.parquet", ("raw", lambda d: (d / "claims.parquet").write_bytes(
        (d / "claims.parquet").read_bytes()[: (d / "claims.parquet").stat().st_size // 2])), "claims"),
    ("CSV content in persons.parquet", ("raw", lambda d: (d / "persons.parquet").write_text(
        "STUDY_ID,BIRTH_YEAR,SEX\n1,1950,1\n")), "persons"),
    ("64-byte block of claims overwritten", ("raw", _overwrite_block), "claims"),
    ("persons table missing", ("raw", lambda d: (d / "persons.parquet").unlink()), "persons"),
]

# (case, plan text, the key a clear message names)
PLAN_CASES = [
    ("unknown section", "[matchng]\nratio = 1\n", "matchng"),
    ("unknown key", "[world]\nscael = 0.1\n", "scael"),
    ("world.scale negative", "[world]\nscale = -1\n", "world.scale"),
    ("world knob out of range", "[world]\nselect_health_conscious = -9\n", "select_health_conscious"),
    ("unknown outcome", '[outcomes]\nsecondary = ["steps_walked"]\n', "outcomes.secondary"),
    ("primary also secondary", '[outcomes]\nsecondary = ["medical_cost"]\n', "outcomes.secondary"),
    ("covariates: unknown column", '[covariates]\nriskset = ["female", "shoe_size"]\n', "covariates.riskset"),
    ("covariates: empty", "[covariates]\npublished_design = []\n", "covariates.published_design"),
    ("covariates: removed key", '[covariates]\nbaseline = ["female"]\n', "baseline"),
    ("did.covariates identifier", '[did]\ncovariates = ["study_id"]\n', "did.covariates"),
    ("did.covariates outcome", '[did]\ncovariates = ["waist"]\n', "did.covariates"),
    ("did.covariates repeated", '[did]\ncovariates = ["female", "female"]\n', "did.covariates"),
    ("did.anticipation 50", "[did]\nanticipation = 50\n", "did.anticipation"),
    ("did.alp 0.9", "[did]\nalp = 0.9\n", "did.alp"),
    ("did.biters 1", "[did]\nbiters = 1\n", "did.biters"),
    ("did.control_group bad", '[did]\ncontrol_group = "never"\n', "did.control_group"),
    ("matching.ratio 0", "[matching]\nratio = 0\n", "matching.ratio"),
    ("matching.ratio text", '[matching]\nratio = "ten"\n', "matching.ratio"),
    ("matching.caliper negative", "[matching]\ncaliper = -0.2\n", "matching.caliper"),
    ("disclosure.min_cell 1", "[disclosure]\nmin_cell = 1\n", "min_cell"),
    ("disclosure.min_residual_df -5", "[disclosure]\nmin_residual_df = -5\n", "min_residual_df"),
    ("disclosure.dominance 0.9", "[disclosure]\ndominance = 0.9\n", "dominance"),
    ("override without a weaker rule", "[disclosure]\noverride_floors = true\n", "override_floors"),
    ("refutation.simulations 0", "[refutation]\nsimulations = 0\n", "refutation.simulations"),
    ("panel.baseline_reference_year 2030", "[panel]\nbaseline_reference_year = 2030\n",
     "panel.baseline_reference_year"),
    ("report.participants 0", "[report]\nparticipants = 0\n", "report.participants"),
    ("empty plan", "", "sets no key"),
    ("not TOML", "[world\nscale = 1\n", "not valid TOML"),
]


def _classify(r: subprocess.CompletedProcess, expect) -> str:
    if "Traceback" in r.stderr or r.returncode == 1:
        return "unexpected error"
    if r.returncode == 2:
        lines = r.stderr.strip().splitlines()
        return "clear error" if len(lines) == 1 and expect in lines[0] else "misleading error"
    return "silently accepted"


def run_extract_cases(base: Path, work: Path) -> list[dict]:
    tables = {p.stem: pd.read_parquet(p) for p in sorted(base.glob("*.parquet"))}
    rows = []
    for name, edit, expect in EXTRACT_CASES:
        folder = work / "case"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        raw = isinstance(edit, tuple)
        t = {k: v.copy() for k, v in tables.items()}
        if not raw:
            edit(t)
        for k, v in t.items():
            v.to_parquet(folder / f"{k}.parquet", index=False)
        if raw:
            edit[1](folder)
        r = _cli("panel", "--linked", str(folder), "--out", str(work / "panel"), "--quiet")
        if isinstance(expect, tuple):
            report = work / "panel" / "panel_report.json"
            counted = r.returncode == 0 and json.loads(report.read_text())["exclusions"].get(expect[1], 0) > 0
            outcome = "counted exclusion" if counted else _classify(r, expect[1])
        else:
            outcome = _classify(r, expect)
        rows.append({"input": "linked extract", "case": name, "outcome": outcome,
                     "message": (r.stderr.strip().splitlines() or [""])[-1][:300]})
        print(f"  {name}: {outcome}", flush=True)
    return rows


def run_plan_cases(work: Path) -> list[dict]:
    rows = []
    for name, text, expect in PLAN_CASES:
        plan = work / "plan.toml"
        plan.write_text(text)
        r = _cli("synth", "--config", str(plan), "--scale", "0.001", "--out", str(work / "world"), "--quiet")
        outcome = _classify(r, expect)
        rows.append({"input": "study plan", "case": name, "outcome": outcome,
                     "message": (r.stderr.strip().splitlines() or [""])[-1][:300]})
        print(f"  {name}: {outcome}", flush=True)
    return rows


def write_results(rows: list[dict]) -> None:
    tally: dict[str, dict[str, int]] = {}
    for r in rows:
        tally.setdefault(r["input"], {}).setdefault(r["outcome"], 0)
        tally[r["input"]][r["outcome"]] += 1
    RESULTS.write_text(json.dumps({"tally": tally, "cases": rows}, indent=1, ensure_ascii=False) + "\n")
    lines = ["# Bad inputs (`benchmarks/bench_bad_inputs.py`)", ""]
    for inp, t in tally.items():
        lines.append(f"- {inp}: {sum(t.values())} cases, " + ", ".join(f"{k} {v}" for k, v in sorted(t.items())))
    lines += ["", "| input | case | outcome | what the user sees |", "|---|---|---|---|"]
    for r in rows:
        msg = r["message"].replace("|", "\\|")
        lines.append(f"| {r['input']} | {r['case']} | {r['outcome']} | {msg} |")
    RESULTS.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bad-inputs-") as tmp:
        work = Path(tmp)
        for step in (("synth", "--scale", "0.001", "--seed", "3", "--out", str(work / "w"), "--quiet"),
                     ("link", "--world", str(work / "w"), "--out", str(work / "l"), "--quiet")):
            r = _cli(*step)
            if r.returncode:
                raise SystemExit(f"could not build the extract: {r.stderr}")
        print("linked extract cases:", flush=True)
        rows = run_extract_cases(work / "l" / "linked", work)
        print("study plan cases:", flush=True)
        rows += run_plan_cases(work)
    write_results(rows)
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    main()
