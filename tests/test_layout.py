from __future__ import annotations

import pytest

from tasks.layout import RunLayout, delivery_prefix, safe_run_id


def test_run_ids_become_portable_keys() -> None:
    assert (
        safe_run_id("manual__2026-11-25T21:47:56.1+00:00") == "manual__2026-11-25T21-47-56.1-00-00"
    )
    with pytest.raises(ValueError):
        safe_run_id("::")


def test_every_artefact_lives_under_the_run_prefix() -> None:
    layout = RunLayout.for_run("s3://work/base/", "run:1")
    assert layout.prefix == "s3://work/base/runs/run-1"
    assert (
        layout.unit_source("u0001-0a0b0c0d")
        == "s3://work/base/runs/run-1/units/u0001-0a0b0c0d/source.mkv"
    )
    assert layout.film.startswith(layout.prefix + "/output/")
    assert layout.census == "s3://work/base/runs/run-1/census.json"


def test_delivery_prefix_uses_the_asset_stem_and_run() -> None:
    assert (
        delivery_prefix("s3://work/x", "renders/", "s3://in/films/My Film.mov", "r:1")
        == "s3://work/renders/My-Film/r-1"
    )


def test_the_unit_cache_sits_beside_the_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECAST_UNIT_CACHE", raising=False)
    layout = RunLayout.for_run("s3://work/base", "r:1")
    assert layout.cache == "s3://work/base/cache"
    assert layout.unit_marker("u0001-0a0b0c0d", "swap").endswith("/u0001-0a0b0c0d/swap.done.json")
    assert RunLayout("/tmp/somewhere/run").cache is None
    monkeypatch.setenv("RECAST_UNIT_CACHE", "s3://shared/cache/")
    assert layout.cache == "s3://shared/cache"
    monkeypatch.setenv("RECAST_UNIT_CACHE", "off")
    assert layout.cache is None


def test_two_renders_of_one_asset_never_share_a_prefix() -> None:
    ids = ("manual__2026-01-01T00:00:00+00:00", "manual__2026-01-01T00:00:01+00:00")
    runs = [RunLayout.for_run("s3://work", r).prefix for r in ids]
    published = [delivery_prefix("s3://work", "renders", "s3://in/a.mp4", r) for r in ids]
    assert len(set(runs)) == 2 and len(set(published)) == 2
