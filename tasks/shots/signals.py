"""Per-frame measures for transitions, computed in one streaming pass over small frames.

Each frame is reduced to a tiny float thumbnail; a ring buffer of the last few thumbnails gives,
per frame i (distances are mean absolute differences on 0..255):
- `jump[i]`: distance from frame i-1 to frame i (what a hard cut makes large);
- `settle[c]`, for each candidate cut c given to `watch`: the smallest distance between a frame
  among the FLASH_FRAMES before c and one among c..c+FLASH_FRAMES. After a real cut the picture
  never comes back; after a flash (or around one) it does, so a small settle marks a flash;
- `chord[i]` and `bend[i]`: for frames a = i-W and b = i+W, |b - a| and |i - (a + b) / 2|,
  for W = `window` and `window + 2` (a flash at one end spoils only one of them).
  Inside a dissolve every frame is a linear mix of the two shots, so the middle frame is the
  mean of the ends: a long chord with no bend. A pan or zoom bends (its middle is not the mean
  of its ends), a hard cut bends by half the chord, a flash by more.
- `luma[i]`: mean brightness, for fades through black.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

THUMB_SIZE = (48, 27)
FLASH_FRAMES = 4


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference (OpenCV's L1 norm: a few times faster than numpy here)."""
    return float(cv2.norm(a, b, cv2.NORM_L1)) / a.size


@dataclass
class Signals:
    window: int
    jump: list[float] = field(default_factory=list)
    settle: dict[int, float] = field(default_factory=dict)
    chord: list[list[float]] = field(default_factory=lambda: [[], []])
    bend: list[list[float]] = field(default_factory=lambda: [[], []])
    luma: list[float] = field(default_factory=list)
    _thumbs: deque[np.ndarray] = field(default_factory=deque)
    _watched: list[int] = field(default_factory=list)

    def add(self, bgr: np.ndarray) -> None:
        """Take the next frame (BGR, any size)."""
        thumb = cv2.resize(bgr, THUMB_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)
        index = len(self.luma)
        self.luma.append(float(thumb.mean()))
        self.jump.append(_distance(self._thumbs[-1], thumb) if self._thumbs else 0.0)
        for values in (*self.chord, *self.bend):
            values.append(0.0)
        self._thumbs.append(thumb)
        if len(self._thumbs) > max(2 * self.window + 5, 2 * FLASH_FRAMES + 1):
            self._thumbs.popleft()
        self._update_dissolve(index, thumb)
        self._settle_due(index)

    def watch(self, cut: int) -> None:
        """Measure how far the picture settles after candidate cut `cut` (<= newest frame)."""
        self._watched.append(cut)
        self._settle_due(len(self.luma) - 1)

    def _back(self, frames: int) -> np.ndarray | None:
        """The thumbnail `frames` before the newest one, if still buffered."""
        return self._thumbs[-1 - frames] if frames < len(self._thumbs) else None

    def _settle_due(self, newest: int, *, final: bool = False) -> None:
        for cut in [c for c in self._watched if final or c + FLASH_FRAMES <= newest]:
            self._watched.remove(cut)
            before = [self._back(newest - i) for i in range(cut - FLASH_FRAMES, cut)]
            after = [self._back(newest - i) for i in range(cut, cut + FLASH_FRAMES + 1)]
            pairs = [
                _distance(a, b) for a in before for b in after if a is not None and b is not None
            ]
            self.settle[cut] = min(pairs, default=255.0)

    def _update_dissolve(self, index: int, thumb: np.ndarray) -> None:
        for k, w in enumerate(self.windows):
            start, middle = self._back(2 * w), self._back(w)
            if start is None or middle is None:
                return
            self.chord[k][index - w] = _distance(start, thumb)
            self.bend[k][index - w] = _distance(middle, (start + thumb) / 2)

    @property
    def windows(self) -> tuple[int, int]:
        return (self.window, self.window + 2)

    def dissolve_score(self, max_bend: float) -> list[float]:
        """Per frame, min over windows of chord - 2 * bend; 0 where any window bends more
        than `max_bend` of its chord (a linear mix does not bend)."""
        scores = []
        for i in range(len(self.luma)):
            pairs = [(c[i], b[i]) for c, b in zip(self.chord, self.bend, strict=True)]
            straight = all(b <= max_bend * c for c, b in pairs)
            scores.append(min(c - 2 * b for c, b in pairs) if straight else 0.0)
        return scores

    def finish(self) -> None:
        """Settle the cuts near the end with the frames there are."""
        self._settle_due(len(self.luma) - 1, final=True)
