"""Group-time average treatment effects for staggered adoption (Callaway and Sant'Anna 2021), with the
semantics and defaults of R ``did`` (>= 2.1): ``att_gt`` and its result.

Every ATT(g,t) is a two-period DiD (``analysis.did.drdid``) between cohort g and its comparison group
(never treated, or not yet treated by ``max(t, base period) + anticipation``), with base period g-1-
anticipation for post-treatment cells and, for pre-treatment cells, the previous period (``varying``) or
g-1-anticipation too (``universal``). The influence function of each ATT(g,t) is kept (units x cells) so
that standard errors, the multiplier bootstrap, uniform bands and every aggregation (``aggte``) need no
refit.

Panel data go through the panel estimators on a units x periods array: with time-invariant covariates the
propensity model of a (cohort, comparison set) pair is fitted once and reused for all its periods, which
is what makes a Seoul-scale panel fast. Unbalanced panels (``allow_unbalanced_panel=True``) and repeated
cross-sections go through the repeated-cross-section estimators with the influence function summed by
unit, as R ``did`` does.

Time-varying covariates are taken at the earlier period of each comparison, for every unit of it: R did's
panel semantics, which keep a covariate the treatment may move out of the post-period side (Caetano,
Callaway, Payne and Rodrigues 2022). One deliberate difference from R did: an unbalanced panel reads them
the same way, from each unit's row in that period (its outcome may be missing there: a checkup outcome in a
year without a checkup), where R did's repeated-cross-section code would read each row's own values, the
post-period ones included. Rows of a unit without covariates in that period are left out of the cell and
counted in the notes. Repeated cross-sections (``panel=False``) read each row's own values.

Reference: Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time
periods. Journal of Econometrics 225(2), 200-230.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis import formulas
from analysis.did.checks import check_units, complete_rows, int_column, unit_period_order
from analysis.did.drdid import PANEL, RC, DiDError, fit_logit, normalise, panel_prep, take_rows
from analysis.did.inference import TINY, Draws, bootstrap, draw
from analysis.did.memo import Memo, digest
from analysis.did.results import ResultMixin, fmt_table, stars
from analysis.errors import ExclusionWarning, SettingWarning
from analysis.formulas import Rhs
from analysis.summary import Summary

EST_METHODS = {"dr": "Doubly Robust", "ipw": "Inverse Probability Weighting", "reg": "Outcome Regression"}
CONTROL_GROUPS = {"nevertreated": "Never Treated", "notyettreated": "Not Yet Treated"}
TREND_NOTE = "Trend adjustment:  each cohort's linear pre-trend removed (trend_adjusted)"
REFERENCE = (
    "Callaway, Brantly and Pedro H.C. Sant'Anna. \"Difference-in-Differences with Multiple Time "
    "Periods.\" Journal of Econometrics, Vol. 225, No. 2, pp. 200-230, 2021."
)


def _rhs(xformla: str | None) -> Rhs:
    """``xformla`` (``"~ x1 + I(x1^2) + C(x2)"``, R's formula through formulaic); ``None`` and ``"~1"``:
    intercept only."""
    try:
        return formulas.parse("~1" if xformla is None else xformla, "xformla")
    except formulas.FormulaError as e:
        raise DiDError(str(e)) from None


def _constant_within(a: np.ndarray) -> bool:
    """Every row (unit) of the units x periods array ``a`` holds one value."""
    return bool((a == a[:, :1]).all())


# outcome-free fits of the cells (panel preps, repeated-cross-section propensity scores) by design digest
_PREPS = Memo("att_gt_fits", 1 << 30)


@dataclass(frozen=True)
class Design:
    """The data as att_gt uses it, after checks and reported exclusions."""

    panel: bool  # True: balanced panel path; False: repeated cross-section / unbalanced panel path
    tlist: np.ndarray
    glist: np.ndarray
    unit_id: np.ndarray  # (n,)
    unit_g: np.ndarray  # (n,) cohort per unit (0 = never treated)
    unit_w: np.ndarray  # (n,) sampling weight per unit
    unit_cluster: np.ndarray | None
    Y: np.ndarray | None  # panel: (T, n)
    X: np.ndarray | None  # panel: (n, k) if invariant, else (T, n, k)
    x_invariant: bool
    row_unit: np.ndarray | None  # rcs: (rows,)
    row_t: np.ndarray | None
    row_y: np.ndarray | None
    row_X: np.ndarray | None  # rcs: (rows, k); None where the covariates are read at the base period
    row_w: np.ndarray | None
    xnames: list[str]
    exclusions: dict = field(default_factory=dict)
    # unbalanced panels with time-varying covariates: the covariate rows (every period of every unit) and,
    # per unit and period, the row holding its values there (-1: none)
    base_X: np.ndarray | None = None
    unit_xrow: np.ndarray | None = None


def prepare(
    data: pd.DataFrame, yname: str, tname: str, idname: str | None, gname: str, xformla: str | None,
    panel: bool, allow_unbalanced_panel: bool, control_group: str, anticipation: int,
    weightsname: str | None, clustervars: list[str] | None, table: str = "data",
) -> Design:
    """Check the data, report every exclusion, and lay it out for the estimators (R did's pre-processing)."""
    if control_group not in CONTROL_GROUPS:
        raise DiDError(f"control_group={control_group!r}; allowed: {list(CONTROL_GROUPS)}")
    if anticipation < 0:
        raise DiDError("anticipation must be >= 0")
    if panel and idname is None:
        raise DiDError("panel=True needs idname")
    rhs = _rhs(xformla)
    try:  # before the other columns: a term naming an unknown function reads as a missing column
        formulas.require_columns(data, rhs, "xformla", table)
    except formulas.FormulaError as e:
        raise DiDError(str(e)) from None
    clus = [c for c in (clustervars or []) if c != idname]
    if len(clus) > 1:
        raise DiDError(f"clustervars {clustervars}: at most one variable besides idname (as R did)")
    rows, excl = _Rows.read(data, yname, tname, idname, gname, weightsname, clus, rhs, panel, table)
    rows, tlist, glist = _cohorts(rows, excl, control_group, anticipation, table, gname)
    followed = panel  # units are followed over time (an unbalanced panel is, a cross-section is not)
    if panel:
        counts = pd.Series(rows.ids).value_counts()
        complete = counts.index[counts.to_numpy() == len(tlist)]
        if len(complete) < len(counts):
            if allow_unbalanced_panel:
                panel = False  # R did: unbalanced panel through the repeated cross-section code
            else:
                n_drop = len(counts) - len(complete)
                excl["units not observed in every period (dropped to balance the panel)"] = int(n_drop)
                warnings.warn(f"{table}: dropped {n_drop} units not observed in every period "
                              "(allow_unbalanced_panel=True keeps them)", ExclusionWarning, stacklevel=3)
                rows = rows.keep(np.isin(rows.ids, complete.to_numpy()))
    cl = rows.df[clus[0]].to_numpy() if clus else None
    if panel:
        return _panel_design(rows, cl, rhs, tlist, glist, excl, table)
    uid, row_unit = np.unique(rows.ids, return_inverse=True)
    base = _base_covariates(data, idname, tname, rhs, uid, tlist, table) if followed else None
    if base is None:
        Xall, xnames = _covariates(rows.df, rhs, table)
        row_X, base_X, unit_xrow = np.asfortranarray(Xall), None, None
    else:
        row_X = None
        base_X, unit_xrow, xnames = base
    first_row = np.full(len(uid), -1)
    first_row[row_unit[::-1]] = np.arange(len(rows.ids))[::-1]
    # per-unit weight: the mean over the unit's rows (R did aggregates by id with mean)
    unit_w = np.bincount(row_unit, weights=rows.w) / np.bincount(row_unit)
    return Design(
        panel=False, tlist=tlist, glist=glist, unit_id=uid, unit_g=rows.g[first_row], unit_w=unit_w,
        unit_cluster=None if cl is None else cl[first_row], Y=None, X=None, x_invariant=False,
        row_unit=row_unit, row_t=rows.t, row_y=rows.y, row_X=row_X, row_w=rows.w, xnames=xnames,
        exclusions=excl, base_X=base_X, unit_xrow=unit_xrow,
    )


def _base_covariates(data: pd.DataFrame, idname: str, tname: str, rhs, uid: np.ndarray, tlist: np.ndarray,
                     table: str):
    """An unbalanced panel's time-varying covariates as every cell reads them, at its earlier period:
    ``(X, unit_xrow, names)``, ``X`` the design rows of every (unit, period) of the data with complete
    covariates, whether or not the outcome is there, and ``unit_xrow[u, p]`` the row of unit ``u`` in period
    ``tlist[p]`` (-1: none). None where no covariate varies within a unit: each row's own values are then
    the same, and the repeated-cross-section code reads them (R did's numbers)."""
    if not rhs.variables:
        return None
    src = data[[idname, tname, *rhs.variables]]
    src = src[src.notna().all(axis=1).to_numpy()]
    ids = int_column(src[idname], table, idname)
    t = int_column(src[tname], table, tname)
    keep = np.isin(ids, uid) & np.isin(t, tlist)
    src, ids, t = src[keep], ids[keep], t[keep]
    order = unit_period_order(ids, t)
    ids_s = ids[order]
    same = ids_s[1:] == ids_s[:-1]

    def varies(v: str) -> bool:
        a = src[v].to_numpy()[order]
        return bool((same & (a[1:] != a[:-1])).any())

    if not any(varies(v) for v in rhs.variables):
        return None
    check_units(ids, t, {}, idname, tname, "", table)  # one row per unit and period among these rows too
    X, names = _covariates(src.iloc[order], rhs, table)
    unit_xrow = np.full((len(uid), len(tlist)), -1, dtype=np.int64)
    unit_xrow[np.searchsorted(uid, ids_s), np.searchsorted(tlist, t[order])] = np.arange(len(ids))
    return np.asfortranarray(X), unit_xrow, names


@dataclass(frozen=True)
class _Rows:
    """The usable rows: the frame (for covariates and clusters) and its period, cohort, unit, outcome and
    weight as arrays."""

    df: pd.DataFrame
    t: np.ndarray
    g: np.ndarray
    ids: np.ndarray
    y: np.ndarray
    w: np.ndarray

    @classmethod
    def read(cls, data, yname, tname, idname, gname, weightsname, clus, rhs, panel, table) -> tuple[_Rows, dict]:
        """The complete rows (the others counted in the exclusions returned), their columns checked."""
        df, excl = complete_rows(data, [idname, tname, gname, yname, weightsname, *clus, *rhs.variables], table)
        t = int_column(df[tname], table, tname)
        g = int_column(df[gname], table, gname)
        if (g < 0).any():
            raise DiDError(f"{table}: {gname!r} must be 0 (never treated) or the first treated period; "
                           f"{int((g < 0).sum())} negative values")
        # repeated cross-sections: every row is its own unit (R did's .rowid), whatever idname says
        ids = int_column(df[idname], table, idname) if idname and panel else np.arange(len(df), dtype=np.int64)
        y = pd.to_numeric(df[yname], errors="coerce").to_numpy(float)
        if not np.isfinite(y).all():
            raise DiDError(f"{table}: outcome {yname!r} is not numeric in {int((~np.isfinite(y)).sum())} rows")
        w = df[weightsname].to_numpy(float) if weightsname else np.ones(len(df))
        if (w < 0).any():
            raise DiDError(f"{table}: weights {weightsname!r} negative in {int((w < 0).sum())} rows")
        if idname and panel:
            constant = {gname: g, **({weightsname: w} if weightsname else {}), **{c: df[c].to_numpy() for c in clus}}
            check_units(ids, t, constant, idname, tname, gname, table)
        return cls(df, t, g, ids, y, w), excl

    def keep(self, mask: np.ndarray) -> _Rows:
        return _Rows(self.df[mask], self.t[mask], self.g[mask], self.ids[mask], self.y[mask], self.w[mask])


def _cohorts(rows: _Rows, excl: dict, control_group: str, anticipation: int, table: str, gname: str):
    """``(rows, tlist, glist)`` as R did recodes them: cohorts first treated after the last period are never
    treated; units treated in the first period are dropped; without never-treated units the last cohort
    becomes the comparison and its periods are dropped. Each change is counted in ``excl``."""
    t, g, ids = rows.t, rows.g, rows.ids
    late = g > t.max()
    if late.any():
        excl["units treated after the last period, recoded never-treated"] = int(len(np.unique(ids[late])))
        rows = dataclasses.replace(rows, g=np.where(late, 0, g))
    tlist = np.unique(rows.t)
    first = (rows.g > 0) & (rows.g <= tlist[0])
    if first.any():
        n_first = int(len(np.unique(rows.ids[first])))
        excl["units already treated in the first period (dropped)"] = n_first
        warnings.warn(f"{table}: dropped {n_first} units already treated in the first period", ExclusionWarning,
                      stacklevel=4)
        rows = rows.keep(~first)
    glist = np.unique(rows.g[rows.g > 0])
    if len(glist) == 0:
        raise DiDError(f"{table}: no treated cohort in {gname!r}")
    if not (rows.g == 0).any():
        if control_group == "nevertreated":
            raise DiDError(f"{table}: there is no never-treated group ({gname}=0); use "
                           "control_group='notyettreated' or add never-treated units")
        last = glist.max()
        keep = rows.t < last - anticipation
        excl[f"rows in periods >= {last - anticipation} (no comparison units: no never-treated group)"] = int(
            (~keep).sum())
        rows = rows.keep(keep)
        rows = dataclasses.replace(rows, g=np.where(rows.g == last, 0, rows.g))
        tlist, glist = np.unique(rows.t), np.unique(rows.g[rows.g > 0])
    no_pre = glist[glist - anticipation <= tlist[0]]
    if len(no_pre):
        excl["cohorts without a pre-treatment period (their post-treatment cells are not estimated)"] = int(
            len(no_pre))
        warnings.warn(f"{table}: cohorts {no_pre.tolist()} have no pre-treatment period; their "
                      "post-treatment ATT(g,t) are not estimated", ExclusionWarning, stacklevel=4)
    return rows, tlist, glist


def _covariates(frame: pd.DataFrame, rhs, table: str) -> tuple[np.ndarray, list[str]]:
    """The covariates' design matrix (intercept first) and its column names: R's model.matrix with treatment
    contrasts (a factor's first level is the reference). Non-constant columns are centred and scaled: every
    estimator here is invariant to an affine change of the covariates (same fitted scores and regressions),
    and standardised columns keep the normal equations well conditioned (birth years near 1960 and costs in
    KRW are not)."""
    if not rhs.terms:
        return np.ones((len(frame), 1)), ["(Intercept)"]
    try:
        Xf = formulas.design(frame, rhs, "xformla")
    except formulas.FormulaError as e:
        raise DiDError(f"{table}: {e}") from None
    X = np.column_stack([np.ones(len(frame)), Xf.to_numpy(float)])
    sd = X[:, 1:].std(axis=0)
    X[:, 1:] = (X[:, 1:] - X[:, 1:].mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return X, ["(Intercept)", *Xf.columns]


def _panel_design(rows: _Rows, cl, rhs, tlist, glist, excl, table) -> Design:
    """A balanced panel laid out unit by period (``Y`` is periods x units)."""
    T = len(tlist)
    order = unit_period_order(rows.ids, rows.t)
    n = len(order) // T
    first = order[::T]
    # covariates that do not vary within unit: one design row per unit (the memory-lean path)
    inv = all(_constant_within(rows.df[v].to_numpy()[order].reshape(n, T)) for v in rhs.variables)
    if inv:
        X, xnames = _covariates(rows.df.iloc[first], rhs, table)
    else:  # time-varying covariates: R did uses the earlier period's values of each comparison
        X, xnames = _covariates(rows.df.iloc[order], rhs, table)
        X = X.reshape(n, T, -1).transpose(1, 0, 2).copy()
    return Design(
        panel=True, tlist=tlist, glist=glist, unit_id=rows.ids[first], unit_g=rows.g[first], unit_w=rows.w[first],
        unit_cluster=None if cl is None else cl[first], Y=np.ascontiguousarray(rows.y[order].reshape(n, T).T),
        X=X, x_invariant=inv, row_unit=None, row_t=None, row_y=None, row_X=None, row_w=None,
        xnames=xnames, exclusions=excl,
    )


@dataclass(frozen=True)
class Cell:
    group: int
    time: int
    base: int  # base period actually used
    post: bool
    n_treated: int
    n_control: int


def _cells(d: Design, anticipation: int, base_period: str):
    """Yield (g, t_index, base_index) in R did's order; with a universal base period the reference cell
    itself has ``t_index == base_index``."""
    tl = d.tlist
    varying = base_period != "universal"
    for g in d.glist:
        pre_idx = np.flatnonzero(tl + anticipation < g)
        last_pre = int(pre_idx[-1]) if len(pre_idx) else None
        for ti in range(1 if varying else 0, len(tl)):
            post = g <= tl[ti]
            base = ti - 1 if varying else last_pre
            if post:
                base = last_pre
                if base is None:
                    break  # no pre-treatment period: R did drops the cohort's post cells
            if base is None:
                continue
            yield int(g), ti, base


def _comparison_cohorts(cohorts: np.ndarray, g: int, last: int, control_group: str) -> np.ndarray:
    """The cohorts (0: never treated) that cell (g, t) compares cohort ``g`` with: the never treated, and with
    ``notyettreated`` also the cohorts not treated by ``last`` (the later of t and the base period, plus
    anticipation), ``g`` itself excepted."""
    if control_group == "nevertreated":
        return cohorts[cohorts == 0]
    return cohorts[(cohorts == 0) | ((cohorts > last) & (cohorts != g))]


def compute_cells(d: Design, est_method: str, control_group: str, anticipation: int, base_period: str):
    """All ATT(g,t) and their influence functions (units x cells)."""
    if est_method not in EST_METHODS:
        raise DiDError(f"est_method={est_method!r}; allowed: {list(EST_METHODS)}")
    n = len(d.unit_id)
    specs = list(_cells(d, anticipation, base_period))
    inf = np.zeros((len(specs), n))  # cells x units: each cell's row is contiguous
    att = np.full(len(specs), np.nan)
    cells: list[Cell] = []
    notes: list[str] = []
    tl = d.tlist
    cohorts = np.unique(d.unit_g)  # a cell's comparison cohorts are read off these, not off its units
    row_g = None if d.panel else d.unit_g[d.row_unit]
    if d.panel:
        design = digest(d.X, d.unit_w, d.unit_g)
    else:
        design = digest(d.row_X, d.base_X, d.unit_xrow, d.row_w, d.row_unit, d.row_t, d.unit_g)
    no_x = 0  # row-cells left out: the unit has no covariates in the cell's earlier period
    for j, (g, ti, bi) in enumerate(specs):
        t_cur, t_base = int(tl[ti]), int(tl[bi])
        post = g <= t_cur
        G = d.unit_g == g
        c_cohorts = _comparison_cohorts(cohorts, g, max(t_cur, t_base) + anticipation, control_group)
        C = np.isin(d.unit_g, c_cohorts)
        cells.append(Cell(g, t_cur, t_base, post, int(G.sum()), int(C.sum())))
        if t_cur == t_base:  # universal base period: the reference cell is 0 by construction
            att[j] = 0.0
            continue
        if C.sum() == 0 or G.sum() == 0:
            notes.append(f"ATT({g},{t_cur}): no {'comparison' if G.sum() else 'treated'} units; not estimated")
            inf[j] = np.nan
            continue
        try:
            if d.panel:
                sel = np.flatnonzero(G | C)
                n1 = len(sel)
                xp = None if d.x_invariant else min(ti, bi)
                key = (design, est_method, g, tuple(c_cohorts) if d.x_invariant else C.tobytes(), xp)

                def make(sel=sel, G=G, xp=xp, g=g, t_cur=t_cur):
                    X = d.X[sel] if d.x_invariant else d.X[xp][sel]
                    pp = panel_prep(G[sel], X, d.unit_w[sel], est_method)
                    if pp.logit is not None and pp.logit.ps.max() >= 0.999:
                        raise DiDError(f"overlap condition violated for group {g} in time period {t_cur}")
                    return pp

                pp = _PREPS.get(key, make)  # every outcome with these rows shares it
                a, f = PANEL[est_method](d.Y[ti][sel], d.Y[bi][sel], None, None, prep=pp)
                inf[j, sel] = f * (n / n1)
            else:
                rows = np.flatnonzero(((d.row_t == t_cur) | (d.row_t == t_base)) & ((row_g == g) | C[d.row_unit]))
                if d.unit_xrow is not None:
                    xrow = d.unit_xrow[d.row_unit.take(rows), min(ti, bi)]
                    has = xrow >= 0
                    if not has.all():
                        no_x += int((~has).sum())
                        rows, xrow = rows[has], xrow[has]
                Dr = row_g.take(rows) == g  # take, not a mask: the same rows, half the time
                postr = d.row_t.take(rows) == t_cur
                if not (Dr & postr).any() or not (Dr & ~postr).any() or not (~Dr & postr).any() or not (
                        ~Dr & ~postr).any():
                    notes.append(f"ATT({g},{t_cur}): a treated or comparison group is empty in period "
                                 f"{t_cur} or {t_base}; not estimated")
                    inf[j] = np.nan
                    continue
                n1 = len(rows)
                Xr = take_rows(d.row_X, rows) if d.unit_xrow is None else take_rows(d.base_X, xrow)
                wr = d.row_w.take(rows)
                lg = None
                if est_method != "reg":
                    key = (design, "rc", g, t_cur, t_base, C.tobytes())
                    lg = _PREPS.get(key, lambda Xr=Xr, Dr=Dr, wr=wr: fit_logit(Xr, Dr.astype(float), normalise(wr, len(wr))))
                a, f = RC[est_method](d.row_y.take(rows), postr, Dr, Xr, wr, logit=lg)
                inf[j] = np.bincount(d.row_unit.take(rows), weights=f * (n / n1), minlength=n)
            att[j] = a
        except (DiDError, np.linalg.LinAlgError) as e:
            notes.append(f"ATT({g},{t_cur}): {e}; not estimated")
            inf[j] = np.nan
    if no_x:
        notes.append(f"{no_x} rows left out of the cells whose earlier period has no covariate row for their unit")
    for note in notes:
        warnings.warn(note, ExclusionWarning, stacklevel=3)
    return cells, att, inf.T, notes  # units x cells (a Fortran-ordered view)


@dataclass(frozen=True)
class AttGtResult(ResultMixin):
    """Group-time ATTs with influence functions (R did's ``MP`` object).

    ``params``/``std_errors`` are indexed by (group, time); ``inffunc`` is units x cells; ``crit_val`` the
    simultaneous critical value (``cband``) or the pointwise normal one."""

    call: str
    cells: tuple[Cell, ...]
    att: np.ndarray
    se: np.ndarray
    V: np.ndarray
    inffunc: np.ndarray
    crit_val: float
    design: Design
    settings: dict
    pretest_W: float | None
    pretest_p: float | None
    notes: tuple[str, ...]
    draws: Draws | None = None  # the bootstrap's draws: cells, then w * 1(G = g) for g in design.glist

    @property
    def index(self) -> pd.MultiIndex:
        return pd.MultiIndex.from_tuples([(c.group, c.time) for c in self.cells], names=["group", "time"])

    @property
    def group(self) -> np.ndarray:
        """Each cell's cohort (R did's ``MP$group``)."""
        return np.array([c.group for c in self.cells])

    @property
    def t(self) -> np.ndarray:
        """Each cell's period (R did's ``MP$t``)."""
        return np.array([c.time for c in self.cells])

    @property
    def params(self) -> pd.Series:
        return pd.Series(self.att, index=self.index, name="ATT(g,t)")

    @property
    def std_errors(self) -> pd.Series:
        return pd.Series(self.se, index=self.index, name="std_error")

    @property
    def _crit(self) -> float | None:
        return self.crit_val if self.settings["cband"] else None

    @property
    def cov(self) -> pd.DataFrame:
        """Covariance of the ATT(g,t) from their influence functions, ``V / n`` (R did's ``V_analytical / n``;
        NaN for cells not estimated). Its diagonal gives the analytical standard errors; with
        ``bstrap=True`` ``std_errors`` are the multiplier bootstrap's instead."""
        return pd.DataFrame(self.V / self.inffunc.shape[0], index=self.index, columns=self.index)

    @property
    def nobs(self) -> int:
        """The number of units (R did's ``n``), not of unit-periods."""
        return len(self.design.unit_id)

    @property
    def exclusions(self) -> dict:
        return dict(self.design.exclusions)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row per ATT(g,t): ``term, estimate, std_error, statistic, p_value, conf_low, conf_high``
        (pointwise; the columns every result's ``tidy`` starts with), then ``group, time, event_time, post``,
        ``band_low, band_high`` (uniform band when cband), ``n_treated, n_control``."""
        t = super().tidy(level)
        t["group"] = [c.group for c in self.cells]
        t["time"] = [c.time for c in self.cells]
        t["event_time"] = t["time"] - t["group"]
        t["post"] = [c.post for c in self.cells]
        t["band_low"] = self.att - self.crit_val * self.se
        t["band_high"] = self.att + self.crit_val * self.se
        t["n_treated"] = [c.n_treated for c in self.cells]
        t["n_control"] = [c.n_control for c in self.cells]
        return t

    def summary(self) -> Summary:
        s = self.settings
        band = "Simult. " if s["cband"] else "Pointwise"
        lvl = round(100 * (1 - s["alp"]))
        lo, hi = self.att - self.crit_val * self.se, self.att + self.crit_val * self.se
        tab = pd.DataFrame({"Group": [c.group for c in self.cells], "Time": [c.time for c in self.cells],
                            "ATT(g,t)": self.att, "Std. Error": self.se,
                            f"[{lvl}% {band}": lo, "Conf. Band]": hi})
        tab[""] = stars(pd.Series(lo), pd.Series(hi)).to_numpy()
        lines = ["", "Call:", self.call, "", "Reference: " + REFERENCE, "",
                 "Group-Time Average Treatment Effects:", fmt_table(tab), "---",
                 "Signif. codes: `*' confidence band does not cover 0", ""]
        if self.pretest_p is not None:
            lines.append(f"P-value for pre-test of parallel trends assumption:  {self.pretest_p:.5f}")
        lines += [f"Control Group:  {CONTROL_GROUPS[s['control_group']]},  Anticipation Periods:  "
                  f"{s['anticipation']}", f"Estimation Method:  {EST_METHODS[s['est_method']]}"]
        if s.get("trend") == "linear":
            lines.append(TREND_NOTE)
        if self.design.exclusions:
            lines.append("Exclusions: " + "; ".join(f"{k}: {v}" for k, v in self.design.exclusions.items()))
        if self.notes:
            lines += ["Not estimated:", *("  " + n for n in self.notes)]
        return Summary("\n".join(lines), {"Group-Time Average Treatment Effects": tab})

    def aggte(self, type: str = "group", **kwargs):
        """``aggte(self, type, ...)``; see ``analysis.did.aggte.aggte``."""
        from analysis.did.aggte import aggte

        return aggte(self, type=type, **kwargs)

    def plot(self, ax=None):
        """Group-time ATTs per cohort with the (uniform) band, pre-periods grey, post-periods coloured."""
        from analysis.did.plots import plot_att_gt

        return plot_att_gt(self, ax=ax)


def att_gt(
    data: pd.DataFrame,
    yname: str,
    tname: str,
    idname: str | None,
    gname: str,
    xformla: str | None = None,
    *,
    panel: bool = True,
    allow_unbalanced_panel: bool = False,
    control_group: str = "nevertreated",
    anticipation: int = 0,
    weightsname: str | None = None,
    alp: float = 0.05,
    bstrap: bool = True,
    cband: bool = True,
    biters: int = 1000,
    clustervars: list[str] | None = None,
    est_method: str = "dr",
    base_period: str = "varying",
    seed: int = 0,
    table: str = "data",
) -> AttGtResult:
    """Group-time average treatment effects, ATT(g,t), as R ``did::att_gt``.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data, one row per unit and period.
    yname, tname, idname, gname : str
        Outcome, period, unit id and first-treated period (0 = never treated) columns. ``idname`` may be
        None for repeated cross-sections (``panel=False``).
    xformla : str, optional
        Covariates, R's formula (``"~ x1 + I(x1^2) + C(x3)"``, ``analysis.formulas``; None or ``"~1"``:
        unconditional parallel trends).
    panel : bool, default True
        Panel data (True) or repeated cross-sections (False).
    allow_unbalanced_panel : bool, default False
        Keep units not observed in every period (estimated as repeated cross-sections with the influence
        function summed by unit); otherwise they are dropped and counted.
    control_group : {"nevertreated", "notyettreated"}, default "nevertreated"
        The comparison units of each ATT(g,t).
    anticipation : int, default 0
        Periods before treatment in which units may already react.
    weightsname : str, optional
        Time-invariant sampling weights column.
    alp : float, default 0.05
        Significance level.
    bstrap, cband : bool, default True
        Multiplier bootstrap (Rademacher) standard errors, and a uniform band over all ATT(g,t) from it.
    biters : int, default 1000
        Bootstrap draws.
    clustervars : list of str, optional
        Cluster the bootstrap by ``idname`` and at most one other time-invariant variable.
    est_method : {"dr", "ipw", "reg"}, default "dr"
        Locally efficient doubly robust, inverse probability weighting, or outcome regression.
    base_period : {"varying", "universal"}, default "varying"
        Pre-period cells against the period before (varying) or all cells against g - 1 - anticipation.
    seed : int, default 0
        Seed of the bootstrap draws (the same seed gives the same numbers).
    table : str, default "data"
        Name of ``data`` in error messages.

    Returns
    -------
    AttGtResult
        ``att``, ``se``, ``group``, ``t`` (R's names), ``params``/``std_errors`` by (group, time), the
        influence functions, ``summary()``, ``tidy()``, ``conf_int()``; aggregate with ``aggte``.

    References
    ----------
    Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-Differences with Multiple Time Periods.
    Journal of Econometrics 225(2), 200-230.

    Examples
    --------
    Twelve units over four years, cohorts 2022 and 2023 and never-treated ones, an effect of 2:

    >>> import numpy as np, pandas as pd
    >>> from analysis.did import att_gt
    >>> rng = np.random.default_rng(1)
    >>> ids, year = np.repeat(np.arange(1, 13), 4), np.tile(np.arange(2020, 2024), 12)
    >>> g = np.repeat([0] * 4 + [2022] * 4 + [2023] * 4, 4)
    >>> y = 0.1 * ids + 0.5 * (year - 2020) + 2.0 * ((g > 0) & (year >= g)) + rng.normal(0, 0.1, 48)
    >>> df = pd.DataFrame({"id": ids, "year": year, "g": g, "y": y})
    >>> res = att_gt(df, "y", "year", "id", "g", biters=100, seed=1)
    >>> [(int(g), int(t), round(float(a), 3)) for g, t, a in zip(res.group, res.t, res.att) if t >= g]
    [(2022, 2022, 2.169), (2022, 2023, 2.061), (2023, 2023, 1.936)]
    """
    if base_period not in ("varying", "universal"):
        raise DiDError(f"base_period={base_period!r}; allowed: ['varying', 'universal']")
    if not 0 < alp < 1:
        raise DiDError("alp must be in (0, 1)")
    d = prepare(data, yname, tname, idname, gname, xformla, panel, allow_unbalanced_panel, control_group,
                anticipation, weightsname, clustervars, table)
    cells, att, inf, notes = compute_cells(d, est_method, control_group, anticipation, base_period)
    args = {"yname": yname, "tname": tname, "idname": idname, "gname": gname, "xformla": xformla,
            "control_group": control_group, "anticipation": anticipation, "est_method": est_method,
            "base_period": base_period, "panel": d.panel, "allow_unbalanced_panel": allow_unbalanced_panel,
            "weightsname": weightsname, "clustervars": clustervars, "bstrap": bstrap, "cband": cband,
            "biters": biters, "alp": alp, "seed": seed}
    call = "att_gt(" + ", ".join(f"{k} = {v!r}" for k, v in args.items() if k not in ("panel",)) + ")"
    return inference(d, cells, att, inf, notes, args, call)


def cohort_basis(d: Design) -> np.ndarray:
    """``w * 1(G = g)`` for every cohort g of the design (units x cohorts): with the cells' influence
    functions, the columns every aggregation's influence function is a linear combination of (the
    estimated cohort shares' part of ``aggte``)."""
    return d.unit_w[:, None] * (d.unit_g[:, None] == d.glist[None, :])


def wald_pretest(att: np.ndarray, V: np.ndarray, n: int, pre: np.ndarray,
                 df: int | None = None) -> tuple[float | None, float | None, str | None]:
    """R did's pre-test of parallel trends: the Wald statistic ``n a' V^-1 a`` on the cells ``pre`` (a boolean
    mask) with the analytic covariance ``V`` (units-scaled, as ``inference`` keeps it), its chi-square
    p-value on ``df`` degrees of freedom (all of ``pre`` when None; a pseudo-inverse where ``df`` is given,
    for detrended cells whose covariance has lost rank) and, where no test is returned, why."""
    if not pre.any():
        return None, None, None
    Vp, a = V[np.ix_(pre, pre)], att[pre]
    if not np.isfinite(Vp).all():
        return None, None, "missing covariance of pre-treatment ATT(g,t)"
    if df == 0:
        return None, None, "no degrees of freedom left in the pre-treatment ATT(g,t)"
    if df is not None:
        W = float(n * a @ np.linalg.pinv(Vp, hermitian=True) @ a)
        return W, float(round(stats.chi2.sf(W, df), 5)), None
    if np.linalg.cond(Vp) < 1 / np.finfo(float).eps:
        W = float(n * a @ np.linalg.solve(Vp, a))
        return W, float(round(stats.chi2.sf(W, pre.sum()), 5)), None
    return None, None, "singular covariance of pre-treatment ATT(g,t)"


def inference(d: Design, cells, att: np.ndarray, inf: np.ndarray, notes: list[str], settings: dict, call: str,
              pretest_df: int | None = None, draws: Draws | None = None) -> AttGtResult:
    """Standard errors, bootstrap, band and pre-test of ATT(g,t) estimates ``att`` with influence functions
    ``inf`` (units x cells), per ``settings`` (att_gt's arguments). ``pretest_df``: the rank of the
    pre-period covariance when it is known to be deficient (a pseudo-inverse Wald test with that many
    degrees of freedom, as after removing fitted pre-trends); None: full rank required, as R did.
    ``draws``: the multiplier draws of ``inf`` and ``cohort_basis(d)`` when they are already known (a linear
    transformation of another result's); otherwise drawn here."""
    n = inf.shape[0]
    alp = settings["alp"]
    ok = np.isfinite(att)
    V = np.full((len(att), len(att)), np.nan)
    A = inf if ok.all() else inf[:, ok]  # no copy of the (units x cells) matrix when every cell is estimated
    V[np.ix_(ok, ok)] = A.T @ A / n
    se = np.sqrt(np.diag(V) / n)
    se[~(se > TINY)] = np.nan
    crit = float(stats.norm.ppf(1 - alp / 2))
    if settings["bstrap"] or settings["cband"]:
        if settings["cband"] and not settings["bstrap"]:
            warnings.warn("cband=True: the simultaneous band comes from the multiplier bootstrap", SettingWarning,
                          stacklevel=3)
        if draws is None:
            draws = draw([inf, cohort_basis(d)], settings["biters"], settings["seed"], d.unit_cluster)
        bs = bootstrap(draws.columns(np.arange(len(att))), alp)
        if settings["bstrap"]:
            se = np.where(np.isfinite(se), bs.se, np.nan)
        if settings["cband"] and np.isfinite(bs.crit_val):
            crit = bs.crit_val
    pre = np.array([c.group > c.time for c in cells], dtype=bool) & np.isfinite(se)
    W, p, why = wald_pretest(att, V, n, pre, pretest_df)
    if why:
        notes.append(f"pre-test not returned: {why}")
    return AttGtResult(call=call, cells=tuple(cells), att=att, se=se, V=V, inffunc=inf, crit_val=crit,
                       design=d, settings=settings, pretest_W=W, pretest_p=p, notes=tuple(notes), draws=draws)
