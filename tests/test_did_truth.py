"""Truth recovery on the synthetic worlds: estimates against the exact sample truth (y1 - y0 of the same
people and years, from the generator's truth tables). Coverage over many seeds is a benchmark
(benchmarks/bench_did_coverage.py); here a few cells and one seed per world."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd

from analysis.config import load_config
from analysis.did import aggte, att_gt, stacked_did, trend_adjusted
from analysis.did.outcomes import COLUMNS, cs_truth, effect_at, read_truth, truth_table
from analysis.matching.riskset import riskset_match

XF = "~ female + birth_year + disability + premium_decile + chronic_disease"


def _cs(panel, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return att_gt(panel, y, "year", "study_id", "first_treat", XF, control_group="notyettreated",
                      allow_unbalanced_panel=bool(panel[y].isna().any()), bstrap=False, cband=False,
                      table="panel")


def _cs_fixed(panel, y, xformla=XF):
    """CS-DR against the never-treated from one base period (g-1): the input of ``trend_adjusted``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return att_gt(panel, y, "year", "study_id", "first_treat", xformla, control_group="nevertreated",
                      base_period="universal", bstrap=False, cband=False, table="panel")


def _simple(res):
    return aggte(res, "simple", na_rm=True)


def test_no_selection_cs_dr_covers_truth(noselection_panel):
    panel, truth = noselection_panel.panel, noselection_panel.truth
    res = _cs(panel, "medical_cost")
    te = truth_table(truth, "medical_cost")
    tr = cs_truth(res, panel, "medical_cost", te)
    s = _simple(res)
    assert tr[("simple", "overall")] < -5_000  # the world has a real effect
    assert abs(s.overall_att - tr[("simple", "overall")]) < 3 * s.overall_se
    t = res.tidy()
    post = t[t.post]
    true_gt = np.array([tr[("gt", (g, tt))] for g, tt in zip(post.group, post.time, strict=False)])
    covered = (post.conf_low <= true_gt) & (true_gt <= post.conf_high)
    assert covered.mean() >= 0.75, (covered.mean(), len(covered))
    pre = t[~t.post]
    assert np.allclose([tr[("gt", (g, tt))] for g, tt in zip(pre.group, pre.time, strict=False)], 0)  # no effect before
    # the trend-adjusted design gives up precision, not validity, where trends are parallel
    adj = trend_adjusted(_cs_fixed(panel, "medical_cost"))
    sa = _simple(adj)
    truth_adj = cs_truth(adj, panel, "medical_cost", te)[("simple", "overall")]
    assert abs(sa.overall_att - truth_adj) < 3 * sa.overall_se and sa.overall_se > s.overall_se


def test_no_selection_checkup_outcome_unbalanced_path(noselection_panel):
    panel, truth = noselection_panel.panel, noselection_panel.truth
    res = _cs(panel, "sbp")
    assert not res.design.panel  # biennial checkups: the unbalanced-panel path
    assert res.exclusions["rows with missing sbp"] == int(panel.sbp.isna().sum())
    assert res.nobs == panel.loc[panel.sbp.notna(), "study_id"].nunique()
    tr = cs_truth(res, panel, "sbp", truth_table(truth, "sbp"))
    assert tr[("simple", "overall")] < 0  # the program lowers blood pressure in this world
    # Not asserted: closeness to the truth. On this world (0.02, seed 9988) the estimate is 3.05 SEs from
    # the sample truth; the program changes who attends checkups, so the repeated-cross-section path's
    # stationarity assumption fails for checkup outcomes. An open question recorded in the issue note.


def test_no_selection_stacked_matched_covers_truth(noselection_panel):
    panel, truth = noselection_panel.panel, noselection_panel.truth
    st = riskset_match(panel, ratio=2).data
    r = stacked_did(st, "medical_cost")
    tre = st[(st.treated == 1) & (st.event_time >= 0)]
    # the treated person-years' true effects by a merge with the truth, and by the truth table's look-up
    both = tre[["study_id", "year"]].merge(truth, on=["study_id", "year"], how="left")
    effect = (both["y1_medical_cost"] - both["y0_medical_cost"]).to_numpy()
    np.testing.assert_array_equal(effect_at(truth_table(truth, "medical_cost"), tre.study_id, tre.year), effect)
    true_att = float(np.nanmean(effect))
    assert abs(r.params["ATT"] - true_att) < 3 * r.std_errors["ATT"], (r.params["ATT"], true_att)


def test_null_world_negative_control_and_truth(null_panel):
    """The null world keeps the default world's selection but has no effect at all; the negative control
    is null under CS-DR."""
    panel, truth = null_panel.panel, null_panel.truth
    for y in ("medical_cost", "injury_visits"):
        assert np.all(truth_table(truth, y).to_numpy() == 0)
    s = _simple(_cs(panel, "injury_visits"))
    assert abs(s.overall_att) < 3 * s.overall_se, (s.overall_att, s.overall_se)


def test_null_world_bias_is_the_unobserved_confounder(null_panel):
    """The null world has no effect and the default world's selection, which breaks parallel trends by
    design: enrolment selects on latent health consciousness H, and H slows cost growth
    (``cost_trend_health_conscious``). CS-DR on the observed covariates is biased toward a saving and its
    own pre-test says so; given H itself (the oracle, synthetic worlds only) the same estimator finds
    nothing, so the bias is the world's confounding, not the estimator."""
    w = null_panel
    plain = _cs_fixed(w.panel, "medical_cost")
    s = _simple(plain)
    assert s.overall_att < -3 * s.overall_se, (s.overall_att, s.overall_se)
    assert plain.pretest_p < 0.01
    oracle = w.panel.merge(w.persons[["study_id", "health_consciousness"]], on="study_id", how="left")
    o = _simple(_cs_fixed(oracle, "medical_cost", XF + " + health_consciousness"))
    assert abs(o.overall_att) < 3 * o.overall_se, (o.overall_att, o.overall_se)


def test_null_world_trend_adjusted_consistent_with_zero(null_panel):
    """H's cost trend shows as a linear pre-trend; removing each cohort's fitted pre-trend leaves an
    estimate consistent with zero and pre-period residuals consistent with a line."""
    adj = trend_adjusted(_cs_fixed(null_panel.panel, "medical_cost"))
    s = _simple(adj)
    assert abs(s.overall_att) < 3 * s.overall_se, (s.overall_att, s.overall_se)
    assert adj.pretest_p > 0.01


def test_null_world_stacked_matched_bias_is_visible_in_its_pre_periods(null_panel):
    """Risk-set matching on the observed baseline cannot see latent H either: the stacked matched estimate
    inherits H's cost trend, and its own event study shows the trend in the pre-periods."""
    r = stacked_did(riskset_match(null_panel.panel, ratio=2).data, "medical_cost")
    assert r.params["ATT"] < -3 * r.std_errors["ATT"], (r.params["ATT"], r.std_errors["ATT"])
    pre = r.tidy()
    assert (pre.loc[pre.term.isin(["e=-4", "e=-3"]), "p_value"] < 0.05).any(), pre


def test_negative_control_null_in_default_world(default_panel, default_linked):
    _, panel, _ = default_panel
    truth = read_truth(default_linked[0] / "truth")
    assert np.all(truth.y1_injury_visits.to_numpy() == truth.y0_injury_visits.to_numpy())
    s = _simple(_cs(panel, "injury_visits"))
    assert abs(s.overall_att) < 3 * s.overall_se


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment written out: the i-th smallest p times (m - i + 1), made monotone."""
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1, np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p)))))
    out = np.empty_like(stepped)
    out[order] = stepped
    return out


def test_estimate_all_rows_truth_and_multiplicity(default_run):
    """``estimate_all`` as the plan's run wrote it (``run`` -> estimates.csv, exclusions in estimates.json):
    every outcome by every design, the truth beside each headline, Holm across the secondary outcomes within
    each design, exclusions counted."""
    est = pd.read_csv(default_run["run"] / "estimates.csv")  # 10 significant digits
    excl = json.loads((default_run["run"] / "estimates.json").read_text())["exclusions"]
    cfg = load_config()
    assert list(est.columns) == COLUMNS
    assert set(est.outcome) == {cfg.outcomes.primary, *cfg.outcomes.secondary, cfg.outcomes.negative_control,
                                *cfg.outcomes.negative_controls}
    assert set(est.design) == {"callaway_santanna", "callaway_santanna_trend", "callaway_santanna_calibrated",
                               "later_joiners", "rambachan_roth", "published", "stacked_matched", "twfe", "bracket",
                               "poisson_etwfe", "screening_window", "screening_window_calibrated", "calibration_span"}
    head = est[(est.outcome == "medical_cost") & (est.term.isin(["ATT", "overall"]))
               & est.aggregation.isin(["simple", "2x2", "static", "overall"])]
    # one headline row per design that estimates costs (the calibration span among them), each with its truth
    assert len(head) == 11 and head.truth.notna().all() and (head.truth < 0).all()
    # the ratio-scale DiD on the amounts and counts it is for, its share of the counterfactual a fraction
    ratio = est[est.design == "poisson_etwfe"]
    assert set(ratio.outcome) == {"medical_cost", "injury_visits"} and set(ratio.term) == {"ATT", "ATT%"}
    rel = ratio[(ratio.outcome == "medical_cost") & (ratio.term == "ATT%")].iloc[0]
    assert -0.5 < rel.truth < 0 and -1 < rel.estimate < 1
    assert "poisson_etwfe" in excl["medical_cost"]["pretest_p"]
    # Holm adjusts each design's headline p-values across the secondary outcomes, and nothing else
    adj = est[est.p_adjusted.notna()]
    assert set(adj.outcome) <= set(cfg.outcomes.secondary) and set(adj.outcome) >= {"sbp", "bmi", "waist"}
    for _, g in adj.groupby(["design", "estimator", "aggregation"]):
        assert len(g) >= 2
        np.testing.assert_allclose(g.p_adjusted, _holm(g.p_value.to_numpy()), rtol=1e-8)
    assert excl["sbp"]["att_gt"]["rows with missing sbp"] > 0
    ci = est.dropna(subset=["std_error"])
    assert (ci.conf_low <= ci.estimate).all() and (ci.estimate <= ci.conf_high).all()
    assert set(est.loc[est.design == "twfe", "outcome"]) == {"medical_cost", "injury_visits"}
