"""Progress a person can follow.

In a pod's log (and the Airflow task log): frames done of the total and frames per second, at
most every few seconds and always at the end. On a laptop, `recast render` names a file in
RECAST_PROGRESS_FILE and every stage process also appends its events there, one JSON object a
line (`emit`), which the terminal shows live (recast/progress.py).
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

PROGRESS_ENV = "RECAST_PROGRESS_FILE"
EVENT_EVERY = 0.5  # seconds between frame events: a live display, not a log


def emit(kind: str, **fields: Any) -> None:
    """Append one event to RECAST_PROGRESS_FILE, when one is named (never in a pod)."""
    path = os.environ.get(PROGRESS_ENV)
    if not path:
        return
    line = json.dumps({"kind": kind, "t": time.time(), **fields}) + "\n"
    try:  # one short O_APPEND write per event: lines of several processes never interleave
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError:
        logging.getLogger(__name__).debug("progress event lost", exc_info=True)


class Progress:
    def __init__(
        self, log: logging.Logger, label: str, total: int, every: float = 5.0, stage: str = ""
    ) -> None:
        self.log, self.label, self.total, self.every = log, label, total, every
        self.stage = stage or label.split(" ", 1)[0]
        self.done = 0
        self.started = self.last = self.last_event = time.monotonic()

    def advance(self, frames: int) -> None:
        self.done += frames
        now = time.monotonic()
        finished = self.done >= self.total
        rate = self.done / max(now - self.started, 1e-6)
        if now - self.last_event >= EVENT_EVERY or finished:
            self.last_event = now
            emit("frames", stage=self.stage, label=self.label, done=self.done, total=self.total,
                 fps=round(rate, 2))  # fmt: skip
        if now - self.last >= self.every or finished:
            self.last = now
            self.log.info(
                "%s: %d/%d frames (%.0f%%), %.1f fps",
                self.label,
                self.done,
                self.total,
                100.0 * self.done / max(self.total, 1),
                rate,
            )
