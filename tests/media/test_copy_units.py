"""Units on the source's keyframes are copied, not decoded and encoded again, and stay exact."""

from __future__ import annotations

import subprocess
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from tasks.media.assemble import assemble
from tasks.media.copy_units import clean_starts, copy_ranges, read_packets
from tasks.media.ffprobe import ffprobe
from tasks.media.frames import read_frames
from tasks.media.packets import scan_packets
from tasks.media.probe import probe
from tasks.media.split import split_units
from tasks.shots.plan import unit_id
from tasks.spec import Unit

from .conftest import FILM_SHOTS

EDGES = [0, *np.cumsum(FILM_SHOTS).tolist()]  # 0, 20, 34, 52, 64


def _units() -> list[Unit]:
    return [
        Unit(id=f"u{i:04d}-0000000{i}", index=i, start_frame=s, end_frame=e, shots=[i])
        for i, (s, e) in enumerate(pairwise(EDGES))
    ]


def _encode(film: Path, out: Path, *video: str) -> Path:
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(film), *video, "-c:a", "copy", str(out)]
    subprocess.run(cmd, check=True)
    return out


def _keyed_at_cuts(film: Path, out: Path, *extra: str) -> Path:
    """H.264 with B-frames and a keyframe at every shot's first frame (as encoders place
    them at scene cuts)."""
    at = "+".join(f"eq(n,{e})" for e in EDGES[:-1])
    return _encode(
        film, out, "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-sc_threshold", "0",
        "-g", "250", "-force_key_frames", f"expr:{at}", *extra,
    )  # fmt: skip


def _codec(path: Path) -> str:
    streams = ffprobe(path, ["-select_streams", "v:0", "-show_streams"])["streams"]
    return str(streams[0]["codec_name"])


def _assert_exact(source: Path, parts: dict[str, Path], units: list[Unit]) -> None:
    frames = np.stack(list(read_frames(source)))
    for unit in units:
        got = np.stack(list(read_frames(parts[unit.id])))
        assert np.array_equal(got, frames[unit.start_frame : unit.end_frame]), unit.id


def test_units_on_keyframes_are_copied_bit_exact(film: Path, tmp_path: Path) -> None:
    source = _keyed_at_cuts(film, tmp_path / "keyed.mp4")
    units = _units()
    parts = split_units(source, units, tmp_path / "units", mezzanine="ffv1")
    assert {_codec(p) for p in parts.values()} == {"h264"}  # copied: not FFV1
    _assert_exact(source, parts, units)
    out = tmp_path / "out.mp4"
    assemble(list(parts.values()), source, out, probe(source).fps)
    assert probe(out).frame_count == EDGES[-1]


def test_an_intra_only_source_is_always_copied(film: Path, tmp_path: Path) -> None:
    source = _encode(film, tmp_path / "prores.mov", "-c:v", "prores_ks", "-profile:v", "1")
    units = _units()
    parts = split_units(source, units, tmp_path / "units", mezzanine="h264")
    assert {_codec(p) for p in parts.values()} == {"prores"}
    _assert_exact(source, parts, units)


def test_a_unit_off_the_keyframes_means_all_are_encoded(film: Path, tmp_path: Path) -> None:
    source = _keyed_at_cuts(film, tmp_path / "keyed.mp4")
    units = _units()
    shifted = [*units[:-2], units[-2].model_copy(update={"end_frame": 50})]
    shifted.append(units[-1].model_copy(update={"start_frame": 50}))
    packets = read_packets(scan_packets(source), probe(source))
    assert packets is not None
    assert set(copy_ranges(packets, shifted)) == {u.id for u in units[:-2]}
    parts = split_units(source, shifted, tmp_path / "units", mezzanine="ffv1")
    assert {_codec(p) for p in parts.values()} == {"ffv1"}  # one format for the concat
    _assert_exact(source, parts, shifted)


def test_open_gop_leading_pictures_are_not_cut_off(film: Path, tmp_path: Path) -> None:
    """An open GOP's keyframe is preceded (in display) by B-frames that need the frames
    before it: a unit starting there cannot be copied alone."""
    source = _keyed_at_cuts(film, tmp_path / "open.mp4", "-x264-params", "open_gop=1")
    packets = read_packets(scan_packets(source), probe(source))
    if packets is None:
        pytest.skip("this x264 marks no keyframe in an open-GOP MP4")
    ranges = copy_ranges(packets, _units())
    for unit in _units():
        if unit.id in ranges:
            first, end = ranges[unit.id]
            assert sorted(packets.frame[first:end].tolist()) == list(
                range(unit.start_frame, unit.end_frame)
            )
    parts = split_units(source, _units(), tmp_path / "units", mezzanine="ffv1")
    _assert_exact(source, parts, _units())


# x264 keyframes every 24 frames, none at the cuts, B-frames: closed GOPs, open GOPs, or I only.
GOPS = {
    "closed": ("-bf", "3", "-x264-params", "keyint=24:scenecut=0"),
    "open": ("-bf", "3", "-x264-params", "keyint=24:scenecut=0:open-gop=1"),
    "intra": ("-x264-params", "keyint=1"),
}


def _span(index: int, start: int, end: int) -> Unit:
    return Unit(id=unit_id(index, start, end), index=index, start_frame=start, end_frame=end,
                shots=[0])  # fmt: skip


@pytest.mark.parametrize("gop", GOPS)
def test_clean_starts_bound_exactly_the_units_that_copy(
    film: Path, tmp_path: Path, gop: str
) -> None:
    source = _encode(film, tmp_path / f"{gop}.mp4", "-c:v", "libx264", "-preset", "veryfast",
                     *GOPS[gop])  # fmt: skip
    packets = read_packets(scan_packets(source), probe(source))
    assert packets is not None
    starts = clean_starts(packets).tolist()
    keyframes = sorted(packets.frame[packets.key].tolist())
    total = EDGES[-1]
    if gop == "closed":
        assert starts == keyframes == [0, 24, 48]
    elif gop == "intra":
        assert starts == list(range(total))
    else:  # the open GOPs' keyframes show leading pictures first: not starts
        assert set(starts) < set(keyframes)
    # Any run from a clean start to a later one (or the end) copies...
    ends = [*starts, total]
    spans = [(s, e) for s in starts for e in ends if e > s]
    units = [_span(i, s, e) for i, (s, e) in enumerate(spans)]
    assert set(copy_ranges(packets, units)) == {u.id for u in units}
    # ... and one from any other frame up to the next clean start does not.
    others = [(f, next(e for e in ends if e > f)) for f in range(total) if f not in starts]
    assert not copy_ranges(packets, [_span(i, s, e) for i, (s, e) in enumerate(others)])
