"""Parameters of the synthetic Seoul world, with the source label of each default.

Labels follow ``shared/calibration.md``: [S] stated in a public source, [D] derived from a public micro-data
sample, [A] an informed assumption (a parameter with this default), [C] calibrated here so that the world
reproduces a [S] target (the target is named).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

import numpy as np

from analysis.errors import KnobError

YEARS = tuple(range(2017, 2026))
T = len(YEARS)
FIRST_YEAR = YEARS[0]
# months are indexed from 2017-01 (= 0); the program runs from 2021-11 (= 58) to 2025-12 (= 107)
PROGRAM_START_MONTH = (2021 - FIRST_YEAR) * 12 + 10
LAST_MONTH = (2025 - FIRST_YEAR) * 12 + 11
CHUNK_PERSONS = 250_000  # fixed, so that files do not depend on how many chunks a scale needs

SEOUL_ADULTS = 8_200_000  # persons in the world at scale 1 [S: ~8.2M adults]

# Seoul's 25 districts (SGG code, approximate population in thousands [S: resident registration],
# affluence index used for the premium decile [A])
DISTRICTS = (
    (11110, 140, 0.3),
    (11140, 120, 0.3),
    (11170, 215, 0.5),
    (11200, 285, 0.2),
    (11215, 335, 0.0),
    (11230, 340, -0.2),
    (11260, 385, -0.4),
    (11290, 430, 0.0),
    (11305, 295, -0.4),
    (11320, 310, -0.3),
    (11350, 500, -0.3),
    (11380, 465, -0.2),
    (11410, 305, 0.0),
    (11440, 370, 0.3),
    (11470, 440, 0.2),
    (11500, 565, -0.1),
    (11530, 400, -0.3),
    (11545, 230, -0.4),
    (11560, 375, 0.0),
    (11590, 380, 0.1),
    (11620, 490, -0.3),
    (11650, 410, 0.9),
    (11680, 530, 1.0),
    (11710, 655, 0.6),
    (11740, 460, 0.2),
)

# age in 2017: band edges and relative weights (entrants aged 11-18 in 2017 turn 19 by 2025) [A]
AGE2017_BANDS = (
    (11, 19, 7.5),
    (19, 30, 17.0),
    (30, 40, 16.5),
    (40, 50, 16.5),
    (50, 60, 16.0),
    (60, 70, 12.0),
    (70, 80, 7.0),
    (80, 90, 3.0),
    (90, 101, 0.5),
)

# participants' age at joining, 2.18M users [S]: 10-20s, 30s, 40s, 50s, 60s, 70+
JOIN_AGE_BANDS = ((0, 30), (30, 40), (40, 50), (50, 60), (60, 70), (70, 200))
JOIN_AGE_MIX = (0.109, 0.179, 0.206, 0.229, 0.178, 0.099)

# enrolment: (year, month, cumulative participants at the end of that month, min age, max age) [S]
# 2021-11 pilot 50k (19-64); 2022-12 +180k (19-69); 2023 Aug/Nov/Dec to 450k (19-75); rolling from 2024-03,
# no upper age cap; 1.00M 2024-06, 1.50M 2024-11, 2.00M 2025-04, 2.46M 2025-09, 2.55M 2025-11 [S];
# 2025-12 2.60M [A, extrapolated]. Months between milestones are filled linearly. The 2025 rule admits
# 18-year-olds [S]; the world's population is 19+ (NHIS adults), so 18-year-olds are left out.
ENROLMENT_MILESTONES = (
    (2021, 11, 50_000, 19, 64),
    (2022, 12, 230_000, 19, 69),
    (2023, 8, 310_000, 19, 75),
    (2023, 11, 380_000, 19, 75),
    (2023, 12, 450_000, 19, 75),
    (2024, 6, 1_000_000, 19, 200),
    (2024, 11, 1_500_000, 19, 200),
    (2025, 4, 2_000_000, 19, 200),
    (2025, 9, 2_460_000, 19, 200),
    (2025, 11, 2_550_000, 19, 200),
    (2025, 12, 2_600_000, 19, 200),
)
ROLLING_FROM = (2024, 3)  # rolling monthly enrolment from 2024-03 [S]
PARTICIPANT_FEMALE = 0.65  # [S]


# How the negative-control care categories (``analysis.definitions.CARE_CATEGORIES``) behave in the world:
# share with any use in a year among those with any care that year, median cost when used (KRW), sdlog, and how strongly health consciousness
# moves the category's trend relative to general outpatient care [A], fixed before any estimate was looked
# at: preventive visits and dental care are the most "health-seeking", skin and ear care the least.
NC_CATEGORY_PARAMS = {
    "dental": (0.38, 110_000, 1.0, 1.2),
    "eye": (0.22, 60_000, 0.9, 0.9),
    "skin": (0.18, 45_000, 0.9, 0.7),
    "ear": (0.12, 40_000, 0.8, 0.8),
    "preventive": (0.20, 30_000, 0.7, 1.4),
}
TREND_FORMS = ("linear", "accelerating", "shift")


def knob(default: float, lo: float, hi: float):
    """A settable numeric knob with its allowed range (inclusive): wide enough for any stress test, narrow
    enough that a typo (a cost trend of 3 = x20 a year) is an error rather than a world."""
    return dataclasses.field(default=default, metadata={"range": (lo, hi)})


@dataclass(frozen=True)
class WorldParams:
    """Knobs of the data-generating process. ``scenario_params`` gives the three named scenarios; any field
    but ``scenario`` can be set on top of one in the plan's ``[world]`` table under its own name."""

    scenario: str = "default"
    # --- selection into the program (enrolment score = sum of terms + Gumbel noise, top-k per stratum)
    select_health_conscious: float = knob(1.0, -5.0, 5.0)  # [A] latent health consciousness H
    select_abnormal_checkup: float = knob(0.7, -5.0, 5.0)  # [A] joining after an abnormal checkup (regression to the mean)
    select_premium: float = knob(0.15, -5.0, 5.0)  # [A] per SD of premium decile
    select_chronic: float = knob(0.2, -5.0, 5.0)  # [A] metabolic-syndrome quotas 2022-23 [S] and chronic patients
    select_disability: float = knob(-0.3, -5.0, 5.0)  # [A]
    # --- differential checkup attendance: logit slope on H [A]; intercept [C: 74.5% attendance when due]
    attend_health_conscious: float = knob(0.5, -5.0, 5.0)
    attend_intercept: float = knob(1.22, -5.0, 5.0)
    # --- health-conscious people's costs grow more slowly (log-cost slope per SD of H per year) [C: the
    # city's design on this world lands near -45,345 KRW, about 2-3x the true effect]
    cost_trend_health_conscious: float = knob(-0.016, -0.2, 0.2)
    # --- health-conscious people's checkup measures improve over the years (per SD of H per year, in SDs of
    # each measure; negative = healthier: lower BMI, waist, BP and glucose, higher HDL) [A: 0, none]
    measure_trend_health_conscious: float = knob(0.0, -0.2, 0.2)
    # --- the form of H's influence over time, f(t) with t = years since 2017, for both trends above:
    # "linear" f = t; "accelerating" f = t^2 / 8 (flat before enrolment, steep after; equal to linear in
    # 2025); "shift" f = 4 from ``trend_shift_year`` on, 0 before (a level shift of half linear's 2025 value)
    trend_form: str = "linear"
    trend_shift_year: int = knob(2022, 2018, 2025)
    # --- how strongly the care-seeking trend moves the negative-control care categories (CARE_CATEGORIES),
    # relative to general outpatient care: 1 = as the table says, 0 = controls blind to it [A]
    nc_trend_scale: float = knob(1.0, -5.0, 5.0)
    # --- the program's true effect (all multiplied by effect_scale; 0 in the null scenario)
    effect_scale: float = knob(1.0, 0.0, 10.0)
    step_increment: float = knob(1000.0, 0.0, 5000.0)  # [A] max extra steps/day at full engagement (before heterogeneity)
    # per 1,000 program-induced steps/day (current-year mean) [A: calibration.md section 4]
    eff_waist: float = knob(-0.55, -10.0, 10.0)
    eff_bmi: float = knob(-0.16, -10.0, 10.0)
    eff_sbp: float = knob(-1.1, -20.0, 20.0)
    eff_dbp: float = knob(-0.35, -20.0, 20.0)
    eff_fbs: float = knob(-0.8, -20.0, 20.0)
    eff_hdl: float = knob(0.4, -10.0, 10.0)
    eff_log_hazard: float = knob(-0.05, -1.0, 1.0)  # new hypertension/diabetes/dyslipidaemia, x0.95 per 1,000 steps
    eff_log_cost: float = knob(-0.025, -0.5, 0.5)  # per 1,000 steps x years of cumulative dose (-1% to -2% a year)

    def __post_init__(self) -> None:
        if self.scenario not in ("default", "null", "no-selection"):
            raise KnobError(
                "scenario",
                f"unknown scenario {self.scenario!r}; allowed: ['default', 'null', 'no-selection']",
            )
        if self.trend_form not in TREND_FORMS:
            raise KnobError("trend_form", f"trend_form = {self.trend_form!r}; allowed: {list(TREND_FORMS)}")
        for f in dataclasses.fields(self):
            if "range" not in f.metadata:
                continue
            name, (lo, hi) = f.name, f.metadata["range"]
            v = getattr(self, name)
            if not (lo <= v <= hi):
                raise KnobError(name, f"{name} = {v!r} is out of range; allowed: {lo} to {hi}")

    def trend_profile(self) -> np.ndarray:
        """f(t) per year (T,): how H's influence on outcome trends grows over 2017-2025 (``trend_form``)."""
        t = np.arange(T, dtype=float)
        if self.trend_form == "linear":
            return t
        if self.trend_form == "accelerating":
            return t**2 / (T - 1)
        return np.where(np.asarray(YEARS) >= self.trend_shift_year, (T - 1) / 2, 0.0)


def knob_types() -> dict[str, type]:
    """The type of every settable knob (every field but ``scenario``)."""
    hints = typing.get_type_hints(WorldParams)
    return {f.name: hints[f.name] for f in dataclasses.fields(WorldParams) if f.name != "scenario"}


def world_params(scenario: str, knobs: dict | None = None) -> WorldParams:
    """The named scenario with ``knobs`` (field name -> value) set on top, type-checked and range-checked.

    Raises :class:`KnobError` naming the knob for an unknown name, a wrong type or a value out of range."""
    knobs = dict(knobs or {})
    types_ = knob_types()
    for name, v in knobs.items():
        if name not in types_:
            raise KnobError(name, f"unknown world knob {name!r}; allowed: {sorted(types_)}")
        want = types_[name]
        ok = (isinstance(v, str) if want is str else
              isinstance(v, int) and not isinstance(v, bool) if want is int else
              isinstance(v, int | float) and not isinstance(v, bool))
        if not ok:
            raise KnobError(name, f"{name} must be {'a string' if want is str else 'an integer' if want is int else 'a number'}; "
                            f"got {v!r}")
        if want is float:
            knobs[name] = float(v)
    return dataclasses.replace(scenario_params(scenario), **knobs)


def scenario_params(name: str) -> WorldParams:
    """The named scenarios.

    ``default``: calibrated modest effect and every selection mechanism of calibration.md section 4.
    ``null``: the same population and selection, zero effect on every outcome (steps included).
    ``no-selection``: enrolment depends only on observed baseline covariates (premium decile, disability,
    chronic disease, sex and age through the quotas), so matching plus DiD recovers the truth.
    """
    base = WorldParams(scenario=name)
    if name == "default":
        return base
    if name == "null":
        return dataclasses.replace(base, effect_scale=0.0)
    if name == "no-selection":
        return dataclasses.replace(base, select_health_conscious=0.0, select_abnormal_checkup=0.0)
    raise KnobError("scenario", f"unknown scenario {name!r}; allowed: ['default', 'null', 'no-selection']")
