"""The synthetic Seoul world: NHIS qualification, checkups and claims, program records, and the truth."""

from analysis.synth.params import WorldParams, scenario_params
from analysis.synth.world import generate_world

__all__ = ["WorldParams", "generate_world", "scenario_params"]
