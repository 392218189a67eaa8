"""A difference in differences on the ratio scale for costs and counts: Wooldridge's extended two-way fixed
effects with an exponential mean (``poisson_etwfe``).

Why: medical costs grow by a share a year. Two groups whose costs differ in level then grow apart in KRW
although their trends are parallel in ratio, and a DiD in levels reads that gap as an effect of the program:
volunteers who cost less than everyone else seem to save money. Parallel trends in ratio is the assumption
costs make plausible (Wooldridge 2023; Chen and Roth 2024, QJE 139(2), on why logs are not the way with zeros).

Model (Wooldridge 2023, "Simple approaches to nonlinear difference-in-differences with panel data",
Econometrics Journal 26(3), C31-C66, sections 4-6): the untreated outcome's mean is

    E[Y_it(0) | g, x] = exp(a_g + b_t + x'k + x'l_t)

with cohort and year effects and covariates with year-specific slopes (trends may differ by covariate, as
in Callaway-Sant'Anna's conditional parallel trends). It is fitted by Poisson quasi-maximum likelihood,
consistent for the mean whatever the distribution, zeros included, on the untreated observations: the
never enrolled in every year and each cohort before ``g - anticipation``. Wooldridge's pooled Poisson with a
dummy for every treated (g, t) cell and its interactions with the covariates centred in the cell gives the
same fit (those terms set the cell's residuals, and their covariate products, to sum to zero, so the treated
rows leave the other coefficients alone): this is that estimator, as an imputation. ATT(g,t) is the cell's mean of ``Y - exp(eta)``; ``ATT`` averages
the post-enrolment cells by their observations (R did's "simple" weights in a balanced panel) and ``ATT%``
is the same effect as a share of the counterfactual mean, a percentage that zeros do not break.

Inference: an influence function per person (the cell means' and the Poisson fit's, so a person's years
are clustered), variance the sum of their squares: the sandwich of the pooled model with cell dummies,
clustered by person (tested against statsmodels' GLM). Pre-test: the same fit with each cohort's
pre-enrolment years as dummies (the last one left out), jointly zero by a cluster-robust Wald test
(Wooldridge 2023, section 6).

Covariates are each person's values in their first year in the panel, before any enrolment. The fit runs on
the distinct (cohort, year, covariates) cells with frequency weights, which is exactly the Poisson fit of the
rows, so it does not grow with the persons once covariates repeat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis import formulas
from analysis.did.drdid import DiDError
from analysis.did.results import ResultMixin, fmt_table, normal_table
from analysis.summary import Summary


@dataclass(frozen=True)
class EtwfeResult(ResultMixin):
    """``params``/``std_errors`` by term: ``ATT`` (the outcome's unit per observation of a participant after
    enrolment) and ``ATT%`` (that effect over the counterfactual mean, a fraction). ``cells``: each
    post-enrolment (group, time) cell's observations, mean outcome, counterfactual mean and ATT.
    ``pretest_p``: the Wald test that the cohorts' pre-enrolment years follow the model (None where no
    cohort has two pre-enrolment years). ``cov``: the two terms' covariance (persons' influence functions).
    ``nobs``: the panel rows used."""

    call: str
    params: pd.Series
    std_errors: pd.Series
    cov: pd.DataFrame
    cells: pd.DataFrame
    pretest_p: float | None
    pretest_stat: float | None
    pretest_df: int
    nobs: int
    n_treated: int
    n_control: int
    counterfactual_mean: float
    exclusions: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def summary(self) -> Summary:
        t = normal_table(self.params, self.std_errors)
        t.insert(0, "term", self.params.index)
        pre = ("not available" if self.pretest_p is None else
               f"chi2({self.pretest_df}) = {self.pretest_stat:.3f}, p = {self.pretest_p:.4g}")
        lines = ["", "Call:", self.call, "",
                 "Poisson extended TWFE (Wooldridge 2023): ratio parallel trends, imputation on untreated "
                 "observations; SEs clustered by person",
                 f"Participants: {self.n_treated:,}  Never enrolled: {self.n_control:,}  Observations: {self.nobs:,}",
                 f"Counterfactual mean of participants after enrolment: {self.counterfactual_mean:,.4g}", "",
                 fmt_table(t.reset_index(drop=True)), "",
                 f"Pre-test of ratio parallel trends (cohort x pre-enrolment year dummies): {pre}"]
        if self.exclusions:
            lines.append("Exclusions: " + "; ".join(f"{k}: {v}" for k, v in self.exclusions.items()))
        lines += list(self.notes)
        return Summary("\n".join(lines), {"Effects": t.reset_index(drop=True)})


def _poisson_fit(X: np.ndarray, ysum: np.ndarray, n: np.ndarray, table: str, yname: str) -> np.ndarray:
    """Newton's method for the Poisson quasi-likelihood sum(ysum * eta - n * exp(eta)) over grouped rows,
    with step halving; ``ysum``/``n`` are each group's outcome total and rows."""
    beta = np.zeros(X.shape[1])
    beta[0] = np.log(ysum.sum() / n.sum())

    def loglik(b):
        eta = X @ b
        return float(ysum @ eta - n @ np.exp(eta))

    ll = loglik(beta)
    for _ in range(100):
        mu = n * np.exp(X @ beta)
        grad = X.T @ (ysum - mu)
        hess = (X * mu[:, None]).T @ X
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError as e:
            raise DiDError(f"{table}: the Poisson model of {yname!r} is singular (a covariate collinear with "
                           "the cohort and year effects, or a year without untreated observations)") from e
        t = 1.0
        while t > 1e-8:
            cand = beta + t * step
            ll_c = loglik(cand)
            if np.isfinite(ll_c) and ll_c >= ll - 1e-12 * abs(ll):
                break
            t /= 2
        beta, ll_old, ll = cand, ll, ll_c
        if np.max(np.abs(t * step)) < 1e-11 or abs(ll - ll_old) <= 1e-14 * abs(ll):
            return beta
    raise DiDError(f"{table}: the Poisson fit of {yname!r} did not converge in 100 Newton steps")


def _design(gi, ti, xg, n_g: int, n_t: int, pre: list[tuple[int, int]], has_never: bool) -> np.ndarray:
    """Columns: intercept, cohort dummies (the first cohort the reference, the never enrolled where there
    are any), year dummies but the first, covariates, covariates x year dummies, and the pre-test's
    (cohort, year) dummies ``pre``."""
    m = len(gi)
    cols = [np.ones(m)]
    ref = 0 if has_never else 1  # gi 0 = never enrolled
    cols += [(gi == g).astype(float) for g in range(ref + 1, n_g + 1)]
    years = [(ti == t).astype(float) for t in range(1, n_t)]
    cols += years
    for j in range(xg.shape[1]):
        cols.append(xg[:, j])
        cols += [xg[:, j] * yd for yd in years]
    cols += [((gi == g) & (ti == t)).astype(float) for g, t in pre]
    return np.column_stack(cols)


def poisson_etwfe(
    data: pd.DataFrame,
    yname: str,
    tname: str = "year",
    idname: str = "study_id",
    gname: str = "first_treat",
    covariates: tuple[str, ...] | list[str] = (),
    *,
    anticipation: int = 0,
    table: str = "panel",
) -> EtwfeResult:
    """Ratio-scale DiD of a non-negative outcome (a cost, a count) for staggered enrolment.

    Rows with a missing outcome or covariate are excluded and counted; the ``anticipation`` years before
    enrolment are neither untreated nor treated and are excluded and counted. A negative or infinite outcome
    is an error naming the rows.

    Parameters
    ----------
    data : pandas.DataFrame
        A long panel, one row per (``idname``, ``tname``).
    yname : str
        The non-negative outcome (zeros are fine).
    tname : str, default "year"
        Period column.
    idname : str, default "study_id"
        Person column; standard errors are clustered by it.
    gname : str, default "first_treat"
        Enrolment period (0 = never enrolled).
    covariates : sequence of str, default ()
        Time-invariant covariates as R formula terms (``"female"``, ``"poly(birth_year, 3)"``, ``"C(x)"``),
        read at each person's first year, each design column with year-specific slopes.
    anticipation : int, default 0
        Years before enrolment in which persons may already react (left out).
    table : str, default "panel"
        Name of ``data`` in error messages.

    Returns
    -------
    EtwfeResult
        ``params``/``std_errors`` by term: ``ATT`` (in the outcome's unit) and ``ATT%`` (as a share of the
        counterfactual mean); each cell in ``cells``; the pre-test of ratio parallel trends (``pretest_p``).

    References
    ----------
    Wooldridge, J. M. (2023). Simple approaches to nonlinear difference-in-differences with panel data.
    Econometrics Journal 26(3), C31-C66.

    Examples
    --------
    Counts that grow by 10% a year; enrolment in 2022 raises them by 25%:

    >>> import numpy as np, pandas as pd
    >>> from analysis.did import poisson_etwfe
    >>> rng = np.random.default_rng(5)
    >>> year, g = np.tile(np.arange(2020, 2024), 20), np.repeat([0] * 10 + [2022] * 10, 4)
    >>> mu = 20 * np.exp(1.0 + 0.1 * (year - 2020) + np.log(1.25) * ((g > 0) & (year >= g)))
    >>> df = pd.DataFrame({"id": np.repeat(np.arange(1, 21), 4), "year": year, "g": g,
    ...                    "visits": rng.poisson(mu)})
    >>> res = poisson_etwfe(df, "visits", "year", "id", "g")
    >>> round(float(res.params["ATT%"]), 3), round(float(res.params["ATT"]), 2)
    (0.22, 15.39)
    """
    covariates = list(covariates)
    d, y, x, g, t, excl = _usable_rows(data, yname, tname, idname, gname, covariates, anticipation, table)
    c = _Cells.build(d, y, x, g, t, d[idname], table, yname)
    X, _, mu, hess_inv = c.fit([])
    params, ses, cov, m0 = c.att(X, mu, hess_inv)
    stat, p_pre, n_pre, notes = c.pretest()
    persons = d.drop_duplicates(idname)
    return EtwfeResult(
        call=f"poisson_etwfe(data, yname={yname!r}, covariates={covariates!r}, anticipation={anticipation})",
        params=params, std_errors=ses, cov=cov, cells=c.cell_table(mu), pretest_p=p_pre, pretest_stat=stat,
        pretest_df=n_pre, nobs=len(d), n_treated=int((persons[gname] > 0).sum()),
        n_control=int((persons[gname] == 0).sum()), counterfactual_mean=m0, exclusions=excl, notes=notes)


def _usable_rows(data, yname, tname, idname, gname, covariates, anticipation, table):
    """``(rows, outcome, standardised covariates, cohort, year, exclusions)``: the rows with an outcome, a person with
    first-year covariates, and outside the anticipation years, each exclusion counted; a negative or
    infinite outcome, a missing column or a constant covariate is an error."""
    try:
        rhs = formulas.parse(" + ".join(covariates) or "1", "covariates")
    except formulas.FormulaError as e:
        raise DiDError(f"{table}: {e}") from None
    need = [idname, tname, gname, yname, *rhs.variables]
    miss = [c for c in need if c not in data.columns]
    if miss:
        raise DiDError(f"{table}: no column(s) {miss}")
    d = data[need]
    excl: dict = {}
    nan_y = d[yname].isna().to_numpy()
    if nan_y.any():
        excl[f"rows with missing {yname}"] = int(nan_y.sum())
        d = d[~nan_y]
    y = d[yname].to_numpy(float)
    bad = ~np.isfinite(y) | (y < 0)
    if bad.any():
        ids = d.loc[bad, idname].head(5).tolist()
        raise DiDError(f"{table}.{yname}: {int(bad.sum())} row(s) negative or infinite (for example "
                       f"{idname} {ids}); a ratio DiD needs a non-negative outcome")
    if rhs.terms:
        first = d.sort_values([idname, tname], kind="stable").drop_duplicates(idname)
        xu = first.set_index(idname)[list(rhs.variables)]
        lost = xu.isna().any(axis=1)
        if lost.any():
            excl["persons with a missing covariate in their first year"] = int(lost.sum())
            keep = ~d[idname].isin(xu.index[lost]).to_numpy()
            d, y = d[keep], y[keep]
            xu = xu[~lost]
        try:
            xd = formulas.design(xu, rhs, "covariates")
        except formulas.FormulaError as e:
            raise DiDError(f"{table}: {e}") from None
        x = xd.to_numpy(float)[pd.Index(xu.index).get_indexer(d[idname])]
        sd = x.std(axis=0)
        if (sd == 0).any():
            raise DiDError(f"{table}: covariate(s) {[c for c, s in zip(xd.columns, sd, strict=True) if s == 0]} "
                           "take one value only")
        x = (x - x.mean(axis=0)) / sd  # the Newton steps are badly scaled with birth years near 1960
    else:
        x = np.empty((len(d), 0))
    g = d[gname].to_numpy(np.int64)
    t = d[tname].to_numpy(np.int64)
    ahead = (g > 0) & (t >= g - anticipation) & (t < g)
    if ahead.any():
        excl[f"rows in the {anticipation} anticipation year(s) before enrolment"] = int(ahead.sum())
        d, y, x, g, t = d[~ahead], y[~ahead], x[~ahead], g[~ahead], t[~ahead]
    return d, y, x, g, t, excl


@dataclass(frozen=True)
class _Cells:
    """The rows reduced to their distinct (cohort, year, covariates) cells: each row's cell ``grp`` and
    person ``unit``, each cell's row count and outcome total, the outcome in units of ``scale`` (the
    untreated mean, so the Newton steps are well scaled)."""

    table: str
    yname: str
    years: np.ndarray
    cohorts: np.ndarray
    has_never: bool
    post: np.ndarray  # per row: a participant after enrolment
    unit: np.ndarray
    grp: np.ndarray
    ys: np.ndarray
    n_grp: np.ndarray
    ysum: np.ndarray
    ggi: np.ndarray  # per cell: cohort index (0 = never enrolled), year index, covariates, post-enrolment
    gti: np.ndarray
    gx: np.ndarray
    gpost: np.ndarray
    scale: float

    @classmethod
    def build(cls, d, y, x, g, t, ids, table, yname) -> _Cells:
        post = (g > 0) & (t >= g)
        if not post.any():
            raise DiDError(f"{table}: no participant is observed after enrolment")
        years = np.unique(t)
        cohorts = np.unique(g[g > 0])
        gi = np.searchsorted(cohorts, g) + 1
        gi[g == 0] = 0
        ti = np.searchsorted(years, t)
        key = pd.DataFrame({"gi": gi, "ti": ti, **{f"x{j}": x[:, j] for j in range(x.shape[1])}})
        grp = key.groupby(list(key.columns), sort=True).ngroup().to_numpy()
        firsts = np.unique(grp, return_index=True)[1]
        scale = y[~post].mean()
        if not scale > 0:
            raise DiDError(f"{table}.{yname}: every untreated observation is zero")
        ys = y / scale
        return cls(table, yname, years, cohorts, bool((g == 0).any()), post, pd.factorize(ids)[0], grp, ys,
                   np.bincount(grp).astype(float), np.bincount(grp, weights=ys), gi[firsts], ti[firsts],
                   x[firsts], post[firsts], float(scale))

    def fit(self, pre: list[tuple[int, int]]):
        """The Poisson fit on the untreated cells (with dummies for the ``pre`` (cohort, year) cells):
        design per cell, coefficients, fitted mean per cell (in units of scale), inverse Hessian."""
        X = _design(self.ggi, self.gti, self.gx, len(self.cohorts), len(self.years), pre, self.has_never)
        u = ~self.gpost
        beta = _poisson_fit(X[u], self.ysum[u], self.n_grp[u], self.table, self.yname)
        mu = np.exp(X @ beta)
        hess_inv = np.linalg.inv((X[u] * (self.n_grp[u] * mu[u])[:, None]).T @ X[u])
        return X, beta, mu, hess_inv

    def unit_scores(self, X, mu, hess_inv, vecs: np.ndarray) -> np.ndarray:
        """Per person: each column of ``hess_inv @ vecs`` dotted with the person's Poisson score (their
        untreated rows' x * (y - mu)), without forming the rows' design."""
        resid = np.where(self.post, 0.0, self.ys - mu[self.grp])
        a = X @ (hess_inv @ vecs)
        return np.column_stack([np.bincount(self.unit, weights=a[self.grp, j] * resid, minlength=self.unit.max() + 1)
                                for j in range(a.shape[1])])

    def att(self, X, mu, hess_inv) -> tuple[pd.Series, pd.Series, pd.DataFrame, float]:
        """``ATT`` and ``ATT%`` with their standard errors and covariance (from each person's influence
        function) and the counterfactual mean of the treated observations, from the fit without
        pre-enrolment dummies."""
        post, gpost, ys, unit, grp = self.post, self.gpost, self.ys, self.unit, self.grp
        n_t = post.sum()
        ybar = ys[post].mean()
        m0 = (self.n_grp[gpost] * mu[gpost]).sum() / n_t
        att, rel = ybar - m0, ybar / m0 - 1
        g0 = (X[gpost] * (self.n_grp[gpost] * mu[gpost])[:, None]).sum(axis=0) / n_t  # d m0 / d beta
        theta = self.unit_scores(X, mu, hess_inv, g0[:, None])[:, 0]
        d_ybar = np.bincount(unit, weights=np.where(post, ys - ybar, 0.0)) / n_t
        d_m0 = np.bincount(unit, weights=np.where(post, mu[grp] - m0, 0.0)) / n_t + theta
        if_att = d_ybar - d_m0
        if_rel = d_ybar / m0 - ybar * d_m0 / m0**2
        params = pd.Series([att * self.scale, rel], index=["ATT", "ATT%"])
        psi = np.column_stack([if_att * self.scale, if_rel])
        cov = pd.DataFrame(psi.T @ psi, index=params.index, columns=params.index)
        ses = pd.Series(np.sqrt(np.diag(cov)), index=params.index)
        return params, ses, cov, float(m0 * self.scale)

    def cell_table(self, mu: np.ndarray) -> pd.DataFrame:
        """Each treated (group, time): observations, mean, counterfactual mean (``mu``: the fitted cell
        means) and their difference."""
        gpost = self.gpost
        cell = pd.DataFrame({"group": self.cohorts[self.ggi[gpost] - 1], "time": self.years[self.gti[gpost]],
                             "n": self.n_grp[gpost], "y": self.ysum[gpost] * self.scale,
                             "y0": self.n_grp[gpost] * mu[gpost] * self.scale})
        cells = cell.groupby(["group", "time"], as_index=False).sum()
        cells = cells.assign(mean=cells.y / cells.n, counterfactual=cells.y0 / cells.n)
        cells = cells.assign(att=cells["mean"] - cells.counterfactual, n=cells.n.astype(np.int64))
        return cells[["group", "time", "n", "mean", "counterfactual", "att"]]

    def pretest(self) -> tuple[float | None, float | None, int, tuple[str, ...]]:
        """``(statistic, p-value, df, notes)``: each cohort's untreated years but the last as dummies,
        jointly zero by a cluster-robust Wald test."""
        pre = []
        for c in range(1, len(self.cohorts) + 1):
            seen = np.unique(self.gti[(self.ggi == c) & ~self.gpost])
            pre += [(c, int(s)) for s in seen[:-1]]
        if not pre:
            return None, None, 0, ()
        Xp, bp, mup, hip = self.fit(pre)
        k = Xp.shape[1] - len(pre)
        sel = np.zeros((Xp.shape[1], len(pre)))
        sel[k + np.arange(len(pre)), np.arange(len(pre))] = 1.0
        scores = self.unit_scores(Xp, mup, hip, sel)  # rows of hess_inv for the pre dummies, times each score
        vcov = scores.T @ scores
        b = bp[k:]
        try:
            stat = float(b @ np.linalg.solve(vcov, b))
        except np.linalg.LinAlgError:
            return None, None, len(pre), ("pre-test not available: the pre-enrolment dummies' covariance is singular",)
        return stat, float(stats.chi2.sf(stat, len(pre))), len(pre), ()

