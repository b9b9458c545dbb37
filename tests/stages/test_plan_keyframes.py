"""probe records the asset's clean starts; plan moves units onto them; split then copies all."""

from __future__ import annotations

import subprocess
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recast.samples import make_film, varied_shots
from tasks import storage
from tasks.layout import RunLayout
from tasks.media.copy_units import copy_ranges, read_packets
from tasks.media.ffprobe import ffprobe
from tasks.media.frames import read_frames
from tasks.media.packets import scan_packets
from tasks.media.probe import probe as probe_facts
from tasks.shots.plan import plan_units
from tasks.spec import CleanStarts, Shot, ShotList, UnitPlan
from tasks.stages import plan, probe, split

# Cuts at 50, 95, 138 and 186; keyframes every 48 frames (none at a cut); units of 64 frames.
SHOTS = [50, 45, 43, 48, 31]
GOP = 48


def _shot_list() -> ShotList:
    edges = np.cumsum([0, *SHOTS]).tolist()
    shots = [Shot(index=i, start_frame=a, end_frame=b) for i, (a, b) in enumerate(pairwise(edges))]
    return ShotList(fps="24", frame_count=edges[-1], shots=shots)


@pytest.fixture(scope="module")
def long_gop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """H.264 with B-frames, a keyframe every 48 frames and none at the shots' cuts."""
    tmp = tmp_path_factory.mktemp("gop")
    film = make_film(tmp / "film.mp4", varied_shots(SHOTS), size=(320, 180))
    out = tmp / "long_gop.mp4"
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(film), "-c:v", "libx264", "-preset",
           "veryfast", "-bf", "2", "-x264-params", f"keyint={GOP}:scenecut=0"]  # fmt: skip
    subprocess.run([*cmd, "-c:a", "copy", str(out)], check=True)
    return out


def _run(tmp_path: Path, **spec: Any) -> RunLayout:
    layout = RunLayout(str(tmp_path / "runs" / "r1"))
    faces = [{"source": "s3://b/face.png"}]
    storage.write_json(layout.spec, {"asset": "s3://b/film.mp4", "faces": faces, **spec})
    storage.write_json(layout.shots, _shot_list().model_dump())
    return layout


def _codec(path: Path) -> str:
    streams = ffprobe(path, ["-select_streams", "v:0", "-show_streams"])["streams"]
    return str(streams[0]["codec_name"])


def test_units_of_a_long_gop_film_are_moved_onto_keyframes_and_copied(
    long_gop: Path, tmp_path: Path
) -> None:
    layout = _run(tmp_path, unit_frames=64)
    facts = probe.run(str(long_gop), layout.probe)
    assert facts["clean_starts"] == 5  # 0, 48, 96, 144, 192
    starts = CleanStarts.model_validate(storage.read_json(layout.keyframes))
    assert starts.ranges == [(f, f + 1) for f in range(0, 217, GOP)]

    # Planned on the cuts, no unit starts and ends on keyframes: all would be encoded.
    on_cuts = plan_units(_shot_list(), max_unit_frames=64, seed=layout.prefix).units
    packets = read_packets(scan_packets(long_gop), probe_facts(long_gop))
    assert packets is not None
    assert not copy_ranges(packets, on_cuts)

    result = plan.run(layout.prefix)
    assert result["on_keyframes"] is True
    units = UnitPlan.model_validate(storage.read_json(layout.plan)).units
    assert [u.start_frame for u in units] == [0, 48, 96, 144, 192]
    assert len(units) == len(on_cuts)

    split.run(str(long_gop), layout.prefix)
    frames = np.stack(list(read_frames(long_gop)))
    for unit in units:
        part = storage.download(layout.unit_source(unit.id), tmp_path / f"{unit.id}.mkv")
        assert _codec(part) == "h264"  # the source's packets, not an FFV1 encode
        got = np.stack(list(read_frames(part)))
        assert np.array_equal(got, frames[unit.start_frame : unit.end_frame]), unit.id


def test_plan_stays_on_the_cuts_without_usable_keyframes(tmp_path: Path) -> None:
    layout = _run(tmp_path, unit_frames=64)
    on_cuts = [50, 95, 138, 186]
    every_48 = CleanStarts.of(range(0, 217, GOP), 217)

    def bounds() -> list[int]:
        return [
            u.start_frame for u in UnitPlan.model_validate(storage.read_json(layout.plan)).units[1:]
        ]

    assert plan.run(layout.prefix)["on_keyframes"] is None  # no keyframes.json
    assert bounds() == on_cuts
    storage.write_bytes(layout.keyframes, b"{not json")
    assert plan.run(layout.prefix)["on_keyframes"] is None  # unreadable: ignored
    storage.write_json(layout.keyframes, CleanStarts.of([0, 10], 100).model_dump())
    assert plan.run(layout.prefix)["on_keyframes"] is None  # another film's
    storage.write_json(layout.keyframes, every_48.model_dump())
    assert plan.run(layout.prefix)["on_keyframes"] is True
    assert bounds() == [48, 96, 144, 192]

    prores = _run(tmp_path, unit_frames=64, mezzanine="prores")  # never copied: keep the cuts
    assert plan.run(prores.prefix)["on_keyframes"] is None
    assert bounds() == on_cuts


def test_probe_writes_no_keyframes_where_units_cannot_be_copied(
    long_gop: Path, tmp_path: Path
) -> None:
    rotated = tmp_path / "rotated.mp4"
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(long_gop), "-c", "copy",
           "-metadata:s:v:0", "rotate=90", str(rotated)]  # fmt: skip
    subprocess.run(cmd, check=True)
    layout = _run(tmp_path)
    assert probe.run(str(rotated), layout.probe)["clean_starts"] is None
    assert not storage.exists(layout.keyframes)


def test_plan_snaps_for_exactly_the_mezzanines_split_copies_into() -> None:
    from tasks.media.split import LOSSLESS
    from tasks.spec import LOSSLESS_MEZZANINES

    assert set(LOSSLESS_MEZZANINES) == set(LOSSLESS)
