"""Seconds spent per step of the face engine, for the unit result and the benchmark."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

# Steps that run a model; their sum over a unit's wall time is the pipeline efficiency.
INFERENCE_STEPS = ("detect", "identity", "swap", "restore")


class Timings:
    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started

    def inference(self) -> float:
        return sum(self.seconds[name] for name in INFERENCE_STEPS)

    def rounded(self) -> dict[str, float]:
        return {name: round(value, 4) for name, value in sorted(self.seconds.items())}
