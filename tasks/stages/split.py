"""split: one decode pass over the asset, one mezzanine per unit (the spec's `mezzanine`)."""

from __future__ import annotations

import time
from typing import Any

from tasks import storage
from tasks.layout import RunLayout
from tasks.media.split import split_units
from tasks.spec import RenderSpec, UnitPlan
from tasks.stages._workdir import workdir


def run(asset: str, run_prefix: str) -> dict[str, Any]:
    started = time.perf_counter()
    layout = RunLayout(run_prefix)
    spec = RenderSpec.parse(storage.read_bytes(layout.spec))
    plan = UnitPlan.model_validate(storage.read_json(layout.plan))
    with workdir("split") as tmp:
        source = storage.download(asset, tmp / "asset")
        parts = split_units(source, plan.units, tmp / "units", mezzanine=spec.mezzanine)
        for unit in plan.units:
            storage.upload(parts[unit.id], layout.unit_source(unit.id))
    return {
        "stage": "split",
        "seconds": time.perf_counter() - started,
        "units": len(plan.units),
        "mezzanine": spec.mezzanine,
    }
