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
# # 03 · The analysis panel and descriptive trends
#
# One row per person and year (2017-2025): claims outcomes every year, checkup outcomes in checkup years,
# enrolment cohort (`first_treat`, 0 = never enrolled) and baseline covariates.

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
panel = study.panel
pd.Series({"person-years": len(panel), "persons": panel.study_id.nunique()})

# %%
panel.drop_duplicates("study_id").first_treat.value_counts().sort_index().rename("persons by cohort")

# %% [markdown]
# Mean medical cost by enrolment cohort and year, through the release review (cells under 10 persons or
# dominated by one person are suppressed). Cohorts that joined later were already on a flatter path.

# %%
study.figure("03_cost_trends_by_cohort");

# %% [markdown]
# **What this shows.** If the cohorts' lines were parallel before each joined, comparing them after would
# measure the program. Lines whose slopes differ before enrolment warn that joiners differ in more than the
# program: the designs of notebook 05 and the checks of notebook 06 are about exactly that difference.
