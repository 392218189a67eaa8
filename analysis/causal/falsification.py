"""Falsification tests the design allows: a placebo in time and the event study of the city's matched sample.

``placebo_in_time``: pretend every cohort enrolled ``shift`` years earlier and estimate on the years before
anyone enrolled, where the program cannot have done anything; a design whose assumptions hold finds nothing.
``published_event_study``: the city's 1:10 matched sample of 2022 joiners followed over 2017-2023 instead of
only 2021 and 2023, so that its 2x2 gets the pre-periods it never showed (and a Rambachan-Roth analysis).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.did import AttGtResult, MatchedDiDResult, att_gt, stacked_did
from analysis.did.drdid import DiDError


def placebo_in_time(
    panel: pd.DataFrame,
    yname: str,
    xformla: str | None = None,
    *,
    shift: int = 2,
    est_method: str = "dr",
    idname: str = "study_id",
    tname: str = "year",
    gname: str = "first_treat",
    alp: float = 0.05,
) -> AttGtResult:
    """``att_gt`` on the years before the first real enrolment with every cohort moved ``shift`` years
    earlier (never-treated comparisons, universal base period, analytic SEs).

    Cohorts whose placebo year falls outside that window are untreated throughout it and count as
    comparisons there (they are future participants, as the not-yet-treated are in the main design);
    placebo cohorts without a year before them are left out by ``att_gt`` and counted in its exclusions.
    Aggregate with ``aggte``; ``trend_adjusted`` applies as to the main design."""
    if int(shift) != shift or shift < 1:
        raise DiDError(f"placebo_in_time: shift must be a whole number >= 1; got {shift!r}")
    g = panel[gname].to_numpy()
    cohorts = np.unique(g[g > 0])
    if not len(cohorts):
        raise DiDError(f"placebo_in_time: no treated unit ({gname} > 0) in the panel")
    first = int(cohorts.min())
    window = panel[panel[tname] < first]
    years = np.unique(window[tname])
    fake = np.where(window[gname] > 0, window[gname] - shift, 0)
    fake = np.where(fake >= first, 0, fake)  # placebo year after the window: untreated throughout it
    if not len(years) or not (fake > years.min()).any():
        raise DiDError(f"placebo_in_time: no cohort has a placebo year {shift} years early with a year before "
                       f"it inside {years.min() if len(years) else '-'}..{first - 1} (the years before anyone "
                       "enrolled)")
    data = window.assign(**{gname: fake})
    return att_gt(data, yname, tname, idname, gname, xformla, control_group="nevertreated",
                  base_period="universal", est_method=est_method, bstrap=False, cband=False, alp=alp,
                  allow_unbalanced_panel=bool(data[yname].isna().any()), table="panel (placebo in time)")


def published_event_study(panel: pd.DataFrame, yname: str, *, years: tuple[int, ...] = tuple(range(2017, 2024)),
                          ratio: int = 10, covariates: tuple[str, ...] | None = None) -> MatchedDiDResult:
    """The city's matched sample (2022 joiners, 1:10 on its five covariates) followed over ``years``:
    ``stacked_did`` with person and year effects, e = year - 2022, reference e = -1 (2021, the city's base
    year). Controls are people not enrolled by the end of 2023, so the years stop at 2023. ``covariates``:
    the propensity terms (default the city's)."""
    from analysis.matching.riskset import published_design

    if max(years) > 2023:
        raise DiDError("published_event_study: the city's controls are only unenrolled through 2023")
    kw = {} if covariates is None else {"covariates": covariates}
    return stacked_did(published_design(panel, ratio=ratio, years=years, **kw).data, yname,
                       table="published event study")
