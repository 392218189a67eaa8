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
    Aggregate with ``aggte``; ``trend_adjusted`` applies as to the main design.

    Parameters
    ----------
    panel : pandas.DataFrame
        Person-year panel with ``idname``, ``tname``, ``gname`` (0: never enrolled) and the outcome.
    yname : str
        Outcome column.
    xformla : str, optional
        Covariates, as ``att_gt``'s.
    shift : int, default 2
        Years each cohort is moved earlier (a whole number >= 1).
    est_method : {"dr", "ipw", "reg"}, default "dr"
        As ``att_gt``'s.
    idname, tname, gname : str
        Person, year and enrolment-year columns.
    alp : float, default 0.05
        Significance level.

    Returns
    -------
    AttGtResult
        The placebo cohorts' group-time effects, in the years before anyone enrolled.

    Examples
    --------
    Two cohorts (2022, 2023) and never-enrolled persons on a common trend, an effect of 2 after enrolment:
    the placebo two years early finds nothing. When enrollees' outcomes fall by 0.3 a year of their own,
    the placebo sees it (before enrolment, where the program cannot act):

    >>> import numpy as np, pandas as pd
    >>> from analysis.causal import placebo_in_time
    >>> from analysis.did import aggte
    >>> rng = np.random.default_rng(5)
    >>> ids = np.arange(1, 301)
    >>> g = np.where(ids <= 100, 2022, np.where(ids <= 200, 2023, 0))
    >>> p = pd.DataFrame({"study_id": np.repeat(ids, 9), "year": np.tile(np.arange(2017, 2026), 300),
    ...                   "first_treat": np.repeat(g, 9)})
    >>> p["y"] = (0.2 * (p.year - 2017) + 2.0 * ((p.first_treat > 0) & (p.year >= p.first_treat))
    ...           + rng.normal(0, 0.3, len(p)))
    >>> a = aggte(placebo_in_time(p, "y"), "simple")
    >>> round(a.overall_att, 2), round(a.overall_se, 2)
    (-0.03, 0.04)
    >>> own_trend = p.assign(y=p.y - 0.3 * (p.first_treat > 0) * (p.year - 2017))
    >>> a = aggte(placebo_in_time(own_trend, "y"), "simple")
    >>> round(a.overall_att, 2), round(a.overall_se, 2)
    (-0.43, 0.04)
    """
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
    year). Controls are people not enrolled by the end of 2023, so the years stop at 2023.

    Parameters
    ----------
    panel : pandas.DataFrame
        The analysis panel.
    yname : str
        Outcome column.
    years : tuple of int, default 2017-2023
        Years followed (none after 2023).
    ratio : int, default 10
        Controls per joiner.
    covariates : tuple of str, optional
        The propensity terms (default the city's, ``published_design``'s).

    Returns
    -------
    MatchedDiDResult
        ``ATT`` (2022-2023 against 2017-2021) and the event study ``e=k``; ``event_study_inputs`` takes it
        for ``honest_did``.

    Examples
    --------
    >>> from analysis.panel import example_panel
    >>> from analysis.causal import event_study_inputs, published_event_study
    >>> es = published_event_study(example_panel(), "medical_cost")
    >>> list(es.params.index), es.n_treated
    (['ATT', 'e=-5', 'e=-4', 'e=-3', 'e=-2', 'e=0', 'e=1'], 86)
    >>> beta, sigma, n_pre, n_post = event_study_inputs(es)
    >>> n_pre, n_post, sigma.shape
    (4, 2, (6, 6))
    """
    from analysis.matching.riskset import published_design

    if max(years) > 2023:
        raise DiDError("published_event_study: the city's controls are only unenrolled through 2023")
    kw = {} if covariates is None else {"covariates": covariates}
    return stacked_did(published_design(panel, ratio=ratio, years=years, **kw).data, yname,
                       table="published event study")
