"""Per-shot flicker: how much swapped faces change from frame to frame, against the source.

For each face swapped in two consecutive frames (same track), the mean absolute change of the
output inside its box is summed, and so is the source's change in the same place. The figure is
their ratio: 1 means the swapped faces move exactly as much as the original ones did; a swap
that shimmers on a still face scores well above 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tasks.faces.align import Image
from tasks.faces.detect import Face

_FLOOR = 0.5  # grey levels per pixel: the source's change is never taken as less than this


@dataclass
class FlickerMeter:
    output_change: float = 0.0
    source_change: float = 0.0
    pairs: int = 0
    _previous: tuple[Image, Image, dict[int, Face]] | None = field(default=None, repr=False)

    def reset(self) -> None:
        """A cut: frames on either side are not compared."""
        self._previous = None

    def add(self, source: Image, output: Image, faces: dict[int, Face]) -> None:
        """One frame: its source, its output and the swapped faces by track id."""
        if self._previous is not None:
            before_src, before_out, before_faces = self._previous
            for track, face in faces.items():
                if track not in before_faces:
                    continue
                region = _region(face, source.shape)
                if region is None:
                    continue
                self.output_change += _change(before_out, output, region)
                self.source_change += max(_change(before_src, source, region), _FLOOR)
                self.pairs += 1
        self._previous = (source, output, faces) if faces else None

    def figure(self) -> float | None:
        if not self.pairs:
            return None
        return round(self.output_change / self.source_change, 4)


def _region(face: Face, shape: tuple[int, ...]) -> tuple[slice, slice] | None:
    h, w = shape[:2]
    x1, y1 = max(int(face.bbox[0]), 0), max(int(face.bbox[1]), 0)
    x2, y2 = min(int(np.ceil(face.bbox[2])), w), min(int(np.ceil(face.bbox[3])), h)
    if x2 <= x1 or y2 <= y1:
        return None
    return slice(y1, y2), slice(x1, x2)


def _change(a: Image, b: Image, region: tuple[slice, slice]) -> float:
    diff = np.abs(a[region].astype(np.int16) - b[region].astype(np.int16))
    return float(diff.mean())
