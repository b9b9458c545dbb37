"""Write the editorial files of a render: `timeline.otio` and `timeline.edl`."""

from __future__ import annotations

import logging
from pathlib import Path

import opentimelineio as otio

from tasks.editorial.edl import edl_text
from tasks.editorial.timeline import build_timeline
from tasks.spec import ShotList

log = logging.getLogger(__name__)


def export_editorial(
    shots: ShotList,
    media_uri: str,
    out_dir: Path,
    *,
    name: str,
    start_timecode: str | None = None,
) -> tuple[Path, Path]:
    """(OTIO timeline, CMX3600 EDL) of `shots` over the film at `media_uri`."""
    timeline = build_timeline(shots, media_uri, name=name, start_timecode=start_timecode)
    out_dir.mkdir(parents=True, exist_ok=True)
    otio_path, edl_path = out_dir / "timeline.otio", out_dir / "timeline.edl"
    otio.adapters.write_to_file(timeline, str(otio_path))
    edl_path.write_text(edl_text(timeline), encoding="utf-8")
    log.info("editorial: %d shots -> %s, %s", len(shots.shots), otio_path, edl_path)
    return otio_path, edl_path
