"""Done markers and the unit cache (tasks.checkpoint) against a real S3 API and local files."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tasks import checkpoint, storage
from tasks.checkpoint import Checkpoint, Marker
from tasks.layout import RunLayout

UNIT = "u0000-0123abcd"
INPUTS = {"asset_sha256": "ab" * 32, "start": 0, "end": 12, "fps": "24"}


def _point(layout: RunLayout, inputs: dict[str, Any] = INPUTS) -> Checkpoint:
    outputs = {name: layout.unit(UNIT, name) for name in ("a.mkv", "b.json")}
    return Checkpoint(layout, UNIT, "swap", dict(inputs), outputs)


def _files(tmp: Path, tag: str) -> dict[str, Path]:
    (tmp / tag).mkdir(exist_ok=True)
    a, b = tmp / tag / "a.mkv", tmp / tag / "b.json"
    a.write_bytes(f"frames of {tag}".encode() * 500)
    b.write_text(f'{{"from": "{tag}"}}')
    return {"a.mkv": a, "b.json": b}


def _keys(bucket: str) -> list[str]:
    listing = storage.client().list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_the_key_covers_every_input_and_nothing_else() -> None:
    same = checkpoint.cache_key("swap", dict(reversed(list(INPUTS.items()))))
    assert same == checkpoint.cache_key("swap", INPUTS)
    assert checkpoint.cache_key("swap", {**INPUTS, "end": 13}) != same
    assert checkpoint.cache_key("restore", INPUTS) != same


def test_commit_makes_outputs_final_and_a_rerun_finds_them(bucket: str, tmp_path: Path) -> None:
    layout = RunLayout(f"s3://{bucket}/runs/r1")
    point = _point(layout)
    assert point.lookup() is None
    files = _files(tmp_path, "one")
    point.commit(files, {"frames": 12})
    for name, path in files.items():
        assert storage.read_bytes(layout.unit(UNIT, name)) == path.read_bytes()
    found = _point(layout).lookup()
    assert found is not None and found.result == {"frames": 12}
    assert found.outputs["a.mkv"].sha256 == storage.sha256_file(files["a.mkv"])
    assert _point(layout, {**INPUTS, "fps": "25"}).lookup() is None  # other settings: redone


def test_a_changed_output_voids_the_marker(bucket: str, tmp_path: Path) -> None:
    layout = RunLayout(f"s3://{bucket}/runs/r1")
    files = _files(tmp_path, "one")
    _point(layout).commit(files, {})
    final = layout.unit(UNIT, "b.json")
    storage.write_bytes(final, b'{"from": "eve"}')  # same size, other content
    # The run's marker no longer holds; the cache entry does, and puts the output back.
    assert _point(layout).lookup() is not None
    assert storage.read_bytes(final) == files["b.json"].read_bytes()
    entry = checkpoint.read_marker(f"s3://{bucket}/cache/units/{_point(layout).key}/done.json")
    assert entry is not None
    storage.write_bytes(entry.outputs["a.mkv"].uri, b"tampered")
    storage.write_bytes(final, b'{"from": "eve"}')
    assert _point(layout).lookup() is None


def test_local_markers_are_checked_by_hash(tmp_path: Path) -> None:
    layout = RunLayout(str(tmp_path / "run"))
    assert layout.cache is None  # not under <work>/runs/: markers only, no shared cache
    _point(layout).commit(_files(tmp_path, "one"), {"n": 1})
    assert _point(layout).lookup() is not None
    assert not list((tmp_path / "run").rglob("*.part"))
    assert not list((tmp_path / "run").rglob(".attempts/*/*"))  # staging removed
    target = Path(layout.unit(UNIT, "a.mkv"))
    data = bytearray(target.read_bytes())
    data[10] ^= 1
    target.write_bytes(bytes(data))
    assert _point(layout).lookup() is None


def test_an_unreadable_marker_is_ignored(tmp_path: Path) -> None:
    layout = RunLayout(str(tmp_path / "run"))
    point = _point(layout)
    point.commit(_files(tmp_path, "one"), {})
    storage.write_bytes(point.marker_uri, b"{not json")
    assert point.lookup() is None


def test_the_marker_is_written_last(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attempt that dies while making its outputs final leaves no marker: it is redone."""
    layout = RunLayout(f"s3://{bucket}/runs/r1")
    real_copy = storage.copy_etag
    calls: list[str] = []

    def dies_on_second(src: str, dst: str) -> str | None:
        calls.append(dst)
        if len(calls) == 2:
            raise ConnectionError("pod lost")
        return real_copy(src, dst)

    monkeypatch.setattr(storage, "copy_etag", dies_on_second)
    with pytest.raises(ConnectionError):
        _point(layout).commit(_files(tmp_path, "one"), {})
    monkeypatch.setattr(storage, "copy_etag", real_copy)
    assert not storage.exists(_point(layout).marker_uri)
    assert _point(layout).lookup() is None


def test_another_run_reuses_the_cache_entry(bucket: str, tmp_path: Path) -> None:
    first, second = RunLayout(f"s3://{bucket}/runs/r1"), RunLayout(f"s3://{bucket}/runs/r2")
    assert first.cache == f"s3://{bucket}/cache"
    files = _files(tmp_path, "one")
    _point(first).commit(files, {"frames": 12})
    found = _point(second).lookup()
    assert found is not None and found.result == {"frames": 12}
    assert found.outputs["a.mkv"].uri == second.unit(UNIT, "a.mkv")
    assert storage.read_bytes(second.unit(UNIT, "a.mkv")) == files["a.mkv"].read_bytes()
    assert Marker.model_validate(storage.read_json(_point(second).marker_uri)).key == found.key


def test_the_cache_can_be_turned_off(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECAST_UNIT_CACHE", "off")
    layout = RunLayout(f"s3://{bucket}/runs/r1")
    _point(layout).commit(_files(tmp_path, "one"), {})
    assert _keys(bucket) == sorted(
        [f"runs/r1/units/{UNIT}/{n}" for n in ("a.mkv", "b.json", "swap.done.json")]
    )


def test_concurrent_writers_of_one_key_leave_a_whole_entry(bucket: str, tmp_path: Path) -> None:
    """Attempts stage under their own keys; the entry's marker names one complete attempt."""
    layouts = [RunLayout(f"s3://{bucket}/runs/r{i}") for i in range(4)]
    files = [_files(tmp_path, f"w{i}") for i in range(4)]
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            start.wait()
            _point(layouts[i]).commit(files[i], {"writer": i})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, layout in enumerate(layouts):  # every run holds its own writer's files
        assert storage.read_bytes(layout.unit(UNIT, "a.mkv")) == files[i]["a.mkv"].read_bytes()
    key = _point(layouts[0]).key
    entry = checkpoint.read_marker(f"s3://{bucket}/cache/units/{key}/done.json")
    assert entry is not None
    winner = entry.result["writer"]
    for name, rec in entry.outputs.items():
        assert checkpoint.intact(rec)
        assert storage.read_bytes(rec.uri) == files[winner][name].read_bytes()
    reused = _point(RunLayout(f"s3://{bucket}/runs/late")).lookup()
    assert reused is not None and reused.result == {"writer": winner}
