"""The claim-level world (issue 14): time and memory of synth, link and panel beside the person-year world it
replaced, the volumes of the claim tables, and how the claims phenotypes see the world's true disease onsets.

Both trees run in one session, each step in its own process (peak resident memory read with ``os.wait4``,
as in ``run_benchmarks.py``): the current tree, and with ``--baseline REF`` the same steps of a git commit
checked out into a temporary worktree (the person-year world: REF 0a1b329). Results go to
``benchmarks/results_claims_world.json`` and ``.md``, which the README quotes.

Usage: ``python benchmarks/bench_claims_world.py [--scale 0.025] [--baseline 0a1b329] [--repeats 2]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_benchmarks import ROOT, _measure  # noqa: E402

OUT = ROOT / "benchmarks" / "results_claims_world"


def _steps(tree: Path, work: Path, scale: float) -> dict:
    """synth, link and panel of the default world in ``tree`` (each its own process, run from the tree)."""
    py = sys.executable
    world, linked, panel = work / "world", work / "link", work / "panel"
    cmds = {
        "synth": [py, "-m", "analysis", "synth", "--scale", str(scale), "--out", str(world), "--quiet"],
        "link": [py, "-m", "analysis", "link", "--world", str(world), "--out", str(linked), "--quiet"],
        "panel": [py, "-m", "analysis", "panel", "--linked", str(linked / "linked"), "--out", str(panel), "--quiet"],
    }
    out = {}
    for name, cmd in cmds.items():
        r = _measure(cmd, cwd=tree)
        r.pop("stdout", None)
        out[name] = r
    out["world_disk_gb"] = round(sum(p.stat().st_size for p in world.rglob("*") if p.is_file()) / 1024**3, 3)
    return out


def _volumes_and_phenotypes(world: Path) -> dict:
    """Claims per person-year and diagnoses per claim (calibration.md: ~10 and ~2.5 in NHIS-NSC), and, per
    disease, how the phenotype's new diagnoses relate to the true onsets (years from 2019, when the two-year
    washout is first observed)."""
    q = pd.read_parquet(world / "nhis/qualification.parquet", columns=["PERSON_ID"])
    t20 = pd.read_parquet(world / "nhis/t20.parquet", columns=["FORM_CD"])
    n40 = pd.read_parquet(world / "nhis/t40.parquet", columns=["KEY_SEQ"]).shape[0]
    n60 = pd.read_parquet(world / "nhis/t60.parquet", columns=["KEY_SEQ"]).shape[0]
    out = {
        "person_years": len(q), "claims": len(t20), "diagnosis_rows": n40, "prescription_rows": n60,
        "claims_per_person_year": round(len(t20) / len(q), 2), "diagnoses_per_claim": round(n40 / len(t20), 2),
        "claims_by_form": {k: int(v) for k, v in t20.FORM_CD.value_counts().sort_index().items()},
    }
    truth = pd.read_parquet(world / "truth/outcomes.parquet")
    truth = truth.sort_values(["PERSON_ID", "year"])
    for disease in ("hypertension", "diabetes", "dyslipidaemia"):
        onset, new = truth[f"y1_onset_{disease}"] > 0, truth[f"y1_new_{disease}"] > 0
        window = truth.year >= 2019
        found_later = new.groupby(truth.PERSON_ID).transform(lambda s: s[::-1].cummax()[::-1])
        out[disease] = {
            "true_onsets": int((onset & window).sum()),
            "phenotype_new": int((new & window).sum()),
            "onset_found_same_year": round(float(new[onset & window].mean()), 3),
            "onset_found_that_year_or_later": round(float(found_later[onset & window].mean()), 3),
            "new_that_are_onsets_that_year": round(float(onset[new & window].mean()), 3),
        }
    return out


def run(scale: float, baseline: str | None, repeats: int) -> dict:
    results = {"scale": scale, "baseline": baseline, "repeats": repeats, "trees": {}}
    trees = {"claim-level (this tree)": ROOT}
    tmp = Path(tempfile.mkdtemp(prefix="bench-claims-"))
    try:
        if baseline:
            old = tmp / "baseline"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), baseline], check=True,
                           capture_output=True)
            trees[f"person-year ({baseline})"] = old
        for rep in range(repeats):
            for label, tree in trees.items():  # alternated, so that a busy moment hits both
                work = tmp / f"work_{rep}"
                shutil.rmtree(work, ignore_errors=True)
                r = _steps(tree, work, scale)
                results["trees"].setdefault(label, []).append(r)
                print(label, json.dumps(r), flush=True)
                if tree == ROOT and rep == 0:
                    results["world"] = _volumes_and_phenotypes(work / "world")
        return results
    finally:
        if baseline:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp / "baseline")],
                           capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def write(results: dict) -> None:
    OUT.with_suffix(".json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    lines = ["# The claim-level world (issue 14)", "",
             f"`benchmarks/bench_claims_world.py`, scale {results['scale']}, {results['repeats']} runs per tree, "
             "alternated; each step its own process (median wall, max peak resident memory).", "",
             "| tree | synth s | synth GB | link s | link GB | panel s | panel GB | world on disk GB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, runs in results["trees"].items():
        cell = []
        for step in ("synth", "link", "panel"):
            cell += [f"{np.median([r[step]['wall_s'] for r in runs]):.1f}",
                     f"{max(r[step]['peak_rss_gb'] for r in runs):.2f}"]
        lines.append(f"| {label} | " + " | ".join(cell) + f" | {runs[0]['world_disk_gb']:.3f} |")
    w = results.get("world")
    if w:
        lines += ["", f"Claim tables: {w['claims']:,} claim headers ({w['claims_per_person_year']} per person-year; "
                  f"by FORM_CD {w['claims_by_form']}), {w['diagnosis_rows']:,} diagnosis rows "
                  f"({w['diagnoses_per_claim']} per claim), {w['prescription_rows']:,} prescription rows.", "",
                  "How the default phenotypes see the true onsets (2019-2025):", "",
                  "| disease | true onsets | phenotype new | onset found that year | found that year or later | "
                  "new that are that year's onset |", "|---|---:|---:|---:|---:|---:|"]
        for d in ("hypertension", "diabetes", "dyslipidaemia"):
            x = w[d]
            lines.append(f"| {d} | {x['true_onsets']:,} | {x['phenotype_new']:,} | {x['onset_found_same_year']:.3f} | "
                         f"{x['onset_found_that_year_or_later']:.3f} | {x['new_that_are_onsets_that_year']:.3f} |")
    OUT.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.025)
    ap.add_argument("--baseline", default=None, help="a git commit of the person-year world to run beside")
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    write(run(a.scale, a.baseline, a.repeats))
