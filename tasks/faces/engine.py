"""`FaceEngine`: which faces of a frame to replace, and with whom.

Each mapping selects faces one way: `reference` (the faces whose identity embedding is within
`match_threshold` of its reference image; the nearest reference wins), `largest` (the largest
face no reference claimed) or `all` (every face no other mapping claimed). A mapping with a
reference selects by it unless told otherwise; one without selects `all`.

`process_batch` works on consecutive frames of one shot: faces are tracked across frames,
their keypoints smoothed, and identity is decided once per track (re-checked every
RECAST_REID_EVERY frames until it matches, and again while faces cross), so the same person
keeps the same face. `process` treats a frame as a still. Frames with nothing to replace come
back as the very same array, so unchanged frames cost nothing downstream and stay bit-exact.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tasks.faces.backend import Backend, load_backend
from tasks.faces.detect import Face
from tasks.faces.embed import SAME_PERSON_DISTANCE, Embedding, distance, embed_face
from tasks.faces.images import load_image
from tasks.faces.settings import Settings
from tasks.faces.timing import Timings
from tasks.faces.track import Track, Tracker
from tasks.spec import FaceSelect as SelectMode
from tasks.spec import SpecError

__all__ = ["FaceEngine", "FrameResult", "Mapping", "SelectMode", "load_image"]

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]

_TURNED_AWAY = 0.3  # nose offset from the eyes' midpoint, in eye distances
_LARGEST_HYSTERESIS = 0.8  # the chosen face stays chosen until another is 1/0.8 times larger


@dataclass(frozen=True, eq=False)
class Mapping:
    """Put the face in `source` on the people `select` picks (see the module docstring)."""

    source: Image
    reference: Image | None = None
    select: SelectMode | None = None

    @property
    def mode(self) -> SelectMode:
        if self.select is not None:
            return self.select
        return "reference" if self.reference is not None else "all"


@dataclass(frozen=True, eq=False)
class FrameResult:
    frame: Image
    faces_found: int
    faces_swapped: int
    swapped: tuple[Face, ...] = ()  # the faces written, as smoothed
    tracks: tuple[int, ...] = ()  # their track ids, in the same order
    mappings: tuple[int, ...] = ()  # which mapping (index into the spec's faces) wrote each


class FaceEngine:
    """Swaps faces; build it once per unit of work, it holds the prepared faces and the tracks."""

    def __init__(
        self,
        mappings: Sequence[Mapping],
        match_threshold: float = SAME_PERSON_DISTANCE,
        backend: Backend | None = None,
        settings: Settings | None = None,
    ) -> None:
        if not mappings:
            raise SpecError("no face mappings given")
        if not match_threshold > 0:
            raise SpecError(f"match_threshold must be positive, got {match_threshold}")
        self.backend = backend or load_backend()
        self.settings = settings or Settings.from_env()
        self.timings = Timings()
        self._threshold = match_threshold
        self._sources: list[Any] = []
        self._references: list[Embedding | None] = []
        self._modes = [_check_mode(m, number) for number, m in enumerate(mappings, start=1)]
        # Numbered from 1 in messages: they are read by people filling in a form.
        for number, mapping in enumerate(mappings, start=1):
            self._sources.append(self._prepare(mapping.source, f"face source {number}"))
            self._references.append(
                self._reference(mapping.reference, f"face reference {number}")
                if self._modes[number - 1] == "reference"
                else None
            )
        self._largest = _first(self._modes, "largest")
        self._catch_all = _first(self._modes, "all")
        self._needs_identity = "reference" in self._modes
        self._tracker = Tracker()
        self._frame = 0
        self._largest_track: int | None = None

    def new_shot(self) -> None:
        """Forget the tracks: the next frames start a new shot."""
        self._tracker.reset()
        self._largest_track = None

    def process(self, frame: Image) -> FrameResult:
        """One frame as a still: no track carries over from, or to, other frames."""
        self.new_shot()
        try:
            return self.process_batch([frame])[0]
        finally:
            self.new_shot()

    def process_batch(self, frames: Sequence[Image]) -> list[FrameResult]:
        """Consecutive frames of one shot, detected and swapped as batches."""
        with self.timings.step("detect"):
            detections = self.backend.detector.detect_batch(frames)
        plans = [self._plan(frame, faces) for frame, faces in zip(frames, detections, strict=True)]
        canvases = [f.copy() if plan else f for f, plan in zip(frames, plans, strict=True)]
        jobs = [
            (i, face, self._sources[mapping])
            for i, plan in enumerate(plans)
            for _, face, mapping in plan
        ]
        written = iter(self.backend.swapper.apply(canvases, jobs, self.timings))
        results = []
        for i, (frame, faces, plan) in enumerate(zip(frames, detections, plans, strict=True)):
            done = [step for step in plan if next(written)]
            if not done:
                results.append(FrameResult(frame=frame, faces_found=len(faces), faces_swapped=0))
                continue
            results.append(
                FrameResult(
                    frame=canvases[i],
                    faces_found=len(faces),
                    faces_swapped=len(done),
                    swapped=tuple(face for _, face, _ in done),
                    tracks=tuple(track for track, _, _ in done),
                    mappings=tuple(mapping for _, _, mapping in done),
                )
            )
        return results

    def _plan(self, frame: Image, faces: list[Face]) -> list[tuple[int, Face, int]]:
        """(track id, smoothed face, mapping index) for each face to replace in this frame."""
        index = self._frame
        self._frame += 1
        tracked = self._tracker.update(faces, index)
        if self._needs_identity:
            with self.timings.step("identity"):
                for track, face in tracked:
                    self._identify(frame, track, face, index)
        chosen: dict[int, int] = {
            k: t.mapping for k, (t, _) in enumerate(tracked) if t.mapping is not None
        }
        if self._largest is not None:
            pick = self._pick_largest(tracked, chosen)
            if pick is not None:
                chosen[pick] = self._largest
        if self._catch_all is not None:
            for k in range(len(tracked)):
                chosen.setdefault(k, self._catch_all)
        return [(tracked[k][0].id, tracked[k][1], m) for k, m in sorted(chosen.items())]

    def _identify(self, frame: Image, track: Track, face: Face, index: int) -> None:
        """Decide who a track is: at its start, then every `reid_every` frames until matched,
        and again whenever the tracker asks (`recheck`: faces crossing)."""
        if track.recheck:
            self._recheck(track, embed_face(frame, face), index)
            return
        if track.mapping is not None:
            return
        last = track.checked_frame
        if last is not None and index - last < self.settings.reid_every:
            return
        track.checked_frame = index
        track.mapping, track.distance = self._nearest(embed_face(frame, face))

    def _recheck(self, track: Track, embedding: Embedding, index: int) -> None:
        """Who a track is while its face is near another's and just after they part (the
        tracker may have handed the faces over); a face recognised as nobody (half hidden,
        turned) keeps what was decided."""
        track.recheck = False
        track.checked_frame = index
        mapping, gap = self._nearest(embedding)
        if mapping is None:
            return
        if mapping != track.mapping:
            log.info("track %d is face mapping %d after crossing", track.id, mapping + 1)
            for other in self._tracker.tracks:
                if other is not track and other.mapping == mapping and other.since_near is not None:
                    # Handed over with this one: swap back, so that the other is right even
                    # while its face is too hidden to recognise.
                    other.mapping = track.mapping
        track.mapping, track.distance = mapping, gap

    def _nearest(self, embedding: Embedding) -> tuple[int | None, float | None]:
        best: tuple[float, int] | None = None
        for index, reference in enumerate(self._references):
            if reference is None:
                continue
            gap = distance(embedding, reference)
            if gap < self._threshold and (best is None or gap < best[0]):
                best = (gap, index)
        return (best[1], best[0]) if best is not None else (None, None)

    def _pick_largest(self, tracked: list[tuple[Track, Face]], taken: dict[int, int]) -> int | None:
        free = [k for k in range(len(tracked)) if k not in taken]
        if not free:
            return None
        area = {k: tracked[k][1].width * tracked[k][1].height for k in free}
        best = max(free, key=lambda k: area[k])
        held = next((k for k in free if tracked[k][0].id == self._largest_track), None)
        if held is not None and area[held] >= _LARGEST_HYSTERESIS * area[best]:
            best = held  # no flip-flopping between two faces of about the same size
        self._largest_track = tracked[best][0].id
        return best

    def _single_face(self, image: Image, what: str) -> Face:
        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3):
            raise SpecError(f"{what}: not an RGB uint8 image")
        if image.shape[2] != 3 or min(image.shape[:2]) < 8:
            raise SpecError(f"{what}: not an RGB uint8 image (shape {image.shape})")
        faces = self.backend.detector.detect_batch([image])[0]
        if not faces:
            raise SpecError(f"{what}: no face found")
        if len(faces) > 1:
            raise SpecError(f"{what}: {len(faces)} faces found, need exactly one")
        return faces[0]

    def _prepare(self, image: Image, what: str) -> Any:
        face = self._single_face(image, what)
        if _turn(face) > _TURNED_AWAY:
            log.warning(
                "%s: the face is turned away from the camera; the swap will look wrong", what
            )
        return self.backend.swapper.prepare(image, face)

    def _reference(self, image: Image | None, what: str) -> Embedding:
        if image is None:
            raise SpecError(f"{what}: select=reference needs a reference image")
        return embed_face(image, self._single_face(image, what))


def _check_mode(mapping: Mapping, number: int) -> SelectMode:
    mode = mapping.mode
    if mode != "reference" and mapping.reference is not None:
        raise SpecError(f"face mapping {number}: a reference is only used with select=reference")
    if mode == "reference" and mapping.reference is None:
        raise SpecError(f"face mapping {number}: select=reference needs a reference image")
    return mode


def _first(modes: list[SelectMode], mode: SelectMode) -> int | None:
    return next((i for i, m in enumerate(modes) if m == mode), None)


def _turn(face: Face) -> float:
    """How far the nose sits from the eyes' midpoint: about 0 for a frontal face."""
    eyes = face.kps[:2]
    span = max(float(np.linalg.norm(eyes[1] - eyes[0])), 1.0)
    return abs(float(face.kps[2, 0] - eyes[:, 0].mean())) / span
