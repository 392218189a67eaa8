"""Command line: ``python -m analysis {synth,link,panel,run}`` (also the ``wristdoctor`` script)."""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
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
        args.out, scale=w.scale, seed=w.seed, scenario=w.scenario, progress=not args.quiet
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
        args.linked, args.out, cfg.panel, progress=not args.quiet, return_panel=False
    )
    print(
        f"panel: {report['rows']:,} person-years of {report['persons']:,} persons -> {args.out}/panel.parquet"
    )
    print(f"  cohorts (first_treat: persons): {report['cohorts']}")


def cmd_run(args: argparse.Namespace) -> None:
    """The main job: synthetic world -> linkage -> panel -> matching -> DiD -> refutation."""
    from analysis.linkage import link_world, load_secret
    from analysis.panel import build_panel_from_dir
    from analysis.synth import generate_world
    from analysis.synth.calibration import calibration_report

    cfg = _config(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    w = cfg.world
    t0 = time.perf_counter()
    print(f"run: scenario {w.scenario!r}, scale {w.scale}, seed {w.seed} -> {out}")
    generate_world(out / "world", scale=w.scale, seed=w.seed, scenario=w.scenario, progress=not args.quiet)
    secret = load_secret(cfg.linkage.secret_env, cfg.linkage.secret_file, synthetic_seed=w.seed)
    link = link_world(
        out / "world", out / "linkage", cfg.linkage, secret, seed=w.seed, progress=not args.quiet
    )
    _, panel_report = build_panel_from_dir(
        out / "linkage" / "linked", out / "panel", cfg.panel, progress=not args.quiet, return_panel=False
    )
    _match_step(cfg, out)
    _did_step(cfg, out, truth_dir=out / "linkage" / "truth", progress=not args.quiet)
    _refute_step(cfg, out, truth_dir=out / "linkage" / "truth", progress=not args.quiet)
    calib = calibration_report(out / "world")
    (out / "calibration.json").write_text(json.dumps(calib, indent=2, sort_keys=True) + "\n")
    print(
        f"  linkage: match rate {link.report['match_rate']:.2%}; panel: {panel_report['rows']:,} person-years"
    )
    print(
        f"  calibration: participants {calib['participants_female']:.1%} female; attendance when due "
        f"{calib['attendance_when_due']:.1%}; city design on this world {calib['published_design_did']:,.0f} KRW "
        f"(SE {calib['published_design_se']:,.0f}) vs true effect {calib['published_design_true_att']:,.0f}"
    )
    print(f"run: done in {time.perf_counter() - t0:.0f} s")


def _match_step(cfg: StudyConfig, out: Path) -> None:
    """Matching per the plan: the city's published design and risk-set matching of every cohort; balance
    tables (CSV), Love and overlap plots, the stacked matched data, and a printed balance verdict."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from analysis.matching.plots import love_plot, overlap_plot
    from analysis.matching.riskset import published_design, riskset_match

    mc = cfg.matching
    panel = pd.read_parquet(out / "panel" / "panel.parquet")
    mdir = out / "matching"
    mdir.mkdir(exist_ok=True)
    published = published_design(panel, ratio=mc.ratio)
    stacked = riskset_match(
        panel,
        ratio=mc.ratio,
        caliper=mc.caliper,
        std_caliper=mc.std_caliper,
        replace=mc.replace,
        m_order=mc.m_order,
        distance=mc.distance,
    )
    report = {"published_design": published.report, "riskset": stacked.report}
    for name, res in [("published", published.matches[2022])] + [
        (f"cohort_{g}", m) for g, m in stacked.matches.items()
    ]:
        s = res.summary()
        table = pd.concat({"all": s.sum_all, "matched": s.sum_matched}, names=["sample", "covariate"])
        table.to_csv(mdir / f"balance_{name}.csv", float_format="%.6g")
        s.nn.to_csv(mdir / f"sample_sizes_{name}.csv")
        for kind, fig in (
            ("love", love_plot(s, title=f"Balance: {name}")),
            ("overlap", overlap_plot(res, title=f"Overlap: {name}")),
        ):
            fig.savefig(mdir / f"{kind}_{name}.png", dpi=120)
            plt.close(fig)
    verdict = stacked.balance_verdict()
    verdict.to_csv(mdir / "balance_verdict.csv", float_format="%.4f")
    stacked.data.to_parquet(mdir / "stacked.parquet", index=False)
    published.data.to_parquet(mdir / "published.parquet", index=False)
    (mdir / "matching_report.json").write_text(
        json.dumps(report, indent=2, sort_keys=True, default=str) + "\n"
    )
    pub = published.matches[2022].summary().max_abs_smd()
    print(f"  matching: published design 1:{mc.ratio}, max |SMD| after {pub:.3f}; risk-set, by cohort:")
    for g, r in verdict.iterrows():
        flag = "ok" if r.max_abs_smd_after < 0.1 else "IMBALANCED"
        print(
            f"    {g}: {int(r.treated_matched):,}/{int(r.treated):,} enrollees matched to "
            f"{int(r.controls_matched):,} controls; max |SMD| {r.max_abs_smd_before:.3f} -> "
            f"{r.max_abs_smd_after:.3f} ({flag})"
        )


def _did_step(cfg: StudyConfig, out: Path, truth_dir: Path, progress: bool) -> None:
    """Every outcome by every DiD design (``estimates.csv`` and ``estimates.json``); on synthetic data the
    exact sample truth sits beside each estimate."""
    import pandas as pd

    from analysis.did.outcomes import estimate_all, read_truth

    panel = pd.read_parquet(out / "panel" / "panel.parquet")
    stacked = pd.read_parquet(out / "matching" / "stacked.parquet")
    published = pd.read_parquet(out / "matching" / "published.parquet")
    truth = read_truth(truth_dir)
    est, exclusions = estimate_all(panel, cfg, stacked=stacked, published=published, truth=truth,
                                   progress=progress)
    est.to_csv(out / "estimates.csv", index=False, float_format="%.10g")
    payload = {"estimates": json.loads(est.to_json(orient="records", double_precision=10)),
               "exclusions": exclusions}
    (out / "estimates.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
    head = est[(est.outcome == cfg.outcomes.primary) & est.aggregation.isin(["2x2", "simple", "overall", "static"])
               & est.term.isin(["ATT", "overall"])]
    print(f"  did: {cfg.outcomes.primary}, estimate (95% CI) vs truth:")
    for _, r in head.iterrows():
        print(f"    {r.design:18s} {r.estimate:12,.0f} ({r.conf_low:,.0f} to {r.conf_high:,.0f})  truth "
              f"{r.truth:,.0f}")


def _refute_step(cfg: StudyConfig, out: Path, truth_dir: Path, progress: bool) -> None:
    """The refutation suite (``refutation.json``: pre-trend tests, placebo in time, negative control,
    Rambachan-Roth bounds, E-value, for the published and the Callaway-Sant'Anna designs)."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from analysis.causal.graph import plot_graph
    from analysis.causal.plots import plot_sensitivity
    from analysis.causal.refutation import refutation_checks
    from analysis.did import aggte, att_gt
    from analysis.did.outcomes import read_truth

    t0 = time.perf_counter()
    panel = pd.read_parquet(out / "panel" / "panel.parquet")
    published = pd.read_parquet(out / "matching" / "published.parquet")
    checks = refutation_checks(panel, cfg, published, read_truth(truth_dir), progress=progress)
    (out / "refutation.json").write_text(json.dumps(checks, indent=1) + "\n")
    rdir = out / "refutation"
    rdir.mkdir(exist_ok=True)
    plt.close(plot_sensitivity(checks, rdir / "sensitivity_relative_magnitudes.png"))
    plot_graph(rdir / "causal_graph")
    # the plan's event study with its uniform band (multiplier bootstrap), the picture the pre-test summarises
    dc = cfg.did
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        es = att_gt(panel, cfg.outcomes.primary, "year", "study_id", "first_treat", dc.xformla,
                    control_group=dc.control_group, est_method=dc.est_method, anticipation=dc.anticipation,
                    base_period="universal", biters=dc.biters, alp=dc.alp, seed=dc.seed, table="panel")
    fig = aggte(es, "dynamic", na_rm=True).plot()
    fig.savefig(rdir / "event_study_uniform_band.png", dpi=120)
    plt.close(fig)
    print(f"  refutation: {sum(c['passed'] for c in checks)} of {len(checks)} checks passed "
          f"({time.perf_counter() - t0:.0f} s)")
    for c in checks:
        print(f"    {c['design']:24s} {c['name']:32s} {'passed' if c['passed'] else 'FAILED'}")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, world: bool = True) -> None:
        p.add_argument("--config", default=None, help="study plan (default: study.toml at the project root)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
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
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ConfigError as exc:
        print(f"error in the study plan: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
