"""probe(): exact rate and frame count from ffprobe, and clear refusals."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tasks.media.frames import FrameWriter, read_frames
from tasks.media.probe import audio_codecs, probe
from tasks.spec import SpecError

from .conftest import FILM_SHOTS


def test_probe_film(film: Path) -> None:
    info = probe(film)
    assert (info.width, info.height) == (320, 180)
    assert info.fps == "24000/1001"
    assert info.frame_count == sum(FILM_SHOTS)
    assert info.duration == pytest.approx(sum(FILM_SHOTS) * 1001 / 24000, abs=0.05)
    assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.audio_streams, info.audio_codec) == (1, "aac")
    assert audio_codecs(film) == ["aac"]


def test_probe_counts_packets_when_container_has_no_count(tmp_path: Path) -> None:
    path = tmp_path / "m.mkv"
    with FrameWriter(path, 64, 48, "25") as writer:
        for i in range(7):
            writer.write(np.full((48, 64, 3), i * 30, dtype=np.uint8))
    info = probe(path)
    assert (info.frame_count, info.fps, info.audio_streams) == (7, "25", 0)


def test_probe_counts_presented_frames_of_copy_trimmed_mp4(film: Path, tmp_path: Path) -> None:
    # A stream-copy trim keeps the GOP's packets but an edit list hides the pre-roll frames.
    trimmed = tmp_path / "trimmed.mp4"
    cmd = ["ffmpeg", "-v", "error", "-ss", "0.5", "-i", str(film), "-c", "copy", str(trimmed)]
    subprocess.run(cmd, check=True)
    assert probe(trimmed).frame_count == sum(1 for _ in read_frames(trimmed))


@pytest.mark.parametrize(
    ("fixture", "reason"), [("empty_file", "empty"), ("text_as_mp4", "not a readable media")]
)
def test_probe_refuses(fixture: str, reason: str, request: pytest.FixtureRequest) -> None:
    with pytest.raises(SpecError, match=reason):
        probe(request.getfixturevalue(fixture))


def test_probe_refuses_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        probe(tmp_path / "nope.mp4")


def test_probe_refuses_audio_only(tmp_path: Path) -> None:
    path = tmp_path / "tone.m4a"
    cmd = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=d=0.5", "-c:a", "aac", str(path)]
    subprocess.run(cmd, check=True)
    with pytest.raises(SpecError, match="no video stream"):
        probe(path)


def test_probe_refuses_video_without_frames(tmp_path: Path) -> None:
    path = tmp_path / "header-only.y4m"  # a valid video stream header, then nothing
    path.write_bytes(b"YUV4MPEG2 W64 H48 F25:1 Ip A1:1 C420jpeg\n")
    with pytest.raises(SpecError, match="no frames"):
        probe(path)
