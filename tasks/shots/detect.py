"""Find a film's shots: hard cuts, dissolves and fades, each at its exact frame.

One decode pass at reduced resolution (swscale shrinks while converting; the H.264 loop filter
is skipped, which only detection can afford) feeds PySceneDetect's AdaptiveDetector (hard cuts,
robust to camera motion), its ThresholdDetector (fades through black) and our own measures
(signals.py: flashes, dissolves); transitions.py turns them into boundaries.

Frames are numbered in presentation order from 0, as split and assemble count them (a
variable-rate film retimed to its constant rate first). PySceneDetect's SceneManager numbers
frames from timestamps instead, which drifts wherever timestamps and frames disagree (a
timestamp gap put every later cut 5 frames late in our tests), so we feed the detectors
ourselves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from scenedetect import AdaptiveDetector, FrameTimecode, ThresholdDetector

from tasks.media.decode import retime, video_frames
from tasks.media.probe import probe
from tasks.shots import transitions
from tasks.shots.signals import Signals
from tasks.shots.small import small_bgr
from tasks.spec import Probe, Shot, ShotList, SpecError, parse_fps

log = logging.getLogger(__name__)

DETECTOR = "pyscenedetect-adaptive+threshold+recast-flash-dissolve"
# Decoder shortcuts for detection only: no deblocking, faster (non-bit-exact) paths.
_FAST_DECODE = {"skip_loop_filter": "all", "flags2": "+fast"}


@dataclass(frozen=True)
class DetectParams:
    adaptive_threshold: float = 3.0
    min_content_val: float = 15.0
    cut_jump: float = 30.0
    fade_threshold: float = 12.0
    dissolve_window: int = 8
    min_shot_frames: int = 8
    decode_width: int = 160


def detect_shots(path: Path, *, min_shot_frames: int = 8, **overrides: float) -> ShotList:
    """Shots of the film at `path`: frames from 0 in presentation order, end exclusive."""
    params = DetectParams(min_shot_frames=min_shot_frames, **overrides)  # type: ignore[arg-type]
    info = probe(path)
    rate = parse_fps(info.fps)
    started = time.monotonic()
    cuts, fades, signals = _scan(path, info, rate, params)
    decoded = len(signals.luma)
    if decoded != info.frame_count:
        raise SpecError(f"{path}: decoded {decoded} frames, the container says {info.frame_count}")
    faded = transitions.fades(fades, signals)
    found = [*transitions.outside(transitions.hard_cuts(cuts, signals), faded), *faded]
    found += transitions.dissolves(signals, found)
    bounds = transitions.merge(found, decoded, max(1, params.min_shot_frames))
    elapsed = max(time.monotonic() - started, 1e-9)
    log.info("%s: %d boundaries in %d frames (%.0f fps)", path, len(bounds), decoded,
             decoded / elapsed)  # fmt: skip
    return _shot_list(bounds, decoded, info.fps, params)


def _scan(
    path: Path, info: Probe, rate: Fraction, params: DetectParams
) -> tuple[list[int], list[int], Signals]:
    """One decode pass through every detector; (hard cut candidates, fade cuts, signals)."""
    # Cut candidates: PySceneDetect's adaptive detector, which misses a cut at the end of a
    # fast pan, and any frame that changes by `cut_jump` (which fires inside fast pans);
    # transitions.py vets them all.
    adaptive = AdaptiveDetector(
        adaptive_threshold=params.adaptive_threshold,
        min_content_val=params.min_content_val,
        min_scene_len=1,  # minimum length is applied once, to all transitions together
    )
    threshold = ThresholdDetector(threshold=params.fade_threshold, min_scene_len=1)
    signals = Signals(window=params.dissolve_window)
    cuts: set[int] = set()
    fades: list[int] = []
    index = -1
    for index, frame in enumerate(_small_frames(path, info, rate, params.decode_width)):
        timecode = FrameTimecode(index, rate)
        signals.add(frame)
        if signals.jump[index] >= params.cut_jump:
            _watch([timecode], cuts, signals)
        _watch(adaptive.process_frame(timecode, frame), cuts, signals)
        fades += [tc.frame_num for tc in threshold.process_frame(timecode, frame)]
    if index < 0:
        raise SpecError(f"{path}: no frame could be decoded")
    end = FrameTimecode(index, rate)
    _watch(adaptive.post_process(end), cuts, signals)
    fades += [tc.frame_num for tc in threshold.post_process(end)]
    signals.finish()
    return sorted(cuts), fades, signals


def _watch(found: list[FrameTimecode], cuts: set[int], signals: Signals) -> None:
    for frame in {tc.frame_num for tc in found} - cuts:
        cuts.add(frame)
        signals.watch(frame)


def _small_frames(path: Path, info: Probe, rate: Fraction, width: int) -> Iterator[np.ndarray]:
    """BGR frames `width` wide (never enlarged), retimed when the film is variable-rate."""
    # Rotation does not matter to detection: frames are measured as decoded.
    coded_w, coded_h = (
        (info.height, info.width) if info.rotation % 180 else (info.width, info.height)
    )
    w = min(width, coded_w)
    h = max(1, round(coded_h * w / coded_w))
    frames = video_frames(path, _FAST_DECODE)
    if info.vfr:
        frames = retime(((float(f.time or 0.0), f) for f in frames), rate, info.frame_count)
    for frame in frames:
        yield small_bgr(frame, w, h)


def _shot_list(
    bounds: list[transitions.Boundary], frame_count: int, fps: str, params: DetectParams
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
        )
        for i, (start, end) in enumerate(zip(starts, ends, strict=True))
    ]
    return ShotList(
        fps=fps, frame_count=frame_count, shots=shots, detector=DETECTOR, params=asdict(params)
    )
