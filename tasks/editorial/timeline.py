"""The shot list as an OpenTimelineIO timeline over the rendered film.

The render is one flattened film, so each shot is a clip of that film whose source range is its
own place in the film (record = source, a straight conform). Dissolves and fades are baked into
the frames; the timeline names them in a marker over the transition and in the clip's metadata
rather than as OTIO transitions, which would make an editing system dissolve a second time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import opentimelineio as otio

from tasks.media import timecode as tc
from tasks.media.plates import ShotClip
from tasks.spec import ShotList, parse_fps


def build_timeline(
    shots: ShotList,
    media_uri: str,
    *,
    name: str,
    start_timecode: str | None = None,
    clips: Mapping[int, ShotClip] | None = None,
) -> otio.schema.Timeline:
    """One video track, one clip per shot, starting at the film's timecode; the reel (for the
    EDL) is the film's name, as an 8-character tape name. A shot delivered as a clip (`clips`,
    the `shots` delivery) refers to that clip instead, by its path under the delivery, with its
    own reel (`S<shot>V<version>`) and name: the conform timeline."""
    reel = reel_name(name)
    exact = parse_fps(shots.fps)
    rate = float(exact)
    # The timecode package counts any rate (OTIO's from_timecode only the SMPTE ones).
    first = tc.frame_number(tc.start_of(start_timecode, None, exact), exact)
    start = otio.opentime.RationalTime(first, rate)
    available = otio.opentime.TimeRange(start, otio.opentime.RationalTime(shots.frame_count, rate))
    timeline = otio.schema.Timeline(name=name, global_start_time=start)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for shot in shots.shots:
        delivered = (clips or {}).get(shot.index)
        metadata: dict[str, Any] = {"recast": _shot_metadata(shots, shot.index)}
        if delivered is None:
            reference: otio.core.MediaReference = otio.schema.ExternalReference(
                target_url=media_uri, available_range=available
            )
            metadata["cmx_3600"] = {"reel": reel}
            clip_name = f"shot_{shot.index:04d}"
        else:
            reference = _clip_reference(delivered, start, rate)
            metadata["cmx_3600"] = {"reel": f"S{shot.index:04d}V{delivered.version:02d}"[-8:]}
            metadata["recast"]["delivered"] = delivered.as_dict()
            clip_name = delivered.name
        clip = otio.schema.Clip(
            name=clip_name,
            media_reference=reference,
            # The shot's own frames: a delivered clip's handles stay outside the range.
            source_range=otio.opentime.TimeRange(
                start + otio.opentime.RationalTime(shot.start_frame, rate),
                otio.opentime.RationalTime(shot.frames, rate),
            ),
            metadata=metadata,
        )
        if shot.transition != "cut":
            clip.markers.append(
                _transition_marker(
                    shot.transition, shot.transition_frames, clip.source_range.start_time
                )
            )
        track.append(clip)
    timeline.tracks.append(track)
    timeline.metadata["recast"] = {"fps": shots.fps, "detector": shots.detector}
    return timeline


def _clip_reference(
    clip: ShotClip, film_start: otio.opentime.RationalTime, rate: float
) -> otio.core.MediaReference:
    """The delivered clip, its available range at its source timecode (the film's timecode of
    its first frame, handles included)."""
    available = otio.opentime.TimeRange(
        film_start + otio.opentime.RationalTime(clip.first, rate),
        otio.opentime.RationalTime(clip.frames, rate),
    )
    if clip.plate_format == "prores4444":
        return otio.schema.ExternalReference(target_url=clip.path, available_range=available)
    folder, _, first_file = clip.path.rpartition("/")
    return otio.schema.ImageSequenceReference(
        target_url_base=f"{folder}/",
        name_prefix=f"{clip.name}.",
        name_suffix=f".{clip.plate_format}",
        start_frame=int(first_file.split(".")[-2]),
        frame_step=1,
        rate=rate,
        frame_zero_padding=len(first_file.split(".")[-2]),
        available_range=available,
    )


def reel_name(name: str) -> str:
    """A CMX3600 tape name: up to 8 letters and digits."""
    return (re.sub(r"[^A-Za-z0-9]+", "", name).upper() or "RECAST")[:8]


def _shot_metadata(shots: ShotList, index: int) -> dict[str, object]:
    shot = shots.shots[index]
    return {
        "shot": shot.index,
        "start_frame": shot.start_frame,
        "end_frame": shot.end_frame,
        "transition": shot.transition,
        "transition_frames": shot.transition_frames,
    }


def _transition_marker(
    kind: str, frames: int, first: otio.opentime.RationalTime
) -> otio.schema.Marker:
    # The marker sits on the clip's first frames (the half of the transition after the cut),
    # in the clip's own time, as OTIO reads a marked range: its source timecode, not zero
    # (at zero the EDL's LOC line read 00:00:00:00 for every transition).
    half = max(1, frames // 2)
    return otio.schema.Marker(
        name=f"{kind} {frames} frames (baked in)",
        marked_range=otio.opentime.TimeRange(first, otio.opentime.RationalTime(half, first.rate)),
        color=otio.schema.MarkerColor.YELLOW,
    )
