"""A film's face census: how many faces each shot holds, from a sparse set of sampled frames.

The planner weighs a shot's frames by its faces (a pod's time goes into each face it swaps).
Counts come from frames sampled every `every` frames of the shot-detection decode; a shot gets a
high percentile of its samples' counts (the most faces it shows, bar a rare false detection),
taken from the samples clear of its transitions when it has some (a dissolve shows both shots),
else from any sample inside it, else 1 face (unknown: a shot shorter than the sampling step).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from tasks.spec import ShotList

UNKNOWN_FACES = 1
_PERCENTILE = 0.9


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShotFaces(_Model):
    index: int = Field(ge=0)
    faces: int = Field(ge=0, description="faces the shot shows; 1 when it had no sample")
    samples: int = Field(ge=0, description="sampled frames the count comes from")


class Census(_Model):
    """What `detect-shots --census` writes beside the shot list, and `plan` reads."""

    detector: str
    every: int = Field(ge=1, description="one frame sampled every this many frames, from 0")
    width: int = Field(gt=0, description="width of the sampled frames, upright")
    frame_count: int = Field(gt=0)
    seconds: float = Field(ge=0, description="time spent counting faces")
    shots: list[ShotFaces]

    def faces(self) -> dict[int, int]:
        return {s.index: s.faces for s in self.shots}

    def fits(self, shots: ShotList) -> bool:
        """Counted on this very shot list (a stale census is ignored, not trusted)."""
        return self.frame_count == shots.frame_count and [s.index for s in self.shots] == [
            s.index for s in shots.shots
        ]


def shot_faces(shots: ShotList, counts: Mapping[int, int]) -> list[ShotFaces]:
    """Each shot's face count from the counts of sampled frames (frame index -> faces)."""
    frames = sorted(counts)
    result = []
    for k, shot in enumerate(shots.shots):
        inside = [f for f in frames if shot.start_frame <= f < shot.end_frame]
        after = shots.shots[k + 1].transition_frames if k + 1 < len(shots.shots) else 0
        # A transition's boundary is its middle: half of it lies either side.
        clear = range(shot.start_frame + shot.transition_frames // 2, shot.end_frame - after // 2)
        picked = [f for f in inside if f in clear] or inside
        faces = _high([counts[f] for f in picked]) if picked else UNKNOWN_FACES
        result.append(ShotFaces(index=shot.index, faces=faces, samples=len(picked)))
    return result


def _high(values: list[int]) -> int:
    """The 90th percentile (a value seen): the maximum for up to 9 samples."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(_PERCENTILE * len(ordered)) - 1)]
