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
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise

from tasks.spec import ShotList, SpecError, Unit, UnitPlan

log = logging.getLogger(__name__)

# Airflow's default max_map_length: a plan may never map more tasks than this.
MAX_MAP_LENGTH = 1024


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
) -> UnitPlan:
    """Cover every frame exactly once with at most `max_units` contiguous units.

    `faces` maps a shot index to its face count, when known, to balance units by frames x faces.
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
        pieces = _chunk(shots, frame_cap, weight, budget)
        by_cost = _count(pieces, frame_cap, max(budget, max(p.cost for p in pieces)))
        target = min(max_units, max(target, by_cost))
    groups = _partition(pieces, frame_cap, _balanced_cost(pieces, frame_cap, target))
    units = [_unit(i, group, seed) for i, group in enumerate(groups)]
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


def _unit(index: int, group: list[_Piece], seed: str) -> Unit:
    start, end = group[0].start, group[-1].end
    return Unit(
        id=unit_id(index, start, end, seed),
        index=index,
        start_frame=start,
        end_frame=end,
        shots=sorted({p.shot for p in group}),
    )
