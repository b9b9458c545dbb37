"""Join unit mezzanines into the delivery film with the source's audio, frame for frame.

One ffmpeg run per delivery preset (delivery.py): the concat demuxer reads the units in order,
frames are renumbered on an exact 1/fps time base (so no container rounding can drop or repeat
one), converted to YUV with the source's matrix and tagged with its colour, sample aspect ratio
and timecode; the source's audio streams are mapped back untouched where the container allows
(languages kept), moved by the source's video lead-in so they stay in sync, and so are its
text subtitles (delivery.py). Units in YUV
(split's, in the source's own pixel format and matrix) go to the delivery format without a
colour conversion; RGB units (the swap's) are converted with the source's matrix. The result is
probed: anything but the source's frame count is an error. A rotated source comes back upright
(every stage decodes it upright), so it carries no rotation flag; a variable-rate source comes
back at its constant rate (see probe.py).
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tasks.media.delivery import Delivery, audio_args, preset, subtitle_args
from tasks.media.ffprobe import ffprobe
from tasks.media.probe import probe, video_lead_in
from tasks.spec import DeliveryPreset, Probe, SpecError, parse_fps

log = logging.getLogger(__name__)

FFMPEG = "ffmpeg"
# ffprobe's colour matrix names -> swscale's, for the ones swscale can apply.
_MATRICES = {
    "bt709": "bt709",
    "smpte170m": "smpte170m",
    "bt470bg": "bt470",
    "smpte240m": "smpte240m",
    "bt2020nc": "bt2020",
    "fcc": "fcc",
}


def assemble(
    unit_videos: Sequence[Path],
    source: Path,
    out: Path,
    fps: str,
    *,
    delivery: DeliveryPreset = "review",
    info: Probe | None = None,
) -> Probe:
    """Concatenate `unit_videos` in order into `out` with `source`'s audio, as `delivery`; the
    probe of the film made (it is probed to check its frames anyway)."""
    if not unit_videos:
        raise SpecError("no unit videos to assemble")
    missing = [str(p) for p in unit_videos if not p.is_file()]
    if missing:
        raise SpecError(f"unit videos missing: {', '.join(missing)}")
    info = info or probe(source, vfr="conform")  # the caller's probe of `source`, when it has one
    try:
        same_rate = parse_fps(fps) == parse_fps(info.fps)
    except ValueError as exc:
        raise SpecError(str(exc)) from exc
    if not same_rate:
        raise SpecError(f"assembling at {fps} fps would drift from the source's {info.fps} fps")
    out.parent.mkdir(parents=True, exist_ok=True)
    spec = preset(delivery)
    with tempfile.TemporaryDirectory(prefix="recast-assemble-", dir=out.parent) as tmp:
        listing = _write_concat_list(Path(tmp) / "units.ffconcat", unit_videos)
        native = _units_native(unit_videos[0], info)
        cmd = _command(listing, source, out, info, spec, native)
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
    log.info("assembled %d units into %s (%s, %d frames)", len(unit_videos), out, delivery,
             made.frame_count)  # fmt: skip
    return made


def _write_concat_list(path: Path, videos: Sequence[Path]) -> Path:
    lines = ["ffconcat version 1.0"]
    for video in videos:
        quoted = str(video.resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _units_native(unit: Path, info: Probe) -> bool:
    """Whether the units (all of a render share one format) hold the source's own YUV
    pictures: split's mezzanines do; RGB ones (the swap's) and BT.709 ones made from RGB
    (frames.FrameWriter) need a colour conversion, unless BT.709 is the source's too."""
    streams = ffprobe(unit, ["-select_streams", "v:0", "-show_streams"]).get("streams", [])
    if not streams:
        raise SpecError(f"{unit}: not a readable unit video")
    video = streams[0]
    pix_fmt = str(video.get("pix_fmt", ""))
    if pix_fmt.startswith(("gbr", "bgr", "rgb", "0rgb", "0bgr", "argb", "abgr")):
        return False
    space, colour_range = (str(video.get(k) or "") for k in ("color_space", "color_range"))
    # Untagged range means limited (tv): ProRes tags it where the source did not.
    if colour_range in ("", "unknown"):
        colour_range = "tv"
    same_space = (space if space not in ("", "unknown") else None) == info.color_space
    return same_space and colour_range == (info.color_range or "tv")


def _video_filter(info: Probe, spec: Delivery, native_units: bool = False) -> str:
    rate = parse_fps(info.fps)
    height = "ceil(ih/2)*2" if spec.even_height else "ih"
    # Frame N at exactly N/fps; chroma subsampling needs even sizes: pad (never crop) one pixel.
    steps = [
        f"settb=expr={rate.denominator}/{rate.numerator}",
        "setpts=N",
        f"pad=ceil(iw/2)*2:{height}",
        f"setsar={info.sar.replace(':', '/')}",
    ]
    if not native_units:
        # Use the matrix the units were decoded with (the source's, else swscale's BT.601),
        # so every player shows the output as it shows the source. YUV units made from RGB
        # are BT.709 limited (frames.py): through RGB first, as FFmpeg 5.1's swscale does not
        # change matrix from YUV to YUV. RGB units pass through unchanged.
        matrix = _MATRICES.get(info.color_space or "", "bt601")
        steps.append("scale=in_color_matrix=bt709:in_range=tv")
        steps.append("format=rgb24")
        steps.append(f"scale=out_color_matrix={matrix}:out_range=tv")
    # Native units hold the source's own pictures: only subsampling, bit depth (and a full
    # range to limited) change, with no matrix.
    steps.append(f"format={spec.pix_fmt}")
    # Tag the frames themselves: FFmpeg 5.1 encoders take the frames' tags over -colorspace.
    steps.append(":".join(["setparams=range=tv", *_colour_params(info)]))
    return ",".join(steps)


def _colour_params(info: Probe) -> list[str]:
    tags = {
        "colorspace": info.color_space,
        "color_primaries": info.color_primaries,
        "color_trc": info.color_transfer,
    }
    # Untagged stays untagged, whatever tags the units carry (a YUV mezzanine says BT.709).
    return [f"{name}={value or 'unknown'}" for name, value in tags.items()]


def _source_input(source: Path) -> tuple[list[str], list[str]]:
    """The source as input 1, and the output options that keep its streams' start offsets.

    ffmpeg rebases the source on its earliest stream, but the frames start at 0 in the output:
    where the video starts late (a camera or NLE file, AAC priming in MPEG-TS) the audio moves
    back by that lead-in to line up with frame 0, then every stream moves forward by it again,
    so the output starts as the source did: its sound first, its first frame as late."""
    lead_in = video_lead_in(source)
    if lead_in <= 0:
        return ["-i", str(source)], []
    shift = f"{lead_in:.6f}"
    return ["-itsoffset", f"-{shift}", "-i", str(source)], ["-output_ts_offset", shift]


def _command(
    listing: Path, source: Path, out: Path, info: Probe, spec: Delivery, native_units: bool
) -> list[str]:
    cmd = [FFMPEG, "-y", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing)]
    source_input, keep_offsets = _source_input(source)
    cmd += [*source_input, "-map", "0:v:0", "-map", "1:a?"]
    cmd += ["-vf", _video_filter(info, spec, native_units), "-r", info.fps, "-fps_mode", "cfr"]
    cmd += [*spec.video, "-pix_fmt", spec.pix_fmt]
    cmd += audio_args(spec, [a.codec for a in info.audio])
    cmd += subtitle_args(info.subtitles, source_input=1)  # timed like the audio (-itsoffset)
    if info.timecode:
        cmd += ["-timecode", info.timecode]
    # Container tags from the source; the rotation flag is not carried (frames come upright).
    cmd += ["-map_metadata", "1", "-metadata:s:v:0", "rotate=0", *keep_offsets]
    return [*cmd, *spec.muxer, str(out)]
