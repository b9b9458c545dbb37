"""Timecode end to end, and the sources a post house sends (ProRes, DNxHR, MXF OP1a).

Each source is made by FFmpeg with a start timecode, probed, split into two units and assembled
into the review film and the master: both keep the timecode (drop-frame at 29.97) and every
frame, the master within 45 dB (luma PSNR) of the decoded source, as test_round_trip.py holds.
"""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from recast.samples import make_film, varied_shots
from tasks.media import timecode as tc
from tasks.media.assemble import assemble
from tasks.media.decode import video_frames
from tasks.media.probe import probe
from tasks.media.split import split_units
from tasks.shots.plan import unit_id
from tasks.spec import RenderSpec, SpecError, Unit
from tasks.stages.assemble import film_timecode

SHOTS = [8, 6, 8]


def test_timecode_arithmetic() -> None:
    ntsc, film = Fraction(30000, 1001), Fraction(24000, 1001)
    # Drop-frame skips frames 00 and 01 of each minute but every tenth.
    assert tc.shift("00:00:59;29", 1, ntsc) == "00:01:00;02"
    assert tc.shift("00:09:59;29", 1, ntsc) == "00:10:00;00"
    assert tc.frame_number("00:01:00;02", ntsc) == 1800
    # 23.976 counts 24 frames a second, non-drop.
    assert tc.shift("01:00:00:23", 1, film) == "01:00:01:00"
    assert tc.start_of(None, None, ntsc) == "00:00:00;00"
    assert tc.start_of(None, "10:00:00:00", Fraction(60000, 1001)) == "10:00:00;00"
    assert tc.start_of("01:00:00:00", "10:00:00:00", ntsc) == "01:00:00:00"  # the file's own
    assert tc.start_of(None, None, Fraction(12)) == "00:00:00:00"
    words = tc.smpte_words("23:59:58;29")
    assert tc.from_smpte_words(words) == "23:59:58;29" and words[0] & (1 << 6)
    with pytest.raises(ValueError, match="frame 25"):
        tc.start_of(None, "00:00:00:25", Fraction(25))
    # Every rate the probe accepts either counts in two-digit frames or carries no timecode.
    assert tc.expressible(Fraction(100)) and not tc.expressible(Fraction(120))
    assert tc.shift("00:00:00:00", 250, Fraction(100)) == "00:00:02:50"


SOURCES = [
    # name, rate, size, encode options, suffix, timecode
    ("prores-23.976", "24000/1001", (160, 90), ("-c:v", "prores_ks", "-profile:v", "3"), ".mov",
     "01:00:00:00"),
    ("dnxhr-25", "25", (256, 144),
     ("-c:v", "dnxhd", "-profile:v", "dnxhr_hq", "-pix_fmt", "yuv422p"), ".mov", "10:00:00:00"),
    ("h264-29.97-drop-frame", "30000/1001", (160, 90), ("-c:v", "libx264", "-crf", "12"),
     ".mov", "00:59:59;28"),
    ("mxf-xdcam-25", "25", (160, 90),
     ("-c:v", "mpeg2video", "-pix_fmt", "yuv422p", "-b:v", "20M", "-g", "1"), ".mxf",
     "01:00:00:00"),
    ("mxf-dnxhr-25", "25", (256, 144),
     ("-c:v", "dnxhd", "-profile:v", "dnxhr_hq", "-pix_fmt", "yuv422p"), ".mxf", "01:00:00:00"),
]  # fmt: skip


def _luma(path: Path) -> np.ndarray:
    return np.stack([f.to_ndarray(format="gray") for f in video_frames(path)])


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


@pytest.mark.parametrize(("name", "fps", "size", "codec", "suffix", "timecode"), SOURCES,
                         ids=[s[0] for s in SOURCES])  # fmt: skip
def test_source_timecode_and_frames_survive_split_and_assemble(
    tmp_path: Path,
    name: str,
    fps: str,
    size: tuple[int, int],
    codec: tuple[str, ...],
    suffix: str,
    timecode: str,
) -> None:
    made = make_film(tmp_path / "made.mp4", varied_shots(SHOTS), fps=fps, size=size)
    source = tmp_path / f"source{suffix}"
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(made), *codec, "-c:a", "pcm_s16le"]
    subprocess.run([*cmd, "-timecode", timecode, str(source)], check=True)
    info = probe(source)
    assert info.timecode == timecode and info.frame_count == sum(SHOTS)
    start = film_timecode(info, RenderSpec.parse(_spec(start_timecode="05:00:00:00")))
    assert start == timecode  # the asset's own timecode wins over the spec's
    units = [
        Unit(id=unit_id(i, a, b), index=i, start_frame=a, end_frame=b, shots=[0])
        for i, (a, b) in enumerate([(0, 11), (11, sum(SHOTS))])
    ]
    parts = split_units(source, units, tmp_path / "units")
    expected = _luma(source)
    for delivery, suffix_out in (("review", ".mp4"), ("master", ".mov")):
        out = tmp_path / f"out{suffix_out}"
        film = assemble([parts[u.id] for u in units], source, out, info.fps, delivery=delivery,
                        info=info, timecode=start)  # fmt: skip
        assert film.timecode == timecode, delivery
        assert film.frame_count == info.frame_count
        if delivery == "master":
            assert _psnr(_luma(out), expected) >= 45.0


def _spec(**extra: object) -> dict[str, object]:
    return {"asset": "s3://b/a.mov", "faces": [{"source": "s3://b/f.png"}], **extra}


def test_an_asset_without_timecode_starts_at_zero_or_the_spec_start(tmp_path: Path) -> None:
    film = make_film(tmp_path / "film.mp4", varied_shots([6]), fps="30000/1001", size=(64, 36))
    info = probe(film)
    assert info.timecode is None
    assert film_timecode(info, RenderSpec.parse(_spec())) == "00:00:00;00"
    spec = RenderSpec.parse(_spec(start_timecode="01:00:00;00"))
    assert film_timecode(info, spec) == "01:00:00;00"
    assert film_timecode(info.model_copy(update={"fps": "120"}), spec) is None
    # Valid as a timecode, but not at 25 fps: refused before any encode.
    with pytest.raises(SpecError, match="frame 29"):
        film_timecode(info.model_copy(update={"fps": "25"}), RenderSpec.parse(
            _spec(start_timecode="00:00:00:29")))  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("handles", -1, "greater than or equal to 0"),
        ("handles", 101, "less than or equal to 100"),
        ("plate_format", "tiff", "'prores4444', 'exr' or 'dpx'"),
        ("start_timecode", "1:00:00", "is not HH:MM:SS:FF"),
        ("start_timecode", "24:00:00:00", "out of range"),
        ("deliveries", ["film"], "'review', 'master' or 'shots'"),
    ],
)
def test_bad_delivery_values_are_refused_in_the_spec(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(SpecError, match=field) as caught:
        RenderSpec.parse(_spec(**{field: value}))
    assert message in str(caught.value)


def test_deliveries_decide_what_is_written() -> None:
    assert RenderSpec.parse(_spec()).outputs() == ["review"]
    assert RenderSpec.parse(_spec(delivery="master")).outputs() == ["review", "master"]
    shots = RenderSpec.parse(_spec(deliveries=["shots"]))
    assert shots.outputs() == ["review", "shots"] and shots.handles == 8
    assert shots.plate_format == "prores4444" and not shots.source_plates


def test_recast_render_flags_ask_for_the_shots_delivery() -> None:
    from recast import options
    from recast.cli import _parser

    argv = ["render", "film.mov", "--out", "o.mp4", "--deliver", "shots", "--plate-format", "exr"]
    argv += ["--handles", "12", "--source-plates", "--start-timecode", "01:00:00:00"]
    conf = options.given(_parser().parse_args(argv))
    spec = RenderSpec.parse(_spec(**conf))
    assert spec.outputs() == ["review", "shots"] and spec.plate_format == "exr"
    assert (spec.handles, spec.source_plates, spec.start_timecode) == (12, True, "01:00:00:00")
    with pytest.raises(SystemExit):  # argparse names the choices
        _parser().parse_args([*argv, "--plate-format", "tiff"])
