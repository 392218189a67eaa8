"""Pseudonymised linkage (가명정보 결합) of the program records with NHIS data.

Roles, as in the Korean procedure (calibration.md section 3):

1. each holder (NHIS, the city) normalises its identifiers, derives HMAC keys with the agency-issued
   secret and sends only (keys, serial) pairs; serials are random and stay with the holder's mapping;
2. the key agency joins the keys and returns a serial-to-serial link table;
3. the combination agency attaches a fresh random study id to every NHIS person, drops the direct
   identifiers, the keys and the holders' ids, generalises quasi-identifiers and writes the linked tables.

Every program record ends in exactly one status (``linked``, ``no_match``, ``ambiguous``, ``conflict``,
``duplicate``) and the counts add up; the report gives match rates overall and by subgroup, linked vs
unlinked, duplicate keys and, where the synthetic truth is present, missed and false matches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from analysis.config import LinkageConfig
from analysis.errors import LinkageError
from analysis.linkage.keys import KEY_FIELDS, Secret, claim_ids, derive_keys, keyed_seed, normalise
from analysis.paths import staged

STATUSES = ("linked", "no_match", "ambiguous", "conflict", "duplicate")
# Seoul's 25 districts -> 5 regions (generalise_district = true); SGG then holds the region code 1-5
REGIONS = {
    1: ("central", (11110, 11140, 11170)),
    2: ("northeast", (11200, 11215, 11230, 11260, 11290, 11305, 11320, 11350)),
    3: ("northwest", (11380, 11410, 11440)),
    4: ("southwest", (11470, 11500, 11530, 11545, 11560, 11590, 11620)),
    5: ("southeast", (11650, 11680, 11710, 11740)),
}
ROWS_PER_PASS = 8_000_000  # rows held in memory when re-keying a table to study ids


@dataclass(frozen=True)
class LinkageResult:
    out: Path
    report: dict


def _holder_side(ids: pd.DataFrame, table: str, secret: Secret, rng: np.random.Generator, id_col: str):
    norm = normalise(ids, table)
    keys = derive_keys(norm, secret)
    serial = rng.permutation(len(ids)).astype(np.int64)
    # what leaves the holder: keys + serial; what stays: serial -> own id
    sent = keys.assign(serial=serial).reset_index(drop=True)
    kept = pd.Series(ids[id_col].to_numpy(), index=serial).sort_index()
    return sent, kept


def key_agency(nhis: pd.DataFrame, prog: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Join keys; return per program serial: (nhis serial or -1, status, via) and duplicate-key counts."""
    res = pd.DataFrame({"prog_serial": prog["serial"].to_numpy()})
    dup = {}
    matches = {}
    ambiguous = {}
    for key in KEY_FIELDS:
        counts = nhis[key].value_counts()
        dup[f"nhis_{key}_duplicate_values"] = int((counts > 1).sum())
        dup[f"nhis_{key}_records_in_duplicates"] = int(counts[counts > 1].sum())
        pc = prog[key].value_counts()
        dup[f"program_{key}_duplicate_values"] = int((pc > 1).sum())
        unique = nhis[nhis[key].map(counts) == 1].set_index(key)["serial"]
        matches[key] = prog[key].map(unique).fillna(-1).astype(np.int64).to_numpy()
        ambiguous[key] = (prog[key].map(counts).fillna(0) > 1).to_numpy()
    m1, m2 = matches["key1"], matches["key2"]
    status = np.full(len(prog), "no_match", dtype=object)
    nhis_serial = np.full(len(prog), -1, dtype=np.int64)
    via = np.full(len(prog), "", dtype=object)
    both = (m1 >= 0) & (m2 >= 0)
    agree = both & (m1 == m2)
    status[agree], nhis_serial[agree], via[agree] = "linked", m1[agree], "key1+key2"
    only1 = (m1 >= 0) & (m2 < 0)
    status[only1], nhis_serial[only1], via[only1] = "linked", m1[only1], "key1"
    only2 = (m2 >= 0) & (m1 < 0)
    status[only2], nhis_serial[only2], via[only2] = "linked", m2[only2], "key2"
    status[both & (m1 != m2)] = "conflict"
    none = (m1 < 0) & (m2 < 0)
    status[none & (ambiguous["key1"] | ambiguous["key2"])] = "ambiguous"
    # two program records on one NHIS person: neither is kept
    linked = status == "linked"
    taken = pd.Series(nhis_serial[linked]).value_counts()
    multi = linked & (pd.Series(nhis_serial).map(taken).fillna(0).to_numpy() > 1)
    status[multi], nhis_serial[multi], via[multi] = "duplicate", -1, ""
    res["nhis_serial"] = nhis_serial
    res["status"] = status
    res["via"] = via
    return res, dup


def _generalise(persons: pd.DataFrame, cfg: LinkageConfig) -> pd.DataFrame:
    out = pd.DataFrame({"STUDY_ID": persons["STUDY_ID"]})
    bd = persons["BIRTH_DATE"].str.replace("-", "")
    out["BIRTH_YEAR"] = bd.str[:4].astype(np.int16)
    if cfg.generalise_birth_date == "month":
        out["BIRTH_MONTH"] = bd.str[4:6].astype(np.int8)
    out["SEX"] = persons["SEX"].astype(np.int8)
    return out


def _rekey_table(src: Path, dst: Path, id_map: pd.Series, transform=None) -> int:
    """Replace PERSON_ID by STUDY_ID, sort by STUDY_ID (row order must not reveal the NHIS order), write.

    An external sort with bounded memory: each row group is read once and split into buckets of study
    ids on disk, then each bucket is sorted and appended. Raises on a PERSON_ID unknown to the identifiers.
    """
    pf = pq.ParquetFile(src)
    n_ids = int(id_map.max()) if len(id_map) else 0
    buckets = max(1, -(-pf.metadata.num_rows // ROWS_PER_PASS))
    sorted_ids = id_map.sort_index()
    keys_arr, vals_arr = sorted_ids.index.to_numpy(), sorted_ids.to_numpy()
    tmp = dst.parent / f".{dst.stem}.buckets"
    tmp.mkdir(exist_ok=True)
    writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
    try:
        for rg in range(pf.num_row_groups):
            table = pf.read_row_group(rg)
            pid = table.column("PERSON_ID").to_numpy()
            pos = np.clip(np.searchsorted(keys_arr, pid), 0, len(keys_arr) - 1)
            unknown = keys_arr[pos] != pid
            if unknown.any():
                raise LinkageError(
                    f"{src.name}: {int(unknown.sum())} row(s) of row group {rg} have a PERSON_ID that is not in "
                    f"nhis/identifiers (first: {pid[unknown][:3].tolist()}); every NHIS table must cover the "
                    "same persons"
                )
            sid = vals_arr[pos]
            table = table.drop_columns(["PERSON_ID"]).add_column(0, "STUDY_ID", pa.array(sid, pa.int64()))
            bucket = (sid - 1) * buckets // max(n_ids, 1)
            for b in np.unique(bucket):
                part = table.filter(pa.array(bucket == b))
                if b not in writers:
                    # temporary, written once and read once: Arrow IPC, which needs no encoding
                    writers[b] = pa.ipc.new_file(str(tmp / f"{b}.arrow"), part.schema)
                writers[b].write_table(part)
        for w in writers.values():
            w.close()
        writer = None
        written = 0
        for b in sorted(writers):
            part = pa.ipc.open_file(str(tmp / f"{b}.arrow")).read_all()
            keys = ["STUDY_ID"] + [
                c for c in ("STND_Y", "year", "HME_YYYYMM", "month", "RECU_FR_DT", "KEY_SEQ", "SEQ_NO")
                if c in part.column_names
            ]
            if transform is not None:  # before sorting: the order must not follow any re-keyed value
                part = transform(part)
            part = part.sort_by([(k, "ascending") for k in keys])
            part = part.replace_schema_metadata(None)
            if writer is None:
                writer = pq.ParquetWriter(dst, part.schema, compression="zstd")
            writer.write_table(part)
            written += part.num_rows
        if writer is None:
            raise LinkageError(f"{src}: no rows to re-key")
        writer.close()
    finally:
        for f in tmp.glob("*.arrow"):
            f.unlink()
        tmp.rmdir()
    return written


def _rate_table(df: pd.DataFrame, by: str) -> list[dict]:
    g = df.groupby(by, observed=True)["linked"].agg(["size", "sum"])
    return [
        {
            by: str(k),
            "records": int(r["size"]),
            "linked": int(r["sum"]),
            "match_rate": float(r["sum"] / r["size"]),
        }
        for k, r in g.iterrows()
    ]


def link_world(
    world: str | Path,
    out: str | Path,
    cfg: LinkageConfig,
    secret: Secret,
    seed: int,
    progress: bool = True,
) -> LinkageResult:
    """Link ``world`` (a synthetic world or real holders' files in the same layout) into ``out``.

    Writes ``out/linked/*.parquet`` (keyed by STUDY_ID only), ``out/linkage_report.json`` and
    ``out/linkage_report.md``; with a synthetic world also ``out/truth/*.parquet`` keyed by STUDY_ID. The
    files are renamed into place together at the end (``analysis.paths.staged``): a failed or killed
    linkage leaves the previous output whole.
    """
    with staged() as stage:
        return _link(Path(world), Path(out), cfg, secret, seed, progress, stage)


def _link(world: Path, out: Path, cfg: LinkageConfig, secret: Secret, seed: int, progress: bool,
          stage) -> LinkageResult:
    (out / "linked").mkdir(parents=True, exist_ok=True)
    # serials and study ids come from the secret (HMAC) and the seed: reproducible for the holder of the
    # secret, impossible to rebuild from the public seed and the NHIS id order
    rng = np.random.default_rng(keyed_seed(secret, "linkage", seed))
    steps = tqdm(total=8, desc="link", unit="step", disable=not progress)

    # 1. holders derive keys
    nhis_ids = pd.read_parquet(world / "nhis/identifiers.parquet")
    nhis_sent, nhis_kept = _holder_side(
        nhis_ids.rename(columns=str.lower), "nhis/identifiers", secret, rng, "person_id"
    )
    steps.update()
    part = pd.read_parquet(world / "program/participants.parquet")
    prog_sent, prog_kept = _holder_side(part, "program/participants", secret, rng, "member_id")
    steps.update()

    # 2. key agency
    links, dup = key_agency(nhis_sent, prog_sent)
    steps.update()

    # 3. combination agency: study ids for every NHIS person
    n = len(nhis_ids)
    study_id = pd.Series(rng.permutation(n).astype(np.int64) + 1, index=nhis_ids["PERSON_ID"].to_numpy())
    links["member_id"] = prog_kept.reindex(links["prog_serial"]).to_numpy()
    linked = links["status"] == "linked"
    links["PERSON_ID"] = -1
    links.loc[linked, "PERSON_ID"] = nhis_kept.reindex(links.loc[linked, "nhis_serial"]).to_numpy()
    links["STUDY_ID"] = 0
    links.loc[linked, "STUDY_ID"] = study_id.reindex(links.loc[linked, "PERSON_ID"]).to_numpy()

    persons = nhis_ids.assign(STUDY_ID=study_id.to_numpy())
    gen = _generalise(persons, cfg).sort_values("STUDY_ID").reset_index(drop=True)
    pq.write_table(
        pa.Table.from_pandas(gen, preserve_index=False).replace_schema_metadata(None),
        stage(out / "linked/persons.parquet"),
        compression="zstd",
    )

    def region(table: pa.Table) -> pa.Table:
        if cfg.generalise_district and "SGG" in table.column_names:
            lut = {c: code for code, (_, districts) in REGIONS.items() for c in districts}
            sgg = pd.Series(table.column("SGG").to_numpy()).map(lut)
            table = table.set_column(table.column_names.index("SGG"), "SGG", pa.array(sgg))
        return table

    counts = {"persons": len(gen)}
    def claim_table(table: pa.Table) -> pa.Table:
        # NHIS's claim ids would let anyone holding the NHIS tables re-identify a released claim
        i = table.column_names.index("KEY_SEQ")
        return table.set_column(i, "KEY_SEQ", pa.array(claim_ids(table.column(i).to_numpy(), secret)))

    for src, name, transform in (("qualification", "qualification", region), ("checkups", "checkups", region),
                                 ("t20", "claims", claim_table), ("t40", "diagnoses", claim_table),
                                 ("t60", "prescriptions", claim_table)):
        counts[name] = _rekey_table(
            world / f"nhis/{src}.parquet", stage(out / f"linked/{name}.parquet"), study_id, transform=transform
        )
        steps.update()

    # program side: participation and activity of linked members only
    pmap = links.loc[linked, ["member_id", "STUDY_ID"]]
    participation = part.merge(pmap, on="member_id", how="inner")
    participation = participation.assign(
        enrol_month=pd.to_datetime(participation["enrol_date"]).dt.strftime("%Y-%m"),
        withdrawal_month=pd.to_datetime(participation["withdrawal_date"]).dt.strftime("%Y-%m"),
    )[["STUDY_ID", "enrol_month", "wave", "device", "withdrawal_month"]]
    participation = participation.sort_values("STUDY_ID").reset_index(drop=True)
    pq.write_table(
        pa.Table.from_pandas(participation, preserve_index=False).replace_schema_metadata(None),
        stage(out / "linked/participation.parquet"),
        compression="zstd",
    )
    act = pd.read_parquet(world / "program/activity.parquet").merge(pmap, on="member_id", how="inner")
    act = act.drop(columns=["member_id"])[["STUDY_ID", "month", "mean_daily_steps", "goal_days", "points"]]
    act = act.sort_values(["STUDY_ID", "month"]).reset_index(drop=True)
    pq.write_table(
        pa.Table.from_pandas(act, preserve_index=False).replace_schema_metadata(None),
        stage(out / "linked/activity.parquet"),
        compression="zstd",
    )
    counts["participation"] = len(participation)
    counts["activity"] = len(act)
    steps.update()

    report = _report(part, links, dup, counts, secret, cfg, len(nhis_ids))
    truth_dir = world / "truth"
    if truth_dir.exists():
        report["evaluation"] = _evaluate(truth_dir, links, n)
        _write_truth(truth_dir, out / "truth", study_id, stage)
    stage(out / "linkage_report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    stage(out / "linkage_report.md").write_text(render_report(report))
    steps.update()
    steps.close()
    return LinkageResult(out=out, report=report)


def _report(part, links, dup, counts, secret, cfg, n_nhis) -> dict:
    status_counts = {s: int((links["status"] == s).sum()) for s in STATUSES}
    df = part[["member_id", "sex", "birth_date", "district", "wave", "device", "enrol_date"]].merge(
        links[["member_id", "status", "via"]], on="member_id", how="left"
    )
    df["linked"] = df["status"] == "linked"
    year = pd.to_datetime(df["enrol_date"]).dt.year
    age = year - df["birth_date"].astype(str).str.replace(r"\D", "", regex=True).str[:4].astype(int)
    df["age_band"] = pd.cut(
        age,
        [0, 30, 40, 50, 60, 70, 200],
        right=False,
        labels=["18-29", "30-39", "40-49", "50-59", "60-69", "70+"],
    )
    df["age"] = age
    comparison = {}
    for lab, grp in (("linked", df[df.linked]), ("unlinked", df[~df.linked])):
        comparison[lab] = {
            "records": int(len(grp)),
            "mean_age_at_enrolment": float(grp["age"].mean()) if len(grp) else None,
            "female_share": float((grp["sex"] == "F").mean()) if len(grp) else None,
            "phone_only_share": float((grp["device"] == "phone").mean()) if len(grp) else None,
        }
    return {
        "secret_source": secret.source.split(":")[0],
        "key_definitions": {k: list(v) for k, v in KEY_FIELDS.items()},
        "generalisation": {"birth_date": cfg.generalise_birth_date, "district": cfg.generalise_district},
        "program_records": int(len(part)),
        "nhis_records": int(n_nhis),
        "status_counts": status_counts,
        "linked_via": {
            k: int(v) for k, v in links.loc[links.status == "linked", "via"].value_counts().items()
        },
        "match_rate": float(status_counts["linked"] / max(len(part), 1)),
        "match_rate_by": {
            "sex": _rate_table(df, "sex"),
            "age_band": _rate_table(df, "age_band"),
            "district": _rate_table(df, "district"),
            "wave": _rate_table(df, "wave"),
        },
        "linked_vs_unlinked": comparison,
        "duplicate_keys": dup,
        "output_rows": counts,
        "nhis_persons_linked_to_a_participant": int(status_counts["linked"]),
        "nhis_persons_not_linked": int(n_nhis - status_counts["linked"]),
    }


def _evaluate(truth_dir: Path, links: pd.DataFrame, n_nhis: int) -> dict:
    """Missed and false matches against the synthetic world's true pairs.

    Every linked record is a correct link or a false match (linked to another person); every record with a
    true pair is linked correctly, falsely, or missed: correct + false + missed = true pairs + false matches
    of records without a true pair."""
    tp = pd.read_parquet(truth_dir / "persons.parquet", columns=["PERSON_ID", "member_id"]).dropna()
    true_pid = links["member_id"].map(tp.set_index("member_id")["PERSON_ID"])
    linked = links["status"] == "linked"
    has_true = true_pid.notna()
    correct = linked & (links["PERSON_ID"] == true_pid)
    false = linked & ~correct
    missed = has_true & ~linked
    return {
        "true_pairs": int(has_true.sum()),
        "correct_links": int(correct.sum()),
        "false_matches": int(false.sum()),
        "missed_matches": int(missed.sum()),
        "false_match_rate": float(false.sum() / max(linked.sum(), 1)),
        "missed_match_rate": float(missed.sum() / max(has_true.sum(), 1)),
        "missed_by_status": {k: int(v) for k, v in links.loc[missed, "status"].value_counts().items()},
        "program_records_without_true_pair": int((~has_true).sum()),
    }


def _write_truth(truth_dir: Path, dst: Path, study_id: pd.Series, stage) -> None:
    """The synthetic truth keyed by STUDY_ID (no NHIS or program ids), for tests and the report."""
    dst.mkdir(parents=True, exist_ok=True)
    tp = pd.read_parquet(truth_dir / "persons.parquet")
    tp = tp.assign(STUDY_ID=study_id.reindex(tp["PERSON_ID"]).to_numpy(), enrolled=tp["member_id"].notna())
    keep = [
        "STUDY_ID",
        "enrolled",
        "first_treat",
        "enrol_month",
        "wave",
        "device",
        "health_consciousness",
        "active_2023",
    ]
    tp = tp[keep].sort_values("STUDY_ID").reset_index(drop=True)
    pq.write_table(
        pa.Table.from_pandas(tp, preserve_index=False).replace_schema_metadata(None),
        stage(dst / "persons.parquet"),
        compression="zstd",
    )
    _rekey_table(truth_dir / "outcomes.parquet", stage(dst / "outcomes.parquet"), study_id)


def render_report(r: dict) -> str:
    """The linkage report as a readable Markdown table (GUILD items)."""
    lines = ["# Linkage quality report", ""]
    lines.append(
        f"Program records: {r['program_records']:,}; NHIS persons: {r['nhis_records']:,}; "
        f"match rate: {r['match_rate']:.2%}."
    )
    lines += ["", "| status | records |", "|---|---:|"]
    lines += [f"| {k} | {v:,} |" for k, v in r["status_counts"].items()]
    lines += [f"| **total** | **{sum(r['status_counts'].values()):,}** |", ""]
    for by, rows in r["match_rate_by"].items():
        lines += [
            f"## Match rate by {by}",
            "",
            f"| {by} | records | linked | match rate |",
            "|---|---:|---:|---:|",
        ]
        lines += [f"| {x[by]} | {x['records']:,} | {x['linked']:,} | {x['match_rate']:.2%} |" for x in rows]
        lines.append("")
    lines += [
        "## Linked vs unlinked",
        "",
        "| | records | mean age | female | phone-only |",
        "|---|---:|---:|---:|---:|",
    ]
    for k, v in r["linked_vs_unlinked"].items():

        def f(x, pct=False):
            return "-" if x is None else (f"{x:.1%}" if pct else f"{x:.1f}")

        lines.append(
            f"| {k} | {v['records']:,} | {f(v['mean_age_at_enrolment'])} | "
            f"{f(v['female_share'], True)} | {f(v['phone_only_share'], True)} |"
        )
    lines += ["", "## Duplicate keys", "", "| item | count |", "|---|---:|"]
    lines += [f"| {k} | {v:,} |" for k, v in r["duplicate_keys"].items()]
    if "evaluation" in r:
        e = r["evaluation"]
        lines += [
            "",
            "## Against the synthetic truth",
            "",
            f"True pairs {e['true_pairs']:,}; correct links {e['correct_links']:,}; "
            f"false matches {e['false_matches']:,} ({e['false_match_rate']:.3%}); "
            f"missed {e['missed_matches']:,} ({e['missed_match_rate']:.2%}).",
        ]
    return "\n".join(lines) + "\n"
