"""How much each replaced face looks like its source: cosine similarity of identity embeddings.

For a few frames per shot (the thumbnail frame and others spread over the shot's swapped frames)
each face the swap wrote (`faces.json`, keypoints as smoothed) is embedded in the delivered film
and in the original frame and compared with the source of the mapping that wrote it, using the
model the render matched identities with: ArcFace from the model store when INSwapper did the
swap (its source latent is an ArcFace embedding), dlib's ResNet otherwise. The scales differ,
so each embedder has its own warning threshold:
- ArcFace: 0.35, a common same-person boundary for InsightFace's normed embeddings.
- dlib: 0.92; six different people of insightface's t1.jpg measured 0.81-0.905 pairwise, a
  face swapped onto another by the classical swapper measured 0.94 to its source.
The detector is run again on each original frame for the written face's detection score.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from tasks.faces import faces_log
from tasks.faces.align import Image
from tasks.faces.backend import Backend, NeuralSwapper
from tasks.faces.detect import Face
from tasks.faces.embed import embed_face
from tasks.faces.track import iou
from tasks.spec import ShotList, SpecError, UnitPlan

MIN_SIMILARITY = {"arcface": 0.35, "dlib": 0.92}
MIN_DETECTION = 0.6  # CenterFace/SCRFD keep faces from 0.5; clear faces score 0.85-0.95
SAMPLES = 3


class Embedder(Protocol):
    name: str

    def embed(self, image: Image, face: Face) -> np.ndarray: ...


class DlibEmbedder:
    name = "dlib"

    def embed(self, image: Image, face: Face) -> np.ndarray:
        return embed_face(image, face)


class ArcFaceEmbedder:
    name = "arcface"

    def __init__(self, swapper: NeuralSwapper) -> None:
        self.arcface = swapper.arcface

    def embed(self, image: Image, face: Face) -> np.ndarray:
        return self.arcface.embed(image, face)


def embedder_for(backend: Backend) -> Embedder:
    """The render's identity model: what fed the swapper, else what matched references."""
    if isinstance(backend.swapper, NeuralSwapper):
        return ArcFaceEmbedder(backend.swapper)
    return DlibEmbedder()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norm) if norm > 0 else 0.0


@dataclass(frozen=True)
class Thresholds:
    similarity: float
    detection: float

    @classmethod
    def from_env(cls, embedder: str) -> Thresholds:
        return cls(
            _env_float("RECAST_QC_MIN_SIMILARITY", MIN_SIMILARITY[embedder]),
            _env_float("RECAST_QC_MIN_DETECTION", MIN_DETECTION),
        )


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SpecError(f"{name}={raw!r} is not a number") from exc


@dataclass(frozen=True)
class WrittenFace:
    frame: int  # in the film
    track: int
    face: Face
    mapping: int | None = None  # which of the spec's faces wrote it (None: an older log)


@dataclass(frozen=True)
class FaceSample:
    """One replaced face in one frame, measured."""

    shot: int
    frame: int
    track: int
    to_source: float  # cosine similarity of the delivered face to its source face
    to_original: float  # ... to the face it replaced
    detection: float  # the detector's score for the original face (0: not found again)
    mapping: int | None = None  # the mapping whose source `to_source` compares with

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def written_faces(plan: UnitPlan, logs: dict[str, Any]) -> dict[int, list[WrittenFace]]:
    """Faces the swap wrote, by film frame, from each unit's `faces.json` (unit id -> JSON)."""
    out: dict[int, list[WrittenFace]] = {}
    for unit in plan.units:
        data = logs.get(unit.id)
        if not data:
            continue
        for frame, logged in faces_log.entries(data).items():
            at = unit.start_frame + frame
            out[at] = [WrittenFace(at, e.track, e.face, e.mapping) for e in logged]
    return out


def by_shot(shots: ShotList, frames: list[int]) -> list[list[int]]:
    """The sorted `frames` of each shot, in shot order: one bisection per shot, not a scan of
    every frame per shot (a feature has thousands of shots and tens of thousands of frames)."""
    cuts = [bisect.bisect_left(frames, s.start_frame) for s in shots.shots]
    return [frames[a:b] for a, b in zip(cuts, [*cuts[1:], len(frames)], strict=True)]


def sample_frames(shots: ShotList, written: Iterable[int], per_shot: int = SAMPLES) -> list[int]:
    """Up to `per_shot` frames with written faces per shot: the middle one, then spread out."""
    frames = sorted(set(written))
    chosen: list[int] = []
    for shot, inside in zip(shots.shots, by_shot(shots, frames), strict=True):
        if not inside:
            continue
        spread = np.linspace(0, len(inside) - 1, per_shot + 2)[1:-1]
        picks = {inside[round(float(p))] for p in spread}
        middle = (shot.start_frame + shot.end_frame - 1) // 2
        if middle in inside and middle not in picks:
            # The thumbnail's frame replaces the pick nearest to it.
            picks.remove(min(picks, key=lambda f: abs(f - middle)))
            picks.add(middle)
        chosen.extend(sorted(picks))
    return chosen


def _detection_score(detected: list[Face], face: Face) -> float:
    overlaps = [(iou(d.bbox, face.bbox), d.score) for d in detected]
    best = max(overlaps, default=(0.0, 0.0))
    return float(best[1]) if best[0] >= 0.3 else 0.0


def measure(
    *,
    shots: ShotList,
    written: dict[int, list[WrittenFace]],
    before: dict[int, Image],
    after: dict[int, Image],
    sources: list[np.ndarray],
    embedder: Embedder,
    backend: Backend,
) -> list[FaceSample]:
    """Each written face of the sampled frames (the keys of `before`), measured against the
    source of the mapping that wrote it (`sources` in the spec's order). A log written before
    the swap recorded mappings falls back to the source the face looks most like."""
    shot_of = {
        f: shot.index
        for shot, inside in zip(shots.shots, by_shot(shots, sorted(before)), strict=True)
        for f in inside
    }
    samples = []
    for frame in sorted(before):
        detected = backend.detector.detect_batch([before[frame]])[0]
        for w in written[frame]:
            delivered = embedder.embed(after[frame], w.face)
            original = embedder.embed(before[frame], w.face)
            mapping = _mapping(w, len(sources))
            if mapping is None:
                mapping = max(range(len(sources)), key=lambda m: cosine(delivered, sources[m]))
            samples.append(
                FaceSample(
                    shot=shot_of[frame],
                    frame=frame,
                    track=w.track,
                    to_source=cosine(delivered, sources[mapping]),
                    to_original=cosine(delivered, original),
                    detection=_detection_score(detected, w.face),
                    mapping=mapping,
                )
            )
    return samples


def _mapping(written: WrittenFace, count: int) -> int | None:
    if written.mapping is not None and not 0 <= written.mapping < count:
        raise SpecError(
            f"frame {written.frame}: the swap logged mapping {written.mapping}, "
            f"but the spec has {count} face mapping(s)"
        )
    return written.mapping


def source_embeddings(
    images: list[Image], embedder: Embedder, backend: Backend
) -> list[np.ndarray]:
    """Each mapping's source face (check_faces made sure there is exactly one), embedded."""
    out = []
    for number, image in enumerate(images, start=1):
        faces = backend.detector.detect_batch([image])[0]
        if len(faces) != 1:
            raise SpecError(f"face source {number}: {len(faces)} faces found, need exactly one")
        out.append(embedder.embed(image, faces[0]))
    return out
