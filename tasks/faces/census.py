"""Count faces on the frames the shot-detection decode samples (tasks.shots.detect.Sampler).

The detector is the render's (tasks.faces.backend: SCRFD from the model store, else CenterFace),
loaded on the first batch, so its load overlaps decoding. Frames are counted a batch at a time
and dropped: only one count per sampled frame is kept, whatever the film's length.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from tasks.faces.backend import Detector, load_backend
from tasks.shots.census import Census, shot_faces
from tasks.spec import ShotList

log = logging.getLogger(__name__)

DEFAULT_SECONDS = 0.5
DEFAULT_WIDTH = 320
_BATCH = 8


def render_detector() -> Detector:
    """The detector the swap stage will use (no swapper model is loaded for it)."""
    return load_backend("classical").detector


class FaceCensus:
    """A `Sampler` for detect_shots that keeps the face count of each frame it is handed."""

    def __init__(
        self,
        detector: Callable[[], Detector] = render_detector,
        *,
        seconds: float = DEFAULT_SECONDS,
        width: int = DEFAULT_WIDTH,
        batch: int = _BATCH,
    ) -> None:
        self.seconds, self.width, self.batch = seconds, width, batch
        self._load = detector
        self._detector: Detector | None = None
        self._lock = threading.Lock()
        self.every = 1
        self.counts: dict[int, int] = {}
        self.detect_seconds = 0.0
        self._pending: list[tuple[int, np.ndarray]] = []

    def start(self, every: int) -> None:
        with self._lock:
            self.every, self.counts, self._pending = every, {}, []

    def take(self, index: int, frame: np.ndarray) -> None:
        with self._lock:
            self._pending.append((index, frame))
            if len(self._pending) >= self.batch:
                self._count()

    def census(self, shots: ShotList) -> Census:
        """Every shot's face count, once the decode pass is over."""
        with self._lock:
            self._count()
            per_shot = shot_faces(shots, self.counts)
        log.info("face census: %d frames sampled (every %d), %.2f s counting, %d shots with faces",
                 len(self.counts), self.every, self.detect_seconds,
                 sum(s.faces > 0 for s in per_shot))  # fmt: skip
        return Census(
            detector=self.detector.name,
            every=self.every,
            width=self.width,
            frame_count=shots.frame_count,
            seconds=round(self.detect_seconds, 3),
            shots=per_shot,
        )

    @property
    def detector(self) -> Detector:
        if self._detector is None:
            self._detector = self._load()
        return self._detector

    def _count(self) -> None:
        if not self._pending:
            return
        started = time.perf_counter()
        found = self.detector.detect_batch([frame for _, frame in self._pending])
        self.counts.update(
            (i, len(faces)) for (i, _), faces in zip(self._pending, found, strict=True)
        )
        self._pending = []
        self.detect_seconds += time.perf_counter() - started
