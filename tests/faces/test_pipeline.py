"""The decode / inference / encode pipeline: order kept, shots never mixed, errors raised."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tasks.faces import pipeline


def _frames(n: int) -> list[np.ndarray]:
    return [np.full((4, 4, 3), i, np.uint8) for i in range(n)]


def test_batches_are_cut_at_size_and_at_shot_changes() -> None:
    owner = [0, 0, 0, 0, 0, 1, 1, 2]
    got = [
        (b.start, b.key, len(b.frames)) for b in pipeline.batches(_frames(8), owner.__getitem__, 3)
    ]
    assert got == [(0, 0, 3), (3, 0, 2), (5, 1, 2), (7, 2, 1)]


def test_frames_come_out_in_order_with_the_stages_overlapping() -> None:
    written: list[int] = []
    threads: set[str] = set()

    def infer(batch: pipeline.Batch) -> list[int]:
        threads.add(threading.current_thread().name)
        time.sleep(0.01)
        return [int(f[0, 0, 0]) for f in batch.frames]

    def sink(batch: pipeline.Batch, values: list[int]) -> None:
        threads.add(threading.current_thread().name)
        written.extend(values)

    source = pipeline.batches(_frames(50), lambda i: i // 20, 4)
    stats = pipeline.run(source, infer, sink, depth=2)
    assert written == list(range(50)) and stats.frames == 50
    assert len(threads) == 2 and stats.wall > 0


@pytest.mark.parametrize("where", ["decode", "infer", "sink"])
def test_an_error_anywhere_stops_the_pipeline_and_is_raised(where: str) -> None:
    def frames():  # type: ignore[no-untyped-def]
        for i, frame in enumerate(_frames(100)):
            if where == "decode" and i == 30:
                raise OSError("decode broke")
            yield frame

    def infer(batch: pipeline.Batch) -> int:
        if where == "infer" and batch.start >= 20:
            raise ValueError("infer broke")
        return 0

    def sink(batch: pipeline.Batch, _: int) -> None:
        if where == "sink" and batch.start >= 20:
            raise RuntimeError("sink broke")

    with pytest.raises(
        (OSError, ValueError, RuntimeError), match=f"{where} broke".replace("sink", "sink")
    ):
        pipeline.run(pipeline.batches(frames(), lambda i: 0, 5), infer, sink, depth=1)
    assert threading.active_count() < 10
