"""probe: read the asset's technical facts and refuse what cannot be processed.

An accepted asset's sha256 is recorded with its facts (one streamed read of the copy the probe
already has): every unit's cache key starts from it (tasks.checkpoint). Where its packets allow
units to be copied (tasks/media/copy_units.py), the frames a unit may start on for that go to
`keyframes.json` beside the facts, for the planner: a file, not XCom (an intra-only film has
one per frame, however compact the ranges).

A variable-frame-rate asset meets the render's `vfr` policy here (the spec beside `out`, when
there is one): refused before any unit is planned, or conformed. Later stages that probe the
asset again conform it the same way.
"""

from __future__ import annotations

import time
from typing import Any

from tasks import storage
from tasks.layout import KEYFRAMES
from tasks.media.copy_units import copy_starts
from tasks.media.probe import probe_scan
from tasks.spec import RenderSpec, VfrPolicy
from tasks.stages._workdir import local_copy, named_as, workdir


def run(asset: str, out: str) -> dict[str, Any]:
    started = time.perf_counter()
    storage.require(asset, "asset")
    with workdir("probe") as tmp:
        local = local_copy(asset, tmp, "asset")
        with named_as(local, asset):
            facts, scan = probe_scan(local, vfr=_policy(out))
        facts = facts.model_copy(update={"sha256": storage.sha256_file(local)})
        starts = copy_starts(scan, facts)  # from the packets the probe read
    storage.write_json(out, facts.model_dump())
    if starts is not None:  # in the run's prefix, as probe.json is (RunLayout.keyframes)
        folder = out.rsplit("/", 1)[0] if "/" in out else "."
        storage.write_json(storage.join(folder, KEYFRAMES), starts.model_dump())
    clean = None if starts is None else sum(end - start for start, end in starts.ranges)
    return {
        "stage": "probe",
        "seconds": time.perf_counter() - started,
        **facts.model_dump(),
        "clean_starts": clean,  # None: units of this asset are never copied
    }


def _policy(out: str) -> VfrPolicy | None:
    """The render's vfr policy, from the spec in the run's prefix (None: RECAST_VFR's)."""
    spec = storage.join(out.rsplit("/", 1)[0], "spec.json") if "/" in out else "spec.json"
    found = storage.read_json_if_any(spec)  # one GET
    return None if found is None else RenderSpec.parse(found).vfr
