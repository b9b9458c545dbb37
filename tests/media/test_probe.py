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
    ("fixture", "reason"), [("empty_file", "empty"), ("text_as_mp4", "not a readable film")]
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


def test_probe_reports_stream_details(tmp_path: Path) -> None:
    path = tmp_path / "detailed.mov"
    cmd = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=96x54:r=25:d=0.4",
           "-f", "lavfi", "-i", "sine=d=0.4", "-map", "0:v", "-map", "1:a", "-map", "1:a",
           "-c:v", "libx264", "-pix_fmt", "yuv420p10le", "-vf", "setsar=4/3",
           "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709",
           "-c:a:0", "aac", "-c:a:1", "pcm_s16le", "-ac:a:1", "2", "-metadata:s:a:1",
           "language=fra", "-timecode", "10:00:00:00", str(path)]  # fmt: skip
    subprocess.run(cmd, check=True)
    info = probe(path)
    assert (info.frame_count, info.fps, info.bit_depth, info.sar) == (10, "25", 10, "4:3")
    assert (info.color_primaries, info.color_space) == ("bt709", "bt709")
    assert info.timecode == "10:00:00:00" and not info.vfr and info.rotation == 0
    assert [(a.codec, a.channels, a.language) for a in info.audio] == [
        ("aac", 1, None),
        ("pcm_s16le", 2, "fra"),
    ]


def test_probe_refuses_frames_above_the_cap(film: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECAST_MAX_WIDTH", "300")
    monkeypatch.setenv("RECAST_MAX_HEIGHT", "170")
    with pytest.raises(SpecError, match="above the 300x170 limit"):
        probe(film)
    monkeypatch.setenv("RECAST_MAX_WIDTH", "180")  # a portrait cap takes a landscape frame
    monkeypatch.setenv("RECAST_MAX_HEIGHT", "320")
    assert probe(film).width == 320


def test_probe_refuses_truncated_file(film: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(film.read_bytes()[: film.stat().st_size * 6 // 10])
    with pytest.raises(SpecError, match="truncated"):
        probe(cut)


def test_probe_refuses_unsupported_container(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    cmd = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=64x36:r=10:d=0.5", str(path)]
    subprocess.run(cmd, check=True)
    with pytest.raises(SpecError, match=r"anim\.gif: not a readable film in a supported container"):
        probe(path)


def test_variable_rate_is_normalised_or_refused(
    film: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vfr = tmp_path / "vfr.mp4"
    cmd = ["ffmpeg", "-v", "error", "-i", str(film), "-vf", "select='not(between(n,10,13))'",
           "-fps_mode", "passthrough", "-an", "-c:v", "libx264", str(vfr)]  # fmt: skip
    subprocess.run(cmd, check=True)
    info = probe(vfr)
    assert info.vfr and info.fps == "24000/1001" and info.frame_count == sum(FILM_SHOTS)
    assert any("variable frame rate" in w for w in info.warnings)
    assert sum(1 for _ in read_frames(vfr, info)) == info.frame_count
    monkeypatch.setenv("RECAST_VFR", "refuse")
    with pytest.raises(SpecError, match="variable frame rate"):
        probe(vfr)


def test_detection_refuses_corrupt_video(film: Path, tmp_path: Path) -> None:
    from tasks.shots.detect import detect_shots

    data = bytearray(film.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 3000] = bytes(range(256)) * 11 + bytes(184)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    with pytest.raises(SpecError, match=r"corrupt|cannot decode"):
        detect_shots(bad)
