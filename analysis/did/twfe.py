"""Two-way fixed effects (TWFE) DiD: the familiar, and under staggered adoption with heterogeneous effects
biased, benchmark for ``att_gt``; with the negative-weight diagnostic of de Chaisemartin and
D'Haultfoeuille (2020).

``twfe`` regresses the outcome on unit and period effects and either the treatment indicator
``D_it = 1(g_i > 0 and t >= g_i)`` (static) or relative-time indicators ``e = t - g_i`` (event study,
reference ``e = -1``, end points binned), with standard errors clustered by unit: the numbers of
``linearmodels.PanelOLS(entity_effects=True, time_effects=True)`` (tests compare them), computed by
Frisch-Waugh-Lovell on exact two-way residuals (``fe_wls``: no dummies, no pandas panel index).
Arguments follow R ``did`` (``yname, tname, idname, gname``; ``gname`` 0 = never treated).

``negative_weights`` decomposes the static coefficient: ``beta = sum over treated (i,t) of w_it TE_it``
with ``w_it = W_it eps_it / sum_{D=1} W eps``, ``eps`` the residual of ``D`` on unit and period effects in
the regression's sample (``W`` the sampling weight, 1 by default). Some ``w_it`` are negative when late
periods of early cohorts act as controls; ``sigma_fe`` is the smallest standard deviation of the
treatment effects across treated observations under which ``beta`` and the average treatment effect on
the treated could have opposite signs.

Standard errors: ``cov_type="clustered", cluster_entity=True, debiased=True, group_debias=True``, i.e.
the cluster-robust covariance scaled by ``G/(G-1) * (n-1)/(n-K)`` with K counting the coefficients and
*all* fixed effects (PanelOLS counts both effects when there are two). This equals an OLS with unit and
period dummies and ``cov_type="cluster"`` in statsmodels (and Stata ``regress ..., vce(cluster id)``).
R ``fixest`` and Stata ``reghdfe`` do not count unit effects nested in the unit clusters, so their
standard errors are smaller by about ``sqrt((n-K)/(n-K+N_units))``, noticeable in short panels.
p-values and intervals use the normal distribution, like every result of ``analysis.did``.

References: de Chaisemartin, C. and D'Haultfoeuille, X. (2020). Two-way fixed effects estimators with
heterogeneous treatment effects. American Economic Review 110(9), 2964-2996. Goodman-Bacon, A. (2021).
Difference-in-differences with variation in treatment timing. Journal of Econometrics 225(2), 254-277.
Sun, L. and Abraham, S. (2021). Estimating dynamic treatment effects in event studies with heterogeneous
treatment effects. Journal of Econometrics 225(2), 175-199 (for the event-study bias).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from analysis import formulas
from analysis.did.checks import check_units, complete_rows, int_column
from analysis.did.drdid import DiDError
from analysis.did.memo import Memo, digest
from analysis.did.results import ResultMixin, fmt_table, stars
from analysis.summary import Summary

REFERENCE_DCDH = (
    "de Chaisemartin, Clement and Xavier D'Haultfoeuille. \"Two-Way Fixed Effects Estimators with "
    "Heterogeneous Treatment Effects.\" American Economic Review, Vol. 110, No. 9, pp. 2964-2996, 2020."
)
COV_NOTE = ("clustered by unit; small-sample factor G/(G-1)*(n-1)/(n-K), K counting all fixed effects "
            "(as statsmodels OLS with dummies, cov_type='cluster')")


# ------------------------------------------------------------------------------------------ data
@dataclass(frozen=True)
class TwfeData:
    """The regression sample, sorted by (unit, period), after checks and reported exclusions."""

    frame: pd.DataFrame  # columns i, t, g, y, w, D (one row per unit and period)
    names: dict  # idname, tname, gname, yname, weightsname
    exclusions: dict = field(default_factory=dict)
    covariates: pd.DataFrame | None = None  # the xformla's design columns, rows as ``frame``'s


def prepare_twfe(
    data: pd.DataFrame, yname: str, tname: str, idname: str, gname: str, weightsname: str | None = None,
    table: str = "data", xformla: str | None = None,
) -> TwfeData:
    """Check the data and lay out the regression sample; every dropped row is counted in ``exclusions``.

    Rows with a missing value in a needed column are dropped and counted by column (a warning says so).
    Duplicate (idname, tname) pairs, a ``gname`` (or weight) that varies within a unit, negative cohorts or
    weights and a non-numeric outcome raise ``DiDError`` naming the table, the column and example ids."""
    rhs = None
    if xformla is not None:
        rhs = formulas.parse(xformla, "xformla")
        formulas.require_columns(data, rhs, "xformla", table)
    df, excl = complete_rows(data, [idname, tname, gname, yname, weightsname, *(rhs.variables if rhs else ())],
                             table)
    ids = int_column(df[idname], table, idname)
    t = int_column(df[tname], table, tname)
    g = int_column(df[gname], table, gname)
    if (g < 0).any():
        raise DiDError(f"{table}: {gname!r} must be 0 (never treated) or the first treated period; "
                       f"{int((g < 0).sum())} rows are negative")
    y = pd.to_numeric(df[yname], errors="coerce").to_numpy(float)
    if not np.isfinite(y).all():
        raise DiDError(f"{table}: outcome {yname!r} is not numeric/finite in {int((~np.isfinite(y)).sum())} "
                       "rows")
    if weightsname:
        w = pd.to_numeric(df[weightsname], errors="coerce").to_numpy(float)
        if not np.isfinite(w).all() or (w <= 0).any():
            raise DiDError(f"{table}: weights {weightsname!r} must be positive and finite; "
                           f"{int((~np.isfinite(w) | (w <= 0)).sum())} rows are not")
    else:
        w = np.ones(len(df))
    order = check_units(ids, t, {gname: g, **({weightsname: w} if weightsname else {})}, idname, tname, gname,
                        table)
    ids, t, g, y, w = ids[order], t[order], g[order], y[order], w[order]
    frame = pd.DataFrame({"i": ids, "t": t, "g": g, "y": y, "w": w,
                          "D": ((g > 0) & (t >= g)).astype(float)})
    names = {"idname": idname, "tname": tname, "gname": gname, "yname": yname, "weightsname": weightsname}
    cov = None
    if rhs is not None and rhs.terms:
        cov = formulas.design(df.iloc[order].reset_index(drop=True), rhs, "xformla")
        clash = [c for c in cov.columns if c == "D" or c.startswith(("e=", "e<", "e>"))]
        if clash:
            raise DiDError(f"{table}: xformla term(s) {clash} are named like the treatment terms; rename them")
    return TwfeData(frame=frame, names=names, exclusions=excl, covariates=cov)


def _codes(v: np.ndarray) -> tuple[np.ndarray, int]:
    """Codes of ``v`` in sorted order of its values (``np.unique``'s inverse), by hashing."""
    codes, uniq = pd.factorize(v, sort=True)
    return codes, len(uniq)


def twoway_residual(x: np.ndarray, unit: np.ndarray, period: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Residual of ``x`` (a vector, or each column of an n x k array) from a (``w``-weighted) least-squares
    regression on unit and period effects.

    Exact for unbalanced panels: unit effects are partialled out by within-unit demeaning (Frisch-Waugh-
    Lovell) and the period effects solved from their T x T normal equations built from group sums, so no
    n x T dummy matrix is formed (the units x T weight table is: fine while T, the number of periods or
    stack-periods, is small). All columns at once: the group sums are sparse products."""
    from scipy import sparse

    ui, nu = _codes(unit)
    pi, T = _codes(period)
    n = len(ui)
    wu = np.bincount(ui, w, nu)
    A = np.bincount(ui * T + pi, w, nu * T).reshape(nu, T)  # weight of unit u in period p
    # Z = period dummies; Zd = Z demeaned within unit: Zd'WZd = diag(W_p) - A' diag(1/W_u) A
    M = np.diag(np.bincount(pi, w, T)) - A.T @ (A / wu[:, None])
    rows = np.arange(n)
    S_unit = sparse.csr_matrix((w, (ui, rows)), shape=(nu, n))  # weighted unit sums
    S_period = sparse.csr_matrix((w, (pi, rows)), shape=(T, n))
    X = np.asarray(x, float)
    X2 = X[:, None] if X.ndim == 1 else X
    Xd = X2 - (S_unit @ X2 / wu[:, None])[ui]  # demeaned within unit
    b = S_period @ Xd  # Zd'W xd = Z'W xd (xd is orthogonal to unit dummies)
    gam = np.zeros((T, X2.shape[1]))
    for j in range(X2.shape[1]):  # column by column: a column's residual does not depend on its neighbours
        gam[1:, j] = np.linalg.lstsq(M[1:, 1:], b[1:, j], rcond=None)[0]  # first period's effect = 0
    unit_part = np.column_stack([A @ gam[:, j] for j in range(X2.shape[1])]) / wu[:, None]
    out = Xd - (gam[pi] - unit_part[ui])  # xd - Zd @ gam
    return out[:, 0] if X.ndim == 1 else out


ABSORBED = 1e-8  # a regressor keeping less than this share of its (weighted) variation is absorbed
COLLINEAR = 1e10  # condition number of the regressors' correlation matrix above which a set is collinear
_RESIDUALS = Memo("twfe_residuals", 512 << 20)  # regressors' fixed-effect residuals by (effects, weights, column) digest


def fe_wls(y: np.ndarray, regressors: dict[str, dict[str, np.ndarray]], a: np.ndarray, b: np.ndarray,
           w: np.ndarray, cluster: np.ndarray, count_effects: bool = False,
           ) -> tuple[list[tuple[pd.Series, pd.Series, pd.DataFrame]], pd.DataFrame]:
    """Weighted least squares of ``y`` on each set of ``regressors`` (set name -> {term: column}) with two
    sets of fixed effects ``a`` and ``b``, by Frisch-Waugh-Lovell: the outcome and every distinct column are
    residualised on the effects once (``twoway_residual``), for all the sets. Columns that are zero
    everywhere (event times nobody is observed at) are left out of their set.

    Covariance clustered by ``cluster``, scaled by G/(G-1) and, with ``count_effects``, by
    (n-1)/(n-K), K = the coefficients plus every fixed effect (levels of a + levels of b - 1): the numbers
    of ``linearmodels.PanelOLS(entity_effects=True, time_effects=True).fit(cov_type="clustered",
    cluster_entity=True, debiased=True, group_debias=True)`` and of statsmodels OLS with the dummies and
    ``cov_type="cluster"`` (tests check both). Returns (coefficients, standard errors, covariance) per set,
    and every cluster's contribution to all sets' coefficients (one row per cluster code, columns (set,
    term), the small-sample factor included), whose cross-product ``scores.T @ scores`` is the covariance of
    all the coefficients together: the sets are separate regressions on the same rows, so their coefficients
    covary through the clusters' scores (as Stata's ``suest``), and its diagonal blocks are the sets' own
    covariances. A set with no column, or with a column the effects absorb, raises ``DiDError`` naming the
    terms."""
    sets = {}
    for name, regs in regressors.items():
        sets[name] = {k: v for k, v in regs.items() if np.any(v != 0)}
        if not sets[name]:
            raise DiDError(f"{name}: no observation in any of the terms {list(regs)}")
    cols = {k: v for regs in sets.values() for k, v in regs.items()}
    effects = digest(a, b, w)
    keys = {k: (effects, digest(v)) for k, v in cols.items()}
    # residuals another outcome with these rows, effects and weights already had; then the rest, with y
    resid = {k: _RESIDUALS[keys[k]] for k in cols if keys[k] in _RESIDUALS}
    todo = [k for k in cols if k not in resid]
    fresh = twoway_residual(np.column_stack([y, *(cols[k] for k in todo)]), a, b, w)
    yd = fresh[:, 0]
    for j, k in enumerate(todo, start=1):
        resid[k] = np.ascontiguousarray(fresh[:, j])
        _RESIDUALS.get(keys[k], lambda v=resid[k]: v)
    wm = w / w.sum()
    absorbed = [k for k, v in cols.items()
                if wm @ resid[k] ** 2 <= ABSORBED * (wm @ (v - wm @ v) ** 2)]
    if absorbed:
        raise DiDError(f"term(s) {absorbed} absorbed by the fixed effects")
    G = int(cluster.max()) + 1
    n_effects = len(np.unique(a)) + len(np.unique(b)) - 1 if count_effects else 0
    out, scores = [], []
    for regs in sets.values():
        names = list(regs)
        X = np.column_stack([resid[k] for k in names])
        XtWX = (X * w[:, None]).T @ X
        d = np.sqrt(np.diag(XtWX))
        # scale-free: a set whose columns jointly (not one by one) lie in the effects' span solves to noise
        # rather than failing, so the correlation form of X'WX is checked before solving
        if np.linalg.cond(XtWX / np.outer(d, d)) > COLLINEAR:
            raise DiDError(f"regressors {names} are collinear with the fixed effects")
        beta = np.linalg.solve(XtWX, X.T @ (w * yd))
        u = (w * (yd - X @ beta))[:, None] * X
        uc = np.stack([np.bincount(cluster, weights=u[:, j], minlength=G) for j in range(X.shape[1])], axis=1)
        c = G / (G - 1) * ((len(y) - 1) / (len(y) - len(names) - n_effects) if count_effects else 1.0)
        psi = uc @ np.linalg.inv(XtWX) * np.sqrt(c)  # each cluster's contribution, small-sample factor in
        V = psi.T @ psi
        out.append((pd.Series(beta, index=names), pd.Series(np.sqrt(np.diag(V)), index=names),
                    pd.DataFrame(V, index=names, columns=names)))
        scores.append(psi)
    index = pd.MultiIndex.from_tuples([(s, k) for s, regs in sets.items() for k in regs], names=["set", "term"])
    return out, pd.DataFrame(np.hstack(scores), columns=index)


# ------------------------------------------------------------------------------- negative weights
@dataclass(frozen=True)
class NegativeWeightsResult:
    """de Chaisemartin-D'Haultfoeuille decomposition of the static TWFE coefficient.

    ``weights`` has one row per treated observation (unit, period, cohort, ``weight``), the weights summing
    to one; ``cells`` sums them by (cohort g, period t) with the number of treated observations. ``beta``
    is ``sum(W eps y) / sum(W eps D)``, the static TWFE coefficient computed from the weights (equal to the
    regression's up to rounding); ``exclusions`` counts the dropped rows. ``sd_w`` is the population
    standard deviation of the weights normalised to mean one over the treated observations (the paper's
    ``sigma(w)``, sampling-weighted), and ``sigma_fe = |beta| / sd_w``."""

    weights: pd.DataFrame
    cells: pd.DataFrame
    beta: float
    n_treated: int
    n_negative: int
    share_negative: float
    sum_negative: float
    sum_positive: float
    sd_w: float
    sigma_fe: float
    exclusions: dict = field(default_factory=dict)
    call: str = ""

    def summary(self) -> Summary:
        neg = self.cells[self.cells["weight"] < 0]
        lines = [
            "Negative weights (de Chaisemartin and D'Haultfoeuille 2020):",
            f"  the static TWFE coefficient {self.beta:.4f} is a weighted sum of the effects of "
            f"{self.n_treated} treated observations;",
            f"  {self.n_negative} ({100 * self.share_negative:.1f}%) have a negative weight; sum of negative "
            f"weights {self.sum_negative:.4f}, of positive weights {self.sum_positive:.4f}.",
            f"  sigma_fe = {self.sigma_fe:.4f}: effects with a standard deviation across treated observations "
            "this small",
            "  are compatible with an average effect on the treated of the opposite sign (or zero).",
        ]
        if len(neg):
            cells = ", ".join(f"(g={g}, t={t})" for g, t in zip(neg["g"].head(8), neg["t"].head(8), strict=True))
            more = f" and {len(neg) - 8} more" if len(neg) > 8 else ""
            lines.append(f"  Cells with negative total weight: {cells}{more}.")
        if self.call and self.exclusions:
            lines.append("  Exclusions: " + "; ".join(f"{k}: {v}" for k, v in self.exclusions.items()))
        return Summary("\n".join(lines), {"Weights of the treated (g, t) cells": self.cells})

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return self.summary().as_html()


def _negative_weights(d: TwfeData) -> NegativeWeightsResult:
    f = d.frame
    if not (f["D"] > 0).any():
        raise DiDError(f"no treated observation (no row with {d.names['gname']} > 0 and "
                       f"{d.names['tname']} >= {d.names['gname']})")
    w = f["w"].to_numpy()
    D = f["D"].to_numpy()
    eps = twoway_residual(D, f["i"].to_numpy(), f["t"].to_numpy(), w)
    den = float(np.sum(w * eps * D))
    if abs(den) < 1e-12 * max(1.0, float(np.sum(w * D))):
        raise DiDError("the treatment is collinear with the unit and period effects (every treated unit is "
                       "treated in all its observed periods, or no comparison); TWFE is not identified")
    beta = float(np.sum(w * eps * f["y"].to_numpy()) / den)
    tr = D > 0
    om = (w * eps)[tr] / den
    wt = w[tr]
    # the paper's weights: normalised to mean one under the distribution of the treated observations
    wn = om * wt.sum() / wt
    sd_w = float(np.sqrt(np.sum(wt * (wn - 1.0) ** 2) / wt.sum()))
    n = d.names
    obs = pd.DataFrame({n["idname"]: f["i"].to_numpy()[tr], n["tname"]: f["t"].to_numpy()[tr],
                        n["gname"]: f["g"].to_numpy()[tr], "weight": om})
    cells = (pd.DataFrame({"g": obs[n["gname"]], "t": obs[n["tname"]], "weight": om})
             .groupby(["g", "t"], as_index=False).agg(weight=("weight", "sum"), n_obs=("weight", "size")))
    n_neg = int((om < 0).sum())
    return NegativeWeightsResult(
        weights=obs, cells=cells, beta=beta, n_treated=int(tr.sum()), n_negative=n_neg,
        share_negative=n_neg / int(tr.sum()), sum_negative=float(om[om < 0].sum()),
        sum_positive=float(om[om > 0].sum()), sd_w=sd_w, sigma_fe=abs(beta) / sd_w if sd_w > 0 else np.inf,
        exclusions=dict(d.exclusions))


def negative_weights(
    data: pd.DataFrame,
    yname: str,
    tname: str,
    idname: str,
    gname: str,
    *,
    weightsname: str | None = None,
    table: str = "data",
) -> NegativeWeightsResult:
    """Weights of the static TWFE coefficient on the treated observations' effects (dCDH 2020, Theorem 1).

    The static TWFE coefficient satisfies ``beta = sum_{D_it=1} w_it TE_it`` (under parallel trends) with
    ``w_it = W_it eps_it / sum_{D=1} W eps``, where ``eps`` is the residual of ``D_it`` on unit and period
    effects in the regression sample (rows with a missing value dropped and reported, as in ``twfe``).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit and period (unbalanced panels allowed).
    yname, tname, idname, gname : str
        Outcome, period, unit id and first treated period (0 = never treated).
    weightsname : str, optional
        Sampling weight, constant within unit.
    table : str, default "data"
        Name of ``data`` in error messages.

    Returns
    -------
    NegativeWeightsResult
        Weights per treated observation and per (cohort, period) cell, the number, share and sum of the
        negative weights, ``sd_w`` and the robustness measure ``sigma_fe = |beta| / sd_w``.

    References
    ----------
    de Chaisemartin, C. and D'Haultfoeuille, X. (2020). Two-way fixed effects estimators with heterogeneous
    treatment effects. American Economic Review 110(9), 2964-2996 (Theorem 1 and Corollary 1).

    Examples
    --------
    Two cohorts enrolling in periods 2 and 4, no one never enrolled, effects that grow with time since
    enrolment (1, 3, 5; every effect positive, 2.5 on average): the static TWFE coefficient is 0, because the
    early cohort's last period enters with a negative weight (the late cohort's change serves as its
    comparison):

    >>> import numpy as np, pandas as pd
    >>> from analysis.did import negative_weights
    >>> ids = np.arange(1, 21)
    >>> d = pd.DataFrame({"id": np.repeat(ids, 4), "t": np.tile([1, 2, 3, 4], 20),
    ...                   "g": np.repeat(np.where(ids <= 10, 2, 4), 4)})
    >>> d["y"] = 0.1 * d.id + 0.5 * d.t + np.where(d.t >= d.g, 1.0 + 2.0 * (d.t - d.g), 0.0)
    >>> nw = negative_weights(d, "y", "t", "id", "g")
    >>> nw.cells[["g", "t", "weight"]].round(3).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'g': 2, 't': 2, 'weight': 0.5}, {'g': 2, 't': 3, 'weight': 0.5}, {'g': 2, 't': 4, 'weight': -0.5},
     {'g': 4, 't': 4, 'weight': 0.5}]
    >>> abs(nw.beta) < 1e-9, nw.n_negative, nw.n_treated
    (True, 10, 40)
    """
    d = prepare_twfe(data, yname, tname, idname, gname, weightsname, table)
    res = _negative_weights(d)
    call = (f"negative_weights(yname = {yname!r}, tname = {tname!r}, idname = {idname!r}, gname = {gname!r}, "
            f"weightsname = {weightsname!r})")
    return replace(res, call=call)


# ------------------------------------------------------------------------------------------- TWFE
def event_terms(leads: int, lags: int) -> list[tuple[int, str]]:
    """(binned relative time, term name) of the event-study indicators, reference e = -1 left out."""
    out = []
    for k in range(-leads, lags + 1):
        if k == -1:
            continue
        name = f"e<=-{leads}" if k == -leads else f"e>={lags}" if k == lags else f"e={k}"
        out.append((k, name))
    return out


@dataclass(frozen=True)
class TwfeResult(ResultMixin):
    """Two-way fixed effects estimates: ``params``/``std_errors``/``cov`` labelled by term (``"D"`` or
    ``"e<=-4"``, ``"e=-3"``, ..., ``"e>=4"``), ``nobs``, ``n_units``, ``exclusions``, ``tidy()``,
    ``conf_int()``, ``summary()`` and, for the event study, ``plot()``. ``negative_weights`` is the dCDH
    diagnostic (static model only) and ``term_obs`` the number of treated observations behind each term."""

    call: str
    terms: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    V: np.ndarray
    nobs: int
    n_units: int
    n_periods: int
    n_clusters: int
    event_study: bool
    leads: int
    lags: int
    settings: dict
    exclusions: dict
    term_obs: dict
    negative_weights: NegativeWeightsResult | None
    notes: tuple[str, ...]

    @property
    def params(self) -> pd.Series:
        return pd.Series(self.coef, index=pd.Index(self.terms, name="term"), name="estimate")

    @property
    def std_errors(self) -> pd.Series:
        return pd.Series(self.se, index=pd.Index(self.terms, name="term"), name="std_error")

    @property
    def cov(self) -> pd.DataFrame:
        return pd.DataFrame(self.V, index=list(self.terms), columns=list(self.terms))

    def event_time(self) -> pd.Series:
        """Relative time of each event-study term (bins at their end point), indexed by term."""
        if not self.event_study:
            raise DiDError("the static model has no event-time terms; fit with event_study=True")
        m = dict((n, k) for k, n in event_terms(self.leads, self.lags))  # covariates' terms: NaN
        return pd.Series([m.get(t, np.nan) for t in self.terms], index=pd.Index(self.terms, name="term"),
                         name="e")

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """Long frame ``term, estimate, std_error, statistic, p_value, conf_low, conf_high, n_obs``
        (then ``event_time`` for the event study); ``n_obs`` counts the treated observations of a term."""
        t = super().tidy(level)
        t["n_obs"] = [self.term_obs.get(x, np.nan) for x in self.terms]  # NaN for a covariate
        if self.event_study:
            t["event_time"] = self.event_time().to_numpy()
        return t

    def summary(self) -> Summary:
        ci = self.conf_int()
        tab = pd.DataFrame({"Term": list(self.terms), "Estimate": self.coef, "Std. Error": self.se,
                            "[95% Pointwise": ci["lower"].to_numpy(), "Conf. Int.]": ci["upper"].to_numpy(),
                            "N treated obs": [self.term_obs.get(x, np.nan) for x in self.terms]})
        tab[""] = stars(ci["lower"].reset_index(drop=True), ci["upper"].reset_index(drop=True)).to_numpy()
        if self.event_study:
            design = (f"Event study: indicators of e = t - g for treated units, reference e = -1 omitted, "
                      f"end points binned (e <= -{self.leads}, e >= {self.lags}); never-treated units 0")
        else:
            design = "Static: D_it = 1(g_i > 0 and t >= g_i)"
        lines = ["", "Call:", self.call, "",
                 "Two-way fixed effects (unit and period effects; as linearmodels PanelOLS)",
                 f"Design: {design}",
                 f"Standard errors: {COV_NOTE}; {self.n_clusters} clusters",
                 f"Observations: {self.nobs},  Units: {self.n_units},  Periods: {self.n_periods}"
                 + (f",  Weights: {self.settings['weightsname']}" if self.settings.get("weightsname") else ""),
                 "", "Coefficients:", fmt_table(tab), "---",
                 "Signif. codes: `*' confidence interval does not cover 0", ""]
        if self.exclusions:
            lines.append("Exclusions: " + "; ".join(f"{k}: {v}" for k, v in self.exclusions.items()))
        if self.notes:
            lines += ["Notes:", *("  " + n for n in self.notes)]
        if self.negative_weights is not None:
            lines += ["", self.negative_weights.summary(), "Reference: " + REFERENCE_DCDH]
        lines += ["", "TWFE is biased under staggered adoption when effects vary across cohorts or with "
                  "exposure; compare att_gt/aggte."]
        return Summary("\n".join(lines), {"Coefficients": tab})

    def plot(self, ax=None, level: float = 0.95):
        """Event-study plot: estimates with pointwise ``level`` intervals by relative time, the reference
        period e = -1 drawn at 0; bins are labelled ``e<=-L``/``e>=K``. Returns the matplotlib Figure."""
        if not self.event_study:
            raise DiDError("plot() draws the event study; fit twfe(..., event_study=True)")
        import matplotlib.pyplot as plt

        from analysis.did.plots import band

        e = self.event_time().to_numpy()
        ci = self.conf_int(level)
        est, lo, hi = self.coef, ci["lower"].to_numpy(), ci["upper"].to_numpy()
        fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7, 3.5))
        band(ax, e, est, lo, hi, e < 0, labels=("pre-treatment", "post-treatment"))
        ax.plot([-1], [0.0], marker="o", mfc="white", color="k", ls="none", label="reference (e = -1)")
        ax.axvline(-0.5, color="0.6", lw=0.8, ls="--")
        ticks = np.concatenate([e, [-1]])
        labels = [*(t.replace("e=", "").replace("e", "") for t in self.terms), "-1"]
        ax.set_xticks(ticks, labels)
        ax.set_xlabel("periods relative to treatment (e = t - g)")
        ax.set_ylabel("TWFE estimate")
        ax.set_title(f"TWFE event study ({round(100 * level)}% pointwise intervals, clustered by unit)",
                     fontsize=10)
        ax.legend(frameon=False, fontsize=8)
        fig.tight_layout()
        return fig


def twfe(
    data: pd.DataFrame,
    yname: str,
    tname: str,
    idname: str,
    gname: str,
    *,
    event_study: bool = False,
    leads: int = 4,
    lags: int = 4,
    weightsname: str | None = None,
    xformla: str | None = None,
    table: str = "data",
) -> TwfeResult:
    """Two-way fixed effects regression for staggered adoption (static or event study).

    Static: ``y_it = a_i + l_t + b D_it + e_it`` with ``D_it = 1(g_i > 0 and t >= g_i)``. Event study:
    ``y_it = a_i + l_t + sum_k b_k 1(g_i > 0, e_it = k) + e_it`` with ``e_it = t - g_i``, k from ``-leads``
    to ``lags`` without the reference -1, ``e <= -leads`` and ``e >= lags`` pooled into one indicator each
    (terms ``"e<=-{leads}"`` and ``"e>={lags}"``); never-treated units have all indicators 0. The
    estimates of ``linearmodels.PanelOLS(entity_effects=True, time_effects=True)`` with standard errors
    clustered by unit (see the module docstring for the small-sample factor), by ``fe_wls``. Unbalanced
    panels are fine.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit and period.
    yname : str
        Outcome column.
    tname : str
        Period column (whole numbers).
    idname : str
        Unit id column (whole numbers); the clusters.
    gname : str
        First treated period of the unit, 0 for never treated (R ``did``'s convention); constant within
        unit.
    event_study : bool, default False
        Fit relative-time indicators instead of ``D``.
    leads : int, default 4
        The lower bin is ``e <= -leads`` (>= 2, so that the bin excludes the reference -1).
    lags : int, default 4
        The upper bin is ``e >= lags`` (>= 0).
    weightsname : str, optional
        Sampling weight column (constant within unit); weighted least squares.
    xformla : str, optional
        Time-varying covariates as R's one-sided formula (``"~ x1 + I(x1^2)"``, read by formulaic as
        ``att_gt``'s), added to the regression after the treatment terms (PanelOLS's exogenous variables
        beside the effects). A covariate constant within every unit is absorbed by the unit effects: an
        error names it. With covariates the static model has no negative-weight decomposition.
    table : str, default "data"
        Name of ``data`` in error messages.

    Returns
    -------
    TwfeResult
        ``params``, ``std_errors``, ``cov`` by term, with the negative-weight diagnostic
        (``negative_weights``, see ``negative_weights``) for the static model.

    Raises
    ------
    DiDError
        Duplicate (idname, tname) rows, a gname that varies within a unit, non-integer ids/periods/cohorts,
        a term absorbed by the fixed effects, or no treated observation. Rows with missing values are
        dropped and counted in ``exclusions`` (with a warning).

    References
    ----------
    de Chaisemartin, C. and D'Haultfoeuille, X. (2020). American Economic Review 110(9), 2964-2996.
    Sun, L. and Abraham, S. (2021). Journal of Econometrics 225(2), 175-199.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from analysis.did import twfe
    >>> rng = np.random.default_rng(1)
    >>> ids, year = np.repeat(np.arange(1, 13), 4), np.tile(np.arange(2020, 2024), 12)
    >>> g = np.repeat([0] * 4 + [2022] * 4 + [2023] * 4, 4)
    >>> y = 0.1 * ids + 0.5 * (year - 2020) + 2.0 * ((g > 0) & (year >= g)) + rng.normal(0, 0.1, 48)
    >>> df = pd.DataFrame({"id": ids, "year": year, "g": g, "y": y})
    >>> res = twfe(df, "y", "year", "id", "g")
    >>> round(float(res.params["D"]), 3), round(float(res.std_errors["D"]), 3)
    (2.063, 0.054)
    >>> es = twfe(df, "y", "year", "id", "g", event_study=True, leads=2, lags=1)
    >>> {term: round(float(b), 3) for term, b in es.params.items()}
    {'e<=-2': -0.009, 'e=0': 2.061, 'e>=1': 2.053}
    """
    if event_study and (int(leads) != leads or int(lags) != lags or leads < 2 or lags < 0):
        raise DiDError(f"leads={leads!r}, lags={lags!r}: need whole numbers with leads >= 2 (the bin "
                       "e <= -leads must not contain the reference e = -1) and lags >= 0")
    leads, lags = int(leads), int(lags)
    d = prepare_twfe(data, yname, tname, idname, gname, weightsname, table, xformla)
    f = d.frame
    notes = _sample_notes(f, table, gname)
    X, term_obs, nw = _regressors(d, event_study, leads, lags, notes, table, gname, tname)
    terms = tuple(X.columns)
    unit = f["i"].to_numpy()
    try:
        ((coef, se, V),), _ = fe_wls(f["y"].to_numpy(), {"model": {k: X[k].to_numpy() for k in terms}}, unit,
                                  f["t"].to_numpy(), f["w"].to_numpy(), pd.factorize(unit)[0], count_effects=True)
    except DiDError as e:
        hints = (["a covariate constant within units or within periods is absorbed: drop it"]
                 if d.covariates is not None else [])
        if event_study:
            hints.append("without never-treated units, bin more relative times (smaller leads/lags) or add "
                         "never-treated units")
        raise DiDError(f"{table}: {e} (unit and period effects)" + "".join(f"; {h}" for h in hints)) from e
    coef, se, V = coef.to_numpy(float), se.to_numpy(float), V.to_numpy(float)
    if nw is not None and abs(nw.beta - coef[0]) > 1e-6 * (1 + abs(nw.beta)):
        notes.append(f"the dCDH decomposition gives {nw.beta:.6g}, the regression {coef[0]:.6g}"
                     " (numerical issue: check the panel for disconnected units and periods)")
    settings = {"yname": yname, "tname": tname, "idname": idname, "gname": gname, "event_study": event_study,
                "leads": leads, "lags": lags, "weightsname": weightsname, "xformla": xformla}
    shown = {k: v for k, v in settings.items() if (event_study or k not in ("leads", "lags"))
             and (k != "xformla" or xformla is not None)}
    call = "twfe(" + ", ".join(f"{k} = {v!r}" for k, v in shown.items()) + ")"
    return TwfeResult(
        call=call, terms=terms, coef=coef, se=se, V=V, nobs=len(f), n_units=int(f["i"].nunique()),
        n_periods=int(f["t"].nunique()), n_clusters=int(f["i"].nunique()), event_study=event_study,
        leads=leads, lags=lags, settings=settings, exclusions=dict(d.exclusions), term_obs=term_obs,
        negative_weights=nw, notes=tuple(notes))


def _sample_notes(f: pd.DataFrame, table: str, gname: str) -> list[str]:
    """What the sample means for the estimate: units treated in every period they are observed, no
    never-treated units; no treated unit at all is an error."""
    treated = f["g"].to_numpy() > 0
    notes: list[str] = []
    always = f.loc[treated, ["i", "t", "g"]].groupby("i").agg(t=("t", "min"), g=("g", "first"))
    n_always = int((always["g"] <= always["t"]).sum())
    if n_always:
        notes.append(f"{n_always} units are treated in every period they are observed: their D is absorbed "
                     "by the unit effects, they act as comparison units (R did drops them)")
    if not treated.any():
        raise DiDError(f"{table}: no treated unit ({gname!r} > 0)")
    if not (f["g"] == 0).any():
        notes.append("no never-treated units: identification comes from timing alone (early cohorts' late "
                     "periods are controls for later cohorts)")
    return notes


def _regressors(d, event_study: bool, leads: int, lags: int, notes: list[str], table: str, gname: str, tname: str):
    """``(X, term_obs, negative_weights)``: the treatment terms (``D``, or the binned relative-time
    indicators, each with its treated observations; a term without any is dropped with a note), then the
    covariates; the negative-weight diagnostic for the static model without covariates (else None)."""
    f = d.frame
    g, t = f["g"].to_numpy(), f["t"].to_numpy()
    nw = None
    if event_study:
        ebin = np.clip(t - g, -leads, lags)
        cols, term_obs = {}, {}
        for k, name in event_terms(leads, lags):
            x = ((g > 0) & (ebin == k)).astype(float)
            if x.sum() == 0:
                notes.append(f"term {name} dropped: no treated observation at that relative time")
                continue
            cols[name] = x
            term_obs[name] = int(x.sum())
        if not cols:
            raise DiDError(f"{table}: no event-study indicator has an observation")
        X = pd.DataFrame(cols)
    else:
        if f["D"].sum() == 0:
            raise DiDError(f"{table}: no treated observation ({gname} > 0 and {tname} >= {gname})")
        X = pd.DataFrame({"D": f["D"].to_numpy()})
        term_obs = {"D": int(f["D"].sum())}
        nw = _negative_weights(d) if d.covariates is None else None
    if d.covariates is not None:
        X = pd.concat([X, d.covariates], axis=1)
        if not event_study:
            notes.append("with covariates the static coefficient has no negative-weight decomposition "
                         "(de Chaisemartin and D'Haultfoeuille's Theorem 1 is for the model without them)")
    return X, term_obs, nw
