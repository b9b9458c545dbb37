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


def local_copy(uri: str, tmp: Path, name: str) -> Path:
    """A local path for `uri` (downloaded when remote), keeping its extension."""
    from tasks import storage

    if not storage.is_s3(uri):
        return Path(uri)
    suffix = Path(uri).suffix[:10]
    return storage.download(uri, tmp / f"{name}{suffix}")


@contextmanager
def named_as(local: Path, uri: str) -> Iterator[None]:
    """Refusals name the asset the operator gave, not the scratch copy."""
    from tasks.spec import SpecError

    try:
        yield
    except SpecError as exc:
        raise SpecError(str(exc).replace(str(local), uri)) from exc
