"""ArcFace identity embeddings (e.g. w600k_r50) through insightface's model_zoo.

They are what INSwapper takes as its source latent; the store provides the weights.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tasks.faces.align import Image, quiet_estimate
from tasks.faces.detect import Face
from tasks.faces.scrfd import load_insightface

log = logging.getLogger(__name__)

Embedding = npt.NDArray[np.float32]


class ArcFace:
    def __init__(self, path: Path) -> None:
        self.model = load_insightface(path, "ArcFaceONNX")
        log.info("ArcFace loaded from %s", path)

    def embed(self, image: Image, face: Face) -> Embedding:
        """The L2-normalised embedding (InsightFace's `normed_embedding`) of `face`."""
        from insightface.app.common import Face as InsightFace

        bgr = np.ascontiguousarray(image[..., ::-1])
        with quiet_estimate():
            raw = np.asarray(self.model.get(bgr, InsightFace(kps=face.kps)), dtype=np.float32)
        norm = float(np.linalg.norm(raw))
        if not norm > 0:
            raise ValueError("ArcFace gave a zero embedding")
        return raw / norm
