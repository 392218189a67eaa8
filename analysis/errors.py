"""The package's one error family and its warning classes.

Every stage raises a subclass of :class:`StudyError` for bad input, so a caller (the command line, a
notebook) tells a problem with the data or the plan, whose message already says what and where, from a bug.
``StudyError`` subclasses ``ValueError``, so ``except ValueError`` keeps catching them all.

Warnings are classes too (as linearmodels' ``shared/exceptions.py`` and pyfixest's ``errors/``), so a caller
can silence or escalate one kind, e.g. ``warnings.simplefilter("error", ExclusionWarning)``, without touching
the others. ``StudyWarning`` subclasses ``UserWarning``, so ``simplefilter("ignore", UserWarning)`` keeps
silencing them all.

This module imports nothing from the package, so every module can import from it without a cycle; the stage
modules re-export their class (``from analysis.did.drdid import DiDError`` still works).
"""

from __future__ import annotations

__all__ = [
    "StudyError",
    "ConfigError",
    "PhenotypeError",
    "FormulaError",
    "KnobError",
    "SynthError",
    "LinkageError",
    "LinkageSecretError",
    "SchemaError",
    "EngineError",
    "PanelError",
    "MatchingError",
    "DiDError",
    "ResultsError",
    "GraphError",
    "RefutationError",
    "SensitivityError",
    "ReleaseError",
    "StudyWarning",
    "ExclusionWarning",
    "ConvergenceWarning",
    "SettingWarning",
]


# --- errors -------------------------------------------------------------------------------------------------


class StudyError(ValueError):
    """Bad input to a stage of the study (a table, a column, a plan key), named in the message."""


class ConfigError(StudyError):
    """Raised by the study plan (``analysis.config``): a key is unknown, missing or has a bad value."""


class PhenotypeError(StudyError):
    """Raised by the phenotype definitions (``analysis.phenotypes``): a malformed file; names file and key."""


class FormulaError(StudyError):
    """Raised by formulas (``analysis.formulas``): a formula cannot be read or evaluated; names the term."""


class KnobError(StudyError):
    """Raised by the world's knobs (``analysis.synth.params``): unknown name, wrong type or out of range."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key  # the knob's name, for the plan to report under its own key


class SynthError(StudyError):
    """Raised by the synthetic world (``analysis.synth``): a scenario, scale or definition it cannot make."""


class LinkageError(StudyError):
    """Raised by linkage (``analysis.linkage``): an identifier table or key cannot be linked as it stands."""


class LinkageSecretError(StudyError, RuntimeError):
    """Raised by linkage keys (``analysis.linkage.keys``): the linkage secret could not be read."""


class SchemaError(StudyError):
    """Raised by the panel's schema check (``analysis.panel.schema``): a linked table breaks the schema."""


class EngineError(StudyError):
    """Raised by the panel engine (``analysis.panel.engine``): not installed, no Java, a failed query."""


class PanelError(StudyError):
    """Raised by the panel build (``analysis.panel.build``): a bad build setting or reference table."""


class MatchingError(StudyError):
    """Raised by matching and weighting (``analysis.matching``): no treated, no controls, missing values."""


class DiDError(StudyError):
    """Raised by the DiD stage (``analysis.did``: estimators, checks, caches); names table, column, rows."""


class ResultsError(StudyError):
    """Raised by a result object (``analysis.did.results``, plots): asked for what it does not hold."""


class GraphError(StudyError):
    """Raised by the causal graph (``analysis.causal.graph``): a cycle, or a node without a position."""


class RefutationError(StudyError):
    """Raised by the refutation checks (``analysis.causal.dowhy_checks``): a bad node, refuter or weight."""


class SensitivityError(StudyError):
    """Raised by sensitivity analysis (``analysis.causal.sensitivity``: HonestDiD, E-value): bad input."""


class ReleaseError(StudyError):
    """Raised by release checks (``analysis.report.release``): an output cannot be released as it stands."""


# --- warnings -----------------------------------------------------------------------------------------------


class StudyWarning(UserWarning):
    """Base of the package's warnings: filter this to silence or escalate them all."""


class ExclusionWarning(StudyWarning):
    """Rows, units or cells were dropped or not estimated; the message gives the count or the cells."""


class ConvergenceWarning(StudyWarning):
    """A fit did not converge or hit a limit (an iteration cap, scores at 0 or 1, a grid's end)."""


class SettingWarning(StudyWarning):
    """A setting was overridden, or the input was made under a setting the method does not assume."""
