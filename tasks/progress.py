"""Progress lines a person can follow in a pod's log (and the Airflow task log): frames done of
the total and frames per second, at most every few seconds and always at the end."""

from __future__ import annotations

import logging
import time


class Progress:
    def __init__(self, log: logging.Logger, label: str, total: int, every: float = 5.0) -> None:
        self.log, self.label, self.total, self.every = log, label, total, every
        self.done = 0
        self.started = self.last = time.monotonic()

    def advance(self, frames: int) -> None:
        self.done += frames
        now = time.monotonic()
        if now - self.last >= self.every or self.done >= self.total:
            self.last = now
            rate = self.done / max(now - self.started, 1e-6)
            self.log.info(
                "%s: %d/%d frames (%.0f%%), %.1f fps",
                self.label,
                self.done,
                self.total,
                100.0 * self.done / max(self.total, 1),
                rate,
            )
