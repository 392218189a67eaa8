"""Model formulas as R writes them, through formulaic (the formula library linearmodels is built on): one
parser for the propensity models of ``matchit`` and ``weightit``, ``att_gt``'s ``xformla`` and the plan.

Supported: main effects, ``C(x)`` (a categorical; a text column is one already), ``C(x,
contr.treatment(base=...))`` for another reference level, interactions ``a:b`` and ``a*b``, ``I()``
with ``**`` or R's ``^`` for powers (inside ``I()`` ``^`` is R's power, not Python's exclusive or),
``(a + b)^2``, ``poly(x, 2)``, ``bs(x, df=3)``, ``cr(x, df=3)`` and numpy functions (``np.log(x)``).
Levels of a categorical are sorted, the first the reference (treatment contrasts, as R's default).

Design columns are named as R's ``model.matrix`` names them, so that balance tables read as MatchIt's:
a plain column by its name, a categorical level as the column's name followed by the level (``race`` ->
``raceblack``, ``C(district)`` -> ``district2``), any other term by formulaic's label (``I(age ** 2)``,
``age:female``, ``poly(age, 2)[1]``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix
from formulaic.errors import FormulaicError

from analysis.errors import FormulaError

_LEVEL = re.compile(r"(?:C\((\w+)(?:,[^\[\]]*)?\)|\b(\w+))\[(?:T\.)?([^\]]*)\]")


@dataclass(frozen=True)
class Rhs:
    """The right-hand side of a formula: its text (R's ``^`` inside ``I()`` made ``**``), its terms'
    labels (no intercept) and the data columns it reads, in order of first use."""

    text: str
    terms: tuple[str, ...]
    variables: tuple[str, ...]


def _r_powers(text: str) -> str:
    """``^`` inside each ``I(...)`` as ``**``: R's power there, where Python would read exclusive or."""
    out, i = [], 0
    for m in re.finditer(r"\bI\(", text):
        if m.start() < i:
            continue  # nested inside an I() already rewritten
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        out += [text[i:m.end()], text[m.end():j].replace("^", "**")]
        i = j
    return "".join(out) + text[i:]


def parse(rhs: str, what: str) -> Rhs:
    """Read the right-hand side ``rhs`` (``"x1 + C(x2)"``, a leading ``~`` allowed); ``what`` names the
    formula in errors (``"xformla"``, ``"matchit formula"``). An intercept is always part of the model, so
    ``- 1`` and ``0 +`` are refused."""
    text = _r_powers(rhs.split("~", 1)[-1].strip() if "~" in rhs else rhs.strip())
    if not text:
        raise FormulaError(f"{what} {rhs!r}: no terms (write '1' for an intercept only)")
    try:
        f = Formula(text)
    except FormulaicError as e:
        raise FormulaError(f"{what} {rhs!r} cannot be read: {str(e).splitlines()[0]}") from None
    labels = [str(t) for t in f]
    if "1" not in labels:
        raise FormulaError(f"{what} {rhs!r}: the model always has an intercept; remove '- 1' / '0 +'")
    terms = tuple(t for t in labels if t != "1")
    read = set(f.required_variables).union(*(_names(x.expr) for t in f for x in t.factors
                                              if x.eval_method.value == "python"))
    variables = sorted(read, key=lambda v: (m.start() if (m := re.search(rf"\b{re.escape(v)}\b", text)) else 0, v))
    return Rhs(text=text, terms=terms, variables=tuple(variables))


def _names(expr: str) -> set[str]:
    """The columns a factor's Python expression reads: its bare names that are neither a function it calls
    nor a module it reaches into (formulaic's ``required_variables`` leaves out the arguments of stateful
    transforms, ``poly(x, 3)``, ``bs(x)``, ``cr(x)``, so a missing ``x`` went unchecked)."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return set()
    nodes = list(ast.walk(tree))
    skip = {id(n.func) for n in nodes if isinstance(n, ast.Call)} | {id(n.value) for n in nodes
                                                                     if isinstance(n, ast.Attribute)}
    return {n.id for n in nodes if isinstance(n, ast.Name) and id(n) not in skip}


def straight(terms, what: str) -> tuple[str, ...]:
    """``terms`` with every term that bends (``poly``, ``bs``, ``cr``, ``I()``, numpy functions, interactions)
    replaced by the columns it reads as plain terms: the same covariates entering as straight lines (a
    column or a categorical stays as it is), for a check of how much an estimate rests on their form."""
    out: list[str] = []
    for t in terms:
        plain = re.fullmatch(r"\w+|C\(\w+(?:,.*)?\)", t.strip())
        for u in [t.strip()] if plain else parse(t, what).variables:
            if u not in out:
                out.append(u)
    return tuple(out)


def split(formula: str, what: str) -> tuple[str, Rhs]:
    """``"treat ~ x1 + x2"`` -> (``"treat"``, its right-hand side)."""
    if "~" not in formula:
        raise FormulaError(f"{what} {formula!r} must look like 'treat ~ x1 + x2'")
    lhs, rhs = (s.strip() for s in formula.split("~", 1))
    if not lhs or not re.fullmatch(r"\w+", lhs):
        raise FormulaError(f"{what} {formula!r}: the left-hand side must be one column name")
    return lhs, parse(rhs, what)


def require_columns(data: pd.DataFrame, rhs: Rhs, what: str, table: str = "data") -> None:
    """Every column the formula reads is in ``data`` (the error names the term and the column)."""
    for v in rhs.variables:
        if v not in data.columns:
            term = next((t for t in rhs.terms if re.search(rf"\b{re.escape(v)}\b", t)), v)
            raise FormulaError(f"{what}: term {term!r} uses {v!r}, which is not a column of the {table} "
                               "(nor a function formulaic knows)")


def check_columns(data: pd.DataFrame, rhs: Rhs, what: str, table: str = "data") -> None:
    """``require_columns``, and none of those columns has missing values (the error names the column and
    the first rows)."""
    require_columns(data, rhs, what, table)
    for v in rhs.variables:
        s = data[v]
        if s.isna().any():
            rows = np.flatnonzero(s.isna().to_numpy())[:5].tolist()
            raise FormulaError(f"{what}: covariate {v!r} has {int(s.isna().sum())} missing value(s) (first rows "
                               f"{rows}) in the {table}; impute or drop them explicitly first")


def _r_name(label: str) -> str:
    return _LEVEL.sub(lambda m: f"{m.group(1) or m.group(2)}{m.group(3)}", label)


def design(data: pd.DataFrame, rhs: Rhs, what: str, *, all_levels: bool = False) -> pd.DataFrame:
    """The design columns of ``rhs`` on ``data`` (no intercept column), named as R does. ``all_levels``:
    every level of each categorical (balance tables) instead of all but the reference (the model)."""
    check_columns(data, rhs, what)
    if not rhs.terms:
        return pd.DataFrame(index=data.index)
    try:
        mm = model_matrix(rhs.text, data, ensure_full_rank=not all_levels, na_action="raise")
    except FormulaicError as e:
        bad = next((t for t in rhs.terms if not _evaluates(t, data)), None)
        where = f"term {bad!r}" if bad else f"{rhs.text!r}"
        raise FormulaError(f"{what}: {where} cannot be evaluated: {str(e).splitlines()[0]}") from None
    mm = mm.drop(columns=[c for c in mm.columns if c == "Intercept"])
    return pd.DataFrame(mm.to_numpy(dtype=float), index=data.index, columns=[_r_name(c) for c in mm.columns])


def _evaluates(term: str, data: pd.DataFrame) -> bool:
    try:
        model_matrix(term, data.head(50), na_action="ignore")
        return True
    except Exception:  # noqa: BLE001 - any failure marks the term that fails
        return False
