"""Cut a film into per-unit mezzanines in one decode pass.

Frames are numbered from 0 in presentation order (upright, a variable-rate film retimed to its
constant rate), the numbering detect_shots uses, and unit i gets frames [start_frame, end_frame)
in `out_dir/<unit.id>.mkv`, in the chosen mezzanine (see frames.py). The decoded pictures are
written as they are, in the source's pixel format (no RGB round trip: cheaper, and bit-exact
for the lossless mezzanines); a rotated film, or a format the codec lacks, goes through RGB.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

from tasks.media.copy_units import copy_ranges, copy_units, read_packets
from tasks.media.frames import (
    FrameWriter,
    MezzanineFormat,
    NativeWriter,
    decoded_frames,
    native_format,
    read_frames,
)
from tasks.media.packets import scan_packets
from tasks.media.probe import probe
from tasks.spec import Mezzanine, Probe, SpecError, Unit

log = logging.getLogger(__name__)

LOSSLESS = ("ffv1", "h264")  # the mezzanines a copied unit can stand in for


def split_units(
    source: Path,
    units: Sequence[Unit],
    out_dir: Path,
    *,
    mezzanine: Mezzanine = "ffv1",
    copy: bool = True,
) -> dict[str, Path]:
    """Write each unit's frames of `source` to `out_dir/<unit.id>.mkv`; return id -> path.
    `copy=False` encodes the units even where they could be copied (copy_units.py)."""
    if not units:
        raise SpecError("no units to split")
    info = probe(source, vfr="conform")  # the probe stage refused what the policy refuses
    _check_units(units, info.frame_count)
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = {u.id: out_dir / f"{u.id}.mkv" for u in units}
    copied = _copy_what_can_be(source, info, units, outputs, mezzanine) if copy else set()
    ordered = sorted((u for u in units if u.id not in copied), key=lambda u: u.start_frame)
    if not ordered:
        return outputs
    native = native_format(mezzanine, source, info)
    with ExitStack() as stack:
        decoding = decoded_frames(source, info) if native else read_frames(source, info)
        frames: Iterator[Any] = stack.enter_context(closing(decoding))
        writing: dict[str, tuple[Unit, FrameWriter | NativeWriter]] = {}
        next_unit = 0
        for index, frame in enumerate(frames):
            # Units may overlap or leave gaps: open each one as its first frame arrives.
            while next_unit < len(ordered) and ordered[next_unit].start_frame == index:
                unit = ordered[next_unit]
                writer = _writer(outputs[unit.id], frame, info, mezzanine, native)
                stack.push(writer)  # closed on the way out, whatever happens
                writing[unit.id] = (unit, writer)
                next_unit += 1
            for unit, writer in list(writing.values()):
                writer.write(frame)
                if unit.end_frame == index + 1:
                    writer.close()
                    del writing[unit.id]
            if next_unit == len(ordered) and not writing:
                break  # nothing left to cut: skip decoding the tail
        if writing or next_unit < len(ordered):
            raise SpecError(f"{source}: ended before frame {max(u.end_frame for u in ordered)}")
    log.info("split %s into %d %s units (%s) in %s", source, len(units), mezzanine,
             native.pix_fmt if native else "rgb", out_dir)  # fmt: skip
    return outputs


def _copy_what_can_be(
    source: Path,
    info: Probe,
    units: Sequence[Unit],
    outputs: dict[str, Path],
    mezzanine: Mezzanine,
) -> set[str]:
    """Copy the units when every one starts and ends on the source's keyframes (lossless
    choices only: a copy decodes to exactly the source's pictures); the ids copied. All or
    none: assemble's concat demuxer reads the units as one stream, so they share one format."""
    if mezzanine not in LOSSLESS:
        return set()
    packets = read_packets(scan_packets(source), info)
    if packets is None:
        return set()
    ranges = copy_ranges(packets, units)
    if len(ranges) != len(units):
        log.info("%d of %d units start on a keyframe: all encoded", len(ranges), len(units))
        return set()
    copy_units(source, ranges, outputs, {u.id: u.frames for u in units})
    return set(ranges)


def _writer(
    path: Path, frame: Any, info: Probe, mezzanine: Mezzanine, native: MezzanineFormat | None
) -> FrameWriter | NativeWriter:
    if native is not None:
        return NativeWriter(path, frame, info.fps, native)
    return FrameWriter(path, frame.shape[1], frame.shape[0], info.fps, codec=mezzanine)


def _check_units(units: Sequence[Unit], frame_count: int) -> None:
    ids = [u.id for u in units]
    if len(set(ids)) != len(ids):
        raise SpecError("unit ids are not unique")
    for unit in units:
        if unit.end_frame <= unit.start_frame or unit.end_frame > frame_count:
            raise SpecError(
                f"unit {unit.id} [{unit.start_frame}, {unit.end_frame}) is empty or beyond "
                f"the film's {frame_count} frames"
            )
