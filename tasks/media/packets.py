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
    """Every packet with data of one video stream, in decode order, and what a player shows."""

    stream: int  # the stream's index in the file
    pts: list[int | None]  # each packet's timestamp, in its stream's time base
    key: list[bool]  # keyframe flags
    shown: list[bool]  # False for an edit list's discarded pre-roll
    # Presentation times (s) of the presented, timed frames, in presentation order: sorted
    # within each run; a keyframe timed at or before an earlier frame starts a new run (files
    # joined with overlapping timestamps), which a decoder shows after the first.
    times: list[float]
    last_duration: float | None  # duration of the last presented frame, when the file says

    @property
    def packets(self) -> int:
        """Every packet with data, discarded pre-roll included."""
        return len(self.pts)

    @property
    def frames(self) -> int:
        return len(self.times)


def scan_packets(path: Path, stream_index: int | None = None) -> PacketScan:
    """Demux the video stream `stream_index` (the first video stream if None) of `path`."""
    try:
        container = av.open(str(path), options=demux_options())
    except (av.FFmpegError, OSError) as exc:
        raise SpecError(f"{path}: cannot open for reading: {exc}") from exc
    pts: list[int | None] = []
    key: list[bool] = []
    shown: list[bool] = []
    runs: list[list[float]] = [[]]
    latest = float("-inf")
    last = None
    with container:
        if stream_index is None and not container.streams.video:
            raise SpecError(f"{path}: no video stream")
        stream = (
            container.streams[stream_index]
            if stream_index is not None
            else (container.streams.video[0])
        )
        base, index = stream.time_base, int(stream.index)
        try:
            for packet in container.demux(stream):
                if not packet.size:
                    continue  # the demuxer's final flush packet
                pts.append(None if packet.pts is None else int(packet.pts))
                key.append(bool(packet.is_keyframe))
                shown.append(not packet.is_discard)
                if packet.is_discard or packet.pts is None or base is None:
                    continue
                when = float(packet.pts * base)
                if packet.is_keyframe and when <= latest:
                    runs.append([])  # a join: timestamps start again
                    latest = when
                runs[-1].append(when)
                latest = max(latest, when)
                last = float(packet.duration * base) if packet.duration else None
        except av.FFmpegError as exc:
            raise SpecError(f"{path}: unreadable after {len(pts)} packets: {exc}") from exc
    ordered = [t for run in runs for t in sorted(run)]
    return PacketScan(stream=index, pts=pts, key=key, shown=shown, times=ordered,
                      last_duration=last)  # fmt: skip
