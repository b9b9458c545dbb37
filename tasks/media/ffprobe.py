"""Run ffprobe and read its JSON: the one place the pipeline shells out to ffprobe."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

from tasks.media.limits import demux_options
from tasks.spec import SpecError

FFPROBE = "ffprobe"
log = logging.getLogger(__name__)

JsonDict = dict[str, Any]


def ffprobe(path: Path, args: list[str]) -> JsonDict:
    """ffprobe's JSON for `path`, or SpecError when it cannot read the file."""
    held = [arg for key, value in demux_options().items() for arg in (f"-{key}", value)]
    cmd = [FFPROBE, "-v", "error", "-of", "json", *held, *args, str(path)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        # FFmpeg's own words ("Invalid data found when processing input") go to the log.
        log.warning("ffprobe %s: %s", path, result.stderr.strip()[-500:])
        supported = demux_options()["format_whitelist"].replace(",", ", ")
        raise SpecError(f"{path}: not a readable film in a supported container ({supported})")
    try:
        data: JsonDict = json.loads(result.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: ffprobe returned unreadable output") from exc
    return data


def tag(stream: JsonDict, name: str) -> str | None:
    """A stream or format tag, whatever its case ('language', 'timecode', 'DURATION')."""
    tags = stream.get("tags") or {}
    for key, value in tags.items():
        if key.lower() == name.lower() and str(value).strip():
            return str(value).strip()
    return None


def number(value: object) -> float | None:
    """ffprobe's numbers come as strings, 'N/A' or absent."""
    try:
        return float(str(value))
    except ValueError:
        return None
