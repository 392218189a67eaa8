"""Propensity-score fit and 1:1 caliper matching at 100k, 1M and Seoul scale, side by side with peers.

Data: n units, 20 covariates (12 continuous, 8 binary), ~29% treated (2.46M of 8.5M at Seoul scale),
treatment from a logistic model; generated once per size (seeded) to benchmarks/work/. Each step runs in
its own process (wall time and peak memory via os.wait4) with a time limit; a peer that does not finish is
reported as such. Results: benchmarks/results_matching.json and .md (quoted in the README).

- ours, fit: ``fit_propensity`` (statsmodels GLM, unpenalised)
- ours, match: ``match_fast`` 1:1 without replacement, caliper 0.2 SD of the score, largest first
- DoWhy 0.14: ``CausalModel.estimate_effect(method_name="backdoor.propensity_score_matching")`` (its own
  logistic fit and 1:1 matching with replacement, no caliper), end to end
- causalml 0.18: ``NearestNeighborMatch(replace=False, ratio=1, caliper=0.2)`` on our scores (.venv-peers)
"""

from __future__ import annotations

import argparse
import json
import sys

from run_benchmarks import ROOT, _measure

WORK = ROOT / "benchmarks" / "work"
RESULTS = ROOT / "benchmarks" / "results_matching.json"
PEERS_PY = ROOT / ".venv-peers" / "bin" / "python"
SIZES = {"100k": 100_000, "1M": 1_000_000, "seoul_8.5M": 8_500_000}

GEN = """
import numpy as np, pandas as pd
n = {n}
rng = np.random.default_rng(20251124)
X = np.column_stack([rng.standard_normal((n, 12)), (rng.random((n, 8)) < 0.3)]).astype('float64')
beta = np.r_[np.linspace(0.3, -0.3, 12), np.linspace(0.4, -0.2, 8)]
p = 1 / (1 + np.exp(-(-1.0 + X @ beta * 0.8)))
df = pd.DataFrame(X, columns=[f'x{{i}}' for i in range(20)])
df['treat'] = (rng.random(n) < p).astype('int8')
df['y'] = X[:, 0] + 0.5 * df['treat'] + rng.standard_normal(n)
df.to_parquet('{path}', index=False)
print(df.treat.mean())
"""
OURS_FIT = """
import numpy as np, pandas as pd, time
from analysis.matching.propensity import fit_propensity
df = pd.read_parquet('{path}')
t0 = time.perf_counter()
m = fit_propensity(df.treat.to_numpy().astype(bool), df[[f'x{{i}}' for i in range(20)]])
print('fit_s', time.perf_counter() - t0, 'converged', m.converged)
np.save('{ps}', m.score)
"""
OURS_MATCH = """
import numpy as np, pandas as pd, time
from analysis.matching.nearest import match_fast
t = pd.read_parquet('{path}', columns=['treat']).treat.to_numpy().astype(bool)
d = np.load('{ps}')
t0 = time.perf_counter()
idx = np.flatnonzero(t)
order = idx[np.argsort(-d[idx], kind='stable')]
mm = match_fast(d, t, np.zeros(len(t), bool), order, 1, 0.2 * d.std(ddof=1), 1)
print('match_s', time.perf_counter() - t0, 'matched', int((mm[:, 0] >= 0).sum()), 'of', len(idx))
"""
DOWHY = """
import warnings, pandas as pd, time
warnings.filterwarnings('ignore')
from dowhy import CausalModel
df = pd.read_parquet('{path}')
df['treat'] = df.treat.astype(bool)
t0 = time.perf_counter()
model = CausalModel(data=df, treatment='treat', outcome='y', common_causes=[f'x{{i}}' for i in range(20)])
est = model.estimate_effect(model.identify_effect(), method_name='backdoor.propensity_score_matching',
                            target_units='att')
print('dowhy_s', time.perf_counter() - t0, 'att', est.value)
"""
CAUSALML = """
import numpy as np, pandas as pd, time
from causalml.match import NearestNeighborMatch
df = pd.read_parquet('{path}', columns=['treat'])
df['ps'] = np.load('{ps}')
t0 = time.perf_counter()
m = NearestNeighborMatch(replace=False, ratio=1, caliper=0.2, random_state=1).match(
    data=df, treatment_col='treat', score_cols=['ps'])
print('causalml_s', time.perf_counter() - t0, 'rows', len(m))
"""


def _peer(cmd: list[str], timeout: float) -> dict:
    """A peer's step: its failure is a result to report, not a reason to stop."""
    try:
        return _measure(cmd, timeout)
    except RuntimeError as exc:
        return {"failed": str(exc).strip().splitlines()[-1][:300]}


def main(sizes: list[str], timeout: float) -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    py = sys.executable
    for name in sizes:
        n = SIZES[name]
        path, ps = WORK / f"match_{name}.parquet", WORK / f"ps_{name}.npy"
        if not path.exists():
            _measure([py, "-c", GEN.format(n=n, path=path)])
        row = {"n": n}
        row["ours_fit"] = _measure([py, "-c", OURS_FIT.format(path=path, ps=ps)], timeout)
        row["ours_match"] = _measure([py, "-c", OURS_MATCH.format(path=path, ps=ps)], timeout)
        row["dowhy_psm"] = _peer([py, "-c", DOWHY.format(path=path)], timeout)
        if PEERS_PY.exists():
            row["causalml_nnm"] = _peer([str(PEERS_PY), "-c", CAUSALML.format(path=path, ps=ps)], timeout)
        else:
            row["causalml_nnm"] = {
                "not_run": "causalml not installed (.venv-peers missing; make bench installs it)"
            }
        for r in row.values():
            if isinstance(r, dict) and "stdout" in r:
                r["stdout"] = r["stdout"].splitlines()[-1][:200]
        results[name] = row
        print(name, json.dumps(row), flush=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    write_markdown(results, timeout)
    return results


def _cell(r: dict) -> str:
    if "timeout" in r:
        return f"did not finish in {r['timeout']:.0f} s"
    if "not_run" in r:
        return "not run"
    if "failed" in r:
        return f"failed: {r['failed']}"
    return f"{r['wall_s']} s / {r['peak_rss_gb']} GB"


def write_markdown(results: dict, timeout: float) -> None:
    lines = [
        "# Matching benchmark",
        "",
        "Wall time / peak memory per step, each in its own process (20 covariates, ~29% treated; 1:1 "
        f"nearest neighbour, caliper 0.2 SD; time limit {timeout:.0f} s). Wall time includes starting "
        "Python and reading the data.",
        "",
        "| n | ours: score fit | ours: match | DoWhy PSM (fit + match, end to end) | causalml NearestNeighborMatch |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in results.values():
        lines.append(
            f"| {row['n']:,} | {_cell(row['ours_fit'])} | {_cell(row['ours_match'])} | "
            f"{_cell(row['dowhy_psm'])} | {_cell(row['causalml_nnm'])} |"
        )
    lines += ["", "Inner timings (printed by each step, excluding start-up and reading):", ""]
    for name, row in results.items():
        inner = "; ".join(f"{k}: {v.get('stdout', '-')}" for k, v in row.items() if isinstance(v, dict))
        lines.append(f"- {name}: {inner}")
    (ROOT / "benchmarks" / "results_matching.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=list(SIZES))
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    main(args.sizes, args.timeout)
