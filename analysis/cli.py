"""Command line: ``python -m analysis {synth,link,panel,run,notebooks,report}`` (also the ``wristdoctor`` script)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from analysis.config import ConfigError, StudyConfig, load_config


def _config(args: argparse.Namespace) -> StudyConfig:
    cfg = load_config(args.config)
    return cfg.with_world(
        scenario=getattr(args, "scenario", None),
        scale=getattr(args, "scale", None),
        seed=getattr(args, "seed", None),
    )


def cmd_synth(args: argparse.Namespace) -> None:
    from analysis.synth import generate_world

    w = _config(args).world
    manifest = generate_world(
        args.out, scale=w.scale, seed=w.seed, scenario=w.scenario, params=w.params, progress=not args.quiet
    )
    rows = {k: v["rows"] for k, v in manifest["files"].items()}
    print(f"synth: {manifest['persons']:,} persons, scenario {w.scenario!r}, seed {w.seed} -> {args.out}")
    for k, v in rows.items():
        print(f"  {k:32s} {v:>12,} rows")


def _synthetic_seed(world: str | Path) -> int | None:
    """The seed of a synthetic world (its manifest says so); None for real holders' files."""
    manifest = Path(world) / "manifest.json"
    if manifest.exists():
        meta = json.loads(manifest.read_text())
        if meta.get("generator") == "analysis.synth":
            return int(meta["seed"])
    return None


def cmd_link(args: argparse.Namespace) -> None:
    from analysis.linkage import link_world, load_secret

    cfg = _config(args)
    secret = load_secret(
        cfg.linkage.secret_env, cfg.linkage.secret_file, synthetic_seed=_synthetic_seed(args.world)
    )
    if secret.source == "synthetic-default":
        print(
            f"link: no secret in ${cfg.linkage.secret_env} or linkage.secret_file; this synthetic world uses "
            "its public default secret",
            file=sys.stderr,
        )
    res = link_world(args.world, args.out, cfg.linkage, secret, seed=cfg.world.seed, progress=not args.quiet)
    r = res.report
    print(f"link: {r['program_records']:,} program records, match rate {r['match_rate']:.2%} -> {args.out}")
    print("  " + ", ".join(f"{k} {v:,}" for k, v in r["status_counts"].items()))


def cmd_panel(args: argparse.Namespace) -> None:
    from analysis.panel import build_panel_from_dir

    cfg = _config(args)
    _, report = build_panel_from_dir(
        args.linked, args.out, cfg.panel, progress=not args.quiet, return_panel=False, engine=cfg.engine
    )
    print(
        f"panel: {report['rows']:,} person-years of {report['persons']:,} persons -> {args.out}/panel.parquet"
    )
    print(f"  cohorts (first_treat: persons): {report['cohorts']}")


def cmd_run(args: argparse.Namespace) -> None:
    """The main job: synthetic world -> linkage -> panel -> matching -> DiD -> refutation -> heterogeneity."""
    from analysis.pipeline import run_pipeline

    run_pipeline(_config(args), args.out, progress=not args.quiet)


def cmd_notebooks(args: argparse.Namespace) -> None:
    """Execute the numbered notebooks with papermill on a run (figures to ``--figures``)."""
    from analysis.report.notebooks import execute_notebooks

    cfg = _config(args)
    w = cfg.world
    params = {"scenario": w.scenario, "scale": w.scale, "seed": w.seed, "plan": str(args.config or ""),
              "run_dir": str(Path(args.run).resolve()), "figures_dir": str(Path(args.figures).resolve())}
    out = args.out or Path(args.run) / "notebooks"
    jobs = args.jobs if args.jobs is not None else min(2, os.cpu_count() or 1)
    if jobs > 1:
        from analysis.pipeline import is_done

        if not is_done(cfg, args.run):  # the first notebook computes the run: the others must wait for it
            jobs = 1
    print(f"notebooks: {args.run} -> {out}" + (f" ({jobs} at a time)" if jobs > 1 else ""), flush=True)
    execute_notebooks(out, params, progress=True, jobs=jobs)


def cmd_report(args: argparse.Namespace) -> None:
    """The report stage on a finished run: release review, figures, estimates, Korean and English reports."""
    from analysis.report.render import build_report

    build_report(args.run, _config(args), figures_dir=args.figures, reports_dir=args.reports,
                 pdf=not args.no_pdf)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, world: bool = True) -> None:
        p.add_argument("--config", default=None, help="study plan (default: study.toml at the project root)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument("--debug", action="store_true", help="on an error, the Python traceback too")
        if world:
            p.add_argument("--scenario", choices=["default", "null", "no-selection"], default=None)
            p.add_argument("--scale", type=float, default=None, help="1.0 = all of Seoul (~8.2M adults)")
            p.add_argument("--seed", type=int, default=None)

    p = sub.add_parser("synth", help="generate the synthetic linked world")
    common(p)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_synth)
    p = sub.add_parser("link", help="pseudonymised linkage of a world's program and NHIS records")
    common(p, world=False)
    p.add_argument("--seed", type=int, default=None, help="seed of the study ids (default: the plan's)")
    p.add_argument("--world", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_link)
    p = sub.add_parser("panel", help="build the analysis panel from a linked extract")
    common(p, world=False)
    p.add_argument("--linked", required=True, help="folder of the linked tables")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_panel)
    p = sub.add_parser("run", help="the main job, end to end")
    common(p)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("notebooks", help="execute the notebooks (papermill) on a finished run")
    common(p)
    p.add_argument("--run", required=True, help="the run folder (`run --out`)")
    p.add_argument("--out", default=None, help="where the executed notebooks go (default RUN/notebooks: they show "
                   "unreviewed tables, so they stay in the closed room with the run)")
    p.add_argument("--figures", default="figures", help="where the notebooks' figures go")
    p.add_argument("--jobs", type=int, default=None, help="notebooks executed at a time, each in its own kernel "
                   "(default: 2, or 1 on a single core; always 1 when the run is not finished yet)")
    p.set_defaults(func=cmd_notebooks)
    p = sub.add_parser("report", help="figures, estimates and the rendered reports of a finished run")
    common(p)
    p.add_argument("--run", required=True, help="the run folder (`run --out`)")
    p.add_argument("--figures", default="figures", help="where the figures and estimates.csv go")
    p.add_argument("--reports", default="reports", help="where the reports and release manifest go")
    p.add_argument("--no-pdf", action="store_true", help="HTML only (no headless-Chromium PDF)")
    p.set_defaults(func=cmd_report)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run one command; an error is one line on stderr (exit 2 for bad input, 1 for anything the package did
    not expect), the traceback only with ``--debug``."""
    from analysis.errors import StudyError

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except BrokenPipeError:  # the output was piped into a reader that stopped (`| head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print(f"{args.command}: interrupted; the run folder is incomplete (rerun the command)", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        stage = getattr(exc, "stage", None)
        where = f"{args.command}" + (f", {stage} stage" if stage and stage != args.command else "")
        message = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, ConfigError):
            print(f"error in the study plan: {message}", file=sys.stderr)
            return 2
        # each stage's own errors already say what and where: one line for the user, not a traceback
        if isinstance(exc, StudyError | FileNotFoundError):
            print(f"error ({where}): {message}", file=sys.stderr)
            return 2
        print(f"error ({where}): unexpected {type(exc).__name__}: {message}. The package does not check for "
              "this input, or has a bug: rerun with --debug for the traceback and report it", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
