"""The package's one error family: every stage raises a subclass of :class:`StudyError` for bad input, so a
caller (the command line, a notebook) tells a problem with the data or the plan, whose message already says
what and where, from a bug."""

from __future__ import annotations


class StudyError(ValueError):
    """Bad input to a stage of the study (a table, a column, a plan key), named in the message."""
