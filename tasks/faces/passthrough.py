"""The swap writes its unit in the split unit's own format; frames it leaves as they were keep
the split's packets: no encode.

FFV1 is intra-only, so every packet is a whole frame. Split writes FFV1 units in the source's
own pixel format (usually yuv420p; 10-bit sources keep 10 bits; tasks.media.frames.NativeWriter),
so the swap writes its unit in that same format (`UnitWriter`: same codec, pixel format, options
and colour tags) and only the frames a face was written on are encoded, converted back from RGB
with the source's own matrix and range (the inverse of `tasks.media.frames.to_rgb`: the round
trip keeps about 47 dB RGB PSNR, 60 dB on luma). The others are the split's packets, copied into
place (`tasks.scope.splice`, which also checks both files were encoded alike). Where the two turn
out not to be alike, both are decoded and the unit is written again as RGB FFV1, losslessly.
A unit split as the source's own packets (x264 copied: tasks.media.copy_units) cannot lend its
packets, but is written the same way, in its pixel format: a frame left as it was is its decoded
picture encoded as it is (`Pictures`: no RGB round trip, 10 bits kept), a replaced one converted
back. Rotated units, and pixel formats FFV1 lacks, are written as RGB FFV1 as before.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from tasks import scope
from tasks.media.decode import video_frames
from tasks.media.ffprobe import ffprobe
from tasks.media.frames import (
    _ACCURATE,
    NATIVE_FORMATS,
    FrameWriter,
    MezzanineFormat,
    NativeWriter,
    read_frames,
    to_rgb,
)

log = logging.getLogger(__name__)


_FFV1_FORMATS = frozenset(f.name for f in av.codec.Codec("ffv1", "w").video_formats or ())


def usable(source: Path) -> bool:
    """Whether `source`'s packets can stand for the swap's frames: an FFV1 unit (any pixel
    format: `UnitWriter` writes the changed frames in it)."""
    return like_of(source, packets=True) is not None


@dataclass(frozen=True)
class Like:
    """A unit's first picture (its size, pixel format and colour tags) and its chroma siting,
    which the RGB conversion with full chroma interpolation depends on (as split keeps it)."""

    picture: av.VideoFrame
    chroma: str
    codec: str

    @property
    def packets(self) -> bool:
        """Whether the unit's packets can stand for frames the swap leaves (FFV1: intra-only)."""
        return self.codec == "ffv1"


def like_of(source: Path, *, packets: bool = False) -> Like | None:
    """What the swap writes a unit like, to write it in its own format: unrotated, in a pixel
    format FFV1 takes; with `packets`, only an FFV1 unit. None otherwise, or for a file that
    does not decode (decoding it later says why)."""
    try:
        with av.open(str(source)) as container:
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            if packets and codec != "ffv1":
                return None
            first = next(container.decode(stream), None)
    except (av.FFmpegError, OSError, IndexError):
        return None
    if first is None or first.rotation or first.format.name not in _FFV1_FORMATS:
        return None
    streams = ffprobe(source, ["-select_streams", "v:0", "-show_streams"]).get("streams", [])
    return Like(first, str(streams[0].get("chroma_location", "")) if streams else "", codec)


class Pictures:
    """A unit's frames as RGB, each held with its decoded picture until it is written, so a
    frame left as it was is written as decoded (`take`)."""

    def __init__(self) -> None:
        self._held: dict[int, tuple[np.ndarray, av.VideoFrame]] = {}

    def hold(self, picture: av.VideoFrame) -> np.ndarray:
        rgb = to_rgb(picture)
        self._held[id(rgb)] = (rgb, picture)
        return rgb

    def read(self, path: Path) -> Iterator[np.ndarray]:
        """As tasks.media.frames.read_frames (a constant-rate unit)."""
        return (self.hold(picture) for picture in video_frames(path))

    def take(self, rgb: np.ndarray) -> av.VideoFrame | None:
        held = self._held.pop(id(rgb), None)
        return held[1] if held is not None and held[0] is rgb else None


class UnitWriter(NativeWriter):
    """RGB24 frames into a unit shaped like `like` (a picture of an FFV1 unit): its pixel format,
    colour tags and split's FFV1 options, so its packets mix with that unit's."""

    def __init__(self, path: Path, like: Like, fps: str) -> None:
        fmt, first = NATIVE_FORMATS["ffv1"], like.picture
        options = dict(fmt.options)
        if like.chroma and like.chroma != "unspecified":
            options["chroma_sample_location"] = like.chroma
        super().__init__(path, first, fps, MezzanineFormat(fmt.codec, first.format.name, options))
        self.width, self.height = first.width, first.height
        self._tags = {"dst_colorspace": first.colorspace, "dst_color_range": first.color_range}

    def keep(self, picture: av.VideoFrame) -> None:
        """A decoded picture of the unit, encoded as it is."""
        super().write(picture)

    def write(self, frame: np.ndarray) -> None:  # type: ignore[override]
        super().write(self._converted(frame))

    def write_over(self, picture: av.VideoFrame, source: np.ndarray, frame: np.ndarray) -> None:
        """`frame` (the swap's RGB of `picture`, decoded as `source`), with every sample outside
        the box where the two differ `picture`'s own."""
        if frame is source:
            self.keep(picture)
            return
        diff = np.any(frame != source, axis=2)
        rows, cols = np.flatnonzero(diff.any(axis=1)), np.flatnonzero(diff.any(axis=0))
        if not len(rows):
            self.keep(picture)
            return
        out = self._converted(frame)
        if out.format.name != picture.format.name or out.width != picture.width:
            super().write(out)
            return
        y0, y1 = _span(int(rows[0]), int(rows[-1]) + 1, frame.shape[0])
        x0, x1 = _span(int(cols[0]), int(cols[-1]) + 1, frame.shape[1])
        for mine, theirs in zip(out.planes, picture.planes, strict=True):
            a, b = _samples(mine, out), _samples(theirs, picture)
            sy, sx = round(frame.shape[0] / mine.height), round(frame.shape[1] / mine.width)
            box = (slice(y0 // sy, -(-y1 // sy)), slice(x0 // sx, -(-x1 // sx)))
            face = a[box].copy()
            a[...] = b
            a[box] = face
        super().write(out)

    def _converted(self, frame: np.ndarray) -> av.VideoFrame:
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        if self._format.pix_fmt == "bgr0":
            return picture
        # The matrix and range to_rgb decodes with, so a frame comes back as it went in.
        return picture.reformat(format=self._format.pix_fmt, interpolation=_ACCURATE, **self._tags)


_ALIGN = 4  # box edges on multiples of the chroma subsampling (4:1:1 at most)


def _span(lo: int, hi: int, size: int) -> tuple[int, int]:
    """The box's edges: outside it every sample is the source's, so only pixels within a chroma
    sample of it (whose RGB interpolates the box's chroma) differ from the source's at all."""
    return lo // _ALIGN * _ALIGN, min(size, -(-hi // _ALIGN) * _ALIGN)


def _samples(plane: Any, frame: av.VideoFrame) -> np.ndarray:
    """A plane's samples as a writable (height, width) view."""
    wide = frame.format.components[0].bits > 8
    raw = np.frombuffer(memoryview(plane), np.uint16 if wide else np.uint8)
    per_line = plane.line_size // (2 if wide else 1)
    rows: np.ndarray = raw.reshape(-1, per_line)[: plane.height, : plane.width]
    return rows


def writer(path: Path, frame: np.ndarray, fps: str, like: Like | None) -> FrameWriter | UnitWriter:
    """The swap's writer: in `like`'s unit format where there is one, else RGB FFV1."""
    if like is not None and (like.picture.height, like.picture.width) == frame.shape[:2]:
        return UnitWriter(path, like, fps)
    return FrameWriter(path, frame.shape[1], frame.shape[0], fps)


class Passthrough:
    """Which frames of a unit were changed; the unit's file made from them and the source."""

    def __init__(self, source: Path, out: Path) -> None:
        self.source, self.out = source, out
        self.computed = out.with_name(f"{out.stem}.computed{out.suffix}")
        self.changed: list[bool] = []

    def finish(self, fps: str) -> int:
        """Write `out` from the source and the changed frames (in `computed`); frames written."""
        if not any(self.changed):
            shutil.copyfile(self.source, self.out)
        elif not scope.splice(self.source, self.computed, self.changed, self.out):
            log.info("%s: not encoded as the swap encodes; written again", self.source)
            self._rewrite(fps)
        self.computed.unlink(missing_ok=True)
        return len(self.changed)

    def _rewrite(self, fps: str) -> None:
        source, computed = read_frames(self.source), read_frames(self.computed)
        out: FrameWriter | None = None
        try:
            for changed in self.changed:
                frame = next(source)
                if changed:
                    frame = next(computed)
                if out is None:
                    out = FrameWriter(self.out, frame.shape[1], frame.shape[0], fps)
                out.write(frame)
        finally:
            source.close()
            computed.close()
            if out is not None:
                out.close()
