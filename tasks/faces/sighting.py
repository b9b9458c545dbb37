"""Where faces are, at the cost the swap stage can afford on a CPU.

Two looks at a frame, with any detector of the backend:
- `scan`: the whole frame shrunk to `detect_side` (longest side), which finds faces and feeds
  the tracker; the engine runs it on one frame in `detect_every`, tracks carry faces between.
- `refine`: each face being replaced, re-detected on a crop around where its track predicts it
  (the face about half the crop, at most `refine_side` pixels). Its keypoints place the new
  face, so they come from one look at a fixed relative scale in every frame: a face swapped on
  a scan frame and on the next frame gets the same precision, with no periodic jitter.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from tasks.faces.align import Image
from tasks.faces.detect import Face
from tasks.faces.track import Box, iou

_CROP_PER_FACE = 2.0  # crop side over face side: room for the face to have moved
_REFINE_MIN = 96  # smallest crop: CenterFace's stride-4 map needs a few cells per face
_PAD = 32
_SAME_FACE = 0.3  # IoU between the prediction and a refined face


def scan(detector: object, frames: Sequence[Image], side: int) -> list[list[Face]]:
    """Faces of each whole frame, looked for on a copy shrunk to `side` (longest side)."""
    shrunk, scales = [], []
    for frame in frames:
        scale = min(1.0, side / max(frame.shape[:2]))
        scales.append(scale)
        if scale < 1.0:
            h, w = frame.shape[:2]
            size = (max(round(w * scale), 8), max(round(h * scale), 8))
            frame = np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
        shrunk.append(frame)
    found = detector.detect_batch(shrunk)  # type: ignore[attr-defined]
    return [
        [_scaled(f, 1 / s, 0.0, 0.0) for f in faces] for faces, s in zip(found, scales, strict=True)
    ]


def refine(detector: object, frame: Image, boxes: Sequence[Box], side: int) -> list[Face | None]:
    """Each predicted box's face, re-detected on a crop around it; None where it is not seen."""
    if not boxes:
        return []
    crops, placements = [], []
    for box in boxes:
        face_side = max(box[2] - box[0], box[3] - box[1], 1.0)
        # Native resolution where it fits, the crop's corner on the frame's 32-pixel grid: a
        # crop that moves against the network's strides in every frame makes keypoints jitter.
        scale = min(1.0, max(side, _REFINE_MIN) / (_CROP_PER_FACE * face_side))
        out = max(_REFINE_MIN, int(-(-(_CROP_PER_FACE * face_side * scale) // _PAD)) * _PAD)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        tx, ty = out / 2 - scale * cx, out / 2 - scale * cy
        if scale == 1.0:
            tx, ty = -float(_PAD * round(-tx / _PAD)), -float(_PAD * round(-ty / _PAD))
        matrix = np.array([[scale, 0.0, tx], [0.0, scale, ty]], dtype=np.float64)
        crop = cv2.warpAffine(
            frame, matrix, (out, out), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT
        )
        crops.append(np.asarray(crop, dtype=np.uint8))
        placements.append((scale, tx, ty))
    found = detector.detect_batch(crops)  # type: ignore[attr-defined]
    faces: list[Face | None] = []
    for box, candidates, (scale, tx, ty) in zip(boxes, found, placements, strict=True):
        back = [_scaled(f, 1 / scale, -tx / scale, -ty / scale) for f in candidates]
        best = max(back, key=lambda f: iou(f.bbox, box), default=None)
        faces.append(best if best is not None and iou(best.bbox, box) >= _SAME_FACE else None)
    return faces


def _scaled(face: Face, factor: float, dx: float, dy: float) -> Face:
    """`face` with its coordinates multiplied by `factor`, then moved by (dx, dy)."""
    x1, y1, x2, y2 = face.bbox
    bbox = (x1 * factor + dx, y1 * factor + dy, x2 * factor + dx, y2 * factor + dy)
    kps = (face.kps * factor + np.array([dx, dy], np.float32)).astype(np.float32)
    return Face(bbox=bbox, kps=kps, score=face.score)
