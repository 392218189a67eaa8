"""Sensitivity of an event-study estimate to violations of parallel trends (Rambachan & Roth 2023), and
the E-value for unmeasured confounding (VanderWeele & Ding 2017).

``honest_did`` follows the R package HonestDiD: ``createSensitivityResults_relativeMagnitudes``
(Delta^RM(Mbar), conditional-least-favourable hybrid test of Andrews, Roth & Pakes inverted on a grid,
"C-LF") and ``createSensitivityResults`` (Delta^SD(M), the optimal fixed-length confidence interval,
"FLCI"). The code is our own: the ARP test's linear programme is solved by enumerating the vertices of its
dual feasible set once per polyhedron (they do not depend on the hypothesised value), so the whole
grid is tested with matrix algebra instead of one LP per grid point.

Conventions (as HonestDiD): ``betahat`` holds the ``num_pre`` pre-period coefficients (event times
-num_pre-1, ..., -2 in a universal-base event study, ordered earliest first) followed by the ``num_post``
post-period coefficients (event times 0, 1, ...); the reference period (e = -1) is normalised to 0 and is
not in ``betahat``. The target is ``theta = l_vec' tau_post``.

References
----------
Rambachan, A. and Roth, J. (2023). A More Credible Approach to Parallel Trends. Review of Economic
Studies 90(5), 2555-2591.
Andrews, I., Roth, J. and Pakes, A. (2023). Inference for Linear Conditional Moment Inequalities.
Review of Economic Studies 90(6), 2763-2791.
VanderWeele, T. J. and Ding, P. (2017). Sensitivity Analysis in Observational Research: Introducing the
E-Value. Annals of Internal Medicine 167(4), 268-274.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from analysis.errors import ConvergenceWarning, SensitivityError, SettingWarning
from analysis.summary import Summary

__all__ = ["EValueResult", "HonestDiDResult", "e_value", "event_study_inputs", "honest_did"]

METHODS = {"relative_magnitudes": ("DeltaRM", "C-LF", "Mbar"), "smoothness": ("DeltaSD", "FLCI", "M")}
_MAX_VERTEX_SUBSETS = 3_000_000


# ----------------------------------------------------------------------------------------------------------
# result object


@dataclass(frozen=True)
class HonestDiDResult:
    """Robust confidence intervals for ``theta = l_vec' tau_post`` over a grid of M (or Mbar).

    Attributes
    ----------
    method : ``"relative_magnitudes"`` or ``"smoothness"``.
    delta : ``"DeltaRM"`` or ``"DeltaSD"`` (HonestDiD's name of the restriction).
    inference : ``"C-LF"`` (conditional / least-favourable hybrid) or ``"FLCI"``.
    M, lb, ub : the grid of M (Mbar) and the robust interval at each value.
    estimate, std_error : ``l_vec' betahat_post`` and its standard error.
    original : ``(lb, ub)`` of the non-robust interval (HonestDiD's ``constructOriginalCS``).
    """

    method: str
    delta: str
    inference: str
    M: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    estimate: float
    std_error: float
    original: tuple[float, float]
    l_vec: np.ndarray
    alpha: float
    num_pre_periods: int
    num_post_periods: int
    notes: tuple[str, ...] = field(default=())

    def tidy(self) -> pd.DataFrame:
        """One row per M: ``M, lb, ub, method, delta`` (as R's tibble, with ``M`` for Mbar too)."""
        return pd.DataFrame({"M": self.M, "lb": self.lb, "ub": self.ub, "method": self.inference,
                             "delta": self.delta})

    @property
    def breakdown(self) -> float | None:
        """The smallest M in the grid whose robust interval includes 0, or None if none does.

        The significance of the result survives violations of parallel trends up to (not including)
        this value; read it together with the grid's spacing."""
        covers = (self.lb <= 0) & (self.ub >= 0)
        return float(self.M[np.argmax(covers)]) if covers.any() else None

    def summary(self) -> Summary:
        name = METHODS[self.method][2]
        lvl = f"{100 * (1 - self.alpha):g}%"
        lines = [f"Honest DiD sensitivity ({self.delta}, {self.inference}, {lvl} robust intervals)",
                 f"target: l_vec' tau_post with l_vec = {np.array2string(self.l_vec, precision=3)}; "
                 f"{self.num_pre_periods} pre-periods, {self.num_post_periods} post-periods",
                 f"original: estimate {self.estimate:.6g} (s.e. {self.std_error:.6g}), "
                 f"[{self.original[0]:.6g}, {self.original[1]:.6g}]",
                 f"# A tibble: {len(self.M)} x 5",
                 f"{'':>4}{'lb':>12}{'ub':>12}  {'method':<7}{'Delta':<9}{name:>8}"]
        for i, (m, lo, hi) in enumerate(zip(self.M, self.lb, self.ub, strict=True), 1):
            lines.append(f"{i:>4}{lo:>12.4g}{hi:>12.4g}  {self.inference:<7}{self.delta:<9}{m:>8.4g}")
        bd = self.breakdown
        lines.append(f"breakdown {name}: {'none in the grid (every interval excludes 0)' if bd is None else f'{bd:.4g}'}")
        lines.extend(f"note: {n}" for n in self.notes)
        return Summary("\n".join(lines), {"Robust intervals": self.tidy()})

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return self.summary().as_html()


# ----------------------------------------------------------------------------------------------------------
# input checks


def _check_inputs(betahat, sigma, num_pre: int, num_post: int, l_vec, alpha: float):
    b = np.asarray(betahat, dtype=float).ravel()
    s = np.asarray(sigma, dtype=float)
    if int(num_pre) != num_pre or num_pre < 1:
        raise SensitivityError(f"num_pre_periods must be a positive integer, got {num_pre!r}")
    if int(num_post) != num_post or num_post < 1:
        raise SensitivityError(f"num_post_periods must be a positive integer, got {num_post!r}")
    n = num_pre + num_post
    if len(b) != n:
        raise SensitivityError(f"betahat has {len(b)} entries but num_pre_periods + num_post_periods = {n}")
    if not np.all(np.isfinite(b)):
        raise SensitivityError("betahat has missing or infinite values")
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise SensitivityError(f"sigma must be a square matrix, got shape {s.shape}")
    if s.shape[0] != n:
        raise SensitivityError(f"sigma is {s.shape[0]} x {s.shape[1]} but betahat has {n} entries")
    if not np.all(np.isfinite(s)):
        raise SensitivityError("sigma has missing or infinite values")
    scale = max(np.abs(s).max(), 1e-300)
    if not np.allclose(s, s.T, rtol=0, atol=1e-8 * scale):
        raise SensitivityError("sigma must be symmetric")
    if np.linalg.eigvalsh((s + s.T) / 2).min() < -1e-8 * scale:
        raise SensitivityError("sigma must be positive semi-definite")
    s = (s + s.T) / 2
    if l_vec is None:
        lv = np.zeros(num_post)
        lv[0] = 1.0
    else:
        lv = np.asarray(l_vec, dtype=float).ravel()
        if len(lv) != num_post:
            raise SensitivityError(f"l_vec has {len(lv)} entries but num_post_periods = {num_post}")
        if not np.any(lv != 0):
            raise SensitivityError("l_vec must not be all zeros")
    if not 0 < alpha < 1:
        raise SensitivityError(f"alpha must be in (0, 1), got {alpha}")
    return b, s, lv


def _original_ci(b, s, num_pre, lv, alpha):
    post = slice(num_pre, None)
    est = float(lv @ b[post])
    se = float(np.sqrt(lv @ s[post, post] @ lv))
    z = stats.norm.ppf(1 - alpha / 2)
    return est, se, (est - z * se, est + z * se)


# ----------------------------------------------------------------------------------------------------------
# Delta^SD(M): the optimal fixed-length confidence interval


def _sd_bias_map(num_pre: int, num_post: int) -> tuple[np.ndarray, np.ndarray]:
    """Express delta (pre and post, reference 0 dropped) through its second differences eta_j,
    j = -num_pre+1 .. num_post-1, after removing the linear trend (delta_0 = delta_1 = 0).

    Returns ``(D_pre, D_post)`` with ``delta_pre = D_pre @ eta`` and ``delta_post = D_post @ eta``."""
    js = np.arange(-num_pre + 1, num_post)
    pre_t = np.arange(-num_pre, 0)
    post_t = np.arange(1, num_post + 1)
    # t <= -1: delta_t = sum_{j=t+1}^{0} (j - t) eta_j; t >= 2: delta_t = sum_{j=1}^{t-1} (t - j) eta_j
    d_pre = np.where((js[None, :] > pre_t[:, None]) & (js[None, :] <= 0), js[None, :] - pre_t[:, None], 0.0)
    d_post = np.where((js[None, :] >= 1) & (js[None, :] < post_t[:, None]), post_t[:, None] - js[None, :], 0.0)
    return d_pre.astype(float), d_post.astype(float)


def _folded_normal_cv(r: float, alpha: float) -> float:
    """The 1-alpha quantile of |N(r, 1)|."""
    r = abs(float(r))
    if r < 1e-10:
        return float(stats.norm.ppf(1 - alpha / 2))
    if r > 40:  # the lower tail is negligible
        return r + float(stats.norm.ppf(1 - alpha))
    return float(np.sqrt(stats.ncx2.ppf(1 - alpha, df=1, nc=r * r)))


def _flci(b, s, num_pre, num_post, lv, M, alpha):
    """Minimise the half-length sd(a) * cv_alpha(bias(a) / sd(a)) over estimators l'b_post + a'b_pre that
    are unbiased under linear trends; bias(a) = M * ||D_pre' a + D_post' l||_1 (Rambachan & Roth 2023,
    Section 4.1; Armstrong & Kolesar 2018). The problem is convex; it is solved in (a, t) with t >= |.|."""
    d_pre, d_post = _sd_bias_map(num_pre, num_post)
    pre_t = np.arange(-num_pre, 0, dtype=float)
    post_t = np.arange(1, num_post + 1, dtype=float)
    k_eq = -float(lv @ post_t)  # pre_t' a = k_eq
    spp, spq = s[:num_pre, :num_pre], s[:num_pre, num_pre:]
    sqq = float(lv @ s[num_pre:, num_pre:] @ lv)
    f0 = d_post.T @ lv
    n_eta = d_pre.shape[1]

    def var(a):
        return float(a @ spp @ a + 2 * a @ spq @ lv + sqq)

    # minimum-variance start (the M = 0 solution): KKT system of min var(a) s.t. pre_t'a = k_eq
    kkt = np.block([[2 * spp, pre_t[:, None]], [pre_t[None, :], np.zeros((1, 1))]])
    rhs = np.concatenate([-2 * spq @ lv, [k_eq]])
    a0 = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:num_pre]
    # minimum-bias start: min ||d_pre'a + f0||_1 s.t. pre_t'a = k_eq (an LP)
    c = np.concatenate([np.zeros(num_pre), np.ones(n_eta)])
    a_ub = np.block([[d_pre.T, -np.eye(n_eta)], [-d_pre.T, -np.eye(n_eta)]])
    b_ub = np.concatenate([-f0, f0])
    a_eq = np.concatenate([pre_t, np.zeros(n_eta)])[None, :]
    lp = optimize.linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[k_eq],
                          bounds=[(None, None)] * num_pre + [(0, None)] * n_eta, method="highs")
    a1 = lp.x[:num_pre] if lp.status == 0 else a0

    def half_length(a):
        sd = np.sqrt(max(var(a), 1e-300))
        return sd * _folded_normal_cv(M * np.abs(d_pre.T @ a + f0).sum() / sd, alpha)

    if M == 0:
        a_best = a0
    else:
        def obj(x):
            a, t = x[:num_pre], x[num_pre:]
            sd = np.sqrt(max(var(a), 1e-300))
            return sd * _folded_normal_cv(M * t.sum() / sd, alpha)

        cons = [{"type": "eq", "fun": lambda x: pre_t @ x[:num_pre] - k_eq, "jac": lambda x: a_eq[0]},
                {"type": "ineq", "fun": lambda x: b_ub - a_ub @ x, "jac": lambda x: -a_ub}]
        best = None
        for start in (a0, a1, (a0 + a1) / 2):
            x0 = np.concatenate([start, np.abs(d_pre.T @ start + f0) + 1e-12])
            scale = obj(x0)
            r = optimize.minimize(lambda x, sc=scale: obj(x) / sc, x0, method="SLSQP", constraints=cons,
                                  options={"ftol": 1e-12, "maxiter": 500})
            cand = r.x[:num_pre]
            if abs(pre_t @ cand - k_eq) > 1e-7 * max(1.0, abs(k_eq)):
                continue
            if best is None or half_length(cand) < half_length(best):
                best = cand
        for start in (a0, a1):
            if best is None or half_length(start) < half_length(best):
                best = start
        a_best = best
    est = float(lv @ b[num_pre:] + a_best @ b[:num_pre])
    chi = half_length(a_best)
    return est - chi, est + chi


# ----------------------------------------------------------------------------------------------------------
# Delta^RM(Mbar): ARP conditional / least-favourable hybrid test, inverted on a grid


def _rm_matrix(num_pre: int, num_post: int, mbar: float, s: int, positive: bool) -> np.ndarray:
    """Rows of A delta <= 0 for Delta^RM_{s,sign}(Mbar) (HonestDiD's ``.create_A_RM``): every first
    difference is bounded by the s-th pre-period difference (times Mbar after the reference period).
    Columns: pre then post coefficients (reference period dropped). Pre rows first, then post rows."""
    n_all = num_pre + num_post + 1  # event times -num_pre .. num_post, reference at index num_pre
    first = np.zeros((n_all - 1, n_all))
    first[np.arange(n_all - 1), np.arange(n_all - 1)] = -1
    first[np.arange(n_all - 1), np.arange(1, n_all)] = 1
    vmax = np.zeros(n_all)
    vmax[num_pre + s - 1], vmax[num_pre + s] = -1, 1
    if not positive:
        vmax = -vmax
    bound = np.vstack([np.tile(vmax, (num_pre, 1)), np.tile(mbar * vmax, (num_post, 1))])
    a = np.vstack([first - bound, -first - bound])
    a = a[~np.all(np.abs(a) <= 1e-10, axis=1)]
    return np.delete(a, num_pre, axis=1)


def _gamma_inverse(lv: np.ndarray) -> np.ndarray:
    """Inverse of a full-rank matrix whose first row is l' (the other rows complete the basis)."""
    p = len(lv)
    q, _ = np.linalg.qr(np.column_stack([lv, np.eye(p)]))
    g = np.vstack([lv, q[:, 1:p].T])
    return np.linalg.inv(g)


def _dual_vertices(sig_t: np.ndarray, x_t: np.ndarray) -> np.ndarray | None:
    """Vertices of {gamma >= 0, gamma' sig_t = 1, gamma' X_t = 0} (the dual of min eta s.t.
    Y - X tau <= eta sig_t). None if the set is empty (the primal is unbounded: the test accepts)."""
    k = len(sig_t)
    e = np.vstack([sig_t[None, :], x_t.T]) if x_t.size else sig_t[None, :]
    rhs = np.zeros(e.shape[0])
    rhs[0] = 1.0
    u, sv, vt = np.linalg.svd(e, full_matrices=True)
    r = int((sv > 1e-10 * sv.max()).sum())
    if np.linalg.norm(u[:, r:].T @ rhs) > 1e-9:
        return None
    e_r = sv[:r, None] * vt[:r]
    rhs_r = u[:, :r].T @ rhs
    n_sub = np.prod([k - i for i in range(r)]) / np.prod(range(1, r + 1))
    if n_sub > _MAX_VERTEX_SUBSETS:
        raise SensitivityError(f"too many post periods for vertex enumeration ({n_sub:.3g} subsets); "
                               "reduce num_post_periods")
    subsets = np.array(list(itertools.combinations(range(k), r)), dtype=np.intp)
    mats = e_r[:, subsets].transpose(1, 0, 2)  # (n_sub, r, r)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = np.linalg.cond(mats) < 1e10
    sol = np.linalg.solve(mats[ok], np.broadcast_to(rhs_r, (ok.sum(), r))[..., None])[..., 0]
    feas = np.all(sol >= -1e-10, axis=1)
    verts = np.zeros((feas.sum(), k))
    rows = np.repeat(np.arange(feas.sum()), r)
    verts[rows, subsets[ok][feas].ravel()] = np.clip(sol[feas], 0, None).ravel()
    verts = np.unique(np.round(verts, 12), axis=0)
    return verts if len(verts) else None


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return v * np.sqrt(np.clip(w, 0, None))


class _ArpTest:
    """The conditional-LF hybrid test of ARP (2023) for one polyhedron: is there a nuisance tau with
    E[Y(theta)] - X tau <= 0, Y(theta) = y0 - theta * y1? Everything that does not depend on theta (the
    dual vertices, their covariances, the least-favourable critical value) is computed once."""

    def __init__(self, y0, y1, x_t, sig, alpha, kappa, rng, sims):
        sd = np.sqrt(np.clip(np.diag(sig), 0, None))
        keep = sd > 1e-12 * max(sd.max(), 1e-300)
        if not keep.all():  # a moment without sampling variance is dropped
            y0, y1, x_t, sig, sd = y0[keep], y1[keep], x_t[keep], sig[np.ix_(keep, keep)], sd[keep]
        self.y0, self.y1 = y0, y1
        self.alpha, self.kappa = alpha, kappa
        scale = sd.max()  # the vertices scale inversely with sd: enumerate them on a unit scale
        verts = _dual_vertices(sd / scale, x_t)
        self.verts = None if verts is None else verts / scale
        if self.verts is None:
            return
        # least-favourable critical value: 1-kappa quantile of max_v gamma_v' xi, xi ~ N(0, sig)
        root = _sqrt_psd(sig)
        draws = []
        for start in range(0, sims, 1000):
            xi = rng.standard_normal((min(1000, sims - start), len(sd))) @ root.T
            draws.append((xi @ self.verts.T).max(axis=1))
        self.cv_lf = float(np.quantile(np.concatenate(draws), 1 - kappa))
        self.gsg = self.verts @ sig @ self.verts.T  # gamma_v' sig gamma_u

    def accept(self, theta: np.ndarray) -> np.ndarray:
        if self.verts is None:  # the primal is unbounded below: eta = -inf
            return np.ones(len(theta), bool)
        y_t = self.y0[None, :] - np.outer(theta, self.y1)
        vals = y_t @ self.verts.T  # grid x vertices
        best = np.argmax(vals, axis=1)
        eta = vals[np.arange(len(theta)), best]
        sig_b2 = np.diag(self.gsg)[best]
        sig_b = np.sqrt(np.clip(sig_b2, 1e-300, None))
        gc = self.gsg[best] / np.clip(sig_b2, 1e-300, None)[:, None]  # gamma_u' c, c = sig gamma_hat / sig_b^2
        gs = vals - gc * eta[:, None]  # gamma_u' S with S = Y - c eta
        denom = 1 - gc
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = gs / denom
        v_lo = np.where(denom > 1e-10, ratio, -np.inf).max(axis=1)
        v_up = np.minimum(np.where(denom < -1e-10, ratio, np.inf).min(axis=1), self.cv_lf)
        a_tilde = (self.alpha - self.kappa) / (1 - self.kappa)
        z, lo, up = eta / sig_b, v_lo / sig_b, v_up / sig_b
        # p-value of eta under N(0, sig_b^2) truncated to [v_lo, v_up], computed in the upper tail
        num = stats.norm.sf(z) - stats.norm.sf(up)
        den = stats.norm.sf(lo) - stats.norm.sf(up)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(den > 1e-300, num / den, np.where(z > up, 0.0, 1.0))
        reject = (eta > self.cv_lf) | ((eta > 0) & (p < a_tilde))
        return ~reject


def _rm_tests(b, s, num_pre, num_post, lv, mbar, alpha, sims, seed) -> list[_ArpTest]:
    """One hybrid test per (s, sign) polyhedron of Delta^RM(Mbar) (HonestDiD's
    ``computeConditionalCS_DeltaRM``: the confidence set is the union of theirs)."""
    g_inv = _gamma_inverse(lv)
    rng = np.random.default_rng(seed)
    tests = []
    for s_idx in range(-(num_pre - 1), 1):
        for positive in (True, False):
            a = _rm_matrix(num_pre, num_post, mbar, s_idx, positive)
            if num_post > 1:  # HonestDiD's postPeriodMomentsOnly: moments that involve a post coefficient
                a = a[np.any(a[:, num_pre:] != 0, axis=1)]
            ap = a[:, num_pre:] @ g_inv  # first column multiplies theta, the others the nuisance
            tests.append(_ArpTest(a @ b, ap[:, 0], ap[:, 1:], a @ s @ a.T, alpha, alpha / 10, rng, sims))
    return tests


def _union_accept(tests: list[_ArpTest], theta: np.ndarray) -> np.ndarray:
    acc = np.zeros(len(theta), bool)
    for t in tests:
        acc |= t.accept(theta)
    return acc


def _refine(tests, inside: float, outside: float, steps: int = 40) -> float:
    """Bisect between an accepted and a rejected theta for the boundary of the confidence set."""
    for _ in range(steps):
        mid = (inside + outside) / 2
        if _union_accept(tests, np.array([mid]))[0]:
            inside = mid
        else:
            outside = mid
    return inside


def _default_rm_grid(b, s, num_pre, num_post, lv, mbar_max, est, se):
    """Centred on the estimate: 20 s.e., or 6 s.d. of the noisiest pre-period first difference times
    Mbar * sum_t t |l_t| if larger, plus the identified set's reach at the largest Mbar."""
    full = np.concatenate([b[:num_pre], [0.0]])
    d1 = np.zeros((num_pre, num_pre + 1))
    d1[np.arange(num_pre), np.arange(num_pre)] = -1
    d1[np.arange(num_pre), np.arange(1, num_pre + 1)] = 1
    d1 = d1[:, :num_pre]
    sd_diff = np.sqrt(np.clip(np.diag(d1 @ s[:num_pre, :num_pre] @ d1.T), 0, None)).max()
    weight = mbar_max * np.sum(np.arange(1, num_post + 1) * np.abs(lv))
    half = max(20 * se, 6 * weight * sd_diff) + weight * np.abs(np.diff(full)).max()
    return est - half, est + half


# ----------------------------------------------------------------------------------------------------------
# public functions


def honest_did(betahat, sigma, num_pre_periods: int, num_post_periods: int, *,
               method: str = "relative_magnitudes", Mvec=None, l_vec=None, alpha: float = 0.05,
               grid_points: int = 1000, grid_lb: float | None = None, grid_ub: float | None = None,
               refine: bool = True, sims: int = 20000, seed: int = 0) -> HonestDiDResult:
    """Rambachan & Roth (2023) robust confidence intervals for an event-study effect.

    Parameters
    ----------
    betahat : array_like
        Pre-period then post-period coefficients (reference period excluded), earliest first.
    sigma : array_like
        Their covariance matrix (square, symmetric, positive semi-definite).
    num_pre_periods, num_post_periods : int
        How many of ``betahat`` are pre and post coefficients.
    method : {"relative_magnitudes", "smoothness"}, default "relative_magnitudes"
        Delta^RM(Mbar): each post-period change in the trend difference is at most Mbar times the largest
        pre-period change; inference by the ARP conditional / least-favourable hybrid, HonestDiD's default
        "C-LF". Or Delta^SD(M): the slope of the trend difference changes by at most M per period; the
        optimal FLCI, HonestDiD's default.
    Mvec : array_like, optional
        The grid of Mbar (or M). Defaults as HonestDiD: ten Mbar from 0 to 2; for smoothness ten values
        from 0 to the upper 1-alpha bound of the largest pre-period second difference
        (``DeltaSD_upperBound_Mpre``), or to the first pre-coefficient's s.e. with one pre-period.
    l_vec : array_like, optional
        Weights of the target ``theta = l_vec' tau_post``; default the first post period.
    alpha : float, default 0.05
        1 - coverage.
    grid_points : int, default 1000
        Relative magnitudes only: the points of the theta grid on which the test is inverted (as HonestDiD).
    grid_lb, grid_ub : float, optional
        Relative magnitudes only: the grid's bounds (HonestDiD defaults to 0 +- 20 s.e. in the 2022
        releases; ours to the estimate +- (20 s.e. + the identified set's reach at the largest Mbar +
        margin)). Reported bounds are grid points, so they are exact only to the grid spacing.
    refine : bool, default True
        Relative magnitudes only: bisect between the outermost accepted grid point and its rejected
        neighbour for the boundary (to about 1e-12 of the grid spacing). ``refine=False`` reports grid points
        as HonestDiD does (needed to reproduce its printed numbers digit for digit).
    sims : int, default 20000
        Draws for the least-favourable critical value (HonestDiD: 1000). The bounds are sensitive to it
        where the LF truncation binds: with 1000 draws, a different seed can move a bound by a grid step. On
        the HonestDiD README example, 20000 draws gave the printed grid bounds for 9 of 10 seeds (one moved
        one bound by a grid step) and 100000 draws for all 12 seeds tried.
    seed : int, default 0
        Seed of those draws.

    Returns
    -------
    HonestDiDResult
        The robust interval at each M (``M``, ``lb``, ``ub``), the original one, the ``breakdown`` value,
        ``tidy()`` and ``summary()``.

    References
    ----------
    Rambachan, A. and Roth, J. (2023). A More Credible Approach to Parallel Trends. Review of Economic
    Studies 90(5), 2555-2591.

    Examples
    --------
    Two pre-period coefficients near 0 and two post-period ones near 0.5 (independent, variances 0.01 and
    0.02); the first post period's effect, if trends may diverge after enrolment by up to Mbar times their
    largest divergence before it:

    >>> import numpy as np
    >>> from analysis.causal import honest_did
    >>> res = honest_did([0.02, -0.01, 0.5, 0.6], np.diag([0.01, 0.01, 0.02, 0.02]), 2, 2,
    ...                  Mvec=[0, 1], grid_points=200, sims=1000)
    >>> [(float(m), round(float(lo), 2), round(float(hi), 2)) for m, lo, hi in zip(res.M, res.lb, res.ub)]
    [(0.0, 0.22, 0.78), (1.0, 0.13, 0.87)]
    >>> sd = honest_did([0.02, -0.01, 0.5, 0.6], np.diag([0.01, 0.01, 0.02, 0.02]), 2, 2,
    ...                 method="smoothness", Mvec=[0.05])
    >>> round(float(sd.lb[0]), 3), round(float(sd.ub[0]), 3)
    (0.184, 0.823)
    """
    if method not in METHODS:
        raise SensitivityError(f"method={method!r}; allowed: {list(METHODS)}")
    b, s, lv = _check_inputs(betahat, sigma, num_pre_periods, num_post_periods, l_vec, alpha)
    npre, npost = int(num_pre_periods), int(num_post_periods)
    est, se, orig = _original_ci(b, s, npre, lv, alpha)
    delta, inference, _ = METHODS[method]
    notes: list[str] = []
    mv = _default_mvec(method, b, s, npre, alpha) if Mvec is None else np.atleast_1d(np.asarray(Mvec, dtype=float))
    if mv.ndim != 1 or np.any(~np.isfinite(mv)) or np.any(mv < 0):
        raise SensitivityError("Mvec must be a 1-D sequence of finite values >= 0")
    if method == "smoothness":
        lbs, ubs = _sd_bounds(b, s, npre, npost, lv, mv, alpha)
    else:
        if grid_points < 2:
            raise SensitivityError(f"grid_points must be at least 2, got {grid_points}")
        dlo, dhi = _default_rm_grid(b, s, npre, npost, lv, float(mv.max()), est, se)
        glo = dlo if grid_lb is None else float(grid_lb)
        ghi = dhi if grid_ub is None else float(grid_ub)
        if not glo < ghi:
            raise SensitivityError(f"grid_lb ({glo}) must be below grid_ub ({ghi})")
        lbs, ubs = _rm_bounds(b, s, npre, npost, lv, mv, alpha, np.linspace(glo, ghi, grid_points), refine, sims,
                              seed, notes)
    return HonestDiDResult(method=method, delta=delta, inference=inference, M=mv, lb=lbs, ub=ubs,
                           estimate=est, std_error=se, original=orig, l_vec=lv, alpha=alpha,
                           num_pre_periods=npre, num_post_periods=npost, notes=tuple(notes))


def _default_mvec(method: str, b: np.ndarray, s: np.ndarray, npre: int, alpha: float) -> np.ndarray:
    """HonestDiD's default grid: ten Mbar from 0 to 2; for smoothness ten M from 0 to the upper 1-alpha
    bound of the largest pre-period second difference, or to the first pre-coefficient's s.e. with one
    pre-period."""
    if method == "relative_magnitudes":
        return np.linspace(0, 2, 10)
    if npre == 1:
        return np.linspace(0, np.sqrt(s[0, 0]), 10)
    full = np.concatenate([b[:npre], [0.0]])
    n = npre + 1
    a2 = np.zeros((n - 2, n))
    for i in range(n - 2):
        a2[i, i:i + 3] = [1, -2, 1]
    a2 = a2[:, :npre]  # the reference period's column is 0
    sd2 = np.sqrt(np.diag(a2 @ s[:npre, :npre] @ a2.T))
    # both signs, as HonestDiD's .create_A_SD stacks A and -A
    mub = float(np.max(np.abs(a2 @ full[:npre]) + stats.norm.ppf(1 - alpha) * sd2))
    return np.linspace(0, mub, 10)


def _sd_bounds(b, s, npre, npost, lv, mv, alpha) -> tuple[np.ndarray, np.ndarray]:
    """The optimal FLCI under Delta^SD(M) at each M. Solved on a unit scale (outcome / c) and scaled back:
    the bounds are equivariant in the outcome's units, while the optimisation is not (on KRW costs,
    variances ~1e9, the M = 0 system was solved wrongly by lstsq's cut-off)."""
    c = float(np.sqrt(np.mean(np.diag(s)))) or 1.0
    lbs, ubs = np.empty(len(mv)), np.empty(len(mv))
    for i, m in enumerate(mv):
        lo, hi = _flci(b / c, s / c**2, npre, npost, lv, float(m) / c, alpha)
        lbs[i], ubs[i] = lo * c, hi * c
    return lbs, ubs


def _rm_bounds(b, s, npre, npost, lv, mv, alpha, grid, refine, sims, seed,
               notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The ARP hybrid confidence set under Delta^RM(Mbar) at each Mbar, inverted on ``grid`` (its hull;
    each boundary bisected with ``refine``); what the grid could not show goes to ``notes``."""
    lbs, ubs = np.empty(len(mv)), np.empty(len(mv))
    for i, m in enumerate(mv):
        tests = _rm_tests(b, s, npre, npost, lv, float(m), alpha, sims, seed)
        acc = _union_accept(tests, grid)
        if not acc.any():
            lbs[i] = ubs[i] = np.nan
            notes.append(f"Mbar={m:g}: no grid point accepted (empty confidence set)")
            continue
        i_lo, i_hi = np.flatnonzero(acc)[[0, -1]]
        lbs[i], ubs[i] = grid[i_lo], grid[i_hi]
        if refine:
            if i_lo > 0:
                lbs[i] = _refine(tests, grid[i_lo], grid[i_lo - 1])
            if i_hi < len(grid) - 1:
                ubs[i] = _refine(tests, grid[i_hi], grid[i_hi + 1])
        if acc[0] or acc[-1]:
            msg = f"Mbar={m:g}: the confidence set reaches the end of the grid; widen grid_lb/grid_ub"
            notes.append(msg)
            warnings.warn(msg, ConvergenceWarning, stacklevel=3)  # at honest_did's caller
        gaps = np.diff(np.flatnonzero(acc))
        if gaps.size and gaps.max() > 1:
            notes.append(f"Mbar={m:g}: the accepted set is not an interval; [lb, ub] is its hull")
    return lbs, ubs


def event_study_inputs(result, ref: int = -1) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(betahat, sigma, num_pre_periods, num_post_periods)`` for ``honest_did`` from an event study.

    ``result`` is either a dynamic aggregation, ``analysis.did.aggte(res, "dynamic")``, or a matched event
    study (``stacked_did`` / ``published_event_study``: its ``e=k`` terms and their block of ``cov``).
    For the aggregation, ``res`` should come from ``att_gt(..., base_period="universal")`` so that every
    coefficient is measured against e = -1 (the event study HonestDiD assumes; with a varying base period
    the pre-period coefficients are period-to-period changes and the restrictions mean something else); the
    e = ``ref`` coefficient is dropped and sigma = inf'inf / n^2 from the units x event-times influence
    functions (as HonestDiD's ``honest_did.AGGTEobj``), whose diagonal equals the analytic ``se_egt``
    squared. A matched event study omits e = ``ref`` already and gives its clustered covariance.

    Parameters
    ----------
    result : AggteResult or MatchedDiDResult
        The event study.
    ref : int, default -1
        The reference event time, left out.

    Returns
    -------
    tuple
        ``(betahat, sigma, num_pre_periods, num_post_periods)``: the event-time coefficients in order, their
        covariance, and how many are before and after enrolment (``honest_did``'s first four arguments).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from analysis.did import aggte, att_gt
    >>> from analysis.causal import event_study_inputs, honest_did
    >>> rng = np.random.default_rng(5)
    >>> ids = np.arange(1, 301)
    >>> g = np.where(ids <= 100, 2022, np.where(ids <= 200, 2023, 0))
    >>> p = pd.DataFrame({"study_id": np.repeat(ids, 9), "year": np.tile(np.arange(2017, 2026), 300),
    ...                   "first_treat": np.repeat(g, 9)})
    >>> p["y"] = (0.2 * (p.year - 2017) + 2.0 * ((p.first_treat > 0) & (p.year >= p.first_treat))
    ...           + rng.normal(0, 0.3, len(p)))
    >>> res = att_gt(p, "y", "year", "study_id", "first_treat", base_period="universal", bstrap=False,
    ...              cband=False)
    >>> beta, sigma, n_pre, n_post = event_study_inputs(aggte(res, "dynamic", bstrap=False, cband=False))
    >>> n_pre, n_post, beta.round(2).tolist()
    (5, 4, [-0.03, -0.06, -0.0, 0.03, -0.01, 1.97, 1.95, 1.98, 2.01])
    >>> h = honest_did(beta, sigma, n_pre, n_post, method="relative_magnitudes", Mvec=[1.0])
    >>> [round(float(v), 3) for v in (h.lb[0], h.ub[0])]  # e = 0, if trends diverge no more than before
    [1.824, 2.109]
    """
    from analysis.did.aggte import AggteResult  # here: analysis.did imports this module
    from analysis.did.stacked import MatchedDiDResult

    r = result
    if isinstance(r, AggteResult):
        if r.type != "dynamic" or r.egt is None:
            raise SensitivityError("an aggregation must be the dynamic one (aggte(res, 'dynamic'))")
        if r.settings.get("base_period", "universal") != "universal":
            warnings.warn("the event study was not estimated with base_period='universal'; HonestDiD's "
                          "restrictions assume it", SettingWarning, stacklevel=2)
        egt = np.asarray(r.egt)
        keep = egt != ref
        if keep.all():
            warnings.warn(f"no e={ref} reference coefficient found; none dropped", SettingWarning, stacklevel=2)
        e = egt[keep]
        beta = np.asarray(r.att_egt, dtype=float)[keep]
        sigma = r.cov.to_numpy(dtype=float)[np.ix_(keep, keep)]
    elif isinstance(r, MatchedDiDResult) and any(str(t).startswith("e=") for t in r.params.index):
        terms = [t for t in r.params.index if str(t).startswith("e=") and int(t[2:]) != ref]
        e = np.array([int(t[2:]) for t in terms])
        beta = r.params[terms].to_numpy(dtype=float)
        sigma = r.cov.loc[terms, terms].to_numpy(dtype=float)
    else:
        raise SensitivityError("result must be a dynamic aggregation (aggte(res, 'dynamic')) with influence "
                               "functions, or a matched event study with its covariance")
    if np.any(np.diff(e) <= 0):
        raise SensitivityError("event times must be increasing")
    if np.any((e < ref) != (e < 0)):
        raise SensitivityError(f"event times between the reference {ref} and 0 are not supported")
    return beta, sigma, int((e < ref).sum()), int((e >= 0).sum())


def relative_magnitudes_range(res, mbar: float, alpha: float, seed: int = 0) -> tuple[float, float]:
    """The Rambachan-Roth relative-magnitudes interval at ``mbar`` for the average post-enrolment event-time
    effect of ``res`` (``att_gt(..., base_period="universal")``): what the data say about the effect if
    trends after enrolment diverge by up to ``mbar`` times the largest divergence before it."""
    from analysis.did import aggte

    dyn = aggte(res, type="dynamic", na_rm=True, bstrap=False, cband=False)
    b, s, n_pre, n_post = event_study_inputs(dyn)
    h = honest_did(b, s, n_pre, n_post, method="relative_magnitudes", Mvec=[mbar],
                   l_vec=np.full(n_post, 1.0 / n_post), alpha=alpha, seed=seed)
    return float(h.lb[0]), float(h.ub[0])


def plan_range(did_cfg):
    """``relative_magnitudes_range`` at the plan's ``did.bounds_mbar``, level and seed: the ``bounds`` that
    ``analysis.did.outcomes.estimate_all`` reports where no design passes its pre-test."""
    import functools

    return functools.partial(relative_magnitudes_range, mbar=did_cfg.bounds_mbar, alpha=did_cfg.alp,
                             seed=did_cfg.seed)


# ----------------------------------------------------------------------------------------------------------
# E-value


@dataclass(frozen=True)
class EValueResult:
    """VanderWeele & Ding (2017) E-values for an estimate and for its confidence limit closer to the null.

    ``rr``, ``rr_low``, ``rr_high`` are the estimate and limits on the risk-ratio scale (for a difference
    in a continuous outcome: ``exp(0.91 * d)`` with ``d`` the standardised difference)."""

    scale: str
    rr: float
    rr_low: float
    rr_high: float
    e_point: float
    e_ci: float

    def tidy(self) -> pd.DataFrame:
        return pd.DataFrame({"term": ["point", "ci_limit"], "rr": [self.rr, self._limit],
                             "e_value": [self.e_point, self.e_ci]})

    @property
    def _limit(self) -> float:
        return self.rr_low if self.rr >= 1 else self.rr_high

    def summary(self) -> Summary:
        return Summary(f"E-value ({self.scale}): RR {self.rr:.4g} [{self.rr_low:.4g}, {self.rr_high:.4g}]\n"
                f"  point: {self.e_point:.4g}  (an unmeasured confounder associated with treatment and outcome "
                f"by a risk ratio of {self.e_point:.3g} each could explain the estimate away)\n"
                f"  confidence limit: {self.e_ci:.4g}" + ("  (the interval already includes the null)"
                                                         if self.e_ci == 1 else ""), {"E-value": self.tidy()})

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return self.summary().as_html()


def _e_of_rr(rr: float) -> float:
    rr = 1 / rr if rr < 1 else rr
    return float(rr + np.sqrt(rr * (rr - 1)))


def e_value(estimate: float, conf_low: float, conf_high: float, *, sd: float | None = None) -> EValueResult:
    """VanderWeele & Ding (2017) E-value of an estimate and of its confidence limit closer to the null.

    Parameters
    ----------
    estimate, conf_low, conf_high : float
        A risk ratio (``sd=None``; use it also for an odds or hazard ratio of a rare outcome) or, with
        ``sd``, a difference in means of a continuous outcome and its limits.
    sd : float, optional
        The outcome's standard deviation: the difference is standardised, d = estimate / sd, and mapped to
        RR ~ exp(0.91 d) (VanderWeele & Ding 2017, after Chinn 2000); the limits likewise.

    Returns
    -------
    EValueResult
        ``e_point = RR + sqrt(RR (RR - 1))`` (RR inverted first if below 1) and ``e_ci`` for the limit
        closer to 1, which is 1 if the interval includes the null.

    References
    ----------
    VanderWeele, T. J. and Ding, P. (2017). Sensitivity Analysis in Observational Research: Introducing the
    E-Value. Annals of Internal Medicine 167(4), 268-274.

    Examples
    --------
    >>> from analysis.causal import e_value
    >>> ev = e_value(1.5, 1.2, 1.9)
    >>> round(ev.e_point, 3), round(ev.e_ci, 3)
    (2.366, 1.69)

    A saving of 0.2 standard deviations whose interval includes no effect:

    >>> ev = e_value(-2.0, -4.5, 0.5, sd=10.0)
    >>> round(ev.rr, 3), round(ev.e_point, 3), ev.e_ci
    (0.834, 1.689, 1.0)
    """
    vals = np.array([estimate, conf_low, conf_high], dtype=float)
    if not np.all(np.isfinite(vals)):
        raise SensitivityError("estimate, conf_low and conf_high must be finite")
    if not conf_low <= estimate <= conf_high:
        raise SensitivityError(f"need conf_low <= estimate <= conf_high, got {conf_low}, {estimate}, {conf_high}")
    if sd is None:
        if np.any(vals <= 0):
            raise SensitivityError("a risk ratio and its limits must be positive; pass sd= for a difference in means")
        rr, lo, hi = vals
        scale = "risk ratio"
    else:
        if not np.isfinite(sd) or sd <= 0:
            raise SensitivityError(f"sd must be positive, got {sd}")
        rr, lo, hi = np.exp(0.91 * vals / sd)
        scale = "standardised difference, RR = exp(0.91 d)"
    e_point = 1.0 if rr == 1 else _e_of_rr(rr)
    if lo <= 1 <= hi:
        e_ci = 1.0
    else:
        e_ci = _e_of_rr(lo if rr > 1 else hi)
    return EValueResult(scale=scale, rr=float(rr), rr_low=float(lo), rr_high=float(hi), e_point=e_point,
                        e_ci=e_ci)
