"""Is the plan's cost design biased on worlds without selection on health consciousness or abnormal checkups?

Issue 13's coverage study at 0.05 (``results_honest_agree_d77_005.md``, cell 2) found every cost design
overstating the saving on a world with both selection knobs at 0 (the plan's Callaway-Sant'Anna -38,802 KRW,
-57,573 to -20,032, against a truth of -12,020). Such a world still selects on observed traits, and on one
the plan's covariates cannot hold: joining the year after a chronic diagnosis (``select_chronic``, on the
previous year's drug use). Stops 40 and 41 drew pairs of such worlds, one with ``select_chronic`` as the
default world has it and one with it at 0, from the same world seed, and scored the plan's design on the
total cost, the negative-control costs and the new diagnoses against the exact sample truth: one world's
error is chance or bias; the mean over seeds, with its standard error, says which.

Stop 41 scored the chronic disease's timing on six such pairs (``results_cost_bias_noselection.md``, by
this script's version of that stop; the first-year flag only: ``_s40``): reading it at each comparison's
earlier period removed the new diagnoses' bias, not the cost's. Since stop 42 the plan's age is a cubic in
birth year instead of a straight line (the enrolment is hump-shaped in age and the early waves were capped,
care costs rise steeply with age: ``analysis.config.DidConfig``); this version scores both forms (``FORMS``)
on each world, one world per seed with the chronic selection as the default world has it, on seeds no
earlier study drew.

Usage: ``python benchmarks/bench_cost_bias_noselection.py --scale 0.02 --seeds 6 --first-seed 1801``; results
(JSON lines, one world each, resumable) in ``results_cost_bias_ageform.jsonl`` and a summary beside it.
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

RESULTS = ROOT / "benchmarks" / "results_cost_bias_ageform.jsonl"
NO_SELECTION = {"select_health_conscious": 0.0, "select_abnormal_checkup": 0.0}
DIAGNOSES = ("new_hypertension", "new_diabetes")
PLAN_AGE, LINE_AGE = "poly(birth_year, 3)", "birth_year"
FORMS = {"age as a cubic (the plan)": PLAN_AGE, "age as a line (before stop 42)": LINE_AGE}


def covariate_sets(cfg) -> dict[str, str]:
    """The plan's covariates with age in each form of ``FORMS``, as ``xformla``."""
    if PLAN_AGE not in cfg.did.covariates:
        raise SystemExit(f"the plan's covariates {cfg.did.covariates} do not hold {PLAN_AGE!r}: this study compares "
                         "that form with a line")
    return {k: "~ " + " + ".join(v if c == PLAN_AGE else c for c in cfg.did.covariates) for k, v in FORMS.items()}


def score(panel: pd.DataFrame, truth: pd.DataFrame, cfg) -> list[dict]:
    """The plan's Callaway-Sant'Anna (simple aggregation) on the total cost, every negative-control cost and
    the new diagnoses, with its exact sample truth, under each form of age."""
    dc, out = cfg.did, []
    for (form, xformla), y in itertools.product(covariate_sets(cfg).items(),
                                                  [cfg.outcomes.primary, *cfg.outcomes.negative_controls, *DIAGNOSES]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = att_gt(panel, y, "year", "study_id", "first_treat", xformla, base_period=dc.base_period,
                         control_group=dc.control_group, est_method=dc.est_method, anticipation=dc.anticipation,
                         allow_unbalanced_panel=bool(panel[y].isna().any()), biters=dc.biters, alp=dc.alp,
                         seed=dc.seed)
        ag = aggte(res, "simple", na_rm=True)  # as the plan: a cell too small for the covariates is left out
        out.append({"age": form, "outcome": y, "estimate": ag.overall_att, "std_error": ag.overall_se,
                    "truth": cs_truth(res, panel, y, truth_table(truth, y))[("simple", "overall")],
                    "pretest_p": res.pretest_p})
    return out


def write(records: list[dict], path: Path) -> None:
    df = pd.DataFrame([{k: v for k, v in r.items() if k != "rows"} | row for r in records for row in r["rows"]])
    lines = ["# The plan's design on costs and new diagnoses, worlds without selection on H or abnormal checkups: "
             "age as a cubic or a line (issue 13)", "",
             f"`benchmarks/bench_cost_bias_noselection.py`: {len(records)} worlds at scale "
             f"{', '.join(f'{s:g}' for s in sorted(df.scale.unique()))}, world seeds "
             f"{', '.join(str(s) for s in sorted(df.world_seed.unique()))} (the chronic selection as the default "
             "world has it); the plan's Callaway-Sant'Anna (simple aggregation) against the exact sample truth, "
             "with age among its covariates as a cubic in birth year (the plan) and as a line. z = error / the "
             "estimate's standard error.", "",
             "| age | outcome | worlds | mean truth | mean error | SE of the mean error | mean z | covered |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    df["error"] = df.estimate - df.truth
    df["z"] = df.error / df.std_error
    df["covered"] = df.z.abs() <= 1.959964
    for (form, y), g in df.groupby(["age", "outcome"], sort=False):
        lines.append(f"| {form} | {y} | {len(g)} | {g.truth.mean():,.4g} | {g.error.mean():,.4g} | "
                     f"{g.error.std(ddof=1) / np.sqrt(len(g)) if len(g) > 1 else float('nan'):,.4g} | "
                     f"{g.z.mean():.2f} | {int(g.covered.sum())}/{len(g)} |")
    pairs = df.pivot_table(index=["world_seed", "outcome"], columns="age", values="error").dropna()
    a, b = FORMS
    if len(pairs) and {a, b} <= set(pairs.columns):
        d = (pairs[a] - pairs[b]).groupby(level="outcome", sort=False)
        lines += ["", "Paired by world, error with age as a cubic minus as a line: " + "; ".join(
            f"{y} mean {x.mean():,.4g} (SE {x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else float('nan'):,.4g}, "
            f"{len(x)} worlds)" for y, x in d)]
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.02)
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--first-seed", type=int, default=1801, help="world seeds 1000 * seed")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args()
    cfg = load_config(ROOT / "study.toml")
    done = [json.loads(x) for x in args.results.read_text().splitlines() if x.strip()] if args.results.exists() else []
    seen = {(r["scale"], r["world_seed"]) for r in done}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        if (args.scale, 1000 * seed) in seen:
            continue
        tmp = Path(tempfile.mkdtemp(prefix="cost_bias_"))
        t0 = time.perf_counter()
        try:
            panel, truth = build_world(NO_SELECTION, 1000 * seed, args.scale, tmp, cfg)
            rows = score(panel, truth, cfg)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        rec = {"scale": args.scale, "world_seed": 1000 * seed, **NO_SELECTION,
               "seconds": round(time.perf_counter() - t0, 1), "rows": rows}
        with args.results.open("a") as fh:
            fh.write(json.dumps(rec, default=float) + "\n")
        done.append(rec)
        cost = rows[0]
        print(f"seed {1000 * seed}: {rec['seconds']} s; {cost['outcome']} {cost['estimate']:,.0f} "
              f"(SE {cost['std_error']:,.0f}) against {cost['truth']:,.0f}", flush=True)
        write(done, args.results)


if __name__ == "__main__":
    main()
