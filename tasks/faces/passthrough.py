"""Frames the swap leaves as they were keep their source packets: no encode.

FFV1 is intra-only, so every packet is a whole frame. Where the unit's source is already in the
swap's own format (RGB FFV1: what split writes for an RGB or rotated film), only the frames a
face was written on are encoded; the others are the source's packets, copied into place
(`tasks.scope.splice`, which also checks that both files were encoded alike). Where the two
turn out not to be alike, both are decoded and the unit is written again, losslessly. A film
split into its own YUV format (the usual case) gets nothing from this: its frames must be
converted to the swap's RGB anyway.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import av

from tasks import scope
from tasks.media.frames import MEZZANINE_FORMATS, FrameWriter, read_frames

log = logging.getLogger(__name__)


def usable(source: Path) -> bool:
    """Whether `source`'s packets can stand for the swap's frames (RGB FFV1, as it writes)."""
    fmt = MEZZANINE_FORMATS["ffv1"]
    try:
        with av.open(str(source)) as container:
            context = container.streams.video[0].codec_context
            return bool(context.name == fmt.codec and context.pix_fmt == fmt.pix_fmt)
    except (av.FFmpegError, OSError, IndexError):
        return False  # damaged or empty: decoding it says so, in the user's words


class Passthrough:
    """Which frames of a unit were changed; the unit's file made from them and the source."""

    def __init__(self, source: Path, out: Path) -> None:
        self.source, self.out = source, out
        self.computed = out.with_name(f"{out.stem}.computed{out.suffix}")
        self.changed: list[bool] = []

    def finish(self, fps: str) -> int:
        """Write `out` from the source and the changed frames (in `computed`); frames written."""
        if not any(self.changed):
            shutil.copyfile(self.source, self.out)
        elif not scope.splice(self.source, self.computed, self.changed, self.out):
            log.info("%s: not encoded as the swap encodes; written again", self.source)
            self._rewrite(fps)
        self.computed.unlink(missing_ok=True)
        return len(self.changed)

    def _rewrite(self, fps: str) -> None:
        source, computed = read_frames(self.source), read_frames(self.computed)
        writer: FrameWriter | None = None
        try:
            for changed in self.changed:
                frame = next(source)
                if changed:
                    frame = next(computed)
                if writer is None:
                    writer = FrameWriter(self.out, frame.shape[1], frame.shape[0], fps)
                writer.write(frame)
        finally:
            source.close()
            computed.close()
            if writer is not None:
                writer.close()
