"""The command line end to end at a tiny scale, as a user runs it."""

from __future__ import annotations

import json

from analysis.did.designs import DESIGNS
from tests.conftest import cli


def test_synth_link_panel(tmp_path):
    r = cli(
        "synth",
        "--scale",
        "0.002",
        "--seed",
        "3",
        "--scenario",
        "null",
        "--out",
        str(tmp_path / "w"),
        "--quiet",
    )
    assert "16,400 persons" in r.stdout
    manifest = json.loads((tmp_path / "w/manifest.json").read_text())
    assert manifest["scenario"] == "null" and manifest["persons"] == 16_400
    r = cli("link", "--world", str(tmp_path / "w"), "--out", str(tmp_path / "l"), "--quiet")
    assert "match rate" in r.stdout
    r = cli("panel", "--linked", str(tmp_path / "l/linked"), "--out", str(tmp_path / "p"))
    assert (tmp_path / "p/panel.parquet").exists() and "person-years" in r.stdout


def test_bad_plan_is_reported(tmp_path):
    bad = tmp_path / "plan.toml"
    bad.write_text('[world]\nscenario = "optimistic"\n')
    r = cli("synth", "--config", str(bad), "--out", str(tmp_path / "w"), check=False)
    assert r.returncode == 2
    assert "world.scenario = 'optimistic' is not allowed" in r.stderr


def test_run_end_to_end(default_run):
    """`run` on the plan's default world (the shared session run): every stage's outputs."""
    tmp_path, stdout = default_run["run"], default_run["stdout"]
    assert "matching: published design 1:10" in stdout
    out = tmp_path / "matching"
    for name in ("balance_published.csv", "balance_verdict.csv", "distance_published.parquet", "stacked.parquet",
                 "matching_report.json"):
        assert (out / name).exists(), name
    verdict = __import__("pandas").read_csv(out / "balance_verdict.csv")
    assert len(verdict) == 5 and (verdict.max_abs_smd_after < verdict.max_abs_smd_before).all()
    est = __import__("pandas").read_csv(tmp_path / "estimates.csv")
    assert {"outcome", "design", "estimator", "aggregation", "term", "estimate", "std_error", "conf_low",
            "conf_high", "p_value", "n_treated", "n_control", "truth"} <= set(est.columns)
    assert set(est.design) <= set(DESIGNS) and {"published", "callaway_santanna", "callaway_santanna_trend",
                                                 "callaway_santanna_calibrated", "calibration_span", "later_joiners",
                                                 "stacked_matched", "twfe"} <= set(est.design)
    # every design is told apart in the figures by its own colour and marker
    for attr in ("colour", "marker"):
        assert len({getattr(d, attr) for d in DESIGNS.values()}) == len(DESIGNS), attr
    assert set(est.loc[est.design == "twfe", "outcome"]) == {"medical_cost", "injury_visits"}
    assert (tmp_path / "estimates.json").exists()
    assert "did: medical_cost" in stdout
    checks = json.loads((tmp_path / "refutation.json").read_text())
    names = {(c["design"], c["name"]) for c in checks}
    assert {("published", "main_estimate"), ("callaway_santanna", "placebo_in_time"),
            ("callaway_santanna", "negative_control_outcome")} <= names
    assert all(isinstance(c["passed"], bool) and c["meaning"] for c in checks)
    assert "refutation:" in stdout and "heterogeneity:" in stdout
    head = json.loads((tmp_path / "headline.json").read_text())
    assert head["design"] in {"callaway_santanna", "callaway_santanna_trend", "callaway_santanna_calibrated",
                              "calibration_span"}
    assert head["reason"]
    for name in ("refutation/att_gt.csv", "refutation/event_study.csv", "heterogeneity.csv", "adherence.csv",
                 "calibration.json", "run.json"):
        assert (tmp_path / name).exists(), name


def test_stage_errors_are_one_line_not_a_traceback(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = cli("panel", "--linked", str(empty), "--out", str(tmp_path / "out"), check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("error (panel): linked extract: table 'persons' not found")
    assert len(r.stderr.strip().splitlines()) == 1


def test_an_unexpected_error_is_one_line_and_its_traceback_needs_debug(tmp_path, monkeypatch, capsys):
    import pytest

    import analysis.cli

    def broken(args):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(analysis.cli, "cmd_synth", broken)
    assert analysis.cli.main(["synth", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error (synth): unexpected ZeroDivisionError: float division by zero. ")
    assert "--debug" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    with pytest.raises(ZeroDivisionError):
        analysis.cli.main(["synth", "--out", str(tmp_path), "--debug"])


def test_the_did_worker_dies_with_its_parent_and_hands_its_error_over(tmp_path):
    """A killed run leaves no DiD process writing into the run folder; a failing one reports its error
    through the parent, as an error of the same family and stage."""
    import os
    import subprocess
    import sys
    import time

    from analysis.errors import StudyError
    from analysis.pipeline import _worker_error

    script = f"""
import os, signal, time
from pathlib import Path
import pandas as pd
import analysis.pipeline as pl
out = Path({str(tmp_path)!r})
def did(cfg, out, panel, truth_dir, progress):
    (out / "worker.pid").write_text(str(os.getpid()))
    time.sleep(20)
    (out / "late.txt").write_text("written after the parent died")
def refute(cfg, out, panel, truth_dir, progress):
    while not (out / "worker.pid").exists():
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGKILL)
pl.did_step, pl.refute_step = did, refute
pl._did_beside_refutation(None, out, pd.DataFrame({{"a": [1]}}), None, False)  # a panel to size the memory need by
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == -9, r.stderr
    pid = int((tmp_path / "worker.pid").read_text())
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the DiD worker outlived its parent")
    assert not (tmp_path / "late.txt").exists()

    (tmp_path / "did_error.json").write_text(json.dumps({
        "type": "DiDError", "message": "panel: column 'x' is constant", "study_error": True,
        "traceback": "Traceback (most recent call last): ..."}))
    exc = _worker_error(tmp_path / "did_error.json", 1)
    assert isinstance(exc, StudyError) and str(exc) == "panel: column 'x' is constant" and exc.stage == "did"
    assert not (tmp_path / "did_error.json").exists()


def test_the_did_step_runs_beside_the_others_only_where_memory_holds_both(monkeypatch, capsys):
    import pandas as pd

    from analysis import pipeline

    panel = pd.DataFrame({"x": range(1000)})  # 8 kB
    need = pipeline.SIDE_BY_SIDE_MEMORY * panel.memory_usage(deep=True).sum()
    monkeypatch.setattr(pipeline, "_available_memory", lambda: need + 1)
    assert pipeline._memory_for_both(panel) and capsys.readouterr().out == ""
    monkeypatch.setattr(pipeline, "_available_memory", lambda: need - 1)
    assert not pipeline._memory_for_both(panel)
    assert "one after the other" in capsys.readouterr().out
    monkeypatch.setattr(pipeline, "_available_memory", lambda: None)  # no /proc/meminfo: as before
    assert pipeline._memory_for_both(panel)
