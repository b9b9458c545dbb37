"""Every contract model goes through the real insightface / gfpgan code, loaded from a store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from contract_models import SCRFD_HALF, SCRFD_STRIDE, inswapper
from insightface.app.common import Face as InsightFace
from skimage import data

from tasks.faces.arcface import ArcFace
from tasks.faces.detect import detect_faces
from tasks.faces.scrfd import ScrfdDetector, load_insightface
from tasks.faces.swap_inswapper import InSwapper
from tasks.models import ModelStore


@pytest.fixture(scope="module")
def store(store_dir: Path) -> ModelStore:
    return ModelStore(str(store_dir))


def _path(store: ModelStore, kind: str) -> Path:
    entry = store.entry(kind)  # type: ignore[arg-type]
    assert entry is not None
    return store.path(entry)


def test_model_zoo_routes_each_contract_model(store: ModelStore, scrfd_store: Path) -> None:
    from insightface.model_zoo import get_model

    assert type(get_model(str(_path(store, "arcface")))).__name__ == "ArcFaceONNX"
    assert type(get_model(str(_path(store, "inswapper")))).__name__ == "INSwapper"
    det = _path(ModelStore(str(scrfd_store)), "scrfd")
    assert type(get_model(str(det))).__name__ == "SCRFD"
    with pytest.raises(ValueError, match="not INSwapper"):
        load_insightface(_path(store, "arcface"), "INSwapper")


def test_scrfd_decodes_boxes_and_keypoints_in_frame_pixels(scrfd_store: Path) -> None:
    detector = ScrfdDetector(_path(ModelStore(str(scrfd_store)), "scrfd"))
    frame = np.zeros((720, 1280, 3), dtype=np.uint8)
    # 1280 wide -> 640 in the detector: a 32 px square covers one 16 px cell there.
    frame[320:352, 640:672] = 255
    faces = detector.detect_batch([frame])[0]
    assert len(faces) == 1
    face = faces[0]
    cx, cy = (face.bbox[0] + face.bbox[2]) / 2, (face.bbox[1] + face.bbox[3]) / 2
    assert abs(cx - 640) <= 2 and abs(cy - 320) <= 2  # the anchor: the cell's corner x2
    assert face.width == pytest.approx(2 * 2 * SCRFD_HALF * SCRFD_STRIDE, abs=1)
    left_eye, right_eye, nose = face.kps[0], face.kps[1], face.kps[2]
    assert left_eye[0] < nose[0] < right_eye[0] and left_eye[1] < nose[1]
    assert detector.detect_batch([np.zeros((360, 640, 3), np.uint8)]) == [[]]


def test_arcface_embedding_is_insightface_normed_embedding(store: ModelStore) -> None:
    arcface = ArcFace(_path(store, "arcface"))
    image = data.astronaut()
    face = detect_faces(image)[0]
    mine = arcface.embed(image, face)
    theirs = InsightFace(kps=face.kps)
    arcface.model.get(np.ascontiguousarray(image[..., ::-1]), theirs)
    assert mine.shape == (512,) and np.isclose(np.linalg.norm(mine), 1.0)
    assert np.allclose(mine, theirs.normed_embedding, atol=1e-6)


def test_batched_swap_matches_insightface_get(store: ModelStore) -> None:
    """Same crops, same latent (emap), same output as `INSwapper.get(paste_back=False)`."""
    arcface = ArcFace(_path(store, "arcface"))
    swapper = InSwapper(_path(store, "inswapper"))
    assert swapper.batched
    source_image = data.astronaut()
    source_face = detect_faces(source_image)[0]
    embedding = arcface.embed(source_image, source_face)
    latent = swapper.latent(embedding)

    frame = np.ascontiguousarray(np.hstack([source_image, source_image[:, ::-1]]))
    targets = detect_faces(frame)
    assert len(targets) == 2
    crops = [swapper.align(frame, f)[0] for f in targets]
    batched = swapper.infer(crops, [latent, latent])

    bgr = np.ascontiguousarray(frame[..., ::-1])
    source = InsightFace(kps=source_face.kps, embedding=embedding)
    for face, mine in zip(targets, batched, strict=True):
        theirs, matrix = swapper.model.get(bgr, InsightFace(kps=face.kps), source, paste_back=False)
        assert np.abs(mine.astype(int) - theirs[..., ::-1].astype(int)).max() <= 1
        assert np.allclose(matrix, swapper.align(frame, face)[1])


def test_fixed_batch_model_runs_one_crop_at_a_time(tmp_path: Path, store: ModelStore) -> None:
    single = InSwapper(inswapper(tmp_path / "b1.onnx", batch=1))
    batched = InSwapper(_path(store, "inswapper"))
    assert not single.batched
    crops = [np.full((128, 128, 3), v, np.uint8) for v in (60, 120, 180)]
    latent = single.latent(np.ones(512, np.float32) / np.sqrt(512))
    one = single.infer(crops, [latent] * 3)
    many = batched.infer(crops, [latent] * 3)
    assert all(np.array_equal(a, b) for a, b in zip(one, many, strict=True))


def test_different_sources_give_different_swaps(store: ModelStore) -> None:
    swapper = InSwapper(_path(store, "inswapper"))
    crop = np.full((128, 128, 3), 128, np.uint8)
    rng = np.random.default_rng(0)
    a, b = (swapper.latent(v / np.linalg.norm(v)) for v in rng.standard_normal((2, 512)))
    out_a, out_b = swapper.infer([crop, crop], [a, b])
    assert not np.array_equal(out_a, out_b)
