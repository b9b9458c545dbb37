"""The shot list as an OTIO timeline and a CMX3600 EDL: one event per shot, frame-exact."""

from __future__ import annotations

import re
from pathlib import Path

import opentimelineio as otio
import pytest

from tasks.editorial.export import export_editorial
from tasks.spec import Shot, ShotList

FPS = "24000/1001"


@pytest.fixture
def shots() -> ShotList:
    return ShotList(
        fps=FPS,
        frame_count=120,
        shots=[
            Shot(index=0, start_frame=0, end_frame=40),
            Shot(
                index=1, start_frame=40, end_frame=75, transition="dissolve", transition_frames=12
            ),
            Shot(index=2, start_frame=75, end_frame=120, transition="fade", transition_frames=16),
        ],
        detector="test",
    )


def test_timeline_has_one_clip_per_shot(shots: ShotList, tmp_path: Path) -> None:
    otio_path, _, _ = export_editorial(
        shots, "s3://b/film.mp4", tmp_path, name="My film", start_timecode="01:00:00:00"
    )
    timeline = otio.adapters.read_from_file(str(otio_path))
    clips = list(timeline.find_clips())
    assert [c.name for c in clips] == ["shot_0000", "shot_0001", "shot_0002"]
    rate = 24000 / 1001
    start = otio.opentime.from_timecode("01:00:00:00", rate)
    for clip, shot in zip(clips, shots.shots, strict=True):
        source = clip.source_range
        assert round((source.start_time - start).to_frames()) == shot.start_frame
        assert round(source.duration.to_frames()) == shot.frames
        assert clip.metadata["recast"]["transition"] == shot.transition
    assert [m.name for m in clips[1].markers] == ["dissolve 12 frames (baked in)"]
    # A marker lies in its clip's own time: on the clip's first frame, inside its range.
    marker = clips[1].markers[0].marked_range
    assert marker.start_time == clips[1].source_range.start_time
    assert clips[1].source_range.contains(marker.start_time)
    assert round(timeline.duration().to_frames()) == shots.frame_count


def test_edl_lists_every_shot_with_source_timecodes(shots: ShotList, tmp_path: Path) -> None:
    _, edl_path, warnings = export_editorial(
        shots, "s3://b/film.mp4", tmp_path, name="My film", start_timecode="01:00:00:00"
    )
    assert edl_path is not None and not warnings
    text = edl_path.read_text()
    assert text.startswith("TITLE: My film")
    events = re.findall(r"^(\d{3})\s+(\S+)\s+V\s+C\s+(\S+) (\S+) (\S+) (\S+)$", text, re.M)
    assert [e[0] for e in events] == ["001", "002", "003"]
    assert all(e[1] == "MYFILM" for e in events)
    # 40 frames at 23.976 is 1 s 16 frames (24-frame timecode, non-drop).
    assert events[0][2:4] == ("01:00:00:00", "01:00:01:16")
    # Record timecodes run from the film's start too.
    assert events[1][2] == "01:00:01:16" and events[1][4] == "01:00:01:16"
    assert "DISSOLVE 12 FRAMES" in text and "FADE 16 FRAMES" in text
    # Each LOC line points at its event: the source timecode of the shot it opens.
    locs = re.findall(r"^\* LOC: (\S+) \w+\s+(DISSOLVE|FADE) ", text, re.M)
    assert [loc[0] for loc in locs] == [events[1][2], events[2][2]]


def test_drop_frame_timecode_reaches_the_edl(tmp_path: Path) -> None:
    shots = ShotList(
        fps="30000/1001",
        frame_count=60,
        shots=[Shot(index=0, start_frame=0, end_frame=30), Shot(index=1, start_frame=30,
                                                               end_frame=60)],
    )  # fmt: skip
    _, edl_path, _ = export_editorial(
        shots, "s3://b/film.mov", tmp_path, name="ntsc", start_timecode="00:00:59;00"
    )
    assert edl_path is not None
    events = re.findall(r"^\d{3}\s+\S+\s+V\s+C\s+(\S+) (\S+) (\S+) (\S+)$", edl_path.read_text(),
                        re.M)  # fmt: skip
    # 30 frames after 00:00:59;00 in drop-frame: 00:01:00;02 (;00 and ;01 are skipped).
    assert events[1][:2] == ("00:01:00;02", "00:01:01;02")
    assert events[0][2] == "00:00:59;00"  # record starts at the film's timecode too
