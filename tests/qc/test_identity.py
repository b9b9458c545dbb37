"""Which faces QC measures: the swap's log mapped to film frames, sampled per shot."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tasks.faces.detect import Face
from tasks.qc.identity import (
    WrittenFace,
    by_shot,
    cosine,
    measure,
    sample_frames,
    written_faces,
)
from tasks.spec import Shot, ShotList, SpecError, Unit, UnitPlan

SHOTS = ShotList(
    fps="24",
    frame_count=40,
    shots=[
        Shot(index=0, start_frame=0, end_frame=20),
        Shot(index=1, start_frame=20, end_frame=30),
        Shot(index=2, start_frame=30, end_frame=40),
    ],
)
FACE = {"track": 3, "kps": [[1, 2]] * 5, "bbox": [0, 0, 10, 10]}


def test_logged_frames_are_numbered_from_each_units_start() -> None:
    plan = UnitPlan(
        fps="24",
        frame_count=40,
        units=[
            Unit(id="u0000-00000000", index=0, start_frame=0, end_frame=20, shots=[0]),
            Unit(id="u0001-00000000", index=1, start_frame=20, end_frame=40, shots=[1, 2]),
        ],
    )
    logs = {
        "u0000-00000000": {"frames": {"4": [FACE]}},
        "u0001-00000000": {"frames": {"1": [FACE]}},
    }
    written = written_faces(plan, logs)
    assert sorted(written) == [4, 21]
    assert written[21][0].track == 3 and written[21][0].frame == 21
    # A log from before the swap recorded its mappings reads back with none.
    assert written[21][0].mapping is None


def test_logged_mappings_are_carried_to_each_face() -> None:
    unit = Unit(id="u0000-00000000", index=0, start_frame=10, end_frame=20, shots=[0])
    plan = UnitPlan(fps="24", frame_count=20, units=[unit])
    faces = [{**FACE, "track": 0, "mapping": 1}, {**FACE, "track": 1, "mapping": 0}]
    written = written_faces(plan, {unit.id: {"frames": {"2": faces}}})
    assert [(w.frame, w.track, w.mapping) for w in written[12]] == [(12, 0, 1), (12, 1, 0)]


class _Embedder:
    """A face's "embedding" is the colour of the frame's first pixel."""

    name = "stub"

    def embed(self, image: np.ndarray, face: Face) -> np.ndarray:
        return image[0, 0].astype(np.float64)


def _no_faces(frames: Sequence[np.ndarray]) -> list[list[Face]]:
    return [[] for _ in frames]


def _measure(mapping: int | None) -> Any:
    face = Face(bbox=(0.0, 0.0, 10.0, 10.0), kps=np.zeros((5, 2), np.float32), score=0.9)
    frame = 5
    before = {frame: np.full((4, 4, 3), (0, 0, 9), np.uint8)}
    after = {frame: np.full((4, 4, 3), (10, 1, 0), np.uint8)}
    sources = [np.array([1.0, 10.0, 0.0]), np.array([10.0, 0.0, 0.0])]
    (sample,) = measure(
        shots=SHOTS,
        written={frame: [WrittenFace(frame, 7, face, mapping)]},
        before=before,
        after=after,
        sources=sources,
        embedder=_Embedder(),
        backend=SimpleNamespace(detector=SimpleNamespace(detect_batch=_no_faces)),  # type: ignore[arg-type]
    )
    return sample, [cosine(after[frame][0, 0], s) for s in sources]


def test_a_face_is_scored_against_the_source_of_the_mapping_that_wrote_it() -> None:
    # The delivered face looks more like source 1, but mapping 0 wrote it: 0 is what counts.
    sample, to = _measure(0)
    assert to[1] > to[0]
    assert (sample.mapping, sample.to_source) == (0, to[0])
    assert sample.as_dict()["mapping"] == 0
    # Without a logged mapping (an older faces.json): the source it looks most like.
    sample, to = _measure(None)
    assert (sample.mapping, sample.to_source) == (1, to[1])
    with pytest.raises(SpecError, match="logged mapping 2, but the spec has 2 face mapping"):
        _measure(2)


def test_samples_take_the_middle_frame_then_spread_out_and_skip_empty_shots() -> None:
    frames = [*range(20), 22, 23]
    assert sample_frames(SHOTS, frames) == [5, 9, 14, 22, 23]
    assert sample_frames(SHOTS, frames, per_shot=1) == [9, 22]


def test_cosine() -> None:
    assert cosine(np.array([1.0, 0.0]), np.array([2.0, 0.0])) == 1.0
    assert abs(cosine(np.array([1.0, 0.0]), np.array([0.0, 3.0]))) < 1e-12


def test_frames_are_grouped_by_shot_as_a_scan_of_each_shot_would() -> None:
    rng = np.random.default_rng(3)
    bounds = sorted({0, 5000, *rng.integers(1, 5000, 300).tolist()})
    shots = ShotList(
        fps="24",
        frame_count=5000,
        shots=[
            Shot(index=i, start_frame=a, end_frame=b) for i, (a, b) in enumerate(pairwise(bounds))
        ],
    )
    frames = sorted(set(rng.integers(0, 5000, 1200).tolist()))
    expected = [[f for f in frames if s.start_frame <= f < s.end_frame] for s in shots.shots]
    assert by_shot(shots, frames) == expected
