"""Find a film's shots: hard cuts, dissolves and fades, each at its exact frame.

One decode pass at thumbnail size (segments.py: the film decoded in segments between keyframes,
one decoder per core, calm B-frames drawn rather than decoded; in order, on one decoder, when
the film is variable-rate or a segment does not decode cleanly) feeds PySceneDetect's
AdaptiveDetector (hard cuts, robust to camera motion), its ThresholdDetector (fades through
black) and our own measures (signals.py: flashes, dissolves); transitions.py turns them into
boundaries. The probe and PySceneDetect's
import (which runs an ffmpeg check) go on beside the first segments' decode: on a short film
they are most of the time.

Frames are numbered in presentation order from 0, as split and assemble count them (a
variable-rate film retimed to its constant rate first). PySceneDetect's SceneManager numbers
frames from timestamps instead, which drifts wherever timestamps and frames disagree (a
timestamp gap put every later cut 5 frames late in our tests), so we feed the detectors
ourselves.

Asked (a `Sampler`, e.g. the face census), the same decode pass also hands over one frame every
`seconds`, upright RGB at a modest width: no second decode of the film.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from tasks.media.decode import retime, upright, video_frames
from tasks.media.packets import PacketScan, scan_packets
from tasks.media.probe import probe_scan
from tasks.shots import fingerprint, transitions
from tasks.shots.segments import (
    FAST_DECODE,
    FrameTable,
    Sampling,
    SegmentError,
    Shrinker,
    parallel_thumbnails,
    table_of,
)
from tasks.shots.signals import THUMB_SIZE, Signals
from tasks.spec import Probe, Shot, ShotDetector, ShotList, SpecError, parse_fps

if TYPE_CHECKING:
    from scenedetect import FrameTimecode

log = logging.getLogger(__name__)

DETECTOR = "pyscenedetect-adaptive+threshold+recast-flash-dissolve"
_PYAV_BLOCK = 32
MIN_FLASH_CUT = 3  # the shortest shot kept: a flash cut (3-6 frames) is a shot


@dataclass(frozen=True)
class DetectParams:
    adaptive_threshold: float = 3.0
    min_content_val: float = 15.0
    cut_jump: float = 30.0
    # Uncertain frames, for the fused detector: a change this many times the mean change of
    # the 2 frames before it or of the 2 after it (the calmer: a cut into a close-up, whose
    # shake is larger, stands out of the shot before), and at least `spike_min` (a cut between
    # two framings of one scene, whose colours PySceneDetect's HSV scores hardly see; also a
    # whip pan's ends).
    spike_ratio: float = 3.0
    spike_min: float = 10.0
    fade_threshold: float = 12.0
    dissolve_window: int = 8
    min_shot_frames: int = 3  # MIN_FLASH_CUT
    # Every frame is measured at this size (both detectors and signals.py's thumbnails).
    decode_width: int = THUMB_SIZE[0]
    decode_height: int = THUMB_SIZE[1]
    # classical, learned (TransNetV2 alone) or fused (learned.py): recorded in the shot list.
    detector: str = "classical"
    # B-frames drawn between their neighbours, not decoded (segments.py): H.264 only.
    sparse_decode: bool = True


class Sampler(Protocol):
    """Takes a sparse set of the decoded frames (the face census counts faces on them)."""

    seconds: float  # one frame every this many seconds of film, from frame 0
    width: int  # upright width of the frames it takes (never more than the film's)

    def start(self, every: int) -> None:
        """A decode pass begins, taking frames 0, `every`, 2 x `every`...: forget any other."""

    def take(self, index: int, frame: np.ndarray) -> None:
        """Frame `index`, upright RGB uint8; may be called from another thread."""


def detect_shots(
    path: Path,
    *,
    min_shot_frames: int | None = None,
    sampler: Sampler | None = None,
    detector: ShotDetector = "classical",
    **overrides: float,
) -> ShotList:
    """Shots of the film at `path`: frames from 0 in presentation order, end exclusive.
    `sampler`, if given, is handed its frames from the same decode pass. Shots are at least
    `min_shot_frames` long: 3 (a flash cut) by default. Flashes and strobes are no shots:
    a cut is kept only when the picture does not come back (transitions.hard_cuts)."""
    if min_shot_frames is None:
        min_shot_frames = MIN_FLASH_CUT
    params = DetectParams(min_shot_frames=min_shot_frames, detector=detector, **overrides)  # type: ignore[arg-type]
    started = time.monotonic()
    if detector != "classical":  # the model loads beside the decode, which leaves a core spare
        from tasks.shots import learned

        learned.warm_up()
    info, (cuts, fades, signals) = _measure(path, params, sampler)
    decoded = len(signals.luma)
    if decoded != info.frame_count:
        raise SpecError(f"{path}: decoded {decoded} frames, the container says {info.frame_count}")
    found = classical(cuts, fades, signals)
    if detector != "classical":
        found = learned.decide(detector, found, signals)
    bounds = transitions.merge(found, decoded, max(1, params.min_shot_frames))
    elapsed = max(time.monotonic() - started, 1e-9)
    log.info("%s: %d boundaries in %d frames (%.0f fps)", path, len(bounds), decoded,
             decoded / elapsed)  # fmt: skip
    hashes = np.concatenate(signals.hashes) if signals.hashes else np.empty(0, np.uint64)
    return _shot_list(bounds, decoded, info.fps, params, hashes)


def classical(cuts: list[int], fades: list[int], signals: Signals) -> list[transitions.Boundary]:
    """Today's boundaries: vetted hard cuts, fades, wipes and dissolves (may overlap)."""
    faded = transitions.fades(fades, signals)
    found = [*transitions.outside(transitions.hard_cuts(cuts, signals), faded), *faded]
    found += transitions.wipes(signals, found)
    found += transitions.dissolves(signals, found)
    return found


def _measure(
    path: Path, params: DetectParams, sampler: Sampler | None
) -> tuple[Probe, tuple[list[int], list[int], Signals]]:
    """The probe, and one scan of the film: decoded in parallel segments, or in order where
    that falls short (a variable-rate film, a segment that does not decode cleanly)."""
    size = (params.decode_width, params.decode_height)
    early: _Started | SegmentError | None = None
    demuxed: Future[PacketScan | None] = Future()
    try:
        with ThreadPoolExecutor(2, thread_name_prefix="detect-setup") as side:
            probing = side.submit(probe_scan, path, partial(_demuxed, demuxed), vfr="conform")
            side.submit(importlib.import_module, "tasks.shots.content")  # PySceneDetect's
            scan = _demux(path, demuxed)  # the frame table's, and the probe's
            if sampler is None:  # nothing waits on the probe's facts: decode meanwhile
                early = _start_quietly(path, scan, size, None, params.sparse_decode)
            info = probing.result()[0]  # an unusable film is refused for what the probe says
        rate = parse_fps(info.fps)
        samples = _samples(sampler, info, rate)
        if not info.vfr:
            if early is None:
                if sampler is not None and samples is not None:
                    sampler.start(samples.every)
                early = _start_quietly(path, scan, size, samples, params.sparse_decode)
            found = _scan_started(path, early, info, rate, params)
            if found is not None:
                return info, found
        if sampler is not None and samples is not None:
            sampler.start(samples.every)
        return info, _scan(path, _pyav_blocks(path, info, rate, size, samples), rate, params)
    finally:
        if isinstance(early, _Started):
            early.blocks.close()


def _demux(path: Path, demuxed: Future[PacketScan | None]) -> PacketScan | SegmentError:
    """The first video stream's packets, also handed to the probe through `demuxed` (None if
    they could not be read: the probe then reads the file itself and names what is wrong)."""
    scan = None
    try:
        scan = scan_packets(path)
        return scan
    except SpecError as exc:
        return SegmentError(f"cannot read the packets: {exc}")
    finally:  # set whatever happens: the probe waits on it
        demuxed.set_result(scan)


def _demuxed(demuxed: Future[PacketScan | None], path: Path, index: int) -> PacketScan:
    """The probe's scan of stream `index`: detection's own, when it read that stream."""
    scan = demuxed.result()
    return scan if scan is not None and scan.stream == index else scan_packets(path, index)


@dataclass
class _Started:
    """A parallel decode under way: the frame table, and the first block already decoded."""

    table: FrameTable
    first: np.ndarray | None
    blocks: Generator[np.ndarray, None, None]


def _start_quietly(
    path: Path,
    scan: PacketScan | SegmentError,
    size: tuple[int, int],
    samples: Sampling | None,
    sparse: bool,
) -> _Started | SegmentError:
    """Start decoding in parallel segments; the error, to report once the probe had its say."""
    if isinstance(scan, SegmentError):
        return scan
    try:
        table = table_of(scan)
    except SegmentError as exc:
        return exc
    blocks = parallel_thumbnails(path, table, size, sampling=samples, sparse=sparse)
    try:
        return _Started(table, next(blocks, None), blocks)
    except SegmentError as exc:
        blocks.close()
        return exc


def _scan_started(
    path: Path, early: _Started | SegmentError, info: Probe, rate: Fraction, params: DetectParams
) -> tuple[list[int], list[int], Signals] | None:
    """The scan on the parallel decode; None (and a warning) if it fell short."""
    try:
        if isinstance(early, SegmentError):
            raise early
        if early.table.frames != info.frame_count:
            raise SegmentError(f"{early.table.frames} timed packets, {info.frame_count} frames")
        return _scan(path, _chain(early.first, early.blocks), rate, params)
    except SegmentError as exc:
        log.warning("%s: parallel decode gave up (%s); decoding in order", path, exc)
        return None


def _scan(
    path: Path, blocks: Iterator[np.ndarray], rate: Fraction, params: DetectParams
) -> tuple[list[int], list[int], Signals]:
    """One decode pass through every detector; (hard cut candidates, fade cuts, signals)."""
    first = next(blocks, None)  # the decoder is running: PySceneDetect's import overlaps it
    from scenedetect import FrameTimecode, ThresholdDetector

    from tasks.shots.content import BlockAdaptiveDetector

    # Cut candidates: PySceneDetect's adaptive detector, which misses a cut at the end of a
    # fast pan, and any frame that changes by `cut_jump` (which fires inside fast pans);
    # transitions.py vets them all.
    adaptive = BlockAdaptiveDetector(
        adaptive_threshold=params.adaptive_threshold,
        min_content_val=params.min_content_val,
        min_scene_len=1,  # minimum length is applied once, to all transitions together
    )
    threshold = ThresholdDetector(threshold=params.fade_threshold, min_scene_len=1)
    signals = Signals(window=params.dissolve_window, keep_thumbs=params.detector != "classical")
    cuts: set[int] = set()
    fades: list[int] = []
    fps = float(rate)  # FrameTimecode is twice as fast with a float rate; frames stay exact
    index = -1
    for block in _chain(first, blocks):
        signals.add_block(block)
        adaptive.feed(block)
        # ThresholdDetector measures a frame by its mean: give it each frame shrunk to one
        # pixel of that mean (computed for the block already), not the frame again.
        means = np.asarray(signals.luma[index + 1 :]).reshape(-1, 1, 1)
        for frame, mean in zip(block, means, strict=True):
            index += 1
            timecode = FrameTimecode(index, fps)
            if signals.jump[index] >= params.cut_jump:
                _watch([timecode], cuts, signals)
            if index >= 2 and _spike(signals.jump, index - 2, params):
                signals.spikes.append(index - 2)
                signals.watch(index - 2)
            _watch(adaptive.process_frame(timecode, frame), cuts, signals)
            fades += [tc.frame_num for tc in threshold.process_frame(timecode, mean)]
    if index < 0:
        raise SpecError(f"{path}: no frame could be decoded")
    end = FrameTimecode(index, fps)
    _watch(adaptive.post_process(end), cuts, signals)
    fades += [tc.frame_num for tc in threshold.post_process(end)]
    signals.finish()
    return sorted(cuts), fades, signals


def _chain(first: np.ndarray | None, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    if first is not None:
        yield first
        yield from rest


def _spike(jump: list[float], frame: int, params: DetectParams) -> bool:
    """Whether the change into `frame` stands out of the 2 before it or the 2 after it."""
    before, after = jump[max(frame - 2, 1) : frame], jump[frame + 1 : frame + 3]
    level = min(sum(side) / len(side) for side in (before, after) if side) if frame > 1 else 0.0
    return jump[frame] >= max(params.spike_min, params.spike_ratio * level)


def _watch(found: list[FrameTimecode], cuts: set[int], signals: Signals) -> None:
    for frame in {tc.frame_num for tc in found} - cuts:
        cuts.add(frame)
        signals.watch(frame)


def _samples(sampler: Sampler | None, info: Probe, rate: Fraction) -> Sampling | None:
    """What the decoder must hand `sampler`: sizes as decoded, frames turned upright on the way."""
    if sampler is None:
        return None
    every = max(1, round(float(rate) * sampler.seconds))
    width = max(8, min(sampler.width, info.width) // 2 * 2)
    height = max(8, round(width * info.height / info.width / 2) * 2)
    if info.rotation % 180:  # the decoder gives the stored picture, on its side
        width, height = height, width
    rotation = info.rotation

    def take(index: int, frame: np.ndarray) -> None:
        sampler.take(index, upright(frame, rotation))

    return Sampling(every, width, height, take)


def _pyav_blocks(
    path: Path,
    info: Probe,
    rate: Fraction,
    size: tuple[int, int],
    samples: Sampling | None = None,
) -> Iterator[np.ndarray]:
    """Small BGR frames in blocks, retimed when the film is variable-rate: scaled as the
    parallel decode scales them, so both paths measure the same thumbnails."""
    # Rotation does not matter to detection: frames are measured as decoded.
    frames = video_frames(path, FAST_DECODE)
    shrink = Shrinker(size, samples)
    if info.vfr:
        frames = retime(((float(f.time or 0.0), f) for f in frames), rate, info.frame_count)
    block: list[np.ndarray] = []
    for index, frame in enumerate(frames):
        shrink.sample(index, frame)
        block.append(shrink.thumb(frame))
        if len(block) == _PYAV_BLOCK:
            yield np.stack(block)
            block = []
    if block:
        yield np.stack(block)


def _shot_list(
    bounds: list[transitions.Boundary],
    frame_count: int,
    fps: str,
    params: DetectParams,
    hashes: np.ndarray,
) -> ShotList:
    starts = [transitions.Boundary(0, "cut", 0), *bounds]
    ends = [b.frame for b in bounds] + [frame_count]
    shots = [
        Shot(
            index=i,
            start_frame=start.frame,
            end_frame=end,
            transition=start.kind,
            transition_frames=start.length,
            fingerprint=fingerprint.encode(hashes[start.frame : end]),
        )
        for i, (start, end) in enumerate(zip(starts, ends, strict=True))
    ]
    return ShotList(
        fps=fps, frame_count=frame_count, shots=shots, detector=DETECTOR, params=asdict(params)
    )
