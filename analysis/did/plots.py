"""Plots of DiD results: group-time ATTs per cohort and event studies, with uniform bands."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from analysis.errors import ResultsError


def band(ax, x, est, lo, hi, pre_mask, labels=(None, None)):
    """Estimates with their intervals ``[lo, hi]``: pre-treatment grey, post-treatment red (``labels`` for
    the legend), and the zero line."""
    for mask, colour, label in ((pre_mask, "0.45", labels[0]), (~pre_mask, "C3", labels[1])):
        if mask.any():
            ax.errorbar(x[mask], est[mask], yerr=[est[mask] - lo[mask], hi[mask] - est[mask]], fmt="o",
                        color=colour, capsize=3, label=label)
    ax.axhline(0, color="k", lw=0.8)


def plot_att_gt(res, ax=None):
    """One panel per cohort: ATT(g,t) by period with the (uniform) band; pre-periods grey."""
    t = res.tidy()
    groups = sorted(t.group.unique())
    fig, axes = plt.subplots(len(groups), 1, figsize=(7, 2.2 * len(groups)), sharex=True, squeeze=False)
    for a, g in zip(axes[:, 0], groups, strict=False):
        s = t[t.group == g]
        band(a, s.time.to_numpy(), s.estimate.to_numpy(), s.band_low.to_numpy(), s.band_high.to_numpy(),
              ~s.post.to_numpy())
        a.set_title(f"Group {g}", fontsize=10)
    axes[-1, 0].set_xlabel("period")
    fig.tight_layout()
    return fig


def plot_aggte(res, ax=None):
    """Aggregated components with their band (event study for ``type='dynamic'``)."""
    if res.egt is None:
        raise ResultsError("a simple aggregation has no components to plot")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7, 3.5))
    x = np.asarray(res.egt)
    lo = res.att_egt - res.crit_val_egt * res.se_egt
    hi = res.att_egt + res.crit_val_egt * res.se_egt
    pre = x < 0 if res.type == "dynamic" else np.zeros(len(x), bool)
    band(ax, x, res.att_egt, lo, hi, pre)
    ax.set_xlabel({"dynamic": "event time", "group": "cohort", "calendar": "period"}[res.type])
    ax.set_ylabel("ATT")
    fig.tight_layout()
    return fig
