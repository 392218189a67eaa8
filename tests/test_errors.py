"""One error family and warning classes (``analysis.errors``): the hierarchy, real call sites raising and
warning with their stage's class, a caller filtering one kind of warning, and no bare ``ValueError`` or
category-less ``warnings.warn`` left in the package."""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import errors
from analysis.errors import (
    ConvergenceWarning,
    ExclusionWarning,
    SettingWarning,
    StudyError,
    StudyWarning,
)

PACKAGE = Path(errors.__file__).parent
CLASSES = {n: c for n, c in vars(errors).items() if inspect.isclass(c) and c.__module__ == errors.__name__}
ERRORS = sorted(n for n in CLASSES if n.endswith("Error"))
WARNINGS = sorted(n for n in CLASSES if n.endswith("Warning"))
KINDS = [c for n, c in sorted(CLASSES.items()) if n.endswith("Warning") and c is not StudyWarning]


# ----------------------------------------------------------------------------------------------------------
# the hierarchy


def test_every_class_is_an_error_or_a_warning_and_exported():
    assert set(CLASSES) == set(ERRORS) | set(WARNINGS)
    assert set(errors.__all__) == set(CLASSES)
    assert {"ExclusionWarning", "ConvergenceWarning"} <= set(WARNINGS)


@pytest.mark.parametrize("name", ERRORS)
def test_errors_subclass_study_error(name):
    cls = CLASSES[name]
    assert issubclass(cls, StudyError) and issubclass(cls, ValueError)  # `except ValueError` still catches it
    assert cls.__doc__ and len(cls.__doc__.strip().splitlines()) == 1


@pytest.mark.parametrize("name", WARNINGS)
def test_warnings_subclass_study_warning(name):
    cls = CLASSES[name]
    assert issubclass(cls, StudyWarning) and issubclass(cls, UserWarning)  # UserWarning filters still apply
    assert not issubclass(cls, StudyError)
    assert cls.__doc__ and len(cls.__doc__.strip().splitlines()) == 1


@pytest.mark.parametrize(("module", "name"), [
    ("analysis.config", "ConfigError"),
    ("analysis.phenotypes", "PhenotypeError"),
    ("analysis.formulas", "FormulaError"),
    ("analysis.synth.params", "KnobError"),
    ("analysis.linkage.keys", "LinkageSecretError"),
    ("analysis.panel.schema", "SchemaError"),
    ("analysis.panel.engine", "EngineError"),
    ("analysis.matching.propensity", "MatchingError"),
    ("analysis.did.drdid", "DiDError"),
    ("analysis.did", "DiDError"),
    ("analysis.report.release", "ReleaseError"),
])
def test_old_import_locations_give_the_same_class(module, name):
    assert getattr(importlib.import_module(module), name) is CLASSES[name]


def test_knob_error_keeps_its_key():
    from analysis.synth.params import world_params

    with pytest.raises(errors.KnobError) as info:
        world_params("default", {"no_such_knob": 1.0})
    assert info.value.key == "no_such_knob"


# ----------------------------------------------------------------------------------------------------------
# real call sites


def _panel(first_period_units: int = 0, missing_y: int = 0) -> pd.DataFrame:
    """A small balanced panel, periods 1-4: 8 never-treated units, 8 treated from period 3 (effect 1), and
    ``first_period_units`` treated from period 1; ``missing_y`` outcomes set to NaN."""
    rng = np.random.default_rng(1)
    gs = [0] * 8 + [3] * 8 + [1] * first_period_units
    df = pd.DataFrame([dict(id=i + 1, t=t, g=g, y=rng.normal() + (1.0 if g and t >= g else 0.0))
                       for i, g in enumerate(gs) for t in range(1, 5)])
    df.loc[df.index[:missing_y], "y"] = np.nan
    return df


def _att_gt(df, **kw):
    from analysis.did import att_gt

    return att_gt(df, "y", "t", "id", "g", **{"bstrap": False, "cband": False, **kw})


@functools.cache
def _dynamic_varying_base():
    from analysis.did import aggte

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return aggte(_att_gt(_panel(), base_period="varying"), "dynamic")


@functools.cache
def _honest_reference():
    path = Path(__file__).parent / "data" / "honestdid_reference" / "ehec_medicaid.json"
    ref = json.loads(path.read_text())
    return np.array(ref["betahat"]), np.array(ref["sigma"]), ref["num_pre_periods"], ref["num_post_periods"]


def _near_separation():
    from analysis.matching.propensity import fit_propensity

    x = np.r_[np.linspace(-60, -1, 30), 0.2, -0.2, np.linspace(1, 60, 30)]
    treat = np.r_[np.zeros(30), 0, 1, np.ones(30)]  # one crossing pair: separated almost, not perfectly
    return fit_propensity(treat, pd.DataFrame({"x": x}))


def _honest_narrow_grid():
    from analysis.causal import honest_did

    b, s, npre, npost = _honest_reference()
    # the Mbar = 1 set is about [0.017, 0.072]; a grid inside it is accepted end to end
    return honest_did(b, s, npre, npost, Mvec=[1.0], grid_lb=0.04, grid_ub=0.05, grid_points=5, sims=1000)


def _conf_int_uniform_without_band():
    return _att_gt(_panel()).conf_int(level=0.95, uniform=True)


def _memo_name_taken():
    from analysis.did import cache_info
    from analysis.did.memo import Memo

    assert "att_gt_fits" in cache_info()  # att_gt's cache, made when analysis.did is imported
    return Memo("att_gt_fits", 1)


def _evalue_bad_interval():
    from analysis.causal import e_value

    return e_value(1.0, 1.2, 1.5)


def _honest_asymmetric_sigma():
    from analysis.causal import honest_did

    return honest_did([0.0, 0.1], [[1.0, 0.5], [0.0, 1.0]], 1, 1)


def _bad_sex_code():
    from analysis.linkage.keys import normalise

    df = pd.DataFrame({"name": ["김 민수"], "birth_date": ["1980-01-02"], "sex": ["X"],
                       "phone": ["010-1234-5678"]})
    return normalise(df, "nhis/identifiers")


def _world_scenario_mismatch(tmp_path):
    from analysis.synth import generate_world
    from analysis.synth.params import scenario_params

    return generate_world(tmp_path / "w", scenario="default", params=scenario_params("null"), progress=False)


RAISES = [
    # (call, the stage's class, the message)
    (lambda tmp: importlib.import_module("analysis.formulas").parse("x1 - 1", "xformla"),
     errors.FormulaError, "always has an intercept"),
    (lambda tmp: importlib.import_module("analysis.config").parse_config({"world": {"scael": 1.0}}),
     errors.ConfigError, r"unknown key\(s\) in \[world\]: \['scael'\]"),
    (lambda tmp: _evalue_bad_interval(), errors.SensitivityError, "need conf_low <= estimate <= conf_high"),
    (lambda tmp: _honest_asymmetric_sigma(), errors.SensitivityError, "sigma must be symmetric"),
    (lambda tmp: importlib.import_module("analysis.report.release").ReleaseReview(min_count=0),
     errors.ReleaseError, "min_count must be >= 1; got 0"),
    (lambda tmp: _bad_sex_code(), errors.LinkageError, r"nhis/identifiers\.sex: 1 value\(s\) not in"),
    (lambda tmp: _conf_int_uniform_without_band(), errors.ResultsError, "fit with cband=True"),
    (lambda tmp: _memo_name_taken(), errors.DiDError, "a cache named 'att_gt_fits' exists already"),
    (lambda tmp: _att_gt(_panel().drop(columns="y")), errors.DiDError, r"no column\(s\) \['y'\]"),
    (lambda tmp: _world_scenario_mismatch(tmp), errors.SynthError, "differs from scenario 'default'"),
]


@pytest.mark.parametrize(("call", "cls", "match"), RAISES, ids=[f"{c.__name__}-{i}" for i, (_, c, _) in
                                                                   enumerate(RAISES)])
def test_call_site_raises_its_stage_error(call, cls, match, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StudyWarning)
        with pytest.raises(StudyError, match=match) as info:
            call(tmp_path)
    assert type(info.value) is cls  # the stage's own class, not just the base
    assert isinstance(info.value, ValueError)


WARNS = [
    # (call, the kind of warning, the message)
    (lambda: _att_gt(_panel(first_period_units=4)), ExclusionWarning,
     "data: dropped 4 units already treated in the first period"),
    (lambda: _att_gt(_panel(missing_y=3)), ExclusionWarning, r"data: dropped 3 rows with missing values"),
    (lambda: _att_gt(_panel(), cband=True, biters=50), SettingWarning, "comes from the multiplier bootstrap"),
    (lambda: importlib.import_module("analysis.causal").event_study_inputs(_dynamic_varying_base()),
     SettingWarning, "not estimated with base_period='universal'"),
    (_near_separation, ConvergenceWarning, "near separation"),
    (_honest_narrow_grid, ConvergenceWarning, "reaches the end of the grid"),
]
WARN_IDS = [f"{k.__name__}-{i}" for i, (_, k, _) in enumerate(WARNS)]


@pytest.mark.parametrize(("call", "kind", "match"), WARNS, ids=WARN_IDS)
def test_call_site_warns_its_kind(call, kind, match):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    ours = [w for w in caught if issubclass(w.category, StudyWarning)]
    assert [w.category for w in ours] == [kind] * len(ours) and ours  # this kind only, and at least once
    assert any(re.search(match, str(w.message)) for w in ours)
    assert not [w for w in caught if w.category in (UserWarning, RuntimeWarning)]  # nothing left plain


@pytest.mark.parametrize(("call", "kind", "match"), WARNS, ids=WARN_IDS)
def test_error_filter_escalates_only_that_kind(call, kind, match):
    """``simplefilter("error", K)`` makes the call fail when it warns K, and leaves it alone otherwise."""
    for other in KINDS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", other)
            if other is kind:
                with pytest.raises(kind, match=match):
                    call()
            else:
                call()  # another kind escalated: this call still completes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", StudyWarning)  # the base escalates every kind
        with pytest.raises(kind):
            call()


def test_silencing_one_kind_keeps_the_others():
    """An att_gt that drops units and overrides a setting: ignoring exclusions still shows the setting."""
    df = _panel(first_period_units=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ExclusionWarning)
        res = _att_gt(df, cband=True, biters=50)
    assert [w.category for w in caught] == [SettingWarning]
    # the exclusion is silenced, not lost: the result still counts it
    assert res.exclusions["units already treated in the first period (dropped)"] == 4


# ----------------------------------------------------------------------------------------------------------
# static: one place for the classes, no bare ValueError, no category-less warning


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"


def test_errors_module_imports_nothing_from_the_package():
    tree = ast.parse((PACKAGE / "errors.py").read_text())
    imported = [n.module if isinstance(n, ast.ImportFrom) else a.name
                for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)
                for a in (n.names if isinstance(n, ast.Import) else [None])]
    assert imported == ["__future__"]


def test_no_error_or_warning_class_defined_outside_errors_module():
    found = [f"{_where(p, n)} {n.name}" for p in _modules() if p.name != "errors.py"
             for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, ast.ClassDef)
             and (n.name.endswith("Error") or n.name.endswith("Warning"))]
    assert found == []


def test_no_bare_value_error_raised():
    found = []
    for p in _modules():
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.Raise) and n.exc is not None:
                exc = n.exc.func if isinstance(n.exc, ast.Call) else n.exc
                if isinstance(exc, ast.Name) and exc.id == "ValueError":
                    found.append(_where(p, n))
    assert found == []


def test_every_warning_has_a_study_category():
    found, calls = [], 0
    for p in _modules():
        for n in ast.walk(ast.parse(p.read_text())):
            if not (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "warn"
                    and isinstance(n.func.value, ast.Name) and n.func.value.id == "warnings"):
                continue
            calls += 1
            positional = n.args[1] if len(n.args) > 1 else None
            cat = next((k.value for k in n.keywords if k.arg == "category"), positional)
            if not (isinstance(cat, ast.Name) and cat.id in CLASSES
                    and issubclass(CLASSES[cat.id], StudyWarning)):
                found.append(_where(p, n))
    assert calls >= 10  # the walk sees the package's warnings
    assert found == []
