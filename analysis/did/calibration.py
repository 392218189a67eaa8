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

``fitNull`` treats the controls' sampling errors as independent, as they are when each control is a
different study population. Here every control and the target are estimated on the same people, so one
person's unusual year moves several of them together: the controls' estimates are then a correlated sample,
which looks like a tight agreement on a common error and under-states how uncertain its mean is. Given the
sampling correlation R of the estimates (from their influence functions, ``sampling_correlation``) the
null is fitted with the covariance sd^2 I + S R S (S = diag(se)), its mean is the generalised-least-squares
mean (weights w) and the target's own sampling covariance c with the controls enters the variance:

    var = se^2 + sd^2 + se(mean)^2 - 2 w'c,

the variance of (estimate - w' controls) with the systematic errors drawn independently (a random-effects
meta-analysis with correlated within-study errors). Without R it is ``fitNull``'s model exactly.

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
    # the controls' sampling correlation the fit used (empty: independent) and the weights of ``mean``
    correlation: tuple[tuple[float, ...], ...] = ()
    weights: tuple[float, ...] = ()

    def __str__(self) -> str:
        rows = "\n".join(f"  {n:24s} {e:10.4f} {s:10.4f}" for n, e, s in
                         zip(self.names, self.estimates, self.std_errors, strict=True))
        dep = "correlated sampling errors" if self.correlation else "independent sampling errors"
        return (f"Empirical null distribution from {self.n} negative controls ({dep})\n"
                f"  mean {self.mean:.4f} (SE {self.mean_se:.4f}), SD {self.sd:.4f}\n"
                f"  {'control':24s} {'estimate':>10s} {'std.error':>10s}\n{rows}")

    def cross(self, correlation_with_controls, std_error: float) -> np.ndarray:
        """The covariance of a target estimate (standard error ``std_error``) with each control's, from
        their sampling correlation (one value per control, in ``names`` order)."""
        r = np.asarray(correlation_with_controls, dtype=float)
        if r.shape != (self.n,):
            raise DiDError(f"cross: {r.size} correlations for {self.n} negative controls")
        return r * float(std_error) * np.asarray(self.std_errors, dtype=float)

    def cross_variance(self, cross) -> float:
        """``w'c``: the covariance of the null's mean with a target whose covariances with the controls are
        ``cross`` (0 without them)."""
        if cross is None:
            return 0.0
        w = np.asarray(self.weights, dtype=float) if self.weights else np.full(self.n, 1.0 / self.n)
        return float(w @ np.asarray(cross, dtype=float))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def fit_null(estimates, std_errors, names=(), correlation=None) -> NullDistribution:
    """Maximum-likelihood fit of the empirical null to negative-control estimates and their standard errors.

    For a given sd the likelihood's maximum in the mean is the generalised-least-squares mean, so the fit is
    a one-dimensional search over sd >= 0 (sd = 0 is allowed: no systematic error beyond sampling error).
    Controls without a finite estimate and standard error are left out (``n`` counts those used).

    Parameters
    ----------
    estimates, std_errors : array_like
        The design's estimates on the negative controls and their standard errors, on one scale (here the
        proportional one, ``relative_att``'s ``rel`` and ``rel_se``).
    names : sequence of str, optional
        The controls' names, kept for the printout and for matching a target's correlations.
    correlation : array_like, optional
        The controls' sampling correlation matrix (``sampling_correlation``); None treats them as
        independent, which is EmpiricalCalibration's ``fitNull``.

    Returns
    -------
    NullDistribution
        ``mean``, ``sd`` and ``mean_se`` of the systematic error, the controls used and the weights of the
        mean; ``str()`` prints it.

    References
    ----------
    Schuemie, M. J., Ryan, P. B., DuMouchel, W., Suchard, M. A. and Madigan, D. (2014). Interpreting
    observational studies: why empirical calibration is needed to correct p-values. Statistics in
    Medicine 33(2), 209-218.

    Examples
    --------
    Five control costs a design finds 2-3.5% lower among participants, where the program cannot have
    changed them; they agree within their sampling errors, so the null has no spread of its own:

    >>> from analysis.did.calibration import calibrate, fit_null
    >>> null = fit_null([-0.021, -0.035, -0.018, -0.030, -0.026], [0.006, 0.008, 0.005, 0.009, 0.007],
    ...                 ["dental", "eye", "skin", "ear", "preventive"])
    >>> round(null.mean, 4), null.sd, round(null.mean_se, 4)
    (-0.0237, 0.0, 0.0029)

    A target estimate of -4.5% (SE 1%) is mostly the controls' shared error:

    >>> {k: round(v, 4) for k, v in calibrate(null, -0.045, 0.010).items()}
    {'estimate': -0.0213, 'std_error': 0.0104, 'conf_low': -0.0417, 'conf_high': -0.0009, 'p_value': 0.0408}

    Controls that disagree far beyond their sampling errors give a wide null, and the calibrated
    interval says the design cannot tell the target from its systematic error:

    >>> wide = fit_null([0.01, -0.08, 0.05, -0.04, 0.09], [0.01] * 5)
    >>> round(wide.sd, 3), [round(calibrate(wide, -0.045, 0.010)[k], 3) for k in ("conf_low", "conf_high")]
    (0.06, [-0.182, 0.08])
    """
    est = np.asarray(estimates, dtype=float)
    se = np.asarray(std_errors, dtype=float)
    ok = np.isfinite(est) & np.isfinite(se) & (se >= 0)
    if ok.sum() < MIN_CONTROLS:
        raise DiDError(f"fit_null: {int(ok.sum())} negative controls with an estimate and a standard error; "
                       f"at least {MIN_CONTROLS} are needed to fit the spread of the systematic error")
    R = None
    if correlation is not None:
        R = np.asarray(correlation, dtype=float)
        if R.shape != (len(est), len(est)) or not np.isfinite(R).all() or not np.allclose(R, R.T) \
                or not np.allclose(np.diag(R), 1.0):
            raise DiDError(f"fit_null: the correlation must be a symmetric {len(est)} x {len(est)} matrix with "
                           "a unit diagonal, one row per control")
        if np.linalg.eigvalsh(R).min() < -1e-8:
            raise DiDError("fit_null: the controls' correlation matrix is not positive semi-definite")
        R = R[np.ix_(ok, ok)]
    est, se = est[ok], se[ok]
    names = tuple(np.asarray(names, dtype=object)[ok]) if len(names) else ()
    k = len(est)
    S = np.eye(k) * se**2 if R is None else R * np.outer(se, se)

    def gls(sds) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For each sd in ``sds``: the likelihood's best mean, its standard error, its weights (rows) and the
        negative log-likelihood; exact controls, if any, decide the mean. Vectorised over ``sds``: the grid
        below is one call (a Monte Carlo study fits thousands of nulls)."""
        sds = np.atleast_1d(np.asarray(sds, dtype=float))
        if R is None:
            v = se**2 + sds[:, None] ** 2
            zero = v == 0
            exact = zero.any(axis=1)
            p = 1.0 / np.where(zero, 1.0, v)
            w = np.where(exact[:, None], zero / np.maximum(zero.sum(axis=1, keepdims=True), 1),
                         p / p.sum(axis=1, keepdims=True))
            m = w @ est
            m_se = np.where(exact, 0.0, np.sqrt(1.0 / p.sum(axis=1)))
            v = np.maximum(v, 1e-300)
            return m, m_se, w, 0.5 * np.sum(np.log(v) + (est - m[:, None]) ** 2 / v, axis=1)
        # a correlated sample: V may be singular at sd = 0 (two controls that move as one); the
        # pseudo-inverse then weighs their common direction once
        vals, vecs = np.linalg.eigh(S + np.eye(k) * sds[:, None, None] ** 2)
        keep = vals > vals.max(axis=1, keepdims=True) * 1e-12
        inv = np.where(keep, 1.0 / np.where(keep, vals, 1.0), 0.0)
        Vi = (vecs * inv[:, None, :]) @ vecs.transpose(0, 2, 1)
        one = Vi.sum(axis=2)
        w = one / one.sum(axis=1, keepdims=True)
        m = w @ est
        r = est - m[:, None]
        nll = 0.5 * (np.sum(np.log(np.where(keep, vals, 1.0)), axis=1) + np.einsum("ni,nij,nj->n", r, Vi, r))
        return m, np.sqrt(1.0 / one.sum(axis=1)), w, nll

    def nll(sd: float) -> float:
        return float(gls(sd)[3][0])

    def slope(sd: float) -> float:
        """d nll / d sd divided by sd (the mean profiled out): tr(V^-1) - r' V^-2 r, zero at an interior
        optimum."""
        if R is None:  # V is diagonal: O(k), where a Monte Carlo check fits thousands of controls
            p = 1.0 / (se**2 + sd**2)
            r = est - float(p @ est) / p.sum()
            return float(p.sum() - np.sum((p * r) ** 2))
        Vi = np.linalg.inv(S + np.eye(k) * sd**2)
        one = Vi.sum(axis=1)
        r = est - float(one @ est) / one.sum()
        Vr = Vi @ r
        return float(np.trace(Vi) - Vr @ Vr)

    top = max(float(np.ptp(est)), float(se.max()), 1e-12) * 10
    grid = np.linspace(0.0, top, 201)  # a grid first: the likelihood in sd can have a corner at 0
    best = grid[int(np.argmin(gls(grid)[3]))]
    lo, hi = max(best - top / 200, 0.0), best + top / 200
    res = optimize.minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10 * top})
    sd = float(res.x) if nll(res.x) <= nll(best) else float(best)
    if sd < 1e-9 * top:
        sd = 0.0
    else:
        # a minimum is located only to about the square root of the machine precision (the likelihood is
        # flat there), so the last bits of the inputs, which differ between CPUs, moved sd in its 8th
        # digit; the root of the slope is found to the machine precision
        a, b = sd * (1 - 1e-5), sd * (1 + 1e-5)
        if slope(a) < 0 < slope(b):
            sd = float(optimize.brentq(slope, a, b, xtol=1e-300, rtol=4 * np.finfo(float).eps))
    m, m_se, w, _ = gls(sd)
    m, m_se, w = float(m[0]), float(m_se[0]), w[0]
    return NullDistribution(mean=m, sd=sd, mean_se=m_se, n=k, names=names,
                            estimates=tuple(map(float, est)), std_errors=tuple(map(float, se)),
                            correlation=() if R is None else tuple(tuple(map(float, row)) for row in R),
                            weights=tuple(map(float, w)))


def calibrated_p(null: NullDistribution, estimate, std_error, two_sided: bool = True, upper: bool = True,
                 with_mean_se: bool = True, cross=None):
    """Calibrated p-value(s) of ``estimate`` (as EmpiricalCalibration's ``calibrateP``; one-sided with
    ``two_sided=False``, for ``upper`` or lower alternatives). ``with_mean_se=False`` leaves out the null
    mean's own uncertainty, which is what ``calibrateP`` does. ``cross``: the estimate's sampling covariance
    with each control (``NullDistribution.cross``), for one estimate."""
    est, se = np.asarray(estimate, dtype=float), np.asarray(std_error, dtype=float)
    shared = 2 * null.cross_variance(cross) if with_mean_se else 0.0
    sd = np.sqrt(se**2 + null.sd**2 + (null.mean_se**2 - shared if with_mean_se else 0.0))
    z = (est - null.mean) / sd
    upper_p = stats.norm.sf(z)
    p = 2 * np.minimum(upper_p, 1 - upper_p) if two_sided else (upper_p if upper else 1 - upper_p)
    return p if p.ndim else float(p)


def calibrate(null: NullDistribution, estimate: float, std_error: float, level: float = 0.95,
              cross=None) -> dict:
    """The calibrated estimate, its standard error (sampling, systematic spread and the null mean's
    uncertainty, less twice the mean's sampling covariance with the estimate where ``cross`` gives it),
    interval at ``level`` and two-sided p-value.

    Parameters
    ----------
    null : NullDistribution
        The empirical null (``fit_null``).
    estimate, std_error : float
        The target estimate and its standard error, on the null's scale.
    level : float, default 0.95
        Confidence level of the interval.
    cross : array_like, optional
        The target's sampling covariance with each control (``NullDistribution.cross``); None: independent.

    Returns
    -------
    dict
        ``estimate, std_error, conf_low, conf_high, p_value`` (floats). Examples: see ``fit_null``.
    """
    est = float(estimate) - null.mean
    var = std_error**2 + null.sd**2 + null.mean_se**2 - 2 * null.cross_variance(cross)
    if not var > 0:
        raise DiDError(f"calibrate: the calibrated variance is {var:.4g}; the target's covariances with the "
                       "controls do not fit their correlation")
    se = float(np.sqrt(var))
    z = stats.norm.ppf(0.5 + level / 2)
    return {"estimate": est, "std_error": se, "conf_low": float(est - z * se), "conf_high": float(est + z * se),
            "p_value": float(calibrated_p(null, estimate, std_error, cross=cross))}


def relative_att(res: AttGtResult, panel: pd.DataFrame, yname: str) -> dict:
    """The simple aggregate ATT of ``res`` on the scale of its counterfactual mean.

    mu0 is the treated units' mean outcome over the post-period cells, with aggte's simple weights, minus
    the ATT. Returns ``att, att_se, mu0, rel, rel_se`` and ``influence``: the simple aggregate's influence
    function per unit (summed per cluster where ``res`` clusters), indexed by unit id (cluster), for
    ``sampling_correlation``."""
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
    inf = pd.Series(ag.inf_overall, index=d.unit_id)
    if d.unit_cluster is not None:
        inf = inf.groupby(np.asarray(d.unit_cluster)).sum()
    return {"att": ag.overall_att, "att_se": ag.overall_se, "mu0": mu0, "rel": ag.overall_att / mu0,
            "rel_se": ag.overall_se / mu0, "influence": inf}


def sampling_correlation(influences) -> np.ndarray:
    """The sampling correlation of estimates from their influence functions (``relative_att``'s
    ``influence``), over the units (clusters) they share: an estimator is its estimand plus the mean of its
    influence function, so two estimates covary by the sum of their influence functions' products over the
    units both use (a unit one of them does not use adds nothing to it)."""
    frame = pd.concat([pd.Series(f).rename(i) for i, f in enumerate(influences)], axis=1).fillna(0.0)
    M = frame.to_numpy(dtype=float)
    G = M.T @ M
    scale = np.sqrt(np.diag(G))
    if not (scale > 0).all():
        raise DiDError("sampling_correlation: an estimate's influence function is zero everywhere")
    R = G / np.outer(scale, scale)
    np.fill_diagonal(R, 1.0)
    return R


def calibrate_att(null: NullDistribution, target: dict, level: float = 0.95, correlation=None) -> dict:
    """A simple aggregate ATT (``relative_att``'s ``target``) calibrated with ``null`` on the proportional
    scale and turned back into the outcome's units with its counterfactual mean: ``estimate, std_error,
    conf_low, conf_high, p_value`` (units) and ``relative`` (the calibrated proportional result).
    ``correlation``: the target's sampling correlation with each of the null's controls, in ``null.names``
    order (None: independent)."""
    cross = None if correlation is None else null.cross(correlation, target["rel_se"])
    c = calibrate(null, target["rel"], target["rel_se"], level=level, cross=cross)
    mu0 = target["mu0"]
    return {**{k: c[k] * mu0 for k in ("estimate", "std_error", "conf_low", "conf_high")},
            "p_value": c["p_value"], "relative": c}


def calibrate_with_controls(controls: dict, target: dict, level: float = 0.95) -> tuple:
    """The empirical null of the negative controls (name -> ``relative_att`` result) fitted with their
    sampling correlation, and ``target`` (a ``relative_att`` result) calibrated with it: ``(null,
    calibrate_att's result, the target's correlation with each of the null's controls)``."""
    names = list(controls)
    R = sampling_correlation([*(controls[n]["influence"] for n in names), target["influence"]])
    null = fit_null([controls[n]["rel"] for n in names], [controls[n]["rel_se"] for n in names], names,
                    correlation=R[:-1, :-1])
    corr = R[-1, [names.index(n) for n in null.names]]
    return null, calibrate_att(null, target, level=level, correlation=corr), corr
