"""Hernan and Robins, Causal Inference: What If, Program 12.2 reproduced by ``weightit()`` with the book's
propensity formula written as R writes it: the propensity model's coefficients, the nonstabilised IP
weights and the marginal structural model's estimate, 3.4 kg (95% CI 2.4 to 4.5). The reference numbers,
and where each comes from, are in tests/data/whatif_program_12_2.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import causaldata
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.stats import norm

from analysis.matching import weightit

REF = json.loads((Path(__file__).parent / "data" / "whatif_program_12_2.json").read_text())

# Program 12.2's model; the book's as.factor(x) is C(x), its sex and race enter as 0/1 numbers
FORMULA = (
    "qsmk ~ sex + race + age + I(age^2) + C(education) + smokeintensity + I(smokeintensity^2)"
    " + smokeyrs + I(smokeyrs^2) + C(exercise) + C(active) + wt71 + I(wt71^2)"
)


@pytest.fixture(scope="module")
def nhefs() -> pd.DataFrame:
    d = causaldata.nhefs.load_pandas().data
    assert len(d) == REF["n_all"]
    d = d[d.wt82.notna()].copy()  # the book's restriction: the 63 people whose 1982 weight is unknown
    assert len(d) == REF["n_uncensored"]
    return d.assign(sex=d.sex.astype(int), race=d.race.astype(int))


@pytest.fixture(scope="module")
def fit(nhefs):
    return weightit(FORMULA, nhefs, estimand="ATE")


def _our_name(r_name: str) -> str:
    """R's coefficient name as the package names the same design column."""
    if r_name == "(Intercept)":
        return "const"
    return re.sub(r"as\.factor\((\w+)\)", r"\1", r_name).replace("^", " ** ")


def test_propensity_model_is_the_books_glm(fit):
    ref = pd.Series(REF["r_output"]["glm_coefficients"])
    ours = fit.model.params
    assert len(ours) == len(ref)
    got = ours.loc[[_our_name(k) for k in ref.index]].to_numpy()
    # printed to 7 decimals: equal to half the last digit
    np.testing.assert_allclose(got, ref.to_numpy(), rtol=0, atol=5.1e-8)


def test_nonstabilised_ip_weights_are_the_books(fit):
    w = fit.weights
    s = REF["r_output"]["w_summary"]
    got = [w.min(), w.quantile(0.25), w.median(), w.mean(), w.quantile(0.75), w.max()]
    np.testing.assert_allclose(got, [s[k] for k in ("min", "q1", "median", "mean", "q3", "max")], atol=5.1e-4)
    assert w.std(ddof=1) == pytest.approx(REF["r_output"]["w_sd"], abs=5.1e-7)
    book = REF["book"]
    assert (round(w.min(), 2), round(w.max(), 1), round(w.mean(), 2)) == (
        book["w_min"], book["w_max"], book["w_mean"])


def test_marginal_structural_model_gives_3_4_kg(nhefs, fit):
    """The book's geeglm(wt82_71 ~ qsmk, weights = w, id = seqn, corstr = "independence"): one person per
    cluster, so its robust variance is weighted least squares' HC0 sandwich; the interval is normal."""
    X = sm.add_constant(nhefs[["qsmk"]].astype(float))
    msm = sm.WLS(nhefs.wt82_71, X, weights=fit.weights).fit(cov_type="HC0")
    est, se = msm.params["qsmk"], msm.bse["qsmk"]
    lo, hi = est - norm.ppf(0.975) * se, est + norm.ppf(0.975) * se
    r = REF["r_output"]["msm"]
    assert (msm.params["const"], msm.bse["const"]) == pytest.approx(
        (r["intercept"], r["intercept_se"]), abs=5.1e-5)
    assert (est, se) == pytest.approx((r["qsmk"], r["qsmk_se"]), abs=5.1e-5)
    assert lo == pytest.approx(r["qsmk_lcl"], abs=5.1e-4)
    assert hi == pytest.approx(r["qsmk_ucl"], abs=5.1e-3)
    book = REF["book"]
    assert (round(est, 1), round(lo, 1), round(hi, 1)) == (book["estimate"], *book["ci"])
