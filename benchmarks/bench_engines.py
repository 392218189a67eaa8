"""The claim-level work on each engine (issue 15): the claims, diagnoses and prescriptions of a linked extract
become person-year outcomes by the numpy reference (``analysis.phenotypes.person_years``), by DuckDB and by
Spark in local mode (``analysis.panel.engine``), side by side in one run, and the three tables compared.

Each engine runs in its own process over every chunk of ``--chunk-persons`` persons (as the panel build
does): wall time of the whole process, seconds in the person-year step alone (reading and validating the
chunks is the same for all), and the process's peak resident memory (``os.wait4``; Spark's JVM is a
process of its own, bounded by its driver memory, and not in that figure). Results go to
``benchmarks/results_engines.json`` and ``.md``, which the README quotes.

Usage: ``python benchmarks/bench_engines.py [--linked DIR | --scale 0.025] [--engines numpy duckdb spark]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_benchmarks import ROOT, _measure  # noqa: E402

OUT = ROOT / "benchmarks" / "results_engines"


def one(engine_name: str, linked: Path, chunk_persons: int, out: Path, memory_gb: float) -> None:
    """In the child: person-years of every chunk on one engine, written to ``out``; prints the step's seconds."""
    warnings.simplefilter("ignore")
    from analysis.panel.build import LinkedExtract
    from analysis.panel.engine import make_engine, person_years
    from analysis.panel.schema import validate
    from analysis.phenotypes import load
    from analysis.phenotypes import person_years as reference

    defs = load()
    if engine_name.endswith("-files"):  # the engine reads the extract's files itself, in one query
        from analysis.panel.engine import person_years_from_extract

        engine = make_engine(engine_name.removesuffix("-files"), memory_limit_gb=memory_gb)
        t0 = time.perf_counter()
        py, ex = person_years_from_extract(engine, defs, linked)
        step = time.perf_counter() - t0
        py.to_parquet(out)
        print(json.dumps({"step_s": round(step, 1), "chunks": 1, "excluded": ex["claims_rows_without_qualification"]}))
        return
    extract = LinkedExtract(linked, chunk_persons)
    engine = None if engine_name == "numpy" else make_engine(engine_name, memory_limit_gb=memory_gb)
    step, frames, excluded = 0.0, [], 0
    for k in range(extract.n_chunks):
        t = validate(extract.read(k))
        args = (t["qualification"], t["claims"], t["diagnoses"], t["prescriptions"])
        t0 = time.perf_counter()
        py, ex = reference(defs, *args) if engine is None else person_years(engine, defs, *args)
        step += time.perf_counter() - t0
        frames.append(py)
        excluded += ex["claims_rows_without_qualification"]
    pd.concat(frames, ignore_index=True).to_parquet(out)
    print(json.dumps({"step_s": round(step, 1), "chunks": extract.n_chunks, "excluded": excluded}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--linked", type=Path, help="a linked extract (the folder of the tables); else one is made")
    ap.add_argument("--scale", type=float, default=0.025)
    ap.add_argument("--chunk-persons", type=int, default=100_000)
    ap.add_argument("--engines", nargs="+", default=["numpy", "duckdb", "spark", "duckdb-files", "spark-files"],
                    help="numpy (the reference), duckdb, spark: chunk by chunk as the panel build; "
                         "duckdb-files, spark-files: the engine reads the extract's Parquet files in one query")
    ap.add_argument("--memory-gb", type=float, default=4.0)
    ap.add_argument("--spark-chunk-persons", type=int, default=25_000,
                    help="Spark in local mode holds a chunk's tables in its driver: smaller chunks")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        one(args.one, args.linked, args.chunk_persons, args.out, args.memory_gb)
        return
    with tempfile.TemporaryDirectory(prefix="bench_engines_") as tmp:
        tmp = Path(tmp)
        linked = args.linked
        if linked is None:
            py = sys.executable
            _measure([py, "-m", "analysis", "synth", "--scale", str(args.scale), "--out", str(tmp / "world"), "--quiet"])
            _measure([py, "-m", "analysis", "link", "--world", str(tmp / "world"), "--out", str(tmp / "link"), "--quiet"])
            linked = tmp / "link" / "linked"
        claims = pd.read_parquet(linked / "claims.parquet", columns=["KEY_SEQ"]).shape[0]
        results = {"linked": str(linked) if args.linked else f"default world, scale {args.scale}", "claims": claims,
                   "chunk_persons": args.chunk_persons, "memory_limit_gb": args.memory_gb, "engines": {}}
        tables = {}
        for name in args.engines:
            out = tmp / f"{name}.parquet"
            chunk = {"spark": args.spark_chunk_persons, "duckdb-files": None, "spark-files": None}.get(name, args.chunk_persons)
            try:
                r = _measure([sys.executable, __file__, "--one", name, "--linked", str(linked), "--out", str(out),
                              "--chunk-persons", str(chunk or args.chunk_persons), "--memory-gb", str(args.memory_gb)])
            except RuntimeError as exc:
                results["engines"][name] = {"failed": str(exc).splitlines()[-1][:300], "chunk_persons": chunk}
                print(name, results["engines"][name], flush=True)
                continue
            r.update(json.loads(r.pop("stdout").splitlines()[-1]), chunk_persons=chunk)
            # in (person, year) order: the chunked paths keep the extract's order, the files paths sort
            tables[name] = pd.read_parquet(out).sort_values(["STUDY_ID", "STND_Y"], kind="stable").reset_index(drop=True)
            first = next(iter(tables))
            try:
                pd.testing.assert_frame_equal(tables[name], tables[first])
                r["identical_to"] = first
            except AssertionError as exc:
                r["differs_from"] = f"{first}: {str(exc).splitlines()[0]}"
            results["engines"][name] = r
            print(name, r, flush=True)
    OUT.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    lines = ["# Person-year outcomes from the claims, by engine (issue 15)", "",
             f"`benchmarks/bench_engines.py`: {results['linked']}, {claims:,} claims; each engine in its own "
             f"process, one after the other; memory limit {args.memory_gb} GB.", "",
             "| engine | persons per chunk | process wall (s) | person-year step (s) | peak RSS (GB) | same table as |",
             "|---|---:|---:|---:|---:|---|"]
    for name, r in results["engines"].items():
        if "failed" in r:
            lines.append(f"| {name} | {r['chunk_persons'] or 'whole extract'} | failed: {r['failed']} | | | |")
            continue
        per = f"{r['chunk_persons']:,}" if r["chunk_persons"] else "whole extract"
        lines.append(f"| {name} | {per} | {r['wall_s']} | {r['step_s']} | {r['peak_rss_gb']} | "
                     f"{r.get('identical_to', 'DIFFERS: ' + r.get('differs_from', ''))} |")
    lines += ["", "Spark's JVM (driver memory = the memory limit) is a process of its own, not in its peak RSS."]
    OUT.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
