"""Figures of the refutation suite, drawn from the checks themselves (``refutation.json``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from analysis.errors import SensitivityError

LABELS = {"published": "city's published design (2022 joiners, 1:10 matched)",
          "callaway_santanna": "Callaway-Sant'Anna (the plan)"}


def plot_sensitivity(checks: list[dict], path=None):
    """Rambachan-Roth relative-magnitudes intervals of the average post-period effect against Mbar, one
    panel per design, with the breakdown value marked; saved to ``path`` (PNG/SVG by suffix) if given."""
    rm = [c for c in checks if c["name"] == "honest_did_relative_magnitudes" and c.get("grid")]
    if not rm:
        raise SensitivityError("plot_sensitivity: no relative-magnitudes check with a grid in the checks")
    fig, axes = plt.subplots(1, len(rm), figsize=(5.2 * len(rm), 3.6), squeeze=False)
    for ax, c in zip(axes[0], rm, strict=True):
        m = np.array([g["Mbar"] for g in c["grid"]])
        lo = np.array([np.nan if g["conf_low"] is None else g["conf_low"] for g in c["grid"]])
        hi = np.array([np.nan if g["conf_high"] is None else g["conf_high"] for g in c["grid"]])
        ax.vlines(m, lo, hi, color="C0", lw=3)
        ax.plot(m, (lo + hi) / 2, "o", color="C0", ms=3)
        ax.axhline(0, color="k", lw=0.8)
        if c.get("breakdown") is not None:
            ax.axvline(c["breakdown"], color="C3", ls="--", lw=1, label=f"breakdown Mbar = {c['breakdown']:.2g}")
            ax.legend(frameon=False, fontsize=8)
        ax.set_title(LABELS.get(c["design"], c["design"]), fontsize=9)
        ax.set_xlabel("Mbar (post-period violation / largest pre-period violation)")
        ax.set_ylabel("average post-period effect, robust 95% CI")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
