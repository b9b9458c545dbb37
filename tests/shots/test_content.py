"""The fast detection path: block scores equal PySceneDetect's, the ffmpeg pipe equals PyAV."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scenedetect import ContentDetector, FrameTimecode

from recast.samples import make_film, varied_shots
from tasks.shots import small
from tasks.shots.content import content_scores
from tasks.shots.detect import detect_shots
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


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fast") / "film.mp4"
    return make_film(path, varied_shots([20, 13, 17, 11]), fps="25", size=(320, 180))


def test_pipe_and_pyav_paths_find_the_same_shots(
    film: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    piped = detect_shots(film)
    assert [s.start_frame for s in piped.shots] == [0, 20, 33, 50]
    # An ffmpeg that fails gives way to PyAV, which finds the same shots.
    monkeypatch.setattr(small, "FFMPEG", "false")
    with caplog.at_level(logging.WARNING):
        fallback = detect_shots(film)
    assert "decoding with PyAV" in caplog.text
    assert fallback.shots == piped.shots
    # No ffmpeg at all: PyAV straight away.
    monkeypatch.setattr(small, "FFMPEG", "no-such-ffmpeg-here")
    assert detect_shots(film).shots == piped.shots


def test_pipe_gives_every_frame_at_thumbnail_size(film: Path) -> None:
    blocks = list(small.piped_blocks(film, *THUMB_SIZE, block=16))
    assert [len(b) for b in blocks] == [16, 16, 16, 13]
    assert blocks[0].shape[1:] == (THUMB_SIZE[1], THUMB_SIZE[0], 3)
    assert blocks[0].dtype == np.uint8
