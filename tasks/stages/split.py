"""split: one decode pass over the asset, one mezzanine per unit (the spec's `mezzanine`).

With the asset's hash from the probe, each unit's mezzanine gets a done marker and a cache
entry (tasks.checkpoint): units already done are copied, and only the others are encoded.
"""

from __future__ import annotations

import time
from typing import Any

from tasks import storage, unit_keys
from tasks.checkpoint import Checkpoint
from tasks.layout import RunLayout
from tasks.media.split import split_units
from tasks.spec import RenderSpec, UnitPlan
from tasks.stages._workdir import workdir

SOURCE = "source.mkv"


def run(asset: str, run_prefix: str) -> dict[str, Any]:
    started = time.perf_counter()
    layout = RunLayout(run_prefix)
    spec = RenderSpec.parse(storage.read_bytes(layout.spec))
    plan = UnitPlan.model_validate(storage.read_json(layout.plan))
    sha = unit_keys.asset_sha256(layout)
    checkpoints = {
        u.id: Checkpoint(
            layout,
            u.id,
            "split",
            unit_keys.frames(u, plan, {"asset_sha256": sha, "mezzanine": spec.mezzanine}),
            {SOURCE: layout.unit_source(u.id)},
        )
        for u in plan.units
        if sha is not None
    }
    todo = [u for u in plan.units if u.id not in checkpoints or checkpoints[u.id].lookup() is None]
    if todo:
        with workdir("split") as tmp:
            source = storage.download(asset, tmp / "asset")
            parts = split_units(source, todo, tmp / "units", mezzanine=spec.mezzanine)
            for unit in todo:
                if unit.id in checkpoints:
                    checkpoints[unit.id].commit({SOURCE: parts[unit.id]}, {"unit_id": unit.id})
                else:
                    storage.upload(parts[unit.id], layout.unit_source(unit.id))
    return {
        "stage": "split",
        "seconds": time.perf_counter() - started,
        "units": len(plan.units),
        "cached": len(plan.units) - len(todo),
        "mezzanine": spec.mezzanine,
    }
