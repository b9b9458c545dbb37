"""restore: face restoration of one unit's swapped frames.

`none` passes the swapped mezzanine through unchanged (a server-side copy). GFPGAN needs
weights from the model store, which this build does not have yet: asking for it is refused
when the spec is validated, and again here.
"""

from __future__ import annotations

import time
from typing import Any

from tasks import storage
from tasks.layout import RunLayout
from tasks.spec import RenderSpec, SpecError, UnitResult


def run(run_prefix: str, unit_id: str) -> dict[str, Any]:
    started = time.perf_counter()
    layout = RunLayout(run_prefix)
    spec = RenderSpec.parse(storage.read_bytes(layout.spec))
    if spec.restore != "none":
        raise SpecError(f"restore={spec.restore} needs restoration weights from a model store")
    storage.copy(layout.unit_swapped(unit_id), layout.unit_restored(unit_id))
    return UnitResult(
        unit_id=unit_id,
        stage="restore",
        frames=0,
        seconds=time.perf_counter() - started,
        output=layout.unit_restored(unit_id),
    ).model_dump()
