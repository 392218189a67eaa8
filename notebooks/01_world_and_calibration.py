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
# # 01 · The synthetic world and its calibration
#
# The study runs on a synthetic, linked world that looks like Seoul (program records, NHIS qualification,
# checkups, claims) and knows its own truth. `Study.open` reuses the run of this plan, scenario, scale and
# seed, or computes it (synthetic world -> linkage -> panel -> matching -> DiD -> refutation).

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
# The facts of `shared/calibration.md` as this world reproduces them (participants' sex and age at joining,
# the enrolment curve as shares of 2.46M, checkup attendance, metabolic syndrome, the city's design).

# %%
pd.Series(study.calibration).round(4).to_frame("this world")

# %%
study.figure("01_enrolment_curve");
