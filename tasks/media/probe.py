"""Probe a film with ffprobe: exact frame rate, frame count, duration, codecs, audio streams.

Anything the pipeline cannot work on (missing, empty, not media, no video, no frames) is refused
here with a SpecError, before a single unit is planned.
"""

from __future__ import annotations

import json
import logging
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

from tasks.spec import Probe, SpecError, fps_string, parse_fps

log = logging.getLogger(__name__)

FFPROBE = "ffprobe"
# r_frame_rate and avg_frame_rate within this ratio describe the same constant rate.
_RATE_TOLERANCE = Fraction(1, 200)

JsonDict = dict[str, Any]


def probe(path: Path) -> Probe:
    """Describe the film at `path`, or raise SpecError saying why it cannot be used."""
    _check_file(path)
    info = _ffprobe(path, ["-show_streams", "-show_format"])
    video = _video_stream(info, path)
    fps = _frame_rate(video, path)
    frame_count = _frame_count(video, path, fps)
    audio = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    try:
        return Probe(
            width=int(video.get("width") or 0),
            height=int(video.get("height") or 0),
            fps=fps_string(fps),
            frame_count=frame_count,
            duration=_duration(info, video, frame_count, fps),
            video_codec=str(video.get("codec_name", "unknown")),
            pix_fmt=str(video.get("pix_fmt", "unknown")),
            audio_streams=len(audio),
            audio_codec=str(audio[0].get("codec_name")) if audio else None,
        )
    except ValueError as exc:
        raise SpecError(f"{path}: unusable video stream: {exc}") from exc


def audio_codecs(path: Path) -> list[str]:
    """Codec name of every audio stream, in stream order (used to decide copy vs re-encode)."""
    info = _ffprobe(path, ["-select_streams", "a", "-show_streams"])
    return [str(s.get("codec_name", "unknown")) for s in info.get("streams", [])]


def color_tags(path: Path) -> dict[str, str]:
    """The first video stream's colour tags that are set (color_space, _primaries, ...)."""
    keys = ("color_space", "color_primaries", "color_transfer", "color_range")
    info = _ffprobe(path, ["-select_streams", "v:0", "-show_entries", f"stream={','.join(keys)}"])
    stream = (info.get("streams") or [{}])[0]
    return {k: str(stream[k]) for k in keys if stream.get(k) not in (None, "", "unknown")}


def video_lead_in(path: Path) -> float:
    """Seconds from the file's start (its earliest stream) to its first video frame."""
    info = _ffprobe(path, ["-show_entries", "format=start_time:stream=codec_type,start_time"])
    video = [s for s in info.get("streams", []) if s.get("codec_type") == "video"]
    try:
        lead_in = float(video[0]["start_time"]) - float(info["format"]["start_time"])
    except (IndexError, KeyError, TypeError, ValueError):
        return 0.0
    return max(lead_in, 0.0)


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise SpecError(f"{path}: file does not exist")
    if path.stat().st_size == 0:
        raise SpecError(f"{path}: file is empty (0 bytes)")


def _ffprobe(path: Path, args: list[str]) -> JsonDict:
    cmd = [FFPROBE, "-v", "error", "-of", "json", *args, str(path)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-1:] or ["ffprobe failed"]
        raise SpecError(f"{path}: not a readable media file: {reason[0]}")
    try:
        data: JsonDict = json.loads(result.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: ffprobe returned unreadable output") from exc
    return data


def _video_stream(info: JsonDict, path: Path) -> JsonDict:
    for stream in info.get("streams", []):
        # Cover art is a "video" stream of one picture; it is not the film.
        if stream.get("codec_type") == "video" and not stream.get("disposition", {}).get(
            "attached_pic"
        ):
            return dict(stream)
    if not info.get("streams") and not info.get("format"):
        raise SpecError(f"{path}: not a media file")
    raise SpecError(f"{path}: no video stream")


def _rate(value: object) -> Fraction | None:
    try:
        return parse_fps(str(value))
    except ValueError:
        return None


def _frame_rate(video: JsonDict, path: Path) -> Fraction:
    real, avg = _rate(video.get("r_frame_rate")), _rate(video.get("avg_frame_rate"))
    # r_frame_rate is exact for constant-rate films; for variable-rate ones it is a timebase
    # guess (e.g. 120 or 90000), so trust it only when the average agrees.
    if real is not None and (avg is None or abs(real - avg) <= real * _RATE_TOLERANCE):
        return real
    if avg is not None:
        # Averages from durations come out as 2997/125 and the like: snap to the exact rate.
        return avg.limit_denominator(1001)
    raise SpecError(
        f"{path}: frame rate {video.get('r_frame_rate')!r} / {video.get('avg_frame_rate')!r} "
        "is missing or outside 1..240 fps"
    )


def _frame_count(video: JsonDict, path: Path, fps: Fraction) -> int:
    index = str(video.get("index", 0))
    frames = int(video.get("nb_frames") or 0)
    if frames <= 0:
        # Matroska and raw streams carry no frame count: count packets (no decode needed).
        frames = _stream_count(path, index, "-count_packets", "nb_read_packets")
    if _disagrees_with_duration(video, frames, fps):
        # Edit lists (a copy-trimmed MP4) hide decoded frames and variable-rate films stretch
        # the duration: only decoding tells how many frames are presented.
        log.info("%s: %d packets do not fill the stream duration; counting frames", path, frames)
        frames = _stream_count(path, index, "-count_frames", "nb_read_frames")
    if frames <= 0:
        raise SpecError(f"{path}: video stream has no frames")
    return frames


def _stream_count(path: Path, index: str, flag: str, field: str) -> int:
    info = _ffprobe(path, ["-select_streams", index, flag, "-show_entries", f"stream={field}"])
    streams = info.get("streams", [])
    return int(streams[0].get(field) or 0) if streams else 0


def _disagrees_with_duration(video: JsonDict, frames: int, fps: Fraction) -> bool:
    try:
        seconds = float(video["duration"])
    except (KeyError, TypeError, ValueError):
        return False
    return abs(frames - seconds * float(fps)) > 1.0


def _duration(info: JsonDict, video: JsonDict, frame_count: int, fps: Fraction) -> float:
    for value in (info.get("format", {}).get("duration"), video.get("duration")):
        try:
            seconds = float(str(value))
        except ValueError:  # absent ("None") or "N/A"
            continue
        if seconds > 0:
            return seconds
    log.debug("no container duration; deriving it from %d frames at %s fps", frame_count, fps)
    return float(frame_count / fps)
