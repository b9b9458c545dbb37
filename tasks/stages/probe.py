"""probe: read the asset's technical facts and refuse what cannot be processed."""

from __future__ import annotations

import time
from typing import Any

from tasks import storage
from tasks.media.probe import probe
from tasks.stages._workdir import workdir


def run(asset: str, out: str) -> dict[str, Any]:
    started = time.perf_counter()
    storage.require(asset, "asset")
    with workdir("probe") as tmp:
        facts = probe(storage.download(asset, tmp / "asset"))
    storage.write_json(out, facts.model_dump())
    return {"stage": "probe", "seconds": time.perf_counter() - started, **facts.model_dump()}
