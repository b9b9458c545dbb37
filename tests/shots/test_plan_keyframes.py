"""plan_units(starts=...): unit boundaries moved onto the source's clean starts, all or none."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from tasks.shots.plan import SNAP_SHARE, plan_units, unit_id
from tasks.spec import CleanStarts, ShotList, UnitPlan

from .test_plan import _assert_covers, _shots


def _gop_starts(frame_count: int, gop: int, extra: set[int], rng: random.Random) -> CleanStarts:
    """A long-GOP encoder's keyframes: every `gop` frames or sooner (scene cuts in `extra`)."""
    frames, last = set(), 0
    for frame in range(frame_count):
        if frame == 0 or frame - last >= gop or (frame in extra and rng.random() < 0.7):
            frames.add(frame)
            last = frame
    return CleanStarts.of(sorted(frames), frame_count)


def _bounds(plan: UnitPlan) -> list[int]:
    return [u.start_frame for u in plan.units[1:]]


def test_clean_starts_are_stored_as_ranges_and_found_nearest() -> None:
    starts = CleanStarts.of([0, 1, 2, 3, 10, 20, 21], 30)
    assert starts.ranges == [(0, 4), (10, 11), (20, 22)]
    assert [starts.nearest(f) for f in (2, 5, 6, 7, 8, 15, 16, 25, 29)] == [
        2, 3, 3, 10, 10, 10, 20, 21, 21,
    ]  # fmt: skip
    assert 21 in starts and 4 not in starts
    every = CleanStarts.of(range(170_000), 170_000)  # a 2-hour intra-only film: one range
    assert len(every.model_dump_json()) < 100
    assert CleanStarts.model_validate_json(every.model_dump_json()) == every


@pytest.mark.parametrize("ranges", [[(0, 5), (5, 9)], [(4, 6), (0, 2)], [(0, 31)], [(3, 3)]])
def test_clean_starts_refuse_ranges_out_of_order(ranges: list[tuple[int, int]]) -> None:
    with pytest.raises(ValidationError):
        CleanStarts(frame_count=30, ranges=ranges)


def test_random_films_snap_all_boundaries_or_none() -> None:
    rng = random.Random(42)
    snapped = kept = 0
    for trial in range(150):
        shots = _shots([rng.randint(1, 400) for _ in range(rng.randint(1, 120))])
        n = shots.frame_count
        cap = rng.choice([24, 96, 240, 480])
        cuts = {s.start_frame for s in shots.shots}
        starts = _gop_starts(n, rng.choice([12, 48, 250]), cuts, rng)
        faces = {s.index: rng.choice([0, 1, 3]) for s in shots.shots} if trial % 2 else None
        kwargs = {"max_units": 1023, "max_unit_frames": cap, "seed": "s", "faces": faces}
        base = plan_units(shots, **kwargs)  # type: ignore[arg-type]
        plan = plan_units(shots, **kwargs, starts=starts)  # type: ignore[arg-type]
        _assert_covers(plan, shots)
        assert len(plan.units) <= len(base.units) <= 1023
        assert all(u.id == unit_id(u.index, u.start_frame, u.end_frame, "s") for u in plan.units)
        reach = max(cap, -(-n // 1023)) // SNAP_SHARE
        nearest = [starts.nearest(b) for b in _bounds(base)]
        moves = zip(nearest, _bounds(base), strict=True)
        if all(c is not None and abs(c - b) <= reach for c, b in moves):
            snapped += 1
            assert all(u.start_frame in starts for u in plan.units)
            assert _bounds(plan) == sorted(set(nearest) - {0})  # the nearest, merged when equal
            assert (
                max(u.frames for u in plan.units) <= max(u.frames for u in base.units) + 2 * reach
            )
        else:
            kept += 1
            assert plan == base  # one boundary too far: planned exactly as without starts
    assert snapped > 20 and kept > 20  # both branches were exercised


def test_unit_cap_is_kept_when_the_film_needs_every_unit() -> None:
    rng = random.Random(9)
    shots = _shots([rng.randint(50, 400) for _ in range(600)])
    starts = _gop_starts(shots.frame_count, 48, set(), rng)  # no keyframe at any cut
    plan = plan_units(shots, max_units=40, max_unit_frames=100, starts=starts)
    assert len(plan.units) <= 40
    _assert_covers(plan, shots)
    assert all(u.start_frame in starts for u in plan.units)


def test_boundaries_move_to_the_nearest_keyframe() -> None:
    shots = _shots([200, 200, 200, 200])  # units [0, 400), [400, 800) under a cap of 480
    plan = plan_units(shots, max_unit_frames=480, starts=CleanStarts.of(range(0, 800, 48), 800))
    assert [(u.start_frame, u.end_frame, u.shots) for u in plan.units] == [
        (0, 384, [0, 1]),
        (384, 800, [1, 2, 3]),  # a unit starting mid-shot lists that shot
    ]


def test_a_boundary_too_far_from_any_keyframe_keeps_the_cuts() -> None:
    shots = _shots([200, 200, 200, 200])
    # The boundary at 400 (shots 0-1 | 2-3) is 300 frames from either start, over 480 / 2.
    far = CleanStarts.of([0, 100, 700], 800)
    assert plan_units(shots, max_unit_frames=480, starts=far) == plan_units(shots)
    near = CleanStarts.of([0, 250, 700], 800)  # 150 frames from it: within reach
    assert [u.start_frame for u in plan_units(shots, max_unit_frames=480, starts=near).units] == [
        0,
        250,
    ]


def test_two_boundaries_on_one_keyframe_merge_their_units() -> None:
    shots = _shots([475, 10, 475])  # on the cuts: 475, 10 and 475 frames
    assert len(plan_units(shots, max_unit_frames=480).units) == 3
    plan = plan_units(shots, max_unit_frames=480, starts=CleanStarts.of([0, 250, 500, 750], 960))
    assert [(u.start_frame, u.end_frame, u.shots) for u in plan.units] == [
        (0, 500, [0, 1, 2]),
        (500, 960, [2]),
    ]


def test_starts_that_cannot_serve_change_nothing(many_shots: ShotList) -> None:
    base = plan_units(many_shots, seed="f")
    n = many_shots.frame_count
    every = CleanStarts(frame_count=n, ranges=[(0, n)])  # intra-only: every frame
    assert plan_units(many_shots, seed="f", starts=every) == base
    not_first = CleanStarts(frame_count=n, ranges=[(1, n)])  # the film cannot be copied
    assert plan_units(many_shots, seed="f", starts=not_first) == base
    other_film = CleanStarts(frame_count=n + 1, ranges=[(0, 1)])
    assert plan_units(many_shots, seed="f", starts=other_film) == base


@pytest.fixture(scope="module")
def many_shots() -> ShotList:
    rng = random.Random(5)
    return _shots([rng.randint(1, 700) for _ in range(2000)])
