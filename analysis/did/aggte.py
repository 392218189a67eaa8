"""Aggregations of group-time ATTs (R did's ``aggte``): simple, group, calendar and dynamic (event study).

Each aggregate is a weighted average of ATT(g,t) with weights proportional to cohort size; its influence
function is the same weighted average of the ATT(g,t) influence functions plus the term for having
estimated the cohort shares (``wif``), so standard errors, the bootstrap and the uniform bands need no
refit.

Reference: Callaway and Sant'Anna (2021), section 3.1 and appendix.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.did.attgt import CONTROL_GROUPS, EST_METHODS, TREND_NOTE, AttGtResult, cohort_basis
from analysis.did.drdid import DiDError
from analysis.did.inference import TINY, bootstrap, multiplier_bootstrap, sup_t_crit
from analysis.did.results import ResultMixin, fmt_table, normal_table, stars
from analysis.summary import Summary

TYPES = ("simple", "group", "calendar", "dynamic")
_TITLES = {
    "simple": "Overall ATT:",
    "group": "Overall summary of ATT's based on group/cohort aggregation:",
    "calendar": "Overall summary of ATT's based on calendar time aggregation:",
    "dynamic": "Overall summary of ATT's based on event-study/dynamic aggregation:",
}
_LABEL = {"group": "Group", "calendar": "Time", "dynamic": "Event time"}
_SECTION = {"group": "Group Effects:", "calendar": "Time Effects:", "dynamic": "Dynamic Effects:"}


def _wif_coef(pk: np.ndarray, gk: np.ndarray, a: np.ndarray, glist: np.ndarray) -> np.ndarray:
    """``wif @ a`` for R did's ``wif`` (the influence function of the estimated weights ``pk / sum(pk)`` of
    cells of cohorts ``gk``) as coefficients on the cohort columns ``w * 1(G = g)``, g in ``glist``
    (``cohort_basis``). Column k of ``wif`` is ``ind_k / s - (sum_j ind_j) * pk_k / s^2`` with ``ind_k =
    w * 1(G = gk_k) - pk_k``; its constant part ``-(pk @ a) / s + s * (pk @ a) / s^2`` is zero."""
    s = pk.sum()
    pa = pk @ a
    pos = np.searchsorted(glist, gk)
    a_by_g = np.bincount(pos, weights=a, minlength=len(glist))
    k_by_g = np.bincount(pos, minlength=len(glist))
    return a_by_g / s - k_by_g * pa / s**2


@dataclass(frozen=True)
class AggteResult(ResultMixin):
    """An aggregated ATT (``overall``) and, for group/calendar/dynamic, its components (``egt``)."""

    type: str
    overall_att: float
    overall_se: float
    egt: np.ndarray | None
    att_egt: np.ndarray | None
    se_egt: np.ndarray | None
    crit_val_egt: float | None
    inf_overall: np.ndarray
    inf_egt: np.ndarray | None
    settings: dict
    min_e: float
    max_e: float
    balance_e: int | None

    @property
    def params(self) -> pd.Series:
        if self.egt is None:
            return pd.Series([self.overall_att], index=pd.Index(["ATT"], name="term"))
        return pd.Series(self.att_egt, index=pd.Index(self.egt, name=_LABEL[self.type].lower().replace(" ", "_")))

    @property
    def std_errors(self) -> pd.Series:
        if self.egt is None:
            return pd.Series([self.overall_se], index=self.params.index)
        return pd.Series(self.se_egt, index=self.params.index)

    @property
    def _crit(self) -> float | None:
        return self.crit_val_egt if self.egt is not None and self.settings["cband"] else None

    @property
    def nobs(self) -> int:
        """The number of units behind the aggregation (as ``att_gt``'s), not of unit-periods."""
        return int(self.inf_overall.shape[0])

    @property
    def cov(self) -> pd.DataFrame:
        """Covariance of ``params`` from their influence functions, ``inf'inf / n^2`` (the matrix HonestDiD
        takes from an event study). Its diagonal gives the analytical standard errors; with ``bstrap=True``
        ``std_errors`` are the multiplier bootstrap's instead."""
        inf = self.inf_overall[:, None] if self.egt is None else self.inf_egt
        n = inf.shape[0]
        return pd.DataFrame(inf.T @ inf / n / n, index=self.params.index, columns=self.params.index)

    @property
    def overall(self) -> pd.Series:
        """The overall estimate as ``estimate, std_error, statistic, p_value, conf_low, conf_high``."""
        t = normal_table(pd.Series([self.overall_att]), pd.Series([self.overall_se]), 1 - self.settings["alp"])
        return t.iloc[0]

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """The overall row (term ``"overall"``) then one row per component, with ``band_low/band_high``
        (uniform band when cband, else pointwise)."""
        rows = [pd.DataFrame({"term": ["overall"], **{k: [v] for k, v in normal_table(
            pd.Series([self.overall_att]), pd.Series([self.overall_se]), level).iloc[0].items()}})]
        if self.egt is not None:
            t = super().tidy(level)
            t["term"] = [f"{_LABEL[self.type].lower().replace(' ', '_')}={e}" for e in self.egt]
            t["band_low"] = self.att_egt - self.crit_val_egt * self.se_egt
            t["band_high"] = self.att_egt + self.crit_val_egt * self.se_egt
            rows.append(t)
        return pd.concat(rows, ignore_index=True)

    def summary(self) -> Summary:
        s = self.settings
        lvl = round(100 * (1 - s["alp"]))
        z = stats.norm.ppf(1 - s["alp"] / 2)
        lo, hi = self.overall_att - z * self.overall_se, self.overall_att + z * self.overall_se
        head = pd.DataFrame({"ATT": [self.overall_att], "Std. Error": [self.overall_se],
                             f"[ {lvl}% ": [lo], "Conf. Int.]": [hi]})
        head[""] = stars(pd.Series([lo]), pd.Series([hi])).to_numpy()
        lines = ["", _TITLES[self.type], fmt_table(head), ""]
        tables = {_TITLES[self.type].rstrip(":"): head}
        if self.egt is not None:
            band = "Simult. " if s["cband"] else "Pointwise"
            blo = self.att_egt - self.crit_val_egt * self.se_egt
            bhi = self.att_egt + self.crit_val_egt * self.se_egt
            tab = pd.DataFrame({_LABEL[self.type]: self.egt, "Estimate": self.att_egt,
                                "Std. Error": self.se_egt, f"[{lvl}% {band}": blo, "Conf. Band]": bhi})
            tab[""] = stars(pd.Series(blo), pd.Series(bhi)).to_numpy()
            lines += ["", _SECTION[self.type], fmt_table(tab), "---",
                      "Signif. codes: `*' confidence band does not cover 0", ""]
            tables[_SECTION[self.type].rstrip(":")] = tab
        lines += [f"Control Group:  {CONTROL_GROUPS[s['control_group']]},  Anticipation Periods:  "
                  f"{s['anticipation']}", f"Estimation Method:  {EST_METHODS[s['est_method']]}"]
        if s.get("trend") == "linear":
            lines.append(TREND_NOTE)
        return Summary("\n".join(lines), tables)

    def plot(self, ax=None):
        """Components with their (uniform) band; for ``dynamic`` the event-study plot."""
        from analysis.did.plots import plot_aggte

        return plot_aggte(self, ax=ax)


def aggte(
    res: AttGtResult,
    type: str = "group",
    balance_e: int | None = None,
    min_e: float = -np.inf,
    max_e: float = np.inf,
    na_rm: bool = False,
    bstrap: bool | None = None,
    biters: int | None = None,
    cband: bool | None = None,
    alp: float | None = None,
    seed: int | None = None,
) -> AggteResult:
    """Aggregate group-time ATTs as R ``did::aggte``.

    Parameters
    ----------
    res : AttGtResult
        An ``att_gt`` result (its influence functions and bootstrap draws are reused: no refit).
    type : {"simple", "group", "calendar", "dynamic"}, default "group"
        The average of all post-treatment cells weighted by cohort size, by cohort, by calendar period, or
        by event time (an event study).
    balance_e : int, optional
        Dynamic only: keep cohorts observed for at least ``balance_e`` periods after treatment.
    min_e, max_e : float, default -inf and inf
        Dynamic only: the event times reported (and averaged in the overall effect).
    na_rm : bool, default False
        Drop ATT(g,t) that could not be estimated (otherwise an error).
    bstrap, biters, cband, alp, seed : optional
        Inference settings (as ``att_gt``'s); default to those of ``res``.

    Returns
    -------
    AggteResult
        ``overall_att`` and ``overall_se``; for group, calendar and dynamic also each component
        (``egt``, ``att_egt``, ``se_egt`` and the band's ``crit_val_egt``), labelled in ``params``.

    References
    ----------
    Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-Differences with Multiple Time Periods.
    Journal of Econometrics 225(2), 200-230.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from analysis.did import aggte, att_gt
    >>> rng = np.random.default_rng(1)
    >>> ids, year = np.repeat(np.arange(1, 13), 4), np.tile(np.arange(2020, 2024), 12)
    >>> g = np.repeat([0] * 4 + [2022] * 4 + [2023] * 4, 4)
    >>> y = 0.1 * ids + 0.5 * (year - 2020) + 2.0 * ((g > 0) & (year >= g)) + rng.normal(0, 0.1, 48)
    >>> res = att_gt(pd.DataFrame({"id": ids, "year": year, "g": g, "y": y}), "y", "year", "id", "g",
    ...              biters=100, seed=1)
    >>> round(float(aggte(res, "simple").overall_att), 3)
    2.055
    >>> dyn = aggte(res, "dynamic")
    >>> [(int(e), round(float(a), 3)) for e, a in zip(dyn.egt, dyn.att_egt)]
    [(-2, 0.038), (-1, 0.034), (0, 2.053), (1, 2.061)]
    """
    if type not in TYPES:
        raise DiDError(f"type={type!r}; allowed: {list(TYPES)}")
    s = dict(res.settings)
    for k, v in (("bstrap", bstrap), ("biters", biters), ("cband", cband), ("alp", alp), ("seed", seed)):
        if v is not None:
            s[k] = v
    cells = _Cells.of(res, na_rm)
    egt, att_e, overall, C = cells.aggregate(type, balance_e, min_e, max_e)
    F, f_all, ses, crit = _inference(res, C, s, components=egt is not None)
    return AggteResult(type=type, overall_att=overall, overall_se=float(ses[-1]), egt=egt, att_egt=att_e,
                       se_egt=None if F is None else ses[:-1], crit_val_egt=crit, inf_overall=f_all, inf_egt=F,
                       settings=s, min_e=min_e, max_e=max_e, balance_e=balance_e)


@dataclass(frozen=True)
class _Cells:
    """The ATT(g,t) being aggregated (``cell``: their positions in ``res.cells``) with each one's cohort
    share ``pg``. Every influence function of an aggregate is a linear combination of the cells' (the
    result's ``inffunc``) and of the cohort columns w * 1(G = g), g in the design's ``glist``
    (``cohort_basis``): aggregates are kept as those coefficients (cells, then cohorts), so that the
    bootstrap can reuse att_gt's draws of the same columns."""

    group: np.ndarray
    t: np.ndarray
    att: np.ndarray
    cell: np.ndarray
    pg: np.ndarray
    pgg: np.ndarray  # each cohort's share, cohorts ``glist``
    glist: np.ndarray
    glist_design: np.ndarray
    n_cells: int

    @classmethod
    def of(cls, res: AttGtResult, na_rm: bool) -> _Cells:
        group = np.array([c.group for c in res.cells], dtype=np.int64)
        t = np.array([c.time for c in res.cells], dtype=np.int64)
        att = res.att
        cell = np.arange(len(att))
        if np.isnan(att).any():
            if not na_rm:
                raise DiDError("missing values in ATT(g,t) (see the att_gt notes); set na_rm=True to drop them")
            cell = np.flatnonzero(~np.isnan(att))
            group, t, att = group[cell], t[cell], att[cell]
        d = res.design
        glist = np.unique(group)
        pgg = np.array([np.mean(d.unit_w * (d.unit_g == g)) for g in glist])
        return cls(group, t, att, cell, pgg[np.searchsorted(glist, group)], pgg, glist, d.glist, len(res.cells))

    def coef(self, which: np.ndarray, wts: np.ndarray, use_wif: bool) -> np.ndarray:
        """Coefficients of the weighted average ``att[which] @ wts`` (plus the weights' influence function)."""
        c = np.zeros(self.n_cells + len(self.glist_design))
        c[self.cell[which]] = wts
        if use_wif:
            c[self.n_cells:] = _wif_coef(self.pg[which], self.group[which], self.att[which], self.glist_design)
        return c

    def components(self, sets: list[np.ndarray], use_wif: bool) -> tuple[np.ndarray, np.ndarray]:
        """Each set's cohort-share-weighted average ATT and its coefficients (one column per set)."""
        atts, cs = [], []
        for which in sets:
            wts = self.pg[which] / self.pg[which].sum()
            atts.append(float(self.att[which] @ wts))
            cs.append(self.coef(which, wts, use_wif))
        return np.array(atts), np.column_stack(cs)

    def aggregate(self, type: str, balance_e, min_e, max_e):
        """``(egt, att_egt, overall, C)`` as R did's ``compute.aggte``: the components (None for "simple"),
        their ATTs, the overall ATT, and the coefficients of every component's and (last) the overall
        effect's influence function."""
        group, t, nc = self.group, self.t, self.n_cells
        post = group <= t
        if type == "simple":
            one, c_all = self.components([np.flatnonzero(post & (t <= group + max_e))], use_wif=True)
            return None, None, float(one[0]), c_all
        if type == "group":
            sets = [np.flatnonzero((group == g) & post & (t <= group + max_e)) for g in self.glist]
            att_e, F = self.components(sets, use_wif=False)
            wts = self.pgg / self.pgg.sum()
            c_all = F @ wts
            c_all[nc:] += _wif_coef(self.pgg, self.glist, att_e, self.glist_design)
            return self.glist, att_e, float(att_e @ wts), np.column_stack([F, c_all])
        if type == "calendar":
            tl = np.unique(t)
            tl = tl[tl >= group.min()]
            att_e, F = self.components([np.flatnonzero((t == tt) & post) for tt in tl], use_wif=True)
            return tl, att_e, float(att_e.mean()), np.column_stack([F, F @ np.full(len(tl), 1 / len(tl))])
        # dynamic; R did recodes the cells' periods and cohorts to 1..K: the first and last of them, in years
        maxT, minT = t.max(), min(t.min(), group.min())
        e_all = t - group
        include = np.ones(len(self.att), bool)
        eseq = np.unique(e_all)
        if balance_e is not None:
            include = (maxT - group) >= balance_e
            eseq = np.unique(e_all[include])
            eseq = eseq[(eseq <= balance_e) & (eseq >= balance_e - maxT + minT)]
        eseq = eseq[(eseq >= min_e) & (eseq <= max_e)]
        att_e, F = self.components([np.flatnonzero((e_all == e) & include) for e in eseq], use_wif=True)
        epos = eseq >= 0
        c_all = F[:, epos] @ np.full(epos.sum(), 1 / epos.sum())
        return eseq, att_e, float(att_e[epos].mean()), np.column_stack([F, c_all])


def _inference(res: AttGtResult, C: np.ndarray, s: dict, components: bool):
    """``(F, f_all, ses, crit)``: the components' and the overall effect's influence functions from their
    coefficients ``C``, the standard errors of every column (the overall effect's last) and the critical
    value of the components' band. Analytic ``sqrt(mean(IF^2)/n)``, or the multiplier bootstrap with
    common draws for the overall effect and every component (R draws afresh for each; the marginal
    distributions are the same)."""
    d = res.design
    nc = len(res.cells)
    used = np.flatnonzero(C[:nc].any(axis=1))
    cols = res.inffunc[:, used] @ C[used] + cohort_basis(d) @ C[nc:]
    F, f_all = (cols[:, :-1], cols[:, -1]) if components else (None, cols[:, 0])
    alp_ = s["alp"]
    crit = float(stats.norm.ppf(1 - alp_ / 2))
    if s["bstrap"] or (s["cband"] and F is not None):
        drawn = res.draws
        if drawn is not None and (drawn.seed, drawn.biters) == (s["seed"], s["biters"]):
            bs = bootstrap(drawn.combine(C), alp_)  # att_gt's draws of the same columns, combined
        else:
            bs = multiplier_bootstrap(cols, s["biters"], alp_, s["seed"], d.unit_cluster)
        if F is not None and s["cband"]:
            c = sup_t_crit(bs.bres, bs.sigma, np.arange(F.shape[1]), alp_)
            crit = c if np.isfinite(c) else crit
    ses = bs.se if s["bstrap"] else np.sqrt(np.mean(cols**2, axis=0) / len(d.unit_g))
    return F, f_all, np.where(ses > TINY, ses, np.nan), crit


def aggregate_values(res: AttGtResult, values: np.ndarray, type: str = "simple") -> AggteResult:
    """``type``'s point aggregation of other per-cell values (a cell's truth, its treated mean) with the
    weights ``res``'s own estimates get; cells ``res`` could not estimate stay out, as in its ATT."""
    fake = dataclasses.replace(res, att=np.where(np.isfinite(res.att), values, np.nan))
    return aggte(fake, type=type, bstrap=False, cband=False, na_rm=True)
