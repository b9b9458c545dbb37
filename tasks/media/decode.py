"""Decode a film's video frames in presentation order, refusing damaged ones, and retime a
variable-rate film onto a constant-rate grid.

Every stage that reads the source numbers frames the same way through this module, so a shot
boundary found by detect-shots is the same frame in split and assemble.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import av
import numpy as np

from tasks.media.limits import demux_options
from tasks.spec import SpecError

log = logging.getLogger(__name__)

T = TypeVar("T")


def video_frames(path: Path, options: dict[str, str] | None = None) -> Iterator[av.VideoFrame]:
    """Every decoded frame of the first video stream; SpecError on damaged input."""
    try:
        container = av.open(str(path), options=demux_options())
    except (av.FFmpegError, OSError) as exc:
        raise SpecError(f"{path}: cannot open for decoding: {exc}") from exc
    with container:
        if not container.streams.video:
            raise SpecError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if options:
            stream.codec_context.options = dict(options)
        index = 0
        try:
            for frame in container.decode(stream):
                if frame.is_corrupt:
                    raise SpecError(f"{path}: corrupt video data at frame {index}")
                yield frame
                index += 1
        except av.FFmpegError as exc:
            raise SpecError(f"{path}: cannot decode after frame {index}: {exc}") from exc


def retime(timed: Iterable[tuple[float, T]], rate: Fraction, count: int) -> Iterator[T]:
    """`count` items on a constant-rate grid from items at arbitrary (sorted) times.

    Slot k (at first_time + k/rate) shows the latest item due by the middle of the slot, as
    FFmpeg's fps filter does: gaps repeat a frame, bursts drop frames.
    """
    step = 1 / float(rate)
    start: float | None = None
    current: T | None = None
    slot = 0
    for when, item in timed:
        if start is None:
            start, current = when, item
            continue
        # Everything due before `when` (rounded to the nearest slot) shows the current item.
        while slot < count and start + (slot + 0.5) * step < when:
            assert current is not None
            yield current
            slot += 1
        current = item
    while current is not None and slot < count:
        yield current
        slot += 1


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Turn a decoded picture as the display matrix says (counter-clockwise degrees)."""
    turns = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image
