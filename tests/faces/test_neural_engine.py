"""The engine on the neural path: store models chosen, real faces, contract-shaped weights."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from face_samples import person
from skimage import data

from tasks.faces import FaceEngine, Mapping
from tasks.faces.backend import build_backend, load_backend
from tasks.faces.swap_classical import hard_mask
from tasks.faces.swap_inswapper import InSwapper
from tasks.models import ModelStore
from tasks.spec import SpecError

SIDE = 320


@pytest.fixture(scope="module")
def neural(store_dir: Path):  # type: ignore[no-untyped-def]
    return build_backend(ModelStore(str(store_dir)))


@pytest.fixture(scope="module")
def pair(t1: np.ndarray) -> np.ndarray:
    left = cv2.resize(data.astronaut(), (SIDE, SIDE))
    return np.hstack([left, cv2.resize(person(t1, 3), (SIDE, SIDE))])


def test_the_store_decides_the_backend(store_dir: Path, scrfd_store: Path) -> None:
    offline = build_backend(None)
    assert (offline.name, offline.detector.name, offline.swapper.name) == (
        "offline",
        "centerface",
        "classical",
    )
    neural = build_backend(ModelStore(str(store_dir)))
    assert (neural.name, neural.detector.name, neural.swapper.name) == (
        "neural",
        "centerface",
        "inswapper",
    )
    assert build_backend(ModelStore(str(store_dir)), "classical").swapper.name == "classical"
    assert build_backend(ModelStore(str(scrfd_store))).detector.name == "scrfd"
    with pytest.raises(SpecError, match="swapper=inswapper needs a model store"):
        build_backend(None, "inswapper")
    with pytest.raises(SpecError, match=r"needs a (arcface|inswapper) model"):
        build_backend(ModelStore(str(scrfd_store)), "inswapper")


def test_backend_is_loaded_once_per_process(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECAST_MODELS", str(store_dir))
    assert load_backend() is load_backend()
    assert load_backend().swapper.name == "inswapper"


def test_neural_swap_changes_only_the_faces_under_the_mask(
    neural,
    pair: np.ndarray,
    lisa: np.ndarray,  # type: ignore[no-untyped-def]
) -> None:
    engine = FaceEngine([Mapping(source=lisa)], backend=neural)
    result = engine.process(pair)
    assert (result.faces_found, result.faces_swapped) == (2, 2)
    changed = np.any(result.frame != pair, axis=2)
    # Every changed pixel lies under one of the two warped 128 px masks.
    swapper: InSwapper = neural.swapper.inswapper
    allowed = np.zeros(pair.shape[:2], bool)
    for face in result.swapped:
        _, matrix = swapper.align(pair, face)
        inverse = cv2.invertAffineTransform(matrix)
        warped = cv2.warpAffine(hard_mask(128), inverse, (pair.shape[1], pair.shape[0]))
        allowed |= cv2.dilate(warped, np.ones((3, 3), np.uint8)) > 0
    assert changed.any() and not (changed & ~allowed).any()


def test_neural_reference_selection_and_passthrough(
    neural,
    pair: np.ndarray,
    lisa: np.ndarray,
    t1: np.ndarray,  # type: ignore[no-untyped-def]
) -> None:
    matt_ref = np.ascontiguousarray(person(t1, 3)[:, ::-1])
    engine = FaceEngine([Mapping(source=lisa, reference=matt_ref)], backend=neural)
    result = engine.process(pair)
    assert (result.faces_found, result.faces_swapped) == (2, 1)
    assert np.array_equal(result.frame[:, :SIDE], pair[:, :SIDE])
    assert not np.array_equal(result.frame[:, SIDE:], pair[:, SIDE:])
    empty = np.full((180, 320, 3), 30, np.uint8)
    assert engine.process(empty).frame is empty


def test_a_source_without_a_face_is_refused_on_the_neural_path(neural) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError, match="face source 1: no face found"):
        FaceEngine([Mapping(source=np.full((200, 200, 3), 90, np.uint8))], backend=neural)
