"""The shot list as an OpenTimelineIO timeline over the rendered film.

The render is one flattened film, so each shot is a clip of that film whose source range is its
own place in the film (record = source, a straight conform). Dissolves and fades are baked into
the frames; the timeline names them in a marker over the transition and in the clip's metadata
rather than as OTIO transitions, which would make an editing system dissolve a second time.
"""

from __future__ import annotations

import re

import opentimelineio as otio

from tasks.spec import ShotList, parse_fps

DEFAULT_START = "00:00:00:00"


def build_timeline(
    shots: ShotList, media_uri: str, *, name: str, start_timecode: str | None = None
) -> otio.schema.Timeline:
    """One video track, one clip per shot, starting at the film's timecode; the reel (for the
    EDL) is the film's name, as an 8-character tape name."""
    reel = (re.sub(r"[^A-Za-z0-9]+", "", name).upper() or "RECAST")[:8]
    rate = float(parse_fps(shots.fps))
    start = otio.opentime.from_timecode(start_timecode or DEFAULT_START, rate)
    available = otio.opentime.TimeRange(start, otio.opentime.RationalTime(shots.frame_count, rate))
    timeline = otio.schema.Timeline(name=name, global_start_time=start)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for shot in shots.shots:
        clip = otio.schema.Clip(
            name=f"shot_{shot.index:04d}",
            media_reference=otio.schema.ExternalReference(
                target_url=media_uri, available_range=available
            ),
            source_range=otio.opentime.TimeRange(
                start + otio.opentime.RationalTime(shot.start_frame, rate),
                otio.opentime.RationalTime(shot.frames, rate),
            ),
            metadata={"recast": _shot_metadata(shots, shot.index), "cmx_3600": {"reel": reel}},
        )
        if shot.transition != "cut":
            clip.markers.append(_transition_marker(shot.transition, shot.transition_frames, rate))
        track.append(clip)
    timeline.tracks.append(track)
    timeline.metadata["recast"] = {"fps": shots.fps, "detector": shots.detector}
    return timeline


def _shot_metadata(shots: ShotList, index: int) -> dict[str, object]:
    shot = shots.shots[index]
    return {
        "shot": shot.index,
        "start_frame": shot.start_frame,
        "end_frame": shot.end_frame,
        "transition": shot.transition,
        "transition_frames": shot.transition_frames,
    }


def _transition_marker(kind: str, frames: int, rate: float) -> otio.schema.Marker:
    # The marker sits on the clip's first frames: the half of the transition after the cut.
    half = max(1, frames // 2)
    return otio.schema.Marker(
        name=f"{kind} {frames} frames (baked in)",
        marked_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(half, rate)
        ),
        color=otio.schema.MarkerColor.YELLOW,
    )
