"""The study's designs, declared once, and the Callaway-Sant'Anna variant built for self-selected enrolment.

``DESIGNS`` is the registry the estimates, the headline rule, the figures and the reports read: a design's
name, its labels in Korean and English, its figure colour and the aggregation it is read by. Adding a design
means one entry here and its estimate in ``outcomes.estimate_all``.

The variant (Callaway and Sant'Anna 2021, J. Econometrics 225(2), with R ``did``'s estimators):

- ``later_joiners``: only people who enrol at some time, each cohort against those not yet enrolled
  (volunteers against volunteers; what the health-conscious share, they share with later joiners). With
  no never-treated units R did's rule applies: the last cohort serves as the comparison only, and periods
  from its enrolment on have no comparison (counted in the notes).

- ``screening_window``: the screening window set aside. NHIS screening is biennial and people join after
  an abnormal result (the city even filled quotas with people with metabolic syndrome), so the two years
  before enrolment can hold the screening that prompted joining, and a comparison measured from the year
  before enrolment reads the regression to the mean of that screening as an effect. Here cohort g is
  measured from g-3 (R did's ``anticipation`` = 2) and compared only with people not enrolled within two
  years of the compared year: the base period before the dip (Heckman, LaLonde and Smith 1999, Handbook of
  Labor Economics 3A, ch. 31; Chabe-Ferret 2015, J. Econometrics 185(1), on selection on transitory
  shocks). Its effects are read from the enrolment year on, as every other design's; a screening earlier
  in the enrolment year that prompted joining pulls that year toward the abnormal result, the way this
  design already errs (below).

And a range built from three designs:

- ``bracket``: the span of three intervals, each from a design that is right under one account of why
  people join and errs in a known direction under the others. The data cannot tell the accounts apart, so
  the headline is the span, with no point estimate:

  * the plan's Callaway-Sant'Anna design: right where
    joiners differ lastingly (a level, parallel afterwards); where people join after an abnormal screening,
    its base year holds that screening and part of a fall from it is regression to the mean (it overstates
    a fall);
  * the screening-window design: measured from before the window, so the joiners' screening does not
    enter; but when a third of the city joins, not joining is itself selection, and its comparisons are
    people whose screenings in the compared years did not prompt them to join (it understates a fall);
  * the stacked matched design (``stacked_matched``: each cohort matched on its last screening and its
    diagnoses before enrolment): right where the screening that prompted joining also changed what follows
    it (a diagnosis made at that screening takes the person off the risk of a new one, which neither
    unmatched design can see); where joiners differ lastingly, matching on a noisy level builds regression
    to the mean into the controls (Daw and Hatfield 2018, Health Services Research 53(6)).

  Without selection all three are consistent and the span is their sampling spread: where no pair of them
  differs significantly (``arms_agreement``), the headline rule leads with the plan's design. Neither sees trends
  that differ apart from the screening: the headline rule takes the bracket only where the years before the
  screening cycle were parallel (``headline.py``). All three average the effect from the enrolment year on;
  its truth is the plan design's. (Until 2026-12 the bracket was the plan's and the matched design's span, which at larger
  scales erred the same way on the checkup measures: README.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.did.attgt import AttGtResult, att_gt, wald_pretest
from analysis.did.drdid import DiDError

# NHIS general health screening is biennial for most adults: the screening that prompts joining can fall in
# either of the two years before enrolment, or earlier in the enrolment year itself
SCREENING_CYCLE = 2


@dataclass(frozen=True)
class DesignSpec:
    """Everything about a design that the outputs need."""

    name: str
    label_ko: str  # report prose
    label_en: str
    figure_label: str  # bilingual, in figures
    colour: str
    marker: str  # matplotlib marker in the forest plot: designs told apart by shape, not colour alone
    aggregation: str  # the headline aggregation in estimates.csv


DESIGNS: dict[str, DesignSpec] = {d.name: d for d in (
    DesignSpec("published", "서울시 발표 설계", "the city's published design",
               "서울시 발표 설계 · city's published design", "#c0392b", "o", "2x2"),
    DesignSpec("callaway_santanna", "Callaway-Sant'Anna 설계(계획)", "the plan's Callaway-Sant'Anna design",
               "Callaway-Sant'Anna 계획 설계 · Callaway-Sant'Anna (plan)", "#2c7fb8", "s", "simple"),
    DesignSpec("callaway_santanna_trend", "추세 보정 Callaway-Sant'Anna 설계",
               "the trend-adjusted Callaway-Sant'Anna design", "추세 보정 CS · trend-adjusted CS", "#41ab5d", "v",
               "simple"),
    DesignSpec("callaway_santanna_calibrated", "음성대조로 보정한 Callaway-Sant'Anna 설계",
               "the plan's Callaway-Sant'Anna design calibrated by negative controls",
               "음성대조 보정 CS · CS calibrated by negative controls", "#e6550d", "^", "simple"),
    DesignSpec("later_joiners", "나중 참여자 비교 설계", "the later-joiners comparison (volunteers against volunteers)",
               "나중 참여자 비교 · later joiners", "#e7298a", "<", "simple"),
    DesignSpec("rambachan_roth", "Rambachan-Roth 범위(점 추정 없음)", "the Rambachan-Roth range (no point estimate)",
               "Rambachan-Roth 범위 · bounds", "#fd8d3c", ">", "dynamic"),
    DesignSpec("stacked_matched", "적층 매칭 DiD", "stacked matched DiD", "적층 매칭 DiD · stacked matched",
               "#8856a7", "P", "overall"),
    DesignSpec("screening_window", "검진 시기 제외 Callaway-Sant'Anna 설계",
               "the Callaway-Sant'Anna design with the screening window set aside",
               "검진 시기 제외 CS · screening window set aside", "#e6ab02", "X", "simple"),
    DesignSpec("screening_window_calibrated", "검진 시기 제외 설계(음성대조 보정)",
               "the screening-window design calibrated by negative controls",
               "검진 시기 제외 CS 보정 · screening window, calibrated", "#6a3d9a", "h", "simple"),
    DesignSpec("bracket", "참여 이유에 대한 세 가지 설명 각각에 맞는 세 설계의 범위(점 추정 없음)",
               "the span of three designs, each right under one account of why people joined (no point estimate)",
               "세 설계의 범위 · bracket", "#1b9e77", "p", "overall"),
    DesignSpec("calibration_span", "음성대조 보정 전후 구간을 모두 아우르는 범위(점 추정 없음)",
               "the span of the calibrated and the uncalibrated intervals (no point estimate)",
               "보정 전후 범위 · calibrated-uncalibrated span", "#d95f02", "*", "overall"),
    DesignSpec("poisson_etwfe", "비율 척도 DiD(포아송 확장 TWFE)",
               "the ratio-scale DiD (Wooldridge's Poisson extended TWFE)", "비율 척도 DiD · ratio-scale DiD",
               "#a6761d", "d", "simple"),
    DesignSpec("twfe", "이원고정효과(TWFE)", "two-way fixed effects (TWFE)", "TWFE", "#969696", "H", "static"),
)}


def later_joiners(panel: pd.DataFrame, yname: str, xformla: str | None, **kwargs) -> AttGtResult:
    """``att_gt`` on the people who ever enrol, each cohort against those not yet enrolled: volunteers
    compared with volunteers, where the never-enrolled differ from them in their outcome's trend.

    Parameters
    ----------
    panel : pandas.DataFrame
        The analysis panel (``study_id``, ``year``, ``first_treat``; 0 = never enrolled, left out here).
    yname : str
        Outcome column.
    xformla : str or None
        Covariates as R's one-sided formula (``att_gt``'s).
    **kwargs
        ``att_gt``'s other arguments; ``control_group`` is always "notyettreated".

    Returns
    -------
    AttGtResult
        As ``att_gt``: without never-enrolled people the last cohort is the comparison and its years are
        dropped (R did), so only earlier cohorts' effects before it enrols are estimated.

    Examples
    --------
    Volunteers' outcome falls by 0.5 a year whether or not they enrol; enrolment adds 1.0:

    >>> import numpy as np, pandas as pd
    >>> from analysis.did import aggte, att_gt
    >>> from analysis.did.designs import later_joiners
    >>> rng = np.random.default_rng(3)
    >>> n, years = 300, np.arange(2016, 2025)
    >>> g = np.repeat(rng.choice([0, 2021, 2023], n), len(years))
    >>> sid, year = np.repeat(np.arange(1, n + 1), len(years)), np.tile(years, n)
    >>> y = np.where(g > 0, -0.5, 0.0) * (year - 2016) + 1.0 * ((g > 0) & (year >= g)) + rng.normal(0, 0.3, len(year))
    >>> panel = pd.DataFrame({"study_id": sid, "year": year, "first_treat": g, "y": y})
    >>> plan = att_gt(panel, "y", "year", "study_id", "first_treat", bstrap=False, cband=False)
    >>> round(float(aggte(plan, "simple").overall_att), 2)  # against the never-enrolled: biased
    -0.07
    >>> round(float(aggte(later_joiners(panel, "y", None, bstrap=False, cband=False), "simple").overall_att), 2)
    1.0
    """
    ever = panel[panel.first_treat > 0]
    if ever.first_treat.nunique() < 2:
        raise DiDError("later_joiners: needs at least two enrolment cohorts")
    kwargs = {**kwargs, "control_group": "notyettreated"}
    return att_gt(ever, yname, "year", "study_id", "first_treat", xformla, **kwargs)


def screening_window(panel: pd.DataFrame, yname: str, xformla: str | None, *, anticipation: int = 0,
                     **kwargs) -> AttGtResult:
    """``att_gt`` with each cohort's screening window set aside: R did's ``att_gt`` with ``anticipation``
    = ``SCREENING_CYCLE`` (plus the plan's own), so that cohort g is compared from year g-3, before any
    screening that could have prompted joining, and only with people not enrolled within two years of the
    compared year (whose own screening window does not touch it).

    Parameters
    ----------
    panel : pandas.DataFrame
        The analysis panel (``study_id``, ``year``, ``first_treat``).
    yname : str
        Outcome column.
    xformla : str or None
        Covariates as R's one-sided formula (``att_gt``'s).
    anticipation : int, default 0
        The plan's own anticipation, added to the screening cycle.
    **kwargs
        ``att_gt``'s other arguments.

    Returns
    -------
    AttGtResult
        As ``att_gt``.

    Examples
    --------
    A transient dip in the year before enrolment (an abnormal checkup that prompted joining) doubles the
    plan's estimate of an effect of 1.0; set aside, it does not:

    >>> import numpy as np, pandas as pd
    >>> from analysis.did import aggte, att_gt
    >>> from analysis.did.designs import screening_window
    >>> rng = np.random.default_rng(3)
    >>> n, years = 300, np.arange(2016, 2025)
    >>> g = np.repeat(rng.choice([0, 2021, 2023], n), len(years))
    >>> sid, year = np.repeat(np.arange(1, n + 1), len(years)), np.tile(years, n)
    >>> y = -1.0 * ((g > 0) & (year == g - 1)) + 1.0 * ((g > 0) & (year >= g)) + rng.normal(0, 0.3, len(year))
    >>> panel = pd.DataFrame({"study_id": sid, "year": year, "first_treat": g, "y": y})
    >>> plan = att_gt(panel, "y", "year", "study_id", "first_treat", bstrap=False, cband=False)
    >>> round(float(aggte(plan, "simple").overall_att), 2)
    2.01
    >>> round(float(aggte(screening_window(panel, "y", None, bstrap=False, cband=False), "simple").overall_att), 2)
    0.97
    """
    return att_gt(panel, yname, "year", "study_id", "first_treat", xformla,
                  anticipation=anticipation + SCREENING_CYCLE, **kwargs)


def pretest_before(res: AttGtResult, periods: int) -> float | None:
    """The pre-test of parallel trends (``wald_pretest``) on the pre-enrolment periods more than ``periods``
    years before ``res``'s cohort year (event times <= -(periods + 1)), with a varying base period: whether
    the outcome was drifting apart before a window of ``periods`` years ahead of treatment. None with a
    universal base period (every pre-period is then measured against the last one) or where no such period
    exists."""
    if res.settings.get("base_period") != "varying":
        return None
    early = np.array([c.time - c.group <= -(periods + 1) for c in res.cells]) & np.isfinite(res.se)
    return wald_pretest(res.att, res.V, res.inffunc.shape[0], early)[1]


def arms_agreement(arms: dict[str, tuple[float, float, pd.Series | None]]) -> dict | None:
    """Whether the bracket's arms estimate one effect: for every pair, the Wald test that their estimates are
    equal (Hausman 1978, Econometrica 46(6): estimators consistent under different assumptions should agree
    where both hold), the variance of the difference taking their sampling covariance into account.

    ``arms``: design -> (estimate, standard error, influence), the influence a Series of each unit's
    contribution (``aggte``'s ``inf_overall`` or ``stacked_did``'s ``influence``) indexed by person, from
    which the arms' sampling correlation over the persons both use is found
    (``calibration.sampling_correlation``); their covariance is that correlation times their standard
    errors. The arms estimate on the same people, so their estimates move together and a difference varies
    less than their two variances add up to: without the covariance the test would rarely see a real
    difference. Returns ``p_value`` (the smallest over the pairs: no correction for the three tests, so
    that the rule errs toward the bracket) and each pair's ``difference``, ``std_error`` and ``p_value``;
    None with fewer than two arms or an arm without influence."""
    from scipy.stats import norm

    from analysis.did.calibration import sampling_correlation

    arms = {k: v for k, v in arms.items() if v is not None and np.isfinite(v[0]) and np.isfinite(v[1])}
    if len(arms) < 2 or any(v[2] is None for v in arms.values()):
        return None
    names = list(arms)
    R = sampling_correlation([arms[n][2] for n in names])
    pairs = {}
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            b = names[j]
            (ea, sa, _), (eb, sb, _) = arms[a], arms[b]
            var = sa**2 + sb**2 - 2 * R[i, j] * sa * sb
            se = float(np.sqrt(max(var, 0.0)))
            p = float(2 * norm.sf(abs(ea - eb) / se)) if se > 0 else (1.0 if ea == eb else 0.0)
            pairs[f"{a} - {b}"] = {"difference": float(ea - eb), "std_error": se, "correlation": float(R[i, j]),
                                   "p_value": p}
    return {"p_value": min(v["p_value"] for v in pairs.values()), "pairs": pairs}
