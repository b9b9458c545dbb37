"""plan: pack the shot list into work units (one pod each), balanced by frames x faces when the
detect-shots stage counted faces (`census.json` beside the shot list), else by frames; with a
lossless mezzanine, on the source's clean starts (`keyframes.json`, from the probe stage) when
every boundary is near one, so that split copies the units instead of encoding them."""

from __future__ import annotations

import logging
import time
from typing import Any

from pydantic import ValidationError

from tasks import scope, storage
from tasks.layout import RunLayout
from tasks.media import timecode as tc
from tasks.progress import emit
from tasks.shots.census import Census
from tasks.shots.plan import plan_units
from tasks.spec import (
    LOSSLESS_MEZZANINES,
    CleanStarts,
    RenderSpec,
    ShotList,
    SpecError,
    UnitPlan,
    parse_fps,
)

log = logging.getLogger(__name__)


def run(run_prefix: str) -> dict[str, Any]:
    started = time.perf_counter()
    layout = RunLayout(run_prefix)
    spec = RenderSpec.parse(storage.read_bytes(layout.spec))
    scoped = scope.prepare(spec, layout)
    if scoped is not None:  # a scoped re-render keeps the base's units
        storage.copy(scoped.layout.plan, layout.plan)
        units = UnitPlan.model_validate(storage.read_json(layout.plan)).units
        return {
            "stage": "plan",
            "seconds": time.perf_counter() - started,
            "units": [u.id for u in units],
            "shots": len(ShotList.model_validate(storage.read_json(layout.shots)).shots),
            "scoped": scoped.shots,
            "base_run": scoped.base_run,
        }
    shots = ShotList.model_validate(storage.read_json(layout.shots))
    _check_start_timecode(spec, shots)  # before any unit runs, now that the rate is known
    faces = census_faces(layout, shots)
    # Only a lossless mezzanine is ever copied: otherwise the cuts are the better boundaries.
    starts = stored_clean_starts(layout, shots) if spec.mezzanine in LOSSLESS_MEZZANINES else None
    plan = plan_units(
        shots,
        max_units=spec.max_units,
        max_unit_frames=spec.unit_frames,
        seed=layout.prefix,
        faces=faces,
        starts=starts,
    )
    storage.write_json(layout.plan, plan.model_dump())
    emit("plan", units=[u.id for u in plan.units], frames={u.id: u.frames for u in plan.units})
    on_starts = None if starts is None else all(u.start_frame in starts for u in plan.units)
    return {
        "stage": "plan",
        "seconds": time.perf_counter() - started,
        "units": [u.id for u in plan.units],
        "shots": len(shots.shots),
        "face_counts": faces is not None,  # balanced by frames x faces, else by frames
        "on_keyframes": on_starts,  # every unit on a clean start (split copies); None: unknown
    }


def stored_clean_starts(layout: RunLayout, shots: ShotList) -> CleanStarts | None:
    """Where units may start to be copied, from the probe; None when unknown or not this film."""
    if not storage.exists(layout.keyframes):
        return None
    try:
        starts = CleanStarts.model_validate(storage.read_json(layout.keyframes))
    except ValueError as exc:  # not JSON, or not a CleanStarts
        log.warning("%s is unreadable, planning on the cuts: %s", layout.keyframes, exc)
        return None
    if starts.frame_count != shots.frame_count:
        log.warning("%s is of another film, planning on the cuts", layout.keyframes)
        return None
    return starts


def census_faces(layout: RunLayout, shots: ShotList) -> dict[int, int] | None:
    """Faces per shot from the run's census; None when there is none or it does not fit."""
    if not storage.exists(layout.census):
        return None
    try:
        census = Census.model_validate(storage.read_json(layout.census))
    except ValidationError as exc:
        log.warning("%s is unreadable, planning by frames only: %s", layout.census, exc)
        return None
    if not census.fits(shots):
        log.warning("%s was counted on another shot list, planning by frames only", layout.census)
        return None
    return census.faces()


def _check_start_timecode(spec: RenderSpec, shots: ShotList) -> None:
    """The spec's start timecode counts frames the film's rate has (no 00:00:00:25 at 25 fps)."""
    rate = parse_fps(shots.fps)
    if spec.start_timecode and tc.expressible(rate):
        try:
            tc.start_of(None, spec.start_timecode, rate)
        except ValueError as exc:
            raise SpecError(f"start_timecode: {exc}") from exc
