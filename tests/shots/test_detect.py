"""detect_shots(): every cut at its exact frame, on generated films with known cuts."""

from __future__ import annotations

import subprocess
from itertools import accumulate
from pathlib import Path

import pytest

from recast.samples import make_film, varied_shots
from tasks.media.frames import read_frames
from tasks.media.probe import probe
from tasks.shots.detect import detect_shots
from tasks.spec import SpecError

LENGTHS = [20, 13, 17, 11, 15]
CUTS = list(accumulate(LENGTHS))[:-1]


def _film(tmp_path: Path, fps: str, name: str = "film.mp4") -> Path:
    return make_film(tmp_path / name, varied_shots(LENGTHS), fps=fps, size=(320, 180))


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def _cuts(path: Path) -> list[int]:
    shots = detect_shots(path)
    assert shots.frame_count == probe(path).frame_count
    assert [s.index for s in shots.shots] == list(range(len(shots.shots)))
    assert sum(s.frames for s in shots.shots) == shots.frame_count
    return [s.start_frame for s in shots.shots[1:]]


@pytest.mark.parametrize("fps", ["24000/1001", "25"])
def test_cuts_land_on_exact_frames(tmp_path: Path, fps: str) -> None:
    film = _film(tmp_path, fps)
    shots = detect_shots(film)
    assert (shots.fps, shots.frame_count) == (fps, sum(LENGTHS))
    assert [s.start_frame for s in shots.shots] == [0, *CUTS]
    assert [s.end_frame for s in shots.shots] == [*CUTS, sum(LENGTHS)]


@pytest.mark.parametrize("ext", ["mkv", "ts"])
def test_cuts_exact_in_other_containers(tmp_path: Path, ext: str) -> None:
    # Matroska rounds timestamps to milliseconds; MPEG-TS starts at a 1.4 s offset.
    film = _film(tmp_path, "24000/1001")
    remuxed = tmp_path / f"film.{ext}"
    _ffmpeg("-i", str(film), "-c", "copy", str(remuxed))
    assert _cuts(remuxed) == CUTS


def test_timestamp_gap_is_retimed_like_the_audio(tmp_path: Path) -> None:
    # A 0.2 s hole in the timestamps after frame 30 makes the film variable-rate: it is retimed
    # to 25 fps (the hole becomes 5 repeated frames), so later cuts move 5 frames, with the sound.
    film = _film(tmp_path, "25")
    gapped = tmp_path / "gap.mp4"
    _ffmpeg("-i", str(film), "-an", "-vf", "setpts='PTS+if(gte(N,30),0.2/TB,0)'",
            "-fps_mode", "passthrough", "-c:v", "libx264", "-crf", "16", str(gapped))  # fmt: skip
    assert probe(gapped).vfr
    assert _cuts(gapped) == [c + 5 if c > 30 else c for c in CUTS]


def test_copy_trimmed_film_counts_presented_frames(tmp_path: Path) -> None:
    film = _film(tmp_path, "25")
    trimmed = tmp_path / "trimmed.mp4"
    _ffmpeg("-ss", "0.5", "-i", str(film), "-c", "copy", str(trimmed))
    hidden = sum(LENGTHS) - sum(1 for _ in read_frames(trimmed))
    # A first shot shorter than min_shot_frames (3) is merged into the next.
    assert _cuts(trimmed) == [c - hidden for c in CUTS if c - hidden >= 3]


def test_single_shot_film(tmp_path: Path) -> None:
    film = make_film(tmp_path / "one.mp4", varied_shots([30]), fps="25", size=(320, 180))
    shots = detect_shots(film)
    assert [(s.start_frame, s.end_frame) for s in shots.shots] == [(0, 30)]


def test_min_shot_frames_merges_flashes(tmp_path: Path) -> None:
    film = make_film(tmp_path / "flash.mp4", varied_shots([20, 3, 20]), fps="25", size=(320, 180))
    starts = [s.start_frame for s in detect_shots(film, min_shot_frames=8).shots]
    assert len(starts) <= 2 and starts[0] == 0


def test_refuses_text_file(tmp_path: Path) -> None:
    path = tmp_path / "film.mp4"
    path.write_text("not a film")
    with pytest.raises(SpecError):
        detect_shots(path)
