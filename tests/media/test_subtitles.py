"""Text subtitles come back in the delivery films, in time, language kept; bitmaps are named."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from tasks.media.assemble import assemble
from tasks.media.delivery import subtitle_args
from tasks.media.probe import _warnings, probe
from tasks.media.split import split_units
from tasks.shots.plan import plan_units
from tasks.spec import Shot, ShotList, SubtitleStream

CUES = "1\n00:00:00,500 --> 00:00:01,200\nHello\n\n2\n00:00:01,600 --> 00:00:02,400\nWorld\n"


def _cue_starts(path: Path) -> list[float]:
    cmd = ["ffprobe", "-v", "error", "-select_streams", "s:0", "-of", "json"]
    cmd += ["-show_entries", "packet=pts_time", str(path)]
    out = json.loads(subprocess.run(cmd, capture_output=True, check=True, text=True).stdout)
    return [float(p["pts_time"]) for p in out["packets"]]


@pytest.fixture(scope="module")
def subtitled(film: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("subs")
    cues = work / "cues.srt"
    cues.write_text(CUES)
    out = work / "subtitled.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(film), "-i", str(cues), "-map", "0", "-map", "1",
         "-c", "copy", "-c:s", "mov_text", "-metadata:s:s:0", "language=fra", str(out)],
        check=True,
    )  # fmt: skip
    return out


@pytest.mark.parametrize("delivery", ["review", "master"])
def test_text_subtitles_are_carried_in_time(subtitled: Path, tmp_path: Path, delivery: str) -> None:
    info = probe(subtitled)
    assert [(s.codec, s.language) for s in info.subtitles] == [("mov_text", "fra")]
    assert not info.warnings
    shots = ShotList(
        fps=info.fps,
        frame_count=info.frame_count,
        shots=[Shot(index=0, start_frame=0, end_frame=info.frame_count)],
    )
    plan = plan_units(shots, max_unit_frames=24, seed="subs")
    parts = split_units(subtitled, plan.units, tmp_path / "units")
    out = tmp_path / ("film.mov" if delivery == "master" else "film.mp4")
    units = [parts[u.id] for u in plan.units]
    assemble(units, subtitled, out, info.fps, delivery=delivery)  # type: ignore[arg-type]
    made = probe(out)
    assert [(s.codec, s.language) for s in made.subtitles] == [("mov_text", "fra")]
    frame = 1 / float(Fraction(info.fps))
    starts, want = _cue_starts(out), _cue_starts(subtitled)
    assert len(starts) >= 2 and all(
        abs(a - b) <= frame for a, b in zip(starts[:2], want[:2], strict=True)
    )


def test_bitmap_subtitles_are_left_out_and_named() -> None:
    # No bitmap subtitle can be made from text here: check the two decisions directly.
    streams = [
        SubtitleStream(index=2, codec="hdmv_pgs_subtitle", language="eng"),
        SubtitleStream(index=3, codec="subrip", language="fra"),
    ]
    assert subtitle_args(streams, source_input=1) == ["-map", "1:3", "-c:s:0", "mov_text"]
    (warning,) = _warnings(Fraction(25), None, streams)
    assert "1 bitmap subtitle stream(s) (hdmv_pgs_subtitle)" in warning
