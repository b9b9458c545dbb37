"""A stage's figures through a real Pushgateway into a real Prometheus (Debian's binaries on
loopback ports), its JSON log lines, and a gateway that is down costing only a warning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recast.monitoring import Monitoring, monitoring
from recast.samples import make_film, varied_shots
from tasks import metrics

SHOTS = [10, 8]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitoring]:
    with monitoring(tmp_path_factory.mktemp("monitoring"), scrape_every="1s") as mon:
        yield mon


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_film(tmp_path_factory.mktemp("film") / "film.mp4", varied_shots(SHOTS))


def _probe(film: Path | str, out: Path | str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "RECAST_DAG": "recast_render", "RECAST_TIER": "cpu", **env}
    full.pop("RECAST_LOG_FORMAT", None)
    return subprocess.run(
        [sys.executable, "-m", "tasks", "probe", str(film), "--out", str(out)],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )


def wait_for(mon: Monitoring, expr: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The query's result once Prometheus has scraped something for it."""
    deadline = time.monotonic() + timeout
    while True:
        found = mon.query(expr)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_a_stage_pushes_its_figures_and_prometheus_scrapes_them(
    servers: Monitoring, film: Path, bucket: str
) -> None:
    from tasks import storage

    asset = storage.upload(film, f"s3://{bucket}/inputs/film.mp4")
    out = f"s3://{bucket}/runs/manual__probe-1/probe.json"
    proc = _probe(asset, out, **servers.env(), RECAST_TRY="2", RECAST_GPUS="1")
    assert proc.returncode == 0, proc.stderr
    selector = 'recast_stage_frames{run="manual__probe-1",stage="probe"}'
    (series,) = wait_for(servers, selector)
    assert float(series["value"][1]) == sum(SHOTS)
    assert series["metric"] == {
        "__name__": "recast_stage_frames",
        "job": "recast_stage",
        "run": "manual__probe-1",
        "unit": "all",
        "stage": "probe",
        "attempt": "2",
        "dag": "recast_render",
        "tier": "cpu",
        "outcome": "ok",
        "model": "none",
    }
    run = '{run="manual__probe-1"}'
    (retries,) = servers.query(f"recast_stage_retries{run}")
    assert retries["value"][1] == "1"
    (wall,) = servers.query(f"recast_stage_wall_seconds{run}")
    (gpu,) = servers.query(f"recast_stage_gpu_seconds{run}")
    assert 0 < float(gpu["value"][1]) == float(wall["value"][1])  # one GPU reserved
    (read,) = servers.query(f"recast_stage_bytes_read{run}")
    assert float(read["value"][1]) == film.stat().st_size
    (written,) = servers.query(f"recast_stage_bytes_written{run}")
    listed = storage.client().list_objects_v2(Bucket=bucket, Prefix="runs/manual__probe-1/")
    assert float(written["value"][1]) == sum(o["Size"] for o in listed["Contents"])
    # Every line the stage logged is one JSON object naming the run, unit and stage.
    lines = [json.loads(line) for line in proc.stderr.splitlines()]
    fields = {(ln["run"], ln["unit"], ln["stage"], ln["tier"]) for ln in lines}
    assert fields == {("manual__probe-1", "all", "probe", "cpu")}


def test_a_failed_stage_pushes_its_outcome(servers: Monitoring, tmp_path: Path) -> None:
    out = tmp_path / "runs" / "manual__probe-2" / "probe.json"
    proc = _probe(tmp_path / "missing.mp4", out, **servers.env())
    assert proc.returncode == 2  # refused: the asset is not there
    # The reason stays the plain last line (the backends read it); every line before is JSON.
    *logged, reason = proc.stderr.splitlines()
    assert reason.startswith("recast: refused: ") and "missing.mp4" in reason
    assert all(json.loads(ln)["run"] == "manual__probe-2" for ln in logged)
    (series,) = wait_for(servers, 'recast_stage_end_timestamp_seconds{run="manual__probe-2"}')
    assert series["metric"]["outcome"] == "refused"
    assert abs(float(series["value"][1]) - time.time()) < 60


def test_a_gateway_that_is_down_costs_a_warning_not_the_stage(film: Path, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    out = tmp_path / "runs" / "manual__probe-3" / "probe.json"
    proc = _probe(film, out, RECAST_PUSHGATEWAY=dead)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["frame_count"] == sum(SHOTS)
    warnings = [json.loads(ln) for ln in proc.stderr.splitlines() if "not pushed" in ln]
    assert [w["level"] for w in warnings] == ["warning"]
    assert warnings[0]["message"].startswith(f"metrics not pushed to {dead}: ")


def test_old_groups_are_pruned_and_new_ones_kept(servers: Monitoring) -> None:
    for run in ("old-run", "new-run"):
        ctx = metrics.StageContext(stage="swap", run=run, unit="u0001", dag="recast_render")
        metrics.push_to(servers.pushgateway, ctx, "ok", 1.0, {"unit_id": "u0001", "frames": 5})
        if run == "old-run":
            time.sleep(2.0)
    assert metrics.prune(servers.pushgateway, keep=1.5) >= 1  # old-run is 2 s old
    with urllib.request.urlopen(f"{servers.pushgateway}/api/v1/metrics") as resp:
        runs = {g["labels"].get("run") for g in json.loads(resp.read())["data"]}
    assert "old-run" not in runs and "new-run" in runs


def test_figures_of_each_stage_result() -> None:
    swap = {"unit_id": "u1", "frames": 20, "faces_found": 9, "faces_swapped": 7, "cached": True}
    assert metrics.figures(swap) == {
        "frames": 20,
        "faces_found": 9,
        "faces_swapped": 7,
        "units": 1,
        "reused_units": 1,
    }
    assert metrics.figures({"stage": "split", "units": 4, "cached": 3}) == {
        "units": 4,
        "reused_units": 3,
    }
    assert metrics.figures({"stage": "detect-shots", "frame_count": 46}) == {"frames": 46}
    assert metrics.figures(None) == {}
    assert metrics.run_of("s3://recast/runs/manual__x/units") == "manual__x"
    assert metrics.run_of("s3://recast/runs/manual__x") == "manual__x"
    assert metrics.run_of("s3://recast/work") is None


def test_the_drop_folder_poll_reaches_prometheus(
    servers: Monitoring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(metrics.ENV_GATEWAY, servers.pushgateway)
    before = time.time()
    metrics.push_poll(3)
    (last,) = wait_for(servers, "recast_dropfolder_last_poll_timestamp_seconds")
    assert before <= float(last["value"][1]) <= time.time()
    (claimed,) = servers.query("recast_dropfolder_claimed_jobs")
    assert claimed["value"][1] == "3"


def test_a_refusal_stays_the_last_line_when_the_gateway_is_down(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    out = tmp_path / "runs" / "manual__probe-4" / "probe.json"
    proc = _probe(tmp_path / "missing.mp4", out, RECAST_PUSHGATEWAY=dead)
    assert proc.returncode == 2
    *logged, reason = proc.stderr.splitlines()
    assert reason.startswith("recast: refused: ") and "missing.mp4" in reason
    assert any("not pushed" in ln for ln in logged)  # the warning came, before the reason
