"""Worlds anyone can vary, negative-control costs, empirical calibration and the headline rule (issue 13)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats

from analysis import phenotypes
from analysis.config import ConfigError, load_config, parse_config
from analysis.definitions import NC_COST_OUTCOMES
from analysis.did import att_gt
from analysis.did.calibration import calibrate, calibrated_p, fit_null, relative_att, sampling_correlation
from analysis.did.drdid import DiDError
from analysis.did.headline import mark_headlines, outcome_headline, systematic_error_p
from analysis.pipeline import fingerprint
from analysis.synth.params import world_params
from analysis.synth.world import generate_chunk

# --- worlds anyone can vary -------------------------------------------------------------------------------


@pytest.mark.parametrize("knob, value, message", [
    ("select_health_conscious", "strong", r"world.select_health_conscious: .*must be a number; got 'strong'"),
    ("cost_trend_health_conscious", 3.0, r"world.cost_trend_health_conscious: .*out of range; allowed: -0.2 to 0.2"),
    ("trend_form", "quadratic", r"world.trend_form: .*allowed: \['linear', 'accelerating', 'shift'\]"),
    ("trend_shift_year", 2022.5, r"world.trend_shift_year: .*must be an integer"),
    ("effect_scale", True, r"world.effect_scale: .*must be a number; got True"),
    ("selct_premium", 1.0, r"unknown key\(s\) in \[world\]: \['selct_premium'\]"),
])
def test_bad_world_knobs_are_errors_naming_the_key(knob, value, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({"world": {"scenario": "null", knob: value}})


def test_knobs_sit_on_top_of_the_scenario_and_enter_the_fingerprint():
    base = parse_config({"world": {"scenario": "null"}})
    cfg = parse_config({"world": {"scenario": "null", "select_health_conscious": 1.5, "trend_form": "shift",
                                  "trend_shift_year": 2023}})
    p = cfg.world.params
    assert (p.effect_scale, p.select_health_conscious, p.trend_form) == (0.0, 1.5, "shift")  # null's zero kept
    assert cfg.world.changed_knobs == {"select_health_conscious": 1.5, "trend_form": "shift",
                                       "trend_shift_year": 2023}
    assert base.world.changed_knobs == {}
    assert fingerprint(cfg) != fingerprint(base)
    assert cfg.with_world(scale=0.01).world.params == p  # CLI overrides keep the knobs


def test_trend_forms():
    lin, acc = world_params("default").trend_profile(), world_params("default", {"trend_form": "accelerating"})
    assert lin.tolist() == list(range(9))
    a = acc.trend_profile()
    assert a[0] == 0 and a[-1] == lin[-1] and np.all(np.diff(a, 2) > 0)  # same 2025 value, convex
    s = world_params("default", {"trend_form": "shift", "trend_shift_year": 2022}).trend_profile()
    assert s.tolist() == [0, 0, 0, 0, 0, 4, 4, 4, 4]


def _chunk(**knobs):
    return generate_chunk(0, 6000, 11, world_params("default", knobs))


def _claims(tables):
    """A chunk's claims outcomes per person-year, by the phenotype file."""
    ren = {"PERSON_ID": "STUDY_ID"}
    def frame(t):
        return t.to_pandas() if isinstance(t, pa.Table) else t

    py, _ = phenotypes.person_years(phenotypes.load(), *(frame(tables[f"nhis/{t}"]).rename(columns=ren)
                                                         for t in ("qualification", "t20", "t40", "t60")))
    return py


def test_knobs_change_the_world():
    base = _chunk()
    claims = _claims(base)
    # selection on H off: a different set of enrollees; everything about health the same
    other = _chunk(select_health_conscious=0.0)
    assert not base["truth/persons"].first_treat.equals(other["truth/persons"].first_treat)
    # controls made blind to the care-seeking trend: their costs change, general care does not
    blind = _claims(_chunk(nc_trend_scale=0.0))
    nc = list(NC_COST_OUTCOMES)
    assert not claims[nc].equals(blind[nc])
    general = claims.medical_cost - claims[nc].sum(axis=1)
    assert (general == blind.medical_cost - blind[nc].sum(axis=1)).all()
    # a checkup-measure trend in H moves the measures
    m = _chunk(measure_trend_health_conscious=-0.05)["nhis/checkups"]
    assert (m.G1E_WSTC != base["nhis/checkups"].G1E_WSTC).any()


def test_negative_control_costs_add_up_and_have_no_effect():
    t = _chunk()
    claims = _claims(t)
    nc = claims[list(NC_COST_OUTCOMES)]
    assert (nc.to_numpy() >= 0).all() and (nc.sum(axis=1) <= claims.medical_cost).all()
    assert (nc.sum(axis=1) > 0).mean() > 0.5
    truth = t["truth/outcomes"]
    for o in NC_COST_OUTCOMES:
        assert (truth[f"y1_{o}"] == truth[f"y0_{o}"]).all()  # the program cannot change them
    assert (truth.y1_medical_cost != truth.y0_medical_cost).any()


# --- empirical calibration ----------------------------------------------------------------------------------


def test_calibrated_p_matches_empirical_calibration_reference():
    """OHDSI EmpiricalCalibration, tests/testthat (calibrateOneP argument requirements): with the null
    fitNull(c(0, 0), c(0, 0)) (mean 0, SD 0), calibrateP of logRr (0.1, 0.3) with seLogRr (0.05, 0.1) is
    c(0.045500266, 0.002699796), one-sided c(0.022750133, 0.001349898), lower one-sided rounded c(0.98, 1.00).
    Ours agree to 3e-9 (their fitted null's SD is a numerical optimum near, not at, 0: 2 * pnorm(-2) is
    0.0455002639)."""
    null = fit_null([0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    assert (null.mean, null.sd, null.mean_se) == (0.0, 0.0, 0.0)
    est, se = np.array([0.1, 0.3]), np.array([0.05, 0.1])
    assert calibrated_p(null, est, se, with_mean_se=False) == pytest.approx([0.045500266, 0.002699796], abs=3e-9)
    assert calibrated_p(null, est, se, two_sided=False, with_mean_se=False) == pytest.approx(
        [0.022750133, 0.001349898], abs=3e-9)
    lower = calibrated_p(null, est, se, two_sided=False, upper=False, with_mean_se=False)
    assert np.round(lower, 2).tolist() == [0.98, 1.00]


def test_fit_null_is_the_maximum_likelihood():
    null = fit_null([1.0, 2.0, 1.5], [0.0, 0.0, 0.0])  # sd of (1, 2, 1.5) by ML: sqrt(1/6)
    assert null.mean == pytest.approx(1.5) and null.sd == pytest.approx(np.sqrt(1 / 6), rel=1e-6)
    rng = np.random.default_rng(3)
    se = rng.uniform(0.05, 0.3, 12)
    est = 0.1 + rng.normal(0, 0.2, 12) + se * rng.standard_normal(12)
    null = fit_null(est, se)

    def loglik(m, s):
        return stats.norm.logpdf(est, m, np.sqrt(s**2 + se**2)).sum()

    ms, ss = np.meshgrid(np.linspace(-0.5, 0.7, 121), np.linspace(0, 0.8, 161))
    grid = np.vectorize(loglik)(ms, ss)
    assert loglik(null.mean, null.sd) >= grid.max() - 1e-9


def test_fit_null_recovers_the_systematic_error_and_calibration_covers():
    rng = np.random.default_rng(5)
    se = rng.uniform(0.02, 0.1, 4000)
    est = -0.04 + rng.normal(0, 0.03, 4000) + se * rng.standard_normal(4000)
    null = fit_null(est, se)
    assert abs(null.mean + 0.04) < 4 * null.mean_se and abs(null.sd - 0.03) < 0.004
    # targets with the same error and true effect 0.05: calibrated intervals cover it about 95% of the time
    t_se = rng.uniform(0.02, 0.1, 2000)
    t_est = 0.05 - 0.04 + rng.normal(0, 0.03, 2000) + t_se * rng.standard_normal(2000)
    cover = [(c := calibrate(null, e, s))["conf_low"] <= 0.05 <= c["conf_high"] for e, s in zip(t_est, t_se,
                                                                                                 strict=True)]
    assert 0.93 < np.mean(cover) < 0.97


def test_fit_null_needs_three_controls():
    with pytest.raises(DiDError, match="at least 3 are needed"):
        fit_null([0.1, np.nan, 0.2], [0.1, 0.1, 0.1])


def test_fit_null_with_independent_controls_is_fitnull():
    rng = np.random.default_rng(8)
    se = rng.uniform(0.05, 0.3, 6)
    est = 0.1 + rng.normal(0, 0.2, 6) + se * rng.standard_normal(6)
    plain, corr = fit_null(est, se), fit_null(est, se, correlation=np.eye(6))
    assert (corr.mean, corr.sd, corr.mean_se) == pytest.approx((plain.mean, plain.sd, plain.mean_se), rel=1e-6)
    # the correlated fit is the maximum likelihood under N(mean 1, sd^2 I + S R S)
    R = 0.5 + 0.5 * np.eye(6)
    null = fit_null(est, se, correlation=R)

    def loglik(m, s):
        return stats.multivariate_normal.logpdf(est, np.full(6, m), s**2 * np.eye(6) + R * np.outer(se, se))

    ms, ss = np.meshgrid(np.linspace(-0.5, 0.7, 121), np.linspace(0, 0.8, 161))
    assert loglik(null.mean, null.sd) >= np.vectorize(loglik)(ms, ss).max() - 1e-9


def _correlated_coverage(rho_controls: float, rho_target: float, use_correlation: bool, reps: int = 600) -> float:
    """Coverage of calibrated intervals when the k controls' sampling errors share a component (correlation
    ``rho_controls``) and the target's shares it with correlation ``rho_target`` to each control; systematic
    errors N(0.2, 0.3^2), sampling SE 1, true effect 0.5."""
    k, tau, mu, effect = 8, 0.3, 0.2, 0.5
    a, b = np.sqrt(rho_controls), rho_target / np.sqrt(rho_controls)
    R = np.full((k + 1, k + 1), rho_controls)
    R[-1, :], R[:, -1] = rho_target, rho_target
    np.fill_diagonal(R, 1.0)
    rng = np.random.default_rng(21)
    hits = 0
    for _ in range(reps):
        z0 = rng.standard_normal()
        controls = mu + tau * rng.standard_normal(k) + a * z0 + np.sqrt(1 - a**2) * rng.standard_normal(k)
        target = effect + mu + tau * rng.standard_normal() + b * z0 + np.sqrt(1 - b**2) * rng.standard_normal()
        null = fit_null(controls, np.ones(k), correlation=R[:k, :k] if use_correlation else None)
        c = calibrate(null, target, 1.0, cross=null.cross(R[-1, :k], 1.0) if use_correlation else None)
        hits += c["conf_low"] <= effect <= c["conf_high"]
    return hits / reps


def test_calibration_with_correlated_controls_covers():
    """Controls estimated on the same people move together. Treated as independent, a common sampling error
    of the controls passes for a precisely known systematic error and intervals under-cover (nominal 0.95;
    here about 0.89 by the variance ratio); with the correlation they cover, whether the target shares the
    controls' common error or not (600 draws: 0.95 +/- 0.027 is three Monte Carlo SDs)."""
    assert _correlated_coverage(0.6, 0.0, use_correlation=False) < 0.92
    assert abs(_correlated_coverage(0.6, 0.0, use_correlation=True) - 0.95) < 0.027
    assert abs(_correlated_coverage(0.6, 0.5, use_correlation=True) - 0.95) < 0.027


def test_sampling_correlation_of_outcomes_on_the_same_people():
    """An outcome that is an affine function of another has the same influence function up to sign and
    scale (correlation +1 or -1); an outcome of independent noise is nearly uncorrelated."""
    rng = np.random.default_rng(4)
    n, years = 400, range(2018, 2022)
    g = np.where(np.arange(n) < 150, 2020, 0)
    rows = [(i + 1, t, g[i]) for i in range(n) for t in years]
    panel = pd.DataFrame(rows, columns=["study_id", "year", "first_treat"])
    panel["y"] = 1000 + rng.normal(0, 100, len(panel)) + 50 * ((panel.first_treat > 0) & (panel.year >= 2020))
    panel["y_twice"] = 2 * panel.y + 300
    panel["y_mirror"] = 5000 - panel.y
    panel["noise"] = 800 + rng.normal(0, 100, len(panel))
    infl = [relative_att(att_gt(panel, y, "year", "study_id", "first_treat", bstrap=False, cband=False), panel,
                         y)["influence"] for y in ("y", "y_twice", "y_mirror", "noise")]
    R = sampling_correlation(infl)
    assert R[0, 1] == pytest.approx(1.0) and R[0, 2] == pytest.approx(-1.0)
    assert abs(R[0, 3]) < 3 / np.sqrt(n)
    assert np.linalg.eigvalsh(R).min() > -1e-12


def test_relative_att_on_a_hand_built_panel():
    """No noise: y = 1000 + 50 * unit + 20 * (year - 2018), plus 100 for the treated from 2020. The ATT is 100
    and the treated's counterfactual mean over 2020-21 is their observed mean minus 100."""
    rows = []
    for i in range(40):
        g = 2020 if i < 15 else 0
        for year in range(2018, 2022):
            y = 1000 + 50 * (i % 7) + 20 * (year - 2018) + (100 if g and year >= g else 0)
            rows.append((i + 1, year, g, float(y)))
    panel = pd.DataFrame(rows, columns=["study_id", "year", "first_treat", "y"])
    res = att_gt(panel, "y", "year", "study_id", "first_treat", bstrap=False, cband=False)
    r = relative_att(res, panel, "y")
    mu0 = panel[(panel.first_treat == 2020) & (panel.year >= 2020)].y.mean() - 100
    assert r["att"] == pytest.approx(100) and r["mu0"] == pytest.approx(mu0) and r["rel"] == pytest.approx(100 / mu0)


# --- the headline rule ----------------------------------------------------------------------------------------


def _est(rows):
    cols = ["outcome", "design", "aggregation", "term", "estimate", "conf_low", "conf_high", "p_value"]
    return pd.DataFrame(rows, columns=cols)


EST = _est([
    ("medical_cost", "callaway_santanna", "simple", "overall", -50.0, -80.0, -20.0, 0.001),
    ("medical_cost", "callaway_santanna_calibrated", "simple", "overall", -10.0, -45.0, 25.0, 0.6),
    ("medical_cost", "callaway_santanna", "dynamic", "0", -40.0, -90.0, 10.0, 0.1),
    ("medical_cost", "bracket", "overall", "overall", np.nan, -95.0, 5.0, np.nan),  # never a cost's headline
    ("medical_cost", "calibration_span", "overall", "overall", np.nan, -80.0, 25.0, np.nan),
    ("waist", "callaway_santanna", "simple", "overall", -0.6, -0.7, -0.5, 0.0),
    ("waist", "stacked_matched", "overall", "ATT", -0.15, -0.2, -0.1, 0.0),
    ("waist", "bracket", "overall", "overall", np.nan, -0.7, -0.1, np.nan),
    ("waist", "callaway_santanna_trend", "simple", "overall", -0.2, -0.5, 0.1, 0.2),
    ("sbp", "callaway_santanna", "simple", "overall", -0.6, -0.7, -0.5, 0.0),
    ("sbp", "rambachan_roth", "dynamic", "overall", np.nan, -1.4, 0.3, np.nan),
    ("bmi", "callaway_santanna", "simple", "overall", -0.6, -0.7, -0.5, 0.0),
    ("bmi", "bracket", "overall", "overall", np.nan, -0.7, 0.2, np.nan),
    ("bmi", "rambachan_roth", "dynamic", "overall", np.nan, -1.4, 0.3, np.nan),
])


@pytest.mark.parametrize("outcome, pretest, controls, design", [
    ("medical_cost", {"callaway_santanna": 0.001}, 5, "callaway_santanna_calibrated"),
    ("medical_cost", {"callaway_santanna": 0.5}, 2, "callaway_santanna"),  # too few controls in the plan
    ("medical_cost", {"callaway_santanna": 0.5, "before_screening": 0.5}, 2, "callaway_santanna"),
    # measures with a matched design: the bracket wherever the years before the screening cycle were parallel
    ("waist", {"callaway_santanna": 0.3, "before_screening": 0.4}, 5, "bracket"),
    ("waist", {"callaway_santanna": 0.001, "before_screening": 0.4}, 5, "bracket"),
    # the bracket's arms disagree, or their agreement could not be tested: the bracket; they agree: the plan's
    ("waist", {"callaway_santanna": 0.3, "before_screening": 0.4, "arms_agree": 0.01}, 5, "bracket"),
    ("waist", {"callaway_santanna": 0.3, "before_screening": 0.4, "arms_agree": None}, 5, "bracket"),
    ("waist", {"callaway_santanna": 0.3, "before_screening": 0.4, "arms_agree": 0.3}, 5, "callaway_santanna"),
    ("waist", {"callaway_santanna": 0.3, "before_screening": 0.01, "arms_agree": 0.3}, 5, None),  # early trends
    ("bmi", {"callaway_santanna": 0.001, "before_screening": 0.01}, 5, "rambachan_roth_range"),
    ("bmi", {"callaway_santanna": 0.3, "before_screening": None}, 5, "rambachan_roth_range"),
    # without a matched design, the plan's design where its pre-test passes
    ("sbp", {"callaway_santanna": 0.3, "before_screening": 0.4}, 5, "callaway_santanna"),
    ("sbp", {"callaway_santanna": 0.01}, 5, "rambachan_roth_range"),
    # a passing linearity test does not make the trend-adjusted design a headline
    ("waist", {"callaway_santanna": 0.01, "callaway_santanna_trend": 0.4, "before_screening": 0.01}, 5, None),
    ("waist", {"callaway_santanna": 0.01, "callaway_santanna_trend": None}, 5, None),
])
def test_headline_rule_on_constructed_diagnostics(outcome, pretest, controls, design):
    est = EST.assign(estimator=np.where(EST.design == "rambachan_roth", "honest_did_relative_magnitudes_mbar1", "x"))
    h = outcome_headline(est, outcome, pretest, 0.05, controls, cost=phenotypes.load().is_cost(outcome))
    assert h["design"] == (None if design == "rambachan_roth_range" else design)
    if design == "rambachan_roth_range":  # no point claim: the Rambachan-Roth range where there is one
        assert h["design"] is None and h["estimate"] is None and (h["conf_low"], h["conf_high"]) == (-1.4, 0.3)
        assert "Rambachan-Roth range, 1 x" in h["reason"]
        return
    if design is None:  # no point claim: the range of both designs' intervals
        assert h["estimate"] is None and (h["conf_low"], h["conf_high"]) == (-0.7, 0.1)
        assert "cannot tell the effect apart from self-selection" in h["reason"]
    else:
        row = EST[(EST.outcome == outcome) & (EST.design == design) & EST.term.isin(["ATT", "overall"])].iloc[0]
        assert (h["conf_low"], h["conf_high"]) == (row.conf_low, row.conf_high)
        if design == "bracket":  # a range: no point claim, but its row is the headline
            assert h["estimate"] is None and h["p_value"] is None and "within the span of three designs" in h["reason"]
        else:
            assert h["estimate"] == row.estimate
            if pretest.get("arms_agree"):
                assert "agree (p = 0.3)" in h["reason"]
    flags = mark_headlines(est, [h])
    assert flags.sum() == (design is not None)


@pytest.mark.parametrize("null, span", [
    ({"mean": 0.03, "mean_se": 0.01}, True),     # z = 3: the controls err, the cost may not: the span
    ({"mean": -0.03, "mean_se": 0.01}, True),
    ({"mean": 0.015, "mean_se": 0.01}, False),   # z = 1.5 at level 0.05: the calibrated interval stands
    ({"mean": 0.0, "mean_se": 0.0}, False),      # no error to test
    (None, False),
])
def test_cost_headline_spans_calibrated_and_uncalibrated_where_the_controls_err(null, span):
    h = outcome_headline(EST, "medical_cost", {"callaway_santanna": 0.5}, 0.05, 5, cost=True, calibration_null=null)
    if span:  # the union of the calibrated (-45, 25) and the uncalibrated (-80, -20) intervals, no point claim
        assert h["design"] == "calibration_span" and h["estimate"] is None and h["p_value"] is None
        assert (h["conf_low"], h["conf_high"]) == (-80.0, 25.0)
        assert f"{null['mean']:+.1%}" in h["reason"] and "p = 0.0027" in h["reason"]
    else:
        assert h["design"] == "callaway_santanna_calibrated" and (h["conf_low"], h["conf_high"]) == (-45.0, 25.0)
    flags = mark_headlines(EST, [h])
    assert flags.sum() == 1 and EST.design[flags].item() == h["design"]
    # the test is two-sided at the plan's level: at 0.001, z = 3 (p = 0.0027) no longer rejects
    strict = outcome_headline(EST, "medical_cost", {}, 0.001, 5, cost=True, calibration_null=null)
    assert strict["design"] == "callaway_santanna_calibrated"


def test_run_marks_one_headline_per_outcome(default_run):
    run = default_run["run"]
    payload = json.loads((run / "estimates.json").read_text())
    est = pd.DataFrame(payload["estimates"])
    head = json.loads((run / "headline.json").read_text())
    by_outcome = {h["outcome"]: h for h in head["outcomes"]}
    assert head["outcomes"] == payload["headlines"]
    for y, h in by_outcome.items():
        marked = est[(est.outcome == y) & est.headline]
        assert len(marked) == (h["design"] is not None)
        if h["design"] is not None:
            assert marked.design.iloc[0] == h["design"]
            assert (marked.conf_low.iloc[0], marked.conf_high.iloc[0]) == pytest.approx((h["conf_low"], h["conf_high"]))
            if h["estimate"] is None:  # a range with its own row is a headline without a point estimate
                assert h["design"] in ("bracket", "calibration_span") and np.isnan(marked.estimate.iloc[0])
            else:
                assert marked.estimate.iloc[0] == pytest.approx(h["estimate"])
    # the primary cost outcome is led by its calibrated design, or by the span of the calibrated and the
    # uncalibrated intervals where the controls' mean error differs from 0, with the null's fit recorded
    cal = payload["exclusions"]["medical_cost"]["empirical_calibration"]
    errs = systematic_error_p(cal["null"]) < load_config().did.alp
    assert head["design"] == by_outcome["medical_cost"]["design"] == (
        "calibration_span" if errs else "callaway_santanna_calibrated")
    e = est[est.outcome == "medical_cost"]
    arms = [e[(e.design == d) & (e.aggregation == "simple") & (e.term == "overall")].iloc[0]
            for d in ("callaway_santanna", "callaway_santanna_calibrated")]
    span = e[e.design == "calibration_span"].iloc[0]
    assert np.isnan(span.estimate) and span.truth == arms[0].truth
    assert span.conf_low == min(a.conf_low for a in arms) and span.conf_high == max(a.conf_high for a in arms)
    assert cal["null"]["n"] == len(NC_COST_OUTCOMES)
    controls = est[est.role == "calibration_control"]
    for design in ("callaway_santanna", "screening_window"):  # each calibrated design on every control
        assert sorted(controls[controls.design == design].outcome) == sorted(NC_COST_OUTCOMES)
    assert set(controls.design) == {"callaway_santanna", "screening_window"} and (controls.truth == 0).all()
    assert payload["exclusions"]["medical_cost"]["empirical_calibration_screening_window"]["null"]["n"] == len(
        NC_COST_OUTCOMES)


def test_bracket_spans_the_plan_the_screening_window_and_the_matched_interval(default_run):
    """The bracket of every outcome but costs is the span of the plan's Callaway-Sant'Anna interval, the
    screening-window design's and the stacked matched design's; the window design recomputed here from the
    panel (R did's att_gt with anticipation 2) gives the interval the run used."""
    from analysis.config import load_config
    from analysis.did import aggte

    est = pd.DataFrame(json.loads((default_run["run"] / "estimates.json").read_text())["estimates"])
    brackets = est[est.design == "bracket"]
    assert len(brackets) and not brackets.outcome.map(phenotypes.load().is_cost).any()
    for b in brackets.itertuples():
        e = est[est.outcome == b.outcome]
        arms = [e[(e.design == d) & (e.aggregation == "simple") & (e.term == "overall")].iloc[0]
                for d in ("callaway_santanna", "screening_window")]
        arms.append(e[(e.design == "stacked_matched") & (e.term == "ATT")].iloc[0])
        assert np.isnan(b.estimate) and b.truth == arms[0].truth
        assert b.conf_low == min(a.conf_low for a in arms) and b.conf_high == max(a.conf_high for a in arms)
    dc = load_config().did
    panel = pd.read_parquet(default_run["run"] / "panel" / "panel.parquet")
    win = att_gt(panel, "waist", "year", "study_id", "first_treat", dc.xformla, control_group=dc.control_group,
                 est_method=dc.est_method, base_period=dc.base_period, allow_unbalanced_panel=True, anticipation=2,
                 biters=dc.biters, alp=dc.alp, seed=dc.seed)
    lo, hi = aggte(win, "simple", na_rm=True).tidy(1 - dc.alp).iloc[0][["conf_low", "conf_high"]]
    row = est[(est.outcome == "waist") & (est.design == "screening_window") & (est.aggregation == "simple")
              & (est.term == "overall")].iloc[0]
    # to 1e-9 of the interval's width: an end near 0 makes a relative tolerance a test of rounding
    assert (row.conf_low, row.conf_high) == pytest.approx((lo, hi), abs=1e-9 * (hi - lo))


def test_null_world_no_headline_claims_an_effect(null_panel):
    """On the null world at the test scale no outcome's headline, by the rule as the pipeline runs it (the
    risk-set matched design for the bracket, the plan's Rambachan-Roth range), excludes 0; the cost headline
    is the calibrated design or, where the controls' mean error differs from 0, its span with the
    uncalibrated design (which the care-seeking selection biases)."""
    from analysis.config import load_config
    from analysis.did.headline import outcome_headlines
    from analysis.did.outcomes import estimate_all
    from analysis.matching.riskset import plan_designs

    cfg = load_config()
    cfg = dataclasses.replace(cfg, did=dataclasses.replace(cfg.did, biters=199))
    truth = null_panel.truth
    ys = [c[3:] for c in truth.columns if c.startswith("y1_")]
    assert ys and all(truth[f"y1_{y}"].equals(truth[f"y0_{y}"]) for y in ys)  # no effect anywhere (NaN: none)
    published, stacked = plan_designs(null_panel.panel, cfg)
    # without the truth: the rule never reads it, and its sample truths would take a tenth of the time
    est, excl = estimate_all(null_panel.panel, cfg, stacked=stacked.data, published=published.data)
    heads = outcome_headlines(est, excl, cfg)
    assert [h["outcome"] for h in heads] == [cfg.outcomes.primary, *cfg.outcomes.secondary, cfg.outcomes.negative_control]
    claims = [h for h in heads if not h["conf_low"] <= 0 <= h["conf_high"]]
    assert not claims, claims
    errs = systematic_error_p(excl[cfg.outcomes.primary]["empirical_calibration"]["null"]) < cfg.did.alp
    assert heads[0]["design"] == ("calibration_span" if errs else "callaway_santanna_calibrated")


# --- the later-joiners design and the pre-test before the screening cycle ---------------------------------------


def _cohort_panel(cohorts, never=0, dip=0.0, seed=0):
    """y = 1000 + 50 * (unit % 7) + 20 * (year - 2017) + noise, plus 100 from enrolment and ``dip`` in the year
    before it; ``cohorts`` maps cohort -> units, ``never`` never-enrolled units."""
    rng = np.random.default_rng(seed)
    rows, i = [], 0
    for g, n in [*cohorts.items(), (0, never)]:
        for _ in range(n):
            i += 1
            for year in range(2017, 2024):
                y = 1000 + 50 * (i % 7) + 20 * (year - 2017) + rng.normal(0, 5)
                y += 100 if g and year >= g else dip if g and year == g - 1 else 0
                rows.append((i, year, g, y))
    return pd.DataFrame(rows, columns=["study_id", "year", "first_treat", "y"])


def test_later_joiners_compares_volunteers_only():
    from analysis.did import aggte
    from analysis.did.designs import later_joiners

    panel = _cohort_panel({2019: 60, 2020: 60, 2022: 60}, never=500)
    res = later_joiners(panel, "y", None, bstrap=False, cband=False)
    # no never-enrolled; the last cohort is the comparison only (coded 0, as R did does)
    assert set(res.design.unit_g) == {0, 2019, 2020} and len(res.design.unit_id) == 180
    post = [c for c in res.cells if c.time >= c.group]
    assert post and all(c.time < 2022 for c in post)  # from 2022 on nobody is left to compare with
    assert aggte(res, "simple", na_rm=True).overall_att == pytest.approx(100, abs=3)
    with pytest.raises(DiDError, match="at least two enrolment cohorts"):
        later_joiners(_cohort_panel({2020: 30}, never=30), "y", None)


def _screened_panel(seed, dip=0.0, drift=0.0, n=300, depleted=0.0):
    """Cohort 2023 and never-enrolled units over 2017-2025; the cohort has ``dip`` added in the two years
    before enrolment (joining after a screening), ``drift`` per year since 2017 (trends apart) and 100 from
    enrolment on; the never-enrolled have ``depleted`` taken off from 2023 on (not joining after their own
    screenings)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(2 * n):
        g = 2023 if i < n else 0
        for year in range(2017, 2026):
            y = 1000 + 20 * (year - 2017) + rng.normal(0, 5)
            if g:
                y += dip * (year in (2021, 2022)) + drift * (year - 2017) + 100 * (year >= g)
            else:
                y -= depleted * (year >= 2023)
            rows.append((i, year, g, y))
    return pd.DataFrame(rows, columns=["study_id", "year", "first_treat", "y"])


def test_screening_window_sets_the_dip_aside_and_errs_the_other_way():
    """Joiners whose screening years before enrolment were 15 higher: measured from the year before
    enrolment the effect of 100 reads as 85; measured from before the window, 100. Comparisons whose measures
    are 5 lower from 2023 on (people whose screenings did not prompt joining) push the window design to 105
    and the plan's to 90: the effect lies between the two."""
    from analysis.did import aggte
    from analysis.did.designs import SCREENING_CYCLE, screening_window

    def both(panel):
        kw = dict(bstrap=False, cband=False)
        plan = att_gt(panel, "y", "year", "study_id", "first_treat", **kw)
        win = screening_window(panel, "y", None, **kw)
        assert win.settings["anticipation"] == SCREENING_CYCLE
        assert {(c.time, c.base) for c in win.cells if c.time >= 2023} == {(t, 2020) for t in range(2023, 2026)}
        return aggte(plan, "simple").overall_att, aggte(win, "simple").overall_att

    plan, win = both(_screened_panel(3, dip=15.0))
    assert plan == pytest.approx(85, abs=1.5) and win == pytest.approx(100, abs=1.5)
    plan, win = both(_screened_panel(3, dip=15.0, depleted=5.0))
    assert plan == pytest.approx(90, abs=1.5) and win == pytest.approx(105, abs=1.5)
    assert plan < 100 < win


def test_pretest_before_screening_sees_only_the_years_before_the_screening_cycle():
    from analysis.did.designs import SCREENING_CYCLE
    from analysis.did.outcomes import pretest_before_screening

    assert SCREENING_CYCLE == 2

    def fit(panel, **kw):
        return att_gt(panel, "y", "year", "study_id", "first_treat", bstrap=False, cband=False, **kw)

    screened = fit(_screened_panel(1, dip=15.0))
    assert screened.pretest_p < 1e-6  # the whole pre-test sees the screening ...
    assert pretest_before_screening(screened) > 0.01  # ... the years before the cycle do not
    assert pretest_before_screening(fit(_screened_panel(1, drift=3.0))) < 1e-6
    # with every pre-period measured against the year before enrolment, no such test exists
    assert pretest_before_screening(fit(_screened_panel(1), base_period="universal")) is None
    # on all pre-periods it is att_gt's own pre-test
    from analysis.did.attgt import wald_pretest

    pre = np.array([c.group > c.time for c in screened.cells])
    assert wald_pretest(screened.att, screened.V, screened.inffunc.shape[0], pre)[1] == screened.pretest_p


def test_stacked_did_keeps_the_average_where_the_event_study_cannot_be_estimated():
    """Enrollees seen only every other year from the reference on: the event dummies sum to the treated
    indicator, so only the average is identified. y = unit level + 5 * year + 10 after enrolment."""
    from analysis.did import stacked_did

    rows = []
    for i in range(40):
        treated = i < 20
        for year in range(2018, 2024):
            e = year - 2021
            if treated and e in (-1, 1):
                continue  # no enrollee observed at the reference e = -1
            rows.append((1, i, year, int(treated), e, 1.0, i + 5 * year + 10 * (treated and e >= 0)))
    d = pd.DataFrame(rows, columns=["sub_experiment", "study_id", "year", "treated", "event_time", "weights", "y"])
    r = stacked_did(d, "y")
    assert list(r.params.index) == ["ATT"] and r.params["ATT"] == pytest.approx(10)
    assert "event study not estimated" in r.exclusions


def test_arms_agreement_uses_the_arms_sampling_covariance():
    """Three estimates whose influence functions overlap on part of the persons: the standard error of each
    pair's difference is that of the difference of their influence functions (sum over the union of persons,
    a person one arm does not use counting 0 there), as if the covariance were computed directly."""
    from analysis.did.designs import arms_agreement

    rng = np.random.default_rng(2)
    common = rng.normal(size=400)  # what makes the arms move together
    inf = {"a": pd.Series(common[:300] + 0.3 * rng.normal(size=300), index=np.arange(300)),
           "b": pd.Series(common[100:] + 0.5 * rng.normal(size=300), index=np.arange(100, 400)),
           "c": pd.Series(0.8 * common[:400] + rng.normal(size=400), index=np.arange(400))}
    est = {"a": 1.0, "b": 3.0, "c": 1.5}
    arms = {k: (est[k], float(np.sqrt((v**2).sum())), v) for k, v in inf.items()}
    out = arms_agreement(arms)
    for (x, y) in (("a", "b"), ("a", "c"), ("b", "c")):
        pair = out["pairs"][f"{x} - {y}"]
        diff = inf[x].sub(inf[y], fill_value=0.0)
        assert pair["std_error"] == pytest.approx(np.sqrt((diff**2).sum()), rel=1e-10)
        assert pair["difference"] == est[x] - est[y]
        assert pair["p_value"] == pytest.approx(2 * stats.norm.sf(abs(est[x] - est[y]) / pair["std_error"]))
    assert out["p_value"] == min(p["p_value"] for p in out["pairs"].values())
    # sampling covariance matters: treating the arms as independent would overstate the difference's SE
    assert out["pairs"]["a - c"]["std_error"] < 0.8 * np.sqrt(arms["a"][1] ** 2 + arms["c"][1] ** 2)
    assert arms_agreement({"a": arms["a"]}) is None and arms_agreement({**arms, "b": (3.0, 1.0, None)}) is None
