"""Which faces QC measures: the swap's log mapped to film frames, sampled per shot."""

from __future__ import annotations

import numpy as np

from tasks.qc.identity import cosine, sample_frames, written_faces
from tasks.spec import Shot, ShotList, Unit, UnitPlan

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


def test_samples_take_the_middle_frame_then_spread_out_and_skip_empty_shots() -> None:
    frames = [*range(20), 22, 23]
    assert sample_frames(SHOTS, frames) == [5, 9, 14, 22, 23]
    assert sample_frames(SHOTS, frames, per_shot=1) == [9, 22]


def test_cosine() -> None:
    assert cosine(np.array([1.0, 0.0]), np.array([2.0, 0.0])) == 1.0
    assert abs(cosine(np.array([1.0, 0.0]), np.array([0.0, 3.0]))) < 1e-12
