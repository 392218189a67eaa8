"""Coverage of the DiD designs' 95% intervals over repeated synthetic worlds, against the exact sample truth.

For each seed and scenario a world is generated at ``--scale`` (default 0.01 x Seoul), linked with a fixed
test secret and turned into the analysis panel; then on ``medical_cost``:

- ``cs_dr``: ``att_gt`` as the plan runs it (doubly robust, the plan's covariates, not-yet-treated, varying
  base period), aggregated ``simple``;
- ``cs_dr_trend``: ``att_gt`` against the never-treated from one base period, each cohort's linear pre-trend
  removed (``trend_adjusted``), aggregated ``simple``;
- ``stacked_matched``: ``stacked_did`` on risk-set matched sub-experiments (1:2), overall ATT;
- ``published``: the city's 2x2 (``did_2x2``) on its 1:10 matched 2022 joiners;
- ``cs_dr_calibrated``: ``cs_dr`` calibrated with the empirical null of its proportional errors on the plan's
  negative-control costs (``analysis.did.calibration``), in KRW.

Each estimate is compared with the sample truth of the same people and years (``y1 - y0`` from the world's
truth tables). Per design and scenario the results file gives the mean estimate and truth, bias, RMSE, mean
SE, the share of 95% intervals covering the truth and, for the att_gt designs, the share of post-period
ATT(g,t) intervals covering their truth. ``no-selection`` checks validity where parallel trends hold given
the covariates; ``null`` shows what the default world's selection does to each design (no effect at all);
``default`` is the calibrated world (selection and a modest effect).

Usage: ``python benchmarks/bench_did_coverage.py [--seeds 20] [--scale 0.01] [--scenarios no-selection null]``.
Results: benchmarks/results_did_coverage.json and .md (written after every world, so a partial run counts).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.config import LinkageConfig, PanelConfig, StudyConfig, load_config  # noqa: E402
from analysis.did import aggte, att_gt, did_2x2, stacked_did, trend_adjusted  # noqa: E402
from analysis.did.calibration import calibrate_with_controls, relative_att  # noqa: E402
from analysis.did.outcomes import cs_truth, effect_at, published_truth, read_truth, truth_table  # noqa: E402
from analysis.linkage import link_world  # noqa: E402
from analysis.linkage.keys import Secret  # noqa: E402
from analysis.matching.riskset import published_design, riskset_match  # noqa: E402
from analysis.panel import build_panel_from_dir  # noqa: E402
from analysis.synth import generate_world  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results_did_coverage.json"
Y = "medical_cost"
Z = 1.959963984540054


def _world(scenario: str, seed: int, scale: float, tmp: Path):
    generate_world(tmp / "world", scale=scale, seed=seed, scenario=scenario, progress=False)
    link_world(tmp / "world", tmp / "linked", LinkageConfig(), Secret(b"coverage-bench", "bench"), seed=seed,
               progress=False)
    panel, _ = build_panel_from_dir(tmp / "linked" / "linked", tmp / "panel", PanelConfig(), progress=False)
    return panel, truth_table(read_truth(tmp / "linked" / "truth"), Y)


def _calibrated(plan, panel, te, cfg, kw) -> dict:
    xf = cfg.did.xformla
    controls = {nc: relative_att(att_gt(panel, nc, "year", "study_id", "first_treat", xf,
                                        control_group=cfg.did.control_group, base_period=cfg.did.base_period,
                                        **kw), panel, nc) for nc in cfg.outcomes.negative_controls}
    null, c, _ = calibrate_with_controls(controls, relative_att(plan, panel, Y))
    return {"estimate": c["estimate"], "se": c["std_error"],
            "truth": cs_truth(plan, panel, Y, te)[("simple", "overall")], "null_mean": null.mean,
            "null_sd": null.sd}


def _cs_row(res, panel, te) -> dict:
    s = aggte(res, "simple", na_rm=True)
    tr = cs_truth(res, panel, Y, te)
    t = res.tidy()
    post = t[t.post & t.std_error.notna()]
    true_gt = np.array([tr[("gt", (g, tt))] for g, tt in zip(post.group, post.time, strict=True)])
    covered = (post.conf_low <= true_gt) & (true_gt <= post.conf_high)
    return {"estimate": s.overall_att, "se": s.overall_se, "truth": tr[("simple", "overall")],
            "gt_covered": float(covered.mean()), "pretest_p": res.pretest_p}


def estimate(panel: pd.DataFrame, te: pd.Series, cfg: StudyConfig) -> dict:
    xf = cfg.did.xformla
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = dict(est_method=cfg.did.est_method, bstrap=False, cband=False, table="panel")
        plan = att_gt(panel, Y, "year", "study_id", "first_treat", xf, control_group=cfg.did.control_group,
                      base_period=cfg.did.base_period, **kw)
        out["cs_dr"] = _cs_row(plan, panel, te)
        out["cs_dr_calibrated"] = _calibrated(plan, panel, te, cfg, kw)
        fixed = att_gt(panel, Y, "year", "study_id", "first_treat", xf, control_group="nevertreated",
                       base_period="universal", **kw)
        out["cs_dr_trend"] = _cs_row(trend_adjusted(fixed), panel, te)
        st = riskset_match(panel, ratio=2).data
        r = stacked_did(st, Y)
        rows = st[(st.treated == 1) & (st.event_time >= 0) & st[Y].notna()]
        out["stacked_matched"] = {"estimate": float(r.params["ATT"]), "se": float(r.std_errors["ATT"]),
                                  "truth": float(np.mean(effect_at(te, rows.study_id, rows.year)))}
        pub = published_design(panel).data
        r = did_2x2(pub, Y)
        out["published"] = {"estimate": float(r.params["ATT"]), "se": float(r.std_errors["ATT"]),
                            "truth": published_truth(pub, Y, te)}
    return out


def summarise(runs: list[dict]) -> dict:
    out: dict = {}
    df = pd.DataFrame([{"scenario": r["scenario"], "seed": r["seed"], "design": d, **v}
                       for r in runs for d, v in r["designs"].items()])
    for (scen, design), g in df.groupby(["scenario", "design"], sort=True):
        err = g.estimate - g.truth
        row = {"worlds": len(g), "mean_estimate": g.estimate.mean(), "mean_truth": g.truth.mean(),
               "bias": err.mean(), "rmse": float(np.sqrt((err**2).mean())), "mean_se": g.se.mean(),
               "sd_estimate_minus_truth": float(err.std(ddof=1)) if len(g) > 1 else None,
               "coverage_95": float((err.abs() <= Z * g.se).mean())}
        if "gt_covered" in g and g.gt_covered.notna().any():
            row["gt_coverage_95"] = float(g.gt_covered.mean())
            row["pretest_reject_5pct"] = float((g.pretest_p < 0.05).mean())
        out.setdefault(scen, {})[design] = row
    return out


def write(runs: list[dict], args, seconds: float) -> None:
    summary = summarise(runs)
    args.results.write_text(json.dumps({"scale": args.scale, "seeds": args.seeds, "outcome": Y, "seconds": seconds,
                                   "summary": summary, "runs": runs}, indent=2, default=float) + "\n")
    lines = ["# DiD coverage over repeated synthetic worlds", "",
             f"`benchmarks/bench_did_coverage.py`: {args.scale} x Seoul, outcome `{Y}`, seeds 1..{args.seeds} "
             f"per scenario; estimate vs the exact sample truth of the same people and years; "
             f"{seconds / 60:.1f} min.", "",
             "| scenario | design | worlds | mean estimate | mean truth | bias | RMSE | mean SE | SD(est - truth) "
             "| 95% CI coverage | ATT(g,t) coverage | pre-test rejects (5%) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for scen, designs in summary.items():
        for d, r in designs.items():
            sd = "" if r["sd_estimate_minus_truth"] is None else f"{r['sd_estimate_minus_truth']:,.0f}"
            gt = f"{r['gt_coverage_95']:.2f}" if "gt_coverage_95" in r else ""
            pt = f"{r['pretest_reject_5pct']:.2f}" if "pretest_reject_5pct" in r else ""
            lines.append(f"| {scen} | {d} | {r['worlds']} | {r['mean_estimate']:,.0f} | {r['mean_truth']:,.0f} | "
                         f"{r['bias']:,.0f} | {r['rmse']:,.0f} | {r['mean_se']:,.0f} | {sd} | "
                         f"{r['coverage_95']:.2f} | {gt} | {pt} |")
    args.results.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--scale", type=float, default=0.01)
    ap.add_argument("--scenarios", nargs="+", default=["no-selection", "null", "default"])
    ap.add_argument("--results", type=Path, default=RESULTS, help="results file (.json; a .md beside it)")
    args = ap.parse_args()
    cfg = load_config(ROOT / "study.toml")
    runs: list[dict] = []
    start = time.perf_counter()
    for scen in args.scenarios:
        for seed in range(1, args.seeds + 1):
            tmp = Path(tempfile.mkdtemp(prefix="did_cov_"))
            try:
                t0 = time.perf_counter()
                panel, te = _world(scen, seed, args.scale, tmp)
                runs.append({"scenario": scen, "seed": seed, "designs": estimate(panel, te, cfg),
                             "seconds": time.perf_counter() - t0})
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            print(scen, seed, json.dumps(runs[-1]["designs"], default=float), flush=True)
            write(runs, args, time.perf_counter() - start)


if __name__ == "__main__":
    main()
