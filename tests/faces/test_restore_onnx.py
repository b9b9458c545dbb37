"""The ONNX restorer alternative (GFPGAN's ONNX contract), for stores without torch weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from contract_models import onnx_restorer, write_store
from skimage import data

from tasks.faces.backend import load_restorer
from tasks.faces.detect import detect_faces
from tasks.faces.restore_onnx import OnnxRestorer
from tasks.faces.settings import Settings


def test_store_with_an_onnx_restorer_restores_the_face_only(tmp_path: Path) -> None:
    store = write_store(
        tmp_path, {"gfpgan14": (onnx_restorer(tmp_path / "r.onnx"), "gfpgan_onnx", {})}
    )
    restorer = load_restorer(str(store))
    assert isinstance(restorer, OnnxRestorer) and restorer.size == 64
    image = data.astronaut()
    face = detect_faces(image)[0]
    canvas = [image.copy()]
    assert restorer.apply(canvas, [(0, face)], 1.0) == 1
    x1, y1, x2, y2 = (int(v) for v in face.bbox)
    assert not np.array_equal(canvas[0][y1:y2, x1:x2], image[y1:y2, x1:x2])
    outside = np.ones(image.shape[:2], bool)
    outside[max(0, y1 - 40) : y2 + 40, max(0, x1 - 40) : x2 + 40] = False
    assert np.array_equal(canvas[0][outside], image[outside])
    untouched = [image.copy()]
    assert restorer.apply(untouched, [(0, face)], 0.0) == 0
    assert np.array_equal(untouched[0], image)


def test_fixed_batch_graph_gets_one_face_per_call(tmp_path: Path) -> None:
    single = OnnxRestorer(onnx_restorer(tmp_path / "b1.onnx", batch=1), Settings(batch=8))
    many = OnnxRestorer(onnx_restorer(tmp_path / "bn.onnx"), Settings(batch=8))
    assert (single.batch, many.batch) == (1, 8)
    crops = [np.full((64, 64, 3), v, np.uint8) for v in (50, 150, 250)]
    assert all(
        np.array_equal(a, b) for a, b in zip(single.infer(crops), many.infer(crops), strict=True)
    )
