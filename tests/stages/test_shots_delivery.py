"""The `shots` delivery through the stages on S3: assemble writes the clip of the shot with a
replaced face (and its source plate), the QC report links it, publish lays out one prefix:
`film.mp4`, `shots/...`, `shots.json`, `timeline.otio`, `conform.edl`. The asset carries no
timecode, so everything starts at the spec's `start_timecode`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import opentimelineio as otio
import pytest

from recast.samples import make_film, varied_shots
from tasks import storage
from tasks.layout import RunLayout
from tasks.media.probe import probe
from tasks.spec import ShotList, SpecError
from tasks.stages import assemble, finalize, plan, publish, split

SHOTS = [8, 6]
UNITS = [
    {"id": "u0000-0000000a", "index": 0, "start_frame": 0, "end_frame": 8, "shots": [0]},
    {"id": "u0001-0000000b", "index": 1, "start_frame": 8, "end_frame": 14, "shots": [1]},
]


def _run(bucket: str, tmp_path: Path, fps: str = "24", **spec: object) -> tuple[RunLayout, str]:
    made = make_film(tmp_path / "made.mp4", varied_shots(SHOTS), fps=fps, size=(96, 54))
    film = tmp_path / "film.mov"
    cmd = ["ffmpeg", "-v", "error", "-i", str(made), "-c", "copy", str(film)]
    subprocess.run(cmd, check=True)
    assert probe(film).timecode is None
    asset = storage.upload(film, f"s3://{bucket}/in/film.mov")
    layout = RunLayout(f"s3://{bucket}/runs/r1")
    storage.write_json(
        layout.spec,
        {
            "asset": asset,
            "faces": [{"source": f"s3://{bucket}/f.png"}],
            "deliveries": ["review", "shots"],
            "plate_format": "exr",
            "source_plates": True,
            "handles": 3,
            "start_timecode": "10:00:00:00",
            **spec,
        },
    )
    shots = [
        {"index": 0, "start_frame": 0, "end_frame": 8},
        {"index": 1, "start_frame": 8, "end_frame": 14},
    ]
    storage.write_json(layout.shots, {"fps": fps, "frame_count": sum(SHOTS), "shots": shots})
    storage.write_json(layout.plan, {"fps": fps, "frame_count": sum(SHOTS), "units": UNITS})
    split.run(asset, layout.prefix)
    for unit in UNITS:  # no face work: the units come back as they went
        storage.copy(layout.unit_source(unit["id"]), layout.unit_restored(unit["id"]))
    face = {"track": 0, "mapping": 0, "kps": [[40, 20]] * 5, "bbox": [30, 10, 60, 40]}
    storage.write_json(layout.unit("u0001-0000000b", "faces.json"), {"frames": {"2": [face]}})
    return layout, asset


def test_shots_delivery_is_assembled_reported_and_published(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout, asset = _run(bucket, tmp_path)
    # The logged face is made up: identity similarity (tests/stages/test_finalize.py) is not
    # measured on it.
    monkeypatch.setattr(finalize.Identity, "measure", lambda *args: None)
    result = assemble.run(asset, layout.prefix)
    assert result["deliveries"] == ["review", "shots"] and "master" not in result
    assert result["timecode"] == "10:00:00:00" and result["warnings"] == []
    manifest = storage.read_json(layout.shot_clips)
    (clip,) = manifest["clips"]  # only shot 1 has a replaced face
    # Handles: 3 frames before the shot, none after it (it ends the film).
    assert (clip["shot"], clip["first"], clip["end"], clip["head"], clip["tail"]) == (
        1,
        5,
        14,
        3,
        0,
    )
    assert clip["name"] == "film_sh0001_v001" and clip["timecode"] == "10:00:00:05"
    assert clip["path"] == "shots/film_sh0001_v001/film_sh0001_v001.1001.exr"
    assert len(manifest["files"]) == 2 * 9  # the clip and its _plate_src, 9 frames each
    assert probe(storage.download(layout.film, tmp_path / "f.mp4")).timecode == "10:00:00:00"

    results = {"run_id": "manual__r1", "stages": {"assemble": result}, "swaps": [], "restores": []}
    storage.write_json(layout.results, results)
    finalize.run(asset, layout.prefix)
    qc = storage.read_json(layout.qc_json)
    assert qc["per_shot"][1]["clip"]["path"] == clip["path"]
    assert f'href="{clip["path"]}"' in storage.read_bytes(layout.qc_html).decode()

    destination = f"s3://{layout.prefix.split('/')[2]}/renders/film/r1"
    published = publish.run(layout.prefix, destination, {"run_id": "manual__r1"})
    for name in ("film.mp4", "timeline.otio", "conform.edl", "shots.json", clip["path"]):
        assert storage.exists(storage.join(destination, name)), name
    src = "shots/film_sh0001_v001_plate_src/film_sh0001_v001_plate_src.1009.exr"
    assert storage.exists(storage.join(destination, src))
    assert published["shots"] == storage.join(destination, "shots")
    # The published timeline refers to the clip by its path beside it, at its source timecode.
    timeline = otio.adapters.read_from_string(
        storage.read_bytes(storage.join(destination, "timeline.otio")).decode()
    )
    clips = list(timeline.find_clips())
    assert clips[0].media_reference.target_url == asset
    ref = clips[1].media_reference
    assert ref.target_url_for_image_number(0) == clip["path"]
    assert otio.opentime.to_timecode(ref.available_range.start_time, 24) == "10:00:00:05"
    assert otio.opentime.to_timecode(clips[1].source_range.start_time, 24) == "10:00:00:08"
    assert ShotList.model_validate(storage.read_json(layout.shots)).frame_count == sum(SHOTS)


# 120 fps without the master: on this 14-frame film, the master's PCM (decoded from AAC) outlasts
# the picture by more than a 120 fps frame, which check_film refuses with or without timecode.
@pytest.mark.parametrize(("fps", "deliveries"), [("12", ["master", "shots"]), ("120", ["shots"])])
def test_a_rate_smpte_lacks_finishes_without_its_edl(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fps: str, deliveries: list[str]
) -> None:
    """12 fps (OTIO's SMPTE timecode lacks it) and 120 fps (HH:MM:SS:FF cannot count it): the
    film, the master, the clip and the timeline are made; the EDL is left out with a warning."""
    layout, asset = _run(bucket, tmp_path, fps, deliveries=deliveries,
                         plate_format="prores4444", source_plates=False)  # fmt: skip
    monkeypatch.setattr(finalize.Identity, "measure", lambda *args: None)
    result = assemble.run(asset, layout.prefix)
    assert result["deliveries"] == ["review", *deliveries]
    assert "edl" not in result and storage.exists(layout.timeline)
    assert not storage.exists(layout.edl)
    assert storage.exists(layout.master) == ("master" in deliveries)
    assert [w for w in result["warnings"] if "EDL left out" in w and f"{fps} fps" in w]
    (clip,) = storage.read_json(layout.shot_clips)["clips"]
    assert clip["timecode"] == ("10:00:00:05" if fps == "12" else None)
    results = {"run_id": "manual__r1", "stages": {"assemble": result}, "swaps": [], "restores": []}
    storage.write_json(layout.results, results)
    finalize.run(asset, layout.prefix)
    assert result["warnings"][0] in storage.read_json(layout.qc_json)["warnings"]


def test_a_start_timecode_past_the_rate_is_refused_at_plan(bucket: str) -> None:
    """00:00:00:24 parses, but 24 fps counts frames 0-23: refused before any unit is planned."""
    layout = RunLayout(f"s3://{bucket}/runs/r2")
    spec = {"asset": f"s3://{bucket}/in/film.mov", "faces": [{"source": f"s3://{bucket}/f.png"}]}
    storage.write_json(layout.spec, {**spec, "start_timecode": "01:00:00:24"})
    shots = [{"index": 0, "start_frame": 0, "end_frame": 14}]
    storage.write_json(layout.shots, {"fps": "24", "frame_count": 14, "shots": shots})
    with pytest.raises(SpecError, match="start_timecode: timecode '01:00:00:24' has frame 24"):
        plan.run(layout.prefix)
    assert not storage.exists(layout.plan)
