"""restore: face restoration of one unit's swapped frames.

`none` passes the swapped mezzanine through unchanged (a server-side copy), and so does a unit
in which the swap wrote no face. `gfpgan` needs GFPGAN weights in the model store
(RECAST_MODELS): the faces listed in the unit's `faces.json` (exactly those the swap wrote) are
restored in batches and blended with `restore_strength`; every other frame and pixel is
written back unchanged (the mezzanine is lossless). Restored units are made final with a done
marker and shared through the unit cache (tasks.checkpoint), keyed by the swap's output hashes.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from tasks import scope, storage, unit_keys
from tasks.checkpoint import Checkpoint, intact, read_marker
from tasks.faces import faces_log, pipeline
from tasks.faces.align import Image
from tasks.faces.backend import load_restorer
from tasks.faces.detect import Face
from tasks.faces.settings import Settings
from tasks.faces.timing import Timings
from tasks.layout import RunLayout
from tasks.media.frames import FrameWriter, read_frames
from tasks.progress import Progress
from tasks.spec import RenderSpec, ShotList, UnitPlan, UnitResult
from tasks.stages._workdir import workdir
from tasks.stages.swap import FACES_LOG, SWAPPED, reused, shot_of_frame

RESTORED = "restored.mkv"

log = logging.getLogger(__name__)


class UnitRestore:
    def __init__(self, restorer: Any, faces: dict[int, list[Face]], strength: float) -> None:
        self.restorer = restorer
        self.faces = faces
        self.strength = strength
        self.timings = Timings()
        self.restored = 0

    def infer(self, batch: pipeline.Batch) -> list[Image]:
        jobs = [
            (offset, face)
            for offset in range(len(batch.frames))
            for face in self.faces.get(batch.start + offset, [])
        ]
        touched = {offset for offset, _ in jobs}
        canvases = [f.copy() if i in touched else f for i, f in enumerate(batch.frames)]
        with self.timings.step("restore"):
            self.restored += self.restorer.apply(canvases, jobs, self.strength)
        return canvases


def _passthrough(layout: RunLayout, unit_id: str, started: float, frames: int) -> dict[str, Any]:
    storage.copy(layout.unit_swapped(unit_id), layout.unit_restored(unit_id))
    return UnitResult(
        unit_id=unit_id,
        stage="restore",
        frames=frames,
        seconds=time.perf_counter() - started,
        output=layout.unit_restored(unit_id),
    ).model_dump()


def _restore_file(
    work: UnitRestore,
    source: Path,
    out: Path,
    fps: str,
    settings: Settings,
    progress: Progress | None = None,
) -> tuple[int, pipeline.PipelineStats]:
    writer: FrameWriter | None = None

    def write(batch: pipeline.Batch, frames: list[Image]) -> None:
        nonlocal writer
        for frame in frames:
            if writer is None:
                writer = FrameWriter(out, frame.shape[1], frame.shape[0], fps)
            writer.write(frame)
        if progress is not None:
            progress.advance(len(frames))

    try:
        batches = pipeline.batches(read_frames(source), _one_key, settings.batch)
        stats = pipeline.run(batches, work.infer, write, settings.queue)
    finally:
        if writer is not None:
            writer.close()
    return (writer.frames_written if writer is not None else 0), stats


def _one_key(index: int) -> int:
    """Every frame under one key: restoration keeps no per-shot state."""
    return 0


def run(run_prefix: str, unit_id: str) -> dict[str, Any]:
    started = time.perf_counter()
    layout = RunLayout(run_prefix)
    spec = RenderSpec.parse(storage.read_bytes(layout.spec))
    scoped = scope.for_run(layout)
    if spec.restore == "none" and (scoped is None or not scoped.overrides):
        return _passthrough(layout, unit_id, started, 0)
    plan = UnitPlan.model_validate(storage.read_json(layout.plan))
    faces = _wanted(spec, scoped, layout, plan, unit_id)
    if not faces:
        return _passthrough(layout, unit_id, started, 0)
    if not unit_keys.models(unit_keys.RESTORE_MODELS)["store"]:
        load_restorer()  # refuses, naming what is missing, before any download
    with workdir("restore") as tmp:
        source, swapped = _swapped(layout, unit_id, tmp)
        inputs = unit_keys.restore(spec, swapped, plan.fps)
        if scoped is not None:  # per-shot overrides decide which frames are restored
            inputs["frames_restored"] = sorted(faces)
        checkpoint = Checkpoint(
            layout, unit_id, "restore", inputs, {RESTORED: layout.unit_restored(unit_id)}
        )
        done = checkpoint.lookup()
        if done is not None:
            return reused(done.result, unit_id, layout.unit_restored(unit_id), started)
        if source is None:
            source = storage.download(layout.unit_swapped(unit_id), tmp / SWAPPED)
        work = UnitRestore(load_restorer(), faces, spec.restore_strength)
        out = tmp / RESTORED
        total = next((u.frames for u in plan.units if u.id == unit_id), 0)
        progress = Progress(log, f"restore {unit_id}", total)
        count, stats = _restore_file(work, source, out, plan.fps, Settings.from_env(), progress)
        timings = {**work.timings.rounded(), **{k: round(v, 4) for k, v in stats.busy.items()}}
        timings["pipeline"] = round(stats.wall, 4)
        result = UnitResult(
            unit_id=unit_id,
            stage="restore",
            frames=count,
            faces_restored=work.restored,
            seconds=time.perf_counter() - started,
            output=layout.unit_restored(unit_id),
            backend="neural",
            timings=timings,
            efficiency=round(work.timings.inference() / stats.wall, 4) if stats.wall else None,
        )
        checkpoint.commit({RESTORED: out}, result.model_dump())
    log.info("unit %s: %d faces restored in %d frames, %s", unit_id, work.restored, count, timings)
    return result.model_copy(update={"seconds": time.perf_counter() - started}).model_dump()


def _wanted(
    spec: RenderSpec, scoped: scope.Scope | None, layout: RunLayout, plan: UnitPlan, unit_id: str
) -> dict[int, list[Face]]:
    """The faces to restore: those the swap wrote, but not in frames taken finished from a
    base render (`kept`), nor in shots whose override says restore=none."""
    logged = storage.read_json(layout.unit(unit_id, FACES_LOG))
    kept = set(logged.get("kept", []))
    faces = {f: v for f, v in faces_log.parse(logged).items() if f not in kept}
    if scoped is None:
        return faces
    unit = next(u for u in plan.units if u.id == unit_id)
    shots = ShotList.model_validate(storage.read_json(layout.shots))
    mode = {}
    for shot in shots.shots:
        o = scoped.override(shot.index)
        mode[shot.index] = o.restore if o is not None and o.restore else spec.restore
    owner = shot_of_frame(shots, unit.start_frame, unit.end_frame)
    return {f: v for f, v in faces.items() if mode[owner[f]] != "none"}


def _swapped(layout: RunLayout, unit_id: str, tmp: Path) -> tuple[Path | None, dict[str, str]]:
    """The swap's outputs by content hash: from its intact done marker, else hashed here."""
    marker = read_marker(layout.unit_marker(unit_id, "swap"))
    if marker is not None and all(intact(rec) for rec in marker.outputs.values()):
        return None, {name: rec.sha256 for name, rec in marker.outputs.items()}
    source = storage.download(layout.unit_swapped(unit_id), tmp / SWAPPED)
    faces = storage.download(layout.unit(unit_id, FACES_LOG), tmp / FACES_LOG)
    return source, {SWAPPED: storage.sha256_file(source), FACES_LOG: storage.sha256_file(faces)}
