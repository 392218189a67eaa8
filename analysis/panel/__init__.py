"""The analysis panel (person-year) built from a validated linked extract."""

from analysis.panel.build import baseline_covariates, build_panel, build_panel_from_dir, read_linked
from analysis.panel.example import example_panel
from analysis.panel.schema import READABLE, SCHEMA, SchemaError, validate

__all__ = [
    "READABLE",
    "SCHEMA",
    "SchemaError",
    "baseline_covariates",
    "build_panel",
    "build_panel_from_dir",
    "example_panel",
    "read_linked",
    "validate",
]
