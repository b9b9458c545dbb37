"""detect-shots: the shot list of a film, in the fixed JSON contract (see spec.ShotList)."""

from __future__ import annotations

import time
from typing import Any

from tasks import storage
from tasks.shots.detect import detect_shots
from tasks.stages._workdir import local_copy, named_as, workdir


def run(video: str, out: str) -> dict[str, Any]:
    started = time.perf_counter()
    storage.require(video, "video")
    with workdir("shots") as tmp:
        local = local_copy(video, tmp, "video")
        with named_as(local, video):
            shots = detect_shots(local)
    storage.write_json(out, shots.model_dump())
    return {
        "stage": "detect-shots",
        "seconds": time.perf_counter() - started,
        "shots": len(shots.shots),
        "frame_count": shots.frame_count,
        "fps": shots.fps,
    }
