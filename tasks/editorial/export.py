"""Write the editorial files of a render: `timeline.otio` and `conform.edl`.

With the `shots` delivery these are the conform: the original film, with each delivered shot
clip laid over it at its record timecode (tasks/editorial/timeline.py). An EDL that the film's
rate cannot express is left out with a warning (tasks/editorial/edl.py): a sidecar never fails
a render.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import opentimelineio as otio

from tasks.editorial.edl import edl_text
from tasks.editorial.timeline import build_timeline
from tasks.media.plates import ShotClip
from tasks.spec import ShotList

log = logging.getLogger(__name__)


class Editorial(NamedTuple):
    timeline: Path
    edl: Path | None  # None: the rate has no CMX3600 timecode (see `warnings`)
    warnings: list[str]


def export_editorial(
    shots: ShotList,
    media_uri: str,
    out_dir: Path,
    *,
    name: str,
    start_timecode: str | None = None,
    clips: Mapping[int, ShotClip] | None = None,
) -> Editorial:
    """OTIO timeline and CMX3600 EDL of `shots` over the film at `media_uri`, with `clips`
    (shot -> delivered clip) in place of their shots."""
    timeline = build_timeline(
        shots, media_uri, name=name, start_timecode=start_timecode, clips=clips
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    otio_path, edl_path = out_dir / "timeline.otio", out_dir / "conform.edl"
    otio.adapters.write_to_file(timeline, str(otio_path))
    try:
        edl_path.write_text(edl_text(timeline), encoding="utf-8")
    except ValueError as exc:
        log.warning("editorial: %s", exc)
        return Editorial(otio_path, None, [f"EDL left out: {exc}"])
    log.info("editorial: %d shots -> %s, %s", len(shots.shots), otio_path, edl_path)
    return Editorial(otio_path, edl_path, [])
