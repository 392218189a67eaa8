"""The ratio-scale DiD (``poisson_etwfe``) against an independent computation: Wooldridge's (2023) pooled
Poisson regression with a dummy for every treated (cohort, year) cell and its interactions with the
cohort-centred covariates, fitted by statsmodels' GLM, its ATT by the delta method; and on a noiseless
multiplicative panel with a known answer."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from analysis.did.drdid import DiDError
from analysis.did.etwfe import poisson_etwfe

YEARS = np.arange(2017, 2023)


def _panel(seed=1, n=600, effect=0.8, noise=True, pre_trend=0.0):
    rng = np.random.default_rng(seed)
    g = rng.choice([0, 2019, 2021], n, p=[0.5, 0.25, 0.25])
    x1 = rng.integers(0, 2, n)
    x2 = rng.integers(1, 5, n)
    i, t = np.repeat(np.arange(n), len(YEARS)), np.tile(YEARS, n)
    gi, x1i, x2i = g[i], x1[i], x2[i]
    eta = (1 + 0.3 * (gi == 2019) - 0.2 * (gi == 2021) + 0.1 * (t - 2017) + 0.4 * x1i + 0.02 * x2i * (t - 2017)
           + pre_trend * (gi == 2021) * (t - 2017))
    mu = np.exp(eta) * np.where((gi > 0) & (t >= gi), effect, 1.0)
    y = rng.poisson(mu) if noise else mu
    return pd.DataFrame({"id": i, "year": t, "g": gi, "x1": x1i, "x2": x2i, "y": y.astype(float)})


def _pooled(df, pre_dummies=False):
    """Wooldridge's pooled model: cohort, year, covariates, covariates x year, and for every treated cell a
    dummy and its interactions with the covariates centred within the cell; optionally each cohort's
    pre-enrolment years but the last as dummies. Returns the design, its cell columns and the GLM fit."""
    cols = {"const": np.ones(len(df))}
    for c in (2019, 2021):
        cols[f"g{c}"] = (df.g == c).to_numpy(float)
    xs = {v: ((df[v] - df[v].mean()) / df[v].std(ddof=0)).to_numpy() for v in ("x1", "x2")}
    for t in YEARS[1:]:
        cols[f"t{t}"] = (df.year == t).to_numpy(float)
    for v, xv in xs.items():
        cols[v] = xv
        for t in YEARS[1:]:
            cols[f"{v}:t{t}"] = xv * (df.year == t).to_numpy()
    if pre_dummies:
        for c in (2019, 2021):
            for t in YEARS[YEARS < c - 1]:
                cols[f"pre{c}:{t}"] = ((df.g == c) & (df.year == t)).to_numpy(float)
    post = ((df.g > 0) & (df.year >= df.g)).to_numpy()
    base = list(cols)
    for c, t in sorted(set(zip(df.g[post], df.year[post], strict=True))):
        inc = ((df.g == c) & (df.year == t)).to_numpy()
        cols[f"cell{c}:{t}"] = inc.astype(float)
        for v, xv in xs.items():
            cols[f"cell{c}:{t}:{v}"] = inc * (xv - xv[inc].mean())
    X = pd.DataFrame(cols)
    fit = sm.GLM(df.y, X, family=sm.families.Poisson()).fit(
        cov_type="cluster", cov_kwds={"groups": df.id, "use_correction": False}, tol=1e-14)
    return X, base, post, fit


def test_matches_pooled_poisson_with_cell_dummies():
    df = _panel()
    res = poisson_etwfe(df, "y", "year", "id", "g", ["x1", "x2"])
    X, base, post, fit = _pooled(df)
    b = fit.params.to_numpy()
    Xp, k = X.to_numpy()[post], len(base)

    def effects(beta):
        m1, m0 = np.exp(Xp @ beta), np.exp(Xp[:, :k] @ beta[:k])
        return np.array([np.mean(m1 - m0), np.mean(m1) / np.mean(m0) - 1])

    est = effects(b)
    np.testing.assert_allclose(res.params.to_numpy(), est, rtol=1e-7)
    # the delta method conditional on the covariates, plus the sampling of the participants' observations
    # (R did's unconditional influence functions): per person
    eps = 1e-6
    grad = np.array([(effects(b + eps * e) - effects(b - eps * e)) / (2 * eps) for e in np.eye(len(b))])
    mu = fit.mu
    scores = pd.DataFrame(X.to_numpy() * (df.y.to_numpy() - mu)[:, None]).groupby(df.id.to_numpy()).sum()
    h_inv = np.linalg.inv((X.to_numpy() * mu[:, None]).T @ X.to_numpy())
    cond = scores.to_numpy() @ h_inv @ grad  # persons x (ATT, ATT%)
    m1, m0 = np.exp(Xp @ b), np.exp(Xp[:, :k] @ b[:k])
    n_t = post.sum()
    ids = df.id.to_numpy()[post]
    comp_att = pd.Series(m1 - m0 - est[0]).groupby(ids).sum() / n_t
    comp_rel = pd.Series(m1 / m0.mean() - m1.mean() * m0 / m0.mean() ** 2).groupby(ids).sum() / n_t
    extra = np.column_stack([comp_att.reindex(scores.index, fill_value=0.0),
                             comp_rel.reindex(scores.index, fill_value=0.0)])
    se = np.sqrt(((cond + extra) ** 2).sum(axis=0))
    np.testing.assert_allclose(res.std_errors.to_numpy(), se, rtol=1e-5)
    # and the conditional part alone is statsmodels' own delta method
    np.testing.assert_allclose(np.sqrt((cond**2).sum(axis=0)), np.sqrt(np.diag(grad.T @ fit.cov_params() @ grad)),
                               rtol=1e-5)


def test_formula_terms_are_their_columns_computed_by_hand():
    """Covariates as R terms (the plan's ``poly(birth_year, 3)``): ``I(x2^2)`` and ``C(x2)`` give the numbers of
    the same columns built by hand (the model is invariant to their centring and scaling)."""
    df = _panel(seed=4)
    by_term = poisson_etwfe(df, "y", "year", "id", "g", ["x1", "I(x2^2)"])
    by_hand = poisson_etwfe(df.assign(x2sq=df.x2**2), "y", "year", "id", "g", ["x1", "x2sq"])
    np.testing.assert_allclose(by_term.params, by_hand.params, rtol=1e-9)
    np.testing.assert_allclose(by_term.std_errors, by_hand.std_errors, rtol=1e-9)
    levels = df.assign(**{f"x2_{v}": (df.x2 == v).astype(float) for v in (2, 3, 4)})
    by_hand = poisson_etwfe(levels, "y", "year", "id", "g", ["x1", "x2_2", "x2_3", "x2_4"])
    np.testing.assert_allclose(poisson_etwfe(df, "y", "year", "id", "g", ["x1", "C(x2)"]).params, by_hand.params,
                               rtol=1e-9)
    with pytest.raises(DiDError, match=r"term 'poly\(shoe, 3\)' uses 'shoe'|no column\(s\) \['shoe'\]"):
        poisson_etwfe(df, "y", "year", "id", "g", ["x1", "poly(shoe, 3)"])


def test_pretest_is_the_pooled_models_wald_test():
    df = _panel(seed=3, pre_trend=0.03)
    res = poisson_etwfe(df, "y", "year", "id", "g", ["x1", "x2"])
    X, _, _, fit = _pooled(df, pre_dummies=True)
    pre = [c for c in X.columns if c.startswith("pre")]
    b, V = fit.params[pre].to_numpy(), fit.cov_params().loc[pre, pre].to_numpy()
    stat = float(b @ np.linalg.solve(V, b))
    assert res.pretest_df == len(pre) == 4  # 2021: 2017-2019 (2020 left out); 2019: 2017 (2018 left out)
    np.testing.assert_allclose(res.pretest_stat, stat, rtol=1e-5)
    np.testing.assert_allclose(res.pretest_p, stats.chi2.sf(stat, len(pre)), rtol=1e-5)
    assert res.pretest_p < 0.01  # the planted pre-trend of the 2021 cohort is seen


def test_noiseless_multiplicative_panel_known_answer():
    df = _panel(noise=False, effect=0.8)
    res = poisson_etwfe(df, "y", "year", "id", "g", ["x1", "x2"])
    post = (df.g > 0) & (df.year >= df.g)
    y0 = df.y[post] / 0.8
    assert res.params["ATT%"] == pytest.approx(-0.2, abs=1e-9)
    assert res.params["ATT"] == pytest.approx(float((df.y[post] - y0).mean()), rel=1e-9)
    assert res.counterfactual_mean == pytest.approx(float(y0.mean()), rel=1e-9)
    np.testing.assert_allclose(res.cells.att.to_numpy(),
                               (df.y[post] - y0).groupby([df.g[post], df.year[post]]).mean().to_numpy(), rtol=1e-9)


def test_bad_input_and_exclusions():
    df = _panel(n=200)
    df.loc[[5, 17], "y"] = np.nan
    res = poisson_etwfe(df, "y", "year", "id", "g", ["x1"])
    assert res.exclusions == {"rows with missing y": 2}
    assert res.nobs == len(df) - 2
    df.loc[3, "y"] = -1.0
    with pytest.raises(DiDError, match=r"panel\.y: 1 row\(s\) negative or infinite .*id \[0\]"):
        poisson_etwfe(df, "y", "year", "id", "g")
    with pytest.raises(DiDError, match=r"no column\(s\) \['shoe_size'\]"):
        poisson_etwfe(df, "y", "year", "id", "g", ["shoe_size"])
