"""A CMX3600 EDL of a timeline, through OpenTimelineIO's cmx_3600 adapter.

Record timecodes start at the timeline's own start (its `global_start_time`): a gap of that
length ahead of the first event, which an EDL writes as nothing but the record timecode.
Source timecodes are the media's own. Baked-in dissolves and fades show as LOC comments on the
event they open. A rate SMPTE timecode cannot express (12 fps, 120 fps: OTIO refuses them) has
no EDL: `edl_text` says why instead, and the render goes on without the sidecar.
"""

from __future__ import annotations

import copy

import opentimelineio as otio


def edl_text(timeline: otio.schema.Timeline) -> str:
    """The EDL, or ValueError when the timeline's rate has no SMPTE timecode."""
    flat = copy.deepcopy(timeline)
    start = flat.global_start_time
    if start is not None and start.value > 0:
        for track in flat.video_tracks():
            track.insert(0, otio.schema.Gap(duration=start))
    try:
        text: str = otio.adapters.write_to_string(flat, "cmx_3600", reelname_len=8)
    except (ValueError, otio.exceptions.OTIOError) as exc:
        rate = timeline.duration().rate
        raise ValueError(f"no CMX3600 EDL at {rate:g} fps: {exc}") from exc
    return text
