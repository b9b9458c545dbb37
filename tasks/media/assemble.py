"""Join unit mezzanines into the delivery films with the source's audio, frame for frame.

The units are cut into runs (one per 4 CPUs on a long film); one ffmpeg per run reads its units
with the concat demuxer, decodes them once and encodes every delivery asked for (delivery.py:
the review film, and the master alongside it), frames renumbered on an exact 1/fps time base
(so no container rounding can drop or repeat one), converted to YUV with the source's matrix
and tagged with its colour and sample aspect ratio. Each delivery's runs, each starting on a
keyframe, are then joined without re-encoding, with the source's timecode, its audio streams
mapped back untouched where the container allows (languages kept) and its text subtitles; the
streams keep the source's start offsets, so they stay in sync. Units in YUV (split's, in the
source's own pixel format and matrix) go to the delivery format without a colour conversion;
RGB units (the swap's) are converted with the source's matrix. Each film is probed: anything
but the source's frame count is an error. A rotated source comes back upright (every stage
decodes it upright), so it carries no rotation flag; a variable-rate source comes back at its
constant rate (see probe.py).
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import av

from tasks.env import env_int
from tasks.media.delivery import Delivery, audio_args, preset, subtitle_args
from tasks.media.ffprobe import ffprobe
from tasks.media.packets import scan_packets
from tasks.media.probe import probe, video_lead_in
from tasks.media.rate import join_shifts
from tasks.spec import DeliveryPreset, Probe, SpecError, parse_fps

log = logging.getLogger(__name__)

FFMPEG = "ffmpeg"
# The shortest run of film one encoder takes on, when the units are cut into runs.
MIN_RUN_SECONDS = 30
# x264 keeps about this many cores busy at review sizes: more runs only compete (on 2 cores,
# two runs side by side took 59-68 s where one took 51-59 s, bench/split_assemble.py --jobs).
CPUS_PER_RUN = 4
# ffprobe's colour matrix names -> swscale's, for the ones swscale can apply.
MATRICES = {
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
    timecode: str | None = None,
) -> Probe:
    """Concatenate `unit_videos` in order into `out` with `source`'s audio, as `delivery`; the
    probe of the film made (it is probed to check its frames anyway). The film starts at
    `timecode`, else at the source's own."""
    made = assemble_all(unit_videos, source, {delivery: out}, fps, info=info, timecode=timecode)
    return made[delivery]


def assemble_all(
    unit_videos: Sequence[Path],
    source: Path,
    outs: Mapping[DeliveryPreset, Path],
    fps: str,
    *,
    info: Probe | None = None,
    unit_frames: Sequence[int] = (),
    jobs: int | None = None,
    timecode: str | None = None,
) -> dict[DeliveryPreset, Probe]:
    """`assemble` into every delivery of `outs` from one decode of the units: the units are
    cut into runs, each decoded once and encoded to every delivery by its own ffmpeg, side by
    side; each delivery's runs, which all start on a keyframe, are then joined without
    re-encoding and muxed with the audio. `jobs` runs, or, by default, with the units' frame
    counts (`unit_frames`), one per `CPUS_PER_RUN` CPUs (RECAST_ASSEMBLE_JOBS) of
    `MIN_RUN_SECONDS` or more: a short film is one run, as an encoder restarted too often loses
    quality."""
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
    specs = {name: preset(name) for name in outs}
    if jobs is None:
        most = env_int("RECAST_ASSEMBLE_JOBS", max(1, (os.cpu_count() or 1) // CPUS_PER_RUN))
        seconds = sum(unit_frames) / parse_fps(info.fps)
        jobs = max(1, min(most, int(seconds // MIN_RUN_SECONDS)))
    made: dict[DeliveryPreset, Probe] = {}
    for out in outs.values():
        out.parent.mkdir(parents=True, exist_ok=True)
    first = next(iter(outs.values()))
    with tempfile.TemporaryDirectory(prefix="recast-assemble-", dir=first.parent) as name:
        tmp = Path(name)
        native = units_native(unit_videos[0], info)
        runs = _runs(unit_videos, jobs)
        encodes = [
            _encode_command(
                write_concat_list(tmp / f"run-{i}.ffconcat", run),
                {d: tmp / f"run-{i}-{d}.nut" for d in specs},
                info, specs, native,
            )
            for i, run in enumerate(runs)
        ]  # fmt: skip
        _run_all(encodes, "encode the film")
        rate = parse_fps(info.fps)
        shifts = _join_shifts(source, info)
        for delivery, out in outs.items():
            parts = [tmp / f"run-{i}-{delivery}.nut" for i in range(len(runs))]
            # Each run's exact length: the concat demuxer would take a B-frame run's decoding
            # delay for part of it, and leave a frame's gap at each join.
            lengths = [_packets(part) / rate for part in parts]
            listing = write_concat_list(tmp / f"{delivery}.ffconcat", parts, lengths)
            _run_all(
                [_join_command(listing, source, out, info, specs[delivery], timecode, shifts)],
                f"join {out}",
            )
            made[delivery] = _checked(out, info)
    log.info("assembled %d units in %d runs into %s, %d frames", len(unit_videos), len(runs),
             ", ".join(str(o) for o in outs.values()), info.frame_count)  # fmt: skip
    return made


def _runs(videos: Sequence[Path], jobs: int) -> list[list[Path]]:
    """The units in at most `jobs` contiguous runs of about equal size (their bytes stand in
    for their frames: every unit of a render shares one codec)."""
    sizes = [v.stat().st_size for v in videos]
    share = sum(sizes) / max(1, min(jobs, len(videos)))
    runs: list[list[Path]] = [[]]
    filled = 0
    for video, size in zip(videos, sizes, strict=True):
        if runs[-1] and filled + size / 2 > share * len(runs) and len(runs) < jobs:
            runs.append([])
        runs[-1].append(video)
        filled += size
    return runs


def _run_all(commands: Sequence[list[str]], what: str) -> None:
    """Run the ffmpeg commands side by side; SpecError with the first failure's words."""
    for cmd in commands:
        log.debug("running %s", " ".join(cmd))
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for cmd in commands
    ]
    errors = [proc.communicate()[1] for proc in procs]
    for proc, error in zip(procs, errors, strict=True):
        if proc.returncode != 0:
            raise SpecError(f"ffmpeg could not {what}: {error.strip()[-800:]}")


def _packets(path: Path) -> int:
    """The video packets (frames) of an encoded run, demuxed, not decoded."""
    with av.open(str(path)) as container:
        return sum(1 for p in container.demux(container.streams.video[0]) if p.size)


def _checked(out: Path, info: Probe) -> Probe:
    made = probe(out)
    if made.frame_count != info.frame_count:
        raise SpecError(
            f"{out} has {made.frame_count} frames, the source has {info.frame_count}: "
            "the units do not cover the film"
        )
    return made


def write_concat_list(
    path: Path, videos: Sequence[Path], durations: Sequence[Fraction] = ()
) -> Path:
    lines = ["ffconcat version 1.0"]
    for index, video in enumerate(videos):
        quoted = str(video.resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
        if durations:
            lines.append(f"duration {float(durations[index]):.9f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def units_native(unit: Path, info: Probe) -> bool:
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
    return picture_filter(info, spec.pix_fmt, spec.even_height, native_units)


def picture_filter(info: Probe, pix_fmt: str, even_height: bool, native_units: bool) -> str:
    """The filter chain from the units' pictures to `pix_fmt` tagged as the source (also the
    shot clips', tasks/media/plates.py)."""
    rate = parse_fps(info.fps)
    height = "ceil(ih/2)*2" if even_height else "ih"
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
        matrix = MATRICES.get(info.color_space or "", "bt601")
        steps.append("scale=in_color_matrix=bt709:in_range=tv")
        steps.append("format=rgb24")
        steps.append(f"scale=out_color_matrix={matrix}:out_range=tv")
    # Native units hold the source's own pictures: only subsampling, bit depth (and a full
    # range to limited) change, with no matrix.
    steps.append(f"format={pix_fmt}")
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


def _video_offset(source: Path) -> list[str]:
    """Input options that start the frames as late as the source's first frame.

    ffmpeg rebases each input on its earliest stream: the source's sound starts at 0 in the
    output as it did in the source, and where its video starts later (a camera or NLE file,
    AAC priming in MPEG-TS), the joined frames are moved by that lead-in, so the output keeps
    the offset: its sound first, its first frame as late."""
    lead_in = video_lead_in(source)
    return ["-itsoffset", f"{lead_in:.6f}"] if lead_in > 0 else []


def _encode_command(
    listing: Path,
    outs: Mapping[DeliveryPreset, Path],
    info: Probe,
    specs: Mapping[DeliveryPreset, Delivery],
    native_units: bool,
) -> list[str]:
    """One decode of the units in `listing`, split to each delivery's filters and encoder:
    video only, in NUT (exact time base), frame N at N/fps from 0."""
    cmd = [FFMPEG, "-y", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing)]
    names = list(outs)
    chains = [f"[s{i}]{_video_filter(info, specs[d], native_units)}[v{i}]" for i, d in
              enumerate(names)]  # fmt: skip
    split = f"[0:v:0]split={len(names)}" + "".join(f"[s{i}]" for i in range(len(names)))
    cmd += ["-filter_complex", ";".join([split, *chains])]
    for i, delivery in enumerate(names):
        spec = specs[delivery]
        cmd += ["-map", f"[v{i}]", "-r", info.fps, "-fps_mode", "cfr", *spec.video]
        cmd += ["-pix_fmt", spec.pix_fmt, "-f", "nut", str(outs[delivery])]
    return cmd


def _join_shifts(source: Path, info: Probe) -> list[tuple[int, float]]:
    """The source's join gaps (rate.join_shifts), read from its packets (a demux, no decode);
    none for a conformed variable-rate film, whose frames are retimed to the sound already."""
    if info.conform is not None:
        return []
    return join_shifts(scan_packets(source).times, parse_fps(info.fps))


def _ticks(rate: Fraction) -> int:
    """The video track's clock: whole frames and fine offsets (the muxer's own choice,
    1/49152 s for 24 fps, put a late first frame 1 ms early)."""
    return rate.numerator * max(1, -(-24_000 // rate.numerator))


def _shift_filter(shifts: Sequence[tuple[int, float]], rate: Fraction, lead_in: float) -> str:
    """A `setts` bitstream filter that moves the frames after each join by its gap, as the
    source has them: the joined runs' copied packets are retimed, not re-encoded. It sees
    the output track's ticks (`_ticks`; its TB variable is the runs' time base, not theirs);
    each step halfway from the frame before, so the encoder's start offset never matters."""
    ticks = _ticks(rate)

    def moved(ts: str) -> str:
        terms = "+".join(
            f"gte({ts}\\,{round((lead_in + (frame - 0.5) / rate) * ticks)})*{round(gap * ticks)}"
            for frame, gap in shifts
        )
        return f"{ts}+{terms}"

    return f"setts=pts={moved('PTS')}:dts={moved('DTS')}"


def _join_command(
    listing: Path,
    source: Path,
    out: Path,
    info: Probe,
    spec: Delivery,
    timecode: str | None,
    shifts: Sequence[tuple[int, float]] = (),
) -> list[str]:
    """The encoded runs joined as they are, with the source's audio and subtitles; the frames
    after each of the source's join gaps (`shifts`) kept that much later, as the sound is."""
    offset = _video_offset(source)
    cmd = [FFMPEG, "-y", "-v", "error", *offset, "-f", "concat", "-safe", "0"]
    cmd += ["-i", str(listing), "-i", str(source), "-map", "0:v:0", "-map", "1:a?", "-c:v", "copy"]
    if shifts:
        lead_in = float(offset[1]) if offset else 0.0
        cmd += ["-bsf:v", _shift_filter(shifts, parse_fps(info.fps), lead_in)]
    cmd += audio_args(spec, [a.codec for a in info.audio])
    cmd += subtitle_args(info.subtitles, source_input=1)  # timed like the audio
    timecode = timecode or info.timecode
    if timecode:  # MP4 and MOV: a tmcd track (drop-frame when it reads HH:MM:SS;FF)
        cmd += ["-timecode", timecode]
    # Container tags from the source; the rotation flag is not carried (frames come upright).
    cmd += ["-map_metadata", "1", "-metadata:s:v:0", "rotate=0"]
    cmd += ["-video_track_timescale", str(_ticks(parse_fps(info.fps)))]
    return [*cmd, *spec.muxer, str(out)]
