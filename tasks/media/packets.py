"""Read a video stream's packets without decoding: presented frames and their timestamps.

Demuxing is cheap (no decode) and tells what ffprobe's header fields cannot: how many frames a
player presents (an edit list marks the pre-roll of a copy-trimmed MP4 as discarded), whether
the timestamps are evenly spaced (constant frame rate), and whether the file holds as many
packets as its header promises (a truncated download).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

from tasks.media.limits import demux_options
from tasks.spec import SpecError


@dataclass(frozen=True)
class PacketScan:
    packets: int  # every packet with data, discarded pre-roll included
    times: list[float]  # presentation times (s) of the presented frames, sorted
    last_duration: float | None  # duration of the last presented frame, when the file says

    @property
    def frames(self) -> int:
        return len(self.times)


def scan_packets(path: Path, stream_index: int) -> PacketScan:
    """Demux the video stream `stream_index` of `path` and collect its packet timing."""
    try:
        container = av.open(str(path), options=demux_options())
    except (av.FFmpegError, OSError) as exc:
        raise SpecError(f"{path}: cannot open for reading: {exc}") from exc
    packets, times, last = 0, [], None
    with container:
        stream = container.streams[stream_index]
        base = stream.time_base
        try:
            for packet in container.demux(stream):
                if not packet.size:
                    continue  # the demuxer's final flush packet
                packets += 1
                if packet.is_discard or packet.pts is None or base is None:
                    continue
                times.append(float(packet.pts * base))
                last = float(packet.duration * base) if packet.duration else None
        except av.FFmpegError as exc:
            raise SpecError(f"{path}: unreadable after {packets} packets: {exc}") from exc
    times.sort()
    return PacketScan(packets=packets, times=times, last_duration=last)
