"""Callaway-Sant'Anna group-time ATTs at 100k and 1M panel rows, side by side with the Python ports.

Data: a balanced staggered-adoption panel, 2017-2025 (9 years), ~30% of units treated in cohorts 2021-2025
(``first_treat``, 0 = never treated), six time-invariant covariates ``x1..x6`` (three continuous, three
binary) that drive both the choice of cohort and the outcome's trend (so parallel trends hold only given
them), unit and year effects and a known effect after treatment; generated once per size (seeded) to
benchmarks/work/did_<size>.parquet with the true ATT(g,t) beside it (did_<size>_truth.csv).

Every tool fits ATT(g,t) with covariates ``~ x1 + ... + x6``, the doubly robust estimator, never-treated
controls, varying base period and analytic (influence-function) standard errors, no bootstrap; each in its
own process (wall time and peak memory via os.wait4) with a time limit, and writes its table to
benchmarks/work/did_<size>_<tool>.csv (group, time, att, se) so the estimates can be compared cell by cell.

- ours: ``analysis.did.att_gt`` (.venv); a failure (e.g. not importable yet) is recorded, the peers still run
- csdid 0.4.3: ``ATTgt(...).fit(est_method="dr", bstrap=False)`` (.venv-did-peers)
- differences 0.3.0: ``ATTgt(data.set_index([id, year]), cohort).fit(formula, est_method="dr",
  boot_iterations=0)``; it refuses 0 for the never treated, so they become NaN
- moderndid 0.4.1: ``att_gt(..., boot=False)`` (needs Python 3.12+)

``--seoul`` adds the full-scale step: ``python -m analysis panel`` on the linked full-scale world
(benchmarks/work/linked_1.0) and ours on that panel (medical_cost by study_id and year, six per-person
covariates), against a target of 5 minutes and 16 GB. Results: benchmarks/results_did.json and .md.
Usage: ``python benchmarks/bench_did.py [--sizes 100k 1M] [--tools ours csdid ...] [--seoul]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shutil
import signal
import sys
import threading

from run_benchmarks import ROOT, _measure

WORK = ROOT / "benchmarks" / "work"
RESULTS = ROOT / "benchmarks" / "results_did.json"
PEERS_PY = ROOT / ".venv-did-peers" / "bin" / "python"
SIZES = {"100k": 100_000, "1M": 1_000_000}  # panel rows (9 years per unit)
YEARS = 9
TOOLS = ["ours", "csdid", "differences", "moderndid"]
PEERS = TOOLS[1:]
COVS = "x1 + x2 + x3 + x4 + x5 + x6"
# the panel's per-person columns, and the covariates made of them: on their raw scales (birth year ~1960, cost in
# KRW ~1e6) the propensity design is numerically singular to both ours and csdid, so age in 2020 and cost in
# millions of KRW
SEOUL_COLS = ["female", "birth_year", "disability_pre", "premium_decile_pre", "chronic_disease", "cost_pre1"]
SEOUL_COVS = ["female", "age_2020", "disability_pre", "premium_decile_pre", "chronic_disease", "cost_pre1_m"]
SEOUL_TARGET = {"wall_s": 300, "peak_rss_gb": 16}

GEN = """
import numpy as np, pandas as pd
n, years = {units}, np.arange(2017, 2026)
rng = np.random.default_rng(20251125)
x1, x2 = rng.standard_normal(n), rng.standard_normal(n)          # continuous
x3 = rng.gamma(2.0, 1.0, n)                                       # continuous, skewed (cost-like)
x4 = (rng.random(n) < 0.5).astype(np.int64)                       # binary (sex-like)
x5 = (rng.random(n) < np.where(x1 > 0, 0.45, 0.2)).astype(np.int64)  # binary, related to x1
x6 = (rng.random(n) < 0.1).astype(np.int64)                       # rare binary (disability-like)
Xc = np.column_stack([x1, x2, x3 - 2.0, x4 - 0.5, x5 - 0.3, x6 - 0.1])
# selection into treatment on covariates: logistic, intercept solved for a 30% treated share
lin = Xc @ np.array([0.5, -0.3, 0.25, 0.4, 0.3, -0.5])
c = 0.0
for _ in range(50):
    p = 1 / (1 + np.exp(-(c + lin)))
    c -= (p.mean() - 0.30) / (p * (1 - p)).mean()
treated = rng.random(n) < 1 / (1 + np.exp(-(c + lin)))
# cohorts 2021..2025 tilted by covariates: high x1 joins early, high x3 late
k = np.arange(5)
util = np.outer(x1, 0.4 * (2 - k)) + np.outer(x3 - 2.0, 0.15 * (k - 2)) + rng.gumbel(size=(n, 5))
g = np.where(treated, 2021 + util.argmax(axis=1), 0).astype(np.int64)
# outcome: unit effect, year effect, covariate-dependent linear trend, effect from the cohort's year on
alpha = 0.5 * x1 + 0.3 * x4 + rng.standard_normal(n)
lam = np.array([0.0, 0.2, 0.1, 0.4, 0.3, 0.5, 0.6, 0.5, 0.8])
slope = 0.15 * x1 - 0.10 * x2 + 0.05 * x3 + 0.10 * x5 - 0.10 * x6
t = np.tile(years, n)
gi, i = np.repeat(g, 9), np.repeat(np.arange(n), 9)
e = t - gi
effect = np.where((gi > 0) & (e >= 0), 1.0 + 0.25 * e + 0.5 * np.repeat(x4, 9), 0.0)
y = alpha[i] + lam[t - 2017] + slope[i] * (t - 2017) + effect + rng.standard_normal(n * 9)
df = pd.DataFrame({{'id': np.repeat(np.arange(1, n + 1, dtype=np.int64), 9), 'year': t.astype(np.int64),
                   'first_treat': gi, 'x1': x1[i], 'x2': x2[i], 'x3': x3[i], 'x4': x4[i], 'x5': x5[i],
                   'x6': x6[i], 'y': y.astype(np.float64)}})
df.to_parquet('{path}', index=False)
# the truth: ATT(g,t) = mean effect of cohort g in year t (0 before g: varying base pre-period cells)
truth = (df.assign(att=effect)[gi > 0].groupby(['first_treat', 'year'], as_index=False)['att'].mean()
         .rename(columns={{'first_treat': 'group', 'year': 'time'}}))
truth[truth.time > 2017].to_csv('{truth}', index=False)
cohorts = {{int(k): int(v) for k, v in zip(*np.unique(g, return_counts=True))}}
print('rows', len(df), 'units', n, 'treated share', round(float(treated.mean()), 4), 'cohorts', cohorts)
"""

_HEAD = """
import json, sys, time, warnings
import numpy as np, pandas as pd
warnings.filterwarnings('ignore')
"""
_TAIL = """
out = out[['group', 'time', 'att', 'se']].astype({{'group': 'int64', 'time': 'int64'}})
out.sort_values(['group', 'time']).to_csv('{csv}', index=False)
print('RESULT', json.dumps({{'fit_s': round(fit_s, 2), 'cells': len(out), 'se_missing': int(out.se.isna().sum()),
                            'version': version, 'se_kind': se_kind}}))
"""
OURS = (
    _HEAD
    + """
try:
    from analysis.did import att_gt
except Exception as exc:
    sys.exit(f'import failed: {{exc!r}}')
version = 'this repository'
df = pd.read_parquet('{path}')
t0 = time.perf_counter()
res = att_gt(df, yname='y', tname='year', idname='id', gname='first_treat', xformla='~ {covs}',
             control_group='nevertreated', est_method='dr', bstrap=False, cband=False)
fit_s = time.perf_counter() - t0
se_kind = 'analytic'
out = res.tidy().rename(columns={{'estimate': 'att', 'std_error': 'se'}})
"""
    + _TAIL
)
CSDID = (
    _HEAD
    + """
from importlib.metadata import version as _v
from csdid.att_gt import ATTgt
version = _v('csdid')
df = pd.read_parquet('{path}')
t0 = time.perf_counter()
m = ATTgt(yname='y', tname='year', idname='id', gname='first_treat', data=df, control_group='nevertreated',
          xformla='y ~ {covs}').fit(est_method='dr', base_period='varying', bstrap=False)
fit_s = time.perf_counter() - t0
se_kind = 'analytic'
r = m.results
out = pd.DataFrame({{'group': r['group'], 'time': r['year'], 'att': r['att'], 'se': r['se']}})
"""
    + _TAIL
)
DIFFERENCES = (
    _HEAD
    + """
from importlib.metadata import version as _v
from differences import ATTgt
version = _v('differences')
df = pd.read_parquet('{path}')
t0 = time.perf_counter()
# differences refuses 0 for the never treated (NaN instead) and wants an (entity, time) index
df['first_treat'] = df['first_treat'].where(df['first_treat'] > 0)
df = df.set_index(['id', 'year'])
att = ATTgt(data=df, cohort_column='first_treat', base_period='varying')
res = att.fit(formula='y ~ {covs}', est_method='dr', control_group='never_treated', boot_iterations=0,
              n_jobs=1, progress_bar=False)
fit_s = time.perf_counter() - t0
se_kind = 'analytic'
res = res.to_pandas()  # columns (ATTgtElements, '' | 'analytic', ATT | std_error); index cohort, base_period, time
res.columns = [c[-1] if isinstance(c, tuple) else c for c in res.columns]
res = res.reset_index()
out = pd.DataFrame({{'group': res['cohort'], 'time': res['time'], 'att': res['ATT'], 'se': res['std_error']}})
"""
    + _TAIL
)
MODERNDID = (
    _HEAD
    + """
from importlib.metadata import version as _v
from moderndid import att_gt
version = _v('moderndid')
df = pd.read_parquet('{path}')
t0 = time.perf_counter()
res = att_gt(df, yname='y', tname='year', idname='id', gname='first_treat', xformla='~ {covs}',
             est_method='dr', control_group='nevertreated', base_period='varying', boot=False, cband=False)
fit_s = time.perf_counter() - t0
se_kind = 'analytic'
out = pd.DataFrame({{'group': res.groups, 'time': res.times, 'att': res.att_gt, 'se': res.se_gt}})
"""
    + _TAIL
)
SCRIPTS = {"ours": OURS, "csdid": CSDID, "differences": DIFFERENCES, "moderndid": MODERNDID}

# ours on the full-scale panel: only the needed columns; the covariates are each person's first row (female and
# birth year never change; the *_pre baselines, chronic_disease and cost_pre1 are per person by construction);
# persons with a missing baseline (not in the population before their reference year) are left out before the
# frame is built (no filtered copy of it). Arrow's allocator keeps the freed read buffers (about 4.5 GB at full
# scale) unless told to hand them back: released, so that the peak is the data frame's and att_gt's.
OURS_SEOUL = """
import json, sys, time
import numpy as np, pandas as pd, pyarrow as pa
try:
    from analysis.did import att_gt
except Exception as exc:
    sys.exit(f'import failed: {{exc!r}}')
cols, covs = {cols!r}, {covs!r}
t0 = time.perf_counter()
df = pd.read_parquet('{path}', columns=['study_id', 'year', 'first_treat', 'medical_cost'] + cols)
if not (df.study_id.is_monotonic_increasing):
    df = df.sort_values(['study_id', 'year'], kind='stable', ignore_index=True)
ids = df.study_id.to_numpy()
start = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
counts = np.diff(np.r_[start, len(ids)])
persons = len(start)
first = {{c: df[c].iloc[start].astype('float64').to_numpy() for c in cols}}
first['age_2020'] = 2020.0 - first.pop('birth_year')
first['cost_pre1_m'] = first.pop('cost_pre1') / 1e6
kept = np.logical_and.reduce([~np.isnan(first[c]) for c in covs])
keep = np.repeat(kept, counts)
out = pd.DataFrame({{'study_id': ids[keep].astype(np.int64), 'year': df.year.to_numpy()[keep].astype(np.int64),
                    'first_treat': df.first_treat.to_numpy()[keep].astype(np.int64),
                    'medical_cost': df.medical_cost.to_numpy()[keep].astype(np.float64)}}, copy=False)
del df, ids
pa.default_memory_pool().release_unused()
for c in covs:
    out[c] = np.repeat(first[c][kept], counts[kept])
prep_s = time.perf_counter() - t0
t0 = time.perf_counter()
res = att_gt(out, yname='medical_cost', tname='year', idname='study_id', gname='first_treat',
             xformla='~ ' + ' + '.join(covs), control_group='nevertreated', est_method='dr',
             bstrap=False, cband=False)
fit_s = time.perf_counter() - t0
tidy = res.tidy().rename(columns={{'estimate': 'att', 'std_error': 'se'}})
tidy[['group', 'time', 'att', 'se']].to_csv('{csv}', index=False)
print('RESULT', json.dumps({{'prep_s': round(prep_s, 2), 'fit_s': round(fit_s, 2), 'rows': int(keep.sum()),
                            'persons': persons, 'rows_dropped_missing_covariates': int((~keep).sum()),
                            'cells': len(tidy), 'cells_estimated': int(tidy.att.notna().sum())}}))
"""


def _result(r: dict) -> dict:
    """Keep the measurement and the script's RESULT line (its in-process fit time etc.)."""
    if "stdout" in r:
        lines = r.pop("stdout").splitlines()
        res = [ln for ln in lines if ln.startswith("RESULT ")]
        if res:
            r.update(json.loads(res[-1][len("RESULT ") :]))
        else:
            r["stdout"] = lines[-1][:300] if lines else ""
    return r


def _run(cmd: list[str], timeout: float) -> dict:
    """A step: its failure or time-out is a result to report, not a reason to stop."""
    try:
        return _result(_measure(cmd, timeout))
    except RuntimeError as exc:
        return {"failed": str(exc).strip().splitlines()[-1][:300]}


def _python(tool: str) -> str | None:
    if tool == "ours":
        return sys.executable
    return str(PEERS_PY) if PEERS_PY.exists() else None


def compare(name: str, row: dict) -> dict:
    """Cell-by-cell agreement (matched on group, time) of every pair of tools that finished, and vs the truth."""
    import pandas as pd

    tabs = {}
    for tool, r in row["tools"].items():
        csv = WORK / f"did_{name}_{tool}.csv"
        if "wall_s" in r and csv.exists():
            tabs[tool] = pd.read_csv(csv)
    truth = pd.read_csv(WORK / f"did_{name}_truth.csv")
    out: dict = {"vs_truth": {}, "pairs": {}}
    for tool, t in tabs.items():
        m = t.merge(truth, on=["group", "time"], suffixes=("", "_true"))
        post = m[m.time >= m.group]
        out["vs_truth"][tool] = {
            "max_abs_att_error_post": round(float((post.att - post.att_true).abs().max()), 6),
            "mean_abs_att_error_post": round(float((post.att - post.att_true).abs().mean()), 6),
        }
    for a, b in itertools.combinations(tabs, 2):
        m = tabs[a].merge(tabs[b], on=["group", "time"], suffixes=("_a", "_b"))
        out["pairs"][f"{a} vs {b}"] = {
            "cells_matched": len(m),
            "cells": [len(tabs[a]), len(tabs[b])],
            "max_abs_diff_att": float((m.att_a - m.att_b).abs().max()),
            "max_abs_diff_se": float((m.se_a - m.se_b).abs().max()),
            "max_rel_diff_se": float(((m.se_a - m.se_b).abs() / m.se_b.abs()).max()),
        }
    ours = row["tools"].get("ours", {})
    done = {p: row["tools"][p] for p in PEERS if "wall_s" in row["tools"].get(p, {})}
    if "wall_s" in ours and done:
        fastest = min(done, key=lambda p: done[p]["wall_s"])
        fit_fastest = min(done, key=lambda p: done[p].get("fit_s", math.inf))
        out["speed"] = {
            "fastest_peer_wall": fastest,
            "wall_ratio_peer_over_ours": round(done[fastest]["wall_s"] / ours["wall_s"], 2),
            "fastest_peer_fit": fit_fastest,
            "fit_ratio_peer_over_ours": round(done[fit_fastest]["fit_s"] / max(ours["fit_s"], 1e-9), 2),
        }
    return out


def main(
    sizes: list[str],
    tools: list[str],
    timeout: float,
    seoul: float | None,
    rebuild_panel: bool,
    max_rss_gb: float,
) -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["settings"] = {
        "xformla": f"~ {COVS}",
        "est_method": "dr",
        "control_group": "nevertreated",
        "base_period": "varying",
        "standard_errors": "analytic (influence function), no bootstrap",
        "timeout_s": timeout,
    }
    py = sys.executable
    for name in sizes:
        units = math.ceil(SIZES[name] / YEARS)
        path, truth = WORK / f"did_{name}.parquet", WORK / f"did_{name}_truth.csv"
        row = results.get(name, {}) | {"units": units, "rows": units * YEARS}
        if not path.exists() or not truth.exists():
            r = _measure([py, "-c", GEN.format(units=units, path=path, truth=truth)])
            row["data"] = r["stdout"].splitlines()[-1]
        row.setdefault("tools", {})
        for tool in tools:
            csv = WORK / f"did_{name}_{tool}.csv"
            csv.unlink(missing_ok=True)
            exe = _python(tool)
            if exe is None:
                row["tools"][tool] = {"not_run": ".venv-did-peers missing (make bench installs it)"}
                continue
            code = SCRIPTS[tool].format(path=path, csv=csv, covs=COVS)
            if tool == "moderndid":  # installed only under Python 3.12+ (see did-peers-requirements.txt)
                try:
                    _measure([exe, "-c", "import moderndid"])
                except RuntimeError:
                    row["tools"][tool] = {"not_run": "moderndid not installed (needs Python 3.12+)"}
                    continue
            row["tools"][tool] = _run([exe, "-c", code], timeout)
            print(name, tool, json.dumps(row["tools"][tool]), flush=True)
        row["comparison"] = compare(name, row)
        results[name] = row
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    if seoul is not None:
        step = seoul_step(timeout, rebuild_panel, seoul, max_rss_gb)
        prev = results.get(f"seoul_{seoul}", {}).get("panel")
        if "panel" not in step and prev and "wall_s" in prev:  # panel reused: keep its measurement, marked
            step["panel"] = prev | {"note": "measured by an earlier run; this run reused the panel"}
        results[f"seoul_{seoul}"] = step
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    write_markdown(results)
    return results


class _RssGuard:
    """Kill (by pid) a child of this process whose resident memory passes ``limit_gb``: a full-scale step must
    not take the memory of a shared machine. ``killed`` records it for the report."""

    def __init__(self, limit_gb: float):
        self.limit_kb, self.killed, self._stop = limit_gb * 1024**2, None, threading.Event()

    def _children(self) -> list[int]:
        me, kids = str(os.getpid()), []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    stat = open(f"/proc/{d}/stat").read()
                except OSError:
                    continue
                if stat[stat.rindex(")") + 2 :].split()[1] == me:
                    kids.append(int(d))
        return kids

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            for pid in self._children():
                try:
                    status = open(f"/proc/{pid}/status").read()
                except OSError:
                    continue
                rss = next((int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmRSS:")), 0)
                if rss > self.limit_kb:
                    self.killed = round(rss / 1024**2, 1)
                    os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> _RssGuard:
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _guarded(cmd: list[str], timeout: float, limit_gb: float) -> dict:
    with _RssGuard(limit_gb) as guard:
        r = _run(cmd, timeout)
    if guard.killed is not None:
        r = {"failed": f"killed at {guard.killed} GB resident (limit {limit_gb:g} GB)"}
    return r


def seoul_step(timeout: float, rebuild_panel: bool, scale: float, max_rss_gb: float) -> dict:
    """The analysis panel of the full-scale world, then ours on it (against 5 minutes and 16 GB)."""
    linked, out = WORK / f"linked_{scale}" / "linked", WORK / f"panel_{scale}"
    py = sys.executable
    step: dict = {"scale": scale, "covariates": SEOUL_COVS, "target": SEOUL_TARGET, "max_rss_gb": max_rss_gb}
    if rebuild_panel or not (out / "panel.parquet").exists():
        if not linked.exists():
            return step | {"panel": {"not_run": f"{linked} missing (run_benchmarks.py makes it)"}}
        shutil.rmtree(out, ignore_errors=True)
        cmd = [py, "-m", "analysis", "panel", "--linked", str(linked), "--out", str(out), "--quiet"]
        step["panel"] = _guarded(cmd, 1800, max_rss_gb)
        print("seoul panel", json.dumps(step["panel"]), flush=True)
        if "wall_s" not in step["panel"]:
            return step
    csv = WORK / f"did_seoul_{scale}_ours.csv"
    csv.unlink(missing_ok=True)
    code = OURS_SEOUL.format(path=out / "panel.parquet", csv=csv, cols=SEOUL_COLS, covs=SEOUL_COVS)
    r = _guarded([py, "-c", code], timeout, max_rss_gb)
    if "wall_s" in r and scale == 1.0:
        r["meets_target"] = (
            r["wall_s"] <= SEOUL_TARGET["wall_s"] and r["peak_rss_gb"] <= SEOUL_TARGET["peak_rss_gb"]
        )
    step["ours"] = r
    print("seoul ours", json.dumps(r), flush=True)
    return step


def _cell(r: dict) -> str:
    if "timeout" in r:
        return f"did not finish in {r['timeout']:.0f} s"
    if "not_run" in r:
        return f"not run: {r['not_run']}"
    if "failed" in r:
        return f"failed: {r['failed']}"
    return f"{r['wall_s']} s / {r['peak_rss_gb']} GB"


def _num(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"


def write_markdown(results: dict) -> None:
    s = results["settings"]
    lines = [
        "# Staggered difference-in-differences benchmark (Callaway-Sant'Anna `att_gt`)",
        "",
        f"ATT(g,t) for every cohort and year: covariates `{s['xformla']}`, doubly robust, never-treated controls, "
        f"varying base period, {s['standard_errors']}. Balanced panel 2017-2025, ~30% treated in cohorts "
        "2021-2025, six time-invariant covariates (3 continuous, 3 binary) driving selection and trends. Each tool "
        f"runs in its own process (time limit {s['timeout_s']:.0f} s); wall time / peak memory include starting "
        "Python and reading the data, fit is the in-process time of the estimation call.",
        "",
        "| rows | tool | wall / peak | fit (s) | cells | max abs ATT error vs truth (post) |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    sizes = [k for k in results if k in SIZES]
    for name in sizes:
        row = results[name]
        truth = row.get("comparison", {}).get("vs_truth", {})
        for tool, r in row["tools"].items():
            ver = f" {r['version']}" if r.get("version") and tool != "ours" else ""
            lines.append(
                f"| {row['rows']:,} | {tool}{ver} | {_cell(r)} | {r.get('fit_s', '-')} | {r.get('cells', '-')} | "
                f"{_num(truth.get(tool, {}).get('max_abs_att_error_post'))} |"
            )
    lines += [
        "",
        "Agreement cell by cell (matched on group and time): largest absolute difference in ATT(g,t) and in its SE.",
        "",
        "| rows | pair | cells matched | max abs diff ATT | max abs diff SE | max rel diff SE |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for name in sizes:
        row = results[name]
        for pair, c in row.get("comparison", {}).get("pairs", {}).items():
            lines.append(
                f"| {row['rows']:,} | {pair} | {c['cells_matched']} | {c['max_abs_diff_att']:.2e} | "
                f"{c['max_abs_diff_se']:.2e} | {c['max_rel_diff_se']:.2e} |"
            )
    speed = [(results[n]["rows"], results[n]["comparison"].get("speed")) for n in sizes]
    speed = [(n, sp) for n, sp in speed if sp]
    if speed:
        lines += ["", "Speed of ours against the fastest peer (ratio > 1: ours is faster):", ""]
        for rows, sp in speed:
            lines.append(
                f"- {rows:,} rows: wall {sp['wall_ratio_peer_over_ours']}x ({sp['fastest_peer_wall']}), "
                f"fit {sp['fit_ratio_peer_over_ours']}x ({sp['fastest_peer_fit']})"
            )
    seoul = sorted((v for k, v in results.items() if k.startswith("seoul_")), key=lambda v: -v["scale"])
    if seoul:
        se = seoul[0]
        lines += [
            "",
            "## Seoul scale",
            "",
            "The analysis panel from a linked world (`python -m analysis panel`), then ours on it: `medical_cost` by "
            f"`study_id` and `year`, covariates {', '.join(se['covariates'])} (each person's baseline row; persons "
            f"without a baseline left out); target at 1.0 x Seoul {se['target']['wall_s']} s and "
            f"{se['target']['peak_rss_gb']} GB. A step resident above {se.get('max_rss_gb', 20):g} GB is stopped.",
            "",
            "| scale | step | wall / peak | detail |",
            "|---:|---|---:|---|",
        ]
        keys = ("prep_s", "fit_s", "rows", "persons", "cells", "cells_estimated", "meets_target")
        for se in seoul:
            for k in ("panel", "ours"):
                if k in se:
                    r = se[k]
                    detail = ", ".join(
                        f"{a} {r[a]:,}" if a in ("rows", "persons") else f"{a} {r[a]}" for a in keys if a in r
                    )
                    lines.append(f"| {se['scale']} | {k} | {_cell(r)} | {r.get('note', detail) or '-'} |")
    (ROOT / "benchmarks" / "results_did.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="*", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--tools", nargs="+", default=TOOLS, choices=TOOLS)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--seoul", action="store_true", help="also the full-scale panel and ours on it")
    ap.add_argument(
        "--seoul-scale", type=float, default=1.0, help="world scale of --seoul (1.0 = all of Seoul)"
    )
    ap.add_argument("--rebuild-panel", action="store_true", help="rebuild benchmarks/work/panel_<scale>")
    ap.add_argument("--max-rss-gb", type=float, default=20, help="--seoul: kill a step resident above this")
    args = ap.parse_args()
    seoul = args.seoul_scale if args.seoul else None
    main(args.sizes, args.tools, args.timeout, seoul, args.rebuild_panel, args.max_rss_gb)
