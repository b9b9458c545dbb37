"""`faces.json` of a unit: the faces the swap wrote in each frame, for restore and QC.

`{"frames": {"12": [{"track": 0, "mapping": 1, "kps": [[x, y] x5], "bbox": [x1, y1, x2, y2]}]}}`,
frames numbered from the unit's first; frames with no swapped face are absent. `kept` lists
the frames a scoped re-render took finished from its base (restore leaves them alone), `reused`
those taken from earlier renders' swaps (tasks.reuse). `mapping` is the
index (from 0) into the spec's `faces` of the mapping that wrote the face; logs written before
it was recorded lack it, and read back with `mapping=None`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tasks.faces.detect import Face


@dataclass(frozen=True)
class Logged:
    """One face the swap wrote."""

    track: int
    mapping: int | None
    face: Face


def entry(track: int, face: Face, mapping: int) -> dict[str, Any]:
    return {
        "track": track,
        "mapping": mapping,
        "kps": face.kps.round(2).tolist(),
        "bbox": [round(v, 2) for v in face.bbox],
    }


def entries(data: Any) -> dict[int, list[Logged]]:
    """Everything logged, by frame index, from the JSON object the swap stage wrote."""
    out: dict[int, list[Logged]] = {}
    for frame, faces in dict(data.get("frames", {})).items():
        out[int(frame)] = [
            Logged(
                track=int(f["track"]),
                mapping=None if f.get("mapping") is None else int(f["mapping"]),
                face=Face(
                    bbox=_box(f["bbox"]),
                    kps=np.asarray(f["kps"], dtype=np.float32).reshape(5, 2),
                    score=1.0,
                ),
            )
            for f in faces
        ]
    return out


def parse(data: Any) -> dict[int, list[Face]]:
    """Faces by frame index, from the JSON object the swap stage wrote."""
    return {frame: [e.face for e in logged] for frame, logged in entries(data).items()}


def _box(values: Any) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in values)
    return x1, y1, x2, y2
