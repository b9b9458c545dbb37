"""plan_units(): contiguous units of whole shots, capped, covering every frame once."""

from __future__ import annotations

import random
import re

import pytest

from tasks.shots.plan import plan_units
from tasks.spec import Shot, ShotList, SpecError, UnitPlan


def _shots(lengths: list[int]) -> ShotList:
    shots, start = [], 0
    for i, length in enumerate(lengths):
        shots.append(Shot(index=i, start_frame=start, end_frame=start + length))
        start += length
    return ShotList(fps="24000/1001", frame_count=start, shots=shots)


def _assert_covers(plan: UnitPlan, shots: ShotList) -> None:
    expected = 0
    for i, unit in enumerate(plan.units):
        assert (unit.index, unit.start_frame) == (i, expected)
        touched = [s.index for s in shots.shots if s.start_frame < unit.end_frame
                   and s.end_frame > unit.start_frame]  # fmt: skip
        assert unit.shots == touched
        expected = unit.end_frame
    assert expected == shots.frame_count == plan.frame_count


@pytest.fixture(scope="module")
def many_shots() -> ShotList:
    rng = random.Random(5)
    return _shots([rng.randint(1, 700) for _ in range(5000)])


def test_many_shots_within_cap(many_shots: ShotList) -> None:
    plan = plan_units(many_shots, seed="film-a")
    assert len(plan.units) <= 256
    _assert_covers(plan, many_shots)
    assert all(re.fullmatch(r"u\d{4}-[0-9a-f]{8}", u.id) for u in plan.units)
    assert len({u.id for u in plan.units}) == len(plan.units)
    # Balanced: no unit is far above the even share.
    assert max(u.frames for u in plan.units) <= 1.25 * many_shots.frame_count / len(plan.units)


def test_ids_are_deterministic(many_shots: ShotList) -> None:
    first = plan_units(many_shots, seed="film-a")
    assert plan_units(many_shots, seed="film-a") == first
    other = plan_units(many_shots, seed="film-b")
    assert [u.id for u in other.units] != [u.id for u in first.units]
    assert [(u.start_frame, u.end_frame) for u in other.units] == [
        (u.start_frame, u.end_frame) for u in first.units
    ]


def test_short_shots_are_never_split() -> None:
    shots = _shots([100, 250, 90, 300, 40, 480, 10])
    plan = plan_units(shots, max_unit_frames=480)
    _assert_covers(plan, shots)
    for shot in shots.shots:
        assert sum(shot.index in u.shots for u in plan.units) == 1
    assert all(u.frames <= 480 for u in plan.units)


def test_long_shot_is_chunked() -> None:
    shots = _shots([50, 2000, 30])
    plan = plan_units(shots, max_unit_frames=480)
    _assert_covers(plan, shots)
    assert all(u.frames <= 480 for u in plan.units)
    chunks = [u for u in plan.units if 1 in u.shots]
    assert len(chunks) >= 5
    assert sum(min(u.end_frame, 2050) - max(u.start_frame, 50) for u in chunks) == 2000


def test_units_grow_to_respect_max_units() -> None:
    shots = _shots([100] * 100)
    plan = plan_units(shots, max_units=10, max_unit_frames=50)
    assert len(plan.units) <= 10
    _assert_covers(plan, shots)


def test_one_unit_when_allowed_only_one() -> None:
    shots = _shots([5, 7, 9])
    plan = plan_units(shots, max_units=1, max_unit_frames=4)
    assert [(u.start_frame, u.end_frame, u.shots) for u in plan.units] == [(0, 21, [0, 1, 2])]


def test_refuses_zero_caps() -> None:
    with pytest.raises(SpecError):
        plan_units(_shots([5]), max_units=0)


def test_units_balance_frames_times_faces() -> None:
    rng = random.Random(11)
    lengths = [rng.randint(1, 300) for _ in range(5000)]
    shots = _shots(lengths)
    faces = {i: rng.choice([0, 1, 1, 2, 5]) for i in range(len(lengths))}
    plan = plan_units(shots, max_units=200, max_unit_frames=6000, seed="f", faces=faces)
    assert len(plan.units) <= 200
    _assert_covers(plan, shots)
    per_frame = [max(1, faces[s.index]) for s in shots.shots for _ in range(s.frames)]
    costs = [sum(per_frame[u.start_frame : u.end_frame]) for u in plan.units]
    assert max(costs) <= 1.3 * sum(costs) / len(costs)
    # Face-heavy units hold fewer frames than face-free ones.
    by_cost = sorted(plan.units, key=lambda u: costs[u.index] / u.frames)
    assert by_cost[0].frames > by_cost[-1].frames


def test_cap_stays_under_airflow_map_length() -> None:
    with pytest.raises(SpecError, match="1023"):
        plan_units(_shots([5]), max_units=1024)
    rng = random.Random(3)
    shots = _shots([rng.randint(1, 40) for _ in range(5000)])
    plan = plan_units(shots, max_units=1023, max_unit_frames=1)
    assert len(plan.units) <= 1023
    _assert_covers(plan, shots)


def test_the_same_faces_everywhere_plan_as_frames(many_shots: ShotList) -> None:
    same = {s.index: 3 for s in many_shots.shots}
    assert plan_units(many_shots, seed="f", faces=same) == plan_units(many_shots, seed="f")


def test_face_heavy_stretches_get_more_shorter_units() -> None:
    shots = _shots([3000, 3000])  # 3000 frames without faces, then 3000 with four
    plan = plan_units(shots, max_unit_frames=480, faces={0: 0, 1: 4})
    _assert_covers(plan, shots)
    empty = [u.frames for u in plan.units if u.end_frame <= 3000]
    crowded = [u.frames for u in plan.units if u.start_frame >= 3000]
    assert max(crowded) < min(empty) <= 480
    assert len(plan.units) > len(plan_units(shots, max_unit_frames=480).units)


def test_face_counts_never_cost_more_units_than_allowed() -> None:
    # Heavy shots cut into shorter chunks pack worse: 6 groups here, over the cap of 5.
    shots = _shots([22, 27, 51, 13, 17])
    plan = plan_units(shots, max_units=5, max_unit_frames=32, faces={2: 3, 3: 3, 4: 0})
    assert len(plan.units) <= 5
    _assert_covers(plan, shots)
