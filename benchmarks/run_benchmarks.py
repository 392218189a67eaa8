"""Wall time and peak memory of the pipeline steps at 0.025, 0.25 and 1.0 x Seoul.

Each step runs in its own process (``python -m analysis ...``) so that its peak resident memory is its own
(read with ``os.wait4``). Results go to ``benchmarks/results.json`` and ``benchmarks/results.md``, which the
README quotes. Usage: ``python benchmarks/run_benchmarks.py [--scales 0.025 0.25 1.0] [--steps synth link]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work"
RESULTS = ROOT / "benchmarks" / "results.json"


def _measure(cmd: list[str], timeout: float | None = None, cwd: Path = ROOT) -> dict:
    """Run ``cmd`` in its own process: wall time and that process's peak resident memory (``os.wait4``).

    With ``timeout`` a process still running then is killed and reported as ``{"timeout": seconds}``."""
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if timeout is not None and time.perf_counter() - t0 > timeout:
                proc.kill()
                os.wait4(proc.pid, 0)
                return {"timeout": timeout}
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        out.seek(0)
        text = out.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{text[-3000:]}")
    return {
        "wall_s": round(wall, 1),
        "peak_rss_gb": round(usage.ru_maxrss / 1024**2, 2),
        "stdout": text.strip(),
    }


def run(scales: list[float], steps: list[str]) -> dict:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": {}}
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    py = sys.executable
    for scale in scales:
        world = WORK / f"world_{scale}"
        linked = WORK / f"linked_{scale}"
        entry = results["runs"].setdefault(str(scale), {})
        if "synth" in steps:
            shutil.rmtree(world, ignore_errors=True)
            r = _measure(
                [py, "-m", "analysis", "synth", "--scale", str(scale), "--out", str(world), "--quiet"]
            )
            r["persons"] = json.loads((world / "manifest.json").read_text())["persons"]
            r["disk_gb"] = round(sum(p.stat().st_size for p in world.rglob("*") if p.is_file()) / 1024**3, 2)
            entry["synth"] = r
            print(f"synth {scale}: {r['wall_s']} s, {r['peak_rss_gb']} GB", flush=True)
        if "link" in steps:
            shutil.rmtree(linked, ignore_errors=True)
            r = _measure(
                [py, "-m", "analysis", "link", "--world", str(world), "--out", str(linked), "--quiet"]
            )
            rep = json.loads((linked / "linkage_report.json").read_text())
            r["match_rate"] = rep["match_rate"]
            entry["link"] = r
            print(f"link {scale}: {r['wall_s']} s, {r['peak_rss_gb']} GB", flush=True)
        # the calibration report reads whole tables with pandas: kept to scales whose tables fit in memory
        if "calibration" in steps and scale <= 0.25:
            code = (
                "import json,sys; from analysis.synth.calibration import calibration_report; "
                f"print(json.dumps(calibration_report({str(world)!r})))"
            )
            r = _measure([py, "-c", code])
            entry["calibration"] = json.loads(r.pop("stdout").splitlines()[-1])
            entry["calibration_timing"] = r
            print(f"calibration {scale}: done", flush=True)
        RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    if "seeds" in steps:
        results["published_design_seeds"] = seeds_check()
        RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    write_markdown(results)
    return results


def seeds_check(scale: float = 0.1, seeds: tuple[int, ...] = (1, 2, 3, 4)) -> dict:
    """The city's design on independent default worlds: its mean over seeds vs the headline and the truth."""
    rows = []
    for seed in seeds:
        world = WORK / f"seed_{seed}"
        shutil.rmtree(world, ignore_errors=True)
        _measure(
            [
                sys.executable,
                "-m",
                "analysis",
                "synth",
                "--scale",
                str(scale),
                "--seed",
                str(seed),
                "--out",
                str(world),
                "--quiet",
            ]
        )
        code = (
            "import json; from analysis.synth.calibration import calibration_report; "
            f"print(json.dumps(calibration_report({str(world)!r})))"
        )
        c = json.loads(_measure([sys.executable, "-c", code])["stdout"].splitlines()[-1])
        rows.append(
            {
                k: c[k]
                for k in (
                    "published_design_did",
                    "published_design_se",
                    "published_design_true_att",
                    "active_vs_inactive_gap",
                )
            }
            | {"seed": seed}
        )
        shutil.rmtree(world, ignore_errors=True)
        print(f"seed {seed}: {rows[-1]}", flush=True)
    est = [r["published_design_did"] for r in rows]
    return {
        "scale": scale,
        "rows": rows,
        "mean": sum(est) / len(est),
        "se_of_mean": (sum(r["published_design_se"] ** 2 for r in rows) ** 0.5) / len(rows),
        "true_mean": sum(r["published_design_true_att"] for r in rows) / len(rows),
    }


def write_markdown(results: dict) -> None:
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {results['machine']['cpus']} cores, Python {results['machine']['python']}, "
        f"{results['machine']['platform']}. Each step is a separate process; peak = max resident set size.",
        "",
        "| scale | persons | synth wall (s) | synth peak (GB) | world on disk (GB) | link wall (s) | link peak (GB) | match rate |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scale, e in sorted(results["runs"].items(), key=lambda kv: float(kv[0])):
        s, lk = e.get("synth", {}), e.get("link", {})
        lines.append(
            f"| {scale} | {s.get('persons', 0):,} | {s.get('wall_s', '-')} | {s.get('peak_rss_gb', '-')} | "
            f"{s.get('disk_gb', '-')} | {lk.get('wall_s', '-')} | {lk.get('peak_rss_gb', '-')} | "
            f"{lk.get('match_rate', float('nan')):.2%} |"
        )
    calib = {k: v["calibration"] for k, v in results["runs"].items() if "calibration" in v}
    if calib:
        lines += [
            "",
            "## The city's published design on the synthetic world (default scenario)",
            "",
            "| scale | 2022 joiners | estimate (KRW) | SE | true effect, same people | true / -45,345 | active - inactive |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for scale, c in sorted(calib.items(), key=lambda kv: float(kv[0])):
            lines.append(
                f"| {scale} | {c['published_design_treated']:,} | {c['published_design_did']:,.0f} | "
                f"{c['published_design_se']:,.0f} | {c['published_design_true_att']:,.0f} | "
                f"{c['published_design_true_att'] / -45345:.2f} | {c['active_vs_inactive_gap']:,.0f} |"
            )
    sd = results.get("published_design_seeds")
    if sd:
        seeds = ", ".join(str(r["seed"]) for r in sd["rows"])
        ests = ", ".join(f"{r['published_design_did']:,.0f}" for r in sd["rows"])
        lines += [
            "",
            f"Over {len(sd['rows'])} independent default worlds at scale {sd['scale']} (seeds {seeds}): the city's "
            f"design gives {ests} KRW, mean {sd['mean']:,.0f} (SE {sd['se_of_mean']:,.0f}) against the published "
            f"-45,345; the true effect for the same people averages {sd['true_mean']:,.0f} "
            f"({sd['true_mean'] / -45345:.2f} of the headline).",
        ]
    (ROOT / "benchmarks" / "results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", nargs="+", type=float, default=[0.025, 0.25, 1.0])
    ap.add_argument("--steps", nargs="+", default=["synth", "link", "calibration", "seeds"])
    args = ap.parse_args()
    run(args.scales, args.steps)
