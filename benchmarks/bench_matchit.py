"""``analysis.matching.matchit`` beside MatchIt 4.7.2, regime by regime: the match step on the same data and
the same propensity-score vector, ours as the first call in a fresh process (cold) and as a second call in
the same process (warm), MatchIt timed inside R; the matched sets compared pair by pair where MatchIt ran.

Data (seeded, generated once per size into benchmarks/work/): n units, 5 covariates (3 normal, sex, age
band 0-4), 20% treated by a logistic model whose coefficients are x1 for good overlap and x3 for poor overlap
(the treated crowd the top of the score). Regimes per size: overlap (good, poor) x caliper (none, 0.2 SD of
the score) x ratio (1, 10), without replacement; and, under poor overlap with the caliper, with replacement
and with exact strata on sex x age band. The city's situation at Seoul scale (2.46M treated against 5.8M
controls, 1:10, caliper 0.2 SD, poor overlap) is its own size, ``seoul``.

MatchIt runs only where ``Rscript`` is on the PATH and ``packageVersion("MatchIt") == "4.7.2"``
(``benchmarks/install_matchit.sh`` installs it from source tarballs or folders the user supplies; Debian's 4.5.1
has broken calipers and is never compared with); otherwise its column says "not run". A MatchIt call that runs
past ``--matchit-timeout`` seconds is stopped and reported as not finished within it.

Each timing is the median of ``--repeats`` fresh processes (MatchIt's too, except that a call over a minute is
not repeated: the table says how many runs each median has). Results: ``benchmarks/results_matchit.json`` and
``.md`` (quoted in the README). Usage: ``python benchmarks/bench_matchit.py [--sizes 100k 1M seoul]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work"
RESULTS = ROOT / "benchmarks" / "results_matchit.json"
SIZES = {"10k": (10_000, 0.2), "100k": (100_000, 0.2), "1M": (1_000_000, 0.2), "8.5M": (8_500_000, 0.2),
         "seoul": (8_260_000, 2.46 / 8.26)}

GEN = """
import numpy as np, pandas as pd
n, share, poor = {n}, {share}, {poor}
rng = np.random.default_rng(20251201)
X = rng.standard_normal((n, 3))
sex = rng.integers(1, 3, n)
age = rng.integers(0, 5, n)
beta = np.array([0.6, -0.4, 0.3]) * (3.0 if poor else 1.0)
lin = X @ beta + (0.3 if not poor else 0.9) * (sex == 2) + (0.1 if not poor else 0.3) * age
# the intercept that gives the treated share
lo, hi = -30.0, 30.0
for _ in range(60):
    mid = (lo + hi) / 2
    lo, hi = (mid, hi) if (1 / (1 + np.exp(-(lin + mid)))).mean() < share else (lo, mid)
p = 1 / (1 + np.exp(-(lin + mid)))
treat = (rng.random(n) < p).astype("int8")
df = pd.DataFrame({{"x1": X[:, 0], "x2": X[:, 1], "x3": X[:, 2], "sex": sex, "ageband": age, "treat": treat}})
import statsmodels.api as sm
Z = sm.add_constant(df[["x1", "x2", "x3", "sex", "ageband"]].to_numpy(float))
df["ps"] = sm.GLM(treat, Z, family=sm.families.Binomial()).fit().fittedvalues
df.to_parquet("{path}", index=False)
print(treat.mean())
"""

OURS = """
import json, time
import numpy as np, pandas as pd
t0 = time.perf_counter()
from analysis.matching import matchit
df = pd.read_parquet("{path}")
kw = dict(distance=df["ps"].to_numpy(), ratio={ratio}, caliper={caliper}, replace={replace}, m_order="largest",
          exact={exact})
times = []
for _ in range(2):
    t = time.perf_counter()
    m = matchit("treat ~ x1 + x2 + x3 + sex + ageband", df, **kw)
    times.append(time.perf_counter() - t)
pairs = m.matched_data()
out = {{"cold_s": times[0], "warm_s": times[1], "matched_treated": int((pairs.treat == 1).sum()),
       "matched_controls": int((pairs.treat == 0).sum())}}
if {save_pairs}:
    mm = m.match_matrix.stack().dropna().reset_index()
    pd.DataFrame({{"treated": mm.iloc[:, 0], "control": mm.iloc[:, 2].astype(int)}}).to_csv("{pairs}", index=False)
print(json.dumps(out))
"""

R_SCRIPT = """
suppressMessages(library(MatchIt))
df <- as.data.frame(data.table::fread("{path}"))
args <- list(treat ~ x1 + x2 + x3 + sex + ageband, data = df, method = "nearest", distance = df$ps,
             ratio = {ratio}, replace = {r_replace}, m.order = "largest")
if ({r_caliper}) args$caliper <- {caliper_value}
if ({r_exact}) args$exact <- ~ sex + ageband
t <- system.time(m <- do.call(matchit, args))[["elapsed"]]
mm <- m$match.matrix
write.csv(data.frame(treated = rep(as.integer(rownames(mm)), ncol(mm)), control = as.integer(c(mm))),
          "{pairs}", row.names = FALSE)
cat(sprintf('{{"matchit_s": %f, "matched_treated": %d, "matched_controls": %d}}\\n', t,
            sum(m$weights > 0 & m$treat == 1), sum(m$weights > 0 & m$treat == 0)))
"""


def regimes(size: str) -> list[dict]:
    if size == "seoul":
        return [{"overlap": "poor", "caliper": 0.2, "ratio": 10, "replace": False, "exact": False}]
    base = [{"overlap": o, "caliper": c, "ratio": r, "replace": False, "exact": False}
            for o in ("good", "poor") for c in (None, 0.2) for r in (1, 10)]
    return base + [{"overlap": "poor", "caliper": 0.2, "ratio": 1, "replace": True, "exact": False},
                   {"overlap": "poor", "caliper": 0.2, "ratio": 1, "replace": False, "exact": True}]


def _key(reg: dict) -> tuple:
    return tuple(reg[k] for k in ("overlap", "caliper", "ratio", "replace", "exact"))


def _data(size: str, overlap: str) -> Path:
    n, share = SIZES[size]
    path = WORK / f"matchit_{size}_{overlap}.parquet"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-c", GEN.format(n=n, share=share, poor=overlap == "poor", path=path)],
                       check=True, cwd=ROOT)
    return path


def matchit_version() -> str | None:
    if shutil.which("Rscript") is None:
        return None
    r = subprocess.run(["Rscript", "-e", 'cat(as.character(packageVersion("MatchIt")))'], capture_output=True,
                       text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def _ours(path: Path, reg: dict, pairs: Path | None) -> dict:
    code = OURS.format(path=path, ratio=reg["ratio"], caliper=reg["caliper"], replace=reg["replace"],
                       exact='["sex", "ageband"]' if reg["exact"] else None, save_pairs=pairs is not None,
                       pairs=pairs)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if r.returncode:
        raise RuntimeError(r.stderr.strip().splitlines()[-1])
    return json.loads(r.stdout.strip().splitlines()[-1])


def _matchit(path: Path, reg: dict, pairs: Path, timeout: float) -> dict | None:
    csv = path.with_suffix(".csv")  # R reads the same rows (the score written at full precision)
    if not csv.exists():
        import pandas as pd

        pd.read_parquet(path).to_csv(csv, index=False, float_format="%.17g")
    code = R_SCRIPT.format(path=csv, ratio=reg["ratio"], r_replace="TRUE" if reg["replace"] else "FALSE",
                           r_caliper="TRUE" if reg["caliper"] else "FALSE", caliper_value=reg["caliper"] or 0,
                           r_exact="TRUE" if reg["exact"] else "FALSE", pairs=pairs)
    try:
        r = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode:
        raise RuntimeError(r.stderr.strip().splitlines()[-1])
    return json.loads(r.stdout.strip().splitlines()[-1])


def _same_pairs(ours: Path, theirs: Path) -> tuple[float, bool]:
    """Share of MatchIt's (treated, control) pairs that ours has too, and whether the two sets of pairs are
    identical (row numbers, 1-based in R)."""
    import pandas as pd

    a = pd.read_csv(ours)
    b = pd.read_csv(theirs).dropna()
    keys_a = set(zip(a.treated, a.control, strict=True))
    keys_b = set(zip(b.treated - 1, b.control - 1, strict=True))
    return len(keys_a & keys_b) / max(len(keys_b), 1), keys_a == keys_b


def main(sizes: list[str], repeats: int, timeout: float, overlap: str | None = None, ratio: int | None = None,
         results_path: Path = RESULTS, replace: bool | None = None) -> dict:
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    version = matchit_version()
    compare = version == "4.7.2"
    results["matchit_version"] = version or "not installed"
    for size in sizes:
        rows = []
        for reg in (r for r in regimes(size) if overlap in (None, r["overlap"]) and ratio in (None, r["ratio"])
                    and replace in (None, r["replace"])):
            path = _data(size, reg["overlap"])
            runs = [_ours(path, reg, None) for _ in range(repeats)]
            row = {**reg, "n": SIZES[size][0],
                   "ours_cold_s": statistics.median(r["cold_s"] for r in runs),
                   "ours_warm_s": statistics.median(r["warm_s"] for r in runs),
                   "matched_treated": runs[0]["matched_treated"], "matched_controls": runs[0]["matched_controls"]}
            row["matchit_s"] = None
            if compare:
                row["matchit_timeout_s"] = timeout
                theirs = [_matchit(path, reg, WORK / "pairs_matchit.csv", timeout)]
                while theirs[-1] is not None and theirs[-1]["matchit_s"] < 60 and len(theirs) < repeats:
                    theirs.append(_matchit(path, reg, WORK / "pairs_matchit.csv", timeout))
                row["matchit_runs"] = len(theirs)
                if theirs[-1] is not None:
                    row["matchit_s"] = statistics.median(t["matchit_s"] for t in theirs)
                    row["matchit_matched"] = [theirs[0]["matched_treated"], theirs[0]["matched_controls"]]
                    _ours(path, reg, WORK / "pairs_ours.csv")
                    row["same_pairs"], row["identical"] = _same_pairs(WORK / "pairs_ours.csv",
                                                                      WORK / "pairs_matchit.csv")
            rows.append(row)
            print(size, json.dumps(row), flush=True)
        # a rerun of some regimes (--overlap, --ratio) replaces their rows and keeps the others
        new = {_key(r): r for r in rows}
        kept = {_key(r): r for r in results.get(size, []) if _key(r) not in new}
        results[size] = [{**kept, **new}[_key(r)] for r in regimes(size) if _key(r) in kept | new]
        results_path.write_text(json.dumps(results, indent=1) + "\n")
    write_markdown(results, results_path.with_suffix(".md"))
    return results


def _s(x) -> str:
    return "not run" if x is None else f"{x:.3g}"


def _theirs(r: dict) -> str:
    if r.get("matchit_runs") and r.get("matchit_s") is None:
        return f"did not finish in {r['matchit_timeout_s']:.0f}"
    return _s(r.get("matchit_s")) + (f" ({r['matchit_runs']})" if r.get("matchit_runs", 0) > 1 else "")


def _ratio(theirs, ours) -> str:
    return "-" if theirs is None else f"{theirs / ours:,.1f}x"


def write_markdown(results: dict, path: Path) -> None:
    lines = ["# Matching beside MatchIt (`benchmarks/bench_matchit.py`)", "",
             f"MatchIt on this machine: {results.get('matchit_version')} (compared only with 4.7.2). Match step "
             "only, same data and score vector; seconds, median of fresh processes (MatchIt: the number of "
             "runs in brackets where more than one). Cold: ours as the first call in a fresh process (numba's "
             "compiled-kernel cache load included); warm: a second call. Same pairs: the share of MatchIt's "
             "(treated, control) pairs ours has; identical: both sets of pairs equal.", "",
             "| n | overlap | caliper | ratio | replace | exact | matched treated / controls | ours cold | "
             "ours warm | MatchIt 4.7.2 | MatchIt / cold | MatchIt / warm | same pairs | identical |",
             "|---:|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for size, rows in results.items():
        if size == "matchit_version":
            continue
        for r in rows:
            same = "-" if r.get("same_pairs") is None else f"{r['same_pairs']:.4f}"
            identical = "-" if r.get("identical") is None else ("yes" if r["identical"] else "**no**")
            lines.append(
                f"| {r['n']:,} | {r['overlap']} | {r['caliper'] or 'none'} | {r['ratio']} | {r['replace']} | "
                f"{'sex x age band' if r['exact'] else 'none'} | {r['matched_treated']:,} / "
                f"{r['matched_controls']:,} | {_s(r['ours_cold_s'])} | {_s(r['ours_warm_s'])} | "
                f"{_theirs(r)} | {_ratio(r.get('matchit_s'), r['ours_cold_s'])} | "
                f"{_ratio(r.get('matchit_s'), r['ours_warm_s'])} | {same} | {identical} |")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=["100k", "1M", "seoul"], choices=list(SIZES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--matchit-timeout", type=float, default=1800.0)
    ap.add_argument("--overlap", choices=["good", "poor"], help="only the regimes of this overlap")
    ap.add_argument("--ratio", type=int, choices=[1, 10], help="only the regimes of this ratio")
    ap.add_argument("--replace", action="store_true", default=None, help="only the regimes with replacement")
    ap.add_argument("--results", type=Path, default=RESULTS, help="results file (.json; the .md beside it)")
    args = ap.parse_args()
    main(args.sizes, args.repeats, args.matchit_timeout, args.overlap, args.ratio, args.results, args.replace)
