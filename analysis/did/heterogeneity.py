"""Who gains: the headline design by subgroup (sex, age, baseline BMI and activity, device) and the dose
picture (adherence among the city's 2022 joiners).

Subgroups are fixed before enrolment (baseline values), so each is its own study: the design is refitted
on the persons of one level. For device, which only participants have, a level keeps its participants and
every never-enrolled person. Subgroup intervals are analytic (no bootstrap), one fit per level.

Dose is not randomised: people choose how much they walk. ``adherence_gap`` shows the city's within-
participant comparison (active vs inactive 2022 joiners, 2021 -> 2023 cost change) next to, on synthetic
data, the true effect gap, which makes the self-selection in that comparison visible.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from analysis import formulas
from analysis.config import StudyConfig
from analysis.did.aggte import aggte
from analysis.did.attgt import att_gt
from analysis.did.drdid import DiDError
from analysis.did.outcomes import cs_truth, effect_at, truth_table
from analysis.did.trend import trend_adjusted

SUBGROUPS = ("sex", "age", "baseline_bmi", "baseline_activity", "device")
ACTIVE_GOAL_DAYS_PER_MONTH = 13  # the city's "active": >= 3 goal days a week (3 x 4.33)
STEP_THIRDS = ("steps: lowest third", "steps: middle third", "steps: highest third")
ACTIVE_WALKING_DAYS = 5  # baseline activity: walked >= 30 min on >= 5 days a week (checkup question)


def person_subgroups(panel: pd.DataFrame) -> pd.DataFrame:
    """One row per person (index ``study_id``) with each subgroup's level; NaN where the baseline value is
    missing (no baseline checkup) or, for device, where the person never enrolled."""
    p = panel.drop_duplicates("study_id").set_index("study_id")
    base = panel[panel.year == panel.baseline_checkup_year].drop_duplicates("study_id").set_index("study_id")
    walk = base["walking_days"].reindex(p.index).astype("Float64")
    out = pd.DataFrame(index=p.index)
    out["sex"] = np.where(p.female, "female", "male")
    age = (p["baseline_year"] - p["birth_year"]).astype(float)  # age in the baseline year, always known
    out["age"] = pd.cut(age, [0, 39, 59, 200], labels=["18-39", "40-59", "60+"]).astype(object)
    out["baseline_bmi"] = np.where(p.bmi_pre.isna(), None, np.where(p.bmi_pre >= 25, ">=25", "<25"))
    out["baseline_activity"] = np.where(walk.isna(), None,
                                        np.where(walk.fillna(0) >= ACTIVE_WALKING_DAYS, "active", "inactive"))
    out["device"] = np.where(p.first_treat > 0, p.device, None)
    return out.where(out.notna(), None)


def subgroup_effects(panel: pd.DataFrame, cfg: StudyConfig, design: str, truth: pd.DataFrame | None = None,
                     y: str | None = None) -> pd.DataFrame:
    """The overall ATT of ``design`` ("callaway_santanna" or "callaway_santanna_trend") for every level of
    every subgroup: columns subgroup, level, estimate, std_error, conf_low, conf_high, p_value, n_treated,
    n_control, n_missing (persons without the subgroup's baseline value), n_excluded (left out by att_gt,
    e.g. not observed every year), truth, note."""
    if design not in ("callaway_santanna", "callaway_santanna_trend"):
        raise DiDError(f"subgroup_effects: design {design!r}; allowed: callaway_santanna, "
                       "callaway_santanna_trend")
    dc = cfg.did
    y = y or cfg.outcomes.primary
    te = truth_table(truth, y)
    groups = person_subgroups(panel)
    kw = dict(est_method=dc.est_method, anticipation=dc.anticipation, bstrap=False, cband=False, alp=dc.alp,
              allow_unbalanced_panel=bool(panel[y].isna().any()), table="panel")
    if design == "callaway_santanna":
        kw |= dict(control_group=dc.control_group, base_period=dc.base_period)
    else:
        kw |= dict(control_group="nevertreated", base_period="universal")
    never = groups.index[np.isin(groups.index, panel.loc[panel.first_treat == 0, "study_id"])]
    reads = {c: formulas.parse(c, "did.covariates").variables for c in dc.covariates}  # each term's columns
    rows = []
    for sg in SUBGROUPS:
        lev = groups[sg]
        n_missing = int(lev.isna().sum()) if sg != "device" else 0
        for level in sorted(lev.dropna().unique()):
            ids = lev.index[lev == level]
            if sg == "device":
                ids = ids.union(never)
            sub = panel[panel.study_id.isin(ids)]
            # a covariate constant within the level (female within a sex) carries no information there
            covs = tuple(c for c in dc.covariates if all(sub[v].nunique() > 1 for v in reads[c]))
            dropped = sorted(set(dc.covariates) - set(covs))
            row = dict(subgroup=sg, level=str(level), n_missing=n_missing,
                       note=f"constant here, not adjusted for: {', '.join(dropped)}" if dropped else "")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    res = att_gt(sub, y, "year", "study_id", "first_treat",
                                 dataclasses.replace(dc, covariates=covs).xformla, **kw)
                    if design == "callaway_santanna_trend":
                        res = trend_adjusted(res)
                    s = aggte(res, "simple", na_rm=True)
            except DiDError as e:
                rows.append(row | dict(note=f"not estimated: {e}"))
                continue
            o = s.overall  # estimate, std_error, p_value and the (1 - alp) interval
            rows.append(row | dict(
                estimate=o.estimate, std_error=o.std_error, conf_low=o.conf_low, conf_high=o.conf_high,
                p_value=o.p_value, n_treated=int((res.design.unit_g > 0).sum()), n_control=int((res.design.unit_g == 0).sum()),
                n_excluded=int(sum(v for v in res.exclusions.values() if isinstance(v, int | np.integer))),
                truth=cs_truth(res, sub, y, te)[("simple", "overall")] if te is not None else np.nan))
    cols = ["subgroup", "level", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n_treated",
            "n_control", "n_missing", "n_excluded", "truth", "note"]
    return pd.DataFrame(rows).reindex(columns=cols)


def adherence_gap(panel: pd.DataFrame, y: str = "medical_cost", truth: pd.DataFrame | None = None,
                  cohort: int = 2022, pre: int = 2021, post: int = 2023, alp: float = 0.05) -> pd.DataFrame:
    """The city's within-participant comparison: ``cohort`` joiners who were active in ``post`` (>= 3 goal
    days a week over their program months) against the inactive, change in ``y`` from ``pre`` to ``post``.
    Rows: inactive, active, and ``active - inactive`` (Welch SE), then the dose in steps: the joiners by
    third of their mean daily steps in ``post`` (those without a step record are left out of the thirds).
    Each row has n, the mean change with its standard error and normal ``1 - alp`` interval and, on
    synthetic data, the mean true effect (so the selection part of the comparison shows). Persons without
    ``y`` in both years are left out and counted in ``n_excluded``."""
    c = panel[(panel.first_treat == cohort) & panel.year.isin([pre, post])]
    wide = c.pivot(index="study_id", columns="year", values=y)
    both = wide.notna().all(axis=1)
    ids = wide.index[both]
    p_post = c[c.year == post].set_index("study_id").reindex(ids)
    months = p_post.program_months.astype(float).replace(0, np.nan)
    active = (p_post.goal_days / months >= ACTIVE_GOAL_DAYS_PER_MONTH).to_numpy()
    change = (wide.loc[ids, post] - wide.loc[ids, pre]).to_numpy(float)
    te_y = truth_table(truth, y)
    te = (effect_at(te_y, ids, post) - effect_at(te_y, ids, pre) if te_y is not None else np.full(len(ids), np.nan))
    crit = stats.norm.ppf(1 - alp / 2)

    def row(level: str, mean: float, se: float, n: int, te_mean: float) -> dict:
        return dict(level=level, n=n, mean_change=mean, std_error=se, conf_low=mean - crit * se,
                    conf_high=mean + crit * se, truth=te_mean)

    def group(level: str, m: np.ndarray) -> dict:  # m: positions of the group's persons
        return row(level, float(change[m].mean()), float(change[m].std(ddof=1) / np.sqrt(len(m))), len(m),
                   float(te[m].mean()))

    i, a = group("inactive", np.flatnonzero(~active)), group("active", np.flatnonzero(active))
    rows = [i, a, row("active - inactive", a["mean_change"] - i["mean_change"],
                      float(np.hypot(a["std_error"], i["std_error"])), a["n"] + i["n"], a["truth"] - i["truth"])]
    steps = p_post.mean_daily_steps.to_numpy(float)
    ok = np.flatnonzero(np.isfinite(steps))
    third = pd.qcut(pd.Series(steps[ok]).rank(method="first"), 3, labels=False).to_numpy()
    rows += [group(name, ok[third == k]) for k, name in enumerate(STEP_THIRDS)]
    out = pd.DataFrame(rows)
    out["n_excluded"] = int((~both).sum())
    return out
