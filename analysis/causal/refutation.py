"""The refutation suite: every check the design allows, as one list for ``refutation.json``.

Each check is a dict with ``name``, ``design``, ``estimate``, ``std_error``, ``p_value`` and/or
``conf_low``/``conf_high``, ``passed`` (True/False) and ``meaning`` (what passing shows); on synthetic data
``truth`` where the check estimates an effect. Two designs are examined side by side: the city's published
2x2 on its 1:10 matched 2022 joiners, and the plan's Callaway-Sant'Anna design (with its trend-adjusted
variant). A check that cannot be computed is listed with ``passed: False`` and the reason in ``meaning``;
none is dropped.

- pre-trend tests: the Wald test of the pre-period ATT(g,t) (Callaway-Sant'Anna) and of the pre-period
  event-study coefficients of the published matched sample (2017-2021);
- placebo in time: enrolment pretended ``placebo_shift`` years earlier, on the years before anyone enrolled;
- negative-control outcome (injury visits): the same design must find nothing;
- Rambachan-Roth relative magnitudes: the breakdown Mbar of the average post-period effect (how large a
  post-period violation of parallel trends, relative to the largest pre-period one, overturns the sign),
  and smoothness (Callaway-Sant'Anna): the effect under a linearly extrapolated pre-trend (M = 0) and the
  breakdown M of the change in slope;
- the covariates' form (Callaway-Sant'Anna): the plan's estimate with every covariate term that bends
  (``poly(birth_year, 3)``) entered as a straight line in its column; passing means it moves by less than its
  standard error (an estimate that rests on a modelling choice is model-dependent: Ho, Imai, King and Stuart
  2007, Political Analysis 15(3));
- E-value of the published matched cost estimate;
- DoWhy on the published design's change score (2023 - 2021): identification from the assumed graph, the
  estimate with our matching weights, and its refuters (placebo treatment, random common cause, data
  subset, bootstrap, dummy outcome, the unobserved-common-cause grid), each on a fresh copy.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import TypedDict

import numpy as np
import pandas as pd
from scipy import stats

from analysis import formulas
from analysis.causal.dowhy_checks import DEFAULT_COVARIATES, change_score_frame, dowhy_analysis
from analysis.causal.falsification import placebo_in_time, published_event_study
from analysis.causal.sensitivity import e_value, event_study_inputs, honest_did
from analysis.config import StudyConfig
from analysis.did import aggte, att_gt, did_2x2, trend_adjusted
from analysis.did.drdid import DiDError
from analysis.did.outcomes import cs_truth, published_truth, truth_table
from analysis.did.results import tidy_records

E_VALUE_BAR = 2.0  # an unmeasured confounder doubling both enrolment and the outcome is not implausible here
MBAR_PASS = 1.0  # the sign must survive post-period violations as large as the largest pre-period one


class Check(TypedDict, total=False):
    """One check as ``refutation.json`` stores it: always ``name``, ``design``, ``passed`` and ``meaning``;
    the statistics where the check has them (a grid, a breakdown value or a DoWhy refuter's fields for some)."""

    name: str
    design: str
    passed: bool
    meaning: str
    estimate: float | None
    std_error: float | None
    conf_low: float | None
    conf_high: float | None
    p_value: float | None
    truth: float | None


def tidy_checks(checks: list[Check]) -> pd.DataFrame:
    """The checks as one frame: ``term`` (the check's name), ``estimate, std_error, statistic, p_value,
    conf_low, conf_high`` (as every result's ``tidy``), then ``design, passed, meaning, truth``."""
    return tidy_records(checks, "name", ["design", "passed", "meaning", "truth"])


def _num(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _check(name: str, design: str, meaning: str, passed: bool, **values) -> Check:
    return {"name": name, "design": design, **{k: _num(v) if isinstance(v, (int, float, np.floating)) and
                                                not isinstance(v, bool) else v for k, v in values.items()},
            "passed": bool(passed), "meaning": meaning}


def _interval_check(name, design, meaning, est, se, alp, truth=None) -> dict:
    z = stats.norm.ppf(1 - alp / 2)
    lo, hi = est - z * se, est + z * se
    p = 2 * stats.norm.sf(abs(est / se)) if se > 0 else float("nan")
    extra = {} if truth is None else {"truth": truth}
    return _check(name, design, meaning, bool(lo <= 0 <= hi), estimate=est, std_error=se, conf_low=lo,
                  conf_high=hi, p_value=p, **extra)


def _wald(b: np.ndarray, V: np.ndarray) -> tuple[float, float]:
    W = float(b @ np.linalg.solve(V, b))
    return W, float(stats.chi2.sf(W, len(b)))


# the relative-magnitudes grid: steps of 0.1 up to twice the largest pre-period deviation, so a breakdown
# reads to one decimal (with five points a breakdown of 0.5 was the grid's step, not a finding)
MBAR_GRID = np.round(np.arange(0.0, 2.0 + 1e-9, 0.1), 10)


def _rm_check(name, design, betahat, sigma, n_pre, n_post, alp, seed) -> dict:
    """Relative-magnitudes bounds of the average post-period effect; passes when the robust interval at
    Mbar = 1 excludes 0."""
    l_vec = np.full(n_post, 1.0 / n_post)
    h = honest_did(betahat, sigma, n_pre, n_post, method="relative_magnitudes", l_vec=l_vec, alpha=alp,
                   Mvec=MBAR_GRID, seed=seed)
    at = int(np.flatnonzero(np.isclose(h.M, MBAR_PASS))[0])
    lo, hi = float(h.lb[at]), float(h.ub[at])
    return _check(name, design,
                  f"the average post-period effect keeps its sign even if parallel trends fail after enrolment "
                  f"by up to {MBAR_PASS:g} times the largest pre-period deviation (Rambachan and Roth 2023, "
                  "relative magnitudes); 'breakdown' is the smallest Mbar whose robust interval includes 0",
                  not (lo <= 0 <= hi), estimate=h.estimate, std_error=h.std_error, conf_low=lo, conf_high=hi,
                  breakdown=h.breakdown, grid=[{"Mbar": float(m), "conf_low": float(a), "conf_high": float(b)}
                                               for m, a, b in zip(h.M, h.lb, h.ub, strict=True)])


def _sd_check(name, design, betahat, sigma, n_pre, n_post, alp) -> dict:
    """Smoothness bounds of the average post-period effect; passes when the interval at M = 0 (the
    pre-trend extrapolated linearly) excludes 0."""
    l_vec = np.full(n_post, 1.0 / n_post)
    h = honest_did(betahat, sigma, n_pre, n_post, method="smoothness", l_vec=l_vec, alpha=alp)
    lo, hi = float(h.lb[0]), float(h.ub[0])
    return _check(name, design,
                  "the average post-period effect keeps its sign when the pre-period trend difference is "
                  "extrapolated linearly (M = 0) and, up to 'breakdown', when its slope may change by M per "
                  "period (Rambachan and Roth 2023, smoothness)", not (lo <= 0 <= hi), estimate=h.estimate,
                  std_error=h.std_error, conf_low=lo, conf_high=hi, breakdown=h.breakdown,
                  grid=[{"M": float(m), "conf_low": float(a), "conf_high": float(b)}
                        for m, a, b in zip(h.M, h.lb, h.ub, strict=True)])


def refutation_checks(panel: pd.DataFrame, cfg: StudyConfig, published: pd.DataFrame,
                      truth: pd.DataFrame | None = None, progress: bool = False) -> list[dict]:
    """Every check of the module docstring on ``panel`` (the analysis panel) and ``published`` (the city's
    matched 2x2 data, ``published_design(panel).data``); ``truth``: the linked synthetic truth."""
    r = _Refuter(panel, cfg, published, truth, progress)
    r.say("published design")
    r.guarded("main_estimate", _PUB, r.published_main)
    r.guarded("pre_trend_test", _PUB, r.published_pretrend)
    r.say("DoWhy refuters")
    r.guarded("dowhy_identification", _PUB, r.published_dowhy)
    r.say("Callaway-Sant'Anna")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        r.guarded("main_estimate", _CS, r.cs_main)
        r.guarded("covariate_form", _CS, r.cs_covariate_form)
        r.guarded("placebo_in_time", _CS, lambda: r.cs_placebo(trend=False))
        r.guarded("placebo_in_time_trend_adjusted", _CS + "_trend", lambda: r.cs_placebo(trend=True))
        r.guarded("main_estimate", _CS + "_trend", r.cs_trend_main)
        r.say("negative control")
        r.guarded("negative_control_outcome", _CS, r.negative_control)
    return [_clean(c) for c in r.checks]


_PUB, _CS = "published", "callaway_santanna"


class _Refuter:
    """The checks of one study, design by design; each method returns its check(s), ``guarded`` records a
    check that could not be computed as failed, with the reason."""

    def __init__(self, panel, cfg: StudyConfig, published, truth, progress: bool):
        self.panel, self.cfg, self.published, self.truth, self.progress = panel, cfg, published, truth, progress
        self.y, self.alp, self.xf = cfg.outcomes.primary, cfg.did.alp, cfg.did.xformla
        self.te = truth_table(truth, self.y)
        dc = cfg.did
        self.kw = dict(control_group=dc.control_group, est_method=dc.est_method, anticipation=dc.anticipation,
                       bstrap=False, cband=False, alp=self.alp, table="panel")
        self.checks: list[dict] = []

    def guarded(self, name: str, design: str, fn) -> None:
        try:
            out = fn()
            self.checks.extend(out if isinstance(out, list) else [out])
        except (DiDError, ValueError, np.linalg.LinAlgError) as e:
            self.checks.append(_check(name, design, f"not computed: {e}", False))

    def say(self, msg: str) -> None:
        if self.progress:
            print(f"  refute: {msg}", flush=True)

    # --- the city's published design -------------------------------------------------------------------
    @functools.cached_property
    def change_frame(self) -> pd.DataFrame:
        """One row per person of the published design with the 2023 - 2021 change (E-value and DoWhy)."""
        return change_score_frame(self.published, outcomes=(self.y,))

    def published_main(self):
        y, alp = self.y, self.alp
        r = did_2x2(self.published, y)
        truth_v = published_truth(self.published, y, self.te) if self.te is not None else None
        est, se = float(r.params["ATT"]), float(r.std_errors["ATT"])
        main = _interval_check("main_estimate", _PUB, "the published 2x2 estimate (2021 -> 2023, 2022 joiners vs "
                               "1:10 matched non-participants); passing means its interval includes 0",
                               est, se, alp, truth_v)
        frame = self.change_frame
        sd = float(frame.loc[frame.treated == 0, f"{y}_change"].dropna().std(ddof=1))
        ev = e_value(est, main["conf_low"], main["conf_high"], sd=sd)
        ev_check = _check(
            "e_value", _PUB, f"an unmeasured confounder associated with both enrolment and the cost change by a "
            f"risk ratio of at least the E-value of the confidence limit would be needed to move the interval to "
            f"0; passing means that E-value is at least {E_VALUE_BAR:g} (VanderWeele and Ding 2017; standardised "
            "by the controls' SD of the change)", ev.e_ci >= E_VALUE_BAR, estimate=ev.e_point,
            conf_low=ev.e_ci, sd_of_change=sd)
        return [main, ev_check]

    def published_pretrend(self):
        cfg = self.cfg
        b, V, n_pre, n_post = event_study_inputs(published_event_study(
            self.panel, self.y, ratio=cfg.matching.ratio, covariates=cfg.covariates.published_design))
        W, p = _wald(b[:n_pre], V[:n_pre, :n_pre])
        pt = _check("pre_trend_test", _PUB, "the matched sample's event-study coefficients of 2017-2020 (relative "
                    "to 2021) are jointly zero: no sign of diverging trends before enrolment (Wald test)",
                    p > self.alp, estimate=W, p_value=p, df=n_pre)
        rm = _rm_check("honest_did_relative_magnitudes", _PUB, b, V, n_pre, n_post, self.alp, cfg.refutation.seed)
        return [pt, rm]

    def published_dowhy(self):
        rc = self.cfg.refutation
        r = dowhy_analysis(self.change_frame, "treated", f"{self.y}_change", list(DEFAULT_COVARIATES),
                           weights="weights", simulations=rc.simulations, seed=rc.seed, alpha=self.alp)
        ident = _check("dowhy_identification", _PUB,
                       "the assumed causal graph (analysis/causal/graph.dot) identifies the effect by the backdoor "
                       "criterion; it does not while latent health consciousness drives both enrolment and "
                       "costs, so the estimate (DoWhy, our matching weights, backdoor set "
                       f"{sorted(r.backdoor)} of the graph without the latent node) rests on assuming it away",
                       bool(r.identified), estimate=r.estimate, std_error=r.std_error, conf_low=r.conf_low,
                       conf_high=r.conf_high, estimand=r.estimand)
        return [ident, *({"design": _PUB, **c} for c in r.checks)]

    # --- Callaway-Sant'Anna (the plan), and trend-adjusted -------------------------------------------------
    @functools.cached_property
    def cs_fit(self):
        """The plan's fit with a universal base period, which the main, pre-test and form checks share."""
        return att_gt(self.panel, self.y, "year", "study_id", "first_treat", self.xf, base_period="universal",
                      **self.kw)

    def cs_main(self):
        y, alp, te = self.y, self.alp, self.te
        res = self.cs_fit
        s = aggte(res, "simple", na_rm=True)
        tr = cs_truth(res, self.panel, y, te)[("simple", "overall")] if te is not None else None
        out = [_interval_check("main_estimate", _CS, "the plan's Callaway-Sant'Anna overall ATT; passing means "
                               "its interval includes 0", s.overall_att, s.overall_se, alp, tr),
               _check("pre_trend_test", _CS, "the pre-period ATT(g,t) are jointly zero: no sign of diverging "
                      "trends before enrolment (Wald pre-test)", (res.pretest_p or 0) > alp,
                      estimate=res.pretest_W, p_value=res.pretest_p)]
        b, V, n_pre, n_post = event_study_inputs(aggte(res, "dynamic", na_rm=True))
        out.append(_rm_check("honest_did_relative_magnitudes", _CS, b, V, n_pre, n_post, alp,
                             self.cfg.refutation.seed))
        out.append(_sd_check("honest_did_smoothness", _CS, b, V, n_pre, n_post, alp))
        return out

    def cs_covariate_form(self):
        terms = self.cfg.did.covariates
        line = formulas.straight(terms, "did.covariates")
        if line == tuple(t.strip() for t in terms):
            return []  # every covariate enters as a column or a categorical already: nothing to compare
        main = aggte(self.cs_fit, "simple", na_rm=True)
        res = att_gt(self.panel, self.y, "year", "study_id", "first_treat", "~ " + " + ".join(line),
                     base_period="universal", **self.kw)
        s = aggte(res, "simple", na_rm=True)
        shift = s.overall_att - main.overall_att
        bent = [t for t in terms if t.strip() not in line]
        z = stats.norm.ppf(1 - self.alp / 2)
        return _check("covariate_form", _CS, f"the plan's overall ATT with {', '.join(bent)} entered as a straight "
                      f"line in its column(s) ({' + '.join(line)}); passing means it moves by less than the plan's "
                      "standard error: the estimate does not rest on the covariates' form (Ho, Imai, King and "
                      "Stuart 2007)", bool(abs(shift) < main.overall_se), estimate=s.overall_att,
                      std_error=s.overall_se, conf_low=s.overall_att - z * s.overall_se,
                      conf_high=s.overall_att + z * s.overall_se, shift=shift, shift_in_se=shift / main.overall_se,
                      plan_estimate=main.overall_att)

    @functools.cached_property
    def placebo_fit(self):
        """One placebo fit for both placebo checks (plain and trend-adjusted)."""
        return placebo_in_time(self.panel, self.y, self.xf, shift=self.cfg.refutation.placebo_shift,
                               est_method=self.cfg.did.est_method, alp=self.alp)

    def cs_placebo(self, trend: bool):
        r = trend_adjusted(self.placebo_fit) if trend else self.placebo_fit
        s = aggte(r, "simple", na_rm=True)
        name = "placebo_in_time" + ("_trend_adjusted" if trend else "")
        return _interval_check(name, _CS + ("_trend" if trend else ""),
                               f"with enrolment pretended {self.cfg.refutation.placebo_shift} years earlier, on the "
                               "years before anyone enrolled (true effect exactly 0), the design finds nothing",
                               s.overall_att, s.overall_se, self.alp, 0.0 if self.te is not None else None)

    def cs_trend_main(self):
        y, te = self.y, self.te
        base = att_gt(self.panel, y, "year", "study_id", "first_treat", self.xf,
                      **(self.kw | {"base_period": "universal", "control_group": "nevertreated"}))
        adj = trend_adjusted(base)
        s = aggte(adj, "simple", na_rm=True)
        tr = cs_truth(adj, self.panel, y, te)[("simple", "overall")] if te is not None else None
        return [_interval_check("main_estimate", _CS + "_trend", "the trend-adjusted Callaway-Sant'Anna overall "
                                "ATT (each cohort's linear pre-trend removed); passing means its interval "
                                "includes 0", s.overall_att, s.overall_se, self.alp, tr),
                _check("pre_trend_test", _CS + "_trend", "the pre-period residuals after removing each cohort's "
                       "linear trend are jointly zero: the trend is linear, so extrapolating it is "
                       "defensible", (adj.pretest_p or 0) > self.alp, estimate=adj.pretest_W,
                       p_value=adj.pretest_p)]

    def negative_control(self):
        nc, panel = self.cfg.outcomes.negative_control, self.panel
        res = att_gt(panel, nc, "year", "study_id", "first_treat", self.xf, base_period="universal",
                     allow_unbalanced_panel=bool(panel[nc].isna().any()), **self.kw)
        s = aggte(res, "simple", na_rm=True)
        te_nc = truth_table(self.truth, nc)
        tr = cs_truth(res, panel, nc, te_nc)[("simple", "overall")] if te_nc is not None else None
        return _interval_check("negative_control_outcome", _CS, f"the program cannot change {nc}; the same "
                               "design finds nothing there (selection that also moves it would show)",
                               s.overall_att, s.overall_se, self.alp, tr)


def _clean(c: dict) -> dict:
    """JSON-ready: NaN and infinities become None."""
    def fix(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v
    return {k: fix(v) for k, v in c.items()}


def headline_design(checks: list[dict], rule: str = "auto", calibrated: bool = False) -> tuple[str, str]:
    """The design the report leads with for the primary outcome, and why, decided from the plan and the
    refutation checks alone (never from a synthetic truth): a cost outcome with enough negative-control costs
    in the plan (``calibrated``) is led by the calibrated design, because a pre-test cannot see a selection
    whose trend is not linear or starts at enrolment while the controls share it; otherwise the plan's
    Callaway-Sant'Anna, with it said where its pre-test rejects parallel trends (``headline.json`` then gives
    the outcome's Rambachan-Roth range and no point claim; the trend-adjusted design never leads, see
    ``analysis/did/headline.py``). ``rule`` other than "auto" is the plan's own choice (``[report] headline``)."""
    if rule != "auto":
        return rule, "chosen in the study plan"
    if calibrated:
        return ("callaway_santanna_calibrated", "costs are calibrated with the plan's negative-control costs, "
                "which share the care-seeking selection that threatens the cost estimate (empirical calibration)")
    passed = {(c["design"], c["name"]): c["passed"] for c in checks}
    if passed.get(("callaway_santanna", "pre_trend_test")):
        return "callaway_santanna", "its pre-test does not reject parallel trends"
    return ("callaway_santanna", "no design passes its pre-test: trends diverged before enrolment, so every "
            "estimate here may be biased; the outcome's headline is a range with no point claim (headline.json)")
