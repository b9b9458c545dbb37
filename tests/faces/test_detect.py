"""CenterFace detection on real photographs that ship with scikit-image and insightface."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from tasks.faces.detect import Face, _session, detect_faces


def _t1() -> np.ndarray:
    """Six people around a table; read from the installed insightface wheel, never copied."""
    import insightface

    path = Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _inside(face: Face) -> bool:
    x1, y1, x2, y2 = face.bbox
    xs, ys = face.kps[:, 0], face.kps[:, 1]
    return bool(np.all((xs >= x1) & (xs <= x2) & (ys >= y1) & (ys <= y2)))


def test_finds_the_astronaut_with_keypoints_in_insightface_order() -> None:
    faces = detect_faces(data.astronaut())
    assert len(faces) == 1
    face = faces[0]
    assert face.score > 0.8
    x1, y1, x2, y2 = face.bbox
    assert 150 < (x1 + x2) / 2 < 300 and 60 < (y1 + y2) / 2 < 180  # her face, not her suit
    assert face.kps.shape == (5, 2) and face.kps.dtype == np.float32
    assert _inside(face)
    left_eye, right_eye, nose, mouth_left, mouth_right = face.kps
    assert left_eye[0] < nose[0] < right_eye[0]
    assert mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_finds_the_cameraman() -> None:
    faces = detect_faces(cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2RGB))
    assert len(faces) == 1
    assert _inside(faces[0])


def test_finds_six_faces_in_t1() -> None:
    faces = detect_faces(_t1())
    assert len(faces) == 6
    assert all(_inside(f) and f.score > 0.5 for f in faces)
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)


def test_no_face_in_a_flat_frame() -> None:
    assert detect_faces(np.full((720, 1280, 3), 128, dtype=np.uint8)) == []


def test_large_frames_map_back_to_frame_coordinates() -> None:
    """A frame bigger than the detector's size must give boxes in frame pixels, not model ones."""
    small = detect_faces(data.astronaut())[0]
    frame = np.zeros((1080, 1920, 3), dtype=np.uint8)
    frame[30:1054, 700:1724] = cv2.resize(data.astronaut(), (1024, 1024))
    big = detect_faces(frame)
    assert len(big) == 1
    expected = np.array(small.bbox) * 2 + [700, 30, 700, 30]
    assert np.allclose(big[0].bbox, expected, atol=16)
    assert np.allclose(big[0].kps, small.kps * 2 + [700, 30], atol=10)


def test_rejects_images_that_are_not_rgb_uint8() -> None:
    with pytest.raises(ValueError, match="HxWx3"):
        detect_faces(data.camera())
    with pytest.raises(ValueError, match="uint8"):
        detect_faces(data.astronaut().astype(np.float32))


def test_model_is_loaded_once() -> None:
    assert _session() is _session()
