"""Decode, inference and encode overlapped: three threads joined by bounded queues.

The decoder fills batches of consecutive frames (a batch never spans two shots), the caller's
thread runs the models on one batch while the decoder reads the next and the encoder writes the
previous one. Queues hold at most RECAST_PIPELINE_QUEUE batches, so memory stays bounded
whatever the unit's length. PyAV and onnxruntime release the GIL while they work, so the
threads do overlap. An error in any thread stops the others and is raised in the caller.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Out = TypeVar("Out")

_POLL = 0.1  # seconds between checks of the stop flag while a queue is full or empty


@dataclass(frozen=True)
class Batch:
    start: int  # index of its first frame in the unit
    key: int  # what it belongs to (the shot): batches never mix keys
    frames: list[Image]


@dataclass
class PipelineStats:
    frames: int = 0
    wall: float = 0.0
    busy: dict[str, float] = field(default_factory=lambda: {"decode": 0.0, "encode": 0.0})


class _Stop(Exception):
    pass


@dataclass
class _Channel(Generic[Out]):
    """A bounded queue whose blocking calls give up when the pipeline is stopping."""

    stop: threading.Event
    size: int
    items: queue.Queue[Out | None] = field(init=False)

    def __post_init__(self) -> None:
        self.items = queue.Queue(maxsize=self.size)

    def put(self, item: Out | None) -> None:
        while not self.stop.is_set():
            try:
                self.items.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue
        raise _Stop

    def get(self) -> Out | None:
        while not self.stop.is_set():
            try:
                return self.items.get(timeout=_POLL)
            except queue.Empty:
                continue
        raise _Stop


def batches(frames: Iterable[Image], key: Callable[[int], int], size: int) -> Iterator[Batch]:
    """Consecutive frames in groups of at most `size`, cut wherever `key(frame index)` changes."""
    pending: list[Image] = []
    start = 0
    for index, frame in enumerate(frames):
        if pending and (len(pending) == size or key(index) != key(start)):
            yield Batch(start, key(start), pending)
            pending, start = [], index
        pending.append(frame)
    if pending:
        yield Batch(start, key(start), pending)


def run(
    source: Iterator[Batch],
    infer: Callable[[Batch], Out],
    sink: Callable[[Batch, Out], None],
    depth: int = 2,
) -> PipelineStats:
    """Feed every batch of `source` through `infer` (this thread) into `sink` (encoder thread)."""
    stats = PipelineStats()
    stop = threading.Event()
    errors: list[BaseException] = []
    decoded: _Channel[Batch] = _Channel(stop, depth)
    finished: _Channel[tuple[Batch, Out]] = _Channel(stop, depth)

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def body() -> None:
            try:
                work()
            except _Stop:
                pass
            except BaseException as exc:  # handed to the caller's thread
                errors.append(exc)
                stop.set()

        return body

    def decode() -> None:
        while True:
            started = time.perf_counter()
            batch = next(source, None)
            stats.busy["decode"] += time.perf_counter() - started
            decoded.put(batch)
            if batch is None:
                return

    def encode() -> None:
        while (item := finished.get()) is not None:
            started = time.perf_counter()
            sink(*item)
            stats.busy["encode"] += time.perf_counter() - started
            stats.frames += len(item[0].frames)

    started = time.perf_counter()
    threads = [threading.Thread(target=guarded(f), daemon=True) for f in (decode, encode)]
    for thread in threads:
        thread.start()

    def main() -> None:
        while (batch := decoded.get()) is not None:
            finished.put((batch, infer(batch)))
        finished.put(None)

    guarded(main)()
    for thread in threads:
        thread.join()
    stats.wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    return stats
