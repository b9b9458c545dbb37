"""probe: read the asset's technical facts and refuse what cannot be processed.

An accepted asset's sha256 is recorded with its facts (one streamed read of the copy the probe
already has): every unit's cache key starts from it (tasks.checkpoint).
"""

from __future__ import annotations

import time
from typing import Any

from tasks import storage
from tasks.media.probe import probe
from tasks.stages._workdir import local_copy, named_as, workdir


def run(asset: str, out: str) -> dict[str, Any]:
    started = time.perf_counter()
    storage.require(asset, "asset")
    with workdir("probe") as tmp:
        local = local_copy(asset, tmp, "asset")
        with named_as(local, asset):
            facts = probe(local)
        facts = facts.model_copy(update={"sha256": storage.sha256_file(local)})
    storage.write_json(out, facts.model_dump())
    return {"stage": "probe", "seconds": time.perf_counter() - started, **facts.model_dump()}
