"""Identity embeddings: dlib's 128-D ResNet face descriptor, used to find whom to replace.

The model files come from the `face-recognition-models` package (CC0). They are loaded by path
because that package imports `pkg_resources`, which recent setuptools no longer provides.
Two descriptors of the same person are usually less than 0.6 apart (L2).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tasks.faces.detect import Face

log = logging.getLogger(__name__)

SAME_PERSON_DISTANCE = 0.6
_LANDMARKS = "shape_predictor_5_face_landmarks.dat"
_RESNET = "dlib_face_recognition_resnet_model_v1.dat"

Embedding = npt.NDArray[np.float32]


def models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the `face-recognition-models` package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@functools.cache
def _models() -> tuple[Any, Any]:
    import dlib

    folder = models_dir()
    for name in (_LANDMARKS, _RESNET):
        if not (folder / name).is_file():
            raise RuntimeError(f"dlib model missing: {folder / name}")
    predictor = dlib.shape_predictor(str(folder / _LANDMARKS))
    resnet = dlib.face_recognition_model_v1(str(folder / _RESNET))
    log.info("dlib face models loaded from %s", folder)
    return predictor, resnet


def embed_face(image: npt.NDArray[np.uint8], face: Face) -> Embedding:
    """The 128-D descriptor of `face` in the RGB `image`."""
    import dlib

    predictor, resnet = _models()
    x1, y1, x2, y2 = (round(v) for v in face.bbox)
    rgb = np.ascontiguousarray(image)
    # dlib's landmarks refine the box; its chip alignment is what the ResNet was trained on.
    shape = predictor(rgb, dlib.rectangle(x1, y1, x2, y2))
    return np.asarray(resnet.compute_face_descriptor(rgb, shape), dtype=np.float32)


def distance(a: Embedding, b: Embedding) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))
