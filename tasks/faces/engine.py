"""`FaceEngine`: which faces of a frame to replace, and with whom.

A mapping without a reference replaces every face; one with a reference replaces only the faces
whose identity embedding is within `match_threshold` of it. When several references match one
face, the nearest wins; a referenced mapping wins over a catch-all one. Frames with nothing to
replace come back as the very same array, so unchanged frames cost nothing downstream.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tasks.faces.detect import Face, detect_faces
from tasks.faces.embed import SAME_PERSON_DISTANCE, Embedding, distance, embed_face
from tasks.faces.images import load_image
from tasks.faces.swap_classical import SourceFace, paste_face, prepare_source
from tasks.spec import SpecError

__all__ = ["FaceEngine", "FrameResult", "Mapping", "load_image"]

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]

_TURNED_AWAY = 0.3  # nose offset from the eyes' midpoint, in eye distances


@dataclass(frozen=True, eq=False)
class Mapping:
    """Put the face in `source` on the person in `reference` (on everyone if None)."""

    source: Image
    reference: Image | None = None


@dataclass(frozen=True, eq=False)
class FrameResult:
    frame: Image
    faces_found: int
    faces_swapped: int


class FaceEngine:
    """Swaps faces frame by frame; build it once per unit of work, it holds the prepared faces."""

    def __init__(
        self, mappings: Sequence[Mapping], match_threshold: float = SAME_PERSON_DISTANCE
    ) -> None:
        if not mappings:
            raise SpecError("no face mappings given")
        if not match_threshold > 0:
            raise SpecError(f"match_threshold must be positive, got {match_threshold}")
        self._threshold = match_threshold
        self._sources: list[SourceFace] = []
        self._references: list[Embedding | None] = []
        # Numbered from 1 in messages: they are read by people filling in a form.
        for number, mapping in enumerate(mappings, start=1):
            self._sources.append(_prepare(mapping.source, f"face source {number}"))
            self._references.append(_reference(mapping.reference, f"face reference {number}"))
        self._needs_identity = any(r is not None for r in self._references)

    def process(self, frame: Image) -> FrameResult:
        faces = detect_faces(frame)
        plan = self._assign(frame, faces)
        if not plan:
            return FrameResult(frame=frame, faces_found=len(faces), faces_swapped=0)
        canvas = frame.copy()
        swapped = sum(paste_face(canvas, face, self._sources[i]) is not None for face, i in plan)
        if not swapped:
            return FrameResult(frame=frame, faces_found=len(faces), faces_swapped=0)
        return FrameResult(frame=canvas, faces_found=len(faces), faces_swapped=swapped)

    def _assign(self, frame: Image, faces: list[Face]) -> list[tuple[Face, int]]:
        """Each face paired with the index of the mapping that replaces it."""
        plan = []
        for face in faces:
            embedding = embed_face(frame, face) if self._needs_identity else None
            choice = self._choose(embedding)
            if choice is not None:
                plan.append((face, choice))
        return plan

    def _choose(self, embedding: Embedding | None) -> int | None:
        best: tuple[float, int] | None = None
        catch_all: int | None = None
        for index, reference in enumerate(self._references):
            if reference is None:
                catch_all = index if catch_all is None else catch_all
            elif embedding is not None:
                gap = distance(embedding, reference)
                if gap < self._threshold and (best is None or gap < best[0]):
                    best = (gap, index)
        return best[1] if best is not None else catch_all


def _single_face(image: Image, what: str) -> Face:
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3):
        raise SpecError(f"{what}: not an RGB uint8 image")
    if image.shape[2] != 3 or min(image.shape[:2]) < 8:
        raise SpecError(f"{what}: not an RGB uint8 image (shape {image.shape})")
    faces = detect_faces(image)
    if not faces:
        raise SpecError(f"{what}: no face found")
    if len(faces) > 1:
        raise SpecError(f"{what}: {len(faces)} faces found, need exactly one")
    return faces[0]


def _prepare(image: Image, what: str) -> SourceFace:
    face = _single_face(image, what)
    if _turn(face) > _TURNED_AWAY:
        log.warning("%s: the face is turned away from the camera; the swap will look wrong", what)
    return prepare_source(image, face)


def _reference(image: Image | None, what: str) -> Embedding | None:
    return None if image is None else embed_face(image, _single_face(image, what))


def _turn(face: Face) -> float:
    """How far the nose sits from the eyes' midpoint: about 0 for a frontal face."""
    eyes = face.kps[:2]
    span = max(float(np.linalg.norm(eyes[1] - eyes[0])), 1.0)
    return abs(float(face.kps[2, 0] - eyes[:, 0].mean())) / span
