"""A small analysis panel made the way a study makes one, for examples and first steps: a synthetic world
generated, linked and built into a panel in a temporary folder, nothing left behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from analysis.config import LinkageConfig, PanelConfig
from analysis.linkage import link_world
from analysis.linkage.keys import synthetic_default_secret
from analysis.panel.build import build_panel_from_dir
from analysis.synth import generate_world


def example_panel(scale: float = 0.0005, seed: int = 1, scenario: str = "default") -> pd.DataFrame:
    """The person-year panel of a synthetic world of ``scale`` x Seoul (0.0005: about 4,100 persons, a few
    seconds), linked with the public synthetic secret of ``seed``: the panel ``python -m analysis run``
    would analyse, without its folders.

    Parameters
    ----------
    scale : float, default 0.0005
        Share of Seoul's population (at least 0.000122, 1,000 persons).
    seed : int, default 1
        The world's seed; the same seed gives the same panel.
    scenario : str, default "default"
        A named world (``analysis.synth.scenario_params``: ``default``, ``null``, ``no-selection``, ...).

    Returns
    -------
    pandas.DataFrame
        One row per (``study_id``, ``year``), 2017-2025: ``first_treat`` (enrolment year, 0 never), the
        outcomes, covariates and checkup measures of ``analysis.panel.SCHEMA``.

    Examples
    --------
    >>> from analysis.panel import example_panel
    >>> panel = example_panel()
    >>> panel.study_id.nunique(), int(panel.year.min()), int(panel.year.max())
    (4100, 2017, 2025)
    """
    with tempfile.TemporaryDirectory(prefix="example-panel-") as tmp:
        base = Path(tmp)
        generate_world(base / "world", scale=scale, seed=seed, scenario=scenario, progress=False)
        link_world(base / "world", base / "linked", LinkageConfig(), synthetic_default_secret(seed), seed=seed,
                   progress=False)
        panel, _ = build_panel_from_dir(base / "linked" / "linked", base / "panel", PanelConfig(), progress=False)
    return panel
