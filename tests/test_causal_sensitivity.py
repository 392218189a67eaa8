"""Rambachan & Roth (2023) sensitivity (``honest_did``) and the E-value.

Reference numbers: tests/data/honestdid_reference/ (SOURCES.md says where each comes from)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.causal import e_value, event_study_inputs, honest_did

REF = json.loads((Path(__file__).parent / "data" / "honestdid_reference" / "ehec_medicaid.json").read_text())
B = np.array(REF["betahat"])
SIG = np.array(REF["sigma"])
NPRE, NPOST = REF["num_pre_periods"], REF["num_post_periods"]


def _sig3(x: float) -> float:
    return float(f"{x:.3g}")


def _outside_printed(x: float, printed: float) -> float:
    """How far ``x`` lies outside the interval of values that print as ``printed`` (3 significant digits)."""
    half_unit = 0.5 * 10.0 ** (np.floor(np.log10(abs(printed))) - 2)
    return max(abs(x - printed) - half_unit, 0.0)


# ----------------------------------------------------------------------------------------------------------
# the published example: HonestDiD README, Medicaid expansion


def test_relative_magnitudes_reproduce_honestdid_readme():
    """All eight printed bounds, to the printed 3 significant digits, on HonestDiD's grid (refine=False).

    The least-favourable critical value is simulated; with 1000 draws (HonestDiD's number) some seeds move
    a bound by one grid step (3.7e-4), with 100000 draws each of the 12 seeds tried gives the printed bounds."""
    g = REF["rm_grid"]
    printed = REF["readme_rm"]
    r = honest_did(B, SIG, NPRE, NPOST, Mvec=printed["Mbar"], grid_lb=g["lb"], grid_ub=g["ub"],
                   grid_points=g["points"], refine=False, sims=100_000)
    assert [_sig3(v) for v in r.lb] == printed["lb"]
    assert [_sig3(v) for v in r.ub] == printed["ub"]
    assert set(r.tidy()["method"]) == {"C-LF"} and set(r.tidy()["delta"]) == {"DeltaRM"}
    # the README: "the breakdown value for a significant effect is Mbar = 2"
    assert r.breakdown == 2.0


def test_relative_magnitudes_refined_within_one_grid_step_of_readme():
    g = REF["rm_grid"]
    step = (g["ub"] - g["lb"]) / (g["points"] - 1)
    printed = REF["readme_rm"]
    r = honest_did(B, SIG, NPRE, NPOST, Mvec=printed["Mbar"])  # our default grid, refined endpoints
    np.testing.assert_allclose(r.lb, printed["lb"], atol=step + 5e-5)
    np.testing.assert_allclose(r.ub, printed["ub"], atol=step + 5e-5)


def test_smoothness_flci_against_honestdid_readme_and_peer():
    """FLCI: equal to moderndid's port to 1e-6. Against the README's printed numbers: the upper bounds and
    M = 0.01 to the printed digits; four lower bounds lie up to 2.1e-5 outside the values that print as the
    README's (ours and moderndid's alike; see SOURCES.md), so the tolerance is 2.5e-5 beyond rounding."""
    printed = REF["readme_sd"]
    r = honest_did(B, SIG, NPRE, NPOST, method="smoothness", Mvec=printed["M"])
    np.testing.assert_allclose(r.lb, REF["peer_moderndid"]["sd"]["lb"], atol=1e-6)
    np.testing.assert_allclose(r.ub, REF["peer_moderndid"]["sd"]["ub"], atol=1e-6)
    gaps = [_outside_printed(x, p) for x, p in zip(np.r_[r.lb, r.ub], printed["lb"] + printed["ub"], strict=True)]
    assert max(gaps) < 2.5e-5
    assert [_sig3(v) for v in r.ub] == printed["ub"]
    # the README: "the breakdown value for a significant effect is M ~ 0.03"
    assert r.breakdown == pytest.approx(0.03)


def test_original_ci_and_summary():
    r = honest_did(B, SIG, NPRE, NPOST, Mvec=[0.5, 1])
    se = np.sqrt(SIG[NPRE, NPRE])
    z = stats.norm.ppf(0.975)
    assert r.estimate == pytest.approx(B[NPRE])
    assert r.original == pytest.approx((B[NPRE] - z * se, B[NPRE] + z * se))
    text = r.summary()
    assert "DeltaRM" in text and "C-LF" in text and "breakdown" in text
    assert list(r.tidy().columns) == ["M", "lb", "ub", "method", "delta"]


# ----------------------------------------------------------------------------------------------------------
# invariants


def test_sd_m0_one_pre_period_is_linear_extrapolation():
    """Delta^SD(0) with one pre-period: theta = beta_1 + beta_{-1} (the line through beta_{-1} and 0)."""
    rng = np.random.default_rng(3)
    L = rng.normal(size=(3, 3))
    s = L @ L.T * 0.01
    b = rng.normal(size=3)
    r = honest_did(b, s, 1, 2, method="smoothness", Mvec=[0.0])
    est = b[0] + b[1]
    sd = np.sqrt(s[0, 0] + s[1, 1] + 2 * s[0, 1])
    z = stats.norm.ppf(0.975)
    assert r.lb[0] == pytest.approx(est - z * sd, abs=1e-10)
    assert r.ub[0] == pytest.approx(est + z * sd, abs=1e-10)
    # second post period, l = (0, 1): the line gives beta_2 + 2 beta_{-1}
    r2 = honest_did(b, s, 1, 2, method="smoothness", Mvec=[0.0], l_vec=[0, 1])
    v = np.array([2.0, 0.0, 1.0])
    assert (r2.lb[0] + r2.ub[0]) / 2 == pytest.approx(v @ b, abs=1e-10)
    assert r2.ub[0] - r2.lb[0] == pytest.approx(2 * z * np.sqrt(v @ s @ v), abs=1e-10)


def _delta_from_second_differences(eta: np.ndarray, npre: int, npost: int) -> np.ndarray:
    """The trend difference delta_t, t = -npre..npost, whose second differences at t = -npre+1..npost-1 are
    ``eta``, with delta_0 = 0 (the reference) and delta_1 = 0 (no linear trend left), by the recurrence
    delta_{t+1} = 2 delta_t - delta_{t-1} + eta_t forwards from t = 1 and backwards from t = 0."""
    d = {0: 0.0, 1: 0.0}
    e = dict(zip(range(-npre + 1, npost), eta, strict=True))
    for t in range(1, npost):
        d[t + 1] = 2 * d[t] - d[t - 1] + e[t]
    for t in range(0, -npre, -1):
        d[t - 1] = 2 * d[t] - d[t + 1] + e[t]
    return np.array([d[t] for t in range(-npre, npost + 1)])


def test_flci_not_beaten_by_other_unbiased_estimators():
    """The FLCI half-length is the minimum over estimators l'b_post + a'b_pre unbiased for linear trends:
    each such estimator's worst-case bias under Delta^SD(M) is M times the l1 norm of its weights on the
    second differences (found here by the recurrence, one unit second difference at a time), and its
    half-length sd * sqrt of the noncentral chi-square quantile is never shorter than honest_did's."""
    rng = np.random.default_rng(7)
    npre, npost, M, alpha = 4, 2, 0.02, 0.05
    L = rng.normal(size=(6, 6))
    s = L @ L.T * 1e-4
    b = rng.normal(size=6) * 0.01
    lv = np.array([1.0, 0.0])
    r = honest_did(b, s, npre, npost, method="smoothness", Mvec=[M], l_vec=lv, alpha=alpha)
    best = (r.ub[0] - r.lb[0]) / 2
    basis = np.eye(npre + npost - 1)
    deltas = np.array([np.delete(_delta_from_second_differences(e, npre, npost), npre) for e in basis])
    pre_t = np.arange(-npre, 0.0)
    for _ in range(300):
        a = rng.normal(size=npre) * 2
        a += (-1.0 - pre_t @ a) * pre_t / (pre_t @ pre_t)  # unbiased for a linear trend: pre_t'a = -1
        v = np.concatenate([a, lv])
        sd = np.sqrt(v @ s @ v)
        bias = M * np.abs(deltas @ v).sum()
        chi = sd * np.sqrt(stats.ncx2.ppf(1 - alpha, 1, (bias / sd) ** 2))
        assert chi >= best - 1e-9


def test_flci_length_and_rm_interval_grow_with_m():
    sd_res = honest_did(B, SIG, NPRE, NPOST, method="smoothness", Mvec=np.linspace(0, 0.05, 8))
    assert np.all(np.diff(sd_res.ub - sd_res.lb) >= -1e-10)
    rm = honest_did(B, SIG, NPRE, NPOST, Mvec=[0, 0.25, 0.5, 1, 1.5, 2])
    assert np.all(np.diff(rm.lb) <= 1e-9) and np.all(np.diff(rm.ub) >= -1e-9)


def test_rm_mbar0_collapses_to_point_identified_set():
    """Mbar = 0: the post-period trend difference is 0, theta is point identified at l'beta_post, and the
    robust interval is the original one up to the hybrid test's critical value (1.96 -> about 1.97)."""
    r = honest_did(B, SIG, NPRE, NPOST, Mvec=[0.0])
    lo, hi = r.original
    assert r.lb[0] < r.estimate < r.ub[0]
    assert r.lb[0] == pytest.approx(lo, abs=0.05 * r.std_error)
    assert r.ub[0] == pytest.approx(hi, abs=0.05 * r.std_error)
    # the centre is the point estimate
    assert (r.lb[0] + r.ub[0]) / 2 == pytest.approx(r.estimate, abs=0.01 * r.std_error)


def test_breakdown_none_when_every_interval_excludes_zero():
    b = B.copy()
    b[NPRE:] += 1.0  # a huge effect
    r = honest_did(b, SIG, NPRE, NPOST, Mvec=[0, 0.5, 1])
    assert r.breakdown is None
    assert "none in the grid" in r.summary()
    s = honest_did(b, SIG, NPRE, NPOST, method="smoothness", Mvec=[0, 0.01])
    assert s.breakdown is None


def test_breakdown_is_first_m_covering_zero():
    r = honest_did(B, SIG, NPRE, NPOST, method="smoothness", Mvec=[0, 0.01, 0.02, 0.03, 0.04])
    covers = (r.lb <= 0) & (r.ub >= 0)
    assert not covers[:3].any() and covers[3]
    assert r.breakdown == pytest.approx(0.03)


def test_default_grids():
    r = honest_did(B, SIG, NPRE, NPOST)
    np.testing.assert_allclose(r.M, np.linspace(0, 2, 10))  # HonestDiD: seq(0, 2, length.out = 10)
    s = honest_did(B, SIG, NPRE, NPOST, method="smoothness")
    assert len(s.M) == 10 and s.M[0] == 0 and s.M[-1] > 0


def test_l_vec_average_of_post_periods():
    r = honest_did(B, SIG, NPRE, NPOST, Mvec=[0.5], l_vec=[0.5, 0.5])
    assert r.estimate == pytest.approx(B[NPRE:].mean())
    assert r.lb[0] < r.estimate < r.ub[0]


# ----------------------------------------------------------------------------------------------------------
# input checks


@pytest.mark.parametrize("kwargs, match", [
    ({"sigma": np.ones((7, 6))}, "square"),
    ({"sigma": np.eye(6)}, "betahat has 7"),
    ({"sigma": np.eye(7) + np.triu(np.ones((7, 7)), 1) * 0.1}, "symmetric"),
    ({"sigma": -np.eye(7)}, "positive semi-definite"),
    ({"num_pre_periods": 4}, "num_pre_periods"),
    ({"l_vec": [1, 0, 0]}, "l_vec"),
    ({"method": "rm"}, "method"),
    ({"Mvec": [-1]}, "Mvec"),
])
def test_input_checks_name_the_argument(kwargs, match):
    args = {"betahat": B, "sigma": SIG, "num_pre_periods": NPRE, "num_post_periods": NPOST}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        honest_did(**args)


# ----------------------------------------------------------------------------------------------------------
# from our Callaway-Sant'Anna event study


@pytest.fixture(scope="module")
def mpdta_event_study():
    from analysis.did import aggte, att_gt

    m = pd.read_csv(Path(__file__).parent / "data" / "did_reference" / "mpdta.csv")
    res = att_gt(m, "lemp", "year", "countyreal", "first.treat", bstrap=False, cband=False,
                 base_period="universal")
    return aggte(res, "dynamic")


def test_event_study_inputs_scaling_matches_analytic_se(mpdta_event_study):
    a = mpdta_event_study
    b, s, npre, npost = event_study_inputs(a)
    keep = a.egt != -1
    assert (npre, npost) == (int((a.egt < -1).sum()), int((a.egt >= 0).sum()))
    np.testing.assert_allclose(b, a.att_egt[keep])
    np.testing.assert_allclose(np.sqrt(np.diag(s)), a.se_egt[keep], rtol=1e-12)
    r = honest_did(b, s, npre, npost, Mvec=[0, 1])
    assert r.estimate == pytest.approx(a.att_egt[a.egt == 0][0])
    assert np.all(np.isfinite(r.lb)) and np.all(r.lb < r.ub)


def test_event_study_inputs_rejects_other_aggregations(mpdta_event_study):
    with pytest.raises(ValueError, match="dynamic"):
        event_study_inputs(type("X", (), {"type": "group", "egt": None, "inf_egt": None})())


# ----------------------------------------------------------------------------------------------------------
# E-value


def test_e_value_published_examples():
    # VanderWeele & Ding (2017), Ann Intern Med 167:268: RR = 3.9 -> E-value 7.26 (the paper's example);
    # CRAN EValue vignette "unmeasured-confounding": evalues.RR(est = 10.73, lo = 8.02, hi = 14.36)
    # prints E-values 20.94777 (point) and 15.52336 (lower limit).
    assert e_value(3.9, 1.8, 8.7).e_point == pytest.approx(7.26, abs=0.005)
    r = e_value(10.73, 8.02, 14.36)
    assert r.e_point == pytest.approx(20.94777, abs=1e-5)
    assert r.e_ci == pytest.approx(15.52336, abs=1e-5)


def test_e_value_protective_and_null_crossing():
    r = e_value(0.8, 0.71, 0.91)  # EValue's tests: the CI E-value uses the upper limit 1/0.91
    assert r.e_ci == pytest.approx(1 / 0.91 + np.sqrt(1 / 0.91 * (1 / 0.91 - 1)))
    assert r.e_point == pytest.approx(1 / 0.8 + np.sqrt(1 / 0.8 * (1 / 0.8 - 1)))
    assert e_value(1.3, 0.9, 1.8).e_ci == 1.0


def test_e_value_continuous_outcome():
    """d = est / sd, RR = exp(0.91 d); EValue's evalues.MD uses exp(0.91 d -+ 1.78 se), i.e. 0.91 x 1.96
    rounded, so limits built from d +- 1.96 se agree with it to 0.4% in RR."""
    d, se, sd = -0.5, 0.2, 3.0
    est = d * sd
    r = e_value(est, (d - 1.96 * se) * sd, (d + 1.96 * se) * sd, sd=sd)
    rr = np.exp(0.91 * d)
    assert r.rr == pytest.approx(rr)
    assert r.e_point == pytest.approx(1 / rr + np.sqrt(1 / rr * (1 / rr - 1)))
    hi = np.exp(0.91 * d + 1.78 * se)  # limit closer to the null for a protective effect
    assert r.rr_high == pytest.approx(hi, rel=5e-3)
    assert r.e_ci == pytest.approx(1 / hi + np.sqrt(1 / hi * (1 / hi - 1)), rel=5e-3)


def test_e_value_checks():
    with pytest.raises(ValueError, match="conf_low <= estimate"):
        e_value(2, 2.5, 3)
    with pytest.raises(ValueError, match="positive"):
        e_value(-1, -2, 0)
    with pytest.raises(ValueError, match="sd"):
        e_value(1, 0, 2, sd=0)


def test_single_post_period_and_single_pre_period():
    """No nuisance parameter (one post period): the ARP test reduces to the no-nuisance case."""
    rng = np.random.default_rng(11)
    L = rng.normal(size=(3, 3))
    s = L @ L.T * 1e-4
    b = np.array([0.002, -0.001, 0.05])
    r = honest_did(b, s, 2, 1, Mvec=[0, 1, 2])
    assert np.all(r.lb < r.estimate) and np.all(r.ub > r.estimate)
    assert np.all(np.diff(r.ub - r.lb) >= -1e-9)
    r1 = honest_did(b[1:], s[1:, 1:], 1, 1, Mvec=[0, 1])
    assert np.all(np.isfinite(r1.lb))


def test_event_study_inputs_warns_without_universal_base(mpdta_event_study):
    import dataclasses

    a = dataclasses.replace(mpdta_event_study, settings={**mpdta_event_study.settings, "base_period": "varying"})
    with pytest.warns(UserWarning, match="universal"):
        event_study_inputs(a)


@pytest.mark.parametrize("method", ["relative_magnitudes", "smoothness"])
def test_units_do_not_matter(method):
    """Outcomes in won instead of shares: betahat x 1e5, sigma x 1e10 scale every bound by 1e5."""
    k = 1e5
    m = np.array([0.5, 1.0] if method == "relative_magnitudes" else [0.0, 0.02])
    m_k = m if method == "relative_magnitudes" else m * k  # Mbar is unit-free, M is in outcome units
    r = honest_did(B, SIG, NPRE, NPOST, method=method, Mvec=m)
    rk = honest_did(B * k, SIG * k**2, NPRE, NPOST, method=method, Mvec=m_k)
    np.testing.assert_allclose(rk.lb, r.lb * k, rtol=1e-6, atol=1e-6 * k * r.std_error)
    np.testing.assert_allclose(rk.ub, r.ub * k, rtol=1e-6, atol=1e-6 * k * r.std_error)


def test_default_smoothness_grid_is_honestdid_upper_bound():
    """HonestDiD's DeltaSD_upperBound_Mpre: max over pre-period second differences (both signs) of the
    one-sided 1-alpha upper bound; Mvec = seq(0, that, length.out = 10)."""
    full = np.r_[B[:NPRE], 0.0]
    a2 = np.array([[1.0 if j == i else -2.0 if j == i + 1 else 1.0 if j == i + 2 else 0.0
                    for j in range(NPRE + 1)] for i in range(NPRE - 1)])[:, :NPRE]
    se = np.sqrt(np.diag(a2 @ SIG[:NPRE, :NPRE] @ a2.T))
    d = a2 @ full[:NPRE]
    mub = np.max(np.r_[d, -d] + stats.norm.ppf(0.95) * np.r_[se, se])
    s = honest_did(B, SIG, NPRE, NPOST, method="smoothness")
    np.testing.assert_allclose(s.M, np.linspace(0, mub, 10))


def test_smoothness_bounds_do_not_depend_on_the_outcome_units():
    """Seven pre and five post periods, coefficients all measured from one base (strongly correlated), on
    a unit scale and in KRW-like units (x 1e5): the FLCI scales exactly. On the raw KRW scale the M = 0
    interval used to come out wrong (found on the synthetic world's cost event study; moderndid agreed
    with the unit-scale answer)."""
    rng = np.random.default_rng(4)
    k = 12
    A = rng.normal(size=(k, k)) * 0.3 + np.tril(np.ones((k, k)))
    V = A @ A.T / k
    b = np.concatenate([np.linspace(1.2, 0.06, 7), -np.linspace(0.3, 2.7, 5)]) + rng.normal(0, 0.05, k)
    lv = np.full(5, 0.2)
    unit = honest_did(b, V, 7, 5, method="smoothness", l_vec=lv, Mvec=[0.0, 0.05, 0.5])
    krw = honest_did(b * 1e5, V * 1e10, 7, 5, method="smoothness", l_vec=lv, Mvec=[0.0, 5e3, 5e4])
    assert np.allclose(krw.lb, unit.lb * 1e5, rtol=1e-6) and np.allclose(krw.ub, unit.ub * 1e5, rtol=1e-6)
    # M = 0 is the linear extrapolation of the pre-trend: its interval is centred on an estimate that
    # removes a straight line through the reference period (here, well away from the raw average)
    assert abs((unit.lb[0] + unit.ub[0]) / 2 - lv @ b[7:]) > 0.5
