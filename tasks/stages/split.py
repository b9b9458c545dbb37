"""split: one decode pass over the asset, one lossless mezzanine per unit."""

from __future__ import annotations

import time
from typing import Any

from tasks import storage
from tasks.layout import RunLayout
from tasks.media.split import split_units
from tasks.spec import UnitPlan
from tasks.stages._workdir import workdir


def run(asset: str, run_prefix: str) -> dict[str, Any]:
    started = time.perf_counter()
    layout = RunLayout(run_prefix)
    plan = UnitPlan.model_validate(storage.read_json(layout.plan))
    with workdir("split") as tmp:
        source = storage.download(asset, tmp / "asset")
        parts = split_units(source, plan.units, tmp / "units")
        for unit in plan.units:
            storage.upload(parts[unit.id], layout.unit_source(unit.id))
    return {"stage": "split", "seconds": time.perf_counter() - started, "units": len(plan.units)}
