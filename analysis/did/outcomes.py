"""Every outcome of the plan through every design in one call, with multiplicity adjustment and, on
synthetic data, the exact sample truth next to each estimate.

Designs (one row per outcome x design x estimator x aggregation x term):

- ``published``: the city's 2x2 (``did_2x2``) on its 1:10 matched 2022 joiners;
- ``callaway_santanna``: ``att_gt`` with the plan's control group / method / covariates, aggregated
  ``simple``, ``group`` and ``dynamic`` (``aggte``);
- ``callaway_santanna_trend``: group-time ATTs against the never-treated from one base period, net of
  each cohort's linear pre-trend (``trend_adjusted``), for when the pre-test rejects parallel trends;
- ``callaway_santanna_calibrated`` and ``screening_window_calibrated`` (cost outcomes): the design's estimate
  calibrated with the empirical null of its errors on the plan's negative-control costs (``calibration.py``),
  whose own estimates are rows with role ``calibration_control``;
- ``screening_window``: ``att_gt`` measured from before the screening that can have prompted joining,
  against people not enrolled within two years of each compared year (``designs.py``);
- ``later_joiners``: ``att_gt`` on the people who ever enrol, against those not yet enrolled
  (``designs.py``);
- ``rambachan_roth`` (where the plan's pre-test rejects): the Rambachan-Roth range of the
  average post-enrolment effect, no point estimate;
- ``stacked_matched``: ``stacked_did`` on the risk-set sub-experiments;
- ``calibration_span`` (cost outcomes with a calibrated estimate): the range spanned by the
  ``callaway_santanna`` and ``callaway_santanna_calibrated`` intervals, no point estimate (the cost's
  headline where the controls' mean error differs from 0: ``headline.py``);
- ``bracket`` (outcomes other than costs): the range spanned by the ``callaway_santanna``,
  ``screening_window`` and ``stacked_matched`` intervals, no point estimate (``designs.py``);
- ``poisson_etwfe`` (the primary outcome and the negative control, where they are amounts or counts):
  Wooldridge's Poisson extended TWFE, a DiD under parallel trends in ratio (``etwfe.py``), terms ``ATT`` and
  ``ATT%`` (a share of the counterfactual mean); its pre-test is kept beside the others';
- ``twfe``: static and event-study two-way fixed effects, the biased benchmark, for the primary outcome
  and the negative control only (it answers "how wrong is the textbook regression", which one outcome
  shows; for all nine it was a third of the pipeline's time).

Checkup outcomes exist only in checkup years: they go through the unbalanced-panel path of ``att_gt``
(rows without a checkup are reported as excluded). Claims outcomes are a panel; people not observed in
every year (deaths) are excluded from ``att_gt`` and counted. Holm or Benjamini-Hochberg adjustment is
applied across the secondary outcomes, per design and headline aggregation.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from statsmodels.stats.multitest import multipletests

from analysis.config import StudyConfig
from analysis.did.aggte import aggregate_values, aggte
from analysis.did.attgt import AttGtResult, att_gt
from analysis.did.calibration import calibrate_with_controls, relative_att
from analysis.did.designs import (
    SCREENING_CYCLE,
    arms_agreement,
    later_joiners,
    pretest_before,
    screening_window,
)
from analysis.did.drdid import DiDError
from analysis.did.etwfe import poisson_etwfe
from analysis.did.memo import release_memory
from analysis.did.stacked import did_2x2, stacked_did
from analysis.did.trend import trend_adjusted

COLUMNS = ["outcome", "role", "design", "estimator", "aggregation", "term", "estimate", "std_error",
           "conf_low", "conf_high", "p_value", "p_adjusted", "n_treated", "n_control", "truth"]
HEADLINE = {"simple", "overall", "2x2", "static"}


def _rows(tidy: pd.DataFrame, **keys) -> pd.DataFrame:
    t = tidy[["term", "estimate", "std_error", "conf_low", "conf_high", "p_value"]].copy()
    for k, v in keys.items():
        t[k] = v
    return t


def read_truth(truth_dir: str | Path, outcomes=None) -> pd.DataFrame | None:
    """The linked synthetic truth (``<linkage out>/truth/outcomes.parquet``, keyed by STUDY_ID) with the
    panel's ``study_id`` name; None where there is none (real data). ``outcomes``: read only their
    potential outcomes (at Seoul scale the whole table is about 27 GB in memory)."""
    path = Path(truth_dir) / "outcomes.parquet"
    if not path.exists():
        return None
    cols = None
    if outcomes is not None:
        names = set(pq.ParquetFile(path).schema_arrow.names)
        cols = ["STUDY_ID", "year", *(c for y in dict.fromkeys(outcomes) for c in (f"y0_{y}", f"y1_{y}") if c in names)]
    return pd.read_parquet(path, columns=cols).rename(columns={"STUDY_ID": "study_id"})


def _person_year(ids, years) -> np.ndarray:
    """One integer key per (study_id, year): ``study_id * 10000 + year`` (a flat index looks up ~10x
    faster than a MultiIndex)."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() > np.iinfo(np.int64).max // 10_000 - 1):
        raise DiDError("truth: study_id must be a non-negative integer below 9.2e14 to key the truth table")
    return ids * 10_000 + np.broadcast_to(np.asarray(years, dtype=np.int64), ids.shape)


def effect_at(te: pd.Series, ids, years) -> np.ndarray:
    """The exact effects of ``te`` (``truth_table``) at (id, year) pairs (NaN where there is none);
    ``years`` may be one year."""
    return te.reindex(_person_year(ids, years)).to_numpy()


def published_truth(published: pd.DataFrame, y: str, te: pd.Series, pre: int = 2021, post: int = 2023) -> float:
    """The true 2x2 effect of the published design: mean (effect at ``post`` - effect at ``pre``) over the
    treated persons ``did_2x2`` uses (those with ``y`` in both years)."""
    seen = published[published[y].notna()]
    both = seen.groupby("study_id").year.nunique() == 2
    ids = np.intersect1d(seen.loc[seen.treated == 1, "study_id"], both.index[both])
    return float(np.mean(effect_at(te, ids, post) - effect_at(te, ids, pre)))


def truth_table(truth: pd.DataFrame | None, outcome: str) -> pd.Series | None:
    """Exact individual effects ``y1 - y0`` of ``outcome`` by (study_id, year) (read with ``effect_at``); None
    without a truth (real data) or for an outcome the synthetic world does not know (one a study's phenotype
    file adds)."""
    if truth is None or f"y1_{outcome}" not in truth:
        return None
    te = truth[f"y1_{outcome}"].to_numpy(float) - truth[f"y0_{outcome}"].to_numpy(float)
    return pd.Series(te, index=_person_year(truth["study_id"], truth["year"]))


def cs_truth(res: AttGtResult, panel: pd.DataFrame, yname: str, te: pd.Series) -> dict:
    """Sample truth of every ATT(g,t) (mean effect of cohort g's units in the estimation sample observed
    at t) and of each aggregation (the same cohort-share weights applied to the true ATT(g,t))."""
    d = res.design
    obs = panel.loc[panel[yname].notna(), ["study_id", "year"]]
    obs = obs[obs.study_id.isin(d.unit_id)]
    g_of = pd.Series(d.unit_g, index=d.unit_id)
    obs = obs.assign(g=g_of.reindex(obs.study_id).to_numpy(), te=effect_at(te, obs.study_id, obs.year))
    cell_mean = obs.groupby(["g", "year"]).te.mean()
    true_att = np.array([cell_mean.get((c.group, c.time), np.nan) for c in res.cells])
    out = {("gt", (c.group, c.time)): v for c, v in zip(res.cells, true_att, strict=False)}
    for typ in ("simple", "group", "dynamic"):
        ag = aggregate_values(res, true_att, typ)
        out[(typ, "overall")] = ag.overall_att
        if ag.egt is not None:
            for e, v in zip(ag.egt, ag.att_egt, strict=False):
                out[(typ, int(e))] = v
    return out


def _cs_rows(res: AttGtResult, panel, y: str, te, alp: float, keys: dict, design: str, estimator: str,
             ) -> tuple[list, pd.Series | None]:
    """The simple, group and dynamic aggregations of one att_gt result, with their sample truth; and the
    simple aggregate's influence per person (None where ``att_gt`` clusters on anything else)."""
    tr = cs_truth(res, panel, y, te) if te is not None else {}
    n_t = {int(g): int((res.design.unit_g == g).sum()) for g in res.design.glist}
    n_all = sum(n_t.values())
    out, influence = [], None
    for typ in ("simple", "group", "dynamic"):
        ag = aggte(res, type=typ, na_rm=True)
        if typ == "simple" and res.design.unit_cluster is None:
            influence = pd.Series(ag.inf_overall, index=res.design.unit_id)
        comps = [] if ag.egt is None else [int(e) for e in ag.egt]
        out.append(_rows(
            ag.tidy(1 - alp), **keys, design=design, estimator=estimator, aggregation=typ,
            truth=[tr.get((typ, k), np.nan) for k in ["overall", *comps]],
            n_treated=[n_all] + [n_t[e] if typ == "group" else n_all for e in comps],
            n_control=int((res.design.unit_g == 0).sum())))
    return out, influence


def pretest_before_screening(res: AttGtResult) -> float | None:
    """The plan's pre-test (``wald_pretest``) on the periods before the last screening cycle ahead of
    enrolment (``designs.pretest_before``, event times <= -(SCREENING_CYCLE + 1)): whether the enrollees'
    outcome was drifting apart before any screening could have prompted them to join."""
    return pretest_before(res, SCREENING_CYCLE)


def _ratio_truth(treated_years, y: str, te) -> list[float]:
    """The sample truth of ``poisson_etwfe``'s terms: the mean effect over the participants' observed years
    after enrolment (``ATT``) and its share of their mean untreated outcome there (``ATT%``);
    ``treated_years``: the panel's rows of participants from their enrolment on."""
    if te is None:
        return [np.nan, np.nan]
    rows = treated_years[treated_years[y].notna()]
    effect = effect_at(te, rows.study_id, rows.year)
    return [float(effect.mean()), float(effect.sum() / (rows[y].to_numpy(float) - effect).sum())]


def _above(p, alp: float) -> bool:
    return p is not None and np.isfinite(p) and p > alp


def _span(arms: list[pd.Series], design: str, estimator: str, keys: dict) -> dict:
    """A range design's row: from the lowest to the highest end of its arms' intervals, no point estimate;
    its truth and counts are the first arm's (the plan design's: the arms average the same cells)."""
    plan = arms[0]
    return {"term": "overall", "estimate": np.nan, "std_error": np.nan,
            "conf_low": min(r.conf_low for r in arms), "conf_high": max(r.conf_high for r in arms),
            "p_value": np.nan, **keys, "design": design, "estimator": estimator, "aggregation": "overall",
            "truth": plan.truth, "n_treated": plan.n_treated, "n_control": plan.n_control}


def _bracket_row(plan_row: pd.Series, window_row: pd.Series, matched_row: pd.Series | None,
                 keys: dict) -> pd.DataFrame:
    """The ``bracket`` range: the plan's Callaway-Sant'Anna interval, the screening-window design's and the
    stacked matched design's (where there is no matched design, the two others)."""
    rows = [r for r in (plan_row, window_row, matched_row) if r is not None]
    arms = "callaway_santanna+screening_window" + ("+stacked_did" if matched_row is not None else "")
    return pd.DataFrame([_span(rows, "bracket", arms, keys)])


def _calibration_span_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The ``calibration_span`` of every outcome with a calibrated plan's estimate: its calibrated and its
    uncalibrated interval."""
    cal = df[df.design == "callaway_santanna_calibrated"].set_index("outcome")
    plan = df[(df.design == "callaway_santanna") & (df.aggregation == "simple") & (df.term == "overall")
              & df.outcome.isin(cal.index)].set_index("outcome")
    return pd.DataFrame([_span([p, cal.loc[y]], "calibration_span", f"{p.estimator}+calibrated",
                               {"outcome": y, "role": p.role}) for y, p in plan.iterrows()], columns=df.columns)


# the designs calibrated with the negative-control costs
CALIBRATED_DESIGNS = ("callaway_santanna", "screening_window")


def _calibrated_rows(panel, cfg: StudyConfig, targets: dict, roles: dict, truth, exclusions: dict, fits: dict,
                     progress: bool) -> list:
    """Each design of ``CALIBRATED_DESIGNS`` on each negative-control cost (role ``calibration_control``), the
    empirical null of its proportional errors, and each cost outcome's calibrated estimate in KRW (design
    ``<design>_calibrated``). ``targets``: design -> {cost outcome: its att_gt result}; ``fits``: design ->
    a function (panel, outcome) giving its att_gt result as the plan runs it. The null's fit is kept in the
    outcome's exclusions entry ``empirical_calibration`` (``empirical_calibration_<design>`` for designs
    other than the plan's). A null that cannot be fitted is a reported exclusion, not a silent gap."""
    dc = cfg.did
    est = f"att_gt_{dc.est_method}"
    controls = {d: {} for d in targets}  # control -> its relative_att (with its influence function)
    out = []
    for nc in (c for c in cfg.outcomes.negative_controls if c not in roles):
        if progress:
            print(f"  did: {nc} (negative control)", flush=True)
        excl = exclusions.setdefault(nc, {})
        te = truth_table(truth, nc)
        for design in targets:
            key = "att_gt" if design == "callaway_santanna" else design
            try:
                res = fits[design](panel, nc)
                r = relative_att(res, panel, nc)
            except DiDError as e:
                excl[key] = {"not estimated": str(e)}
                continue
            excl[key] = dict(res.exclusions)
            rows, _ = _cs_rows(res, panel, nc, te, dc.alp, dict(outcome=nc, role="calibration_control"), design, est)
            out.append(rows[0])  # the simple aggregate: what the null is fitted on
            controls[design][nc] = r
    for design, by_outcome in targets.items():
        key = "empirical_calibration" + ("" if design == "callaway_santanna" else f"_{design}")
        for y, res in by_outcome.items():
            excl = exclusions.setdefault(y, {})
            try:
                target = relative_att(res, panel, y)
                null, c, corr = calibrate_with_controls(controls[design], target, level=1 - dc.alp)
            except DiDError as e:
                excl[key] = {"not estimated": str(e)}
                continue
            excl[key] = {"null": null.to_dict(), "target": {k: v for k, v in target.items() if k != "influence"},
                         "calibrated_relative": c["relative"], "target_correlation": [float(v) for v in corr]}
            te = truth_table(truth, y)
            truth_v = cs_truth(res, panel, y, te)[("simple", "overall")] if te is not None else np.nan
            n_t = int((res.design.unit_g > 0).sum())
            out.append(pd.DataFrame([{
                "term": "overall", **{k: c[k] for k in ("estimate", "std_error", "conf_low", "conf_high", "p_value")},
                "outcome": y, "role": roles[y], "design": f"{design}_calibrated", "estimator": f"{est}_calibrated",
                "aggregation": "simple", "truth": truth_v, "n_treated": n_t,
                "n_control": int((res.design.unit_g == 0).sum())}]))
    return out


def _multiplicity(df: pd.DataFrame, secondary: list[str], method: str) -> pd.Series:
    p_adj = pd.Series(np.nan, index=df.index)
    head = df[df.aggregation.isin(HEADLINE) & df.outcome.isin(secondary) & df.term.isin(["ATT", "overall"])]
    for _, grp in head.groupby(["design", "estimator", "aggregation"]):
        ok = grp.p_value.notna()
        if ok.sum():
            p_adj.loc[grp.index[ok]] = multipletests(grp.p_value[ok], method="holm" if method == "holm"
                                                     else "fdr_bh")[1]
    return p_adj


def _estimate_all(panel, cfg: StudyConfig, stacked, published, truth, progress,
                  bounds) -> tuple[pd.DataFrame, dict]:
    """``estimate_all``'s work, with the estimators' warnings left to the caller."""
    oc = cfg.outcomes
    roles = {oc.primary: "primary", **{o: "secondary" for o in oc.secondary}, oc.negative_control: "negative_control"}
    work = _Designs(panel, cfg, stacked, published, truth, bounds)
    frames, exclusions = [], {}
    for y, role in roles.items():
        release_memory()  # the previous outcome's designs are gone
        if progress:
            print(f"  did: {y}", flush=True)
        frames += work.outcome(y, role, exclusions.setdefault(y, {}))
    calibrated = {d: by_y for d, by_y in work.calibrated.items() if by_y}
    if calibrated:
        frames += _calibrated_rows(panel, cfg, calibrated, roles, truth, exclusions, work.fits, progress)
    df = pd.concat(frames, ignore_index=True)
    df["term"] = df["term"].astype(str)
    df = pd.concat([df, _calibration_span_rows(df)], ignore_index=True)
    df.loc[df.term.isin(["D", "ATT"]), "term"] = "ATT"
    df["p_adjusted"] = _multiplicity(df, list(oc.secondary), oc.multiplicity)
    return df[COLUMNS], exclusions


def _attempt(excl: dict, key: str, fn, *args):
    """A design's result, or None with the reason in the exclusions (never dropped silently)."""
    try:
        return fn(*args)
    except DiDError as e:
        excl[key] = {"not estimated": str(e)}
        return None


def _with_notes(r, key: str = "notes") -> dict:
    """A result's exclusions, with its notes under ``key`` if it has any."""
    return {**r.exclusions, **({key: list(r.notes)} if r.notes else {})}


class _Designs:
    """Every design of the plan on one outcome at a time (``outcome``); keeps the cost outcomes' results of
    each calibrated design (``calibrated``), to calibrate once the controls are in."""

    def __init__(self, panel, cfg: StudyConfig, stacked, published, truth, bounds):
        self.panel, self.cfg, self.stacked, self.published, self.truth = panel, cfg, stacked, published, truth
        self.bounds = bounds
        dc = cfg.did
        persons = panel.drop_duplicates("study_id")
        self.twfe_n = {"n_treated": int((persons.first_treat > 0).sum()),
                       "n_control": int((persons.first_treat == 0).sum())}
        self.treated_years = panel[(panel.first_treat > 0) & (panel.year >= panel.first_treat)]
        self.calibrated: dict[str, dict[str, AttGtResult]] = {d: {} for d in CALIBRATED_DESIGNS}
        self.fits = {
            "callaway_santanna": lambda p, y: att_gt(p, y, "year", "study_id", "first_treat", dc.xformla,
                                                     base_period=dc.base_period, **self.cs_args(y)),
            "screening_window": lambda p, y: screening_window(p, y, dc.xformla, base_period=dc.base_period,
                                                              **self.cs_args(y))}

    def cs_args(self, y: str) -> dict:
        dc = self.cfg.did
        return dict(control_group=dc.control_group, est_method=dc.est_method, anticipation=dc.anticipation,
                    allow_unbalanced_panel=bool(self.panel[y].isna().any()), biters=dc.biters, alp=dc.alp,
                    seed=dc.seed, table="panel")

    def outcome(self, y: str, role: str, excl: dict) -> list[pd.DataFrame]:
        """The estimate rows of outcome ``y`` by every design its role calls for; ``excl`` receives each
        design's exclusions and pre-tests (what the headline rule reads)."""
        te = truth_table(self.truth, y)
        keys = dict(outcome=y, role=role)
        frames, overall = self.callaway_santanna_family(y, te, keys, excl)
        matched = self.matched_designs(y, te, keys, excl, frames)
        if "screening_window" in overall and not self.cfg.phenotypes.is_cost(y):
            arms = {"callaway_santanna": overall["callaway_santanna"], "screening_window": overall["screening_window"],
                    "stacked_matched": matched}
            frames.append(_bracket_row(*(a[0] if a is not None else None for a in arms.values()), keys))
            agree = arms_agreement({k: (float(a[0].estimate), float(a[0].std_error), a[1])
                                    for k, a in arms.items() if a is not None})
            excl["bracket_agreement"] = agree
            excl["pretest_p"]["arms_agree"] = None if agree is None else agree["p_value"]
        if role in ("primary", "negative_control"):
            frames += self.ratio_and_twfe(y, te, keys, excl)
        return frames

    def callaway_santanna_family(self, y, te, keys, excl) -> tuple[list[pd.DataFrame], dict]:
        """The plan's Callaway-Sant'Anna, trend-adjusted, later joiners and screening window (and the
        Rambachan-Roth range where the plan's pre-test rejects a non-cost outcome); each design's simple
        aggregation's overall row and its influence per person (the bracket's arms)."""
        panel, dc = self.panel, self.cfg.did
        frames: list[pd.DataFrame] = []
        res = self.fits["callaway_santanna"](panel, y)
        excl["att_gt"] = _with_notes(res, "not estimated")
        pretest = excl.setdefault("pretest_p", {})  # what the headline rule (headline.py) reads
        pretest["callaway_santanna"] = res.pretest_p
        fixed = dict(base_period="universal", control_group="nevertreated")
        same = all(getattr(dc, k) == v for k, v in fixed.items())
        base = res if same else att_gt(panel, y, "year", "study_id", "first_treat", dc.xformla,
                                       **(self.cs_args(y) | fixed))
        adjusted = _attempt(excl, "trend_adjusted", trend_adjusted, base)
        pretest["callaway_santanna_trend"] = adjusted.pretest_p if adjusted is not None else None
        pretest["before_screening"] = pretest_before_screening(res)
        if not _above(res.pretest_p, dc.alp) and not self.cfg.phenotypes.is_cost(y):
            rng = _attempt(excl, "rambachan_roth", self.bounds, base)
            if rng is not None:
                truth_v = cs_truth(base, panel, y, te)[("dynamic", "overall")] if te is not None else np.nan
                frames.append(pd.DataFrame([{
                    "term": "overall", "estimate": np.nan, "std_error": np.nan, "conf_low": rng[0],
                    "conf_high": rng[1], "p_value": np.nan, **keys, "design": "rambachan_roth",
                    "estimator": f"honest_did_relative_magnitudes_mbar{dc.bounds_mbar:g}",
                    "aggregation": "dynamic", "truth": truth_v, "n_treated": int((base.design.unit_g > 0).sum()),
                    "n_control": int((base.design.unit_g == 0).sum())}]))
        lj_args = {k: v for k, v in self.cs_args(y).items() if k != "control_group"}
        joiners = _attempt(excl, "later_joiners", functools.partial(later_joiners, **lj_args), panel, y, dc.xformla)
        if joiners is not None:
            excl["later_joiners"] = _with_notes(joiners)
        window = _attempt(excl, "screening_window", self.fits["screening_window"], panel, y)
        if window is not None:
            excl["screening_window"] = _with_notes(window, "not estimated")
            pretest["screening_window"] = pretest_before(window, SCREENING_CYCLE)
        overall = {}
        for design, r in (("callaway_santanna", res), ("callaway_santanna_trend", adjusted),
                          ("later_joiners", joiners), ("screening_window", window)):
            if r is not None:
                rows, influence = _cs_rows(r, panel, y, te, dc.alp, keys, design, f"att_gt_{dc.est_method}")
                frames += rows
                overall[design] = (rows[0].iloc[0], influence)
        if self.cfg.phenotypes.is_cost(y):
            for design, r in (("callaway_santanna", res), ("screening_window", window)):
                if r is not None:
                    self.calibrated[design][y] = r
        return frames, overall

    def matched_designs(self, y, te, keys, excl, frames: list) -> pd.Series | None:
        """The city's published 2x2 and the stacked matched design, appended to ``frames``; the stacked
        design's overall row and its influence per person (the bracket's third arm), or None."""
        alp, published, stacked = self.cfg.did.alp, self.published, self.stacked
        r = _attempt(excl, "did_2x2", did_2x2, published, y) if published is not None else None
        if r is not None:
            truth_v = published_truth(published, y, te) if te is not None else np.nan
            excl["did_2x2"] = r.exclusions
            frames.append(_rows(r.tidy(1 - alp), **keys, design="published", estimator="did_2x2",
                                aggregation="2x2", truth=truth_v, n_treated=r.n_treated, n_control=r.n_control))
        r = _attempt(excl, "stacked_did", stacked_did, stacked, y) if stacked is not None else None
        if r is None:
            return None
        t = r.tidy(1 - alp)
        truth_v = np.nan
        if te is not None:
            tr_rows = stacked[(stacked.treated == 1) & stacked[y].notna()]
            tr_rows = tr_rows.assign(te=effect_at(te, tr_rows.study_id, tr_rows.year))
            by_e = tr_rows.groupby("event_time").te.mean()
            truth_v = [tr_rows.loc[tr_rows.event_time >= 0, "te"].mean() if term == "ATT" else
                       by_e.get(int(term[2:]), np.nan) for term in t.term]
        excl["stacked_did"] = r.exclusions
        frames.append(_rows(t, **keys, design="stacked_matched", estimator="stacked_did",
                            aggregation=np.where(t.term == "ATT", "overall", "dynamic"), truth=truth_v,
                            n_treated=r.n_treated, n_control=r.n_control))
        return frames[-1][frames[-1].term == "ATT"].iloc[0], r.influence["ATT"]

    def ratio_and_twfe(self, y, te, keys, excl) -> list[pd.DataFrame]:
        """The ratio-scale DiD (costs and counts) and the two-way fixed effects, static and event study."""
        from analysis.did.twfe import twfe

        panel, dc, frames = self.panel, self.cfg.did, []
        if self.cfg.phenotypes.is_ratio_scale(y):
            r = _attempt(excl, "poisson_etwfe", functools.partial(
                poisson_etwfe, covariates=dc.covariates, anticipation=dc.anticipation), panel, y)
            if r is not None:
                excl["poisson_etwfe"] = _with_notes(r)
                excl.setdefault("pretest_p", {})["poisson_etwfe"] = r.pretest_p
                frames.append(_rows(r.tidy(1 - dc.alp), **keys, design="poisson_etwfe", estimator="poisson_etwfe",
                                    aggregation="simple", truth=_ratio_truth(self.treated_years, y, te),
                                    n_treated=r.n_treated, n_control=r.n_control))
        for dyn in (False, True):
            r = twfe(panel, y, "year", "study_id", "first_treat", event_study=dyn)
            truth_v = np.nan
            if te is not None and not dyn:
                seen = self.treated_years[self.treated_years[y].notna()]
                truth_v = float(np.mean(effect_at(te, seen.study_id, seen.year)))
            excl[f"twfe{'_dynamic' if dyn else ''}"] = _with_notes(r)
            frames.append(_rows(r.tidy(1 - dc.alp), **keys, design="twfe", estimator="twfe",
                                aggregation="dynamic" if dyn else "static", truth=truth_v, **self.twfe_n))
        return frames


def estimate_all(
    panel: pd.DataFrame,
    cfg: StudyConfig,
    stacked: pd.DataFrame | None = None,
    published: pd.DataFrame | None = None,
    truth: pd.DataFrame | None = None,
    progress: bool = False,
    bounds=None,
) -> tuple[pd.DataFrame, dict]:
    """Estimates of every outcome of the plan (primary, secondary, negative control) by every design.

    ``truth`` (synthetic worlds only): the linked truth outcomes with ``study_id``, ``year`` and
    ``y0_<outcome>``/``y1_<outcome>``. Returns (estimates frame with ``COLUMNS``, per-outcome exclusions).
    The estimators' warnings (rows dropped, cells not estimated) are silenced here because every one of
    them is in the returned exclusions. ``bounds``: a function of the never-treated, universal-base
    ``att_gt`` result giving the (low, high) range reported where the plan's pre-test rejects; by default
    the plan's Rambachan-Roth range (``analysis.causal.sensitivity.plan_range``), as the headline rule
    expects (without it a rejected outcome falls back to a cruder range, ``headline.py``)."""
    if bounds is None:
        from analysis.causal.sensitivity import plan_range  # causal builds on did: imported when called

        bounds = plan_range(cfg.did)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _estimate_all(panel, cfg, stacked, published, truth, progress, bounds)
