# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Difference-in-differences
#
# Every outcome by every design: the city's 2x2, Callaway-Sant'Anna (R `did` semantics; the plan's control
# group and covariates), the trend-adjusted Callaway-Sant'Anna, stacked matched DiD, and TWFE as the
# biased benchmark (primary outcome and negative control). On synthetic data the exact truth sits beside
# each estimate.

# %% tags=["parameters"]
scenario = "default"  # default, null or no-selection
scale = 0.025  # share of Seoul (1.0 for all of it)
seed = 9988
plan = ""  # a study plan (TOML); empty for study.toml at the project root
run_dir = ""  # empty for runs/default or runs/<scenario>-<scale>-<seed> (computed if missing)
figures_dir = ""  # empty for figures/ at the project root

# %%
import pandas as pd

from analysis.report import Study
from analysis.report import figures as F

study = Study.open(plan or None, scenario, scale, seed, run_dir or None, figures_dir or None)
study.run_dir

# %%
from analysis.report import readable

est = F.headline_estimates(study)
readable(est[est.outcome == study.cfg.outcomes.primary][["design", "estimate", "std_error", "conf_low", "conf_high",
                                                         "p_value", "truth"]], study.phenotypes)

# %% [markdown]
# The plan's Callaway-Sant'Anna event study on the primary outcome as R's `did` prints it: every ATT(g,t)
# with its simultaneous band (universal base period, multiplier bootstrap), then the dynamic aggregation.

# %%
print(study.text("refutation", "event_study_summary.txt"))

# %%
study.figure("06_group_time_att");

# %%
study.figure("07_event_study");

# %%
study.figure("08_forest_all_outcomes");

# %% [markdown]
# The headline of every outcome, by the rule fixed in the plan (`analysis/did/headline.py`, decided from
# diagnostics only): costs calibrated by negative controls; checkup measures and new diagnoses as the span of
# three designs (the "bracket": the plan's, the one measured from before the screening window, and the one
# matched on the last screening and diagnoses before enrolment), where trends were parallel before the
# screening cycle; else a Rambachan-Roth range. Ranges carry no point estimate.

# %%
readable(F.headline_by_outcome(study), study.phenotypes)

# %% [markdown]
# The empirical null behind the cost headline: the plan's design on costs the program cannot change (dental,
# eye, skin, ear and preventive care), as a share of their counterfactual means. Its mean is the systematic
# error removed; its spread and the uncertainty of its mean widen the interval. It removes only the bias these
# controls share.

# %%
print(study.empirical_null)

# %% [markdown]
# The plan's DiD settings (`[did]`), then the primary outcome refitted here with another comparison group
# and estimator (never-treated people only, inverse-probability weighting; 199 bootstrap draws to stay
# quick): change the arguments and rerun to see how much the answer rests on those choices. `att_gt` and
# `aggte` take R `did`'s arguments.

# %%
study.cfg.did

# %%
from analysis.did import aggte, att_gt

y = study.cfg.outcomes.primary
refit = att_gt(study.panel, y, "year", "study_id", "first_treat", study.cfg.did.xformla,
               control_group="nevertreated", est_method="ipw", biters=199, seed=study.cfg.did.seed,
               allow_unbalanced_panel=bool(study.panel[y].isna().any()))
print(aggte(refit, type="simple").summary())

# %% [markdown]
# **What this shows.** The first screen of the report, made by the same function from the same released
# numbers (so this notebook and the report cannot disagree):

# %%
import html
import re

from analysis.report.render import headline
from analysis.report.text import summary

print(html.unescape(re.sub(r"<[^>]+>", "", summary(headline(study), "en").replace("</p>", "\n"))))
