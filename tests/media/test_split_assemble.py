"""Split a film into units and assemble it again with no face work: the film comes back."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import pytest

from tasks.media.assemble import assemble
from tasks.media.contact_sheet import contact_sheet
from tasks.media.frames import FrameWriter, read_frames
from tasks.media.probe import probe, video_lead_in
from tasks.media.split import split_units
from tasks.shots.detect import detect_shots
from tasks.shots.plan import plan_units
from tasks.spec import ShotList, SpecError, Unit, UnitPlan


def _audio_duration(path: Path) -> float:
    cmd = ["ffprobe", "-v", "error", "-select_streams", "a:0", "-of", "json"]
    cmd += ["-show_entries", "stream=duration", str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return float(json.loads(out)["streams"][0]["duration"])


def _pcm(path: Path) -> np.ndarray:
    cmd = ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "s16le", "-"]
    return np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, "<i2")


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


class RoundTrip(NamedTuple):
    shots: ShotList
    plan: UnitPlan
    units: dict[str, Path]
    out: Path


@pytest.fixture(scope="module")
def round_trip(film: Path, tmp_path_factory: pytest.TempPathFactory) -> RoundTrip:
    work = tmp_path_factory.mktemp("units")
    shots = detect_shots(film)
    # A small cap so that a shot is chunked and units hold several pieces.
    plan = plan_units(shots, max_unit_frames=16, seed="test")
    units = split_units(film, plan.units, work / "units")
    out = work / "out.mp4"
    assemble([units[u.id] for u in plan.units], film, out, probe(film).fps)
    return RoundTrip(shots, plan, units, out)


def test_units_hold_exactly_their_frames(film: Path, round_trip: RoundTrip) -> None:
    source = list(read_frames(film))
    assert len(round_trip.plan.units) > len(round_trip.shots.shots) // 2
    for unit in round_trip.plan.units:
        frames = list(read_frames(round_trip.units[unit.id]))
        assert len(frames) == unit.frames
        expected = source[unit.start_frame : unit.end_frame]
        assert all(np.array_equal(a, b) for a, b in zip(frames, expected, strict=True))


def test_assembled_film_matches_source(film: Path, round_trip: RoundTrip) -> None:
    src, made = probe(film), probe(round_trip.out)
    assert made.frame_count == src.frame_count
    assert (made.fps, made.width, made.height) == (src.fps, src.width, src.height)
    assert (made.video_codec, made.pix_fmt) == ("h264", "yuv420p")
    assert (made.audio_streams, made.audio_codec) == (1, "aac")
    one_frame = 1 / float(Fraction(src.fps))
    assert abs(_audio_duration(round_trip.out) - _audio_duration(film)) <= one_frame
    assert abs(made.duration - src.duration) <= one_frame
    assert np.array_equal(_pcm(round_trip.out), _pcm(film))  # copied, and sample-aligned
    before = np.stack(list(read_frames(film)))
    after = np.stack(list(read_frames(round_trip.out)))
    assert _psnr(before, after) >= 40.0


def test_audio_stays_in_sync_from_transport_stream(film: Path, tmp_path: Path) -> None:
    # In MPEG-TS the AAC priming makes the audio start 21 ms before the first frame: the film
    # comes back so, every sample of the source's sound (priming too) before its first frame.
    source = tmp_path / "film.ts"
    cmd = ["ffmpeg", "-v", "error", "-i", str(film), "-c", "copy", str(source)]
    subprocess.run(cmd, check=True)
    info = probe(source)
    whole = Unit(id="u0000-00000000", index=0, start_frame=0, end_frame=info.frame_count, shots=[0])
    units = split_units(source, [whole], tmp_path / "units")
    out = tmp_path / "out.mp4"
    assemble([units[whole.id]], source, out, info.fps)
    assert np.array_equal(_pcm(out), _pcm(source))
    assert video_lead_in(out) == pytest.approx(video_lead_in(source), abs=0.001)


def test_assemble_refuses_units_short_of_the_film(film: Path, round_trip: RoundTrip) -> None:
    first = round_trip.units[round_trip.plan.units[0].id]
    with pytest.raises(SpecError, match="do not cover"):
        assemble([first], film, round_trip.out.with_name("part.mp4"), probe(film).fps)


def test_assemble_refuses_another_rate(film: Path, round_trip: RoundTrip) -> None:
    first = round_trip.units[round_trip.plan.units[0].id]
    with pytest.raises(SpecError, match="drift"):
        assemble([first], film, round_trip.out.with_name("rate.mp4"), "24")


def test_contact_sheet(film: Path, round_trip: RoundTrip, tmp_path: Path) -> None:
    png = contact_sheet(film, round_trip.out, round_trip.shots, tmp_path / "s.png", 120)
    sheet = cv2.imread(str(png))
    assert sheet is not None and sheet.shape[1] >= 2 * 120
    assert sheet.shape[0] >= len(round_trip.shots.shots) * round(120 * 180 / 320)


def test_odd_sized_film_is_padded_to_even(tmp_path: Path) -> None:
    source = tmp_path / "odd.mkv"
    rng = np.random.default_rng(1)
    with FrameWriter(source, 161, 91, "25") as writer:
        for _ in range(10):
            writer.write(rng.integers(0, 256, (91, 161, 3), dtype=np.uint8))
    units = [
        Unit(id="u0000-00000000", index=0, start_frame=0, end_frame=4, shots=[0]),
        Unit(id="u0001-00000001", index=1, start_frame=4, end_frame=10, shots=[0]),
    ]
    paths = split_units(source, units, tmp_path / "units")
    out = tmp_path / "odd.mp4"
    assemble([paths[u.id] for u in units], source, out, "25")
    info = probe(out)
    assert (info.width, info.height, info.frame_count, info.fps) == (162, 92, 10, "25")
    assert info.audio_streams == 0


@pytest.mark.parametrize("fixture", ["empty_file", "text_as_mp4"])
def test_split_refuses_bad_source(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    unit = Unit(id="u0000-00000000", index=0, start_frame=0, end_frame=1, shots=[0])
    with pytest.raises(SpecError):
        split_units(request.getfixturevalue(fixture), [unit], tmp_path / "units")


def test_split_refuses_units_beyond_film(film: Path, tmp_path: Path) -> None:
    unit = Unit(id="u0000-00000000", index=0, start_frame=60, end_frame=500, shots=[0])
    with pytest.raises(SpecError, match="beyond"):
        split_units(film, [unit], tmp_path / "units")


def test_assemble_refuses_bad_source(text_as_mp4: Path, tmp_path: Path) -> None:
    unit = tmp_path / "u.mkv"
    with FrameWriter(unit, 32, 16, "25") as writer:
        writer.write(np.zeros((16, 32, 3), dtype=np.uint8))
    with pytest.raises(SpecError, match="not a readable film"):
        assemble([unit], text_as_mp4, tmp_path / "out.mp4", "25")
