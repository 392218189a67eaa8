"""Shared worlds for the tests: generated once per session at a scale the suite can afford (the heavy ones
in a background process started at collection, see below)."""

from __future__ import annotations

import os

# The suite runs two processes on two cores (the tests, and the background worlds below): one BLAS thread
# each, as the pipeline runs its side-by-side steps, or each process's second BLAS thread spins against the
# other process (att_gt took twice as long under load with two). The children inherit the variable.
os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = "1"

import json
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from analysis.config import LinkageConfig
from analysis.linkage import link_world
from analysis.linkage.keys import synthetic_default_secret
from analysis.paths import PROJECT_ROOT
from analysis.synth import generate_world

from .worlds import DEFAULT_SEED, SMALL_SCALE, load
from .worlds import secret as _test_secret

threadpool_limits(limits=1, user_api="blas")  # in case numpy was loaded before the variable was set

DEFAULT_SCALE = 0.025  # the default world of study.toml (205,000 persons)


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
def noselection_world():
    """The no-selection world's raw folder (everyone equally likely to enrol)."""
    return _wait("noselection") / "world"


@pytest.fixture(scope="session")
def noselection_panel():
    """The no-selection world, linked, with its panel and truth."""
    return load(_wait("noselection"))


@pytest.fixture(scope="session")
def null_world():
    """The null world's raw folder (the program does nothing)."""
    return _wait("null") / "world"


@pytest.fixture(scope="session")
def null_panel():
    """The null world, linked, with its panel and truth."""
    return load(_wait("null"))


def cli(*args, check: bool = True):
    """``python -m analysis *args`` from the project root, without a linkage secret in the environment (as
    `make report` on a fresh machine); with ``check``, fails the test with the command's stderr unless it
    succeeded."""
    env = {k: v for k, v in os.environ.items() if k != "WRIST_LINKAGE_SECRET"}
    r = subprocess.run([sys.executable, "-m", "analysis", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                       env=env)
    assert not check or r.returncode == 0, r.stderr[-3000:]
    return r


# The default run is a third of the suite's time and the two shared scenario worlds another fifth. Where a
# collected test needs them, they are built one after another in one background process started at
# collection, the worlds first; the tests that need them run last (the worlds' before the default run's), so
# the other tests use the second core meanwhile. Each job leaves its exit code in ``rc`` in its folder.
_JOBS: dict[str, tuple[subprocess.Popen, Path]] = {}
_BASES: list[Path] = []
_ORDER = ("null", "noselection", "default_run")  # the order the jobs run and their tests come
_FIXTURES = {"null_world": "null", "null_panel": "null", "noselection_world": "noselection",
             "noselection_panel": "noselection", "default_run": "default_run"}  # fixture -> its job


def _command(name: str, d: Path) -> str:
    """The shell command of a background job writing into ``d``; none has a linkage secret in its
    environment (the default run links as `make report` on a fresh machine; the worlds load the test secret
    themselves)."""
    py = shlex.quote(sys.executable)
    if name == "default_run":
        run, fig, rep = (shlex.quote(str(d / sub)) for sub in ("run", "figures", "reports"))
        return (f"{py} -m analysis run --out {run} --quiet && "
                f"{py} -m analysis report --run {run} --figures {fig} --reports {rep} --no-pdf")
    scenario = {"null": "null", "noselection": "no-selection"}[name]
    return f"{py} -m tests.worlds {scenario} {shlex.quote(str(d))}"


def _start(names: list[str]) -> None:
    base = Path(tempfile.mkdtemp(prefix="test_worlds_"))
    _BASES.append(base)
    steps = []
    for name in names:
        d = base / name
        d.mkdir()
        out, err, rc = (shlex.quote(str(d / f)) for f in ("stdout.txt", "stderr.txt", "rc"))
        steps.append(f"( {_command(name, d)} ) > {out} 2> {err}; echo $? > {rc}")
    env = {k: v for k, v in os.environ.items() if k != "WRIST_LINKAGE_SECRET"}
    # a session of its own, so that ending the session stops the whole chain, not only its shell
    proc = subprocess.Popen(["bash", "-c", "; ".join(steps)], cwd=PROJECT_ROOT, env=env, start_new_session=True)
    for name in names:
        _JOBS[name] = (proc, base / name)


def _wait(name: str) -> Path:
    """The folder of a finished background job (started now if collection did not see a test needing it);
    fails the test with the job's stderr unless it succeeded."""
    if name not in _JOBS:
        _start([name])
    proc, d = _JOBS[name]
    while not (d / "rc").exists() and proc.poll() is None:
        time.sleep(0.5)
    rc = (d / "rc").read_text().strip() if (d / "rc").exists() else "the background process ended first"
    assert rc == "0", f"{name}: {rc}\n" + (d / "stderr.txt").read_text()[-3000:]
    return d


def _jobs(item) -> set[str]:
    return {_FIXTURES[f] for f in getattr(item, "fixturenames", ()) if f in _FIXTURES}


def _needs(item) -> str | None:
    """The last background job (in ``_ORDER``) a test needs, None if it needs none."""
    jobs = _jobs(item)
    return next((name for name in reversed(_ORDER) if name in jobs), None)


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected: start only what the selected tests need
def pytest_collection_modifyitems(session, config, items):
    rank = {None: -1, **{name: i for i, name in enumerate(_ORDER)}}
    items[:] = sorted(items, key=lambda item: rank[_needs(item)])  # stable: modules stay in order
    used = set().union(*(_jobs(item) for item in items))
    if used:
        _start([name for name in _ORDER if name in used])


def pytest_sessionfinish(session, exitstatus):
    for proc, _ in set(_JOBS.values()):
        if proc.poll() is None:  # the session ended before a test waited for it
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    _JOBS.clear()
    for base in _BASES:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def default_run():
    """The plan's default run (scale 0.025) and its report (no PDF) by the command line, in a temporary
    folder: the `make report` job, shared by the CLI and report tests (started at collection, above)."""
    d = _wait("default_run")
    return {"run": d / "run", "figures": d / "figures", "reports": d / "reports",
            "stdout": (d / "stdout.txt").read_text(), "base": d}
