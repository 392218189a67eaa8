"""Causal assumptions, their tests and the sensitivity of the conclusions (the stage after ``did/``).

The folder will hold the assumed causal graph and its identification, the refutation checks
(placebos, negative controls) and the sensitivity analyses. So far it has the sensitivity part:
Rambachan & Roth (2023) robust intervals for an event study (``honest_did``, with ``event_study_inputs``
to take them from a Callaway-Sant'Anna dynamic aggregation) and VanderWeele & Ding's E-value
(``e_value``). The graph and the refutation suite come later (issue 5).
"""

from analysis.causal.sensitivity import EValueResult, HonestDiDResult, e_value, event_study_inputs, honest_did

__all__ = ["EValueResult", "HonestDiDResult", "e_value", "event_study_inputs", "honest_did"]
