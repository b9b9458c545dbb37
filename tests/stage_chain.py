"""Every stage of a render after detect-shots, in process, as the DAG orders them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks import storage
from tasks.layout import RunLayout
from tasks.stages import assemble, finalize, plan, probe, restore, split, swap


def render_stages(film: Path, layout: RunLayout, run_id: str) -> dict[str, Any]:
    """probe -> plan -> split -> swap/restore per unit -> assemble -> finalize, over a run whose
    spec and shots are written; finalize's result."""
    probe.run(str(film), layout.probe)
    units = plan.run(layout.prefix)["units"]
    split.run(str(film), layout.prefix)
    swaps = [swap.run(layout.prefix, u) for u in units]
    restores = [restore.run(layout.prefix, u) for u in units]
    assemble.run(str(film), layout.prefix)
    results = {"run_id": run_id, "stages": {}, "swaps": swaps, "restores": restores}
    storage.write_json(layout.results, results)
    return finalize.run(str(film), layout.prefix)
