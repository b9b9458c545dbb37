"""Thumbnails of every frame, decoded in parallel: the film cut at keyframes into segments, one
decoder per core.

Shot detection is bound by decoding every frame, and one H.264 decoder barely uses a second
core (frame threads wait on each other's references). A keyframe starts a run of frames that
decodes without anything before it, so segments starting at keyframes decode side by side,
each on a thread of its own with its own demuxer and decoder (PyAV lets go of the GIL while
it decodes and scales). The caller gets the segments in film order; a few run ahead.

Frames are numbered by their timestamps against the packet table (the presented packets'
timestamps, sorted), so a segment knows exactly which frames it holds: frames decoded before
its first timestamp (a seek lands on the keyframe at or before it; an open GOP's leading
pictures) are dropped, and it stops at the next segment's first timestamp. Any frame out of
place, any damage, raises `SegmentError`, and the caller decodes the film once, in order, the
careful way (which then names the damage). Constant-rate films only: a variable-rate film is
retimed, which needs every frame in order.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from tasks.media.limits import demux_options
from tasks.media.packets import PacketScan

# Decoder shortcuts detection can afford: no deblocking, faster (non-bit-exact) paths.
FAST_DECODE = {"skip_loop_filter": "all", "flags2": "+fast"}
# A segment this long amortises its seek (decoding from the keyframe) and keeps a few in
# memory cheaply: thumbnails are a few KB a frame. A shorter film gets about SEGMENTS_EACH
# segments a worker, of at least MIN_SEGMENT_FRAMES: the last segments are what one worker
# decodes while the others have finished, and smaller ones leave less of that (measured: the
# 1,313-frame benchmark film decoded 10% sooner in segments of 100 frames than of 300).
SEGMENT_FRAMES = 300
MIN_SEGMENT_FRAMES = 100
SEGMENTS_EACH = 6


class SegmentError(Exception):
    """The parallel decode could not account for every frame: decode in order instead."""


@dataclass(frozen=True)
class FrameTable:
    """The video stream's presented frames: timestamps in presentation order, and the indices
    of the keyframes among them."""

    pts: list[int]
    keyframes: list[int]

    @property
    def frames(self) -> int:
        return len(self.pts)


@dataclass(frozen=True)
class Sampling:
    """Frames 0, `every`, 2 x `every`... also as RGB uint8 `width` x `height` (as decoded),
    each handed to `take(index, frame)` from a decoding thread."""

    every: int
    width: int
    height: int
    take: Callable[[int, np.ndarray], None]


def table_of(scan: PacketScan) -> FrameTable:
    """The frame table of a scan (tasks.media.packets) of the first video stream; SegmentError
    if a packet is untimed."""
    shown = [(p, k) for p, k, s in zip(scan.pts, scan.key, scan.shown, strict=True) if s]
    if any(p is None for p, _ in shown):
        raise SegmentError("a packet without a timestamp")
    pts = sorted(p for p, _ in shown if p is not None)
    keys = {p for p, k in shown if k}
    return FrameTable(pts, [i for i, p in enumerate(pts) if p in keys])


def segment_frames(frames: int, workers: int) -> int:
    """How long the segments of a film of `frames` should be, for `workers` decoders."""
    return max(MIN_SEGMENT_FRAMES, min(SEGMENT_FRAMES, frames // (SEGMENTS_EACH * workers)))


def plan_segments(
    table: FrameTable, workers: int, length: int | None = None
) -> list[tuple[int, int]]:
    """[first, end) frame ranges starting at keyframes (the first at 0), each at least
    `length` frames long (default: `segment_frames`) where the keyframes allow (the last at
    least half that); one segment for one worker."""
    total = table.frames
    if workers < 2:
        return [(0, total)]
    length = length or segment_frames(total, workers)
    starts = [0]
    for key in table.keyframes:
        if key - starts[-1] >= length and total - key >= length // 2:
            starts.append(key)
    return list(zip(starts, [*starts[1:], total], strict=True))


class Shrinker:
    """Thumbnails (BGR, area-averaged) and census samples (RGB) of decoded frames, the same for
    the parallel and the in-order decode. One swscale context each, reused: PyAV's
    `frame.reformat` builds a new one per call, which takes twice as long."""

    def __init__(self, size: tuple[int, int], sampling: Sampling | None) -> None:
        self.size, self.sampling = size, sampling
        self.thumbs, self.samples = VideoReformatter(), VideoReformatter()

    def thumb(self, frame: av.VideoFrame) -> np.ndarray:
        small = self.thumbs.reformat(frame, *self.size, format="bgr24", interpolation="AREA")
        return small.to_ndarray()

    def sample(self, index: int, frame: av.VideoFrame) -> None:
        """Hand frame `index` to the sampling, if it is one of its frames."""
        sampling = self.sampling
        if sampling is None or index % sampling.every:
            return
        rgb = self.samples.reformat(frame, sampling.width, sampling.height, format="rgb24")
        sampling.take(index, rgb.to_ndarray())


def workers_available() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parallel_thumbnails(
    path: Path,
    table: FrameTable,
    size: tuple[int, int],
    *,
    workers: int | None = None,
    sampling: Sampling | None = None,
    length: int | None = None,
) -> Generator[np.ndarray, None, None]:
    """Every frame of the film as BGR uint8 `size` thumbnails, in arrays of a segment each, in
    film order; SegmentError when a segment does not decode to exactly its frames."""
    workers = workers or workers_available()
    segments = plan_segments(table, workers, length)
    local = threading.local()
    opened: list[_SegmentDecoder] = []

    def decode(segment: tuple[int, int]) -> np.ndarray:
        decoder = getattr(local, "decoder", None)
        if decoder is None:
            try:
                decoder = _SegmentDecoder(path, table, size, sampling, len(segments) > 1)
                local.decoder = decoder
            except (av.FFmpegError, OSError) as exc:
                raise SegmentError(f"cannot open a decoder: {exc}") from exc
            opened.append(decoder)
        return decoder.decode(*segment)

    threads = min(workers, len(segments))
    pending: deque[Future[np.ndarray]] = deque()
    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="thumbs") as pool:
            try:
                for segment in segments:
                    pending.append(pool.submit(decode, segment))
                    if len(pending) > threads:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:  # a caller that stops early: no segment more is started
                for future in pending:
                    future.cancel()
    finally:
        for decoder in opened:
            decoder.close()


class _SegmentDecoder:
    """One thread's demuxer, decoder and scalers, reused from segment to segment."""

    def __init__(
        self,
        path: Path,
        table: FrameTable,
        size: tuple[int, int],
        sampling: Sampling | None,
        parallel: bool,
    ) -> None:
        self.table = table
        self.shrink = Shrinker(size, sampling)
        self.container = av.open(str(path), options=demux_options())
        self.stream = self.container.streams.video[0]
        # The segments are the parallelism; one segment alone gets the decoder's own threads.
        self.stream.thread_type = "NONE" if parallel else "AUTO"
        self.stream.codec_context.options = dict(FAST_DECODE)

    def close(self) -> None:
        self.container.close()

    def decode(self, first: int, end: int) -> np.ndarray:
        pts = self.table.pts
        width, height = self.shrink.size
        out = np.empty((end - first, height, width, 3), np.uint8)
        start = pts[first]
        stop = pts[end] if end < len(pts) else None
        self.container.seek(start, stream=self.stream, backward=True, any_frame=False)
        index = first
        try:
            for frame in self.container.decode(self.stream):
                if frame.pts is None:
                    raise SegmentError(f"frame after {index} is untimed")
                if frame.pts < start:
                    continue  # before the segment: the seek lands on a keyframe at or before
                if frame.is_corrupt:
                    raise SegmentError(f"frame {index} is corrupt")
                if stop is not None and frame.pts >= stop:
                    break
                if index >= end or frame.pts != pts[index]:
                    raise SegmentError(f"frame {index} is not where the packets put it")
                out[index - first] = self.shrink.thumb(frame)
                self.shrink.sample(index, frame)
                index += 1
        except av.FFmpegError as exc:
            raise SegmentError(f"cannot decode frames {first}-{end}: {exc}") from exc
        if index != end:
            raise SegmentError(f"frames {first}-{end}: decoded {index - first}")
        return out
