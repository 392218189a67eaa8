"""Risk-set matching for staggered enrolment, and the city's published design as a preset.

For each cohort g, its enrollees are matched to people not enrolled by the start of g (never-enrolled and
later enrollees alike), on covariates measured before g for everyone (``analysis.panel.baseline_covariates``):
demographics and insurance the year before and the last pre-g checkup, so that joining after a bad checkup
is matched on rather than mistaken for an effect (the terms are the plan's ``[covariates]``). The result is
one stacked data set (sub-experiment = cohort) with event time and matching weights, ready for DiD.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.config import CovariatesConfig
from analysis.definitions import MATCHING_COVARIATES
from analysis.matching.matchit import MatchItResult, matchit
from analysis.matching.propensity import MatchingError
from analysis.panel import baseline_covariates
from analysis.panel.build import BASELINE_MEASURES

# the propensity terms of each design: the plan's [covariates] (its defaults and why, in analysis.config)
RISKSET_COVARIATES = CovariatesConfig().riskset
PUBLISHED_COVARIATES = CovariatesConfig().published_design


@dataclass(frozen=True)
class StackedMatch:
    """Matched sub-experiments stacked: ``data`` has one row per (cohort, person, year) with ``treated``,
    ``event_time``, ``weights``; ``matches`` holds each cohort's MatchIt result; ``report`` the counts."""

    data: pd.DataFrame
    matches: dict[int, MatchItResult] = field(repr=False)
    report: dict

    def balance_verdict(self) -> pd.DataFrame:
        rows = []
        for g, m in self.matches.items():
            s = m.summary()
            rows.append(
                {
                    "cohort": g,
                    "treated": int(s.nn.loc["All", "Treated"]),
                    "treated_matched": int(s.nn.loc["Matched", "Treated"]),
                    "controls_matched": int(s.nn.loc["Matched", "Control"]),
                    "max_abs_smd_before": s.max_abs_smd(matched=False),
                    "max_abs_smd_after": s.max_abs_smd(matched=True),
                }
            )
        return pd.DataFrame(rows).set_index("cohort")


def cohort_frame(panel: pd.DataFrame, g: int, control_first_treat_after: int | None = None) -> pd.DataFrame:
    """One row per person at risk for cohort g: enrollees of g and people not enrolled by the start of g
    (``first_treat`` 0 or > ``control_first_treat_after``, default g), present in the year before g."""
    after = g if control_first_treat_after is None else control_first_treat_after
    persons = panel.drop_duplicates("study_id").set_index("study_id")[["female", "first_treat"]]
    present = panel.loc[panel["year"] == g - 1, "study_id"].unique()
    persons = persons.loc[persons.index.isin(present)]
    persons = persons[(persons.first_treat == g) | (persons.first_treat == 0) | (persons.first_treat > after)]
    base = baseline_covariates(panel.loc[panel["study_id"].isin(persons.index)], g)
    df = persons.join(base, how="left")
    df["treated"] = (df.first_treat == g).astype(int)
    # no checkup before g: an indicator, and the value set to the cohort mean (reported, not dropped)
    df["no_checkup_pre"] = df["baseline_checkup_year"].isna().astype(float)
    for c in (f"{m}_pre" for m in BASELINE_MEASURES):
        df[c] = df[c].astype(float).fillna(df[c].mean())
    for c in ("cost_pre1", "cost_pre2"):
        df[c] = df[c].fillna(0.0)
    df["disability_pre"] = df["disability_pre"].fillna(False).astype(float)
    df["female"] = df["female"].astype(float)
    for c in ("age_pre", "premium_decile_pre"):
        df[c] = df[c].astype(float)
    missing = [c for c in MATCHING_COVARIATES if c not in df]
    if missing:  # the contract the plan's [covariates] is validated against
        raise MatchingError(f"cohort {g}: the panel gives no {missing} (baseline_covariates changed?)")
    return df


def riskset_match(
    panel: pd.DataFrame,
    cohorts: list[int] | None = None,
    covariates: tuple[str, ...] = RISKSET_COVARIATES,
    ratio: int = 1,
    caliper: float | None = 0.2,
    std_caliper: bool = True,
    replace: bool = False,
    m_order: str | None = None,
    distance: str = "glm",
    pre: int = 4,
    post: int = 4,
) -> StackedMatch:
    """Match every cohort to its risk set and stack the matched persons' years ``g - pre .. g + post``.

    Controls who enrol later are followed only until the year before their own enrolment (rows dropped
    and counted). A covariate constant within a cohort's risk set is left out of its model and reported.

    Parameters
    ----------
    panel : pandas.DataFrame
        The analysis panel (one row per ``study_id`` and ``year``, with ``first_treat``).
    cohorts : list of int, optional
        Enrolment years to match (default: every cohort in the panel).
    covariates : tuple of str, default the plan's ``[covariates] riskset``
        Propensity terms, measured before each cohort's enrolment (``analysis.panel.baseline_covariates``).
    ratio, caliper, std_caliper, replace, m_order, distance
        As ``matchit``'s (nearest-neighbour matching on the propensity score).
    pre, post : int, default 4
        Years kept before and after each cohort's enrolment year.

    Returns
    -------
    StackedMatch
        ``data`` (one row per cohort, matched person and year, with ``sub_experiment``, ``treated``,
        ``event_time``, ``weights`` and ``subclass``: ``stacked_did``'s input), ``matches`` (each cohort's
        ``MatchItResult``) and ``report`` (counts per cohort: at risk, matched, unmatched and why,
        censored control rows, covariates left out).

    References
    ----------
    Li, Y. P., Propert, K. J. and Rosenbaum, P. R. (2001). Balanced risk set matching. Journal of the
    American Statistical Association 96(455), 870-882.

    Examples
    --------
    >>> from analysis.panel import example_panel
    >>> from analysis.matching.riskset import riskset_match
    >>> panel = example_panel()  # about 4,100 synthetic persons
    >>> st = riskset_match(panel, cohorts=[2022, 2023], ratio=2)
    >>> {g: (c["matched_treated"], c["matched_controls"]) for g, c in st.report["cohorts"].items()}
    {'2022': (86, 172), '2023': (101, 202)}
    >>> sorted(st.data.event_time.unique().tolist())  # the panel ends in 2025: e = 3 for 2022 at most
    [-4, -3, -2, -1, 0, 1, 2, 3]
    """
    all_cohorts = sorted(int(g) for g in panel["first_treat"].unique() if g > 0)
    cohorts = all_cohorts if cohorts is None else cohorts
    formula = "treated ~ " + " + ".join(covariates)
    parts, matches, report = [], {}, {"cohorts": {}}
    for g in cohorts:
        df = cohort_frame(panel, g)
        if df.treated.sum() == 0 or (df.treated == 0).sum() == 0:
            raise MatchingError(
                f"cohort {g}: no {'enrollees' if df.treated.sum() == 0 else 'controls'} at risk"
            )
        usable = [c for c in covariates if c.startswith("C(") or df[c].nunique() > 1]
        m = matchit(
            "treated ~ " + " + ".join(usable),
            df,
            ratio=ratio,
            caliper=caliper,
            std_caliper=std_caliper,
            replace=replace,
            m_order=m_order,
            distance=distance,
        )
        matches[g] = m
        md = m.matched_data()[["treated", "first_treat", "weights", "subclass"]]
        rows = panel[panel.study_id.isin(md.index) & panel.year.between(g - pre, g + post)]
        rows = rows.merge(md[["treated", "weights", "subclass"]], left_on="study_id", right_index=True)
        censor = (rows.treated == 0) & (rows.first_treat > 0) & (rows.year >= rows.first_treat)
        rows = rows.loc[~censor].assign(sub_experiment=g)
        rows["event_time"] = rows["year"] - g
        parts.append(rows)
        report["cohorts"][str(g)] = {
            "at_risk_treated": int(df.treated.sum()),
            "at_risk_controls": int((df.treated == 0).sum()),
            "matched_treated": int((md.treated == 1).sum()),
            "matched_controls": int((md.treated == 0).sum()),
            "unmatched_treated": len(m.unmatched),
            "unmatched_reasons": m.unmatched.reason.value_counts().to_dict(),
            "no_checkup_pre_filled": int(df.no_checkup_pre.sum()),
            "control_rows_censored_at_own_enrolment": int(censor.sum()),
            "covariates_dropped_as_constant": [c for c in covariates if c not in usable],
        }
    data = pd.concat(parts, ignore_index=True)
    report.update(
        {
            "formula": formula,
            "ratio": ratio,
            "caliper": caliper,
            "replace": replace,
            "window": [-pre, post],
            "rows": len(data),
        }
    )
    return StackedMatch(data=data, matches=matches, report=report)


def published_design(panel: pd.DataFrame, ratio: int = 10, caliper: float | None = None,
                     years: tuple[int, ...] = (2021, 2023),
                     covariates: tuple[str, ...] = PUBLISHED_COVARIATES) -> StackedMatch:
    """Seoul's published design (2025-11): 2022 joiners vs people not enrolled by the end of 2023, 1:10
    propensity matching on ``covariates`` (the city's: sex, age, disability, premium decile and chronic
    disease), pre 2021, post 2023.

    Parameters
    ----------
    panel : pandas.DataFrame
        The analysis panel.
    ratio : int, default 10
        Controls per 2022 joiner (nearest neighbour on the propensity score, without replacement).
    caliper : float, optional
        In standard deviations of the distance; the city used none.
    years : tuple of int, default (2021, 2023)
        The person-years kept for the matched persons (the published 2x2 uses 2021 and 2023; an event study
        of the same matched sample takes e.g. 2017-2023). Persons not present in all of them are left out
        and counted.
    covariates : tuple of str, default the plan's ``[covariates] published_design``
        Propensity terms.

    Returns
    -------
    StackedMatch
        As ``riskset_match``'s, with one sub-experiment (2022); ``did_2x2`` takes its ``data``.

    Examples
    --------
    >>> from analysis.panel import example_panel
    >>> from analysis.did import did_2x2
    >>> from analysis.matching.riskset import published_design
    >>> pub = published_design(example_panel())
    >>> pub.report["matched_treated"], pub.report["matched_controls"], pub.report["persons_without_all_years"]
    (86, 860, 17)
    >>> r = did_2x2(pub.data, "medical_cost")
    >>> r.n_treated, r.n_control
    (86, 843)
    """
    df = cohort_frame(panel, 2022, control_first_treat_after=2023)
    m = matchit("treated ~ " + " + ".join(covariates), df, ratio=ratio, caliper=caliper)
    md = m.matched_data()[["treated", "weights", "subclass"]]
    rows = panel[panel.study_id.isin(md.index) & panel.year.isin(years)]
    rows = rows.merge(md, left_on="study_id", right_index=True).assign(sub_experiment=2022)
    rows["event_time"] = rows.year - 2022
    both = rows.groupby("study_id").year.transform("size") == len(set(years))
    report = {
        "design": "published",
        "formula": "treated ~ " + " + ".join(covariates),
        "matched_treated": int((md.treated == 1).sum()),
        "matched_controls": int((md.treated == 0).sum()),
        "persons_without_all_years": int(rows.loc[~both, "study_id"].nunique()),
    }
    return StackedMatch(data=rows.loc[both].reset_index(drop=True), matches={2022: m}, report=report)


def plan_designs(panel: pd.DataFrame, cfg) -> tuple[StackedMatch, StackedMatch]:
    """Both matching designs as the plan (``StudyConfig``) sets them: the city's published design and the
    risk-set matching of every cohort, in that order."""
    mc = cfg.matching
    published = published_design(panel, ratio=mc.ratio, covariates=cfg.covariates.published_design)
    stacked = riskset_match(panel, covariates=cfg.covariates.riskset, ratio=mc.ratio, caliper=mc.caliper,
                            std_caliper=mc.std_caliper, replace=mc.replace, m_order=mc.m_order, distance=mc.distance)
    return published, stacked
