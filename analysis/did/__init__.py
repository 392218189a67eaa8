"""Difference-in-differences for staggered enrolment: Callaway-Sant'Anna (``att_gt``, ``aggte``) with R
did's semantics, the same net of cohorts' linear
pre-trends (``trend_adjusted``), two-way fixed effects as the benchmark (``twfe``), stacked matched DiD (``stacked_did``),
the city's published 2x2 design (``did_2x2``), the ratio-scale DiD for costs and counts (``poisson_etwfe``), and
every outcome of the plan in one call. The estimators keep outcome-free parts for the next outcome
(bounded caches): ``cache_info()`` shows them, ``clear_caches()`` releases them, ``set_cache_limit()`` bounds
them (the plan's ``engine.cache_limit_gb``)."""

from analysis.did.aggte import AggteResult, aggte
from analysis.did.attgt import AttGtResult, att_gt
from analysis.did.drdid import DiDError
from analysis.did.etwfe import EtwfeResult, poisson_etwfe
from analysis.did.memo import cache_info, clear_caches, set_cache_limit
from analysis.did.stacked import MatchedDiDResult, did_2x2, stacked_did
from analysis.did.trend import trend_adjusted
from analysis.did.twfe import NegativeWeightsResult, TwfeResult, negative_weights, twfe

__all__ = ["AggteResult", "AttGtResult", "DiDError", "EtwfeResult", "MatchedDiDResult", "NegativeWeightsResult", "TwfeResult",
           "aggte", "att_gt", "cache_info", "clear_caches", "did_2x2", "negative_weights", "poisson_etwfe", "set_cache_limit",
           "stacked_did", "trend_adjusted", "twfe"]
