"""Is the plan's cost design biased on worlds without selection on health consciousness or abnormal checkups?

Issue 13's coverage study at 0.05 (``results_honest_agree_d77_005.md``, cell 2) found every cost design
overstating the saving on a world with both selection knobs at 0 (the plan's Callaway-Sant'Anna -38,802 KRW,
-57,573 to -20,032, against a truth of -12,020). Such a world still selects on observed traits, and on one
the plan's covariates cannot hold: joining the year after a chronic diagnosis (``select_chronic``, on the
previous year's drug use; the plan conditions on drug use in the first year of the extract). This study
draws pairs of such worlds, one with ``select_chronic`` as the default world has it and one with it at 0,
from the same world seed, and scores the plan's design on the total cost and the negative-control costs
against the exact sample truth: one world's error is chance or bias; the mean over seeds, with its standard
error, says which, and the pairs say whether the chronic-disease selection is the cause. The new diagnoses
are scored too: a selection on the previous year's chronic disease is a selection on those outcomes' own
history (the coverage study found the plan's, the screening-window and the matched designs sharing a bias
there).

Each world is scored with the chronic disease under two timings (``TIMINGS``): the drugs of each comparison's
earlier period (the plan since stop 41: att_gt reads a time-varying covariate there, for everybody in the
comparison) and the drugs of the extract's first year (``chronic_at_entry``, the plan before).

Usage: ``python benchmarks/bench_cost_bias_noselection.py --scale 0.02 --seeds 6``; results (JSON lines, one
world each, resumable) in ``results_cost_bias_noselection.jsonl`` and a summary beside it (the file of stop
40, scored with the first-year flag only, is ``results_cost_bias_noselection_s40``).
"""

from __future__ import annotations

import argparse
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_honest_coverage import build_world  # noqa: E402

from analysis.config import load_config  # noqa: E402
from analysis.did import aggte, att_gt  # noqa: E402
from analysis.did.outcomes import cs_truth, truth_table  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results_cost_bias_noselection.jsonl"
NO_SELECTION = {"select_health_conscious": 0.0, "select_abnormal_checkup": 0.0}
DIAGNOSES = ("new_hypertension", "new_diabetes")
VARIANTS = {"chronic selection as the default world": {}, "no chronic selection": {"select_chronic": 0.0}}
TIMINGS = {"drugs at the earlier period": ("chronic_drug",), "drugs in the first year": ("chronic_at_entry",)}


def covariate_sets(cfg) -> dict[str, str]:
    """The plan's covariates with the chronic disease under each timing of ``TIMINGS``, as ``xformla``."""
    rest = [c for c in cfg.did.covariates if c not in ("chronic_drug", "chronic_at_entry")]
    return {k: "~ " + " + ".join([*rest, *v]) for k, v in TIMINGS.items()}


def score(panel: pd.DataFrame, truth: pd.DataFrame, cfg) -> list[dict]:
    """The plan's Callaway-Sant'Anna (simple aggregation) on the total cost, every negative-control cost and
    the new diagnoses (whose risk set a selection on earlier diagnoses bends), with its exact sample truth,
    under each timing of the chronic disease."""
    dc, out = cfg.did, []
    for (timing, xformla), y in itertools.product(covariate_sets(cfg).items(),
                                                  [cfg.outcomes.primary, *cfg.outcomes.negative_controls, *DIAGNOSES]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = att_gt(panel, y, "year", "study_id", "first_treat", xformla, base_period=dc.base_period,
                         control_group=dc.control_group, est_method=dc.est_method, anticipation=dc.anticipation,
                         allow_unbalanced_panel=bool(panel[y].isna().any()), biters=dc.biters, alp=dc.alp,
                         seed=dc.seed)
        ag = aggte(res, "simple", na_rm=True)  # as the plan: a cell too small for the covariates is left out
        out.append({"timing": timing, "outcome": y, "estimate": ag.overall_att, "std_error": ag.overall_se,
                    "truth": cs_truth(res, panel, y, truth_table(truth, y))[("simple", "overall")],
                    "pretest_p": res.pretest_p})
    return out


def write(records: list[dict], path: Path) -> None:
    df = pd.DataFrame([{k: v for k, v in r.items() if k != "rows"} | row for r in records for row in r["rows"]])
    lines = ["# The plan's design on costs and new diagnoses, worlds without selection on H or abnormal checkups "
             "(issue 13)", "",
             f"`benchmarks/bench_cost_bias_noselection.py`: {len(records)} worlds at scale "
             f"{', '.join(f'{s:g}' for s in sorted(df.scale.unique()))}, world seeds "
             f"{', '.join(str(s) for s in sorted(df.world_seed.unique()))}, each drawn with and without selection on "
             "the previous year's chronic disease; the plan's Callaway-Sant'Anna (simple aggregation) against the "
             "exact sample truth, the chronic disease among its covariates as the drugs of each comparison's "
             "earlier period (the plan) and as those of the extract's first year. z = error / the estimate's "
             "standard error.", "",
             "| variant | chronic disease | outcome | worlds | mean truth | mean error | SE of the mean error | "
             "mean z | covered |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    df["timing"] = df.timing.fillna("drugs in the first year") if "timing" in df else "drugs in the first year"
    df["error"] = df.estimate - df.truth
    df["z"] = df.error / df.std_error
    df["covered"] = df.z.abs() <= 1.959964
    for (v, tm, y), g in df.groupby(["variant", "timing", "outcome"], sort=False):
        lines.append(f"| {v} | {tm} | {y} | {len(g)} | {g.truth.mean():,.4g} | {g.error.mean():,.4g} | "
                     f"{g.error.std(ddof=1) / np.sqrt(len(g)) if len(g) > 1 else float('nan'):,.4g} | "
                     f"{g.z.mean():.2f} | {int(g.covered.sum())}/{len(g)} |")
    for tm, dt in df.groupby("timing", sort=False):
        pairs = dt.pivot_table(index=["world_seed", "outcome"], columns="variant", values="error").dropna()
        a, b = VARIANTS
        if len(pairs) and {a, b} <= set(pairs.columns):
            d = (pairs[a] - pairs[b]).groupby(level="outcome")
            lines += ["", f"Chronic disease as the {tm}: paired by world seed, error with chronic selection minus "
                      "without: " + "; ".join(
                          f"{y} mean {x.mean():,.4g} (SE {x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else float('nan'):,.4g}, "
                          f"{len(x)} pairs)" for y, x in d)]
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.02)
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--first-seed", type=int, default=1601, help="world seeds 1000 * seed")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args()
    cfg = load_config(ROOT / "study.toml")
    done = [json.loads(x) for x in args.results.read_text().splitlines() if x.strip()] if args.results.exists() else []
    seen = {(r["scale"], r["world_seed"], r["variant"]) for r in done}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for variant, knobs in VARIANTS.items():
            if (args.scale, 1000 * seed, variant) in seen:
                continue
            tmp = Path(tempfile.mkdtemp(prefix="cost_bias_"))
            t0 = time.perf_counter()
            try:
                panel, truth = build_world(NO_SELECTION | knobs, 1000 * seed, args.scale, tmp, cfg)
                rows = score(panel, truth, cfg)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            rec = {"scale": args.scale, "world_seed": 1000 * seed, "variant": variant, **NO_SELECTION, **knobs,
                   "seconds": round(time.perf_counter() - t0, 1), "rows": rows}
            with args.results.open("a") as fh:
                fh.write(json.dumps(rec, default=float) + "\n")
            done.append(rec)
            cost = rows[0]
            print(f"seed {1000 * seed} {variant}: {rec['seconds']} s; {cost['outcome']} {cost['estimate']:,.0f} "
                  f"(SE {cost['std_error']:,.0f}) against {cost['truth']:,.0f}", flush=True)
            write(done, args.results)


if __name__ == "__main__":
    main()
