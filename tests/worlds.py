"""The linked worlds several test modules share (null and no-selection scenarios at a fifth of the default
world's size): generated, linked with the test secret and turned into a panel. ``conftest`` builds them in a
background process started at collection (``python -m tests.worlds SCENARIO FOLDER``), so the suite's other
tests run meanwhile, and reads them back with :func:`load`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from analysis.config import LinkageConfig, PanelConfig
from analysis.linkage import link_world, load_secret
from analysis.panel import build_panel_from_dir
from analysis.synth import generate_world

DEFAULT_SEED = 9988
SMALL_SCALE = 0.004  # 32,800 persons
SHARED_SCALE = SMALL_SCALE * 5  # the shared scenario worlds: 164,000 persons
TEST_SECRET = "test-secret-not-for-real-use-5f2c"


def secret():
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


class LinkedWorld(NamedTuple):
    panel: pd.DataFrame  # the analysis panel
    truth: pd.DataFrame  # linked truth outcomes (y0_/y1_ per person-year), keyed by study_id
    persons: pd.DataFrame  # linked person-level truth (cohort, latent health consciousness), keyed by study_id


def build(scenario: str, base: Path) -> None:
    """Generate the scenario's world into ``base/world``, link it into ``base/linked``, build ``base/panel``."""
    base = Path(base)
    generate_world(base / "world", scale=SHARED_SCALE, seed=DEFAULT_SEED, scenario=scenario, progress=False)
    link_world(base / "world", base / "linked", LinkageConfig(), secret(), seed=DEFAULT_SEED, progress=False)
    build_panel_from_dir(base / "linked" / "linked", base / "panel", PanelConfig(), progress=False,
                         return_panel=False)


def load(base: Path) -> LinkedWorld:
    """A built world's panel (as the pipeline reads it), truth outcomes and person-level truth."""
    from analysis.did.outcomes import read_truth

    base = Path(base)
    truth = base / "linked" / "truth"
    persons = pd.read_parquet(truth / "persons.parquet").rename(columns={"STUDY_ID": "study_id"})
    return LinkedWorld(pd.read_parquet(base / "panel" / "panel.parquet"), read_truth(truth), persons)


if __name__ == "__main__":
    build(sys.argv[1], Path(sys.argv[2]))
