"""Claim-level NHIS tables of the synthetic world: T20 claim headers, T40 diagnoses, T60 prescriptions.

Each person-year's care (``Outcomes`` of the observed world) is spread over claims so that the phenotype
file's sums give back the world's person-year values exactly: general outpatient claims carry the
general outpatient cost and visit days, injury claims the injury visits (their cost taken from the same
general outpatient budget, as injury care is part of it), one claim per used negative-control category its
cost, inpatient claims the inpatient cost and days; the patient share is apportioned over all of them.
Chronic diseases are coded on every general outpatient and inpatient claim of the years the person has them
(the diagnosis rows of T40) and prescribed drugs on every general outpatient claim of the treated years
(T60), so that when a disease becomes visible in claims is a function of the world's arrays:
:func:`diagnosis_truth` computes it for both worlds, and the panel's phenotypes must agree with it.

A claim in Korea covers one institution's care of one person in a month (a stay for inpatients), so a
year's visit days are spread over ``general_claims`` claims. Codes are drawn from families the phenotype
file does not confuse (no general claim carries a negative-control or injury main diagnosis).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from analysis.definitions import CARE_CATEGORIES
from analysis.errors import SynthError
from analysis.phenotypes import Definitions, at_risk_grid

FORM_INPATIENT, FORM_OUTPATIENT, FORM_DENTAL, FORM_PHARMACY = "02", "03", "05", "21"
# [A] most outpatient visits in Korea end in a dispensing; the pharmacy's share of the visit's cost
PHARMACY_SHARE_OF_VISITS, PHARMACY_SHARE_OF_COST = 0.65, 0.35
# main diagnoses of general outpatient care: respiratory infections, back and joint pain, gastritis and
# reflux, headache, urinary infection, sleep and mood disorders, chronic ischaemic heart disease
GENERAL_CODES = ("J069", "J209", "J304", "M545", "M179", "M7551", "K297", "K219", "R51", "R101", "N390",
                 "G470", "B349", "A099", "F329", "I251")
INPATIENT_CODES = ("J189", "I219", "I639", "K358", "C169", "M4806", "N179", "K802", "I500", "C349")
# other conditions listed beside the main one (none of them a phenotype's disease or category)
SUB_CODES = ("J029", "J0390", "M5456", "M791", "K590", "R42", "R05", "N309", "G439", "F419", "E559", "D649",
             "K291", "J329", "M6289", "R060")
INJURY_CODES = ("S934", "S635", "T149", "S005", "S420", "S8260")
CATEGORY_CODES = {
    "dental": ("K021", "K051", "K083"),
    "eye": ("H521", "H100", "H251"),
    "skin": ("L309", "L700", "L239"),
    "ear": ("H659", "H612", "H903"),
    "preventive": ("Z000", "Z251", "Z017"),
}
CHRONIC_CODES = {"htn": ("I109", "I110"), "dm": ("E119", "E149"), "dl": ("E785", "E780")}
# synthetic GNL_NM_CD codes (the phenotype file's ingredient prefixes + strength + form)
DRUG_CODES = {
    "htn": ("210101ATB", "210201ATB", "210302ATB", "210401ATB", "210501ATB"),
    "dm": ("310101ATB", "310201ATB", "310301ATB", "310401ATB", "310501BIJ"),
    "dl": ("410101ATB", "410201ATB", "410301ATB"),
}
# the phenotype outcome of each chronic disease (diagnosis truth)
DISEASE_OUTCOMES = {"htn": "new_hypertension", "dm": "new_diabetes", "dl": "new_dyslipidaemia"}
DRUG_OUTCOMES = {"htn": "hypertension_drug", "dm": "diabetes_drug", "dl": "lipid_drug"}
KEY_SPAN = 10**10
BLOCK_PERSONS, BLOCK_KEYS = 25_000, 10**8  # claims are built this many persons at a time; KEY_SEQ per block
GENERAL, INJURY, INPATIENT, PHARMACY, CATEGORY = 0, 1, 2, 3, 4  # claim kinds (CATEGORY + j: category j)  # KEY_SEQ of chunk c lie in [c * KEY_SPAN + 1, (c + 1) * KEY_SPAN)


def general_claims(cost: np.ndarray, visits: np.ndarray) -> np.ndarray:
    """General outpatient claims of a person-year: about one per two visit days, at most one a month."""
    k = np.maximum(1, np.minimum(np.minimum(visits, 1 + visits // 2), 12))
    return np.where((cost > 0) | (visits > 0), k, 0).astype(np.int64)


def inpatient_claims(cost: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Inpatient claims of a person-year: one stay, split in two past 30 days."""
    return np.where(cost > 0, 1 + (days > 30), 0).astype(np.int64)


def drug_visible(rx: np.ndarray, out_cost: np.ndarray, visits: np.ndarray) -> np.ndarray:
    """A treated year shows in T60 only where there is a general outpatient claim to carry it."""
    return rx & (general_claims(out_cost, visits) > 0)


def diagnosis_truth(o, present: np.ndarray, defs: Definitions) -> dict[str, np.ndarray]:
    """The world's truth of each new-diagnosis phenotype and drug flag, (n, T) each, from one world's
    ``Outcomes`` (y0 or y1): the year a disease becomes established in claims by ``defs``' rule, which the
    panel computes from the claim tables (1.0, else 0.0; NaN off the risk set, as in the panel)."""
    k_out = general_claims(o.outpatient_cost, o.outpatient_visits)
    k_inp = inpatient_claims(o.inpatient_cost, o.inpatient_days)
    out = {}
    rx = {"htn": o.htn_rx, "dm": o.dm_rx, "dl": o.dl_rx}
    drugs = {"htn": "antihypertensive", "dm": "antidiabetic", "dl": "statin"}
    for k, disease in (("htn", o.htn), ("dm", o.dm), ("dl", o.dl)):
        visible_rx = rx[k] & (k_out > 0)
        out[DRUG_OUTCOMES[k]] = visible_rx
        p = defs.outcomes[DISEASE_OUTCOMES[k]]
        if p.position != "any" or p.exclude:
            raise SynthError(f"the world's diagnosis truth follows position 'any' without exclusions; "
                             f"{p.name} in {defs.source} asks otherwise")
        if p.confirm_drug not in (None, drugs[k]):
            raise SynthError(f"{p.name}: the world prescribes {drugs[k]} for it, not {p.confirm_drug}")
        seen = disease & ((k_out > 0) | (k_inp > 0))
        met = disease & ((k_out >= p.min_outpatient_claims) | (k_inp >= p.min_inpatient_claims))
        if p.confirm_drug:
            met &= visible_rx
        at_risk = at_risk_grid(present, seen, p.washout_years)
        out[p.name] = np.where(at_risk, met, np.nan)  # missing off the risk set, as the panel's
    return out


def _apportion(total: np.ndarray, group: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Split integer ``total[g]`` over the rows of each group ``group`` (rows of a group contiguous) in
    proportion to ``weight``, in whole KRW that add up exactly: row i gets round(T W_i / W) - round(T W_(i-1)
    / W) of the group's cumulative weights, never more than its proportional share rounded up."""
    n = len(group)
    if n == 0:
        return np.zeros(0, np.int64)
    first = np.r_[True, group[1:] != group[:-1]]
    last = np.r_[group[1:] != group[:-1], True]
    cw = np.cumsum(weight, dtype=np.float64)
    base = np.zeros(len(total))
    base[group[first]] = (cw - weight)[first]
    local = cw - base[group]
    whole = np.zeros(len(total))
    whole[group[last]] = local[last]
    w = whole[group]
    r = np.round(np.where(w > 0, total[group] * (local / np.where(w > 0, w, 1.0)), 0.0)).astype(np.int64)
    prev = np.r_[0, r[:-1]]
    return np.where(first, r, r - prev)


def _split_days(total: np.ndarray, group: np.ndarray, n_of: np.ndarray) -> np.ndarray:
    """Whole days ``total[g]`` spread evenly over the ``n_of[g]`` rows of each group (earlier rows first)."""
    start = np.cumsum(n_of) - n_of
    pos = np.arange(len(group)) - start[group]
    return (total[group] // n_of[group] + (pos < total[group] % n_of[group])).astype(np.int64)


# every code the world writes, as one vocabulary (index 0 = empty): tables are built from indices and written
# as categoricals, so that no Python string exists per row
FORMS = (FORM_INPATIENT, FORM_OUTPATIENT, FORM_DENTAL, FORM_PHARMACY)
VOCAB = ("", *dict.fromkeys(GENERAL_CODES + SUB_CODES + INJURY_CODES + INPATIENT_CODES
                            + sum(CATEGORY_CODES.values(), ()) + sum(CHRONIC_CODES.values(), ())))
DRUG_VOCAB = tuple(c for codes in DRUG_CODES.values() for c in codes)
_AT = {c: i for i, c in enumerate(VOCAB)}


def _ix(codes) -> np.ndarray:
    return np.array([_AT[c] for c in codes], np.int16)


def _pick(rng: np.random.Generator, codes, n: int) -> np.ndarray:
    return _ix(codes)[rng.integers(0, len(codes), n)]


def claim_tables(rng: np.random.Generator, chunk: int, ids: np.ndarray, ii: np.ndarray, tt: np.ndarray,
                 years: np.ndarray, death_year: np.ndarray, death_month: np.ndarray, o, injury: np.ndarray
                 ) -> dict[str, pa.Table]:
    """T20, T40 and T60 of the present person-years ``(ii, tt)`` (person-major, as ``np.nonzero`` gives them)
    of one chunk from the observed world ``o``, built ``BLOCK_PERSONS`` persons at a time (one draw stream,
    so the tables depend on the seed only) to keep the arrays small."""
    parts = []
    bounds = np.searchsorted(ii, np.arange(0, len(ids) + BLOCK_PERSONS, BLOCK_PERSONS))
    for b, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        if hi > lo:
            key_base = chunk * KEY_SPAN + b * BLOCK_KEYS
            parts.append(_claim_block(rng, key_base, ids, ii[lo:hi], tt[lo:hi], years, death_year, death_month,
                                      o, injury))
    return {name: pa.concat_tables([p[name] for p in parts]) for name in ("nhis/t20", "nhis/t40", "nhis/t60")}


def _claim_block(rng, key_base, ids, ii, tt, years, death_year, death_month, o, injury) -> dict[str, pa.Table]:
    has_py = {k: getattr(o, k)[ii, tt] for k in CHRONIC_CODES}
    rx_py = {"htn": o.htn_rx[ii, tt], "dm": o.dm_rx[ii, tt], "dl": o.dl_rx[ii, tt]}
    col = _claims(rng, ii, tt, years, death_year, death_month, o, injury, has_py, rx_py)
    py, kind, main, n = col["py"], col["kind"], col["main"], len(col["py"])
    # the patient share over all claims of the person-year, by cost
    share_total = o.patient_share[ii, tt].astype(np.int64)
    if (share_total > np.bincount(py, weights=col["cost"], minlength=len(ii)) + 0.5).any():
        raise AssertionError("synth: a person-year's patient share exceeds its cost")
    share = _apportion(share_total, py, col["cost"].astype(np.float64))
    if (share > col["cost"]).any():
        raise AssertionError("synth: a claim's patient share exceeds its cost")
    # the claim id: random within the chunk, so that its order does not reveal NHIS's person order
    if n >= BLOCK_KEYS:
        raise AssertionError("synth: more claims in a block of persons than its KEY_SEQ range holds")
    key = key_base + 1 + rng.permutation(n).astype(np.int64)
    pid = ids[ii[py]]
    dx, offset = _diagnoses(rng, py, kind, main, has_py)
    rows = np.diff(np.append(offset, len(dx)))  # diagnoses per claim
    of_dx = np.repeat(np.arange(n), rows)
    sub_sick = np.where(rows > 1, dx[np.minimum(offset + 1, len(dx) - 1)], 0)
    drug, rx_off = _prescriptions(rng, py, kind, rx_py, ii, len(ids))
    of_rx = np.repeat(np.arange(n), np.diff(np.append(rx_off, len(drug))))

    def text(ix, vocab):
        return pa.DictionaryArray.from_arrays(pa.array(ix.astype(np.int16)), pa.array(list(vocab))).cast(pa.string())

    t20 = pa.table({
        "KEY_SEQ": key, "PERSON_ID": pid, "RECU_FR_DT": col["date"].astype(np.int32),
        "FORM_CD": text(col["form"], FORMS), "MAIN_SICK": text(main, VOCAB), "SUB_SICK": text(sub_sick, VOCAB),
        "VSCN": col["vscn"].astype(np.int32), "EDEC_TRAMT": col["cost"], "EDEC_SBRDN_AMT": share,
        "EDEC_JBRDN_AMT": col["cost"] - share,
    })
    t40 = pa.table({"KEY_SEQ": key[of_dx], "SEQ_NO": (np.arange(len(dx)) - offset[of_dx] + 1).astype(np.int16),
                    "PERSON_ID": pid[of_dx], "MCEX_SICK_SYM": text(dx, VOCAB)})
    t60 = pa.table({"KEY_SEQ": key[of_rx], "SEQ_NO": (np.arange(len(drug)) - rx_off[of_rx] + 1).astype(np.int16),
                    "PERSON_ID": pid[of_rx], "GNL_NM_CD": text(drug, DRUG_VOCAB),
                    "MDCN_EXEC_FREQ": np.where(rng.random(len(drug)) < 0.6, 30, 90).astype(np.int16)})
    return {"nhis/t20": t20, "nhis/t40": t40, "nhis/t60": t60}


def _claims(rng, ii, tt, years, death_year, death_month, o, injury, has_py, rx_py) -> dict[str, np.ndarray]:
    """Every claim of the person-years, sorted by person-year: ``py`` (its person-year), ``kind``, ``form``,
    ``vscn`` (visit or supply days), ``cost``, ``main`` (main diagnosis, vocabulary index) and ``date``."""
    n_py = len(ii)
    G = o.outpatient_cost[ii, tt].astype(np.int64)
    V = o.outpatient_visits[ii, tt].astype(np.int64)
    I_c = o.inpatient_cost[ii, tt].astype(np.int64)
    I_d = o.inpatient_days[ii, tt].astype(np.int64)
    inj = injury[ii, tt].astype(np.int64)
    cats = [c[0] for c in CARE_CATEGORIES]
    nc = np.stack([o.nc_costs[f"cost_{c}"][ii, tt].astype(np.int64) for c in cats], axis=1)
    year_py = years[tt]
    last_month = np.where(death_year[ii] == year_py, death_month[ii], 12)

    k_gen = general_claims(G, V)
    k_inp = inpatient_claims(I_c, I_d)
    # injury care is part of general outpatient care: its claims take their cost from the same budget
    inj_cost = np.where(inj > 0, np.round(G * inj / np.maximum(V + inj, 1)), 0).astype(np.int64)
    gen_cost = G - inj_cost

    blocks = []  # per kind: py, kind, form, vscn, cost, main (vocabulary index)

    def block(kind, count, form, vscn_of, cost_of, codes):
        py = np.repeat(np.arange(n_py), count)
        vscn = vscn_of(py, count)
        blocks.append({"py": py, "kind": np.full(len(py), kind, np.int8), "form": np.full(len(py), form, np.int8),
                       "vscn": vscn, "cost": cost_of(py, vscn), "main": _pick(rng, codes, len(py))})

    block(GENERAL, k_gen, 1, lambda py, n: _split_days(V, py, n),
          lambda py, v: _apportion(gen_cost, py, v + 0.5 + rng.exponential(1.0, len(py))), GENERAL_CODES)
    block(INJURY, inj, 1, lambda py, n: np.ones(len(py), np.int64),
          lambda py, v: _apportion(inj_cost, py, np.ones(len(py))), INJURY_CODES)
    block(INPATIENT, k_inp, 0, lambda py, n: _split_days(I_d, py, n),
          lambda py, v: _apportion(I_c, py, v + 1.0), INPATIENT_CODES)
    for j, c in enumerate(cats):
        block(CATEGORY + j, (nc[:, j] > 0).astype(np.int64), 2 if c == "dental" else 1,
              lambda py, n: np.ones(len(py), np.int64), lambda py, v, j=j: nc[py, j], CATEGORY_CODES[c])
    # half of the general claims of a chronically ill person are for the first of their diseases
    g = blocks[0]
    for_chronic = rng.random(len(g["py"])) < 0.5
    for k, codes in reversed(CHRONIC_CODES.items()):
        g["main"] = np.where(for_chronic & has_py[k][g["py"]], _AT[codes[0]], g["main"])
    # dates: a month of the year (up to the death month in the year of death), a day 1-28
    for b in blocks:
        m = 1 + np.floor(rng.random(len(b["py"])) * last_month[b["py"]]).astype(np.int64)
        b["date"] = year_py[b["py"]] * 10_000 + m * 100 + rng.integers(1, 29, len(b["py"]))
    # pharmacy claims: most general visits end in a dispensing (every visit of a treated year), which takes
    # about a third of the visit's cost; same day and main diagnosis, VSCN = days supplied
    treated = (rx_py["htn"] | rx_py["dm"] | rx_py["dl"])[g["py"]]
    disp = (rng.random(len(g["py"])) < PHARMACY_SHARE_OF_VISITS) | treated
    ph_cost = np.round(PHARMACY_SHARE_OF_COST * g["cost"][disp]).astype(np.int64)
    g["cost"] = g["cost"].copy()
    g["cost"][disp] -= ph_cost
    blocks.append({"py": g["py"][disp], "kind": np.full(disp.sum(), PHARMACY, np.int8),
                   "form": np.full(disp.sum(), 3, np.int8), "cost": ph_cost, "main": g["main"][disp],
                   "date": g["date"][disp],
                   "vscn": np.where(treated[disp], np.where(rng.random(disp.sum()) < 0.6, 30, 90), 3)})
    order = np.argsort(np.concatenate([b["py"] for b in blocks]), kind="stable")
    return {k: np.concatenate([b[k] for b in blocks])[order] for k in blocks[0]}


def _diagnoses(rng, py, kind, main, has_py) -> tuple[np.ndarray, np.ndarray]:
    """T40 as ``(codes, each claim's first row)``: the main diagnosis first, then each chronic disease not
    already the main one (on general and inpatient claims), then other conditions treated alongside (none a
    disease or category of the phenotypes)."""
    n = len(py)
    chronic_here = (kind == GENERAL) | (kind == INPATIENT)
    with_k = {k: chronic_here & has_py[k][py] & (main != _AT[codes[0]]) for k, codes in CHRONIC_CODES.items()}
    n_chr = sum(v.astype(np.int64) for v in with_k.values())
    extra = np.where(chronic_here, np.minimum(rng.poisson(0.9, n), 3), 0)
    rows = 1 + n_chr + extra
    offset = np.cumsum(rows) - rows
    dx = np.zeros(int(rows.sum()), np.int16)
    dx[offset] = main
    done = np.zeros(n, np.int64)
    for k, codes in CHRONIC_CODES.items():
        sel = with_k[k]
        dx[offset[sel] + 1 + done[sel]] = _AT[codes[0]]
        done += sel
    start = rng.integers(0, len(SUB_CODES), n)
    sub_ix = _ix(SUB_CODES)
    for j in range(3):
        sel = extra > j
        dx[offset[sel] + 1 + n_chr[sel] + j] = sub_ix[(start[sel] + j) % len(SUB_CODES)]
    return dx, offset


def _prescriptions(rng, py, kind, rx_py, ii, n_persons: int) -> tuple[np.ndarray, np.ndarray]:
    """T60 as ``(drug codes, each claim's first row)``: each treated disease's drug (one per person, kept
    over the years) on every general claim."""
    n = len(py)
    gen = kind == GENERAL
    per = {k: gen & rx_py[k][py] for k in DRUG_CODES}
    n_rx = sum(v.astype(np.int64) for v in per.values())
    rx_off = np.cumsum(n_rx) - n_rx
    drug = np.zeros(int(n_rx.sum()), np.int16)
    done = np.zeros(n, np.int64)
    first_code = 0
    for k, codes in DRUG_CODES.items():
        choice = rng.integers(0, len(codes), n_persons)  # the person's drug of the class
        sel = per[k]
        drug[rx_off[sel] + done[sel]] = first_code + choice[ii[py[sel]]]
        done += sel
        first_code += len(codes)
    return drug, rx_off
