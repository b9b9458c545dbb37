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


def push_in(image: np.ndarray, count: int, size: tuple[int, int], end: float) -> list[np.ndarray]:
    """`count` frames of `size` (width, height) moving in slowly on the middle of `image`, the
    last showing `end` of the first frame's width (the first frame: the widest crop of the
    frame's shape)."""
    height, width = image.shape[:2]
    aspect = size[0] / size[1]
    full_w = min(width, height * aspect)
    frames = []
    for index in range(count):
        w = full_w * (1 - (1 - end) * index / max(count - 1, 1))
        h = w / aspect
        x0, y0 = (width - w) / 2, (height - h) / 2
        scale = size[0] / w
        matrix = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float64)
        frames.append(cv2.warpAffine(image, matrix, size, flags=cv2.INTER_AREA))
    return frames


def encode(frames: list[np.ndarray], path: Path, rate: int = 25, bitrate: int = 2_500_000) -> Path:
    """`frames` written as H.264 at x264's default preset (medium), as a camera or an edit
    would deliver them, not losslessly."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = bitrate
        stream.options = {"preset": "medium"}
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    return path


def decoded(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
