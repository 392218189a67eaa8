"""The study plan (``study.toml``) parsed into frozen dataclasses and validated once.

Every error names the key (``section.key``), what was given and what is allowed.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from analysis import formulas
from analysis.definitions import (
    CHECKUP_OUTCOMES,
    MATCHING_COVARIATES,
    NC_COST_OUTCOMES,
    PANEL_CLAIMS_OUTCOMES,
)
from analysis.errors import ConfigError
from analysis.paths import STUDY_TOML
from analysis.synth.params import KnobError, WorldParams, knob_types, scenario_params, world_params


@dataclass(frozen=True)
class WorldConfig:
    """``[world]``: the named scenario, its scale and seed, and any knob of the data-generating process
    (a field of ``analysis.synth.params.WorldParams``, under its own name) set on top of the scenario."""

    scenario: Literal["default", "null", "no-selection"] = "default"
    scale: float = 0.025
    seed: int = 9988
    # (knob, value) pairs in the plan's order, validated against WorldParams (see ``params``)
    knobs: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not (0 < self.scale <= 2.0):
            raise ConfigError(f"world.scale must be in (0, 2]; got {self.scale!r}")
        if self.seed < 0:
            raise ConfigError(f"world.seed must be a non-negative integer; got {self.seed!r}")
        self.params  # noqa: B018 -- validates every knob once, here

    @property
    def params(self) -> WorldParams:
        """The scenario's parameters with the plan's knobs set on top."""
        try:
            return world_params(self.scenario, dict(self.knobs))
        except KnobError as e:
            if e.key not in knob_types():
                own = [f.name for f in dataclasses.fields(self) if f.name != "knobs"]
                raise ConfigError(f"unknown key(s) in [world]: [{e.key!r}]; allowed: {own} and the world's "
                                  f"knobs {sorted(knob_types())}") from None
            raise ConfigError(f"world.{e.key}: {e}") from None

    @property
    def changed_knobs(self) -> dict[str, Any]:
        """The knobs whose value differs from the named scenario's (what a report must state)."""
        base, now = dataclasses.asdict(scenario_params(self.scenario)), dataclasses.asdict(self.params)
        return {k: v for k, v in now.items() if v != base[k]}


@dataclass(frozen=True)
class LinkageConfig:
    secret_env: str = "WRIST_LINKAGE_SECRET"
    secret_file: str = ""
    generalise_birth_date: Literal["year", "month"] = "year"
    generalise_district: bool = False


@dataclass(frozen=True)
class PanelConfig:
    baseline_reference_year: int = 2022
    # the outcome definitions (code lists); empty = the package's analysis/phenotypes.toml
    phenotypes: str = ""

    def __post_init__(self) -> None:
        if not (2018 <= self.baseline_reference_year <= 2025):
            raise ConfigError(
                f"panel.baseline_reference_year must be within 2018-2025; got {self.baseline_reference_year}"
            )
        if self.phenotypes:
            from analysis.phenotypes import PhenotypeError, load

            try:
                defs = load(self.phenotypes)
            except PhenotypeError as exc:
                raise ConfigError(f"panel.phenotypes: {exc}") from None
            missing = [o for o in PANEL_CLAIMS_OUTCOMES if o not in defs.outcomes]
            if missing:
                raise ConfigError(f"panel.phenotypes: {self.phenotypes} does not define {missing}, which the "
                                  "panel and the study need")


@dataclass(frozen=True)
class EngineConfig:
    """Where the claim-level work runs (``analysis.panel.engine``): the claims, diagnoses and prescriptions of
    each chunk of persons become person-year outcomes on an embedded DuckDB (memory-limited, spilling to
    the panel folder) or on Spark at ``master`` (``local[2]``, or a cluster's master URL). Both run the same
    query and give identical panels. ``cache_limit_gb`` bounds the memory the DiD estimators keep for the
    next outcome (``analysis.did.set_cache_limit``); like the engine, it changes the time, not the numbers."""

    name: Literal["duckdb", "spark"] = "duckdb"
    master: str = "local[2]"  # Spark only
    memory_limit_gb: float = 4.0  # DuckDB: beyond it, it spills to <panel folder>/spill; Spark: driver memory
    # GiB the estimators' caches hold together (att_gt's fits, twfe's residuals, the bootstrap's weights in
    # the proportions 2:1:2); 0 keeps only each cache's last object
    cache_limit_gb: float = 2.5

    @property
    def cache_limit_bytes(self) -> int:
        """``cache_limit_gb`` in bytes (GiB of 2**30 bytes)."""
        return int(self.cache_limit_gb * 2**30)

    def __post_init__(self) -> None:
        if not (0.1 <= self.memory_limit_gb <= 1024):
            raise ConfigError(f"engine.memory_limit_gb must be within 0.1-1024; got {self.memory_limit_gb}")
        if not (0 <= self.cache_limit_gb <= 1024):
            raise ConfigError(f"engine.cache_limit_gb must be within 0-1024 (GiB the DiD estimators' caches hold "
                              f"together; 2.5 by default); got {self.cache_limit_gb}")
        if not self.master.strip():
            raise ConfigError("engine.master must name a Spark master, such as \"local[2]\" or \"spark://host:7077\"")


@dataclass(frozen=True)
class OutcomesConfig:
    primary: str = "medical_cost"
    secondary: tuple[str, ...] = (
        "waist",
        "sbp",
        "fasting_glucose",
        "bmi",
        "metabolic_syndrome",
        "new_hypertension",
        "new_diabetes",
    )
    negative_control: str = "injury_visits"
    # the empirical-calibration set: costs the program cannot change but care-seeking can (picked before
    # looking at the data); the plan's cost outcomes are calibrated with them (analysis/did/calibration.py)
    negative_controls: tuple[str, ...] = NC_COST_OUTCOMES
    multiplicity: Literal["holm", "BH"] = "holm"

    @property
    def studied(self) -> tuple[str, ...]:
        """Every outcome the plan estimates: the primary, the secondary, the negative control, then the
        negative-control costs of the calibration."""
        return tuple(dict.fromkeys([self.primary, *self.secondary, self.negative_control, *self.negative_controls]))

    def check_known(self, claims_outcomes) -> None:
        """Every outcome named is a checkup measure or a claims outcome of the study's phenotype file (the
        panel's columns); a study adds claims outcomes there, without code."""
        allowed = [*CHECKUP_OUTCOMES, *claims_outcomes]
        for key, names in (
            ("primary", [self.primary]),
            ("secondary", list(self.secondary)),
            ("negative_control", [self.negative_control]),
            ("negative_controls", list(self.negative_controls)),
        ):
            bad = [n for n in names if n not in allowed]
            if bad:
                raise ConfigError(f"outcomes.{key}: unknown outcome(s) {bad}; allowed: the checkup measures "
                                  f"{list(CHECKUP_OUTCOMES)} and the phenotype file's outcomes "
                                  f"{list(claims_outcomes)}")

    def __post_init__(self) -> None:
        if self.primary in self.secondary:
            raise ConfigError(f"outcomes.secondary: {self.primary!r} is the primary outcome; it cannot be a "
                              "secondary one too (the multiplicity adjustment counts it once)")
        if self.negative_control in {self.primary, *self.secondary}:
            raise ConfigError(f"outcomes.negative_control: {self.negative_control!r} is a primary or secondary "
                              "outcome; a negative control is an outcome the program cannot change")
        studied = sorted(set(self.negative_controls) & {self.primary, *self.secondary})
        if studied:
            raise ConfigError(f"outcomes.negative_controls: {studied} are also primary or secondary outcomes; a "
                              "negative control is an outcome the program cannot change")


@dataclass(frozen=True)
class CovariatesConfig:
    """``[covariates]``: the propensity-score terms of the two matching designs, each a term of R's formulas
    (``analysis.formulas``: a column, ``C(column)``, ``I(age_pre^2)``, ``female:age_pre``, ``poly(bmi_pre, 2)``,
    ...) reading only columns of ``analysis.definitions.MATCHING_COVARIATES``."""

    # the risk-set design matches each cohort on the last checkup before it (regression to the mean after an
    # abnormal checkup is matched on, not mistaken for an effect) but not on pre-period costs: the DiD
    # already differences out cost levels, and matching on noisy pre-period outcomes of populations with
    # different means builds regression to the mean into the post-period comparison (Daw and Hatfield 2018,
    # Health Services Research 53(6)); on no-selection worlds with them, the stacked matched DiD missed the
    # truth by -31k KRW on average over 20 worlds (coverage 0.65; benchmarks/bench_did_coverage.py)
    riskset: tuple[str, ...] = (
        "female", "age_pre", "C(district_pre)", "disability_pre", "premium_decile_pre", "chronic_disease",
        "bmi_pre", "waist_pre", "sbp_pre", "fasting_glucose_pre", "no_checkup_pre",
    )
    # the city's five (Seoul, 2025-11): sex, age, disability, premium decile, chronic disease [S]
    published_design: tuple[str, ...] = ("female", "age_pre", "disability_pre", "premium_decile_pre",
                                         "chronic_disease")

    def __post_init__(self) -> None:
        for key in ("riskset", "published_design"):
            terms = getattr(self, key)
            if not terms:
                raise ConfigError(f"covariates.{key} is empty; a propensity model needs at least one term "
                                  "(the city's design uses five)")
            for t in terms:
                try:
                    rhs = formulas.parse(t, f"covariates.{key} term")
                except formulas.FormulaError as e:
                    raise ConfigError(str(e)) from None
                bad = [v for v in rhs.variables if v not in MATCHING_COVARIATES]
                if bad or not rhs.terms:
                    raise ConfigError(
                        f"covariates.{key}: term {t!r} reads {bad or 'no column'}; allowed: terms of the columns "
                        f"{list(MATCHING_COVARIATES)} (measured before each cohort's enrolment), e.g. 'age_pre', "
                        "'C(district_pre)', 'I(age_pre^2)'")


@dataclass(frozen=True)
class MatchingConfig:
    """``[matching]``: nearest-neighbour propensity matching of the risk-set design (MatchIt's arguments)."""

    distance: Literal["glm", "logit"] = "glm"
    ratio: int = 10
    replace: bool = False
    caliper: float | None = 0.2
    std_caliper: bool = True
    m_order: Literal["largest", "smallest", "random", "data"] = "largest"

    def __post_init__(self) -> None:
        if self.ratio < 1:
            raise ConfigError(f"matching.ratio must be >= 1; got {self.ratio}")
        if self.caliper is not None and self.caliper <= 0:
            raise ConfigError(f"matching.caliper must be positive; got {self.caliper}")


@dataclass(frozen=True)
class DidConfig:
    control_group: Literal["nevertreated", "notyettreated"] = "notyettreated"
    est_method: Literal["dr", "ipw", "reg"] = "dr"
    anticipation: int = 0
    base_period: Literal["varying", "universal"] = "varying"
    biters: int = 999
    alp: float = 0.05
    # R formula terms of panel columns, per person or per year; att_gt reads a time-varying one at each
    # comparison's earlier period, for everybody in it: the drugs taken the year before a cohort joins, when
    # the program recruits people with chronic disease, not a fixed flag (chronic_at_entry, the extract's
    # first year, is years stale by 2024) nor the baseline chronic_disease (it holds the compared pre-years'
    # diagnoses: panel.chronic_at_entry). Age as a cubic: joining is hump-shaped in age (most in the 50s,
    # fewer at both ends, early waves capped at 69 and 75 [S]) and care costs rise steeply with it [A], which
    # a straight line in either model of the doubly robust estimator cannot follow
    covariates: tuple[str, ...] = ("female", "poly(birth_year, 3)", "disability", "premium_decile",
                                   "chronic_drug")
    seed: int = 20251125
    # where no design passes its pre-test, the headline is the Rambachan-Roth range at this Mbar: post-
    # enrolment divergence up to Mbar times the largest pre-enrolment one (relative magnitudes)
    bounds_mbar: float = 1.0

    @property
    def xformla(self) -> str | None:
        """The covariates as att_gt's ``xformla`` (``"~ a + b"``; None without covariates)."""
        return "~ " + " + ".join(self.covariates) if self.covariates else None

    @property
    def variables(self) -> tuple[str, ...]:
        """The panel columns the covariate terms read, in order of first use."""
        return formulas.parse(self.xformla or "1", "did.covariates").variables

    def check_panel(self, panel) -> None:
        """Each covariate is a column of the built panel that varies (checked once the panel exists, before
        any estimation, so a typo fails in seconds rather than in the DiD step)."""
        missing = [c for c in self.variables if c not in panel.columns]
        if missing:
            raise ConfigError(f"did.covariates: {missing} are not columns of the panel; it has "
                              f"{sorted(panel.columns)}")
        constant = [c for c in self.variables if panel[c].nunique(dropna=False) < 2]
        if constant:
            raise ConfigError(f"did.covariates: {constant} take one value in the whole panel, so they cannot "
                              "adjust for anything; remove them")

    def __post_init__(self) -> None:
        if self.anticipation < 0:
            raise ConfigError(f"did.anticipation must be >= 0; got {self.anticipation}")
        # the first cohort (2021) needs a base year before anticipation starts, and the data start in 2017
        if self.anticipation > 3:
            raise ConfigError(f"did.anticipation = {self.anticipation} leaves the 2021 cohort no base year in "
                              "the data (2017 onwards); at most 3")
        for t in self.covariates:
            try:
                formulas.parse(t, "did.covariates term")
            except formulas.FormulaError as e:
                raise ConfigError(str(e)) from None
        design = sorted(set(self.variables) & {"study_id", "year", "first_treat", "baseline_year", "treated",
                                                "event_time", "sub_experiment", "weights"})
        if design:
            raise ConfigError(f"did.covariates: {design} are identifiers or the design's own columns, not "
                              "covariates")
        if not (0 < self.alp <= 0.5):
            raise ConfigError(f"did.alp must be in (0, 0.5] (0.05 for 95% intervals); got {self.alp}")
        # the uniform band's critical value is a quantile of the draws: with fewer it is noise
        if self.biters < 99:
            raise ConfigError(f"did.biters must be >= 99 (R did's default is 1000); got {self.biters}")
        if self.seed < 0:
            raise ConfigError(f"did.seed must be a non-negative integer; got {self.seed}")
        if not (0 <= self.bounds_mbar <= 10):
            raise ConfigError(f"did.bounds_mbar must be within 0-10; got {self.bounds_mbar}")


@dataclass(frozen=True)
class RefutationConfig:
    simulations: int = 100  # per DoWhy refuter (placebo, random common cause, subsets, bootstrap)
    placebo_shift: int = 2  # placebo in time: enrolment pretended this many years earlier
    seed: int = 20251126

    def __post_init__(self) -> None:
        if self.simulations < 1:
            raise ConfigError(f"refutation.simulations must be >= 1; got {self.simulations}")
        if self.placebo_shift < 1:
            raise ConfigError(f"refutation.placebo_shift must be >= 1; got {self.placebo_shift}")
        if self.seed < 0:
            raise ConfigError(f"refutation.seed must be a non-negative integer; got {self.seed}")


# the package's disclosure floors: a plan may be stricter; weaker needs override_floors = true, and the
# manifest and the report say so
DISCLOSURE_FLOORS = {"min_cell": 10, "dominance": 0.5, "min_residual_df": 10}


@dataclass(frozen=True)
class DisclosureConfig:
    min_cell: int = 10
    dominance: float = 0.5
    min_residual_df: int = 10
    override_floors: bool = False

    @property
    def below_floors(self) -> tuple[str, ...]:
        """The rules this plan sets weaker than the package's floors (allowed only with override_floors)."""
        weaker = {"min_cell": self.min_cell < DISCLOSURE_FLOORS["min_cell"],
                  "dominance": self.dominance > DISCLOSURE_FLOORS["dominance"],
                  "min_residual_df": self.min_residual_df < DISCLOSURE_FLOORS["min_residual_df"]}
        return tuple(k for k, w in weaker.items() if w)

    def __post_init__(self) -> None:
        if self.min_cell < 1:
            raise ConfigError(f"disclosure.min_cell must be >= 1; got {self.min_cell}")
        if not (0 < self.dominance <= 1):
            raise ConfigError(f"disclosure.dominance must be in (0, 1]; got {self.dominance}")
        if self.min_residual_df < 1:
            raise ConfigError(f"disclosure.min_residual_df must be >= 1; got {self.min_residual_df}")
        if self.below_floors and not self.override_floors:
            given = ", ".join(f"{k} = {getattr(self, k)} (floor {DISCLOSURE_FLOORS[k]})" for k in self.below_floors)
            raise ConfigError(f"disclosure: {given} is weaker than the package's floor; a closed room may allow "
                              "it, but only with override_floors = true, which the report and manifest state")
        if self.override_floors and not self.below_floors:
            raise ConfigError("disclosure.override_floors = true but no rule is below its floor; remove it")


@dataclass(frozen=True)
class ReportConfig:
    """What the rendered report sets the estimates against: the city's published figures [S] and the
    program's scale and unit costs (points come from the activity table; the device price is an [A])."""

    published_did: float = -45_345.0  # KRW per person, 2021 -> 2023 (Seoul, 2025-11) [S]
    published_savings: float = 113.4e9  # KRW per year at 2.5M participants, the city's extrapolation [S]
    participants: int = 2_500_000  # the scale the city quotes [S]
    device_cost: float = 50_000.0  # KRW per band lent by the city up to 2023 [A]: entry-level band price
    headline: Literal["auto", "callaway_santanna", "callaway_santanna_trend", "callaway_santanna_calibrated",
                      "published", "stacked_matched"] = "auto"  # auto: the rule in analysis/did/headline.py

    def __post_init__(self) -> None:
        if self.participants < 1:
            raise ConfigError(f"report.participants must be >= 1; got {self.participants}")
        if self.device_cost < 0:
            raise ConfigError(f"report.device_cost must be >= 0; got {self.device_cost}")


@dataclass(frozen=True)
class StudyConfig:
    world: WorldConfig = field(default_factory=WorldConfig)
    linkage: LinkageConfig = field(default_factory=LinkageConfig)
    panel: PanelConfig = field(default_factory=PanelConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    outcomes: OutcomesConfig = field(default_factory=OutcomesConfig)
    covariates: CovariatesConfig = field(default_factory=CovariatesConfig)
    matching: MatchingConfig = field(default_factory=MatchingConfig)
    did: DidConfig = field(default_factory=DidConfig)
    refutation: RefutationConfig = field(default_factory=RefutationConfig)
    disclosure: DisclosureConfig = field(default_factory=DisclosureConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def __post_init__(self) -> None:
        self.outcomes.check_known(self.phenotypes.outcomes)
        # att_gt reads a covariate at each comparison's earlier period, so a yearly measure there is a
        # pre-enrolment one; but an outcome the plan estimates would be adjusted for its own earlier level,
        # which moves with chance before joining and regresses after (Daw and Hatfield 2018)
        outcomes = sorted(set(self.did.variables) & set(self.outcomes.studied))
        if outcomes:
            raise ConfigError(f"did.covariates: {outcomes} are outcomes the plan estimates; adjusting a "
                              "comparison for the outcome's own earlier level builds in its regression to the "
                              "mean (Daw and Hatfield 2018): use another measure")

    @functools.cached_property
    def phenotypes(self):
        """The outcome definitions the panel is built with (``panel.phenotypes``, else the package's)."""
        from analysis.phenotypes import load

        return load(self.panel.phenotypes or None)

    def with_world(self, **overrides: Any) -> StudyConfig:
        """Return a copy with ``[world]`` keys overridden (None values are ignored)."""
        kept = {k: v for k, v in overrides.items() if v is not None}
        if not kept:
            return self
        hints = typing.get_type_hints(WorldConfig)
        checked = {k: _check_value("world", k, v, hints[k]) for k, v in kept.items()}
        return dataclasses.replace(self, world=dataclasses.replace(self.world, **checked))


def _check_value(section: str, name: str, value: Any, annotation: Any) -> Any:
    where = f"{section}.{name}"
    origin = typing.get_origin(annotation)
    if origin is Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise ConfigError(f"{where} = {value!r} is not allowed; allowed values: {list(allowed)}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None or value == "none":
            return None
        return _check_value(section, name, value, args[0])
    if origin is tuple:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings; got {value!r}")
        repeated = sorted({v for v in value if list(value).count(v) > 1})
        if repeated:
            raise ConfigError(f"{where}: {repeated} listed more than once")
        return tuple(value)
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false; got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer; got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number; got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string; got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {annotation!r} for {where}")  # pragma: no cover


def _build(cls: type, raw: dict[str, Any], section: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    if cls is WorldConfig:  # the world's knobs sit beside its own keys, under WorldParams' field names
        names.discard("knobs")
        knobs = tuple((k, v) for k, v in raw.items() if k not in names)
        own = {k: v for k, v in raw.items() if k in names}
        return cls(**{k: _check_value(section, k, v, hints[k]) for k, v in own.items()}, knobs=knobs)
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"unknown key(s) in [{section}]: {unknown}; allowed: {sorted(names)}")
    values = {k: _check_value(section, k, v, hints[k]) for k, v in raw.items()}
    return cls(**values)


def parse_config(raw: dict[str, Any]) -> StudyConfig:
    """Validate a parsed TOML mapping and build a :class:`StudyConfig`."""
    hints = typing.get_type_hints(StudyConfig)
    unknown = sorted(set(raw) - set(hints))
    if unknown:
        raise ConfigError(f"unknown section(s) {unknown}; allowed: {sorted(hints)}")
    sections = {}
    for name, cls in hints.items():
        body = raw.get(name, {})
        if not isinstance(body, dict):
            raise ConfigError(f"[{name}] must be a table; got {body!r}")
        sections[name] = _build(cls, body, name)
    return StudyConfig(**sections)


def load_config(path: str | Path | None = None) -> StudyConfig:
    """Read and validate a study plan (default: the project's ``study.toml``)."""
    path = Path(path) if path is not None else STUDY_TOML
    if not path.exists():
        raise ConfigError(f"study plan not found: {path}")
    with path.open("rb") as fh:
        try:
            raw = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    if not any(raw.values()):  # every default taken silently would pass for a stated design
        raise ConfigError(f"{path} sets no key: a study plan states its design; start from the project's "
                          "study.toml, or give no --config to use it")
    return parse_config(raw)
