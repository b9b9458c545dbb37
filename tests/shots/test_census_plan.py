"""The plan stage balances units by frames x faces when the run holds a census of its shots."""

from __future__ import annotations

import random
from pathlib import Path

from tasks import storage
from tasks.layout import RunLayout
from tasks.shots.census import Census, ShotFaces
from tasks.spec import Shot, ShotList, UnitPlan
from tasks.stages import plan


def _run(tmp_path: Path) -> tuple[RunLayout, ShotList, dict[int, int]]:
    rng = random.Random(7)
    shots, start = [], 0
    for i in range(400):
        length = rng.randint(20, 200)
        shots.append(Shot(index=i, start_frame=start, end_frame=start + length))
        start += length
    shot_list = ShotList(fps="25", frame_count=start, shots=shots)
    # Faces come in runs (a dialogue scene, then landscapes), as films have them.
    faces = {i: [0, 1, 4][i // 40 % 3] for i in range(len(shots))}
    layout = RunLayout(str(tmp_path / "runs" / "r1"))
    spec = {"asset": "s3://b/film.mp4", "faces": [{"source": "s3://b/face.png"}]}
    storage.write_json(layout.spec, spec)
    storage.write_json(layout.shots, shot_list.model_dump())
    return layout, shot_list, faces


def _write_census(layout: RunLayout, shots: ShotList, faces: dict[int, int]) -> None:
    counted = [ShotFaces(index=i, faces=n, samples=3) for i, n in faces.items()]
    census = Census(detector="centerface", every=12, width=320, frame_count=shots.frame_count,
                    seconds=1.0, shots=counted)  # fmt: skip
    storage.write_json(layout.census, census.model_dump())


def _costs(layout: RunLayout, shots: ShotList, faces: dict[int, int]) -> list[int]:
    """Each unit's frames x faces (at least one face a frame: every frame is searched)."""
    units = UnitPlan.model_validate(storage.read_json(layout.plan)).units
    per_frame = [max(1, faces[s.index]) for s in shots.shots for _ in range(s.frames)]
    return [sum(per_frame[u.start_frame : u.end_frame]) for u in units]


def _spread(costs: list[int]) -> float:
    """The heaviest unit over the mean unit (1.0: perfectly balanced)."""
    return max(costs) / (sum(costs) / len(costs))


def test_census_balances_units_by_frames_times_faces(tmp_path: Path) -> None:
    layout, shots, faces = _run(tmp_path)  # the spec's defaults: 256 units, 480 frames
    by_frames = plan.run(layout.prefix)
    assert by_frames["face_counts"] is False
    frames_costs = _costs(layout, shots, faces)

    _write_census(layout, shots, faces)
    by_faces = plan.run(layout.prefix)
    assert by_faces["face_counts"] is True
    assert len(frames_costs) < len(by_faces["units"]) <= 256
    faces_costs = _costs(layout, shots, faces)
    assert _spread(faces_costs) < 0.8 * _spread(frames_costs)
    # The slowest pod (the heaviest unit) has at most 60% of the work it had.
    assert max(faces_costs) < 0.6 * max(frames_costs)


def test_a_census_of_other_shots_is_ignored(tmp_path: Path) -> None:
    layout, shots, faces = _run(tmp_path)
    stale = shots.model_copy(update={"frame_count": shots.frame_count + 1})
    _write_census(layout, stale, faces)
    assert plan.run(layout.prefix)["face_counts"] is False
    storage.write_json(layout.census, {"not": "a census"})
    assert plan.run(layout.prefix)["face_counts"] is False
