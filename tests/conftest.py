"""Shared worlds for the tests: generated once per session at a scale the suite can afford."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest

from analysis.config import LinkageConfig, PanelConfig
from analysis.linkage import link_world, load_secret
from analysis.linkage.keys import synthetic_default_secret
from analysis.panel import build_panel_from_dir
from analysis.paths import PROJECT_ROOT
from analysis.synth import generate_world

DEFAULT_SCALE = 0.025  # the default world of study.toml (205,000 persons)
DEFAULT_SEED = 9988
SMALL_SCALE = 0.004  # 32,800 persons
TEST_SECRET = "test-secret-not-for-real-use-5f2c"


def _test_secret():
    """The test linkage secret, loaded through the environment as a user would (environment restored)."""
    old = os.environ.get("WRIST_LINKAGE_SECRET")
    os.environ["WRIST_LINKAGE_SECRET"] = TEST_SECRET
    try:
        return load_secret("WRIST_LINKAGE_SECRET")
    finally:
        if old is None:
            del os.environ["WRIST_LINKAGE_SECRET"]
        else:
            os.environ["WRIST_LINKAGE_SECRET"] = old


# The default world, its linkage and its panel are the ones the plan's default run builds (`default_run`,
# below): the suite builds the 205,000-person world once. The run links with the synthetic default secret.
@pytest.fixture(scope="session")
def default_world(default_run):
    world = default_run["run"] / "world"
    return world, json.loads((world / "manifest.json").read_text())


@pytest.fixture(scope="session")
def default_linked(default_run):
    out = default_run["run"] / "linkage"
    return out, json.loads((out / "linkage_report.json").read_text())


@pytest.fixture(scope="session")
def default_panel(default_run):
    out = default_run["run"] / "panel"
    return out, pd.read_parquet(out / "panel.parquet"), json.loads((out / "panel_report.json").read_text())


def default_run_secret():
    """The secret the default run links with: the synthetic world's public default (no secret is set)."""
    return synthetic_default_secret(DEFAULT_SEED)


@pytest.fixture(scope="session")
def small_world(tmp_path_factory):
    """A default-scenario world at SMALL_SCALE, for checks of the machinery that need no statistical power."""
    out = tmp_path_factory.mktemp("small_world")
    generate_world(out, scale=SMALL_SCALE, seed=DEFAULT_SEED, scenario="default", progress=False)
    return out


@pytest.fixture(scope="session")
def small_linked(small_world, tmp_path_factory):
    """The small world linked with the test secret (the folder holding ``linked/`` and ``truth/``)."""
    out = tmp_path_factory.mktemp("small_linked")
    link_world(small_world, out, LinkageConfig(), _test_secret(), seed=DEFAULT_SEED, progress=False)
    return out


@pytest.fixture(scope="session")
def null_world(tmp_path_factory):
    out = tmp_path_factory.mktemp("null_world")
    generate_world(out, scale=SMALL_SCALE * 5, seed=DEFAULT_SEED, scenario="null", progress=False)
    return out


@pytest.fixture(scope="session")
def noselection_world(tmp_path_factory):
    out = tmp_path_factory.mktemp("noselection_world")
    generate_world(out, scale=SMALL_SCALE * 5, seed=DEFAULT_SEED, scenario="no-selection", progress=False)
    return out


class LinkedWorld(NamedTuple):
    panel: pd.DataFrame  # the analysis panel
    truth: pd.DataFrame  # linked truth outcomes (y0_/y1_ per person-year), keyed by study_id
    persons: pd.DataFrame  # linked person-level truth (cohort, latent health consciousness), keyed by study_id


def _link_and_panel(world, tmp_path_factory, name) -> LinkedWorld:
    """Link a generated world with the test secret and build its panel."""
    from analysis.did.outcomes import read_truth

    linked = tmp_path_factory.mktemp(f"{name}_linked")
    link_world(world, linked, LinkageConfig(), _test_secret(), seed=DEFAULT_SEED, progress=False)
    panel, _ = build_panel_from_dir(linked / "linked", tmp_path_factory.mktemp(f"{name}_panel"), PanelConfig(),
                                    progress=False)
    persons = pd.read_parquet(linked / "truth" / "persons.parquet").rename(columns={"STUDY_ID": "study_id"})
    return LinkedWorld(panel, read_truth(linked / "truth"), persons)


@pytest.fixture(scope="session")
def noselection_panel(noselection_world, tmp_path_factory):
    return _link_and_panel(noselection_world, tmp_path_factory, "noselection")


@pytest.fixture(scope="session")
def null_panel(null_world, tmp_path_factory):
    return _link_and_panel(null_world, tmp_path_factory, "null")


def cli(*args, check: bool = True):
    """``python -m analysis *args`` from the project root, without a linkage secret in the environment (as
    `make report` on a fresh machine); with ``check``, fails the test with the command's stderr unless it
    succeeded."""
    env = {k: v for k, v in os.environ.items() if k != "WRIST_LINKAGE_SECRET"}
    r = subprocess.run([sys.executable, "-m", "analysis", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                       env=env)
    assert not check or r.returncode == 0, r.stderr[-3000:]
    return r


# The default run is a third of the suite's time in one subprocess. It starts as soon as the tests are
# collected (if any needs it) and those tests run last, so the others use the second core meanwhile.
_BACKGROUND: dict = {}


def _needs_default_run(item) -> bool:
    return "default_run" in getattr(item, "fixturenames", ())


def _start_default_run(base: Path) -> subprocess.Popen:
    """``python -m analysis run`` then ``report`` (no PDF) into ``base``, without a linkage secret in the
    environment (as `make report` on a fresh machine), output to ``base/stdout.txt`` and ``stderr.txt``."""
    env = {k: v for k, v in os.environ.items() if k != "WRIST_LINKAGE_SECRET"}
    py = shlex.quote(sys.executable)
    run, fig, rep = (shlex.quote(str(base / d)) for d in ("run", "figures", "reports"))
    script = (f"{py} -m analysis run --out {run} --quiet && "
              f"{py} -m analysis report --run {run} --figures {fig} --reports {rep} --no-pdf")
    with open(base / "stdout.txt", "w") as out, open(base / "stderr.txt", "w") as err:
        return subprocess.Popen(["bash", "-c", script], cwd=PROJECT_ROOT, env=env, stdout=out, stderr=err)


def pytest_collection_modifyitems(session, config, items):
    need = [item for item in items if _needs_default_run(item)]
    if not need:
        return
    items[:] = [item for item in items if not _needs_default_run(item)] + need  # stable: modules stay in order
    base = Path(tempfile.mkdtemp(prefix="default_run_"))
    _BACKGROUND["default_run"] = (_start_default_run(base), base)


def pytest_sessionfinish(session, exitstatus):
    started = _BACKGROUND.pop("default_run", None)
    if started:
        proc, base = started
        if proc.poll() is None:  # the session ended before a test waited for it
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def default_run():
    """The plan's default run (scale 0.025) and its report (no PDF) by the command line, in a temporary
    folder: the `make report` job, shared by the CLI and report tests (started at collection, above)."""
    if "default_run" not in _BACKGROUND:  # not seen at collection (a plugin added the test): start it now
        base = Path(tempfile.mkdtemp(prefix="default_run_"))
        _BACKGROUND["default_run"] = (_start_default_run(base), base)
    proc, base = _BACKGROUND["default_run"]
    proc.wait()
    assert proc.returncode == 0, (base / "stderr.txt").read_text()[-3000:]
    return {"run": base / "run", "figures": base / "figures", "reports": base / "reports",
            "stdout": (base / "stdout.txt").read_text(), "base": base}
