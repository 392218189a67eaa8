"""The report stage: figures, tables and the rendered reports, each passed through the release review."""

from analysis.report.study import Study

__all__ = ["Study"]
