"""The causal graph and the DoWhy identification, estimation and refutation (issue 5)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from analysis.causal.dowhy_checks import (
    DEFAULT_COVARIATES,
    DEFAULT_REFUTERS,
    DoWhyResult,
    backdoor_criterion,
    change_score_frame,
    dowhy_analysis,
    restricted_graph,
)
from analysis.causal.graph import load_graph, plot_graph
from analysis.matching.riskset import published_design
from analysis.paths import PROJECT_ROOT

Y = "medical_cost_change"
COVS = list(DEFAULT_COVARIATES)


# ---------------------------------------------------------------- the graph
def test_graph_is_a_dag_with_the_study_variables():
    g = load_graph()
    assert nx.is_directed_acyclic_graph(g)
    roles = nx.get_node_attributes(g, "role")
    assert roles["treated"] == "treatment"
    assert {"medical_cost_change", "bmi_change", "sbp_change"} <= {n for n, r in roles.items() if r == "outcome"}
    assert {"female", "age_pre", "premium_decile_pre", "disability_pre", "chronic_disease", "bmi_pre",
            "cost_pre1"} <= set(g.nodes)
    assert [n for n, d in g.nodes(data=True) if not d["observed"]] == ["health_consciousness"]
    assert g.has_edge("health_consciousness", "treated") and g.has_edge("health_consciousness", Y)
    assert g.has_edge("treated", "mean_daily_steps") and g.has_edge("mean_daily_steps", Y)
    assert "digraph" in load_graph(as_text=True)


def test_plot_graph_writes_stable_png_and_svg(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no graphviz `dot` (nor anything else) on the PATH
    first = plot_graph(tmp_path / "a" / "graph")
    second = plot_graph(tmp_path / "b" / "graph.png")
    assert [p.suffix for p in first] == [".png", ".svg"]
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in first]
    assert digest == [hashlib.sha256(p.read_bytes()).hexdigest() for p in second]
    assert "stroke-dasharray" in first[1].read_text()  # the latent node and its edges are dashed


def test_restricted_graph_contracts_mediators_and_keeps_unadjusted_confounders_latent():
    g = restricted_graph(["female", "age_pre"], "treated", Y)
    assert "mean_daily_steps" not in g and "bmi_change" not in g  # post-treatment, not observed
    assert g.has_edge("health_consciousness", Y) and g.has_edge("treated", Y)
    assert g.nodes["bmi_pre"]["observed"] is False  # a confounder not adjusted for is unobserved
    full = restricted_graph(COVS, "treated", Y)
    assert not backdoor_criterion(full, "treated", Y, COVS)  # health consciousness leaves a backdoor open
    assert backdoor_criterion(full.subgraph(set(full) - {"health_consciousness"}).copy(), "treated", Y, COVS)
    with pytest.raises(ValueError, match="not a node"):
        restricted_graph(COVS, "treated", "no_such_outcome")


# ---------------------------------------------------------------- the null world's published design
@pytest.fixture(scope="module")
def null_cs(null_panel):
    return change_score_frame(published_design(null_panel.panel).data)


@pytest.fixture(scope="module")
def null_result(null_cs):
    before = null_cs.copy()
    res = dowhy_analysis(null_cs, "treated", Y, COVS, simulations=20, seed=1,
                         kappa_t=(0.02,), kappa_y_sd=(-0.1, 0.1))
    return before, res


def test_change_score_frame_one_row_per_person(null_cs, null_panel):
    assert null_cs.index.is_unique and null_cs.index.name == "study_id"
    assert {"treated", "weights", "subclass", Y, *COVS} <= set(null_cs.columns)
    assert null_cs[[*COVS, Y]].notna().all().all()
    p = null_panel.panel.set_index(["study_id", "year"]).medical_cost
    sid = null_cs.index[0]
    assert null_cs.loc[sid, Y] == pytest.approx(p.loc[(sid, 2023)] - p.loc[(sid, 2021)])


def _wls(frame, w, backdoor):
    X = sm.add_constant(frame[["treated", *backdoor]].astype(float), has_constant="add")
    return sm.WLS(frame[Y].astype(float), X, weights=w).fit().params["treated"]


def test_dowhy_estimate_equals_our_weighted_regression(null_cs):
    rng = np.random.default_rng(5)
    w = rng.uniform(0.2, 3.0, len(null_cs))  # weights that matter (the 1:10 design's weights are all 1)
    res = dowhy_analysis(null_cs, "treated", Y, COVS, weights=w, refuters=())
    assert set(res.backdoor) <= set(COVS)
    assert res.estimate == pytest.approx(_wls(null_cs, w, res.backdoor), rel=1e-10, abs=1e-8)
    # our propensity scores (unpenalised logit) -> ATT odds weights, not clipped
    X = sm.add_constant(null_cs[COVS].astype(float))
    ps = sm.Logit(null_cs.treated.astype(float), X).fit(disp=0).predict(X).to_numpy()
    t = null_cs.treated.to_numpy()
    res_ps = dowhy_analysis(null_cs, "treated", Y, COVS, propensity=ps, refuters=())
    assert res_ps.estimate == pytest.approx(_wls(null_cs, t + (1 - t) * ps / (1 - ps), res_ps.backdoor), rel=1e-10, abs=1e-8)
    # the matching weights column is the default
    res_m = dowhy_analysis(null_cs, "treated", Y, COVS, refuters=(), graph=False)
    assert res_m.estimate == pytest.approx(_wls(null_cs, null_cs.weights, COVS), rel=1e-10, abs=1e-8)
    assert res_m.identified is None and res_m.backdoor == sorted(COVS)  # no graph: DoWhy's common_causes mode


def test_identification_reports_the_latent_confounder(null_result):
    _, res = null_result
    assert isinstance(res, DoWhyResult)
    assert res.identified is False  # the study graph's health consciousness is unobserved
    # DoWhy's backdoor set: the observed causes minus waist (which reaches enrolment only through chronic
    # disease, adjusted for); it satisfies the backdoor criterion once the latent node is assumed away
    assert res.backdoor == sorted(set(COVS) - {"waist_pre"})
    g = restricted_graph(COVS, "treated", Y)
    assert not backdoor_criterion(g, "treated", Y, res.backdoor)
    g.remove_node("health_consciousness")
    assert backdoor_criterion(g, "treated", Y, res.backdoor)
    assert "backdoor" in res.estimand and "Unconfoundedness" in res.estimand
    assert 'health_consciousness [observed="no"]' in res.graph_dot


def test_callers_frame_is_not_modified(null_result, null_cs):
    before, _ = null_result
    pd.testing.assert_frame_equal(before, null_cs)


def test_dowhy_propensity_estimator_writes_into_the_callers_frame(null_cs):
    """The mechanism the fresh copies guard against: DoWhy 0.14 adds propensity and weight columns to the
    frame it was given (and a later refit reuses ``propensity_score`` instead of re-estimating it)."""
    from dowhy import CausalModel

    frame = null_cs[["treated", Y, *COVS]].iloc[:4000].copy()
    model = CausalModel(data=frame, treatment="treated", outcome=Y, common_causes=COVS)
    estimand = model.identify_effect(proceed_when_unidentifiable=True)
    model.estimate_effect(estimand, method_name="backdoor.propensity_score_weighting", target_units="ate")
    assert "propensity_score" in frame.columns and "ips_weight" in frame.columns


def _confounded_toy(n=3000, seed=0):
    """No effect, strong confounding by x (treatment log-odds 2x, outcome 3x)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = (rng.uniform(size=n) < 1 / (1 + np.exp(-2 * x))).astype(int)
    return pd.DataFrame({"t": t, "y": 3 * x + rng.normal(size=n), "x": x})


def test_shared_frame_makes_dowhys_placebo_report_a_spurious_effect():
    """Reproduces the mechanism: DoWhy's propensity estimator leaves ``propensity_score`` in the model's frame
    and the placebo refuter's refits reuse the real treatment's scores instead of re-estimating them."""
    from dowhy import CausalModel

    def placebo(shared):
        df = _confounded_toy()
        m = CausalModel(data=df, treatment="t", outcome="y", common_causes=["x"])
        e = m.identify_effect(proceed_when_unidentifiable=True)
        est = m.estimate_effect(e, method_name="backdoor.propensity_score_weighting", target_units="ate")
        if not shared:
            m = CausalModel(data=_confounded_toy(), treatment="t", outcome="y", common_causes=["x"])
        r = m.refute_estimate(e, est, method_name="placebo_treatment_refuter", placebo_type="permute",
                              num_simulations=20, random_seed=1)
        return est.value, r.new_effect, r.refutation_result["p_value"]

    est, shared_effect, shared_p = placebo(shared=True)
    _, fresh_effect, fresh_p = placebo(shared=False)
    assert abs(shared_effect) > 3 and shared_p < 0.01  # spurious: the placebo "has an effect"
    assert abs(fresh_effect) < 0.1 and fresh_p > 0.05
    # and DoWhy's own weighting clips the scores to [0.05, 0.95]: its estimate of a zero effect is biased,
    # while inverse probability weights from the same data without clipping are not
    df = _confounded_toy()
    X = sm.add_constant(df.x)
    ps = sm.Logit(df.t, X).fit(disp=0).predict(X).to_numpy()
    w1, w0 = df.t / ps, (1 - df.t) / (1 - ps)
    unclipped = (w1 * df.y).sum() / w1.sum() - (w0 * df.y).sum() / w0.sum()
    assert est > 0.3 and abs(unclipped) < 0.1
    # dowhy_analysis with our scores: the placebo is null and the caller's frame keeps its columns
    before = df.copy()
    res = dowhy_analysis(df, "t", "y", ["x"], propensity=ps, graph=False,
                         refuters=("placebo_treatment_refuter",), simulations=20, seed=1)
    pd.testing.assert_frame_equal(df, before)
    assert res.checks[0]["p_value"] > 0.05 and abs(res.checks[0]["estimate"]) < 0.1
    assert abs(res.estimate) < 2 * res.std_error


def test_null_world_refuters(null_result):
    _, res = null_result
    names = [c["name"] for c in res.checks]
    assert names == list(DEFAULT_REFUTERS)
    for c in res.checks:
        assert {"name", "estimate", "p_value", "passed", "meaning"} <= set(c)
        assert isinstance(c["passed"], bool) and c["meaning"].endswith(".")
    json.dumps(res.checks)  # ready for refutation.json
    by = {c["name"]: c for c in res.checks}
    # the null world: the main estimate and the placebo are consistent with zero
    assert res.conf_low < 0 < res.conf_high
    placebo = by["placebo_treatment_refuter"]
    assert placebo["p_value"] > 0.05 and placebo["passed"]
    assert abs(placebo["estimate"]) < res.std_error  # mean of 20 placebo estimates, far below one SE
    dummy = by["dummy_outcome_refuter"]
    assert dummy["p_value"] > 0.05
    for name in ("random_common_cause", "data_subset_refuter", "bootstrap_refuter"):
        assert by[name]["p_value"] > 0.05, name
    grid = res.sensitivity_grid
    assert list(grid.columns) == ["kappa_t", "kappa_y", "kappa_y_sd", "new_effect"] and len(grid) == 2
    # the confounder pushes the estimate down for kappa_y > 0 and up for kappa_y < 0
    assert grid.new_effect.iloc[0] > res.estimate > grid.new_effect.iloc[1]
    assert res.dropped == {"rows": 0}
    tidy = res.tidy()
    assert list(tidy.columns) == ["name", "estimate", "p_value", "conf_low", "conf_high", "passed", "meaning"]
    assert len(tidy) == len(res.checks)
    text = res.summary()
    assert "placebo_treatment_refuter" in text and "NO" in text


def test_refuters_are_reproducible_and_leave_numpys_global_state_alone(null_cs):
    kw = dict(simulations=3, seed=3, kappa_t=(0.05,), kappa_y_sd=(0.1,))
    np.random.seed(123)  # noqa: NPY002 - the caller's global state, which DoWhy's random_seed would reset
    state = np.random.get_state()  # noqa: NPY002
    a = dowhy_analysis(null_cs, "treated", Y, COVS, **kw)
    after = np.random.get_state()  # noqa: NPY002
    assert all(np.array_equal(x, y) for x, y in zip(state, after, strict=True))
    b = dowhy_analysis(null_cs, "treated", Y, COVS, **kw)
    assert json.dumps(a.checks) == json.dumps(b.checks)
    c = dowhy_analysis(null_cs, "treated", Y, COVS, **{**kw, "seed": 4})
    assert json.dumps(a.checks) != json.dumps(c.checks)


def test_bad_arguments(null_cs):
    with pytest.raises(KeyError, match="not in the data"):
        dowhy_analysis(null_cs, "treated", "nope", COVS, refuters=())
    with pytest.raises(ValueError, match="negative weights"):
        dowhy_analysis(null_cs, "treated", Y, COVS, weights=-null_cs.weights.to_numpy(), refuters=())
    with pytest.raises(ValueError, match="unknown refuters"):
        dowhy_analysis(null_cs, "treated", Y, COVS, refuters=("nope",))


_HASH_RUN = """
import json, sys
import numpy as np, pandas as pd
from analysis.causal.dowhy_checks import DEFAULT_COVARIATES, dowhy_analysis
rng = np.random.default_rng(0)
n = 600
df = pd.DataFrame({c: rng.normal(size=n) for c in DEFAULT_COVARIATES})
df["treated"] = (df[list(DEFAULT_COVARIATES)].sum(axis=1) + rng.normal(size=n) > 0).astype(int)
df["medical_cost_change"] = df[list(DEFAULT_COVARIATES)].to_numpy() @ np.arange(1.0, 11.0) + rng.normal(size=n)
r = dowhy_analysis(df, "treated", "medical_cost_change", list(DEFAULT_COVARIATES), simulations=5, seed=3,
                   refuters=("bootstrap_refuter", "random_common_cause"))
print(json.dumps({"estimand": r.estimand, "estimate": r.estimate, "checks": r.checks}))
"""


def test_results_do_not_depend_on_the_string_hash_seed():
    """DoWhy gathers adjustment sets in Python sets; without putting them in order, the regression's columns,
    the refuters' draws and the printed estimand followed PYTHONHASHSEED, so two runs of the same seed and
    data differed (the bootstrap refuter by ~0.1% on the default world)."""
    outs = []
    for h in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": h}
        r = subprocess.run([sys.executable, "-c", _HASH_RUN], capture_output=True, text=True, env=env,
                           cwd=PROJECT_ROOT, check=True)
        outs.append(r.stdout.strip().splitlines()[-1])
    assert outs[0] == outs[1] == outs[2]


def test_dowhy_estimate_and_interval_are_statsmodels_wls_on_a_small_frame():
    """DoWhy's regression estimator gets a light least-squares model (``summary`` is one line, for DoWhy's
    debug log on every refit): its estimate is statsmodels WLS's coefficient, the standard error WLS's HC1,
    with and without refuters refitting it."""
    rng = np.random.default_rng(4)
    d = pd.DataFrame(rng.normal(size=(300, 3)), columns=["x1", "x2", "x3"])
    d["treated"] = (rng.random(300) < 1 / (1 + np.exp(-d.x1))).astype(int)
    d["y"] = 1.0 * d.treated + 2 * d.x1 - d.x2 + 0.5 * d.x3 + rng.normal(size=300)
    w = rng.uniform(0.2, 3.0, size=300)
    ref = sm.WLS(d.y, sm.add_constant(d[["treated", "x1", "x2", "x3"]].astype(float)), weights=w).fit(cov_type="HC1")
    for refuters in ((), ("random_common_cause",)):
        r = dowhy_analysis(d, "treated", "y", ["x1", "x2", "x3"], weights=w, graph=False, refuters=refuters,
                           simulations=5)
        assert r.estimate == pytest.approx(ref.params["treated"], rel=1e-10)
        assert r.std_error == pytest.approx(ref.bse["treated"], rel=1e-10)
        assert (r.conf_low, r.conf_high) == pytest.approx(tuple(ref.conf_int().loc["treated"]), rel=1e-10)
    assert r.checks[0]["name"] == "random_common_cause" and r.checks[0]["passed"]
