"""Release review (statistical disclosure control) of every table and figure the study writes.

Real linked health data leave the insurer's closed room only after a release review. Every output passes
through one :class:`ReleaseReview` first, which applies the thresholds of ``study.toml`` ``[disclosure]``
and keeps a manifest of what was released and what was suppressed, under which rule:

``min_count``
    a cell, mean or percentage rests on at least ``min_count`` persons, else its statistics and its
    count are suppressed (NaN).
``dominance``
    for a sum or mean of a non-negative quantity, no single person contributes more than ``dominance``
    of the cell's total (exactly ``dominance`` is allowed).
``residual_df``
    a model estimate has at least ``min_residual_df`` residual degrees of freedom (and, under
    ``min_count``, at least ``min_count`` treated and ``min_count`` control persons).
``exact_extreme``
    no exact minimum or maximum is published: min/max-like columns are blanked.
``secondary``
    where a group publishes a total, a single suppressed cell could be recovered by subtraction, so the
    smallest unsuppressed cell of the same group is suppressed too.
``identifier``
    a table holding a direct identifier or the linkage key is refused with :class:`ReleaseError`.

Suppressed cells keep their row (with NaN), so a reader sees that something was withheld.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import ReleaseError

IDENTIFIERS = frozenset({"study_id", "person_id", "name", "rrn", "phone"})  # compared case-insensitively
EXTREME = re.compile(r"(?:^|[_. \-])(?:min|max|minimum|maximum|p0|p100)$", re.IGNORECASE)
SUPPRESSION_RULES = ("min_count", "dominance", "residual_df", "exact_extreme", "secondary")
STATS = ("mean", "sum", "share", "count")
TOTAL = "Total"


def _plain(v: Any) -> Any:
    """A JSON-serialisable plain Python value for a cell label."""
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or isinstance(v, str | bool | int | float):
        return v
    return str(v)


def _below(label: str, x: float, limit: int) -> str:
    """The manifest detail of a count or df below its threshold (or missing, hence unverifiable). The value
    itself is not given: the manifest travels with the released outputs, and a suppressed count in it
    would undo the suppression."""
    return f"{label} missing" if np.isnan(x) else f"{label} < {limit}"


@dataclass
class ReleaseReview:
    """One release review: apply the disclosure rules to each output and keep the manifest.

    Parameters
    ----------
    min_count : int
        Persons a published cell, mean, percentage or estimate group must rest on (``disclosure.min_cell``).
    dominance : float
        Largest share of a cell's total one person may contribute to a published sum or mean.
    min_residual_df : int
        Residual degrees of freedom a published model estimate must have.
    floors_overridden : tuple of str
        The plan's rules set below the package's floors (``disclosure.override_floors``), stated in the
        manifest.
    """

    min_count: int = 10
    dominance: float = 0.5
    min_residual_df: int = 10
    floors_overridden: tuple[str, ...] = ()
    _outputs: list[dict] = field(default_factory=list, init=False, repr=False)
    _blanked: dict[str, pd.DataFrame] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.min_count < 1:
            raise ReleaseError(f"min_count must be >= 1; got {self.min_count}")
        if not 0 < self.dominance <= 1:
            raise ReleaseError(f"dominance must be in (0, 1]; got {self.dominance}")
        if self.min_residual_df < 0:
            raise ReleaseError(f"min_residual_df must be >= 0; got {self.min_residual_df}")

    @classmethod
    def from_config(cls, disclosure) -> ReleaseReview:
        """The review for a :class:`analysis.config.DisclosureConfig` (``min_cell`` is ``min_count``)."""
        return cls(
            min_count=disclosure.min_cell,
            dominance=disclosure.dominance,
            min_residual_df=disclosure.min_residual_df,
            floors_overridden=disclosure.below_floors,
        )

    # ------------------------------------------------------------------ helpers
    def _check_new(self, name: str) -> None:
        if any(o["name"] == name for o in self._outputs):
            raise ReleaseError(f"output {name!r} was already reviewed; output names must be unique")

    @staticmethod
    def _check_identifiers(name: str, columns) -> None:
        for col in columns:
            if col is not None and str(col).lower() in IDENTIFIERS:
                raise ReleaseError(
                    f"table {name!r} holds column {str(col)!r}, a direct identifier or the linkage key; "
                    "drop it (publish aggregates only) and review again"
                )

    def _record(self, name: str, kind: str, rows: int | None, suppressed: list[dict],
                blanked: pd.DataFrame | None = None, **extra) -> None:
        status = "released with suppression" if suppressed else "released"
        self._outputs.append(
            {"name": name, "kind": kind, "rows": rows, "suppressed": suppressed, "status": status, **extra}
        )
        if blanked is not None:
            self._blanked[name] = blanked

    def suppressed(self, name: str) -> pd.DataFrame:
        """Which cells of the released output ``name`` the review blanked (True), shaped like the output:
        a renderer tells a suppressed value from one that was never there (a p-value not adjusted, say),
        which both read as NaN in the table."""
        if name not in self._blanked:
            raise KeyError(f"no reviewed table named {name!r}; reviewed: {sorted(self._blanked)}")
        return self._blanked[name].copy()

    # ------------------------------------------------------------------ person-level data -> cells
    def aggregate(
        self,
        name: str,
        data: pd.DataFrame,
        by: list[str],
        value: str | None = None,
        stat: str = "mean",
        margins: bool = False,
        dominance: bool | None = None,
        round_to: int | None = None,
    ) -> pd.DataFrame:
        """Aggregate person-level data (one row per person) into reviewed cells.

        Parameters
        ----------
        name : str
            Stable output name (unique within the review).
        data : DataFrame
            One row per person.
        by : list of str
            Cell columns; must hold no missing values (label missing explicitly, e.g. ``"unknown"``).
        value : str or None
            Column summarised; persons whose value is NaN are not counted in that cell's ``n``.
            None for ``stat="count"``.
        stat : {"mean", "sum", "share", "count"}
            ``share`` is the mean of a 0/1 value, returned as a fraction; ``count`` returns ``n`` only.
        margins : bool
            Add a total row per group of all but the last ``by`` column (labelled ``"Total"`` in the last
            ``by`` column; one overall total for a single ``by``) and apply secondary suppression within
            each group.
        dominance : bool or None
            Apply the dominance rule. None (default): apply it for ``stat`` "sum"/"mean" when every value
            is non-negative (costs, visits). Pass False where one person cannot dominate, e.g. a mean of
            bounded checkup measurements (BMI, blood pressure). True with a negative value or another
            ``stat`` raises ReleaseError, since the rule is then undefined.
        round_to : int or None
            Release the published counts rounded to the nearest multiple of ``round_to`` (halves up), for
            outputs whose cells are shares of a group total published elsewhere (a histogram of the treated
            beside ``n_treated``): with exact counts, the released cells' ratios give their sum, and the total
            minus that sum is the suppressed cells' count. Rounded, the difference is uncertain by up to
            ``round_to / 2`` per released cell. Statistics (means, sums) are computed from the exact counts.

        Returns
        -------
        DataFrame
            ``[*by, "n", value]`` (``[*by, "n"]`` for count), sorted by ``by``; suppressed cells keep their
            row with NaN ``n`` and statistic.
        """
        by = list(by)
        x, dominance = self._aggregate_inputs(name, data, by, value, stat, dominance)
        out = _cells(data[by].assign(_x=x), by, margins)
        n = out["n"].to_numpy(float)
        total = out["total"].to_numpy(float)
        largest = out["largest"].to_numpy(float)
        suppressed = np.zeros(len(out), dtype=bool)
        records: dict[int, dict] = {}
        for i in range(len(out)):
            cell = {c: _plain(out.at[i, c]) for c in by}
            if n[i] < self.min_count:
                records[i] = {"cell": cell, "rule": "min_count", "detail": _below("n", n[i], self.min_count)}
            elif dominance and total[i] > 0 and largest[i] > self.dominance * total[i]:
                detail = f"one person contributes more than {self.dominance:.0%} of the total"
                records[i] = {"cell": cell, "rule": "dominance", "detail": detail}
            suppressed[i] = i in records
        if margins:
            _protect_from_totals(out, by, n, suppressed, records)

        if stat == "sum":
            out[value] = total
        elif stat in ("mean", "share"):
            out[value] = np.divide(total, n, out=np.full(len(out), np.nan), where=n > 0)
        result = out[[*by, "n", *([value] if value is not None else [])]].copy()
        if round_to is not None:
            if round_to < 2:
                raise ReleaseError(f"{name}: round_to must be at least 2; got {round_to}")
            n = np.floor(n / round_to + 0.5) * round_to
        result["n"] = n
        stats = [c for c in result.columns if c not in by]
        result.loc[suppressed, stats] = np.nan
        blanked = pd.DataFrame(False, index=result.index, columns=result.columns)
        blanked.loc[suppressed, stats] = True
        extra = {} if round_to is None else {"counts_rounded_to": int(round_to)}
        self._record(name, "table", len(result), [records[i] for i in sorted(records)], blanked, **extra)
        return result

    def _aggregate_inputs(self, name, data, by, value, stat, dominance) -> tuple[pd.Series, bool]:
        """``aggregate``'s arguments checked: the value summarised (1 per person for counts) and whether
        the dominance rule applies."""
        self._check_new(name)
        if stat not in STATS:
            raise ReleaseError(f"{name}: stat must be one of {STATS}; got {stat!r}")
        if (stat == "count") != (value is None):
            raise ReleaseError(f"{name}: give a value column for stat {stat!r}, and none for 'count'")
        if value is not None and (value in by or value == "n"):
            raise ReleaseError(f"{name}: value column {value!r} may not be a by column or 'n'")
        cols = [*by, *([value] if value is not None else [])]
        missing = [c for c in cols if c not in data.columns]
        if missing:
            raise ReleaseError(f"{name}: columns {missing} not in data (has {list(data.columns)})")
        self._check_identifiers(name, cols)
        if not by:
            raise ReleaseError(f"{name}: give at least one by column")
        if data[by].isna().any().any():
            raise ReleaseError(f"{name}: by columns {by} hold missing values; label them explicitly first")
        x = pd.Series(1.0, index=data.index) if value is None else data[value].astype(float)
        if stat == "share" and not x.dropna().isin([0.0, 1.0]).all():
            raise ReleaseError(f"{name}: stat 'share' needs a 0/1 value; {value!r} has other values")
        nonneg = bool((x.dropna() >= 0).all())
        if dominance is None:
            return x, stat in ("sum", "mean") and nonneg
        if dominance and (stat not in ("sum", "mean") or not nonneg):
            raise ReleaseError(f"{name}: dominance applies to a sum or mean of a non-negative value only")
        return x, dominance

    # ------------------------------------------------------------------ already-aggregated tables
    def table(self, name: str, table: pd.DataFrame, count: str | None = None,
              parts: tuple[str, ...] = ()) -> pd.DataFrame:
        """Review an already-aggregated table.

        Refuses identifier columns (``ReleaseError``), blanks min/max-like columns (``min``, ``max``,
        ``minimum``, ``maximum``, ``p0``, ``p100``, also as a suffix such as ``cost_max``; one manifest
        entry per column) and, when ``count`` is given, sets every numeric column (the count too) to NaN
        in rows whose count is below ``min_count`` or missing. Cell labels in the manifest are the row's
        non-numeric columns (its position when there are none). Secondary suppression needs to know the
        margins, so a table with totals should be built with :meth:`aggregate` instead.

        ``parts``: count columns that are a subset of ``count`` (the linked among the records). A share
        ``part / count`` gives both the part and its complement away where the count is small enough for the
        fraction to be solved, so each must be 0 or at least ``min_count``, else the row is suppressed.
        """
        self._check_new(name)
        self._check_identifiers(name, [*table.columns, *table.index.names])
        if count is not None and count not in table.columns:
            raise ReleaseError(f"{name}: count column {count!r} not in table (has {list(table.columns)})")
        if parts and count is None:
            raise ReleaseError(f"{name}: parts {list(parts)} need the count they are part of")
        absent = [c for c in parts if c not in table.columns]
        if absent:
            raise ReleaseError(f"{name}: part column(s) {absent} not in table (has {list(table.columns)})")
        out = table.copy()
        blanked = pd.DataFrame(False, index=out.index, columns=out.columns)
        suppressed = []
        for col in out.columns:
            if EXTREME.search(str(col)):
                detail = f"column {str(col)!r} is an exact minimum/maximum ({int(out[col].notna().sum())} values blanked)"
                blanked[col] = out[col].notna()
                out[col] = np.nan
                suppressed.append({"cell": {"column": str(col)}, "rule": "exact_extreme", "detail": detail})
        if count is not None:
            c = out[count].to_numpy(float)
            numeric = list(out.select_dtypes("number").columns)
            labels = [col for col in out.columns if col not in numeric]
            small = ~(c >= self.min_count)  # a missing count cannot be checked: suppress
            details = {i: _below("n", c[i], self.min_count) for i in np.flatnonzero(small)}
            for part in parts:
                x = out[part].to_numpy(float)
                for label, v in ((part, x), (f"{count} - {part}", c - x)):
                    thin = ~small & ((v > 0) & (v < self.min_count) | np.isnan(v))
                    details.update({i: _below(label, v[i], self.min_count) for i in np.flatnonzero(thin)})
                    small |= thin
            for i in sorted(details):
                cell = {str(k): _plain(out[k].iloc[i]) for k in labels} or {"row": int(i)}
                suppressed.append({"cell": cell, "rule": "min_count", "detail": details[i]})
            out[numeric] = out[numeric].astype(float)
            blanked.loc[small, numeric] |= out.loc[small, numeric].notna()
            out.loc[small, numeric] = np.nan
        self._record(name, "table", len(out), suppressed, blanked)
        return out

    # ------------------------------------------------------------------ model results
    def model(
        self,
        name: str,
        estimates: pd.DataFrame,
        n_treated: str = "n_treated",
        n_control: str = "n_control",
        df_resid: str | None = None,
        n_params: int = 0,
    ) -> pd.DataFrame:
        """Review model estimates, one row per estimate with its treated and control counts.

        A row is suppressed (rule ``min_count``) when fewer than ``min_count`` treated or control persons
        (or a missing count) stand behind it, or (rule ``residual_df``) when its residual degrees of
        freedom, the ``df_resid`` column or else ``n_treated + n_control - n_params``, are below
        ``min_residual_df``. Suppression sets every float column except the count and df columns to NaN;
        under ``min_count`` the two count columns are set to NaN too (rule 1: the count itself). Integer
        and text columns (term, cohort, event time) are labels and stay; they label the manifest cell.
        """
        self._check_new(name)
        self._check_identifiers(name, [*estimates.columns, *estimates.index.names])
        need = [n_treated, n_control, *([df_resid] if df_resid is not None else [])]
        missing = [c for c in need if c not in estimates.columns]
        if missing:
            raise ReleaseError(f"{name}: columns {missing} not in estimates (has {list(estimates.columns)})")
        out = estimates.copy()
        nt, nc = out[n_treated].to_numpy(float), out[n_control].to_numpy(float)
        df = out[df_resid].to_numpy(float) if df_resid is not None else nt + nc - n_params
        results = [c for c in out.columns if c not in need and pd.api.types.is_float_dtype(out[c])]
        labels = [c for c in out.columns if c not in need and c not in results]
        suppressed, rows, small = [], [], []
        for i in range(len(out)):
            if not nt[i] >= self.min_count:
                rule, detail = "min_count", _below("n_treated", nt[i], self.min_count)
            elif not nc[i] >= self.min_count:
                rule, detail = "min_count", _below("n_control", nc[i], self.min_count)
            elif not df[i] >= self.min_residual_df:
                rule, detail = "residual_df", _below("residual df", df[i], self.min_residual_df)
            else:
                continue
            cell = {str(k): _plain(out[k].iloc[i]) for k in labels} or {"row": int(i)}
            suppressed.append({"cell": cell, "rule": rule, "detail": detail})
            rows.append(i)
            if rule == "min_count":
                small.append(i)
        blanked = pd.DataFrame(False, index=out.index, columns=out.columns)
        hidden = [(rows, results)] + ([(small, [n_treated, n_control])] if small else [])
        for where, cols in hidden:
            pos = [out.columns.get_loc(c) for c in cols]
            blanked.iloc[where, pos] = out.iloc[where, pos].notna().to_numpy()
            out[cols] = out[cols].astype(float)
            out.iloc[where, pos] = np.nan
        self._record(name, "model", len(out), suppressed, blanked)
        return out

    # ------------------------------------------------------------------ figures, manifest
    def figure(self, name: str, sources: list[str]) -> None:
        """Record that figure ``name`` was drawn only from the already-reviewed outputs ``sources`` (an
        empty list for a figure that shows no data, such as the assumed causal graph)."""
        self._check_new(name)
        sources = list(sources)
        reviewed = {o["name"] for o in self._outputs}
        unknown = [s for s in sources if s not in reviewed]
        if unknown:
            raise ReleaseError(
                f"figure {name!r}: sources {unknown} were never reviewed; a figure may only be "
                "drawn from outputs reviewed first (call aggregate/table/model for them)"
            )
        self._record(name, "figure", None, [], sources=sources)

    def manifest(self) -> dict:
        """The review's record: rules, one entry per output (in review order), and a summary."""
        outputs = copy.deepcopy(self._outputs)
        by_rule = dict.fromkeys(SUPPRESSION_RULES, 0)
        for o in outputs:
            for s in o["suppressed"]:
                by_rule[s["rule"]] += 1
        return {
            "rules": {
                "min_count": int(self.min_count),
                "dominance": float(self.dominance),
                "min_residual_df": int(self.min_residual_df),
                "floors_overridden": list(self.floors_overridden),
            },
            "outputs": outputs,
            "summary": {
                "outputs": len(outputs),
                "suppressed_cells": sum(by_rule.values()),
                "by_rule": by_rule,
            },
        }

    def write(self, path) -> Path:
        """Write the manifest as JSON to ``path`` and return the path."""
        path = Path(path)
        path.write_text(json.dumps(self.manifest(), indent=1, ensure_ascii=False, sort_keys=False) + "\n")
        return path



def _cells(work: pd.DataFrame, by: list[str], margins: bool) -> pd.DataFrame:
    """Each cell's count, total and largest value, sorted by ``by``; with ``margins`` a total row after
    each group of all but the last ``by`` column (``_total`` marks them). ``work``: the ``by`` columns and
    the value ``_x``."""
    x = work["_x"]

    def cells(keys: list[str]) -> pd.DataFrame:
        if not keys:
            return pd.DataFrame({"n": [x.count()], "total": [x.sum()], "largest": [x.max()]})
        g = work.groupby(keys, sort=True, observed=True)["_x"]
        return pd.DataFrame({"n": g.count(), "total": g.sum(), "largest": g.max()}).reset_index()

    out = cells(by).assign(_total=False)
    if not margins:
        return out
    groups = by[:-1]
    tot = cells(groups).assign(**{by[-1]: TOTAL, "_total": True})
    out[by[-1]] = out[by[-1]].astype(object)
    out = pd.concat([out, tot[out.columns]], ignore_index=True)
    out["_pos"] = np.arange(len(out))
    return out.sort_values([*groups, "_total", "_pos"], kind="stable").reset_index(drop=True)


def _protect_from_totals(out: pd.DataFrame, by: list[str], n: np.ndarray, suppressed: np.ndarray,
                         records: dict[int, dict]) -> None:
    """Secondary suppression, in place: one suppressed cell beside a published total is recoverable by
    subtraction, so the smallest other cell of its group (or the total) is suppressed too."""
    groups = by[:-1]
    is_total = out["_total"].to_numpy()
    grouped = out.groupby(groups, sort=False, observed=True) if groups else [(None, out)]
    for _, grp in grouped:
        idx = grp.index.to_numpy()
        inner, tot_i = idx[~is_total[idx]], idx[is_total[idx]][0]
        primary = inner[suppressed[inner]]
        if suppressed[tot_i] or len(primary) != 1:
            continue
        free = inner[~suppressed[inner]]
        j = free[np.argmin(n[free])] if len(free) else tot_i  # first of ties, in `by` order
        protected = ", ".join(f"{k}={v}" for k, v in records[primary[0]]["cell"].items())
        cell = {c: _plain(out.at[j, c]) for c in by}
        detail = f"protects the suppressed cell {protected} from subtraction from the total"
        records[j] = {"cell": cell, "rule": "secondary", "detail": detail}
        suppressed[j] = True
