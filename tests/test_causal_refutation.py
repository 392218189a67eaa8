"""Falsification (placebo in time, the published sample's event study) and the refutation suite."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from analysis.causal.falsification import placebo_in_time, published_event_study
from analysis.causal.refutation import refutation_checks
from analysis.config import StudyConfig
from analysis.did import DiDError, aggte, att_gt, did_2x2, trend_adjusted
from analysis.matching.riskset import published_design


def _panel(trend: bool, n=2000, seed=0):
    """Cohorts 0, 2014, 2016, 2018 over 2010-2019; effect 2 after enrolment; optionally a linear trend in
    the untreated outcome of cohort 2014, the one with a placebo year in 2010-2013 (no noise, so estimates
    are exact)."""
    rng = np.random.default_rng(seed)
    years = np.arange(2010, 2020)
    g = rng.choice([0, 2014, 2016, 2018], size=n)
    i, t = np.repeat(np.arange(n), len(years)), np.tile(years, n)
    gi = g[i]
    y = rng.normal(size=n)[i] + 0.2 * (t - 2010) ** 2 + np.where((gi > 0) & (t >= gi), 2.0, 0.0)
    if trend:
        y = y - 0.7 * (gi == 2014) * (t - 2010)
    return pd.DataFrame({"study_id": i, "year": t, "first_treat": gi, "y": y})


def test_placebo_in_time_is_null_under_parallel_trends_and_sees_a_trend():
    flat = placebo_in_time(_panel(False), "y", est_method="reg")
    assert [(c.group, c.time) for c in flat.cells if c.post] == [(2012, 2012), (2012, 2013)]  # 2014 - 2
    assert np.allclose(flat.att, 0, atol=1e-9)  # years before anyone enrolled: exactly nothing
    sloped = placebo_in_time(_panel(True), "y", est_method="reg")
    s = aggte(sloped, "simple")
    assert s.overall_att == pytest.approx(-0.7 * 1.5, abs=1e-9)  # the trend, 1 and 2 years past the base
    assert aggte(trend_adjusted(sloped), "simple").overall_att == pytest.approx(0, abs=1e-9)


def test_placebo_in_time_bad_input():
    with pytest.raises(DiDError, match="shift"):
        placebo_in_time(_panel(False), "y", shift=0)
    one = _panel(False)
    one = one[one.first_treat.isin([0, 2014])]
    with pytest.raises(DiDError, match="no cohort has a placebo year"):
        placebo_in_time(one, "y", shift=4)  # 2014 - 4 = 2010, the first year: nothing before it


def test_published_event_study_is_the_2x2_on_the_same_sample(null_panel):
    panel = null_panel.panel
    two = published_event_study(panel, "medical_cost", years=(2021, 2023))
    r = did_2x2(published_design(panel).data, "medical_cost")
    assert two.params["e=1"] == pytest.approx(r.params["ATT"], rel=1e-9)
    es = published_event_study(panel, "medical_cost")
    assert list(es.cov.index) == ["ATT", *(f"e={k}" for k in (-5, -4, -3, -2, 0, 1))] == list(es.params.index)
    assert np.allclose(es.cov.to_numpy(), es.cov.to_numpy().T)
    assert np.allclose(np.sqrt(np.diag(es.cov)), es.std_errors[es.cov.index])
    with pytest.raises(DiDError, match="2023"):
        published_event_study(panel, "medical_cost", years=(2021, 2024))


def test_refutation_suite_on_the_null_world(null_panel):
    """No effect anywhere: the placebo, the negative control and the published estimate are consistent
    with zero; the plan's design is flagged by its pre-test (latent H's trend, see test_did_truth), and its
    trend-adjusted variant is consistent with zero. Every check is complete and JSON-ready."""
    panel, truth = null_panel.panel, null_panel.truth
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checks = refutation_checks(panel, StudyConfig(), published_design(panel).data, truth)
    json.dumps(checks, allow_nan=False)
    by = {(c["design"], c["name"]): c for c in checks}
    for c in checks:
        assert {"name", "design", "passed", "meaning"} <= set(c) and isinstance(c["passed"], bool), c
        assert not c["meaning"].startswith("not computed"), c
        assert c.get("p_value") is not None or c.get("conf_low") is not None, c
    for key in [("published", "main_estimate"), ("callaway_santanna", "placebo_in_time"),
                ("callaway_santanna_trend", "placebo_in_time_trend_adjusted"),
                ("callaway_santanna", "negative_control_outcome"), ("callaway_santanna_trend", "main_estimate")]:
        assert by[key]["passed"], by[key]
        assert by[key]["truth"] == 0
    assert not by[("callaway_santanna", "pre_trend_test")]["passed"]
    assert not by[("callaway_santanna", "main_estimate")]["passed"]  # the bias the pre-test warned of
    rm = by[("published", "honest_did_relative_magnitudes")]
    assert rm["breakdown"] is not None and not rm["passed"]  # no robust effect where there is none


def test_default_world_flags_the_published_design_as_sensitive(default_panel):
    """The calibrated world: the city's matched sample, followed over 2017-2023, gives an average post-period
    effect whose relative-magnitudes interval already includes 0 at Mbar = 1 (breakdown below 1), so the
    suite reports it as sensitive."""
    _, panel, _ = default_panel
    from analysis.causal import event_study_inputs, honest_did

    b, V, n_pre, n_post = event_study_inputs(published_event_study(panel, "medical_cost"))
    assert (n_pre, n_post) == (4, 2)  # 2017-2020 and 2022-2023 around the 2021 reference
    h = honest_did(b, V, n_pre, n_post, l_vec=np.full(n_post, 1 / n_post), Mvec=[0.0, 0.5, 1.0], seed=1)
    assert h.breakdown is not None and h.breakdown < 1, h.tidy()


def _bent_panel(n=3000, seed=2):
    """Cohorts 2020 and 2022 and never-enrolled over 2017-2023; joining and the untreated trend both rise with
    x squared, so a straight line in x leaves a bias a square removes; effect 1 from enrolment."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, n)
    join = rng.uniform(size=n) < 0.15 + 0.15 * x**2
    g = np.where(join, rng.choice([2020, 2022], n), 0)
    years = np.arange(2017, 2024)
    i, t = np.repeat(np.arange(n), len(years)), np.tile(years, n)
    y = 0.5 * x[i] ** 2 * (t - 2017) + rng.normal(0, 1, len(i)) + np.where((g[i] > 0) & (t >= g[i]), 1.0, 0.0)
    return pd.DataFrame({"study_id": i, "year": t, "first_treat": g[i], "x": x[i], "medical_cost": y})


def test_covariate_form_check_is_the_plans_estimate_against_straight_lines():
    """The check's shift is the plan's design with its curved term entered as a straight line minus the plan's
    (both computed here directly), and it fails where the form carries the estimate; a plan without a curved
    term has nothing to compare."""
    import dataclasses

    from analysis.causal.refutation import _Refuter
    from analysis.config import parse_config

    panel = _bent_panel()
    cfg = parse_config({"did": {"covariates": ["I(x^2)"]}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check = _Refuter(panel, cfg, None, None, False).cs_covariate_form()
        kw = dict(base_period="universal", control_group="notyettreated", est_method="dr", bstrap=False,
                  cband=False)
        bent = aggte(att_gt(panel, "medical_cost", "year", "study_id", "first_treat", "~ I(x^2)", **kw),
                     "simple", na_rm=True)
        line = aggte(att_gt(panel, "medical_cost", "year", "study_id", "first_treat", "~ x", **kw), "simple",
                     na_rm=True)
    assert check["name"] == "covariate_form" and check["plan_estimate"] == pytest.approx(bent.overall_att, rel=1e-12)
    assert check["estimate"] == pytest.approx(line.overall_att, rel=1e-12)
    assert check["shift"] == pytest.approx(line.overall_att - bent.overall_att, rel=1e-12)
    assert abs(bent.overall_att - 1) < 3 * bent.overall_se  # the square is the world's form
    assert abs(check["shift"]) > bent.overall_se and not check["passed"]  # the line is not
    plain = dataclasses.replace(cfg, did=dataclasses.replace(cfg.did, covariates=("x", "C(x)")))
    assert _Refuter(panel, plain, None, None, False).cs_covariate_form() == []
