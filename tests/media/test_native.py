"""Split writes the source's own pictures: bit-exact, and 10-bit stays 10-bit to the master."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from tasks.media.assemble import assemble
from tasks.media.frames import native_format, read_frames
from tasks.media.probe import probe
from tasks.media.split import split_units
from tasks.spec import Unit

UNITS = [
    Unit(id="u0000-00000001", index=0, start_frame=0, end_frame=7, shots=[0]),
    Unit(id="u0001-00000002", index=1, start_frame=7, end_frame=12, shots=[0]),
]


def _planes(path: Path) -> list[np.ndarray]:
    """Every frame's Y plane, as decoded (10-bit samples as uint16)."""
    planes = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            plane = frame.planes[0]
            dtype = np.uint16 if "10" in frame.format.name else np.uint8
            rows = np.frombuffer(memoryview(plane), dtype).reshape(frame.height, -1)
            planes.append(rows[:, : frame.width].copy())
    return planes


@pytest.fixture(scope="module")
def ramp_10bit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 frames of a horizontal luma ramp over 10-bit levels 400..655, one level per column
    (an 8-bit pipeline keeps a quarter of them), lossless H.264 10-bit."""
    path = tmp_path_factory.mktemp("ramp") / "ramp10.mp4"
    ramp = "color=c=gray:s=256x64:r=25:d=0.48,format=yuv420p10le,geq=lum='400+X':cb=512:cr=512"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", ramp, "-c:v", "libx264",
         "-qp", "0", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le", str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.mark.parametrize("mezzanine", ["ffv1", "h264"])
def test_lossless_units_are_the_decoded_source(
    ramp_10bit: Path, tmp_path: Path, mezzanine: str
) -> None:
    info = probe(ramp_10bit)
    fmt = native_format(mezzanine, ramp_10bit, info)  # type: ignore[arg-type]
    assert fmt is not None and fmt.pix_fmt == "yuv420p10le"
    parts = split_units(ramp_10bit, UNITS, tmp_path, mezzanine=mezzanine)  # type: ignore[arg-type]
    source = _planes(ramp_10bit)
    for unit in UNITS:
        got = _planes(parts[unit.id])
        assert len(got) == unit.frames
        want = source[unit.start_frame : unit.end_frame]
        assert all(np.array_equal(g, s) for g, s in zip(got, want, strict=True))
    # What the face stages read (RGB) is the same as reading the source.
    rgb = list(read_frames(ramp_10bit))[7:]
    unit_rgb = list(read_frames(parts[UNITS[1].id]))
    assert all(np.array_equal(a, b) for a, b in zip(unit_rgb, rgb, strict=True))


def test_master_keeps_ten_bits(ramp_10bit: Path, tmp_path: Path) -> None:
    info = probe(ramp_10bit)
    parts = split_units(ramp_10bit, UNITS, tmp_path / "units")
    master = tmp_path / "m.mov"
    assemble([parts[u.id] for u in UNITS], ramp_10bit, master, info.fps, delivery="master")
    row = _planes(master)[5][32, 8:248]  # away from the edges
    want = _planes(ramp_10bit)[5][32, 8:248]
    assert len(np.unique(row)) > 200  # one level per column, not one per four
    assert np.abs(row.astype(int) - want).max() <= 2


def test_rotated_source_goes_through_rgb(tmp_path: Path, ramp_10bit: Path) -> None:
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(ramp_10bit), "-c", "copy",
                    "-metadata:s:v:0", "rotate=90", str(rotated)], check=True)  # fmt: skip
    assert native_format("ffv1", rotated, probe(rotated)) is None
