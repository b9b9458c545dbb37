"""On public-domain faces: a swap moves identity to the source (dlib's ResNet as the judge).

The classical (offline) swapper keeps the target's skin tones and the outline of the head: on
t1's six people it still lands nearer the source than the original for every one.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from tasks.faces import FaceEngine, Mapping
from tasks.faces.detect import Face, detect_faces
from tasks.faces.embed import distance, embed_face


def _near(faces: list[Face], face: Face) -> Face:
    return min(faces, key=lambda f: abs(f.bbox[0] - face.bbox[0]) + abs(f.bbox[1] - face.bbox[1]))


@pytest.mark.parametrize("index", range(6))
def test_swapped_face_is_closer_to_the_source_than_to_the_original(
    t1: np.ndarray, index: int
) -> None:
    source = data.astronaut()
    target = sorted(detect_faces(t1), key=lambda f: f.bbox[0])[index]
    x1, y1, x2, y2 = (int(v) for v in target.bbox)
    pad = (x2 - x1) // 2
    frame = np.ascontiguousarray(t1[max(0, y1 - pad) : y2 + pad, max(0, x1 - pad) : x2 + pad])
    result = FaceEngine([Mapping(source=source)]).process(frame)
    assert result.faces_swapped == 1

    before = detect_faces(frame)[0]
    wanted = embed_face(source, detect_faces(source)[0])
    original = embed_face(frame, before)
    swapped = embed_face(result.frame, _near(detect_faces(result.frame), before))
    assert distance(swapped, wanted) < distance(swapped, original)


def test_frames_without_faces_are_bit_exact() -> None:
    untouched = np.full((120, 160, 3), 70, np.uint8)
    assert FaceEngine([Mapping(source=data.astronaut())]).process(untouched).frame is untouched


def test_the_demo_swap_moves_the_cameraman_towards_the_astronaut() -> None:
    """The demo's direction: a 3/4-profile grey target, a frontal colour source."""
    source = data.astronaut()
    frame = np.ascontiguousarray(np.stack([data.camera()] * 3, axis=-1))
    result = FaceEngine([Mapping(source=source)]).process(frame)
    assert result.faces_swapped == 1

    before = detect_faces(frame)[0]
    swapped = embed_face(result.frame, _near(detect_faces(result.frame), before))
    wanted = embed_face(source, detect_faces(source)[0])
    assert distance(swapped, wanted) < distance(swapped, embed_face(frame, before))
