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
# # 04 · Propensity scores, matching and balance
#
# The city's published design: 2022 joiners matched 1:10 (nearest neighbour on a logistic propensity score
# of sex, age, disability, premium decile and chronic disease) with people not enrolled by the end of 2023.
# Risk-set matching does the same for every cohort (for the stacked design).

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

# %% [markdown]
# The city's design as MatchIt prints it: the matchit object, then balance for all and matched data
# (standardised mean differences on the treated SD, variance ratios, eCDF statistics) and sample sizes.

# %%
print(study.text("matching", "summary_published.txt"))

# %%
F.balance_table(study)

# %%
study.figure("04_propensity_overlap");

# %%
study.figure("05_love_plot");

# %%
study.csv("matching", "balance_verdict.csv")
