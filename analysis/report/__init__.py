"""The report stage: figures, tables and the rendered reports, each passed through the release review."""

from analysis.report.study import Study
from analysis.report.text import readable

__all__ = ["Study", "readable"]
