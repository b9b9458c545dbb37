"""Find the hard cuts of a film with PySceneDetect's ContentDetector, frame-exact.

PySceneDetect's SceneManager numbers frames from presentation timestamps (pts * rate). That is
right for clean constant-rate files but drifts wherever timestamps and frames disagree: a
timestamp gap in a variable-rate file put every later cut 5 frames late in our tests, and with
the OpenCV backend's averaged rate, late by a growing amount. Split and assemble count frames
in decode order, so detection feeds the detector itself, numbering frames the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import av
import numpy as np
from scenedetect import ContentDetector, FrameTimecode
from scenedetect.scene_manager import compute_downscale_factor

from tasks.media.probe import probe
from tasks.spec import Shot, ShotList, SpecError, parse_fps

log = logging.getLogger(__name__)


def detect_shots(path: Path, *, threshold: float = 27.0, min_shot_frames: int = 8) -> ShotList:
    """Shots of the film at `path`: frames from 0 in presentation order, end exclusive."""
    info = probe(path)
    rate = parse_fps(info.fps)
    detector = ContentDetector(threshold=threshold, min_scene_len=max(1, min_shot_frames))
    cuts: set[int] = set()
    decoded = 0
    started = time.monotonic()
    for frame in _small_bgr_frames(path, info.width, info.height):
        found = detector.process_frame(FrameTimecode(decoded, rate), frame)
        cuts.update(tc.frame_num for tc in found)
        decoded += 1
    if decoded == 0:
        raise SpecError(f"{path}: no frame could be decoded")
    cuts.update(tc.frame_num for tc in detector.post_process(FrameTimecode(decoded - 1, rate)))
    if decoded != info.frame_count:
        raise SpecError(f"{path}: decoded {decoded} frames, the container says {info.frame_count}")
    elapsed = max(time.monotonic() - started, 1e-9)
    log.info("%s: %d cuts in %d frames (%.0f fps)", path, len(cuts), decoded, decoded / elapsed)
    return _shot_list(sorted(c for c in cuts if 0 < c < decoded), decoded, info.fps)


def _small_bgr_frames(path: Path, width: int, height: int) -> Iterator[np.ndarray]:
    """Decode to BGR at PySceneDetect's working width (~256 px): the scale it tunes for."""
    factor = compute_downscale_factor(width)
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            # swscale resizes while converting, cheaper than full size then cv2.resize.
            yield frame.to_ndarray(width=size[0], height=size[1], format="bgr24")


def _shot_list(cuts: list[int], frame_count: int, fps: str) -> ShotList:
    bounds = [0, *cuts, frame_count]
    shots = [
        Shot(index=i, start_frame=start, end_frame=end)
        for i, (start, end) in enumerate(pairwise(bounds))
    ]
    return ShotList(fps=fps, frame_count=frame_count, shots=shots)
