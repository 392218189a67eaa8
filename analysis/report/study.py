"""One finished run, opened for reading: the object the notebooks and the report builder share.

``Study.open(plan, scenario, scale, seed)`` finds (or makes, by running the pipeline) the run of that plan,
then hands out its results. Everything that leaves the run folder goes through ``released``: the table is
built once from the run's files, passed through the study's one :class:`ReleaseReview`, and kept, so a
notebook that draws a figure twice reviews it once and the manifest lists each output once.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.config import StudyConfig, load_config
from analysis.errors import StudyError
from analysis.paths import FIGURES, PROJECT_ROOT
from analysis.pipeline import fingerprint, is_done, run_pipeline
from analysis.report.release import ReleaseReview


@dataclass
class Study:
    cfg: StudyConfig
    run_dir: Path
    figures_dir: Path = FIGURES
    review: ReleaseReview = field(default=None)  # type: ignore[assignment]
    _released: dict = field(default_factory=dict, repr=False)
    figures_reviewed: set = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.run_dir, self.figures_dir = Path(self.run_dir), Path(self.figures_dir)
        if self.review is None:
            self.review = ReleaseReview.from_config(self.cfg.disclosure)
        if not (self.run_dir / "run.json").exists():
            raise FileNotFoundError(f"{self.run_dir} holds no finished run (no run.json); run "
                                    "`python -m analysis run --out <folder>` or use Study.open")
        if not is_done(self.cfg, self.run_dir):
            rec = json.loads((self.run_dir / "run.json").read_text())
            raise StudyError(f"{self.run_dir} was run with another plan or world (fingerprint {rec.get('fingerprint')}, "
                             f"scenario {rec.get('scenario')!r}, scale {rec.get('scale')}, seed {rec.get('seed')}) "
                             f"than the one given ({fingerprint(self.cfg)}): its results would be reported under "
                             "the wrong plan; pass the run's own plan and world, or rerun it")

    @classmethod
    def open(cls, plan: str | Path | None = None, scenario: str | None = None, scale: float | None = None,
             seed: int | None = None, run_dir: str | Path | None = None, figures_dir: str | Path | None = None,
             progress: bool = True) -> Study:
        """The run of ``plan`` (default ``study.toml``) with the world overridden by ``scenario``, ``scale``
        and ``seed``: reused from ``run_dir`` when it holds a finished run of exactly this plan, else
        computed there first. The default folder is ``runs/default`` (where ``make report`` runs) for the
        plan's own world, else ``runs/<scenario>-<scale>-<seed>``, under the project root."""
        plain = load_config(plan)
        cfg = plain.with_world(scenario=scenario, scale=scale, seed=seed)
        w = cfg.world
        name = "default" if w == plain.world else f"{w.scenario}-{w.scale:g}-{w.seed}"
        run_dir = Path(run_dir) if run_dir else PROJECT_ROOT / "runs" / name
        if not is_done(cfg, run_dir):
            run_pipeline(cfg, run_dir, progress=progress)
        return cls(cfg, run_dir, Path(figures_dir) if figures_dir else FIGURES)

    # ------------------------------------------------------------------ the run's files
    def _path(self, *parts: str) -> Path:
        return self.run_dir.joinpath(*parts)

    @functools.cached_property
    def panel(self) -> pd.DataFrame:
        return pd.read_parquet(self._path("panel", "panel.parquet"))

    @functools.cached_property
    def estimates(self) -> pd.DataFrame:
        return pd.read_csv(self._path("estimates.csv"))

    @functools.cached_property
    def checks(self) -> list[dict]:
        return json.loads(self._path("refutation.json").read_text())

    @functools.cached_property
    def headline(self) -> dict:
        return json.loads(self._path("headline.json").read_text())

    @functools.cached_property
    def empirical_null(self):
        """The empirical null the primary cost outcome was calibrated with (``NullDistribution``), or None."""
        from analysis.did.calibration import NullDistribution

        excl = json.loads(self._path("estimates.json").read_text())["exclusions"]
        cal = excl.get(self.cfg.outcomes.primary, {}).get("empirical_calibration", {})
        return NullDistribution(**{k: tuple(v) if isinstance(v, list) else v for k, v in cal["null"].items()}) \
            if "null" in cal else None

    @functools.cached_property
    def phenotypes(self):
        """The outcome definitions the panel was built with (the run's copy of the phenotype file)."""
        from analysis.phenotypes import load

        return load(self._path("panel", "phenotypes.toml"))

    @functools.cached_property
    def exclusions(self) -> dict:
        """Each outcome's exclusions and notes from the DiD step (``estimates.json``)."""
        return json.loads(self._path("estimates.json").read_text())["exclusions"]

    @functools.cached_property
    def run_record(self) -> dict:
        """``run.json``: the plan's fingerprint, the world, the stages' timings and the date it finished."""
        return json.loads(self._path("run.json").read_text())

    @functools.cached_property
    def panel_report(self) -> dict:
        return json.loads(self._path("panel", "panel_report.json").read_text())

    @functools.cached_property
    def matching_report(self) -> dict:
        return json.loads(self._path("matching", "matching_report.json").read_text())

    @functools.cached_property
    def linkage_report(self) -> dict:
        return json.loads(self._path("linkage", "linkage_report.json").read_text())

    @functools.cached_property
    def calibration(self) -> dict:
        return json.loads(self._path("calibration.json").read_text())

    def csv(self, *parts: str) -> pd.DataFrame:
        return pd.read_csv(self._path(*parts))

    def parquet(self, *parts: str) -> pd.DataFrame:
        return pd.read_parquet(self._path(*parts))

    def text(self, *parts: str) -> str:
        """A text file of the run, e.g. an R-style summary (``print(study.text(...))`` in a notebook)."""
        return self._path(*parts).read_text(encoding="utf-8")

    # ------------------------------------------------------------------ what may leave
    def released(self, name: str, build: Callable[[ReleaseReview], pd.DataFrame]) -> pd.DataFrame:
        """The reviewed table ``name``: ``build(review)`` runs once (it must pass its data through the
        review under ``name``); later calls return the same reviewed table."""
        if name not in self._released:
            self._released[name] = build(self.review)
        return self._released[name]

    def figure(self, name: str, save: bool = True, lang: str = "ko"):
        """Draw figure ``name`` (see ``analysis.report.figures.FIGURES``) in ``lang`` ("ko" or "en") from
        released tables only and save it to ``figures_dir`` as ``<name>_<lang>.png`` and ``.svg``; returns the
        matplotlib figure."""
        from analysis.report import figures

        return figures.draw(self, name, save=save, lang=lang)
