"""plan: pack the shot list into work units (one pod each), balanced by frames x faces when the
detect-shots stage counted faces (`census.json` beside the shot list), else by frames."""

from __future__ import annotations

import logging
import time
from typing import Any

from pydantic import ValidationError

from tasks import storage
from tasks.layout import RunLayout
from tasks.shots.census import Census
from tasks.shots.plan import plan_units
from tasks.spec import RenderSpec, ShotList

log = logging.getLogger(__name__)


def run(run_prefix: str) -> dict[str, Any]:
    started = time.perf_counter()
    layout = RunLayout(run_prefix)
    spec = RenderSpec.parse(storage.read_bytes(layout.spec))
    shots = ShotList.model_validate(storage.read_json(layout.shots))
    faces = census_faces(layout, shots)
    plan = plan_units(
        shots,
        max_units=spec.max_units,
        max_unit_frames=spec.unit_frames,
        seed=layout.prefix,
        faces=faces,
    )
    storage.write_json(layout.plan, plan.model_dump())
    return {
        "stage": "plan",
        "seconds": time.perf_counter() - started,
        "units": [u.id for u in plan.units],
        "shots": len(shots.shots),
        "face_counts": faces is not None,  # balanced by frames x faces, else by frames
    }


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
