"""assemble: the units in order, with the asset's own audio, into the delivery film(s), plus
the contact sheet (JPEG pages), each shot's before/after thumbnails (for the QC report) and the
editorial files (OTIO timeline, CMX3600 EDL).

The review film (H.264 + AAC in MP4) is always made: QC, signing and publishing read it. The
spec's `delivery: master` adds the ProRes 422 HQ + PCM master in MOV from the same units.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tasks import storage
from tasks.editorial.export import export_editorial
from tasks.layout import RunLayout
from tasks.media.assemble import assemble_all
from tasks.media.contact_sheet import contact_sheets, shot_pairs
from tasks.media.probe import probe
from tasks.qc import thumbs
from tasks.spec import DeliveryPreset, Probe, RenderSpec, ShotList, UnitPlan, parse_fps
from tasks.stages._workdir import workdir


def run(asset: str, run_prefix: str) -> dict[str, Any]:
    started = time.perf_counter()
    layout = RunLayout(run_prefix)
    spec = RenderSpec.parse(storage.read_bytes(layout.spec))
    plan = UnitPlan.model_validate(storage.read_json(layout.plan))
    shots = ShotList.model_validate(storage.read_json(layout.shots))
    outputs: dict[str, str] = {}
    with workdir("assemble") as tmp:
        source = storage.download(asset, tmp / "asset")
        parts = [
            storage.download(layout.unit_restored(u.id), tmp / "units" / f"{u.id}.mkv")
            for u in plan.units
        ]
        original = probe(source, vfr="conform")  # the probe stage applied the policy
        film, master = tmp / "film.mp4", tmp / "master.mov"
        outs: dict[DeliveryPreset, Path] = {"review": film}
        if spec.delivery == "master":
            outs["master"] = master  # from the same decode of the units as the review film
        frames = [u.frames for u in plan.units]
        made = assemble_all(parts, source, outs, plan.fps, info=original, unit_frames=frames)
        facts = made["review"]
        check_film(facts, original, plan, "the review film")
        if "master" in made:
            check_film(made["master"], original, plan, "the master")
            outputs["master"] = storage.upload(master, layout.master)
        # Decoded once: the contact sheet and the report's thumbnails show the same frames.
        pairs = shot_pairs(source, film, shots, original)
        pages = contact_sheets(source, film, shots, tmp / "contact_sheet", pairs=pairs)
        thumbs.write(run_prefix, pairs)
        media = outputs.get("master", layout.film)
        outputs.update(_editorial(shots, asset, layout, media, original.timecode, tmp))
        storage.upload(film, layout.film)
        for number, page in enumerate(pages, start=1):
            storage.upload(page, layout.contact_sheet_page(number))
    return {
        "stage": "assemble",
        "seconds": time.perf_counter() - started,
        "frames": facts.frame_count,
        "duration": facts.duration,
        "audio_streams": facts.audio_streams,
        "delivery": spec.delivery,
        "film": layout.film,
        "contact_sheet": layout.contact_sheet,
        "contact_sheet_pages": len(pages),
        **outputs,
    }


def check_film(film: Probe, asset: Probe, plan: UnitPlan, what: str) -> None:
    """Nothing is uploaded, so nothing published, unless the film is the asset's length with
    all its audio: the same frames, every audio stream, the duration within one frame."""
    problems = []
    if film.frame_count != plan.frame_count:
        problems.append(f"{film.frame_count} frames, the asset {plan.frame_count}")
    # With audio, the duration is the audio's too; without it, frames are the whole story.
    if asset.audio_streams and abs(film.duration - asset.duration) > 1 / parse_fps(film.fps):
        problems.append(f"lasts {film.duration:.3f} s, the asset {asset.duration:.3f} s")
    if film.audio_streams != asset.audio_streams:
        problems.append(f"{film.audio_streams} audio streams, the asset {asset.audio_streams}")
    if problems:
        raise RuntimeError(f"{what} fails its checks: {'; '.join(problems)}")


def _editorial(
    shots: ShotList, asset: str, layout: RunLayout, media: str, timecode: str | None, tmp: Path
) -> dict[str, str]:
    """Upload the OTIO timeline and the EDL of the shots over `media`; their URIs."""
    name = Path(asset).stem or "film"
    otio_path, edl_path = export_editorial(
        shots, media, tmp / "editorial", name=name, start_timecode=timecode
    )
    return {
        "timeline": storage.upload(otio_path, layout.timeline),
        "edl": storage.upload(edl_path, layout.edl),
    }
