"""``stacked_did``'s covariates (``xformla``) and the covariance of all its terms, against dummy-variable
regressions in statsmodels on small constructed stacks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from analysis.causal.sensitivity import event_study_inputs
from analysis.did import DiDError, stacked_did


def _stacks(seed: int = 3, noise: float = 0.5) -> pd.DataFrame:
    """Two sub-experiments (2021, 2022), 12 enrollees and 18 controls each (the controls are the same people
    in both), 2018-2023; a time-varying covariate x that rises after enrolment, y = person + 0.3 year +
    2 x + 0.5 x^2 + 1.5 after enrolment."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in (2021, 2022):
        for i in range(30):
            tr = int(i < 12)
            pid = i + (100 * (s - 2020) if tr else 0)
            for year in range(2018, 2024):
                rows.append((s, pid, year, tr, year - s, 1.0 + (i % 3) * 0.5,
                             rng.normal() + 0.8 * tr * (year >= s)))
    d = pd.DataFrame(rows, columns=["sub_experiment", "study_id", "year", "treated", "event_time", "weights", "x"])
    d["y"] = (0.1 * d.study_id + 0.3 * d.year + 2.0 * d.x + 0.5 * d.x**2
              + 1.5 * d.treated * (d.event_time >= 0) + rng.normal(0, noise, len(d)))
    return d


def test_xformla_recovers_the_effect_with_a_quadratic_covariate():
    """Noise-free: the covariate rises after enrolment, so leaving it out biases the ATT; ``~ x + I(x^2)``
    (R's power) gives 1.5, 2 and 0.5 to machine precision."""
    d = _stacks(noise=0.0)
    assert abs(stacked_did(d, "y").params["ATT"] - 1.5) > 1
    r = stacked_did(d, "y", xformla="~ x + I(x^2)")
    np.testing.assert_allclose(r.params[["ATT", "x", "I(x ** 2)"]], [1.5, 2.0, 0.5], atol=1e-9)
    np.testing.assert_allclose(r.params[[t for t in r.params.index if t.startswith("e=")]],
                               [0, 0, 0, 1.5, 1.5, 1.5], atol=1e-9)
    assert list(r.params.index)[-2:] == ["x", "I(x ** 2)"] and "xformla='~ x + I(x^2)'" in r.call


def _dummy_fit(d: pd.DataFrame, terms: dict[str, np.ndarray]):
    """WLS of y on ``terms`` with sub-experiment x person and sub-experiment x year dummies (full rank)."""
    fe = pd.get_dummies(d.sub_experiment.astype(str) + "_" + d.study_id.astype(str), drop_first=True)
    fy = pd.get_dummies(d.sub_experiment.astype(str) + "_" + d.year.astype(str))
    fy = fy.loc[:, [not c.endswith("_2018") for c in fy.columns]]  # each stack's level is a person effect
    X = pd.concat([pd.DataFrame(terms, index=d.index), fe, fy], axis=1).astype(float)
    return sm.WLS(d.y, sm.add_constant(X), weights=d.weights).fit(), list(terms)


def _cluster_scores(fit, names, cluster) -> np.ndarray:
    """Each cluster's contribution to the named coefficients: (X'WX)^-1 sum over its rows of w x e."""
    score = np.asarray(fit.model.wexog) * np.asarray(fit.wresid)[:, None]
    idx = [fit.model.exog_names.index(k) for k in names]
    by_cluster = pd.DataFrame(score).groupby(cluster).sum().to_numpy()
    return (by_cluster @ np.asarray(fit.normalized_cov_params))[:, idx]


def test_covariance_of_all_terms_equals_the_two_dummy_regressions():
    """``cov`` holds the ATT regression's and the event study's coefficients together: the diagonal blocks
    are statsmodels' cluster covariances (G/(G-1), no (n-1)/(n-K): the dummies are nuisance), the cross
    block the two regressions' cluster scores' covariance (as Stata's ``suest``)."""
    d = _stacks()
    r = stacked_did(d, "y", xformla="~ x")
    tr, e = d.treated.to_numpy(float), d.event_time.to_numpy()
    static, s_names = _dummy_fit(d, {"ATT": tr * (e >= 0), "x": d.x.to_numpy()})
    ev = [k for k in sorted(set(e)) if k != -1]
    dyn, d_names = _dummy_fit(d, {**{f"e={k}": tr * (e == k) for k in ev}, "x": d.x.to_numpy()})
    cluster = d.study_id.to_numpy()
    G = len(np.unique(cluster))
    ps, pd_ = _cluster_scores(static, s_names, cluster), _cluster_scores(dyn, d_names, cluster)
    e_terms = [f"e={k}" for k in ev]
    np.testing.assert_allclose(r.params[s_names], static.params[s_names], rtol=1e-9)
    np.testing.assert_allclose(r.params[e_terms], dyn.params[e_terms], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(r.cov.loc[s_names, s_names], ps.T @ ps * G / (G - 1), rtol=1e-8)
    de = pd_[:, : len(e_terms)]
    np.testing.assert_allclose(r.cov.loc[e_terms, e_terms], de.T @ de * G / (G - 1), rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(r.cov.loc[e_terms, "ATT"], de.T @ ps[:, 0] * G / (G - 1), rtol=1e-8, atol=1e-14)
    no_corr = static.get_robustcov_results("cluster", groups=cluster, use_correction=False)
    np.testing.assert_allclose(r.std_errors[s_names] ** 2, np.diag(no_corr.cov_params())[1:3] * G / (G - 1),
                               rtol=1e-8)
    # each person's contribution (the clusters' scores, persons in sorted order in the dummy regression)
    inf = r.influence.sort_index()
    assert inf.index.tolist() == sorted(np.unique(cluster).tolist())
    np.testing.assert_allclose(inf["ATT"], ps[:, 0] * np.sqrt(G / (G - 1)), rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(r.influence.T @ r.influence, r.cov, rtol=1e-12)
    beta, sigma, n_pre, n_post = event_study_inputs(r)  # the e=k block only, reference left out
    assert (n_pre, n_post) == (3, 3) and sigma.shape == (6, 6)
    np.testing.assert_allclose(sigma, r.cov.loc[e_terms, e_terms].to_numpy())


def test_covariate_errors_name_the_term_and_missing_rows_are_counted():
    d = _stacks()
    with pytest.raises(Exception, match="nonexistent"):
        stacked_did(d, "y", xformla="~ nonexistent")
    with pytest.raises(DiDError, match="absorbed"):
        stacked_did(d.assign(z=d.study_id * 2.0), "y", xformla="~ z")  # constant within each person
    d.loc[d.index[:5], "x"] = np.nan
    r = stacked_did(d, "y", xformla="~ x")
    assert r.exclusions == {"rows with missing x": 5} and r.nobs == len(d) - 5
