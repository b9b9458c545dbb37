"""Face tracks across the frames of one shot: IoU matching and keypoint smoothing.

Each track predicts where its face is now (its last detected box moved on at its recent
velocity); a detection joins the track whose prediction overlaps it most (greedy, IoU >=
`IOU_MIN`), and a track unseen for `MAX_MISSING` frames ends. Matching on the last box instead
swaps two people who walk past each other: the one passing behind reappears next to where the
other was last seen. Keypoints go through a one-euro filter scaled to the face size: still
faces are held steady (no jitter from detection noise), fast ones follow with little lag.
Tracks also carry who the face is, so identity is decided once per track. Prediction fails
when people stop or turn back while one hides the other, so a track is also flagged
(`recheck`) in each frame its face is seen near another's and in the few frames after they
part (the first may still show a face half hidden), for the engine to check who it is again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tasks.faces.detect import Face, FloatArray

Box = tuple[float, float, float, float]

IOU_MIN = 0.3
MAX_MISSING = 3
_MIN_CUTOFF = 0.05  # cycles per frame for a still face: lower is steadier
_BETA = 4.0  # how fast the cutoff rises with speed (face sizes per frame)
_D_CUTOFF = 0.3
_VELOCITY_GAIN = 0.5  # weight of the newest step in the velocity estimate (pixels per frame)
_NEAR_IOU = 0.02  # faces whose boxes overlap this much may be taken for each other
_RECHECK_AFTER = 3  # frames after parting in which identity is checked again (one may be hidden)


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _shift(box: Box, dx: float, dy: float) -> Box:
    return box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy


def _centre(box: Box) -> FloatArray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)


def _alpha(cutoff: float) -> float:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau)  # one frame per step


@dataclass(eq=False)
class Track:
    id: int
    face: Face  # smoothed
    last_frame: int
    mapping: int | None = None  # decided by identity (reference mappings)
    checked_frame: int | None = None  # when identity was last computed
    distance: float | None = None
    look: FloatArray | None = None  # appearance when identity was last computed
    checked_width: float = 0.0  # face width then
    since_near: int | None = None  # frames seen since its face was last near another's
    recheck: bool = False  # set by the tracker, cleared by whoever checks who the face is
    box: Box = field(init=False)  # last detected, unsmoothed
    velocity: FloatArray = field(default_factory=lambda: np.zeros(2, np.float32))
    _speed: FloatArray = field(default_factory=lambda: np.zeros(2, np.float32))

    def __post_init__(self) -> None:
        self.box = self.face.bbox

    def predict(self, frame: int) -> Box:
        """Where the face should be at `frame`, moving on as it last moved."""
        dx, dy = self.velocity * (frame - self.last_frame)
        return _shift(self.box, float(dx), float(dy))

    def smooth(self, face: Face, frame: int) -> Face:
        scale = max(float(np.linalg.norm(face.kps[1] - face.kps[0])), 1.0)
        # The face's motion is the mean shift of its points: per-point detector noise averages out.
        speed = (face.kps - self.face.kps).mean(axis=0) / scale
        a_d = _alpha(_D_CUTOFF)
        self._speed = a_d * speed + (1 - a_d) * self._speed
        cutoff = _MIN_CUTOFF + _BETA * float(np.linalg.norm(self._speed))
        a = _alpha(cutoff)
        kps = (a * face.kps + (1 - a) * self.face.kps).astype(np.float32)
        shift = kps.mean(axis=0) - face.kps.mean(axis=0)  # move the box with the points
        box = (
            face.bbox[0] + float(shift[0]),
            face.bbox[1] + float(shift[1]),
            face.bbox[2] + float(shift[0]),
            face.bbox[3] + float(shift[1]),
        )
        self.face = Face(bbox=box, kps=kps, score=face.score)
        step = (_centre(face.bbox) - _centre(self.box)) / max(frame - self.last_frame, 1)
        self.velocity = _VELOCITY_GAIN * step + (1 - _VELOCITY_GAIN) * self.velocity
        self.box = face.bbox
        self.last_frame = frame
        return self.face


class Tracker:
    def __init__(self) -> None:
        self.tracks: list[Track] = []
        self._next_id = 0

    def reset(self) -> None:
        """A new shot: nothing carries over a cut."""
        self.tracks = []

    def update(self, faces: list[Face], frame: int) -> list[tuple[Track, Face]]:
        """Each detection with its track and its smoothed face, in detection order."""
        self.tracks = [t for t in self.tracks if frame - t.last_frame <= MAX_MISSING]
        predicted = [t.predict(frame) for t in self.tracks]
        pairs = sorted(
            (
                (iou(box, f.bbox), ti, fi)
                for ti, box in enumerate(predicted)
                for fi, f in enumerate(faces)
            ),
            reverse=True,
        )
        owner: dict[int, Track] = {}
        used: set[int] = set()
        for overlap, ti, fi in pairs:
            if overlap < IOU_MIN:
                break
            if ti not in used and fi not in owner:
                owner[fi] = self.tracks[ti]
                used.add(ti)
        out = []
        for fi, face in enumerate(faces):
            track = owner.get(fi)
            if track is None:
                track = Track(id=self._next_id, face=face, last_frame=frame)
                self._next_id += 1
                self.tracks.append(track)
                out.append((track, face))
            else:
                out.append((track, track.smooth(face, frame)))
        self._mark_crossings(frame)
        return out

    def crowded(self, frame: int) -> bool:
        """Whether faces are, or are about to be, near each other at `frame` (predicted)."""
        if any(t.since_near is not None for t in self.tracks):
            return True
        boxes = [t.predict(frame) for t in self.tracks]
        return any(iou(a, b) >= _NEAR_IOU for i, a in enumerate(boxes) for b in boxes[i + 1 :])

    def _mark_crossings(self, frame: int) -> None:
        """Flag for `recheck` the tracks seen near another face, or within a few frames after."""
        boxes = [t.box if t.last_frame == frame else t.predict(frame) for t in self.tracks]
        for i, track in enumerate(self.tracks):
            seen = track.last_frame == frame
            if any(iou(boxes[i], b) >= _NEAR_IOU for j, b in enumerate(boxes) if j != i):
                track.since_near = 0
            elif track.since_near is not None and seen:
                track.since_near += 1
            if track.since_near is not None and track.since_near > _RECHECK_AFTER:
                track.since_near = None
            if seen and track.since_near is not None:
                track.recheck = True
