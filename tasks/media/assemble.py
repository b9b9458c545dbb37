"""Join unit mezzanines into the delivery MP4 with the source's audio, frame for frame.

One ffmpeg run: the concat demuxer reads the FFV1 units in order, frames are renumbered on an
exact 1/fps time base (so no container rounding can drop or repeat one), encoded to H.264
yuv420p at a constant rate, and the source's audio streams are mapped back untouched where MP4
allows it. The result is probed: anything but the source's frame count is an error.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from tasks.media.probe import audio_codecs, color_tags, probe, video_lead_in
from tasks.spec import SpecError, fps_string, parse_fps

log = logging.getLogger(__name__)

FFMPEG = "ffmpeg"
CRF = "18"
PRESET = "medium"
AUDIO_BITRATE = "192k"
# Audio codecs the MP4 muxer takes as they are; anything else is re-encoded to AAC.
MP4_AUDIO = frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"})
# ffprobe's colour matrix names -> swscale's, for the ones swscale can apply.
_MATRICES = {
    "bt709": "bt709",
    "smpte170m": "smpte170m",
    "bt470bg": "bt470",
    "smpte240m": "smpte240m",
    "bt2020nc": "bt2020",
    "fcc": "fcc",
}
_TAG_FLAGS = {
    "color_space": "-colorspace",
    "color_primaries": "-color_primaries",
    "color_transfer": "-color_trc",
}


def assemble(unit_videos: Sequence[Path], source: Path, out: Path, fps: str) -> Path:
    """Concatenate `unit_videos` in order into `out` (H.264 MP4) with `source`'s audio."""
    if not unit_videos:
        raise SpecError("no unit videos to assemble")
    missing = [str(p) for p in unit_videos if not p.is_file()]
    if missing:
        raise SpecError(f"unit videos missing: {', '.join(missing)}")
    info = probe(source)
    rate = _rate(fps)
    if fps_string(rate) != info.fps:
        raise SpecError(f"assembling at {fps} fps would drift from the source's {info.fps} fps")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="recast-assemble-", dir=out.parent) as tmp:
        listing = _write_concat_list(Path(tmp) / "units.ffconcat", unit_videos)
        source_args = _source_input(source, video_lead_in(source))
        cmd = _command(listing, source_args, out, fps, color_tags(source), audio_codecs(source))
        log.debug("running %s", " ".join(cmd))
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SpecError(f"ffmpeg could not assemble {out}: {result.stderr.strip()[-800:]}")
    made = probe(out)
    if made.frame_count != info.frame_count:
        raise SpecError(
            f"{out} has {made.frame_count} frames, the source has {info.frame_count}: "
            "the units do not cover the film"
        )
    log.info("assembled %d units into %s (%d frames)", len(unit_videos), out, made.frame_count)
    return out


def _rate(fps: str) -> Fraction:
    try:
        return parse_fps(fps)
    except ValueError as exc:
        raise SpecError(str(exc)) from exc


def _write_concat_list(path: Path, videos: Sequence[Path]) -> Path:
    lines = ["ffconcat version 1.0"]
    for video in videos:
        quoted = str(video.resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _video_filter(fps: str, tags: dict[str, str]) -> str:
    rate = parse_fps(fps)
    # Frame N at exactly N/fps; yuv420p needs even sizes, so pad (never crop) by one pixel.
    steps = [
        f"settb=expr={rate.denominator}/{rate.numerator}",
        "setpts=N",
        "pad=ceil(iw/2)*2:ceil(ih/2)*2",
    ]
    # Use the matrix the units were decoded with (the source's, else swscale's BT.601), so
    # every player shows the output as it shows the source.
    matrix = _MATRICES.get(tags.get("color_space", ""), "bt601")
    steps.append(f"scale=out_color_matrix={matrix}:out_range=tv")
    steps.append("format=yuv420p")
    return ",".join(steps)


def _source_input(source: Path, lead_in: float) -> list[str]:
    # ffmpeg rebases the source on its earliest stream; the frames start at 0 in the output, so
    # the audio moves back by the source's video lead-in (AAC priming, a TS start offset).
    offset = ["-itsoffset", f"{-lead_in:.6f}"] if lead_in > 0 else []
    return [*offset, "-i", str(source)]


def _command(
    listing: Path,
    source_args: list[str],
    out: Path,
    fps: str,
    tags: dict[str, str],
    audio: list[str],
) -> list[str]:
    cmd = [FFMPEG, "-y", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing)]
    cmd += [*source_args, "-map", "0:v:0", "-map", "1:a?"]
    cmd += ["-vf", _video_filter(fps, tags), "-r", fps, "-fps_mode", "cfr"]
    cmd += ["-c:v", "libx264", "-preset", PRESET, "-crf", CRF, "-pix_fmt", "yuv420p"]
    cmd += ["-color_range", "tv"]
    for key, flag in _TAG_FLAGS.items():
        if key in tags:
            cmd += [flag, tags[key]]
    for index, codec in enumerate(audio):
        if codec in MP4_AUDIO:
            cmd += [f"-c:a:{index}", "copy"]
        else:
            cmd += [f"-c:a:{index}", "aac", f"-b:a:{index}", AUDIO_BITRATE]
    return [*cmd, "-map_metadata", "1", "-movflags", "+faststart", str(out)]
