"""``weightit()``: propensity-score weights with WeightIt's definitions (method ``"glm"``).

ATT: treated 1, controls p / (1 - p). ATE: treated 1 / p, controls 1 / (1 - p). ATO (overlap weights,
Li, Morgan & Zaslavsky 2018): treated 1 - p, controls p. ``stabilize`` multiplies each unit's weight by the
share of its treatment group (ATE). Nothing is clipped silently: a score of exactly 0 or 1 is an error, and
trimming is the explicit, reported :func:`trim`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from analysis.matching.balance import COLUMNS, balance_table, ess, is_binary
from analysis.matching.propensity import (
    MatchingError,
    PropensityModel,
    covariate_frame,
    fit_propensity,
    parse_formula,
)
from analysis.summary import Summary

ESTIMANDS = ("ATT", "ATE", "ATO")


@dataclass(frozen=True)
class WeightItResult:
    call: str
    estimand: str
    treat: pd.Series
    ps: pd.Series
    weights: pd.Series
    X: pd.DataFrame = field(repr=False)
    model: PropensityModel | None = field(default=None, repr=False)
    trimmed: dict = field(default_factory=dict)

    def ess(self) -> pd.Series:
        t = self.treat.to_numpy()
        w = self.weights.to_numpy()
        return pd.Series({"Control": ess(w[~t]), "Treated": ess(w[t])})

    def summary(self) -> Summary:
        """The weights' ranges and effective sample sizes, and the balance after weighting, printed like R
        (tables ``"Balance"`` and ``"Effective sample sizes"``)."""
        bal = self.bal_tab()
        text = (f"{self}\n\nBalance after weighting:\n"
                + bal.round(4).to_string(na_rep=".", float_format=lambda v: f"{v:.4f}"))
        return Summary(text, {"Balance": bal, "Effective sample sizes": self.ess().to_frame("ESS")})

    def bal_tab(self) -> pd.DataFrame:
        """Balance after weighting (MatchIt/cobalt columns, as cobalt's ``bal.tab``), SD denominator by
        estimand."""
        t = self.treat.to_numpy()
        Xd = pd.concat([self.ps.rename("prop.score").to_frame(), self.X], axis=1)
        sd = {}
        for col in Xd.columns:
            x = Xd[col].to_numpy(float)
            if is_binary(x):
                v = {g: x[m].mean() * (1 - x[m].mean()) for g, m in (("t", t), ("c", ~t))}
            else:
                v = {g: x[m].var(ddof=1) for g, m in (("t", t), ("c", ~t))}
            sd[col] = np.sqrt(v["t"]) if self.estimand == "ATT" else np.sqrt((v["t"] + v["c"]) / 2)
        return balance_table(Xd, t, self.weights.to_numpy(), pd.Series(sd))[COLUMNS]

    def __str__(self) -> str:
        w = self.weights
        t = self.treat
        rng = pd.DataFrame(
            {"Min": [w[~t].min(), w[t].min()], "Max": [w[~t].max(), w[t].max()]}, index=["control", "treated"]
        )
        trim = f"\nTrimmed: {self.trimmed}" if self.trimmed else ""
        return (
            f"A weightit object\n - method: glm (propensity score weighting)\n - estimand: {self.estimand}\n"
            f" - number of obs.: {len(t)}\n\nWeight ranges:\n{rng.round(4)}\n\nEffective sample sizes:\n"
            f"{self.ess().round(2).to_string()}{trim}"
        )


def _weights(p: np.ndarray, t: np.ndarray, estimand: str) -> np.ndarray:
    if estimand == "ATT":
        return np.where(t, 1.0, p / (1 - p))
    if estimand == "ATE":
        return np.where(t, 1 / p, 1 / (1 - p))
    return np.where(t, 1 - p, p)


def weightit(
    formula: str,
    data: pd.DataFrame,
    estimand: str = "ATT",
    method: str = "glm",
    stabilize: bool = False,
    ps: np.ndarray | None = None,
) -> WeightItResult:
    """Propensity-score weights (WeightIt's ``method = "glm"``), or from user-supplied scores ``ps``.

    Parameters
    ----------
    formula : str
        R's formula, ``"treat ~ x1 + I(x1^2) + C(x3)"`` (``analysis.formulas``); the treatment holds 0/1.
    data : pandas.DataFrame
        One row per unit.
    estimand : {"ATT", "ATE", "ATO"}, default "ATT"
        ATT: treated 1, controls p / (1 - p). ATE: treated 1 / p, controls 1 / (1 - p). ATO (overlap
        weights): treated 1 - p, controls p.
    method : {"glm"}, default "glm"
        Logistic-regression propensity score.
    stabilize : bool, default False
        Multiply each unit's weight by the share of its treatment group.
    ps : array_like, optional
        Propensity scores to use instead of fitting the model (each strictly between 0 and 1).

    Returns
    -------
    WeightItResult
        ``weights``, ``ps``, ``ess()``, ``bal_tab()`` (balance after weighting, cobalt's columns) and
        ``summary()``. A score of exactly 0 or 1 is an error (the weight would be infinite); trimming is the
        explicit, reported :func:`trim`.

    References
    ----------
    Greifer, N. WeightIt: Weighting for Covariate Balance in Observational Studies (R package).
    Li, F., Morgan, K. L. and Zaslavsky, A. M. (2018). Balancing Covariates via Propensity Score
    Weighting. JASA 113(521), 390-400.

    Examples
    --------
    Overlap weights balance the means of the propensity model's terms exactly (Li et al. 2018):

    >>> import numpy as np, pandas as pd
    >>> from analysis.matching import weightit
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=500)
    >>> df = pd.DataFrame({"x": x, "treat": (rng.random(500) < 1 / (1 + np.exp(-x))).astype(int)})
    >>> w = weightit("treat ~ x + I(x**2)", df, estimand="ATO")
    >>> abs(round(float(w.bal_tab().loc["x", "Std. Mean Diff."]), 6))
    0.0
    >>> w.ess().round(1).to_dict()
    {'Control': 196.1, 'Treated': 183.8}
    """
    if estimand not in ESTIMANDS:
        raise MatchingError(f"estimand={estimand!r}; allowed: {list(ESTIMANDS)}")
    if method != "glm":
        raise MatchingError(f"method={method!r}; allowed: ['glm']")
    treat_col, rhs = parse_formula(formula)
    t = data[treat_col].to_numpy().astype(bool)
    if t.all() or (~t).all():
        raise MatchingError(f"{treat_col!r} must contain both treated and control units")
    model = None
    if ps is None:
        model = fit_propensity(t, covariate_frame(data, rhs, all_levels=False))
        p = model.score
    else:
        p = np.asarray(ps, dtype=float)
    bad = (p <= 0) | (p >= 1) | np.isnan(p)
    if bad.any():
        raise MatchingError(
            f"{int(bad.sum())} propensity score(s) are 0, 1 or missing (first rows "
            f"{np.flatnonzero(bad)[:5].tolist()}): weights would be infinite; restrict the sample or use ATO"
        )
    w = _weights(p, t, estimand)
    if stabilize:
        w = w * np.where(t, t.mean(), 1 - t.mean())
    return WeightItResult(
        call=f'weightit({formula}, estimand = "{estimand}", method = "glm", stabilize = {stabilize})',
        estimand=estimand,
        treat=pd.Series(t, index=data.index, name=treat_col),
        ps=pd.Series(p, index=data.index, name="ps"),
        weights=pd.Series(w, index=data.index, name="weights"),
        X=covariate_frame(data, rhs, all_levels=True),
        model=model,
    )


def trim(result: WeightItResult, at: float = 0.99) -> WeightItResult:
    """Winsorise the weights at quantile ``at`` (WeightIt's ``trim()``), reporting how many were changed.

    For the ATT only control weights are trimmed (treated weights are 1).

    Parameters
    ----------
    result : WeightItResult
        The weights to trim (``weightit``'s result).
    at : float, default 0.99
        The quantile, in (0.5, 1), above which weights are set to it.

    Returns
    -------
    WeightItResult
        A copy with the trimmed weights and ``trimmed``: the quantile, the cap and how many were changed.

    Examples
    --------
    Strong selection leaves a few controls with large ATT weights; trimming them at the 95th percentile
    doubles the controls' effective sample size (and changes the estimand: the balance must be checked
    again):

    >>> import numpy as np, pandas as pd
    >>> from analysis.matching import trim, weightit
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=500)
    >>> df = pd.DataFrame({"x": x, "treat": (rng.random(500) < 1 / (1 + np.exp(-1.5 * x))).astype(int)})
    >>> w = weightit("treat ~ x", df, estimand="ATT")
    >>> t = trim(w, at=0.95)
    >>> t.trimmed["weights_trimmed"], round(t.trimmed["cap"], 2)
    (14, 3.4)
    >>> w.ess().round(1).to_dict(), t.ess().round(1).to_dict()
    ({'Control': 49.3, 'Treated': 238.0}, {'Control': 97.6, 'Treated': 238.0})
    """
    if not (0.5 < at < 1):
        raise MatchingError(f"trim at={at}: give a quantile in (0.5, 1)")
    w = result.weights.to_numpy().copy()
    t = result.treat.to_numpy()
    scope = ~t if result.estimand == "ATT" else np.ones(len(w), dtype=bool)
    cap = np.quantile(w[scope], at)
    hit = scope & (w > cap)
    w[hit] = cap
    return replace(
        result,
        weights=pd.Series(w, index=result.weights.index, name="weights"),
        trimmed={"quantile": at, "cap": float(cap), "weights_trimmed": int(hit.sum())},
    )


__all__ = ["WeightItResult", "trim", "weightit"]
