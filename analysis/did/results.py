"""What every DiD result shares (conventions.md): labelled ``params``/``std_errors``/``pvalues``,
``conf_int(level)`` with ``lower``/``upper``, a long ``tidy()`` frame and R-like printing."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.errors import ResultsError
from analysis.summary import Summary

TIDY_COLUMNS = ["term", "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high"]


def normal_table(params: pd.Series, std_errors: pd.Series, level: float = 0.95, crit: float | None = None) -> pd.DataFrame:
    """Estimate, SE, z, two-sided normal p-value and a ``level`` interval (or ``estimate +- crit * se``
    when a simultaneous critical value ``crit`` is given), indexed like ``params``."""
    z = params / std_errors
    c = stats.norm.ppf(0.5 + level / 2) if crit is None else crit
    return pd.DataFrame(
        {
            "estimate": params,
            "std_error": std_errors,
            "statistic": z,
            "p_value": 2 * stats.norm.sf(np.abs(z)),
            "conf_low": params - c * std_errors,
            "conf_high": params + c * std_errors,
        },
        index=params.index,
    )


def fmt_table(df: pd.DataFrame, digits: int = 4) -> str:
    """Right-aligned text table with ``digits`` decimals for floats, like R's print of a data.frame."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].map(lambda v: "NA" if pd.isna(v) else f"{v:.{digits}f}")
    return out.to_string(index=False)


def tidy_records(records: list, term: str, rest: list[str]) -> pd.DataFrame:
    """Records (refutation checks, headlines) as one long frame with the columns every result's ``tidy``
    starts with (``term`` from each record's ``term`` key; ``statistic`` the estimate over its standard
    error where a record has both; missing where a record has none), then the records' own ``rest``."""
    rows = []
    for r in records:
        est, se = r.get("estimate"), r.get("std_error")
        stat = est / se if isinstance(est, float) and isinstance(se, float) and se > 0 else None
        rows.append({"term": r[term], "estimate": est, "std_error": se, "statistic": stat,
                     "p_value": r.get("p_value"), "conf_low": r.get("conf_low"), "conf_high": r.get("conf_high"),
                     **{k: r.get(k) for k in rest}})
    return pd.DataFrame(rows, columns=[*TIDY_COLUMNS, *rest])


def stars(low: pd.Series, high: pd.Series) -> pd.Series:
    """R did's significance mark: ``*`` where the interval does not cover zero."""
    return pd.Series(np.where((low > 0) | (high < 0), "*", ""), index=low.index)


class ResultMixin:
    """Inherited by result classes that define ``params``, ``std_errors`` and ``_crit`` (None: pointwise)."""

    params: pd.Series
    std_errors: pd.Series
    _crit: float | None = None

    @property
    def tstats(self) -> pd.Series:
        return self.params / self.std_errors

    @property
    def pvalues(self) -> pd.Series:
        return pd.Series(2 * stats.norm.sf(np.abs(self.tstats)), index=self.params.index)

    def conf_int(self, level: float = 0.95, uniform: bool = False) -> pd.DataFrame:
        """Pointwise ``level`` intervals, or with ``uniform=True`` the simultaneous band (bootstrap sup-t
        critical value at the result's ``alp``, so ``level`` must be ``1 - alp`` then)."""
        if uniform and self._crit is None:
            raise ResultsError("no simultaneous critical value: fit with cband=True")
        alp = (getattr(self, "settings", None) or {}).get("alp")
        if uniform and alp is not None and not np.isclose(level, 1 - alp):
            raise ResultsError(f"the simultaneous band was drawn at level {1 - alp:g} (alp = {alp:g}); "
                               f"refit with alp = {1 - level:g} for a {level:g} band")
        t = normal_table(self.params, self.std_errors, level, self._crit if uniform else None)
        return t[["conf_low", "conf_high"]].rename(columns={"conf_low": "lower", "conf_high": "upper"})

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """Long frame: ``term, estimate, std_error, statistic, p_value, conf_low, conf_high`` (pointwise)."""
        t = normal_table(self.params, self.std_errors, level)
        t.insert(0, "term", [str(i) for i in self.params.index])
        return t.reset_index(drop=True)[TIDY_COLUMNS]

    def _repr_html_(self) -> str:
        return self.summary().as_html()

    def __str__(self) -> str:
        return str(self.summary())

    def summary(self) -> Summary:  # pragma: no cover - overridden
        raise NotImplementedError
