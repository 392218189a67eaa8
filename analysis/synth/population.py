"""Persons of the synthetic world: demographics, insurance, latent factors and direct identifiers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.synth.params import AGE2017_BANDS, DISTRICTS, FIRST_YEAR, YEARS

SURNAMES = np.array(
    list(
        "김이박최정강조윤장임한오서신권황안송전홍유고문양손배백허남심노하곽성차주우구민류나진지엄채원천방공현함변염여추도소석선설마길연위표명기반왕금옥육인맹제모탁국어은편용예경봉사부가복태목형피두감음빈동온호범좌승"
    )
)
_SURNAME_W = np.concatenate(
    [
        [
            21.5,
            14.7,
            8.4,
            4.7,
            4.3,
            2.4,
            2.1,
            2.1,
            2.0,
            1.7,
            1.5,
            1.5,
            1.5,
            1.5,
            1.4,
            1.4,
            1.3,
            1.3,
            1.1,
            1.1,
        ],
        np.full(len(SURNAMES) - 20, 0.3),
    ]
)
SURNAME_P = _SURNAME_W / _SURNAME_W.sum()
GIVEN_SYLLABLES = np.array(
    list("민서지현준우수영예은도하진윤성재연정아주유혜승희동원경태호상보다나채시소규환용석혁훈철미인세가빈람")
)

# measures with a person-level and a transient (year) component, in this order
MEASURES = ("bmi", "waist", "sbp", "dbp", "fbs", "tc", "hdl", "ldl", "lntg", "lnggt")
# person-level latent factors: H (health consciousness), the measures, steps, cost, injury proneness
FACTORS = ("H", *MEASURES, "steps", "cost", "injury")

_CORR_PAIRS = {
    ("bmi", "waist"): 0.85,
    ("sbp", "dbp"): 0.75,
    ("hdl", "lntg"): -0.45,
    ("waist", "lntg"): 0.35,
    ("bmi", "lntg"): 0.3,
    ("bmi", "sbp"): 0.25,
    ("waist", "sbp"): 0.25,
    ("bmi", "dbp"): 0.2,
    ("waist", "dbp"): 0.2,
    ("bmi", "fbs"): 0.2,
    ("waist", "fbs"): 0.25,
    ("tc", "ldl"): 0.9,
    ("tc", "lntg"): 0.3,
    ("ldl", "lntg"): 0.2,
    ("bmi", "hdl"): -0.3,
    ("waist", "hdl"): -0.3,
    ("lnggt", "lntg"): 0.35,
    ("lnggt", "waist"): 0.3,
    ("fbs", "lntg"): 0.2,
    ("sbp", "fbs"): 0.15,
    ("H", "bmi"): -0.15,
    ("H", "waist"): -0.15,
    ("H", "sbp"): -0.1,
    ("H", "fbs"): -0.1,
    ("H", "lntg"): -0.1,
    ("H", "hdl"): 0.1,
    ("H", "lnggt"): -0.15,
    ("H", "steps"): 0.35,
    ("steps", "bmi"): -0.15,
    ("steps", "waist"): -0.15,
    ("cost", "bmi"): 0.1,
    ("cost", "H"): 0.0,
}


def _positive_definite(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    w = np.clip(w, 1e-3, None)
    c = (v * w) @ v.T
    d = np.sqrt(np.diag(c))
    return c / np.outer(d, d)


def factor_correlation(names: tuple[str, ...] = FACTORS) -> np.ndarray:
    """Correlation matrix of the person-level factors (calibration.md section 2 correlations) [A]."""
    idx = {n: i for i, n in enumerate(names)}
    c = np.eye(len(names))
    for (a, b), r in _CORR_PAIRS.items():
        if a in idx and b in idx:
            c[idx[a], idx[b]] = c[idx[b], idx[a]] = r
    return _positive_definite(c)


@dataclass
class Persons:
    """Person-level arrays of one chunk (length n) and person-year arrays (n, T)."""

    person_id: np.ndarray
    female: np.ndarray
    birth_year: np.ndarray
    birth_date: np.ndarray  # datetime64[D]
    district: np.ndarray
    affluence: np.ndarray
    insurance_type: np.ndarray  # IPSN_TYPE_CD: 1/2 regional head/member, 5/6 employee/dependent, 8 aid
    non_office: np.ndarray  # employee in a non-office job: annual checkups
    premium_decile: np.ndarray  # 0 = medical aid, 1..10
    disability: np.ndarray  # 0 none, 1 severe, 2 mild
    death_year: np.ndarray  # 0 if alive at the end of 2025
    death_month: np.ndarray
    z: dict[str, np.ndarray]  # person-level latent factors, standard normal
    age: np.ndarray  # (n, T) age in each year
    present: np.ndarray  # (n, T) adult (19+) and alive in the year

    @property
    def n(self) -> int:
        return len(self.person_id)


def _draw_age2017(rng: np.random.Generator, n: int) -> np.ndarray:
    w = np.array([b[2] for b in AGE2017_BANDS])
    band = rng.choice(len(AGE2017_BANDS), size=n, p=w / w.sum())
    lo = np.array([b[0] for b in AGE2017_BANDS])[band]
    hi = np.array([b[1] for b in AGE2017_BANDS])[band]
    return lo + np.floor(rng.random(n) * (hi - lo)).astype(np.int64)


def make_persons(rng: np.random.Generator, n: int, id_offset: int) -> Persons:
    """Draw ``n`` persons; ``id_offset`` makes PERSON_IDs unique across chunks."""
    female = rng.random(n) < 0.52
    age2017 = _draw_age2017(rng, n)
    birth_year = FIRST_YEAR - age2017
    day = np.floor(rng.random(n) * 365).astype("timedelta64[D]")
    birth_date = (birth_year - 1970).astype("datetime64[Y]").astype("datetime64[D]") + day

    years = np.asarray(YEARS)
    age = years[None, :] - birth_year[:, None]

    # death: Gompertz hazard, men x1.5 [A]
    q = np.exp(-10.5 + 0.095 * age) * np.where(female, 1.0, 1.5)[:, None]
    dies = rng.random(age.shape) < np.clip(q, 0, 0.5)
    dies &= age >= 19
    any_death = dies.any(axis=1)
    first = np.argmax(dies, axis=1)
    death_year = np.where(any_death, years[first], 0)
    death_month = np.where(any_death, 1 + np.floor(rng.random(n) * 12).astype(np.int64), 0)
    alive = (death_year[:, None] == 0) | (years[None, :] <= death_year[:, None])
    present = alive & (age >= 19)

    pop = np.array([d[1] for d in DISTRICTS], dtype=float)
    dist_idx = rng.choice(len(DISTRICTS), size=n, p=pop / pop.sum())
    district = np.array([d[0] for d in DISTRICTS])[dist_idx]
    affluence = np.array([d[2] for d in DISTRICTS])[dist_idx]

    # latent person factors
    corr = factor_correlation()
    zmat = rng.standard_normal((n, len(FACTORS))) @ np.linalg.cholesky(corr).T
    z = {name: zmat[:, i] for i, name in enumerate(FACTORS)}
    # health consciousness is higher in women and in midlife [A]
    a25 = age[:, YEARS.index(2021)]
    z["H"] = z["H"] + 0.3 * female + 0.15 * ((a25 >= 40) & (a25 < 70)) - 0.2

    # insurance and premium decile
    disability_p = np.clip(0.01 + 0.0012 * np.maximum(a25 - 30, 0), 0, 0.2)
    u = rng.random(n)
    disability = np.where(u < disability_p * 0.35, 1, np.where(u < disability_p, 2, 0))
    aid_p = 0.02 + 0.05 * (disability > 0) + 0.02 * (a25 >= 70)
    aid = rng.random(n) < aid_p
    employee = rng.random(n) < np.where(a25 < 65, 0.75, 0.55)
    dependent = rng.random(n) < np.where(female, 0.3, 0.12)
    insurance_type = np.where(
        aid, 8, np.where(employee, np.where(dependent, 6, 5), np.where(dependent, 2, 1))
    )
    non_office = (insurance_type == 5) & (rng.random(n) < 0.4)
    prem_latent = (
        0.5 * affluence
        + 0.4 * np.exp(-(((a25 - 50) / 15.0) ** 2))
        + 0.15 * z["H"]
        - 0.4 * (disability > 0)
        + rng.standard_normal(n)
    )
    ranks = np.argsort(np.argsort(prem_latent, kind="stable"), kind="stable")
    premium_decile = np.where(aid, 0, 1 + (10 * ranks) // n)

    return Persons(
        person_id=id_offset + np.arange(n, dtype=np.int64),
        female=female,
        birth_year=birth_year,
        birth_date=birth_date,
        district=district,
        affluence=affluence,
        insurance_type=insurance_type.astype(np.int8),
        non_office=non_office,
        premium_decile=premium_decile.astype(np.int8),
        disability=disability.astype(np.int8),
        death_year=death_year,
        death_month=death_month,
        z=z,
        age=age,
        present=present,
    )


def korean_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Surname by frequency plus two given-name syllables (collisions on name + birth date are real)."""
    s = SURNAMES[rng.choice(len(SURNAMES), size=n, p=SURNAME_P)]
    g1 = GIVEN_SYLLABLES[rng.integers(0, len(GIVEN_SYLLABLES), n)]
    g2 = GIVEN_SYLLABLES[rng.integers(0, len(GIVEN_SYLLABLES), n)]
    return np.char.add(np.char.add(s, g1), g2)


def phone_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    a = rng.integers(0, 10_000, n)
    b = rng.integers(0, 10_000, n)
    return np.char.add(
        np.char.add("010-", np.char.zfill(a.astype(str), 4)),
        np.char.add("-", np.char.zfill(b.astype(str), 4)),
    )
