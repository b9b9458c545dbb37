"""Probe a film: exact frame rate, presented frames, colour, timecode, audio and subtitle streams.

ffprobe reads the headers; one demux pass (no decode, see packets.py) counts the frames a player
presents and checks their timing. Anything the pipeline cannot work on is refused here with a
SpecError, before a single unit is planned: missing, empty or unreadable files, unsupported
containers, no video, no frames, truncated files, frames above the size cap, and variable-rate
films when the operator asks for that (limits.py). Bitstream damage inside a readable file shows
on decoding: detect-shots, the next stage, decodes every frame and refuses corrupt ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
from pydantic import ValidationError

from tasks.media import limits
from tasks.media.delivery import TEXT_SUBTITLES
from tasks.media.ffprobe import JsonDict, ffprobe, number, tag
from tasks.media.packets import PacketScan, scan_packets
from tasks.media.rate import (
    conform_events,
    conform_slots,
    constant_rate_frames,
    header_rate,
    is_variable,
    parse_rate,
    typical_rate,
)
from tasks.spec import (
    AudioStream,
    Conform,
    ConformEvent,
    Probe,
    SpecError,
    SubtitleStream,
    VfrPolicy,
    fps_string,
)

log = logging.getLogger(__name__)

_COLOUR_KEYS = ("color_primaries", "color_transfer", "color_space", "color_range")


# Conform events kept in the probe (and so in XCom and the QC report's header).
_EVENTS = 20


def probe(path: Path, vfr: VfrPolicy | None = None) -> Probe:
    """Describe the film at `path`, or raise SpecError saying why it cannot be used. `vfr`:
    what to do with a variable-rate film (the spec's policy; None: RECAST_VFR's)."""
    return probe_scan(path, vfr=vfr)[0]


def probe_scan(
    path: Path,
    scan_of: Callable[[Path, int], PacketScan] = scan_packets,
    *,
    vfr: VfrPolicy | None = None,
) -> tuple[Probe, PacketScan]:
    """`probe`, and the video packets it read (a caller that needs them reads them once).
    `scan_of(path, stream_index)` demuxes the video stream: a caller that demuxed it already
    hands over its own scan instead of reading the file again."""
    _check_file(path)
    info = ffprobe(path, ["-show_streams", "-show_format"])
    video = _video_stream(info, path)
    container = str(info.get("format", {}).get("format_name", "unknown"))
    limits.check_container(path, container)
    scan = scan_of(path, int(video.get("index", 0)))
    _check_complete(path, video, scan)
    rate, frame_count, conform = _timing(path, video, scan, limits.vfr_policy(vfr))
    if not 1 <= rate <= 240:  # before Probe would refuse it in its own words
        raise SpecError(
            f"{path}: frame rate {float(rate):g} fps is outside the 1..240 fps Recast renders"
        )
    rotation = _rotation(video)
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if rotation % 180:
        width, height = height, width
    limits.check_size(path, width, height)
    streams = info.get("streams", [])
    audio = [_audio(s) for s in streams if s.get("codec_type") == "audio"]
    subtitles = [_subtitle(s) for s in streams if s.get("codec_type") == "subtitle"]
    try:
        facts = Probe(
            width=width,
            height=height,
            fps=fps_string(rate),
            frame_count=frame_count,
            duration=_duration(info, frame_count, rate),
            video_codec=str(video.get("codec_name", "unknown")),
            pix_fmt=str(video.get("pix_fmt", "unknown")),
            audio_streams=len(audio),
            audio_codec=audio[0].codec if audio else None,
            container=container,
            vfr=conform is not None,
            conform=conform,
            rotation=rotation,
            sar=_sar(video),
            bit_depth=_bit_depth(video),
            **_colour(video),
            timecode=_timecode(info, video),
            audio=audio,
            subtitles=subtitles,
            warnings=_warnings(rate, conform, subtitles),
        )
    except ValidationError as exc:  # the facts broke a rule of Probe's: say which, plainly
        rules = "; ".join(f"{e['loc'][0]}: {e['msg'].removeprefix('Value error, ')}"
                          for e in exc.errors())  # fmt: skip
        raise SpecError(f"{path}: unusable video stream: {rules}") from exc
    return facts, scan


def audio_codecs(path: Path) -> list[str]:
    """Codec name of every audio stream, in stream order (used to decide copy vs re-encode)."""
    info = ffprobe(path, ["-select_streams", "a", "-show_streams"])
    return [str(s.get("codec_name", "unknown")) for s in info.get("streams", [])]


def color_tags(path: Path) -> dict[str, str]:
    """The first video stream's colour tags that are set (color_space, _primaries, ...)."""
    keys = ("color_space", "color_primaries", "color_transfer", "color_range")
    info = ffprobe(path, ["-select_streams", "v:0", "-show_entries", f"stream={','.join(keys)}"])
    stream = (info.get("streams") or [{}])[0]
    return {k: str(stream[k]) for k in keys if stream.get(k) not in (None, "", "unknown")}


def video_lead_in(path: Path) -> float:
    """Seconds from the file's start (its earliest stream) to its first video frame."""
    info = ffprobe(path, ["-show_entries", "format=start_time:stream=codec_type,start_time"])
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


def _check_complete(path: Path, video: JsonDict, scan: PacketScan) -> None:
    if scan.packets == 0:
        raise SpecError(f"{path}: video stream has no frames")
    declared = int(number(video.get("nb_frames")) or 0)
    if declared > scan.packets:
        raise SpecError(
            f"{path}: truncated or corrupt: the header lists {declared} video frames, "
            f"the file holds {scan.packets}"
        )
    # Containers without a frame count (Matroska) still state the stream's length.
    seconds = number(video.get("duration")) or _clock(tag(video, "DURATION"))
    if seconds and scan.times:
        held = max(scan.times) - min(scan.times)
        if held < seconds - 1.0 and held < 0.9 * seconds:
            raise SpecError(
                f"{path}: truncated or corrupt: the header says {seconds:.2f} s of video, "
                f"the file holds {held:.2f} s"
            )


def _clock(value: str | None) -> float | None:
    """'00:01:02.500000000' -> 62.5"""
    if not value:
        return None
    try:
        hours, minutes, seconds = value.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def _timing(
    path: Path, video: JsonDict, scan: PacketScan, policy: VfrPolicy
) -> tuple[Fraction, int, Conform | None]:
    """(rate, frames, conform): the header's rate and every presented frame, unless the film
    is variable-rate; then, refused, or conformed to its typical rate over its span (what
    that repeats and drops in `conform`)."""
    # The header's average is a last resort: over a joined film's gaps it is no rate at all.
    header = header_rate(video.get("r_frame_rate"), video.get("avg_frame_rate"))
    rate = _fitting_rate(video, scan.times) or typical_rate(scan.times) or header
    if rate is None:
        raise SpecError(
            f"{path}: frame rate {video.get('r_frame_rate')!r} / "
            f"{video.get('avg_frame_rate')!r} is missing or outside 1..240 fps"
        )
    if not scan.times:  # raw streams without timestamps: every packet is a frame
        return rate, scan.packets, None
    if not is_variable(scan.times, rate):
        return rate, scan.frames, None
    if policy == "refuse":
        raise SpecError(
            f"{path}: variable frame rate (timestamps off the {fps_string(rate)} fps grid by "
            "more than half a frame); the render's vfr policy is refuse (vfr: conform retimes it)"
        )
    typical = typical_rate(scan.times) or rate
    frames = constant_rate_frames(sorted(scan.times), typical)
    conform = _conform(scan.times, typical, frames)
    log.warning("%s: %s", path, _warnings(typical, conform, [])[0])
    return typical, frames, conform


def _fitting_rate(video: JsonDict, times: list[float]) -> Fraction | None:
    """The header's r_frame_rate, else the rate of the median frame step, whichever the
    timestamps follow (each step within half a frame); None if neither. (A joined MP4's
    r_frame_rate can be a multiple of its rate, an interlaced one's the field rate.)"""
    for rate in (parse_rate(video.get("r_frame_rate")), typical_rate(times)):
        if rate is not None and times and not is_variable(times, rate):
            return rate
    return None


def _conform(times: list[float], rate: Fraction, frames: int) -> Conform:
    events = conform_events(conform_slots(times, rate, frames), len(times))
    return Conform(
        source_frames=len(times),
        repeated=sum(e[1] for e in events),
        dropped=sum(e[2] for e in events),
        events=[ConformEvent(frame=f, repeated=r, dropped=d) for f, r, d in events[:_EVENTS]],
        more_events=max(0, len(events) - _EVENTS),
    )


def _rotation(video: JsonDict) -> int:
    """Counter-clockwise display rotation in 0/90/180/270 (what the decoder turns frames by)."""
    for side in video.get("side_data_list") or []:
        if "rotation" in side:
            return round(float(side["rotation"]) / 90) * 90 % 360
    rotate = tag(video, "rotate")  # older muxers: a clockwise tag
    return (-round(float(rotate) / 90) * 90) % 360 if rotate else 0


def _sar(video: JsonDict) -> str:
    sar = str(video.get("sample_aspect_ratio") or "1:1")
    num, _, den = sar.partition(":")
    return sar if num.isdigit() and den.isdigit() and int(num) and int(den) else "1:1"


def _bit_depth(video: JsonDict) -> int:
    raw = int(number(video.get("bits_per_raw_sample")) or 0)
    if raw:
        return raw
    try:
        return int(av.VideoFormat(str(video.get("pix_fmt"))).components[0].bits)
    except (ValueError, av.FFmpegError):
        return 8


def _colour(video: JsonDict) -> dict[str, str | None]:
    return {
        k: (str(video[k]) if video.get(k) not in (None, "", "unknown") else None)
        for k in _COLOUR_KEYS
    }


def _timecode(info: JsonDict, video: JsonDict) -> str | None:
    # MOV keeps it on a tmcd data stream, MXF and Matroska on the format or the video stream.
    data = [s for s in info.get("streams", []) if s.get("codec_type") == "data"]
    for holder in (video, info.get("format", {}), *data):
        found = tag(holder, "timecode")
        if found:
            return found
    return None


def _audio(stream: JsonDict) -> AudioStream:
    return AudioStream(
        index=int(stream.get("index", 0)),
        codec=str(stream.get("codec_name", "unknown")),
        channels=int(number(stream.get("channels")) or 0),
        layout=stream.get("channel_layout") or None,
        sample_rate=int(number(stream.get("sample_rate")) or 0),
        language=tag(stream, "language"),
    )


def _subtitle(stream: JsonDict) -> SubtitleStream:
    return SubtitleStream(
        index=int(stream.get("index", 0)),
        codec=str(stream.get("codec_name", "unknown")),
        language=tag(stream, "language"),
    )


def _warnings(
    rate: Fraction, conform: Conform | None, subtitles: list[SubtitleStream]
) -> list[str]:
    found = []
    if conform is not None:
        found.append(
            f"variable frame rate: conformed to a constant {fps_string(rate)} fps, "
            f"{conform.repeated} frame(s) repeated and {conform.dropped} dropped"
        )
    bitmaps = [s for s in subtitles if s.codec not in TEXT_SUBTITLES]
    if bitmaps:
        codecs = ", ".join(sorted({s.codec for s in bitmaps}))
        found.append(
            f"{len(bitmaps)} bitmap subtitle stream(s) ({codecs}) are not carried into the "
            "render: MP4 and MOV take text subtitles only"
        )
    return found


def _duration(info: JsonDict, frame_count: int, rate: Fraction) -> float:
    seconds = number(info.get("format", {}).get("duration"))
    if seconds and seconds > 0:
        return seconds
    log.debug("no container duration; deriving it from %d frames at %s fps", frame_count, rate)
    return float(frame_count / rate)
