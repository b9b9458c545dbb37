"""S3 errors (5xx, throttling, dropped connections) are retried and never corrupt an object."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks import storage
from tests.reliability.s3_fault_proxy import FaultPlan, fault_proxy


@pytest.fixture
def faulty(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, FaultPlan]]:
    with fault_proxy(s3_server) as (endpoint, plan):
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        storage.client.cache_clear()
        yield endpoint, plan
    storage.client.cache_clear()


def _blob(tmp_path: Path, size: int = 3 * 1024 * 1024) -> Path:
    path = tmp_path / "blob.bin"
    path.write_bytes(os.urandom(size))
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("fault", ["slowdown", "internal", "reset"])
def test_uploads_and_downloads_survive_faults(
    faulty: tuple[str, FaultPlan], bucket: str, tmp_path: Path, fault: str
) -> None:
    _, plan = faulty
    blob = _blob(tmp_path)
    plan.add(fault, times=2, method="PUT")  # type: ignore[arg-type]
    plan.add(fault, times=2, method="GET")  # type: ignore[arg-type]
    uri = storage.upload(blob, f"s3://{bucket}/media/blob.bin")
    back = storage.download(uri, tmp_path / "back.bin")
    assert _sha(back) == _sha(blob)
    assert len(plan.injected) == 4, plan.injected


def test_a_stage_process_retries_through_throttling(
    faulty: tuple[str, FaultPlan], bucket: str, tmp_path: Path
) -> None:
    from recast.samples import make_film, varied_shots

    endpoint, plan = faulty
    film = make_film(tmp_path / "f.mp4", varied_shots([6, 6]), size=(160, 90))
    storage.upload(film, f"s3://{bucket}/in/f.mp4")
    plan.add("slowdown", times=3)
    plan.add("reset", times=1, method="PUT")
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint}
    out = f"s3://{bucket}/runs/r/probe.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tasks", "probe", f"s3://{bucket}/in/f.mp4", "--out", out],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert storage.read_json(f"s3://{bucket}/runs/r/probe.json")["frame_count"] == 12
    assert len(plan.injected) == 4


def test_when_s3_stays_down_the_error_is_clear_and_nothing_is_written(
    faulty: tuple[str, FaultPlan], bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, plan = faulty
    monkeypatch.setenv("RECAST_S3_MAX_ATTEMPTS", "2")
    storage.client.cache_clear()
    plan.add("internal", times=1000, method="PUT")
    with pytest.raises(Exception, match=r"InternalError|500"):
        storage.upload(_blob(tmp_path, 1024), f"s3://{bucket}/x/never.bin")
    plan.rules.clear()
    assert not storage.exists(f"s3://{bucket}/x/never.bin")
