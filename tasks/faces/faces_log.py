"""`faces.json` of a unit: the faces the swap wrote in each frame, for the restore stage.

`{"frames": {"12": [{"track": 0, "kps": [[x, y] x5], "bbox": [x1, y1, x2, y2]}]}}`, frames
numbered from the unit's first; frames with no swapped face are absent.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tasks.faces.detect import Face


def entry(track: int, face: Face) -> dict[str, Any]:
    return {
        "track": track,
        "kps": face.kps.round(2).tolist(),
        "bbox": [round(v, 2) for v in face.bbox],
    }


def parse(data: Any) -> dict[int, list[Face]]:
    """Faces by frame index, from the JSON object the swap stage wrote."""
    out: dict[int, list[Face]] = {}
    for frame, faces in dict(data.get("frames", {})).items():
        out[int(frame)] = [
            Face(
                bbox=(
                    float(f["bbox"][0]),
                    float(f["bbox"][1]),
                    float(f["bbox"][2]),
                    float(f["bbox"][3]),
                ),
                kps=np.asarray(f["kps"], dtype=np.float32).reshape(5, 2),
                score=1.0,
            )
            for f in faces
        ]
    return out


def _box(values: Any) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in values)
    return x1, y1, x2, y2
