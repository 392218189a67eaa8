"""Causal assumptions, their tests and the sensitivity of the conclusions (the stage after ``did/``).

- ``graph``: the assumed causal graph (``graph.dot``) and its figure;
- ``dowhy_checks``: DoWhy's identification and refuters on the published design's change score, with our
  own weights passed in and a fresh copy of the data for every estimation and refutation;
- ``falsification``: placebo in time (``placebo_in_time``) and the city's matched sample followed over
  2017-2023 (``published_event_study``);
- ``sensitivity``: Rambachan & Roth (2023) robust intervals for an event study (``honest_did``, fed by
  ``event_study_inputs`` from a Callaway-Sant'Anna dynamic aggregation) and VanderWeele & Ding's E-value
  (``e_value``);
- ``refutation``: every check as one list (``refutation_checks``), which ``python -m analysis run`` writes
  to ``refutation.json``; ``plots.plot_sensitivity`` draws the bounds from it.
"""

import importlib
from typing import TYPE_CHECKING

# names load on first use (PEP 562): a notebook that draws the causal graph does not import DoWhy and
# every check with it
_EXPORTS = {
    "DoWhyResult": "analysis.causal.dowhy_checks",
    "change_score_frame": "analysis.causal.dowhy_checks",
    "dowhy_analysis": "analysis.causal.dowhy_checks",
    "placebo_in_time": "analysis.causal.falsification",
    "published_event_study": "analysis.causal.falsification",
    "load_graph": "analysis.causal.graph",
    "plot_graph": "analysis.causal.graph",
    "refutation_checks": "analysis.causal.refutation",
    "EValueResult": "analysis.causal.sensitivity",
    "HonestDiDResult": "analysis.causal.sensitivity",
    "e_value": "analysis.causal.sensitivity",
    "event_study_inputs": "analysis.causal.sensitivity",
    "honest_did": "analysis.causal.sensitivity",
}

if TYPE_CHECKING:
    from analysis.causal.dowhy_checks import DoWhyResult, change_score_frame, dowhy_analysis
    from analysis.causal.falsification import placebo_in_time, published_event_study
    from analysis.causal.graph import load_graph, plot_graph
    from analysis.causal.refutation import refutation_checks
    from analysis.causal.sensitivity import (
        EValueResult,
        HonestDiDResult,
        e_value,
        event_study_inputs,
        honest_did,
    )


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DoWhyResult", "EValueResult", "HonestDiDResult", "change_score_frame", "dowhy_analysis", "e_value",
           "event_study_inputs", "honest_did", "load_graph", "placebo_in_time", "plot_graph",
           "published_event_study", "refutation_checks"]
