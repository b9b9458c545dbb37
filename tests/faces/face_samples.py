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


def lab_shift(image: np.ndarray, da: float, db: float) -> np.ndarray:
    """A grade: LAB a and b moved (-14, -24: teal; 10, 25: a warm, sepia-like tint)."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 1] += da
    lab[..., 2] += db
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def side_light(image: np.ndarray) -> np.ndarray:
    """A strong light from the right: 0.35x at the left edge to 1.3x at the right."""
    gain = np.linspace(0.35, 1.3, image.shape[1], dtype=np.float32)[None, :, None]
    return np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def dim(image: np.ndarray) -> np.ndarray:
    """A dim, noisy shot: 0.4x and sensor-like noise (seeded)."""
    noise = np.random.default_rng(7).normal(0, 4, image.shape).astype(np.float32)
    return np.clip(image.astype(np.float32) * 0.4 + noise, 0, 255).astype(np.uint8)


def small(image: np.ndarray) -> np.ndarray:
    """`image` at 45% in the middle of a 960x540 grey frame (t1's eyes about 20 px apart)."""
    shrunk = cv2.resize(image, None, fx=0.45, fy=0.45, interpolation=cv2.INTER_AREA)
    canvas = np.full((540, 960, 3), 90, np.uint8)
    y, x = (540 - shrunk.shape[0]) // 2, (960 - shrunk.shape[1]) // 2
    canvas[y : y + shrunk.shape[0], x : x + shrunk.shape[1]] = shrunk
    return canvas
