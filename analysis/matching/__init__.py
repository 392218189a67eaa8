"""Propensity scores, matching, weighting and balance with MatchIt/WeightIt semantics."""

from analysis.matching.matchit import MatchItResult, MatchItSummary, matchit
from analysis.matching.propensity import MatchingError, fit_propensity
from analysis.matching.weightit import WeightItResult, trim, weightit

__all__ = [
    "MatchItResult",
    "MatchItSummary",
    "MatchingError",
    "WeightItResult",
    "fit_propensity",
    "matchit",
    "trim",
    "weightit",
]
