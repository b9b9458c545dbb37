"""Decode a few frames of a constant-rate film by seeking, not by reading it from the start.

QC samples a handful of frames per shot; reading a feature film through to each would cost as
much as the render's own decode. Frame k is the one whose presentation time is k/fps after the
stream's start, the numbering `read_frames` gives a constant-rate film (a test holds them equal).
A variable-rate film has no such numbering: read it with `read_frames(path, probe)` instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation

from tasks.media.decode import upright
from tasks.media.frames import read_frames
from tasks.media.limits import demux_options
from tasks.spec import Probe, SpecError

# Closer than this, decoding on beats seeking back to a keyframe.
_DECODE_ON = 48
# As read_frames converts: accurate YUV->RGB unless the frame is RGB already.
_ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
_RGB = frozenset({"bgr0", "rgb24", "bgr24", "gbrp", "rgba", "bgra"})


def _rgb(frame: av.VideoFrame) -> np.ndarray:
    exact = _ACCURATE if frame.format.name not in _RGB else None
    rgb = frame.to_ndarray(format="rgb24", src_color_range=frame.color_range, interpolation=exact)
    return upright(rgb, frame.rotation or 0)


def seek_frames(path: Path, indices: set[int]) -> dict[int, np.ndarray]:
    """The RGB frames at `indices` of the first video stream (SpecError when one is missing)."""
    try:
        container = av.open(str(path), options=demux_options())
    except (av.FFmpegError, OSError) as exc:
        raise SpecError(f"{path}: cannot open for decoding: {exc}") from exc
    found: dict[int, np.ndarray] = {}
    with container:
        if not container.streams.video:
            raise SpecError(f"{path}: no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if not rate or stream.time_base is None:
            raise SpecError(f"{path}: no frame rate to seek by")
        tb, origin = Fraction(stream.time_base), stream.start_time or 0

        def numbered(target: int) -> Iterator[tuple[int, av.VideoFrame]]:
            """Frames from the keyframe at or before `target`, with their index."""
            container.seek(origin + int(target / rate / tb), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.pts is not None:
                    yield round((frame.pts - origin) * tb * rate), frame

        frames: Iterator[tuple[int, av.VideoFrame]] | None = None
        position = -1
        for target in sorted(indices):
            if frames is None or target < position or target - position > _DECODE_ON:
                frames = numbered(target)
            position, frame = _advance(frames, target)
            if position > target:
                # The keyframe index disagreed with the timestamps: read from the start instead.
                frames = numbered(0)
                position, frame = _advance(frames, target)
            if position == target and frame is not None:
                found[target] = _rgb(frame)
    missing = sorted(indices - found.keys())
    if missing:
        raise SpecError(f"{path} has no frame {missing[0]}")
    return found


def _advance(
    frames: Iterator[tuple[int, av.VideoFrame]], target: int
) -> tuple[int, av.VideoFrame | None]:
    """Decode on to the first frame at or past `target`: its index and the frame."""
    for index, frame in frames:
        if index >= target:
            return index, frame
    return -1, None


def frames_of(path: Path, indices: set[int], info: Probe | None = None) -> dict[int, np.ndarray]:
    """The frames at `indices` as every stage numbers them: by seeking, unless the film is
    variable-rate (`info.vfr`), which is read through and retimed as split read it."""
    if info is None or not info.vfr:
        return seek_frames(path, indices)
    found: dict[int, np.ndarray] = {}
    with closing(read_frames(path, info)) as frames:
        for index, frame in enumerate(frames):
            if index in indices:
                found[index] = frame
            if len(found) == len(indices):
                break
    missing = sorted(indices - found.keys())
    if missing:
        raise SpecError(f"{path} has no frame {missing[0]}")
    return found
