"""``trend_adjusted``: group-time ATTs net of each cohort's linear pre-trend. Exact recovery on data whose
untreated paths differ by cohort-specific linear trends, the linear-map identities that carry the influence
functions, and the bad-input paths."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.did import DiDError, aggte, att_gt, trend_adjusted

MPDTA = pd.read_csv(Path(__file__).parent / "data" / "did_reference" / "mpdta.csv")


def _trend_panel(n=3000, seed=0, tau=2.0, noise=0.0):
    """Units in cohorts 0 (never), 2014, 2016, 2018 over 2010-2019; the untreated outcome has unit and
    period effects plus a cohort-specific linear trend; the effect is ``tau + 0.5 * event_time``."""
    rng = np.random.default_rng(seed)
    years = np.arange(2010, 2020)
    g = rng.choice([0, 2014, 2016, 2018], size=n)
    slope = {0: 0.0, 2014: -0.8, 2016: 0.5, 2018: 1.3}
    unit = rng.normal(size=n)
    i, t = np.repeat(np.arange(n), len(years)), np.tile(years, n)
    gi = g[i]
    s = np.array([slope[x] for x in gi])
    treated = (gi > 0) & (t >= gi)
    y = unit[i] + 0.3 * (t - 2010) ** 1.5 + s * (t - 2010) + np.where(treated, tau + 0.5 * (t - gi), 0.0)
    y = y + noise * rng.normal(size=len(y))
    return pd.DataFrame({"id": i, "year": t, "g": gi, "y": y})


def _fit(df, **kw):
    kw = {"est_method": "reg", "bstrap": False, "cband": False, "base_period": "universal"} | kw
    return att_gt(df, "y", "year", "id", "g", **kw)


def test_exact_recovery_under_cohort_linear_trends():
    df = _trend_panel()
    plain = _fit(df)
    adj = trend_adjusted(plain)
    tid = adj.tidy()
    true = np.where(tid.post, 2.0 + 0.5 * tid.event_time, 0.0)
    assert np.allclose(tid.estimate, true, atol=1e-9)  # every post cell exact, pre residuals zero
    # the unadjusted estimates carry the trend, so the adjustment does real work here
    assert np.abs(plain.tidy().estimate.to_numpy() - true).max() > 1.0
    assert aggte(adj, "dynamic").overall_att == pytest.approx(2.0 + 0.5 * np.mean(np.arange(6)), abs=1e-9)


def test_linear_map_identities_on_mpdta():
    """adjusted = A @ att and V_adjusted = A V A' for the matrix A of the per-cohort least-squares
    extrapolation; the base cell stays 0 and cohorts without a pre-period before the base are dropped."""
    res = att_gt(MPDTA, "lemp", "year", "countyreal", "first.treat", "~ lpop", base_period="universal",
                 bstrap=False, cband=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adj = trend_adjusted(res)
    cells = [(c.group, c.time, c.base) for c in res.cells]
    kept = [j for j, (g, _, _) in enumerate(cells) if g != 2004]  # 2004's base is 2003, the first year
    A = np.zeros((len(kept), len(cells)))
    for r, j in enumerate(kept):
        g, t, b = cells[j]
        A[r, j] = 1.0
        pre = [m for m, (gg, tt, bb) in enumerate(cells) if gg == g and tt < bb]
        k = np.array([cells[m][1] - cells[m][2] for m in pre], float)
        A[r, pre] -= (t - b) * k / (k @ k)
    assert [(c.group, c.time) for c in adj.cells] == [cells[j][:2] for j in kept]
    assert np.allclose(adj.att, A @ res.att, atol=1e-12)
    ok = np.isfinite(adj.se)
    assert np.allclose(adj.V[np.ix_(ok, ok)], (A @ res.V @ A.T)[np.ix_(ok, ok)], atol=1e-12)
    assert adj.exclusions["cohorts without a pre-trend period (trend_adjusted)"] == 1
    assert any("2004" in n for n in adj.notes)
    base = [j for j, c in enumerate(adj.cells) if c.time == c.base]
    assert np.all(adj.att[base] == 0) and np.all(np.isnan(adj.se[base]))
    # linearity pre-test: 2006 has pre-periods 2003-04 and 2007 has 2003-05 (5 residuals), less one
    # degree of freedom per fitted slope: chi-squared with 3
    assert sum(1 for c in adj.cells if c.time < c.base) == 5
    assert adj.pretest_p == pytest.approx(round(stats.chi2.sf(adj.pretest_W, 3), 5), abs=1e-12)
    assert "Trend adjustment" in adj.summary() and "Trend adjustment" in aggte(adj, "dynamic").summary()


def test_bootstrap_uses_the_adjusted_influence_functions():
    df = _trend_panel(n=1500, noise=1.0, seed=3)
    adj = trend_adjusted(_fit(df, bstrap=True, cband=True, biters=400, seed=7))
    again = trend_adjusted(_fit(df, bstrap=True, cband=True, biters=400, seed=7))
    assert np.array_equal(adj.se, again.se, equal_nan=True) and adj.crit_val == again.crit_val
    analytic = trend_adjusted(_fit(df))
    ok = np.isfinite(analytic.se)
    assert np.allclose(adj.se[ok], analytic.se[ok], rtol=0.15)  # IQR-bootstrap vs analytic, 400 draws
    assert adj.crit_val > 1.96


def test_bad_input():
    df = _trend_panel(n=400)
    with pytest.raises(DiDError, match="base_period='universal'"):
        trend_adjusted(_fit(df, base_period="varying"))
    with pytest.raises(DiDError, match="control_group='nevertreated'"):
        trend_adjusted(_fit(df, control_group="notyettreated"))
    late = df[df.year >= 2013]  # cohort 2014's base 2013 is the first year: nothing before it to fit on
    only = late[late.g.isin([0, 2014])]
    with pytest.raises(DiDError, match="no cohort has a pre-period"):
        trend_adjusted(_fit(only))
