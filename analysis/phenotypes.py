"""Outcome definitions as data: the phenotype file, and the person-year outcomes it gives from claims.

The file (``analysis/phenotypes.toml`` by default; its header documents the kinds) names, for every claims
outcome of the panel, the codes, the table and position they are read from, the care type, and for new
diagnoses the claim counts, drug confirmation and washout. :func:`person_years` applies it to the
claim-level tables (T20 claims, T40 diagnoses, T60 prescriptions) of a chunk of persons.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import PhenotypeError

DEFAULT = Path(__file__).resolve().parent / "phenotypes.toml"
KINDS = ("amount", "days", "drug", "new_diagnosis")
AMOUNTS = ("EDEC_TRAMT", "EDEC_SBRDN_AMT", "EDEC_JBRDN_AMT")
_FAMILY = re.compile(r"^([A-Z][0-9]{2})(?:-([A-Z][0-9]{2}))?$")
_COMMON = {"kind", "label", "name_en", "name_ko"}
_KEYS = {
    "amount": _COMMON | {"amount", "forms", "main_diagnosis", "exclude"},
    "days": _COMMON | {"forms", "main_diagnosis", "exclude"},
    "drug": _COMMON | {"drug"},
    "new_diagnosis": _COMMON | {"diagnosis", "exclude", "position", "min_outpatient_claims", "min_inpatient_claims",
                                "confirm_drug", "washout_years"},
}


@dataclass(frozen=True)
class Phenotype:
    name: str
    kind: str
    label: str
    amount: str = "EDEC_TRAMT"
    forms: str | None = None  # a key of the file's [forms], None = every form
    main_diagnosis: tuple[str, ...] = ()  # empty = any
    diagnosis: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    position: str = "any"
    min_outpatient_claims: int = 2
    min_inpatient_claims: int = 1
    confirm_drug: str | None = None
    washout_years: int = 1
    drug: str | None = None
    # short names with units for tables and figures, by language (the package's own outcomes have theirs in
    # analysis/report/text.py; an outcome a study adds names itself here, else its key is shown)
    names: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Definitions:
    version: str
    source: str
    forms: dict[str, tuple[str, ...]]
    drugs: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]]  # name -> (label, ingredient prefixes, ATC)
    outcomes: dict[str, Phenotype]

    def is_cost(self, outcome: str) -> bool:
        """Whether ``outcome`` is a cost in KRW (an amount the file defines): costs are calibrated with the
        negative-control costs on their proportional scale; checkup measures are not in the file."""
        p = self.outcomes.get(outcome)
        return p is not None and p.kind == "amount"

    def is_ratio_scale(self, outcome: str) -> bool:
        """Whether ``outcome`` is a non-negative amount or count (kind ``amount`` or ``days``), for which a
        proportional effect and parallel trends in ratio are natural (the ratio-scale DiD)."""
        p = self.outcomes.get(outcome)
        return p is not None and p.kind in ("amount", "days")

    def describe(self) -> pd.DataFrame:
        """One row per outcome: its kind and rule in words (the report's methods table)."""
        rows = []
        for p in self.outcomes.values():
            rows.append({"outcome": p.name, "kind": p.kind, "definition": p.label, "rule": _rule(self, p)})
        return pd.DataFrame(rows)


def _rule(d: Definitions, p: Phenotype) -> str:
    forms = f"FORM_CD {', '.join(d.forms[p.forms])}" if p.forms else "all claims"
    excl = f" except {', '.join(p.exclude)}" if p.exclude else ""
    if p.kind in ("amount", "days"):
        what = p.amount if p.kind == "amount" else "VSCN"
        dx = f", MAIN_SICK in {', '.join(p.main_diagnosis)}{excl}" if p.main_diagnosis else ""
        return f"sum of {what} over {forms}{dx}"
    if p.kind == "drug":
        label, ingredients, atc = d.drugs[p.drug]
        return f"T60 GNL_NM_CD beginning {', '.join(ingredients)} (ATC {', '.join(atc) or 'not given'})"
    where = "MAIN_SICK" if p.position == "main" else "any T40 diagnosis"
    drug = f"; with a T60 {p.confirm_drug} prescription the same year" if p.confirm_drug else ""
    return (f"{where} in {', '.join(p.diagnosis)}{excl} on >= {p.min_outpatient_claims} outpatient "
            f"(FORM_CD {', '.join(d.forms['outpatient'])}) or >= {p.min_inpatient_claims} inpatient claim(s) "
            f"(FORM_CD {', '.join(d.forms['inpatient'])}){drug}; none in the {p.washout_years} year(s) before, "
            "covered throughout")


def _families(where: str, value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and _FAMILY.match(v) for v in value):
        raise PhenotypeError(f"{where}: expected KCD-7 families like \"I10-I15\" or \"E78\"; got {value!r}")
    return tuple(value)


def load(path: str | Path | None = None) -> Definitions:
    """Read and check a phenotype file (default: the package's ``phenotypes.toml``)."""
    path = Path(path) if path is not None else DEFAULT
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PhenotypeError(f"phenotype file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise PhenotypeError(f"phenotype file {path}: not valid TOML ({exc})") from None
    f = path.name
    unknown = set(raw) - {"version", "forms", "drugs", "outcomes"}
    if unknown:
        raise PhenotypeError(f"{f}: unknown top-level key(s) {sorted(unknown)}")
    if not isinstance(raw.get("version"), str):
        raise PhenotypeError(f"{f}: 'version' (a string) is required")
    forms = {}
    for k in ("inpatient", "outpatient"):
        v = raw.get("forms", {}).get(k)
        if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
            raise PhenotypeError(f"{f}: forms.{k} must be a list of FORM_CD strings such as \"02\"")
        forms[k] = tuple(v)
    drugs = {}
    for name, spec in raw.get("drugs", {}).items():
        ing = spec.get("ingredients")
        if not isinstance(ing, list) or not ing or not all(isinstance(x, str) and x for x in ing):
            raise PhenotypeError(f"{f}: drugs.{name}.ingredients must be a non-empty list of code prefixes")
        extra = set(spec) - {"label", "ingredients", "atc"}
        if extra:
            raise PhenotypeError(f"{f}: drugs.{name}: unknown key(s) {sorted(extra)}")
        atc = spec.get("atc", [])
        if not isinstance(atc, list) or not all(isinstance(x, str) for x in atc):
            raise PhenotypeError(f"{f}: drugs.{name}.atc must be a list of ATC codes such as \"C09\"")
        drugs[name] = (str(spec.get("label", name)), tuple(ing), tuple(atc))
    outcomes = {}
    for name, spec in raw.get("outcomes", {}).items():
        where = f"{f}: outcomes.{name}"
        kind = spec.get("kind")
        if kind not in KINDS:
            raise PhenotypeError(f"{where}.kind must be one of {list(KINDS)}; got {kind!r}")
        extra = set(spec) - _KEYS[kind]
        if extra:
            raise PhenotypeError(f"{where}: key(s) {sorted(extra)} do not apply to kind {kind!r}")
        args = {"name": name, "kind": kind, "label": str(spec.get("label", name))}
        names = {lang: spec[f"name_{lang}"] for lang in ("en", "ko") if f"name_{lang}" in spec}
        if not all(isinstance(v, str) and v.strip() for v in names.values()):
            raise PhenotypeError(f"{where}: name_en and name_ko must be non-empty strings")
        args["names"] = tuple(names.items())
        if "amount" in spec:
            if spec["amount"] not in AMOUNTS:
                raise PhenotypeError(f"{where}.amount must be one of {list(AMOUNTS)}; got {spec['amount']!r}")
            args["amount"] = spec["amount"]
        if "forms" in spec:
            if spec["forms"] not in forms:
                raise PhenotypeError(f"{where}.forms must be one of {list(forms)}; got {spec['forms']!r}")
            args["forms"] = spec["forms"]
        for key in ("main_diagnosis", "diagnosis", "exclude"):
            if key in spec:
                args[key] = _families(f"{where}.{key}", spec[key])
        if kind == "new_diagnosis" and not args.get("diagnosis"):
            raise PhenotypeError(f"{where}.diagnosis is required for a new diagnosis")
        if "position" in spec:
            if spec["position"] not in ("main", "any"):
                raise PhenotypeError(f"{where}.position must be \"main\" or \"any\"; got {spec['position']!r}")
            args["position"] = spec["position"]
        for key, lo in (("min_outpatient_claims", 1), ("min_inpatient_claims", 1), ("washout_years", 1)):
            if key in spec:
                v = spec[key]
                if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= 8:
                    raise PhenotypeError(f"{where}.{key} must be a whole number within {lo}-8; got {v!r}")
                args[key] = v
        for key in ("drug", "confirm_drug"):
            if key in spec:
                if spec[key] not in drugs:
                    raise PhenotypeError(f"{where}.{key} names no drug family of the file: {spec[key]!r}")
                args[key] = spec[key]
        if kind == "drug" and "drug" not in args:
            raise PhenotypeError(f"{where}.drug is required for kind 'drug'")
        outcomes[name] = Phenotype(**args)
    return Definitions(version=raw["version"], source=str(path), forms=forms, drugs=drugs, outcomes=outcomes)


def family_bounds(family: str) -> tuple[str, str]:
    """The first and last three-character KCD-7 code of a family (``"I10-I15"`` -> I10, I15; ``"E78"`` -> E78, E78)."""
    lo, hi = _FAMILY.match(family).groups()
    return lo, hi or lo


def code_in(codes: pd.Series | pd.Categorical, families: tuple[str, ...], exclude: tuple[str, ...] = ()
            ) -> np.ndarray:
    """Whether each KCD-7 code lies in one of ``families`` and in none of ``exclude`` (by its first three
    characters; the distinct codes are matched once)."""
    cat = pd.Categorical(codes)
    head = np.asarray(cat.categories.astype(str).str[:3], dtype=object)

    def within(fams):
        hit = np.zeros(len(head), bool)
        for fam in fams:
            lo, hi = family_bounds(fam)
            hit |= (head >= lo) & (head <= hi)
        return hit

    ok = within(families) & ~within(exclude) if families else ~within(exclude)
    ok = np.append(ok, False)  # missing codes (code -1) match nothing
    return ok[cat.codes]


def _prefix_in(codes: pd.Series | pd.Categorical, prefixes: tuple[str, ...]) -> np.ndarray:
    cat = pd.Categorical(codes)
    cats = cat.categories.astype(str)
    ok = np.zeros(len(cats), bool)
    for pre in prefixes:
        ok |= cats.str.startswith(pre)
    return np.append(ok, False)[cat.codes]


def person_years(defs: Definitions, qualification: pd.DataFrame, claims: pd.DataFrame,
                 diagnoses: pd.DataFrame, prescriptions: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Every outcome of ``defs`` per qualification person-year (``STUDY_ID``, ``STND_Y``, one column per
    outcome; 0 where a person-year has no claims), and the counts of claims rows left out because their
    person-year has no qualification row.

    Tables are validated ones (``analysis.panel.schema``): claims carry ``KEY_SEQ, STUDY_ID, RECU_FR_DT,
    FORM_CD, MAIN_SICK, VSCN`` and the amounts; diagnoses and prescriptions refer to claims by ``KEY_SEQ``.
    """
    q_id = qualification["STUDY_ID"].to_numpy(np.int64)
    q_year = qualification["STND_Y"].to_numpy(np.int64)
    persons, p_of = np.unique(q_id, return_inverse=True)
    y0 = int(q_year.min()) if len(q_year) else 0
    n_years = int(q_year.max()) - y0 + 1 if len(q_year) else 1
    covered = np.zeros((len(persons), n_years), bool)
    covered[p_of, q_year - y0] = True
    row_of = np.full((len(persons), n_years), -1, np.int64)
    row_of[p_of, q_year - y0] = np.arange(len(q_id))

    # each claim's person-year row (-1 where the person-year is not covered)
    c_pos = np.searchsorted(persons, claims["STUDY_ID"].to_numpy(np.int64))
    c_year = claims["RECU_FR_DT"].to_numpy(np.int64) // 10_000 - y0
    inside = (c_pos < len(persons)) & (c_year >= 0) & (c_year < n_years)
    c_pos_c, c_year_c = np.minimum(c_pos, len(persons) - 1), np.clip(c_year, 0, n_years - 1)
    inside &= persons[c_pos_c] == claims["STUDY_ID"].to_numpy(np.int64)
    c_row = np.where(inside, row_of[c_pos_c, c_year_c], -1)
    excluded = {"claims_rows_without_qualification": int((c_row < 0).sum())}

    # code columns factorised once: every rule then reads the distinct codes only
    form = pd.Categorical(claims["FORM_CD"])
    is_form = {k: np.append(np.isin(form.categories.astype(str), v), False)[form.codes]
               for k, v in defs.forms.items()}
    claim_index = pd.Index(claims["KEY_SEQ"].to_numpy(np.int64))
    # positions in claims of the diagnoses' and prescriptions' claims (validation: every one exists)
    d_claim = claim_index.get_indexer(diagnoses["KEY_SEQ"].to_numpy(np.int64))
    r_claim = claim_index.get_indexer(prescriptions["KEY_SEQ"].to_numpy(np.int64))
    main = pd.Categorical(claims["MAIN_SICK"])
    dx = pd.Categorical(diagnoses["MCEX_SICK_SYM"])
    ingredients = pd.Categorical(prescriptions["GNL_NM_CD"])
    n_rows = len(q_id)

    def per_row(values: np.ndarray, claim_mask: np.ndarray) -> np.ndarray:
        keep = claim_mask & (c_row >= 0)
        return np.bincount(c_row[keep], weights=values[keep], minlength=n_rows)

    def drug_rows(name: str) -> np.ndarray:
        hit = _prefix_in(ingredients, defs.drugs[name][1])
        rows = c_row[r_claim[hit]]
        out = np.zeros(n_rows, bool)
        out[rows[rows >= 0]] = True
        return out

    out = {"STUDY_ID": q_id, "STND_Y": q_year.astype(np.int16)}
    for p in defs.outcomes.values():
        if p.kind in ("amount", "days"):
            mask = is_form[p.forms] if p.forms else np.ones(len(claims), bool)
            if p.main_diagnosis or p.exclude:
                mask = mask & code_in(main, p.main_diagnosis, p.exclude)
            col = p.amount if p.kind == "amount" else "VSCN"
            out[p.name] = np.round(per_row(claims[col].to_numpy(np.float64), mask)).astype(np.int64)
        elif p.kind == "drug":
            out[p.name] = drug_rows(p.drug).astype(np.int8)
        else:
            if p.position == "main":
                coded = code_in(main, p.diagnosis, p.exclude)
            else:
                hit = code_in(dx, p.diagnosis, p.exclude)
                coded = np.zeros(len(claims), bool)
                coded[d_claim[hit]] = True
            n_out = per_row(np.ones(len(claims)), coded & is_form["outpatient"])
            n_inp = per_row(np.ones(len(claims)), coded & is_form["inpatient"])
            seen = per_row(np.ones(len(claims)), coded) > 0
            met = (n_out >= p.min_outpatient_claims) | (n_inp >= p.min_inpatient_claims)
            if p.confirm_drug:
                met &= drug_rows(p.confirm_drug)
            out[p.name] = new_in_grid(met, seen, row_of, covered, p.washout_years).astype(np.float32)
    return pd.DataFrame(out), excluded


def at_risk_grid(covered: np.ndarray, seen: np.ndarray, washout: int) -> np.ndarray:
    """(person, year) grid: at risk of a new diagnosis, i.e. covered and without the code in each of the
    ``washout`` years before (never in the extract's first ``washout`` years, whose washout is unobserved).
    The panel and the synthetic world's truth both use it, so they share one risk set."""
    at_risk = np.ones(covered.shape, bool)
    at_risk[:, :washout] = False
    for lag in range(1, washout + 1):
        at_risk[:, washout:] &= covered[:, washout - lag:-lag] & ~seen[:, washout - lag:-lag]
    return at_risk


def new_in_grid(met: np.ndarray, seen: np.ndarray, row_of: np.ndarray, covered: np.ndarray,
                washout: int) -> np.ndarray:
    """Per row: 1.0 where the definition is met that year, 0.0 where it is not, and NaN where the person is
    not at risk of a *new* diagnosis: in any of the ``washout`` years before, not covered or with a claim
    carrying the code (including the extract's first ``washout`` years, whose washout is unobserved).
    ``row_of``/``covered`` are (person, year) grids of row numbers and coverage.

    Years off the risk set are missing, not 0: a 0 there is no information, and coded as 0 it makes the
    outcome jump from 0 to the incidence after the extract's first years and fall as the diagnosed leave the
    risk set, by amounts that differ between groups with different incidence (parallel trends fail by
    construction)."""
    grid_met = np.zeros(covered.shape, bool)
    grid_seen = np.zeros(covered.shape, bool)
    ok = row_of >= 0
    grid_met[ok] = met[row_of[ok]]
    grid_seen[ok] = seen[row_of[ok]]
    at_risk = at_risk_grid(covered, grid_seen, washout)
    out = np.full(len(met), np.nan)
    out[row_of[ok]] = np.where(at_risk[ok], grid_met[ok], np.nan)
    return out
