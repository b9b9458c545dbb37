"""Clean stops: on SIGINT, SIGTERM or SIGHUP, `recast render` and `recast up` end everything they
started (the S3 server, Airflow and its components, stage processes) within 15 s.

The first signal raises `Stopped` in the main thread, so each context manager stops what it
started, in order (Airflow first, then S3); a watchdog kills what is left after GRACE seconds
whatever happens. This process is made a child subreaper (Linux), so a grandchild whose parent
died first (an idle LocalExecutor worker) is still ours to end: on the way out every process
below this one gets SIGTERM, then SIGKILL. A second signal kills everything at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
from collections.abc import Iterable, Iterator
from types import FrameType

import psutil

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE = 11.0  # seconds from the first signal to SIGKILL for all: well within 15 s
_PR_SET_CHILD_SUBREAPER = 36


class Stopped(KeyboardInterrupt):
    """A stop signal arrived (a KeyboardInterrupt, so code that ends on Ctrl-C ends on it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _subreaper() -> None:
    """Orphaned descendants are re-parented to this process, not to init (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def descendants(pid: int | None = None) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def end(processes: Iterable[psutil.Process], grace: float) -> None:
    """SIGTERM each, wait up to `grace` seconds, SIGKILL the rest (and reap them)."""
    alive = [p for p in processes if p.is_running()]
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, left = psutil.wait_procs(alive, timeout=grace)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(left, timeout=2)


def _kill_all_now(code: int) -> None:
    for proc in descendants():
        with contextlib.suppress(psutil.Error):
            proc.kill()
    os._exit(code)


@contextlib.contextmanager
def stoppable() -> Iterator[None]:
    """Run the block so that a stop signal ends it and everything it started."""
    _subreaper()
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():  # a second signal: no more waiting
            _kill_all_now(128 + signum)
        stopping.set()
        watchdog = threading.Timer(GRACE, _kill_all_now, args=(128 + signum,))
        watchdog.daemon = True
        watchdog.start()
        raise Stopped(signum)

    saved = {s: signal.signal(s, on_signal) for s in SIGNALS}
    try:
        yield
    finally:
        try:
            end(descendants(), grace=3.0)
        finally:
            for s, handler in saved.items():
                signal.signal(s, handler)
