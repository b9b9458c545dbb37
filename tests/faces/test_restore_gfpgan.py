"""GFPGAN restoration: the gfpgan package's GFPGANv1Clean with store weights, blended, pasted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from contract_models import gfpgan_available
from skimage import data

from tasks.faces.backend import load_restorer
from tasks.faces.detect import detect_faces
from tasks.spec import SpecError

if not gfpgan_available():
    pytest.skip("GFPGAN needs torch and gfpgan (scripts/bootstrap.sh)", allow_module_level=True)

from tasks.faces.restore_gfpgan import GfpganRestorer


@pytest.fixture(scope="module")
def restorer(store_dir: Path) -> GfpganRestorer:
    restorer: GfpganRestorer = load_restorer(str(store_dir))
    return restorer


def test_restorer_loads_the_real_architecture_from_the_store(restorer: GfpganRestorer) -> None:
    assert type(restorer.network).__name__ == "GFPGANv1Clean"
    assert restorer.size == 64


def test_restoration_touches_the_face_only_and_follows_strength(
    restorer: GfpganRestorer,
) -> None:
    image = data.astronaut()
    face = detect_faces(image)[0]
    outputs = {}
    for strength in (0.0, 0.5, 1.0):
        canvas = [image.copy()]
        written = restorer.apply(canvas, [(0, face)], strength)
        assert written == (0 if strength == 0 else 1)
        outputs[strength] = canvas[0]
    assert np.array_equal(outputs[0.0], image)
    x1, y1, x2, y2 = (int(v) for v in face.bbox)
    change = {s: np.abs(o.astype(int) - image).sum() for s, o in outputs.items()}
    assert 0 < change[0.5] < change[1.0]
    outside = np.ones(image.shape[:2], bool)
    outside[max(0, y1 - 40) : y2 + 40, max(0, x1 - 40) : x2 + 40] = False
    assert np.array_equal(outputs[1.0][outside], image[outside])


def test_restoration_is_deterministic_and_batched(restorer: GfpganRestorer) -> None:
    """Fixed noise: the same face restores the same way every frame (no flicker from noise)."""
    image = data.astronaut()
    face = detect_faces(image)[0]
    canvases = [image.copy(), image.copy(), image.copy()]
    assert restorer.apply(canvases, [(0, face), (1, face), (2, face)], 1.0) == 3
    assert np.array_equal(canvases[0], canvases[1]) and np.array_equal(canvases[1], canvases[2])


def test_gfpgan_without_a_store_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECAST_MODELS", raising=False)
    with pytest.raises(SpecError, match="needs restoration weights from a model store"):
        load_restorer()
