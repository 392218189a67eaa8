"""Every outcome of the plan through every design in one call, with multiplicity adjustment and, on
synthetic data, the exact sample truth next to each estimate.

Designs (one row per outcome x design x estimator x aggregation x term):

- ``published``: the city's 2x2 (``did_2x2``) on its 1:10 matched 2022 joiners;
- ``callaway_santanna``: ``att_gt`` with the plan's control group / method / covariates, aggregated
  ``simple``, ``group`` and ``dynamic`` (``aggte``);
- ``stacked_matched``: ``stacked_did`` on the risk-set sub-experiments;
- ``twfe``: static and event-study two-way fixed effects, the biased benchmark.

Checkup outcomes exist only in checkup years: they go through the unbalanced-panel path of ``att_gt``
(rows without a checkup are reported as excluded). Claims outcomes are a panel; people not observed in
every year (deaths) are excluded from ``att_gt`` and counted. Holm or Benjamini-Hochberg adjustment is
applied across the secondary outcomes, per design and headline aggregation.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from analysis.config import StudyConfig
from analysis.did.aggte import aggte
from analysis.did.attgt import AttGtResult, att_gt
from analysis.did.drdid import DiDError
from analysis.did.stacked import did_2x2, stacked_did

COLUMNS = ["outcome", "role", "design", "estimator", "aggregation", "term", "estimate", "std_error",
           "conf_low", "conf_high", "p_value", "p_adjusted", "n_treated", "n_control", "truth"]
HEADLINE = {"simple", "overall", "2x2", "static"}


def _rows(tidy: pd.DataFrame, **keys) -> pd.DataFrame:
    t = tidy[["term", "estimate", "std_error", "conf_low", "conf_high", "p_value"]].copy()
    for k, v in keys.items():
        t[k] = v
    return t


def truth_table(truth: pd.DataFrame, outcome: str) -> pd.Series:
    """Exact individual effects ``y1 - y0`` of ``outcome`` indexed by (study_id, year)."""
    te = truth[f"y1_{outcome}"].to_numpy(float) - truth[f"y0_{outcome}"].to_numpy(float)
    idx = pd.MultiIndex.from_arrays([truth["study_id"].to_numpy(), truth["year"].to_numpy()])
    return pd.Series(te, index=idx)


def cs_truth(res: AttGtResult, panel: pd.DataFrame, yname: str, te: pd.Series) -> dict:
    """Sample truth of every ATT(g,t) (mean effect of cohort g's units in the estimation sample observed
    at t) and of each aggregation (the same cohort-share weights applied to the true ATT(g,t))."""
    d = res.design
    obs = panel.loc[panel[yname].notna(), ["study_id", "year"]]
    obs = obs[obs.study_id.isin(d.unit_id)]
    g_of = pd.Series(d.unit_g, index=d.unit_id)
    obs = obs.assign(g=g_of.reindex(obs.study_id).to_numpy(),
                     te=te.reindex(pd.MultiIndex.from_frame(obs[["study_id", "year"]])).to_numpy())
    cell_mean = obs.groupby(["g", "year"]).te.mean()
    true_att = np.array([cell_mean.get((c.group, c.time), np.nan) for c in res.cells])
    fake = dataclasses.replace(res, att=np.where(np.isfinite(res.att), true_att, np.nan))
    out = {("gt", (c.group, c.time)): v for c, v in zip(res.cells, true_att, strict=False)}
    for typ in ("simple", "group", "dynamic"):
        ag = aggte(fake, type=typ, bstrap=False, cband=False, na_rm=True)
        out[(typ, "overall")] = ag.overall_att
        if ag.egt is not None:
            for e, v in zip(ag.egt, ag.att_egt, strict=False):
                out[(typ, int(e))] = v
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


def estimate_all(
    panel: pd.DataFrame,
    cfg: StudyConfig,
    stacked: pd.DataFrame | None = None,
    published: pd.DataFrame | None = None,
    truth: pd.DataFrame | None = None,
    progress: bool = False,
) -> tuple[pd.DataFrame, dict]:
    """Estimates of every outcome of the plan (primary, secondary, negative control) by every design.

    ``truth`` (synthetic worlds only): the linked truth outcomes with ``study_id``, ``year`` and
    ``y0_<outcome>``/``y1_<outcome>``. Returns (estimates frame with ``COLUMNS``, per-outcome exclusions)."""
    from analysis.did.twfe import twfe

    oc, dc = cfg.outcomes, cfg.did
    roles = {oc.primary: "primary", **{o: "secondary" for o in oc.secondary}, oc.negative_control: "negative_control"}
    xformla = "~ " + " + ".join(dc.covariates) if dc.covariates else None
    frames, exclusions = [], {}
    for y, role in roles.items():
        if progress:
            print(f"  did: {y}", flush=True)
        te = truth_table(truth, y) if truth is not None else None
        excl = exclusions.setdefault(y, {})
        unbalanced = bool(panel[y].isna().any())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = att_gt(panel, y, "year", "study_id", "first_treat", xformla, control_group=dc.control_group,
                         est_method=dc.est_method, anticipation=dc.anticipation, base_period=dc.base_period,
                         allow_unbalanced_panel=unbalanced, biters=dc.biters, alp=dc.alp, seed=dc.seed,
                         table="panel")
        excl["att_gt"] = res.exclusions
        tr = cs_truth(res, panel, y, te) if te is not None else {}
        n_t = {g: int((res.design.unit_g == g).sum()) for g in res.design.glist}
        n_c = int((res.design.unit_g == 0).sum())
        est = f"att_gt_{dc.est_method}"
        for typ in ("simple", "group", "dynamic"):
            ag = aggte(res, type=typ, na_rm=True)
            t = ag.tidy(1 - dc.alp)
            keys = ["overall"] + ([] if ag.egt is None else [int(e) for e in ag.egt])
            t["truth"] = [tr.get((typ, k), np.nan) for k in keys]
            t["n_treated"] = [sum(n_t.values())] + ([] if ag.egt is None else [
                n_t.get(int(e), sum(n_t.values())) if typ == "group" else sum(n_t.values()) for e in ag.egt])
            t["n_control"] = n_c
            frames.append(_rows(t, outcome=y, role=role, design="callaway_santanna", estimator=est,
                                aggregation=typ).assign(truth=t.truth.to_numpy(), n_treated=t.n_treated.to_numpy(),
                                                        n_control=n_c))
        if published is not None:
            try:
                r = did_2x2(published, y)
            except DiDError as e:  # reported, not dropped silently
                excl["did_2x2"] = {"not estimated": str(e)}
                r = None
        if published is not None and r is not None:
            t = r.tidy(1 - dc.alp)
            truth_v = np.nan
            if te is not None:
                ids = published.loc[(published.treated == 1), "study_id"].unique()
                pid = published.loc[published.year == 2023, ["study_id", y]].dropna().study_id
                pre = published.loc[published.year == 2021, ["study_id", y]].dropna().study_id
                ids = np.intersect1d(ids, np.intersect1d(pid, pre))
                t23 = te.reindex(pd.MultiIndex.from_arrays([ids, np.full(len(ids), 2023)])).to_numpy()
                t21 = te.reindex(pd.MultiIndex.from_arrays([ids, np.full(len(ids), 2021)])).to_numpy()
                truth_v = float(np.mean(t23 - t21))
            excl["did_2x2"] = r.exclusions
            frames.append(_rows(t, outcome=y, role=role, design="published", estimator="did_2x2",
                                aggregation="2x2", truth=truth_v, n_treated=r.n_treated, n_control=r.n_control))
        r = None
        if stacked is not None:
            try:
                r = stacked_did(stacked, y)
            except DiDError as e:  # reported, not dropped silently
                excl["stacked_did"] = {"not estimated": str(e)}
        if r is not None:
            t = r.tidy(1 - dc.alp)
            t["aggregation"] = np.where(t.term == "ATT", "overall", "dynamic")
            if te is not None:
                s = stacked[(stacked.treated == 1) & stacked[y].notna()]
                s = s.assign(te=te.reindex(pd.MultiIndex.from_frame(s[["study_id", "year"]])).to_numpy())
                by_e = s.groupby("event_time").te.mean()
                t["truth"] = [s.loc[s.event_time >= 0, "te"].mean() if term == "ATT" else
                              by_e.get(int(term[2:]), np.nan) for term in t.term]
            else:
                t["truth"] = np.nan
            excl["stacked_did"] = r.exclusions
            frames.append(_rows(t, outcome=y, role=role, design="stacked_matched", estimator="stacked_did",
                                aggregation=t.aggregation.to_numpy()).assign(
                truth=t.truth.to_numpy(), n_treated=r.n_treated, n_control=r.n_control))
        for dyn in (False, True):
            r = twfe(panel, y, "year", "study_id", "first_treat", event_study=dyn)
            t = r.tidy(1 - dc.alp)
            truth_v = np.nan
            if te is not None and not dyn:
                tp = panel.loc[(panel.first_treat > 0) & (panel.year >= panel.first_treat) & panel[y].notna(),
                               ["study_id", "year"]]
                truth_v = float(te.reindex(pd.MultiIndex.from_frame(tp)).mean())
            excl[f"twfe{'_dynamic' if dyn else ''}"] = r.exclusions
            frames.append(_rows(t, outcome=y, role=role, design="twfe", estimator="twfe",
                                aggregation="dynamic" if dyn else "static", truth=truth_v if not dyn else np.nan,
                                n_treated=int(panel.loc[panel.first_treat > 0, "study_id"].nunique()),
                                n_control=int(panel.loc[panel.first_treat == 0, "study_id"].nunique())))
    df = pd.concat(frames, ignore_index=True)
    df["term"] = df["term"].astype(str)
    df.loc[df.term.isin(["D", "ATT"]), "term"] = "ATT"
    df["p_adjusted"] = _multiplicity(df, list(oc.secondary), oc.multiplicity)
    return df[COLUMNS], exclusions
