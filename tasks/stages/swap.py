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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tasks import reuse, reuse_copy, scope, storage, unit_keys
from tasks.checkpoint import Checkpoint, read_marker
from tasks.faces import faces_log, passthrough, pipeline
from tasks.faces.engine import FaceEngine, FrameResult
from tasks.faces.flicker import FlickerMeter
from tasks.faces.passthrough import Passthrough, UnitWriter
from tasks.faces.pipeline import Image
from tasks.faces.settings import Settings
from tasks.layout import RunLayout
from tasks.media.frames import FrameWriter, read_frames
from tasks.progress import Progress
from tasks.spec import (
    RenderSpec,
    ShotFaces,
    ShotList,
    ShotOverride,
    Unit,
    UnitPlan,
    UnitResult,
)
from tasks.stages._workdir import workdir
from tasks.stages.faces_input import build_engine

log = logging.getLogger(__name__)

FACES_LOG = "faces.json"
SWAPPED = "swapped.mkv"


def shot_of_frame(shots: ShotList, start: int, end: int) -> list[int]:
    """Shot index for each frame of [start, end)."""
    owner = []
    for shot in shots.shots:
        lo, hi = max(shot.start_frame, start), min(shot.end_frame, end)
        owner.extend([shot.index] * max(0, hi - lo))
    return owner


class UnitSwap:
    """The inference and encoding ends of one unit's pipeline, and what they count."""

    def __init__(
        self,
        engine: FaceEngine | Callable[[], FaceEngine],
        owner: list[int],
        out: Path,
        fps: str,
        label: str = "swap",
        reuse_plan: reuse.ReusePlan | None = None,
        overrides: dict[int, Callable[[], FaceEngine | None]] | None = None,
        source: Path | None = None,
    ) -> None:
        # Written in the split unit's own format; frames left as they were keep its packets
        # (an FFV1 unit) or are written as decoded (tasks.faces.passthrough).
        self.like = passthrough.like_of(source) if source else None
        packets = self.like is not None and self.like.packets
        self.passing = Passthrough(source, out) if source and packets else None
        self.pictures = passthrough.Pictures()
        # Built on first use: a unit whose every frame is reused loads no model.
        self._engine = engine if isinstance(engine, FaceEngine) else None
        self._make = engine if not isinstance(engine, FaceEngine) else None
        self.plan = reuse_plan or reuse.ReusePlan()
        self.reused: Counter[int] = Counter()
        self.reused_from: dict[int, Counter[str]] = {}
        # A scoped re-render's shots with settings of their own (None: passed through).
        self.overrides = overrides or {}
        self._built: dict[int, FaceEngine | None] = {}
        self.kept: list[int] = []  # frames taken finished from the base render
        self.taken: list[int] = []  # frames taken from earlier renders' swaps (tasks.reuse)
        self.owner = owner
        self.out = out
        self.fps = fps
        self.writer: FrameWriter | UnitWriter | None = None
        self.found: Counter[int] = Counter()
        self.swapped: Counter[int] = Counter()
        self.meters: dict[int, FlickerMeter] = {}
        self.faces: dict[str, list[dict[str, Any]]] = {}
        self.compositor: dict[str, list[dict[str, Any]]] = {}  # faces left for a compositor
        self.turned: Counter[int] = Counter()
        self.turned_faces: dict[int, set[int]] = {}  # shot -> tracks left for a compositor
        self.checks = reuse_copy.Checks()  # what later renders check reused frames on
        self._shot: int | None = None
        self.progress = Progress(log, label, len(owner))

    @property
    def engine(self) -> FaceEngine:
        if self._engine is None:
            assert self._make is not None
            self._engine = self._make()
        return self._engine

    @property
    def built(self) -> bool:
        return self._engine is not None

    def key(self, index: int) -> int:
        """Batches never mix shots, nor reused frames with computed ones."""
        return self.owner[index] * 2 + (index in self.plan.frames)

    def _engine_for(self, shot: int) -> FaceEngine | None:
        if shot not in self.overrides:
            return self.engine
        if shot not in self._built:
            self._built[shot] = self.overrides[shot]()
        return self._built[shot]

    def infer(self, batch: pipeline.Batch) -> list[FrameResult]:
        results: dict[int, FrameResult] = {}
        if batch.key % 2:  # frames earlier renders may hold: each checked on its source
            for i, frame in enumerate(batch.frames):
                taken = self._reused(batch.start + i, frame)
                if taken is not None:
                    results[i] = taken
        todo = [i for i in range(len(batch.frames)) if i not in results]
        if todo:
            computed = self._compute(batch, [batch.frames[i] for i in todo])
            results.update(zip(todo, computed, strict=True))
        return [results[i] for i in range(len(batch.frames))]

    def _compute(self, batch: pipeline.Batch, frames: list[Image]) -> list[FrameResult]:
        engine = self._engine_for(self.owner[batch.start])
        if engine is None:  # skipped: the source frames, untouched
            return [FrameResult(frame=f, faces_found=0, faces_swapped=0) for f in frames]
        if batch.key != self._shot:
            engine.new_shot()  # a fresh start after a cut, or after reused frames
            self._shot = batch.key
        return engine.process_batch(frames)

    def _reused(self, index: int, source: Image) -> FrameResult | None:
        taken = self.plan.take(index, source)
        if taken is None:
            return None
        frame, logged = taken
        (self.kept if self.plan.final(index) else self.taken).append(index)
        shot = self.owner[index]
        self.reused[shot] += 1
        self.reused_from.setdefault(shot, Counter())[self.plan.source_of(index) or "?"] += 1
        faces = faces_log.entries({"frames": {"0": logged}}).get(0, [])
        return FrameResult(
            frame=frame,
            faces_found=len(faces),
            faces_swapped=len(faces),
            swapped=tuple(f.face for f in faces),
            tracks=tuple(f.track for f in faces),
            mappings=tuple(f.mapping or 0 for f in faces),
        )

    def write(self, batch: pipeline.Batch, results: list[FrameResult]) -> None:
        shot = self.owner[batch.start]
        meter = self.meters.setdefault(shot, FlickerMeter())
        for offset, (frame, done) in enumerate(zip(batch.frames, results, strict=True)):
            self._encode(frame, done.frame)
            self.checks.add(batch.start + offset, frame, done.frame)
            self.found[shot] += done.faces_found
            self.swapped[shot] += done.faces_swapped
            meter.add(frame, done.frame, dict(zip(done.tracks, done.swapped, strict=True)))
            if done.compositor:
                self.turned[shot] += len(done.compositor)
                self.turned_faces.setdefault(shot, set()).update(t for t, _, _ in done.compositor)
                self.compositor[str(batch.start + offset)] = [
                    {**faces_log.entry(t, f, None), "turn": turn} for t, f, turn in done.compositor
                ]
            if done.swapped:
                self.faces[str(batch.start + offset)] = [
                    faces_log.entry(t, f, m)
                    for t, f, m in zip(done.tracks, done.swapped, done.mappings, strict=True)
                ]
        self.progress.advance(len(batch.frames))

    def _encode(self, source: Image, frame: Image) -> None:
        picture = self.pictures.take(source)
        if self.passing is not None:
            self.passing.changed.append(frame is not source)
            if frame is source:
                return
        if self.writer is None:
            path = self.passing.computed if self.passing is not None else self.out
            self.writer = passthrough.writer(path, frame, self.fps, self.like)
        if picture is not None and isinstance(self.writer, UnitWriter):
            # As decoded (no RGB round trip) where the swap left it: all of it, or around faces.
            self.writer.write_over(picture, source, frame)
        else:
            self.writer.write(frame)

    def close(self) -> int:
        if self.writer is not None:
            self.writer.close()
        if self.passing is not None:
            return self.passing.finish(self.fps)
        return 0 if self.writer is None else self.writer.frames_written

    def per_shot(self) -> list[ShotFaces]:
        frames = Counter(self.owner)
        return [
            ShotFaces(
                shot=s,
                frames=n,
                faces_found=self.found[s],
                faces_swapped=self.swapped[s],
                flicker=self.meters[s].figure() if s in self.meters else None,
                frames_reused=self.reused[s],
                reused_from=self.reused_from[s].most_common(1)[0][0]
                if s in self.reused_from
                else None,
                needs_compositor=self.turned[s],
                compositor_faces=len(self.turned_faces.get(s, ())),
            )
            for s, n in sorted(frames.items())
        ]


def _unit(plan: UnitPlan, unit_id: str, where: str) -> Unit:
    unit = next((u for u in plan.units if u.id == unit_id), None)
    if unit is None:
        raise ValueError(f"unit {unit_id} is not in the plan {where}")
    return unit


def run(run_prefix: str, unit_id: str) -> dict[str, Any]:
    layout = RunLayout(run_prefix)
    result = _run(run_prefix, unit_id)
    if not RenderSpec.parse(storage.read_bytes(layout.spec)).restores():
        # No restore task runs for this unit (RenderSpec.restores): the swap's output is the
        # unit's final one, where assemble and later renders read it (one server-side copy).
        storage.copy(layout.unit_swapped(unit_id), layout.unit_restored(unit_id))
    return result


def _run(run_prefix: str, unit_id: str) -> dict[str, Any]:
    started = time.perf_counter()
    layout = RunLayout(run_prefix)
    spec = RenderSpec.parse(storage.read_bytes(layout.spec))
    plan = UnitPlan.model_validate(storage.read_json(layout.plan))
    unit = _unit(plan, unit_id, layout.plan)
    scoped = scope.for_run(layout)
    if scoped is not None and not scoped.touches(unit):
        return _from_base(layout, scoped, unit, started)
    shots = ShotList.model_validate(storage.read_json(layout.shots))
    with workdir("swap") as tmp:
        source, origin = unit_source(layout, unit, spec, tmp)
        inputs = unit_keys.swap(spec, unit, plan, shots, origin, tmp)
        if scoped is not None:
            inputs["scope"] = unit_keys.scope(spec, scoped, tmp)
        outputs = {FACES_LOG: layout.unit(unit.id, FACES_LOG)}
        outputs[SWAPPED] = layout.unit_swapped(unit.id)
        if scoped is None:  # check data for later renders' reuse (tasks.reuse_copy)
            outputs[reuse_copy.CHECKS] = layout.unit(unit.id, reuse_copy.CHECKS)
        checkpoint = Checkpoint(layout, unit.id, "swap", inputs, outputs)
        settings = reuse.settings_key(checkpoint.inputs)
        pieces = reuse.unit_pieces(shots, unit)
        done = checkpoint.lookup()
        if done is not None:
            if scoped is None:  # offered under this run too: units waiting on it find it
                reuse.write_record(layout, settings, unit.id, pieces)
            return reused(done.result, unit.id, layout.unit_swapped(unit.id), started)
        if source is None:
            source = storage.download(layout.unit_source(unit.id), tmp / "source.mkv")
        found, done_scoped = None, None
        if scoped is not None:
            done_scoped = _swap_scoped(layout, spec, plan, shots, unit, source, tmp, scoped)
            if done_scoped is None:  # the base's unit is not spliceable: decoded, re-encoded
                found = _base_frames(scoped, unit, shots, tmp)
        elif spec.reuse:
            reuse.await_records(layout, settings, reuse.first_seen(shots, plan.units, unit))
            records = reuse.load_records(reuse.index_prefix(layout, settings))
            found = reuse.plan_unit(records, pieces, spec.reuse_min_psnr)
        if done_scoped is not None:
            result, files = done_scoped
        elif found is not None and found.frames and scoped is None:
            # Only a unit that earlier renders hold frames of takes the reusing path; the
            # others keep the plain one, where untouched frames keep their source packets.
            result, files = _swap_reusing(layout, spec, plan, shots, unit, source, tmp, found)
        else:
            result, files = _swap(layout, spec, plan, shots, unit, source, tmp, found, scoped)
        checkpoint.commit(files, result.model_dump())
        if scoped is None:  # a scoped unit mixes settings: not offered for reuse
            reuse.write_record(layout, settings, unit.id, pieces, checkpoint.staged)
    log.info(
        "unit %s: %d frames, %d faces swapped, %s",
        unit.id,
        result.frames,
        result.faces_swapped,
        result.timings,
    )
    return result.model_copy(update={"seconds": time.perf_counter() - started}).model_dump()


def _from_base(
    layout: RunLayout, scoped: scope.Scope, unit: Unit, started: float
) -> dict[str, Any]:
    """A unit none of whose shots is re-rendered: the base's finished unit, copied as is
    (its faces marked kept, so the restore stage passes it through)."""
    base = scoped.layout
    marker = read_marker(base.unit_marker(unit.id, "swap"))
    if marker is None:
        raise RuntimeError(f"base render {scoped.base_run}: unit {unit.id} has no swap marker")
    faces = storage.read_json(base.unit(unit.id, FACES_LOG))
    faces["kept"] = list(range(unit.frames))
    storage.copy(base.unit_restored(unit.id), layout.unit_swapped(unit.id))
    storage.write_json(layout.unit(unit.id, FACES_LOG), faces)
    earlier = UnitResult.model_validate(marker.result)
    per_shot = [
        s.model_copy(update={"frames_reused": s.frames, "reused_from": scoped.base_run})
        for s in earlier.per_shot
    ]
    return reused(
        earlier.model_copy(
            update={"per_shot": per_shot, "frames_reused": unit.frames}
        ).model_dump(),
        unit.id,
        layout.unit_swapped(unit.id),
        started,
    )


def _swap_scoped(
    layout: RunLayout,
    spec: RenderSpec,
    plan: UnitPlan,
    shots: ShotList,
    unit: Unit,
    source: Path,
    tmp: Path,
    scoped: scope.Scope,
) -> tuple[UnitResult, dict[str, Path]] | None:
    """A unit a scoped re-render touches: only the chosen shots' frames are decoded and
    computed; the others keep the base's finished frames, their packets copied as they are
    (scope.splice), with the base's faces and per-shot figures. None when the base's unit
    cannot be spliced (then the whole unit is decoded and written again, still lossless)."""
    started = time.perf_counter()
    base = scoped.layout
    marker = read_marker(base.unit_marker(unit.id, "swap"))
    if marker is None:
        raise RuntimeError(f"base render {scoped.base_run}: unit {unit.id} has no swap marker")
    owner = shot_of_frame(shots, unit.start_frame, unit.end_frame)
    todo = [i for i, shot in enumerate(owner) if shot in scoped.shots]
    work = UnitSwap(
        lambda: build_engine(spec, tmp),
        [owner[i] for i in todo],
        tmp / "computed.mkv",
        plan.fps,
        f"swap {unit.id}",
        None,
        _override_engines(spec, scoped, tmp),
    )
    work.checks = reuse_copy.Unchecked()  # a scoped unit is not offered for reuse
    earlier = storage.download(base.unit_restored(unit.id), tmp / "base-restored.mkv")
    work.like = passthrough.like_of(earlier)  # computed frames in the base unit's format
    settings = Settings.from_env()
    cursor = reuse.Cursor(source)
    try:
        frames = (cursor.get(i) for i in todo)
        stats = pipeline.run(
            pipeline.batches(frames, work.key, settings.batch), work.infer, work.write,
            settings.queue,
        )  # fmt: skip
    finally:
        count = work.close()
        cursor.close()
    if count != len(todo):
        raise RuntimeError(f"unit {unit.id}: decoded {count} frames, expected {len(todo)}")
    picks = [shot in scoped.shots for shot in owner]
    if not scope.splice(earlier, work.out, picks, tmp / SWAPPED):
        return None
    logged = storage.read_json(base.unit(unit.id, FACES_LOG))
    kept = [i for i, pick in enumerate(picks) if not pick]

    def merged(theirs: dict[str, Any], mine: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in theirs.items() if not picks[int(k)]}
        return {**out, **{str(todo[int(k)]): v for k, v in mine.items()}}

    written = tmp / FACES_LOG
    written.write_text(
        json.dumps(
            {
                "frames": merged(logged.get("frames", {}), work.faces),
                "kept": kept,
                "reused": [],
                "needs_compositor": merged(logged.get("needs_compositor", {}), work.compositor),
            }
        )
    )
    rows = [
        s.model_copy(update={"frames_reused": s.frames, "reused_from": scoped.base_run})
        for s in UnitResult.model_validate(marker.result).per_shot
        if s.shot not in scoped.shots
    ]
    per_shot = sorted([*rows, *work.per_shot()], key=lambda s: s.shot)
    engine = work.engine if work.built else None
    timings = {**(engine.timings.rounded() if engine else {})}
    timings.update({k: round(v, 4) for k, v in stats.busy.items()}, pipeline=round(stats.wall, 4))
    result = UnitResult(
        unit_id=unit.id,
        stage="swap",
        frames=unit.frames,
        faces_found=sum(s.faces_found for s in per_shot),
        faces_swapped=sum(s.faces_swapped for s in per_shot),
        per_shot=per_shot,
        seconds=time.perf_counter() - started,
        output=layout.unit_swapped(unit.id),
        backend=engine.backend.name if engine else "",
        timings=timings,
        frames_reused=len(kept),
    )
    return result, {FACES_LOG: written, SWAPPED: tmp / SWAPPED}


def _base_frames(scoped: scope.Scope, unit: Unit, shots: ShotList, tmp: Path) -> reuse.ReusePlan:
    """The frames of the unit's shots that are not re-rendered: the base's finished ones."""
    base = scoped.layout
    owner = shot_of_frame(shots, unit.start_frame, unit.end_frame)
    output = storage.download(base.unit_restored(unit.id), tmp / "base-restored.mkv")
    faces = storage.read_json(base.unit(unit.id, FACES_LOG))
    fetched = reuse.Fetched(scoped.base_run, None, reuse.Cursor(output), faces, final=True)
    frames = {i: (0, i) for i, shot in enumerate(owner) if shot not in scoped.shots}
    return reuse.ReusePlan(frames=frames, fetched=[fetched])


def _override_engines(
    spec: RenderSpec, scoped: scope.Scope | None, tmp: Path
) -> dict[int, Callable[[], FaceEngine | None]]:
    """Engines for the shots a scoped re-render gives settings of their own."""
    if scoped is None:
        return {}

    def factory(o: ShotOverride) -> Callable[[], FaceEngine | None]:
        if o.skip:
            return lambda: None
        changed = spec.model_copy(
            update={
                "faces": o.faces or spec.faces,
                "match_threshold": o.match_threshold or spec.match_threshold,
            }
        )
        return lambda: build_engine(changed, tmp / f"shot-{o.shot}")

    return {o.shot: factory(o) for o in scoped.overrides}


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
    found: reuse.ReusePlan | None = None,
    scoped: scope.Scope | None = None,
) -> tuple[UnitResult, dict[str, Path]]:
    """Run the engine over the unit in scratch (taking the frames `found` from earlier
    renders); nothing is written to storage here."""
    started = time.perf_counter()
    owner = shot_of_frame(shots, unit.start_frame, unit.end_frame)
    settings = Settings.from_env()
    work = UnitSwap(
        lambda: build_engine(spec, tmp),
        owner,
        tmp / SWAPPED,
        plan.fps,
        f"swap {unit.id}",
        found,
        _override_engines(spec, scoped, tmp),
        source,
    )
    try:
        # Each frame held with its decoded picture: what the swap leaves is written as decoded.
        decoded = work.pictures.read(source) if work.like is not None else read_frames(source)
        frames = pipeline.batches(decoded, work.key, settings.batch)
        stats = pipeline.run(frames, work.infer, work.write, settings.queue)
    finally:
        count = work.close()
    if count != unit.frames:
        raise RuntimeError(f"unit {unit.id}: decoded {count} frames, expected {unit.frames}")
    written = tmp / FACES_LOG
    logged = {
        "frames": work.faces,
        "kept": work.kept,
        "reused": work.taken,
        "needs_compositor": work.compositor,
    }
    written.write_text(json.dumps(logged))
    engine = work.engine if work.built else None
    spent = engine.timings.rounded() if engine else {}
    timings = {**spent, **{k: round(v, 4) for k, v in stats.busy.items()}}
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
        backend=engine.backend.name if engine else "",
        timings=timings,
        efficiency=(
            round(engine.timings.inference() / stats.wall, 4) if engine and stats.wall else None
        ),
        frames_reused=sum(work.reused.values()),
    )
    files = {FACES_LOG: written, SWAPPED: work.out}
    if scoped is None:
        files[reuse_copy.CHECKS] = work.checks.write(tmp / reuse_copy.CHECKS, count)
    return result, files


def _swap_reusing(
    layout: RunLayout,
    spec: RenderSpec,
    plan: UnitPlan,
    shots: ShotList,
    unit: Unit,
    source: Path,
    tmp: Path,
    found: reuse.ReusePlan,
) -> tuple[UnitResult, dict[str, Path]]:
    """The unit with the frames earlier renders hold copied (tasks.reuse_copy)."""
    owner = shot_of_frame(shots, unit.start_frame, unit.end_frame)
    result, files, faces = reuse_copy.swap_unit(
        lambda: build_engine(spec, tmp), owner, source, tmp, plan.fps, f"swap {unit.id}", found
    )
    written = tmp / FACES_LOG
    written.write_text(json.dumps(faces))
    update = {"unit_id": unit.id, "output": layout.unit_swapped(unit.id)}
    return result.model_copy(update=update), {**files, FACES_LOG: written}
