"""Frame-exactness across the sources a feature arrives in: every decoded frame comes back.

Each case makes a tiny film with ffmpeg, probes it, splits it into units and assembles the
review film, as the stages do. Checked: the frame count of the probe and of the film made equals
`ffprobe -count_frames` (an independent judge), and every frame of the film matches the source's
frame at the same position (luma PSNR floor, both decoded by the ffmpeg CLI, not by the
pipeline's own decoder). Sources whose streams start apart (video late, audio late) keep their
sync, measured from a flash frame and a click.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import av
import numpy as np
import pytest

from tasks.media.assemble import assemble_all
from tasks.media.packets import scan_packets
from tasks.media.probe import probe
from tasks.media.rate import join_shifts
from tasks.media.split import split_units
from tasks.shots.plan import unit_id
from tasks.spec import DeliveryPreset, Probe, SpecError, Unit

W, H = 96, 64  # MBAFF (interlaced H.264) codes macroblock pairs: height a multiple of 32
# Per-frame floor: CRF 18 on testsrc2 at this size scores 38-50 dB; a frame one off scores < 20.
PSNR_FLOOR = 33.0


def _ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


def _testsrc(fps: str, seconds: float = 1.0) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r={fps}:d={seconds}"]


def _x264(*extra: str) -> list[str]:
    return ["-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", *extra]


def ffprobe_count(path: Path) -> int:
    """Frames ffprobe decodes: the judge, independent of the pipeline's demux and decode."""
    cmd = ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
           "-show_entries", "stream=nb_read_frames", "-of", "json", str(path)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return int(json.loads(out)["streams"][0]["nb_read_frames"])


def ffmpeg_luma(path: Path) -> np.ndarray:
    """Every decoded frame's Y plane, in the order ffmpeg presents them (none dropped or
    repeated: passthrough)."""
    cmd = ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough",
           "-vf", "crop=iw:ih:0:0", "-f", "rawvideo", "-pix_fmt", "gray", "-"]  # fmt: skip
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, H, W)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def _units(frames: int) -> list[Unit]:
    bounds = [0, frames // 3, 2 * frames // 3 + 1, frames]
    return [
        Unit(id=unit_id(i, a, b), index=i, start_frame=a, end_frame=b, shots=[0])
        for i, (a, b) in enumerate(pairwise(bounds))
    ]


def round_trip(source: Path, out: Path, delivery: DeliveryPreset = "review") -> Probe:
    """probe -> split (three units) -> assemble, as the stages run them, each unit encoded
    by its own ffmpeg and the three joined (as a feature's runs are); the source's probe."""
    info = probe(source)
    units = _units(info.frame_count)
    parts = split_units(source, units, out.parent / f"{out.stem}-units")
    assemble_all([parts[u.id] for u in units], source, {delivery: out}, info.fps, info=info,
                 jobs=len(units))  # fmt: skip
    return info


# --- Sources -------------------------------------------------------------------------------


def _rate(fps: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / "film.mp4"  # x264's B-frames: an edit list for the B-frame delay
        _ffmpeg(*_testsrc(fps), *_x264(), path)
        return path

    return make


def _trimmed(suffix: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        whole = tmp / "whole.mp4"
        _ffmpeg(*_testsrc("25", 2), *_x264("-g", "25"), whole)
        path = tmp / f"trimmed{suffix}"  # a copy trim: an edit list hides the GOP's pre-roll
        _ffmpeg("-ss", "0.5", "-i", whole, "-c", "copy", path)
        return path

    return make


def _concat_gaps(tmp: Path) -> Path:
    # Joined as `-c copy` joins takes: each take is followed by a quarter-frame gap.
    take = tmp / "take.mp4"
    _ffmpeg(*_testsrc("24", 0.5), *_x264(), take)
    listing = tmp / "takes.ffconcat"
    entry = f"file '{take}'\nduration {0.5 + 0.25 / 24:.6f}\n"
    listing.write_text("ffconcat version 1.0\n" + entry * 3)
    path = tmp / "joined.mp4"
    _ffmpeg("-f", "concat", "-safe", "0", "-i", listing, "-c", "copy", path)
    return path


def _concat_overlap(tmp: Path) -> Path:
    # Two transport streams joined byte for byte: the second's timestamps start again, over
    # the first's.
    parts = []
    for n, source in enumerate(("testsrc2", "smptebars")):
        part = tmp / f"part{n}.ts"
        _ffmpeg("-f", "lavfi", "-i", f"{source}=s={W}x{H}:r=25:d=0.8", *_x264(), part)
        parts.append(part.read_bytes())
    path = tmp / "cat.ts"
    path.write_bytes(b"".join(parts))
    return path


def _open_gop_ts(tmp: Path) -> Path:
    path = tmp / "open.ts"
    _ffmpeg(*_testsrc("25", 1.6), *_x264("-x264-params", "open-gop=1:keyint=10:bframes=3"), path)
    return path


def _interlaced_h264(tmp: Path) -> Path:
    path = tmp / "mbaff.ts"  # x264's interlaced coding (MBAFF), top field first
    _ffmpeg(*_testsrc("25"), *_x264("-flags", "+ildct+ilme", "-x264-params", "tff=1"), path)
    return path


def _interlaced_mpeg2(tmp: Path) -> Path:
    path = tmp / "mpeg2i.ts"  # MPEG-2 interlaced pictures at 29.97, as broadcast sends them
    _ffmpeg(*_testsrc("30000/1001"), "-c:v", "mpeg2video", "-q:v", "2", "-flags",
            "+ildct+ilme", "-top", "1", path)  # fmt: skip
    return path


SOURCES: dict[str, Callable[[Path], Path]] = {
    **{f"{fps}fps": _rate(fps) for fps in ("12", "15", "24", "25", "48", "50")},
    "23.976fps": _rate("24000/1001"),
    "29.97fps": _rate("30000/1001"),
    "59.94fps": _rate("60000/1001"),
    "mp4-edit-list": _trimmed(".mp4"),
    "mov-elst": _trimmed(".mov"),
    "concat-gaps": _concat_gaps,
    "concat-overlap": _concat_overlap,
    "open-gop-ts": _open_gop_ts,
    "interlaced-h264": _interlaced_h264,
    "interlaced-mpeg2": _interlaced_mpeg2,
}


@pytest.mark.parametrize("name", list(SOURCES))
def test_every_frame_comes_back(name: str, tmp_path: Path) -> None:
    source = SOURCES[name](tmp_path)
    out = tmp_path / "out.mp4"
    info = round_trip(source, out)
    judge = ffprobe_count(source)
    assert not info.vfr
    assert info.frame_count == judge
    assert probe(out).frame_count == ffprobe_count(out) == judge
    before, after = ffmpeg_luma(source), ffmpeg_luma(out)
    assert len(before) == len(after) == judge
    worst = min(_psnr(a, b) for a, b in zip(before, after, strict=True))
    assert worst >= PSNR_FLOOR, f"a frame of {name} scores {worst:.1f} dB"


def test_probe_keeps_the_header_rate_of_a_joined_film(tmp_path: Path) -> None:
    info = probe(_concat_gaps(tmp_path))
    assert (info.fps, info.frame_count, info.vfr, info.conform) == ("24", 36, False, None)


# --- Streams that start apart ----------------------------------------------------------------

FLASH_FRAME = 12  # at 24 fps: 0.5 s after the first frame
AUDIO_FRAME = 1024 / 48_000  # one AAC frame


def _offset_source(tmp: Path, video_late: float, audio_late: float) -> Path:
    """An MKV whose flash frame and click fall at the same instant, its video starting
    `video_late` s after its audio, or its audio `audio_late` s after its video."""
    flash = f"color=black:s={W}x{H}:r=24:d=2,drawbox=c=white:t=fill:enable='eq(n,{FLASH_FRAME})'"
    click_at = 0.5 + video_late - audio_late  # on the audio's own clock
    click = f"aevalsrc='0.9*between(t,{click_at},{click_at + 0.002})':s=48000:d=2.1"
    path = tmp / "offset.mkv"
    _ffmpeg("-itsoffset", f"{video_late}", "-f", "lavfi", "-i", flash,
            "-itsoffset", f"{audio_late}", "-f", "lavfi", "-i", click,
            "-map", "0:v", "-map", "1:a", *_x264(), "-c:a", "aac", path)  # fmt: skip
    return path


def click_after_flash(path: Path) -> float:
    """Seconds from the flash frame's start to the click, as a player presents them."""
    with av.open(str(path)) as container:
        flash = next(
            f.time for f in container.decode(video=0) if f.to_ndarray(format="gray").mean() > 128
        )
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            peak = np.abs(frame.to_ndarray()).max(axis=0)
            loud = np.nonzero(peak > 0.3)[0]
            if len(loud):
                return float(frame.time + loud[0] / frame.sample_rate - flash)
    raise AssertionError(f"{path}: no click")


@pytest.mark.parametrize(
    ("video_late", "audio_late"), [(0.1, 0.0), (0.0, 0.1)], ids=["video-late", "audio-late"]
)
@pytest.mark.parametrize("delivery", ["review", "master"])
def test_start_offsets_keep_sync(
    video_late: float, audio_late: float, delivery: DeliveryPreset, tmp_path: Path
) -> None:
    source = _offset_source(tmp_path, video_late, audio_late)
    out = tmp_path / ("out.mp4" if delivery == "review" else "out.mov")
    info = round_trip(source, out, delivery)
    made = probe(out)
    assert made.frame_count == info.frame_count == ffprobe_count(source)
    # The film lasts as the asset does (its sound before the first frame is kept).
    assert abs(made.duration - info.duration) <= 1 / Fraction(info.fps)
    drift = abs(click_after_flash(out) - click_after_flash(source))
    # The review copies the AAC as it is: sample-exact; the master decodes it to PCM.
    assert drift <= (0.001 if delivery == "review" else AUDIO_FRAME), f"{drift * 1000:.2f} ms"


def _joined_takes(tmp: Path, takes: int = 6) -> Path:
    """A film joined from one take as `-c copy` joins do, a quarter-frame gap after each
    take (its sound joined with it); each take has a flash frame and a click at one instant."""
    flash = f"color=black:s={W}x{H}:r=24:d=1,drawbox=c=white:t=fill:enable='eq(n,{FLASH_FRAME})'"
    click = "aevalsrc='0.9*between(t,0.5,0.502)':s=48000:d=1"
    take = tmp / "take.mp4"
    _ffmpeg("-f", "lavfi", "-i", flash, "-f", "lavfi", "-i", click, *_x264(), "-c:a", "aac", take)
    listing = tmp / "takes.ffconcat"
    listing.write_text(
        "ffconcat version 1.0\n" + f"file '{take}'\nduration {1 + 0.25 / 24:.6f}\n" * takes
    )
    path = tmp / "joined.mp4"
    _ffmpeg("-f", "concat", "-safe", "0", "-i", listing, "-c", "copy", path)
    return path


def clicks_after_flashes(path: Path) -> list[float]:
    """Seconds from each flash frame's start to the click after it, as a player presents them."""
    with av.open(str(path)) as container:
        shown = [(f.time, f.to_ndarray(format="gray").mean() > 128)
                 for f in container.decode(video=0)]  # fmt: skip
    flashes = [t for (_, before), (t, on) in pairwise([(0.0, False), *shown]) if on and not before]
    clicks: list[float] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            peak = np.abs(frame.to_ndarray()).max(axis=0)
            for sample in np.nonzero(peak > 0.3)[0]:
                at = float(frame.time + sample / frame.sample_rate)
                if not clicks or at - clicks[-1] > 0.2:
                    clicks.append(at)
    assert len(flashes) == len(clicks), f"{path}: {len(flashes)} flashes, {len(clicks)} clicks"
    return [c - f for f, c in zip(flashes, clicks, strict=True)]


@pytest.mark.parametrize("delivery", ["review", "master"])
def test_a_joined_film_keeps_sync_to_its_end(delivery: DeliveryPreset, tmp_path: Path) -> None:
    """Frames at exactly N/fps would lose each join's gap that the sound keeps: by the last
    take, the sound came 5 quarter frames (52 ms) late. The joins' gaps are kept instead."""
    source = _joined_takes(tmp_path)
    out = tmp_path / ("out.mp4" if delivery == "review" else "out.mov")
    info = round_trip(source, out, delivery)
    assert probe(out).frame_count == info.frame_count == ffprobe_count(source) == 144
    shifts = join_shifts(scan_packets(source).times, Fraction(24))
    assert [frame for frame, _ in shifts] == [24, 48, 72, 96, 120]
    made = join_shifts(scan_packets(out).times, Fraction(24))
    assert [f for f, _ in made] == [f for f, _ in shifts]
    assert all(abs(a[1] - b[1]) < 1e-4 for a, b in zip(made, shifts, strict=True))
    drift = [abs(a - b) for a, b in zip(clicks_after_flashes(out), clicks_after_flashes(source),
                                        strict=True)]  # fmt: skip
    # As above: the review's AAC is copied, the master's decoded to PCM (its samples laid on
    # their timestamps, as a player lays them).
    limit = 0.001 if delivery == "review" else AUDIO_FRAME
    assert max(drift) <= limit, f"{[round(d * 1000, 2) for d in drift]} ms"


def test_join_shifts_are_gaps_and_overlaps_not_jitter() -> None:
    step = 1 / 24
    exact = [n * step for n in range(10)]
    assert join_shifts(exact, Fraction(24)) == []
    matroska = [round(t, 3) for t in exact]  # millisecond timestamps: jitter, not joins
    assert join_shifts(matroska, Fraction(24)) == []
    joined = exact[:5] + [t + step / 4 for t in exact[5:]]
    assert [(f, round(g * 96, 6)) for f, g in join_shifts(joined, Fraction(24))] == [(5, 1.0)]
    overlap = exact[:5] + [t - step / 4 for t in exact[5:]]
    assert [(f, round(g * 96, 6)) for f, g in join_shifts(overlap, Fraction(24))] == [(5, -1.0)]
    # Gaps too small to count alone add up: kept once they pass an eighth of a frame.
    small = [n * step + (n // 4) * 0.003 for n in range(12)]
    assert [(f, round(g, 6)) for f, g in join_shifts(small, Fraction(24))] == [(8, 0.006)]
    # A phone's millisecond jitter at 59.94 fps: no joins, however long the film.
    rng = np.random.default_rng(18)
    phone = [n * 1001 / 60000 + rng.uniform(-0.001, 0.001) for n in range(20_000)]
    assert join_shifts(phone, Fraction(60000, 1001)) == []


# --- Variable frame rate ---------------------------------------------------------------------


def test_variable_rate_is_conformed_and_accounted(tmp_path: Path) -> None:
    from tasks.qc.report import conform_line

    source = tmp_path / "film.mp4"
    _ffmpeg(*_testsrc("25", 1.2), *_x264(), source)
    phone = tmp_path / "phone.mp4"  # frames 10-13 dropped, the others keep their timestamps
    _ffmpeg("-i", source, "-vf", "select='not(between(n,10,13))'", "-fps_mode", "passthrough",
            *_x264(), phone)  # fmt: skip
    info = probe(phone, vfr="conform")
    assert (info.vfr, info.fps, info.frame_count) == (True, "25", 30)
    assert info.conform is not None
    assert (info.conform.source_frames, info.conform.repeated, info.conform.dropped) == (26, 4, 0)
    assert [(e.frame, e.repeated) for e in info.conform.events] == [(10, 4)]
    line = conform_line(info.conform.model_dump())
    assert line == (
        "Variable-frame-rate source conformed: 26 frames in, 4 repeated, 0 dropped "
        "(at frame 10 +4 repeated)"
    )
    with pytest.raises(SpecError, match=r"variable frame rate .* vfr policy is refuse"):
        probe(phone, vfr="refuse")


def test_review_and_master_from_one_decode(tmp_path: Path) -> None:
    source = _rate("30000/1001")(tmp_path)
    info = probe(source)
    units = _units(info.frame_count)
    parts = split_units(source, units, tmp_path / "units")
    outs: dict[DeliveryPreset, Path] = {"review": tmp_path / "f.mp4", "master": tmp_path / "m.mov"}
    made = assemble_all([parts[u.id] for u in units], source, outs, info.fps, info=info, jobs=2)
    assert (made["review"].video_codec, made["master"].video_codec) == ("h264", "prores")
    before = ffmpeg_luma(source)
    for out in outs.values():
        assert ffprobe_count(out) == info.frame_count
        after = ffmpeg_luma(out)
        assert min(_psnr(a, b) for a, b in zip(before, after, strict=True)) >= PSNR_FLOOR
