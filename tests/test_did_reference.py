"""att_gt / aggte / the 2x2 estimators against published reference outputs of R did and R DRDID.

Sources of every number: tests/data/did_reference/SOURCES.md. The ``rref`` files are R did 2.5.0 outputs
with analytic standard errors written at 15 significant digits (csdid's R parity fixtures); the others are
printed outputs (4 decimals) of the did README, vignette and reference manual (bootstrap SEs) and of the
DRDID documentation (analytic SEs).
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.did import DiDError, aggte, att_gt
from analysis.did.drdid import drdid_panel, reg_did_panel, std_ipw_did_panel

REF = Path(__file__).parent / "data" / "did_reference"
MPDTA = pd.read_csv(REF / "mpdta.csv")
ARGS = ("lemp", "year", "countyreal", "first.treat")


def _call_kwargs(call: str) -> tuple[dict, str | None]:
    kw: dict = {}
    for k in ("control_group", "est_method", "base_period"):
        m = re.search(k + r'\s*=\s*"(\w+)"', call)
        if m:
            kw[k] = m.group(1)
    m = re.search(r"anticipation\s*=\s*(\d+)", call)
    if m:
        kw["anticipation"] = int(m.group(1))
    kw["panel"] = "panel = FALSE" not in call
    m = re.search(r"xformla\s*=\s*(~[^,)]+)", call)
    return kw, (m.group(1).strip() if m else None)


RREF = sorted(REF.glob("did_mpdta_rref_*.json"))


@pytest.mark.parametrize("path", RREF, ids=[p.stem for p in RREF])
def test_att_gt_equals_r_did_analytic(path):
    ref = json.loads(path.read_text())
    kw, xf = _call_kwargs(ref["call"])
    res = att_gt(MPDTA, *ARGS, xf, bstrap=False, cband=False, **kw)
    got = res.tidy().set_index(["group", "time"])
    want = pd.DataFrame(ref["rows"]).set_index(["group", "time"])
    assert set(got.index) == set(want.index)
    got = got.loc[want.index]
    np.testing.assert_allclose(got.estimate, want.att, rtol=1e-9, atol=1e-12)
    se_ref = want.se.where(want.se.notna() & (want.se > 0))
    np.testing.assert_allclose(got.std_error, se_ref, rtol=1e-9, atol=1e-12)
    if ref.get("pretest_W") is not None:
        assert res.pretest_W == pytest.approx(ref["pretest_W"], rel=1e-9)
        assert res.pretest_p == ref["pretest_p"]
    for typ, a in ref.get("aggte", {}).items():
        ag = aggte(res, type=typ, bstrap=False, cband=False)
        assert ag.overall_att == pytest.approx(a["overall_att"], rel=1e-9, abs=1e-13)
        assert ag.overall_se == pytest.approx(a["overall_se"], rel=1e-9)
        if "rows" not in a:  # simple: one number
            continue
        rows = pd.DataFrame(a["rows"])
        np.testing.assert_allclose(ag.att_egt, rows.estimate, rtol=1e-9, atol=1e-13)
        np.testing.assert_allclose(ag.se_egt, rows.se, rtol=1e-9)
        assert list(ag.egt) == rows.iloc[:, 0].tolist()


PRINTED = [p for p in sorted(REF.glob("did_mpdta_*.json")) if "rref" not in p.name]


@pytest.mark.parametrize("path", PRINTED, ids=[p.stem for p in PRINTED])
def test_printed_r_outputs_with_bootstrap(path):
    """Point estimates equal R's printed 4 decimals and R's pre-test p-value (analytic) exactly.
    Bootstrap SEs are random in R and here (1000 draws; the IQR-based SE varies by ~4% between seeds, more
    in cohorts of 20 counties): R's printed ones and ours must both be within 20% of the analytic SE they
    estimate, and the simultaneous band's critical value within 10% of R's."""
    ref = json.loads(path.read_text())
    kw, xf = _call_kwargs(ref["call"])
    res = att_gt(MPDTA, *ARGS, xf, biters=1000, seed=1, **kw)
    if "rows" in ref:
        got = res.tidy().set_index(["group", "time"])
        want = pd.DataFrame(ref["rows"]).set_index(["group", "time"])
        got = got.loc[want.index]
        np.testing.assert_allclose(got.estimate.round(4), want.att, atol=1e-12)
        analytic = att_gt(MPDTA, *ARGS, xf, bstrap=False, cband=False, **kw).tidy().set_index(
            ["group", "time"]).loc[want.index, "std_error"]
        np.testing.assert_allclose(want.se / analytic, 1, atol=0.2)
        np.testing.assert_allclose(got.std_error / analytic, 1, atol=0.2)
        if "band_upper" in want:
            crit_r = ((want.band_upper - want.att) / want.se).median()
            assert res.crit_val == pytest.approx(crit_r, rel=0.1)
    if ref.get("pretest_p") is not None:
        assert res.pretest_p == pytest.approx(ref["pretest_p"], abs=1e-5)
    for name, a in ref.get("aggte", {}).items():
        m = re.search(r'type\s*=\s*"(\w+)"', a["call"])
        extra = {k: int(v) for k, v in re.findall(r"(balance_e|min_e|max_e)\s*=\s*(-?\d+)", a["call"])}
        ag = aggte(res, type=m.group(1) if m else name, **extra)
        assert round(ag.overall_att, 4) == pytest.approx(a["overall_att"], abs=1e-12)
        se_analytic = aggte(res, type=m.group(1) if m else name, bstrap=False, cband=False, **extra).overall_se
        assert a["overall_se"] / se_analytic == pytest.approx(1, abs=0.2)
        assert ag.overall_se / se_analytic == pytest.approx(1, abs=0.2)
        if "rows" in a:
            rows = pd.DataFrame(a["rows"])
            np.testing.assert_allclose(np.round(ag.att_egt, 4), rows.estimate, atol=1e-12)


LALONDE = pd.read_csv(REF / "eval_lalonde_cps.csv")
LALONDE_X = ["age", "educ", "black", "married", "nodegree", "hisp", "re74"]


@pytest.mark.parametrize(
    "name, fn",
    [("drdid_trad_panel", drdid_panel), ("ordid_panel", reg_did_panel), ("ipwdid_panel", std_ipw_did_panel)],
)
def test_drdid_panel_estimators_equal_drdid_docs(name, fn):
    """DRDID's documented lalonde results (analytic SEs, 4 decimals). The documentation was built with
    DRDID 1.0.2, which printed ``sd(IF) / sqrt(n)``; R did (and DRDID >= 1.0.4) use ``sqrt(mean(IF^2) / n)``,
    smaller by the factor sqrt((n-1)/n) when the IF has mean zero: both are checked."""
    ref = json.loads((REF / f"drdid_eval_lalonde_cps_{name}.json").read_text())
    w = LALONDE.pivot(index="id", columns="year", values="re")
    x = LALONDE[LALONDE.year == 1975].set_index("id").loc[w.index]
    X = np.column_stack([np.ones(len(x)), x[LALONDE_X].to_numpy(float)])
    att, inf = fn(w[1978].to_numpy(), w[1975].to_numpy(), x.experimental.to_numpy(), X)
    n = len(inf)
    assert abs(inf.mean()) < 1e-9 * inf.std()
    assert round(att, 4) == pytest.approx(ref["att"], abs=1e-9)
    assert round(inf.std(ddof=1) / np.sqrt(n), 4) == pytest.approx(ref["se"], abs=1e-9)
    assert np.sqrt(np.mean(inf**2) / n) == pytest.approx(ref["se"] * np.sqrt((n - 1) / n), abs=6e-5)


def test_att_gt_two_periods_is_drdid():
    """att_gt on a two-period panel with covariates is DRDID's drdid_panel (the covariate IF path)."""
    ref = json.loads((REF / "drdid_eval_lalonde_cps_drdid_trad_panel.json").read_text())
    d = LALONDE.assign(g=np.where(LALONDE.experimental == 1, 1978, 0))
    res = att_gt(d, "re", "year", "id", "g", "~ " + " + ".join(LALONDE_X), bstrap=False, cband=False)
    n = res.nobs
    assert round(res.att[0], 4) == pytest.approx(ref["att"], abs=1e-9)
    assert res.se[0] == pytest.approx(ref["se"] * np.sqrt((n - 1) / n), abs=6e-5)


@pytest.mark.parametrize("dtype", ["int16", "int32", "float64"])
def test_integer_typed_cohort_and_time_columns(dtype):
    """Narrow integer or float cohort/period columns give the same numbers (a bug in other ports)."""
    base = att_gt(MPDTA, *ARGS, bstrap=False, cband=False)
    d = MPDTA.astype({"first.treat": dtype, "year": dtype})
    res = att_gt(d, *ARGS, bstrap=False, cband=False)
    np.testing.assert_array_equal(res.att, base.att)
    np.testing.assert_array_equal(res.se, base.se)


def test_cohort_with_one_pre_period():
    """Keep 2005-2007: cohort 2004 is treated in the first period (dropped and reported), cohort 2006 has
    one pre-period. Its ATT(2006, t) and SEs equal those from the full data (same comparisons; the SE of a
    cell does not depend on how many other units the data hold)."""
    full = att_gt(MPDTA, *ARGS, bstrap=False, cband=False).tidy().set_index(["group", "time"])
    with pytest.warns(UserWarning, match="already treated in the first period"):
        res = att_gt(MPDTA[MPDTA.year >= 2005], *ARGS, bstrap=False, cband=False)
    assert res.exclusions["units already treated in the first period (dropped)"] == int(
        (MPDTA[MPDTA.year == 2005]["first.treat"] == 2004).sum())
    got = res.tidy().set_index(["group", "time"])
    assert sorted(got.index) == [(2006, 2006), (2006, 2007), (2007, 2006), (2007, 2007)]
    for cell in [(2006, 2006), (2006, 2007), (2007, 2007)]:
        assert got.loc[cell, "estimate"] == pytest.approx(full.loc[cell, "estimate"], rel=1e-12)
        assert got.loc[cell, "std_error"] == pytest.approx(full.loc[cell, "std_error"], rel=1e-12)


def test_bootstrap_is_reproducible_and_band_is_wider():
    a = att_gt(MPDTA, *ARGS, biters=500, seed=7)
    b = att_gt(MPDTA, *ARGS, biters=500, seed=7)
    c = att_gt(MPDTA, *ARGS, biters=500, seed=8)
    np.testing.assert_array_equal(a.se, b.se)
    assert a.crit_val == b.crit_val
    assert not np.array_equal(a.se, c.se)
    assert a.crit_val > 1.96  # a sup-t band over 12 cells is wider than pointwise


def test_rademacher_weights_are_numpys_bounded_draws():
    """The multiplier weights are built from numpy's 32-bit stream; they must be exactly the numbers of
    ``rng.integers(0, 2, dtype=int8)`` block by block (so seeds keep their meaning), the generator left in
    the same state, over block boundaries and odd block sizes."""
    from analysis.did import inference

    for m, biters in ((inference._BLOCK + 3, 7), (5, 999), (1, 3)):
        rng_ref, rng = np.random.default_rng(11), np.random.default_rng(11)
        got = list(inference._sign_blocks(rng, m, biters))
        ref = [rng_ref.integers(0, 2, size=(biters, min(inference._BLOCK, m - s)), dtype=np.int8)
               for s in range(0, m, inference._BLOCK)]
        assert [g.shape for g in got] == [r.shape for r in ref]
        for g, r in zip(got, ref, strict=True):
            np.testing.assert_array_equal(g, r)
        assert rng.integers(0, 1 << 30, 4).tolist() == rng_ref.integers(0, 1 << 30, 4).tolist()


def test_rademacher_sums_are_the_signed_matrix_product():
    """The tabulated signed sums (8 units a byte) equal the product of the -1/+1 weight matrix with the
    influence functions, over block boundaries, a last byte with fewer than 8 units, several parts side by
    side and a part without columns; cached and freshly drawn weights give the same numbers."""
    from analysis.did import clear_caches, inference, set_cache_limit

    rng = np.random.default_rng(3)
    for m, biters in ((inference._BLOCK + 13, 9), (5, 999), (1, 3), (8, 2)):
        parts = [rng.standard_normal((m, 3)), rng.standard_normal((m, 0)), rng.standard_normal((m, 2))]
        v = np.hstack([b * 2.0 - 1.0 for b in inference._sign_blocks(np.random.default_rng(21), m, biters)])
        want = v @ np.hstack(parts)
        clear_caches()
        got = inference.rademacher_draws(parts, biters, 21)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
        np.testing.assert_array_equal(inference.rademacher_draws(parts, biters, 21), got)  # from the cache
        before = set_cache_limit(0)  # too large to keep: drawn block by block
        try:
            np.testing.assert_array_equal(inference.rademacher_draws(parts, biters, 21), got)
        finally:
            set_cache_limit(sum(before.values()))


@pytest.mark.parametrize("typ", ["simple", "group", "calendar", "dynamic"])
def test_aggregations_reuse_att_gts_draws_exactly(typ):
    """aggte and trend_adjusted bootstrap by combining att_gt's draws of the cells' and cohort columns; that
    must give what drawing their own influence functions afresh with the same seed gives (same weights)."""
    from analysis.did.inference import multiplier_bootstrap
    from analysis.did.trend import trend_adjusted

    xf = "~lpop"
    res = att_gt(MPDTA, *ARGS, xf, biters=400, seed=5)
    uni = trend_adjusted(att_gt(MPDTA, *ARGS, xf, biters=400, seed=5, base_period="universal"))
    fresh = multiplier_bootstrap(uni.inffunc, 400, 0.05, 5)
    np.testing.assert_allclose(uni.se, fresh.se, rtol=1e-10)
    assert uni.crit_val == pytest.approx(fresh.crit_val, rel=1e-10)
    for r in (res, uni):
        ag = aggte(r, typ)
        cols = ag.inf_overall[:, None] if ag.inf_egt is None else np.column_stack([ag.inf_egt, ag.inf_overall])
        fresh = multiplier_bootstrap(cols, 400, 0.05, 5)
        got = np.r_[[] if ag.se_egt is None else ag.se_egt, ag.overall_se]
        np.testing.assert_allclose(got, fresh.se, rtol=1e-10)
        est = np.r_[[] if ag.att_egt is None else ag.att_egt, ag.overall_att]
        assert (got[est != 0] > 0).all() and np.isnan(got[est == 0]).all()  # e = -1 of a universal base: 0
        # and a seed of its own draws afresh
        other = aggte(r, typ, seed=6)
        assert other.overall_se != ag.overall_se


@pytest.mark.parametrize("panel", [True, False])
def test_propensity_fits_shared_across_outcomes_change_nothing(panel):
    """att_gt keeps each cell's outcome-free fits (propensity score, regression Gram matrix) for the next
    outcome with the same rows, covariates and weights: the second outcome's results must be exactly those
    of a cold start, and a different design must not pick up the first one's fits."""
    from analysis.did import cache_info, clear_caches

    d = MPDTA.assign(y2=MPDTA.lemp * 0.5 + np.sin(MPDTA.countyreal + MPDTA.year))
    kw = dict(xformla="~lpop", panel=panel, biters=200, seed=1)
    clear_caches()
    att_gt(d, "lemp", "year", "countyreal", "first.treat", **kw)
    assert cache_info()["att_gt_fits"]["items"]
    warm = att_gt(d, "y2", "year", "countyreal", "first.treat", **kw)
    clear_caches()
    cold = att_gt(d, "y2", "year", "countyreal", "first.treat", **kw)
    np.testing.assert_array_equal(warm.att, cold.att)
    np.testing.assert_array_equal(warm.se, cold.se)
    np.testing.assert_array_equal(warm.inffunc, cold.inffunc)
    other = d.assign(lpop=d.lpop + 0.1 * (d.countyreal % 3))  # other covariates: other fits
    fresh = att_gt(other, "y2", "year", "countyreal", "first.treat", **kw)
    clear_caches()
    np.testing.assert_array_equal(fresh.att, att_gt(other, "y2", "year", "countyreal", "first.treat", **kw).att)
    assert not np.array_equal(fresh.att, cold.att)


def test_clustered_bootstrap_matches_unit_bootstrap_when_clusters_are_units():
    d = MPDTA.assign(cl=MPDTA.countyreal * 10)
    a = att_gt(MPDTA, *ARGS, biters=300, seed=3)
    b = att_gt(d, *ARGS, biters=300, seed=3, clustervars=["countyreal", "cl"])
    np.testing.assert_allclose(a.se, b.se, rtol=1e-12)


def test_bad_input_is_named():
    d = pd.concat([MPDTA, MPDTA.iloc[[0]]])
    with pytest.raises(DiDError, match="share a"):
        att_gt(d, *ARGS)
    d = MPDTA.copy()
    d.loc[d.index[1], "first.treat"] = 2006  # unit 0's cohort changes over time
    with pytest.raises(DiDError, match="treatment timing varies within unit"):
        att_gt(d, *ARGS)
    with pytest.raises(DiDError, match="no never-treated group"):
        att_gt(MPDTA[MPDTA["first.treat"] > 0], *ARGS)
    with pytest.raises(DiDError, match="no column"):
        att_gt(MPDTA, "nope", "year", "countyreal", "first.treat")
    d = MPDTA.copy()
    d.loc[d.index[:7], "lemp"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = att_gt(d, *ARGS, bstrap=False, cband=False)
    assert res.exclusions["rows with missing lemp"] == 7
    # rows 0-4 are all of county 8001 (gone with its rows), rows 5-6 part of county 8019 (dropped to balance)
    assert res.exclusions["units not observed in every period (dropped to balance the panel)"] == 1
    assert res.nobs == 498
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = att_gt(d, *ARGS, bstrap=False, cband=False, allow_unbalanced_panel=True)
    assert not res.design.panel and res.nobs == 499


def test_notyettreated_without_never_treated_drops_last_periods():
    """No never-treated: R did uses the last cohort as comparison and drops periods from its start."""
    d = MPDTA[MPDTA["first.treat"] > 0]
    res = att_gt(d, *ARGS, control_group="notyettreated", bstrap=False, cband=False)
    assert {c.time for c in res.cells} <= {2004, 2005, 2006}
    assert {c.group for c in res.cells} == {2004, 2006}


def test_summary_prints_like_r():
    res = att_gt(MPDTA, *ARGS, biters=200)
    s = res.summary()
    assert "Group-Time Average Treatment Effects:" in s
    assert "P-value for pre-test of parallel trends assumption:  0.16812" in s
    assert "Control Group:  Never Treated,  Anticipation Periods:  0" in s
    ag = aggte(res, type="dynamic")
    assert "Dynamic Effects:" in ag.summary() and "Event time" in ag.summary()
    t = ag.tidy()
    assert list(t.columns[:7]) == ["term", "estimate", "std_error", "statistic", "p_value", "conf_low",
                                   "conf_high"]


def test_att_gt_result_has_r_names_and_refuses_a_band_at_another_level():
    """R did's ``MP$group``, ``MP$t``, ``MP$att``, ``MP$se``; the simultaneous band exists only at 1 - alp."""
    res = att_gt(MPDTA, "lemp", "year", "countyreal", "first.treat", biters=99, seed=1)
    assert list(zip(res.group, res.t, strict=True)) == list(res.index)
    np.testing.assert_array_equal(res.att, res.params.to_numpy())
    np.testing.assert_array_equal(res.se, res.std_errors.to_numpy())
    band = res.conf_int(level=0.95, uniform=True)
    point = res.conf_int(level=0.95)
    assert ((band.upper - band.lower) >= (point.upper - point.lower) - 1e-12).all()
    with pytest.raises(ValueError, match=r"drawn at level 0.95 \(alp = 0.05\); refit with alp = 0.1"):
        res.conf_int(level=0.9, uniform=True)


@pytest.mark.parametrize("typ", [None, "simple", "group", "calendar", "dynamic"])
def test_cov_is_the_influence_function_covariance_behind_the_analytic_errors(typ):
    """``cov`` (as linearmodels' results): symmetric, indexed like ``params``, its diagonal the analytic
    standard errors squared; a dynamic aggregation's is the matrix HonestDiD takes (e = -1 dropped)."""
    from analysis.causal.sensitivity import event_study_inputs

    res = att_gt(MPDTA, *ARGS, bstrap=False, cband=False, base_period="universal")
    r = res if typ is None else aggte(res, type=typ, bstrap=False, cband=False)
    cov = r.cov
    assert cov.index.equals(r.params.index) and cov.columns.equals(r.params.index)
    ok = np.isfinite(r.std_errors.to_numpy())
    c = cov.to_numpy()[np.ix_(ok, ok)]
    np.testing.assert_allclose(c, c.T, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.sqrt(np.diag(c)), r.std_errors.to_numpy()[ok], rtol=1e-12)
    if typ == "dynamic":
        beta, sigma, npre, npost = event_study_inputs(r)
        keep = r.params.index != -1
        np.testing.assert_array_equal(beta, r.params.to_numpy()[keep])
        np.testing.assert_array_equal(sigma, cov.to_numpy()[np.ix_(keep, keep)])
        assert (npre, npost) == ((r.params.index < -1).sum(), (r.params.index >= 0).sum())


def test_caches_are_bounded_listed_and_released():
    from analysis.did import cache_info, clear_caches

    att_gt(MPDTA, "lemp", "year", "countyreal", "first.treat", xformla="~lpop", biters=99, seed=3)
    info = cache_info()
    assert set(info) == {"bootstrap_weights", "att_gt_fits", "twfe_residuals"}
    assert info["att_gt_fits"]["items"] and info["bootstrap_weights"]["bytes"] > 0
    assert all(0 < c["max_bytes"] <= 1 << 30 for c in info.values())
    clear_caches()
    assert all(c["items"] == 0 and c["bytes"] == 0 for c in cache_info().values())


def _unbalanced_with_moving_covariate(seed: int = 5) -> pd.DataFrame:
    """200 units over 2019-2023 (cohort 2022 and never treated), a binary covariate that changes over time
    (more often after treatment), an outcome missing in a fifth of the rows whose covariate is present, and
    units entering late (no row at all before 2021)."""
    rng = np.random.default_rng(seed)
    n, years = 200, np.arange(2019, 2024)
    g = np.where(rng.random(n) < 0.4, 2022, 0)
    rows = []
    for i in range(n):
        x = rng.random() < 0.3
        for yr in (years[2:] if i % 10 == 0 else years):
            x = x or rng.random() < (0.4 if g[i] and yr >= g[i] else 0.1)
            y = 1.0 + 0.5 * x + 0.3 * (yr - 2019) * (1 + x) + 2.0 * (g[i] and yr >= g[i]) + rng.normal(0, 1)
            rows.append((i + 1, yr, g[i], int(x), y))
    d = pd.DataFrame(rows, columns=["id", "year", "g", "x", "y"])
    d.loc[rng.random(len(d)) < 0.2, "y"] = np.nan
    return d


def _reg_att_by_hand(d: pd.DataFrame, g: int, t: int, base: int, own: bool = False) -> float:
    """The outcome-regression DiD of repeated cross-sections with a saturated binary covariate (DRDID's
    reg_did_rc), by group means: the treated rows' change minus the comparison rows' change within each
    covariate value, weighted by the treated rows' covariate shares; the covariate of every row is its unit's
    value in the earlier of the two periods (``own``: each row's own value, R did's unbalanced path)."""
    xat = d[d.year == min(t, base)].set_index("id").x
    r = d[d.year.isin([t, base]) & d.y.notna() & (own | d.id.isin(xat.index))].copy()
    r["xb"] = r.x if own else r.id.map(xat)
    r["post"] = r.year == t
    tr, co = r[r.g == g], r[r.g == 0]
    cm = co.groupby(["xb", "post"]).y.mean().unstack()
    change = cm[True] - cm[False]
    return float(tr[tr.post].y.mean() - tr[~tr.post].y.mean() - tr.xb.map(change).mean())


def test_unbalanced_panel_reads_time_varying_covariates_at_the_earlier_period():
    """A deliberate difference from R did (whose unbalanced path reads each row's own covariates): the
    unbalanced panel reads them as the balanced one does, at each cell's earlier period, from the unit's row
    there even where its outcome is missing. Checked against group means by hand (est_method="reg")."""
    d = _unbalanced_with_moving_covariate()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = att_gt(d, "y", "year", "id", "g", "~ x", allow_unbalanced_panel=True, est_method="reg",
                     bstrap=False, cband=False)
    assert not res.design.panel and res.design.unit_xrow is not None
    got = dict(zip(zip(res.group, res.t, strict=True), res.att, strict=True))
    for (g, t), base in {(2022, 2020): 2019, (2022, 2021): 2020, (2022, 2022): 2021, (2022, 2023): 2021}.items():
        assert got[(g, t)] == pytest.approx(_reg_att_by_hand(d, g, t, base), abs=1e-10)
    # the rows' own (post-period) covariates give another number: the test can tell the two apart
    assert abs(got[(2022, 2023)] - _reg_att_by_hand(d, 2022, 2023, 2021, own=True)) > 1e-3
    # units entering in 2021 have no covariate row in 2019 or 2020: left out of those cells, and said so
    assert any("no covariate row" in n for n in res.notes)


def test_time_invariant_covariates_keep_r_dids_unbalanced_path():
    """A covariate constant within units: the unbalanced path reads each row's values (R did's numbers)."""
    d = _unbalanced_with_moving_covariate()
    d["x"] = d.groupby("id").x.transform("first")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = att_gt(d, "y", "year", "id", "g", "~ x", allow_unbalanced_panel=True, est_method="reg",
                     bstrap=False, cband=False)
    assert res.design.unit_xrow is None and res.design.row_X is not None
    got = dict(zip(zip(res.group, res.t, strict=True), res.att, strict=True))
    assert got[(2022, 2023)] == pytest.approx(_reg_att_by_hand(d, 2022, 2023, 2021), abs=1e-10)
