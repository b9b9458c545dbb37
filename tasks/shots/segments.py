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

Asked (`sparse`, as detection asks for H.264), a segment decodes its B-frames only where the
packets say the picture is not calm, and draws the others between the decoded frames around
them (`_SegmentDecoder._decode_sparse`): at 2 Mbit/s about a third of the frames are decoded.
"""

from __future__ import annotations

import os
import re
import threading
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    sparse: bool = False,
) -> Generator[np.ndarray, None, None]:
    """Every frame of the film as BGR uint8 `size` thumbnails, in arrays of a segment each, in
    film order; SegmentError when a segment does not decode to exactly its frames. `sparse`:
    calm B-frames are drawn between their neighbours, not decoded (`_SegmentDecoder`)."""
    workers = workers or workers_available()
    segments = plan_segments(table, workers, length)
    local = threading.local()
    opened: list[_SegmentDecoder] = []

    def decode(segment: tuple[int, int]) -> np.ndarray:
        decoder = getattr(local, "decoder", None)
        if decoder is None:
            try:
                decoder = _SegmentDecoder(path, table, size, sampling, len(segments) > 1, sparse)
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
        sparse: bool = False,
    ) -> None:
        self.table = table
        self.shrink = Shrinker(size, sampling)
        self.container = av.open(str(path), options=demux_options())
        self.stream = self.container.streams.video[0]
        # The segments are the parallelism; one segment alone gets the decoder's own threads.
        self.stream.thread_type = "NONE" if parallel else "AUTO"
        self.stream.codec_context.options = dict(FAST_DECODE)
        # x264's P-frames never lean on a B-frame (tests/shots check it), which other codecs'
        # hierarchies (HEVC's) do not promise.
        extradata = self.stream.codec_context.extradata or b""
        # Only H.264 in its mp4/mkv form (avcC: NAL units after their sizes, whose width it
        # gives), whose reference flags _is_reference reads.
        self.sparse = (
            sparse and self.stream.codec_context.name == "h264" and extradata[:1] == b"\x01"
        )
        self.nal_length = (extradata[4] & 3) + 1 if len(extradata) > 4 else 4
        self.lone_reference = self.sparse and _x264_lone_reference(self.container, self.stream)
        self.index = {p: i for i, p in enumerate(table.pts)} if self.sparse else {}

    def close(self) -> None:
        self.container.close()

    def decode(self, first: int, end: int) -> np.ndarray:
        if self.sparse:
            thumbs = self._decode_sparse(first, end)
            if thumbs is not None:
                return thumbs
        return self._decode_all(first, end)

    def _decode_all(self, first: int, end: int) -> np.ndarray:
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

    def _decode_sparse(self, first: int, end: int) -> np.ndarray | None:
        """The segment's thumbnails with its calm B-frames drawn, not decoded (None where a
        B-frame has no decoded frame after it in the segment: an open GOP's last pictures).

        Where a film changes at once (a cut), x264 ends its run of B-frames: the frames on
        both sides are decoded, so every cut falls between two decoded frames. A B-frame lies
        between its decoded neighbours in time; inside a slow change (a calm shot, a dissolve,
        a fade) it is nearly their mix, and is drawn as that. A run of B-frames is decoded
        where the packets say the picture is not calm (`busy_runs`): a flash, a whip pan.
        Every frame decoded is exactly as in a full decode. A B-frame that is no reference
        (nal_ref_idc 0) is by definition no other frame's. One that is (x264's pyramid) is
        decoded, unless x264 says its P-frames lean on one frame only (ref=1, the fast
        presets'): then it is skipped too, but it leaves a hole in the decoder's reference
        list, so before a decoded run the references of the two runs before it are decoded
        (and drawn: their own references may be missing)."""
        pts = self.table.pts
        width, height = self.shrink.size
        out = np.empty((end - first, height, width, 3), np.uint8)
        decoded = np.zeros(end - first, bool)
        stop = pts[end] if end < len(pts) else None
        self.container.seek(pts[first], stream=self.stream, backward=True, any_frame=False)
        try:
            packets = self._segment_packets(stop)
            chosen = self._chosen(packets, first, end)
            hidden = {p.pts for p, shown in chosen if not shown}
            for packet, _ in chosen:
                frames = [f for f in packet.decode() if f.pts not in hidden]
                if self._take(frames, first, end, out, decoded):
                    break
        except av.FFmpegError as exc:
            raise SegmentError(f"cannot decode frames {first}-{end}: {exc}") from exc
        return _drawn(out, decoded)

    def _segment_packets(self, stop: int | None) -> list[av.Packet[Any]]:
        """The packets from the seek on, to the first frame shown at or after `stop` and the
        pictures that lean on it but are shown before it (an open GOP's), then the next
        frame (or the demuxer's final flush packet)."""
        packets: list[av.Packet[Any]] = []
        latest = None
        for packet in self.container.demux(self.stream):
            packets.append(packet)
            if packet.pts is None:
                continue
            if stop is not None and latest is not None and latest >= stop and packet.pts > latest:
                break
            latest = packet.pts if latest is None else max(latest, packet.pts)
        return packets

    def _chosen(
        self, packets: list[av.Packet[Any]], first: int, end: int
    ) -> list[tuple[av.Packet[Any], bool]]:
        """The packets to decode, in order: every one but the B-frames of calm runs; each
        with whether its picture is kept (not a reference decoded only for a later run: its
        own references may be missing, so it is drawn)."""
        index, every = self.index, self.shrink.sampling.every if self.shrink.sampling else 0
        runs: list[list[av.Packet[Any]]] = []  # B-frame runs, each after the frame they end on
        kept: list[av.Packet[Any] | int] = []  # packets, and the position of each run among them
        latest = None
        for packet in packets:
            if packet.pts is not None:
                if latest is not None and packet.pts < latest and index.get(packet.pts, -1) < end:
                    if not isinstance(kept[-1], int):
                        kept.append(len(runs))
                        runs.append([])
                    runs[-1].append(packet)
                    continue
                latest = packet.pts if latest is None else max(latest, packet.pts)
            kept.append(packet)
        sampled = [
            any(_sampled(index.get(p.pts or 0, -1), first, every) for p in run) for run in runs
        ]
        busy = [b or s for b, s in zip(busy_runs(kept, runs), sampled, strict=True)]
        chosen: list[tuple[av.Packet[Any], bool]] = []
        for item in kept:
            if not isinstance(item, int):
                chosen.append((item, True))
            elif busy[item]:
                chosen += [(p, True) for p in runs[item]]
            elif not self.lone_reference:  # a P-frame may lean on the run's references
                chosen += [(p, True) for p in runs[item] if _is_reference(p, self.nal_length)]
            elif any(busy[item + 1 : item + 3]):  # its references, for the decoded run after
                chosen += [(p, False) for p in runs[item] if _is_reference(p, self.nal_length)]
        return chosen

    def _take(
        self,
        frames: list[av.VideoFrame],
        first: int,
        end: int,
        out: np.ndarray,
        decoded: np.ndarray,
    ) -> bool:
        """Put the decoded `frames` in their places; True once past the segment."""
        pts, index = self.table.pts, self.index
        for frame in frames:
            if frame.pts is None:
                raise SegmentError(f"a frame after {first} is untimed")
            if frame.pts < pts[first]:
                continue
            if end < len(pts) and frame.pts >= pts[end]:
                return True
            where = index.get(frame.pts, -1)
            if not first <= where < end or frame.is_corrupt:
                raise SegmentError(f"frame at {frame.pts} is not where the packets put it")
            out[where - first] = self.shrink.thumb(frame)
            self.shrink.sample(where, frame)
            decoded[where - first] = True
        return False


def _drawn(out: np.ndarray, decoded: np.ndarray) -> np.ndarray | None:
    """`out` with each frame not decoded drawn between the decoded ones around it, weighted by
    distance; None if one has no decoded frame on either side."""
    have = np.flatnonzero(decoded)
    if not len(have) or have[0] != 0 or have[-1] != len(out) - 1:
        return None
    missing = np.flatnonzero(~decoded)
    if len(missing):
        after = have[np.searchsorted(have, missing)]
        before = have[np.searchsorted(have, missing) - 1]
        weight = ((missing - before) / (after - before)).reshape(-1, 1, 1, 1)
        mixed = out[before] * (1 - weight) + out[after] * weight
        out[missing] = np.rint(mixed).astype(np.uint8)
    return out


# A run of B-frames is decoded when a packet around it is this many times the typical one
# of its kind (the median of the last RUN_HISTORY, about a second: a strobe's large packets
# do not make the one after it look typical): a flash, a whip pan or a sudden move is coded
# mostly anew, in a large packet, where a calm shake or a slow mix is predicted cheaply.
# Chosen on the tuning films (bench/shots_hard.py): at 3 the shot lists of all eight hard
# films were those of the full decode, and 37% of the 2 Mbit/s feature film's frames were
# decoded (1.5: 51%, B-frames never: 32%).
RUN_RATIO = 3.0
RUN_HISTORY = 24


def busy_runs(kept: list[av.Packet[Any] | int], runs: list[list[av.Packet[Any]]]) -> list[bool]:
    """Per run of B-frames, whether the picture is not calm there: a packet of the frames on
    either side of it (not a keyframe: those are all large), or one of its own, large for
    its kind. `kept`: the other packets in decode order, and in its place (after the frame
    it ends on) each run's index."""
    refs: deque[int] = deque(maxlen=RUN_HISTORY)
    bees: deque[int] = deque(maxlen=RUN_HISTORY)
    last = (0, 0)  # the sizes of the last two frames before the run (keyframes: 0)
    busy: list[bool] = []
    for item in kept:
        if isinstance(item, int):
            largest = max(p.size for p in runs[item])
            ref_limit = RUN_RATIO * float(np.median(refs)) if refs else float("inf")
            b_limit = RUN_RATIO * float(np.median(bees)) if bees else float("inf")
            busy.append(max(last) > ref_limit or largest > b_limit)
            bees.append(largest)
        elif item.size:
            size = 0 if item.is_keyframe else item.size
            last = (last[1], size)
            if size:
                refs.append(size)
    return busy


def _sampled(frame: int, first: int, every: int) -> bool:
    """Whether `frame` (of the segment from `first`) is one of the sampling's."""
    return bool(every) and frame >= first and frame % every == 0


def _x264_lone_reference(container: av.container.InputContainer, stream: av.VideoStream) -> bool:
    """Whether x264 wrote, in the stream's first packet, that a P-frame leans on one earlier
    frame only (ref=1): the last I- or P-frame, never a B-frame (checked by tests/shots)."""
    for packet in container.demux(stream):
        found = re.search(rb"x264 - core .* ref=(\d+) ", bytes(packet))
        return found is not None and found.group(1) == b"1"
    return False


def _is_reference(packet: av.Packet[Any], length: int) -> bool:
    """Whether the H.264 `packet` (NAL units each after a `length`-byte size) holds a
    reference picture: a slice whose nal_ref_idc is not 0."""
    data = bytes(packet)
    at = 0
    while at + length < len(data):
        size = int.from_bytes(data[at : at + length], "big")
        header = data[at + length]
        if header & 0x1F in (1, 5):  # a slice
            return bool(header & 0x60)
        at += length + size
    return True  # no slice found: decode it, to be safe
