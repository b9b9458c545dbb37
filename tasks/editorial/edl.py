"""A CMX3600 EDL of a timeline, through OpenTimelineIO's cmx_3600 adapter.

Record timecodes count from 00:00:00:00 (the adapter's convention); source timecodes are the
film's own. Baked-in dissolves and fades show as LOC comments on the event they open.
"""

from __future__ import annotations

import opentimelineio as otio


def edl_text(timeline: otio.schema.Timeline) -> str:
    text: str = otio.adapters.write_to_string(timeline, "cmx_3600", reelname_len=8)
    return text
