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


def test_covariates_name_columns_measured_before_enrolment():
    cfg = parse_config({"covariates": {"riskset": ["female", "C(district_pre)", "cost_pre1", "I(age_pre^2)",
                                                   "female:age_pre"]}})
    assert cfg.covariates.riskset == ("female", "C(district_pre)", "cost_pre1", "I(age_pre^2)", "female:age_pre")
    with pytest.raises(ConfigError, match=r"covariates.riskset: term 'shoe_size' reads \['shoe_size'\]"):
        parse_config({"covariates": {"riskset": ["female", "shoe_size"]}})
    with pytest.raises(ConfigError, match=r"covariates.published_design: term 'C\(study_id\)' reads \['study_id'\]"):
        parse_config({"covariates": {"published_design": ["C(study_id)"]}})
    with pytest.raises(ConfigError, match=r"term 'I\(age_pre\^2\) \* bmi' reads \['bmi'\]"):
        parse_config({"covariates": {"riskset": ["I(age_pre^2) * bmi"]}})
    with pytest.raises(ConfigError, match=r"covariates.riskset term 'age_pre \+' cannot be read"):
        parse_config({"covariates": {"riskset": ["age_pre +"]}})
    with pytest.raises(ConfigError, match="covariates.published_design is empty"):
        parse_config({"covariates": {"published_design": []}})
    with pytest.raises(ConfigError, match=r"covariates.riskset: \['female'\] listed more than once"):
        parse_config({"covariates": {"riskset": ["female", "female"]}})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) in \[covariates\]: \['baseline'\]"):
        parse_config({"covariates": {"baseline": ["female"]}})


def test_values_that_would_fail_later_are_refused_at_load():
    with pytest.raises(ConfigError, match="did.covariates: \\['study_id'\\] are identifiers"):
        parse_config({"did": {"covariates": ["female", "study_id"]}})
    with pytest.raises(ConfigError, match="did.covariates: \\['waist'\\] are outcomes"):
        parse_config({"did": {"covariates": ["waist"]}})
    # a yearly measure the plan does not estimate is read at each comparison's earlier period: allowed
    assert parse_config({"did": {"covariates": ["female", "lipid_drug"]}}).did.covariates == ("female", "lipid_drug")
    with pytest.raises(ConfigError, match="did.anticipation = 50 leaves the 2021 cohort no base year"):
        parse_config({"did": {"anticipation": 50}})
    assert parse_config({"did": {"anticipation": 3}}).did.anticipation == 3
    with pytest.raises(ConfigError, match="disclosure.min_residual_df must be >= 1; got -5"):
        parse_config({"disclosure": {"min_residual_df": -5}})


def test_did_covariates_are_checked_against_the_built_panel():
    import pandas as pd

    panel = pd.DataFrame({"female": [0, 1], "birth_year": [1960, 1960], "shoe": [1, 2]})
    dc = parse_config({"did": {"covariates": ["female", "shoe_size"]}}).did
    with pytest.raises(ConfigError, match=r"did.covariates: \['shoe_size'\] are not columns of the panel"):
        dc.check_panel(panel)
    dc = parse_config({"did": {"covariates": ["female", "birth_year"]}}).did
    with pytest.raises(ConfigError, match=r"did.covariates: \['birth_year'\] take one value"):
        dc.check_panel(panel)
    parse_config({"did": {"covariates": ["female", "shoe"]}}).did.check_panel(panel)  # no error


def test_an_empty_plan_is_refused(tmp_path):
    for text in ("", "[world]\n[did]\n"):
        (tmp_path / "plan.toml").write_text(text)
        with pytest.raises(ConfigError, match="plan.toml sets no key: a study plan states its design"):
            load_config(tmp_path / "plan.toml")


@pytest.mark.parametrize("raw, message", [
    ({"outcomes": {"secondary": ["medical_cost", "waist"]}}, "outcomes.secondary: 'medical_cost' is the primary"),
    ({"outcomes": {"negative_control": "waist"}}, "outcomes.negative_control: 'waist' is a primary or secondary"),
    ({"outcomes": {"secondary": ["waist", "waist"]}}, r"outcomes.secondary: \['waist'\] listed more than once"),
    ({"did": {"covariates": ["female", "female"]}}, r"did.covariates: \['female'\] listed more than once"),
    ({"did": {"alp": 0.9}}, r"did.alp must be in \(0, 0.5\]"),
    ({"did": {"biters": 1}}, "did.biters must be >= 99"),
    ({"did": {"seed": -1}}, "did.seed must be a non-negative integer"),
    ({"refutation": {"seed": -3}}, "refutation.seed must be a non-negative integer"),
])
def test_plans_that_would_mislead_are_refused(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_cache_limit_is_a_plan_key_the_run_applies():
    from analysis.did import cache_info, set_cache_limit

    engine = parse_config({"engine": {"cache_limit_gb": 1.25}}).engine
    assert engine.cache_limit_gb == 1.25 and engine.cache_limit_bytes == 5 * 2**28
    assert load_config(STUDY_TOML).engine.cache_limit_gb == 2.5  # the plan states the default
    with pytest.raises(ConfigError, match="engine.cache_limit_gb must be within 0-1024"):
        parse_config({"engine": {"cache_limit_gb": -1}})
    with pytest.raises(ConfigError, match="engine.cache_limit_gb must be a number; got '2GB'"):
        parse_config({"engine": {"cache_limit_gb": "2GB"}})
    before = {name: c["max_bytes"] for name, c in cache_info().items()}
    assert set(before) == {"att_gt_fits", "twfe_residuals", "bootstrap_weights"}
    try:
        # what run_pipeline does first: the total is shared in the caches' own proportions (2:1:2)
        assert set_cache_limit(engine.cache_limit_bytes) == before
        after = {name: c["max_bytes"] for name, c in cache_info().items()}
        assert after == {"att_gt_fits": 2**29, "twfe_residuals": 2**28, "bootstrap_weights": 2**29}
        assert sum(after.values()) == engine.cache_limit_bytes
    finally:
        set_cache_limit(sum(before.values()))
    assert {name: c["max_bytes"] for name, c in cache_info().items()} == before


def test_did_covariates_are_formula_terms_whose_columns_are_checked():
    """A term such as the plan's ``poly(birth_year, 3)`` reads its column: the checks against identifiers,
    outcomes and the built panel look at the columns the terms read, and an unreadable term is an error."""
    import pandas as pd

    dc = parse_config({"did": {"covariates": ["female", "poly(birth_year, 3)"]}}).did
    assert dc.variables == ("female", "birth_year") and dc.xformla == "~ female + poly(birth_year, 3)"
    with pytest.raises(ConfigError, match=r"did.covariates: \['birth_year'\] take one value"):
        dc.check_panel(pd.DataFrame({"female": [0, 1], "birth_year": [1960, 1960]}))
    with pytest.raises(ConfigError, match=r"did.covariates: \['shoe_size'\] are not columns of the panel"):
        parse_config({"did": {"covariates": ["poly(shoe_size, 2)"]}}).did.check_panel(
            pd.DataFrame({"female": [0, 1]}))
    with pytest.raises(ConfigError, match=r"did.covariates: \['waist'\] are outcomes"):
        parse_config({"did": {"covariates": ["I(waist^2)"]}})
    with pytest.raises(ConfigError, match=r"did.covariates term 'poly\(birth_year,' cannot be read"):
        parse_config({"did": {"covariates": ["poly(birth_year,"]}})
