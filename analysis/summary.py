"""``Summary``: what every result's ``summary()`` returns.

As a string it is the R-style print of the result (``print(res.summary())`` reads like R's ``summary``, and
code that wrote or searched the text keeps working); ``tables`` holds the named tables behind it, which
``as_html()`` and ``as_latex()`` render for notebooks and papers (after linearmodels' and statsmodels'
``Summary``)."""

from __future__ import annotations

import html

import pandas as pd


class Summary(str):
    """A result's printed summary with the tables behind it.

    Parameters
    ----------
    text : the R-style print.
    tables : title -> table, in the order printed (empty where the print has no table).

    Examples
    --------
    >>> import pandas as pd
    >>> s = Summary("ATT 1.5 (0.2)", {"Effects": pd.DataFrame({"estimate": [1.5]}, index=["ATT"])})
    >>> print(s)
    ATT 1.5 (0.2)
    >>> list(s.tables)
    ['Effects']
    >>> "<table" in s.as_html() and "tabular" in s.as_latex()
    True
    """

    tables: dict[str, pd.DataFrame]

    def __new__(cls, text: str, tables: dict[str, pd.DataFrame] | None = None):
        obj = super().__new__(cls, text)
        obj.tables = dict(tables or {})
        return obj

    def as_text(self) -> str:
        return str.__str__(self)

    def as_html(self) -> str:
        """Each table as an HTML table under its title, then the whole print (call, notes, tests) folded."""
        parts = [f"<h4>{html.escape(title)}</h4>" + df.to_html(na_rep=".", float_format=_fmt)
                 for title, df in self.tables.items()]
        text = f"<pre>{html.escape(self.as_text())}</pre>"
        if not parts:
            return text
        return "".join(parts) + f"<details><summary>Full print</summary>{text}</details>"

    def as_latex(self) -> str:
        """Each table as a LaTeX tabular under its title; a print without tables as verbatim text."""
        if not self.tables:
            return "\\begin{verbatim}\n" + self.as_text() + "\n\\end{verbatim}\n"
        return "\n".join(f"% {title}\n" + df.to_latex(na_rep=".", float_format=_fmt)
                         for title, df in self.tables.items())

    def _repr_html_(self) -> str:
        return self.as_html()

    def __repr__(self) -> str:  # the print, not a quoted string, where a notebook or REPL echoes it
        return self.as_text()


def _fmt(v: float) -> str:
    return f"{v:.4f}"
