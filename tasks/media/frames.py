"""Decode films to RGB frames and write lossless FFV1 mezzanines, both through PyAV.

The mezzanine is FFV1 (level 3, intra only) in Matroska with pix_fmt bgr0: a byte shuffle of
RGB24, so writing a frame and reading it back gives the same bytes (no YUV matrix, no rounding).
FFmpeg 5.1's FFV1 encoder has no 8-bit planar gbrp; bgr0 works with every FFmpeg we ship.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from av.video.stream import VideoStream

from tasks.spec import SpecError, parse_fps

log = logging.getLogger(__name__)

MEZZANINE_CODEC = "ffv1"
MEZZANINE_PIX_FMT = "bgr0"
_FFV1_OPTIONS = {"level": "3", "g": "1", "slicecrc": "1", "slices": "4"}


def read_frames(path: Path) -> Generator[np.ndarray, None, None]:
    """Yield every frame of the first video stream as RGB24 (H, W, 3) uint8, in display order."""
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise SpecError(f"{path}: cannot open for decoding: {exc}") from exc
    with container:
        if not container.streams.video:
            raise SpecError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            # Honour a full-range tag; swscale would otherwise assume limited range.
            yield frame.to_ndarray(format="rgb24", src_color_range=frame.color_range)


class FrameWriter:
    """Write RGB24 frames to a lossless FFV1/Matroska mezzanine at an exact rational rate.

    Frame i gets pts i in a 1/fps time base, so the frame count and order are exact whatever
    the container rounds its timestamps to.
    """

    def __init__(self, path: Path, width: int, height: int, fps: str) -> None:
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
        self._container: av.container.OutputContainer | None = av.open(
            str(path), mode="w", format="matroska"
        )
        stream = self._container.add_stream(MEZZANINE_CODEC, rate=self._rate)
        if not isinstance(stream, VideoStream):
            raise TypeError(f"{MEZZANINE_CODEC} did not give a video stream")
        stream.width = width
        stream.height = height
        stream.pix_fmt = MEZZANINE_PIX_FMT
        stream.time_base = 1 / self._rate
        stream.codec_context.time_base = 1 / self._rate
        stream.options = dict(_FFV1_OPTIONS)
        self._stream = stream

    def write(self, frame: np.ndarray) -> None:
        """Append one RGB24 (height, width, 3) uint8 frame."""
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise SpecError(
                f"{self.path}: frame {self.frames_written} is {frame.shape} {frame.dtype}, "
                f"expected ({self.height}, {self.width}, 3) uint8"
            )
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video_frame.pts = self.frames_written
        video_frame.time_base = self._stream.codec_context.time_base
        if self._container is None:
            raise SpecError(f"{self.path}: writer is closed")
        self._container.mux(self._stream.encode(video_frame))
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

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
