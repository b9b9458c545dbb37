"""The laptop's work area (recast.workarea): runs saved from and put back into a real S3 API,
sizes shown, pruned by age and by size, dead reuse records dropped."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from recast import workarea
from tasks import storage
from tasks.checkpoint import OutputRecord
from tasks.reuse import INDEX, Piece, Record


def _entry(home: Path, key: str, size: int, age_days: float) -> Path:
    folder = workarea.cache_dir(home) / "units" / key
    (folder / "a1").mkdir(parents=True)
    (folder / "a1" / "swapped.mkv").write_bytes(b"x" * size)
    (folder / "done.json").write_text("{}")
    then = time.time() - age_days * 86400
    for p in [*folder.rglob("*"), folder]:
        os.utime(p, (then, then))
    return folder / "a1" / "swapped.mkv"


def _record(home: Path, name: str, output: Path) -> Path:
    out = OutputRecord(uri=str(output), sha256="0" * 64, size=1)
    record = Record(
        run="r", unit="u", source=out, output=out, faces=out,
        pieces=[Piece(shot=0, start=0, hashes="")],
    )  # fmt: skip
    path = workarea.cache_dir(home) / "shots" / "s" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record.model_dump_json())
    return path


def test_prune_by_age_then_size_drops_dead_records(tmp_path: Path) -> None:
    old = _entry(tmp_path, "old", 1000, 40)
    mid = _entry(tmp_path, "mid", 3000, 5)
    new = _entry(tmp_path, "new", 2000, 1)
    dead, alive = _record(tmp_path, "dead", old), _record(tmp_path, "alive", new)
    lines = workarea.report_lines(tmp_path)
    assert lines[1].split()[:2] == ["units", "3"] and "reuse records" in lines[2]
    removed = workarea.prune(tmp_path, older_than_days=30)
    assert {e.path.name for e in removed} == {"old", "dead.json"}
    assert not old.exists() and not dead.exists() and mid.exists() and alive.exists()
    removed = workarea.prune(tmp_path, max_bytes=3500)  # the oldest goes first
    assert [e.path.name for e in removed] == ["mid"] and new.exists() and alive.exists()


def test_prune_keeps_a_runs_index_while_its_files_live(tmp_path: Path) -> None:
    alive, gone = _entry(tmp_path, "a", 10, 1), _entry(tmp_path, "b", 10, 1)
    records = [json.loads(_record(tmp_path, name, f).read_text()) for name, f in
               (("r--u1", alive), ("r--u2", gone))]  # fmt: skip
    folder = workarea.cache_dir(tmp_path) / "shots" / "s" / INDEX
    folder.mkdir()
    (folder / "r.json").write_text(json.dumps(records[:1]))
    (folder / "q.json").write_text(json.dumps(records))
    gone.unlink()
    removed = {e.path.name for e in workarea.prune(tmp_path)}
    assert removed == {"r--u2.json", "q.json"}  # an index naming a lost file goes with it
    assert (folder / "r.json").exists()


def test_a_run_is_saved_and_put_back(bucket: str, tmp_path: Path) -> None:
    for key in (
        "spec.json",
        "units/u1/restored.mkv",
        "units/u1/source.mkv",
        "units/u1/.attempts/x/a.json",
    ):
        storage.write_bytes(f"s3://{bucket}/runs/manual__1/{key}", key.encode())
    saved = workarea.save_run(storage.client(), bucket, "manual__1", tmp_path)
    assert sorted(str(p.relative_to(saved)) for p in saved.rglob("*") if p.is_file()) == [
        "spec.json",
        "units/u1/restored.mkv",
    ]
    storage.delete(f"s3://{bucket}/runs/manual__1/spec.json")
    assert workarea.restore_run(storage.client(), bucket, "manual__1", tmp_path)
    assert storage.read_bytes(f"s3://{bucket}/runs/manual__1/spec.json") == b"spec.json"
    assert not workarea.restore_run(storage.client(), bucket, "nope", tmp_path)


def test_cli_versions_flags_become_spec_fields() -> None:
    from recast import options
    from recast.cli import _parser, _versions_conf
    from tasks.spec import RenderSpec

    args = _parser().parse_args(
        [
            "render", "v1.mp4", "--face", "a.png", "--out", "o.mp4", "--no-reuse",
            "--base", "manual__2026-12-03T08-57-56.298619-00-00",
            "--shots", "12,00:00:01:00-00:00:02:00", "--skip-shots", "3",
            "--shot-face", "12=b.png:c.png", "--shot-face", "12=d.png",
        ]
    )  # fmt: skip
    conf = options.given(args) | _versions_conf(args)
    assert conf == {
        "reuse": False,
        "base_run": "manual__2026-12-03T08-57-56.298619-00-00",
        "shots": [12, "00:00:01:00-00:00:02:00"],
        "shot_overrides": [
            {"shot": 3, "skip": True},
            {"shot": 12, "faces": [{"source": "b.png", "reference": "c.png"}, {"source": "d.png"}]},
        ],
    }
    spec = RenderSpec.parse({"asset": "s3://b/v1.mp4", "faces": [{"source": "a.png"}], **conf})
    assert [o.shot for o in spec.shot_overrides] == [3, 12] and not spec.reuse
