"""Split + assemble with no face work, across the inputs a studio sends: the film comes back.

Each case checks the frame count; the picture against the decoded source (upright and retimed
as every stage decodes it): units bit-exact in the lossless mezzanine and >= 45 dB PSNR in the
others, the `master` delivery >= 45 dB (luma), the `review` proxy (H.264 CRF 18) >= 40 dB, where
a plain ffmpeg transcode at CRF 18 scores 44-46 dB on these films; and the sound: every audio
stream is there, and the tone of each shot still starts on that shot's first frame.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from recast.samples import make_film, varied_shots
from tasks.media.assemble import assemble
from tasks.media.decode import retime, upright, video_frames
from tasks.media.frames import read_frames
from tasks.media.probe import probe
from tasks.media.split import split_units
from tasks.shots.plan import unit_id
from tasks.spec import DeliveryPreset, Mezzanine, Probe, Unit

SHOTS = [14, 10, 12]  # varied_shots' tones: 440, 554.37, 659.25 Hz
TONES = [440.0, 554.37, 659.25]
SIZE = (256, 144)


@dataclass(frozen=True)
class Case:
    name: str
    fps: str
    ffmpeg: tuple[str, ...]  # how the source is derived from the generated MP4
    suffix: str = ".mp4"
    delivery: DeliveryPreset = "review"
    mezzanine: Mezzanine = "ffv1"
    audio: bool = True


CASES = [
    Case("23.976", "24000/1001", ("-c", "copy")),
    Case("25-prores-mezzanine", "25", ("-c", "copy"), mezzanine="prores"),
    Case("29.97-h264-mezzanine", "30000/1001", ("-c", "copy"), mezzanine="h264"),
    Case(
        "odd-size",
        "25",
        (
            "-vf",
            "scale=161:91",
            "-c:v",
            "libx264",
            "-crf",
            "10",
            "-pix_fmt",
            "yuv444p",
            "-c:a",
            "copy",
        ),
    ),
    Case("rotated", "25", ("-c", "copy", "-metadata:s:v:0", "rotate=90")),
    Case(
        "two-audio-tracks-master",
        "24",
        (
            "-map",
            "0:v",
            "-map",
            "0:a",
            "-map",
            "0:a",
            "-c:v",
            "copy",
            "-c:a:0",
            "copy",
            "-c:a:1",
            "pcm_s16le",
            "-metadata:s:a:1",
            "language=fra",
        ),
        suffix=".mov",
        delivery="master",
    ),
    Case("no-audio", "25", ("-c", "copy"), audio=False),
    # Phone-style variable rate: frames 18-21 dropped, the others keep their timestamps.
    Case(
        "variable-rate",
        "25",
        (
            "-vf",
            "select='not(between(n,18,21))'",
            "-fps_mode",
            "passthrough",
            "-c:v",
            "libx264",
            "-crf",
            "10",
            "-c:a",
            "copy",
        ),
    ),
    Case(
        "10-bit-timecode-master",
        "24000/1001",
        (
            "-c:v",
            "libx264",
            "-crf",
            "10",
            "-pix_fmt",
            "yuv420p10le",
            "-color_primaries",
            "bt709",
            "-color_trc",
            "bt709",
            "-colorspace",
            "bt709",
            "-timecode",
            "01:00:00:00",
            "-c:a",
            "copy",
        ),
        suffix=".mov",
        delivery="master",
    ),
]


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def films(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, bool], Path]:
    """Generated films, made once per (fps, audio) for the whole module."""
    return {}


def _source(tmp: Path, case: Case, films: dict[tuple[str, bool], Path]) -> Path:
    key = (case.fps, case.audio)
    if key not in films:
        films[key] = make_film(tmp / "made.mp4", varied_shots(SHOTS), fps=case.fps, size=SIZE,
                               audio=case.audio)  # fmt: skip
    made = films[key]
    source = tmp / f"source{case.suffix}"
    _ffmpeg("-i", str(made), *case.ffmpeg, str(source))
    return source


def _units(frame_count: int) -> list[Unit]:
    bounds = [0, 9, SHOTS[0] + SHOTS[1], frame_count]  # one unit cuts a shot, one spans a cut
    return [
        Unit(id=unit_id(i, a, b), index=i, start_frame=a, end_frame=b, shots=[0])
        for i, (a, b) in enumerate(pairwise(bounds))
    ]


def _luma(path: Path, info: Probe | None = None) -> np.ndarray:
    """The Y plane of every frame (as 8-bit full-range grey), upright, retimed like the stages
    read it: chroma subsampling and RGB clipping do not enter the comparison."""
    frames = video_frames(path)
    if info is not None and info.vfr:
        frames = retime(((float(f.time or 0.0), f) for f in frames), Fraction(info.fps),
                        info.frame_count)  # fmt: skip
    return np.stack([upright(f.to_ndarray(format="gray"), f.rotation or 0) for f in frames])


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def _pcm(path: Path, stream: int) -> np.ndarray:
    cmd = ["ffmpeg", "-v", "error", "-i", str(path), "-map", f"0:a:{stream}", "-ac", "1",
           "-ar", "48000", "-f", "s16le", "-"]  # fmt: skip
    return np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, "<i2")


def _tone_at(pcm: np.ndarray, frame: int, fps: Fraction) -> float:
    """Dominant frequency (Hz) of the audio under one frame."""
    start, end = (round(float(k / fps) * 48_000) for k in (frame, frame + 1))
    window = pcm[start:end].astype(np.float64) * np.hanning(end - start)
    return float(np.argmax(np.abs(np.fft.rfft(window, n=48_000))))


def _assert_tones_in_sync(out: Path, made: Probe, fps: Fraction, frame_of: list[int]) -> None:
    for stream in range(made.audio_streams):
        pcm = _pcm(out, stream)
        for k, start in enumerate(frame_of[1:], start=1):
            assert _tone_at(pcm, start - 1, fps) == pytest.approx(TONES[k - 1], abs=30)
            assert _tone_at(pcm, start, fps) == pytest.approx(TONES[k], abs=30)


def _assert_units_match(
    source: Path, info: Probe, units: list[Unit], parts: dict[str, Path], mezzanine: str
) -> None:
    frames = np.stack(list(read_frames(source, info)))
    for unit in units:
        got = np.stack(list(read_frames(parts[unit.id])))
        want = frames[unit.start_frame : unit.end_frame]
        if mezzanine in ("ffv1", "h264"):  # both lossless (x264 at qp 0 for h264)
            assert np.array_equal(got, want), unit.id
        else:
            mse = float(np.mean((got.astype(np.float64) - want) ** 2))
            assert 10 * np.log10(255.0**2 / max(mse, 1e-12)) >= 45.0, unit.id


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_round_trip(case: Case, tmp_path: Path, films: dict[tuple[str, bool], Path]) -> None:
    source = _source(tmp_path, case, films)
    info = probe(source)
    units = _units(info.frame_count)
    parts = split_units(source, units, tmp_path / "units", mezzanine=case.mezzanine)
    out = tmp_path / f"out{'.mov' if case.delivery == 'master' else '.mp4'}"
    assemble([parts[u.id] for u in units], source, out, info.fps, delivery=case.delivery)
    made = probe(out)

    assert made.frame_count == info.frame_count
    assert info.vfr == (case.name == "variable-rate") and info.frame_count == sum(SHOTS)
    assert made.fps == info.fps and made.rotation == 0
    codec = "prores" if case.delivery == "master" else "h264"
    assert made.video_codec == codec
    _assert_units_match(source, info, units, parts, case.mezzanine)
    before = _luma(source, info)
    after = _luma(out)[:, : info.height, : info.width]  # review pads odd sizes by a pixel
    assert before.shape == after.shape
    assert _psnr(before, after) >= (45.0 if case.delivery == "master" else 40.0)
    assert made.audio_streams == info.audio_streams
    assert [a.language for a in made.audio] == [a.language for a in info.audio]
    assert made.timecode == info.timecode
    assert (made.color_primaries, made.color_space) == (info.color_primaries, info.color_space)
    fps = Fraction(info.fps)
    if info.audio_streams:
        assert abs(made.duration - info.duration) <= 1 / fps
        _assert_tones_in_sync(out, made, fps, [0, SHOTS[0], SHOTS[0] + SHOTS[1]])
