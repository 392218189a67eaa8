"""Propensity scores, matching, weighting and balance with MatchIt/WeightIt semantics."""

from analysis.matching.matchit import MatchItResult, MatchItSummary, matchit
from analysis.matching.propensity import MatchingError, fit_propensity

__all__ = ["MatchItResult", "MatchItSummary", "MatchingError", "fit_propensity", "matchit"]
