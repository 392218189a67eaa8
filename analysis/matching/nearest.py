"""Greedy 1-D nearest-neighbour matching with MatchIt's semantics (MatchIt >= 4.7, ``nn_matchC_vec``).

All units are sorted once by distance (stable, so ties keep data order). Treated units are visited in
``order``, in ``ratio`` passes (every treated unit gets its first match before any gets a second). For each,
the nearest *available* control on the left and on the right of it in the sorted order is found, skipping
controls already matched to this unit; if that control is outside the caliper, there is none on that side.
The closer of the two wins; a tie goes to the left (lower distance). A control is unavailable once it has been
used ``reuse_max`` times (1 without replacement).

``match_fast`` finds the next available control with union-find pointers (path compression), so the work is
near-linear in n whatever the overlap; ``match_reference`` is the plain implementation it is tested against.
With unlimited reuse and no strata nothing is ever used up, and ``match_with_replacement`` gives the same
pairs by a merge outward from each treated unit's place among the controls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit


def stable_argsort(x: np.ndarray) -> np.ndarray:
    """``np.argsort(x, kind="stable")`` for float data (see :func:`sort_with_order`)."""
    return sort_with_order(x)[0]


def sort_with_order(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(order, x[order])`` with ``order`` equal to ``np.argsort(x, kind="stable")``, faster.

    numpy sorts plain numbers with SIMD instructions on every x86-64 CPU but its argsort only on AVX-512
    ones (on AVX2: 45 ms against 10 ms for 800k values). So each value's bits, mapped to an unsigned integer
    of the same order, keep their high part and carry the unit's index in the low ``b`` bits (``b`` enough
    to number the units), and those keys are sorted as numbers: ties come out in data order, and units
    whose values differ only below the kept bits (rare: relative differences under 2^(b-52)) come out in
    data order too, so each such run is put in order of value again. -0.0 ties with 0.0; with NaNs numpy's
    stable argsort is used (NaNs last in data order)."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n < 2 or np.isnan(x).any():
        idx = np.argsort(x, kind="stable")
        return idx, x[idx]
    b = max(int(n - 1).bit_length(), 1)
    key = (x + 0.0).view(np.uint64)  # a copy; + 0.0 turns -0.0 into 0.0
    if x.min() < 0:  # negative values' bits reversed, below the positive (a score needs none of this)
        key = np.where(key >> np.uint64(63) == 1, ~key, key | np.uint64(1 << 63))
    key >>= np.uint64(b)
    key <<= np.uint64(b)
    key |= np.arange(n, dtype=np.uint64)
    key.sort()
    idx = (key & np.uint64((1 << b) - 1)).astype(np.int64)
    s = x[idx]
    key >>= np.uint64(b)
    near = key[1:] == key[:-1]
    out_of_order = near & (s[1:] < s[:-1])
    if out_of_order.any():  # each run of equal kept bits sorted again by (value, index)
        at = np.flatnonzero(near)
        member = np.zeros(n, bool)
        member[at] = member[at + 1] = True
        pos = np.flatnonzero(member)
        run = np.cumsum(np.r_[True, ~near[pos[:-1]]])  # a new run wherever a member does not share the last's bits
        bad = np.zeros(run[-1] + 1, bool)
        bad[run[1:][out_of_order[pos[:-1]] & near[pos[:-1]]]] = True
        pos, run = pos[bad[run]], run[bad[run]]
        sub = idx[pos]
        idx[pos] = sub[np.lexsort((sub, x[sub], run))]
        s[pos] = x[idx[pos]]
    return idx, s


@dataclass(frozen=True)
class SortedUnits:
    """Every unit sorted by distance once (ties in data order), shared by the matching order, the matcher and
    the reasons for unmatched units, so no step sorts or scans the whole data again."""

    by_distance: np.ndarray  # unit indices in distance order
    rank: np.ndarray  # each unit's position in that order
    controls: np.ndarray  # the usable (control, not discarded) units in distance order
    controls_below: np.ndarray  # at each position of that order, how many usable controls come before it


def sort_units(distance, treat, discarded) -> SortedUnits:
    by_d = stable_argsort(distance)
    treat, discarded = np.asarray(treat, bool), np.asarray(discarded, bool)
    # Every array here and in the matcher is allocated by numpy and filled by the compiled loops: numpy asks
    # the system for large pages, so fresh memory costs a few page faults, not one per 4 KB (at a million
    # units, memory a call touches for the first time was most of a second call's time).
    rank, below = np.empty(len(by_d), np.int64), np.empty(len(by_d), np.int64)
    controls = np.empty(_rank_and_count(by_d, treat, discarded, rank, below), np.int64)
    _usable(by_d, treat, discarded, controls)
    return SortedUnits(by_d, rank, controls, below)


@njit(cache=True)
def _rank_and_count(by_d, treat, discarded, rank, below):
    nc = 0
    for p in range(len(by_d)):
        u = by_d[p]
        rank[u] = p
        below[p] = nc
        if not treat[u] and not discarded[u]:
            nc += 1
    return nc


@njit(cache=True)
def _usable(by_d, treat, discarded, controls):
    k = 0
    for p in range(len(by_d)):
        u = by_d[p]
        if not treat[u] and not discarded[u]:
            controls[k] = u
            k += 1


def _prepare(distance, treat, discarded, order, exact, units=None):
    """Each exact-matching stratum's treated units in matching order with their positions in ``order``, its
    usable controls in distance order (ties in data order) and, for each treated unit, how many of those
    controls sort before it (where its search for neighbours starts). Two stable sorts serve every stratum
    together, so the cost grows neither with the number of strata nor, without strata, beyond the one sort
    by distance (``order`` is already the matching order; ``units``, the sort if the caller has it)."""
    units = sort_units(distance, treat, discarded) if units is None else units
    if exact is None:  # rows and starts follow from ``order`` and ``units``: the kernel reads them there
        yield order, None, units.controls, None
        return
    _, code = np.unique(exact, return_inverse=True)
    code = code.ravel()
    rows = np.argsort(code[order], kind="stable")
    c_all = units.controls[np.argsort(code[units.controls], kind="stable")]
    k = int(code.max()) + 1
    t_split = np.cumsum(np.bincount(code[order], minlength=k))[:-1]
    c_split = np.cumsum(np.bincount(code[c_all], minlength=k))[:-1]
    for r, c in zip(np.split(rows, t_split), np.split(c_all, c_split), strict=True):
        t = order[r]
        yield t, r, c, np.searchsorted(units.rank[c], units.rank[t])


def match_with_replacement(distance, treat, discarded, ratio, caliper):
    """Matching with unlimited reuse and no strata: the same pairs as :func:`match_reference` with
    ``reuse_max`` at least the number of treated units, rows in data order of the treated.

    No control is ever used up, so the matching order cannot matter and a treated unit's matches are its
    ``ratio`` nearest controls within the caliper, taken by a merge outward from its place among the
    controls sorted by distance (the closer side first, the left on a tie, as each pass of the greedy
    matcher would take them). The controls and the treated are sorted apart (no ranks of every unit), there
    is no bookkeeping of used controls and no compiled kernel: a sort of each group, one search, and
    ``ratio`` vectorised steps over the treated units.

    Returns ``(mm, controls, below)``: the match matrix (-1 where unmatched), the usable controls in distance
    order (ties in data order) and, for each treated unit, how many of those sort before it in (distance,
    data order): the place its search starts from."""
    distance = np.asarray(distance, dtype=np.float64)
    treat, discarded = np.asarray(treat, bool), np.asarray(discarded, bool)
    ctrl = np.flatnonzero(~treat & ~discarded)
    c_order, c_d = sort_with_order(distance[ctrl])
    ctrl = ctrl[c_order]
    # the treated units in distance order too: the merge then reads the controls in order (a search for
    # unsorted values misses the cache at every step); rows go back to data order at the end
    units = np.flatnonzero(treat)
    t_order, x = sort_with_order(distance[units])
    units = units[t_order]
    below = np.searchsorted(c_d, x, "left")
    # a control tied with a treated unit sorts before it if it comes first in the data: among the tied,
    # (distance, data index) pairs are in order, and complex numbers compare as such pairs
    tied = np.flatnonzero(c_d[np.minimum(below, len(c_d) - 1)] == x) if len(c_d) else below[:0]
    if len(tied):
        below[tied] = np.searchsorted(c_d + 1j * ctrl, x[tied] + 1j * units[tied])
    mm = np.full((len(units), ratio), -1, dtype=np.int64)
    nc = len(ctrl)
    if nc:
        limit = np.inf if caliper is None else float(caliper)
        lo, hi = below - 1, below.copy()
        live = ~discarded[units]
        for r in range(ratio):
            gap_l = np.where(lo >= 0, x - c_d[np.maximum(lo, 0)], np.inf)
            gap_r = np.where(hi < nc, c_d[np.minimum(hi, nc - 1)] - x, np.inf)
            gap_l[gap_l > limit] = np.inf
            gap_r[gap_r > limit] = np.inf
            left = gap_l <= gap_r
            live &= np.minimum(gap_l, gap_r) < np.inf
            mm[:, r] = np.where(live, ctrl[np.where(left, lo, hi)], -1)  # the picks rise with x: a gather in order
            lo -= live & left
            hi += live & ~left
    out, out_below = np.empty_like(mm), np.empty_like(below)
    out[t_order], out_below[t_order] = mm, below
    return out, ctrl, out_below


def match_reference(distance, treat, discarded, order, ratio, caliper, reuse_max, exact=None):
    """Plain-Python reference. Returns (n_treated_in_order, ratio) unit indices, -1 where unmatched."""
    n1 = len(order)
    pos_of = {u: i for i, u in enumerate(order)}
    mm = np.full((n1, ratio), -1, dtype=np.int64)
    rank = np.empty(len(distance), dtype=np.int64)
    rank[np.argsort(distance, kind="stable")] = np.arange(len(distance))
    for t, _, c, _ in _prepare(distance, treat, discarded, order, exact):
        times = np.zeros(len(c), dtype=np.int64)
        c_rank = rank[c]
        for r in range(ratio):
            for u in t:
                if discarded[u]:
                    continue
                row = mm[pos_of[u], :r]
                p = int(np.searchsorted(c_rank, rank[u]))
                found = []
                for step, start in ((-1, p - 1), (1, p)):
                    j, k = start, -1
                    while 0 <= j < len(c):
                        if times[j] >= reuse_max or c[j] in row:
                            j += step
                            continue
                        if caliper is None or abs(distance[u] - distance[c[j]]) <= caliper:
                            k = j
                        break
                    found.append(k)
                kl, kr = found
                if kl >= 0 and kr >= 0:
                    k = kl if abs(distance[c[kl]] - distance[u]) <= abs(distance[c[kr]] - distance[u]) else kr
                else:
                    k = kl if kl >= 0 else kr
                if k < 0:
                    continue
                mm[pos_of[u], r] = c[k]
                times[k] += 1
    return mm


@njit(cache=True)
def _find(par, j, stop, work):
    """Follow ``par`` from j to the first available position (par[x] == x), or ``stop``; compress. The call
    and each pointer followed count one in ``work[0]``."""
    work[0] += 1
    root = j
    while root != stop and par[root] != root:
        root = par[root]
        work[0] += 1
    while j != stop and par[j] != j:
        nxt = par[j]
        par[j] = root
        j = nxt
    return root


@njit(cache=True)
def _in_row(mm, row, r, unit, work):
    """Whether ``unit`` is already among the first r matches of treated row ``row`` (r comparisons, counted
    in ``work[0]``)."""
    work[0] += r
    for q in range(r):
        if mm[row, q] == unit:
            return True
    return False


@njit(cache=True)
def _match_stratum(t_unit, t_row, t_start, whole, distance, discarded, rank, below, c_d, c_unit, ratio, caliper,
                   use_caliper, reuse_max, mm, work, left, right, times):
    # ``whole``: one stratum of every treated unit in matching order, whose rows are 0, 1, ... and whose
    # searches start below[rank[unit]] (no per-unit arrays to build); else the stratum's t_row and t_start.
    # left, right: arange(nc), times: room for nc counts, from the caller (numpy's allocation, see sort_units)
    nc = len(c_d)
    times[:] = 0
    for r in range(ratio):
        for i in range(len(t_unit)):
            u = t_unit[i]
            if discarded[u]:
                continue
            row = i if whole else t_row[i]
            p = below[rank[u]] if whole else t_start[i]
            td = distance[u]
            # left
            kl = -1
            j = _find(left, p - 1, -1, work) if p - 1 >= 0 else -1
            while j >= 0 and _in_row(mm, row, r, c_unit[j], work):
                j = _find(left, j - 1, -1, work) if j - 1 >= 0 else -1
            if j >= 0 and (not use_caliper or abs(td - c_d[j]) <= caliper):
                kl = j
            # right
            kr = -1
            j = _find(right, p, nc, work) if p < nc else nc
            while j < nc and _in_row(mm, row, r, c_unit[j], work):
                j = _find(right, j + 1, nc, work) if j + 1 < nc else nc
            if j < nc and (not use_caliper or abs(td - c_d[j]) <= caliper):
                kr = j
            if kl >= 0 and kr >= 0:
                k = kl if abs(c_d[kl] - td) <= abs(c_d[kr] - td) else kr
            elif kl >= 0:
                k = kl
            elif kr >= 0:
                k = kr
            else:
                continue
            mm[row, r] = c_unit[k]
            times[k] += 1
            if times[k] >= reuse_max:
                left[k] = k - 1
                right[k] = k + 1
    return mm


def match_fast(distance, treat, discarded, order, ratio, caliper, reuse_max, exact=None, work=None, units=None):
    """Same result as :func:`match_reference`, near-linear in n. ``work`` (a one-element int64 array, or
    None): incremented by the kernel's elementary steps, the pointers followed and the comparisons with a
    unit's earlier matches, so a test can see how the work grows with n without timing it. ``units``: the
    units sorted by distance (:func:`sort_units`) if the caller has them."""
    work = np.zeros(1, dtype=np.int64) if work is None else work
    distance = np.asarray(distance, dtype=np.float64)
    mm = np.full((len(order), ratio), -1, dtype=np.int64)
    units = sort_units(distance, treat, discarded) if units is None else units
    none = np.empty(0, dtype=np.int64)
    for t, rows, c, start in _prepare(distance, treat, discarded, order, exact, units):
        if len(t) == 0 or len(c) == 0:
            continue
        _match_stratum(
            t,
            none if rows is None else rows,
            none if start is None else start,
            rows is None,
            distance,
            np.asarray(discarded, dtype=bool),
            units.rank,
            units.controls_below,
            distance[c],
            np.asarray(c, dtype=np.int64),
            int(ratio),
            float(caliper) if caliper is not None else 0.0,
            caliper is not None,
            int(reuse_max),
            mm,
            work,
            np.arange(len(c)),
            np.arange(len(c)),
            np.empty(len(c), dtype=np.int64),  # zeroed by the kernel: numpy's zeros would not ask for large pages
        )
    return mm
