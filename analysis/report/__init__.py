"""The report stage: figures, tables and the rendered reports, each passed through the release review."""
