"""Same seed, scenario, scale and version: byte-identical files; the committed manifest matches."""

from __future__ import annotations

import json

import pandas as pd

from analysis.paths import DEFAULT_MANIFEST
from analysis.synth import generate_world

from .conftest import SMALL_SCALE


def _hashes(manifest):
    return {k: v["sha256"] for k, v in manifest["files"].items()}


def test_same_seed_gives_identical_bytes(tmp_path):
    a = generate_world(tmp_path / "a", scale=SMALL_SCALE, seed=7, progress=False)
    b = generate_world(tmp_path / "b", scale=SMALL_SCALE, seed=7, progress=False)
    assert _hashes(a) == _hashes(b)
    assert (tmp_path / "a/manifest.json").read_bytes() == (tmp_path / "b/manifest.json").read_bytes()
    c = generate_world(tmp_path / "c", scale=SMALL_SCALE, seed=8, progress=False)
    assert _hashes(c)["nhis/t20.parquet"] != _hashes(a)["nhis/t20.parquet"]


def test_scenarios_share_the_population(tmp_path):
    generate_world(tmp_path / "d", scale=SMALL_SCALE, seed=7, scenario="default", progress=False)
    generate_world(tmp_path / "n", scale=SMALL_SCALE, seed=7, scenario="null", progress=False)
    a = pd.read_parquet(tmp_path / "d/nhis/identifiers.parquet")
    b = pd.read_parquet(tmp_path / "n/nhis/identifiers.parquet")
    pd.testing.assert_frame_equal(a, b)
    pa_ = pd.read_parquet(tmp_path / "d/truth/persons.parquet")
    pb = pd.read_parquet(tmp_path / "n/truth/persons.parquet")
    assert (pa_.first_treat == pb.first_treat).all()  # same selection, different effect
    oa = pd.read_parquet(tmp_path / "d/truth/outcomes.parquet", columns=["y0_medical_cost"])
    ob = pd.read_parquet(tmp_path / "n/truth/outcomes.parquet", columns=["y0_medical_cost"])
    assert oa.equals(ob)


def test_default_world_matches_committed_manifest(default_world):
    _, manifest = default_world
    committed = json.loads(DEFAULT_MANIFEST.read_text())
    assert committed["scale"] == manifest["scale"] and committed["seed"] == manifest["seed"]
    assert committed["params"] == manifest["params"]
    assert {k: v["rows"] for k, v in committed["files"].items()} == {
        k: v["rows"] for k, v in manifest["files"].items()
    }
    assert _hashes(committed) == _hashes(manifest)


def test_a_failed_regeneration_leaves_the_previous_world_whole(tmp_path, monkeypatch):
    """Files are written under temporary names and renamed into place only when every chunk is done, so an
    error (or a full disk, or a kill) in the middle of a regeneration leaves the world that was there."""
    import pytest

    import analysis.synth.world as world

    monkeypatch.setattr(world, "CHUNK_PERSONS", 1_000)
    first = generate_world(tmp_path, scale=0.0003, seed=1, scenario="default", progress=False)
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    real = world.generate_chunk

    def fails_on_the_third(chunk, n, seed, params):
        if chunk == 2:
            raise OSError(28, "No space left on device")
        return real(chunk, n, seed, params)

    monkeypatch.setattr(world, "generate_chunk", fails_on_the_third)
    with pytest.raises(OSError, match="No space left"):
        generate_world(tmp_path, scale=0.0003, seed=2, scenario="default", progress=False)
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before and not list(tmp_path.rglob("*.partial"))
    assert json.loads((tmp_path / "manifest.json").read_text())["seed"] == first["seed"] == 1
