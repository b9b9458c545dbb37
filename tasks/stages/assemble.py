"""assemble: the units in order, with the asset's own audio, into the delivery film."""

from __future__ import annotations

import time
from typing import Any

from tasks import storage
from tasks.layout import RunLayout
from tasks.media.assemble import assemble
from tasks.media.contact_sheet import contact_sheet
from tasks.media.probe import probe
from tasks.spec import ShotList, UnitPlan
from tasks.stages._workdir import workdir


def run(asset: str, run_prefix: str) -> dict[str, Any]:
    started = time.perf_counter()
    layout = RunLayout(run_prefix)
    plan = UnitPlan.model_validate(storage.read_json(layout.plan))
    shots = ShotList.model_validate(storage.read_json(layout.shots))
    with workdir("assemble") as tmp:
        source = storage.download(asset, tmp / "asset")
        parts = [
            storage.download(layout.unit_restored(u.id), tmp / "units" / f"{u.id}.mkv")
            for u in plan.units
        ]
        film = assemble(parts, source, tmp / "film.mp4", plan.fps)
        facts = probe(film)
        if facts.frame_count != plan.frame_count:
            raise RuntimeError(
                f"assembled film has {facts.frame_count} frames, the asset {plan.frame_count}"
            )
        sheet = contact_sheet(source, film, shots, tmp / "contact_sheet.png")
        storage.upload(film, layout.film)
        storage.upload(sheet, layout.contact_sheet)
    return {
        "stage": "assemble",
        "seconds": time.perf_counter() - started,
        "frames": facts.frame_count,
        "duration": facts.duration,
        "audio_streams": facts.audio_streams,
        "film": layout.film,
        "contact_sheet": layout.contact_sheet,
    }
