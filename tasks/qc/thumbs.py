"""Per-shot before/after thumbnails: written once by assemble, read by the QC report.

Keys sit under the run's `output/thumbs/<shot>_{before,after}.jpg`; a JPEG is what the page
inlines, so finalize neither downloads nor decodes a film for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from tasks import storage
from tasks.media.contact_sheet import THUMB_WIDTH, ShotPairs, thumb

Side = Literal["before", "after"]
WIDTH = THUMB_WIDTH


@dataclass(frozen=True)
class ShotThumbs:
    before: bytes  # JPEG
    after: bytes


def key(run_prefix: str, shot: int, side: Side) -> str:
    return storage.join(run_prefix, "output", relative(shot, side))


def relative(shot: int, side: str) -> str:
    """A thumbnail's name relative to the QC page (both under the run's `output/`)."""
    return f"thumbs/{shot}_{side}.jpg"


def jpeg(frame: np.ndarray, width: int = WIDTH) -> bytes:
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(thumb(frame, width), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85]
    )
    if not ok:
        raise RuntimeError("could not encode a thumbnail")
    return bytes(buf.tobytes())


def write(run_prefix: str, pairs: ShotPairs) -> int:
    """Upload each shot's pair; how many files were written."""
    for shot, (_, before, after) in pairs.items():
        storage.write_bytes(key(run_prefix, shot, "before"), jpeg(before), "image/jpeg")
        storage.write_bytes(key(run_prefix, shot, "after"), jpeg(after), "image/jpeg")
    return 2 * len(pairs)


def read(run_prefix: str, shots: list[int]) -> dict[int, ShotThumbs]:
    """The pairs assemble wrote: none for a run assembled before thumbnails existed."""
    if not shots or not storage.exists(key(run_prefix, shots[0], "before")):
        return {}
    return {
        shot: ShotThumbs(
            storage.read_bytes(key(run_prefix, shot, "before")),
            storage.read_bytes(key(run_prefix, shot, "after")),
        )
        for shot in shots
    }
