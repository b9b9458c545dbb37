"""plan: pack the shot list into work units (one pod each)."""

from __future__ import annotations

import time
from typing import Any

from tasks import storage
from tasks.layout import RunLayout
from tasks.shots.plan import plan_units
from tasks.spec import RenderSpec, ShotList


def run(run_prefix: str) -> dict[str, Any]:
    started = time.perf_counter()
    layout = RunLayout(run_prefix)
    spec = RenderSpec.parse(storage.read_bytes(layout.spec))
    shots = ShotList.model_validate(storage.read_json(layout.shots))
    plan = plan_units(
        shots, max_units=spec.max_units, max_unit_frames=spec.unit_frames, seed=layout.prefix
    )
    storage.write_json(layout.plan, plan.model_dump())
    return {
        "stage": "plan",
        "seconds": time.perf_counter() - started,
        "units": [u.id for u in plan.units],
        "shots": len(shots.shots),
    }
