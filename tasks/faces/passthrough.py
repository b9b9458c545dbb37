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
A unit split into another codec (lossless x264, ProRes) is written as RGB FFV1 as before.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import av
import numpy as np

from tasks import scope
from tasks.media.frames import (
    _ACCURATE,
    NATIVE_FORMATS,
    FrameWriter,
    MezzanineFormat,
    NativeWriter,
    read_frames,
)

log = logging.getLogger(__name__)


def usable(source: Path) -> bool:
    """Whether `source`'s packets can stand for the swap's frames: an FFV1 unit (any pixel
    format: `UnitWriter` writes the changed frames in it)."""
    return like_of(source) is not None


def like_of(source: Path) -> av.VideoFrame | None:
    """The first picture of an FFV1 unit (its format and colour tags); None for another codec
    or a file that does not decode (decoding it later says why, in the user's words)."""
    try:
        with av.open(str(source)) as container:
            stream = container.streams.video[0]
            if stream.codec_context.name != "ffv1":
                return None
            return next(container.decode(stream), None)
    except (av.FFmpegError, OSError, IndexError):
        return None


class UnitWriter(NativeWriter):
    """RGB24 frames into a unit shaped like `like` (a picture of an FFV1 unit): its pixel format,
    colour tags and split's FFV1 options, so its packets mix with that unit's."""

    def __init__(self, path: Path, like: av.VideoFrame, fps: str) -> None:
        fmt = NATIVE_FORMATS["ffv1"]
        super().__init__(path, like, fps, MezzanineFormat(fmt.codec, like.format.name, fmt.options))
        self.width, self.height = like.width, like.height
        self._tags = {"dst_colorspace": like.colorspace, "dst_color_range": like.color_range}

    def write(self, frame: np.ndarray) -> None:  # type: ignore[override]
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        if self._format.pix_fmt != "bgr0":  # the matrix and range to_rgb decodes with
            picture = picture.reformat(
                format=self._format.pix_fmt, interpolation=_ACCURATE, **self._tags
            )
        super().write(picture)


def writer(
    path: Path, frame: np.ndarray, fps: str, like: av.VideoFrame | None
) -> FrameWriter | UnitWriter:
    """The swap's writer: in `like`'s unit format where there is one, else RGB FFV1."""
    if like is not None and (like.height, like.width) == frame.shape[:2]:
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
