"""Group-time ATTs net of each cohort's linear pre-trend: the design to use when the pre-test rejects
parallel trends and the pre-period estimates drift along a line.

With a universal base period b = g-1-anticipation, ATT(g,t) for t < b estimates the cohort's differential
trend before treatment (zero under parallel trends). If that differential trend is linear in the distance
from the base, ``delta_g(t) = s_g * (t - b)``, its slope is the least-squares fit through the origin on the
pre-period cells, ``s_g = sum_k k * ATT(g, b+k) / sum_k k^2`` over k < 0, and the trend-adjusted effect is

    ATT~(g,t) = ATT(g,t) - s_g * (t - b)

for every cell of the cohort (pre-period cells become the residuals of the fit). Both are linear in the
ATT(g,t), so their influence functions are the same linear combinations of att_gt's, and the analytic
standard errors, multiplier bootstrap, uniform bands and every ``aggte`` aggregation carry over without a
refit. The pre-test of the adjusted result is the Wald test that the pre-period residuals are zero (that
the pre-trend is linear), on the pseudo-inverse of their covariance with one degree of freedom removed
per fitted slope.

This is the linear extrapolation of pre-trends used in event studies (e.g. Dobkin, Finkelstein, Kluender
and Notowidigdo 2018, AER 108(2)), applied cohort by cohort to the Callaway-Sant'Anna cells. It makes the
assumption of Rambachan and Roth's (2023) smoothness restriction with M = 0, whose interval
(``analysis.causal.honest_did``) weights the pre-periods optimally instead of by least squares. It needs one fixed
comparison group (never treated): with not-yet-treated comparisons the comparison set shrinks after the
base period, and a trend fitted against one set would be extrapolated to another. It removes a linear
differential trend, not a curved one: read it next to the unadjusted estimate and the sensitivity
analysis, not instead of them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from analysis.did.attgt import AttGtResult, Cell, inference
from analysis.did.drdid import DiDError


def trend_adjusted(res: AttGtResult) -> AttGtResult:
    """``res`` (``att_gt`` with ``base_period="universal"`` and ``control_group="nevertreated"``, one fixed
    comparison group) with each cohort's linear pre-trend removed.

    Cohorts with no pre-period cell before the base period (nothing to fit a slope on) are left out and
    named in ``notes``; their count is in ``exclusions``.

    Parameters
    ----------
    res : AttGtResult
        An ``att_gt`` result with ``base_period="universal"`` and ``control_group="nevertreated"``.

    Returns
    -------
    AttGtResult
        The adjusted ATT(g,t) with their influence functions, standard errors and bootstrap (no refit);
        ``aggte`` aggregates them as any ``att_gt`` result. Its pre-test is that the pre-trends are linear.

    References
    ----------
    Dobkin, C., Finkelstein, A., Kluender, R. and Notowidigdo, M. J. (2018). The Economic Consequences of
    Hospital Admissions. American Economic Review 108(2), 308-352.

    Examples
    --------
    Participants' outcomes drift up by 0.3 a year before they enrol; the effect is 2:

    >>> import numpy as np, pandas as pd
    >>> from analysis.did import aggte, att_gt, trend_adjusted
    >>> rng = np.random.default_rng(3)
    >>> ids, year = np.repeat(np.arange(1, 16), 6), np.tile(np.arange(2018, 2024), 15)
    >>> g = np.repeat([0] * 5 + [2021] * 5 + [2022] * 5, 6)
    >>> y = np.where(g > 0, 0.3 * (year - 2018), 0.0) + 2.0 * ((g > 0) & (year >= g)) + rng.normal(0, 0.05, 90)
    >>> res = att_gt(pd.DataFrame({"id": ids, "year": year, "g": g, "y": y}), "y", "year", "id", "g",
    ...              base_period="universal", bstrap=False, cband=False)
    >>> round(float(aggte(res, "simple").overall_att), 3)  # the drift read as an effect
    2.556
    >>> round(float(aggte(trend_adjusted(res), "simple").overall_att), 3)
    2.016
    """
    if res.settings["base_period"] != "universal":
        raise DiDError("trend_adjusted: needs att_gt(..., base_period='universal') so that every pre-period "
                       "ATT(g,t) is measured from the same base period as the post-period ones")
    if res.settings["control_group"] != "nevertreated":
        raise DiDError("trend_adjusted: needs att_gt(..., control_group='nevertreated'): with not-yet-treated "
                       "comparisons the comparison set of the post-periods (units not treated by t) differs from "
                       "the one the pre-trend is fitted on, so the fitted trend is not the one extrapolated")
    group = np.array([c.group for c in res.cells])
    dist = np.array([c.time - c.base for c in res.cells], dtype=float)
    keep = np.ones(len(res.att), dtype=bool)
    notes = list(res.notes)
    fits = []  # (cohort's cells, pre-period cells, least-squares weights of the slope)
    for g in np.unique(group):
        cohort = group == g
        pre = cohort & (dist < 0) & np.isfinite(res.att)
        if not pre.any():
            keep &= ~cohort
            continue
        k = dist[pre]
        fits.append((cohort, pre, k / (k @ k)))

    def detrend(A: np.ndarray) -> np.ndarray:
        """The columns (cells) of ``A`` net of each cohort's fitted linear pre-trend: the same linear map
        for the estimates (one row), their influence functions (units) and their bootstrap draws."""
        A = A.copy()
        for cohort, pre, w in fits:
            A[:, cohort] -= np.outer(A[:, pre] @ w, dist[cohort])
        return A

    dropped = [int(g) for g in np.unique(group[~keep])]
    slopes = len(fits)
    if dropped:
        notes.append(f"trend_adjusted: cohorts {dropped} left out: no pre-period before the base period to fit "
                     "a trend on")
    if not keep.any():
        raise DiDError("trend_adjusted: no cohort has a pre-period before its base period")
    att, inf = detrend(res.att[None, :])[0], detrend(res.inffunc)
    draws = None
    if res.draws is not None:  # cells, then the cohort shares' columns (unchanged)
        nc = len(res.cells)
        raw = np.hstack([detrend(res.draws.raw[:, :nc])[:, keep], res.draws.raw[:, nc:]])
        draws = dataclasses.replace(res.draws, raw=raw)
    cells: list[Cell] = [c for c, k in zip(res.cells, keep, strict=True) if k]
    att, inf = att[keep], inf[:, keep]
    n_pre = int(((dist[keep] < 0) & np.isfinite(att)).sum())
    settings = res.settings | {"trend": "linear"}
    design = res.design
    if dropped:
        excl = dict(design.exclusions)
        excl["cohorts without a pre-trend period (trend_adjusted)"] = len(dropped)
        design = dataclasses.replace(design, exclusions=excl)
    return inference(design, cells, att, inf, notes, settings, f"trend_adjusted({res.call})",
                     pretest_df=n_pre - slopes, draws=draws)

