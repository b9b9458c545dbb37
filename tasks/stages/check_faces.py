"""check-faces: refuse a render whose face images are unusable, before any GPU is asked for."""

from __future__ import annotations

import time
from typing import Any

from tasks import storage
from tasks.spec import RenderSpec, SpecError
from tasks.stages._workdir import workdir
from tasks.stages.faces_input import build_engine


def run(spec_uri: str) -> dict[str, Any]:
    started = time.perf_counter()
    spec = RenderSpec.parse(storage.read_bytes(spec_uri))
    with workdir("check-faces") as tmp:
        build_engine(spec, tmp)
        for o in spec.shot_overrides:  # a scoped re-render's own faces, checked the same way
            if o.faces:
                try:
                    build_engine(spec.model_copy(update={"faces": o.faces}), tmp / f"s{o.shot}")
                except SpecError as exc:
                    raise SpecError(f"shot_overrides, shot {o.shot}: {exc}") from exc
    return {
        "stage": "check-faces",
        "seconds": time.perf_counter() - started,
        "mappings": len(spec.faces),
    }
