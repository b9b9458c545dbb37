"""Units cut without decoding: the source's own compressed frames, copied.

A unit whose first frame is a keyframe of the source, and whose last frame is followed by a
keyframe (or ends the film), is a closed run of packets: decoding it alone gives exactly the
pictures that decoding the whole film gives there. Such a unit is copied packet for packet
into its mezzanine: no decode, no encode, bit-exact by construction. Encoders put keyframes at
scene cuts, and an intra-only source (ProRes, DNxHD, FFV1, ...) has nothing but keyframes, so
on most films most units qualify; the others are encoded as before (split.py).

Safe only where packets and frames correspond one to one: a constant-rate, unrotated film with
no discarded packets (edit lists) and every packet timed. The test for a unit is on the packets
alone: the keyframes at both ends, and the packets between them in decode order being exactly
the unit's frames in presentation order (an open GOP's leading pictures, which need the frames
before the keyframe, fail it).
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from tasks.media.limits import demux_options
from tasks.media.packets import PacketScan, scan_packets
from tasks.spec import CleanStarts, Probe, SpecError, Unit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Packets:
    """The video stream's packets in decode order: presentation index and keyframe flag."""

    frame: np.ndarray  # presentation index of each packet, in decode order
    key: np.ndarray  # bool, in decode order

    def decode_positions(self) -> np.ndarray:
        """Decode position of each frame (by presentation index)."""
        inverse = np.empty_like(self.frame)
        inverse[self.frame] = np.arange(len(self.frame))
        return inverse


def read_packets(scan: PacketScan, info: Probe) -> Packets | None:
    """The packet table of a scan (tasks.media.packets), or None when packets and frames may
    not correspond one to one."""
    if info.vfr or info.rotation or not all(scan.shown) or not mkv_carries(info.video_codec):
        return None
    pts = [p for p in scan.pts if p is not None]
    if len(pts) != info.frame_count or len(pts) != scan.packets or len(set(pts)) != len(pts):
        return None
    order = np.argsort(np.asarray(pts), kind="stable")
    frame = np.empty(len(pts), dtype=np.int64)
    frame[order] = np.arange(len(pts))
    return Packets(frame, np.asarray(scan.key, dtype=bool))


@functools.cache
def mkv_carries(codec: str) -> bool:
    """Whether a unit's Matroska mezzanine can hold `codec` as it is (FFmpeg 5.1's has no
    DNxHD/DNxHR tag: such sources are encoded, not copied)."""
    with av.open(io.BytesIO(), "w", format="matroska") as probe_muxer:
        return codec in probe_muxer.supported_codecs


def copy_starts(scan: PacketScan, info: Probe) -> CleanStarts | None:
    """Where units may start to be copied (clean_starts), or None where copying is unsafe."""
    packets = read_packets(scan, info)
    if packets is None:
        return None
    return CleanStarts.of(clean_starts(packets).tolist(), info.frame_count)


def clean_starts(packets: Packets) -> np.ndarray:
    """The frames k a unit may start on to be copied: decode position k holds frame k, a
    keyframe, and the k packets before it are exactly frames 0..k-1 (no picture after the cut
    is decoded before it, none before the cut after it). Any [s, e) with s and e clean starts
    (or e the frame count) is then a closed run of packets, which copy_ranges accepts. An open
    GOP's keyframe, whose leading pictures are shown before it, is not one."""
    frame = packets.frame
    position = np.arange(len(frame))
    shown_before = np.maximum.accumulate(np.concatenate(([-1], frame))[:-1])
    # k distinct frames, none above k - 1: exactly 0..k-1.
    return np.flatnonzero(packets.key & (frame == position) & (shown_before == position - 1))


def copy_ranges(packets: Packets, units: Sequence[Unit]) -> dict[str, tuple[int, int]]:
    """Unit id -> [first, end) decode positions, for the units that can be copied."""
    total = len(packets.frame)
    decode_of = packets.decode_positions()
    ranges = {}
    for unit in units:
        first = int(decode_of[unit.start_frame])
        end = int(decode_of[unit.end_frame]) if unit.end_frame < total else total
        if not packets.key[first] or (end < total and not packets.key[end]) or end <= first:
            continue
        inside = packets.frame[first:end]
        if (
            len(inside) == unit.frames
            and inside.min() == unit.start_frame
            and (inside.max() == unit.end_frame - 1)
        ):
            ranges[unit.id] = (first, end)
    return ranges


def copy_units(
    source: Path,
    ranges: dict[str, tuple[int, int]],
    outputs: dict[str, Path],
    frames: dict[str, int],
) -> None:
    """Copy each unit's packets from `source` into its mezzanine, in one demux pass."""
    wanted = sorted(ranges.items(), key=lambda item: item[1][0])
    if not wanted:
        return
    with ExitStack() as stack:
        container = stack.enter_context(av.open(str(source), options=demux_options()))
        stream = container.streams.video[0]
        numbered = enumerate(p for p in container.demux(stream) if p.size)
        for unit_id, (first, end) in wanted:
            found = next(((i, p) for i, p in numbered if i == first), None)  # skips to it
            if found is None:
                raise SpecError(f"{source}: no packet {first} to copy unit {unit_id} from")
            position, packet = found
            writer = stack.enter_context(av.open(str(outputs[unit_id]), "w", format="matroska"))
            out_stream = writer.add_stream_from_template(stream)
            # Decode timestamps start at 0 (a B-frame stream's first pts is then above 0).
            offset = _time(packet.dts, packet.pts)
            while True:
                packet.pts = _time(packet.pts) - offset
                packet.dts = None if packet.dts is None else _time(packet.dts) - offset
                packet.stream = out_stream
                writer.mux(packet)
                if position + 1 == end:
                    break
                position, packet = next(numbered)
            writer.close()
    for unit_id in ranges:
        copied = scan_packets(outputs[unit_id], 0).frames
        if copied != frames[unit_id]:
            raise SpecError(f"unit {unit_id}: copied {copied} frames, expected {frames[unit_id]}")
    log.info("copied %d units from %s without decoding", len(ranges), source)


def _time(*candidates: int | None) -> int:
    """The first timestamp given (read_packets made sure every packet has a pts)."""
    for value in candidates:
        if value is not None:
            return int(value)
    raise SpecError("a packet without a timestamp")
