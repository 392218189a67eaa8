"""The main job, stage by stage: synthetic world -> linkage -> panel -> matching -> DiD -> refutation ->
heterogeneity. Each stage writes its results into the run folder (the closed room); the report stage
(``analysis.report``) reads them, passes every table and figure through the release review and renders.

A finished run leaves ``run.json`` with the plan's fingerprint, so ``analysis.report.Study`` can reuse a
run of the same plan, scenario, scale and seed instead of recomputing it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import time
import warnings
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from analysis.config import StudyConfig


def fingerprint(cfg: StudyConfig) -> str:
    """A hash of the whole plan (with the world's scenario, scale and seed) and of the outcome definitions it
    uses: equal plans, equal runs. Not the ``[engine]``: every engine gives the same panel."""
    from analysis.phenotypes import DEFAULT

    plan = dataclasses.asdict(cfg)
    del plan["engine"]
    text = json.dumps(plan, sort_keys=True, default=str)
    definitions = Path(cfg.panel.phenotypes or DEFAULT).read_bytes()
    return hashlib.sha256(text.encode() + definitions).hexdigest()[:16]


def is_done(cfg: StudyConfig, out: str | Path) -> bool:
    """Whether ``out`` holds a finished run of exactly this plan."""
    rec = Path(out) / "run.json"
    return rec.exists() and json.loads(rec.read_text()).get("fingerprint") == fingerprint(cfg)


def run_pipeline(cfg: StudyConfig, out: str | Path, progress: bool = True) -> dict:
    """Run every stage into ``out``; returns the run record (also written to ``out/run.json``)."""
    from analysis.did import set_cache_limit
    from analysis.did.memo import clear_caches, release_memory
    from analysis.linkage import link_world, load_secret
    from analysis.panel import build_panel_from_dir
    from analysis.synth import generate_world
    from analysis.synth.calibration import calibration_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "run.json").unlink(missing_ok=True)
    w = cfg.world
    set_cache_limit(cfg.engine.cache_limit_bytes)  # the plan's bound on what the estimators keep
    t0 = time.perf_counter()
    times: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(name: str, timed: bool = True):
        t = time.perf_counter()
        try:
            yield
        except Exception as exc:
            if getattr(exc, "stage", None) is None:  # the CLI names the stage that failed
                exc.stage = name
            raise
        if timed:
            times[name] = round(time.perf_counter() - t, 1)

    print(f"run: scenario {w.scenario!r}, scale {w.scale}, seed {w.seed} -> {out}", flush=True)
    if w.changed_knobs:
        print(f"  world knobs set on top of {w.scenario!r}: {w.changed_knobs}", flush=True)
    with stage("synth"):
        generate_world(out / "world", scale=w.scale, seed=w.seed, scenario=w.scenario, params=w.params,
                       progress=progress)
    with stage("linkage"):
        secret = load_secret(cfg.linkage.secret_env, cfg.linkage.secret_file, synthetic_seed=w.seed)
        link = link_world(out / "world", out / "linkage", cfg.linkage, secret, seed=w.seed, progress=progress)
    with stage("panel"):
        _, panel_report = build_panel_from_dir(
            out / "linkage" / "linked", out / "panel", cfg.panel, progress=progress, return_panel=False,
            engine=cfg.engine,
        )
    print(f"  linkage: match rate {link.report['match_rate']:.2%}; panel: {panel_report['rows']:,} person-years",
          flush=True)
    panel = pd.read_parquet(out / "panel" / "panel.parquet")
    cfg.did.check_panel(panel)
    truth_dir = out / "linkage" / "truth"
    with stage("matching"):
        match_step(cfg, out, panel, truth_dir, progress)
    with stage("did, refutation, heterogeneity", timed=False):  # it times its steps and their wall time
        times.update(_did_beside_refutation(cfg, out, panel, truth_dir, progress))
    # the estimation is done: its panel and caches go before the world's own tables are read (at 0.1 x Seoul
    # the two together were killed for memory on a 24 GB machine)
    del panel
    clear_caches()
    release_memory()
    with stage("calibration"):
        calib = calibration_report(out / "world")
        (out / "calibration.json").write_text(json.dumps(calib, indent=2, sort_keys=True) + "\n")
    print(
        f"  calibration: participants {calib['participants_female']:.1%} female; attendance when due "
        f"{calib['attendance_when_due']:.1%}; city design on this world {calib['published_design_did']:,.0f} KRW "
        f"(SE {calib['published_design_se']:,.0f}) vs true effect {calib['published_design_true_att']:,.0f}"
    )
    record = {"fingerprint": fingerprint(cfg), "scenario": w.scenario, "scale": w.scale, "seed": w.seed,
              "knobs": w.changed_knobs, "world_params": dataclasses.asdict(w.params), "seconds": times,
              # like the engine, not in the fingerprint: it bounds the estimators' caches, not their numbers
              "cache_limit_gb": cfg.engine.cache_limit_gb,
              # the report's date (like the timings, not part of the results, which stay byte-identical)
              "finished": datetime.datetime.now(datetime.UTC).date().isoformat()}
    (out / "run.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"run: done in {time.perf_counter() - t0:.0f} s", flush=True)
    return record


def _did_beside_refutation(cfg: StudyConfig, out: Path, panel: pd.DataFrame, truth_dir: Path,
                           progress: bool) -> dict[str, float]:
    """The DiD step, and the refutation then heterogeneity steps, side by side: both need only the panel and
    the matching, and each is mostly one core's work, so on two or more cores the DiD step runs in a forked
    process (which shares the panel's memory) while this one does the other two. Linear algebra runs on one
    thread in both, side by side or not (two processes with two BLAS threads each fight over the cores, and
    the thread count must not change the numbers between machines). Returns each step's seconds and the
    wall time of the three together."""
    import multiprocessing
    import os
    import sys

    from threadpoolctl import threadpool_limits

    from analysis.did.memo import release_memory

    t0 = time.perf_counter()
    seconds: dict[str, float] = {}

    def timed(name, step):
        t = time.perf_counter()
        try:
            step(cfg, out, panel, truth_dir, progress)
        except Exception as exc:
            exc.stage = name
            raise
        seconds[name] = round(time.perf_counter() - t, 1)

    beside = sys.platform.startswith("linux") and (os.cpu_count() or 1) >= 2 and _memory_for_both(panel)
    with threadpool_limits(limits=1, user_api="blas"):
        if beside:
            (out / "did_error.json").unlink(missing_ok=True)
            worker = multiprocessing.get_context("fork").Process(
                target=_did_worker, name="did", args=(cfg, out, panel, truth_dir, progress, os.getpid()))
            worker.start()
        else:
            timed("did", did_step)
        try:
            timed("refutation", refute_step)
            release_memory()
            timed("heterogeneity", heterogeneity_step)
            release_memory()  # the DiD step may still be working beside this process
        except BaseException:
            if beside:  # its results would be half a run's
                worker.kill()
            raise
        finally:
            if beside:
                worker.join()
    if beside:
        if worker.exitcode != 0:
            raise _worker_error(out / "did_error.json", worker.exitcode)
        seconds["did"] = json.loads((out / "did_seconds.json").read_text())
        (out / "did_seconds.json").unlink()
    seconds["did, refutation, heterogeneity (side by side)" if beside else "did, refutation, heterogeneity"] = round(
        time.perf_counter() - t0, 1)
    _merge_headlines(out)
    return seconds


# memory the DiD step beside the refutation and heterogeneity steps needs, as a multiple of the panel frame's
# size (``memory_usage(deep=True)``): below it they run one after the other. At 0.1 x Seoul (a 1.9 GB frame)
# the two processes together used about 21 GB at their peak
SIDE_BY_SIDE_MEMORY = 12


def _memory_for_both(panel: pd.DataFrame) -> bool:
    """Whether the memory available holds the DiD step beside the other two (``SIDE_BY_SIDE_MEMORY``); says
    so on the console where it does not."""
    need = SIDE_BY_SIDE_MEMORY * panel.memory_usage(deep=True).sum()
    have = _available_memory()
    if have is None or have >= need:
        return True
    print(f"  did, refutation, heterogeneity: one after the other ({have / 1e9:.1f} GB available; side by side "
          f"needs about {need / 1e9:.1f} GB at this panel's size)", flush=True)
    return False


def _available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is none)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _worker_error(path: Path, exitcode: int) -> Exception:
    """The DiD worker's error as an exception of the same family (its traceback as a note, for --debug)."""
    from analysis.errors import StudyError

    if not path.exists():
        exc: Exception = RuntimeError(f"the DiD step's process ended with exit code {exitcode} and no message")
    else:
        err = json.loads(path.read_text())
        path.unlink()
        exc = StudyError(err["message"]) if err["study_error"] else RuntimeError(f"{err['type']}: {err['message']}")
        exc.add_note("in the DiD step's process:\n" + err["traceback"])
    exc.stage = "did"
    return exc


def _merge_headlines(out: Path) -> None:
    """``headline.json``: the primary outcome's design and reason (from the refutation step) and every
    outcome's headline (from the DiD step). Where the refutation step chose the calibrated design and the DiD
    step could not fit the calibration (too few controls estimated), the primary falls back to that
    outcome's own headline, and says why; where the calibrated design's controls err (the outcome's headline
    is then the span of the calibrated and the uncalibrated intervals), the primary is that span."""
    head = json.loads((out / "headline.json").read_text())
    outcomes = json.loads((out / "estimates.json").read_text())["headlines"]
    primary = outcomes[0]
    if head["design"] == "callaway_santanna_calibrated" and primary["design"] == "calibration_span":
        head = {"design": primary["design"], "reason": primary["reason"]}
    elif head["design"] == "callaway_santanna_calibrated" and primary["design"] != head["design"]:
        head = {"design": primary["design"] or "callaway_santanna",
                "reason": "the calibration could not be fitted (see estimates.json, empirical_calibration); "
                          + primary["reason"]}
    (out / "headline.json").write_text(json.dumps({**head, "outcomes": outcomes}, indent=1) + "\n")


def _did_worker(cfg: StudyConfig, out: Path, panel: pd.DataFrame, truth_dir: Path, progress: bool,
                parent: int) -> None:
    """The DiD step in its forked process. It dies with its parent (a killed run must not go on writing
    into the run folder), and hands an error to the parent as ``did_error.json`` for one clear message."""
    import ctypes
    import os
    import signal
    import traceback

    from threadpoolctl import threadpool_limits

    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
    t = time.perf_counter()
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            did_step(cfg, out, panel, truth_dir, progress)
    except Exception as exc:
        from analysis.errors import StudyError

        (out / "did_error.json").write_text(json.dumps({
            "type": type(exc).__name__, "message": str(exc), "study_error": isinstance(exc, StudyError),
            "traceback": traceback.format_exc()}))
        os._exit(1)
    (out / "did_seconds.json").write_text(json.dumps(round(time.perf_counter() - t, 1)))


def match_step(cfg: StudyConfig, out: Path, panel: pd.DataFrame, truth_dir: Path, progress: bool) -> None:
    """The city's published design and risk-set matching of every cohort: balance tables, sample sizes and
    MatchIt-style summaries (``summary_<name>.txt``), the published design's propensity scores (for the
    overlap figure), the matched data, and a printed balance verdict."""
    from analysis.matching.riskset import plan_designs

    mdir = out / "matching"
    mdir.mkdir(exist_ok=True)
    published, stacked = plan_designs(panel, cfg)
    report = {"published_design": published.report, "riskset": stacked.report}
    for name, res in [("published", published.matches[2022])] + [
        (f"cohort_{g}", m) for g, m in stacked.matches.items()
    ]:
        s = res.summary()
        table = pd.concat({"all": s.sum_all, "matched": s.sum_matched}, names=["sample", "covariate"])
        table.to_csv(mdir / f"balance_{name}.csv", float_format="%.6g")
        s.nn.to_csv(mdir / f"sample_sizes_{name}.csv")
        (mdir / f"summary_{name}.txt").write_text(f"{res}\n{s}\n")  # as MatchIt prints them
    m = published.matches[2022]
    pd.DataFrame({"study_id": m.distance.index, "treated": m.treat.to_numpy().astype(int),
                  "distance": m.distance.to_numpy(), "weights": m.weights.to_numpy()}).to_parquet(
        mdir / "distance_published.parquet", index=False)
    verdict = stacked.balance_verdict()
    verdict.to_csv(mdir / "balance_verdict.csv", float_format="%.4f")
    stacked.data.to_parquet(mdir / "stacked.parquet", index=False)
    published.data.to_parquet(mdir / "published.parquet", index=False)
    (mdir / "matching_report.json").write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
    pub = m.summary().max_abs_smd()
    print(f"  matching: published design 1:{cfg.matching.ratio}, max |SMD| after {pub:.3f}; risk-set, by cohort:")
    for g, r in verdict.iterrows():
        flag = "ok" if r.max_abs_smd_after < 0.1 else "IMBALANCED"
        print(f"    {g}: {int(r.treated_matched):,}/{int(r.treated):,} enrollees matched to "
              f"{int(r.controls_matched):,} controls; max |SMD| {r.max_abs_smd_before:.3f} -> "
              f"{r.max_abs_smd_after:.3f} ({flag})")


# what the DiD designs read of the matched data sets, besides the outcomes
_MATCHED_COLUMNS = {"stacked": ["study_id", "year", "sub_experiment", "treated", "event_time", "weights"],
                    "published": ["study_id", "year", "treated", "weights", "subclass"]}


def matched_design(out: Path, name: str, cfg: StudyConfig) -> pd.DataFrame:
    """``matching/<name>.parquet`` with only the columns the designs read (the stacked data repeat every
    panel column for each sub-experiment: about 4 GB at 0.1 x Seoul, under 1 GB read this way)."""
    path = out / "matching" / f"{name}.parquet"
    names = set(pq.ParquetFile(path).schema_arrow.names)
    return pd.read_parquet(path, columns=[c for c in (*_MATCHED_COLUMNS[name], *cfg.outcomes.studied) if c in names])


def did_step(cfg: StudyConfig, out: Path, panel: pd.DataFrame, truth_dir: Path, progress: bool) -> None:
    """Every outcome by every DiD design (``estimates.csv`` and ``estimates.json``); on synthetic data the
    exact sample truth sits beside each estimate."""
    from analysis.did.headline import mark_headlines, outcome_headlines
    from analysis.did.outcomes import estimate_all, read_truth

    stacked, published = (matched_design(out, name, cfg) for name in ("stacked", "published"))
    est, exclusions = estimate_all(panel, cfg, stacked=stacked, published=published,
                                   truth=read_truth(truth_dir, cfg.outcomes.studied), progress=progress)
    est.to_csv(out / "estimates.csv", index=False, float_format="%.10g")
    headlines = outcome_headlines(est, exclusions, cfg)
    marked = est.assign(headline=mark_headlines(est, headlines))
    payload = {"estimates": json.loads(marked.to_json(orient="records", double_precision=10)),
               "headlines": headlines, "exclusions": exclusions}
    (out / "estimates.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
    head = est[(est.outcome == cfg.outcomes.primary) & est.aggregation.isin(["2x2", "simple", "overall", "static"])
               & est.term.isin(["ATT", "overall"])]
    print(f"  did: {cfg.outcomes.primary}, estimate (95% CI) vs truth:")
    for _, r in head.iterrows():
        print(f"    {r.design:24s} {r.estimate:12,.0f} ({r.conf_low:,.0f} to {r.conf_high:,.0f})  truth "
              f"{r.truth:,.0f}")


def refute_step(cfg: StudyConfig, out: Path, panel: pd.DataFrame, truth_dir: Path, progress: bool) -> None:
    """The refutation suite (``refutation.json``), the headline design it points to (``headline.json``),
    and the plan's group-time ATTs and event study with uniform bands (``refutation/att_gt.csv``,
    ``refutation/event_study.csv``) for the figures, with their R-style summaries
    (``refutation/event_study_summary.txt``)."""
    from analysis.causal.refutation import headline_design, refutation_checks
    from analysis.did import aggte, att_gt
    from analysis.did.headline import calibrates
    from analysis.did.outcomes import read_truth

    published = pd.read_parquet(out / "matching" / "published.parquet")  # DoWhy reads its covariates
    checks = refutation_checks(panel, cfg, published, read_truth(truth_dir, cfg.outcomes.studied), progress=progress)
    (out / "refutation.json").write_text(json.dumps(checks, indent=1) + "\n")
    design, reason = headline_design(checks, cfg.report.headline, calibrated=calibrates(cfg))
    (out / "headline.json").write_text(json.dumps({"design": design, "reason": reason}, indent=1) + "\n")
    rdir = out / "refutation"
    rdir.mkdir(exist_ok=True)
    dc = cfg.did
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        es = att_gt(panel, cfg.outcomes.primary, "year", "study_id", "first_treat", dc.xformla,
                    control_group=dc.control_group, est_method=dc.est_method, anticipation=dc.anticipation,
                    base_period="universal", biters=dc.biters, alp=dc.alp, seed=dc.seed, table="panel")
        n_t = {int(g): int((es.design.unit_g == g).sum()) for g in es.design.glist}
        gt = es.tidy().assign(n_treated=lambda d: d.group.map(n_t),
                              n_control=int((es.design.unit_g == 0).sum()))
        gt.to_csv(rdir / "att_gt.csv", index=False, float_format="%.10g")
        dyn = aggte(es, "dynamic", na_rm=True)
    (rdir / "event_study_summary.txt").write_text(f"{es.summary()}\n{dyn.summary()}\n")  # as R's did prints them
    crit = dyn.crit_val_egt
    pd.DataFrame({"event_time": dyn.egt, "estimate": dyn.att_egt, "std_error": dyn.se_egt,
                  "band_low": dyn.att_egt - crit * dyn.se_egt, "band_high": dyn.att_egt + crit * dyn.se_egt,
                  "n_treated": sum(n_t.values()), "n_control": int((es.design.unit_g == 0).sum())}).to_csv(
        rdir / "event_study.csv", index=False, float_format="%.10g")
    print(f"  refutation: {sum(c['passed'] for c in checks)} of {len(checks)} checks passed; headline design "
          f"{design} ({reason})")
    for c in checks:
        print(f"    {c['design']:24s} {c['name']:32s} {'passed' if c['passed'] else 'FAILED'}")


def heterogeneity_step(cfg: StudyConfig, out: Path, panel: pd.DataFrame, truth_dir: Path,
                       progress: bool) -> None:
    """The headline design by subgroup (``heterogeneity.csv``) and the adherence comparison
    (``adherence.csv``)."""
    from analysis.did.heterogeneity import adherence_gap, subgroup_effects
    from analysis.did.outcomes import read_truth

    truth = read_truth(truth_dir, cfg.outcomes.studied)
    design = json.loads((out / "headline.json").read_text())["design"]
    if design not in ("callaway_santanna", "callaway_santanna_trend"):
        design = "callaway_santanna"  # subgroups are fitted with a Callaway-Sant'Anna design
    sub = subgroup_effects(panel, cfg, design, truth).assign(design=design)
    sub.to_csv(out / "heterogeneity.csv", index=False, float_format="%.10g")
    adherence_gap(panel, cfg.outcomes.primary, truth, alp=cfg.did.alp).to_csv(
        out / "adherence.csv", index=False, float_format="%.10g")
    print(f"  heterogeneity: {len(sub)} subgroup levels ({design})")
