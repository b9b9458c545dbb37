"""`python -m tasks`: the command line pods run, driven as a subprocess like a pod would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recast.samples import make_film, varied_shots

CUTS = [18, 12, 16]  # shot lengths: cuts at frames 18 and 30


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "film.mp4"
    return make_film(path, varied_shots(CUTS), fps="24000/1001", size=(256, 144))


def _tasks(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tasks", *args], capture_output=True, text=True, env=env
    )


def test_detect_shots_writes_the_fixed_contract(film: Path, tmp_path: Path) -> None:
    out = tmp_path / "shots.json"
    proc = _tasks("detect-shots", str(film), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert {"fps", "frame_count", "shots"} <= set(doc)  # extra keys (detector...) are allowed
    assert doc["fps"] == "24000/1001"
    assert doc["frame_count"] == sum(CUTS)
    bounds = [{k: s[k] for k in ("index", "start_frame", "end_frame")} for s in doc["shots"]]
    assert bounds == [
        {"index": 0, "start_frame": 0, "end_frame": 18},
        {"index": 1, "start_frame": 18, "end_frame": 30},
        {"index": 2, "start_frame": 30, "end_frame": 46},
    ]


def test_detect_shots_reads_and_writes_s3(film: Path, bucket: str, s3_server: str) -> None:
    from tasks import storage

    storage.upload(film, f"s3://{bucket}/in/film.mp4")
    proc = _tasks(
        "detect-shots",
        f"s3://{bucket}/in/film.mp4",
        "--out",
        f"s3://{bucket}/out/shots.json",
    )
    assert proc.returncode == 0, proc.stderr
    assert storage.read_json(f"s3://{bucket}/out/shots.json")["frame_count"] == sum(CUTS)


def test_refused_input_exits_2_with_a_one_line_reason(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a film\n")
    proc = _tasks("probe", str(fake), "--out", str(tmp_path / "probe.json"))
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("recast: refused:") and "notes.mp4" in last
    assert not (tmp_path / "probe.json").exists()


def test_stage_result_goes_to_the_result_path(film: Path, tmp_path: Path) -> None:
    result = tmp_path / "xcom" / "return.json"
    proc = _tasks("--result", str(result), "probe", str(film), "--out", str(tmp_path / "p.json"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(result.read_text())
    assert doc["stage"] == "probe" and doc["frame_count"] == sum(CUTS)
