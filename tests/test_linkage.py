"""Linkage: counts add up, quality is measured against the truth, nothing identifying leaks."""

from __future__ import annotations

import hmac
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.config import LinkageConfig, PanelConfig
from analysis.linkage import link_world, load_secret
from analysis.linkage.keys import KEY_FIELDS, LinkageSecretError, Secret, derive_keys, normalise
from analysis.linkage.link import STATUSES, key_agency
from analysis.panel import build_panel, read_linked

from .conftest import DEFAULT_SEED, default_run_secret
from .worlds import TEST_SECRET


def test_every_record_accounted_for(default_linked, default_world):
    out, rep = default_linked
    n_prog = pq.ParquetFile(default_world[0] / "program/participants.parquet").metadata.num_rows
    n_nhis = pq.ParquetFile(default_world[0] / "nhis/identifiers.parquet").metadata.num_rows
    assert set(rep["status_counts"]) == set(STATUSES)
    assert sum(rep["status_counts"].values()) == n_prog == rep["program_records"]
    assert rep["nhis_persons_linked_to_a_participant"] + rep["nhis_persons_not_linked"] == n_nhis
    assert sum(rep["linked_via"].values()) == rep["status_counts"]["linked"]
    ev = rep["evaluation"]
    assert ev["correct_links"] + ev["false_matches"] == rep["status_counts"]["linked"]
    assert ev["program_records_without_true_pair"] == 0  # every synthetic participant is in NHIS
    assert ev["correct_links"] + ev["false_matches"] + ev["missed_matches"] == ev["true_pairs"] == n_prog
    for by, rows in rep["match_rate_by"].items():
        assert sum(r["records"] for r in rows) == n_prog, by
    # the linked tables hold every NHIS person-year and only the linked participants
    assert rep["output_rows"]["participation"] == rep["status_counts"]["linked"]
    for src, t in (("qualification", "qualification"), ("t20", "claims"), ("t40", "diagnoses"),
                   ("t60", "prescriptions"), ("checkups", "checkups")):
        assert (
            rep["output_rows"][t] == pq.ParquetFile(default_world[0] / f"nhis/{src}.parquet").metadata.num_rows
        )
    assert (out / "linkage_report.md").read_text().startswith("# Linkage quality report")


def test_quality_matches_the_faults(default_linked, default_world):
    """Format variants are absorbed by normalisation; a wrong birth date breaks both keys."""
    _, rep = default_linked
    truth = pd.read_parquet(default_world[0] / "truth/persons.parquet").dropna(subset=["member_id"])
    bd = truth.fault_birth_date
    both = truth.fault_name & truth.fault_phone
    assert rep["evaluation"]["missed_matches"] >= int((bd | both).sum())
    assert rep["evaluation"]["false_match_rate"] < 0.001
    assert 0.95 <= rep["match_rate"] <= 0.995
    ages = {r["age_band"]: r["match_rate"] for r in rep["match_rate_by"]["age_band"]}
    assert ages["70+"] < ages["30-39"]  # lunar-calendar birth dates among the old


def _scan(root: Path, forbidden_strings: set, forbidden_ints: np.ndarray) -> list[str]:
    """Columns of any Parquet file under root that carry identifiers, ids or keys.

    A string (or date) column fails on any forbidden value. An integer column fails when ids make up more
    than 1% of its distinct values (in a sample of a million rows): a KRW amount can equal a PERSON_ID by
    coincidence, an id column cannot hide.
    """
    rng = np.random.default_rng(0)
    bad = []
    for path in sorted(root.rglob("*.parquet")):
        schema = pq.read_schema(path)
        # strings read as dictionaries: their distinct values come with the file (30M codes, a few thousand)
        strings = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        t = pq.read_table(path, read_dictionary=strings)
        for name, col in zip(t.column_names, t.columns, strict=True):
            if name.lower() in {"person_id", "member_id", "name", "phone", "birth_date", "key1", "key2"}:
                bad.append(f"{path.name}:{name} (column name)")
                continue
            if pa.types.is_dictionary(col.type) or pa.types.is_date(col.type):
                chunks = [c.dictionary if pa.types.is_dictionary(col.type) else c for c in col.chunks]
                if set().union(*(map(str, c.drop_null().to_pylist()) for c in chunks)) & forbidden_strings:
                    bad.append(f"{path.name}:{name}")
            elif pa.types.is_integer(col.type):
                v = col.drop_null().to_numpy()
                if len(v) > 1_000_000:
                    v = rng.choice(v, 1_000_000)
                u = np.unique(v)
                if len(u) > 200_000:  # a share of 1% shows as clearly in a sample of the distinct values
                    u = rng.choice(u, 200_000, replace=False)
                at = np.minimum(np.searchsorted(forbidden_ints, u), len(forbidden_ints) - 1)
                if len(u) and (forbidden_ints[at] == u).mean() > 0.01:  # forbidden_ints is sorted
                    bad.append(f"{path.name}:{name}")
    return bad


def test_no_identifier_id_key_or_secret_leaks(default_run, default_world, tmp_path):
    """Nothing the default run writes outside its raw world (linkage, panel, matching, estimates, figures,
    reports) carries a direct identifier, an NHIS or program id, a linkage key or the secret."""
    world = default_world[0]
    ids = pd.read_parquet(world / "nhis/identifiers.parquet")
    part = pd.read_parquet(world / "program/participants.parquet")
    secret = default_run_secret()
    keys = derive_keys(normalise(ids.rename(columns=str.lower), "nhis"), secret)
    forbidden_strings = (
        set(ids.NAME)
        | set(ids.PHONE)
        | set(ids.BIRTH_DATE)
        | set(part.name)
        | set(part.phone)
        | set(part.birth_date)
        | {k.hex() for k in keys.key1}
        | {k.hex() for k in keys.key2}
    )
    forbidden_ints = np.unique(np.concatenate([ids.PERSON_ID.to_numpy(), part.member_id.to_numpy()]))
    # NHIS's own claim ids would join a released claim back to its person in the NHIS tables (they are
    # small numbers, so they are compared with the released claim ids only, not with every column)
    nhis_keys = np.sort(pd.read_parquet(world / "nhis/t20.parquet", columns=["KEY_SEQ"]).KEY_SEQ.to_numpy())
    for name in ("claims", "diagnoses", "prescriptions"):
        released = pd.read_parquet(default_run["run"] / f"linkage/linked/{name}.parquet", columns=["KEY_SEQ"]).KEY_SEQ
        r = released.to_numpy()[:200_000]
        at = np.minimum(np.searchsorted(nhis_keys, r), len(nhis_keys) - 1)  # np.isin hashes all 18M keys
        assert (nhis_keys[at] == r).mean() < 1e-3, name
    # the scan does catch a leak: the raw world itself fails it, and so do ids and names under other names
    assert _scan(world / "nhis", forbidden_strings, forbidden_ints)
    disguised = tmp_path / "disguised"
    disguised.mkdir()
    q = pd.read_parquet(world / "nhis/qualification.parquet", columns=["PERSON_ID", "STND_Y"])
    q.assign(who=ids.NAME.sample(len(q), replace=True, random_state=0).to_numpy()).rename(
        columns={"PERSON_ID": "record"}).to_parquet(disguised / "q.parquet")
    assert _scan(disguised, forbidden_strings, forbidden_ints) == ["q.parquet:record", "q.parquet:who"]
    released = [p for p in default_run["run"].iterdir() if p.is_dir() and p.name != "world"]
    assert {"linkage", "panel", "matching"} <= {p.name for p in released}
    for root in [*released, default_run["figures"], default_run["reports"]]:
        assert _scan(root, forbidden_strings, forbidden_ints) == [], root
        text = "".join(p.read_text() for p in root.rglob("*") if p.suffix in (".json", ".md", ".csv", ".html",
                                                                               ".svg", ".ipynb"))
        assert secret.value.decode() not in text
        for raw in list(ids.PHONE[:200]) + list(ids.NAME[:200]):
            assert raw not in text
        for path in root.rglob("*"):  # neither the secret nor raw HMAC bytes are in any file
            if path.is_file():
                blob = path.read_bytes()
                assert secret.value not in blob
                assert keys.key1.iloc[0] not in blob


def test_study_ids_are_keyed_by_the_secret(small_world, small_linked, tmp_path):
    """Same secret: identical files. Another secret: the same linked content under other study ids, so
    nobody holding only the public seed and the NHIS id order can rebuild who is who."""
    runs = {}
    for name, secret in (("a", TEST_SECRET.encode()), ("b", b"two")):
        link_world(
            small_world, tmp_path / name, LinkageConfig(), Secret(secret, "t"), seed=DEFAULT_SEED, progress=False
        )
        runs[name] = pd.read_parquet(tmp_path / f"{name}/linked/claims.parquet")
    for table in ("claims", "diagnoses", "persons", "qualification"):  # small_linked: the same secret, linked before
        assert (tmp_path / f"a/linked/{table}.parquet").read_bytes() == (
            small_linked / f"linked/{table}.parquet"
        ).read_bytes(), table
    a, b = runs["a"], runs["b"]
    assert not np.array_equal(a.STUDY_ID.to_numpy(), b.STUDY_ID.to_numpy()[: len(a)])
    assert not np.isin(a.KEY_SEQ.to_numpy(), b.KEY_SEQ.to_numpy()).any()  # claim ids are keyed too
    cols = [c for c in a.columns if c not in ("STUDY_ID", "KEY_SEQ")]
    pd.testing.assert_frame_equal(
        a[cols].sort_values(cols).reset_index(drop=True), b[cols].sort_values(cols).reset_index(drop=True)
    )


def test_generalisation_options_flow_into_the_panel(small_world, tmp_path):
    cfg = LinkageConfig(generalise_birth_date="month", generalise_district=True)
    link_world(small_world, tmp_path, cfg, Secret(b"s", "t"), seed=1, progress=False)
    persons = pd.read_parquet(tmp_path / "linked/persons.parquet")
    assert list(persons.columns) == ["STUDY_ID", "BIRTH_YEAR", "BIRTH_MONTH", "SEX"]
    rep = json.loads((tmp_path / "linkage_report.json").read_text())
    assert rep["generalisation"] == {"birth_date": "month", "district": True}
    panel, _ = build_panel(read_linked(tmp_path / "linked"), PanelConfig())
    assert set(panel.district) == {1, 2, 3, 4, 5}


def _records(rows):
    df = pd.DataFrame(rows, columns=["name", "birth_date", "sex", "phone"])
    return derive_keys(normalise(df, "t"), Secret(b"k", "t"))


def test_key_agency_statuses():
    nhis = _records(
        [
            ("김민준", "1980-01-01", 1, "010-1111-1111"),  # 0: unique
            ("이서연", "1990-02-02", 2, "010-2222-2222"),  # 1: duplicate name+dob+sex with 2
            ("이서연", "1990-02-02", 2, "010-3333-3333"),  # 2
            ("박지호", "1970-03-03", 1, "010-4444-4444"),  # 3
            ("최하은", "1970-03-03", 1, "010-5555-5555"),  # 4
        ]
    ).assign(serial=np.arange(5) + 100)
    prog = _records(
        [
            ("김 민준", "19800101", "M", "01011111111"),  # linked on both keys despite formatting
            ("이서연", "1990-02-02", "F", "010-9999-9999"),  # key1 ambiguous, key2 no match -> ambiguous
            ("이서연", "1990-02-02", "F", "010-3333-3333"),  # key1 ambiguous, key2 unique -> linked via key2
            ("박지호", "1970-03-03", "M", "010-5555-5555"),  # key1 -> 3, key2 -> 4: conflict
            ("정우진", "1960-04-04", "M", "010-0000-0000"),  # no match
            ("김민준", "1980-01-01", "M", "010-7777-7777"),  # second record on person 0 -> duplicate
        ]
    ).assign(serial=np.arange(6))
    res, dup = key_agency(nhis, prog)
    assert list(res.status) == ["duplicate", "ambiguous", "linked", "conflict", "no_match", "duplicate"]
    assert res.nhis_serial.tolist()[2] == 102 and res.via.tolist()[2] == "key2"
    assert dup["nhis_key1_duplicate_values"] == 1 and dup["nhis_key1_records_in_duplicates"] == 2
    assert set(KEY_FIELDS) == {"key1", "key2"}


def test_normalise_rejects_bad_identifiers():
    df = pd.DataFrame(
        {
            "name": ["a", "b"],
            "birth_date": ["1980-01-01", "1980-13"],
            "sex": ["M", "X"],
            "phone": ["010", "010"],
        }
    )
    with pytest.raises(
        ValueError, match=r"participants.birth_date: 1 value\(s\) are not a date \(first rows: \[1\]\)"
    ):
        normalise(df, "participants")


def test_secret_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_SECRET", "abc")
    s = load_secret("MY_SECRET")
    assert s.source == "env:MY_SECRET" and "abc" not in repr(s)
    monkeypatch.delenv("MY_SECRET")
    f = tmp_path / "secret.txt"
    f.write_text("from-file\n")
    assert load_secret("MY_SECRET", str(f)).value == b"from-file"
    with pytest.raises(LinkageSecretError, match="does not exist"):
        load_secret("MY_SECRET", str(tmp_path / "missing"))
    # real data: a secret is required; a synthetic world has a public, reproducible default
    with pytest.raises(
        LinkageSecretError, match=r"set \$MY_SECRET or linkage.secret_file .*required for real"
    ):
        load_secret("MY_SECRET")
    assert load_secret("MY_SECRET", synthetic_seed=5).source == "synthetic-default"
    assert load_secret("MY_SECRET", synthetic_seed=5) == load_secret("MY_SECRET", synthetic_seed=5)


def test_hmac_is_keyed_sha256():
    norm = normalise(
        pd.DataFrame(
            {"name": ["김민준"], "birth_date": ["1980-01-01"], "sex": [1], "phone": ["010-1111-1111"]}
        ),
        "t",
    )
    keys = derive_keys(norm, Secret(b"secret", "t"))
    expect = hmac.new(b"secret", "김민준|19800101|M".encode(), "sha256").digest()
    assert keys.key1.iloc[0] == expect


def test_claim_ids_are_a_keyed_permutation():
    from analysis.linkage.keys import claim_ids

    a, b = Secret(b"one secret", "test"), Secret(b"another secret", "test")
    x = np.concatenate([np.arange(1, 500_001), 7 * 10**10 + np.arange(1, 500_001)])
    y = claim_ids(x, a)
    assert len(np.unique(y)) == len(x) and (y >= 1).all()  # one to one, positive
    assert np.array_equal(y, claim_ids(x, a))  # the same for the holder of the secret
    assert (y != claim_ids(x, b)).mean() > 0.999  # unguessable without it
    assert np.isin(y, x).mean() < 1e-4  # new ids do not repeat old ones
    with pytest.raises(ValueError, match="below 2"):
        claim_ids(np.array([2**62]), a)
