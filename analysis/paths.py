"""The one place for project paths."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STUDY_TOML = PROJECT_ROOT / "study.toml"
DATA_SYNTHETIC = PROJECT_ROOT / "data" / "synthetic"
DEFAULT_MANIFEST = DATA_SYNTHETIC / "default_manifest.json"
FIGURES = PROJECT_ROOT / "figures"
