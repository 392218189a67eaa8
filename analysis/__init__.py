"""Causal evaluation of Seoul's 손목닥터9988 wearable health program.

The data's journey, one sub-package per stage:
``synth`` (synthetic linked world) -> ``linkage`` (pseudonymised linkage) -> ``panel`` (analysis panel)
-> ``matching`` -> ``did`` -> ``causal`` -> ``report``. A stage imports only the stages before it.
"""

from __future__ import annotations

__version__ = "0.1.0"
