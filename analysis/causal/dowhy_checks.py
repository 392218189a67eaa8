"""DoWhy identification, estimation with our own weights, and DoWhy's refuters on a change-score frame.

The design is the city's (or any) matched design reduced to one row per person: the outcome is the
change score ``post - pre`` (e.g. medical cost 2023 minus 2021), the treatment the enrolment indicator,
the weights the matching (or weighting) weights. ``dowhy_analysis`` then

1. builds a DoWhy ``CausalModel`` on the assumed graph (``graph.dot``) restricted to the frame's
   columns, and reports the identified estimand and its backdoor set;
2. estimates the effect with :class:`WeightedLinearRegressionEstimator`, a DoWhy estimator class that
   fits statsmodels ``WLS`` of the change score on the treatment and the backdoor set with OUR weights.
   How the weights get in: the weights are a column of the data frame (``weights_column``); DoWhy
   imports the class from ``method_name="backdoor.analysis.causal.dowhy_checks.WeightedLinearRegressionEstimator"``
   and passes ``method_params={"weights_column": ...}`` to its constructor. Because the weights are a
   column, they travel with their rows through DoWhy's resampling refuters (subset, bootstrap), and
   every refuter's refit (``get_new_estimator_object`` deep-copies the estimator) uses them too. DoWhy's
   own propensity estimators are not used: their logistic regression is penalised and their weighting
   clips scores to [0.05, 0.95] without saying so;
3. runs DoWhy's refuters: placebo treatment, random common cause, data subset, bootstrap, dummy outcome,
   and an add-unobserved-common-cause grid (run cell by cell on fresh copies: DoWhy 0.14's grid loop
   writes each cell's simulated confounding into the same frame, so its cells accumulate).

Every estimation and every refutation gets a fresh ``data.copy()`` and a fresh ``CausalModel``: DoWhy
0.14's propensity estimators write ``propensity_score`` (and weight) columns into the frame they are
given and later refits reuse an existing column instead of re-estimating it, so a refuter run on a frame
touched by an earlier estimation compares a placebo treatment with the real treatment's propensity
scores and reports a spurious effect. The caller's frame is never modified.

Reference: Sharma & Kiciman (2020), DoWhy: An End-to-End Library for Causal Inference, arXiv:2011.04216.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd
import statsmodels.api as sm
from dowhy.causal_estimator import CausalEstimate
from dowhy.causal_estimators.linear_regression_estimator import LinearRegressionEstimator
from dowhy.causal_identifier import construct_adjustment_estimand

from analysis.causal.graph import dot_source, load_graph
from analysis.errors import RefutationError
from analysis.summary import Summary

ESTIMATOR_METHOD = "backdoor.analysis.causal.dowhy_checks.WeightedLinearRegressionEstimator"
DEFAULT_COVARIATES = ("female", "age_pre", "premium_decile_pre", "disability_pre", "chronic_disease",
                      "bmi_pre", "sbp_pre", "waist_pre", "fasting_glucose_pre", "cost_pre1")
DEFAULT_REFUTERS = ("placebo_treatment_refuter", "random_common_cause", "data_subset_refuter",
                    "bootstrap_refuter", "dummy_outcome_refuter", "add_unobserved_common_cause")
# add_unobserved_common_cause grid: share of units whose treatment the confounder flips (binary flip,
# DoWhy's kappa_t: the units with the highest confounder values) x the confounder's linear effect on the
# outcome in outcome standard deviations (kappa_y / sd; DoWhy subtracts kappa_y * U, so positive values push
# the estimate down and negative values push it up: both signs are in the grid).
DEFAULT_KAPPA_T = (0.01, 0.02, 0.05, 0.1)
DEFAULT_KAPPA_Y_SD = (-0.2, -0.1, -0.05, 0.05, 0.1, 0.2)

MEANINGS = {
    "placebo_treatment_refuter": "With the treatment replaced by a random permutation the estimate is consistent "
                                 "with zero, so the estimator does not manufacture an effect from the design alone.",
    "random_common_cause": "Adding an independent random covariate leaves the estimate unchanged, so it is not "
                           "an artefact of the particular adjustment set.",
    "data_subset_refuter": "Re-estimating on random subsets gives estimates consistent with the full-sample "
                           "estimate, so no small group of persons drives it.",
    "bootstrap_refuter": "Re-estimating on bootstrap resamples gives estimates consistent with the original, "
                         "so the estimate is stable under sampling variation.",
    "dummy_outcome_refuter": "On an outcome replaced by noise independent of treatment the estimate is consistent "
                             "with zero, so the pipeline finds nothing where there is nothing.",
    "add_unobserved_common_cause": "The estimate keeps its sign under every simulated unobserved confounder in the "
                                   "grid, so a hidden confounder of those strengths would not reverse the conclusion.",
}


class _WlsFit:
    """A weighted least-squares fit as DoWhy's regression estimator reads it: ``params`` (constant first, named
    as statsmodels names an unlabelled design) and ``predict``, solved by least squares. DoWhy formats the
    model's ``summary()`` for a debug log line on every fit, refuter simulations included; statsmodels'
    computes every statistic for it, most of a refuter's time, so it is one line here. Anything else
    (``conf_int``, ``bse``, ``pvalues``...) comes from the statsmodels ``WLS`` result, fitted when first asked."""

    def __init__(self, y: np.ndarray, X: np.ndarray, w: np.ndarray):
        self._data = (y, X, w)
        sw = np.sqrt(w)
        beta = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
        self.params = pd.Series(beta, index=["const", *(f"x{j}" for j in range(1, X.shape[1]))])
        self.nobs = len(y)
        self._full = None

    def predict(self, exog) -> np.ndarray:
        return np.asarray(exog, float) @ self.params.to_numpy()

    def summary(self) -> Summary:
        return Summary(f"WLS by least squares, {self.nobs} observations; coefficients {self.params.to_dict()}",
                       {"Coefficients": self.params.to_frame("estimate")})

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if self._full is None:
            self._full = sm.WLS(self._data[0], self._data[1], weights=self._data[2]).fit()
        return getattr(self._full, name)


class WeightedLinearRegressionEstimator(LinearRegressionEstimator):
    """DoWhy's linear regression estimator fitted by weighted least squares with weights from a column.

    The effect is the coefficient of the treatment in ``WLS(y ~ 1 + treatment + backdoor set, weights)``,
    identical to statsmodels ``WLS`` on the same design. Select it with ``method_name=ESTIMATOR_METHOD``
    and ``method_params={"weights_column": name}``.
    """

    def __init__(self, identified_estimand, weights_column: str = "weights", **kwargs):
        kwargs.pop("analysis_estimator", None)  # DoWhy adds the third-party class name to the params
        super().__init__(identified_estimand, **kwargs)
        self.weights_column = weights_column

    def _build_model(self, data: pd.DataFrame):
        if self.weights_column not in data:
            raise KeyError(f"WeightedLinearRegressionEstimator: the data has no weights column "
                           f"{self.weights_column!r}; pass method_params={{'weights_column': ...}}")
        features = self._build_features(data)
        weights = data[self.weights_column].to_numpy(dtype=float)
        y = data[self._target_estimand.outcome_variable[0]].astype(float)  # a Series: params keep pandas labels
        return features, _WlsFit(y.to_numpy(float), np.asarray(features, float), weights)

    def estimate_effect(self, data: pd.DataFrame, treatment_value=1, control_value=0, target_units=None,
                        need_conditional_estimates=None, **kwargs):
        """DoWhy's estimate: mean prediction with every treatment set to ``treatment_value`` minus with it set
        to ``control_value``. Without effect modifiers the model is linear in one treatment column, so that
        difference is the treatment's coefficient times ``treatment_value - control_value``: taken so here
        (DoWhy predicts twice on the whole data, most of a refuter's time); otherwise DoWhy's own path."""
        if need_conditional_estimates is None:
            need_conditional_estimates = self.need_conditional_estimates
        if (self._effect_modifier_names or need_conditional_estimates
                or len(self._target_estimand.treatment_variable) != 1):
            return super().estimate_effect(data, treatment_value, control_value, target_units,
                                           need_conditional_estimates, **kwargs)
        self._target_units, self._treatment_value, self._control_value = target_units, treatment_value, control_value
        coef = float(self.model.params.iloc[1])  # features: constant, the treatment, the common causes
        estimate = CausalEstimate(
            data=data, treatment_name=self._target_estimand.treatment_variable,
            outcome_name=self._target_estimand.outcome_variable,
            estimate=coef * (float(treatment_value) - float(control_value)), control_value=control_value,
            treatment_value=treatment_value, conditional_estimates=None, target_estimand=self._target_estimand,
            realized_estimand_expr=self.symbolic_estimator, intercept=self.model.params.iloc[0])
        estimate.add_estimator(self)
        return estimate


@dataclass(frozen=True)
class DoWhyResult:
    """Result of :func:`dowhy_analysis`.

    Attributes
    ----------
    estimand : str
        DoWhy's identified estimand, as printed.
    backdoor : list of str
        The backdoor adjustment set DoWhy identified (observed variables only).
    identified : bool
        Whether the graph identifies the effect by the backdoor criterion with its latent nodes
        unobserved (False under the study graph: health consciousness confounds enrolment and outcome).
    estimate : float
        The weighted regression estimate from DoWhy.
    std_error, conf_low, conf_high : float
        From our own WLS with standard errors clustered on ``subclass`` if the frame has it
        (heteroscedasticity-robust HC1 otherwise).
    nobs : int
    checks : list of dict
        One per refuter (``name, estimate, p_value, conf_low, conf_high, passed, meaning`` and details),
        ready for ``refutation.json``.
    sensitivity_grid : pandas.DataFrame
        The add-unobserved-common-cause grid: ``kappa_t, kappa_y, kappa_y_sd, new_effect``.
    dropped : dict
        Missing values by column and ``rows``, the number of rows dropped for them (a dropped person
        leaves the rest of its matched set in the estimate).
    """

    treatment: str
    outcome: str
    estimand: str
    backdoor: list
    identified: bool | None
    graph_dot: str = field(repr=False)
    estimate: float = float("nan")
    std_error: float = float("nan")
    conf_low: float = float("nan")
    conf_high: float = float("nan")
    nobs: int = 0
    checks: list = field(default_factory=list)
    sensitivity_grid: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    dropped: dict = field(default_factory=dict)
    simulations: int = 0
    seed: int = 0

    def summary(self) -> Summary:
        lines = [
            f"DoWhy analysis: effect of {self.treatment} on {self.outcome} (n = {self.nobs})",
            "Identified by the backdoor criterion under the graph with latent nodes unobserved: "
            + {True: "yes", False: "NO (the estimand below assumes no unobserved confounding)",
               None: "not checked (no graph)"}[self.identified],
            f"Backdoor set: {', '.join(self.backdoor) if self.backdoor else '(empty)'}",
            f"Estimate (weighted regression, our weights): {self.estimate:,.4f} "
            f"(SE {self.std_error:,.4f}; 95% CI {self.conf_low:,.4f} to {self.conf_high:,.4f})",
            f"Refuters ({self.simulations} simulations, seed {self.seed}):",
        ]
        for c in self.checks:
            p = c.get("p_value")
            ptxt = "" if p is None or not np.isfinite(p) else f", p = {p:.3f}"
            est = c["estimate"]
            etxt = f"{est:,.4f}" if isinstance(est, float) and np.isfinite(est) else str(est)
            lines.append(f"  [{'pass' if c['passed'] else 'FAIL'}] {c['name']}: new effect {etxt}{ptxt}")
        if self.dropped.get("rows"):
            lines.append(f"Rows dropped for missing values: {self.dropped}")
        lines.append("Estimand:")
        lines.append(self.estimand)
        estimate = pd.DataFrame({"estimate": [self.estimate], "std_error": [self.std_error],
                                 "conf_low": [self.conf_low], "conf_high": [self.conf_high]}, index=[self.treatment])
        return Summary("\n".join(lines), {"Estimate": estimate, "Refuters": pd.DataFrame(list(self.checks))})

    def __str__(self) -> str:
        return self.summary()

    def tidy(self) -> pd.DataFrame:
        """The checks as a frame: ``name, estimate, p_value, conf_low, conf_high, passed, meaning``."""
        cols = ["name", "estimate", "p_value", "conf_low", "conf_high", "passed", "meaning"]
        return pd.DataFrame([{c: ck.get(c) for c in cols} for ck in self.checks], columns=cols)

    def _repr_html_(self) -> str:
        return self.summary().as_html()


def change_score_frame(design_data: pd.DataFrame, outcomes: tuple[str, ...] = ("medical_cost",),
                       pre: int = 2021, post: int = 2023,
                       covariates: tuple[str, ...] = DEFAULT_COVARIATES) -> pd.DataFrame:
    """One row per person from a person-year design (e.g. ``published_design(panel).data``).

    Columns: ``treated``, ``weights``, ``subclass`` (if present), the covariates from the ``pre`` row
    (as float; missing pre-period checkup measures set to the mean with a ``no_checkup_pre`` indicator,
    not dropped), and ``<outcome>_change = outcome[post] - outcome[pre]`` for each outcome (NaN where a
    year lacks the measure). Persons without both years are not in the result.
    """
    keep = [c for c in ("treated", "weights", "subclass") if c in design_data]
    pre_rows = design_data[design_data["year"] == pre].set_index("study_id")
    post_rows = design_data[design_data["year"] == post].set_index("study_id")
    ids = pre_rows.index.intersection(post_rows.index)
    out = pre_rows.loc[ids, keep + list(covariates)].copy()
    for c in covariates:
        out[c] = out[c].astype(float)
    checkup = [c for c in ("bmi_pre", "sbp_pre", "waist_pre", "fasting_glucose_pre", "dbp_pre") if c in out]
    if checkup:
        out["no_checkup_pre"] = out[checkup].isna().any(axis=1).astype(float)
        out[checkup] = out[checkup].fillna(out[checkup].mean())
    for y in outcomes:
        out[f"{y}_change"] = post_rows.loc[ids, y].astype(float) - pre_rows.loc[ids, y].astype(float)
    if "treated" in out:
        out["treated"] = out["treated"].astype(int)
    return out


def restricted_graph(observed: list[str], treatment: str, outcome: str, graph: nx.DiGraph | None = None) -> nx.DiGraph:
    """The assumed graph reduced to the observed columns.

    Nodes that are observed, the treatment, the outcome and the graph's latent nodes stay. A node that is
    not observed and is a descendant of the treatment (a mediator such as steps, or another outcome) is
    contracted away (its parents linked to its children), which keeps every causal and backdoor path.
    A pre-treatment node that is not observed stays as an unobserved node (DoWhy's ``observed="no"``),
    so the identification says honestly whether adjustment for the observed columns suffices.
    """
    g = (load_graph() if graph is None else graph).copy()
    for name in (treatment, outcome):
        if name not in g:
            raise RefutationError(f"{name!r} is not a node of the causal graph; nodes are {sorted(g.nodes)}")
    observed = set(observed) | {treatment, outcome}
    post = nx.descendants(g, treatment)
    for n in list(nx.topological_sort(g)):
        if n in observed or not g.nodes[n].get("observed", True):
            continue
        if n in post:
            for p in g.predecessors(n):
                for c in g.successors(n):
                    g.add_edge(p, c)
            g.remove_node(n)
        else:
            g.nodes[n]["observed"] = False
    return g


def backdoor_criterion(g: nx.DiGraph, treatment: str, outcome: str, adjust: list[str]) -> bool:
    """Backdoor criterion: no adjustment variable descends from the treatment, and the adjustment set
    d-separates treatment and outcome in the graph without the treatment's outgoing edges."""
    if set(adjust) & nx.descendants(g, treatment):
        return False
    h = g.copy()
    h.remove_edges_from(list(g.out_edges(treatment)))
    is_d_sep = getattr(nx, "is_d_separator", None) or nx.d_separated
    return bool(is_d_sep(h, {treatment}, {outcome}, set(adjust)))


def _model(data: pd.DataFrame, treatment: str, outcome: str, g: nx.DiGraph | None, common_causes: list[str]):
    """A fresh CausalModel. The graph goes in as a networkx DiGraph (DoWhy marks a node observed iff it is a
    column of ``data``); DoWhy's DOT-string path needs the whole graph on one line and tries pygraphviz first."""
    from dowhy import CausalModel

    if g is not None:
        return CausalModel(data=data, treatment=treatment, outcome=outcome, graph=nx.DiGraph(list(g.edges())))
    return CausalModel(data=data, treatment=treatment, outcome=outcome, common_causes=common_causes)


def _in_sorted_order(estimand):
    """``estimand`` with every adjustment set in sorted order, its expressions rebuilt to match.

    DoWhy collects adjustment sets in Python sets, whose order follows the process's string-hash seed: the
    regression's column order, the refuters' draws per confounder and the printed estimand then change from
    one run to the next (the bootstrap refuter's estimate by ~0.1%). Sorted, the same seed and data give the
    same results in every process."""
    for sets in (estimand.backdoor_variables, estimand.general_adjustment_variables):
        for key, variables in (sets or {}).items():
            sets[key] = sorted(variables)
            if (estimand.estimands or {}).get(key) is not None:
                estimand.estimands[key] = construct_adjustment_estimand(
                    estimand.treatment_variable, estimand.outcome_variable, sets[key])
    return estimand


def _p(value) -> float:
    if value is None:
        return float("nan")
    return float(np.asarray(value).ravel()[0])


def dowhy_analysis(
    data: pd.DataFrame,
    treatment: str,
    outcome: str,
    common_causes: list[str] | tuple[str, ...],
    weights: str | np.ndarray | pd.Series | None = None,
    propensity: str | np.ndarray | pd.Series | None = None,
    refuters: tuple[str, ...] = DEFAULT_REFUTERS,
    simulations: int = 100,
    seed: int = 9988,
    graph: bool | nx.DiGraph = True,
    kappa_t: tuple[float, ...] = DEFAULT_KAPPA_T,
    kappa_y_sd: tuple[float, ...] = DEFAULT_KAPPA_Y_SD,
    alpha: float = 0.05,
) -> DoWhyResult:
    """Identify, estimate and refute the effect of ``treatment`` on ``outcome`` with DoWhy.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit (e.g. :func:`change_score_frame`); not modified.
    treatment, outcome : str
        Column names (binary 0/1 treatment; the outcome a change score).
    common_causes : sequence of str
        Observed confounders to adjust for (columns of ``data``). With the graph (default) the backdoor
        set DoWhy identifies from the graph restricted to these columns is used.
    weights : str or array, optional
        Our matching/weighting weights (a column name or one value per row). Default: the ``weights``
        column if present, else derived from ``propensity``, else 1.
    propensity : str or array, optional
        Our propensity scores; used only when ``weights`` is None, giving ATT odds weights (1 for the
        treated, p / (1 - p) for controls), not clipped.
    refuters : tuple of str
        DoWhy refuter names, a subset of ``DEFAULT_REFUTERS``.
    simulations : int
        Simulations per refuter (placebo, random common cause, subset, bootstrap, dummy outcome).
    seed : int
        Seeds every refuter (``random_seed``) and numpy's global state for the confounder grid.
    graph : bool or networkx.DiGraph
        True: the study graph ``graph.dot``; a DiGraph: that graph; False: no graph, DoWhy's
        ``common_causes`` mode.
    kappa_t, kappa_y_sd : tuple of float
        The unobserved-common-cause grid: share of units whose treatment the confounder flips, and its
        linear effect on the outcome in outcome standard deviations.
    alpha : float
        Level of the refuters' tests: a check passes when its p-value exceeds ``alpha``.

    Returns
    -------
    DoWhyResult
        ``estimate``, ``std_error``, ``conf_low``/``conf_high`` (DoWhy's weighted regression with our
        weights), the identified ``backdoor`` set and estimand, and ``checks``: one record per refuter and
        confounder-grid point (``name``, ``estimate``, ``p_value``, ``passed``, ``meaning``); ``tidy()``.

    Examples
    --------
    A confounder x raises both the chance of treatment and the change score; the effect is 1:

    >>> import numpy as np, pandas as pd
    >>> from analysis.causal import dowhy_analysis
    >>> rng = np.random.default_rng(3)
    >>> x = rng.normal(size=400)
    >>> t = (rng.random(400) < 1 / (1 + np.exp(-x))).astype(int)
    >>> d = pd.DataFrame({"x": x, "treated": t, "y_change": 1.0 * t + 2.0 * x + rng.normal(0, 1, 400)})
    >>> round(float(d.y_change[d.treated == 1].mean() - d.y_change[d.treated == 0].mean()), 2)  # unadjusted
    2.75
    >>> r = dowhy_analysis(d, "treated", "y_change", ["x"], graph=False,
    ...                    refuters=("placebo_treatment_refuter",), simulations=20)
    >>> r.backdoor, round(r.estimate, 2), round(r.std_error, 2)
    (['x'], 0.95, 0.11)
    >>> [(c["name"], c["passed"]) for c in r.checks]
    [('placebo_treatment_refuter', True)]
    """
    logger = logging.getLogger("dowhy")
    level = logger.level
    logger.setLevel(logging.ERROR)  # DoWhy logs every unobserved node and extra column as a warning
    try:
        return _dowhy_analysis(data, treatment, outcome, list(common_causes), weights, propensity, tuple(refuters),
                               simulations, seed, graph, tuple(kappa_t), tuple(kappa_y_sd), alpha)
    finally:
        logger.setLevel(level)


def _dowhy_analysis(data, treatment, outcome, common_causes, weights, propensity, refuters, simulations, seed,
                    graph, kappa_t, kappa_y_sd, alpha) -> DoWhyResult:
    missing = [c for c in [treatment, outcome, *common_causes] if c not in data]
    if missing:
        raise KeyError(f"dowhy_analysis: columns {missing} are not in the data (it has {list(data.columns)})")
    unknown = set(refuters) - set(DEFAULT_REFUTERS)
    if unknown:
        raise RefutationError(f"dowhy_analysis: unknown refuters {sorted(unknown)}; allowed: {list(DEFAULT_REFUTERS)}")
    work, dropped = _working_frame(data, treatment, outcome, common_causes, weights, propensity)
    g, estimand, backdoor, identified, dot = _identify(work, treatment, outcome, common_causes, graph)

    def fresh():
        m = _model(work.copy(), treatment, outcome, g, common_causes)
        est = m.estimate_effect(estimand, method_name=ESTIMATOR_METHOD,
                                method_params={"weights_column": _WCOL}, target_units="ate")
        return m, est

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, est = fresh()
    value = float(est.value)

    # our own WLS for the standard error (clustered on the matched set if known)
    X = sm.add_constant(work[[treatment, *backdoor]].astype(float), has_constant="add")
    fit0 = sm.WLS(work[outcome].astype(float), X, weights=work[_WCOL])
    if "_subclass" in work:
        fit = fit0.fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(work["_subclass"])[0]})
    else:
        fit = fit0.fit(cov_type="HC1")
    se = float(fit.bse[treatment])
    lo, hi = (float(v) for v in fit.conf_int(alpha=alpha).loc[treatment])

    checks: list[dict] = []
    grid = pd.DataFrame(columns=["kappa_t", "kappa_y", "kappa_y_sd", "new_effect"])
    # DoWhy seeds and draws from numpy's global random state (its ``random_seed`` calls np.random.seed):
    # save the caller's state and restore it afterwards
    saved_state = np.random.get_state()  # noqa: NPY002
    try:
        for name in refuters:
            if name == "add_unobserved_common_cause":
                grid = _unobserved_cause_grid(fresh, estimand, kappa_t, kappa_y_sd, float(work[outcome].std()), seed)
                lo_g, hi_g = float(grid.new_effect.min()), float(grid.new_effect.max())
                checks.append({"name": name, "estimate": value, "p_value": None, "conf_low": lo_g, "conf_high": hi_g,
                               "passed": bool(np.all(np.sign(grid.new_effect) == np.sign(value)) and value != 0),
                               "meaning": MEANINGS[name], "grid": grid.to_dict(orient="records")})
            else:
                checks += _refuter_checks(fresh, estimand, name, simulations, seed, value, alpha)
    finally:
        np.random.set_state(saved_state)  # noqa: NPY002

    return DoWhyResult(treatment=treatment, outcome=outcome, estimand=str(estimand), backdoor=backdoor,
                       identified=identified, graph_dot=dot, estimate=value, std_error=se, conf_low=lo, conf_high=hi,
                       nobs=len(work), checks=checks, sensitivity_grid=grid, dropped=dropped,
                       simulations=simulations, seed=seed)


_WCOL = "_dowhy_weights"


def _working_frame(data, treatment, outcome, common_causes, weights, propensity) -> tuple[pd.DataFrame, dict]:
    """The columns DoWhy reads, with the weights (given, from the propensity score as ATT odds weights, the
    data's ``weights`` column, or 1) and the matched set if known; rows with a missing value dropped and
    counted (``dropped``: per column and ``rows``)."""
    work = data[[treatment, outcome, *common_causes]].copy()
    if "subclass" in data:
        work["_subclass"] = data["subclass"].to_numpy()
    if weights is None and propensity is None and "weights" in data:
        weights = "weights"
    if weights is not None:
        work[_WCOL] = (data[weights] if isinstance(weights, str) else np.asarray(weights, dtype=float))
    elif propensity is not None:
        p = np.asarray(data[propensity] if isinstance(propensity, str) else propensity, dtype=float)
        if np.any((p <= 0) | (p >= 1)):
            raise RefutationError("dowhy_analysis: propensity scores must lie strictly in (0, 1); got "
                                  f"min {np.nanmin(p)}, max {np.nanmax(p)}")
        t = work[treatment].to_numpy(dtype=float)
        work[_WCOL] = t + (1 - t) * p / (1 - p)
    else:
        work[_WCOL] = 1.0
    internal = {_WCOL: "weights", "_subclass": "subclass"}
    dropped = {internal.get(c, c): int(n) for c, n in work.isna().sum().items() if n}
    dropped["rows"] = int(work.isna().any(axis=1).sum())
    work = work.dropna().reset_index(drop=True)
    work[_WCOL] = work[_WCOL].astype(float)
    if (work[_WCOL] < 0).any():
        raise RefutationError(f"dowhy_analysis: {int((work[_WCOL] < 0).sum())} negative weights; weights must be >= 0")
    work[treatment] = work[treatment].astype(int)
    return work, dropped


def _identify(work, treatment, outcome, common_causes, graph):
    """``(graph estimated on, estimand, backdoor set, identified, the full graph's DOT)``. Identification
    first under the full graph with its latent nodes unobserved (under the study graph DoWhy finds no
    backdoor set: health consciousness confounds enrolment and outcome), then under the graph without the
    latent nodes, i.e. under the no-unobserved-confounding assumption the matched design makes; that
    estimand and its backdoor set are the ones estimated and refuted (``identified`` None without a graph)."""
    if graph is False:
        g, dot = None, ""
    else:
        g_full = restricted_graph(common_causes, treatment, outcome, load_graph() if graph is True else graph)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            e_full = _model(work.copy(), treatment, outcome, g_full, common_causes).identify_effect(
                proceed_when_unidentifiable=True)
        latent = [n for n, d in g_full.nodes(data=True) if not d.get("observed", True)]
        g = g_full.copy()
        g.remove_nodes_from(latent)
        dot = dot_source(g_full)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _model(work.copy(), treatment, outcome, g, common_causes)
        estimand = _in_sorted_order(model.identify_effect(proceed_when_unidentifiable=True))
    backdoor = sorted(estimand.get_backdoor_variables() or [])
    if not backdoor and common_causes:
        raise RefutationError(f"dowhy_analysis: DoWhy found no backdoor set for {treatment} -> {outcome} even without "
                              f"the latent nodes; check the graph and common_causes {common_causes}")
    identified = None
    if g is not None:
        identified = bool(e_full.get_backdoor_variables()) or backdoor_criterion(g_full, treatment, outcome, backdoor)
    return g, estimand, backdoor, identified, dot


def _unobserved_cause_grid(fresh, estimand, kappa_t, kappa_y_sd, sd_y: float, seed: int) -> pd.DataFrame:
    """DoWhy's simulated unobserved common cause over the grid of its effects on treatment (``kappa_t``)
    and on the outcome (``kappa_y_sd`` SDs of the outcome): the re-estimated effect at each point."""
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kt in kappa_t:
            for ks in kappa_y_sd:
                np.random.seed(seed)  # noqa: NPY002 - DoWhy draws the confounder from numpy's global state
                m, e = fresh()
                r = m.refute_estimate(estimand, e, method_name="add_unobserved_common_cause",
                                      simulation_method="direct-simulation",
                                      confounders_effect_on_treatment="binary_flip",
                                      confounders_effect_on_outcome="linear",
                                      effect_strength_on_treatment=float(kt),
                                      effect_strength_on_outcome=float(ks * sd_y))
                rows.append({"kappa_t": float(kt), "kappa_y": float(ks * sd_y), "kappa_y_sd": float(ks),
                             "new_effect": float(np.asarray(r.new_effect).ravel()[0])})
    return pd.DataFrame(rows)


def _refuter_checks(fresh, estimand, name, simulations, seed, value, alpha) -> list[dict]:
    """One DoWhy refuter's check(s): passing where its p-value is above ``alpha``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m, e = fresh()
        kw = {"num_simulations": simulations, "random_seed": seed}
        if name == "placebo_treatment_refuter":
            kw["placebo_type"] = "permute"
        if name == "data_subset_refuter":
            kw["subset_fraction"] = 0.8
        res = m.refute_estimate(estimand, e, method_name=name, **kw)
    results = res if isinstance(res, list) else [res]
    checks = []
    for r in results:
        new = r.new_effect
        new_val = float(np.asarray(new).ravel()[0]) if np.size(new) == 1 else float(np.mean(new))
        pval = _p((r.refutation_result or {}).get("p_value"))
        checks.append({"name": name if len(results) == 1 else f"{name}:{r.refutation_type}",
                       "estimate": new_val, "original_estimate": value, "p_value": pval,
                       "passed": bool(np.isfinite(pval) and pval > alpha), "meaning": MEANINGS[name]})
    return checks
