"""Unit faults on real processes: a pod killed mid-unit, a full scratch disk, two renders of one
asset at once, and a unit that is already done.

Each unit stage runs as a pod runs it (`python -m tasks swap ...`) against the S3 server. The
reference is an undisturbed run of the same unit: the swap is deterministic in its pixels (the
Matroska header carries a date and a random id, so files are compared by decoded frames).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tasks import checkpoint, storage
from tasks.layout import RunLayout
from tasks.spec import RenderSpec, UnitResult
from tests.reliability.unit_runs import (
    frames_of,
    only_unit,
    prepare_run,
    run_stage,
    stage_command,
    unit_keys_in,
    upload_inputs,
)

FINAL = {"swapped.mkv", "faces.json", "swap.done.json"}


@dataclass
class Reference:
    bucket: str
    spec: RenderSpec
    frames: list[np.ndarray]
    faces: bytes


@pytest.fixture(scope="module")
def reference(s3_server: str, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """Inputs in S3 and the undisturbed swap of their one unit."""
    tmp = tmp_path_factory.mktemp("reference")
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    storage.client().create_bucket(Bucket=bucket)
    spec = upload_inputs(bucket, tmp)
    layout = prepare_run(bucket, "undisturbed", spec)
    unit = only_unit(layout)
    done = run_stage("swap", layout, unit, tmp, RECAST_UNIT_CACHE="off")
    assert done.returncode == 0, done.stderr[-2000:]
    return Reference(
        bucket,
        spec,
        frames_of(layout.unit_swapped(unit), tmp),
        storage.read_bytes(layout.unit(unit, "faces.json")),
    )


@pytest.fixture
def cache(reference: Reference, monkeypatch: pytest.MonkeyPatch) -> str:
    """A unit cache of this test's own, for the stages run here and in child processes."""
    uri = f"s3://{reference.bucket}/cache-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("RECAST_UNIT_CACHE", uri)
    return uri


def _new_run(reference: Reference) -> tuple[RunLayout, str]:
    layout = prepare_run(reference.bucket, f"run-{uuid.uuid4().hex[:8]}", reference.spec)
    return layout, only_unit(layout)


def _assert_like_reference(reference: Reference, layout: RunLayout, unit: str, tmp: Path) -> None:
    frames = frames_of(layout.unit_swapped(unit), tmp)
    assert len(frames) == len(reference.frames)
    assert all(np.array_equal(a, b) for a, b in zip(frames, reference.frames, strict=True))
    assert storage.read_bytes(layout.unit(unit, "faces.json")) == reference.faces


def _swap_entries(cache: str) -> list[checkpoint.Marker]:
    """The swap entries of a unit cache (split has its own there too)."""
    bucket, prefix = storage.split_uri(cache + "/")
    listing = storage.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    markers = [
        checkpoint.read_marker(f"s3://{bucket}/{o['Key']}")
        for o in listing.get("Contents", [])
        if o["Key"].endswith("/done.json")
    ]
    return [m for m in markers if m is not None and m.stage == "swap"]


def _kill_when_encoding(proc: subprocess.Popen[str], scratch: Path) -> None:
    """SIGKILL once the unit's output is partly written in scratch: mid-unit, nothing final."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        partial = [p for p in scratch.glob("recast-swap-*/swapped.mkv") if p.stat().st_size > 0]
        if partial:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            return
        time.sleep(0.02)
    raise AssertionError(f"swap never started writing (exit {proc.poll()})")


def test_a_unit_killed_mid_way_is_redone_identically(
    reference: Reference, cache: str, tmp_path: Path
) -> None:
    layout, unit = _new_run(reference)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {**dict(os.environ), "RECAST_SCRATCH": str(scratch), "RECAST_FACE_BATCH": "2"}
    with subprocess.Popen(
        stage_command("swap", layout, unit, tmp_path / "killed.json"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        _kill_when_encoding(proc, scratch)
    assert proc.returncode == -signal.SIGKILL
    assert not FINAL & set(unit_keys_in(reference.bucket, layout, unit))
    assert not _swap_entries(cache)

    retry = run_stage("swap", layout, unit, tmp_path)  # Airflow's retry: the same command
    assert retry.returncode == 0, retry.stderr[-2000:]
    result = UnitResult.model_validate_json((tmp_path / "swap-result.json").read_text())
    assert not result.cached and result.frames == len(reference.frames)
    _assert_like_reference(reference, layout, unit, tmp_path)


@pytest.fixture
def tiny_scratch(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: room for the unit's input (copied from the source), not its output."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_scratch_disk_fails_the_unit_with_a_clear_reason(
    reference: Reference, cache: str, tiny_scratch: Path, tmp_path: Path
) -> None:
    layout, unit = _new_run(reference)
    failed = run_stage("swap", layout, unit, tmp_path, RECAST_SCRATCH=str(tiny_scratch))
    reason = failed.stderr.strip().splitlines()[-1]
    assert failed.returncode == 1, failed.stderr[-2000:]
    assert reason.startswith(f"recast: swap: no space left in scratch {tiny_scratch} ("), reason
    assert "1 MiB in all" in reason
    assert not FINAL & set(unit_keys_in(reference.bucket, layout, unit))
    assert not _swap_entries(cache)


def test_two_renders_of_one_asset_at_once_keep_apart(
    reference: Reference, cache: str, tmp_path: Path
) -> None:
    """Both compute the same cache key at once; each run gets its own whole outputs, and the
    shared entry is one complete attempt that a third render then reuses."""
    runs = [_new_run(reference) for _ in range(2)]
    assert runs[0][0].prefix != runs[1][0].prefix
    procs = [
        subprocess.Popen(
            stage_command("swap", layout, unit, tmp_path / f"{i}.json"),
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, (layout, unit) in enumerate(runs)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    for i, (layout, unit) in enumerate(runs):
        assert not json.loads((tmp_path / f"{i}.json").read_text())["cached"]
        _assert_like_reference(reference, layout, unit, tmp_path)
        assert set(unit_keys_in(reference.bucket, layout, unit)) >= FINAL

    (entry,) = _swap_entries(cache)
    assert all(checkpoint.intact(r) for r in entry.outputs.values())
    assert len({r.uri.rsplit("/", 2)[1] for r in entry.outputs.values()}) == 1  # one attempt

    layout, unit = _new_run(reference)
    third = run_stage("swap", layout, unit, tmp_path)
    assert third.returncode == 0, third.stderr[-2000:]
    assert json.loads((tmp_path / "swap-result.json").read_text())["cached"]
    _assert_like_reference(reference, layout, unit, tmp_path)


def test_a_done_unit_is_skipped_and_a_new_run_reuses_it(
    reference: Reference, cache: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.stages import split, swap

    layout, unit = _new_run(reference)
    first = UnitResult.model_validate(swap.run(layout.prefix, unit))
    assert not first.cached and first.timings

    def no_engine(*args: object) -> None:
        raise AssertionError("the engine was built for a unit that is done")

    monkeypatch.setattr(swap, "build_engine", no_engine)
    storage.delete(layout.unit_source(unit))  # nothing to decode either
    again = UnitResult.model_validate(swap.run(layout.prefix, unit))
    assert again.cached and again.output == first.output
    assert (again.frames, again.faces_swapped) == (first.frames, first.faces_swapped)
    _assert_like_reference(reference, layout, unit, tmp_path)

    # A re-triggered render of the same asset and settings: split and swap both come from cache.
    rerun, rerun_unit = _new_run(reference)
    assert rerun_unit != unit  # unit ids hash the run; the cache key does not
    assert split.run(reference.spec.asset, rerun.prefix)["cached"] == 1
    reused = UnitResult.model_validate(swap.run(rerun.prefix, rerun_unit))
    assert reused.cached and reused.unit_id == rerun_unit and reused.output.startswith(rerun.prefix)
    _assert_like_reference(reference, rerun, rerun_unit, tmp_path)
