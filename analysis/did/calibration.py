"""Empirical calibration of a DiD design with negative-control outcomes (Schuemie et al. 2014, Stat Med 33(2);
2018, PNAS 115(11)), on the scale of a proportional effect.

A negative-control outcome is one the program cannot change but that shares the selection threatening the
design (here: costs of care that walking cannot move but care-seeking can, ``analysis.definitions.
CARE_CATEGORIES``). The design's estimates on the controls are draws of its systematic error: the *empirical
null* is a normal distribution N(mean, sd^2) of that error, fitted by maximum likelihood to the controls'
estimates with their own standard errors (each estimate ~ N(mean, sd^2 + se_i^2), as EmpiricalCalibration's
``fitNull``). A target estimate is then calibrated by removing the null's mean and adding its spread and the
uncertainty of its mean to the estimate's variance:

    calibrated = estimate - mean,   var = se^2 + sd^2 + se(mean)^2,

and its p-value is the probability of a value at least as far from 0 under that distribution
(EmpiricalCalibration's ``calibrateP`` for a null fitted from negative controls; the se(mean)^2 term is the
first-order part of what its MCMC option integrates over, and matters with few controls).

Costs of different care differ in level, so a shared selection shows as a shared *proportional* error, not a
shared KRW one: each outcome's ATT is put on the scale of its counterfactual mean, r = ATT / mu0 with
mu0 = (treated mean) - ATT over the same post-period cells, calibrated there and turned back into KRW with
the target's mu0. Its standard error is the ATT's over mu0 (the treated mean's own sampling error enters
r times less and is left out).

What calibration assumes: the controls' systematic error is exchangeable with the target's (the same
selection, of a similar size). It cannot see a bias the controls do not share, for example regression to
the mean in a checkup measure the controls are not selected on; the report says so.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from analysis.did.aggte import aggregate_values, aggte
from analysis.did.attgt import AttGtResult
from analysis.did.drdid import DiDError

MIN_CONTROLS = 3  # fewer controls than this cannot say how large the error spread is


@dataclass(frozen=True)
class NullDistribution:
    """The empirical null: systematic error ~ N(mean, sd^2), from ``n`` negative controls."""

    mean: float
    sd: float
    mean_se: float  # standard error of ``mean`` (precision-weighted mean given ``sd``)
    n: int
    names: tuple[str, ...] = ()
    estimates: tuple[float, ...] = ()
    std_errors: tuple[float, ...] = ()

    def __str__(self) -> str:
        rows = "\n".join(f"  {n:24s} {e:10.4f} {s:10.4f}" for n, e, s in
                         zip(self.names, self.estimates, self.std_errors, strict=True))
        return (f"Empirical null distribution from {self.n} negative controls\n"
                f"  mean {self.mean:.4f} (SE {self.mean_se:.4f}), SD {self.sd:.4f}\n"
                f"  {'control':24s} {'estimate':>10s} {'std.error':>10s}\n{rows}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def fit_null(estimates, std_errors, names=()) -> NullDistribution:
    """Maximum-likelihood fit of the empirical null to negative-control estimates and their standard errors.

    For a given sd the likelihood's maximum in the mean is the precision-weighted mean, so the fit is a
    one-dimensional search over sd >= 0 (sd = 0 is allowed: no systematic error beyond sampling error)."""
    est = np.asarray(estimates, dtype=float)
    se = np.asarray(std_errors, dtype=float)
    ok = np.isfinite(est) & np.isfinite(se) & (se >= 0)
    if ok.sum() < MIN_CONTROLS:
        raise DiDError(f"fit_null: {int(ok.sum())} negative controls with an estimate and a standard error; "
                       f"at least {MIN_CONTROLS} are needed to fit the spread of the systematic error")
    est, se = est[ok], se[ok]
    names = tuple(np.asarray(names, dtype=object)[ok]) if len(names) else ()

    def mean_at(sd: float) -> tuple[float, float]:
        """The likelihood's best mean given sd, and its standard error (exact controls, if any, decide)."""
        v = sd**2 + se**2
        if (v == 0).any():
            return float(est[v == 0].mean()), 0.0
        w = 1.0 / v
        return float(w @ est / w.sum()), float(np.sqrt(1.0 / w.sum()))

    def nll(sd: float) -> float:
        m, _ = mean_at(sd)
        v = np.maximum(sd**2 + se**2, 1e-300)
        return float(0.5 * np.sum(np.log(v) + (est - m) ** 2 / v))

    top = max(float(np.ptp(est)), float(se.max()), 1e-12) * 10
    grid = np.linspace(0.0, top, 201)  # a grid first: the likelihood in sd can have a corner at 0
    best = grid[int(np.argmin([nll(s) for s in grid]))]
    lo, hi = max(best - top / 200, 0.0), best + top / 200
    res = optimize.minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10 * top})
    sd = float(res.x) if nll(res.x) <= nll(best) else float(best)
    if sd < 1e-9 * top:
        sd = 0.0
    m, m_se = mean_at(sd)
    return NullDistribution(mean=m, sd=sd, mean_se=m_se, n=int(ok.sum()), names=names,
                            estimates=tuple(map(float, est)), std_errors=tuple(map(float, se)))


def calibrated_p(null: NullDistribution, estimate, std_error, two_sided: bool = True, upper: bool = True,
                 with_mean_se: bool = True):
    """Calibrated p-value(s) of ``estimate`` (as EmpiricalCalibration's ``calibrateP``; one-sided with
    ``two_sided=False``, for ``upper`` or lower alternatives). ``with_mean_se=False`` leaves out the null
    mean's own uncertainty, which is what ``calibrateP`` does."""
    est, se = np.asarray(estimate, dtype=float), np.asarray(std_error, dtype=float)
    sd = np.sqrt(se**2 + null.sd**2 + (null.mean_se**2 if with_mean_se else 0.0))
    z = (est - null.mean) / sd
    upper_p = stats.norm.sf(z)
    p = 2 * np.minimum(upper_p, 1 - upper_p) if two_sided else (upper_p if upper else 1 - upper_p)
    return p if p.ndim else float(p)


def calibrate(null: NullDistribution, estimate: float, std_error: float, level: float = 0.95) -> dict:
    """The calibrated estimate, its standard error (sampling, systematic spread and the null mean's
    uncertainty), interval at ``level`` and two-sided p-value."""
    est = float(estimate) - null.mean
    se = float(np.sqrt(std_error**2 + null.sd**2 + null.mean_se**2))
    z = stats.norm.ppf(0.5 + level / 2)
    return {"estimate": est, "std_error": se, "conf_low": est - z * se, "conf_high": est + z * se,
            "p_value": float(calibrated_p(null, estimate, std_error))}


def relative_att(res: AttGtResult, panel: pd.DataFrame, yname: str) -> dict:
    """The simple aggregate ATT of ``res`` on the scale of its counterfactual mean.

    mu0 is the treated units' mean outcome over the post-period cells, with aggte's simple weights, minus
    the ATT. Returns ``att, att_se, mu0, rel, rel_se``."""
    ag = aggte(res, type="simple", na_rm=True)
    d = res.design
    g_of = pd.Series(d.unit_g, index=d.unit_id)
    obs = panel.loc[panel[yname].notna() & panel.study_id.isin(d.unit_id), ["study_id", "year", yname]]
    obs = obs.assign(g=g_of.reindex(obs.study_id).to_numpy())
    cell_mean = obs[obs.g > 0].groupby(["g", "year"])[yname].mean()
    treated_mean = np.array([cell_mean.get((c.group, c.time), np.nan) for c in res.cells])
    ybar1 = aggregate_values(res, treated_mean).overall_att
    mu0 = ybar1 - ag.overall_att
    if not np.isfinite(mu0) or mu0 <= 0:
        raise DiDError(f"relative_att: {yname}: the counterfactual mean ({mu0:.4g}) is not positive; a "
                       "proportional effect is not defined")
    return {"att": ag.overall_att, "att_se": ag.overall_se, "mu0": mu0, "rel": ag.overall_att / mu0,
            "rel_se": ag.overall_se / mu0}


def calibrate_att(null: NullDistribution, res: AttGtResult, panel: pd.DataFrame, yname: str,
                  level: float = 0.95) -> dict:
    """The simple aggregate ATT of ``res`` calibrated with ``null`` on the proportional scale and turned back
    into the outcome's units with its counterfactual mean: ``estimate, std_error, conf_low, conf_high,
    p_value`` (units), ``relative`` (the calibrated proportional result) and ``target`` (``relative_att``)."""
    r = relative_att(res, panel, yname)
    c = calibrate(null, r["rel"], r["rel_se"], level=level)
    mu0 = r["mu0"]
    return {**{k: c[k] * mu0 for k in ("estimate", "std_error", "conf_low", "conf_high")},
            "p_value": c["p_value"], "relative": c, "target": r}
