"""Clean stops: on SIGINT, SIGTERM or SIGHUP, `recast render` and `recast up` end everything they
started (the S3 server, Airflow and its components, stage processes) within 15 s.

The command the user started is a small supervisor (`supervise`) that imports no Airflow: the
work runs in a child process in a process group of its own, so that no handler Airflow installs
there (its task runner takes SIGTERM for itself) can swallow a stop. On the first signal the
supervisor sends the child SIGINT, which `stoppable` turns into `Stopped`: each context manager
stops what it started, in order (Airflow first, then S3). A child that has not ended after
HANDOVER seconds, and anything left below the supervisor, gets SIGTERM, then SIGKILL. The
supervisor is a child subreaper (Linux), so a grandchild whose parent died first (an idle
LocalExecutor worker) is still below it. A second signal kills everything at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from types import FrameType

import psutil

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
HANDOVER = 9.0  # seconds the work has to stop what it started; then SIGTERM, SIGKILL (<15 s)
SUPERVISED = "RECAST_SUPERVISED"  # set in the work's process: it is under `supervise`
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
def stoppable(at_once: bool = False) -> Iterator[None]:
    """Run the block so that a stop signal raises Stopped in it; then end what it started
    (the processes below this one that were not there before it).

    `at_once`: end them and exit, right in the signal handler. For a render: `dag.test()`
    takes a KeyboardInterrupt as one failed task and goes on to the next.
    """
    before = {(p.pid, p.create_time()) for p in descendants()}
    stopping = threading.Event()

    def started() -> list[psutil.Process]:
        found = []
        for proc in descendants():
            with contextlib.suppress(psutil.Error):
                if (proc.pid, proc.create_time()) not in before:
                    found.append(proc)
        return found

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if at_once or stopping.is_set():  # a second signal: no more waiting
            end(started(), grace=0.0 if stopping.is_set() else 2.0)
            os._exit(128 + signum)
        stopping.set()
        raise Stopped(signum)

    saved = {s: signal.signal(s, on_signal) for s in SIGNALS}
    try:
        yield
    finally:
        try:
            end(started(), grace=2.0)
        finally:
            for s, handler in saved.items():
                signal.signal(s, handler)


def supervise(command: list[str]) -> int:
    """Run `command` (the work, with SUPERVISED set) as a child; stand between it and signals.

    Returns the child's exit status, or 128 + the signal when one stopped it.
    """
    _subreaper()
    got: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if got:
            _kill_all_now(128 + signum)
        got.append(signum)

    saved = {s: signal.signal(s, on_signal) for s in SIGNALS}
    try:
        # Its own process group: a Ctrl-C reaches it once, through here, not twice.
        child = subprocess.Popen(command, env={**os.environ, SUPERVISED: "1"}, process_group=0)
        while child.poll() is None and not got:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=0.2)
        if not got:
            return child.returncode
        print(f"recast: stopping ({signal.Signals(got[0]).name}) ...", file=sys.stderr, flush=True)
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=HANDOVER)
        end(descendants(), grace=2.0)
        child.wait()
        print(f"recast: stopped by {signal.Signals(got[0]).name}", file=sys.stderr, flush=True)
        return 128 + got[0]
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
