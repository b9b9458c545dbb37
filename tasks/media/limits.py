"""What the pipeline refuses up front, and the operator's knobs for it (environment variables).

- RECAST_MAX_WIDTH / RECAST_MAX_HEIGHT: largest frame (default 4096x2160, the usual guard for GPU
  memory); a portrait frame is held to the same cap turned on its side.
- RECAST_VFR: the default of the spec's `vfr` policy for variable-frame-rate sources: `conform`
  (default: retime to a constant rate, counted in the QC report; `normalise` is its old name) or
  `refuse`.
"""

from __future__ import annotations

import os
from pathlib import Path

from tasks.env import env_int
from tasks.spec import SpecError, VfrPolicy

DEFAULT_MAX_SIZE = (4096, 2160)
# ffprobe's format names (one container can have several) that the stages can cut frame-exactly.
SUPPORTED_CONTAINERS = frozenset(
    {"mov", "mp4", "matroska", "webm", "mxf", "mpegts", "avi", "mpeg", "yuv4mpegpipe"}
)


def demux_options() -> dict[str, str]:
    """FFmpeg held to local files and the containers above: a playlist, a concat list or an
    image pattern is refused before it can open another file or reach the network."""
    return {
        "protocol_whitelist": "file",
        "format_whitelist": ",".join(sorted(SUPPORTED_CONTAINERS)),
    }


def max_size() -> tuple[int, int]:
    return (
        env_int("RECAST_MAX_WIDTH", DEFAULT_MAX_SIZE[0]),
        env_int("RECAST_MAX_HEIGHT", DEFAULT_MAX_SIZE[1]),
    )


def vfr_policy(chosen: VfrPolicy | None = None) -> VfrPolicy:
    """The spec's choice, else the deployment's default (RECAST_VFR), else conform."""
    if chosen is not None:
        return chosen
    value = os.environ.get("RECAST_VFR", "conform").strip().lower()
    if value in ("conform", "normalise", "normalize"):
        return "conform"
    if value == "refuse":
        return "refuse"
    raise SpecError(f"RECAST_VFR={value!r}: expected 'conform' or 'refuse'")


def check_container(path: Path, format_name: str) -> None:
    names = set(format_name.split(","))
    if not names & SUPPORTED_CONTAINERS:
        supported = ", ".join(sorted(SUPPORTED_CONTAINERS))
        raise SpecError(f"{path}: container {format_name!r} is not supported ({supported})")


def check_size(path: Path, width: int, height: int) -> None:
    cap_w, cap_h = max_size()
    if max(width, height) > max(cap_w, cap_h) or min(width, height) > min(cap_w, cap_h):
        raise SpecError(
            f"{path}: {width}x{height} is above the {cap_w}x{cap_h} limit "
            "(RECAST_MAX_WIDTH / RECAST_MAX_HEIGHT)"
        )
