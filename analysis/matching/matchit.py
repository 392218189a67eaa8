"""``matchit()``: propensity-score nearest-neighbour matching with MatchIt's arguments and results.

Reference: Ho, Imai, King & Stuart (2011), MatchIt: Nonparametric Preprocessing for Parametric Causal
Inference, J. Stat. Softw. 42(8); semantics of MatchIt >= 4.7 (``method = "nearest"``, ATT).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.formulas import Rhs
from analysis.matching.balance import COLUMNS, balance_table, ess, treated_sd
from analysis.matching.nearest import match_fast, match_with_replacement, sort_units, stable_argsort
from analysis.matching.propensity import (
    MatchingError,
    PropensityModel,
    check_covariates,
    covariate_frame,
    fit_propensity,
    parse_formula,
)
from analysis.summary import Summary

M_ORDERS = ("largest", "smallest", "random", "data")
DISCARDS = ("none", "treated", "control", "both")


_BALANCE = ("Summary of Balance for All Data", "Summary of Balance for Matched Data", "Percent Balance Improvement",
            "Sample Sizes")


class MatchItSummary(Summary):
    """Balance before and after matching, percent improvement and sample sizes, printed like R's
    ``summary.matchit`` (``sum_all``, ``sum_matched``, ``improvement``, ``nn`` as MatchIt names them)."""

    @classmethod
    def build(cls, call: str, sum_all: pd.DataFrame, sum_matched: pd.DataFrame, improvement: pd.DataFrame | None,
              nn: pd.DataFrame) -> MatchItSummary:
        def fmt(df: pd.DataFrame, digits: int = 4) -> str:
            return df.round(digits).to_string(na_rep=".", float_format=lambda v: f"{v:.{digits}f}")

        tables = dict(zip(_BALANCE, (sum_all, sum_matched, improvement, nn), strict=True))
        lines = ["", "Call:", call]
        for title, df in tables.items():
            if df is not None:
                body = (df.to_string(float_format=lambda v: f"{v:g}") if df is nn
                        else fmt(df, 1 if df is improvement else 4))
                lines += ["", f"{title}:", body]
        return cls("\n".join([*lines, ""]), {k: v for k, v in tables.items() if v is not None})

    @property
    def sum_all(self) -> pd.DataFrame:
        return self.tables[_BALANCE[0]]

    @property
    def sum_matched(self) -> pd.DataFrame:
        return self.tables[_BALANCE[1]]

    @property
    def improvement(self) -> pd.DataFrame | None:
        """None where the summary was asked for without it (``improvement=False``)."""
        return self.tables.get(_BALANCE[2])

    @property
    def nn(self) -> pd.DataFrame:
        return self.tables[_BALANCE[3]]

    def max_abs_smd(self, matched: bool = True) -> float:
        df = self.sum_matched if matched else self.sum_all
        return float(df["Std. Mean Diff."].drop(index="distance", errors="ignore").abs().max())


@dataclass(frozen=True)
class MatchItResult:
    """What ``matchit()`` returns: the match matrix, weights and subclasses as MatchIt computes them."""

    call: str
    treat: pd.Series
    distance: pd.Series
    discarded: pd.Series
    match_matrix: pd.DataFrame
    weights: pd.Series
    subclass: pd.Series
    unmatched: pd.DataFrame
    caliper: float | None
    rhs: Rhs = field(repr=False)
    data: pd.DataFrame = field(repr=False)
    model: PropensityModel | None = field(default=None, repr=False)
    info: dict = field(default_factory=dict)

    def matched_data(self) -> pd.DataFrame:
        """The matched units with ``distance``, ``weights`` and ``subclass`` columns (MatchIt's match_data)."""
        keep = self.weights > 0
        out = self.data.loc[keep].copy()
        out["distance"] = self.distance[keep]
        out["weights"] = self.weights[keep]
        out["subclass"] = self.subclass[keep]
        return out

    def summary(self, improvement: bool = True) -> MatchItSummary:
        """Balance before and after matching (computed once per result; ``improvement=False`` leaves out
        the percent-improvement table)."""
        full = self._summary
        return full if improvement else MatchItSummary.build(self.call, full.sum_all, full.sum_matched, None, full.nn)

    @functools.cached_property
    def X(self) -> pd.DataFrame:
        """The balance tables' covariates: every model term, each categorical with all its levels, named as
        R's ``model.matrix`` (built on first use: matching needs only the distance)."""
        return covariate_frame(self.data, self.rhs, all_levels=True)

    @functools.cached_property
    def _summary(self) -> MatchItSummary:
        Xd = pd.concat([self.distance.rename("distance").to_frame(), self.X], axis=1)
        t = self.treat.to_numpy()
        sd = treated_sd(Xd, t)
        all_ = balance_table(Xd, t, None, sd)
        matched = balance_table(Xd, t, self.weights.to_numpy(), sd)
        imp = pd.DataFrame(index=all_.index)
        for col in ("Std. Mean Diff.", "eCDF Mean", "eCDF Max"):
            before, after = all_[col].abs(), matched[col].abs()
            imp[col] = 100 * (before - after) / before
        before, after = np.log(all_["Var. Ratio"]).abs(), np.log(matched["Var. Ratio"]).abs()
        imp.insert(1, "Var. Ratio", 100 * (before - after) / before)
        w = self.weights.to_numpy()
        disc = self.discarded.to_numpy()
        nn = {}
        for label, grp in (("Control", ~t), ("Treated", t)):
            matched_n = int(((w > 0) & grp).sum())
            nn[label] = {
                "All": int(grp.sum()),
                "Matched (ESS)": round(ess(w[grp]), 2),
                "Matched": matched_n,
                "Unmatched": int((grp & (w == 0) & ~disc).sum()),
                "Discarded": int((grp & disc).sum()),
            }
        nn = pd.DataFrame(nn)
        if np.allclose(w[w > 0], w[w > 0][0]):
            nn = nn.drop(index="Matched (ESS)")
        return MatchItSummary.build(self.call, all_[COLUMNS], matched[COLUMNS], imp, nn)

    def _repr_html_(self) -> str:
        s = self.summary()
        return (
            f"<h4>matchit: {self.info.get('method_label', '')}</h4>"
            + s.sum_matched.round(4).to_html(na_rep=".")
            + s.nn.to_html()
        )

    def __str__(self) -> str:
        i = self.info
        n_matched = int((self.weights > 0).sum())
        cal = f"\n - caliper: <distance> ({self.caliper:.3f})" if self.caliper is not None else ""
        return (
            f"A matchit object\n - method: {i['method_label']}\n - distance: {i['distance_label']}{cal}\n"
            f" - number of obs.: {len(self.treat)} (original), {n_matched} (matched)\n"
            f" - target estimand: ATT\n - covariates: {', '.join(i['covariates'])}"
        )


def _common_support(d: np.ndarray, t: np.ndarray, discard: str) -> np.ndarray:
    out = np.zeros(len(d), dtype=bool)
    if discard in ("control", "both"):
        lo, hi = d[t].min(), d[t].max()
        out |= ~t & ((d < lo) | (d > hi))
    if discard in ("treated", "both"):
        lo, hi = d[~t].min(), d[~t].max()
        out |= t & ((d < lo) | (d > hi))
    return out


def matchit(
    formula: str,
    data: pd.DataFrame,
    method: str = "nearest",
    distance: str | np.ndarray | pd.Series = "glm",
    estimand: str = "ATT",
    exact: list[str] | None = None,
    discard: str = "none",
    replace: bool = False,
    m_order: str | None = None,
    caliper: float | None = None,
    std_caliper: bool = True,
    ratio: int = 1,
    seed: int | None = None,
) -> MatchItResult:
    """Nearest-neighbour matching on a propensity score, with MatchIt's argument names and defaults.

    Parameters
    ----------
    formula : R's formula, ``"treat ~ x1 + I(x1^2) + C(x3) + x1:x2"`` (``analysis.formulas``; text and ``C()``
        columns become indicators).
    data : one row per unit; the treatment column holds 0/1 or booleans.
    method : ``"nearest"`` (greedy nearest neighbour).
    distance : ``"glm"`` (logistic-regression propensity score, matched on the probability scale, MatchIt's
        default), ``"logit"`` (matched on the linear predictor) or a vector of scores supplied by the user.
    estimand : ``"ATT"``.
    exact : columns whose values must be equal within a match; each stratum is matched separately.
    discard : ``"none"``, ``"treated"``, ``"control"`` or ``"both"``: drop units outside the other group's
        range of the distance (common support) before matching.
    replace : match with replacement (controls reusable; matching order then ``"data"``, as in MatchIt).
    m_order : order in which treated units are matched: ``"largest"`` distance first (default for a
        propensity score), ``"smallest"``, ``"random"`` (needs ``seed``), ``"data"``.
    caliper, std_caliper : maximum distance of a match; with ``std_caliper`` in units of the standard
        deviation (ddof 1) of the distance over all units.
    ratio : controls per treated unit, matched in passes.
    seed : for ``m_order="random"``.

    Returns
    -------
    MatchItResult with ``match_matrix``, ``weights`` (treated 1; each control the sum over its treated
    units of 1 / their number of matches, scaled to sum to the number of matched controls), ``subclass``
    (without replacement), ``unmatched`` (treated units left unmatched, with the reason), ``summary()``,
    ``matched_data()``.

    Examples
    --------
    1:1 matching on the propensity score within 0.1 SD of it; the sample sizes and the largest absolute
    standardised mean difference before and after, as MatchIt's ``summary`` gives them:

    >>> import numpy as np, pandas as pd
    >>> from analysis.matching import matchit
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=400)
    >>> df = pd.DataFrame({"x": x, "treat": (rng.random(400) < 1 / (1 + np.exp(1.5 - x))).astype(int)})
    >>> m = matchit("treat ~ x", df, caliper=0.1)
    >>> m.summary().nn.loc["Matched", ["Control", "Treated"]].tolist()
    [78.0, 78.0]
    >>> round(m.summary().max_abs_smd(matched=False), 3), round(m.summary().max_abs_smd(), 3)
    (1.026, 0.009)
    >>> m.unmatched.reason.value_counts().to_dict()
    {'every control within reach was already used': 5, 'no control within the caliper': 3}
    """
    m_order = _check_options(method, estimand, discard, ratio, m_order, replace)
    treat_col, rhs = parse_formula(formula)
    if treat_col not in data.columns:
        raise MatchingError(f"treatment column {treat_col!r} is not in the data")
    t = _treatment(data, treat_col)
    check_covariates(data, rhs)  # bad columns fail here, not when the balance table is first asked for
    d, model, dist_label = _distance(distance, data, rhs, t)
    cal = _caliper(caliper, std_caliper, d)
    discarded = _common_support(d, t, discard)
    ex_codes = _exact_codes(data, exact)
    idx_t = np.flatnonzero(t)
    mm, has, ctrl, below, rank = _match(d, t, discarded, m_order, int(ratio), cal, replace, ex_codes, seed)

    if not has.any():
        raise MatchingError("no treated unit was matched (check the caliper, exact strata and discard)")
    w, sc = _weights_and_subclasses(mm, idx_t, len(t), subclasses=not replace)
    subclass = pd.Series(sc, index=data.index, copy=False)

    labels = data.index
    mm_lab = pd.DataFrame(
        {j + 1: _labels_or_na(labels, mm[:, j]) for j in range(mm.shape[1])}, index=labels.take(idx_t))
    reasons = _unmatched_reasons(d, discarded, idx_t[~has], cal, ctrl, below, ex_codes, rank)
    method_label = f"{int(ratio)}:1 nearest neighbor matching {'with' if replace else 'without'} replacement"
    call = (
        f'matchit(formula = {formula}, method = "nearest", distance = {distance if isinstance(distance, str) else "user"}, '
        f'ratio = {ratio}, replace = {replace}, m_order = "{m_order}", caliper = {caliper}, '
        f'std_caliper = {std_caliper}, discard = "{discard}", exact = {exact})'
    )
    # the arrays are this call's own (a user's distance vector was copied): the Series need not copy them
    return MatchItResult(
        call=call,
        treat=pd.Series(t, index=data.index, name=treat_col, copy=False),
        distance=pd.Series(d, index=data.index, name="distance", copy=False),
        discarded=pd.Series(discarded, index=data.index, name="discarded", copy=False),
        match_matrix=mm_lab,
        weights=pd.Series(w, index=data.index, name="weights", copy=False),
        subclass=subclass,
        unmatched=pd.DataFrame({"reason": reasons}, index=labels.take(idx_t[~has])),
        caliper=cal,
        rhs=rhs,
        data=data,
        model=model,
        info={
            "method_label": method_label,
            "distance_label": dist_label,
            "covariates": list(rhs.terms),
            "m_order": m_order,
            "ratio": int(ratio),
            "replace": replace,
        },
    )


def _check_options(method, estimand, discard, ratio, m_order, replace) -> str:
    """The options' values checked; the matching order to use (``"data"`` with replacement, as in MatchIt,
    where the order does not matter)."""
    if method != "nearest":
        raise MatchingError(f"method={method!r} is not available; allowed: ['nearest']")
    if estimand != "ATT":
        raise MatchingError(f"estimand={estimand!r} is not available for matching; allowed: ['ATT']")
    if discard not in DISCARDS:
        raise MatchingError(f"discard={discard!r}; allowed: {list(DISCARDS)}")
    if ratio < 1 or int(ratio) != ratio:
        raise MatchingError(f"ratio must be a positive integer; got {ratio!r}")
    m_order = "largest" if m_order is None else m_order
    if m_order not in M_ORDERS:
        raise MatchingError(f"m_order={m_order!r}; allowed: {list(M_ORDERS)}")
    return "data" if replace else m_order


def _caliper(caliper: float | None, std_caliper: bool, d: np.ndarray) -> float | None:
    """The caliper on the distance's scale (with ``std_caliper``, in SDs of the distance over all units)."""
    if caliper is None:
        return None
    if caliper <= 0:
        raise MatchingError(f"caliper must be positive; got {caliper}")
    return float(caliper * np.std(d, ddof=1)) if std_caliper else float(caliper)


def _exact_codes(data: pd.DataFrame, exact: list[str] | None) -> np.ndarray | None:
    """Each unit's exact-matching stratum as an integer code (None without ``exact``)."""
    if not exact:
        return None
    missing = [c for c in exact if c not in data.columns]
    if missing:
        raise MatchingError(f"exact column(s) {missing} not in the data")
    return data.groupby(list(exact), sort=False, dropna=False).ngroup().to_numpy(np.int64)


def _match(d, t, discarded, m_order, ratio, cal, replace, ex_codes, seed):
    """``(mm, has, controls, below, rank)``: the match matrix in data order of the treated units and which
    of them have a match; for the unmatched reasons, the usable controls in distance order, how many of them
    sort before each unmatched treated unit, and every unit's rank in the sort by distance (None with
    replacement and no strata: that path ranks no unit)."""
    if replace and ex_codes is None:  # nothing is used up: no matching order, no sort of every unit
        mm, ctrl, below = match_with_replacement(d, t, discarded, ratio, cal)
        has = (mm >= 0).any(axis=1)
        return mm, has, ctrl, below[~has], None
    idx_t = np.flatnonzero(t)
    units = sort_units(d, t, discarded)  # one sort by distance for the matching order, the matching, the reasons
    order = _matching_order(m_order, d, t, units, seed)
    reuse_max = len(idx_t) if replace else 1
    mm_order = match_fast(d, t, discarded, order, ratio, cal, reuse_max, ex_codes, units=units)
    # rows of the match matrix in data order of the treated units: ``order`` sorted is ``idx_t``
    mm = mm_order[np.argsort(order)]
    has = (mm >= 0).any(axis=1)
    # positions of the unmatched only: at Seoul scale most of 2.46M treated units are matched
    return mm, has, units.controls, units.controls_below[units.rank[idx_t[~has]]], units.rank


def _treatment(data: pd.DataFrame, treat_col: str) -> np.ndarray:
    """The treatment column as booleans; 0/1 (or booleans) without missing values, both groups present."""
    tr = data[treat_col]
    v = tr.to_numpy()
    binary = ((v == 0) | (v == 1)).all() if v.dtype.kind in "biuf" else tr.isin([0, 1, True, False]).all()
    if tr.isna().any() or not binary:
        raise MatchingError(f"treatment column {treat_col!r} must be 0/1 without missing values")
    t = v.astype(bool)
    if t.sum() == 0:
        raise MatchingError(f"no treated units ({treat_col} == 1) in the data")
    if (~t).sum() == 0:
        raise MatchingError(f"no control units ({treat_col} == 0) in the data")
    return t


def _distance(distance, data: pd.DataFrame, rhs: Rhs, t: np.ndarray):
    """``(distance vector, fitted propensity model or None, label for the print)``."""
    if not isinstance(distance, str):
        d = np.array(distance, dtype=float)  # a copy: the result's distance column must not be the caller's array
        if d.shape != (len(data),) or np.isnan(d).any():
            raise MatchingError(f"distance vector must have {len(data)} non-missing values")
        return d, None, "user-supplied"
    if distance not in ("glm", "logit"):
        raise MatchingError(f"distance={distance!r}; allowed: 'glm', 'logit' or a vector of scores")
    model = fit_propensity(t, covariate_frame(data, rhs, all_levels=False))
    label = "Propensity score\n             - estimated with logistic regression"
    if distance == "logit":
        return model.linear_predictor, model, label + " (matched on the linear predictor)"
    return model.score, model, label


def _matching_order(m_order: str, d: np.ndarray, t: np.ndarray, units, seed: int | None) -> np.ndarray:
    """The treated units in the order they are matched (ties in data order), from the one sort by distance."""
    by_d, idx_t = units.by_distance, np.flatnonzero(t)
    if m_order == "largest":
        order = by_d[t[by_d]][::-1]  # ties would come out in reverse data order: then sorted again
        return idx_t[stable_argsort(-d[idx_t])] if (d[order[1:]] == d[order[:-1]]).any() else order
    if m_order == "smallest":
        return by_d[t[by_d]]
    if m_order == "random":
        if seed is None:
            raise MatchingError("m_order='random' needs a seed for reproducible matches")
        return idx_t[np.random.default_rng(seed).permutation(len(idx_t))]
    return idx_t


def _weights_and_subclasses(mm: np.ndarray, idx_t: np.ndarray, n: int, subclasses: bool):
    """MatchIt's ``weights_matrixC``: a matched treated unit 1; a control the sum of 1/k over the treated
    units it serves (k their numbers of matches), scaled to sum to the number of matched controls. Without
    replacement also the subclasses: each matched treated unit's set numbered 1, 2, ... in data order, its
    controls in its set, missing for the unmatched (all missing with replacement). ``mm``: the match matrix in
    data order of the treated units ``idx_t``.

    numpy only: the first call of any numba kernel in a process loads numba's typing registries (0.3-0.6 s),
    which matching with replacement, whose matcher is numpy too, would otherwise pay for this step alone."""
    used = mm >= 0
    k = used.sum(axis=1)
    matched = k > 0
    c = mm[used]  # row by row: each control's shares are added in the order of the treated units
    w = np.bincount(c, weights=np.repeat(1.0 / np.maximum(k, 1), k), minlength=n)
    total = w.sum()
    if total > 0:
        w *= np.count_nonzero(w) / total
    w[idx_t[matched]] = 1.0
    if not subclasses:  # built directly: pandas' fill of NA repeats it unit by unit (40 ms at 1M)
        return w, pd.arrays.IntegerArray(np.zeros(n, np.int64), np.ones(n, bool))
    number = np.cumsum(matched)  # each matched treated unit's set, 1, 2, ... in data order
    sc = np.empty(n, np.int64)  # filled, not np.zeros: numpy asks for large pages only here (nearest.sort_units)
    sc.fill(0)
    sc[c] = np.repeat(number, k)
    sc[idx_t[matched]] = number[matched]
    return w, pd.arrays.IntegerArray(sc, sc == 0)


def _labels_or_na(labels: pd.Index, rows: np.ndarray):
    """The data's row labels at ``rows``, missing where a row is -1 (no match): integer labels as a nullable
    integer column (an object column of a million labels costs more than the matching), others as objects."""
    miss = rows < 0
    picked = labels.take(np.where(miss, 0, rows)).to_numpy()
    if labels.dtype.kind in "iu":
        return pd.arrays.IntegerArray(picked.astype(np.int64), miss)
    return np.where(miss, None, picked)


def _unmatched_reasons(d, discarded, unmatched, cal, ctrl, below, ex_codes=None, rank=None) -> list[str]:
    """Why each unmatched treated unit got no match.

    ``ctrl``: the usable controls in distance order (ties in data order); ``below``: for each unmatched unit,
    how many of them sort before it; with exact strata, ``ex_codes`` and every unit's ``rank`` in the sort by
    distance instead. The nearest control of each unit's stratum is found next to the unit's place among the
    controls sorted by (stratum, distance), so the cost is O(n log n) whatever the overlap and the number of
    strata, and, without strata, proportional to the unmatched units alone: scanning every control per
    unmatched unit was quadratic exactly where many units go unmatched (poor overlap with a caliper)."""
    unmatched = np.asarray(unmatched, dtype=np.int64)
    if not len(unmatched):
        return []
    live = np.flatnonzero(~discarded[unmatched])
    u = unmatched[live]
    if ex_codes is None:  # one stratum: the controls below each unit in the distance order
        start, stop = np.zeros(len(u), np.int64), np.full(len(u), len(ctrl))
        k = np.asarray(below)[live]
    else:
        # one sort key for (stratum, distance): the stratum's code, then the rank in the sort by distance
        # (ties ranked in data order: a tied control on either side is at distance 0 all the same)
        codes = np.asarray(ex_codes, dtype=np.int64)
        key = codes * len(d) + rank
        ctrl = ctrl[np.argsort(codes[ctrl], kind="stable")]
        c_codes = codes[ctrl]
        start = np.searchsorted(c_codes, codes[u], "left")
        stop = np.searchsorted(c_codes, codes[u], "right")
        k = np.searchsorted(key[ctrl], key[u])
    x = d[u]

    def gap(at, ok):  # distance to the control at position ``at`` among ``ctrl``, inf where ``ok`` is false
        if not len(ctrl):
            return np.full(len(at), np.inf)
        return np.where(ok, np.abs(d[ctrl[np.where(ok, at, 0)]] - x), np.inf)

    # for each unit: distance to the nearest control of its stratum (inf where the stratum has none)
    nearest = np.full(len(unmatched), np.inf)
    nearest[live] = np.minimum(gap(k - 1, k - 1 >= start), gap(k, k < stop))
    has_pool = np.zeros(len(unmatched), bool)
    has_pool[live] = stop > start
    gone = discarded[unmatched]
    out = np.select([gone, ~has_pool, np.full(len(unmatched), cal is not None) & ~(nearest <= (cal or 0.0))],
                    ["discarded: outside the controls' range of the distance (common support)",
                     "no control in its exact-matching stratum", "no control within the caliper"],
                    "every control within reach was already used")
    return out.tolist()
