"""Matching: MatchIt's published results on lalonde, properties of the fast matcher, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.matching import MatchingError, matchit
from analysis.matching.nearest import (
    _prepare,
    match_fast,
    match_reference,
    match_with_replacement,
    sort_units,
)

DATA = Path(__file__).parent / "data"
REF = json.loads((DATA / "matchit_lalonde_reference.json").read_text())


@pytest.fixture(scope="module")
def lalonde():
    d = pd.read_csv(DATA / "lalonde.csv")
    d["race"] = np.where(d.black == 1, "black", np.where(d.hispan == 1, "hispan", "white"))
    return d


def _compare(got: pd.DataFrame, want: dict, ecdf_mean_distance_tol: float = 1e-3):
    for var, row in want.items():
        for col, value in zip(REF["columns"], row, strict=True):
            g = got.loc[var, col]
            if value is None:
                assert np.isnan(g), (var, col)
                continue
            # printed to 4 decimals; the distance's eCDF mean depends on exact ties among the fitted
            # scores, which R's glm and statsmodels break differently in the 10th decimal
            tol = ecdf_mean_distance_tol if (var, col) == ("distance", "eCDF Mean") else 5.1e-5
            assert abs(g - value) <= tol, (var, col, g, value)


@pytest.mark.parametrize("spec", ["nearest_1to1", "nearest_2to1_caliper"])
def test_matches_matchit_published_output(lalonde, spec):
    ref = REF[spec]
    m = matchit(ref["formula"], lalonde, **ref["args"])
    s = m.summary()
    _compare(s.sum_all, REF["all_data"])
    _compare(s.sum_matched, ref["matched"])
    for group, sizes in ref["sample_sizes"].items():
        for row, value in sizes.items():
            assert s.nn.loc[row, group] == pytest.approx(value, abs=0.005), (group, row)
    if "caliper_distance_units" in ref:
        assert round(m.caliper, 3) == ref["caliper_distance_units"]


def test_result_objects(lalonde):
    m = matchit("treat ~ age + educ + race + nodegree + married + re74 + re75", lalonde, ratio=2)
    md = m.matched_data()
    assert {"distance", "weights", "subclass"} <= set(md.columns)
    assert (md.groupby("subclass").treat.sum() == 1).all()  # one treated unit per subclass
    assert (md.groupby("subclass").size() == 3).all()
    assert md.loc[md.treat == 1, "weights"].eq(1).all()
    assert md.loc[md.treat == 0, "weights"].sum() == pytest.approx((md.treat == 0).sum())
    assert m.match_matrix.shape == (185, 2)
    assert "2:1 nearest neighbor matching without replacement" in str(m)
    assert "Sample Sizes:" in str(m.summary())


@st.composite
def problems(draw):
    n = draw(st.integers(2, 60))
    d = np.array(draw(st.lists(st.integers(0, 15), min_size=n, max_size=n)), dtype=float) / 15
    t = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    if t.sum() == 0:
        t[0] = True
    disc = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))) & (draw(st.integers(0, 3)) == 0)
    perm = draw(st.permutations(list(np.flatnonzero(t))))
    ratio = draw(st.integers(1, 3))
    caliper = draw(st.one_of(st.none(), st.floats(0.01, 0.5)))
    reuse = draw(st.sampled_from([1, 10**6]))
    exact = draw(st.one_of(st.none(), st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    return (
        d,
        t,
        disc,
        np.array(perm, dtype=np.int64),
        ratio,
        caliper,
        reuse,
        None if exact is None else np.array(exact),
    )


@settings(max_examples=400, deadline=None)
@given(problems())
def test_fast_matcher_equals_reference_and_respects_invariants(p):
    d, t, disc, order, ratio, caliper, reuse, exact = p
    fast = match_fast(d, t, disc, order, ratio, caliper, reuse, exact)
    ref = match_reference(d, t, disc, order, ratio, caliper, reuse, exact)
    np.testing.assert_array_equal(fast, ref)
    # both matchers take their strata from _prepare: check it against the definition
    codes = [None] if exact is None else np.unique(exact)
    strata = list(_prepare(d, t, disc, order, exact))
    assert len(strata) == len(codes)
    units = sort_units(d, t, disc)
    for (treated, rows, controls, start), code in zip(strata, codes, strict=True):
        member = np.ones(len(d), bool) if code is None else exact == code
        np.testing.assert_array_equal(treated, order[member[order]])
        if code is None:  # one stratum: the kernel takes rows 0, 1, ... and starts from the sorted units
            assert rows is None and start is None
            rows, start = np.arange(len(order)), units.controls_below[units.rank[treated]]
        np.testing.assert_array_equal(order[rows], treated)
        pool = np.flatnonzero(member & ~t & ~disc)
        np.testing.assert_array_equal(controls, pool[np.argsort(d[pool], kind="stable")])
        # where each treated unit's search starts: the pool's controls before it in (distance, data order)
        before = [int(((d[pool] < d[u]) | ((d[pool] == d[u]) & (pool < u))).sum()) for u in treated]
        np.testing.assert_array_equal(start, before)
    if exact is None and reuse >= len(order):  # matchit's path with replacement: rows in data order
        mm, controls, below = match_with_replacement(d, t, disc, ratio, caliper)
        np.testing.assert_array_equal(mm[np.searchsorted(np.flatnonzero(t), order)], ref)
        pool = np.flatnonzero(~t & ~disc)
        np.testing.assert_array_equal(controls, pool[np.argsort(d[pool], kind="stable")])
        before = [int(((d[pool] < d[u]) | ((d[pool] == d[u]) & (pool < u))).sum()) for u in np.flatnonzero(t)]
        np.testing.assert_array_equal(below, before)
    used = fast[fast >= 0]
    assert (~t[used]).all() and (~disc[used]).all()  # only available controls
    if reuse == 1:
        assert len(np.unique(used)) == len(used)  # no control twice without replacement
    for i, u in enumerate(order):
        row = fast[i][fast[i] >= 0]
        assert len(np.unique(row)) == len(row)  # no control twice for one treated unit
        if caliper is not None:
            assert (np.abs(d[row] - d[u]) <= caliper + 1e-12).all()
        if exact is not None:
            assert (exact[row] == exact[u]).all()
        if disc[u]:
            assert len(row) == 0


def _poor_overlap(n, seed=0):
    """20% treated, strong assignment (the city's situation: many treated where few controls are), the
    propensity score as the distance, largest first (MatchIt's m.order = "largest")."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    lin = -2.2 + 1.8 * x
    t = rng.random(n) < 1 / (1 + np.exp(-lin))
    d = 1 / (1 + np.exp(-lin))
    order = np.flatnonzero(t)[np.argsort(-d[t], kind="stable")]
    return d, t, order


@pytest.mark.parametrize("ratio, replace", [(1, False), (10, False), (1, True), (10, True)])
def test_match_work_is_near_linear_under_poor_overlap_with_a_caliper(ratio, replace):
    """The kernel's elementary steps (pointers followed, comparisons with earlier matches) per treated unit
    and match do not grow with n, from 2,000 to 32,000 rows: a quadratic path (a scan past used controls)
    would do 16 times as many. Counted, not timed, so it holds on a loaded machine."""
    per = []
    for n in (2_000, 32_000):
        d, t, order = _poor_overlap(n)
        work = np.zeros(1, dtype=np.int64)
        mm = match_fast(d, t, np.zeros(n, bool), order, ratio, 0.2 * d.std(), n if replace else 1, work=work)
        if not replace:  # the caliper leaves some unmatched: the regime that was quadratic
            assert (mm < 0).any() and (mm >= 0).any()
        per.append(work[0] / (len(order) * ratio))
    assert per[1] < 1.5 * per[0], per


@pytest.mark.parametrize("kw", [{"ratio": 1}, {"ratio": 10}, {"replace": True}, {"exact": ["stratum"]},
                                {"discard": "both"}], ids=["1:1", "1:10", "replace", "exact", "discard"])
def test_every_step_of_matchit_is_near_linear_under_poor_overlap_with_a_caliper(kw):
    """The whole call, not only the kernel (the quadratic path once sat in the unmatched reasons, outside it):
    from 2,000 to 32,000 rows the Python and C calls it makes stay the same in number (no step loops over
    units in Python, where a per-unit scan of the controls would hide), and its peak allocation per row
    does not grow (no step broadcasts treated against controls). The compiled kernels' own work is counted
    by the test above. Counted, not timed."""
    import sys
    import tracemalloc

    def measure(n):
        d, t, _ = _poor_overlap(n)
        df = pd.DataFrame({"treat": t.astype(int), "x": d,
                           "stratum": np.random.default_rng(1).integers(0, 4, n)})
        args = dict(distance=d, caliper=0.2, **kw)
        m = matchit("treat ~ x", df, **args)  # the first call fills caches and compiles
        assert len(m.unmatched) > 0 or kw.get("replace")
        calls = [0]

        def count(frame, event, arg):
            calls[0] += event in ("call", "c_call")

        tracemalloc.start()
        sys.setprofile(count)
        try:
            matchit("treat ~ x", df, **args)
        finally:
            sys.setprofile(None)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        return calls[0], peak / n

    (calls_small, mem_small), (calls_large, mem_large) = measure(2_000), measure(32_000)
    assert calls_large < 1.1 * calls_small, (calls_small, calls_large)
    assert mem_large < 1.5 * mem_small, (mem_small, mem_large)


def test_every_treated_unit_matched_or_explained(lalonde):
    m = matchit(
        "treat ~ age + educ + race + married + nodegree + re74 + re75", lalonde, ratio=2, caliper=0.025
    )
    matched_t = set(m.match_matrix.index[m.match_matrix[1].notna()])
    assert len(matched_t) + len(m.unmatched) == 185
    assert set(m.unmatched.index).isdisjoint(matched_t)
    assert set(m.unmatched.reason) <= {
        "no control within the caliper",
        "every control within reach was already used",
    }
    # common support: treated units outside the controls' range [0.2, 0.7] are discarded, with the reason
    toy = pd.DataFrame({"treat": [1, 1, 1, 0, 0, 0, 0], "x": [0.1, 0.5, 0.95, 0.2, 0.4, 0.6, 0.7]})
    m2 = matchit("treat ~ x", toy, distance=toy.x.to_numpy(), discard="treated")
    assert list(m2.unmatched.index) == [0, 2]
    assert m2.unmatched.reason.str.startswith("discarded").all()
    assert m2.summary().nn.loc["Discarded", "Treated"] == 2


@pytest.mark.parametrize("seed", range(8))
def test_unmatched_reasons_follow_their_definition(seed):
    """Each unmatched treated unit's reason equals its definition, checked against every control (the last
    two draws with replacement: without strata that is its own path)."""
    rng = np.random.default_rng(seed)
    n = 400
    d = np.round(rng.beta(2, 5, n), 2)  # ties on purpose: a control at exactly the caliper counts
    t = rng.random(n) < 0.6
    ex = rng.integers(0, 6, n)
    ex[~t & (ex == 5)] = 4  # stratum 5 has treated units only
    df = pd.DataFrame({"treat": t.astype(int), "x": d, "stratum": ex})
    cal = (None, 0.005, 0.01, 0.05)[seed % 4]
    exact = ["stratum"] if seed % 2 else None
    m = matchit("treat ~ x", df, distance=d, exact=exact, caliper=cal, std_caliper=False,
                discard=("none", "treated")[seed % 3 == 0], replace=seed >= 6)
    discarded = m.discarded.to_numpy()
    ctrl = ~t & ~discarded
    assert len(m.unmatched) + m.match_matrix[1].notna().sum() == t.sum()
    for u, reason in m.unmatched.reason.items():
        pool = ctrl if exact is None else ctrl & (ex == ex[u])
        if discarded[u]:
            assert reason.startswith("discarded")
        elif not pool.any():
            assert reason == "no control in its exact-matching stratum"
        elif cal is not None and not (np.abs(d[pool] - d[u]) <= cal).any():
            assert reason == "no control within the caliper"
        else:
            assert reason == "every control within reach was already used"
    if cal is not None or exact is not None:
        assert m.unmatched.reason.nunique() >= 2  # the draws reach more than one branch


def test_bad_input_is_reported(lalonde):
    with pytest.raises(MatchingError, match="no treated units"):
        matchit("treat ~ age", lalonde.assign(treat=0))
    with pytest.raises(MatchingError, match="no control units"):
        matchit("treat ~ age", lalonde.assign(treat=1))
    with pytest.raises(MatchingError, match=r"covariate\(s\) \['const'\] are constant"):
        matchit("treat ~ age + const", lalonde.assign(const=1.0))
    bad = lalonde.copy()
    bad.loc[[3, 7], "age"] = np.nan
    with pytest.raises(MatchingError, match=r"'age' has 2 missing value\(s\) \(first rows \[3, 7\]\)"):
        matchit("treat ~ age + educ", bad)
    no_match = np.arange(len(lalonde)) + 0.5 * lalonde.treat.to_numpy()  # every pair at least 0.5 apart
    with pytest.raises(MatchingError, match="no treated unit was matched"):
        matchit("treat ~ age", lalonde, distance=no_match, caliper=0.1, std_caliper=False)
    with pytest.raises(MatchingError, match="perfect separation"):
        matchit("treat ~ age + sep", lalonde.assign(sep=lalonde.treat * 5.0 + np.arange(len(lalonde)) * 1e-3))
    with pytest.raises(MatchingError, match=r"m_order='random' needs a seed"):
        matchit("treat ~ age", lalonde, m_order="random")


# --- weighting


def test_weightit_definitions_and_overlap_exact_balance(lalonde):
    from analysis.matching import trim, weightit

    f = "treat ~ age + educ + race + married + nodegree + re74 + re75"
    att = weightit(f, lalonde, estimand="ATT")
    p, t = att.ps.to_numpy(), att.treat.to_numpy()
    np.testing.assert_allclose(att.weights[~t], p[~t] / (1 - p[~t]))
    assert (att.weights[t] == 1).all()
    ate = weightit(f, lalonde, estimand="ATE", stabilize=True)
    np.testing.assert_allclose(ate.weights[t], t.mean() / p[t])
    # overlap weights balance every covariate of a logistic model exactly (Li, Morgan & Zaslavsky 2018)
    ato = weightit(f, lalonde, estimand="ATO")
    smd = ato.bal_tab()["Std. Mean Diff."].drop(index="prop.score")
    assert ato.summary().tables["Balance"].equals(ato.bal_tab()) and "Balance after weighting:" in ato.summary()
    assert smd.abs().max() < 1e-6
    assert att.ess()["Treated"] == pytest.approx(185)
    assert 0 < att.ess()["Control"] < 429
    tr = trim(att, at=0.9)
    assert tr.trimmed["weights_trimmed"] == int((att.weights[~t] > tr.trimmed["cap"]).sum()) > 0
    assert tr.weights.max() == pytest.approx(tr.trimmed["cap"])
    assert "Effective sample sizes" in str(tr) and "Trimmed" in str(tr)


def test_weightit_refuses_infinite_weights(lalonde):
    from analysis.matching import weightit

    ps = np.full(len(lalonde), 0.3)
    ps[[4, 9]] = 1.0
    with pytest.raises(
        MatchingError, match=r"2 propensity score\(s\) are 0, 1 or missing \(first rows \[4, 9\]\)"
    ):
        weightit("treat ~ age", lalonde, estimand="ATE", ps=ps)


# --- staggered enrolment on the synthetic world


def test_riskset_matching_restores_balance_without_selection(noselection_panel):
    """Enrolment depends only on observed covariates: matching on them leaves max |SMD| < 0.05."""
    from analysis.matching.riskset import RISKSET_COVARIATES, riskset_match

    stacked = riskset_match(noselection_panel.panel, ratio=10, caliper=0.2)
    verdict = stacked.balance_verdict()
    assert set(verdict.index) == {2021, 2022, 2023, 2024, 2025}
    assert (verdict.max_abs_smd_before > 0.2).all()  # the quotas and the score create imbalance
    assert (verdict.max_abs_smd_after < 0.05).all(), verdict
    d = stacked.data
    # controls are never enrolled by the start of their sub-experiment, and censored at their own enrolment
    ctrl = d[d.treated == 0]
    assert ((ctrl.first_treat == 0) | (ctrl.first_treat > ctrl.sub_experiment)).all()
    assert ((ctrl.first_treat == 0) | (ctrl.year < ctrl.first_treat)).all()
    assert (d.event_time == d.year - d.sub_experiment).all()
    treated = d[d.treated == 1]
    assert (treated.first_treat == treated.sub_experiment).all()
    assert "sbp_pre" in RISKSET_COVARIATES and "cost_pre1" not in RISKSET_COVARIATES  # see riskset.py


def test_published_design_preset(noselection_panel):
    from analysis.matching.riskset import published_design

    pub = published_design(noselection_panel.panel)
    m = pub.matches[2022]
    assert m.info["ratio"] == 10 and m.caliper is None
    d = pub.data
    assert set(d.year) == {2021, 2023}
    assert (d.groupby("study_id").size() == 2).all()
    ctrl = d[d.treated == 0]
    assert ((ctrl.first_treat == 0) | (ctrl.first_treat > 2023)).all()
    assert pub.report["matched_controls"] == 10 * pub.report["matched_treated"]


def test_propensity_fit_equals_glm_binomial(lalonde):
    """The Newton fit is the maximum-likelihood fit of glm(family = binomial) (statsmodels GLM, IRLS)."""
    import statsmodels.api as sm

    from analysis.matching.propensity import covariate_frame, fit_propensity, parse_formula

    _, rhs = parse_formula("treat ~ age + educ + C(race) + married + nodegree + re74 + re75")
    X = covariate_frame(lalonde, rhs, all_levels=False)
    ours = fit_propensity(lalonde.treat.to_numpy().astype(bool), X)
    glm = sm.GLM(lalonde.treat.astype(float), sm.add_constant(X), family=sm.families.Binomial()).fit(
        tol=1e-12
    )
    np.testing.assert_allclose(ours.params.to_numpy(), glm.params.to_numpy(), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(ours.std_errors.to_numpy(), glm.bse.to_numpy(), rtol=1e-6)
    assert ours.converged and ours.nobs == 614


def test_the_plans_covariates_drive_both_matching_designs(noselection_panel, tmp_path):
    """``[covariates]`` reaches the propensity models the pipeline fits (the matching report and MatchIt's
    balance tables show the plan's terms), and every column the plan may name is there for every cohort."""
    import json

    from analysis.config import parse_config
    from analysis.definitions import MATCHING_COVARIATES
    from analysis.matching.riskset import cohort_frame
    from analysis.pipeline import match_step

    for g in (2021, 2025):
        frame = cohort_frame(noselection_panel.panel, g)
        assert not frame[list(MATCHING_COVARIATES)].isna().any().any(), g
    cfg = parse_config({"matching": {"ratio": 1},
                        "covariates": {"riskset": ["female", "cost_pre1", "C(district_pre)"],
                                       "published_design": ["female", "age_pre"]}})
    match_step(cfg, tmp_path, noselection_panel.panel, tmp_path, progress=False)
    report = json.loads((tmp_path / "matching" / "matching_report.json").read_text())
    assert report["published_design"]["formula"] == "treated ~ female + age_pre"
    assert report["riskset"]["formula"] == "treated ~ female + cost_pre1 + C(district_pre)"
    pub = pd.read_csv(tmp_path / "matching" / "balance_published.csv")
    assert set(pub["covariate"]) == {"distance", "female", "age_pre"}
    cohort = pd.read_csv(tmp_path / "matching" / "balance_cohort_2021.csv")
    assert "cost_pre1" in set(cohort["covariate"]) and "sbp_pre" not in set(cohort["covariate"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=60), st.booleans())
def test_stable_argsort_is_numpys_stable_sort(values, rounded):
    from analysis.matching.nearest import sort_with_order, stable_argsort

    x = np.array(values, dtype=float)
    if rounded:  # many ties, -0.0 among them
        x = np.round(np.clip(x, -3, 3), 1)
    np.testing.assert_array_equal(stable_argsort(x), np.argsort(x, kind="stable"))
    rng = np.random.default_rng(len(values))
    y = rng.standard_normal(5000) * 10.0 ** len(values) % 7  # long tie runs
    np.testing.assert_array_equal(stable_argsort(y), np.argsort(y, kind="stable"))
    # values a few units in the last place apart (the sort keys keep only the high bits) and of both signs
    base = rng.standard_normal()
    z = base + rng.integers(-3, 4, 2000) * np.spacing(base)
    order, z_sorted = sort_with_order(z)
    np.testing.assert_array_equal(order, np.argsort(z, kind="stable"))
    np.testing.assert_array_equal(z_sorted, z[order])
