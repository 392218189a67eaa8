"""Two-way fixed effects and the dCDH negative-weight diagnostic (analysis.did.twfe).

Exact invariants on small simulated panels: dCDH (2020) Theorem 1 and Corollary 1 to 1e-10, event-study
coefficients of correctly specified noise-free panels, equality with statsmodels OLS on unit and period
dummies (coefficient and cluster-robust SE), and the error/exclusion contract."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from analysis.did.drdid import DiDError
from analysis.did.twfe import negative_weights, twfe, twoway_residual


def simulate(cohorts: dict[int, int], T: int, te, noise: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Balanced panel, periods 1..T, ``cohorts`` {first treated period (0 = never): number of units}, with
    unit and period effects; ``te(g, t, unit_draw)`` is the effect of treated observations. Columns id,
    year, g, y, te (the true effect of (i, t), 0 when untreated), D."""
    rng = np.random.default_rng(seed)
    g = np.repeat(list(cohorts), list(cohorts.values())).astype(np.int64)
    n = len(g)
    a, lam, u = rng.normal(size=n), rng.normal(size=T + 1) * 2, rng.uniform(size=n)
    ids, years = np.repeat(np.arange(n), T), np.tile(np.arange(1, T + 1), n)
    gg, uu = g[ids], u[ids]
    D = ((gg > 0) & (years >= gg)).astype(float)
    effect = np.where(D > 0, te(gg, years, uu), 0.0)
    y = a[ids] + lam[years] + effect + noise * rng.normal(size=len(ids))
    return pd.DataFrame({"id": ids, "year": years, "g": gg, "y": y, "te": effect, "D": D})


GROWING = {2: 10, 4: 10, 6: 10}  # early, middle and late cohorts, no never-treated units


def growing_effect(g, t, u):
    return (1.0 + 2.0 * (t - g)) * (1.0 + u)  # grows with exposure, heterogeneous across units


def test_dcdh_theorem_static_coefficient_is_weighted_sum_of_effects():
    df = simulate(GROWING, T=7, te=growing_effect)
    r = twfe(df, "y", "year", "id", "g")
    nw = r.negative_weights
    w = nw.weights.merge(df[["id", "year", "te"]], on=["id", "year"], how="left", validate="1:1")
    assert len(w) == int(df["D"].sum()) == nw.n_treated
    beta = float(r.params["D"])
    assert abs(beta - float((w["weight"] * w["te"]).sum())) < 1e-10
    assert abs(nw.beta - beta) < 1e-10
    assert abs(w["weight"].sum() - 1.0) < 1e-12
    # growing effects, early and late cohorts, no never-treated: late periods of early cohorts get w < 0
    assert nw.n_negative > 0 and nw.sum_negative < 0
    assert nw.n_negative == int((w["weight"] < 0).sum())
    assert nw.share_negative == pytest.approx(nw.n_negative / nw.n_treated, abs=0)
    assert abs(nw.sum_negative + nw.sum_positive - 1.0) < 1e-12
    # the TWFE coefficient is not the ATT here: it puts negative weight on the largest effects
    assert beta < df.loc[df["D"] > 0, "te"].mean() - 1.0
    # cells: sums of the observation weights, counts of treated observations
    cells = w.groupby(["g", "year"])["weight"].agg(["sum", "size"]).reset_index()
    assert np.array_equal(nw.cells[["g", "t"]].to_numpy(), cells[["g", "year"]].to_numpy())
    assert np.allclose(nw.cells["weight"], cells["sum"], atol=1e-14, rtol=0)
    assert np.array_equal(nw.cells["n_obs"], cells["size"])
    assert (nw.cells["weight"] < 0).any()
    assert "negative weight" in r.summary() and "sigma_fe" in r.summary()


def test_weights_match_closed_form_of_balanced_panel():
    """Balanced panel: eps_gt = D_gt - mean_t D_g - mean_g D_t + mean D (dCDH 2020, section III)."""
    df = simulate({0: 3, 2: 4, 4: 5, 6: 2}, T=7, te=growing_effect)
    Dm = df.pivot(index="id", columns="year", values="D").to_numpy()
    eps = Dm - Dm.mean(1, keepdims=True) - Dm.mean(0, keepdims=True) + Dm.mean()
    omega = np.where(Dm > 0, eps, 0) / eps[Dm > 0].sum()
    nw = negative_weights(df, "y", "year", "id", "g")
    got = nw.weights.pivot(index="id", columns="year", values="weight").reindex(
        index=range(Dm.shape[0]), columns=range(1, 8)).fillna(0).to_numpy()
    assert np.allclose(got, omega, atol=1e-13, rtol=0)


def test_sigma_fe_is_the_smallest_effect_sd_compatible_with_zero_att():
    """dCDH Corollary 1: with TE = beta (w - 1) / sd_w^2 (w the weights normalised to mean one) the TWFE
    coefficient is unchanged, the ATT is zero and the SD of the effects is sigma_fe."""
    df = simulate(GROWING, T=7, te=growing_effect)
    nw = negative_weights(df, "y", "year", "id", "g")
    wn = nw.weights["weight"].to_numpy() * nw.n_treated
    assert nw.sd_w == pytest.approx(float(np.std(wn)), rel=1e-12)
    assert nw.sigma_fe == pytest.approx(abs(nw.beta) / float(np.std(wn)), rel=1e-12)
    te_star = nw.beta * (wn - 1.0) / nw.sd_w**2
    assert abs(te_star.mean()) < 1e-10
    assert float(np.std(te_star)) == pytest.approx(nw.sigma_fe, rel=1e-10)
    star = nw.weights[["id", "year"]].assign(te_star=te_star)
    d2 = df.merge(star, on=["id", "year"], how="left").fillna({"te_star": 0.0})
    d2["y"] = d2["y"] - d2["te"] + d2["te_star"]
    assert abs(float(twfe(d2, "y", "year", "id", "g").params["D"]) - nw.beta) < 1e-10


def test_twoway_residual_matches_dummy_ols_on_unbalanced_weighted_panel():
    df = simulate({0: 6, 3: 6, 5: 6}, T=6, te=growing_effect, seed=3)
    rng = np.random.default_rng(4)
    df = df[rng.uniform(size=len(df)) > 0.25].reset_index(drop=True)
    w = 1.0 + rng.uniform(size=df["id"].max() + 1)[df["id"]]
    X = pd.get_dummies(df[["id", "year"]].astype(str), drop_first=True, dtype=float)
    X.insert(0, "const", 1.0)
    ref = sm.WLS(df["D"], X, weights=w).fit().resid.to_numpy()
    got = twoway_residual(df["D"].to_numpy(), df["id"].to_numpy(), df["year"].to_numpy(), w)
    assert np.allclose(got, ref, atol=1e-10, rtol=0)


def test_constant_effect_with_noise_recovered_within_four_se():
    df = simulate({0: 40, 3: 40, 5: 40}, T=6, te=lambda g, t, u: np.full(len(g), 2.0), noise=1.0, seed=11)
    r = twfe(df, "y", "year", "id", "g")
    assert abs(float(r.params["D"]) - 2.0) < 4 * float(r.std_errors["D"])
    assert r.nobs == len(df) and r.n_units == 120
    tidy = r.tidy()
    assert list(tidy["term"]) == ["D"] and tidy.loc[0, "n_obs"] == int(df["D"].sum())
    ci = r.conf_int()
    assert ci.loc["D", "lower"] < r.params["D"] < ci.loc["D", "upper"]


def test_event_study_noise_free_constant_effect_and_bins():
    df = simulate({0: 5, 3: 4, 5: 4, 7: 4}, T=8, te=lambda g, t, u: np.full(len(g), 1.5))
    r = twfe(df, "y", "year", "id", "g", event_study=True, leads=3, lags=2)
    assert list(r.params.index) == ["e<=-3", "e=-2", "e=0", "e=1", "e>=2"]
    e = r.event_time()
    assert np.allclose(r.params[e >= 0], 1.5, atol=1e-8, rtol=0)
    assert np.allclose(r.params[e < 0], 0.0, atol=1e-8)
    # counts of treated observations per (binned) relative time
    tr = df[df["g"] > 0]
    rel = (tr["year"] - tr["g"]).clip(-3, 2)
    assert r.term_obs == {name: int((rel == k).sum()) for k, name in zip([-3, -2, 0, 1, 2], r.params.index, strict=True)}
    assert r.negative_weights is None
    import matplotlib.pyplot as plt

    fig = r.plot()
    xs = sorted(float(x) for x in fig.axes[0].get_xticks())
    assert xs == [-3, -2, -1, 0, 1, 2]  # the reference period is drawn at e = -1
    plt.close(fig)
    with pytest.raises(DiDError, match="event_study=True"):
        twfe(df, "y", "year", "id", "g").plot()


def test_event_study_recovers_dynamic_effects_without_binning():
    """Effects that depend on exposure only, every relative time its own indicator: exact recovery."""
    df = simulate({0: 5, 3: 4, 5: 4, 7: 4}, T=8, te=lambda g, t, u: 1.0 + (t - g) ** 2)
    r = twfe(df, "y", "year", "id", "g", event_study=True, leads=7, lags=6)
    e = r.event_time()
    assert (e.min(), e.max()) == (-6, 5)  # relative times -6..5 occur; bins past them are dropped
    expect = np.where(e >= 0, 1.0 + e**2, 0.0)
    assert np.allclose(r.params.to_numpy(), expect, atol=1e-8, rtol=0)
    assert any("e<=-7 dropped" in n for n in r.notes) and any("e>=6 dropped" in n for n in r.notes)


@pytest.mark.parametrize("weighted", [False, True])
def test_static_matches_statsmodels_dummy_ols_with_cluster_se(weighted):
    """linearmodels with debiased=True, group_debias=True and both effects counted scales the cluster
    covariance by G/(G-1) (n-1)/(n-K), K = all coefficients incl. dummies: statsmodels' 'cluster'."""
    df = simulate({0: 15, 3: 15, 5: 15}, T=6, te=growing_effect, noise=1.0, seed=5)
    rng = np.random.default_rng(6)
    df = df[rng.uniform(size=len(df)) > 0.15].reset_index(drop=True)  # unbalanced
    df["wt"] = 0.5 + rng.uniform(size=df["id"].max() + 1)[df["id"]]
    r = twfe(df, "y", "year", "id", "g", weightsname="wt" if weighted else None)
    X = pd.get_dummies(df[["id", "year"]].astype(str), drop_first=True, dtype=float)
    X.insert(0, "D", df["D"])
    X.insert(0, "const", 1.0)
    mod = sm.WLS(df["y"], X, weights=df["wt"]) if weighted else sm.OLS(df["y"], X)
    ref = mod.fit(cov_type="cluster", cov_kwds={"groups": df["id"].to_numpy()})
    assert abs(float(r.params["D"]) - ref.params["D"]) < 1e-10
    assert float(r.std_errors["D"]) == pytest.approx(ref.bse["D"], rel=1e-9)
    assert r.nobs == len(df) and r.n_clusters == df["id"].nunique()
    # the dCDH decomposition uses the same weighted sample
    assert abs(r.negative_weights.beta - float(r.params["D"])) < 1e-10


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("event_study", [False, True])
def test_equals_linearmodels_panelols(weighted, event_study):
    """twfe computes by Frisch-Waugh-Lovell what linearmodels' PanelOLS with both effects and clustered,
    debiased, group-debiased covariance gives: coefficients, standard errors and covariance, on an
    unbalanced panel with and without weights."""
    from linearmodels import PanelOLS

    df = simulate({0: 25, 3: 20, 5: 20, 7: 15}, T=8, te=growing_effect, noise=1.0, seed=11)
    rng = np.random.default_rng(12)
    df = df[rng.uniform(size=len(df)) > 0.2].reset_index(drop=True)
    df["wt"] = 0.5 + rng.uniform(size=df["id"].max() + 1)[df["id"]]
    r = twfe(df, "y", "year", "id", "g", event_study=event_study, leads=3, lags=3,
             weightsname="wt" if weighted else None)
    if event_study:
        ebin = np.clip(df["year"] - df["g"], -3, 3)
        X = pd.DataFrame({name: ((df["g"] > 0) & (ebin == k)).astype(float) for k, name in
                          [(-3, "e<=-3"), (-2, "e=-2"), (0, "e=0"), (1, "e=1"), (2, "e=2"), (3, "e>=3")]})
    else:
        X = df[["D"]]
    idx = pd.MultiIndex.from_arrays([df["id"], df["year"]])
    ref = PanelOLS(df["y"].set_axis(idx), X.set_axis(idx), weights=df["wt"].set_axis(idx) if weighted else None,
                   entity_effects=True, time_effects=True).fit(cov_type="clustered", cluster_entity=True,
                                                                debiased=True, group_debias=True)
    assert list(r.params.index) == list(ref.params.index)
    np.testing.assert_allclose(r.params, ref.params, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(r.std_errors, ref.std_errors, rtol=1e-9)
    np.testing.assert_allclose(r.cov, ref.cov, rtol=1e-8, atol=1e-14)


@pytest.mark.parametrize("event_study", [False, True])
def test_covariates_by_formula_equal_linearmodels_panelols_exog(event_study):
    """``xformla``: time-varying covariates (a square and an interaction through formulaic) beside the effects
    give PanelOLS's numbers with those columns as exogenous variables; a covariate constant within units is
    an error naming the absorbed term."""
    from linearmodels import PanelOLS

    df = simulate({0: 25, 3: 20, 5: 20, 7: 15}, T=8, te=growing_effect, noise=1.0, seed=21)
    rng = np.random.default_rng(22)
    df["x"] = rng.normal(size=len(df)) + 0.1 * df["year"]
    df["z"] = rng.normal(size=len(df))
    df["y"] = df["y"] + 0.8 * df["x"] - 0.3 * df["x"] ** 2 + 0.5 * df["x"] * df["z"]
    r = twfe(df, "y", "year", "id", "g", event_study=event_study, leads=3, lags=3, xformla="~ x + I(x^2) + x:z")
    if event_study:
        ebin = np.clip(df["year"] - df["g"], -3, 3)
        X = pd.DataFrame({name: ((df["g"] > 0) & (ebin == k)).astype(float) for k, name in
                          [(-3, "e<=-3"), (-2, "e=-2"), (0, "e=0"), (1, "e=1"), (2, "e=2"), (3, "e>=3")]})
    else:
        X = df[["D"]].copy()
    X["x"], X["I(x ** 2)"], X["x:z"] = df["x"], df["x"] ** 2, df["x"] * df["z"]  # formulaic's names
    idx = pd.MultiIndex.from_arrays([df["id"], df["year"]])
    ref = PanelOLS(df["y"].set_axis(idx), X.set_axis(idx), entity_effects=True, time_effects=True).fit(
        cov_type="clustered", cluster_entity=True, debiased=True, group_debias=True)
    assert list(r.params.index) == list(ref.params.index)
    np.testing.assert_allclose(r.params, ref.params, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(r.std_errors, ref.std_errors, rtol=1e-9)
    assert r.negative_weights is None and "x:z" in r.summary()
    df["u"] = df["id"] % 3  # constant within each unit
    with pytest.raises(DiDError, match=r"\['u'\] absorbed .*a covariate constant within units"):
        twfe(df, "y", "year", "id", "g", xformla="~ x + u")


def test_fixed_effect_residuals_shared_across_outcomes_change_nothing():
    """fe_wls keeps the regressors' fixed-effect residuals for the next outcome with the same rows, effects
    and weights: the second outcome's estimates must be exactly those of a cold start, and other weights
    must not pick up the first ones' residuals."""
    from analysis.did import cache_info, clear_caches

    df = simulate({0: 25, 3: 20, 5: 20}, T=7, te=growing_effect, noise=1.0, seed=21)
    df["y2"] = df["y"] * 0.3 + np.cos(df["id"] * df["year"])
    df["wt"] = 1.0 + (df["id"] % 4)
    for weights in (None, "wt"):
        clear_caches()
        twfe(df, "y", "year", "id", "g", event_study=True, weightsname=weights)
        assert cache_info()["twfe_residuals"]["items"] and cache_info()["twfe_residuals"]["bytes"] > 0
        warm = twfe(df, "y2", "year", "id", "g", event_study=True, weightsname=weights)
        clear_caches()
        cold = twfe(df, "y2", "year", "id", "g", event_study=True, weightsname=weights)
        np.testing.assert_array_equal(warm.coef, cold.coef)
        np.testing.assert_array_equal(warm.V, cold.V)
    unweighted = twfe(df, "y2", "year", "id", "g", event_study=True)  # the weighted residuals are cached
    clear_caches()
    np.testing.assert_array_equal(unweighted.coef, twfe(df, "y2", "year", "id", "g", event_study=True).coef)
    assert not np.array_equal(unweighted.coef, cold.coef)


def test_absorbed_term_is_named():
    """Without never-treated units the first and last relative times are collinear with the effects: the
    error names the terms, as PanelOLS's AbsorbingEffectError did."""
    df = simulate({3: 10, 5: 10}, T=6, te=lambda g, t, u: np.ones(len(g)), noise=0.5, seed=3)
    df = df[df["g"] == 3]  # one cohort: every relative time is a period
    with pytest.raises(DiDError, match=r"absorbed by the fixed effects.*unit and period effects"):
        twfe(df, "y", "year", "id", "g", event_study=True, leads=2, lags=1)


def test_duplicate_unit_period_rows_raise():
    df = simulate({0: 3, 3: 3}, T=4, te=growing_effect)
    bad = pd.concat([df, df.iloc[[5]]], ignore_index=True)
    with pytest.raises(DiDError, match=r"\('id', 'year'\)|\(id, year\)") as ei:
        twfe(bad, "y", "year", "id", "g")
    assert f"id=[{int(df.loc[5, 'id'])}]" in str(ei.value)


def test_switching_gname_raises_naming_column_and_units():
    df = simulate({0: 3, 3: 3}, T=4, te=growing_effect)
    df.loc[(df["id"] == 4) & (df["year"] == 4), "g"] = 2
    for f in (twfe, negative_weights):
        with pytest.raises(DiDError, match=r"column 'g' varies within unit.*id=\[4\]"):
            f(df, "y", "year", "id", "g")


def test_missing_outcome_rows_are_dropped_and_reported():
    df = simulate({0: 4, 3: 4, 5: 4}, T=6, te=growing_effect, noise=1.0, seed=8)
    df.loc[[1, 7, 20, 33], "y"] = np.nan
    with pytest.warns(UserWarning, match="dropped 4 rows"):
        r = twfe(df, "y", "year", "id", "g")
    assert r.exclusions == {"rows with missing y": 4}
    assert r.nobs == len(df) - 4
    assert "rows with missing y: 4" in r.summary()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nw = negative_weights(df, "y", "year", "id", "g")
    assert nw.exclusions == {"rows with missing y": 4}
    assert abs(nw.beta - float(r.params["D"])) < 1e-10


def test_small_integer_dtypes_are_cast():
    df = simulate({0: 4, 3: 4, 5: 4}, T=6, te=growing_effect, noise=1.0, seed=9)
    small = df.astype({"id": np.int8, "year": np.int8, "g": np.int8})
    a = twfe(df, "y", "year", "id", "g", event_study=True, leads=2, lags=2)
    b = twfe(small, "y", "year", "id", "g", event_study=True, leads=2, lags=2)
    assert np.array_equal(a.params.to_numpy(), b.params.to_numpy())
    with pytest.raises(DiDError, match="leads"):
        twfe(df, "y", "year", "id", "g", event_study=True, leads=1)
