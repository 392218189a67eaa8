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
from analysis.did import DiDError, aggte, did_2x2, trend_adjusted
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
