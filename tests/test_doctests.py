"""The Examples sections of the public estimators run as doctests (issue 17, item 6): each builds a panel of a
few dozen rows and prints a rounded number, so a change of behaviour shows as a failing example.

The modules are listed rather than collected with ``--doctest-modules``, which would import every module
of the package (DoWhy, Spark, the world generator) to find none."""

from __future__ import annotations

import doctest
import importlib

import pytest

# the public estimators, each with numpydoc Parameters, Returns and a runnable Examples section
ESTIMATORS = {
    "analysis.panel.example": ["example_panel"],
    "analysis.matching.propensity": ["fit_propensity"],
    "analysis.matching.matchit": ["matchit"],
    "analysis.matching.weightit": ["weightit", "trim"],
    "analysis.matching.riskset": ["riskset_match", "published_design"],
    "analysis.did.attgt": ["att_gt"],
    "analysis.did.aggte": ["aggte"],
    "analysis.did.twfe": ["twfe", "negative_weights"],
    "analysis.did.stacked": ["stacked_did", "did_2x2"],
    "analysis.did.etwfe": ["poisson_etwfe"],
    "analysis.did.trend": ["trend_adjusted"],
    "analysis.did.designs": ["later_joiners", "screening_window"],
    "analysis.did.calibration": ["fit_null"],
    "analysis.did.memo": ["set_cache_limit"],
    "analysis.causal.dowhy_checks": ["dowhy_analysis"],
    "analysis.causal.falsification": ["placebo_in_time", "published_event_study"],
    "analysis.causal.sensitivity": ["honest_did", "e_value", "event_study_inputs"],
}
OTHERS = ["analysis.summary"]  # modules with examples that are not estimators


@pytest.mark.parametrize("module", [*ESTIMATORS, *OTHERS])
def test_examples_run(module):
    mod = importlib.import_module(module)  # the module itself: analysis.did.aggte is also a function's name
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS, report=True)
    assert result.attempted > 0, f"{module}: no example ran"
    assert result.failed == 0, f"{module}: {result.failed} of {result.attempted} examples failed (see above)"


@pytest.mark.parametrize("module, name", [(m, n) for m, names in ESTIMATORS.items() for n in names])
def test_public_estimators_document_parameters_returns_and_examples(module, name):
    doc = getattr(importlib.import_module(module), name).__doc__
    for section in ("Parameters", "Returns", "Examples"):
        assert f"\n    {section}\n    {'-' * len(section)}\n" in doc, f"{module}.{name}: no {section} section"
    assert ">>> " in doc.split("Examples", 1)[1], f"{module}.{name}: its Examples section has no example"
