"""Real faces for the tests: t1's people (read from the installed insightface wheel)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tasks.faces.detect import Face, detect_faces


def t1_image() -> np.ndarray:
    """Six people around a table; read from the installed insightface wheel, never copied."""
    import insightface

    path = Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def person(t1: np.ndarray, index: int) -> np.ndarray:
    """One of t1's people (left to right), cropped loosely enough to look like a portrait."""
    return portrait(t1, sorted(detect_faces(t1), key=lambda f: f.bbox[0])[index])


def portrait(image: np.ndarray, face: Face | None = None) -> np.ndarray:
    """The face (by default the only one detected), cropped loosely enough to look like a
    portrait."""
    x1, y1, x2, y2 = (face or detect_faces(image)[0]).bbox
    w, h = x2 - x1, y2 - y1
    top, bottom = int(max(0, y1 - 0.4 * h)), int(y2 + 0.3 * h)
    left, right = int(max(0, x1 - 0.4 * w)), int(x2 + 0.4 * w)
    return np.ascontiguousarray(image[top:bottom, left:right])
