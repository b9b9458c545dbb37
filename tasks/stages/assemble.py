"""assemble: the units in order, with the asset's own audio, into the delivery film(s), plus
the contact sheet (JPEG pages), each shot's before/after thumbnails (for the QC report) and the
editorial files (OTIO timeline, CMX3600 EDL).

`RenderSpec.outputs()` decides what is written: the review film (H.264 + AAC in MP4) always,
as QC, signing and publishing read it; the ProRes 422 HQ + PCM master in MOV when asked
(`deliveries: [master]` or `delivery: master`); with `shots`, each shot with a replaced face as
a clip with handles (tasks/media/plates.py), `shots.json` listing them, and the editorial files
become the conform (the original film with the clips laid over it). Every file starts at the
film's timecode: the asset's own, else the spec's `start_timecode`, else 00:00:00:00.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tasks import reuse, storage
from tasks.editorial.export import export_editorial
from tasks.layout import RunLayout, safe_run_id
from tasks.media import plates
from tasks.media import timecode as tc
from tasks.media.assemble import assemble_all
from tasks.media.contact_sheet import contact_sheets, shot_pairs
from tasks.media.probe import probe
from tasks.qc import thumbs
from tasks.qc.identity import by_shot, written_faces
from tasks.spec import DeliveryPreset, Probe, RenderSpec, ShotList, SpecError, UnitPlan, parse_fps
from tasks.stages._workdir import workdir
from tasks.stages.swap import FACES_LOG


def run(asset: str, run_prefix: str) -> dict[str, Any]:
    started = time.perf_counter()
    layout = RunLayout(run_prefix)
    spec = RenderSpec.parse(storage.read_bytes(layout.spec))
    plan = UnitPlan.model_validate(storage.read_json(layout.plan))
    shots = ShotList.model_validate(storage.read_json(layout.shots))
    outputs: dict[str, Any] = {}
    wanted = spec.outputs()
    with workdir("assemble") as tmp:
        source = storage.download(asset, tmp / "asset")
        parts = [
            storage.download(layout.unit_restored(u.id), tmp / "units" / f"{u.id}.mkv")
            for u in plan.units
        ]
        original = probe(source, vfr="conform")  # the probe stage applied the policy
        timecode = film_timecode(original, spec)
        film, master = tmp / "film.mp4", tmp / "master.mov"
        outs: dict[DeliveryPreset, Path] = {"review": film}
        if "master" in wanted:
            outs["master"] = master  # from the same decode of the units as the review film
        frames = [u.frames for u in plan.units]
        made = assemble_all(
            parts, source, outs, plan.fps, info=original, unit_frames=frames, timecode=timecode
        )
        facts = made["review"]
        check_film(facts, original, plan, "the review film")
        if "master" in made:
            check_film(made["master"], original, plan, "the master")
            outputs["master"] = storage.upload(master, layout.master)
        clips: dict[int, plates.ShotClip] = {}
        if "shots" in wanted:
            units = [plates.UnitVideo(path, u.start_frame, u.end_frame)
                     for path, u in zip(parts, plan.units, strict=True)]  # fmt: skip
            clips = _deliver_shots(spec, layout, plan, shots, asset, original, units, timecode, tmp)
            outputs["shot_clips"] = layout.shot_clips
        # Decoded once: the contact sheet and the report's thumbnails show the same frames.
        pairs = shot_pairs(source, film, shots, original)
        pages = contact_sheets(source, film, shots, tmp / "contact_sheet", pairs=pairs)
        thumbs.write(run_prefix, pairs)
        # The conform lays the clips over the original film; without clips, the shots are
        # places in the film delivered.
        media = asset if clips else outputs.get("master", layout.film)
        editorial = _editorial(shots, asset, layout, media, timecode, tmp, clips)
        outputs.update(editorial.pop("files"))
        storage.upload(film, layout.film)
        for number, page in enumerate(pages, start=1):
            storage.upload(page, layout.contact_sheet_page(number))
    reuse.seal(layout)  # every unit is done: later renders read its records in one GET
    return {
        "stage": "assemble",
        "seconds": time.perf_counter() - started,
        "frames": facts.frame_count,
        "duration": facts.duration,
        "audio_streams": facts.audio_streams,
        "delivery": spec.delivery,
        "deliveries": list(wanted),
        "timecode": timecode,
        "film": layout.film,
        "contact_sheet": layout.contact_sheet,
        "warnings": editorial["warnings"],
        "contact_sheet_pages": len(pages),
        **outputs,
    }


def film_timecode(info: Probe, spec: RenderSpec) -> str | None:
    """The asset's own start timecode, else the spec's `start_timecode`, else zero; None at a
    rate whose frames HH:MM:SS:FF cannot count (over 100 fps): the files carry none."""
    rate = parse_fps(info.fps)
    if not tc.expressible(rate):
        return None
    try:
        return tc.start_of(info.timecode, spec.start_timecode, rate)
    except ValueError as exc:
        raise SpecError(f"start timecode: {exc}") from exc


def replaced_shots(layout: RunLayout, plan: UnitPlan, shots: ShotList) -> list[int]:
    """Shots in which the swap wrote at least one face (from each unit's faces log)."""
    # One GET a unit; a unit whose swap wrote no log has none.
    found = {u.id: storage.read_json_if_any(layout.unit(u.id, FACES_LOG)) for u in plan.units}
    logs = {unit: data for unit, data in found.items() if data is not None}
    inside = by_shot(shots, sorted(written_faces(plan, logs)))
    return [s.index for s, frames in zip(shots.shots, inside, strict=True) if frames]


def _deliver_shots(
    spec: RenderSpec,
    layout: RunLayout,
    plan: UnitPlan,
    shots: ShotList,
    asset: str,
    original: Probe,
    units: list[plates.UnitVideo],
    timecode: str | None,
    tmp: Path,
) -> dict[int, plates.ShotClip]:
    """Write, upload and list (`shots.json`) the clip of every shot with a replaced face, and
    its `_plate_src` when asked; shot -> clip."""
    stem = safe_run_id(Path(asset).stem or "film")  # file names of [A-Za-z0-9._-] only
    folder = tmp / "shots"
    folder.mkdir(parents=True, exist_ok=True)
    rate = parse_fps(original.fps)
    wanted = replaced_shots(layout, plan, shots)
    ranges = plates.clip_ranges(shots, wanted, spec.handles)
    sources: list[plates.UnitVideo] = []
    if spec.source_plates and ranges:
        sources = [
            plates.UnitVideo(
                storage.download(layout.unit_source(u.id), tmp / "sources" / f"{u.id}.mkv"),
                u.start_frame,
                u.end_frame,
            )
            for u in plan.units
        ]
    clips: dict[int, plates.ShotClip] = {}
    files: list[str] = []
    for shot, first, end, head in ranges:
        name = plates.clip_name(stem, shot)
        start = tc.shift(timecode, first, rate) if timecode else None
        args = (first, end, folder)
        made = plates.write_clip(units, original, *args, name, spec.plate_format, start)
        clips[shot] = plates.ShotClip(
            shot=shot,
            name=name,
            path=made.relative_to(tmp).as_posix(),
            first=first,
            end=end,
            head=head,
            tail=end - shots.shots[shot].end_frame,
            timecode=start,
            plate_format=spec.plate_format,
        )
        if sources:
            plates.write_clip(sources, original, *args, f"{name}_plate_src", spec.plate_format,
                              start)  # fmt: skip
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(tmp).as_posix()
        storage.upload(path, layout.shot_file(relative))
        files.append(relative)
    manifest = {"clips": [c.as_dict() for c in clips.values()], "files": files}
    storage.write_json(layout.shot_clips, manifest)
    return clips


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
    shots: ShotList,
    asset: str,
    layout: RunLayout,
    media: str,
    timecode: str | None,
    tmp: Path,
    clips: dict[int, plates.ShotClip],
) -> dict[str, Any]:
    """Upload the OTIO timeline and the EDL of the shots over `media` (the conform, with
    `clips`): {"files": their URIs, "warnings": why a file was left out}."""
    name = Path(asset).stem or "film"
    made = export_editorial(
        shots, media, tmp / "editorial", name=name, start_timecode=timecode, clips=clips
    )
    files = {"timeline": storage.upload(made.timeline, layout.timeline)}
    if made.edl is not None:
        files["edl"] = storage.upload(made.edl, layout.edl)
    return {"files": files, "warnings": made.warnings}
