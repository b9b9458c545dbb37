"""Live progress of a laptop render, from the events its stages append (tasks.progress.emit).

On a terminal, a rich display: the current stage, units done of all, each running unit's frames
and frames per second, and an ETA. Anywhere else (a pipe, a CI log), plain lines: each stage
as it starts, each unit as it ends, and a running unit's frames every few seconds.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

MAPPED = ("swap", "restore")  # the stages that run once per unit
PLAIN_EVERY = 10.0  # seconds between a running unit's plain lines
POLL = 0.25  # seconds between reads of the events file


def _clock(seconds: float) -> str:
    seconds = max(int(seconds + 0.5), 0)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


@dataclass
class Running:
    stage: str
    unit: str
    done: int = 0
    total: int = 0
    fps: float = 0.0
    started: float = 0.0
    said: float = 0.0  # when a plain line last reported it


@dataclass
class RenderState:
    """What the events have said so far."""

    stage: str = "starting"
    units: dict[str, int] = field(default_factory=dict)  # unit id -> frames (from plan)
    finished: dict[str, dict[str, float]] = field(default_factory=dict)  # stage -> unit -> secs
    running: dict[tuple[str, str], Running] = field(default_factory=dict)
    began: dict[str, float] = field(default_factory=dict)  # stage -> first start

    def apply(self, event: dict[str, Any]) -> list[str]:
        """Take in one event; the plain lines it is worth."""
        kind, t = event.get("kind"), float(event.get("t", time.time()))
        if kind == "plan":
            self.units = {u: int(event.get("frames", {}).get(u, 0)) for u in event["units"]}
            return [f"plan: {len(self.units)} units, {sum(self.units.values())} frames"]
        if kind == "frames":
            stage, _, unit = str(event["label"]).partition(" ")
            run = self.running.setdefault((stage, unit), Running(stage, unit))
            run.done, run.total, run.fps = event["done"], event["total"], float(event["fps"])
            if t - run.said < PLAIN_EVERY:
                return []
            run.said = t
            return [f"{stage} {unit}: {run.done}/{run.total} frames, {run.fps:.1f} fps"]
        if kind != "stage":
            return []
        stage, unit, state = (
            str(event["stage"]).replace("-", "_"),
            event.get("unit"),
            event["state"],
        )
        key = (stage, unit or "")
        if state == "start":
            self.stage = stage
            self.began.setdefault(stage, t)
            self.running.setdefault(key, Running(stage, unit or "", started=t, said=t))
            return [f"{stage} {unit}: started" if unit else f"{stage}: started"]
        started = self.running.pop(key, Running(stage, "", started=t)).started
        self.finished.setdefault(stage, {})[unit or ""] = t - started
        verb = "done" if state == "done" else "FAILED"
        if not unit:
            return [f"{stage}: {verb} in {t - started:.1f}s"]
        return [f"{stage} {unit}: {verb} in {t - started:.1f}s; {self.units_line()}"]

    def last_mapped(self) -> str | None:
        return next((s for s in reversed(MAPPED) if s in self.began), None)

    def units_done(self, stage: str | None = None) -> int:
        return len(self.finished.get(stage or self.stage, {}))

    def units_line(self) -> str:
        line = f"{self.stage}: units {self.units_done()}/{len(self.units) or '?'}"
        eta = self.eta()
        return line + (f", ETA {_clock(eta)}" if eta is not None else "")

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left in the current per-unit stage: by frames where it counts them, else
        by the mean time of the units it finished."""
        if self.stage not in MAPPED or not self.units:
            return None
        now = time.time() if now is None else now
        done = self.finished.get(self.stage, {})
        running = [r for r in self.running.values() if r.stage == self.stage]
        frames_done = sum(self.units.get(u, 0) for u in done) + sum(r.done for r in running)
        elapsed = now - self.began.get(self.stage, now)
        if frames_done and elapsed > 0:
            return (sum(self.units.values()) - frames_done) / (frames_done / elapsed)
        if done:
            return (len(self.units) - len(done)) * sum(done.values()) / len(done)
        return None


def _events(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Whole lines added since `offset`; a line still being written waits for the next read."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    events = []
    for line in data[:end].splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events, offset + end


class _Plain:
    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def show(self, state: RenderState, lines: list[str]) -> None:
        for line in lines:
            self.stream.write(f"recast: {line}\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class _Rich:
    """One bar for the stage (units done of all, ETA), one per running unit (frames, fps)."""

    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        console = Console(file=stream, force_terminal=True)
        self.bars = Progress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.overall = self.bars.add_task("starting", total=None, info="")
        self.tasks: dict[tuple[str, str], Any] = {}
        self.bars.start()

    def show(self, state: RenderState, lines: list[str]) -> None:
        eta = state.eta()
        # Units done of all: of the per-unit stage running, else of the last one that ran.
        mapped = state.stage if state.stage in MAPPED else state.last_mapped()
        self.bars.update(
            self.overall,
            description=f"{state.stage} units" if state.stage in MAPPED else state.stage,
            total=len(state.units) or None,
            completed=state.units_done(mapped) if mapped else 0,
            info="" if eta is None else f"ETA {_clock(eta)}",
        )
        for key in [k for k in self.tasks if k not in state.running]:
            self.bars.remove_task(self.tasks.pop(key))
        for key, run in state.running.items():
            if not run.unit:
                continue
            if key not in self.tasks:
                label = f"  {run.stage} {run.unit}"
                self.tasks[key] = self.bars.add_task(label, total=None, info="")
            total_frames = run.total or state.units.get(run.unit) or None
            self.bars.update(
                self.tasks[key],
                total=total_frames,
                completed=run.done,
                info=f"{run.fps:.1f} fps" if run.fps else "",
            )

    def close(self) -> None:
        self.bars.stop()


@contextmanager
def live(events: Path, stream: IO[str] | None = None, tty: bool | None = None) -> Iterator[None]:
    """Show the render's progress while the block runs.

    `stream`: where to (default: a copy of this process's stdout, taken now, so it still
    reaches the terminal when the render's logs are sent elsewhere); `tty`: rich or plain
    (default: whether that stream is a terminal).
    """
    own = stream is None
    out: IO[str] = os.fdopen(os.dup(1), "w", buffering=1) if stream is None else stream
    fancy = out.isatty() if tty is None else tty
    view: _Plain | _Rich = _Rich(out) if fancy else _Plain(out)
    state, stop = RenderState(), threading.Event()

    def follow() -> None:
        offset = 0
        while True:
            stopping = stop.is_set()  # read once more after the block ends: the last events
            found, offset = _events(events, offset)
            lines = [line for event in found for line in state.apply(event)]
            view.show(state, lines)
            if stopping:
                return
            stop.wait(POLL)

    thread = threading.Thread(target=follow, name="recast-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        view.close()
        if own:
            out.close()
