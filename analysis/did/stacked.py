"""DiD on matched data: stacked matched DiD over risk-set sub-experiments (``stacked_did``) and the city's
published 2x2 design (``did_2x2``).

``stacked_did`` is the design health-services researchers pair with matching: each cohort g is a
sub-experiment of its enrollees and their matched risk set (``analysis.matching.riskset``); the stacks are
estimated together with sub-experiment x person and sub-experiment x year fixed effects, weighted by the
matching weights, with standard errors clustered by person (a person can be a control in several stacks).
``did_2x2`` is the city's 2021 -> 2023 comparison of 2022 joiners with their 1:10 matched non-participants:
the weighted difference in mean changes, with standard errors clustered by matched set (MatchIt's advice
for matching without replacement).

References: Cengiz, Dube, Lindner and Zipperer (2019), QJE 134(3) (stacked DiD); Wing, Freedman and
Hollingsworth (2024), NBER WP 32054 (stacked DiD weights); Greifer, MatchIt vignette "Estimating Effects
After Matching" (cluster-robust SEs by subclass).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm

from analysis import formulas
from analysis.did.drdid import DiDError
from analysis.did.results import ResultMixin, fmt_table, normal_table
from analysis.did.twfe import fe_wls
from analysis.summary import Summary


@dataclass(frozen=True)
class MatchedDiDResult(ResultMixin):
    """Estimates from a matched design: ``params``/``std_errors`` by term (``ATT`` and, for an event
    study, ``e=k``), with the design's counts and every exclusion."""

    design: str
    call: str
    params: pd.Series
    std_errors: pd.Series
    nobs: int
    n_treated: int
    n_control: int
    cov: pd.DataFrame  # of every term in ``params``
    # each person's (cluster's) contribution to every term: cov = influence.T @ influence; to combine this
    # design with others estimated on the same people (None where the design has no person-level scores)
    influence: pd.DataFrame | None = field(default=None, repr=False)
    exclusions: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def summary(self) -> Summary:
        t = normal_table(self.params, self.std_errors)
        t.insert(0, "term", self.params.index)
        lines = ["", "Call:", self.call, "", f"Design: {self.design}",
                 f"Treated: {self.n_treated:,}  Controls: {self.n_control:,}  Observations: {self.nobs:,}", "",
                 fmt_table(t.reset_index(drop=True))]
        if self.exclusions:
            lines.append("Exclusions: " + "; ".join(f"{k}: {v}" for k, v in self.exclusions.items()))
        lines += list(self.notes)
        return Summary("\n".join(lines), {"Coefficients": t.reset_index(drop=True)})


def _check(data: pd.DataFrame, cols: list[str], table: str) -> None:
    miss = [c for c in cols if c not in data.columns]
    if miss:
        raise DiDError(f"{table}: no column(s) {miss}")


def stacked_did(
    stacked: pd.DataFrame,
    yname: str,
    *,
    idname: str = "study_id",
    tname: str = "year",
    ref: int = -1,
    weightsname: str = "weights",
    xformla: str | None = None,
    table: str = "stacked",
) -> MatchedDiDResult:
    """Stacked matched DiD on risk-set sub-experiments.

    ``stacked`` has one row per (``sub_experiment``, person, year) with ``treated``, ``event_time`` and
    matching ``weights`` (``analysis.matching.riskset_match(...).data``). Two regressions with
    sub-experiment x person and sub-experiment x year fixed effects: ``ATT`` from ``treated x post`` and
    the event study from ``treated x 1(event_time = e)`` for every e except ``ref``. Rows with a missing
    outcome or covariate are excluded and counted; an event study that cannot be estimated where the
    average can (no enrollee observed at ``ref``) is reported in ``exclusions`` and the result has ``ATT``
    only.

    Parameters
    ----------
    stacked : pandas.DataFrame
        The stacked sub-experiments: ``sub_experiment``, ``treated`` (0/1), ``event_time`` (period minus the
        sub-experiment's enrolment period), the id, period, outcome and weight columns.
    yname : str
        Outcome column.
    idname : str, default "study_id"
        Person column; standard errors are clustered by it (a person may be in several sub-experiments).
    tname : str, default "year"
        Period column.
    ref : int, default -1
        The event study's reference event time (left out).
    weightsname : str, default "weights"
        Matching weights column.
    xformla : str, optional
        Time-varying covariates as R's one-sided formula (``"~ x1 + I(x1^2)"``, read by formulaic as
        ``att_gt``'s and ``twfe``'s), added to both regressions after the treatment terms; their
        coefficients are reported from the ``ATT`` regression. A covariate constant within every person of
        a sub-experiment is absorbed by the effects: an error names it.
    table : str, default "stacked"
        Name of ``stacked`` in error messages.

    Returns
    -------
    MatchedDiDResult
        ``params``/``std_errors`` by term (``ATT``, then ``e=k``, then the covariates' terms), their
        covariance ``cov`` (the two regressions' coefficients covary through the persons' scores), the
        counts of treated and comparison persons, ``nobs`` (rows) and ``exclusions``.

    References
    ----------
    Cengiz, D., Dube, A., Lindner, A. and Zipperer, B. (2019). The Effect of Minimum Wages on Low-Wage
    Jobs. Quarterly Journal of Economics 134(3), 1405-1454.

    Examples
    --------
    One sub-experiment (enrolment in 2022), five enrollees and five matched persons, an effect of 1.5:

    >>> import numpy as np, pandas as pd
    >>> from analysis.did import stacked_did
    >>> rng = np.random.default_rng(7)
    >>> year, treated = np.tile(np.arange(2020, 2024), 10), np.repeat([1] * 5 + [0] * 5, 4)
    >>> st = pd.DataFrame({"sub_experiment": 2022, "study_id": np.repeat(np.arange(1, 11), 4), "year": year,
    ...                    "treated": treated, "event_time": year - 2022, "weights": 1.0})
    >>> st["y"] = 0.5 * (year - 2020) + 1.5 * treated * (year >= 2022) + rng.normal(0, 0.1, 40)
    >>> res = stacked_did(st, "y")
    >>> {term: round(float(b), 3) for term, b in res.params.items()}
    {'ATT': 1.57, 'e=-2': 0.061, 'e=0': 1.613, 'e=1': 1.587}
    """
    rhs = formulas.parse(xformla, "xformla") if xformla is not None else None
    need = [yname, idname, tname, "sub_experiment", "treated", "event_time", weightsname]
    _check(stacked, need, table)
    if rhs is not None:
        formulas.require_columns(stacked, rhs, "xformla", table)
    d = stacked[list(dict.fromkeys([*need, *(rhs.variables if rhs else ())]))]
    excl = {}
    for col in [yname, *(rhs.variables if rhs else ())]:
        miss = d[col].isna()
        if miss.any():
            excl[f"rows with missing {col}"] = int(miss.sum())
            d = d[~miss]
    if ref not in set(d.event_time):
        raise DiDError(f"{table}: reference event time {ref} has no rows with an observed {yname}")
    covs = {}
    if rhs is not None and rhs.terms:
        covs = {k: v.to_numpy(float) for k, v in formulas.design(d.reset_index(drop=True), rhs, "xformla").items()}
        clash = [k for k in covs if k == "ATT" or k.startswith("e=")]
        if clash:
            raise DiDError(f"{table}: xformla term(s) {clash} are named like the treatment terms; rename them")
    unit = pd.factorize(d["sub_experiment"].astype(np.int64) * 10**10 + d[idname].astype(np.int64))[0]
    stack_year = pd.factorize(d["sub_experiment"].astype(np.int64) * 10**4 + d[tname].astype(np.int64))[0]
    w = d[weightsname].to_numpy(float)
    tr = d["treated"].to_numpy(float)
    e = d["event_time"].to_numpy()
    y = d[yname].to_numpy(float)
    person = pd.factorize(d[idname])[0]
    evs = sorted(set(e.tolist()) - {ref})
    static_terms = {"ATT": tr * (e >= 0), **covs}
    dyn_terms = {**{f"e={k}": tr * (e == k) for k in evs}, **covs}
    try:
        (static, dyn), scores = fe_wls(y, {"static": static_terms, "dynamic": dyn_terms}, unit, stack_year, w,
                                       person)
    except DiDError as err:
        # the event study can fail where the average does not (no enrollee observed at the reference event
        # time makes the event dummies sum to the treated indicator): keep the average, report the rest
        try:
            (static,), scores = fe_wls(y, {"static": static_terms}, unit, stack_year, w, person)
        except DiDError as e2:
            raise DiDError(f"{table}: {e2} (stack x person and stack x year effects) with outcome {yname!r}") from e2
        excl["event study not estimated"] = f"{err} (stack x person and stack x year effects)"
        dyn = None
    # reported: the ATT regression's terms, the event study's e=k between ATT and the covariates
    keys = [("static", "ATT"), *((("dynamic", k) for k in dyn[0].index if k.startswith("e=")) if dyn else ()),
            *(("static", k) for k in static[0].index if k != "ATT")]
    names = [k for _, k in keys]
    fits = {"static": static, "dynamic": dyn}
    params = pd.Series([fits[s][0][k] for s, k in keys], index=names)
    ses = pd.Series([fits[s][1][k] for s, k in keys], index=names)
    influence = pd.DataFrame(scores.loc[:, keys].to_numpy(), columns=names,
                             index=pd.Index(pd.unique(d[idname]), name=idname))  # cluster codes: factorize order
    cov = influence.T @ influence
    persons = d.drop_duplicates(["sub_experiment", idname])
    shown = f", xformla={xformla!r}" if xformla is not None else ""
    return MatchedDiDResult(
        design="stacked matched DiD (risk-set sub-experiments; stack x person and stack x year effects; "
               "matching weights; SEs clustered by person)",
        call=f"stacked_did(stacked, yname={yname!r}, ref={ref}{shown})",
        params=params, std_errors=ses, cov=cov, influence=influence, nobs=len(y),
        n_treated=int((persons.treated == 1).sum()), n_control=int((persons.treated == 0).sum()),
        exclusions=excl,
    )


def did_2x2(
    published: pd.DataFrame,
    yname: str,
    *,
    idname: str = "study_id",
    tname: str = "year",
    pre: int = 2021,
    post: int = 2023,
    weightsname: str = "weights",
    table: str = "published",
) -> MatchedDiDResult:
    """The city's published design: (post - pre) change of the treated minus the matching-weighted change
    of their matched controls; SEs clustered by matched set (``subclass``). People without the outcome in
    both years are excluded and counted.

    Parameters
    ----------
    published : pandas.DataFrame
        The matched sample in long form: ``treated`` (0/1), ``subclass`` (the matched set), the id, period,
        outcome and weight columns (``analysis.matching`` gives it).
    yname : str
        Outcome column.
    idname : str, default "study_id"
        Person column.
    tname : str, default "year"
        Period column.
    pre, post : int, default 2021 and 2023
        The two periods compared.
    weightsname : str, default "weights"
        Matching weights column (constant within person).
    table : str, default "published"
        Name of ``published`` in error messages.

    Returns
    -------
    MatchedDiDResult
        ``params``/``std_errors`` with one term, ``ATT``; ``nobs`` the persons with the outcome in both
        periods, the counts of treated and comparison persons and ``exclusions``.

    Examples
    --------
    Six treated persons, each matched to one comparison person, an effect of -1:

    >>> import numpy as np, pandas as pd
    >>> from analysis.did import did_2x2
    >>> rng = np.random.default_rng(11)
    >>> year, treated = np.tile([2021, 2023], 12), np.repeat([1] * 6 + [0] * 6, 2)
    >>> pub = pd.DataFrame({"study_id": np.repeat(np.arange(1, 13), 2), "year": year, "treated": treated,
    ...                     "weights": 1.0, "subclass": np.repeat(np.r_[1:7, 1:7], 2)})
    >>> pub["y"] = 10 + 0.5 * (year == 2023) - 1.0 * treated * (year == 2023) + rng.normal(0, 0.1, 24)
    >>> res = did_2x2(pub, "y")
    >>> round(float(res.params["ATT"]), 3), res.n_treated, res.n_control
    (-1.061, 6, 6)
    """
    _check(published, [yname, idname, tname, "treated", weightsname, "subclass"], table)
    d = published[published[tname].isin([pre, post])]
    wide = d.pivot_table(index=idname, columns=tname, values=yname, aggfunc="first")
    info = d.drop_duplicates(idname).set_index(idname)[["treated", weightsname, "subclass"]]
    both = wide.reindex(columns=[pre, post]).notna().all(axis=1)
    persons = info.index.nunique()
    excl = {}
    if (~both).any() or len(wide) < persons:
        excl[f"persons without {yname} in both {pre} and {post}"] = int(persons - both.sum())
    wide = wide[both]
    info = info.loc[wide.index]
    if info.treated.nunique() < 2:
        raise DiDError(f"{table}: no {'treated' if (info.treated == 0).all() else 'comparison'} person has "
                       f"{yname} in both {pre} and {post}; the 2x2 design cannot be estimated for it")
    change = (wide[post] - wide[pre]).to_numpy(float)
    X = sm.add_constant(info["treated"].to_numpy(float))
    fit = sm.WLS(change, X, weights=info[weightsname].to_numpy(float)).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(info["subclass"])[0]})
    return MatchedDiDResult(
        design=f"published 2x2: {pre} -> {post}, treated vs matched controls (matching weights; SEs "
               "clustered by matched set)",
        call=f"did_2x2(published, yname={yname!r}, pre={pre}, post={post})",
        params=pd.Series([fit.params[1]], index=["ATT"]), std_errors=pd.Series([fit.bse[1]], index=["ATT"]),
        cov=pd.DataFrame([[fit.cov_params()[1, 1]]], index=["ATT"], columns=["ATT"]),
        nobs=len(change), n_treated=int((info.treated == 1).sum()), n_control=int((info.treated == 0).sum()),
        exclusions=excl,
    )
