"""`FaceEngine`: which faces of a frame to replace, and with whom.

Each mapping selects faces one way: `reference` (the faces whose identity embedding is within
`match_threshold` of its reference image; the nearest reference wins), `largest` (the largest
face no reference claimed) or `all` (every face no other mapping claimed). A mapping with a
reference selects by it unless told otherwise; one without selects `all`.

`process_batch` works on consecutive frames of one shot: the whole frame is scanned for faces
on a shrunk copy, one frame in `detect_every`; faces are tracked across frames, each face being
replaced is re-detected on a crop around its track in every frame (`tasks.faces.sighting`) and
its keypoints smoothed; identity is decided once per track (again while it is unmatched and its
appearance jumps, and while faces cross), so the same person keeps the same face. `process`
treats a frame as a still. Frames with nothing to replace come back as the very same array, so
unchanged frames cost nothing downstream and stay bit-exact.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from tasks.faces import pose, sighting
from tasks.faces.align import estimate_transform
from tasks.faces.backend import Backend, load_backend
from tasks.faces.detect import Face, FloatArray
from tasks.faces.embed import SAME_PERSON_DISTANCE, Embedding, distance, embed_face
from tasks.faces.images import load_image
from tasks.faces.masks import FaceMemory, MaskSpec
from tasks.faces.settings import Settings
from tasks.faces.timing import Timings
from tasks.faces.track import Track, Tracker, iou
from tasks.spec import FaceSelect as SelectMode
from tasks.spec import SpecError

__all__ = ["FaceEngine", "FrameResult", "Mapping", "SelectMode", "load_image"]

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]

_TURNED_AWAY = 0.3  # nose offset from the eyes' midpoint, in eye distances
# Beyond this turn a frontal face cannot be laid on the head: the demo's 3/4-profile cameraman
# is at 0.36 on his first frames and 0.64-0.73 as the zoom closes in (still replaceable), t1's
# people at most 0.39; in profile the eyes close up and the figure passes 1.
PROFILE_TURN = 0.8
# Frames a track's turn must stay on the other side of PROFILE_TURN before the decision flips:
# keypoint jitter on a steady head (0.36 -> 0.6 for one frame seen) would otherwise leave one
# frame of the original face in the middle of a replaced shot.
TURN_FRAMES = 3
_LARGEST_HYSTERESIS = 0.8  # the chosen face stays chosen until another is 1/0.8 times larger
_LOOK = 16  # side of the thumbnail an unmatched face's appearance is followed by
_JUMP = 0.45  # mean change of the normalised thumbnail that calls for a new identity check
_SAME_FACE = 0.5  # IoU of a scanned and a refined face taken for the same face
_GROWN = 1.4  # or a face this much wider than when last checked (more pixels to recognise)
# A face narrower than this share of its width when last checked is not checked again on a
# jump: cut by the frame edge as it leaves, or further off, it shows less than it did (a face
# leaving t1's pan was embedded three more times at 80 ms of dlib each, to no avail).
_SHRUNK = 0.9


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
    # Faces chosen but left as they are, turned too far (track id, face, turn): for a compositor.
    compositor: tuple[tuple[int, Face, float], ...] = ()


class FaceEngine:
    """Swaps faces; build it once per unit of work, it holds the prepared faces and the tracks."""

    def __init__(
        self,
        mappings: Sequence[Mapping],
        match_threshold: float = SAME_PERSON_DISTANCE,
        backend: Backend | None = None,
        settings: Settings | None = None,
        masks: MaskSpec | None = None,
    ) -> None:
        if not mappings:
            raise SpecError("no face mappings given")
        if not match_threshold > 0:
            raise SpecError(f"match_threshold must be positive, got {match_threshold}")
        self.backend = backend or load_backend()
        self.settings = settings or Settings.from_env()
        self.masks = masks or MaskSpec()
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
        self._shot_frame = 0  # frames since the cut: the first frame of a shot is scanned
        self._last_scan = -1
        self._replaced: set[int] = set()  # tracks replaced in the previous frame
        self._turning: dict[int, tuple[bool, int]] = {}  # track -> (profile?, frames against)
        self._memories: dict[int, FaceMemory] = {}  # track -> its look, for the occlusion mask
        self._largest_track: int | None = None

    def new_shot(self) -> None:
        """Forget the tracks: the next frames start a new shot."""
        self._tracker.reset()
        self._largest_track = None
        self._shot_frame = 0
        self._replaced = set()
        self._turning = {}
        self._memories = {}

    def process(self, frame: Image) -> FrameResult:
        """One frame as a still: no track carries over from, or to, other frames."""
        self.new_shot()
        try:
            return self.process_batch([frame])[0]
        finally:
            self.new_shot()

    def process_batch(self, frames: Sequence[Image]) -> list[FrameResult]:
        """Consecutive frames of one shot: scanned (one in `detect_every`), refined, swapped."""
        every = self.settings.detect_every
        scanned = [i for i in range(len(frames)) if (self._shot_frame + i) % every == 0]
        with self.timings.step("detect"):
            found = sighting.scan(
                self.backend.detector, [frames[i] for i in scanned], self.settings.detect_side
            )
        detections: list[list[Face] | None] = [None] * len(frames)
        for i, seen in zip(scanned, found, strict=True):
            detections[i] = seen
        plans, counts, turned = [], [], []
        for frame, looked in zip(frames, detections, strict=True):
            plan, count = self._plan(frame, looked)
            # A face turned further than a frontal texture can follow is left as it is and
            # flagged: a pasted sticker is worse than a face a compositor replaces by hand.
            profile = {t for t, f, _ in plan if self._turned_away(t, f)}
            turned.append(tuple((t, f, round(_turn(f), 3)) for t, f, _ in plan if t in profile))
            plans.append([step for step in plan if step[0] not in profile])
            counts.append(count)
        canvases = [f.copy() if plan else f for f, plan in zip(frames, plans, strict=True)]
        jobs = [
            (i, face, self._sources[mapping])
            for i, plan in enumerate(plans)
            for _, face, mapping in plan
        ]
        written = iter(
            self.backend.swapper.apply(
                canvases, jobs, self.timings, self.masks, self._memories_of(plans)
            )
        )
        results = []
        for i, (frame, count, plan) in enumerate(zip(frames, counts, plans, strict=True)):
            done = [step for step in plan if next(written)]
            if not done:
                results.append(
                    FrameResult(
                        frame=frame, faces_found=count, faces_swapped=0, compositor=turned[i]
                    )
                )
                continue
            results.append(
                FrameResult(
                    frame=canvases[i],
                    faces_found=count,
                    faces_swapped=len(done),
                    swapped=tuple(face for _, face, _ in done),
                    tracks=tuple(track for track, _, _ in done),
                    mappings=tuple(mapping for _, _, mapping in done),
                    compositor=turned[i],
                )
            )
        return results

    def _memories_of(self, plans: list[list[tuple[int, Face, int]]]) -> list[FaceMemory | None]:
        """Each job's track memory (occlusion only), those of ended tracks let go."""
        if "occlusion" not in self.masks.kinds:
            return []
        alive = {t.id for t in self._tracker.tracks}
        self._memories = {k: m for k, m in self._memories.items() if k in alive}
        return [
            self._memories.setdefault(track, FaceMemory()) for plan in plans for track, _, _ in plan
        ]

    def _turned_away(self, track: int, face: Face) -> bool:
        """Whether the track counts as in profile: as its first frame looks, then flipping only
        after TURN_FRAMES frames in a row say otherwise."""
        over = _profile(face)
        state, against = self._turning.get(track, (over, 0))
        against = against + 1 if over != state else 0
        if against >= TURN_FRAMES:
            state, against = over, 0
        self._turning[track] = (state, against)
        return state

    def _plan(
        self, frame: Image, scanned: list[Face] | None
    ) -> tuple[list[tuple[int, Face, int]], int]:
        """(track id, smoothed face, mapping index) for each face to replace in this frame, and
        how many faces the frame holds. `scanned`: the whole-frame detections, None on a frame
        between scans (only the faces replaced in the previous frame are looked for)."""
        index = self._frame
        self._frame += 1
        self._shot_frame += 1
        # Faces near each other: a crop may show the wrong one; the whole frame decides.
        crowded = self._tracker.crowded(index)
        if crowded and scanned is None:
            with self.timings.step("detect"):
                scanned = sighting.scan(self.backend.detector, [frame], self.settings.detect_side)[
                    0
                ]
        refined = {} if crowded else self._refine(frame, index)
        if scanned is None:
            faces = [face for face in refined.values()]
            unseen = [t for t in self._tracker.tracks if t.id not in refined]
            count = len(faces) + sum(t.last_frame == self._last_scan for t in unseen)
        else:
            faces = _merge(scanned, list(refined.values()))
            self._last_scan = index
            count = len(faces)
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
        plan = [(tracked[k][0], tracked[k][1], m) for k, m in sorted(chosen.items())]
        if not crowded:
            plan = self._refine_new(frame, plan, set(refined))
        self._replaced = {track.id for track, _, _ in plan}
        return [(track.id, face, m) for track, face, m in plan], count

    def _refine(self, frame: Image, index: int) -> dict[int, Face]:
        """The faces replaced in the previous frame, re-detected where their tracks predict."""
        side = self.settings.refine_side
        tracks = [t for t in self._tracker.tracks if t.id in self._replaced]
        if not side or not tracks:
            return {}
        with self.timings.step("detect"):
            found = sighting.refine(
                self.backend.detector, frame, [t.predict(index) for t in tracks], side
            )
        return {t.id: f for t, f in zip(tracks, found, strict=True) if f is not None}

    def _refine_new(
        self, frame: Image, plan: list[tuple[Track, Face, int]], refined: set[int]
    ) -> list[tuple[Track, Face, int]]:
        """Faces replaced from this frame on (a new track, one just recognised) take refined
        keypoints at once, so the keypoints of a replaced face always come from `refine`."""
        side = self.settings.refine_side
        new = [k for k, (track, _, _) in enumerate(plan) if track.id not in refined]
        if not side or not new:
            return plan
        with self.timings.step("detect"):
            found = sighting.refine(
                self.backend.detector, frame, [plan[k][1].bbox for k in new], side
            )
        out = list(plan)
        for k, face in zip(new, found, strict=True):
            if face is not None:
                track, _, mapping = plan[k]
                track.face = face  # the filter restarts from the refined keypoints
                out[k] = (track, face, mapping)
        return out

    def _identify(self, frame: Image, track: Track, face: Face, index: int) -> None:
        """Decide who a track is: at its start, again while it is unmatched and its appearance
        jumps (it turned to the camera, came closer; or every `reid_every` frames if set), and
        while the tracker flags it (`recheck`: faces crossing) if its appearance jumped: two
        people standing side by side are not embedded again in every frame."""
        if track.mapping is not None and not track.recheck:
            return
        look = appearance(frame, face)
        if (
            track.checked_frame is not None
            and not track.recheck
            and not self._changed(track, look, face, index)
        ):
            track.recheck = False
            return
        embedding = embed_face(frame, face)
        if track.recheck:
            track.look = look
            self._recheck(track, embedding, index)
            return
        track.checked_frame, track.look, track.checked_width = index, look, face.width
        track.mapping, track.distance = self._nearest(embedding)

    def _changed(self, track: Track, look: FloatArray, face: Face, index: int) -> bool:
        every = self.settings.reid_every
        if every and track.mapping is None and index - (track.checked_frame or 0) >= every:
            return True
        if track.mapping is None and face.width > _GROWN * track.checked_width:
            return True
        if track.mapping is None and face.width < _SHRUNK * track.checked_width:
            return False  # less face than when checked (leaving the frame, moving off)
        return track.look is None or float(np.abs(look - track.look).mean()) > _JUMP

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


def _merge(scanned: list[Face], refined: list[Face]) -> list[Face]:
    """The scan's faces, each replaced by the refined look at it where there is one (one to
    one, best overlap first); refined faces the shrunk scan missed are kept."""
    pairs = sorted(
        (
            (iou(s.bbox, r.bbox), si, ri)
            for si, s in enumerate(scanned)
            for ri, r in enumerate(refined)
        ),
        reverse=True,
    )
    taken: set[int] = set()
    used: set[int] = set()
    for overlap, si, ri in pairs:
        if overlap < _SAME_FACE:
            break
        if si not in taken and ri not in used:
            taken.add(si)
            used.add(ri)
    return refined + [face for si, face in enumerate(scanned) if si not in taken]


def appearance(frame: Image, face: Face) -> FloatArray:
    """A face's look in brief: a small grey thumbnail aligned on its smoothed keypoints (box
    edges jitter by several pixels from frame to frame), zero mean, unit spread."""
    matrix = estimate_transform(face.kps, 128)
    matrix[:2] *= _LOOK / 128  # the same template, at thumbnail size
    small = cv2.warpAffine(frame, matrix, (_LOOK, _LOOK), flags=cv2.INTER_AREA)
    look = cv2.cvtColor(np.asarray(small, np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return np.asarray((look - look.mean()) / max(float(look.std()), 1.0), np.float32)


def _first(modes: list[SelectMode], mode: SelectMode) -> int | None:
    return next((i for i, m in enumerate(modes) if m == mode), None)


def _profile(face: Face) -> bool:
    return _turn(face) > PROFILE_TURN


def _turn(face: Face) -> float:
    """How far the nose sits from the eyes' midpoint: about 0 for a frontal face."""
    return abs(pose.turn(face.kps))
