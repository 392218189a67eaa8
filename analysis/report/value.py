"""What the program's effect is worth against what it pays out.

Spending is what the city actually paid in the study's data: the points participants earned (1 point =
KRW 1, from the activity table, summed into the panel's person-years) plus the bands it lent (one per
participant of the band waves, at the plan's ``[report] device_cost``, an assumption). Administration, the
app, publicity and participants' own time are not in the data and are left out. Savings are the
headline design's effect on medical costs per participant-year; their interval is the estimate's interval
(spending is counted, not estimated, so it carries no sampling error of its own).

Perspective: the city pays; a saving in medical costs accrues to the National Health Insurance Service and
to patients, not to the city. It is apportioned to them by their shares of participants' medical costs in
their program years (``payer_costs``): an apportionment, not an estimate by payer. Horizon: the years
observed after enrolment, in nominal KRW, undiscounted; nothing beyond them is assumed.
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


def payer_costs(panel: pd.DataFrame) -> pd.DataFrame:
    """Each participant's medical costs in their program years, by who paid (``payer``: ``insurer``, the
    NHIS share, or ``patient``, the co-payment): one row per participant and payer, for the release review's
    sums (which check that no person dominates a total)."""
    years = panel[(panel.first_treat > 0) & (panel.program_months > 0)]
    person = years.groupby("study_id", sort=True)[["insurer_cost", "patient_cost"]].sum()
    return pd.concat([pd.DataFrame({"payer": "insurer", "cost": person.insurer_cost.to_numpy(float)}),
                      pd.DataFrame({"payer": "patient", "cost": person.patient_cost.to_numpy(float)})],
                     ignore_index=True)


def value_for_money(effect: pd.Series, spending: pd.Series, report: ReportConfig,
                    insurer_share: float = np.nan) -> dict:
    """Savings per KRW spent, with its interval, the totals at ``report.participants`` participants, the
    break-even effect and the split of the savings between the insurer and patients.

    ``effect``: the headline estimate of medical cost per participant-year (a row with estimate, conf_low,
    conf_high); negative means savings. ``spending``: a row of :func:`program_spending`. ``insurer_share``:
    the NHIS share of participants' medical costs (from the reviewed sums of :func:`payer_costs`; NaN where
    they were suppressed)."""
    per_py = float(spending["spending_per_participant_year"])
    save = -float(effect["estimate"])
    lo, hi = -float(effect["conf_high"]), -float(effect["conf_low"])
    n = report.participants
    return {
        # the yearly saving per participant at which the program pays for itself
        "break_even_per_participant_year": per_py,
        "insurer_share": insurer_share,
        "savings_per_participant_year": save, "savings_conf_low": lo, "savings_conf_high": hi,
        "spending_per_participant_year": per_py,
        "savings_per_krw": save / per_py, "savings_per_krw_conf_low": lo / per_py,
        "savings_per_krw_conf_high": hi / per_py,
        "participants": n, "savings_total": save * n, "savings_total_conf_low": lo * n,
        "savings_total_conf_high": hi * n, "spending_total": per_py * n,
        "city_savings_claim": report.published_savings,
    }
