"""FaceEngine: refusing bad face images, sparing faceless frames, swapping the right people."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from face_samples import person
from skimage import data

from tasks.faces import FaceEngine, Mapping, load_image
from tasks.spec import SpecError

SIDE = 320  # each person's half of the test frame


@pytest.fixture(scope="module")
def matt(t1: np.ndarray) -> np.ndarray:
    return person(t1, 3)


@pytest.fixture(scope="module")
def pair(matt: np.ndarray) -> np.ndarray:
    """The astronaut on the left, Matt on the right."""
    left = cv2.resize(data.astronaut(), (SIDE, SIDE))
    return np.hstack([left, cv2.resize(matt, (SIDE, SIDE))])


def _changed(before: np.ndarray, after: np.ndarray) -> tuple[bool, bool]:
    """Whether the left and the right half of the pair frame changed."""
    return (
        not np.array_equal(before[:, :SIDE], after[:, :SIDE]),
        not np.array_equal(before[:, SIDE:], after[:, SIDE:]),
    )


def test_refuses_a_source_without_a_face() -> None:
    grey = np.full((256, 256, 3), 128, dtype=np.uint8)
    with pytest.raises(SpecError, match="face source 1: no face found"):
        FaceEngine([Mapping(source=grey)])


def test_refuses_a_source_with_several_faces(t1: np.ndarray, lisa: np.ndarray) -> None:
    with pytest.raises(SpecError, match="face source 2: 6 faces found, need exactly one"):
        FaceEngine([Mapping(source=lisa), Mapping(source=t1)])


def test_refuses_bad_references(t1: np.ndarray, lisa: np.ndarray) -> None:
    grey = np.full((256, 256, 3), 128, dtype=np.uint8)
    with pytest.raises(SpecError, match="face reference 1: no face found"):
        FaceEngine([Mapping(source=lisa, reference=grey)])
    with pytest.raises(SpecError, match="face reference 1: 6 faces found"):
        FaceEngine([Mapping(source=lisa, reference=t1)])


def test_refuses_no_mappings_and_non_images() -> None:
    with pytest.raises(SpecError, match="no face mappings"):
        FaceEngine([])
    with pytest.raises(SpecError, match="face source 1: not an RGB uint8 image"):
        FaceEngine([Mapping(source=data.camera())])


def test_frame_without_faces_comes_back_untouched(lisa: np.ndarray) -> None:
    engine = FaceEngine([Mapping(source=lisa)])
    frame = np.full((360, 640, 3), 40, dtype=np.uint8)
    result = engine.process(frame)
    assert result.frame is frame
    assert (result.faces_found, result.faces_swapped) == (0, 0)


def test_catch_all_mapping_replaces_everyone(lisa: np.ndarray, pair: np.ndarray) -> None:
    before = pair.copy()
    result = FaceEngine([Mapping(source=lisa)]).process(pair)
    assert (result.faces_found, result.faces_swapped) == (2, 2)
    assert _changed(pair, result.frame) == (True, True)
    assert np.array_equal(pair, before), "the input frame must not be modified"


def test_reference_picks_the_matching_person_only(
    lisa: np.ndarray, matt: np.ndarray, pair: np.ndarray
) -> None:
    # Mirror images: the same people, never the very pixels that are in the frame.
    astronaut_ref = np.ascontiguousarray(data.astronaut()[:, ::-1])
    matt_ref = np.ascontiguousarray(matt[:, ::-1])

    left = FaceEngine([Mapping(source=lisa, reference=astronaut_ref)]).process(pair)
    assert (left.faces_found, left.faces_swapped) == (2, 1)
    assert _changed(pair, left.frame) == (True, False)

    right = FaceEngine([Mapping(source=lisa, reference=matt_ref)]).process(pair)
    assert (right.faces_found, right.faces_swapped) == (2, 1)
    assert _changed(pair, right.frame) == (False, True)


def test_frame_with_faces_but_no_match_comes_back_untouched(
    t1: np.ndarray, lisa: np.ndarray
) -> None:
    frame = cv2.resize(data.astronaut(), (SIDE, SIDE))
    result = FaceEngine([Mapping(source=lisa, reference=person(t1, 0))]).process(frame)
    assert result.frame is frame
    assert (result.faces_found, result.faces_swapped) == (1, 0)


def test_nearest_reference_wins(
    t1: np.ndarray, lisa: np.ndarray, matt: np.ndarray, pair: np.ndarray
) -> None:
    """With a threshold loose enough that both references match both faces, each face still
    goes to the mapping whose reference is nearest."""
    astronaut_ref = np.ascontiguousarray(data.astronaut()[:, ::-1])
    other = person(t1, 0)
    both = FaceEngine(
        [Mapping(source=lisa, reference=astronaut_ref), Mapping(source=other, reference=matt)],
        match_threshold=2.0,
    ).process(pair)
    assert both.faces_swapped == 2
    only_left = FaceEngine([Mapping(source=lisa, reference=astronaut_ref)]).process(pair)
    only_right = FaceEngine([Mapping(source=other, reference=matt)]).process(pair)
    assert np.array_equal(both.frame[:, :SIDE], only_left.frame[:, :SIDE])
    assert np.array_equal(both.frame[:, SIDE:], only_right.frame[:, SIDE:])


def test_load_image(tmp_path: Path) -> None:
    grey = tmp_path / "camera.png"
    cv2.imwrite(str(grey), data.camera())
    image = load_image(grey)
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    assert np.array_equal(image[..., 0], data.camera())

    colour = tmp_path / "astronaut.png"
    cv2.imwrite(str(colour), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    assert np.array_equal(load_image(colour), data.astronaut())

    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(SpecError, match="not an image"):
        load_image(tmp_path / "notes.txt")
    with pytest.raises(SpecError, match="cannot read"):
        load_image(tmp_path / "missing.png")
