"""swap: replace the chosen faces in every frame of one unit.

Decoding, the models and encoding overlap (`tasks.faces.pipeline`); frames go through the
engine in batches that never cross a shot boundary, and the tracks are reset at every cut.
Besides the swapped mezzanine, the unit gets `faces.json`: the faces written in each frame
(keypoints as smoothed), so the restore stage touches exactly those and nothing else.
Both are made final with a done marker (tasks.checkpoint): a unit whose marker or cache entry
is intact is not computed again.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tasks import storage, unit_keys
from tasks.checkpoint import Checkpoint
from tasks.faces import faces_log, pipeline
from tasks.faces.engine import FaceEngine, FrameResult
from tasks.faces.flicker import FlickerMeter
from tasks.faces.settings import Settings
from tasks.layout import RunLayout
from tasks.media.frames import FrameWriter, read_frames
from tasks.progress import Progress
from tasks.spec import RenderSpec, ShotFaces, ShotList, Unit, UnitPlan, UnitResult
from tasks.stages._workdir import workdir
from tasks.stages.faces_input import build_engine

log = logging.getLogger(__name__)

FACES_LOG = "faces.json"
SWAPPED = "swapped.mkv"


def _shot_of_frame(shots: ShotList, start: int, end: int) -> list[int]:
    """Shot index for each frame of [start, end)."""
    owner = []
    for shot in shots.shots:
        lo, hi = max(shot.start_frame, start), min(shot.end_frame, end)
        owner.extend([shot.index] * max(0, hi - lo))
    return owner


class UnitSwap:
    """The inference and encoding ends of one unit's pipeline, and what they count."""

    def __init__(
        self, engine: FaceEngine, owner: list[int], out: Path, fps: str, label: str = "swap"
    ) -> None:
        self.engine = engine
        self.owner = owner
        self.out = out
        self.fps = fps
        self.writer: FrameWriter | None = None
        self.found: Counter[int] = Counter()
        self.swapped: Counter[int] = Counter()
        self.meters: dict[int, FlickerMeter] = {}
        self.faces: dict[str, list[dict[str, Any]]] = {}
        self.compositor: dict[str, list[dict[str, Any]]] = {}  # faces left for a compositor
        self.turned: Counter[int] = Counter()
        self._shot: int | None = None
        self.progress = Progress(log, label, len(owner))

    def infer(self, batch: pipeline.Batch) -> list[FrameResult]:
        if batch.key != self._shot:
            self.engine.new_shot()
            self._shot = batch.key
        return self.engine.process_batch(batch.frames)

    def write(self, batch: pipeline.Batch, results: list[FrameResult]) -> None:
        meter = self.meters.setdefault(batch.key, FlickerMeter())
        for offset, (frame, done) in enumerate(zip(batch.frames, results, strict=True)):
            if self.writer is None:
                self.writer = FrameWriter(self.out, frame.shape[1], frame.shape[0], self.fps)
            self.writer.write(done.frame)
            self.found[batch.key] += done.faces_found
            self.swapped[batch.key] += done.faces_swapped
            meter.add(frame, done.frame, dict(zip(done.tracks, done.swapped, strict=True)))
            if done.compositor:
                self.turned[batch.key] += len(done.compositor)
                self.compositor[str(batch.start + offset)] = [
                    {**faces_log.entry(t, f, None), "turn": turn} for t, f, turn in done.compositor
                ]
            if done.swapped:
                self.faces[str(batch.start + offset)] = [
                    faces_log.entry(t, f, m)
                    for t, f, m in zip(done.tracks, done.swapped, done.mappings, strict=True)
                ]
        self.progress.advance(len(batch.frames))

    def close(self) -> int:
        if self.writer is None:
            return 0
        self.writer.close()
        return self.writer.frames_written

    def per_shot(self) -> list[ShotFaces]:
        frames = Counter(self.owner)
        return [
            ShotFaces(
                shot=s,
                frames=n,
                faces_found=self.found[s],
                faces_swapped=self.swapped[s],
                flicker=self.meters[s].figure() if s in self.meters else None,
                needs_compositor=self.turned[s],
            )
            for s, n in sorted(frames.items())
        ]


def _unit(plan: UnitPlan, unit_id: str, where: str) -> Unit:
    unit = next((u for u in plan.units if u.id == unit_id), None)
    if unit is None:
        raise ValueError(f"unit {unit_id} is not in the plan {where}")
    return unit


def run(run_prefix: str, unit_id: str) -> dict[str, Any]:
    started = time.perf_counter()
    layout = RunLayout(run_prefix)
    spec = RenderSpec.parse(storage.read_bytes(layout.spec))
    plan = UnitPlan.model_validate(storage.read_json(layout.plan))
    shots = ShotList.model_validate(storage.read_json(layout.shots))
    unit = _unit(plan, unit_id, layout.plan)
    with workdir("swap") as tmp:
        source, origin = unit_source(layout, unit, spec, tmp)
        checkpoint = Checkpoint(
            layout,
            unit.id,
            "swap",
            unit_keys.swap(spec, unit, plan, shots, origin, tmp),
            {FACES_LOG: layout.unit(unit.id, FACES_LOG), SWAPPED: layout.unit_swapped(unit.id)},
        )
        done = checkpoint.lookup()
        if done is not None:
            return reused(done.result, unit.id, layout.unit_swapped(unit.id), started)
        if source is None:
            source = storage.download(layout.unit_source(unit.id), tmp / "source.mkv")
        result, files = _swap(layout, spec, plan, shots, unit, source, tmp)
        checkpoint.commit(files, result.model_dump())
    log.info(
        "unit %s: %d frames, %d faces swapped, %s",
        unit.id,
        result.frames,
        result.faces_swapped,
        result.timings,
    )
    return result.model_copy(update={"seconds": time.perf_counter() - started}).model_dump()


def unit_source(
    layout: RunLayout, unit: Unit, spec: RenderSpec, tmp: Path
) -> tuple[Path | None, dict[str, str]]:
    """What the unit's frames are made of: the asset's hash and the mezzanine format (free, from
    the probe), or, in a run without one, the mezzanine's own hash (which needs it downloaded)."""
    asset = unit_keys.asset_sha256(layout)
    if asset is not None:
        return None, {"asset_sha256": asset, "mezzanine": spec.mezzanine}
    source = storage.download(layout.unit_source(unit.id), tmp / "source.mkv")
    return source, {"source_sha256": storage.sha256_file(source)}


def reused(result: dict[str, Any], unit_id: str, output: str, started: float) -> dict[str, Any]:
    """A done unit's stored result, as this run's: its output key, no engine time spent."""
    return (
        UnitResult.model_validate(result)
        .model_copy(
            update={
                "unit_id": unit_id,
                "output": output,
                "cached": True,
                "seconds": time.perf_counter() - started,
                "timings": {},
                "efficiency": None,
            }
        )
        .model_dump()
    )


def _swap(
    layout: RunLayout,
    spec: RenderSpec,
    plan: UnitPlan,
    shots: ShotList,
    unit: Unit,
    source: Path,
    tmp: Path,
) -> tuple[UnitResult, dict[str, Path]]:
    """Run the engine over the unit in scratch; nothing is written to storage here."""
    started = time.perf_counter()
    owner = _shot_of_frame(shots, unit.start_frame, unit.end_frame)
    settings = Settings.from_env()
    engine = build_engine(spec, tmp)
    work = UnitSwap(engine, owner, tmp / SWAPPED, plan.fps, f"swap {unit.id}")
    try:
        frames = pipeline.batches(read_frames(source), owner.__getitem__, settings.batch)
        stats = pipeline.run(frames, work.infer, work.write, settings.queue)
    finally:
        count = work.close()
    if count != unit.frames:
        raise RuntimeError(f"unit {unit.id}: decoded {count} frames, expected {unit.frames}")
    written = tmp / FACES_LOG
    written.write_text(json.dumps({"frames": work.faces, "needs_compositor": work.compositor}))
    timings = {**engine.timings.rounded(), **{k: round(v, 4) for k, v in stats.busy.items()}}
    timings["pipeline"] = round(stats.wall, 4)
    result = UnitResult(
        unit_id=unit.id,
        stage="swap",
        frames=count,
        faces_found=sum(work.found.values()),
        faces_swapped=sum(work.swapped.values()),
        per_shot=work.per_shot(),
        seconds=time.perf_counter() - started,
        output=layout.unit_swapped(unit.id),
        backend=engine.backend.name,
        timings=timings,
        efficiency=round(engine.timings.inference() / stats.wall, 4) if stats.wall else None,
    )
    return result, {FACES_LOG: written, SWAPPED: work.out}
