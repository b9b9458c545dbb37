"""Block scores equal PySceneDetect's ContentDetector's, frame for frame."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scenedetect import ContentDetector, FrameTimecode

from tasks.shots.content import content_scores
from tasks.shots.signals import THUMB_SIZE


def test_block_scores_equal_content_detector_frame_by_frame() -> None:
    rng = np.random.default_rng(3)
    width, height = THUMB_SIZE
    shots = rng.integers(0, 256, (2, height, width, 3))
    noise = rng.integers(0, 8, (11, height, width, 3))
    frames = (np.repeat(shots, [5, 6], axis=0) // 2 + noise).astype(np.uint8)  # a cut at 5
    detector = ContentDetector()
    expected = [
        detector._calculate_frame_score(FrameTimecode(i, Fraction(25)), frame)
        for i, frame in enumerate(frames)
    ]
    first, previous = content_scores(frames[:4], None)  # blocks join seamlessly
    rest, _ = content_scores(frames[4:], previous)
    assert np.allclose(first + rest, expected, atol=1e-9)
    assert expected[5] > 2 * max(expected[1:5])
