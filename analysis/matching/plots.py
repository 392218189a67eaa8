"""Balance plots: a Love plot (|SMD| before and after) and the propensity-score overlap."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from analysis.matching.matchit import MatchItResult, MatchItSummary


def love_plot(summary: MatchItSummary, title: str = "", threshold: float = 0.1, ax=None):
    """Absolute standardized mean differences before and after matching, one row per covariate."""
    smd_all = summary.sum_all["Std. Mean Diff."].abs()
    smd_m = summary.sum_matched["Std. Mean Diff."].abs()
    order = smd_all.sort_values().index
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.3 * len(order) + 1.5))
    y = np.arange(len(order))
    ax.scatter(smd_all[order], y, facecolors="none", edgecolors="#c0392b", label="All data")
    ax.scatter(smd_m[order], y, color="#2c3e50", label="Matched")
    ax.axvline(threshold, color="grey", ls="--", lw=1)
    ax.set_yticks(y, order)
    ax.set_xlabel("Absolute standardized mean difference")
    ax.set_title(title or "Covariate balance")
    ax.legend(loc="lower right", frameon=False)
    ax.figure.tight_layout()
    return ax.figure


def overlap_plot(result: MatchItResult, title: str = "", ax=None):
    """Distribution of the distance (propensity score) by group, all units and matched units."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    d, t, w = result.distance.to_numpy(), result.treat.to_numpy(), result.weights.to_numpy()
    bins = np.linspace(d.min(), d.max(), 40)
    ax.hist(d[~t], bins=bins, density=True, alpha=0.35, color="#7f8c8d", label="Controls, all")
    ax.hist(
        d[~t],
        bins=bins,
        weights=w[~t],
        density=True,
        histtype="step",
        color="#2c3e50",
        lw=1.5,
        label="Controls, matched (weighted)",
    )
    ax.hist(d[t], bins=bins, density=True, histtype="step", color="#c0392b", lw=1.5, label="Treated")
    ax.set_xlabel("Propensity score")
    ax.set_ylabel("Density")
    ax.set_title(title or "Propensity-score overlap")
    ax.legend(frameon=False, fontsize=8)
    ax.figure.tight_layout()
    return ax.figure
