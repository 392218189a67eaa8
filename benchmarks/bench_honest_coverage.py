"""Coverage study of the headline rule over worlds that vary the selection mechanisms (issue 13).

Each world is a point of the grid below, drawn as the plan's pipeline runs it (world -> linkage -> panel ->
matching -> every outcome by every design -> the headline rule), and every estimate is scored against the
exact sample truth of the same people and years. The grid:

- ``select_health_conscious`` (selection on latent health consciousness H): 0, 0.5, 1, 1.5
- ``cost_trend_health_conscious`` (H slows cost growth, per SD per year): 0, -0.016, -0.03
- ``trend_form`` (the form of H's influence over time): linear, accelerating, shift
- ``select_abnormal_checkup`` (joining after an abnormal screening): 0, 0.7, 1.4
- ``effect_scale``: 0 (null) and 1 (the default effect)

The full factorial is 216 cells; with ``--cells K`` a balanced fraction of K cells is taken (every level of
every knob equally often, the cells fixed by ``--design-seed`` before any world is drawn), each with
``--seeds`` worlds. Every world draws its own people (world seed ``1000 * seed + cell``): studies run before
2026-12-06 drew every cell of a pass from the same seed, so the cells of a pass shared their sampling noise
and a pass of 24 cells counted, for anything driven by that noise, as one draw. Each record keeps the
empirical calibrations' inputs (controls' estimates, standard errors and correlation; the target's) so that
calibration variants can be scored on the same worlds. Results are appended to ``--results`` (JSON lines, one world each) after every world, so an
interrupted study resumes where it stopped; the summary (``.md`` beside it) is rewritten each time.

Targets (issue 13): headline intervals cover the truth for >= 90% of (world, outcome) pairs at 0.01 and
>= 85% at 0.05; on null worlds no outcome's headline excludes 0 in more than 10% of worlds; on no-selection
worlds (both selection knobs 0) the headline is at most 1.5x as wide as the plan's Callaway-Sant'Anna
interval; on the default world at 0.05 the cost headline's bias is at most a third of the true effect.

Usage: ``python benchmarks/bench_honest_coverage.py --scale 0.01 --cells 24 --seeds 8``. A rule changed after
looking at some worlds is scored on others: another ``--design-seed`` (other cells) and ``--first-seed``.
``--no-selection`` draws the cells from the 18 without selection (the width target) instead, ``--default-world``
runs only the default world's cell (the cost-bias target).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
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

from analysis.config import load_config  # noqa: E402
from analysis.did.calibration import calibrate, fit_null  # noqa: E402
from analysis.did.headline import outcome_headlines  # noqa: E402
from analysis.did.outcomes import HEADLINE, estimate_all, read_truth  # noqa: E402
from analysis.linkage import link_world  # noqa: E402
from analysis.linkage.keys import Secret  # noqa: E402
from analysis.matching.riskset import plan_designs  # noqa: E402
from analysis.panel import build_panel_from_dir  # noqa: E402
from analysis.synth import generate_world  # noqa: E402
from analysis.synth.params import world_params  # noqa: E402

GRID = {
    "select_health_conscious": (0.0, 0.5, 1.0, 1.5),
    "cost_trend_health_conscious": (0.0, -0.016, -0.03),
    "trend_form": ("linear", "accelerating", "shift"),
    "select_abnormal_checkup": (0.0, 0.7, 1.4),
    "effect_scale": (0.0, 1.0),
}
RESULTS = ROOT / "benchmarks" / "results_honest_coverage.jsonl"


def cells(k: int | None, design_seed: int) -> list[dict]:
    """``k`` cells of the grid (all 216 when None), balanced: the factorial is shuffled once by
    ``design_seed`` and each knob's levels are then taken in turn, so every level appears equally often."""
    full = [dict(zip(GRID, v, strict=True)) for v in itertools.product(*GRID.values())]
    if k is None or k >= len(full):
        return full
    rng = np.random.default_rng(design_seed)
    order = rng.permutation(len(full))
    chosen: list[dict] = []
    counts = {n: dict.fromkeys(levels, 0) for n, levels in GRID.items()}
    for _ in range(k):  # greedy: the cell whose levels are least used so far, first in the shuffled order
        best = min((i for i in order if full[i] not in chosen),
                   key=lambda i: sum(counts[n][full[i][n]] for n in GRID))
        chosen.append(full[best])
        for n in GRID:
            counts[n][full[best][n]] += 1
    return chosen


def build_world(knobs: dict, seed: int, scale: float, tmp: Path, cfg) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The default scenario with ``knobs`` set, generated, linked and built into the plan's panel in ``tmp``:
    the panel and the linked truth outcomes."""
    params = world_params("default", knobs)
    generate_world(tmp / "world", scale=scale, seed=seed, scenario="default", params=params, progress=False)
    link_world(tmp / "world", tmp / "linked", cfg.linkage, Secret(b"honest-coverage", "bench"), seed=seed,
               progress=False)
    panel, _ = build_panel_from_dir(tmp / "linked" / "linked", tmp / "panel", cfg.panel, progress=False,
                                    engine=cfg.engine)
    return panel, read_truth(tmp / "linked" / "truth")


def run_world(knobs: dict, seed: int, scale: float, tmp: Path, cfg) -> tuple[list[dict], dict, dict]:
    """One world through the plan's designs and the headline rule: a record per (outcome, design) and the
    headline of each outcome; the empirical calibrations' entries of the exclusions, and the bracket's
    agreement tests, by outcome."""
    panel, truth = build_world(knobs, seed, scale, tmp, cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        published, stacked = plan_designs(panel, cfg)
        est, excl = estimate_all(panel, cfg, stacked=stacked.data, published=published.data, truth=truth)
    heads = outcome_headlines(est, excl, cfg)
    # each design's headline aggregation; the Rambachan-Roth range is over event times
    ranged = est.design == "rambachan_roth"
    main = est[est.term.isin(["ATT", "overall"]) & (est.aggregation.isin(HEADLINE) | ranged)]
    rows = [{"outcome": r.outcome, "design": r.design, "estimate": r.estimate, "conf_low": r.conf_low,
             "conf_high": r.conf_high, "truth": r.truth} for r in main.itertuples()]
    for h in heads:
        d = h["design"] or "rambachan_roth"
        match = main[(main.outcome == h["outcome"]) & (main.design == d)]
        if match.empty:  # a range of the plan's and the trend-adjusted intervals: the plan's estimand
            match = main[(main.outcome == h["outcome"]) & (main.design == "callaway_santanna")]
        truth = float(match.truth.iloc[0]) if len(match) else np.nan
        rows.append({"outcome": h["outcome"], "design": "headline", "chosen": h["design"], "estimate": h["estimate"],
                     "conf_low": h["conf_low"], "conf_high": h["conf_high"], "truth": truth})
    calibration = {y: {k: v for k, v in e.items() if k.startswith("empirical_calibration")} for y, e in excl.items()}
    agreement = {y: e["bracket_agreement"] for y, e in excl.items() if e.get("bracket_agreement")}
    return rows, {y: e for y, e in calibration.items() if e}, agreement


def summarise(records: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame([{**{k: v for k, v in r.items() if k not in ("rows", "calibration", "agreement")}, **row}
                       for r in records for row in r["rows"]])
    if df.empty:
        return df
    # records written before run_world fell back to the plan's truth for a range without a Rambachan-Roth row
    plan = df[df.design == "callaway_santanna"].set_index(["scale", "cell", "seed", "outcome"]).truth
    lost = (df.design == "headline") & df.truth.isna()
    df.loc[lost, "truth"] = plan.reindex(pd.MultiIndex.from_frame(df.loc[lost, ["scale", "cell", "seed", "outcome"]])
                                         ).to_numpy()
    df["covered"] = (df.conf_low <= df.truth) & (df.truth <= df.conf_high)
    df["claims"] = (df.conf_low > 0) | (df.conf_high < 0)
    df["width"] = df.conf_high - df.conf_low
    df["error"] = df.estimate.astype(float) - df.truth
    df["null"] = df.effect_scale == 0
    return df


def _calibration_variants(records: list[dict]) -> list[str]:
    """Each calibrated cost as the pipeline computed it (the controls' and the target's sampling correlation
    in the fit) beside the same inputs calibrated as independent draws (``fitNull``'s model), on the same
    worlds: coverage of the truth, claims on null worlds, mean width."""
    out = []
    for rec in records:
        truth = {(r["outcome"], r["design"]): (r["truth"], r["conf_low"], r["conf_high"]) for r in rec["rows"]}
        for y, entries in rec.get("calibration", {}).items():
            for key, e in entries.items():
                if "null" not in e:
                    continue
                design = key.removeprefix("empirical_calibration").lstrip("_") or "callaway_santanna"
                t, low, high = truth[(y, f"{design}_calibrated")]
                null, target = e["null"], e["target"]
                c = calibrate(fit_null(null["estimates"], null["std_errors"]), target["rel"], target["rel_se"])
                mu0 = target["mu0"]
                for variant, lo, hi in (("correlated", low, high),
                                        ("independent", c["conf_low"] * mu0, c["conf_high"] * mu0)):
                    out.append({"design": f"{design}_calibrated", "variant": variant, "covered": lo <= t <= hi,
                                "claims": lo > 0 or hi < 0, "null": t == 0, "width": hi - lo,
                                "controls_corr": np.abs(np.array(null["correlation"]) - np.eye(null["n"])).max()
                                if null["correlation"] else np.nan,
                                "target_corr": max(map(abs, e["target_correlation"]))})
    if not out:
        return []
    df = pd.DataFrame(out)
    lines = ["- calibrated costs with the sampling correlation (as the pipeline) and as independent draws, same "
             f"worlds (largest |correlation| between controls: median {df.controls_corr.median():.3f}, max "
             f"{df.controls_corr.max():.3f}; of the target with a control: median {df.target_corr.median():.3f}, "
             f"max {df.target_corr.max():.3f}):"]
    for (d, v), g in df.groupby(["design", "variant"]):
        lines.append(f"  - {d}, {v}: covers {int(g.covered.sum())}/{len(g)}, claims on null "
                     f"{int(g[g.null].claims.sum())}/{int(g.null.sum())}, mean width {g.width.mean():,.0f}")
    return lines


def write(records: list[dict], path: Path, seconds: float) -> None:
    df = summarise(records)
    lines = ["# Coverage of the headline rule over varied worlds (issue 13)", "",
             f"`benchmarks/bench_honest_coverage.py`: {len(records)} worlds, {seconds / 60:.0f} min of this run; "
             "each (world, outcome) scored against the exact sample truth.", ""]
    if df.empty:
        path.with_suffix(".md").write_text("\n".join(lines) + "\n")
        return
    for scale, g in df.groupby("scale"):
        h = g[g.design == "headline"]
        lines += [f"## scale {scale:g}", "",
                  f"- headline covers the truth: {h.covered.mean():.3f} of {len(h)} (world, outcome) pairs "
                  "(target >= 0.90 at 0.01, >= 0.85 at 0.05)",
                  f"- null worlds, headline excludes 0: {h[h.null].claims.mean():.3f} of {int(h.null.sum())} pairs; "
                  "the target (<= 0.10) holds for each outcome: "
                  + ", ".join(f"{o} {int(x.claims.sum())}/{len(x)}" + (" (missed)" if x.claims.mean() > 0.10 else "")
                              for o, x in h[h.null].groupby("outcome"))]
        nosel = g[(g.select_health_conscious == 0) & (g.select_abnormal_checkup == 0)]
        if len(nosel):
            w = nosel.pivot_table(index=["cell", "seed", "outcome"], columns="design", values="width")
            if {"headline", "callaway_santanna"} <= set(w.columns):
                ratio = (w.headline / w.callaway_santanna).dropna()
                lines.append(f"- no-selection worlds, headline width / plan CS width: median {ratio.median():.2f}, "
                             f"max {ratio.max():.2f} over {len(ratio)} pairs (target <= 1.5)")
                # the grid's no-selection worlds keep the other selection knobs (chronic disease, premium,
                # disability): where the plan's interval misses the truth, matching its width is no virtue
                cov = nosel[nosel.design == "callaway_santanna"].set_index(["cell", "seed", "outcome"]).covered
                fair = ratio[cov.reindex(ratio.index).fillna(False).astype(bool)]
                lines.append(f"- the same where the plan's CS interval covers the truth: median {fair.median():.2f}, "
                             f"max {fair.max():.2f} over {len(fair)} pairs; by outcome, max: "
                             + ", ".join(f"{o} {v:.2f}" for o, v in ratio.groupby(level="outcome").max().items()))
        by = h.assign(chosen=h.chosen.fillna("no point claim (range)")).groupby("chosen")
        lines.append("- by the design the rule chose: " + "; ".join(
            f"{d} {int(x.covered.sum())}/{len(x)} cover, {int(x[x.null].claims.sum())}/{int(x.null.sum())} null claims"
            for d, x in by))
        default = dataclasses.asdict(world_params("default", {}))
        dw = g[np.logical_and.reduce([g[k] == default[k] for k in GRID]) & (g.outcome == "medical_cost")]
        if len(dw):
            for d in ("headline", "callaway_santanna"):
                x = dw[dw.design == d]
                lines.append(f"- default world, medical_cost, {d}: mean bias {x.error.mean():,.0f} KRW against a mean "
                             f"truth of {x.truth.mean():,.0f} ({abs(x.error.mean() / x.truth.mean()):.2f} of it; "
                             f"target for the headline <= 1/3) over {x.seed.nunique()} worlds")
        lines += _calibration_variants([r for r in records if r["scale"] == scale])
        lines.append("")
        lines += ["| outcome | design | pairs | coverage | claims on null | bias | RMSE | mean width |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        for (o, d), s in g.groupby(["outcome", "design"], sort=True):
            err = s.error.dropna()
            lines.append(f"| {o} | {d} | {len(s)} | {s.covered.mean():.2f} | "
                         f"{s[s.null].claims.mean() if s.null.any() else float('nan'):.2f} | "
                         f"{err.mean() if len(err) else float('nan'):.4g} | "
                         f"{np.sqrt((err**2).mean()) if len(err) else float('nan'):.4g} | {s.width.mean():.4g} |")
        lines.append("")
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.01)
    ap.add_argument("--cells", type=int, default=24, help="cells of the 216-cell grid (balanced fraction)")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--first-seed", type=int, default=1, help="world seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--design-seed", type=int, default=13)
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--biters", type=int, default=199, help="bootstrap draws per att_gt (the plan's 999 is slower)")
    ap.add_argument("--default-world", action="store_true",
                    help="only the grid's cell of the default world (the cost-bias target), --seeds worlds of it")
    ap.add_argument("--no-selection", action="store_true",
                    help="only the no-selection cells of the grid (both selection knobs 0: the width target), "
                         "a balanced --cells of them")
    ap.add_argument("--summarise", action="store_true", help="only rewrite the summary of --results")
    args = ap.parse_args()
    cfg = load_config(ROOT / "study.toml")
    cfg = dataclasses.replace(cfg, did=dataclasses.replace(cfg.did, biters=args.biters))
    done = []
    if args.results.exists():
        done = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    if args.summarise:
        write(done, args.results, sum(r["seconds"] for r in done))
        return
    seen = {(r["scale"], r["cell"], r["seed"]) for r in done}
    start = time.perf_counter()
    if args.default_world:
        default = dataclasses.asdict(world_params("default", {}))
        grid = [{k: default[k] for k in GRID}]
    elif args.no_selection:  # the 18 no-selection cells, in --design-seed's shuffled order
        full = [g for g in cells(None, args.design_seed)
                if g["select_health_conscious"] == 0 and g["select_abnormal_checkup"] == 0]
        order = np.random.default_rng(args.design_seed).permutation(len(full))
        grid = [full[i] for i in order[:args.cells]]
    else:
        grid = cells(args.cells, args.design_seed)
    # seed-major, so that a study stopped part-way holds whole passes over the grid rather than all the seeds
    # of its first cells
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for c, knobs in enumerate(grid):
            if (args.scale, c, seed) in seen:
                continue
            tmp = Path(tempfile.mkdtemp(prefix="honest_cov_"))
            t0 = time.perf_counter()
            try:
                rows, calibration, agreement = run_world(knobs, 1000 * seed + c, args.scale, tmp, cfg)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            rec = {"scale": args.scale, "cell": c, "seed": seed, "world_seed": 1000 * seed + c, **knobs,
                   "seconds": round(time.perf_counter() - t0, 1), "rows": rows, "calibration": calibration,
                   "agreement": agreement}
            with args.results.open("a") as fh:
                fh.write(json.dumps(rec, default=float) + "\n")
            done.append(rec)
            head = [r for r in rows if r["design"] == "headline"]
            cov = np.mean([r["conf_low"] <= r["truth"] <= r["conf_high"] for r in head])
            print(f"cell {c} seed {seed} {knobs}: {rec['seconds']} s, headline coverage {cov:.2f}", flush=True)
            write(done, args.results, time.perf_counter() - start)


if __name__ == "__main__":
    main()
