"""Balance statistics as MatchIt's ``summary()`` (and cobalt) define them, for the ATT.

Std. Mean Diff.: weighted mean difference over the standard deviation of the treated group in the
unmatched sample (sample SD for continuous variables, sqrt(p(1 - p)) for binary ones). Var. Ratio:
weighted variance of treated over control (``cov.wt`` formula), continuous variables only. eCDF Mean and
eCDF Max: mean and maximum absolute difference of the weighted empirical CDFs over the covariate's values
in the whole sample;
for binary variables both equal the difference in proportions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ["Means Treated", "Means Control", "Std. Mean Diff.", "Var. Ratio", "eCDF Mean", "eCDF Max"]


def is_binary(x: np.ndarray) -> bool:
    return bool(np.isin(np.unique(x), [0.0, 1.0]).all())


def weighted_var(x: np.ndarray, w: np.ndarray) -> float:
    """Unbiased weighted variance (R's ``cov.wt``): sum(w~ (x - m)^2) / (1 - sum(w~^2)), w~ = w / sum(w)."""
    wn = w / w.sum()
    m = np.sum(wn * x)
    denom = 1 - np.sum(wn**2)
    return float(np.sum(wn * (x - m) ** 2) / denom) if denom > 0 else float("nan")


def _ecdf_diffs(x: np.ndarray, t: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    vals, inv = np.unique(x, return_inverse=True)
    wt = np.bincount(inv[t], weights=w[t], minlength=len(vals))
    wc = np.bincount(inv[~t], weights=w[~t], minlength=len(vals))
    diff = np.abs(np.cumsum(wt) / wt.sum() - np.cumsum(wc) / wc.sum())
    return float(diff.mean()), float(diff.max())


def balance_table(
    X: pd.DataFrame, treat: np.ndarray, weights: np.ndarray | None, sd_treated: pd.Series
) -> pd.DataFrame:
    """One row per column of X; ``weights`` None = unweighted. Units with weight 0 add nothing to means,
    variances or eCDFs, but (as in MatchIt) the eCDF differences are averaged over the values of all units."""
    t = np.asarray(treat, dtype=bool)
    w = np.ones(len(t)) if weights is None else np.asarray(weights, dtype=float)
    rows = {}
    for col in X.columns:
        x = X[col].to_numpy(float)
        mt = np.average(x[t], weights=w[t])
        mc = np.average(x[~t], weights=w[~t])
        binary = is_binary(X[col].to_numpy(float))
        sd = sd_treated[col]
        smd = (mt - mc) / sd if sd > 0 else float("nan")
        if binary:
            vr = float("nan")
            em = ex = abs(mt - mc)
        else:
            vc = weighted_var(x[~t], w[~t])
            vr = weighted_var(x[t], w[t]) / vc if vc > 0 else float("nan")
            em, ex = _ecdf_diffs(x, t, w)
        rows[col] = [mt, mc, smd, vr, em, ex]
    return pd.DataFrame.from_dict(rows, orient="index", columns=COLUMNS)


def treated_sd(X: pd.DataFrame, treat: np.ndarray) -> pd.Series:
    """The standardisation factor for the ATT, from the unmatched treated group."""
    t = np.asarray(treat, dtype=bool)
    out = {}
    for col in X.columns:
        x = X[col].to_numpy(float)
        if is_binary(x):
            p = x[t].mean()
            out[col] = np.sqrt(p * (1 - p))
        else:
            out[col] = x[t].std(ddof=1)
    return pd.Series(out)


def ess(w: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2."""
    w = np.asarray(w, dtype=float)
    w = w[w > 0]
    return float(w.sum() ** 2 / np.sum(w**2)) if len(w) else 0.0
