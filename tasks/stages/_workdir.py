"""A scratch folder per stage run, on the pod's ephemeral volume (or a laptop's temp dir)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def workdir(stage: str) -> Iterator[Path]:
    # Pods mount an emptyDir at RECAST_SCRATCH: the root filesystem is read-only there.
    root = os.environ.get("RECAST_SCRATCH") or None
    with tempfile.TemporaryDirectory(prefix=f"recast-{stage}-", dir=root) as tmp:
        yield Path(tmp)
