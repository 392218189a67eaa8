from __future__ import annotations

import pytest

from analysis.config import ConfigError, StudyConfig, load_config, parse_config
from analysis.paths import STUDY_TOML


def test_project_plan_loads_and_matches_defaults():
    cfg = load_config(STUDY_TOML)
    assert cfg.world.scale == 0.025 and cfg.world.scenario == "default"
    assert cfg.outcomes.primary == "medical_cost"
    assert cfg.outcomes.negative_control == "injury_visits"
    assert cfg.matching.ratio == 10
    assert cfg.disclosure.min_cell == 10


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) in \[world\]: \['scael'\]"):
        parse_config({"world": {"scael": 1.0}})


def test_unknown_section_is_named():
    with pytest.raises(ConfigError, match=r"unknown section\(s\) \['matchng'\]"):
        parse_config({"matchng": {}})


def test_bad_literal_names_key_and_allowed_values():
    with pytest.raises(
        ConfigError,
        match=r"did.control_group = 'never' is not allowed; allowed values: "
        r"\['nevertreated', 'notyettreated'\]",
    ):
        parse_config({"did": {"control_group": "never"}})


def test_bad_type_and_range():
    with pytest.raises(ConfigError, match="matching.ratio must be an integer"):
        parse_config({"matching": {"ratio": "ten"}})
    with pytest.raises(ConfigError, match="world.scale must be in"):
        parse_config({"world": {"scale": -1}})
    with pytest.raises(ConfigError, match=r"outcomes.secondary: unknown outcome\(s\) \['steps_walked'\]"):
        parse_config({"outcomes": {"secondary": ["waist", "steps_walked"]}})


def test_overrides_are_validated():
    cfg = StudyConfig()
    assert cfg.with_world(scale=0.5, seed=None).world.scale == 0.5
    with pytest.raises(ConfigError, match="world.scenario"):
        cfg.with_world(scenario="optimistic")
