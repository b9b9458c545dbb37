"""The `shots` delivery: each shot with a replaced face as a clip with handles, as a VFX vendor
hands shots back, named `<asset>_sh<NNNN>_v<NNN>` and stamped with its source timecode.

- `prores4444`: ProRes 4444 (10-bit 4:4:4) MOV with a timecode track (FFmpeg's prores_ks).
- `exr`: 16-bit half OpenEXR, ZIP-compressed, one file per frame numbered from 1001, each with
  its own `timeCode` attribute (OpenImageIO). The values are the video's own (display-referred,
  in the source's transfer), not linearised: a compositor reads them as the film shows them.
- `dpx`: 10-bit RGB DPX, likewise, with the timecode in the DPX header (OpenImageIO: FFmpeg
  5.1's DPX encoder writes no timecode).

The pictures are the units' (the render's own frames, before the delivery codecs), read through
FFmpeg's concat demuxer like assemble reads them; `_plate_src` clips are the same ranges of the
split's source units. A clip has `handles` frames each side as far as the film has them: the
first shot has no head handle to add, the last no tail.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from tasks.media import timecode as tc
from tasks.media.assemble import FFMPEG, MATRICES, picture_filter, units_native, write_concat_list
from tasks.spec import PlateFormat, Probe, ShotList, SpecError, parse_fps

log = logging.getLogger(__name__)

FIRST_FRAME = 1001  # where a pull's frame numbers start
_PADDING = 4


@dataclass(frozen=True)
class ShotClip:
    """One delivered clip: film frames [first, end) of shot `shot`, starting at `timecode`.
    `path` is relative to the delivery (`shots/...`): the MOV, or the sequence's first
    frame. `head` and `tail` are the handles it has (fewer at the film's ends)."""

    shot: int
    name: str
    path: str
    first: int
    end: int
    head: int
    tail: int
    timecode: str | None  # None: the film's rate has no HH:MM:SS:FF timecode (over 100 fps)
    plate_format: str
    version: int = 1

    @property
    def frames(self) -> int:
        return self.end - self.first

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def clip_name(asset_stem: str, shot: int, version: int = 1) -> str:
    return f"{asset_stem}_sh{shot:04d}_v{version:03d}"


def clip_ranges(
    shots: ShotList, wanted: Sequence[int], handles: int
) -> list[tuple[int, int, int, int]]:
    """(shot, first, end, head) of each wanted shot with up to `handles` frames each side."""
    out = []
    for index in sorted(set(wanted)):
        shot = shots.shots[index]
        first = max(0, shot.start_frame - handles)
        end = min(shots.frame_count, shot.end_frame + handles)
        out.append((index, first, end, shot.start_frame - first))
    return out


@dataclass(frozen=True)
class UnitVideo:
    path: Path
    start_frame: int
    end_frame: int


def write_clip(
    units: Sequence[UnitVideo],
    info: Probe,
    first: int,
    end: int,
    folder: Path,
    name: str,
    plate_format: PlateFormat,
    timecode: str | None,
) -> Path:
    """Film frames [first, end) of the concatenated `units` as one clip under `folder`, its
    first frame at `timecode`; the MOV or the first frame of the sequence."""
    inside = [u for u in units if u.end_frame > first and u.start_frame < end]
    if not inside or inside[0].start_frame > first or inside[-1].end_frame < end:
        raise SpecError(f"{name}: the units do not cover frames {first}..{end - 1}")
    offset = inside[0].start_frame
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="recast-plate-", dir=folder) as tmp:
        listing = write_concat_list(Path(tmp) / "units.ffconcat", [u.path for u in inside])
        native = units_native(inside[0].path, info)
        trim = f"trim=start_frame={first - offset}:end_frame={end - offset},setpts=PTS-STARTPTS"
        if plate_format == "prores4444":
            return _prores(listing, info, native, trim, folder / f"{name}.mov", timecode)
        return _sequence(listing, info, native, trim, folder / name, plate_format, timecode)


def _input(listing: Path) -> list[str]:
    return [FFMPEG, "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing)]


def _run(cmd: list[str], what: Path) -> bytes:
    result = subprocess.run(cmd, capture_output=True, check=False)
    if result.returncode != 0:
        error = result.stderr.decode(errors="replace").strip()[-800:]
        raise SpecError(f"ffmpeg could not write {what}: {error}")
    return result.stdout


def _prores(
    listing: Path, info: Probe, native: bool, trim: str, out: Path, timecode: str | None
) -> Path:
    picture = picture_filter(info, "yuv444p10le", False, native)
    cmd = [*_input(listing), "-map", "0:v:0", "-vf", f"{picture},{trim}", "-r", info.fps]
    cmd += ["-c:v", "prores_ks", "-profile:v", "4", "-vendor", "apl0"]
    cmd += ["-pix_fmt", "yuv444p10le", "-movflags", "+write_colr"]
    cmd += ["-timecode", timecode] if timecode else []
    _run([*cmd, str(out)], out)
    return out


def _rgb_filter(info: Probe, native: bool) -> str:
    """To 16-bit RGB with the matrix the units were made with: the source's for its own YUV
    pictures, BT.709 for YUV made from RGB (frames.py); RGB units pass through."""
    rate = parse_fps(info.fps)
    matrix = MATRICES.get(info.color_space or "", "bt601") if native else "bt709"
    colour_range = "pc" if native and info.color_range == "pc" else "tv"
    return (
        f"settb=expr={rate.denominator}/{rate.numerator},setpts=N,"
        f"scale=in_color_matrix={matrix}:in_range={colour_range},format=rgb48le"
    )


def _sequence(
    listing: Path,
    info: Probe,
    native: bool,
    trim: str,
    folder: Path,
    plate_format: PlateFormat,
    timecode: str | None,
) -> Path:
    cmd = [*_input(listing), "-map", "0:v:0", "-vf", f"{_rgb_filter(info, native)},{trim}"]
    raw = _run([*cmd, "-f", "rawvideo", "-pix_fmt", "rgb48le", "-"], folder)
    frame_bytes = info.width * info.height * 3 * 2
    if not raw or len(raw) % frame_bytes:
        raise SpecError(f"{folder.name}: decoded {len(raw)} bytes, not whole frames")
    pictures = np.frombuffer(raw, "<u2").reshape(-1, info.height, info.width, 3)
    folder.mkdir(parents=True, exist_ok=True)
    rate = parse_fps(info.fps)
    paths = [
        write_image(
            folder / f"{folder.name}.{FIRST_FRAME + i:0{_PADDING}d}.{plate_format}",
            picture.astype(np.float32) / 65535.0,
            plate_format,
            tc.shift(timecode, i, rate) if timecode else None,
            rate,
        )
        for i, picture in enumerate(pictures)
    ]
    return paths[0]


def write_image(
    path: Path, rgb: np.ndarray, plate_format: str, timecode: str | None, rate: Fraction
) -> Path:
    """One RGB frame (float, 0..1) as 16-bit half EXR (ZIP) or 10-bit DPX, with its timecode
    and rate in the header (OpenImageIO)."""
    import OpenImageIO as oiio

    height, width, _ = rgb.shape
    exr = plate_format == "exr"
    spec = oiio.ImageSpec(width, height, 3, oiio.HALF if exr else oiio.UINT16)
    if exr:
        spec.attribute("compression", "zip")
    else:
        spec.attribute("oiio:BitsPerSample", 10)
    if timecode:
        spec.attribute("smpte:TimeCode", oiio.TypeTimeCode, tc.smpte_words(timecode))
    spec.attribute("FramesPerSecond", oiio.TypeRational, (rate.numerator, rate.denominator))
    out = oiio.ImageOutput.create(str(path))
    if out is None or not out.open(str(path), spec):
        raise SpecError(f"{path}: cannot write: {oiio.geterror()}")
    try:
        if not out.write_image(np.ascontiguousarray(rgb, dtype=np.float32)):
            raise SpecError(f"{path}: cannot write: {out.geterror()}")
    finally:
        out.close()
    return path
