"""PySceneDetect's AdaptiveDetector, fed ContentDetector's frame scores a block at a time.

ContentDetector scores a frame as the mean of |dH|, |dS| and |dV| against the previous frame
(its default weights, no edges). Computed per frame that is a dozen small numpy calls; here one
colour conversion and one difference serve a whole block of thumbnails, and the detector pops
the scores in order. Its adaptive logic (the ratio of a frame's score to its neighbours',
`min_content_val`, the minimum scene length) is PySceneDetect's own, untouched;
tests/shots/test_content.py checks the scores against ContentDetector's, frame for frame.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import cv2
import numpy as np
from scenedetect import AdaptiveDetector


def content_scores(block: np.ndarray, previous: np.ndarray | None) -> tuple[list[float], Any]:
    """ContentDetector's scores for a block of BGR frames (n, h, w, 3) uint8, and the last
    frame's HSV to pass as `previous` with the next block (None: the first frame scores 0)."""
    n, h, w, _ = block.shape
    hsv = cv2.cvtColor(block.reshape(n * h, w, 3), cv2.COLOR_BGR2HSV).reshape(n, h * w, 3)
    every = hsv if previous is None else np.concatenate([previous, hsv])
    # Per channel, then their mean, as ContentDetector. |a - b| of uint8 straight from OpenCV
    # and integer sums: exact, and a third faster than int16 differences and float means.
    changes = cv2.absdiff(every[1:], every[:-1])
    deltas = (changes.sum(axis=1, dtype=np.int64) / (h * w)).mean(axis=1)
    scores = deltas.tolist() if previous is not None else [0.0, *deltas.tolist()]
    return scores, hsv[-1:]


class BlockAdaptiveDetector(AdaptiveDetector):  # type: ignore[misc]
    """AdaptiveDetector whose frame scores come from `content_scores` (see `feed`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._scores: deque[float] = deque()
        self._previous: np.ndarray | None = None

    def feed(self, block: np.ndarray) -> None:
        """Score the next block; then call process_frame once per frame of it, in order."""
        scores, self._previous = content_scores(block, self._previous)
        self._scores.extend(scores)

    def _calculate_frame_score(self, timecode: Any, frame_img: Any) -> float:
        return self._scores.popleft()
