"""Input checks every DiD estimator shares: needed columns, rows with missing values (dropped and counted,
never silently), whole-number period/cohort/id columns, one row per unit and period, and values that must
not vary within a unit. Errors name the table, the column and example ids."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from analysis.did.drdid import DiDError
from analysis.errors import ExclusionWarning


def complete_rows(data: pd.DataFrame, needed: list[str], table: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """The ``needed`` columns of ``data`` without rows that miss any of them; the dropped rows are counted
    by column in the returned exclusions (and a warning says so)."""
    needed = list(dict.fromkeys(c for c in needed if c))
    missing_cols = [c for c in needed if c not in data.columns]
    if missing_cols:
        raise DiDError(f"{table}: no column(s) {missing_cols}; columns are {list(data.columns)[:30]}")
    df = data[needed]
    excl: dict[str, int] = {}
    na = df.isna()
    if na.to_numpy().any():
        for c in needed:
            if na[c].any():
                excl[f"rows with missing {c}"] = int(na[c].sum())
        warnings.warn(f"{table}: dropped {int(na.any(axis=1).sum())} rows with missing values ({excl})",
                      ExclusionWarning, stacklevel=4)
        df = df[~na.any(axis=1).to_numpy()]
    if df.empty:
        raise DiDError(f"{table}: no rows left after dropping missing values")
    return df, excl


def int_column(s: pd.Series, table: str, name: str) -> np.ndarray:
    """A whole-number column as int64 (int8/int16 cohort columns have broken other ports: ``t - g``
    overflows); anything else is an error naming the first rows."""
    if s.dtype.kind == "i" and not s.hasnans:  # already whole numbers: no round trip through floats
        return s.to_numpy(np.int64)
    v = pd.to_numeric(s, errors="coerce").to_numpy(float)
    bad = ~np.isfinite(v) | (v != np.round(v))
    if bad.any():
        rows = s.index[np.flatnonzero(bad)[:5]].tolist()
        raise DiDError(f"{table}: column {name!r} must hold whole numbers; {int(bad.sum())} rows do not "
                       f"(first rows {rows})")
    return v.astype(np.int64)


def unit_period_order(ids: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The rows' order by (unit, period), as ``np.lexsort((t, ids))``; data already in that order (the usual
    layout) are recognised in one pass instead of sorted (a tenth of ``att_gt``'s time at 1M rows)."""
    if len(ids) < 2 or bool(np.all((ids[1:] > ids[:-1]) | ((ids[1:] == ids[:-1]) & (t[1:] > t[:-1])))):
        return np.arange(len(ids))
    return np.lexsort((t, ids))


def check_units(
    ids: np.ndarray, t: np.ndarray, constant: dict[str, np.ndarray], idname: str, tname: str, gname: str,
    table: str,
) -> np.ndarray:
    """One row per (unit, period), and each array of ``constant`` (name -> values) constant within unit;
    ``gname`` is the cohort column, whose variation means treatment switches off or restarts. Returns the
    rows' (unit, period) order it checked them in (``unit_period_order``), for a caller that lays them out so."""
    order = unit_period_order(ids, t)
    i_s, t_s = ids[order], t[order]
    same = i_s[1:] == i_s[:-1]
    dup = same & (t_s[1:] == t_s[:-1])
    if dup.any():
        bad = np.unique(i_s[1:][dup])
        raise DiDError(f"{table}: {int(dup.sum()) + len(bad)} rows share an ({idname}, {tname}) pair "
                       f"({len(bad)} units, e.g. {idname}={bad[:5].tolist()}); keep one row per unit and period")
    for name, v in constant.items():
        vs = v[order]
        change = same & (vs[1:] != vs[:-1])
        if change.any():
            bad = np.unique(i_s[1:][change])
            what = ("varies within unit (treatment timing varies within unit: a treatment that switches off or "
                    "restarts is not staggered adoption; gname must be the unit's first treated period, 0 if "
                    "never)" if name == gname else "varies within unit; it must be one value per unit")
            raise DiDError(f"{table}: column {name!r} {what}: {len(bad)} units, e.g. {idname}={bad[:5].tolist()}")
    return order
