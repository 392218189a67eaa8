"""Difference-in-differences for staggered enrolment: Callaway-Sant'Anna (``att_gt``, ``aggte``) with R
did's semantics, two-way fixed effects as the benchmark (``twfe``), stacked matched DiD (``stacked_did``),
the city's published 2x2 design (``did_2x2``), and every outcome of the plan in one call."""

from analysis.did.aggte import AggteResult, aggte
from analysis.did.attgt import AttGtResult, att_gt
from analysis.did.drdid import DiDError

__all__ = ["AggteResult", "AttGtResult", "DiDError", "aggte", "att_gt"]
