"""Decode films to RGB frames and write unit mezzanines, both through PyAV.

Mezzanines (chosen per render, `RenderSpec.mezzanine`), all in Matroska at an exact 1/fps time
base. Split writes the source's decoded pictures as they are (`NativeWriter`, `native_format`):
no RGB conversion, in the source's own pixel format and colour tags, so `read_frames` gives a
unit exactly the RGB it gives the source:
- `ffv1`: lossless FFV1 level 3, intra-only, sliced (bit-exact with the decoded source);
- `h264`: lossless x264 (qp 0, ultrafast: about 60% of FFV1's size on our 720p test film,
  2-4x cheaper to write and read; bit-exact too);
- `prores`: ProRes 422 HQ (prores_ks profile 3, 10-bit 4:2:2).
RGB frames (the swap and restore stages, and split for a rotated source or a pixel format the
codec lacks) go through `FrameWriter`:
- `ffv1`: FFV1 in bgr0, a byte shuffle of RGB24, so a frame written and read back is the same
  bytes (no YUV matrix, no rounding). FFmpeg 5.1's FFV1 has no 8-bit gbrp.
- `prores`: as above, from RGB, BT.709 limited range.
- `h264`: x264 intra-only at CRF 4 (tuned for PSNR) in 4:4:4, BT.709 limited range.
The YUV ones are tagged BT.709 and decoded with the tag, so RGB comes back as it went in, within
the codec's loss (>= 45 dB PSNR). The swap stage writes an FFV1 unit in that unit's own format
(tasks.faces.passthrough), other units as RGB FFV1.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Self

import av
import numpy as np
from av.video.reformatter import Interpolation
from av.video.stream import VideoStream

from tasks.media.decode import retime, upright, video_frames
from tasks.media.ffprobe import ffprobe
from tasks.spec import Mezzanine, Probe, SpecError, parse_fps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MezzanineFormat:
    codec: str
    pix_fmt: str
    options: dict[str, str] = field(default_factory=dict)
    yuv: bool = True


MEZZANINE_FORMATS: dict[str, MezzanineFormat] = {
    "ffv1": MezzanineFormat(
        "ffv1", "bgr0", {"level": "3", "g": "1", "slicecrc": "1", "slices": "4"}, yuv=False
    ),
    "prores": MezzanineFormat("prores_ks", "yuv422p10le", {"profile": "3", "vendor": "apl0"}),
    "h264": MezzanineFormat(
        "libx264",
        "yuv444p",
        {"crf": "4", "tune": "psnr", "preset": "veryfast", "g": "1", "bf": "0"},
    ),
}
_ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
# RGB needs no matrix: a plain shuffle, which the accurate path would only slow down.
_RGB_FORMATS = frozenset({"bgr0", "rgb24", "bgr24", "gbrp", "rgba", "bgra"})
# Split's mezzanines from decoded pictures; pix_fmt "" keeps the source's.
NATIVE_FORMATS: dict[str, MezzanineFormat] = {
    "ffv1": MezzanineFormat(
        "ffv1", "", {"level": "3", "g": "1", "slicecrc": "1", "slices": "4"}, yuv=False
    ),
    "h264": MezzanineFormat("libx264", "", {"qp": "0", "preset": "ultrafast"}, yuv=False),
    "prores": MezzanineFormat("prores_ks", "yuv422p10le", {"profile": "3", "vendor": "apl0"}),
}
# Kept for callers that name the lossless format directly.
MEZZANINE_CODEC = MEZZANINE_FORMATS["ffv1"].codec
MEZZANINE_PIX_FMT = MEZZANINE_FORMATS["ffv1"].pix_fmt


def read_frames(path: Path, info: Probe | None = None) -> Generator[np.ndarray, None, None]:
    """Yield every frame of the first video stream as RGB24 (H, W, 3) uint8, in display order.

    Frames are turned upright as the display matrix says. With the film's probe, a
    variable-rate film is retimed to its constant rate (`info.fps`, `info.frame_count` frames).
    """
    frames = video_frames(path)
    if info is not None and info.vfr:
        timed = ((float(f.time or 0.0), f) for f in frames)
        frames = retime(timed, parse_fps(info.fps), info.frame_count)
    for frame in frames:
        yield to_rgb(frame)


def to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded picture as RGB24 (H, W, 3) uint8, upright, as `read_frames` gives it."""
    # Honour a full-range tag; swscale would otherwise assume limited range. swscale's fast
    # YUV->RGB path is biased (Y about 1 level low after a round trip); accurate rounding
    # with full chroma interpolation is not (61 dB against 46 dB on our test films).
    exact = _ACCURATE if frame.format.name not in _RGB_FORMATS else None
    rgb = frame.to_ndarray(format="rgb24", src_color_range=frame.color_range, interpolation=exact)
    return upright(rgb, frame.rotation or 0)


class _MezzanineFile:
    """One video stream in Matroska: frame i gets pts i, flushed and closed once."""

    path: Path
    frames_written: int
    _container: av.container.OutputContainer | None
    _stream: VideoStream

    def _mux(self, frame: av.VideoFrame) -> None:
        if self._container is None:
            raise SpecError(f"{self.path}: writer is closed")
        frame.pts = self.frames_written  # a retimed film repeats a frame: give each its slot
        frame.time_base = self._stream.codec_context.time_base
        self._container.mux(self._stream.encode(frame))
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finish the file (idempotent)."""
        if self._container is None:
            return
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()
            self._container = None
        log.debug("wrote %d frames to %s", self.frames_written, self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class FrameWriter(_MezzanineFile):
    """Write RGB24 frames to a unit mezzanine (Matroska) at an exact rational rate.

    Frame i gets pts i in a 1/fps time base, so the frame count and order are exact whatever
    the container rounds its timestamps to.
    """

    def __init__(
        self, path: Path, width: int, height: int, fps: str, *, codec: Mezzanine = "ffv1"
    ) -> None:
        if width <= 0 or height <= 0:
            raise SpecError(f"frame size {width}x{height} is not positive")
        try:
            self._rate: Fraction = parse_fps(fps)
        except ValueError as exc:
            raise SpecError(str(exc)) from exc
        self.path = path
        self.width = width
        self.height = height
        self.frames_written = 0
        self._format = MEZZANINE_FORMATS[codec]
        self._container: av.container.OutputContainer | None = av.open(
            str(path), mode="w", format="matroska"
        )
        self._stream = self._add_stream(self._container)

    def _add_stream(self, container: av.container.OutputContainer) -> VideoStream:
        fmt = self._format
        stream = container.add_stream(fmt.codec, rate=self._rate)
        if not isinstance(stream, VideoStream):
            raise TypeError(f"{fmt.codec} did not give a video stream")
        stream.width = self.width
        stream.height = self.height
        stream.pix_fmt = fmt.pix_fmt
        stream.time_base = 1 / self._rate
        stream.codec_context.time_base = 1 / self._rate
        if fmt.yuv:
            # Tagged, so decoders convert back with the matrix the encoder used.
            stream.codec_context.colorspace = 1  # BT.709
            stream.codec_context.color_range = 1  # limited (MPEG)
            stream.codec_context.color_primaries = 1
            stream.codec_context.color_trc = 1
        stream.options = dict(fmt.options)
        return stream

    def write(self, frame: np.ndarray) -> None:
        """Append one RGB24 (height, width, 3) uint8 frame."""
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise SpecError(
                f"{self.path}: frame {self.frames_written} is {frame.shape} {frame.dtype}, "
                f"expected ({self.height}, {self.width}, 3) uint8"
            )
        if self._container is None:
            raise SpecError(f"{self.path}: writer is closed")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        if self._format.yuv:
            video_frame = video_frame.reformat(
                format=self._format.pix_fmt,
                dst_colorspace="ITU709",
                dst_color_range="MPEG",
            )
        self._mux(video_frame)


def native_format(mezzanine: Mezzanine, source: Path, info: Probe) -> MezzanineFormat | None:
    """The format split writes decoded pictures of the film `info` describes in, without RGB;
    None where only the RGB path will do (a rotated picture is turned upright in RGB; a pixel
    format the codec lacks; 4:2:0 x264 needs even sides; ProRes takes limited range only)."""
    fmt = NATIVE_FORMATS[mezzanine]
    if info.rotation % 360 or info.pix_fmt in _RGB_FORMATS:
        return None
    pix_fmt = fmt.pix_fmt or info.pix_fmt
    supported = {f.name for f in av.codec.Codec(fmt.codec, "w").video_formats or ()}
    if pix_fmt not in supported or (mezzanine == "prores" and info.color_range == "pc"):
        return None
    subsampled = "420" in pix_fmt or "nv12" in pix_fmt
    if fmt.codec == "libx264" and subsampled and (info.width % 2 or info.height % 2):
        return None
    options = dict(fmt.options)
    # The chroma siting too: RGB conversion with full chroma interpolation depends on it.
    streams = ffprobe(source, ["-select_streams", "v:0", "-show_streams"]).get("streams", [])
    chroma = str(streams[0].get("chroma_location", "")) if streams else ""
    if chroma and chroma != "unspecified":
        options["chroma_sample_location"] = chroma
    return MezzanineFormat(fmt.codec, pix_fmt, options, yuv=False)


def decoded_frames(path: Path, info: Probe) -> Generator[av.VideoFrame, None, None]:
    """The film's pictures as decoded (not turned, not converted), retimed when variable-rate;
    the same frames, in the same order, as `read_frames` converts to RGB."""
    frames: Iterator[av.VideoFrame] = video_frames(path)
    if info.vfr:
        timed = ((float(f.time or 0.0), f) for f in frames)
        frames = retime(timed, parse_fps(info.fps), info.frame_count)
    yield from frames


class NativeWriter(_MezzanineFile):
    """Write decoded pictures to a unit mezzanine in `fmt` (see native_format), keeping the
    colour tags of `like` (a frame of the source) so the unit decodes as the source does."""

    def __init__(self, path: Path, like: av.VideoFrame, fps: str, fmt: MezzanineFormat) -> None:
        self.path = path
        self.frames_written = 0
        self._format = fmt
        self._rate = parse_fps(fps)
        self._container: av.container.OutputContainer | None = av.open(
            str(path), mode="w", format="matroska"
        )
        stream = self._container.add_stream(fmt.codec, rate=self._rate)
        if not isinstance(stream, VideoStream):
            raise TypeError(f"{fmt.codec} did not give a video stream")
        stream.width, stream.height, stream.pix_fmt = like.width, like.height, fmt.pix_fmt
        stream.time_base = stream.codec_context.time_base = 1 / self._rate
        context = stream.codec_context
        context.colorspace, context.color_range = like.colorspace, like.color_range
        context.color_primaries, context.color_trc = like.color_primaries, like.color_trc
        context.thread_type, context.thread_count = "AUTO", 0
        stream.options = dict(fmt.options)
        self._stream = stream

    def write(self, frame: av.VideoFrame) -> None:
        if self._container is None:
            raise SpecError(f"{self.path}: writer is closed")
        if frame.format.name != self._format.pix_fmt:
            # YUV to YUV (ProRes' 10-bit 4:2:2): no matrix, the range kept.
            frame = frame.reformat(format=self._format.pix_fmt)
        self._mux(frame)
