"""The refutation suite at the default scale (0.025 x Seoul) against its 3-minute target on 2 cores.

Runs ``analysis.causal.refutation.refutation_checks`` (pre-trend tests, placebo in time, negative control,
Rambachan-Roth bounds, E-value, DoWhy's refuters with the plan's ``[refutation] simulations``) in its own
process on the default world's panel (benchmarks/work/panel_0.025, made by run_benchmarks.py; the truth
from benchmarks/work/linked_0.025), including the city's matching, which the suite needs. Wall time and
peak memory via os.wait4. Results: benchmarks/results_refutation.json and .md.
"""

from __future__ import annotations

import json
import platform
import sys

from run_benchmarks import ROOT, _measure

WORK = ROOT / "benchmarks" / "work"
RESULTS = ROOT / "benchmarks" / "results_refutation.json"
TARGET_S = 180

CODE = """
import json, sys, time, warnings
sys.path.insert(0, {root!r})
import pandas as pd
from analysis.config import load_config
from analysis.causal.refutation import refutation_checks
from analysis.did.outcomes import read_truth
from analysis.matching.riskset import published_design
cfg = load_config()
panel = pd.read_parquet({panel!r})
t0 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    checks = refutation_checks(panel, cfg, published_design(panel, ratio=cfg.matching.ratio,
                                                             covariates=cfg.covariates.published_design).data,
                               read_truth({truth!r}))
print(json.dumps({{"suite_s": round(time.perf_counter() - t0, 1), "checks": len(checks),
                  "passed": sum(c["passed"] for c in checks), "simulations": cfg.refutation.simulations,
                  "names": [c["design"] + "/" + c["name"] for c in checks]}}))
"""


def main() -> None:
    panel, truth = WORK / "panel_0.025" / "panel.parquet", WORK / "linked_0.025" / "truth"
    if not panel.exists():
        sys.exit(f"{panel} missing: run benchmarks/run_benchmarks.py first")
    r = _measure([sys.executable, "-c", CODE.format(root=str(ROOT), panel=str(panel), truth=str(truth))], 1800)
    inner = json.loads(r.pop("stdout").splitlines()[-1]) if "wall_s" in r else {}
    out = {"scale": 0.025, "target_s": TARGET_S, **r, **inner,
           "meets_target": r.get("wall_s", 1e9) <= TARGET_S,
           "machine": f"{platform.python_version()}, {platform.platform()}"}
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    md = ["# Refutation suite at the default scale", "",
          "`benchmarks/bench_refutation.py`: `refutation_checks` on the default world's panel (0.025 x Seoul, "
          "205,000 persons) in its own process, the city's matching included.", "",
          "| wall | peak memory | suite (in process) | checks | passed | DoWhy simulations per refuter | target |",
          "|---:|---:|---:|---:|---:|---:|---|",
          f"| {out.get('wall_s')} s | {out.get('peak_rss_gb')} GB | {out.get('suite_s')} s | {out.get('checks')} | "
          f"{out.get('passed')} | {out.get('simulations')} | 180 s: {'met' if out['meets_target'] else 'NOT met'} |"]
    RESULTS.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
