"""`make report`'s job at the default scale (0.025 x Seoul) against issue 6's budget: the pipeline plus the
notebooks within 5 minutes on 2 cores; the rendering (figures, release review, reports) timed beside them.

Each stage runs as the Makefile runs it (`python -m analysis run|notebooks|report`) in its own process into
benchmarks/work/report_run; wall time and peak memory via os.wait4, per stage from the run's own record
(run.json). Results: benchmarks/results_report.json and .md.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys

from run_benchmarks import ROOT, _measure

WORK = ROOT / "benchmarks" / "work" / "report_run"
RESULTS = ROOT / "benchmarks" / "results_report.json"
TARGET_S = 300


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    run, nbs, figs, reps = WORK / "run", WORK / "notebooks", WORK / "figures", WORK / "reports"
    py = [sys.executable, "-m", "analysis"]
    stages = {
        "pipeline": _measure([*py, "run", "--out", str(run), "--quiet"], 1800),
        "notebooks": _measure([*py, "notebooks", "--run", str(run), "--out", str(nbs), "--figures", str(figs)], 1800),
        "report": _measure([*py, "report", "--run", str(run), "--figures", str(figs), "--reports", str(reps)], 1800),
    }
    per_stage = json.loads((run / "run.json").read_text())["seconds"]
    for s in stages.values():
        s.pop("stdout", None)
    budget = stages["pipeline"]["wall_s"] + stages["notebooks"]["wall_s"]
    out = {"scale": 0.025, "target_s": TARGET_S, "stages": stages, "pipeline_stages_s": per_stage,
           "pipeline_plus_notebooks_s": round(budget, 1), "meets_target": budget <= TARGET_S,
           "machine": f"{platform.python_version()}, {platform.platform()}"}
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    md = ["# `make report` at the default scale", "",
          "`benchmarks/bench_report.py`: the three commands of `make report` on the default world (0.025 x Seoul, "
          "205,000 persons), each in its own process, 2 cores.", "",
          "| stage | wall | peak memory |", "|---|---:|---:|"]
    md += [f"| {k} | {v['wall_s']} s | {v['peak_rss_gb']} GB |" for k, v in stages.items()]
    md += ["", f"Pipeline + notebooks: **{out['pipeline_plus_notebooks_s']} s** against the {TARGET_S} s budget: "
           f"{'met' if out['meets_target'] else 'NOT met'}.", "",
           "Pipeline by stage (s): " + ", ".join(f"{k} {v}" for k, v in per_stage.items()) + "."]
    RESULTS.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
