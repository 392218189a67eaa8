"""What the program's effect is worth against what it pays out.

Spending is what the city actually paid in the study's data: the points participants earned (1 point =
KRW 1, from the activity table, summed into the panel's person-years) plus the bands it lent (one per
participant of the band waves, at the plan's ``[report] device_cost``, an assumption). Savings are the
headline design's effect on medical costs per participant-year; their interval is the estimate's interval
(spending is counted, not estimated, so it carries no sampling error of its own).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.config import ReportConfig


def program_spending(panel: pd.DataFrame, device_cost: float) -> pd.DataFrame:
    """One row: participants, participant-years in the program, points paid, bands lent, and the spending
    per participant-year (KRW)."""
    in_program = panel[(panel.first_treat > 0) & (panel.program_months > 0)]
    persons = panel.loc[panel.first_treat > 0].drop_duplicates("study_id")
    points = float(in_program.points.sum())
    bands = int((persons.device == "band").sum())
    py = int(len(in_program))
    spend = points + bands * device_cost
    return pd.DataFrame([{"participants": len(persons), "participant_years": py, "points_paid": points,
                          "bands_lent": bands, "device_cost": device_cost, "spending": spend,
                          "spending_per_participant_year": spend / py if py else np.nan}])


def value_for_money(effect: pd.Series, spending: pd.Series, report: ReportConfig) -> dict:
    """Savings per KRW spent, with its interval, and the totals at ``report.participants`` participants.

    ``effect``: the headline estimate of medical cost per participant-year (a row with estimate, conf_low,
    conf_high); negative means savings. ``spending``: a row of :func:`program_spending`."""
    per_py = float(spending["spending_per_participant_year"])
    save = -float(effect["estimate"])
    lo, hi = -float(effect["conf_high"]), -float(effect["conf_low"])
    n = report.participants
    return {
        "savings_per_participant_year": save, "savings_conf_low": lo, "savings_conf_high": hi,
        "spending_per_participant_year": per_py,
        "savings_per_krw": save / per_py, "savings_per_krw_conf_low": lo / per_py,
        "savings_per_krw_conf_high": hi / per_py,
        "participants": n, "savings_total": save * n, "savings_total_conf_low": lo * n,
        "savings_total_conf_high": hi * n, "spending_total": per_py * n,
        "city_savings_claim": report.published_savings,
    }
