"""The long window's measures on synthetic thumbnails (no decode): a long dissolve between
moving shots placed at its middle, a wipe where its edge crosses the frame's centre, a dark
shot between two cuts that is no fade, and the uncertain frames the fused detector asks about."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tasks.shots import transitions
from tasks.shots.detect import DetectParams, _spike
from tasks.shots.signals import THUMB_SIZE, Signals

W, H = THUMB_SIZE


def _shot(seed: int, frames: int, speed: float) -> np.ndarray:
    """A smooth random picture panning `speed` pixels a frame (0.3: 0.6% of the width, as
    bench/hard_films.py's shots drift), (frames, H, W, 3) float."""
    rng = np.random.default_rng(seed)
    wide = cv2.resize(rng.uniform(20, 235, (3, 5, 3)), (3 * W, H), interpolation=cv2.INTER_CUBIC)
    x = np.arange(frames) * speed + (0 if speed > 0 else 2 * W)
    return np.stack([cv2.warpAffine(wide, np.float32([[1, 0, -s], [0, 1, 0]]), (W, H)) for s in x])


def _signals(frames: np.ndarray) -> Signals:
    signals = Signals(window=8)
    for block in np.array_split(np.clip(frames, 0, 255).astype(np.uint8), 7):
        signals.add_block(block)
    signals.finish()
    return signals


def test_long_dissolve_between_moving_shots_found_at_its_middle() -> None:
    length, before, after = 46, 60, 60
    a, b = _shot(1, before + length, 0.3), _shot(2, length + after, -0.3)
    alpha = ((np.arange(length) + 0.5) / length)[:, None, None, None]
    frames = np.concatenate([a[:before], (1 - alpha) * a[before:] + alpha * b[:length], b[length:]])
    found = transitions.dissolves(_signals(frames), [])
    middle = before + length // 2
    assert [(d.kind, abs(d.frame - middle) <= 1) for d in found] == [("dissolve", True)], found
    assert found[0].length >= 30


@pytest.mark.parametrize("rightwards", [True, False])
def test_wipe_placed_where_its_edge_crosses_the_centre(rightwards: bool) -> None:
    length, before, after = 20, 60, 60
    a, b = _shot(3, before + length, 0.3), _shot(4, length + after, 0.3)
    columns = np.arange(W) / W if rightwards else 1 - np.arange(W) / W
    mixed = []
    for i in range(length):
        share = np.clip(((i + 0.5) / length - columns) * 25 + 0.5, 0, 1)[None, :, None]
        mixed.append(a[before + i] * (1 - share) + b[i] * share)
    frames = np.concatenate([a[:before], np.stack(mixed), b[length:]])
    found = transitions.wipes(_signals(frames), [])
    assert [(w.kind, abs(w.frame - (before + length // 2)) <= 1) for w in found] == [("wipe", True)]


def test_a_dark_shot_between_two_cuts_is_no_fade() -> None:
    signals = Signals(window=8)
    signals.luma = [120.0] * 30 + [8.0] * 40 + [130.0] * 30
    assert transitions.fades([50], signals) == []
    ramp = [120.0 - 14 * i for i in range(8)] + [8.0] * 4 + [8.0 + 15 * i for i in range(8)]
    signals.luma = [120.0] * 30 + ramp + [130.0] * 30
    assert [f.kind for f in transitions.fades([40], signals)] == ["fade"]


def test_spike_stands_out_of_the_calmer_side() -> None:
    params = DetectParams()
    # A cut into a shakier close-up: 23 is not 3x the mean of (3, 4, 13, 13), but is of (3, 4).
    assert _spike([0.0, 3.0, 3.0, 4.0, 23.0, 13.0, 13.0], 4, params)
    assert not _spike([0.0, 9.0, 9.0, 9.0, 23.0, 13.0, 13.0], 4, params)
    assert not _spike([0.0, 1.0, 1.0, 1.0, 8.0, 1.0, 1.0], 4, params)  # below spike_min
