"""The study's designs, declared once, and the Callaway-Sant'Anna variant built for self-selected enrolment.

``DESIGNS`` is the registry the estimates, the headline rule, the figures and the reports read: a design's
name, its labels in Korean and English, its figure colour and the aggregation it is read by. Adding a design
means one entry here and its estimate in ``outcomes.estimate_all``.

The variant (Callaway and Sant'Anna 2021, J. Econometrics 225(2), with R ``did``'s estimators):

- ``later_joiners``: only people who enrol at some time, each cohort against those not yet enrolled
  (volunteers against volunteers; what the health-conscious share, they share with later joiners). With
  no never-treated units R did's rule applies: the last cohort serves as the comparison only, and periods
  from its enrolment on have no comparison (counted in the notes).

And a range built from two designs:

- ``bracket``: from the plan's Callaway-Sant'Anna design, which compares changes without regard to the
  screening before enrolment, to the design matched on the last screening before enrolment
  (``stacked_matched``). Where people join after an abnormal screening (transient shocks that regress to
  the mean), the unmatched comparison overstates a fall and the matched one is right; where joiners differ
  lastingly (a level, parallel afterwards), the unmatched one is right and matching on a noisy level
  builds regression to the mean into the controls, biased the other way. Under either, the truth lies
  between the two (Angrist and Pischke 2009, Mostly Harmless Econometrics, section 5.4; Ding and Li 2019,
  Political Analysis 27(4); Daw and Hatfield 2018, Health Services Research 53(6) on matching in DiD).
  No point estimate: the headline for checkup measures and new diagnoses (``headline.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.did.attgt import AttGtResult, att_gt
from analysis.did.drdid import DiDError


@dataclass(frozen=True)
class DesignSpec:
    """Everything about a design that the outputs need."""

    name: str
    label_ko: str  # report prose
    label_en: str
    figure_label: str  # bilingual, in figures
    colour: str
    aggregation: str  # the headline aggregation in estimates.csv


DESIGNS: dict[str, DesignSpec] = {d.name: d for d in (
    DesignSpec("published", "서울시 발표 설계", "the city's published design",
               "서울시 발표 설계 · city's published design", "#c0392b", "2x2"),
    DesignSpec("callaway_santanna", "Callaway-Sant'Anna 설계(계획)", "the plan's Callaway-Sant'Anna design",
               "Callaway-Sant'Anna (계획 · plan)", "#2c7fb8", "simple"),
    DesignSpec("callaway_santanna_trend", "추세 보정 Callaway-Sant'Anna 설계",
               "the trend-adjusted Callaway-Sant'Anna design", "추세 보정 CS · trend-adjusted CS", "#41ab5d",
               "simple"),
    DesignSpec("callaway_santanna_calibrated", "음성대조로 보정한 Callaway-Sant'Anna 설계",
               "the plan's Callaway-Sant'Anna design calibrated by negative controls",
               "음성대조 보정 CS · CS calibrated by negative controls", "#e6550d", "simple"),
    DesignSpec("later_joiners", "나중 참여자 비교 설계", "the later-joiners comparison (volunteers against volunteers)",
               "나중 참여자 비교 · later joiners", "#e7298a", "simple"),
    DesignSpec("rambachan_roth", "Rambachan-Roth 범위(점 추정 없음)", "the Rambachan-Roth range (no point estimate)",
               "Rambachan-Roth 범위 · bounds", "#fd8d3c", "dynamic"),
    DesignSpec("stacked_matched", "적층 매칭 DiD", "stacked matched DiD", "적층 매칭 DiD · stacked matched",
               "#8856a7", "overall"),
    DesignSpec("bracket", "매칭 전후 설계 사이 범위(점 추정 없음)",
               "the range between the unmatched and the matched design (no point estimate)",
               "매칭 전후 범위 · bracket", "#1b9e77", "overall"),
    DesignSpec("poisson_etwfe", "비율 척도 DiD(포아송 확장 TWFE)",
               "the ratio-scale DiD (Wooldridge's Poisson extended TWFE)", "비율 척도 DiD · ratio-scale DiD",
               "#a6761d", "simple"),
    DesignSpec("twfe", "이원고정효과(TWFE)", "two-way fixed effects (TWFE)", "TWFE", "#969696", "static"),
)}


def later_joiners(panel: pd.DataFrame, yname: str, xformla: str | None, **kwargs) -> AttGtResult:
    """``att_gt`` on the people who ever enrol, each cohort against those not yet enrolled (``kwargs``:
    att_gt's; ``control_group`` is "notyettreated")."""
    ever = panel[panel.first_treat > 0]
    if ever.first_treat.nunique() < 2:
        raise DiDError("later_joiners: needs at least two enrolment cohorts")
    kwargs = {**kwargs, "control_group": "notyettreated"}
    return att_gt(ever, yname, "year", "study_id", "first_treat", xformla, **kwargs)
