"""Pack shots into units of work: contiguous whole shots, long shots cut into chunks.

Shots are chunked so no piece is longer than the unit cap, then the pieces are split into the
fewest contiguous groups the cap allows, with the largest group as small as possible (so the
slowest pod finishes soonest). When that would need more than `max_units`, the cap grows.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from itertools import pairwise

from tasks.spec import ShotList, SpecError, Unit, UnitPlan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Piece:
    shot: int
    start: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.start


def plan_units(
    shots: ShotList, *, max_units: int = 256, max_unit_frames: int = 480, seed: str = ""
) -> UnitPlan:
    """Cover every frame exactly once with at most `max_units` contiguous units."""
    if max_units < 1 or max_unit_frames < 1:
        raise SpecError(f"max_units ({max_units}) and max_unit_frames must be at least 1")
    cap = max(max_unit_frames, -(-shots.frame_count // max_units))
    pieces = _chunk(shots, cap)
    while _count_groups(pieces, cap) > max_units:
        # Whole shots leave gaps under the cap, so the even share may not be enough yet.
        cap += max(1, cap // 8)
        pieces = _chunk(shots, cap)
    if cap > max_unit_frames:
        log.info("units grown to %d frames to stay within %d units", cap, max_units)
    groups = _partition(pieces, _balanced_cap(pieces, cap))
    units = [_unit(i, group, seed) for i, group in enumerate(groups)]
    return UnitPlan(fps=shots.fps, frame_count=shots.frame_count, units=units)


def unit_id(index: int, start: int, end: int, seed: str = "") -> str:
    """Same seed, range and position, same id: reruns find their earlier outputs."""
    digest = hashlib.sha256(f"{seed}:{start}:{end}".encode()).hexdigest()[:8]
    return f"u{index:04d}-{digest}"


def _chunk(shots: ShotList, cap: int) -> list[_Piece]:
    """Each shot as one piece, or as near-equal chunks of at most `cap` frames."""
    pieces: list[_Piece] = []
    for shot in shots.shots:
        parts = -(-shot.frames // cap)
        bounds = [shot.start_frame + shot.frames * k // parts for k in range(parts + 1)]
        pieces += [_Piece(shot.index, a, b) for a, b in pairwise(bounds)]
    return pieces


def _count_groups(pieces: list[_Piece], cap: int) -> int:
    count, load = 0, cap
    for piece in pieces:
        if load + piece.frames > cap:
            count, load = count + 1, 0
        load += piece.frames
    return count


def _balanced_cap(pieces: list[_Piece], cap: int) -> int:
    """Smallest cap that still packs the pieces into as few groups as `cap` does."""
    target = _count_groups(pieces, cap)
    low, high = max(p.frames for p in pieces), cap
    while low < high:
        middle = (low + high) // 2
        if _count_groups(pieces, middle) <= target:
            high = middle
        else:
            low = middle + 1
    return low


def _partition(pieces: list[_Piece], cap: int) -> list[list[_Piece]]:
    groups: list[list[_Piece]] = []
    load = cap
    for piece in pieces:
        if load + piece.frames > cap:
            groups.append([])
            load = 0
        groups[-1].append(piece)
        load += piece.frames
    return groups


def _unit(index: int, group: list[_Piece], seed: str) -> Unit:
    start, end = group[0].start, group[-1].end
    return Unit(
        id=unit_id(index, start, end, seed),
        index=index,
        start_frame=start,
        end_frame=end,
        shots=sorted({p.shot for p in group}),
    )
