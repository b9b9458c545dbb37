"""swap: replace the chosen faces in every frame of one unit."""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

from tasks import storage
from tasks.layout import RunLayout
from tasks.media.frames import FrameWriter, read_frames
from tasks.spec import RenderSpec, ShotFaces, ShotList, UnitPlan, UnitResult
from tasks.stages._workdir import workdir
from tasks.stages.faces_input import build_engine

log = logging.getLogger(__name__)


def _shot_of_frame(shots: ShotList, start: int, end: int) -> list[int]:
    """Shot index for each frame of [start, end)."""
    owner = []
    for shot in shots.shots:
        lo, hi = max(shot.start_frame, start), min(shot.end_frame, end)
        owner.extend([shot.index] * max(0, hi - lo))
    return owner


def run(run_prefix: str, unit_id: str) -> dict[str, Any]:
    started = time.perf_counter()
    layout = RunLayout(run_prefix)
    spec = RenderSpec.parse(storage.read_bytes(layout.spec))
    plan = UnitPlan.model_validate(storage.read_json(layout.plan))
    shots = ShotList.model_validate(storage.read_json(layout.shots))
    unit = next((u for u in plan.units if u.id == unit_id), None)
    if unit is None:
        raise ValueError(f"unit {unit_id} is not in the plan {layout.plan}")
    owner = _shot_of_frame(shots, unit.start_frame, unit.end_frame)
    found: Counter[int] = Counter()
    swapped: Counter[int] = Counter()
    frames_per_shot: Counter[int] = Counter(owner)
    with workdir("swap") as tmp:
        engine = build_engine(spec, tmp)
        source = storage.download(layout.unit_source(unit.id), tmp / "source.mkv")
        out = tmp / "swapped.mkv"
        writer: FrameWriter | None = None
        count = 0
        try:
            for i, frame in enumerate(read_frames(source)):
                if writer is None:
                    writer = FrameWriter(out, frame.shape[1], frame.shape[0], plan.fps)
                    writer.__enter__()
                done = engine.process(frame)
                writer.write(done.frame)
                found[owner[i]] += done.faces_found
                swapped[owner[i]] += done.faces_swapped
                count += 1
                if count % 24 == 0:
                    log.info("unit %s: %d/%d frames", unit.id, count, unit.frames)
        finally:
            if writer is not None:
                writer.__exit__(None, None, None)
        if count != unit.frames:
            raise RuntimeError(f"unit {unit.id}: decoded {count} frames, expected {unit.frames}")
        storage.upload(out, layout.unit_swapped(unit.id))
    result = UnitResult(
        unit_id=unit.id,
        stage="swap",
        frames=count,
        faces_found=sum(found.values()),
        faces_swapped=sum(swapped.values()),
        per_shot=[
            ShotFaces(shot=s, frames=n, faces_found=found[s], faces_swapped=swapped[s])
            for s, n in sorted(frames_per_shot.items())
        ],
        seconds=time.perf_counter() - started,
        output=layout.unit_swapped(unit.id),
    )
    return result.model_dump()
