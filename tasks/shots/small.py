"""Decoded frames shrunk to detection size, cheaply, in blocks.

Fast path (`piped_blocks`): an ffmpeg process decodes (loop filter skipped, which only detection
can afford) and shrinks with swscale's area filter to a thumbnail, piped as raw BGR. Decoding
runs on another core while Python imports the detectors and measures the frames; the pipe is
widened so ffmpeg can run a few hundred frames ahead. It only serves constant-rate films (no
timestamps cross the pipe) and gives up (`FastDecodeError`) on anything ffmpeg complains about,
so the caller falls back to the PyAV path, which names the damage exactly. Asked for
`Samples`, the same ffmpeg process also sends every n-th decoded frame at a modest size through
a second pipe (a face census), read on a thread of its own so neither output ever waits on the
other for long; without it the command is exactly the plain one.

PyAV path (`small_bgr`): the 8-bit 4:2:0 planes shrunk with OpenCV's area filter and converted
with the BT.601 limited-range matrix in numpy (cheaper than swscale's resize-and-convert in
process); other formats (10-bit, 4:2:2, RGB...) go through swscale.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from tasks.media.limits import demux_options

log = logging.getLogger(__name__)

FFMPEG = "ffmpeg"
_PIPE_BYTES = 1 << 20  # Linux's default limit for an unprivileged pipe
_FAST_FORMATS = frozenset({"yuv420p", "yuvj420p"})
# BT.601 limited range YUV -> BGR as one affine map (precise enough for detection; fades
# compare with level 12). Rows: B, G, R; columns: Y, U, V, offset.
_TO_BGR = np.array(
    [
        [1.164, 2.017, 0.0, -1.164 * 16 - 2.017 * 128],
        [1.164, -0.392, -0.813, -1.164 * 16 + (0.392 + 0.813) * 128],
        [1.164, 0.0, 1.596, -1.164 * 16 - 1.596 * 128],
    ],
    dtype=np.float32,
)
_FULL_RANGE = _TO_BGR.copy()
_FULL_RANGE[:, 0] = 1.0
_FULL_RANGE[:, 3] = _TO_BGR[:, 3] + 1.164 * 16


class FastDecodeError(Exception):
    """The ffmpeg pipe could not give every frame cleanly: decode with PyAV instead."""


@dataclass(frozen=True)
class Samples:
    """Frames 0, `every`, 2 x `every`... also as RGB uint8 `width` x `height` (as decoded, not
    turned upright), each handed to `take(index, frame)`."""

    every: int
    width: int
    height: int
    take: Callable[[int, np.ndarray], None]


def _plane(frame: av.VideoFrame, index: int, width: int, height: int) -> np.ndarray:
    plane = frame.planes[index]
    rows: np.ndarray = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
    return rows[:height, :width]


def small_bgr(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """The frame as BGR uint8, `width` x `height`."""
    if frame.format.name not in _FAST_FORMATS:
        return frame.to_ndarray(width=width, height=height, format="bgr24")
    size = (width, height)
    cw, ch = (frame.width + 1) // 2, (frame.height + 1) // 2
    planes = [
        cv2.resize(_plane(frame, 0, frame.width, frame.height), size, interpolation=cv2.INTER_AREA),
        cv2.resize(_plane(frame, 1, cw, ch), size, interpolation=cv2.INTER_AREA),
        cv2.resize(_plane(frame, 2, cw, ch), size, interpolation=cv2.INTER_AREA),
    ]
    matrix = _FULL_RANGE if frame.format.name == "yuvj420p" else _TO_BGR
    return np.asarray(cv2.transform(cv2.merge(planes), matrix))


def ffmpeg_available() -> bool:
    return shutil.which(FFMPEG) is not None


def _command(path: Path, width: int, height: int, samples: Samples | None = None,
             sample_fd: int = -1) -> list[str]:  # fmt: skip
    demux = [arg for key, value in demux_options().items() for arg in (f"-{key}", value)]
    cmd = [
        FFMPEG, "-nostdin", "-hide_banner", "-v", "error", "-threads", "0",
        "-skip_loop_filter", "all", "-flags2", "+fast", "-noautorotate", *demux,
        "-i", f"file:{path.resolve()}",
    ]  # fmt: skip
    raw = ["-an", "-sn", "-dn", "-fps_mode", "passthrough", "-f", "rawvideo"]
    thumbs = f"scale={width}:{height}:flags=area"
    if samples is None:
        return [*cmd, "-map", "0:v:0", "-vf", thumbs, "-pix_fmt", "bgr24", *raw, "pipe:1"]
    # One decode, split: every frame to the thumbnails, every n-th to the samples.
    pick = f"select=not(mod(n\\,{samples.every})),scale={samples.width}:{samples.height}"
    graph = f"[0:v:0]split=2[a][b];[a]{thumbs}[thumbs];[b]{pick}:flags=bilinear[samples]"
    return [
        *cmd, "-filter_complex", graph,
        "-map", "[thumbs]", "-pix_fmt", "bgr24", *raw, "pipe:1",
        "-map", "[samples]", "-pix_fmt", "rgb24", *raw, f"pipe:{sample_fd}",
    ]  # fmt: skip


def piped_blocks(
    path: Path, width: int, height: int, block: int = 64, samples: Samples | None = None
) -> Iterator[np.ndarray]:
    """Every frame of `path`'s first video stream (as decoded, not retimed), `width` x `height`
    BGR uint8, in arrays of up to `block` frames; FastDecodeError if ffmpeg complains. With
    `samples`, its frames are handed over (on another thread) as they are decoded."""
    frame_bytes = width * height * 3
    with tempfile.TemporaryFile() as errors, _SampleReader(samples) as reader:
        proc = subprocess.Popen(
            _command(path, width, height, samples, reader.write_fd),
            stdout=subprocess.PIPE,
            stderr=errors,
            bufsize=0,
            pass_fds=reader.pass_fds,
        )
        reader.start()
        assert isinstance(proc.stdout, io.RawIOBase)  # bufsize=0: reads go straight to the pipe
        _widen(proc.stdout.fileno())
        try:
            yield from _read_blocks(proc.stdout, frame_bytes, block, (height, width, 3))
            code = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            reader.join()
        errors.seek(0)
        complaint = errors.read().decode(errors="replace").strip()
    if code != 0 or complaint:
        raise FastDecodeError(f"ffmpeg exit {code}: {complaint[-300:]}")
    reader.check()


def _widen(fd: int) -> None:
    with contextlib.suppress(OSError):
        # ffmpeg runs ahead by up to a pipe's worth while we are busy (a few hundred frames).
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)


class _SampleReader:
    """Reads the samples' pipe on its own thread, so ffmpeg never blocks on it for long (it
    writes its outputs in turn: an unread pipe would stall the thumbnails too). A failure of
    `take` is kept and raised once ffmpeg is done; the pipe is drained meanwhile."""

    def __init__(self, samples: Samples | None) -> None:
        self.samples = samples
        self.read_fd = self.write_fd = -1
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        if samples is not None:
            self.read_fd, self.write_fd = os.pipe()
            _widen(self.read_fd)

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return (self.write_fd,) if self.samples is not None else ()

    def __enter__(self) -> _SampleReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.join()
        for fd in (self.read_fd, self.write_fd):
            if fd >= 0:
                os.close(fd)
        self.read_fd = self.write_fd = -1

    def start(self) -> None:
        """Once ffmpeg holds the write end: ours is closed, so its exit ends our reads."""
        if self.samples is None:
            return
        os.close(self.write_fd)
        self.write_fd = -1
        self.thread = threading.Thread(target=self._run, name="decode-samples", daemon=True)
        self.thread.start()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        samples = self.samples
        assert samples is not None
        shape = (samples.height, samples.width, 3)
        with open(self.read_fd, "rb", buffering=0, closefd=False) as stream:
            assert isinstance(stream, io.RawIOBase)
            try:
                blocks = _read_blocks(stream, shape[0] * shape[1] * 3, 1, shape)
                for k, frames in enumerate(blocks):
                    if self.error is None:
                        try:
                            samples.take(k * samples.every, frames[0])
                        except BaseException as exc:  # raised by the caller's thread
                            self.error = exc
            except FastDecodeError:
                pass  # a cut-short output: the thumbnails' pipe tells the same story


def _read_blocks(
    stream: io.RawIOBase, frame_bytes: int, block: int, shape: tuple[int, int, int]
) -> Iterator[np.ndarray]:
    wanted = frame_bytes * block
    buffer = bytearray(wanted)
    view = memoryview(buffer)
    while True:
        filled = 0
        while filled < wanted:
            got = stream.readinto(view[filled:])
            if not got:
                break
            filled += got
        if filled % frame_bytes:
            raise FastDecodeError("ffmpeg's output ended inside a frame")
        if filled:
            frames = np.frombuffer(buffer, np.uint8, count=filled).reshape(-1, *shape)
            yield frames.copy()
        if filled < wanted:
            return
