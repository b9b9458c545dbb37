"""detect-shots: the shot list of a film, in the fixed JSON contract (see spec.ShotList).

With a census path, the same decode pass also counts faces per shot (tasks.faces.census) for
the planner; the shot list itself is the same either way.
"""

from __future__ import annotations

import time
from typing import Any

from tasks import storage
from tasks.shots.detect import detect_shots
from tasks.spec import ShotDetector
from tasks.stages._workdir import local_copy, named_as, workdir


def run(
    video: str, out: str, census: str | None = None, detector: ShotDetector = "classical"
) -> dict[str, Any]:
    started = time.perf_counter()
    storage.require(video, "video")
    counter = None
    if census:
        from tasks.faces.census import FaceCensus  # onnxruntime and the detector: only if asked

        counter = FaceCensus()
    with workdir("shots") as tmp:
        local = local_copy(video, tmp, "video")
        with named_as(local, video):
            shots = detect_shots(local, sampler=counter, detector=detector)
    result: dict[str, Any] = {
        "stage": "detect-shots",
        "shots": len(shots.shots),
        "frame_count": shots.frame_count,
        "fps": shots.fps,
        "detector": detector,
    }
    if census and counter is not None:
        counted = counter.census(shots)
        # Written before the shot list: a run that finds shots.json finds its census too.
        storage.write_json(census, counted.model_dump())
        result["census"] = {
            "samples": sum(s.samples for s in counted.shots),
            "seconds": counted.seconds,
            "max_faces": max(s.faces for s in counted.shots),
        }
    storage.write_json(out, shots.model_dump())
    return {**result, "seconds": time.perf_counter() - started}
