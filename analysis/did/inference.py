"""Multiplier bootstrap on influence functions (R did's ``mboot``): standard errors from the bootstrap
interquartile range and the sup-t critical value of a uniform confidence band.

Each draw multiplies every unit's (or cluster's mean) influence function by an independent Rademacher
weight (+1/-1); ``bres = sqrt(n) * mean(weight * IF)``. The standard error of column j is
``IQR(bres_j) / (qnorm(.75) - qnorm(.25)) / sqrt(n)`` and the band's critical value the ``1 - alp``
quantile of ``max_j |bres_j / sigma_j|`` (type-1 quantiles, as R). Draws come from
``numpy.random.default_rng(seed)`` in fixed-size blocks, so the same seed gives the same numbers.

Reference: Callaway and Sant'Anna (2021), section 4.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit
from scipy import stats

from analysis.did.memo import Memo

TINY = np.sqrt(np.finfo(float).eps) * 10  # R did: SEs at or below this are NA
_BLOCK = 1 << 16  # units per block of weights drawn; a multiple of 8 (weights are packed 8 units a byte)
# Rademacher weights kept for reuse, packed 8 to a byte (1 GiB: 999 draws x ~8.6M units); the plan's
# engine.cache_limit_gb rescales it (memo.set_cache_limit)
CACHE_BYTES = 1024**3
_SIGNS = Memo("bootstrap_weights", CACHE_BYTES)


@dataclass(frozen=True)
class Bootstrap:
    se: np.ndarray  # per column (NaN where degenerate)
    crit_val: float  # uniform band over all columns
    bres: np.ndarray  # biters x columns (sqrt(n) * mean of weighted IF)
    sigma: np.ndarray  # per column, bootstrap IQR-based scale


def _sign_blocks(rng: np.random.Generator, m: int, biters: int):
    """The Rademacher weights (biters x m) as blocks of ``_BLOCK`` columns of bits (uint8 0/1 for -1/+1),
    drawn in order from ``rng``: the numbers of ``rng.integers(0, 2, size=(biters, cols), dtype=np.int8)``
    per block, made from the same 32-bit stream 4 bytes at a time (numpy's bounded 8-bit draw with 2 values
    is the top bit of each successive byte of ``next_uint32``; tests check the two agree), several times
    faster."""
    for s in range(0, m, _BLOCK):
        cols = min(_BLOCK, m - s)
        size = biters * cols
        u = rng.integers(0, 1 << 32, size=-(-size // 4), dtype=np.uint32)
        yield (u.astype("<u4", copy=False).view(np.uint8)[:size] >> 7).reshape(biters, cols)  # low byte first


def _packed_blocks(rng: np.random.Generator, m: int, biters: int):
    """``_sign_blocks`` packed 8 units to a byte (the first unit in the low bit), transposed to (bytes x
    biters) so that one byte's draws are contiguous for ``_signed_sums``."""
    for bits in _sign_blocks(rng, m, biters):
        yield np.ascontiguousarray(np.packbits(bits, axis=1, bitorder="little").T)


def _cached_signs(seed: int, m: int, biters: int) -> list[np.ndarray]:
    """The packed weights of ``(seed, m, biters)``, kept for the next bootstrap of the same size: one study
    bootstraps many estimates of the same units with the same seed (every outcome, every aggregation),
    and drawing the weights was most of its time. At most ``_SIGNS.max_bytes`` are kept (least recently used
    first out)."""
    return _SIGNS.get((seed, m, biters), lambda: list(_packed_blocks(np.random.default_rng(seed), m, biters)))


@njit(cache=True, nogil=True)
def _signed_sums(packed: np.ndarray, M: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover (compiled)
    """``out[b] += sum_i v_bi * M[i]`` with v_bi = +1 where bit i of draw b is set, else -1; the bits of rows
    8c..8c+7 are ``packed[c, b]`` (low bit first), rows past M's end count nothing.

    The method of the four Russians: for each 8 rows, the 256 possible signed sums are tabulated once
    (each from a smaller one, 256 x columns additions) and every draw adds the row of the table its byte
    names, so the work is (draws + 256) x columns per 8 rows instead of the 16 x draws x columns of a
    matrix product with -1/+1 floats (17x less time for 999 draws of 200,000 x 60 on one core; the default
    run's bootstrap as a whole, drawing included, 5x), and the weights never become floats."""
    m, k = M.shape
    nbytes, biters = packed.shape
    table = np.empty((256, k))
    for c in range(nbytes):
        r0 = 8 * c
        n = min(8, m - r0)
        for j in range(k):
            t = 0.0
            for i in range(n):
                t += M[r0 + i, j]
            table[0, j] = -t  # no bit set: every row with -1
        for s in range(1, 256):
            prev = s & (s - 1)  # s without its lowest set bit, whose row i turns from -1 to +1
            low, i = s ^ prev, 0
            while low > 1:
                low >>= 1
                i += 1
            if i < n:
                for j in range(k):
                    table[s, j] = table[prev, j] + 2.0 * M[r0 + i, j]
            else:
                for j in range(k):
                    table[s, j] = table[prev, j]
        for b in range(biters):
            row = packed[c, b]
            for j in range(k):
                out[b, j] += table[row, j]


def rademacher_draws(parts: list[np.ndarray], biters: int, seed: int) -> np.ndarray:
    """``sum_i v_bi * M_i`` for ``biters`` Rademacher vectors v and the columns of the matrices in ``parts``
    (all with the same rows), side by side (biters x all columns), block by block of rows in order (so the
    same seed and inputs give the same numbers, whatever is cached).

    The weights depend only on (seed, rows, biters); up to the cache's bound (``CACHE_BYTES``, or the plan's
    share of ``engine.cache_limit_gb``) of them are reused across calls
    (larger problems draw them afresh, block by block)."""
    m = parts[0].shape[0]
    M = np.ascontiguousarray(np.hstack(parts), dtype=float)
    out = np.zeros((biters, M.shape[1]))
    if biters * -(-m // 8) <= _SIGNS.max_bytes:
        signs = _cached_signs(seed, m, biters)
    else:
        signs = _packed_blocks(np.random.default_rng(seed), m, biters)
    if M.shape[1]:
        for s, packed in zip(range(0, m, _BLOCK), signs, strict=False):
            _signed_sums(packed, M[s : s + _BLOCK], out)
    return out


@dataclass(frozen=True)
class Draws:
    """Multiplier-bootstrap draws of a set of influence functions (the columns of ``raw``), kept so that any
    linear combination of them is bootstrapped without drawing again.

    ``raw[b, j] = sum_i v_bi * IF_ij`` over the ``m`` rows drawn (units, or clusters' means), NaN for a
    column that is not finite. The weights v depend only on (seed, m, biters), so the draws of ``IF @ c``
    are ``raw @ c``: the numbers ``multiplier_bootstrap(IF @ c, ...)`` gives with the same seed, up to the
    order of summation. ``aggte`` and ``trend_adjusted`` use this instead of drawing their own."""

    raw: np.ndarray
    m: int
    biters: int
    seed: int

    def combine(self, C: np.ndarray) -> Draws:
        """The draws of ``IF @ C`` (C: columns x k); a result column touching a missing column is NaN."""
        miss = np.isnan(self.raw).any(axis=0)
        raw = np.where(miss, 0.0, self.raw) @ C
        raw[:, (C[miss] != 0).any(axis=0)] = np.nan
        return dataclasses.replace(self, raw=raw)

    def columns(self, cols) -> Draws:
        return dataclasses.replace(self, raw=self.raw[:, cols])


def draw(parts: list[np.ndarray], biters: int, seed: int, cluster: np.ndarray | None = None) -> Draws:
    """The multiplier draws (``Draws``) of the columns of ``parts`` (n x k_j each, side by side).

    ``cluster`` (length n): draws are made per cluster on the clusters' mean influence functions, as R did
    with ``clustervars``."""
    parts = [np.atleast_2d(np.asarray(M, float).T).T for M in parts]
    oks = [np.isfinite(M).all(axis=0) for M in parts]
    use = [M if ok.all() else M[:, ok] for M, ok in zip(parts, oks, strict=True)]
    if cluster is not None:
        codes, uniq = pd.factorize(cluster, sort=True)
        sizes = np.bincount(codes)
        use = [np.stack([np.bincount(codes, weights=M[:, j], minlength=len(uniq)) for j in range(M.shape[1])],
                        axis=1) / sizes[:, None] if M.shape[1] else np.zeros((len(uniq), 0)) for M in use]
    m = use[0].shape[0]
    got = rademacher_draws(use, biters, seed)
    ok = np.concatenate(oks)
    raw = np.full((biters, len(ok)), np.nan)
    raw[:, ok] = got
    return Draws(raw=raw, m=m, biters=biters, seed=seed)


def bootstrap(draws: Draws, alp: float) -> Bootstrap:
    """Standard errors and the uniform-band critical value from multiplier draws: ``bres = sqrt(m) *
    raw / m``; columns that are missing or identically zero get NaN."""
    k = draws.raw.shape[1]
    m = draws.m
    ok = np.isfinite(draws.raw).all(axis=0)
    bres = np.sqrt(m) * draws.raw[:, ok] / m
    nondeg = (bres**2).sum(axis=0) > TINY
    sigma = np.full(bres.shape[1], np.nan)
    if nondeg.any():
        q = np.quantile(bres[:, nondeg], [0.25, 0.75], axis=0, method="inverted_cdf")
        sigma[nondeg] = (q[1] - q[0]) / (stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
    sigma[~(sigma > TINY)] = np.nan
    se = np.full(k, np.nan)
    se[np.flatnonzero(ok)] = sigma / np.sqrt(m)
    full_sigma = np.full(k, np.nan)
    full_sigma[np.flatnonzero(ok)] = sigma
    full_bres = np.full((draws.biters, k), np.nan)
    full_bres[:, ok] = bres
    return Bootstrap(se=se, crit_val=sup_t_crit(full_bres, full_sigma, np.arange(k), alp), bres=full_bres,
                     sigma=full_sigma)


def multiplier_bootstrap(
    inf: np.ndarray, biters: int, alp: float, seed: int, cluster: np.ndarray | None = None
) -> Bootstrap:
    """Bootstrap standard errors and the uniform-band critical value for the columns of ``inf`` (n x k).

    ``cluster`` (length n): draws are made per cluster on the clusters' mean influence functions, as R did
    with ``clustervars``. Columns that are missing or identically zero get NaN."""
    return bootstrap(draw([inf], biters, seed, cluster), alp)


def sup_t_crit(bres: np.ndarray, sigma: np.ndarray, cols: np.ndarray, alp: float) -> float:
    """``1 - alp`` quantile (type 1) of ``max_{j in cols} |bres_j / sigma_j|`` over draws: the critical
    value of a uniform band over ``cols``; NaN when no column is usable."""
    good = [j for j in cols if np.isfinite(sigma[j])]
    if not good:
        return float("nan")
    bT = np.max(np.abs(bres[:, good] / sigma[good]), axis=1)
    bT = bT[np.isfinite(bT)]
    return float(np.quantile(bT, 1 - alp, method="inverted_cdf"))
