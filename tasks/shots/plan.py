"""Pack shots into units of work: contiguous frame ranges balanced by expected GPU time.

A frame's expected cost is the number of faces in its shot when the caller knows it (a pod's
time goes into each face it swaps), at least 1 (every frame is decoded and searched), else 1.
Shots longer than the frame cap are cut into near-equal chunks; the pieces are packed in order
into the fewest units the frame cap allows, then the heaviest unit is made as light as it can be
with that many units (so the slowest pod finishes soonest). With face counts, a unit's budget is
the frame cap at the film's mean faces per frame: face-heavy stretches get more, shorter units
(long face-heavy shots shorter chunks), never more than `max_units` in all; a film with the same
faces everywhere is planned exactly as by frames. When the fewest units would still be more
than `max_units`, the frame cap grows. Unit ids hash the seed and the frame range, so a
rerun with the same input and settings finds its earlier outputs.

Given the source's clean starts (where split can copy a unit from, tasks/media/copy_units.py),
every boundary between units moves to the nearest one, but only when none has to move more than
half the frame cap (as grown for `max_units`): copying is all units or none, so a plan with one
boundary left off them buys nothing and stays as planned on the cuts. Half the cap lets any
keyframe interval up to the cap itself (x264's default 250 under the default 480) reach every
boundary. Two boundaries landing on the same start merge their units (never more units); a unit
grows by at most half a keyframe interval at either end. A unit may then start mid-shot, as a
chunk of a long shot does.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from tasks.spec import CleanStarts, ShotList, SpecError, Unit, UnitPlan

log = logging.getLogger(__name__)

# Airflow's default max_map_length: a plan may never map more tasks than this.
MAX_MAP_LENGTH = 1024
# A boundary may move to a clean start at most the frame cap over this: any keyframe interval up
# to the cap reaches every boundary.
SNAP_SHARE = 2


@dataclass(frozen=True)
class _Piece:
    shot: int
    start: int
    end: int
    cost: int  # frames x faces (at least 1 face)

    @property
    def frames(self) -> int:
        return self.end - self.start


def plan_units(
    shots: ShotList,
    *,
    max_units: int = 256,
    max_unit_frames: int = 480,
    seed: str = "",
    faces: Mapping[int, int] | None = None,
    starts: CleanStarts | None = None,
) -> UnitPlan:
    """Cover every frame exactly once with at most `max_units` contiguous units.

    `faces` maps a shot index to its face count, when known, to balance units by frames x faces.
    `starts`, the source's clean starts, when known, moves the units onto them where it can.
    """
    if not 1 <= max_units < MAX_MAP_LENGTH or max_unit_frames < 1:
        raise SpecError(
            f"max_units ({max_units}) must be in 1..{MAX_MAP_LENGTH - 1} and "
            f"max_unit_frames ({max_unit_frames}) at least 1"
        )
    weight = {s.index: max(1, (faces or {}).get(s.index, 1)) for s in shots.shots}
    frame_cap = max(max_unit_frames, -(-shots.frame_count // max_units))
    pieces = _chunk(shots, frame_cap, weight)
    while _count(pieces, frame_cap) > max_units:
        # Whole shots leave gaps under the cap, so the even share may not be enough yet.
        frame_cap += max(1, frame_cap // 8)
        pieces = _chunk(shots, frame_cap, weight)
    if frame_cap > max_unit_frames:
        log.info("units grown to %d frames to stay within %d units", frame_cap, max_units)
    target = _count(pieces, frame_cap)
    if faces:
        budget = -(-frame_cap * sum(p.cost for p in pieces) // shots.frame_count)
        shorter = _chunk(shots, frame_cap, weight, budget)
        # Shorter chunks can pack worse: keep them only if the frame cap still fits max_units.
        if _count(shorter, frame_cap) <= max_units:
            pieces = shorter
            by_cost = _count(pieces, frame_cap, max(budget, max(p.cost for p in pieces)))
            target = min(max_units, max(target, by_cost))
    groups = _partition(pieces, frame_cap, _balanced_cost(pieces, frame_cap, target))
    bounds = [*(group[0].start for group in groups), shots.frame_count]
    if starts is not None:
        bounds = _snap(bounds, starts, frame_cap // SNAP_SHARE) or bounds
    firsts = [s.start_frame for s in shots.shots]  # shot i is shots.shots[i] (ShotList checks)
    units = [_unit(i, a, b, firsts, seed) for i, (a, b) in enumerate(pairwise(bounds))]
    return UnitPlan(fps=shots.fps, frame_count=shots.frame_count, units=units)


def unit_id(index: int, start: int, end: int, seed: str = "") -> str:
    """Same seed, range and position, same id: reruns find their earlier outputs."""
    digest = hashlib.sha256(f"{seed}:{start}:{end}".encode()).hexdigest()[:8]
    return f"u{index:04d}-{digest}"


def _chunk(
    shots: ShotList, cap: int, weight: Mapping[int, int], budget: int | None = None
) -> list[_Piece]:
    """Each shot as one piece, or as near-equal chunks of at most `cap` frames (and, given a
    cost `budget`, at most that cost where the shot's faces allow)."""
    pieces: list[_Piece] = []
    for shot in shots.shots:
        w = weight[shot.index]
        frames_cap = cap if budget is None else min(cap, max(1, budget // w))
        parts = -(-shot.frames // frames_cap)
        bounds = [shot.start_frame + shot.frames * k // parts for k in range(parts + 1)]
        pieces += [_Piece(shot.index, a, b, (b - a) * w) for a, b in pairwise(bounds)]
    return pieces


def _partition(
    pieces: list[_Piece], frame_cap: int, cost_cap: int | None = None
) -> list[list[_Piece]]:
    """Greedy, in order: a new group whenever a piece would pass either cap."""
    groups: list[list[_Piece]] = []
    frames = cost = 0
    for piece in pieces:
        over_cost = cost_cap is not None and cost + piece.cost > cost_cap
        if not groups or frames + piece.frames > frame_cap or over_cost:
            groups.append([])
            frames = cost = 0
        groups[-1].append(piece)
        frames += piece.frames
        cost += piece.cost
    return groups


def _count(pieces: list[_Piece], frame_cap: int, cost_cap: int | None = None) -> int:
    return len(_partition(pieces, frame_cap, cost_cap))


def _balanced_cost(pieces: list[_Piece], frame_cap: int, target: int) -> int:
    """Smallest cost cap that still packs the pieces into at most `target` groups."""
    low, high = max(p.cost for p in pieces), sum(p.cost for p in pieces)
    while low < high:
        middle = (low + high) // 2
        if _count(pieces, frame_cap, middle) <= target:
            high = middle
        else:
            low = middle + 1
    return low


def _snap(bounds: list[int], starts: CleanStarts, reach: int) -> list[int] | None:
    """`bounds` (0, ..., frame count) each moved to the nearest clean start, or None when one
    is more than `reach` frames from any (or the film does not start on one)."""
    if starts.frame_count != bounds[-1] or 0 not in starts:
        log.info("clean starts of another film, or not from its first frame: units on the cuts")
        return None
    moved = [0]
    for bound in bounds[1:-1]:
        near = starts.nearest(bound)
        if near is None or abs(near - bound) > reach:
            log.info("no clean start within %d frames of the boundary at frame %d: units "
                     "planned on the cuts", reach, bound)  # fmt: skip
            return None
        if near != moved[-1]:  # the same start twice (nearest is monotonic): units merge
            moved.append(near)
    log.info("unit boundaries moved to the source's clean starts: %d units, was %d",
             len(moved), len(bounds) - 1)  # fmt: skip
    return [*moved, bounds[-1]]


def _unit(index: int, start: int, end: int, firsts: Sequence[int], seed: str) -> Unit:
    """Unit `index` of [start, end), listing every shot it overlaps (by their first frames)."""
    touched = range(bisect.bisect_right(firsts, start) - 1, bisect.bisect_left(firsts, end))
    return Unit(
        id=unit_id(index, start, end, seed),
        index=index,
        start_frame=start,
        end_frame=end,
        shots=list(touched),
    )
