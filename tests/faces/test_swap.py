"""The classical swapper on real faces: identity moves to the source, nothing else moves."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from tasks.faces import swap_classical
from tasks.faces.align import align_face, crop_box, estimate_transform, warp_back
from tasks.faces.detect import Face, detect_faces
from tasks.faces.embed import distance, embed_face
from tasks.faces.swap_classical import (
    SourceFace,
    face_mask,
    paste_face,
    prepare_source,
    swap_face,
    transfer_colour,
)


@pytest.fixture(scope="module")
def t1() -> np.ndarray:
    import insightface

    path = Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def astronaut() -> tuple[np.ndarray, Face]:
    image = data.astronaut()
    return image, detect_faces(image)[0]


@pytest.fixture(scope="module")
def source(astronaut: tuple[np.ndarray, Face]) -> SourceFace:
    return prepare_source(*astronaut)


def _near(faces: list[Face], face: Face) -> Face:
    return min(faces, key=lambda f: abs(f.bbox[0] - face.bbox[0]) + abs(f.bbox[1] - face.bbox[1]))


def _mask_box(face: Face, size: int, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Bounding box, in the frame, of every pixel the face mask can touch."""
    matrix = estimate_transform(face.kps, size)
    box = crop_box(matrix, size, shape)
    assert box is not None
    ys, xs = np.nonzero(warp_back(face_mask(size), matrix, box) > 0)
    return box[0] + xs.min(), box[1] + ys.min(), box[0] + xs.max() + 1, box[1] + ys.max() + 1


@pytest.mark.parametrize("index", [0, 1, 3])
def test_swap_moves_identity_to_the_source(
    t1: np.ndarray, astronaut: tuple[np.ndarray, Face], source: SourceFace, index: int
) -> None:
    wanted = embed_face(*astronaut)
    target = sorted(detect_faces(t1), key=lambda f: f.bbox[0])[index]
    out = swap_face(t1, target, source)

    before = distance(embed_face(t1, target), wanted)
    after = distance(embed_face(out, _near(detect_faces(out), target)), wanted)
    assert after < before - 0.1, (before, after)


def test_swap_changes_the_face_and_nothing_outside_the_mask(
    t1: np.ndarray, source: SourceFace
) -> None:
    target = detect_faces(t1)[0]
    out = swap_face(t1, target, source)
    assert out is not t1 and out.shape == t1.shape and out.dtype == np.uint8

    x1, y1, x2, y2 = (round(v) for v in target.bbox)
    inner = np.abs(out[y1:y2, x1:x2].astype(int) - t1[y1:y2, x1:x2]).mean()
    assert inner > 8, "the face barely changed"

    mx1, my1, mx2, my2 = _mask_box(target, swap_classical._crop_size(target), t1.shape)
    outside = np.ones(t1.shape[:2], dtype=bool)
    outside[my1:my2, mx1:mx2] = False
    assert np.array_equal(out[outside], t1[outside])
    # The mask stays on the face: within its detected box, give or take a tenth.
    pad_x, pad_y = 0.1 * (x2 - x1), 0.1 * (y2 - y1)
    assert mx1 >= x1 - pad_x and mx2 <= x2 + pad_x and my1 >= y1 - pad_y and my2 <= y2 + pad_y


def test_paste_in_place_writes_only_its_box(t1: np.ndarray, source: SourceFace) -> None:
    canvas = t1.copy()
    target = detect_faces(t1)[1]
    box = paste_face(canvas, target, source)
    assert box is not None
    x0, y0, x1, y1 = box
    untouched = canvas.copy()
    untouched[y0:y1, x0:x1] = t1[y0:y1, x0:x1]
    assert np.array_equal(untouched, t1)
    assert not np.array_equal(canvas, t1)


def test_face_cut_by_the_frame_edge(t1: np.ndarray, source: SourceFace) -> None:
    """A face partly out of frame must still swap, without touching the rest of the frame."""
    frame = np.ascontiguousarray(t1[:, 100:])  # through the left cheek of the leftmost woman
    target = min(detect_faces(frame), key=lambda f: f.bbox[0])
    assert target.bbox[0] == 0
    out = swap_face(frame, target, source)
    x1, y1, x2, y2 = (round(v) for v in target.bbox)
    assert np.abs(out[y1:y2, x1:x2].astype(int) - frame[y1:y2, x1:x2]).mean() > 8
    assert np.array_equal(out[:, x2 + 10 :], frame[:, x2 + 10 :])


def test_greyscale_source_takes_the_target_skin_tone(t1: np.ndarray) -> None:
    camera = cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2RGB)
    grey = align_face(camera, detect_faces(camera)[0].kps)[0]
    skin = align_face(t1, detect_faces(t1)[0].kps)[0]
    region = face_mask(256) > 0.5
    out = transfer_colour(grey, skin, region)

    def lab_mean(image: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[region].mean(axis=0)

    assert np.allclose(lab_mean(out), lab_mean(skin), atol=3)
    assert not np.allclose(lab_mean(grey), lab_mean(skin), atol=3)


def test_masks_are_shared_read_only() -> None:
    """The cached masks are shared by every swap: nothing may write into them."""
    assert not face_mask(256).flags.writeable
    assert not swap_classical.hard_mask(256).flags.writeable
