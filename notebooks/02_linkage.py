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
# # 02 · Pseudonymised linkage
#
# Program records and NHIS records are joined on keyed hashes of agreed identifiers (two keys, as KISA's
# procedure). Quality per GUILD: match rate overall and by group, linked vs unlinked, and (synthetic data
# only) the missed and false match rates against the true pairs.

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
r = study.linkage_report
pd.Series({"match rate": r["match_rate"], "false match rate": r["evaluation"]["false_match_rate"],
           "missed match rate": r["evaluation"]["missed_match_rate"], **r["status_counts"]})

# %%
pd.DataFrame(r["linked_vs_unlinked"]).T

# %%
from analysis.report import readable

rates = F.match_rate_table(study).copy()  # the released table is shared with the figure below: never change it
is_district = rates.dimension == "district"  # Seoul's districts by name, not SGG code
rates.loc[is_district, "level"] = rates.loc[is_district, "level"].map(lambda c: F.SEOUL_DISTRICTS.get(c, c))
readable(rates)

# %%
study.figure("02_linkage_match_rates");

# %% [markdown]
# From program records to the study's people: the flow diagram of the reports (RECORD 6.3 and 13.1).

# %%
study.figure("13_flow_diagram");

# %% [markdown]
# **What this shows.** A false match rate of 0 and a missed match rate of a few per cent mean linkage adds
# little error of its own; the missed participants stay among the apparent non-participants, which dilutes
# any effect a little. Who is missed matters more than how many: older participants link less often (their
# rate is in the figure), so the study's participants are slightly younger than the city's.
